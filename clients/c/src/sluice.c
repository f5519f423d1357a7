/* The public calls: options, connect and close, publish, flush, ping and stats, and
 * the accessors. The work is in the files client.h lists. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* strdup */
#endif
#include "sluice.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "client.h"
#include "net.h"

/* ---- options, entry checks, accessors ---------------------------------------- */

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

/* Common entry checks of the public calls. */
static int enter(sluice_client *c) {
    if (c->in_callback) {
        sluice_set_err(c, SLUICE_E_INVALID_ARGUMENT, 0, "libsluice called from inside its on_failure callback");
        return -1;
    }
    if (c->fatal) {
        int code = c->fatal;
        char msg[sizeof(c->errstr)];
        memcpy(msg, c->errstr, sizeof(msg));
        sluice_set_err(c, code, 0, "%s", msg);
        return -1;
    }
    sluice_clear_err(c);
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
                              SLUICE_DEF_MAX_HEADERS,  SLUICE_DEF_MAX_HEADER_BYTES, 0};
    sluice_apply_limits(c, &defaults);

    const char *bad = NULL;
    if (socket_path == NULL || socket_path[0] == '\0') bad = "socket path is empty";
    else if (strlen(socket_path) >= 108) bad = "socket path is too long for a Unix socket";
    else if (c->opts.ack_level < SLUICE_ACK_DURABLE || c->opts.ack_level > SLUICE_ACK_NONE) bad = "bad ack_level";
    else if (strlen(c->client_name) > SLUICE_MAX_HELLO - 6) bad = "client_name is longer than 1018 bytes";
    else if (c->opts.max_batch_records == 0) bad = "max_batch_records is 0";
    else if (c->opts.max_batch_bytes < 64) bad = "max_batch_bytes is below 64";
    else if (c->opts.max_unacked_bytes == 0) bad = "max_unacked_bytes is 0";
    if (bad) {
        sluice_set_err(c, SLUICE_E_INVALID_ARGUMENT, 0, "%s", bad);
        c->fatal = SLUICE_E_INVALID_ARGUMENT;
        return c;
    }
    int64_t deadline = c->opts.connect_timeout_ms > 0 ? sluice_now_ms() + c->opts.connect_timeout_ms : -1;
    if (sluice_try_connect(c, deadline) < 0) sluice_set_err(c, c->conn_err, c->conn_errno, "%s", c->conn_errstr);
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

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i]) return 0;
    return 1;
}

int sluice_publish_record(sluice_client *c, const sluice_record *r) {
    if (c == NULL) return SLUICE_ERR;
    if (enter(c) < 0) return SLUICE_ERR;
    if (r == NULL) {
        sluice_set_err(c, SLUICE_E_INVALID_ARGUMENT, 0, "record is NULL");
        return SLUICE_ERR;
    }
    if (sluice_validate_record(c, r) < 0) return SLUICE_ERR;
    size_t enc = sluice_record_encoded_size(r);
    int sealed = 0;
    size_t open_payload = c->open_count ? c->open.len - SLUICE_HDR_LEN : SLUICE_PUBLISH_PREAMBLE;
    if (c->open_count > 0 && (c->open_count >= c->eff_max_records || open_payload + enc > c->eff_max_batch_bytes)) {
        if (sluice_seal_open(c) < 0) return SLUICE_ERR;
        sealed = 1;
    }
    /* Backpressure: wait for ACKs while the held bytes are over the limit. */
    size_t need = enc + (c->open_count ? c->open.len : SLUICE_HDR_LEN + SLUICE_PUBLISH_PREAMBLE);
    if (c->held_bytes + need > c->eff_max_unacked_bytes) {
        if (sluice_seal_open(c) < 0) return SLUICE_ERR;
        sealed = 1;
        need = enc + SLUICE_HDR_LEN + SLUICE_PUBLISH_PREAMBLE;
        int attempts = sluice_attempts_allowed(c);
        if (sluice_pump(c, sluice_done_room, &need, sluice_deadline_in(c->opts.io_timeout_ms), &attempts, 0,
                        "publish (backpressure)") < 0)
            return SLUICE_ERR; /* the record was not taken */
    }

    sluice_record rec = *r;
    if (c->opts.generate_event_ids && all_zero(rec.event_id, 16)) {
        if (sluice_random_event_id(c, rec.event_id) < 0) {
            sluice_set_err(c, SLUICE_E_IO, errno, "no random bytes for an event id: %s", strerror(errno));
            return SLUICE_ERR;
        }
        rec.event_id[6] = (uint8_t)((rec.event_id[6] & 0x0f) | 0x40); /* version 4 */
        rec.event_id[8] = (uint8_t)((rec.event_id[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    }
    if (rec.timestamp_ms == 0) rec.timestamp_ms = sluice_wall_ms();
    if (c->open_count == 0 && sluice_batch_begin(&c->open, (uint8_t)c->opts.ack_level) < 0) {
        sluice_set_err(c, SLUICE_E_NOMEM, 0, "out of memory starting a batch");
        return SLUICE_ERR;
    }
    if (sluice_batch_add(&c->open, &rec) < 0) {
        sluice_set_err(c, SLUICE_E_NOMEM, 0, "out of memory adding a record to the batch");
        return SLUICE_ERR;
    }
    c->open_count++;
    if (c->open_count >= c->eff_max_records || c->open.len - SLUICE_HDR_LEN >= c->eff_max_batch_bytes) {
        if (sluice_seal_open(c) == 0) sealed = 1;
        sluice_clear_err(c); /* the record is taken either way; sealing is retried later */
    }
    if (sealed) sluice_progress(c);
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
    if (sluice_seal_open(c) < 0) return SLUICE_ERR;
    int attempts = sluice_attempts_allowed(c);
    if (sluice_pump(c, sluice_done_all_acked, NULL, sluice_deadline_in(timeout_ms), &attempts, 0, "flush") < 0)
        return SLUICE_ERR;
    if (c->failed_records > c->failed_reported) {
        uint64_t n = c->failed_records - c->failed_reported;
        c->failed_reported = c->failed_records;
        sluice_set_err(c, SLUICE_E_RECORDS_FAILED, 0, "%llu records were rejected by the server since the last flush",
                       (unsigned long long)n);
        return SLUICE_ERR;
    }
    return SLUICE_OK;
}

/* Sends a PING or STATS and waits for its reply. */
static int aux_request(sluice_client *c, uint8_t type, int timeout_ms, const char *what) {
    int64_t deadline = sluice_deadline_in(timeout_ms);
    int attempts = sluice_attempts_allowed(c);
    if (sluice_pump(c, sluice_done_connected, NULL, deadline, &attempts, 0, what) < 0) return -1;
    sluice_buf fb = {0};
    uint32_t id = sluice_next_id(c);
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
        sluice_set_err(c, SLUICE_E_NOMEM, 0, "%s: out of memory", what);
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
    if (sluice_pump(c, sluice_done_aux, NULL, deadline, &attempts, 0, what) < 0) {
        /* Timed out: forget the request. A half-written frame cannot be
         * taken back, so that connection is dropped (batches are resent). */
        if (c->out_kind == OUT_AUX && c->aux_off > 0) {
            int err = c->err;
            char msg[sizeof(c->errstr)];
            memcpy(msg, c->errstr, sizeof(msg));
            sluice_drop_conn(c, SLUICE_E_TIMEOUT, 0, "%s timed out while being sent", what);
            sluice_set_err(c, err, 0, "%s", msg);
        } else if (c->aux_state == AUX_WAITING) {
            c->orphans[c->orphan_pos++ % ORPHAN_RING] = c->aux_id;
        }
        if (c->out_kind == OUT_AUX) c->out_kind = OUT_NONE;
        c->aux_state = AUX_IDLE;
        return -1;
    }
    c->aux_state = AUX_IDLE;
    if (c->aux_err) {
        sluice_set_err(c, c->aux_err, 0, "%s: %s", what, c->aux_errstr);
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
        sluice_set_err(c, SLUICE_E_NOMEM, 0, "stats: out of memory");
        return NULL;
    }
    if (c->aux_reply.len) memcpy(s, c->aux_reply.data, c->aux_reply.len);
    s[c->aux_reply.len] = '\0';
    return s;
}
