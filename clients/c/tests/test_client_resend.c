/* The client against the fake server: reconnect and resend, retriable and final errors,
 * ack level none, backpressure. */
#include "client_fixture.h"

/* ---- reliability --------------------------------------------------------------- */

static void test_resend_after_connection_drop(void) {
    fixture f;
    fx_init(&f, FS_DROP_PUBLISH, 1);
    f.o.max_batch_records = 10;
    REQUIRE(fx_connect(&f), "connect");
    CHECK(fx_publish_flush(&f, 25, 5000) == SLUICE_OK, "flush: %s (%d)", sluice_errstr(f.c), sluice_errcode(f.c));
    CHECK(sluice_failed_records(f.c) == 0 && f.fl.n == 0, "nothing failed");
    CHECK(fs_connections(f.s) == 2, "connections %d", fs_connections(f.s));
    size_t n = fs_records(f.s, LOG, 20000);
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
    fx_close(&f);
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
        fixture f;
        fx_init(&f, FS_ACKS_THEN_CLOSE, 5);
        f.cfg.say_shutting_down = say_shutting_down;
        f.o.max_batch_records = 1; /* every publish writes a batch */
        REQUIRE(fx_connect(&f), "connect");
        CHECK(publish_n(f.c, "events", 0, 5) == 0, "publish: %s", sluice_errstr(f.c));
        REQUIRE(WAIT_FOR(fs_publish_frames(f.s) == 5), "%s: the server read %d of 5 batches", how,
                fs_publish_frames(f.s));
        fs_release(f.s);
        REQUIRE(WAIT_FOR(fs_closed_connections(f.s) == 1), "%s: the server did not close", how);
        CHECK(sluice_unacked_records(f.c) == 5, "%s: the client has not read the ACKs yet (%llu held)", how,
              (unsigned long long)sluice_unacked_records(f.c));
        /* This write meets the closed socket (EPIPE) before anything is read. */
        CHECK(publish_n(f.c, "events", 5, 1) == 0, "publish: %s", sluice_errstr(f.c));
        CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "%s: flush: %s", how, sluice_errstr(f.c));
        CHECK(fs_connections(f.s) == 2, "%s: connections %d", how, fs_connections(f.s));
        size_t n = fs_records(f.s, LOG, 20000);
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
        CHECK(f.fl.n == 0 && sluice_failed_records(f.c) == 0, "%s: nothing failed", how);
        fx_close(&f);
    }
}

static void test_retriable_error_resends_batch(void) {
    fixture f;
    REQUIRE(fx_start(&f, FS_OVERLOADED, 1), "connect");
    CHECK(fx_publish_flush(&f, 5, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
    CHECK(fs_publish_frames(f.s) == 2, "frames %d (refused once, then resent)", fs_publish_frames(f.s));
    CHECK(fs_connections(f.s) == 1, "same connection");
    size_t n = fs_records(f.s, LOG, 20000);
    REQUIRE(n == 10, "records %zu", n);
    for (int i = 0; i < 5; i++) CHECK(memcmp(LOG[i].event_id, LOG[i + 5].event_id, 16) == 0, "same id %d", i);
    CHECK(LOG[0].request_id != LOG[5].request_id, "a new request id for the resend");
    CHECK(sluice_failed_records(f.c) == 0 && f.fl.n == 0, "nothing failed");
    fx_close(&f);
}

static void test_non_retriable_error_fails_batch(void) {
    fixture f;
    fx_init(&f, FS_MALFORMED, 1);
    f.o.max_batch_records = 4;
    REQUIRE(fx_connect(&f), "connect");
    CHECK(fx_publish_flush(&f, 10, 5000) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_RECORDS_FAILED,
          "flush: %d %s", sluice_errcode(f.c), sluice_errstr(f.c));
    CHECK(sluice_failed_records(f.c) == 4, "failed %llu", (unsigned long long)sluice_failed_records(f.c));
    REQUIRE(f.fl.n == 4, "callbacks %d", f.fl.n);
    for (int i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%d", i);
        CHECK(f.fl.code[i] == SLUICE_E_MALFORMED_PAYLOAD && f.fl.index[i] == (uint32_t)i,
              "failure %d: code %d index %u", i, f.fl.code[i], f.fl.index[i]);
        CHECK(strcmp(f.fl.value[i], want) == 0 && strcmp(f.fl.topic[i], "events") == 0, "failure %d: %s %s", i,
              f.fl.topic[i], f.fl.value[i]);
        CHECK(strcmp(f.fl.message[i], "broken on purpose") == 0, "message '%s'", f.fl.message[i]);
    }
    CHECK(fs_publish_frames(f.s) == 3, "not resent: frames %d", fs_publish_frames(f.s));
    CHECK(sluice_unacked_records(f.c) == 0, "nothing held");
    fx_close(&f);
}

static void test_shutting_down_reconnects_and_resends(void) {
    fixture f;
    REQUIRE(fx_start(&f, FS_SHUTTING_DOWN, 1), "connect");
    CHECK(fx_publish_flush(&f, 6, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
    CHECK(fs_connections(f.s) == 2, "connections %d", fs_connections(f.s));
    size_t n = fs_records(f.s, LOG, 20000);
    CHECK(n == 12 && distinct_ids(LOG, n) == 6, "records %zu", n);
    fx_close(&f);
}

static void test_ack_none(void) {
    fixture f;
    fx_init(&f, FS_NORMAL, 0);
    f.cfg.reject_key = "reject-me";
    f.o.ack_level = SLUICE_ACK_NONE;
    REQUIRE(fx_connect(&f), "connect");
    CHECK(publish_n(f.c, "events", 0, 4) == 0, "publish");
    CHECK(sluice_publish(f.c, "events", "reject-me", "x", 1, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "flush returns once written: %s", sluice_errstr(f.c));
    CHECK(sluice_unacked_records(f.c) == 0, "ack none keeps nothing after writing");
    /* The failure ACK comes before the PONG on the same connection. */
    CHECK(sluice_ping(f.c, 2000) == SLUICE_OK, "ping: %s", sluice_errstr(f.c));
    CHECK(sluice_failed_records(f.c) == 1, "failed %llu", (unsigned long long)sluice_failed_records(f.c));
    CHECK(f.fl.n == 1 && f.fl.code[0] == SLUICE_E_REJECTED_BY_BROKER && !f.fl.have_topic[0] && f.fl.index[0] == 4,
          "callback n %d code %d", f.fl.n, f.fl.code[0]);
    CHECK(sluice_flush(f.c, 1000) == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_RECORDS_FAILED,
          "next flush reports it");
    CHECK(fs_last_ack_level(f.s) == SLUICE_ACK_NONE && fs_records(f.s, NULL, 0) == 5, "server side");
    fx_close(&f);
}

static void test_backpressure_waits_for_acks(void) {
    fixture f;
    fx_init(&f, FS_NORMAL, 0);
    f.cfg.ack_delay_ms = 2;
    f.o.max_unacked_bytes = 1500;
    f.o.max_batch_records = 5;
    f.o.compression = 0;
    REQUIRE(fx_connect(&f), "connect");
    CHECK(fx_publish_flush(&f, 300, 10000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
    size_t n = fs_records(f.s, LOG, 20000);
    CHECK(n == 300, "records %zu", n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%zu", i);
        if (strcmp(LOG[i].value, want) != 0) {
            CHECK(0, "order: record %zu is %s", i, LOG[i].value);
            break;
        }
    }
    fx_close(&f);

    /* A server that never acks: publish gives up after io_timeout_ms, without taking the record. */
    f.cfg = cfg_mode(FS_NO_ACK, 0);
    f.o.io_timeout_ms = 200;
    f.o.max_batch_records = 2;
    REQUIRE(fx_connect(&f), "connect");
    int rc = SLUICE_OK, i;
    int64_t t0 = 0;
    uint64_t before = 0;
    for (i = 0; i < 1000 && rc == SLUICE_OK; i++) {
        before = sluice_unacked_records(f.c);
        t0 = t_now_ms();
        rc = sluice_publish(f.c, "events", "k", "0123456789012345678901234567890123456789", 40, NULL, 0);
    }
    int64_t ms = t_now_ms() - t0;
    CHECK(rc == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_TIMEOUT, "publish %d: rc %d code %d %s", i, rc,
          sluice_errcode(f.c), sluice_errstr(f.c));
    CHECK(ms >= 150 && ms < 3000, "blocked %lld ms", (long long)ms);
    CHECK(sluice_unacked_records(f.c) == before, "refused record not taken");
    CHECK(before * 60 <= 1500 + 200, "held about max_unacked_bytes: %llu records", (unsigned long long)before);
    fx_close(&f);

    /* The server's announced max unacked bytes binds, whatever the option says (PROTOCOL.md section 6). */
    f.cfg = cfg_mode(FS_NO_ACK, 0);
    f.cfg.max_unacked_bytes = 1500;
    f.o.max_unacked_bytes = (size_t)64 << 20;
    REQUIRE(fx_connect(&f), "connect");
    rc = SLUICE_OK;
    for (i = 0; i < 1000 && rc == SLUICE_OK; i++) {
        before = sluice_unacked_records(f.c);
        rc = sluice_publish(f.c, "events", "k", "0123456789012345678901234567890123456789", 40, NULL, 0);
    }
    CHECK(rc == SLUICE_ERR && sluice_errcode(f.c) == SLUICE_E_TIMEOUT, "publish %d: rc %d code %d", i, rc,
          sluice_errcode(f.c));
    CHECK(before > 0 && before * 60 <= 1500 + 200, "held about the announced 1500 bytes: %llu records",
          (unsigned long long)before);
    fx_close(&f);
}

void client_resend_tests(void) {
    h_run("client: connection dropped before ACK -> reconnect + resend", test_resend_after_connection_drop);
    h_run("client: replies left on a broken connection are read before resending",
          test_replies_left_on_a_broken_connection_are_read_before_resending);
    h_run("client: OVERLOADED (retriable) -> batch resent", test_retriable_error_resends_batch);
    h_run("client: MALFORMED_PAYLOAD (final) -> batch failed", test_non_retriable_error_fails_batch);
    h_run("client: SHUTTING_DOWN closing -> reconnect + resend", test_shutting_down_reconnects_and_resends);
    h_run("client: ack level none", test_ack_none);
    h_run("client: backpressure waits for ACKs, then times out", test_backpressure_waits_for_acks);
}
