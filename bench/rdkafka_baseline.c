/*
 * The baseline for `make bench`: the bench workload (bench/workload.h)
 * published by a plain librdkafka producer with the settings the gateway uses
 * (Sources/SluiceKafka/ProducerConfiguration.swift), so the Sluice figure can
 * be compared with what librdkafka alone does on the same machine and broker.
 *
 *   rdkafka_baseline --brokers 127.0.0.1:PORT --topic T [--events N] [--keys K] [--stamp-headers]
 *   rdkafka_baseline --brokers 127.0.0.1:PORT --topic T --rate N --seconds S [--keys K]
 *
 * --rate/--seconds: paced, with every record's delivery latency, and the latency a
 * durable ACK of each 1 ms batch would have (see run_paced).
 *
 * --stamp-headers adds to every record the four headers the gateway stamps
 * (event-id as 36 characters of text, event-type, sluice-uid, sluice-pid), made
 * the way the gateway makes them (rd_kafka_headers_new and one
 * rd_kafka_header_add each), to show what those headers cost librdkafka.
 *
 * One warm-up record is produced and flushed before the clock starts (both
 * programs do this, so neither pays for connecting or for the idempotent
 * producer's id). Exit status 0 only when every record got a successful
 * delivery report. Last line on stdout:
 *   events=N seconds=S rate=R start=MONO_S end=MONO_S cpu_user=S cpu_sys=S warmup=1
 * (cpu_*: this process's CPU from the clock's start to the end of the flush,
 * every librdkafka thread included; see bench_cpu in workload.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <librdkafka/rdkafka.h>

#include "workload.h"

static uint64_t delivered;
static uint64_t failed;
static char first_failure[512];
static volatile int fatal;

/* Paced mode: when each record was produced, and when its delivery report came. */
static double *produced_at;
static double *delivered_at;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    (void)opaque;
    if (m->_private != NULL && delivered_at != NULL) /* the record's index + 1 */
        delivered_at[(size_t)(uintptr_t)m->_private - 1] = bench_now();
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        delivered++;
        return;
    }
    if (failed++ == 0) snprintf(first_failure, sizeof first_failure, "%s", rd_kafka_err2str(m->err));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    char why[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL && rd_kafka_fatal_error(rk, why, sizeof why) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "rdkafka_baseline: fatal producer error: %s\n", why);
        fatal = 1;
        return;
    }
    fprintf(stderr, "rdkafka_baseline: kafka: %s (%s)\n", reason, rd_kafka_err2name((rd_kafka_resp_err_t)err));
}

static int set(rd_kafka_conf_t *conf, const char *name, const char *value) {
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "rdkafka_baseline: %s=%s: %s\n", name, value, err);
        return -1;
    }
    return 0;
}

static int stamp_headers;
static uint64_t id_state = 0x853C49E6748FEA9BULL;
static char uid_text[16], pid_text[16];

/* The gateway's four stamped headers for one record (see --stamp-headers). */
static rd_kafka_headers_t *make_stamp(void) {
    static const char hex[] = "0123456789abcdef";
    char id[36];
    int at = 0;
    for (int word = 0; word < 2; word++) {
        uint64_t x = id_state += 0x9E3779B97F4A7C15ULL; /* splitmix64 */
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
        x ^= x >> 31;
        for (int nibble = 0; nibble < 16; nibble++) {
            if (at == 8 || at == 13 || at == 18 || at == 23) id[at++] = '-';
            id[at++] = hex[(x >> (60 - 4 * nibble)) & 0xF];
        }
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(4);
    rd_kafka_header_add(h, "event-id", -1, id, 36);
    rd_kafka_header_add(h, "event-type", -1, "bench", 5);
    rd_kafka_header_add(h, "sluice-uid", -1, uid_text, -1);
    rd_kafka_header_add(h, "sluice-pid", -1, pid_text, -1);
    return h;
}

/* Produces one record, serving delivery reports while the queue is full.
 * Returns 0, or -1 on a produce error, a fatal error or the deadline. */
static int produce(rd_kafka_t *rk, const char *topic, const char *key, size_t key_len, const char *value,
                   size_t value_len, void *opaque, double deadline) {
    for (;;) {
        rd_kafka_headers_t *headers = stamp_headers ? make_stamp() : NULL;
        /* NULL headers: the record has none (librdkafka treats the two forms alike). */
        rd_kafka_resp_err_t err = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_OPAQUE(opaque),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return 0;
        if (headers) rd_kafka_headers_destroy(headers);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "rdkafka_baseline: produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 10);
        if (fatal) return -1;
        if (bench_now() > deadline) {
            fprintf(stderr, "rdkafka_baseline: queue still full at the deadline\n");
            return -1;
        }
    }
}

/* Flushes until the queue is empty or the deadline passes. */
static int flush_all(rd_kafka_t *rk, double deadline) {
    while (rd_kafka_outq_len(rk) > 0 && !fatal) {
        double left = deadline - bench_now();
        if (left <= 0) break;
        rd_kafka_flush(rk, left > 1.0 ? 1000 : (int)(left * 1000) + 1);
    }
    if (rd_kafka_outq_len(rk) > 0) {
        fprintf(stderr, "rdkafka_baseline: %d records still undelivered at the deadline\n", rd_kafka_outq_len(rk));
        return -1;
    }
    return fatal ? -1 : 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* " NAME_p50_ms=... NAME_p99_ms=... NAME_max_ms=..." of the n values in v (sorted in place). */
static void print_percentiles(const char *name, double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_double);
    size_t i50 = (n + 1) / 2, i99 = (n * 99 + 99) / 100;
    printf(" %s_p50_ms=%.3f %s_p99_ms=%.3f %s_max_ms=%.3f", name, v[i50 - 1] * 1000, name, v[i99 - 1] * 1000, name,
           v[n - 1] * 1000);
}

/* --rate N --seconds S: N events/s for S seconds, produced every millisecond as the
 * schedule says they are due, with delivery reports served in between. Prints two
 * latencies per record as p50/p99/max:
 *   latency_*: the produce call to the record's own delivery report;
 *   batch_*:   the produce call to the last delivery report of the records produced in
 *              the same 1 ms tick: when a durable ACK of that batch could go out. This is
 *              what the Sluice publisher's durable-ack latency (1 ms batches) compares with. */
static int run_paced(rd_kafka_t *rk, const bench_args *a, bench_workload *w, double deadline) {
    const uint64_t total = a->rate * a->seconds;
    produced_at = calloc(total, sizeof *produced_at);
    delivered_at = calloc(total, sizeof *delivered_at);
    uint64_t *tick_first = calloc(total + 1, sizeof *tick_first); /* each tick's first record */
    if (produced_at == NULL || delivered_at == NULL || tick_first == NULL) return 1;
    size_t ticks = 0;
    bench_workload_init(w, a->keys, a->value_bytes, a->first_seq, a->envelope);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    const double start = bench_now();
    uint64_t sent = 0;
    while (sent < total) {
        uint64_t due = (uint64_t)((bench_now() - start) * (double)a->rate);
        if (due > total) due = total;
        if (sent < due) tick_first[ticks++] = sent;
        for (; sent < due; sent++) {
            bench_make_event(w, a->first_seq + sent);
            produced_at[sent] = bench_now();
            if (produce(rk, a->topic, w->key, w->key_len, w->value, w->value_bytes, (void *)(uintptr_t)(sent + 1),
                        deadline) != 0)
                return 1;
        }
        next.tv_nsec += 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        double next_s = (double)next.tv_sec + (double)next.tv_nsec / 1e9, left;
        rd_kafka_poll(rk, 0); /* reports are timed when served, so serve them even when behind */
        while ((left = next_s - bench_now()) > 0) rd_kafka_poll(rk, (int)(left * 1000) + 1);
    }
    double seconds = bench_now() - start;
    if (flush_all(rk, deadline) != 0 || failed > 0 || delivered != total + 1) {
        fprintf(stderr, "rdkafka_baseline: %llu delivered, %llu failed, expected %llu\n", (unsigned long long)delivered,
                (unsigned long long)failed, (unsigned long long)(total + 1));
        return 1;
    }
    tick_first[ticks] = total;
    double *own = malloc(total * sizeof *own), *batch = malloc(total * sizeof *batch);
    if (own == NULL || batch == NULL) return 1;
    for (size_t t = 0; t < ticks; t++) {
        double last = 0;
        for (uint64_t i = tick_first[t]; i < tick_first[t + 1]; i++)
            if (delivered_at[i] > last) last = delivered_at[i];
        for (uint64_t i = tick_first[t]; i < tick_first[t + 1]; i++) {
            own[i] = delivered_at[i] - produced_at[i];
            batch[i] = last - produced_at[i];
        }
    }
    printf("events=%llu seconds=%.3f rate=%.0f", (unsigned long long)total, seconds, (double)total / seconds);
    print_percentiles("latency", own, total);
    print_percentiles("batch", batch, total);
    printf(" batches=%zu warmup=1\n", ticks);
    free(own);
    free(batch);
    free(tick_first);
    return 0;
}

int main(int argc, char **argv) {
    bench_args a;
    if (bench_parse_args(argc, argv, 0, &a) != 0) return 2;
    stamp_headers = a.stamp_headers;
    snprintf(uid_text, sizeof uid_text, "%u", (unsigned)getuid());
    snprintf(pid_text, sizeof pid_text, "%d", (int)getpid());

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The gateway's producer settings, in ProducerConfiguration's order. */
    if (set(conf, "bootstrap.servers", a.brokers) || set(conf, "client.id", "sluice-bench-baseline") ||
        set(conf, "compression.codec", "lz4") || set(conf, "linger.ms", "5") ||
        set(conf, "message.timeout.ms", "30000") || set(conf, "queue.buffering.max.messages", "10000") ||
        set(conf, "queue.buffering.max.kbytes", "262144") || set(conf, "enable.idempotence", "true") ||
        set(conf, "acks", "all") || set(conf, "partitioner", "murmur2_random")) {
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == NULL) {
        fprintf(stderr, "rdkafka_baseline: rd_kafka_new: %s\n", errstr);
        return 1;
    }
    fprintf(stderr, "rdkafka_baseline: librdkafka %s, %llu events over %llu keys, %zu-byte values\n",
            rd_kafka_version_str(), (unsigned long long)a.events, (unsigned long long)a.keys, a.value_bytes);

    bench_workload *w = malloc(sizeof *w);
    bench_events events = {0};
    if (w == NULL) return 1;
    int rc = 1;
    double deadline = bench_now() + a.timeout_s;

    /* Warm-up: connect, fetch metadata and the producer id outside the clock. */
    bench_workload_init(w, a.keys, a.value_bytes, a.first_seq, a.envelope);
    bench_make_event(w, a.first_seq);
    if (produce(rk, a.topic, w->key, w->key_len, w->value, w->value_bytes, NULL, deadline) != 0 ||
        flush_all(rk, deadline) != 0)
        goto out;
    if (failed > 0) {
        fprintf(stderr, "rdkafka_baseline: warm-up record failed: %s\n", first_failure);
        goto out;
    }

    /* Made before "ready", so every process's CPU window and clock leave it out. */
    if (a.rate == 0 && bench_events_make(&events, w, a.first_seq, a.events, "rdkafka_baseline") != 0) goto out;
    if (bench_await_start("rdkafka_baseline", a.start_fifo) != 0) goto out;
    if (a.rate > 0) {
        rc = run_paced(rk, &a, w, deadline);
        goto out;
    }
    double user0, sys0, user1, sys1;
    bench_cpu(&user0, &sys0);
    double start = bench_now();
    for (uint64_t i = 0; i < a.events; i++) {
        if (produce(rk, a.topic, events.keys + i * BENCH_KEY_CAP, events.key_lens[i], events.values + i * a.value_bytes,
                    a.value_bytes, NULL, deadline) != 0)
            goto out;
        rd_kafka_poll(rk, 0);
    }
    if (flush_all(rk, deadline) != 0) goto out;
    double end = bench_now(), seconds = end - start;
    bench_cpu(&user1, &sys1);

    if (failed > 0 || delivered != a.events + 1) {
        fprintf(stderr, "rdkafka_baseline: %llu delivered, %llu failed (first: %s), expected %llu\n",
                (unsigned long long)delivered, (unsigned long long)failed, failed ? first_failure : "-",
                (unsigned long long)(a.events + 1));
        goto out;
    }
    printf("events=%llu seconds=%.3f rate=%.0f start=%.6f end=%.6f cpu_user=%.6f cpu_sys=%.6f warmup=1\n",
           (unsigned long long)a.events, seconds, (double)a.events / seconds, start, end, user1 - user0, sys1 - sys0);
    rc = 0;
out:
    fflush(stdout);
    bench_events_free(&events);
    free(w);
    rd_kafka_destroy(rk);
    return rc;
}
