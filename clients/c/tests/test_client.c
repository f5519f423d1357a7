/* The client against the fake server: delivery, batching, compression. The other client
 * suites: test_client_resend.c, test_client_faults.c, test_client_api.c. */
#include "client_fixture.h"

/* ---- happy path -------------------------------------------------------------- */

static void test_publish_flush_with_rejected_record(void) {
    fixture f;
    fx_init(&f, FS_NORMAL, 0);
    f.cfg.reject_key = "reject-me";
    fx_connect(&f);
    REQUIRE(f.c != NULL, "connect returned NULL");
    CHECK(sluice_errcode(f.c) == 0, "connect: %s", sluice_errstr(f.c));
    CHECK(sluice_is_connected(f.c), "connected");
    CHECK(strcmp(sluice_server_name(f.c), "fake/1") == 0, "server name %s", sluice_server_name(f.c));

    int64_t wall0 = (int64_t)time(NULL) * 1000;
    CHECK(publish_n(f.c, "events", 0, 7) == 0, "publish: %s", sluice_errstr(f.c));
    CHECK(sluice_publish(f.c, "events", "reject-me", "v-7", 3, NULL, 0) == SLUICE_OK, "publish: %s",
          sluice_errstr(f.c));
    CHECK(publish_n(f.c, "events", 8, 12) == 0, "publish: %s", sluice_errstr(f.c));
    CHECK(sluice_unacked_records(f.c) == 20, "unacked %llu", (unsigned long long)sluice_unacked_records(f.c));

    CHECK(sluice_flush(f.c, 5000) == SLUICE_ERR, "flush must report the rejected record");
    CHECK(sluice_errcode(f.c) == SLUICE_E_RECORDS_FAILED, "code %d: %s", sluice_errcode(f.c), sluice_errstr(f.c));
    CHECK(sluice_failed_records(f.c) == 1, "failed %llu", (unsigned long long)sluice_failed_records(f.c));
    CHECK(sluice_unacked_records(f.c) == 0, "all resolved");
    REQUIRE(f.fl.n == 1, "callback calls: %d", f.fl.n);
    CHECK(strcmp(f.fl.topic[0], "events") == 0 && strcmp(f.fl.key[0], "reject-me") == 0, "topic %s key %s",
          f.fl.topic[0], f.fl.key[0]);
    CHECK(strcmp(f.fl.value[0], "v-7") == 0 && f.fl.index[0] == 7, "value %s index %u", f.fl.value[0], f.fl.index[0]);
    CHECK(f.fl.code[0] == SLUICE_E_REJECTED_BY_BROKER && strcmp(f.fl.error_name[0], "REJECTED_BY_BROKER") == 0,
          "code %d %s", f.fl.code[0], f.fl.error_name[0]);
    CHECK(f.fl.retriable[0] == 0 && f.fl.message[0][0] == '\0', "retriable %d message '%s'", f.fl.retriable[0],
          f.fl.message[0]);

    size_t n = fs_records(f.s, LOG, 20000);
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
            CHECK(memcmp(LOG[i].event_id, f.fl.event_id[0], 16) == 0, "callback event id is the one sent");
    }
    CHECK(LOG[0].n_headers == 1 && LOG[7].n_headers == 0, "headers");
    CHECK(fs_last_ack_level(f.s) == SLUICE_ACK_DURABLE, "default ack level durable");

    CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "second flush has nothing new to report: %s", sluice_errstr(f.c));
    CHECK(sluice_errcode(f.c) == 0, "error cleared");
    char *stats = sluice_stats(f.c, 2000);
    CHECK(stats != NULL && strstr(stats, "\"uptimeSeconds\":1") != NULL, "stats: %s",
          stats ? stats : sluice_errstr(f.c));
    sluice_free(stats);
    CHECK(sluice_ping(f.c, 2000) == SLUICE_OK, "ping: %s", sluice_errstr(f.c));
    CHECK(fs_violations(f.s) == 0, "protocol violations");
    fx_close(&f);
}

static void test_record_api_keeps_given_fields(void) {
    fixture f;
    fx_init(&f, FS_NORMAL, 0);
    f.o.ack_level = SLUICE_ACK_ACCEPTED;
    REQUIRE(fx_connect(&f), "connect");
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
    CHECK(sluice_publish_record(f.c, &r) == SLUICE_OK, "publish_record: %s", sluice_errstr(f.c));
    f.o.generate_event_ids = 0;
    CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
    REQUIRE(fs_records(f.s, LOG, 20000) == 1, "one record");
    CHECK(memcmp(LOG[0].event_id, r.event_id, 16) == 0, "event id kept");
    CHECK(LOG[0].timestamp_ms == 1700000000123LL, "timestamp kept");
    CHECK(fs_last_ack_level(f.s) == SLUICE_ACK_ACCEPTED, "ack level %d", fs_last_ack_level(f.s));
    fx_close(&f);

    /* generate_event_ids = 0: all-zero ids go out as zero for the server to assign. */
    REQUIRE(fx_connect(&f), "connect");
    CHECK(sluice_publish(f.c, "t", "k", "v", 1, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
    uint8_t zero[16] = {0};
    REQUIRE(fs_records(f.s, LOG, 20000) == 1, "one record");
    CHECK(memcmp(LOG[0].event_id, zero, 16) == 0, "zero id sent as zero");
    fx_close(&f);
}

static void test_batches_follow_server_limits(void) {
    fixture f;
    fx_init(&f, FS_NORMAL, 0);
    f.cfg.max_records = 7;
    f.cfg.max_key_bytes = 8;
    f.cfg.max_frame_bytes = 4096;
    REQUIRE(fx_connect(&f), "connect: %s", f.c ? sluice_errstr(f.c) : "");
    CHECK(publish_n(f.c, "events", 0, 50) == 0, "publish: %s", sluice_errstr(f.c));
    CHECK(sluice_publish(f.c, "events", "123456789", "v", 1, NULL, 0) == SLUICE_ERR &&
              sluice_errcode(f.c) == SLUICE_E_INVALID_KEY,
          "9-byte key over the announced 8: %d", sluice_errcode(f.c));
    static char big[5000];
    memset(big, 'x', sizeof(big));
    CHECK(sluice_publish(f.c, "events", "k", big, sizeof(big), NULL, 0) == SLUICE_ERR &&
              sluice_errcode(f.c) == SLUICE_E_RECORD_TOO_LARGE,
          "record over the 4096-byte frame: %d %s", sluice_errcode(f.c), sluice_errstr(f.c));
    CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
    CHECK(fs_max_records_in_frame(f.s) == 7, "largest frame had %d records", fs_max_records_in_frame(f.s));
    CHECK(fs_publish_frames(f.s) == 8, "frames %d", fs_publish_frames(f.s));
    size_t n = fs_records(f.s, LOG, 20000);
    CHECK(n == 50, "records %zu", n);
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "v-%zu", i);
        CHECK(strcmp(LOG[i].value, want) == 0, "order: record %zu is %s", i, LOG[i].value);
    }
    CHECK(fs_violations(f.s) == 0, "violations");
    fx_close(&f);
}

static void test_compression_and_big_records(void) {
    for (int compress = 0; compress <= 1; compress++) {
        fixture f;
        fx_init(&f, FS_NORMAL, 0);
        f.o.compression = compress;
        f.o.zstd_level = 3;
        f.o.max_batch_bytes = 4096;
        REQUIRE(fx_connect(&f), "connect");
        for (int i = 0; i < 300; i++) {
            char value[128];
            int len = snprintf(value, sizeof(value), "{\"player\":\"player-%d\",\"event\":\"login\",\"seq\":%d}",
                               i % 13, i);
            CHECK(sluice_publish(f.c, "events", "player-1", value, (size_t)len, NULL, 0) == SLUICE_OK, "publish");
        }
        /* A record larger than max_batch_bytes goes alone in its batch. */
        static char big[20000];
        memset(big, 'b', sizeof(big));
        CHECK(sluice_publish(f.c, "events", "player-1", big, sizeof(big), NULL, 0) == SLUICE_OK, "big: %s",
              sluice_errstr(f.c));
        CHECK(sluice_publish(f.c, "events", "player-1", "after", 5, NULL, 0) == SLUICE_OK, "after");
        CHECK(sluice_flush(f.c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(f.c));
        size_t n = fs_records(f.s, LOG, 20000);
        CHECK(n == 302, "records %zu", n);
        CHECK(n == 302 && strcmp(LOG[301].value, "after") == 0, "order kept around the big record");
        if (compress) CHECK(fs_compressed_frames(f.s) > 0, "compressed frames %d", fs_compressed_frames(f.s));
        else CHECK(fs_compressed_frames(f.s) == 0, "no compression asked, got %d", fs_compressed_frames(f.s));
        CHECK(fs_violations(f.s) == 0, "violations (zstd content size declared, limits kept)");
        fx_close(&f);
    }
}

void client_tests(void) {
    h_run("client: publish + flush, rejected record via callback", test_publish_flush_with_rejected_record);
    h_run("client: record API keeps id, timestamp, ack level", test_record_api_keeps_given_fields);
    h_run("client: batches follow the server's limits", test_batches_follow_server_limits);
    h_run("client: zstd batches and oversized records", test_compression_and_big_records);
    client_resend_tests();
    client_fault_tests();
    client_api_tests();
}
