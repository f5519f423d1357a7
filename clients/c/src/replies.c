/* Server replies: ACK, ERROR, PONG and STATS_REPLY, and the on_failure reports for the
 * records the gateway rejected. */
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "net.h"

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
void sluice_report_batch_failures(sluice_client *c, batch *b, const sluice_msg *ack, int code, const char *message) {
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

/* ---- server messages --------------------------------------------------------- */

/* Whether id was issued on the current connection (after its HELLO). */
static int id_on_this_connection(const sluice_client *c, uint32_t id) {
    if (id == 0) return 0;
    if (c->conn_first_id <= c->next_id) return id > c->conn_first_id && id < c->next_id;
    return id > c->conn_first_id || id < c->next_id; /* the counter wrapped */
}

static int handle_ack(sluice_client *c, const sluice_msg *m) {
    batch *b = sluice_batch_find(c, m->request_id, 0);
    if (b == NULL) {
        if (c->opts.ack_level == SLUICE_ACK_NONE && id_on_this_connection(c, m->request_id)) {
            const none_entry *ne = none_lookup(c, m->request_id);
            if (ne == NULL || ne->n_records == m->u.ack.record_count) {
                report_unheld_failures(c, m, 0, 0, NULL);
                return 0;
            }
        }
        sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "server sent an ACK for unknown request id %u", m->request_id);
        return -1;
    }
    if (m->u.ack.record_count != b->n_records) {
        sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "ACK for request %u counts %u records, the batch has %u",
                         m->request_id, m->u.ack.record_count, b->n_records);
        return -1;
    }
    if (m->u.ack.failed_count) sluice_report_batch_failures(c, b, m, 0, NULL);
    sluice_batch_unlink(c, b);
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
    } else if ((b = sluice_batch_find(c, id, 1)) != NULL) {
        if (b->state == B_WRITING) {
            /* Only a header-level rejection can come before the frame is
             * written, and those close the connection. */
            if (!closing) {
                sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "ERROR for request %u before it was fully sent", id);
                return -1;
            }
            c->wbatch = NULL;
            c->out_kind = OUT_NONE;
            c->woff = 0;
        }
        if (retriable) {
            sluice_batch_set_state(c, b, B_QUEUED);
            b->req_id = 0;
            b->not_before = sluice_now_ms() + sluice_backoff_delay(c, b->retries);
            b->retries++;
        } else {
            sluice_report_batch_failures(c, b, NULL, code, msg);
            sluice_batch_unlink(c, b);
        }
    } else if (c->opts.ack_level == SLUICE_ACK_NONE && id_on_this_connection(c, id)) {
        const none_entry *ne = none_lookup(c, id);
        report_unheld_failures(c, NULL, ne ? ne->n_records : 0, code, msg);
    } else if (id != 0 && !closing) {
        sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "server sent an ERROR for unknown request id %u", id);
        return -1;
    }
    if (closing) {
        sluice_drop_conn(c, code, 0, "server closed the connection: %s: %s", sluice_error_name(code), msg);
        return -1;
    }
    return 0;
}

int sluice_handle_msg(sluice_client *c, const sluice_msg *m) {
    switch (m->type) {
    case SLUICE_T_ACK: return handle_ack(c, m);
    case SLUICE_T_ERROR: return handle_error(c, m);
    case SLUICE_T_PONG:
    case SLUICE_T_STATS_REPLY:
        if (c->aux_state == AUX_WAITING && m->request_id == c->aux_id) {
            if (m->type != c->aux_expect) {
                sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "server answered request %u with the wrong message type %u",
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
        sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "unexpected reply type %u for request id %u", m->type, m->request_id);
        return -1;
    default:
        sluice_drop_conn(c, SLUICE_E_PROTOCOL, 0, "unexpected message type %u after the handshake", m->type);
        return -1;
    }
}
