/* The fake server's private state and the calls between its files: fake_server.c (the
 * thread, one connection's loop, start/stop and observations), fake_server_wire.c (reading
 * and sending frames), fake_server_publish.c (answering a PUBLISH, misbehaviour included). */
#ifndef SLUICE_FAKE_SERVER_IMPL_H
#define SLUICE_FAKE_SERVER_IMPL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "fake_server.h"

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

/* fake_server.c */
int fs_stopping(fake_server *s);                      /* whether fs_stop() was called */
void fs_violation(fake_server *s, const char *what); /* counts and prints a client protocol violation */

/* fake_server_wire.c */
int fs_read_full(fake_server *s, int fd, uint8_t *buf, size_t n);
void fs_send_all(int fd, const void *p, size_t n);
void fs_send_frame(int fd, uint8_t type, uint32_t id, const uint8_t *payload, size_t len);
void fs_send_error(int fd, uint32_t id, uint16_t code, uint8_t flags, const char *msg);
uint32_t fs_lim(uint32_t v, uint32_t def); /* v, or def when v is 0 */
void fs_send_hello_ok(fake_server *s, int fd, uint32_t id);

/* fake_server_publish.c */
int fs_bad_now(fake_server *s);
int fs_on_publish(fake_server *s, int fd, int conn, const uint8_t *h, uint8_t *payload, size_t plen);

#endif
