#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include "fake_server.h"

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

#define MAX_LOG 20000

struct fake_server {
    fs_config cfg;
    char dir[64];
    char path[108];
    int own_dir;
    int lfd;
    pthread_t thread;
    pthread_mutex_t mu;
    int stop;
    /* observations */
    int connections, publish_frames, compressed_frames, max_records_in_frame, violations, last_ack_level;
    int bad_done;
    int closed_connections, released;
    uint32_t held_ids[64], held_counts[64]; /* FS_ACKS_THEN_CLOSE: PUBLISH frames not answered yet */
    int nheld;
    fs_record *log;
    size_t nlog;
};

static int stopping(fake_server *s) {
    pthread_mutex_lock(&s->mu);
    int st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

static void violation(fake_server *s, const char *what) {
    pthread_mutex_lock(&s->mu);
    s->violations++;
    pthread_mutex_unlock(&s->mu);
    printf("  fake server: client protocol violation: %s\n", what);
}

/* Reads exactly n bytes, polling so stop requests are seen. 1 ok, 0 EOF/stop/error. */
static int read_full(fake_server *s, int fd, uint8_t *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        if (stopping(s)) return 0;
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

static void send_all(int fd, const void *p, size_t n) {
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

static void send_frame(int fd, uint8_t type, uint32_t id, const uint8_t *payload, size_t len) {
    uint8_t h[16];
    sluice_frame_header(h, type, 0, id, (uint32_t)len);
    uint8_t *f = malloc(16 + len);
    memcpy(f, h, 16);
    if (len) memcpy(f + 16, payload, len);
    send_all(fd, f, 16 + len);
    free(f);
}

static void send_error(int fd, uint32_t id, uint16_t code, uint8_t flags, const char *msg) {
    uint8_t p[128];
    size_t ml = strlen(msg);
    sluice_put16(p, code);
    p[2] = flags;
    p[3] = 0;
    sluice_put16(p + 4, (uint16_t)ml);
    memcpy(p + 6, msg, ml);
    send_frame(fd, SLUICE_T_ERROR, id, p, 6 + ml);
}

static uint32_t lim(uint32_t v, uint32_t def) { return v ? v : def; }

static void send_hello_ok(fake_server *s, int fd, uint32_t id) {
    uint8_t p[64];
    const fs_config *c = &s->cfg;
    sluice_put16(p, 1);
    sluice_put32(p + 2, lim(c->max_frame_bytes, SLUICE_DEF_MAX_FRAME_BYTES));
    sluice_put32(p + 6, lim(c->max_decompressed_bytes, SLUICE_DEF_MAX_DECOMPRESSED));
    sluice_put32(p + 10, lim(c->max_records, SLUICE_DEF_MAX_RECORDS));
    sluice_put32(p + 14, lim(c->max_record_bytes, SLUICE_DEF_MAX_RECORD_BYTES));
    sluice_put16(p + 18, (uint16_t)lim(c->max_key_bytes, SLUICE_DEF_MAX_KEY_BYTES));
    sluice_put16(p + 20, (uint16_t)lim(c->max_headers, SLUICE_DEF_MAX_HEADERS));
    sluice_put32(p + 22, lim(c->max_header_bytes, SLUICE_DEF_MAX_HEADER_BYTES));
    sluice_put16(p + 26, 6);
    memcpy(p + 28, "fake/1", 6);
    memcpy(p + 34, "\x00\x00\x00\x07", 4); /* a "future" field the client must ignore */
    send_frame(fd, SLUICE_T_HELLO_OK, id, p, 38);
}

/* Whether this PUBLISH gets the configured misbehaviour. */
static int bad_now(fake_server *s) {
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
        send_frame(fd, SLUICE_T_ACK, s->held_ids[i], a, sizeof(a));
    }
    if (s->cfg.say_shutting_down)
        send_error(fd, 0, SLUICE_E_SHUTTING_DOWN, SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE, "stopping");
    return -1;
}

/* Handles one PUBLISH. Returns 0 to keep the connection, -1 to close it. */
static int on_publish(fake_server *s, int fd, int conn, const uint8_t *h, uint8_t *payload, size_t plen) {
    uint32_t id = sluice_get32(h + 8);
    uint16_t flags = sluice_get16(h + 4);
    uint8_t *plain = NULL;
    const uint8_t *p = payload;
    uint32_t maxdec = lim(s->cfg.max_decompressed_bytes, SLUICE_DEF_MAX_DECOMPRESSED);
    if (flags & SLUICE_FLAG_COMPRESSED) {
        int rc = sluice_decompress(payload, plen, maxdec, &plain, &plen);
        if (rc) {
            violation(s, "bad zstd frame in PUBLISH");
            send_error(fd, id, (uint16_t)rc, 0, "bad compression");
            return 0;
        }
        p = plain;
    } else if (plen > maxdec) {
        violation(s, "PUBLISH over max decompressed bytes");
    }
    uint8_t ack;
    uint32_t count;
    sluice_payload_cursor cur;
    if (sluice_payload_open(p, plen, &ack, &count, &cur) != 0) {
        violation(s, "PUBLISH payload does not open");
        free(plain);
        send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "malformed");
        return 0;
    }
    if (count > lim(s->cfg.max_records, SLUICE_DEF_MAX_RECORDS)) violation(s, "more records than announced");
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
        if (rv.key_len == 0) violation(s, "empty key");
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
        violation(s, "PUBLISH payload structure");
        send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "malformed");
        return 0;
    }

    if (s->cfg.mode == FS_ACKS_THEN_CLOSE && conn == 1) return hold_then_ack_and_close(s, fd, id, count);
    if (bad_now(s)) {
        uint8_t a[32];
        switch (s->cfg.mode) {
        case FS_DROP_PUBLISH: return -1;
        case FS_GARBAGE: send_all(fd, "this is not a frame\r\n", 21); return 0;
        case FS_TRUNCATED_ACK:
            sluice_put32(a, count);
            sluice_put32(a + 4, 2); /* two failures, but room for one */
            sluice_put32(a + 8, 0);
            sluice_put16(a + 12, 31);
            send_frame(fd, SLUICE_T_ACK, id, a, 14);
            return 0;
        case FS_CLOSE_MID_FRAME:
            sluice_frame_header(a, SLUICE_T_ACK, 0, id, 8);
            send_all(fd, a, 10);
            return -1;
        case FS_ACK_BAD_INDEX:
            sluice_put32(a, count);
            sluice_put32(a + 4, 1);
            sluice_put32(a + 8, count);
            sluice_put16(a + 12, 31);
            send_frame(fd, SLUICE_T_ACK, id, a, 14);
            return 0;
        case FS_ACK_UNKNOWN_ID:
            sluice_put32(a, count);
            sluice_put32(a + 4, 0);
            send_frame(fd, SLUICE_T_ACK, id + 1000, a, 8);
            return 0;
        case FS_HUGE_FRAME:
            sluice_frame_header(a, SLUICE_T_STATS_REPLY, 0, id, 0xfffffff0u);
            send_all(fd, a, 16);
            return 0;
        case FS_OVERLOADED:
            send_error(fd, id, SLUICE_E_OVERLOADED, SLUICE_ERRF_RETRIABLE, "slow down");
            return 0;
        case FS_MALFORMED: send_error(fd, id, SLUICE_E_MALFORMED_PAYLOAD, 0, "broken on purpose"); return 0;
        case FS_SHUTTING_DOWN:
            send_error(fd, id, SLUICE_E_SHUTTING_DOWN, SLUICE_ERRF_CLOSING | SLUICE_ERRF_RETRIABLE, "stopping");
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
    send_frame(fd, SLUICE_T_ACK, id, a, 8 + 6 * (size_t)nfailed);
    free(a);
    return 0;
}

static void serve_conn(fake_server *s, int fd, int conn) {
    int hello_done = 0;
    uint32_t maxframe = lim(s->cfg.max_frame_bytes, SLUICE_DEF_MAX_FRAME_BYTES);
    int hello_bad = (s->cfg.mode == FS_SILENT_HELLO || s->cfg.mode == FS_HELLO_ERROR) &&
                    (s->cfg.bad_count == 0 || conn <= s->cfg.bad_count);
    for (;;) {
        uint8_t h[16];
        if (!read_full(s, fd, h, 16)) return;
        if (h[0] != 'S' || h[1] != 'L' || h[2] != 1 || sluice_get16(h + 6) != 0) {
            violation(s, "bad frame header");
            return;
        }
        uint16_t flags = sluice_get16(h + 4);
        uint32_t plen = sluice_get32(h + 12), id = sluice_get32(h + 8);
        if (flags & ~SLUICE_FLAG_COMPRESSED || ((flags & SLUICE_FLAG_COMPRESSED) && h[3] != SLUICE_T_PUBLISH))
            violation(s, "bad flags");
        if (plen > (h[3] == SLUICE_T_HELLO ? SLUICE_MAX_HELLO : maxframe)) {
            violation(s, "frame over the announced limit");
            return;
        }
        if (id == 0) violation(s, "request id 0");
        uint8_t *payload = malloc(plen ? plen : 1);
        if (!read_full(s, fd, payload, plen)) {
            free(payload);
            return;
        }
        int close_it = 0;
        if (!hello_done) {
            if (h[3] != SLUICE_T_HELLO) {
                violation(s, "first frame is not HELLO");
                close_it = 1;
            } else if (plen < 6 || sluice_get16(payload) != 1 || sluice_get16(payload + 2) != 1 ||
                       sluice_get16(payload + 4) != plen - 6) {
                violation(s, "HELLO payload");
                close_it = 1;
            } else if (hello_bad && s->cfg.mode == FS_SILENT_HELLO) {
                /* say nothing; the client must time out */
            } else if (hello_bad) {
                send_error(fd, id, SLUICE_E_UNSUPPORTED_VERSION, SLUICE_ERRF_CLOSING, "server speaks 7..9");
                close_it = 1;
            } else {
                send_hello_ok(s, fd, id);
                hello_done = 1;
            }
        } else {
            switch (h[3]) {
            case SLUICE_T_PUBLISH: close_it = on_publish(s, fd, conn, h, payload, plen) < 0; break;
            case SLUICE_T_PING:
                if (s->cfg.mode == FS_GARBAGE && bad_now(s)) send_all(fd, "garbage!garbage!garbage!", 24);
                else send_frame(fd, SLUICE_T_PONG, id, payload, plen);
                break;
            case SLUICE_T_STATS: {
                if (s->cfg.mode == FS_GARBAGE && bad_now(s)) {
                    send_all(fd, "{\"not\":\"a frame\"}", 17);
                    break;
                }
                char json[128];
                pthread_mutex_lock(&s->mu);
                int n = snprintf(json, sizeof(json), "{\"uptimeSeconds\":1,\"records\":{\"received\":%zu},\"x\":[]}",
                                 s->nlog);
                pthread_mutex_unlock(&s->mu);
                send_frame(fd, SLUICE_T_STATS_REPLY, id, (const uint8_t *)json, (size_t)n);
                break;
            }
            default: violation(s, "unexpected frame type"); break;
            }
        }
        free(payload);
        if (close_it) return;
    }
}

static void *server_main(void *arg) {
    fake_server *s = arg;
    while (!stopping(s)) {
        struct pollfd p = {.fd = s->lfd, .events = POLLIN, .revents = 0};
        int rc = poll(&p, 1, 20);
        if (rc <= 0) continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&s->mu);
        int conn = ++s->connections;
        pthread_mutex_unlock(&s->mu);
        serve_conn(s, fd, conn);
        close(fd);
        pthread_mutex_lock(&s->mu);
        s->closed_connections++;
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

fake_server *fs_start(const fs_config *cfg) {
    fake_server *s = calloc(1, sizeof(*s));
    s->cfg = *cfg;
    s->log = calloc(MAX_LOG, sizeof(fs_record));
    pthread_mutex_init(&s->mu, NULL);
    if (cfg->path) {
        snprintf(s->path, sizeof(s->path), "%s", cfg->path);
    } else {
        snprintf(s->dir, sizeof(s->dir), "/tmp/sluice-c-test-XXXXXX");
        if (mkdtemp(s->dir) == NULL) {
            perror("mkdtemp");
            abort();
        }
        s->own_dir = 1;
        snprintf(s->path, sizeof(s->path), "%s/gw.sock", s->dir);
    }
    s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
    unlink(s->path);
    if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->lfd, 16) < 0) {
        perror("fake server bind/listen");
        abort();
    }
    pthread_create(&s->thread, NULL, server_main, s);
    return s;
}

const char *fs_path(const fake_server *s) { return s->path; }

void fs_stop(fake_server *s) {
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    close(s->lfd);
    unlink(s->path);
    if (s->own_dir) rmdir(s->dir);
    pthread_mutex_destroy(&s->mu);
    free(s->log);
    free(s);
}

#define GETTER(name, field)                                                                                          \
    int name(fake_server *s) {                                                                                       \
        pthread_mutex_lock(&s->mu);                                                                                  \
        int v = s->field;                                                                                            \
        pthread_mutex_unlock(&s->mu);                                                                                \
        return v;                                                                                                    \
    }
GETTER(fs_connections, connections)
GETTER(fs_publish_frames, publish_frames)
GETTER(fs_compressed_frames, compressed_frames)
GETTER(fs_max_records_in_frame, max_records_in_frame)
GETTER(fs_violations, violations)
GETTER(fs_last_ack_level, last_ack_level)
GETTER(fs_closed_connections, closed_connections)

void fs_release(fake_server *s) {
    pthread_mutex_lock(&s->mu);
    s->released = 1;
    pthread_mutex_unlock(&s->mu);
}

size_t fs_records(fake_server *s, fs_record *out, size_t max) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->nlog < max ? s->nlog : max;
    if (out) memcpy(out, s->log, n * sizeof(*out));
    size_t total = s->nlog;
    pthread_mutex_unlock(&s->mu);
    return out ? n : total;
}
