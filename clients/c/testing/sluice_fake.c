/* A fake Sluice gateway for application tests (sluice_fake.h): one thread polling a
 * listening Unix socket and its connections, protocol v1, records kept in memory.
 * Self-contained: it uses none of libsluice's internal functions, so it links next to
 * either the static or the shared libsluice. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "sluice_fake.h"

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

#define MAX_CONNS 64
#define MAX_PAYLOAD (16u * 1024u * 1024u)

typedef struct rule {
    char *topic, *key; /* NULL: any */
    size_t key_len;
    int code;
    int left; /* records it may still fail; -1: no limit */
} rule;

typedef struct conn {
    int fd;
    int hello_done;
    uint8_t *buf;
    size_t len, cap;
} conn;

struct sluice_fake {
    char dir[64];
    char path[100];
    int lfd;
    int wake[2]; /* a pipe: sluice_fake_stop() wakes the thread */
    pthread_t thread;
    pthread_mutex_t mu;
    conn conns[MAX_CONNS];
    sluice_fake_record *recs;
    size_t nrecs, caprecs;
    rule *rules;
    size_t nrules;
};

/* ---- recording ------------------------------------------------------------------ */

static char *dup_bytes(const uint8_t *p, size_t n) {
    char *s = malloc(n + 1);
    if (s == NULL) return NULL;
    if (n) memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void free_record(sluice_fake_record *r) {
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
static int failure_for(sluice_fake *f, const sluice_fake_record *r) {
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

typedef struct {
    const uint8_t *p;
    size_t left;
} rd;

static int take(rd *c, size_t n, const uint8_t **out) {
    if (c->left < n) return -1;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return 0;
}

static int take_sized(rd *c, size_t width, const uint8_t **out, size_t *n) {
    const uint8_t *l;
    if (take(c, width, &l) < 0) return -1;
    *n = width == 2 ? sluice_get16(l) : sluice_get32(l);
    return take(c, *n, out);
}

/* Decodes one record into r (owning copies). 0, or -1 when malformed or out of memory. */
static int decode_record(rd *c, sluice_fake_record *r, int ack_level) {
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

static void send_frame(int fd, uint8_t type, uint32_t id, const uint8_t *payload, size_t len) {
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

static void send_error(int fd, uint32_t id, uint16_t code, uint8_t flags, const char *message) {
    uint8_t p[6 + 128];
    size_t n = strlen(message);
    if (n > 128) n = 128;
    sluice_put16(p, code);
    p[2] = flags;
    p[3] = 0;
    sluice_put16(p + 4, (uint16_t)n);
    memcpy(p + 6, message, n);
    send_frame(fd, SLUICE_T_ERROR, id, p, 6 + n);
}

static void send_hello_ok(int fd, uint32_t id) {
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
    send_frame(fd, SLUICE_T_HELLO_OK, id, p, 28 + nl + 16);
}

/* Records a PUBLISH payload's records and answers with an ACK (or an ERROR for a broken one). */
static void on_publish(sluice_fake *f, int fd, uint32_t id, uint16_t flags, const uint8_t *payload, size_t len) {
    uint8_t *plain = NULL;
    if (flags & SLUICE_FLAG_COMPRESSED) {
        unsigned long long size = ZSTD_getFrameContentSize(payload, len);
        if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > SLUICE_DEF_MAX_DECOMPRESSED ||
            (plain = malloc(size ? (size_t)size : 1)) == NULL ||
            ZSTD_isError(ZSTD_decompress(plain, (size_t)size, payload, len))) {
            free(plain);
            send_error(fd, id, SLUICE_E_BAD_COMPRESSION, 0, "fake: bad zstd frame");
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
    while (batch && decoded < count && decode_record(&c, &batch[decoded], pre[0]) == 0) decoded++;
    if (batch && decoded < count) free_record(&batch[decoded]);
    if (!batch || decoded < count || c.left != 0) {
        for (uint32_t i = 0; i < decoded; i++) free_record(&batch[i]);
        free(batch);
        free(plain);
        send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "fake: malformed PUBLISH payload");
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
        batch[i].failure_code = failure_for(f, &batch[i]);
        if (batch[i].failure_code && ack) {
            sluice_put32(ack + 8 + 6 * failed, i);
            sluice_put16(ack + 12 + 6 * failed, (uint16_t)batch[i].failure_code);
            failed++;
        }
        if (f->nrecs < f->caprecs) f->recs[f->nrecs++] = batch[i];
        else free_record(&batch[i]);
    }
    pthread_mutex_unlock(&f->mu);
    if (ack && (pre[0] != SLUICE_ACK_NONE || failed > 0)) {
        sluice_put32(ack, count);
        sluice_put32(ack + 4, failed);
        send_frame(fd, SLUICE_T_ACK, id, ack, 8 + 6 * (size_t)failed);
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
            send_error(k->fd, 0, SLUICE_E_BAD_MAGIC, SLUICE_ERRF_CLOSING, "fake: not a version 1 frame");
            rc = -1;
            break;
        }
        if (k->len - off < SLUICE_HDR_LEN + (size_t)len) break;
        const uint8_t *payload = h + SLUICE_HDR_LEN;
        off += SLUICE_HDR_LEN + (size_t)len;
        if (!k->hello_done) {
            if (h[3] != SLUICE_T_HELLO) {
                send_error(k->fd, id, SLUICE_E_PROTOCOL_STATE, SLUICE_ERRF_CLOSING, "fake: HELLO first");
                rc = -1;
                break;
            }
            send_hello_ok(k->fd, id);
            k->hello_done = 1;
            continue;
        }
        switch (h[3]) {
        case SLUICE_T_PUBLISH: on_publish(f, k->fd, id, flags, payload, len); break;
        case SLUICE_T_PING: send_frame(k->fd, SLUICE_T_PONG, id, payload, len); break;
        case SLUICE_T_STATS: {
            char json[96];
            pthread_mutex_lock(&f->mu);
            int n = snprintf(json, sizeof(json), "{\"records\":{\"received\":%zu}}", f->nrecs);
            pthread_mutex_unlock(&f->mu);
            send_frame(k->fd, SLUICE_T_STATS_REPLY, id, (const uint8_t *)json, (size_t)n);
            break;
        }
        default: send_error(k->fd, id, SLUICE_E_UNKNOWN_TYPE, 0, "fake: unexpected frame type"); break;
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

static void *serve(void *arg) {
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
                send_error(fd, 0, SLUICE_E_TOO_MANY_CONNECTIONS, SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE,
                           "fake: too many connections");
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

/* ---- the public calls --------------------------------------------------------------- */

sluice_fake *sluice_fake_start(void) {
    sluice_fake *f = calloc(1, sizeof(*f));
    if (f == NULL) return NULL;
    f->lfd = f->wake[0] = f->wake[1] = -1;
    for (int i = 0; i < MAX_CONNS; i++) f->conns[i].fd = -1;
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 40) tmp = "/tmp";
    snprintf(f->dir, sizeof(f->dir), "%s/sluice-fake-XXXXXX", tmp);
    if (mkdtemp(f->dir) == NULL) {
        int e = errno;
        free(f);
        errno = e;
        return NULL;
    }
    snprintf(f->path, sizeof(f->path), "%s/gateway.sock", f->dir);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(f->lfd, 64) < 0 ||
        pipe2(f->wake, O_CLOEXEC) < 0) {
        int e = errno;
        if (f->lfd >= 0) close(f->lfd);
        unlink(f->path);
        rmdir(f->dir);
        free(f);
        errno = e;
        return NULL;
    }
    pthread_mutex_init(&f->mu, NULL);
    int e = pthread_create(&f->thread, NULL, serve, f);
    if (e != 0) {
        close(f->lfd);
        close(f->wake[0]);
        close(f->wake[1]);
        unlink(f->path);
        rmdir(f->dir);
        pthread_mutex_destroy(&f->mu);
        free(f);
        errno = e;
        return NULL;
    }
    return f;
}

const char *sluice_fake_socket_path(const sluice_fake *f) { return f->path; }

void sluice_fake_fail(sluice_fake *f, const char *topic, const char *key, int code, int times) {
    pthread_mutex_lock(&f->mu);
    rule *grown = realloc(f->rules, (f->nrules + 1) * sizeof(*grown));
    if (grown) {
        f->rules = grown;
        rule *u = &f->rules[f->nrules++];
        u->topic = topic ? strdup(topic) : NULL;
        u->key = key ? strdup(key) : NULL;
        u->key_len = key ? strlen(key) : 0;
        u->code = code;
        u->left = times > 0 ? times : -1;
    }
    pthread_mutex_unlock(&f->mu);
}

size_t sluice_fake_count(sluice_fake *f) {
    pthread_mutex_lock(&f->mu);
    size_t n = f->nrecs;
    pthread_mutex_unlock(&f->mu);
    return n;
}

int sluice_fake_record_at(sluice_fake *f, size_t i, sluice_fake_record *out) {
    pthread_mutex_lock(&f->mu);
    int found = i < f->nrecs;
    if (found) *out = f->recs[i];
    pthread_mutex_unlock(&f->mu);
    return found ? 0 : -1;
}

size_t sluice_fake_count_published(sluice_fake *f, const char *topic, const char *key) {
    size_t klen = key ? strlen(key) : 0, n = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nrecs; i++) {
        const sluice_fake_record *r = &f->recs[i];
        if (topic && strcmp(topic, r->topic) != 0) continue;
        if (key && (klen != r->key_len || memcmp(key, r->key, klen) != 0)) continue;
        n++;
    }
    pthread_mutex_unlock(&f->mu);
    return n;
}

void sluice_fake_reset(sluice_fake *f) {
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nrecs; i++) free_record(&f->recs[i]);
    f->nrecs = 0;
    for (size_t i = 0; i < f->nrules; i++) {
        free(f->rules[i].topic);
        free(f->rules[i].key);
    }
    f->nrules = 0;
    pthread_mutex_unlock(&f->mu);
}

void sluice_fake_stop(sluice_fake *f) {
    if (f == NULL) return;
    ssize_t w;
    do {
        w = write(f->wake[1], "x", 1);
    } while (w < 0 && errno == EINTR);
    pthread_join(f->thread, NULL);
    close(f->lfd);
    close(f->wake[0]);
    close(f->wake[1]);
    unlink(f->path);
    rmdir(f->dir);
    sluice_fake_reset(f);
    free(f->recs);
    free(f->rules);
    pthread_mutex_destroy(&f->mu);
    free(f);
}
