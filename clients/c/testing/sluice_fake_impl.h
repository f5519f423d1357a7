/* The fake gateway's private state and the calls between its files (not installed):
 *   sluice_fake.c    the public calls (sluice_fake.h)
 *   fake_proto.c     protocol: decoding a PUBLISH, encoding replies, the failure rules
 *   fake_serve.c     the server thread: accept, read frames, answer them
 * The internal calls keep to the sluice_fake_ prefix and hidden visibility, as they end up
 * in the application's test binary. */
#ifndef SLUICE_FAKE_IMPL_H
#define SLUICE_FAKE_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice_fake.h"

#if defined(__GNUC__)
#define SLUICE_FAKE_INTERNAL __attribute__((visibility("hidden")))
#else
#define SLUICE_FAKE_INTERNAL
#endif

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

/* fake_proto.c */
/* Frees a record's copies (and zeroes it). */
SLUICE_FAKE_INTERNAL void sluice_fake_free_record(sluice_fake_record *r);
/* The code a failure rule gives this record, or 0; counts the rule down. Call with f->mu held. */
SLUICE_FAKE_INTERNAL int sluice_fake_failure_for(sluice_fake *f, const sluice_fake_record *r);
/* A cursor over a PUBLISH payload. */
typedef struct {
    const uint8_t *p;
    size_t left;
} rd;
/* Takes n bytes from the cursor: 0 with *out set, or -1 when fewer are left. */
static inline int take(rd *c, size_t n, const uint8_t **out) {
    if (c->left < n) return -1;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return 0;
}
/* Decodes one record into r (copies). 0, or -1 when the payload is malformed. */
SLUICE_FAKE_INTERNAL int sluice_fake_decode_record(rd *c, sluice_fake_record *r, int ack_level);
/* Replies: one frame, an ERROR, the HELLO_OK with the default limits. */
SLUICE_FAKE_INTERNAL void sluice_fake_send_frame(int fd, uint8_t type, uint32_t id, const uint8_t *payload,
                                                 size_t len);
SLUICE_FAKE_INTERNAL void sluice_fake_send_error(int fd, uint32_t id, uint16_t code, uint8_t flags,
                                                 const char *message);
SLUICE_FAKE_INTERNAL void sluice_fake_send_hello_ok(int fd, uint32_t id);

/* fake_serve.c */
/* The server thread (arg: the sluice_fake). */
SLUICE_FAKE_INTERNAL void *sluice_fake_serve(void *arg);

#endif
