/* publish-example: the whole libsluice API in one small program.
 *
 *   publish-example SOCKET_PATH TOPIC [COUNT]
 *
 * Connects with options, publishes COUNT records (default 10) with headers,
 * one more with an explicit event type, id and timestamp, flushes with a
 * timeout, prints the gateway's stats, pings, and closes. Exit status: 0 when
 * every record was acknowledged, 1 on an error, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

/* Called for every record the gateway rejected (inside publish/flush/stats). */
static void on_failure(void *opaque, const sluice_failure *f) {
    unsigned *failures = opaque;
    (*failures)++;
    fprintf(stderr, "rejected: topic=%s key=%.*s code=%d (%s)%s%s\n", f->topic ? f->topic : "?",
            (int)(f->key ? f->key_len : 1), f->key ? f->key : "?", f->code, f->error_name,
            f->message[0] ? ": " : "", f->message);
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s SOCKET_PATH TOPIC [COUNT]\n", argv[0]);
        return 2;
    }
    const char *path = argv[1], *topic = argv[2];
    long count = argc == 4 ? strtol(argv[3], NULL, 10) : 10;
    if (count < 0) {
        fprintf(stderr, "COUNT must be >= 0\n");
        return 2;
    }

    unsigned failures = 0;
    sluice_options opts;
    sluice_options_init(&opts);            /* always start from the defaults */
    opts.client_name = "publish-example";
    opts.ack_level = SLUICE_ACK_DURABLE;   /* acked once in Kafka or the gateway's spool */
    opts.connect_timeout_ms = 2000;
    opts.max_batch_records = 500;
    opts.on_failure = on_failure;
    opts.opaque = &failures;

    sluice_client *c = sluice_connect(path, &opts);
    if (c == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    if (sluice_errcode(c) != SLUICE_E_NONE) {
        /* The client stays usable (later calls reconnect), but here we give up. */
        fprintf(stderr, "connect %s: %s (%s)\n", path, sluice_errstr(c), sluice_error_name(sluice_errcode(c)));
        sluice_close(c);
        return 1;
    }
    printf("connected to %s (libsluice %s)\n", sluice_server_name(c), sluice_version());

    int status = 0;
    for (long i = 0; i < count; i++) {
        char key[32], value[96];
        snprintf(key, sizeof(key), "player-%ld", i % 10);
        int vlen = snprintf(value, sizeof(value), "{\"seq\":%ld,\"source\":\"publish-example\"}", i);
        sluice_header headers[] = {
            {"source", "publish-example", strlen("publish-example")},
            {"trace", "\x00\x01", 2},
        };
        if (sluice_publish(c, topic, key, value, (size_t)vlen, headers, 2) != SLUICE_OK) {
            /* SLUICE_ERR: this record was not taken (invalid, or backpressure timed out). */
            fprintf(stderr, "publish: %s (%s)\n", sluice_errstr(c), sluice_error_name(sluice_errcode(c)));
            status = 1;
            break;
        }
    }

    /* The full record form: event type, your own event id and timestamp. */
    sluice_record r;
    memset(&r, 0, sizeof(r));
    r.topic = topic;
    r.key = "player-0";
    r.key_len = strlen("player-0");
    r.event_type = "example.done";
    memcpy(r.event_id, "\x6b\xa7\xb8\x10\x9d\xad\x41\xd1\x80\xb4\x00\xc0\x4f\xd4\x30\xc8", 16);
    r.timestamp_ms = 0; /* 0 = now */
    r.value = "{}";
    r.value_len = 2;
    if (status == 0 && sluice_publish_record(c, &r) != SLUICE_OK) {
        fprintf(stderr, "publish_record: %s\n", sluice_errstr(c));
        status = 1;
    }

    /* Local validation fails at once with the protocol's code. */
    if (sluice_publish(c, "bad topic!", "k", "v", 1, NULL, 0) == SLUICE_ERR &&
        sluice_errcode(c) == SLUICE_E_INVALID_TOPIC)
        printf("invalid topic refused locally: %s\n", sluice_errstr(c));

    if (sluice_flush(c, 10000) != SLUICE_OK) {
        fprintf(stderr, "flush: %s (%s)\n", sluice_errstr(c), sluice_error_name(sluice_errcode(c)));
        status = 1;
    } else {
        printf("flushed %ld records\n", count + 1);
    }

    char *stats = sluice_stats(c, 2000);
    if (stats != NULL) {
        printf("stats: %s\n", stats);
        sluice_free(stats);
    } else {
        fprintf(stderr, "stats: %s\n", sluice_errstr(c));
    }
    if (sluice_ping(c, 2000) != SLUICE_OK) fprintf(stderr, "ping: %s\n", sluice_errstr(c));

    printf("failed records: %llu (callback saw %u)\n", (unsigned long long)sluice_failed_records(c), failures);
    sluice_close(c); /* does not flush: flush first, as above */
    return status;
}
