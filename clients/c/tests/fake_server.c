/* The fake server: its thread, one connection's loop, start and stop, observations. */
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

int fs_stopping(fake_server *s) {
    pthread_mutex_lock(&s->mu);
    int st = s->stop;
    pthread_mutex_unlock(&s->mu);
    return st;
}

void fs_violation(fake_server *s, const char *what) {
    pthread_mutex_lock(&s->mu);
    s->violations++;
    pthread_mutex_unlock(&s->mu);
    printf("  fake server: client protocol violation: %s\n", what);
}

static void serve_conn(fake_server *s, int fd, int conn) {
    int hello_done = 0;
    uint32_t maxframe = fs_lim(s->cfg.max_frame_bytes, SLUICE_DEF_MAX_FRAME_BYTES);
    int hello_bad = (s->cfg.mode == FS_SILENT_HELLO || s->cfg.mode == FS_HELLO_ERROR) &&
                    (s->cfg.bad_count == 0 || conn <= s->cfg.bad_count);
    for (;;) {
        uint8_t h[16];
        if (!fs_read_full(s, fd, h, 16)) return;
        if (h[0] != 'S' || h[1] != 'L' || h[2] != 1 || sluice_get16(h + 6) != 0) {
            fs_violation(s, "bad frame header");
            return;
        }
        uint16_t flags = sluice_get16(h + 4);
        uint32_t plen = sluice_get32(h + 12), id = sluice_get32(h + 8);
        if (flags & ~SLUICE_FLAG_COMPRESSED || ((flags & SLUICE_FLAG_COMPRESSED) && h[3] != SLUICE_T_PUBLISH))
            fs_violation(s, "bad flags");
        if (plen > (h[3] == SLUICE_T_HELLO ? SLUICE_MAX_HELLO : maxframe)) {
            fs_violation(s, "frame over the announced limit");
            return;
        }
        if (id == 0) fs_violation(s, "request id 0");
        uint8_t *payload = malloc(plen ? plen : 1);
        if (!fs_read_full(s, fd, payload, plen)) {
            free(payload);
            return;
        }
        int close_it = 0;
        if (!hello_done) {
            if (h[3] != SLUICE_T_HELLO) {
                fs_violation(s, "first frame is not HELLO");
                close_it = 1;
            } else if (plen < 6 || sluice_get16(payload) != 1 || sluice_get16(payload + 2) != 1 ||
                       sluice_get16(payload + 4) != plen - 6) {
                fs_violation(s, "HELLO payload");
                close_it = 1;
            } else if (hello_bad && s->cfg.mode == FS_SILENT_HELLO) {
                /* say nothing; the client must time out */
            } else if (hello_bad) {
                fs_send_error(fd, id, SLUICE_E_UNSUPPORTED_VERSION, SLUICE_ERRF_CLOSING, "server speaks 7..9");
                close_it = 1;
            } else {
                fs_send_hello_ok(s, fd, id);
                hello_done = 1;
            }
        } else {
            switch (h[3]) {
            case SLUICE_T_PUBLISH: close_it = fs_on_publish(s, fd, conn, h, payload, plen) < 0; break;
            case SLUICE_T_PING:
                if (s->cfg.mode == FS_GARBAGE && fs_bad_now(s)) fs_send_all(fd, "garbage!garbage!garbage!", 24);
                else fs_send_frame(fd, SLUICE_T_PONG, id, payload, plen);
                break;
            case SLUICE_T_STATS: {
                if (s->cfg.mode == FS_GARBAGE && fs_bad_now(s)) {
                    fs_send_all(fd, "{\"not\":\"a frame\"}", 17);
                    break;
                }
                char json[128];
                pthread_mutex_lock(&s->mu);
                int n = snprintf(json, sizeof(json), "{\"uptimeSeconds\":1,\"records\":{\"received\":%zu},\"x\":[]}",
                                 s->nlog);
                pthread_mutex_unlock(&s->mu);
                fs_send_frame(fd, SLUICE_T_STATS_REPLY, id, (const uint8_t *)json, (size_t)n);
                break;
            }
            default: fs_violation(s, "unexpected frame type"); break;
            }
        }
        free(payload);
        if (close_it) return;
    }
}

static void *server_main(void *arg) {
    fake_server *s = arg;
    while (!fs_stopping(s)) {
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
