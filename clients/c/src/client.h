/* The client's private state and the internal calls between its files (not part
 * of include/sluice.h; compiled with -fvisibility=hidden, so nothing here is exported).
 *
 *   sluice.c    the public calls: options, connect/close, publish, flush, ping/stats
 *   errors.c    error names, the version, the last call's error
 *   record.c    the checks a record passes before it is taken, and event ids
 *   batch.c     the list of sealed batches (publish order) and sealing the open one
 *   conn.c      connect + HELLO handshake, limits, dropping a connection (settle the tail)
 *   replies.c   ACK / ERROR / PONG / STATS_REPLY handling and failure reports
 *   pump.c      the I/O pump: write the next frame, read replies, reconnect, wait
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <zstd.h>

#include "encode.h"
#include "proto.h"
#include "reader.h"
#include "sluice.h"

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
    size_t eff_max_unacked_bytes; /* the option, capped by the server's announced max unacked bytes */
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

#if defined(__GNUC__)
#define SLUICE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SLUICE_PRINTF(f, a)
#endif

/* vsnprintf under a printf-format attribute, so every caller's format is checked. */
static inline void vset(char *dst, size_t cap, const char *fmt, va_list ap) SLUICE_PRINTF(3, 0);
static inline void vset(char *dst, size_t cap, const char *fmt, va_list ap) { vsnprintf(dst, cap, fmt, ap); }

/* ---- errors.c: the last call's error, the connection's last error ---------------- */

void sluice_set_err(sluice_client *c, int code, int sys, const char *fmt, ...) SLUICE_PRINTF(4, 5);
void sluice_clear_err(sluice_client *c);
void sluice_set_conn_err(sluice_client *c, int code, int sys, const char *fmt, ...) SLUICE_PRINTF(4, 5);
/* sluice_set_conn_err with a va_list. */
void sluice_vset_conn_err(sluice_client *c, int code, int sys, const char *fmt, va_list ap) SLUICE_PRINTF(4, 0);

/* ---- record.c ------------------------------------------------------------------ */

/* Checks a record against the protocol and the server's limits: 0, or -1 with the error set. */
int sluice_validate_record(sluice_client *c, const sluice_record *r);
/* Fills a 16-byte random event id (xoshiro256**, seeded from the kernel). 0 or -1 (errno). */
int sluice_random_event_id(sluice_client *c, uint8_t out[16]);

/* ---- batch.c ------------------------------------------------------------------- */

void sluice_batch_set_state(sluice_client *c, batch *b, int st);
/* Removes b from the list and frees it. */
void sluice_batch_unlink(sluice_client *c, batch *b);
/* The INFLIGHT (or WRITING, if include_writing) batch with request id `id`, or NULL. */
batch *sluice_batch_find(sluice_client *c, uint32_t id, int include_writing);
/* Seals and queues the open batch. 0, or -1 (out of memory; the open batch is kept). */
int sluice_seal_open(sluice_client *c);

/* ---- conn.c -------------------------------------------------------------------- */

/* The next request id (never 0). */
uint32_t sluice_next_id(sluice_client *c);
/* Pause before the (n+1)-th retry: backoff_ms doubled n times, at most backoff_max_ms. */
int sluice_backoff_delay(const sluice_client *c, int n);
/* Puts the server's limits in force, with the batch sizes they allow. */
void sluice_apply_limits(sluice_client *c, const sluice_limits *l);
/* One connection attempt with the HELLO handshake. 0, or -1 with conn_err set. */
int sluice_try_connect(sluice_client *c, int64_t deadline);
/* Closes the connection; unacknowledged batches are queued again to be resent. */
void sluice_drop_conn(sluice_client *c, int code, int sys, const char *fmt, ...) SLUICE_PRINTF(4, 5);

/* ---- replies.c ----------------------------------------------------------------- */

/* Handles one server message. 0, or -1 when the connection was dropped. */
int sluice_handle_msg(sluice_client *c, const sluice_msg *m);
/* Reports the failed records of batch b (those in ack, or all of them with code). */
void sluice_report_batch_failures(sluice_client *c, batch *b, const sluice_msg *ack, int code, const char *message);

/* ---- pump.c -------------------------------------------------------------------- */

/* A condition sluice_pump() waits for. */
typedef int (*sluice_done_fn)(sluice_client *c, const void *arg);

/* Drives the connection until done() holds. 0, 1 (nonblock: would wait), or -1 with the error set. */
int sluice_pump(sluice_client *c, sluice_done_fn done, const void *arg, int64_t deadline, int *attempts,
                int nonblock, const char *what);
int sluice_done_all_acked(sluice_client *c, const void *arg); /* nothing held */
int sluice_done_room(sluice_client *c, const void *arg);      /* arg: const size_t *, bytes needed */
int sluice_done_connected(sluice_client *c, const void *arg); /* a connection is up */
int sluice_done_aux(sluice_client *c, const void *arg);       /* the PING/STATS is answered */
/* Monotonic deadline timeout_ms from now; -1 (none) for a negative timeout. */
int64_t sluice_deadline_in(int timeout_ms);
/* Connection attempts one call may make. */
int sluice_attempts_allowed(const sluice_client *c);
/* Writes and reads what can be done without waiting. */
void sluice_progress(sluice_client *c);

#endif
