#ifndef CEPOLL_H
#define CEPOLL_H

#include <stdint.h>

/// epoll_ctl operations, as in <sys/epoll.h>.
#define CEPOLL_ADD 1
#define CEPOLL_DEL 2
#define CEPOLL_MOD 3

/// Readiness bits, as in <sys/epoll.h>.
#define CEPOLL_IN 0x001u
#define CEPOLL_OUT 0x004u
#define CEPOLL_ERR 0x008u
#define CEPOLL_HUP 0x010u

/// A new epoll instance (close-on-exec), or -1 with errno.
int cepoll_create(void);

/// Adds (`op` 1), modifies (`op` 3) or deletes (`op` 2) `fd`, one-shot, with `token` as its data.
int cepoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);

/// Waits for up to `max` events; fills `tokens` and `events`; returns the count or -1.
int cepoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int max, int timeout_ms);

/// A non-blocking, close-on-exec eventfd, or -1.
int cepoll_eventfd(void);

/// Accepts a connection as a non-blocking, close-on-exec descriptor, or -1 with errno.
int cepoll_accept(int fd);

#endif
