/* The fake server's answer to a PUBLISH: decode, record, ACK, or the configured misbehaviour. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "fake_server_impl.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "encode.h"
#include "proto.h"
#include "sluice.h"

/* Whether this PUBLISH gets the configured misbehaviour. */
int fs_bad_now(fake_server *s) {
    if (s->cfg.mode == FS_NORMAL) return 0;
    pthread_mutex_lock(&s->mu);
    int bad = s->cfg.bad_count == 0 || s->bad_done < s->cfg.bad_count;
    if (bad) s->bad_done++;
    pthread_mutex_unlock(&s->mu);
    return bad;
}

/* FS_ACKS_THEN_CLOSE: holds the ACK of this PUBLISH; at the bad_count-th, waits for
 * fs_release(), sends every held ACK (then SHUTTING_DOWN if asked) and closes. */
static int hold_then_ack_and_close(fake_server *s, int fd, uint32_t id, uint32_t count) {
    if (s->nheld < 64) {
        s->held_ids[s->nheld] = id;
        s->held_counts[s->nheld] = count;
        s->nheld++;
    }
    if (s->nheld < s->cfg.bad_count) return 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int go = s->released || s->stop;
        pthread_mutex_unlock(&s->mu);
        if (go) break;
        poll(NULL, 0, 2);
    }
    for (int i = 0; i < s->nheld; i++) {
        uint8_t a[8];
        sluice_put32(a, s->held_counts[i]);
        sluice_put32(a + 4, 0);
        fs_send_frame(fd, SLUICE_T_ACK, s->held_ids[i], a, sizeof(a));
    }
    if (s->cfg.say_shutting_down)
        fs_send_error(fd, 0, SLUICE_E_SHUTTING_DOWN, SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE, "stopping");
    return -1;
}

/* Handles one PUBLISH. Returns 0 to keep the connection, -1 to close it. */
int fs_on_publish(fake_server *s, int fd, int conn, const uint8_t *h, uint8_t *payload, size_t plen) {
    uint32_t id = sluice_get32(h + 8);
    uint16_t flags = sluice_get16(h + 4);
    uint8_t *plain = NULL;
    const uint8_t *p = payload;
    uint32_t maxdec = fs_lim(s->cfg.max_decompressed_bytes, SLUICE_DEF_MAX_DECOMPRESSED);
    if (flags & SLUICE_FLAG_COMPRESSED) {
        int rc = sluice_decompress(payload, plen, maxdec, &plain, &plen);
        if (rc) {
            fs_violation(s, "bad zstd frame in PUBLISH");
            fs_send_error(fd, id, (uint16_t)rc, 0, "bad compression");
            return 0;
        }
        p = plain;
    } else if (plen > maxdec) {
        fs_violation(s, "PUBLISH over max decompressed bytes");
    }
    uint8_t ack;
    uint32_t count;
    sluice_payload_cursor cur;
    if (sluice_payload_open(p, plen, &ack, &count, &cur) != 0) {
        fs_violation(s, "PUBLISH payload does not open");
        free(plain);
        fs_send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "malformed");
        return 0;
    }
    if (count > fs_lim(s->cfg.max_records, SLUICE_DEF_MAX_RECORDS)) fs_violation(s, "more records than announced");
    uint32_t failed_idx[64];
    uint32_t nfailed = 0;
    pthread_mutex_lock(&s->mu);
    s->publish_frames++;
    if (flags & SLUICE_FLAG_COMPRESSED) s->compressed_frames++;
    if ((int)count > s->max_records_in_frame) s->max_records_in_frame = (int)count;
    s->last_ack_level = ack;
    int frame_no = s->publish_frames;
    pthread_mutex_unlock(&s->mu);
    sluice_rec_view rv;
    uint32_t idx = 0;
    int rc;
    while ((rc = sluice_payload_next(&cur, &rv)) == 1) {
        if (rv.key_len == 0) fs_violation(s, "empty key");
        fs_record r;
        memset(&r, 0, sizeof(r));
        memcpy(r.event_id, rv.event_id, 16);
        snprintf(r.key, sizeof(r.key), "%.*s", (int)rv.key_len, (const char *)rv.key);
        snprintf(r.value, sizeof(r.value), "%.*s", (int)(rv.value_len < 60 ? rv.value_len : 60),
                 (const char *)rv.value);
        r.timestamp_ms = rv.timestamp_ms;
        r.conn = conn;
        r.frame = frame_no;
        r.request_id = id;
        r.n_headers = rv.n_headers;
        pthread_mutex_lock(&s->mu);
        if (s->nlog < MAX_LOG) s->log[s->nlog++] = r;
        pthread_mutex_unlock(&s->mu);
        if (s->cfg.reject_key && strcmp(r.key, s->cfg.reject_key) == 0 && nfailed < 64) failed_idx[nfailed++] = idx;
        idx++;
    }
    free(plain);
    if (rc < 0) {
        fs_violation(s, "PUBLISH payload structure");
        fs_send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "malformed");
        return 0;
    }

    if (s->cfg.mode == FS_ACKS_THEN_CLOSE && conn == 1) return hold_then_ack_and_close(s, fd, id, count);
    if (fs_bad_now(s)) {
        uint8_t a[32];
        switch (s->cfg.mode) {
        case FS_DROP_PUBLISH: return -1;
        case FS_GARBAGE: fs_send_all(fd, "this is not a frame\r\n", 21); return 0;
        case FS_TRUNCATED_ACK:
            sluice_put32(a, count);
            sluice_put32(a + 4, 2); /* two failures, but room for one */
            sluice_put32(a + 8, 0);
            sluice_put16(a + 12, 31);
            fs_send_frame(fd, SLUICE_T_ACK, id, a, 14);
            return 0;
        case FS_CLOSE_MID_FRAME:
            sluice_frame_header(a, SLUICE_T_ACK, 0, id, 8);
            fs_send_all(fd, a, 10);
            return -1;
        case FS_ACK_BAD_INDEX:
            sluice_put32(a, count);
            sluice_put32(a + 4, 1);
            sluice_put32(a + 8, count);
            sluice_put16(a + 12, 31);
            fs_send_frame(fd, SLUICE_T_ACK, id, a, 14);
            return 0;
        case FS_ACK_UNKNOWN_ID:
            sluice_put32(a, count);
            sluice_put32(a + 4, 0);
            fs_send_frame(fd, SLUICE_T_ACK, id + 1000, a, 8);
            return 0;
        case FS_HUGE_FRAME:
            sluice_frame_header(a, SLUICE_T_STATS_REPLY, 0, id, 0xfffffff0u);
            fs_send_all(fd, a, 16);
            return 0;
        case FS_OVERLOADED:
            fs_send_error(fd, id, SLUICE_E_OVERLOADED, SLUICE_ERRF_RETRIABLE, "slow down");
            return 0;
        case FS_MALFORMED: fs_send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "broken on purpose"); return 0;
        case FS_SHUTTING_DOWN:
            fs_send_error(fd, id, SLUICE_E_SHUTTING_DOWN, SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE, "stopping");
            return -1;
        case FS_NO_ACK: return 0;
        default: break;
        }
    }
    if (s->cfg.ack_delay_ms > 0) poll(NULL, 0, s->cfg.ack_delay_ms);
    if (ack == SLUICE_ACK_NONE && nfailed == 0) return 0; /* ack none: only failures are answered */
    uint8_t *a = malloc(8 + 6 * (size_t)nfailed);
    sluice_put32(a, count);
    sluice_put32(a + 4, nfailed);
    for (uint32_t i = 0; i < nfailed; i++) {
        sluice_put32(a + 8 + 6 * i, failed_idx[i]);
        sluice_put16(a + 12 + 6 * i, SLUICE_E_REJECTED_BY_BROKER);
    }
    fs_send_frame(fd, SLUICE_T_ACK, id, a, 8 + 6 * (size_t)nfailed);
    free(a);
    return 0;
}
