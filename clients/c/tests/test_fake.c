/* The public fake gateway (testing/sluice_fake.h) with real clients: what it records and the failures it gives. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sluice.h"
#include "sluice_fake.h"

typedef struct {
    int n;
    int code[8];
    char key[8][32];
    char topic[8][32];
} seen_failures;

static void remember(void *opaque, const sluice_failure *f) {
    seen_failures *s = opaque;
    if (s->n >= 8) return;
    s->code[s->n] = f->code;
    snprintf(s->key[s->n], sizeof(s->key[0]), "%.*s", (int)f->key_len, f->key ? f->key : "");
    snprintf(s->topic[s->n], sizeof(s->topic[0]), "%s", f->topic ? f->topic : "");
    s->n++;
}

static sluice_client *client_of(sluice_fake *f, seen_failures *seen, int ack_level, int compression) {
    sluice_options o;
    sluice_options_init(&o);
    o.ack_level = ack_level;
    o.compression = compression;
    o.max_batch_records = 7;
    o.reconnect_attempts = 1;
    o.on_failure = remember;
    o.opaque = seen;
    return sluice_connect(sluice_fake_socket_path(f), &o);
}

static void test_fake_records_every_field(void) {
    sluice_fake *f = sluice_fake_start();
    REQUIRE(f != NULL, "sluice_fake_start");
    seen_failures seen = {0};
    sluice_client *c = client_of(f, &seen, SLUICE_ACK_DURABLE, 0);
    REQUIRE(c && sluice_errcode(c) == 0, "connect: %s", c ? sluice_errstr(c) : "NULL");
    CHECK(strcmp(sluice_server_name(c), "sluice-fake/1") == 0, "server name %s", sluice_server_name(c));
    sluice_header h[2] = {{"source", "checkout", 8}, {"empty", NULL, 0}};
    sluice_record r;
    memset(&r, 0, sizeof(r));
    r.topic = "player.registered";
    r.key = "42";
    r.key_len = 2;
    r.event_type = "PlayerRegistered";
    for (int i = 0; i < 16; i++) r.event_id[i] = (uint8_t)(i + 1);
    r.timestamp_ms = 1700000000123LL;
    r.headers = h;
    r.n_headers = 2;
    r.value = "{\"playerId\":42}";
    r.value_len = 15;
    CHECK(sluice_publish_record(c, &r) == SLUICE_OK, "publish: %s", sluice_errstr(c));
    CHECK(sluice_publish(c, "other", "7", "x", 1, NULL, 0) == SLUICE_OK, "publish: %s", sluice_errstr(c));
    CHECK(sluice_flush(c, 5000) == SLUICE_OK, "flush: %s", sluice_errstr(c));

    CHECK(sluice_fake_count(f) == 2, "%zu records", sluice_fake_count(f));
    CHECK(sluice_fake_count_published(f, "player.registered", "42") == 1, "by topic and key");
    CHECK(sluice_fake_count_published(f, "player.registered", "43") == 0, "another key");
    CHECK(sluice_fake_count_published(f, NULL, "7") == 1 && sluice_fake_count_published(f, NULL, NULL) == 2, "any");
    sluice_fake_record got;
    REQUIRE(sluice_fake_record_at(f, 0, &got) == 0, "record 0");
    CHECK(strcmp(got.topic, "player.registered") == 0 && got.key_len == 2 && memcmp(got.key, "42", 2) == 0,
          "topic %s key %s", got.topic, got.key);
    CHECK(strcmp(got.event_type, "PlayerRegistered") == 0, "event type %s", got.event_type);
    CHECK(memcmp(got.event_id, r.event_id, 16) == 0 && got.timestamp_ms == 1700000000123LL, "id and timestamp");
    CHECK(got.value_len == 15 && memcmp(got.value, "{\"playerId\":42}", 15) == 0, "value");
    REQUIRE(got.n_headers == 2, "%zu headers", got.n_headers);
    CHECK(strcmp(got.headers[0].name, "source") == 0 && got.headers[0].value_len == 8 &&
              memcmp(got.headers[0].value, "checkout", 8) == 0,
          "header 0");
    CHECK(strcmp(got.headers[1].name, "empty") == 0 && got.headers[1].value_len == 0, "header 1");
    CHECK(got.ack_level == SLUICE_ACK_DURABLE && got.failure_code == 0, "ack level %d failure %d", got.ack_level,
          got.failure_code);
    CHECK(sluice_fake_record_at(f, 2, &got) == -1, "no third record");
    char *stats = sluice_stats(c, 2000);
    CHECK(stats && strstr(stats, "\"received\":2"), "stats %s", stats ? stats : sluice_errstr(c));
    sluice_free(stats);
    CHECK(sluice_ping(c, 2000) == SLUICE_OK, "ping: %s", sluice_errstr(c));
    sluice_fake_reset(f);
    CHECK(sluice_fake_count(f) == 0, "reset forgets");
    sluice_close(c);
    sluice_fake_stop(f);
}

static void test_fake_fails_chosen_records_with_the_given_code(void) {
    sluice_fake *f = sluice_fake_start();
    REQUIRE(f != NULL, "sluice_fake_start");
    sluice_fake_fail(f, NULL, "player-13", SLUICE_E_REJECTED_BY_BROKER, 1);
    sluice_fake_fail(f, "audit", NULL, SLUICE_E_TOPIC_NOT_ALLOWED, 0);
    seen_failures seen = {0};
    sluice_client *c = client_of(f, &seen, SLUICE_ACK_DURABLE, 0);
    REQUIRE(c && sluice_errcode(c) == 0, "connect");
    for (int i = 10; i < 15; i++) {
        char key[24];
        snprintf(key, sizeof(key), "player-%d", i);
        CHECK(sluice_publish(c, "events", key, "e", 1, NULL, 0) == SLUICE_OK, "publish");
    }
    CHECK(sluice_publish(c, "events", "player-13", "again", 5, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_publish(c, "audit", "player-1", "a", 1, NULL, 0) == SLUICE_OK, "publish");
    CHECK(sluice_flush(c, 5000) == SLUICE_ERR && sluice_errcode(c) == SLUICE_E_RECORDS_FAILED, "flush: %d %s",
          sluice_errcode(c), sluice_errstr(c));
    REQUIRE(seen.n == 2, "%d failures reported", seen.n);
    CHECK(seen.code[0] == SLUICE_E_REJECTED_BY_BROKER && strcmp(seen.key[0], "player-13") == 0 &&
              strcmp(seen.topic[0], "events") == 0,
          "first: %d %s %s", seen.code[0], seen.topic[0], seen.key[0]);
    CHECK(seen.code[1] == SLUICE_E_TOPIC_NOT_ALLOWED && strcmp(seen.topic[1], "audit") == 0, "second: %d %s",
          seen.code[1], seen.topic[1]);
    CHECK(sluice_failed_records(c) == 2, "failed %llu", (unsigned long long)sluice_failed_records(c));
    sluice_fake_record got;
    CHECK(sluice_fake_record_at(f, 3, &got) == 0 && got.failure_code == SLUICE_E_REJECTED_BY_BROKER, "record 3");
    CHECK(sluice_fake_record_at(f, 5, &got) == 0 && got.failure_code == 0, "times=1 was spent: %d", got.failure_code);
    CHECK(sluice_fake_count_published(f, NULL, "player-13") == 2, "failed records are recorded too");
    sluice_close(c);
    sluice_fake_stop(f);
}

static void test_fake_serves_several_clients_compressed_and_every_ack_level(void) {
    sluice_fake *f = sluice_fake_start();
    REQUIRE(f != NULL, "sluice_fake_start");
    seen_failures seen = {0};
    sluice_client *c[3];
    for (int k = 0; k < 3; k++) {
        c[k] = client_of(f, &seen, k, k == 0);
        REQUIRE(c[k] && sluice_errcode(c[k]) == 0, "connect %d", k);
    }
    char value[200];
    memset(value, 'v', sizeof(value));
    for (int i = 0; i < 30; i++)
        for (int k = 0; k < 3; k++) {
            char key[24];
            snprintf(key, sizeof(key), "client-%d", k);
            CHECK(sluice_publish(c[k], "events", key, value, sizeof(value), NULL, 0) == SLUICE_OK, "publish");
        }
    for (int k = 0; k < 3; k++) CHECK(sluice_flush(c[k], 5000) == SLUICE_OK, "flush %d: %s", k, sluice_errstr(c[k]));
    /* Ack level none: flush returns once written; the fake has them a moment later. */
    int64_t until = t_now_ms() + 5000;
    while (sluice_fake_count(f) < 90 && t_now_ms() < until) sluice_ping(c[0], 100);
    for (int k = 0; k < 3; k++) {
        char key[24];
        snprintf(key, sizeof(key), "client-%d", k);
        CHECK(sluice_fake_count_published(f, "events", key) == 30, "client %d: %zu records", k,
              sluice_fake_count_published(f, "events", key));
    }
    sluice_fake_stop(f); /* the clients see the gateway go away */
    CHECK(sluice_publish(c[1], "events", "k", "v", 1, NULL, 0) == SLUICE_OK, "taken while away");
    CHECK(sluice_flush(c[1], 2000) == SLUICE_ERR, "no gateway: flush fails");
    for (int k = 0; k < 3; k++) sluice_close(c[k]);
}

void fake_tests(void) {
    h_run("fake gateway: records every field a client sent", test_fake_records_every_field);
    h_run("fake gateway: fails chosen records with the given code",
          test_fake_fails_chosen_records_with_the_given_code);
    h_run("fake gateway: several clients, zstd, every ack level",
          test_fake_serves_several_clients_compressed_and_every_ack_level);
}
