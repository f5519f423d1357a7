/*
 * The Sluice side of `make bench`: the bench workload (bench/workload.h)
 * published through the C client (clients/c) to a running gateway with ack
 * level durable — every record is acknowledged only once Kafka has it.
 *
 *   sluice_publisher --socket PATH --topic T [--events N] [--keys K]
 *                    [--batch-records R] [--no-compression] [--zstd-level L] [--latency]
 *                    [--first-seq N] [--start-fifo PATH]   (see workload.h)
 *   sluice_publisher --socket PATH --topic T --rate N --seconds S [--keys K] ...
 *
 * One warm-up record is published and flushed before the clock starts (as in
 * rdkafka_baseline). Exit status 0 only when every record was acknowledged
 * and none was rejected. Last line on stdout:
 *   events=N seconds=S rate=R start=MONO_S end=MONO_S cpu_user=S cpu_sys=S warmup=1
 * (cpu_*: this process's CPU from the clock's start to the end of the final
 * flush; see bench_cpu in workload.h).
 *
 * Paced mode (--rate/--seconds, the "recovery" scenario): publishes N events/s
 * for S seconds. Every millisecond (an absolute deadline on CLOCK_MONOTONIC,
 * so sleeping never drifts) it publishes as many events as the schedule
 * start + i/N says are due; when it falls behind (backpressure) it catches up
 * in a burst and records the lag. It keeps going through a Kafka outage: the
 * gateway acks from its spool, and a publish that blocks longer than the
 * client's I/O timeout is simply tried again. Batches default to N/100
 * records (one about every 10 ms). A progress line per second goes to stderr:
 *   progress t=SECONDS sent=N acked=N unacked=N lag=EVENTS
 * (after a first line "paced start realtime=UNIX_SECONDS") and at the end,
 * after a flush, one line on stdout:
 *   events=N acked=N failed=N unacked=N seconds=S rate=R max_lag_events=N
 *   max_lag_ms=MS max_ack_stall_ms=MS publish_timeouts=N warmup=1
 * (acked counts the records of this run the gateway acknowledged without
 * error, not the warm-up; max_ack_stall_ms is the longest time the acked
 * count stood still while records were waiting for an ack).
 *
 * --latency records the durable-ack latency of every record: from the moment
 * sluice_publish() is called for it to the moment the client reads the ACK of
 * the PUBLISH that carried it off the socket. The library has no ack callback,
 * so this program is linked with -Wl,--wrap=recv: every recv() the library
 * makes goes through __wrap_recv below, which timestamps the bytes and picks
 * out the ACK frames (request id, record count; PROTOCOL.md section 3). The
 * library gives a connection's PUBLISH frames increasing request ids in
 * publish order and records enter batches in publish order, so the ACKs
 * sorted by request id, with their record counts, say exactly which records
 * each one covers, whatever order they arrive in. The figures are reported
 * only when that mapping is certain: one connection (no reconnect, so no
 * resent batch), no ERROR frame, and the ACKs' counts add up to the records
 * published. With --latency in paced mode the program, instead of sleeping
 * between ticks, waits in ppoll() on the socket and reads ACKs the moment they
 * arrive (sluice_flush with timeout 0), and ends each tick with that same
 * flush: the records due in a tick are published together at the tick and
 * leave at once as one batch. The figure starts at each record's
 * sluice_publish() call, so the up to 1 ms a record waits for its tick is not
 * in it (nor is a lag behind the schedule: max_lag_ms reports that). The ACK
 * time is when recv() returned it, which with ppoll is within microseconds of
 * its arrival on the socket. In --events mode (as fast as possible) the
 * library reads ACKs when it seals a batch or waits for room, so an ACK is
 * seen up to one batch later than it arrived. Appended to the result line:
 *   latency_p50_ms=MS latency_p99_ms=MS latency_max_ms=MS latency_records=N
 *   latency_acks=N latency_acks_out_of_order=N
 * (nearest-rank percentiles over every record but the warm-up; the last: ACKs
 * read after the ACK of a later PUBLISH, which the mapping by id handles).
 */
#define _GNU_SOURCE /* ppoll */

#include <poll.h>
#include <sys/socket.h>

#include "sluice.h"
#include "workload.h"

/* ---- --latency: ACKs seen by the library's recv() calls ---------------------- */

typedef struct bench_ack {
    uint32_t id;
    uint32_t records;
    double t; /* bench_now() when the recv() that completed the frame returned */
} bench_ack;

static struct {
    int on;
    int fd;                /* the socket the library last read from */
    unsigned char hdr[16]; /* the frame header being collected */
    size_t have;           /* header bytes collected, or 16 while in the payload */
    uint64_t left;         /* payload bytes still to come */
    unsigned char pay[8];  /* an ACK's first 8 payload bytes: record count, failed count */
    size_t pay_have;
    bench_ack *acks;
    size_t n_acks, cap_acks;
    uint64_t errors, hellos, unparsed; /* ERROR and HELLO_OK frames; frames without "SL" */
    double *t_pub;                      /* t_pub[i]: sluice_publish() of record i (0 = warm-up) */
    uint64_t n_pub, cap_pub;
} lat;

ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void lat_frame_done(double t) {
    unsigned type = lat.hdr[3];
    if (type == 0x05) lat.errors++;
    if (type == 0x02) lat.hellos++;
    if (type != 0x04 || lat.pay_have < 8) return;
    if (lat.n_acks == lat.cap_acks) {
        size_t cap = lat.cap_acks ? lat.cap_acks * 2 : 4096;
        bench_ack *a = realloc(lat.acks, cap * sizeof *a);
        if (a == NULL) {
            lat.unparsed++; /* makes the figures n/a rather than wrong */
            return;
        }
        lat.acks = a;
        lat.cap_acks = cap;
    }
    lat.acks[lat.n_acks++] = (bench_ack){be32(lat.hdr + 8), be32(lat.pay), t};
}

/* Follows the server's byte stream: 16-byte headers ("SL", version, type,
 * flags, reserved, request id, payload length), then the payload. */
static void lat_feed(const unsigned char *p, size_t n, double t) {
    while (n > 0) {
        if (lat.have < 16) {
            size_t k = 16 - lat.have < n ? 16 - lat.have : n;
            memcpy(lat.hdr + lat.have, p, k);
            lat.have += k, p += k, n -= k;
            if (lat.have < 16) return;
            if (lat.hdr[0] != 'S' || lat.hdr[1] != 'L') lat.unparsed++;
            lat.left = be32(lat.hdr + 12);
            lat.pay_have = 0;
            if (lat.left == 0) {
                lat_frame_done(t);
                lat.have = 0;
            }
            continue;
        }
        size_t k = lat.left < n ? (size_t)lat.left : n;
        if (lat.pay_have < 8) {
            size_t c = 8 - lat.pay_have < k ? 8 - lat.pay_have : k;
            memcpy(lat.pay + lat.pay_have, p, c);
            lat.pay_have += c;
        }
        lat.left -= k, p += k, n -= k;
        if (lat.left == 0) {
            lat_frame_done(t);
            lat.have = 0;
        }
    }
}

ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags) {
    ssize_t n = __real_recv(fd, buf, len, flags);
    if (lat.on) {
        lat.fd = fd;
        if (n > 0) lat_feed(buf, (size_t)n, bench_now());
        else if (n == 0) lat.have = 0; /* connection closed: a new one starts with a fresh header */
    }
    return n;
}

static int lat_init(uint64_t records) {
    lat.on = 1;
    lat.fd = -1;
    lat.cap_pub = records;
    lat.t_pub = malloc(records * sizeof *lat.t_pub);
    return lat.t_pub == NULL ? -1 : 0;
}

/* Call just before sluice_publish() of the next record. */
static inline void lat_publish(void) {
    if (lat.on && lat.n_pub < lat.cap_pub) lat.t_pub[lat.n_pub++] = bench_now();
}

static int cmp_ack(const void *a, const void *b) {
    uint32_t x = ((const bench_ack *)a)->id, y = ((const bench_ack *)b)->id;
    return x < y ? -1 : x > y;
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* " latency_p50_ms=... latency_records=N", or the reason there are no figures. */
static void lat_report(char *out, size_t cap) {
    if (!lat.on) {
        out[0] = '\0';
        return;
    }
    uint64_t covered = 0;
    for (size_t i = 0; i < lat.n_acks; i++) covered += lat.acks[i].records;
    const char *why = lat.n_pub < lat.cap_pub ? "not every record was timed"
                      : lat.hellos != 1       ? "the connection was re-established (resent batches)"
                      : lat.errors > 0        ? "the gateway sent ERROR frames"
                      : lat.unparsed > 0      ? "the reply stream could not be followed"
                      : covered != lat.n_pub  ? "the ACKs do not cover exactly the records published"
                      : lat.n_pub < 2         ? "no records"
                                              : NULL;
    if (why != NULL) {
        snprintf(out, cap, " latency_p50_ms=n/a latency_p99_ms=n/a latency_max_ms=n/a latency_note=\"%s\"", why);
        return;
    }
    size_t late = 0; /* ACKs read after one of a later PUBLISH */
    for (size_t i = 1; i < lat.n_acks; i++) late += lat.acks[i].id < lat.acks[i - 1].id;
    qsort(lat.acks, lat.n_acks, sizeof *lat.acks, cmp_ack);
    /* Record i's latency overwrites its publish time (records in publish order, ACKs in id order). */
    uint64_t r = 0;
    for (size_t i = 0; i < lat.n_acks; i++)
        for (uint32_t k = 0; k < lat.acks[i].records; k++, r++) lat.t_pub[r] = lat.acks[i].t - lat.t_pub[r];
    double *v = lat.t_pub + 1; /* not the warm-up */
    size_t n = (size_t)lat.n_pub - 1;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i50 = (n + 1) / 2, i99 = (size_t)((n * 99 + 99) / 100); /* nearest rank: ceil(p * n) */
    snprintf(out, cap,
             " latency_p50_ms=%.3f latency_p99_ms=%.3f latency_max_ms=%.3f latency_records=%zu latency_acks=%zu"
             " latency_acks_out_of_order=%zu",
             v[i50 - 1] * 1000, v[i99 - 1] * 1000, v[n - 1] * 1000, n, lat.n_acks, late);
}

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

static uint64_t acked_records(const sluice_client *c, uint64_t taken) {
    uint64_t held = sluice_unacked_records(c) + sluice_failed_records(c);
    return taken > held ? taken - held : 0;
}

/* Paced mode: a->rate events/s for a->seconds s, then a flush. Returns the exit status. */
static int run_paced(sluice_client *c, const bench_args *a, bench_workload *w, double deadline) {
    const uint64_t total = a->rate * a->seconds;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    const double start = (double)next.tv_sec + (double)next.tv_nsec / 1e9;
    struct timespec real;
    clock_gettime(CLOCK_REALTIME, &real);
    /* scripts/bench.sh times the broker's kill and return from this line. */
    fprintf(stderr, "paced start realtime=%.3f\n", (double)real.tv_sec + (double)real.tv_nsec / 1e9);
    double last_progress = start, last_ack_change = start, max_lag_s = 0, max_stall_s = 0;
    uint64_t sent = 0, last_acked = 0, max_lag = 0, timeouts = 0, due = 0;
    bench_workload_init(w, a->keys, a->value_bytes, a->first_seq);
    for (;;) {
        double now = bench_now();
        if (now > deadline) {
            fprintf(stderr, "sluice_publisher: deadline passed after %llu events\n", (unsigned long long)sent);
            return 1;
        }
        /* Every event whose scheduled time start + i/rate has come. */
        due = (uint64_t)((now - start) * (double)a->rate);
        if (due > total) due = total;
        if (due > sent) {
            if (due - sent > max_lag) max_lag = due - sent;
            double behind = now - (start + (double)sent / (double)a->rate);
            if (behind > max_lag_s) max_lag_s = behind;
        }
        while (sent < due) {
            bench_make_event(w, a->first_seq + sent);
            lat_publish();
            while (sluice_publish(c, a->topic, w->key, w->value, w->value_bytes, NULL, 0) != SLUICE_OK) {
                if (sluice_errcode(c) != SLUICE_E_TIMEOUT || bench_now() > deadline) {
                    fprintf(stderr, "sluice_publisher: publish of event %llu: %s (%s)\n", (unsigned long long)sent,
                            sluice_errstr(c), sluice_error_name(sluice_errcode(c)));
                    return 1;
                }
                /* Backpressure outlasted io_timeout_ms; the record was not taken: try it again. */
                if (timeouts++ < 5)
                    fprintf(stderr, "sluice_publisher: publish blocked past the I/O timeout at event %llu; retrying\n",
                            (unsigned long long)sent);
            }
            sent++;
        }
        /* --latency: this tick's records leave now as one batch; ACKs that came are read. */
        if (lat.on) (void)sluice_flush(c, 0);
        now = bench_now();
        uint64_t acked = acked_records(c, sent);
        if (acked != last_acked || sluice_unacked_records(c) == 0) {
            last_acked = acked;
            last_ack_change = now;
        }
        if (now - last_ack_change > max_stall_s) max_stall_s = now - last_ack_change;
        if (now - last_progress >= 1.0) {
            last_progress += 1.0;
            fprintf(stderr, "progress t=%.1f sent=%llu acked=%llu unacked=%llu lag=%llu stall_ms=%.0f\n", now - start,
                    (unsigned long long)sent, (unsigned long long)acked, (unsigned long long)sluice_unacked_records(c),
                    (unsigned long long)(due - sent), (now - last_ack_change) * 1000);
        }
        if (sent >= total) break;
        /* Next tick: 1 ms after the previous one (absolute, so nothing drifts); after a long block, from now. */
        next.tv_nsec += 1000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        double next_s = (double)next.tv_sec + (double)next.tv_nsec / 1e9;
        if (next_s < now) continue; /* behind: no sleep; the schedule is start + i/rate anyway */
        if (lat.on && lat.fd >= 0) {
            /* --latency: wait for the next tick on the socket, reading each ACK as it arrives. */
            for (;;) {
                double wait_s = next_s - bench_now();
                if (wait_s <= 0) break;
                struct timespec ts = {(time_t)wait_s, (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
                struct pollfd p = {lat.fd, POLLIN, 0};
                int rc = ppoll(&p, 1, &ts, NULL);
                if (rc <= 0 && !(rc < 0 && errno == EINTR)) break; /* the tick, or an error: go on */
                if (rc > 0) (void)sluice_flush(c, 0);
            }
            continue;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
        }
    }
    double seconds = bench_now() - start;
    int flushed = sluice_flush(c, flush_ms(deadline)) == SLUICE_OK;
    if (!flushed)
        fprintf(stderr, "sluice_publisher: final flush: %s (%s)\n", sluice_errstr(c),
                sluice_error_name(sluice_errcode(c)));
    uint64_t acked = acked_records(c, sent);
    char latency[256];
    lat_report(latency, sizeof latency);
    printf("events=%llu acked=%llu failed=%llu unacked=%llu seconds=%.3f rate=%.0f max_lag_events=%llu "
           "max_lag_ms=%.0f max_ack_stall_ms=%.0f publish_timeouts=%llu warmup=1%s\n",
           (unsigned long long)sent, (unsigned long long)acked, (unsigned long long)sluice_failed_records(c),
           (unsigned long long)sluice_unacked_records(c), seconds, (double)sent / seconds,
           (unsigned long long)max_lag, max_lag_s * 1000, max_stall_s * 1000, (unsigned long long)timeouts, latency);
    return flushed && failures == 0 && sluice_failed_records(c) == 0 && sluice_unacked_records(c) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    bench_args a;
    if (bench_parse_args(argc, argv, 1, &a) != 0) return 2;

    sluice_options o;
    sluice_options_init(&o);
    o.ack_level = SLUICE_ACK_DURABLE;
    o.client_name = "sluice-bench";
    o.on_failure = on_failure;
    if (a.rate > 0) {
        /* Paced: a batch about every 10 ms, and a blocked publish is retried every 5 s. */
        uint64_t per_batch = a.rate / 100;
        o.max_batch_records = per_batch < 1 ? 1 : per_batch > 1000 ? 1000 : (uint32_t)per_batch;
        /* --latency: batches are cut by the 1 ms ticks instead (see the head of this file). */
        if (a.latency) o.max_batch_records = 1000;
        o.io_timeout_ms = 5000;
    }
    if (a.latency && lat_init(1 + (a.rate > 0 ? a.rate * a.seconds : a.events)) != 0) {
        fprintf(stderr, "sluice_publisher: out of memory for --latency\n");
        return 1;
    }
    if (a.batch_records > 0) o.max_batch_records = a.batch_records;
    if (a.no_compression) o.compression = 0;
    if (a.zstd_level != 0) {
        o.compression = 1;
        o.zstd_level = a.zstd_level;
    }

    sluice_client *c = sluice_connect(a.socket_path, &o);
    if (c == NULL) {
        fprintf(stderr, "sluice_publisher: out of memory\n");
        return 1;
    }
    bench_workload *w = malloc(sizeof *w);
    bench_events events = {0};
    int rc = 1;
    if (w == NULL) goto out;
    if (sluice_errcode(c) != SLUICE_E_NONE) {
        fprintf(stderr, "sluice_publisher: connect %s: %s\n", a.socket_path, sluice_errstr(c));
        goto out;
    }
    if (a.rate > 0)
        fprintf(stderr,
                "sluice_publisher: libsluice %s to %s, %llu events/s for %llu s over %llu keys, %zu-byte values, "
                "batches of %u, zstd %s\n",
                sluice_version(), sluice_server_name(c), (unsigned long long)a.rate, (unsigned long long)a.seconds,
                (unsigned long long)a.keys, a.value_bytes, o.max_batch_records, o.compression ? "on" : "off");
    else
        fprintf(stderr,
                "sluice_publisher: libsluice %s to %s, %llu events over %llu keys, %zu-byte values, "
                "batches of %u, zstd %s\n",
                sluice_version(), sluice_server_name(c), (unsigned long long)a.events, (unsigned long long)a.keys,
                a.value_bytes, o.max_batch_records, o.compression ? "on" : "off");
    double deadline = bench_now() + a.timeout_s;

    /* Warm-up: the gateway's producer connects and gets its id outside the clock. */
    bench_workload_init(w, a.keys, a.value_bytes, a.first_seq);
    bench_make_event(w, a.first_seq);
    lat_publish();
    if (sluice_publish(c, a.topic, w->key, w->value, w->value_bytes, NULL, 0) != SLUICE_OK ||
        sluice_flush(c, flush_ms(deadline)) != SLUICE_OK) {
        fprintf(stderr, "sluice_publisher: warm-up: %s (%s)\n", sluice_errstr(c),
                sluice_error_name(sluice_errcode(c)));
        goto out;
    }

    /* Made before "ready", so every process's CPU window and clock leave it out. */
    if (a.rate == 0 && bench_events_make(&events, w, a.first_seq, a.events, "sluice_publisher") != 0) goto out;
    if (bench_await_start("sluice_publisher", a.start_fifo) != 0) goto out;
    if (a.rate > 0) {
        rc = run_paced(c, &a, w, deadline);
        goto out;
    }
    double user0, sys0, user1, sys1;
    bench_cpu(&user0, &sys0);
    double start = bench_now();
    for (uint64_t i = 0; i < a.events; i++) {
        lat_publish();
        if (sluice_publish(c, a.topic, events.keys + i * BENCH_KEY_CAP, events.values + i * a.value_bytes,
                           a.value_bytes, NULL, 0) != SLUICE_OK) {
            fprintf(stderr, "sluice_publisher: publish of event %llu: %s (%s)\n",
                    (unsigned long long)(a.first_seq + i), sluice_errstr(c), sluice_error_name(sluice_errcode(c)));
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
    double end = bench_now(), seconds = end - start;
    bench_cpu(&user1, &sys1);
    if (sluice_failed_records(c) != 0 || failures != 0 || sluice_unacked_records(c) != 0) {
        fprintf(stderr, "sluice_publisher: %llu records rejected, %llu unacknowledged\n",
                (unsigned long long)sluice_failed_records(c), (unsigned long long)sluice_unacked_records(c));
        goto out;
    }
    char latency[256];
    lat_report(latency, sizeof latency);
    printf("events=%llu seconds=%.3f rate=%.0f start=%.6f end=%.6f cpu_user=%.6f cpu_sys=%.6f warmup=1%s\n",
           (unsigned long long)a.events, seconds, (double)a.events / seconds, start, end, user1 - user0, sys1 - sys0,
           latency);
    rc = 0;
out:
    fflush(stdout);
    bench_events_free(&events);
    free(w);
    sluice_close(c);
    return rc;
}
