/*
 * The benchmark workload shared by bench/rdkafka_baseline.c and
 * bench/sluice_publisher.c, so both publish byte-for-byte the same events:
 * event i has key "player-NNNNNN" (one of --keys keys, chosen by a seeded
 * xorshift generator) and a JSON-like value of exactly --value-bytes bytes
 * whose tail is pseudo-random text (so compression does not flatter either
 * path). Also: a monotonic clock and the small command-line parser both
 * programs use.
 *
 * --envelope makes each value the seed's event envelope instead (the shape topic contracts
 * check, docs/contracts.md): {"eventId":"00000000-0000-4000-8000-SEQ","eventType":"MY_NEW_EVENT",
 * "eventTimestamp":...,"brandId":"brand-7","userId":"KEY","metadata":{...},"payload":{"data":"RANDOM"}}
 * of exactly --value-bytes bytes (at least BENCH_ENVELOPE_MIN), userId equal to the key.
 *
 * The Sluice publisher has a second mode for the "recovery" scenario of
 * scripts/bench.sh: --rate N --seconds S publishes N events/s for S seconds
 * (paced every millisecond against the monotonic clock) instead of --events
 * as fast as possible.
 *
 * For the "throughput" scenario, shared by both programs:
 *   --first-seq N    number the events from N (and seed the key generator from
 *                    it), so concurrent publishers send distinct events over
 *                    the same key space; 0 (default) is the historical workload
 *   --start-fifo P   after the warm-up, print "ready" on stderr and block until
 *                    one byte can be read from the FIFO P (scripts/bench.sh
 *                    holds it open and writes one byte per publisher), so that
 *                    concurrent publishers start their clocks together
 * and the result line carries the monotonic start and end of the timed part
 * and the CPU the process used in it (bench_cpu: getrusage(RUSAGE_SELF),
 * every thread of the process, microsecond resolution):
 *   start=MONO_S end=MONO_S cpu_user=S cpu_sys=S
 */
#ifndef SLUICE_BENCH_WORKLOAD_H
#define SLUICE_BENCH_WORKLOAD_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#define BENCH_MAX_VALUE 65536
#define BENCH_KEY_CAP 32
/* The shortest --envelope value: the envelope with an empty payload.data. */
#define BENCH_ENVELOPE_MIN 218

typedef struct bench_args {
    const char *brokers;     /* baseline only */
    const char *socket_path; /* sluice publisher only */
    const char *topic;
    uint64_t events;
    uint64_t keys;
    size_t value_bytes;
    int timeout_s;           /* whole-run bound: produce + flush */
    int no_compression;      /* sluice publisher only: client-side zstd off */
    int stamp_headers;       /* baseline only: add the four headers the gateway stamps on every record */
    int zstd_level;          /* sluice publisher only: 0 = the library's default level */
    uint32_t batch_records;  /* sluice publisher only: 0 = library default */
    uint64_t rate;           /* events/s; 0 = as fast as possible (--events mode) */
    uint64_t seconds;        /* duration of --rate mode */
    uint64_t first_seq;      /* number of the first event; also seeds the key generator */
    const char *start_fifo;  /* NULL, or a FIFO to read one byte from before the clock starts */
    int latency;             /* sluice publisher only: record the durable-ack latency of every record */
    int envelope;            /* values are the seed's event envelope, userId = key (--envelope) */
    const char *event_type;  /* sluice publisher only: the records' event type (--event-type); NULL = none */
} bench_args;

typedef struct bench_workload {
    uint64_t state;
    uint64_t keys;
    size_t value_bytes;
    int envelope;
    char key[BENCH_KEY_CAP];
    size_t key_len;
    char value[BENCH_MAX_VALUE];
} bench_workload;

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t bench_next(bench_workload *w) {
    uint64_t x = w->state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    w->state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* first_seq 0 gives the historical workload; another value another (still fixed) key sequence. */
static inline void bench_workload_init(bench_workload *w, uint64_t keys, size_t value_bytes, uint64_t first_seq,
                                       int envelope) {
    memset(w, 0, sizeof *w);
    w->envelope = envelope;
    w->state = 0x9E3779B97F4A7C15ULL ^ (first_seq * 0xD1B54A32D192ED03ULL);
    if (w->state == 0) w->state = 0x9E3779B97F4A7C15ULL; /* xorshift must not start at 0 */
    w->keys = keys;
    w->value_bytes = value_bytes;
}

/* Writes v in decimal, zero-padded to at least min_digits, at out; returns its length.
 * (snprintf cost more than the rest of an event; the bytes are the same.) */
static inline size_t bench_put_u64(char *out, uint64_t v, int min_digits) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0 || n < min_digits);
    for (int i = 0; i < n; i++) out[i] = digits[n - 1 - i];
    return (size_t)n;
}

static inline size_t bench_put_str(char *out, const char *s, size_t len) {
    memcpy(out, s, len);
    return len;
}

/* Fills w->key / w->value for event seq: key "player-%06llu", value
 * {"player":"KEY","seq":SEQ,"type":"bench","data":"RANDOM-TEXT"} of exactly value_bytes. */
static inline void bench_make_event(bench_workload *w, uint64_t seq) {
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    uint64_t player = bench_next(w) % w->keys;
    w->key_len = bench_put_str(w->key, "player-", 7);
    w->key_len += bench_put_u64(w->key + w->key_len, player, 6);
    w->key[w->key_len] = '\0';
    char prefix[BENCH_KEY_CAP + 256];
    size_t n = bench_put_str(prefix, "{\"player\":\"", 11);
    n += bench_put_str(prefix + n, w->key, w->key_len);
    n += bench_put_str(prefix + n, "\",\"seq\":", 8);
    n += bench_put_u64(prefix + n, seq, 1);
    n += bench_put_str(prefix + n, ",\"type\":\"bench\",\"data\":\"", 24);
    if (w->envelope) {
        /* The seed's envelope; the event id's last 12 digits are the sequence number. */
        n = bench_put_str(prefix, "{\"eventId\":\"00000000-0000-4000-8000-", 36);
        n += bench_put_u64(prefix + n, seq % 1000000000000ULL, 12);
        n += bench_put_str(prefix + n, "\",\"eventType\":\"MY_NEW_EVENT\",\"eventTimestamp\":\"2024-05-01T12:00:00.000Z\"", 72);
        n += bench_put_str(prefix + n, ",\"brandId\":\"brand-7\",\"userId\":\"", 31);
        n += bench_put_str(prefix + n, w->key, w->key_len);
        n += bench_put_str(prefix + n, "\",\"metadata\":{\"source\":\"bench\"},\"payload\":{\"data\":\"", 51);
    }
    size_t len = n < w->value_bytes ? n : 0;
    memcpy(w->value, prefix, len);
    size_t tail = w->envelope ? 3 : 2;
    size_t body_end = w->value_bytes >= tail ? w->value_bytes - tail : 0;
    uint64_t r = 0;
    for (size_t i = len, k = 0; i < body_end; i++, k++) {
        if (k % 10 == 0) r = bench_next(w);
        w->value[i] = alphabet[r & 63];
        r >>= 6;
    }
    if (len == 0) { /* value too small for the prefix: plain random text */
        for (size_t i = 0; i < w->value_bytes; i++) w->value[i] = alphabet[bench_next(w) & 63];
        return;
    }
    if (w->envelope) { /* the payload's string, the payload and the envelope end here */
        w->value[w->value_bytes - 3] = '"';
        w->value[w->value_bytes - 2] = '}';
    } else {
        w->value[w->value_bytes - 2] = '"';
    }
    w->value[w->value_bytes - 1] = '}';
}

/* The events of an --events run, made before the clock starts, so that neither publisher's
 * CPU figure includes making them (it cost about as much as the C client's own work). */
typedef struct bench_events {
    uint64_t first_seq, count;
    size_t value_bytes;
    char *keys;        /* key of event first_seq + i at keys + i * BENCH_KEY_CAP */
    uint8_t *key_lens;
    char *values;      /* its value at values + i * value_bytes */
} bench_events;

/* Makes the events first_seq .. first_seq + count - 1 of w (which it re-initialises to
 * first_seq). Returns 0, or -1 after printing why. */
static inline int bench_events_make(bench_events *e, bench_workload *w, uint64_t first_seq, uint64_t count,
                                    const char *prog) {
    e->first_seq = first_seq;
    e->count = count;
    e->value_bytes = w->value_bytes;
    if (count > ((uint64_t)4 << 30) / (BENCH_KEY_CAP + 1 + w->value_bytes)) {
        fprintf(stderr, "%s: %llu events of %zu bytes would take over 4 GiB made in advance; use fewer\n", prog,
                (unsigned long long)count, w->value_bytes);
        return -1;
    }
    e->keys = malloc(count * BENCH_KEY_CAP);
    e->key_lens = malloc(count);
    e->values = malloc(count * w->value_bytes + 1);
    if (e->keys == NULL || e->key_lens == NULL || e->values == NULL) {
        fprintf(stderr, "%s: out of memory making %llu events in advance\n", prog, (unsigned long long)count);
        return -1;
    }
    bench_workload_init(w, w->keys, w->value_bytes, first_seq, w->envelope);
    for (uint64_t i = 0; i < count; i++) {
        bench_make_event(w, first_seq + i);
        memcpy(e->keys + i * BENCH_KEY_CAP, w->key, w->key_len + 1);
        e->key_lens[i] = (uint8_t)w->key_len;
        memcpy(e->values + i * w->value_bytes, w->value, w->value_bytes);
    }
    return 0;
}

static inline void bench_events_free(bench_events *e) {
    free(e->keys);
    free(e->key_lens);
    free(e->values);
}

/* CPU seconds (user, system) this process has used so far, all its threads. */
static inline void bench_cpu(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* --start-fifo: announce "ready" on stderr, then block until one byte arrives.
 * Returns 0, or -1 after printing why. */
static inline int bench_await_start(const char *prog, const char *fifo) {
    if (fifo == NULL) return 0;
    int fd = open(fifo, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "%s: open %s: %s\n", prog, fifo, strerror(errno));
        return -1;
    }
    fprintf(stderr, "ready\n");
    fflush(stderr);
    char b;
    ssize_t n;
    while ((n = read(fd, &b, 1)) < 0 && errno == EINTR) {
    }
    close(fd);
    if (n != 1) {
        fprintf(stderr, "%s: %s closed before the start signal\n", prog, fifo);
        return -1;
    }
    return 0;
}

static inline int bench_parse_u64(const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') return -1;
    *out = (uint64_t)v;
    return 0;
}

static inline void bench_usage(const char *prog, int sluice) {
    fprintf(stderr,
            "usage: %s %s --topic T [--events N (1000000)] [--keys K (10000)] [--value-bytes B (200)]\n"
            "          [--timeout-s S (600)] [--first-seq N (0)] [--start-fifo PATH] [--envelope]%s\n",
            prog, sluice ? "--socket PATH" : "--brokers HOST:PORT",
            sluice ? " [--batch-records R] [--no-compression] [--zstd-level L] [--event-type T]\n"
                     "          [--rate EVENTS_PER_S --seconds S]  (paced mode instead of --events) [--latency]"
                   : " [--stamp-headers] [--rate EVENTS_PER_S --seconds S]");
}

/* Returns 0, or -1 after printing usage. */
static inline int bench_parse_args(int argc, char **argv, int sluice, bench_args *a) {
    memset(a, 0, sizeof *a);
    a->events = 1000000;
    a->keys = 10000;
    a->value_bytes = 200;
    a->timeout_s = 600;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--no-compression") == 0 && sluice) {
            a->no_compression = 1;
            continue;
        }
        if (strcmp(opt, "--stamp-headers") == 0 && !sluice) {
            a->stamp_headers = 1;
            continue;
        }
        if (strcmp(opt, "--envelope") == 0) {
            a->envelope = 1;
            continue;
        }
        if (strcmp(opt, "--latency") == 0 && sluice) {
            a->latency = 1;
            continue;
        }
        if (i + 1 >= argc) goto bad;
        const char *val = argv[++i];
        uint64_t n = 0;
        if (strcmp(opt, "--brokers") == 0 && !sluice) a->brokers = val;
        else if (strcmp(opt, "--socket") == 0 && sluice) a->socket_path = val;
        else if (strcmp(opt, "--topic") == 0) a->topic = val;
        else if (strcmp(opt, "--events") == 0 && bench_parse_u64(val, &n) == 0 && n > 0) a->events = n;
        else if (strcmp(opt, "--keys") == 0 && bench_parse_u64(val, &n) == 0 && n > 0 && n <= 1000000) a->keys = n;
        else if (strcmp(opt, "--value-bytes") == 0 && bench_parse_u64(val, &n) == 0 && n <= BENCH_MAX_VALUE)
            a->value_bytes = (size_t)n;
        else if (strcmp(opt, "--timeout-s") == 0 && bench_parse_u64(val, &n) == 0 && n > 0 && n <= 86400)
            a->timeout_s = (int)n;
        else if (strcmp(opt, "--batch-records") == 0 && sluice && bench_parse_u64(val, &n) == 0 && n > 0 &&
                 n <= 1000000)
            a->batch_records = (uint32_t)n;
        else if (strcmp(opt, "--rate") == 0 && bench_parse_u64(val, &n) == 0 && n > 0 && n <= 10000000)
            a->rate = n;
        else if (strcmp(opt, "--zstd-level") == 0 && sluice && atoi(val) != 0 && atoi(val) >= -100 && atoi(val) <= 22)
            a->zstd_level = atoi(val);
        else if (strcmp(opt, "--first-seq") == 0 && bench_parse_u64(val, &n) == 0) a->first_seq = n;
        else if (strcmp(opt, "--start-fifo") == 0) a->start_fifo = val;
        else if (strcmp(opt, "--event-type") == 0 && sluice) a->event_type = val;
        else if (strcmp(opt, "--seconds") == 0 && bench_parse_u64(val, &n) == 0 && n > 0 && n <= 86400)
            a->seconds = n;
        else goto bad;
    }
    if (a->topic == NULL || (sluice ? a->socket_path == NULL : a->brokers == NULL)) goto bad;
    if ((a->rate == 0) != (a->seconds == 0)) goto bad; /* --rate and --seconds go together */
    if (a->envelope && a->value_bytes < BENCH_ENVELOPE_MIN) {
        fprintf(stderr, "%s: --envelope needs --value-bytes of at least %d\n", argv[0], BENCH_ENVELOPE_MIN);
        return -1;
    }
    return 0;
bad:
    bench_usage(argv[0], sluice);
    return -1;
}

#endif
