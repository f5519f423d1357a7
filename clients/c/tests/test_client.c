/* The client against the fake server: delivery, failures, resend, misbehaving servers, timeouts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_server.h"
#include "harness.h"
#include "sluice.h"

extern char **environ;

#define MAXF 64

/* What on_failure saw. */
typedef struct {
    int n;
    int code[MAXF];
    uint32_t index[MAXF];
    int retriable[MAXF];
    char topic[MAXF][32];
    char key[MAXF][32];
    char value[MAXF][32];
    char message[MAXF][64];
    char error_name[MAXF][32];
    int have_topic[MAXF];
    uint8_t event_id[MAXF][16];
    /* reentrancy probe */
    sluice_client *client;
    int reentry_rc, reentry_code;
} failures;

static void on_failure(void *opaque, const sluice_failure *f) {
    failures *fl = opaque;
    if (fl->client) {
        fl->reentry_rc = sluice_ping(fl->client, 100);
        fl->reentry_code = sluice_errcode(fl->client);
    }
    if (fl->n >= MAXF) return;
    int i = fl->n++;
    fl->code[i] = f->code;
    fl->index[i] = f->index;
    fl->retriable[i] = f->retriable;
    fl->have_topic[i] = f->topic != NULL;
    snprintf(fl->topic[i], sizeof(fl->topic[i]), "%s", f->topic ? f->topic : "");
    snprintf(fl->key[i], sizeof(fl->key[i]), "%.*s", (int)(f->key ? f->key_len : 0), f->key ? f->key : "");
    snprintf(fl->value[i], sizeof(fl->value[i]), "%.*s", (int)(f->value ? f->value_len : 0),
             f->value ? (const char *)f->value : "");
    snprintf(fl->message[i], sizeof(fl->message[i]), "%s", f->message);
    snprintf(fl->error_name[i], sizeof(fl->error_name[i]), "%s", f->error_name);
    memcpy(fl->event_id[i], f->event_id, 16);
}

static sluice_options opts_for(failures *fl) {
    sluice_options o;
    sluice_options_init(&o);
    o.client_name = "c-tests";
    o.connect_timeout_ms = 2000;
    o.backoff_ms = 5;
    o.backoff_max_ms = 40;
    o.on_failure = on_failure;
    o.opaque = fl;
    return o;
}

static fs_config cfg_mode(fs_mode mode, int bad_count) {
    fs_config c;
    memset(&c, 0, sizeof(c));
    c.mode = mode;
    c.bad_count = bad_count;
    return c;
}

/* Publishes n records with keys player-(i%7) and values v-i. */
static int publish_n(sluice_client *c, const char *topic, int from, int n) {
    for (int i = from; i < from + n; i++) {
        char key[32], value[32];
        snprintf(key, sizeof(key), "player-%d", i % 7);
        snprintf(value, sizeof(value), "v-%d", i);
        sluice_header h = {"seq", value, strlen(value)};
        if (sluice_publish(c, topic, key, value, strlen(value), &h, 1) != SLUICE_OK) return -1;
    }
    return 0;
}

static int distinct_ids(const fs_record *r, size_t n) {
    int distinct = 0;
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = memcmp(r[i].event_id, r[j].event_id, 16) == 0;
        distinct += !seen;
    }
    return distinct;
}

static fs_record LOG[20000];

/* ---- happy path -------------------------------------------------------------- */

static void test_publish_flush_with_rejected_record(void) {
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    cfg.reject_key = "reject-me";
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c != NULL, "connect returned NULL");
    CHECK(sluice_errcode(c) == 0, "connect: %s", sluice_errstr(c));
    CHECK(sluice_is_connected(c), "connected");
    CHECK(strcmp(sluice_server_name(c), "fake/1") == 0, "server name %s", sluice_server_name(c));

    int64_t wall0 = (int64_t)time(NULL) * 1000;
    CHECK(publish_n(c, "events", 0, 7) == 0, "publish: %s", sluice_errstr(c));
    CHECK(sluice_publish(c, "events", "reject-me", "v-7", 3, NULL, 0) == SLUICE_OK, "publish: %s",
          sluice_errstr(c));
    CHECK(publish_n(c, "events", 8, 12) == 0, "publish: %s", sluice_errstr(c));
    CHECK(sluice_unacked_records(c) == 20, "unacked %llu", (unsigned long long)sluice_unacked_records(c));

    CHECK(sluice_flush(c, 5000) == SLUICE_ERR, "flush must report the rejected record");
    CHECK(sluice_errcode(c) == SLUICE_E_RECORDS_FAILED, "code %d: %s", sluice_errcode(c), sluice_errstr(c));
    CHECK(sluice_failed_records(c) == 1, "failed %llu", (unsigned long long)sluice_failed_records(c));
    CHECK(sluice_unacked_records(c) == 0, "all resolved");
    REQUIRE(fl.n == 1, "callback calls: %d", fl.n);
    CHECK(strcmp(fl.topic[0], "events") == 0 && strcmp(fl.key[0], "reject-me") == 0, "topic %s key %s",
          fl.topic[0], fl.key[0]);
    CHECK(strcmp(fl.value[0], "v-7") == 0 && fl.index[0] == 7, "value %s index %u", fl.value[0], fl.index[0]);
    CHECK(fl.code[0] == SLUICE_E_REJECTED_BY_BROKER && strcmp(fl.error_name[0], "REJECTED_BY_BROKER") == 0,
          "code %d %s", fl.code[0], fl.error_name[0]);
    CHECK(fl.retriable[0] == 0 && fl.message[0][0] == '\0', "retriable %d message '%s'", fl.retriable[0],
          fl.message[0]);

    size_t n = fs_records(s, LOG, 20000);
    CHECK(n == 20, "server saw %zu records", n);
    CHECK(distinct_ids(LOG, n) == 20, "every record has its own event id");
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%zu", i);
        CHECK(strcmp(LOG[i].value, want) == 0, "record %zu has value %s (order)", i, LOG[i].value);
        CHECK((LOG[i].event_id[6] >> 4) == 4 && (LOG[i].event_id[8] & 0xc0) == 0x80, "record %zu id is UUIDv4", i);
        CHECK(LOG[i].timestamp_ms >= wall0 - 60000 && LOG[i].timestamp_ms <= wall0 + 60000, "timestamp %lld",
              (long long)LOG[i].timestamp_ms);
        if (strcmp(LOG[i].key, "reject-me") == 0)
            CHECK(memcmp(LOG[i].event_id, fl.event_id[0], 16) == 0, "callback event id is the one sent");
    }
    CHECK(LOG[0].n_headers == 1 && LOG[7].n_headers == 0, "headers");
    CHECK(fs_last_ack_level(s) == SLUICE_ACK_DURABLE, "default ack level durable");

    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "second flush has nothing new to report: %s", sluice_errstr(c));
    CHECK(sluice_errcode(c) == 0, "error cleared");
    char *stats = sluice_stats(c, 2000);
    CHECK(stats != NULL && strstr(stats, "\"uptimeSeconds\":1") != NULL, "stats: %s",
          stats ? stats : sluice_errstr(c));
    sluice_free(stats);
    CHECK(sluice_ping(c, 2000) == SLUICE_OK, "ping: %s", sluice_errstr(c));
    CHECK(fs_violations(s) == 0, "protocol violations");
    sluice_close(c);
    fs_stop(s);
}

static void test_record_api_keeps_given_fields(void) {
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    o.ack_level = SLUICE_ACK_ACCEPTED;
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    sluice_record r;
    memset(&r, 0, sizeof(r));
    r.topic = "game.events-v1_x";
    r.key = "k\0binary"; /* keys are bytes */
    r.key_len = 8;
    r.event_type = "login";
    for (int i = 0; i < 16; i++) r.event_id[i] = (uint8_t)(0xa0 + i);
    r.timestamp_ms = 1700000000123LL;
    r.value = "{\"level\":3}";
    r.value_len = 11;
    CHECK(sluice_publish_record(c, &r) == SLUICE_OK, "publish_record: %s", sluice_errstr(c));
    o.generate_event_ids = 0;
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
    REQUIRE(fs_records(s, LOG, 20000) == 1, "one record");
    CHECK(memcmp(LOG[0].event_id, r.event_id, 16) == 0, "event id kept");
    CHECK(LOG[0].timestamp_ms == 1700000000123LL, "timestamp kept");
    CHECK(fs_last_ack_level(s) == SLUICE_ACK_ACCEPTED, "ack level %d", fs_last_ack_level(s));
    sluice_close(c);
    fs_stop(s);

    /* generate_event_ids = 0: all-zero ids go out as zero for the server to assign. */
    s = fs_start(&cfg);
    c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(sluice_publish(c, "t", "k", "v", 1, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
    uint8_t zero[16] = {0};
    REQUIRE(fs_records(s, LOG, 20000) == 1, "one record");
    CHECK(memcmp(LOG[0].event_id, zero, 16) == 0, "zero id sent as zero");
    sluice_close(c);
    fs_stop(s);
}

static void test_batches_follow_server_limits(void) {
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    cfg.max_records = 7;
    cfg.max_key_bytes = 8;
    cfg.max_frame_bytes = 4096;
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect: %s", c ? sluice_errstr(c) : "");
    CHECK(publish_n(c, "events", 0, 50) == 0, "publish: %s", sluice_errstr(c));
    CHECK(sluice_publish(c, "events", "123456789", "v", 1, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(c) == SLUICE_E_INVALID_KEY,
          "9-byte key over the announced 8: %d", sluice_errcode(c));
    static char big[5000];
    memset(big, 'x', sizeof(big));
    CHECK(sluice_publish(c, "events", "k", big, sizeof(big), NULL, 0) == SLUICE_ERR &&
              sluice_errcode(c) == SLUICE_E_RECORD_TOO_LARGE,
          "record over the 4096-byte frame: %d %s", sluice_errcode(c), sluice_errstr(c));
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
    CHECK(fs_max_records_in_frame(s) == 7, "largest frame had %d records", fs_max_records_in_frame(s));
    CHECK(fs_publish_frames(s) == 8, "frames %d", fs_publish_frames(s));
    size_t n = fs_records(s, LOG, 20000);
    CHECK(n == 50, "records %zu", n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%zu", i);
        CHECK(strcmp(LOG[i].value, want) == 0, "order: record %zu is %s", i, LOG[i].value);
    }
    CHECK(fs_violations(s) == 0, "violations");
    sluice_close(c);
    fs_stop(s);
}

static void test_compression_and_big_records(void) {
    for (int compress = 0; compress <= 1; compress++) {
        fs_config cfg = cfg_mode(FS_NORMAL, 0);
        fake_server *s = fs_start(&cfg);
        failures fl;
        memset(&fl, 0, sizeof(fl));
        sluice_options o = opts_for(&fl);
        o.compression = compress;
        o.zstd_level = 3;
        o.max_batch_bytes = 4096;
        sluice_client *c = sluice_connect(fs_path(s), &o);
        REQUIRE(c && sluice_errcode(c) == 0, "connect");
        for (int i = 0; i < 300; i++) {
            char value[128];
            int len = snprintf(value, sizeof(value), "{\"player\":\"player-%d\",\"event\":\"login\",\"seq\":%d}",
                               i % 13, i);
            CHECK(sluice_publish(c, "events", "player-1", value, (size_t)len, NULL, 0) == SLUICE_OK, "publish");
        }
        /* A record larger than max_batch_bytes goes alone in its batch. */
        static char big[20000];
        memset(big, 'b', sizeof(big));
        CHECK(sluice_publish(c, "events", "player-1", big, sizeof(big), NULL, 0) == SLUICE_OK, "big: %s",
              sluice_errstr(c));
        CHECK(sluice_publish(c, "events", "player-1", "after", 5, NULL, 0) == SLUICE_OK, "after");
        CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
        size_t n = fs_records(s, LOG, 20000);
        CHECK(n == 302, "records %zu", n);
        CHECK(n == 302 && strcmp(LOG[301].value, "after") == 0, "order kept around the big record");
        if (compress) CHECK(fs_compressed_frames(s) > 0, "compressed frames %d", fs_compressed_frames(s));
        else CHECK(fs_compressed_frames(s) == 0, "no compression asked, got %d", fs_compressed_frames(s));
        CHECK(fs_violations(s) == 0, "violations (zstd content size declared, limits kept)");
        sluice_close(c);
        fs_stop(s);
    }
}

/* ---- reliability --------------------------------------------------------------- */

static void test_resend_after_connection_drop(void) {
    fs_config cfg = cfg_mode(FS_DROP_PUBLISH, 1);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    o.max_batch_records = 10;
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(publish_n(c, "events", 0, 25) == 0, "publish: %s", sluice_errstr(c));
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s (%d)", sluice_errstr(c), sluice_errcode(c));
    CHECK(sluice_failed_records(c) == 0 && fl.n == 0, "nothing failed");
    CHECK(fs_connections(s) == 2, "connections %d", fs_connections(s));
    size_t n = fs_records(s, LOG, 20000);
    size_t first = 0, second = 0;
    for (size_t i = 0; i < n; i++) {
        if (LOG[i].conn == 1) first++;
        else second++;
    }
    CHECK(first == 10, "the dropped batch had %zu records", first);
    CHECK(second == 25, "after reconnecting the server saw %zu records", second);
    /* Every record of the dropped batch came again with the same event id,
     * and the second connection carries everything in publish order. */
    for (size_t i = 0; i < first; i++) {
        int again = 0;
        for (size_t j = first; j < n; j++) again += memcmp(LOG[i].event_id, LOG[j].event_id, 16) == 0;
        CHECK(again == 1, "record %s resent %d times with its id", LOG[i].value, again);
    }
    for (size_t j = first; j < n; j++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%zu", j - first);
        CHECK(strcmp(LOG[j].value, want) == 0, "resent order: %s, want %s", LOG[j].value, want);
    }
    CHECK(distinct_ids(LOG, n) == 25, "25 distinct event ids");
    /* Request ids are never reused: the resent batches carry new ones. */
    for (size_t j = first; j < n; j++)
        CHECK(LOG[j].request_id > LOG[first - 1].request_id, "resent record %zu has request id %u, not above %u", j,
              LOG[j].request_id, LOG[first - 1].request_id);
    sluice_close(c);
    fs_stop(s);
}

/* Waits up to 5 s for cond; 1 when it held. */
#define WAIT_FOR(cond)                                                                                               \
    ({                                                                                                               \
        int64_t until_ = t_now_ms() + 5000;                                                                          \
        while (!(cond) && t_now_ms() < until_) poll(NULL, 0, 1);                                                     \
        (cond) ? 1 : 0;                                                                                              \
    })

/* The server ACKs five batches and closes (with and without SHUTTING_DOWN) while the client
 * has not read the ACKs yet; the client's next write fails. The ACKs still in the socket
 * must settle those batches first, so only the batch written after them is sent again. */
static void test_replies_left_on_a_broken_connection_are_read_before_resending(void) {
    for (int say_shutting_down = 0; say_shutting_down <= 1; say_shutting_down++) {
        const char *how = say_shutting_down ? "ACKs + SHUTTING_DOWN + close" : "ACKs + close";
        fs_config cfg = cfg_mode(FS_ACKS_THEN_CLOSE, 5);
        cfg.say_shutting_down = say_shutting_down;
        fake_server *s = fs_start(&cfg);
        failures fl;
        memset(&fl, 0, sizeof(fl));
        sluice_options o = opts_for(&fl);
        o.max_batch_records = 1; /* every publish writes a batch */
        sluice_client *c = sluice_connect(fs_path(s), &o);
        REQUIRE(c && sluice_errcode(c) == 0, "connect");
        CHECK(publish_n(c, "events", 0, 5) == 0, "publish: %s", sluice_errstr(c));
        REQUIRE(WAIT_FOR(fs_publish_frames(s) == 5), "%s: the server read %d of 5 batches", how,
                fs_publish_frames(s));
        fs_release(s);
        REQUIRE(WAIT_FOR(fs_closed_connections(s) == 1), "%s: the server did not close", how);
        CHECK(sluice_unacked_records(c) == 5, "%s: the client has not read the ACKs yet (%llu held)", how,
              (unsigned long long)sluice_unacked_records(c));
        /* This write meets the closed socket (EPIPE) before anything is read. */
        CHECK(publish_n(c, "events", 5, 1) == 0, "publish: %s", sluice_errstr(c));
        CHECK(sluice_flush(c, 5000) == SLUICE_OK, "%s: flush: %s", how, sluice_errstr(c));
        CHECK(fs_connections(s) == 2, "%s: connections %d", how, fs_connections(s));
        size_t n = fs_records(s, LOG, 20000);
        CHECK(n == 6, "%s: the server saw %zu records, want 6: acked batches were sent again", how, n);
        CHECK(distinct_ids(LOG, n) == (int)n, "%s: %zu records, %d distinct ids", how, n, distinct_ids(LOG, n));
        for (size_t i = 0; i < n; i++) {
            char want[32];
            snprintf(want, sizeof(want), "v-%zu", i);
            int conn = i < 5 ? 1 : 2;
            if (strcmp(LOG[i].value, want) != 0 || LOG[i].conn != conn) {
                CHECK(0, "%s: record %zu is %s on connection %d, want %s on %d", how, i, LOG[i].value, LOG[i].conn,
                      want, conn);
                break;
            }
        }
        CHECK(fl.n == 0 && sluice_failed_records(c) == 0, "%s: nothing failed", how);
        sluice_close(c);
        fs_stop(s);
    }
}

static void test_retriable_error_resends_batch(void) {
    fs_config cfg = cfg_mode(FS_OVERLOADED, 1);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(publish_n(c, "events", 0, 5) == 0, "publish");
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
    CHECK(fs_publish_frames(s) == 2, "frames %d (refused once, then resent)", fs_publish_frames(s));
    CHECK(fs_connections(s) == 1, "same connection");
    size_t n = fs_records(s, LOG, 20000);
    REQUIRE(n == 10, "records %zu", n);
    for (int i = 0; i < 5; i++) CHECK(memcmp(LOG[i].event_id, LOG[i + 5].event_id, 16) == 0, "same id %d", i);
    CHECK(LOG[0].request_id != LOG[5].request_id, "a new request id for the resend");
    CHECK(sluice_failed_records(c) == 0 && fl.n == 0, "nothing failed");
    sluice_close(c);
    fs_stop(s);
}

static void test_non_retriable_error_fails_batch(void) {
    fs_config cfg = cfg_mode(FS_MALFORMED, 1);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    o.max_batch_records = 4;
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(publish_n(c, "events", 0, 10) == 0, "publish");
    CHECK(sluice_flush(c, 5000) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_RECORDS_FAILED, "flush: %d %s",
          sluice_errcode(c), sluice_errstr(c));
    CHECK(sluice_failed_records(c) == 4, "failed %llu", (unsigned long long)sluice_failed_records(c));
    REQUIRE(fl.n == 4, "callbacks %d", fl.n);
    for (int i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%d", i);
        CHECK(fl.code[i] == SLUICE_E_MALFORMED_PAYLOAD && fl.index[i] == (uint32_t)i, "failure %d: code %d index %u",
              i, fl.code[i], fl.index[i]);
        CHECK(strcmp(fl.value[i], want) == 0 && strcmp(fl.topic[i], "events") == 0, "failure %d: %s %s", i,
              fl.topic[i], fl.value[i]);
        CHECK(strcmp(fl.message[i], "broken on purpose") == 0, "message '%s'", fl.message[i]);
    }
    CHECK(fs_publish_frames(s) == 3, "not resent: frames %d", fs_publish_frames(s));
    CHECK(sluice_unacked_records(c) == 0, "nothing held");
    sluice_close(c);
    fs_stop(s);
}

static void test_shutting_down_reconnects_and_resends(void) {
    fs_config cfg = cfg_mode(FS_SHUTTING_DOWN, 1);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(publish_n(c, "events", 0, 6) == 0, "publish");
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
    CHECK(fs_connections(s) == 2, "connections %d", fs_connections(s));
    size_t n = fs_records(s, LOG, 20000);
    CHECK(n == 12 && distinct_ids(LOG, n) == 6, "records %zu", n);
    sluice_close(c);
    fs_stop(s);
}

static void test_ack_none(void) {
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    cfg.reject_key = "reject-me";
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    o.ack_level = SLUICE_ACK_NONE;
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(publish_n(c, "events", 0, 4) == 0, "publish");
    CHECK(sluice_publish(c, "events", "reject-me", "x", 1, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush returns once written: %s", sluice_errstr(c));
    CHECK(sluice_unacked_records(c) == 0, "ack none keeps nothing after writing");
    /* The failure ACK comes before the PONG on the same connection. */
    CHECK(sluice_ping(c, 2000) == SLUICE_OK, "ping: %s", sluice_errstr(c));
    CHECK(sluice_failed_records(c) == 1, "failed %llu", (unsigned long long)sluice_failed_records(c));
    CHECK(fl.n == 1 && fl.code[0] == SLUICE_E_REJECTED_BY_BROKER && !fl.have_topic[0] && fl.index[0] == 4,
          "callback n %d code %d", fl.n, fl.code[0]);
    CHECK(sluice_flush(c, 1000) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_RECORDS_FAILED,
          "next flush reports it");
    CHECK(fs_last_ack_level(s) == SLUICE_ACK_NONE && fs_records(s, NULL, 0) == 5, "server side");
    sluice_close(c);
    fs_stop(s);
}

static void test_backpressure_waits_for_acks(void) {
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    cfg.ack_delay_ms = 2;
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    o.max_unacked_bytes = 1500;
    o.max_batch_records = 5;
    o.compression = 0;
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(publish_n(c, "events", 0, 300) == 0, "publish under backpressure: %s", sluice_errstr(c));
    CHECK(sluice_flush(c, 10000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
    size_t n = fs_records(s, LOG, 20000);
    CHECK(n == 300, "records %zu", n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%zu", i);
        if (strcmp(LOG[i].value, want) != 0) {
            CHECK(0, "order: record %zu is %s", i, LOG[i].value);
            break;
        }
    }
    sluice_close(c);
    fs_stop(s);

    /* A server that never acks: publish gives up after io_timeout_ms, without taking the record. */
    cfg = cfg_mode(FS_NO_ACK, 0);
    s = fs_start(&cfg);
    o.io_timeout_ms = 200;
    o.max_batch_records = 2;
    c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    int rc = SLUICE_OK, i;
    int64_t t0 = 0;
    uint64_t before = 0;
    for (i = 0; i < 1000 && rc == SLUICE_OK; i++) {
        before = sluice_unacked_records(c);
        t0 = t_now_ms();
        rc = sluice_publish(c, "events", "k", "0123456789012345678901234567890123456789", 40, NULL, 0);
    }
    int64_t ms = t_now_ms() - t0;
    CHECK(rc == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_TIMEOUT, "publish %d: rc %d code %d %s", i, rc,
          sluice_errcode(c), sluice_errstr(c));
    CHECK(ms >= 150 && ms < 3000, "blocked %lld ms", (long long)ms);
    CHECK(sluice_unacked_records(c) == before, "refused record not taken");
    CHECK(before * 60 <= 1500 + 200, "held about max_unacked_bytes: %llu records", (unsigned long long)before);
    sluice_close(c);
    fs_stop(s);
}

/* ---- timeouts ------------------------------------------------------------------ */

static void test_flush_times_out_without_acks(void) {
    fs_config cfg = cfg_mode(FS_NO_ACK, 0);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(publish_n(c, "events", 0, 3) == 0, "publish");
    int64_t t0 = t_now_ms();
    CHECK(sluice_flush(c, 300) == SLUICE_ERR, "flush must fail");
    int64_t ms = t_now_ms() - t0;
    CHECK(sluice_errcode(c) == SLUICE_E_TIMEOUT, "code %d %s", sluice_errcode(c), sluice_errstr(c));
    CHECK(ms >= 250 && ms < 3000, "flush took %lld ms", (long long)ms);
    CHECK(sluice_unacked_records(c) == 3, "records still held");
    CHECK(strstr(sluice_errstr(c), "timed out") != NULL, "errstr: %s", sluice_errstr(c));
    t0 = t_now_ms();
    CHECK(sluice_flush(c, 0) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_TIMEOUT, "zero timeout");
    CHECK(t_now_ms() - t0 < 1000, "zero timeout returns at once");
    sluice_close(c); /* drops the held records; must not leak */
    fs_stop(s);
}

static void test_connect_times_out_without_hello_ok(void) {
    fs_config cfg = cfg_mode(FS_SILENT_HELLO, 0);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    o.connect_timeout_ms = 300;
    int64_t t0 = t_now_ms();
    sluice_client *c = sluice_connect(fs_path(s), &o);
    int64_t ms = t_now_ms() - t0;
    REQUIRE(c != NULL, "NULL only on out of memory");
    CHECK(sluice_errcode(c) == SLUICE_E_TIMEOUT, "code %d %s", sluice_errcode(c), sluice_errstr(c));
    CHECK(ms >= 250 && ms < 3000, "connect took %lld ms", (long long)ms);
    CHECK(!sluice_is_connected(c), "not connected");
    /* Later calls keep the bound too. */
    t0 = t_now_ms();
    CHECK(sluice_ping(c, 400) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_TIMEOUT, "ping: %d %s",
          sluice_errcode(c), sluice_errstr(c));
    CHECK(t_now_ms() - t0 < 3000, "ping bounded");
    sluice_close(c);
    fs_stop(s);
}

static void test_handshake_refused(void) {
    fs_config cfg = cfg_mode(FS_HELLO_ERROR, 0);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c != NULL, "connect");
    CHECK(sluice_errcode(c) == SLUICE_E_UNSUPPORTED_VERSION, "code %d %s", sluice_errcode(c), sluice_errstr(c));
    CHECK(strstr(sluice_errstr(c), "7..9") != NULL, "server's message kept: %s", sluice_errstr(c));
    sluice_close(c);
    fs_stop(s);
}

static void test_connect_later(void) {
    char dir[] = "/tmp/sluice-c-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL, "mkdtemp");
    char path[128];
    snprintf(path, sizeof(path), "%s/late.sock", dir);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(path, &o);
    REQUIRE(c != NULL, "connect");
    CHECK(sluice_errcode(c) == SLUICE_E_IO && sluice_errno(c) == ENOENT, "code %d errno %d: %s", sluice_errcode(c),
          sluice_errno(c), sluice_errstr(c));
    CHECK(publish_n(c, "events", 0, 5) == 0, "records are taken while disconnected: %s", sluice_errstr(c));
    CHECK(sluice_flush(c, 200) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_IO, "no server yet: %d %s",
          sluice_errcode(c), sluice_errstr(c));
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    cfg.path = path;
    fake_server *s = fs_start(&cfg);
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush after the server came: %s", sluice_errstr(c));
    CHECK(fs_records(s, NULL, 0) == 5, "records %zu", fs_records(s, NULL, 0));
    sluice_close(c);
    fs_stop(s);
    rmdir(dir);
}

/* ---- misbehaving servers ------------------------------------------------------- */

static const struct {
    fs_mode mode;
    const char *name;
    int code;
} BAD[] = {
    {FS_GARBAGE, "garbage", SLUICE_E_PROTOCOL},
    {FS_TRUNCATED_ACK, "truncated ACK", SLUICE_E_PROTOCOL},
    {FS_CLOSE_MID_FRAME, "close mid-frame", SLUICE_E_CLOSED},
    {FS_ACK_BAD_INDEX, "ACK index out of range", SLUICE_E_PROTOCOL},
    {FS_ACK_UNKNOWN_ID, "ACK for an unknown request id", SLUICE_E_PROTOCOL},
    {FS_HUGE_FRAME, "4 GiB frame header", SLUICE_E_PROTOCOL},
    {FS_DROP_PUBLISH, "close without an answer", SLUICE_E_CLOSED},
};

static void test_misbehaving_server_gives_error(void) {
    for (size_t k = 0; k < sizeof(BAD) / sizeof(BAD[0]); k++) {
        fs_config cfg = cfg_mode(BAD[k].mode, 0);
        fake_server *s = fs_start(&cfg);
        failures fl;
        memset(&fl, 0, sizeof(fl));
        sluice_options o = opts_for(&fl);
        o.reconnect_attempts = 2;
        sluice_client *c = sluice_connect(fs_path(s), &o);
        REQUIRE(c && sluice_errcode(c) == 0, "connect");
        CHECK(publish_n(c, "events", 0, 3) == 0, "publish");
        int64_t t0 = t_now_ms();
        int rc = sluice_flush(c, 5000);
        int64_t ms = t_now_ms() - t0;
        CHECK(rc == SLUICE_ERR && sluice_errcode(c) == BAD[k].code, "%s: rc %d code %d (%s), want %d", BAD[k].name,
              rc, sluice_errcode(c), sluice_errstr(c), BAD[k].code);
        CHECK(ms < 4000, "%s: took %lld ms", BAD[k].name, (long long)ms);
        CHECK(sluice_unacked_records(c) == 3, "%s: records still held", BAD[k].name);
        CHECK(fs_connections(s) == 3, "%s: 1 + 2 reconnect attempts, got %d", BAD[k].name, fs_connections(s));
        CHECK(fl.n == 0, "%s: nothing reported as failed", BAD[k].name);
        sluice_close(c);
        fs_stop(s);
    }
}

static void test_recovers_after_one_bad_reply(void) {
    for (size_t k = 0; k < sizeof(BAD) / sizeof(BAD[0]); k++) {
        fs_config cfg = cfg_mode(BAD[k].mode, 1);
        fake_server *s = fs_start(&cfg);
        failures fl;
        memset(&fl, 0, sizeof(fl));
        sluice_options o = opts_for(&fl);
        o.max_batch_records = 4;
        sluice_client *c = sluice_connect(fs_path(s), &o);
        REQUIRE(c && sluice_errcode(c) == 0, "connect");
        CHECK(publish_n(c, "events", 0, 10) == 0, "publish");
        CHECK(sluice_flush(c, 5000) == SLUICE_OK, "%s: flush %s", BAD[k].name, sluice_errstr(c));
        size_t n = fs_records(s, LOG, 20000);
        CHECK(distinct_ids(LOG, n) == 10, "%s: %d distinct records delivered", BAD[k].name, distinct_ids(LOG, n));
        CHECK(sluice_failed_records(c) == 0 && sluice_unacked_records(c) == 0, "%s: clean", BAD[k].name);
        CHECK(fs_connections(s) == 2, "%s: one reconnect, got %d", BAD[k].name, fs_connections(s));
        sluice_close(c);
        fs_stop(s);
    }
}

static void test_ping_and_stats_against_garbage(void) {
    fs_config cfg = cfg_mode(FS_GARBAGE, 0);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    CHECK(sluice_ping(c, 2000) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_PROTOCOL, "ping: %d %s",
          sluice_errcode(c), sluice_errstr(c));
    char *st = sluice_stats(c, 2000);
    CHECK(st == NULL, "stats from a garbage server");
    sluice_free(st);
    sluice_close(c);
    fs_stop(s);
}

/* ---- API misuse ---------------------------------------------------------------- */

static void test_invalid_input_refused_locally(void) {
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    char t249[250], t250[251];
    memset(t249, 'a', 249);
    t249[249] = '\0';
    memset(t250, 'a', 250);
    t250[250] = '\0';
    struct {
        const char *topic;
        int code;
    } topics[] = {{"", SLUICE_E_INVALID_TOPIC},         {".", SLUICE_E_INVALID_TOPIC},
                  {"..", SLUICE_E_INVALID_TOPIC},       {"bad topic", SLUICE_E_INVALID_TOPIC},
                  {"caf\xc3\xa9", SLUICE_E_INVALID_TOPIC}, {t250, SLUICE_E_INVALID_TOPIC},
                  {t249, 0},                            {"...", 0},
                  {"Ok.topic_-9", 0}};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        int rc = sluice_publish(c, topics[i].topic, "k", "v", 1, NULL, 0);
        int got = rc == SLUICE_OK ? 0 : sluice_errcode(c);
        CHECK(got == topics[i].code, "topic %.20s: got %d want %d", topics[i].topic, got, topics[i].code);
    }
    uint64_t held = sluice_unacked_records(c);
    CHECK(held == 3, "only valid records taken: %llu", (unsigned long long)held);
    CHECK(sluice_publish(c, "t", "", "v", 1, NULL, 0) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_INVALID_KEY,
          "empty key");
    CHECK(sluice_publish(c, "t", NULL, "v", 1, NULL, 0) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_INVALID_KEY,
          "NULL key");
    CHECK(sluice_publish(c, NULL, "k", "v", 1, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(c) == SLUICE_E_INVALID_ARGUMENT,
          "NULL topic");
    CHECK(sluice_publish(c, "t", "k", NULL, 5, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(c) == SLUICE_E_INVALID_ARGUMENT,
          "NULL value with a length");
    sluice_header empty = {"", "x", 1};
    CHECK(sluice_publish(c, "t", "k", "v", 1, &empty, 1) == SLUICE_ERR &&
              sluice_errcode(c) == SLUICE_E_INVALID_HEADERS,
          "empty header name");
    sluice_header many[65];
    for (int i = 0; i < 65; i++) many[i] = (sluice_header){"h", NULL, 0};
    CHECK(sluice_publish(c, "t", "k", "v", 1, many, 65) == SLUICE_ERR &&
              sluice_errcode(c) == SLUICE_E_INVALID_HEADERS,
          "65 headers");
    CHECK(sluice_publish(c, "t", "k", "v", 1, many, 64) == SLUICE_OK, "64 headers: %s", sluice_errstr(c));
    CHECK(sluice_publish_record(c, NULL) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_INVALID_ARGUMENT, "NULL");
    CHECK(sluice_unacked_records(c) == held + 1, "refused records not taken");
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));
    CHECK(fs_records(s, NULL, 0) == 4, "server got the 4 valid records");
    sluice_close(c);
    fs_stop(s);

    /* Bad options: the client exists but every call fails. */
    o.ack_level = 7;
    c = sluice_connect("/tmp/none.sock", &o);
    REQUIRE(c != NULL, "connect");
    CHECK(sluice_errcode(c) == SLUICE_E_INVALID_ARGUMENT, "bad ack level: %d", sluice_errcode(c));
    CHECK(sluice_publish(c, "t", "k", "v", 1, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(c) == SLUICE_E_INVALID_ARGUMENT,
          "publish on a misconfigured client");
    sluice_close(c);
    sluice_options_init(&o);
    char longpath[200];
    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[199] = '\0';
    c = sluice_connect(longpath, &o);
    CHECK(c && sluice_errcode(c) == SLUICE_E_INVALID_ARGUMENT, "path too long");
    sluice_close(c);
    c = sluice_connect(NULL, NULL);
    CHECK(c && sluice_errcode(c) == SLUICE_E_INVALID_ARGUMENT, "NULL path");
    sluice_close(c);
    sluice_close(NULL);
    CHECK(sluice_flush(NULL, 0) == SLUICE_ERR && sluice_errcode(NULL) == SLUICE_E_INVALID_ARGUMENT, "NULL client");
}

static void test_callback_cannot_reenter(void) {
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    cfg.reject_key = "reject-me";
    fake_server *s = fs_start(&cfg);
    failures fl;
    memset(&fl, 0, sizeof(fl));
    sluice_options o = opts_for(&fl);
    sluice_client *c = sluice_connect(fs_path(s), &o);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    fl.client = c;
    CHECK(sluice_publish(c, "t", "reject-me", "v", 1, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_flush(c, 5000) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_RECORDS_FAILED, "flush %s",
          sluice_errstr(c));
    CHECK(fl.n == 1 && fl.reentry_rc == SLUICE_ERR && fl.reentry_code == SLUICE_E_INVALID_ARGUMENT,
          "re-entry refused: n %d rc %d code %d", fl.n, fl.reentry_rc, fl.reentry_code);
    CHECK(sluice_ping(c, 1000) == SLUICE_OK, "client fine afterwards: %s", sluice_errstr(c));
    sluice_close(c);
    fs_stop(s);
}

/* ---- the example program --------------------------------------------------------- */

static int run_example(const char *exe, char *const argv[], int timeout_ms) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int64_t deadline = t_now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (t_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -2;
        }
        poll(NULL, 0, 10); /* waiting for a child process: there is no fd to poll */
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -3;
}

static void test_example_program(void) {
    const char *exe = getenv("SLUICE_EXAMPLE");
    if (exe == NULL || access(exe, X_OK) != 0) {
        printf("  (SLUICE_EXAMPLE not set: example not run)\n");
        return;
    }
    char *usage[] = {(char *)exe, NULL};
    CHECK(run_example(exe, usage, 5000) == 2, "usage error exits 2");
    fs_config cfg = cfg_mode(FS_NORMAL, 0);
    fake_server *s = fs_start(&cfg);
    char *argv[] = {(char *)exe, (char *)fs_path(s), "example.events", "25", NULL};
    int rc = run_example(exe, argv, 10000);
    CHECK(rc == 0, "example exited %d", rc);
    size_t n = fs_records(s, LOG, 20000);
    CHECK(n == 26, "example published %zu records", n);
    CHECK(n == 26 && LOG[25].event_id[0] == 0x6b && LOG[25].n_headers == 0, "the explicit record came last");
    CHECK(fs_violations(s) == 0, "violations");
    fs_stop(s);
}

void client_tests(void) {
    h_run("client: publish + flush, rejected record via callback", test_publish_flush_with_rejected_record);
    h_run("client: record API keeps id, timestamp, ack level", test_record_api_keeps_given_fields);
    h_run("client: batches follow the server's limits", test_batches_follow_server_limits);
    h_run("client: zstd batches and oversized records", test_compression_and_big_records);
    h_run("client: connection dropped before ACK -> reconnect + resend", test_resend_after_connection_drop);
    h_run("client: replies left on a broken connection are read before resending",
          test_replies_left_on_a_broken_connection_are_read_before_resending);
    h_run("client: OVERLOADED (retriable) -> batch resent", test_retriable_error_resends_batch);
    h_run("client: MALFORMED_PAYLOAD (final) -> batch failed", test_non_retriable_error_fails_batch);
    h_run("client: SHUTTING_DOWN closing -> reconnect + resend", test_shutting_down_reconnects_and_resends);
    h_run("client: ack level none", test_ack_none);
    h_run("client: backpressure waits for ACKs, then times out", test_backpressure_waits_for_acks);
    h_run("client: flush times out when nothing is acked", test_flush_times_out_without_acks);
    h_run("client: connect times out without HELLO_OK", test_connect_times_out_without_hello_ok);
    h_run("client: handshake refused by the server", test_handshake_refused);
    h_run("client: server appears after connect failed", test_connect_later);
    h_run("client: misbehaving server -> error, no crash", test_misbehaving_server_gives_error);
    h_run("client: one bad reply -> reconnect and deliver", test_recovers_after_one_bad_reply);
    h_run("client: ping and stats against garbage", test_ping_and_stats_against_garbage);
    h_run("client: invalid input refused locally", test_invalid_input_refused_locally);
    h_run("client: on_failure cannot re-enter the client", test_callback_cannot_reenter);
    h_run("example: publish-example against the fake server", test_example_program);
}
