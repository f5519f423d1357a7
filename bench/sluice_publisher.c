/*
 * The Sluice side of `make bench`: the bench workload (bench/workload.h)
 * published through the C client (clients/c) to a running gateway with ack
 * level durable — every record is acknowledged only once Kafka has it.
 *
 *   sluice_publisher --socket PATH --topic T [--events N] [--keys K]
 *                    [--batch-records R] [--no-compression]
 *
 * One warm-up record is published and flushed before the clock starts (as in
 * rdkafka_baseline). Exit status 0 only when every record was acknowledged
 * and none was rejected. Last line on stdout:
 *   events=N seconds=S rate=R warmup=1
 */
#define _POSIX_C_SOURCE 200809L

#include "sluice.h"
#include "workload.h"

static uint64_t failures;

static void on_failure(void *opaque, const sluice_failure *f) {
    (void)opaque;
    if (failures++ < 5)
        fprintf(stderr, "sluice_publisher: record %u (key %s) failed: %s %s\n", f->index, f->key ? f->key : "?",
                f->error_name, f->message);
}

static int flush_ms(double deadline) {
    double left = deadline - bench_now();
    return left <= 0 ? 1 : (int)(left * 1000) + 1;
}

int main(int argc, char **argv) {
    bench_args a;
    if (bench_parse_args(argc, argv, 1, &a) != 0) return 2;

    sluice_options o;
    sluice_options_init(&o);
    o.ack_level = SLUICE_ACK_DURABLE;
    o.client_name = "sluice-bench";
    o.on_failure = on_failure;
    if (a.batch_records > 0) o.max_batch_records = a.batch_records;
    if (a.no_compression) o.compression = 0;

    sluice_client *c = sluice_connect(a.socket_path, &o);
    if (c == NULL) {
        fprintf(stderr, "sluice_publisher: out of memory\n");
        return 1;
    }
    bench_workload *w = malloc(sizeof *w);
    int rc = 1;
    if (w == NULL) goto out;
    if (sluice_errcode(c) != SLUICE_E_NONE) {
        fprintf(stderr, "sluice_publisher: connect %s: %s\n", a.socket_path, sluice_errstr(c));
        goto out;
    }
    fprintf(stderr,
            "sluice_publisher: libsluice %s to %s, %llu events over %llu keys, %zu-byte values, "
            "batches of %u, zstd %s\n",
            sluice_version(), sluice_server_name(c), (unsigned long long)a.events, (unsigned long long)a.keys,
            a.value_bytes, o.max_batch_records, o.compression ? "on" : "off");
    double deadline = bench_now() + a.timeout_s;

    /* Warm-up: the gateway's producer connects and gets its id outside the clock. */
    bench_workload_init(w, a.keys, a.value_bytes);
    bench_make_event(w, 0);
    if (sluice_publish(c, a.topic, w->key, w->value, w->value_bytes, NULL, 0) != SLUICE_OK ||
        sluice_flush(c, flush_ms(deadline)) != SLUICE_OK) {
        fprintf(stderr, "sluice_publisher: warm-up: %s (%s)\n", sluice_errstr(c),
                sluice_error_name(sluice_errcode(c)));
        goto out;
    }

    bench_workload_init(w, a.keys, a.value_bytes);
    double start = bench_now();
    for (uint64_t i = 0; i < a.events; i++) {
        bench_make_event(w, i);
        if (sluice_publish(c, a.topic, w->key, w->value, w->value_bytes, NULL, 0) != SLUICE_OK) {
            fprintf(stderr, "sluice_publisher: publish of event %llu: %s (%s)\n", (unsigned long long)i,
                    sluice_errstr(c), sluice_error_name(sluice_errcode(c)));
            goto out;
        }
        if ((i & 0xffff) == 0 && bench_now() > deadline) {
            fprintf(stderr, "sluice_publisher: deadline passed after %llu events\n", (unsigned long long)i);
            goto out;
        }
    }
    if (sluice_flush(c, flush_ms(deadline)) != SLUICE_OK) {
        fprintf(stderr, "sluice_publisher: flush: %s (%s); %llu records unacknowledged, %llu rejected\n",
                sluice_errstr(c), sluice_error_name(sluice_errcode(c)),
                (unsigned long long)sluice_unacked_records(c), (unsigned long long)sluice_failed_records(c));
        goto out;
    }
    double seconds = bench_now() - start;
    if (sluice_failed_records(c) != 0 || failures != 0 || sluice_unacked_records(c) != 0) {
        fprintf(stderr, "sluice_publisher: %llu records rejected, %llu unacknowledged\n",
                (unsigned long long)sluice_failed_records(c), (unsigned long long)sluice_unacked_records(c));
        goto out;
    }
    printf("events=%llu seconds=%.3f rate=%.0f warmup=1\n", (unsigned long long)a.events, seconds,
           (double)a.events / seconds);
    rc = 0;
out:
    fflush(stdout);
    free(w);
    sluice_close(c);
    return rc;
}
