/* A fake Sluice gateway for application tests (sluice_fake.h): one thread polling a
 * listening Unix socket and its connections, protocol v1, records kept in memory.
 * Self-contained: it uses none of libsluice's internal functions, so it links next to
 * either the static or the shared libsluice. The public calls are here; the protocol side
 * is in fake_proto.c, the server thread in fake_serve.c (sluice_fake_impl.h). */
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
    int e = pthread_create(&f->thread, NULL, sluice_fake_serve, f);
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
    for (size_t i = 0; i < f->nrecs; i++) sluice_fake_free_record(&f->recs[i]);
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
