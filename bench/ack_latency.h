/* --latency for sluice_publisher: every frame the library reads is seen through a
 * recv() wrapper (link with -Wl,--wrap=recv), ACKs are matched to the records they
 * cover, and the latency figures are computed at the end (see sluice_publisher.c). */
#ifndef SLUICE_BENCH_ACK_LATENCY_H
#define SLUICE_BENCH_ACK_LATENCY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "workload.h"

typedef struct bench_ack {
    uint32_t id;
    uint32_t records;
    double t; /* bench_now() when the recv() that completed the frame returned */
} bench_ack;

/* What --latency collects (one publisher, one connection at a time). */
typedef struct bench_latency {
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
} bench_latency;

extern bench_latency lat;

ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags);

/* Turns --latency on with room for `records` publish times. 0, or -1 (out of memory). */
int lat_init(uint64_t records);
/* Call just before sluice_publish() of the next record. */
static inline void lat_publish(void) {
    if (lat.on && lat.n_pub < lat.cap_pub) lat.t_pub[lat.n_pub++] = bench_now();
}

/* " latency_p50_ms=... latency_records=N", or the reason there are no figures. */
void lat_report(char *out, size_t cap);

#endif
