/* The connection: connect and HELLO handshake, the limits it sets, reconnect backoff,
 * and dropping a connection (first handling what is left to read on it). */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "net.h"

uint32_t sluice_next_id(sluice_client *c) {
    uint32_t id = c->next_id++;
    if (c->next_id == 0) c->next_id = 1;
    return id;
}

int sluice_backoff_delay(const sluice_client *c, int n) {
    int64_t d = c->opts.backoff_ms;
    for (int i = 0; i < n && d < c->opts.backoff_max_ms; i++) d *= 2;
    if (d > c->opts.backoff_max_ms) d = c->opts.backoff_max_ms;
    return (int)d;
}

void sluice_apply_limits(sluice_client *c, const sluice_limits *l) {
    c->limits = *l;
    size_t hard = l->max_frame_bytes < l->max_decompressed_bytes ? l->max_frame_bytes : l->max_decompressed_bytes;
    c->hard_max_batch_bytes = hard;
    c->eff_max_batch_bytes = c->opts.max_batch_bytes < hard ? c->opts.max_batch_bytes : hard;
    c->eff_max_records = c->opts.max_batch_records < l->max_records ? c->opts.max_batch_records : l->max_records;
    /* The server's limit binds, not the protocol's reference value (PROTOCOL.md section 6). */
    c->eff_max_unacked_bytes = l->max_unacked_bytes != 0 && l->max_unacked_bytes < c->opts.max_unacked_bytes
                                   ? l->max_unacked_bytes
                                   : c->opts.max_unacked_bytes;
}

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
        while (!c->drain_stop && (r = sluice_reader_next(c->reader, &m)) == 1) sluice_handle_msg(c, &m);
        if (c->drain_stop || r < 0) break;
        ssize_t n = sluice_net_recv(c->fd, c->rbuf, sizeof(c->rbuf));
        if (n <= 0 || sluice_reader_feed(c->reader, c->rbuf, (size_t)n) < 0) break;
    }
    c->draining = 0;
}

/* Closes the connection: every batch not yet acknowledged goes back to QUEUED
 * to be resent, in order, on the next connection. Replies already waiting on it are
 * handled first, unless the server broke the protocol (its stream is not trusted). */
void sluice_drop_conn(sluice_client *c, int code, int sys, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sluice_vset_conn_err(c, code, sys, fmt, ap);
    va_end(ap);
    if (c->draining) { /* settle_tail, reading what was left, met the end: it stops there */
        c->drain_stop = 1;
        return;
    }
    if (c->fd >= 0 && code != SLUICE_E_PROTOCOL && code != SLUICE_E_NOMEM) settle_tail(c);
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    sluice_reader_reset(c->reader);
    for (batch *b = c->head; b; b = b->next) {
        if (b->state != B_QUEUED) sluice_batch_set_state(c, b, B_QUEUED);
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
    c->next_connect_at = sluice_now_ms() + sluice_backoff_delay(c, c->connect_backoff);
    c->connect_backoff++;
}

/* One connection attempt with the HELLO handshake, bounded by deadline.
 * 0 on success; -1 with conn_err set. */
int sluice_try_connect(sluice_client *c, int64_t deadline) {
    int fd = sluice_net_connect(c->path, deadline);
    if (fd < 0) {
        int e = errno;
        if (e == ETIMEDOUT) sluice_set_conn_err(c, SLUICE_E_TIMEOUT, 0, "connecting to %s timed out", c->path);
        else sluice_set_conn_err(c, SLUICE_E_IO, e, "connecting to %s: %s", c->path, strerror(e));
        connect_failed(c, -1);
        return -1;
    }
    sluice_buf hb = {0};
    uint32_t hello_id = sluice_next_id(c);
    if (sluice_encode_hello(&hb, hello_id, SLUICE_PROTOCOL_VERSION, SLUICE_PROTOCOL_VERSION, c->client_name,
                            strlen(c->client_name)) < 0) {
        sluice_set_conn_err(c, SLUICE_E_NOMEM, 0, "out of memory encoding HELLO");
        connect_failed(c, fd);
        return -1;
    }
    int rc = sluice_net_send_all(fd, hb.data, hb.len, deadline);
    int e = errno;
    sluice_buf_free(&hb);
    if (rc < 0) {
        if (e == ETIMEDOUT) sluice_set_conn_err(c, SLUICE_E_TIMEOUT, 0, "sending HELLO to %s timed out", c->path);
        else sluice_set_conn_err(c, SLUICE_E_IO, e, "sending HELLO to %s: %s", c->path, strerror(e));
        connect_failed(c, fd);
        return -1;
    }
    sluice_reader_reset(c->reader);
    for (;;) {
        sluice_msg m;
        int r = sluice_reader_next(c->reader, &m);
        if (r < 0) {
            sluice_set_conn_err(c, SLUICE_E_PROTOCOL, 0, "malformed handshake reply from %s: %s: %s", c->path,
                                sluice_error_name(sluice_reader_error(c->reader)), sluice_reader_errstr(c->reader));
            connect_failed(c, fd);
            return -1;
        }
        if (r == 1) {
            if (m.type == SLUICE_T_ERROR) {
                sluice_set_conn_err(c, m.u.error.code, 0, "server refused the handshake: %s: %.*s",
                                    sluice_error_name(m.u.error.code), (int)m.u.error.message_len, m.u.error.message);
                connect_failed(c, fd);
                return -1;
            }
            if (m.type != SLUICE_T_HELLO_OK || m.request_id != hello_id) {
                sluice_set_conn_err(c, SLUICE_E_PROTOCOL, 0,
                                    "expected HELLO_OK for request %u, got type %u for request %u", hello_id, m.type,
                                    m.request_id);
                connect_failed(c, fd);
                return -1;
            }
            const sluice_limits *l = &m.u.hello_ok.limits;
            if (l->version != SLUICE_PROTOCOL_VERSION) {
                sluice_set_conn_err(c, SLUICE_E_PROTOCOL, 0, "server chose version %u, which was not offered",
                                    l->version);
                connect_failed(c, fd);
                return -1;
            }
            if (l->max_frame_bytes < 64 || l->max_decompressed_bytes < 64 || l->max_records == 0 ||
                l->max_record_bytes == 0 || l->max_key_bytes == 0) {
                sluice_set_conn_err(c, SLUICE_E_PROTOCOL, 0, "HELLO_OK announces unusable limits");
                connect_failed(c, fd);
                return -1;
            }
            sluice_apply_limits(c, l);
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
            sluice_set_conn_err(c, SLUICE_E_IO, e, "poll: %s", strerror(e));
            connect_failed(c, fd);
            return -1;
        }
        if (pr == 0) {
            if (sluice_ms_until(deadline) == 0) {
                sluice_set_conn_err(c, SLUICE_E_TIMEOUT, 0, "no HELLO_OK from %s before the connect timeout", c->path);
                connect_failed(c, fd);
                return -1;
            }
            continue;
        }
        ssize_t n = sluice_net_recv(fd, c->rbuf, sizeof(c->rbuf));
        if (n == 0) {
            sluice_set_conn_err(c, SLUICE_E_CLOSED, 0, "server closed the connection during the handshake");
            connect_failed(c, fd);
            return -1;
        }
        if (n < 0) {
            e = errno;
            if (e == EAGAIN || e == EWOULDBLOCK) continue;
            sluice_set_conn_err(c, SLUICE_E_IO, e, "reading HELLO_OK: %s", strerror(e));
            connect_failed(c, fd);
            return -1;
        }
        if (sluice_reader_feed(c->reader, c->rbuf, (size_t)n) < 0) {
            sluice_set_conn_err(c, SLUICE_E_NOMEM, 0, "out of memory reading HELLO_OK");
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
