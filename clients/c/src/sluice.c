/* The client: connection and handshake, batching, the I/O pump that writes
 * batches and reads replies, acknowledgement tracking, reconnect and resend. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* getrandom, strdup */
#endif
#include "sluice.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <zstd.h>

#include "encode.h"
#include "net.h"
#include "proto.h"
#include "reader.h"
#include "utf8.h"

#ifndef SLUICE_READ_CHUNK
#define SLUICE_READ_CHUNK 65536
#endif
#define NONE_RING 256  /* ack-none batches remembered for failure reports */
#define ORPHAN_RING 8  /* timed-out PING/STATS ids whose late replies are ignored */

enum { B_QUEUED, B_WRITING, B_INFLIGHT };
enum { OUT_NONE, OUT_BATCH, OUT_AUX };
enum { AUX_IDLE, AUX_WRITING, AUX_WAITING, AUX_DONE };

/* One sealed PUBLISH frame, kept until the server acknowledges it. */
typedef struct batch {
    struct batch *prev, *next;
    uint8_t *frame;      /* header + payload (compressed or not); request id patched per send */
    size_t frame_len;
    size_t plain_len;    /* uncompressed payload bytes */
    uint32_t n_records;
    uint32_t req_id;     /* id on the current connection while WRITING/INFLIGHT */
    int state;           /* B_* */
    int retries;         /* retriable ERRORs received for it */
    int64_t not_before;  /* monotonic ms: pause after a retriable ERROR */
} batch;

typedef struct {
    uint32_t req_id;
    uint32_t n_records;
} none_entry;

struct sluice_client {
    char *path;
    char *client_name;
    sluice_options opts;
    int fatal; /* non-zero: bad options; every call fails with this code */

    int fd; /* -1 when not connected */
    sluice_reader *reader;
    ZSTD_CCtx *cctx;

    sluice_limits limits; /* in force: the last HELLO_OK's, or the protocol defaults */
    char server_name[128];
    uint32_t eff_max_records;
    size_t eff_max_batch_bytes;  /* soft: close a batch before it grows past this */
    size_t hard_max_batch_bytes; /* what one PUBLISH payload may be at most */
    uint32_t next_id;            /* request ids increase over the client's life, across connections */
    uint32_t conn_first_id;      /* first id used on the current connection (its HELLO's) */

    /* the batch being filled */
    sluice_buf open;
    uint32_t open_count;

    /* sealed batches in publish order: QUEUED (to write), WRITING, INFLIGHT (awaiting ACK) */
    batch *head, *tail;
    size_t held_bytes;
    uint64_t held_records;
    size_t n_queued;

    /* output in progress */
    int out_kind;
    batch *wbatch;
    size_t woff;

    /* the one outstanding PING or STATS */
    int aux_state;
    uint8_t aux_frame[SLUICE_HDR_LEN + SLUICE_MAX_PING];
    size_t aux_len, aux_off;
    uint32_t aux_id;
    uint8_t aux_expect;
    int aux_err;
    char aux_errstr[256];
    sluice_buf aux_reply;
    uint32_t orphans[ORPHAN_RING];
    unsigned orphan_pos;

    none_entry none_ring[NONE_RING];
    unsigned none_pos;

    /* reading what is left on a connection being dropped (settle_tail) */
    int draining, drain_stop;

    /* reconnection */
    int64_t next_connect_at;
    int connect_backoff;
    int conn_err, conn_errno;
    char conn_errstr[256];

    /* the last call's error */
    int err, sys_errno;
    char errstr[320];

    uint64_t failed_records, failed_reported;
    int in_callback;
    sluice_buf scratch;
    uint64_t rng[4]; /* xoshiro256** state for event ids, seeded from getrandom() */
    int rng_seeded;
    uint8_t rbuf[SLUICE_READ_CHUNK];
};

/* ---- options and errors ------------------------------------------------------ */

void sluice_options_init(sluice_options *o) {
    memset(o, 0, sizeof(*o));
    o->ack_level = SLUICE_ACK_DURABLE;
    o->client_name = NULL; /* "libsluice/VERSION" */
    o->max_batch_records = 1000;
    o->max_batch_bytes = 1024 * 1024;
    o->compression = 0;
    o->zstd_level = 1;
    o->connect_timeout_ms = 5000;
    o->io_timeout_ms = 30000;
    o->max_unacked_bytes = (size_t)64 * 1024 * 1024;
    o->reconnect_attempts = 5;
    o->backoff_ms = 100;
    o->backoff_max_ms = 2000;
    o->generate_event_ids = 1;
    o->on_failure = NULL;
    o->opaque = NULL;
}

#if defined(__GNUC__)
#define SLUICE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SLUICE_PRINTF(f, a)
#endif

static void vset(char *dst, size_t cap, const char *fmt, va_list ap) SLUICE_PRINTF(3, 0);
static void vset(char *dst, size_t cap, const char *fmt, va_list ap) { vsnprintf(dst, cap, fmt, ap); }

static void set_err(sluice_client *c, int code, int sys, const char *fmt, ...) SLUICE_PRINTF(4, 5);
static void set_conn_err(sluice_client *c, int code, int sys, const char *fmt, ...) SLUICE_PRINTF(4, 5);
static void drop_conn(sluice_client *c, int code, int sys, const char *fmt, ...) SLUICE_PRINTF(4, 5);

static void set_err(sluice_client *c, int code, int sys, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(c->errstr, sizeof(c->errstr), fmt, ap);
    va_end(ap);
    c->err = code;
    c->sys_errno = code == SLUICE_E_IO ? sys : 0;
    if (code == SLUICE_E_IO) errno = sys;
}

static void clear_err(sluice_client *c) {
    c->err = 0;
    c->sys_errno = 0;
    c->errstr[0] = '\0';
}

static void set_conn_err(sluice_client *c, int code, int sys, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(c->conn_errstr, sizeof(c->conn_errstr), fmt, ap);
    va_end(ap);
    c->conn_err = code;
    c->conn_errno = sys;
}

/* Common entry checks of the public calls. */
static int enter(sluice_client *c) {
    if (c->in_callback) {
        set_err(c, SLUICE_E_INVALID_ARGUMENT, 0, "libsluice called from inside its on_failure callback");
        return -1;
    }
    if (c->fatal) {
        int code = c->fatal;
        char msg[sizeof(c->errstr)];
        memcpy(msg, c->errstr, sizeof(msg));
        set_err(c, code, 0, "%s", msg);
        return -1;
    }
    clear_err(c);
    return 0;
}

int sluice_errcode(const sluice_client *c) { return c ? c->err : SLUICE_E_INVALID_ARGUMENT; }
const char *sluice_errstr(const sluice_client *c) { return c ? c->errstr : "client is NULL"; }
int sluice_errno(const sluice_client *c) { return c ? c->sys_errno : 0; }
uint64_t sluice_failed_records(const sluice_client *c) { return c ? c->failed_records : 0; }
uint64_t sluice_unacked_records(const sluice_client *c) { return c ? c->held_records + c->open_count : 0; }
int sluice_is_connected(const sluice_client *c) { return c && c->fd >= 0; }
const char *sluice_server_name(const sluice_client *c) { return c ? c->server_name : ""; }
void sluice_free(void *p) { free(p); }

static uint32_t next_id(sluice_client *c) {
    uint32_t id = c->next_id++;
    if (c->next_id == 0) c->next_id = 1;
    return id;
}

static int backoff_delay(const sluice_client *c, int n) {
    int64_t d = c->opts.backoff_ms;
    for (int i = 0; i < n && d < c->opts.backoff_max_ms; i++) d *= 2;
    if (d > c->opts.backoff_max_ms) d = c->opts.backoff_max_ms;
    return (int)d;
}

static void apply_limits(sluice_client *c, const sluice_limits *l) {
    c->limits = *l;
    size_t hard = l->max_frame_bytes < l->max_decompressed_bytes ? l->max_frame_bytes : l->max_decompressed_bytes;
    c->hard_max_batch_bytes = hard;
    c->eff_max_batch_bytes = c->opts.max_batch_bytes < hard ? c->opts.max_batch_bytes : hard;
    c->eff_max_records = c->opts.max_batch_records < l->max_records ? c->opts.max_batch_records : l->max_records;
}

/* ---- batch list -------------------------------------------------------------- */

static void set_state(sluice_client *c, batch *b, int st) {
    if (b->state == B_QUEUED) c->n_queued--;
    if (st == B_QUEUED) c->n_queued++;
    b->state = st;
}

static void unlink_batch(sluice_client *c, batch *b) {
    if (b->prev) b->prev->next = b->next;
    else c->head = b->next;
    if (b->next) b->next->prev = b->prev;
    else c->tail = b->prev;
    if (b->state == B_QUEUED) c->n_queued--;
    if (c->wbatch == b) {
        c->wbatch = NULL;
        c->out_kind = OUT_NONE;
        c->woff = 0;
    }
    c->held_bytes -= b->frame_len;
    c->held_records -= b->n_records;
    free(b->frame);
    free(b);
}

static batch *find_batch(sluice_client *c, uint32_t id, int include_writing) {
    if (id == 0) return NULL;
    for (batch *b = c->head; b; b = b->next)
        if (b->req_id == id && (b->state == B_INFLIGHT || (include_writing && b->state == B_WRITING))) return b;
    return NULL;
}

/* Seals the open batch: fills in count and header, compresses when that makes
 * it smaller, and queues it. 0, or -1 (out of memory; the open batch is kept). */
static int seal_open(sluice_client *c) {
    if (c->open_count == 0) return 0;
    batch *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        set_err(c, SLUICE_E_NOMEM, 0, "out of memory sealing a batch");
        return -1;
    }
    sluice_batch_finish(&c->open, c->open_count);
    b->plain_len = c->open.len - SLUICE_HDR_LEN;
    b->n_records = c->open_count;
    uint8_t *z = NULL;
    size_t zlen = 0;
    int rc = 0;
    if (c->opts.compression) /* a failure here only means sending it plain */
        rc = sluice_compress_frame(c->cctx, c->opts.zstd_level, c->open.data, c->open.len, &z, &zlen);
    if (rc == 1) {
        b->frame = z;
        b->frame_len = zlen;
        c->open.len = 0; /* keep the buffer for the next batch */
    } else {
        uint8_t *shrunk = realloc(c->open.data, c->open.len);
        b->frame = shrunk ? shrunk : c->open.data;
        b->frame_len = c->open.len;
        c->open.data = NULL;
        c->open.len = c->open.cap = 0;
    }
    b->state = B_QUEUED;
    c->n_queued++;
    b->prev = c->tail;
    if (c->tail) c->tail->next = b;
    else c->head = b;
    c->tail = b;
    c->held_bytes += b->frame_len;
    c->held_records += b->n_records;
    c->open_count = 0;
    return 0;
}

/* ---- failure reporting ------------------------------------------------------- */

static void call_failure(sluice_client *c, sluice_failure *f) {
    f->error_name = sluice_error_name(f->code);
    f->retriable = f->code == SLUICE_E_DELIVERY_FAILED || f->code == SLUICE_E_OVERLOADED ||
                   f->code == SLUICE_E_SHUTTING_DOWN || f->code == SLUICE_E_INTERNAL;
    if (f->message == NULL) f->message = "";
    c->in_callback = 1;
    c->opts.on_failure(c->opts.opaque, f);
    c->in_callback = 0;
}

/* Reports failed records of batch b: those listed in ack, or (ack NULL) all of
 * them with code. */
static void report_batch_failures(sluice_client *c, batch *b, const sluice_msg *ack, int code, const char *message) {
    uint32_t nfail = ack ? ack->u.ack.failed_count : b->n_records;
    c->failed_records += nfail;
    if (c->opts.on_failure == NULL || nfail == 0) return;

    const uint8_t *payload = b->frame + SLUICE_HDR_LEN;
    size_t plen = b->frame_len - SLUICE_HDR_LEN;
    uint8_t *plain = NULL;
    if (sluice_get16(b->frame + 4) & SLUICE_FLAG_COMPRESSED) {
        if (sluice_decompress(payload, plen, b->plain_len, &plain, &plen) != 0) {
            payload = NULL;
            plen = 0;
        } else {
            payload = plain;
        }
    }
    sluice_payload_cursor cur;
    int decodable = 0;
    uint8_t ack_level;
    uint32_t count;
    if (payload && sluice_payload_open(payload, plen, &ack_level, &count, &cur) == 0 && count == b->n_records)
        decodable = 1;

    uint32_t k = 0;
    for (uint32_t idx = 0; idx < b->n_records && k < nfail; idx++) {
        sluice_rec_view rv;
        int have = decodable && sluice_payload_next(&cur, &rv) == 1;
        if (!have) decodable = 0;
        int fcode = code;
        if (ack) {
            uint32_t fi;
            uint16_t fc;
            sluice_ack_failure(ack, k, &fi, &fc);
            if (fi != idx) continue;
            fcode = fc;
        }
        k++;
        sluice_failure f;
        memset(&f, 0, sizeof(f));
        f.index = idx;
        f.code = fcode;
        f.message = message;
        c->scratch.len = 0;
        if (have && sluice_buf_reserve(&c->scratch, rv.topic_len + rv.key_len + rv.event_type_len + 3) == 0) {
            char *s = (char *)c->scratch.data;
            memcpy(s, rv.topic, rv.topic_len);
            s[rv.topic_len] = '\0';
            f.topic = s;
            s += rv.topic_len + 1;
            if (rv.key_len) memcpy(s, rv.key, rv.key_len);
            s[rv.key_len] = '\0';
            f.key = s;
            f.key_len = rv.key_len;
            s += rv.key_len + 1;
            if (rv.event_type_len) memcpy(s, rv.event_type, rv.event_type_len);
            s[rv.event_type_len] = '\0';
            f.event_type = s;
            memcpy(f.event_id, rv.event_id, 16);
            f.timestamp_ms = rv.timestamp_ms;
            f.value = rv.value;
            f.value_len = rv.value_len;
        }
        call_failure(c, &f);
    }
    free(plain);
}

/* Failures for an ack-none batch the client no longer holds. */
static void report_unheld_failures(sluice_client *c, const sluice_msg *ack, uint32_t n_records, int code,
                                   const char *message) {
    uint32_t nfail = ack ? ack->u.ack.failed_count : n_records;
    c->failed_records += nfail;
    if (c->opts.on_failure == NULL) return;
    for (uint32_t k = 0; k < nfail; k++) {
        sluice_failure f;
        memset(&f, 0, sizeof(f));
        f.code = code;
        f.message = message;
        if (ack) {
            uint16_t fc;
            sluice_ack_failure(ack, k, &f.index, &fc);
            f.code = fc;
        } else {
            f.index = k;
        }
        call_failure(c, &f);
    }
}

static const none_entry *none_lookup(const sluice_client *c, uint32_t id) {
    for (unsigned i = 0; i < NONE_RING; i++)
        if (c->none_ring[i].req_id == id && id != 0) return &c->none_ring[i];
    return NULL;
}

static int is_orphan(sluice_client *c, uint32_t id) {
    for (unsigned i = 0; i < ORPHAN_RING; i++)
        if (c->orphans[i] == id && id != 0) {
            c->orphans[i] = 0;
            return 1;
        }
    return 0;
}

/* ---- connection -------------------------------------------------------------- */

static int handle_msg(sluice_client *c, const sluice_msg *m);

/* Handles every reply still readable on a connection being dropped, without waiting:
 * until EOF, EAGAIN, a read error, a malformed frame, or a reply that ends the connection
 * itself (a closing ERROR, or one that breaks the rules). The gateway sends the ACKs of
 * what it read before it closes (SHUTTING_DOWN); resending those batches would publish
 * them twice (PROTOCOL.md section 9). */
static void settle_tail(sluice_client *c) {
    c->draining = 1;
    c->drain_stop = 0;
    for (;;) {
        sluice_msg m;
        int r = 0;
        while (!c->drain_stop && (r = sluice_reader_next(c->reader, &m)) == 1) handle_msg(c, &m);
        if (c->drain_stop || r < 0) break;
        ssize_t n = sluice_net_recv(c->fd, c->rbuf, sizeof(c->rbuf));
        if (n <= 0 || sluice_reader_feed(c->reader, c->rbuf, (size_t)n) < 0) break;
    }
    c->draining = 0;
}

/* Closes the connection: every batch not yet acknowledged goes back to QUEUED
 * to be resent, in order, on the next connection. Replies already waiting on it are
 * handled first, unless the server broke the protocol (its stream is not trusted). */
static void drop_conn(sluice_client *c, int code, int sys, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(c->conn_errstr, sizeof(c->conn_errstr), fmt, ap);
    va_end(ap);
    c->conn_err = code;
    c->conn_errno = sys;
    if (c->draining) { /* settle_tail, reading what was left, met the end: it stops there */
        c->drain_stop = 1;
        return;
    }
    if (c->fd >= 0 && code != SLUICE_E_PROTOCOL && code != SLUICE_E_NOMEM) settle_tail(c);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    sluice_reader_reset(c->reader);
    for (batch *b = c->head; b; b = b->next) {
        if (b->state != B_QUEUED) set_state(c, b, B_QUEUED);
        b->req_id = 0;
    }
    c->wbatch = NULL;
    c->woff = 0;
    c->out_kind = OUT_NONE;
    if (c->aux_state == AUX_WRITING || c->aux_state == AUX_WAITING) {
        c->aux_state = AUX_DONE;
        c->aux_err = code;
        snprintf(c->aux_errstr, sizeof(c->aux_errstr), "%s", c->conn_errstr);
    }
    memset(c->orphans, 0, sizeof(c->orphans));
    memset(c->none_ring, 0, sizeof(c->none_ring));
    c->next_connect_at = sluice_now_ms(); /* first retry at once; backoff after failed attempts */
}

static void connect_failed(sluice_client *c, int fd) {
    if (fd >= 0) close(fd);
    sluice_reader_reset(c->reader);
    c->next_connect_at = sluice_now_ms() + backoff_delay(c, c->connect_backoff);
    c->connect_backoff++;
}

/* One connection attempt with the HELLO handshake, bounded by deadline.
 * 0 on success; -1 with conn_err set. */
static int try_connect(sluice_client *c, int64_t deadline) {
    int fd = sluice_net_connect(c->path, deadline);
    if (fd < 0) {
        int e = errno;
        if (e == ETIMEDOUT) set_conn_err(c, SLUICE_E_TIMEOUT, 0, "connecting to %s timed out", c->path);
        else set_conn_err(c, SLUICE_E_IO, e, "connecting to %s: %s", c->path, strerror(e));
        connect_failed(c, -1);
        return -1;
    }
    sluice_buf hb = {0};
    uint32_t hello_id = next_id(c);
    if (sluice_encode_hello(&hb, hello_id, SLUICE_PROTOCOL_VERSION, SLUICE_PROTOCOL_VERSION, c->client_name,
                            strlen(c->client_name)) < 0) {
        set_conn_err(c, SLUICE_E_NOMEM, 0, "out of memory encoding HELLO");
        connect_failed(c, fd);
        return -1;
    }
    int rc = sluice_net_send_all(fd, hb.data, hb.len, deadline);
    int e = errno;
    sluice_buf_free(&hb);
    if (rc < 0) {
        if (e == ETIMEDOUT) set_conn_err(c, SLUICE_E_TIMEOUT, 0, "sending HELLO to %s timed out", c->path);
        else set_conn_err(c, SLUICE_E_IO, e, "sending HELLO to %s: %s", c->path, strerror(e));
        connect_failed(c, fd);
        return -1;
    }
    sluice_reader_reset(c->reader);
    for (;;) {
        sluice_msg m;
        int r = sluice_reader_next(c->reader, &m);
        if (r < 0) {
            set_conn_err(c, SLUICE_E_PROTOCOL, 0, "malformed handshake reply from %s: %s: %s", c->path,
                         sluice_error_name(sluice_reader_error(c->reader)), sluice_reader_errstr(c->reader));
            connect_failed(c, fd);
            return -1;
        }
        if (r == 1) {
            if (m.type == SLUICE_T_ERROR) {
                set_conn_err(c, m.u.error.code, 0, "server refused the handshake: %s: %.*s",
                             sluice_error_name(m.u.error.code), (int)m.u.error.message_len, m.u.error.message);
                connect_failed(c, fd);
                return -1;
            }
            if (m.type != SLUICE_T_HELLO_OK || m.request_id != hello_id) {
                set_conn_err(c, SLUICE_E_PROTOCOL, 0, "expected HELLO_OK for request %u, got type %u for request %u",
                             hello_id, m.type, m.request_id);
                connect_failed(c, fd);
                return -1;
            }
            const sluice_limits *l = &m.u.hello_ok.limits;
            if (l->version != SLUICE_PROTOCOL_VERSION) {
                set_conn_err(c, SLUICE_E_PROTOCOL, 0, "server chose version %u, which was not offered", l->version);
                connect_failed(c, fd);
                return -1;
            }
            if (l->max_frame_bytes < 64 || l->max_decompressed_bytes < 64 || l->max_records == 0 ||
                l->max_record_bytes == 0 || l->max_key_bytes == 0) {
                set_conn_err(c, SLUICE_E_PROTOCOL, 0, "HELLO_OK announces unusable limits");
                connect_failed(c, fd);
                return -1;
            }
            apply_limits(c, l);
            size_t nl = m.u.hello_ok.server_name_len;
            if (nl >= sizeof(c->server_name)) nl = sizeof(c->server_name) - 1;
            memcpy(c->server_name, m.u.hello_ok.server_name, nl);
            c->server_name[nl] = '\0';
            break;
        }
        short rev = 0;
        int pr = sluice_net_poll(fd, POLLIN, deadline, &rev);
        if (pr < 0) {
            e = errno;
            set_conn_err(c, SLUICE_E_IO, e, "poll: %s", strerror(e));
            connect_failed(c, fd);
            return -1;
        }
        if (pr == 0) {
            if (sluice_ms_until(deadline) == 0) {
                set_conn_err(c, SLUICE_E_TIMEOUT, 0, "no HELLO_OK from %s before the connect timeout", c->path);
                connect_failed(c, fd);
                return -1;
            }
            continue;
        }
        ssize_t n = sluice_net_recv(fd, c->rbuf, sizeof(c->rbuf));
        if (n == 0) {
            set_conn_err(c, SLUICE_E_CLOSED, 0, "server closed the connection during the handshake");
            connect_failed(c, fd);
            return -1;
        }
        if (n < 0) {
            e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) continue;
            set_conn_err(c, SLUICE_E_IO, e, "reading HELLO_OK: %s", strerror(e));
            connect_failed(c, fd);
            return -1;
        }
        if (sluice_reader_feed(c->reader, c->rbuf, (size_t)n) < 0) {
            set_conn_err(c, SLUICE_E_NOMEM, 0, "out of memory reading HELLO_OK");
            connect_failed(c, fd);
            return -1;
        }
    }
    c->fd = fd;
    c->conn_first_id = hello_id;
    c->connect_backoff = 0;
    c->conn_err = 0;
    c->conn_errstr[0] = '\0';
    return 0;
}

/* ---- server messages --------------------------------------------------------- */

/* Whether id was issued on the current connection (after its HELLO). */
static int id_on_this_connection(const sluice_client *c, uint32_t id) {
    if (id == 0) return 0;
    if (c->conn_first_id <= c->next_id) return id > c->conn_first_id && id < c->next_id;
    return id > c->conn_first_id || id < c->next_id; /* the counter wrapped */
}

static int handle_ack(sluice_client *c, const sluice_msg *m) {
    batch *b = find_batch(c, m->request_id, 0);
    if (b == NULL) {
        if (c->opts.ack_level == SLUICE_ACK_NONE && id_on_this_connection(c, m->request_id)) {
            const none_entry *ne = none_lookup(c, m->request_id);
            if (ne == NULL || ne->n_records == m->u.ack.record_count) {
                report_unheld_failures(c, m, 0, 0, NULL);
                return 0;
            }
        }
        drop_conn(c, SLUICE_E_PROTOCOL, 0, "server sent an ACK for unknown request id %u", m->request_id);
        return -1;
    }
    if (m->u.ack.record_count != b->n_records) {
        drop_conn(c, SLUICE_E_PROTOCOL, 0, "ACK for request %u counts %u records, the batch has %u", m->request_id,
                  m->u.ack.record_count, b->n_records);
        return -1;
    }
    if (m->u.ack.failed_count) report_batch_failures(c, b, m, 0, NULL);
    unlink_batch(c, b);
    return 0;
}

static int handle_error(sluice_client *c, const sluice_msg *m) {
    int code = m->u.error.code;
    int closing = (m->u.error.flags & SLUICE_ERRF_CLOSING) != 0;
    int retriable = (m->u.error.flags & SLUICE_ERRF_RETRIABLE) != 0;
    uint32_t id = m->request_id;
    char msg[256];
    snprintf(msg, sizeof(msg), "%.*s", (int)m->u.error.message_len, m->u.error.message);
    batch *b;

    if (id != 0 && c->aux_state == AUX_WAITING && id == c->aux_id) {
        c->aux_state = AUX_DONE;
        c->aux_err = code;
        snprintf(c->aux_errstr, sizeof(c->aux_errstr), "server error %s: %.200s", sluice_error_name(code), msg);
    } else if (id != 0 && is_orphan(c, id)) {
        /* a late reply to a PING/STATS that timed out */
    } else if ((b = find_batch(c, id, 1)) != NULL) {
        if (b->state == B_WRITING) {
            /* Only a header-level rejection can come before the frame is
             * written, and those close the connection. */
            if (!closing) {
                drop_conn(c, SLUICE_E_PROTOCOL, 0, "ERROR for request %u before it was fully sent", id);
                return -1;
            }
            c->wbatch = NULL;
            c->out_kind = OUT_NONE;
            c->woff = 0;
        }
        if (retriable) {
            set_state(c, b, B_QUEUED);
            b->req_id = 0;
            b->not_before = sluice_now_ms() + backoff_delay(c, b->retries);
            b->retries++;
        } else {
            report_batch_failures(c, b, NULL, code, msg);
            unlink_batch(c, b);
        }
    } else if (c->opts.ack_level == SLUICE_ACK_NONE && id_on_this_connection(c, id)) {
        const none_entry *ne = none_lookup(c, id);
        report_unheld_failures(c, NULL, ne ? ne->n_records : 0, code, msg);
    } else if (id != 0 && !closing) {
        drop_conn(c, SLUICE_E_PROTOCOL, 0, "server sent an ERROR for unknown request id %u", id);
        return -1;
    }
    if (closing) {
        drop_conn(c, code, 0, "server closed the connection: %s: %s", sluice_error_name(code), msg);
        return -1;
    }
    return 0;
}

static int handle_msg(sluice_client *c, const sluice_msg *m) {
    switch (m->type) {
    case SLUICE_T_ACK: return handle_ack(c, m);
    case SLUICE_T_ERROR: return handle_error(c, m);
    case SLUICE_T_PONG:
    case SLUICE_T_STATS_REPLY:
        if (c->aux_state == AUX_WAITING && m->request_id == c->aux_id) {
            if (m->type != c->aux_expect) {
                drop_conn(c, SLUICE_E_PROTOCOL, 0, "server answered request %u with the wrong message type %u",
                          m->request_id, m->type);
                return -1;
            }
            c->aux_state = AUX_DONE;
            c->aux_err = 0;
            if (m->type == SLUICE_T_PONG) {
                size_t sent = c->aux_len - SLUICE_HDR_LEN;
                if (m->u.body.len != sent || memcmp(m->u.body.data, c->aux_frame + SLUICE_HDR_LEN, sent) != 0) {
                    c->aux_err = SLUICE_E_PROTOCOL;
                    snprintf(c->aux_errstr, sizeof(c->aux_errstr), "PONG does not echo the PING's bytes");
                }
            } else {
                c->aux_reply.len = 0;
                if (sluice_buf_append(&c->aux_reply, m->u.body.data, m->u.body.len) < 0) {
                    c->aux_err = SLUICE_E_NOMEM;
                    snprintf(c->aux_errstr, sizeof(c->aux_errstr), "out of memory copying STATS_REPLY");
                }
            }
            return 0;
        }
        if (is_orphan(c, m->request_id)) return 0;
        drop_conn(c, SLUICE_E_PROTOCOL, 0, "unexpected reply type %u for request id %u", m->type, m->request_id);
        return -1;
    default:
        drop_conn(c, SLUICE_E_PROTOCOL, 0, "unexpected message type %u after the handshake", m->type);
        return -1;
    }
}

/* ---- the pump ---------------------------------------------------------------- */

/* Fails a sealed batch the server's (new) limits no longer allow. */
static int batch_over_limits(sluice_client *c, batch *b) {
    if (b->n_records > c->limits.max_records) return SLUICE_E_TOO_MANY_RECORDS;
    if (b->frame_len - SLUICE_HDR_LEN > c->limits.max_frame_bytes) return SLUICE_E_FRAME_TOO_LARGE;
    if (b->plain_len > c->limits.max_decompressed_bytes) return SLUICE_E_DECOMPRESSED_TOO_LARGE;
    return 0;
}

/* Chooses the next frame to write: a pending PING/STATS, else the first
 * queued batch. A batch pausing after a retriable error holds back the ones
 * behind it, so batches are written in publish order. */
static void pick_output(sluice_client *c, int64_t now, int64_t *wake) {
    if (c->aux_state == AUX_WRITING) {
        c->out_kind = OUT_AUX;
        c->aux_off = 0;
        return;
    }
    if (c->n_queued == 0) return;
    batch *b = c->head;
    while (b) {
        if (b->state != B_QUEUED) {
            b = b->next;
            continue;
        }
        if (b->not_before > now) {
            *wake = b->not_before;
            return;
        }
        int code = batch_over_limits(c, b);
        if (code) {
            batch *next = b->next;
            report_batch_failures(c, b, NULL, code, "batch exceeds the limits the server announced");
            unlink_batch(c, b);
            b = next;
            continue;
        }
        b->req_id = next_id(c);
        sluice_frame_set_request_id(b->frame, b->req_id);
        set_state(c, b, B_WRITING);
        c->wbatch = b;
        c->woff = 0;
        c->out_kind = OUT_BATCH;
        return;
    }
}

/* Writes as much of the current frame as the socket takes. 0, or -1 when the
 * connection was dropped. */
static int do_write(sluice_client *c) {
    const uint8_t *p;
    size_t len, *off;
    if (c->out_kind == OUT_BATCH) {
        p = c->wbatch->frame;
        len = c->wbatch->frame_len;
        off = &c->woff;
    } else {
        p = c->aux_frame;
        len = c->aux_len;
        off = &c->aux_off;
    }
    ssize_t n = sluice_net_send(c->fd, p + *off, len - *off);
    if (n < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) return 0;
        drop_conn(c, e == EPIPE || e == ECONNRESET ? SLUICE_E_CLOSED : SLUICE_E_IO, e, "writing to %s: %s", c->path,
                  strerror(e));
        return -1;
    }
    *off += (size_t)n;
    if (*off < len) return 0;
    if (c->out_kind == OUT_AUX) {
        c->aux_state = AUX_WAITING;
    } else {
        batch *b = c->wbatch;
        c->wbatch = NULL;
        c->woff = 0;
        if (c->opts.ack_level == SLUICE_ACK_NONE) {
            /* The server only answers failures: keep just enough to report them. */
            none_entry *ne = &c->none_ring[c->none_pos++ % NONE_RING];
            ne->req_id = b->req_id;
            ne->n_records = b->n_records;
            unlink_batch(c, b);
        } else {
            set_state(c, b, B_INFLIGHT);
        }
    }
    c->out_kind = OUT_NONE;
    return 0;
}

/* Reads what is available and handles every complete message. 0, or -1 when
 * the connection was dropped. */
static int do_read(sluice_client *c) {
    ssize_t n = sluice_net_recv(c->fd, c->rbuf, sizeof(c->rbuf));
    if (n == 0) {
        if (sluice_reader_pending(c->reader) > 0)
            drop_conn(c, SLUICE_E_CLOSED, 0, "server closed the connection in the middle of a frame");
        else
            drop_conn(c, SLUICE_E_CLOSED, 0, "server closed the connection");
        return -1;
    }
    if (n < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) return 0;
        drop_conn(c, e == ECONNRESET ? SLUICE_E_CLOSED : SLUICE_E_IO, e, "reading from %s: %s", c->path,
                  strerror(e));
        return -1;
    }
    if (sluice_reader_feed(c->reader, c->rbuf, (size_t)n) < 0) {
        drop_conn(c, SLUICE_E_NOMEM, 0, "out of memory buffering a server frame");
        return -1;
    }
    for (;;) {
        sluice_msg m;
        int r = sluice_reader_next(c->reader, &m);
        if (r == 0) return 0;
        if (r < 0) {
            drop_conn(c, SLUICE_E_PROTOCOL, 0, "malformed frame from server: %s: %s",
                      sluice_error_name(sluice_reader_error(c->reader)), sluice_reader_errstr(c->reader));
            return -1;
        }
        if (handle_msg(c, &m) < 0) return -1;
    }
}

typedef int (*done_fn)(sluice_client *c, const void *arg);

static void set_timeout_err(sluice_client *c, const char *what) {
    if (c->fd < 0 && c->conn_err)
        set_err(c, SLUICE_E_TIMEOUT, 0, "%s: timed out with %llu records unacknowledged (not connected: %s)", what,
                (unsigned long long)sluice_unacked_records(c), c->conn_errstr);
    else
        set_err(c, SLUICE_E_TIMEOUT, 0, "%s: timed out with %llu records unacknowledged", what,
                (unsigned long long)sluice_unacked_records(c));
}

/* Drives the connection (connect, write, read) until done() holds.
 * deadline: monotonic ms, < 0 = none. *attempts: connection attempts allowed.
 * nonblock: do only what needs no waiting, then return 1.
 * Returns 0 when done, 1 (nonblock only) when it would have to wait, -1 with
 * the error set. */
static int pump(sluice_client *c, done_fn done, const void *arg, int64_t deadline, int *attempts, int nonblock,
                const char *what) {
    for (;;) {
        if (done(c, arg)) return 0;
        int64_t now = sluice_now_ms();
        if (c->fd < 0) {
            if (*attempts <= 0) {
                if (nonblock) return 1;
                if (c->conn_err) {
                    set_err(c, c->conn_err, c->conn_errno, "%s: %s", what, c->conn_errstr);
                } else {
                    set_err(c, SLUICE_E_CLOSED, 0, "%s: not connected", what);
                }
                return -1;
            }
            if (now < c->next_connect_at) {
                if (nonblock) return 1;
                if (deadline >= 0 && c->next_connect_at >= deadline) {
                    sluice_sleep_until(deadline, deadline);
                    set_timeout_err(c, what);
                    return -1;
                }
                sluice_sleep_until(c->next_connect_at, deadline);
                continue;
            }
            (*attempts)--;
            /* A connection attempt gets connect_timeout_ms, cut short by the
             * caller's deadline (not by a non-blocking call's "now"). */
            int64_t cdl = c->opts.connect_timeout_ms > 0 ? now + c->opts.connect_timeout_ms : -1;
            if (!nonblock && deadline >= 0 && (cdl < 0 || deadline < cdl)) cdl = deadline;
            if (try_connect(c, cdl) < 0 && deadline >= 0 && sluice_now_ms() >= deadline) {
                set_timeout_err(c, what);
                return -1;
            }
            continue;
        }
        int64_t wake = -1;
        if (c->out_kind == OUT_NONE) pick_output(c, now, &wake);
        if (done(c, arg)) return 0; /* pick_output may have failed the last batches */
        if (c->out_kind != OUT_NONE) {
            int was = c->out_kind;
            if (do_write(c) < 0) continue;
            if (c->out_kind == OUT_NONE && was != OUT_NONE) continue; /* a whole frame went out: next one */
        }
        short ev = POLLIN | (c->out_kind != OUT_NONE ? POLLOUT : 0);
        int64_t until = deadline;
        if (wake >= 0 && (until < 0 || wake < until)) until = wake;
        if (nonblock) until = now;
        short rev = 0;
        int rc = sluice_net_poll(c->fd, ev, until, &rev);
        if (rc < 0) {
            int e = errno;
            drop_conn(c, SLUICE_E_IO, e, "poll: %s", strerror(e));
            continue;
        }
        if (rc == 0) {
            if (nonblock) return 1;
            if (deadline >= 0 && sluice_now_ms() >= deadline) {
                set_timeout_err(c, what);
                return -1;
            }
            continue;
        }
        if (rev & (POLLIN | POLLHUP | POLLERR)) {
            if (do_read(c) < 0) continue;
        }
        if ((rev & POLLOUT) && c->out_kind != OUT_NONE) do_write(c);
    }
}

static int done_never(sluice_client *c, const void *arg) {
    (void)c;
    (void)arg;
    return 0;
}
static int done_all_acked(sluice_client *c, const void *arg) {
    (void)arg;
    return c->head == NULL;
}
static int done_room(sluice_client *c, const void *arg) {
    size_t need = *(const size_t *)arg;
    return c->head == NULL || c->held_bytes + need <= c->opts.max_unacked_bytes;
}
static int done_connected(sluice_client *c, const void *arg) {
    (void)arg;
    return c->fd >= 0;
}
static int done_aux(sluice_client *c, const void *arg) {
    (void)arg;
    return c->aux_state == AUX_DONE || c->aux_state == AUX_IDLE;
}

static int64_t deadline_in(int timeout_ms) { return timeout_ms < 0 ? -1 : sluice_now_ms() + timeout_ms; }
static int attempts_allowed(const sluice_client *c) {
    return c->opts.reconnect_attempts < 1 ? 1 : c->opts.reconnect_attempts;
}

/* Writes and reads what can be done without waiting; reconnects when a retry is due. */
static void progress(sluice_client *c) {
    int attempts = (c->fd < 0 && c->head && sluice_now_ms() >= c->next_connect_at) ? 1 : 0;
    int saved = c->err;
    pump(c, done_never, NULL, sluice_now_ms(), &attempts, 1, "publish");
    if (!saved) clear_err(c);
}

/* ---- public calls ------------------------------------------------------------ */

sluice_client *sluice_connect(const char *socket_path, const sluice_options *opts) {
    sluice_client *c = calloc(1, sizeof(*c));
    if (c == NULL) return NULL;
    c->fd = -1;
    if (opts) c->opts = *opts;
    else sluice_options_init(&c->opts);
    char defname[32];
    snprintf(defname, sizeof(defname), "libsluice/%s", sluice_version());
    c->client_name = strdup(c->opts.client_name ? c->opts.client_name : defname);
    c->opts.client_name = NULL;
    c->path = strdup(socket_path ? socket_path : "");
    c->reader = sluice_reader_create(SLUICE_MAX_SERVER_PAYLOAD);
    c->cctx = ZSTD_createCCtx();
    if (!c->client_name || !c->path || !c->reader || !c->cctx) {
        sluice_close(c);
        return NULL;
    }
    if (c->opts.reconnect_attempts < 1) c->opts.reconnect_attempts = 1;
    if (c->opts.backoff_ms < 1) c->opts.backoff_ms = 1;
    if (c->opts.backoff_max_ms < c->opts.backoff_ms) c->opts.backoff_max_ms = c->opts.backoff_ms;
    c->next_id = 1;
    sluice_limits defaults = {SLUICE_PROTOCOL_VERSION, SLUICE_DEF_MAX_FRAME_BYTES, SLUICE_DEF_MAX_DECOMPRESSED,
                              SLUICE_DEF_MAX_RECORDS,  SLUICE_DEF_MAX_RECORD_BYTES, SLUICE_DEF_MAX_KEY_BYTES,
                              SLUICE_DEF_MAX_HEADERS,  SLUICE_DEF_MAX_HEADER_BYTES};
    apply_limits(c, &defaults);

    const char *bad = NULL;
    if (socket_path == NULL || socket_path[0] == '\0') bad = "socket path is empty";
    else if (strlen(socket_path) >= 108) bad = "socket path is too long for a Unix socket";
    else if (c->opts.ack_level < SLUICE_ACK_DURABLE || c->opts.ack_level > SLUICE_ACK_NONE) bad = "bad ack_level";
    else if (strlen(c->client_name) > SLUICE_MAX_HELLO - 6) bad = "client_name is longer than 1018 bytes";
    else if (c->opts.max_batch_records == 0) bad = "max_batch_records is 0";
    else if (c->opts.max_batch_bytes < 64) bad = "max_batch_bytes is below 64";
    else if (c->opts.max_unacked_bytes == 0) bad = "max_unacked_bytes is 0";
    if (bad) {
        set_err(c, SLUICE_E_INVALID_ARGUMENT, 0, "%s", bad);
        c->fatal = SLUICE_E_INVALID_ARGUMENT;
        return c;
    }
    int64_t deadline = c->opts.connect_timeout_ms > 0 ? sluice_now_ms() + c->opts.connect_timeout_ms : -1;
    if (try_connect(c, deadline) < 0) set_err(c, c->conn_err, c->conn_errno, "%s", c->conn_errstr);
    return c;
}

void sluice_close(sluice_client *c) {
    if (c == NULL) return;
    if (c->fd >= 0) close(c->fd);
    batch *b = c->head;
    while (b) {
        batch *n = b->next;
        free(b->frame);
        free(b);
        b = n;
    }
    sluice_buf_free(&c->open);
    sluice_buf_free(&c->aux_reply);
    sluice_buf_free(&c->scratch);
    sluice_reader_free(c->reader);
    ZSTD_freeCCtx(c->cctx);
    free(c->client_name);
    free(c->path);
    free(c);
}

/* Reads n bytes of the kernel's randomness: getrandom(), else /dev/urandom. 0 or -1. */
static int system_random(void *out, size_t n) {
    uint8_t *p = out;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r >= 0) {
            got += (size_t)r;
            continue;
        }
        if (errno == EINTR) continue;
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        while (got < n) {
            ssize_t k = read(fd, p + got, n - got);
            if (k <= 0) {
                if (k < 0 && errno == EINTR) continue;
                close(fd);
                return -1;
            }
            got += (size_t)k;
        }
        close(fd);
    }
    return 0;
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The next output of xoshiro256** (the generator the gateway uses for the ids it assigns). */
static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Fills a 16-byte random event id. The generator is seeded once per client with 256 bits
 * from the kernel: a getrandom() per id cost the client more than encoding the record. */
static int random_event_id(sluice_client *c, uint8_t out[16]) {
    if (!c->rng_seeded) {
        if (system_random(c->rng, sizeof(c->rng)) < 0) return -1;
        c->rng[3] |= 1; /* never the all-zero state */
        c->rng_seeded = 1;
    }
    uint64_t hi = rng_next(c->rng), lo = rng_next(c->rng);
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(hi >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    return 0;
}

/* Whether `name` is reserved for headers the gateway stamps: "event-id", "event-type" or
 * "sluice-*", ignoring ASCII case (PROTOCOL.md section 3.2). */
static int header_name_reserved(const char *name) {
    static const char *const exact[] = {"event-id", "event-type"};
    static const char prefix[] = "sluice-";
    char lowered[16];
    size_t n = 0;
    for (; name[n] != '\0' && n < sizeof(lowered) - 1; n++) {
        char ch = name[n];
        lowered[n] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
    }
    lowered[n] = '\0';
    if (n >= sizeof(prefix) - 1 && memcmp(lowered, prefix, sizeof(prefix) - 1) == 0) return 1;
    if (name[n] != '\0') return 0;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (strcmp(lowered, exact[i]) == 0) return 1;
    }
    return 0;
}

/* Local validation against the protocol's rules and the server's limits.
 * 0, or -1 with the error set to the protocol code. */
static int validate(sluice_client *c, const sluice_record *r) {
    int code = sluice_record_check_lengths(r);
    if (code == SLUICE_E_INVALID_ARGUMENT) {
        set_err(c, code, 0, "record has a NULL pointer with a non-zero length (or a NULL topic/header name)");
        return -1;
    }
    if (code) {
        set_err(c, code, 0, "record field too long for the wire format (%s)", sluice_error_name(code));
        return -1;
    }
    size_t tlen = strlen(r->topic);
    if (!sluice_topic_valid(r->topic, tlen)) {
        set_err(c, SLUICE_E_INVALID_TOPIC, 0,
                "invalid topic \"%.64s\": must be 1-249 of [a-zA-Z0-9._-] and not \".\" or \"..\"", r->topic);
        return -1;
    }
    if (r->key_len == 0 || r->key_len > c->limits.max_key_bytes) {
        set_err(c, SLUICE_E_INVALID_KEY, 0, "invalid key of %zu bytes: must be 1-%u bytes", r->key_len,
                c->limits.max_key_bytes);
        return -1;
    }
    if (!sluice_utf8_valid(r->key, r->key_len)) {
        set_err(c, SLUICE_E_INVALID_KEY, 0, "the key is not valid UTF-8");
        return -1;
    }
    if (r->event_type != NULL && !sluice_utf8_valid(r->event_type, strlen(r->event_type))) {
        set_err(c, SLUICE_E_INVALID_EVENT_TYPE, 0, "the event type is not valid UTF-8");
        return -1;
    }
    if (r->timestamp_ms < 0) {
        set_err(c, SLUICE_E_INVALID_TIMESTAMP, 0, "timestamp %lld is negative", (long long)r->timestamp_ms);
        return -1;
    }
    if (r->n_headers > c->limits.max_headers) {
        set_err(c, SLUICE_E_INVALID_HEADERS, 0, "%zu headers, the server allows %u", r->n_headers,
                c->limits.max_headers);
        return -1;
    }
    uint64_t hbytes = 0;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (r->headers[i].name[0] == '\0') {
            set_err(c, SLUICE_E_INVALID_HEADERS, 0, "header %zu has an empty name", i);
            return -1;
        }
        if (!sluice_utf8_valid(r->headers[i].name, strlen(r->headers[i].name))) {
            set_err(c, SLUICE_E_INVALID_HEADERS, 0, "header %zu: the name is not valid UTF-8", i);
            return -1;
        }
        if (header_name_reserved(r->headers[i].name)) {
            set_err(c, SLUICE_E_INVALID_HEADERS, 0, "header %zu: \"%.32s\" is reserved for the gateway", i,
                    r->headers[i].name);
            return -1;
        }
        hbytes += strlen(r->headers[i].name) + (uint64_t)r->headers[i].value_len;
    }
    if (hbytes > c->limits.max_header_bytes) {
        set_err(c, SLUICE_E_INVALID_HEADERS, 0, "headers take %llu bytes, the server allows %u",
                (unsigned long long)hbytes, c->limits.max_header_bytes);
        return -1;
    }
    uint64_t content = sluice_record_content_size(r);
    if (content > c->limits.max_record_bytes) {
        set_err(c, SLUICE_E_RECORD_TOO_LARGE, 0, "record of %llu bytes, the server allows %u",
                (unsigned long long)content, c->limits.max_record_bytes);
        return -1;
    }
    size_t enc = sluice_record_encoded_size(r);
    if (SLUICE_PUBLISH_PREAMBLE + enc > c->hard_max_batch_bytes) {
        set_err(c, SLUICE_E_RECORD_TOO_LARGE, 0, "record encodes to %zu bytes, a frame holds at most %zu", enc,
                c->hard_max_batch_bytes - SLUICE_PUBLISH_PREAMBLE);
        return -1;
    }
    return 0;
}

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int sluice_publish_record(sluice_client *c, const sluice_record *r) {
    if (c == NULL) return SLUICE_ERR;
    if (enter(c) < 0) return SLUICE_ERR;
    if (r == NULL) {
        set_err(c, SLUICE_E_INVALID_ARGUMENT, 0, "record is NULL");
        return SLUICE_ERR;
    }
    if (validate(c, r) < 0) return SLUICE_ERR;
    size_t enc = sluice_record_encoded_size(r);
    int sealed = 0;
    size_t open_payload = c->open_count ? c->open.len - SLUICE_HDR_LEN : SLUICE_PUBLISH_PREAMBLE;
    if (c->open_count > 0 && (c->open_count >= c->eff_max_records || open_payload + enc > c->eff_max_batch_bytes)) {
        if (seal_open(c) < 0) return SLUICE_ERR;
        sealed = 1;
    }
    /* Backpressure: wait for ACKs while the held bytes are over the limit. */
    size_t need = enc + (c->open_count ? c->open.len : SLUICE_HDR_LEN + SLUICE_PUBLISH_PREAMBLE);
    if (c->held_bytes + need > c->opts.max_unacked_bytes) {
        if (seal_open(c) < 0) return SLUICE_ERR;
        sealed = 1;
        need = enc + SLUICE_HDR_LEN + SLUICE_PUBLISH_PREAMBLE;
        int attempts = attempts_allowed(c);
        if (pump(c, done_room, &need, deadline_in(c->opts.io_timeout_ms), &attempts, 0, "publish (backpressure)") <
            0)
            return SLUICE_ERR; /* the record was not taken */
    }

    sluice_record rec = *r;
    if (c->opts.generate_event_ids && all_zero(rec.event_id, 16)) {
        if (random_event_id(c, rec.event_id) < 0) {
            set_err(c, SLUICE_E_IO, errno, "no random bytes for an event id: %s", strerror(errno));
            return SLUICE_ERR;
        }
        rec.event_id[6] = (uint8_t)((rec.event_id[6] & 0x0f) | 0x40); /* version 4 */
        rec.event_id[8] = (uint8_t)((rec.event_id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    }
    if (rec.timestamp_ms == 0) rec.timestamp_ms = sluice_wall_ms();
    if (c->open_count == 0 && sluice_batch_begin(&c->open, (uint8_t)c->opts.ack_level) < 0) {
        set_err(c, SLUICE_E_NOMEM, 0, "out of memory starting a batch");
        return SLUICE_ERR;
    }
    if (sluice_batch_add(&c->open, &rec) < 0) {
        set_err(c, SLUICE_E_NOMEM, 0, "out of memory adding a record to the batch");
        return SLUICE_ERR;
    }
    c->open_count++;
    if (c->open_count >= c->eff_max_records || c->open.len - SLUICE_HDR_LEN >= c->eff_max_batch_bytes) {
        if (seal_open(c) == 0) sealed = 1;
        clear_err(c); /* the record is taken either way; sealing is retried later */
    }
    if (sealed) progress(c);
    return SLUICE_OK;
}

int sluice_publish(sluice_client *c, const char *topic, const char *key, const void *value, size_t value_len,
                   const sluice_header *headers, size_t n_headers) {
    sluice_record r;
    memset(&r, 0, sizeof(r));
    r.topic = topic;
    r.key = key;
    r.key_len = key ? strlen(key) : 0;
    r.value = value;
    r.value_len = value_len;
    r.headers = headers;
    r.n_headers = n_headers;
    return sluice_publish_record(c, &r);
}

int sluice_flush(sluice_client *c, int timeout_ms) {
    if (c == NULL) return SLUICE_ERR;
    if (enter(c) < 0) return SLUICE_ERR;
    if (seal_open(c) < 0) return SLUICE_ERR;
    int attempts = attempts_allowed(c);
    if (pump(c, done_all_acked, NULL, deadline_in(timeout_ms), &attempts, 0, "flush") < 0) return SLUICE_ERR;
    if (c->failed_records > c->failed_reported) {
        uint64_t n = c->failed_records - c->failed_reported;
        c->failed_reported = c->failed_records;
        set_err(c, SLUICE_E_RECORDS_FAILED, 0, "%llu records were rejected by the server since the last flush",
                (unsigned long long)n);
        return SLUICE_ERR;
    }
    return SLUICE_OK;
}

/* Sends a PING or STATS and waits for its reply. */
static int aux_request(sluice_client *c, uint8_t type, int timeout_ms, const char *what) {
    int64_t deadline = deadline_in(timeout_ms);
    int attempts = attempts_allowed(c);
    if (pump(c, done_connected, NULL, deadline, &attempts, 0, what) < 0) return -1;
    sluice_buf fb = {0};
    uint32_t id = next_id(c);
    int rc;
    if (type == SLUICE_T_PING) {
        uint8_t token[8];
        sluice_put32(token, id);
        sluice_put32(token + 4, (uint32_t)sluice_now_ms());
        rc = sluice_encode_ping(&fb, id, token, sizeof(token));
    } else {
        rc = sluice_encode_stats(&fb, id);
    }
    if (rc < 0 || fb.len > sizeof(c->aux_frame)) {
        sluice_buf_free(&fb);
        set_err(c, SLUICE_E_NOMEM, 0, "%s: out of memory", what);
        return -1;
    }
    memcpy(c->aux_frame, fb.data, fb.len);
    c->aux_len = fb.len;
    c->aux_off = 0;
    sluice_buf_free(&fb);
    c->aux_id = id;
    c->aux_expect = type == SLUICE_T_PING ? SLUICE_T_PONG : SLUICE_T_STATS_REPLY;
    c->aux_state = AUX_WRITING;
    c->aux_err = 0;
    attempts = 0; /* a request lost with its connection is not resent */
    if (pump(c, done_aux, NULL, deadline, &attempts, 0, what) < 0) {
        /* Timed out: forget the request. A half-written frame cannot be
         * taken back, so that connection is dropped (batches are resent). */
        if (c->out_kind == OUT_AUX && c->aux_off > 0) {
            int err = c->err;
            char msg[sizeof(c->errstr)];
            memcpy(msg, c->errstr, sizeof(msg));
            drop_conn(c, SLUICE_E_TIMEOUT, 0, "%s timed out while being sent", what);
            set_err(c, err, 0, "%s", msg);
        } else if (c->aux_state == AUX_WAITING) {
            c->orphans[c->orphan_pos++ % ORPHAN_RING] = c->aux_id;
        }
        if (c->out_kind == OUT_AUX) c->out_kind = OUT_NONE;
        c->aux_state = AUX_IDLE;
        return -1;
    }
    c->aux_state = AUX_IDLE;
    if (c->aux_err) {
        set_err(c, c->aux_err, 0, "%s: %s", what, c->aux_errstr);
        return -1;
    }
    return 0;
}

int sluice_ping(sluice_client *c, int timeout_ms) {
    if (c == NULL) return SLUICE_ERR;
    if (enter(c) < 0) return SLUICE_ERR;
    return aux_request(c, SLUICE_T_PING, timeout_ms, "ping") < 0 ? SLUICE_ERR : SLUICE_OK;
}

char *sluice_stats(sluice_client *c, int timeout_ms) {
    if (c == NULL) return NULL;
    if (enter(c) < 0) return NULL;
    if (aux_request(c, SLUICE_T_STATS, timeout_ms, "stats") < 0) return NULL;
    char *s = malloc(c->aux_reply.len + 1);
    if (s == NULL) {
        set_err(c, SLUICE_E_NOMEM, 0, "stats: out of memory");
        return NULL;
    }
    if (c->aux_reply.len) memcpy(s, c->aux_reply.data, c->aux_reply.len);
    s[c->aux_reply.len] = '\0';
    return s;
}
