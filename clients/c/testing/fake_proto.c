/* The fake gateway's side of the protocol: the failure rules and recorded records,
 * decoding a PUBLISH payload, and encoding its replies (HELLO_OK, ACK, ERROR). */
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

/* ---- recording ------------------------------------------------------------------ */

static char *dup_bytes(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (s == NULL) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

void sluice_fake_free_record(sluice_fake_record *r) {
    free((void *)r->topic);
    free((void *)r->key);
    free((void *)r->event_type);
    free((void *)r->value);
    for (size_t i = 0; i < r->n_headers; i++) {
        free((void *)r->headers[i].name);
        free((void *)r->headers[i].value);
    }
    free((void *)r->headers);
}

/* The code the rules give r (0: none); spends a limited rule. Called with mu held. */
int sluice_fake_failure_for(sluice_fake *f, const sluice_fake_record *r) {
    for (size_t i = 0; i < f->nrules; i++) {
        rule *u = &f->rules[i];
        if (u->left == 0) continue;
        if (u->topic && strcmp(u->topic, r->topic) != 0) continue;
        if (u->key && (u->key_len != r->key_len || memcmp(u->key, r->key, r->key_len) != 0)) continue;
        if (u->left > 0) u->left--;
        return u->code;
    }
    return 0;
}

/* ---- decoding a PUBLISH ----------------------------------------------------------- */

static int take_sized(rd *c, size_t width, const uint8_t **out, size_t *n) {
    const uint8_t *l;
    if (take(c, width, &l) < 0) return -1;
    *n = width == 2 ? sluice_get16(l) : sluice_get32(l);
    return take(c, *n, out);
}

/* Decodes one record into r (owning copies). 0, or -1 when malformed or out of memory. */
int sluice_fake_decode_record(rd *c, sluice_fake_record *r, int ack_level) {
    const uint8_t *topic, *key, *type, *id, *ts, *nh, *value;
    size_t topic_len, key_len, type_len, value_len;
    memset(r, 0, sizeof(*r));
    if (take_sized(c, 2, &topic, &topic_len) < 0 || take_sized(c, 2, &key, &key_len) < 0 ||
        take_sized(c, 2, &type, &type_len) < 0 || take(c, 16, &id) < 0 || take(c, 8, &ts) < 0 || take(c, 2, &nh) < 0)
        return -1;
    size_t n_headers = sluice_get16(nh);
    sluice_header *headers = calloc(n_headers ? n_headers : 1, sizeof(*headers));
    r->headers = headers;
    r->n_headers = headers ? n_headers : 0;
    r->topic = dup_bytes(topic, topic_len);
    r->key = dup_bytes(key, key_len);
    r->key_len = key_len;
    r->event_type = dup_bytes(type, type_len);
    memcpy(r->event_id, id, 16);
    r->timestamp_ms = (int64_t)sluice_get64(ts);
    r->ack_level = ack_level;
    if (!headers || !r->topic || !r->key || !r->event_type) return -1;
    for (size_t i = 0; i < r->n_headers; i++) {
        const uint8_t *name, *hv;
        size_t name_len, hv_len;
        if (take_sized(c, 2, &name, &name_len) < 0 || take_sized(c, 4, &hv, &hv_len) < 0) return -1;
        headers[i].name = dup_bytes(name, name_len);
        headers[i].value = dup_bytes(hv, hv_len);
        headers[i].value_len = hv_len;
        if (!headers[i].name || !headers[i].value) return -1;
    }
    if (take_sized(c, 4, &value, &value_len) < 0) return -1;
    r->value = dup_bytes(value, value_len);
    r->value_len = value_len;
    return r->value ? 0 : -1;
}

/* ---- replies ---------------------------------------------------------------------- */

static void send_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd w = {.fd = fd, .events = POLLOUT, .revents = 0};
            if (poll(&w, 1, 5000) <= 0) return;
            continue;
        }
        if (k <= 0) return; /* the client went away; its connection is closed on the next read */
        p += k;
        n -= (size_t)k;
    }
}

void sluice_fake_send_frame(int fd, uint8_t type, uint32_t id, const uint8_t *payload, size_t len) {
    uint8_t *frame = malloc(SLUICE_HDR_LEN + len);
    if (frame == NULL) return;
    memset(frame, 0, SLUICE_HDR_LEN);
    frame[0] = SLUICE_MAGIC0;
    frame[1] = SLUICE_MAGIC1;
    frame[2] = SLUICE_V1;
    frame[3] = type;
    sluice_put32(frame + 8, id);
    sluice_put32(frame + 12, (uint32_t)len);
    if (len) memcpy(frame + SLUICE_HDR_LEN, payload, len);
    send_all(fd, frame, SLUICE_HDR_LEN + len);
    free(frame);
}

void sluice_fake_send_error(int fd, uint32_t id, uint16_t code, uint8_t flags, const char *message) {
    uint8_t p[6 + 128];
    size_t n = strlen(message);
    if (n > 128) n = 128;
    sluice_put16(p, code);
    p[2] = flags;
    p[3] = 0;
    sluice_put16(p + 4, (uint16_t)n);
    memcpy(p + 6, message, n);
    sluice_fake_send_frame(fd, SLUICE_T_ERROR, id, p, 6 + n);
}

void sluice_fake_send_hello_ok(int fd, uint32_t id) {
    static const char name[] = "sluice-fake/1";
    uint8_t p[SLUICE_HELLO_OK_FIXED + 2 + sizeof(name) + 16];
    size_t nl = sizeof(name) - 1;
    sluice_put16(p, SLUICE_V1);
    sluice_put32(p + 2, SLUICE_DEF_MAX_FRAME_BYTES);
    sluice_put32(p + 6, SLUICE_DEF_MAX_DECOMPRESSED);
    sluice_put32(p + 10, SLUICE_DEF_MAX_RECORDS);
    sluice_put32(p + 14, SLUICE_DEF_MAX_RECORD_BYTES);
    sluice_put16(p + 18, SLUICE_DEF_MAX_KEY_BYTES);
    sluice_put16(p + 20, SLUICE_DEF_MAX_HEADERS);
    sluice_put32(p + 22, SLUICE_DEF_MAX_HEADER_BYTES);
    sluice_put16(p + 26, (uint16_t)nl);
    memcpy(p + 28, name, nl);
    uint8_t *t = p + 28 + nl;
    sluice_put32(t, 64u * 1024u * 1024u); /* max unacked bytes */
    sluice_put32(t + 4, 5000);            /* handshake timeout ms */
    sluice_put32(t + 8, 0);               /* idle timeout: never */
    sluice_put32(t + 12, MAX_CONNS);      /* max connections */
    sluice_fake_send_frame(fd, SLUICE_T_HELLO_OK, id, p, 28 + nl + 16);
}
