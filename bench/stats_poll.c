/*
 * STATS sampler for the "outage" and "recovery" scenarios of scripts/bench.sh:
 * one connection to the gateway, a STATS request every --interval-ms (on an
 * absolute CLOCK_MONOTONIC schedule), one line per sample on stdout:
 *
 *   MONOTONIC_S REALTIME_S STATS_MS JSON
 *
 * STATS_MS is how long the gateway took to answer (a STATS counts the spool's
 * rows, which is not free with a large spool; the scripts report it). A failed
 * sample prints "MONOTONIC_S REALTIME_S -1 ERROR-TEXT" and the next one
 * reconnects. Runs until SIGTERM/SIGINT, or until --seconds pass. After a
 * slow STATS it waits at least 4 times as long as the STATS took before the
 * next one, so sampling never takes more than about a fifth of a core.
 *
 *   stats_poll --socket PATH [--interval-ms MS (250)] [--seconds S (0 = forever)]
 *
 * Cheaper and steadier than starting `sluice stats --json` several times a
 * second on 2 shared cores (a process start each time).
 */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    const char *socket_path = NULL;
    long interval_ms = 250, seconds = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--socket") == 0) socket_path = argv[i + 1];
        else if (strcmp(argv[i], "--interval-ms") == 0) interval_ms = atol(argv[i + 1]);
        else if (strcmp(argv[i], "--seconds") == 0) seconds = atol(argv[i + 1]);
        else socket_path = NULL, i = argc;
    }
    if (socket_path == NULL || argc % 2 == 0 || interval_ms < 1 || seconds < 0) {
        fprintf(stderr, "usage: %s --socket PATH [--interval-ms MS (250)] [--seconds S (0 = forever)]\n", argv[0]);
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: a signal ends the sleep at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    sluice_options o;
    sluice_options_init(&o);
    o.client_name = "sluice-bench-stats";
    o.reconnect_attempts = 1;
    o.connect_timeout_ms = 2000;
    sluice_client *c = sluice_connect(socket_path, &o);
    if (c == NULL) return 1;

    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    double end = seconds > 0 ? clock_s(CLOCK_MONOTONIC) + (double)seconds : 0;
    while (!stopping && (end == 0 || clock_s(CLOCK_MONOTONIC) < end)) {
        double t0 = clock_s(CLOCK_MONOTONIC), real = clock_s(CLOCK_REALTIME);
        char *json = sluice_stats(c, 30000);
        double ms = (clock_s(CLOCK_MONOTONIC) - t0) * 1000;
        int n;
        if (json != NULL) {
            n = printf("%.3f %.3f %.1f %s\n", t0, real, ms, json);
            sluice_free(json);
        } else {
            n = printf("%.3f %.3f -1 %s (%s)\n", t0, real, sluice_errstr(c), sluice_error_name(sluice_errcode(c)));
        }
        if (n < 0 || fflush(stdout) != 0) break; /* stdout gone */
        long long ns = (long long)next.tv_nsec + interval_ms * 1000000LL;
        next.tv_sec += (time_t)(ns / 1000000000LL);
        next.tv_nsec = (long)(ns % 1000000000LL);
        double next_s = (double)next.tv_sec + (double)next.tv_nsec / 1e9, after = clock_s(CLOCK_MONOTONIC);
        if (ms > 0 && next_s < after + 4 * ms / 1000) {
            /* A slow STATS: leave the gateway 4 times its duration, and keep no backlog. */
            next_s = after + 4 * ms / 1000;
            next.tv_sec = (time_t)next_s;
            next.tv_nsec = (long)((next_s - (double)next.tv_sec) * 1e9);
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    sluice_close(c);
    return 0;
}
