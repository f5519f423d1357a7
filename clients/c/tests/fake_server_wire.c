/* The fake server's wire: reading whole frames, sending frames, ERROR and HELLO_OK. */
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

/* Reads exactly n bytes, polling so stop requests are seen. 1 ok, 0 EOF/stop/error. */
int fs_read_full(fake_server *s, int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        if (fs_stopping(s)) return 0;
        struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
        int rc = poll(&p, 1, 20);
        if (rc < 0 && errno != EINTR) return 0;
        if (rc <= 0) continue;
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return 0;
        }
        got += (size_t)k;
    }
    return 1;
}

void fs_send_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k <= 0) {
            if (k < 0 && errno == EINTR) continue;
            return; /* the client went away: fine for a test server */
        }
        b += k;
        n -= (size_t)k;
    }
}

void fs_send_frame(int fd, uint8_t type, uint32_t id, const uint8_t *payload, size_t len) {
    uint8_t h[16];
    sluice_frame_header(h, type, 0, id, (uint32_t)len);
    uint8_t *f = malloc(16 + len);
    memcpy(f, h, 16);
    if (len) memcpy(f + 16, payload, len);
    fs_send_all(fd, f, 16 + len);
    free(f);
}

void fs_send_error(int fd, uint32_t id, uint16_t code, uint8_t flags, const char *msg) {
    uint8_t p[128];
    size_t ml = strlen(msg);
    sluice_put16(p, code);
    p[2] = flags;
    p[3] = 0;
    sluice_put16(p + 4, (uint16_t)ml);
    memcpy(p + 6, msg, ml);
    fs_send_frame(fd, SLUICE_T_ERROR, id, p, 6 + ml);
}

uint32_t fs_lim(uint32_t v, uint32_t def) { return v ? v : def; }

void fs_send_hello_ok(fake_server *s, int fd, uint32_t id) {
    uint8_t p[64];
    const fs_config *c = &s->cfg;
    sluice_put16(p, 1);
    sluice_put32(p + 2, fs_lim(c->max_frame_bytes, SLUICE_DEF_MAX_FRAME_BYTES));
    sluice_put32(p + 6, fs_lim(c->max_decompressed_bytes, SLUICE_DEF_MAX_DECOMPRESSED));
    sluice_put32(p + 10, fs_lim(c->max_records, SLUICE_DEF_MAX_RECORDS));
    sluice_put32(p + 14, fs_lim(c->max_record_bytes, SLUICE_DEF_MAX_RECORD_BYTES));
    sluice_put16(p + 18, (uint16_t)fs_lim(c->max_key_bytes, SLUICE_DEF_MAX_KEY_BYTES));
    sluice_put16(p + 20, (uint16_t)fs_lim(c->max_headers, SLUICE_DEF_MAX_HEADERS));
    sluice_put32(p + 22, fs_lim(c->max_header_bytes, SLUICE_DEF_MAX_HEADER_BYTES));
    sluice_put16(p + 26, 6);
    memcpy(p + 28, "fake/1", 6);
    sluice_put32(p + 34, fs_lim(c->max_unacked_bytes, 64u << 20));
    sluice_put32(p + 38, 5000); /* handshake timeout ms */
    sluice_put32(p + 42, 0);    /* idle timeout: never */
    sluice_put32(p + 46, 1024); /* max connections */
    memcpy(p + 50, "\x00\x00\x00\x07", 4); /* a "future" field the client must ignore */
    fs_send_frame(fd, SLUICE_T_HELLO_OK, id, p, 54);
}
