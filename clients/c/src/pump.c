/* The I/O pump: picks the next frame, writes it, reads and handles replies, reconnects
 * when the connection is down, and waits (poll) until a condition holds or time is up. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "client.h"
#include "net.h"

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
            sluice_report_batch_failures(c, b, NULL, code, "batch exceeds the limits the server announced");
            sluice_batch_unlink(c, b);
            b = next;
            continue;
        }
        b->req_id = sluice_next_id(c);
        sluice_frame_set_request_id(b->frame, b->req_id);
        sluice_batch_set_state(c, b, B_WRITING);
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
        sluice_drop_conn(c, e == EPIPE || e == ECONNRESET ? SLUICE_E_CLOSED : SLUICE_E_IO, e, "writing to %s: %s",
                         c->path, strerror(e));
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
            sluice_batch_unlink(c, b);
        } else {
            sluice_batch_set_state(c, b, B_INFLIGHT);
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
            sluice_drop_conn(c, SLUICE_E_CLOSED, 0, "server closed the connection in the middle of a frame");
        else
            sluice_drop_conn(c, SLUICE_E_CLOSED, 0, "server closed the connection");
        return -1;
    }
    if (n < 0) {
        int e = errno;
        if (e == EAGAIN || e == EWOULDBLOCK) return 0;
        sluice_drop_conn(c, e == ECONNRESET ? SLUICE_E_CLOSED : SLUICE_E_IO, e, "reading from %s: %s", c->path,
                         strerror(e));
        return -1;
    }
    if (sluice_reader_feed(c->reader, c->rbuf, (size_t)n) < 0) {
        sluice_drop_conn(c, SLUICE_E_NOMEM, 0, "out of memory buffering a server frame");
        return -1;
    }
    for (;;) {
        sluice_msg m;
        int r = sluice_reader_next(c->reader, &m);
        if (r == 0) return 0;
        if (r < 0) {
            sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "malformed frame from server: %s: %s",
                             sluice_error_name(sluice_reader_error(c->reader)), sluice_reader_errstr(c->reader));
            return -1;
        }
        if (sluice_handle_msg(c, &m) < 0) return -1;
    }
}

static void set_timeout_err(sluice_client *c, const char *what) {
    if (c->fd < 0 && c->conn_err)
        sluice_set_err(c, SLUICE_E_TIMEOUT, 0,
                       "%s: timed out with %llu records unacknowledged (not connected: %s)", what,
                       (unsigned long long)sluice_unacked_records(c), c->conn_errstr);
    else
        sluice_set_err(c, SLUICE_E_TIMEOUT, 0, "%s: timed out with %llu records unacknowledged", what,
                       (unsigned long long)sluice_unacked_records(c));
}

/* Drives the connection (connect, write, read) until done() holds.
 * deadline: monotonic ms, < 0 = none. *attempts: connection attempts allowed.
 * nonblock: do only what needs no waiting, then return 1.
 * Returns 0 when done, 1 (nonblock only) when it would have to wait, -1 with
 * the error set. */
int sluice_pump(sluice_client *c, sluice_done_fn done, const void *arg, int64_t deadline, int *attempts,
                int nonblock, const char *what) {
    for (;;) {
        if (done(c, arg)) return 0;
        int64_t now = sluice_now_ms();
        if (c->fd < 0) {
            if (*attempts <= 0) {
                if (nonblock) return 1;
                if (c->conn_err) {
                    sluice_set_err(c, c->conn_err, c->conn_errno, "%s: %s", what, c->conn_errstr);
                } else {
                    sluice_set_err(c, SLUICE_E_CLOSED, 0, "%s: not connected", what);
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
            if (sluice_try_connect(c, cdl) < 0 && deadline >= 0 && sluice_now_ms() >= deadline) {
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
            sluice_drop_conn(c, SLUICE_E_IO, e, "poll: %s", strerror(e));
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
int sluice_done_all_acked(sluice_client *c, const void *arg) {
    (void)arg;
    return c->head == NULL;
}
int sluice_done_room(sluice_client *c, const void *arg) {
    size_t need = *(const size_t *)arg;
    return c->head == NULL || c->held_bytes + need <= c->eff_max_unacked_bytes;
}
int sluice_done_connected(sluice_client *c, const void *arg) {
    (void)arg;
    return c->fd >= 0;
}
int sluice_done_aux(sluice_client *c, const void *arg) {
    (void)arg;
    return c->aux_state == AUX_DONE || c->aux_state == AUX_IDLE;
}

int64_t sluice_deadline_in(int timeout_ms) { return timeout_ms < 0 ? -1 : sluice_now_ms() + timeout_ms; }
int sluice_attempts_allowed(const sluice_client *c) {
    return c->opts.reconnect_attempts < 1 ? 1 : c->opts.reconnect_attempts;
}

/* Writes and reads what can be done without waiting; reconnects when a retry is due. */
void sluice_progress(sluice_client *c) {
    int attempts = (c->fd < 0 && c->head && sluice_now_ms() >= c->next_connect_at) ? 1 : 0;
    int saved = c->err;
    sluice_pump(c, done_never, NULL, sluice_now_ms(), &attempts, 1, "publish");
    if (!saved) sluice_clear_err(c);
}
