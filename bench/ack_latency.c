/* --latency: ACKs seen by the library's recv() calls (ack_latency.h). */
#include <sys/socket.h>

#include "ack_latency.h"

bench_latency lat;

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

int lat_init(uint64_t records) {
    lat.on = 1;
    lat.fd = -1;
    lat.cap_pub = records;
    lat.t_pub = malloc(records * sizeof *lat.t_pub);
    return lat.t_pub == NULL ? -1 : 0;
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
void lat_report(char *out, size_t cap) {
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
