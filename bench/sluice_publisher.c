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

#include "ack_latency.h"
#include "sluice.h"
#include "workload.h"

static uint64_t failures;

static void on_failure(void *opaque, const sluice_failure *f) {
    (void)opaque;
    if (failures++ < 5)
        fprintf(stderr, "sluice_publisher: record %u (key %s) failed: %s %s\n", f->index, f->key ? f->key : "?",
                f->error_name, f->message);
}

/* sluice_publish() of one event, or sluice_publish_record() with --event-type's type. */
static int publish_event(sluice_client *c, const bench_args *a, const char *key, const void *value) {
    if (a->event_type == NULL) return sluice_publish(c, a->topic, key, value, a->value_bytes, NULL, 0);
    sluice_record r;
    memset(&r, 0, sizeof r);
    r.topic = a->topic;
    r.key = key;
    r.key_len = strlen(key);
    r.event_type = a->event_type;
    r.value = value;
    r.value_len = a->value_bytes;
    return sluice_publish_record(c, &r);
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
    bench_workload_init(w, a->keys, a->value_bytes, a->first_seq, a->envelope);
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
            while (publish_event(c, a, w->key, w->value) != SLUICE_OK) {
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
    bench_workload_init(w, a.keys, a.value_bytes, a.first_seq, a.envelope);
    bench_make_event(w, a.first_seq);
    lat_publish();
    if (publish_event(c, &a, w->key, w->value) != SLUICE_OK ||
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
        if (publish_event(c, &a, events.keys + i * BENCH_KEY_CAP, events.values + i * a.value_bytes) != SLUICE_OK) {
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
