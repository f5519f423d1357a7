/* The fake gateway's thread: polls the listening socket and its connections, reads
 * frames and answers them (a PUBLISH is recorded and acknowledged). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "sluice_fake_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zstd.h>

#include "proto.h"

/* Records a PUBLISH payload's records and answers with an ACK (or an ERROR for a broken one). */
static void on_publish(sluice_fake *f, int fd, uint32_t id, uint16_t flags, const uint8_t *payload, size_t len) {
    uint8_t *plain = NULL;
    if (flags & SLUICE_FLAG_COMPRESSED) {
        unsigned long long size = ZSTD_getFrameContentSize(payload, len);
        if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > SLUICE_DEF_MAX_DECOMPRESSED ||
            (plain = malloc(size ? (size_t)size : 1)) == NULL ||
            ZSTD_isError(ZSTD_decompress(plain, (size_t)size, payload, len))) {
            free(plain);
            sluice_fake_send_error(fd, id, SLUICE_E_BAD_COMPRESSION, 0, "fake: bad zstd frame");
            return;
        }
        payload = plain;
        len = (size_t)size;
    }
    rd c = {payload, len};
    const uint8_t *pre = NULL;
    uint32_t count = 0;
    int ok = take(&c, SLUICE_PUBLISH_PREAMBLE, &pre) == 0 && pre[0] <= SLUICE_ACK_NONE && pre[1] == 0 &&
             (count = sluice_get32(pre + 2)) > 0 && count <= SLUICE_DEF_MAX_RECORDS;
    sluice_fake_record *batch = ok ? calloc(count, sizeof(*batch)) : NULL;
    uint32_t decoded = 0;
    while (batch && decoded < count && sluice_fake_decode_record(&c, &batch[decoded], pre[0]) == 0) decoded++;
    if (batch && decoded < count) sluice_fake_free_record(&batch[decoded]);
    if (!batch || decoded < count || c.left != 0) {
        for (uint32_t i = 0; i < decoded; i++) sluice_fake_free_record(&batch[i]);
        free(batch);
        free(plain);
        sluice_fake_send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "fake: malformed PUBLISH payload");
        return;
    }
    uint8_t *ack = malloc(8 + 6 * (size_t)count);
    uint32_t failed = 0;
    pthread_mutex_lock(&f->mu);
    if (f->nrecs + count > f->caprecs) {
        size_t cap = f->caprecs ? f->caprecs : 256;
        while (cap < f->nrecs + count) cap *= 2;
        sluice_fake_record *grown = realloc(f->recs, cap * sizeof(*grown));
        if (grown) {
            f->recs = grown;
            f->caprecs = cap;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        batch[i].failure_code = sluice_fake_failure_for(f, &batch[i]);
        if (batch[i].failure_code && ack) {
            sluice_put32(ack + 8 + 6 * failed, i);
            sluice_put16(ack + 12 + 6 * failed, (uint16_t)batch[i].failure_code);
            failed++;
        }
        if (f->nrecs < f->caprecs) f->recs[f->nrecs++] = batch[i];
        else sluice_fake_free_record(&batch[i]);
    }
    pthread_mutex_unlock(&f->mu);
    if (ack && (pre[0] != SLUICE_ACK_NONE || failed > 0)) {
        sluice_put32(ack, count);
        sluice_put32(ack + 4, failed);
        sluice_fake_send_frame(fd, SLUICE_T_ACK, id, ack, 8 + 6 * (size_t)failed);
    }
    free(ack);
    free(batch);
    free(plain);
}

/* Handles the complete frames in k's buffer. 0, or -1 to close the connection. */
static int handle_frames(sluice_fake *f, conn *k) {
    size_t off = 0;
    int rc = 0;
    while (k->len - off >= SLUICE_HDR_LEN) {
        const uint8_t *h = k->buf + off;
        uint32_t len = sluice_get32(h + 12), id = sluice_get32(h + 8);
        uint16_t flags = sluice_get16(h + 4);
        if (h[0] != SLUICE_MAGIC0 || h[1] != SLUICE_MAGIC1 || h[2] != SLUICE_V1 || len > MAX_PAYLOAD) {
            sluice_fake_send_error(k->fd, 0, SLUICE_E_BAD_MAGIC, SLUICE_ERRF_CLOSING, "fake: not a version 1 frame");
            rc = -1;
            break;
        }
        if (k->len - off < SLUICE_HDR_LEN + (size_t)len) break;
        const uint8_t *payload = h + SLUICE_HDR_LEN;
        off += SLUICE_HDR_LEN + (size_t)len;
        if (!k->hello_done) {
            if (h[3] != SLUICE_T_HELLO) {
                sluice_fake_send_error(k->fd, id, SLUICE_E_PROTOCOL_STATE, SLUICE_ERRF_CLOSING, "fake: HELLO first");
                rc = -1;
                break;
            }
            sluice_fake_send_hello_ok(k->fd, id);
            k->hello_done = 1;
            continue;
        }
        switch (h[3]) {
        case SLUICE_T_PUBLISH: on_publish(f, k->fd, id, flags, payload, len); break;
        case SLUICE_T_PING: sluice_fake_send_frame(k->fd, SLUICE_T_PONG, id, payload, len); break;
        case SLUICE_T_STATS: {
            char json[96];
            pthread_mutex_lock(&f->mu);
            int n = snprintf(json, sizeof(json), "{\"records\":{\"received\":%zu}}", f->nrecs);
            pthread_mutex_unlock(&f->mu);
            sluice_fake_send_frame(k->fd, SLUICE_T_STATS_REPLY, id, (const uint8_t *)json, (size_t)n);
            break;
        }
        default: sluice_fake_send_error(k->fd, id, SLUICE_E_UNKNOWN_TYPE, 0, "fake: unexpected frame type"); break;
        }
    }
    memmove(k->buf, k->buf + off, k->len - off);
    k->len -= off;
    return rc;
}

static void close_conn(conn *k) {
    close(k->fd);
    free(k->buf);
    memset(k, 0, sizeof(*k));
    k->fd = -1;
}

/* Reads what k has; 0, or -1 when it closed (or broke the protocol). */
static int read_conn(sluice_fake *f, conn *k) {
    if (k->cap - k->len < 65536) {
        size_t cap = k->cap ? k->cap * 2 : 131072;
        if (cap > MAX_PAYLOAD + 2 * 65536) cap = MAX_PAYLOAD + 2 * 65536;
        uint8_t *grown = cap > k->cap ? realloc(k->buf, cap) : NULL;
        if (grown == NULL && k->cap - k->len == 0) return -1;
        if (grown) {
            k->buf = grown;
            k->cap = cap;
        }
    }
    ssize_t n = recv(k->fd, k->buf + k->len, k->cap - k->len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    if (n <= 0) return -1;
    k->len += (size_t)n;
    return handle_frames(f, k);
}

void *sluice_fake_serve(void *arg) {
    sluice_fake *f = arg;
    for (;;) {
        struct pollfd p[MAX_CONNS + 2];
        int idx[MAX_CONNS + 2];
        nfds_t n = 0;
        p[n++] = (struct pollfd){.fd = f->wake[0], .events = POLLIN, .revents = 0};
        p[n++] = (struct pollfd){.fd = f->lfd, .events = POLLIN, .revents = 0};
        for (int i = 0; i < MAX_CONNS; i++) {
            if (f->conns[i].fd < 0) continue;
            idx[n] = i;
            p[n++] = (struct pollfd){.fd = f->conns[i].fd, .events = POLLIN, .revents = 0};
        }
        if (poll(p, n, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (p[0].revents) break;
        for (nfds_t j = 2; j < n; j++)
            if (p[j].revents && read_conn(f, &f->conns[idx[j]]) < 0) close_conn(&f->conns[idx[j]]);
        if (p[1].revents & POLLIN) {
            int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) continue;
            int slot = -1;
            for (int i = 0; i < MAX_CONNS && slot < 0; i++)
                if (f->conns[i].fd < 0) slot = i;
            if (slot < 0) {
                sluice_fake_send_error(fd, 0, SLUICE_E_TOO_MANY_CONNECTIONS,
                                       SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE, "fake: too many connections");
                close(fd);
                continue;
            }
            f->conns[slot].fd = fd;
        }
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (f->conns[i].fd >= 0) close_conn(&f->conns[i]);
    return NULL;
}
