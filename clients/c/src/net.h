/* Unix stream socket I/O: non-blocking descriptors, poll(2) for waiting,
 * send(MSG_NOSIGNAL) so a closed peer gives EPIPE instead of SIGPIPE. Internal. */
#ifndef SLUICE_NET_H
#define SLUICE_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Monotonic clock in milliseconds. */
int64_t sluice_now_ms(void);
/* Wall clock in milliseconds since the Unix epoch. */
int64_t sluice_wall_ms(void);

/* Milliseconds from now until deadline for poll(): -1 for no deadline
 * (deadline < 0), 0 when it has passed. */
int sluice_ms_until(int64_t deadline);

/* Opens a non-blocking, close-on-exec Unix stream socket connected to path,
 * waiting at most until deadline (monotonic ms, < 0 = none). Returns the
 * descriptor, or -1 with errno set (ENAMETOOLONG for a path that does not fit
 * sun_path, ETIMEDOUT when the deadline passed). */
int sluice_net_connect(const char *path, int64_t deadline);

/* Waits for events on fd until deadline. Returns 1 with *revents set, 0 on
 * timeout (or EINTR: the caller re-checks its deadline), -1 with errno. */
int sluice_net_poll(int fd, short events, int64_t deadline, short *revents);

/* Non-blocking send/recv. Return bytes moved; -1 with errno (EAGAIN when the
 * socket is not ready). recv returns 0 at EOF. EINTR is retried. */
ssize_t sluice_net_send(int fd, const void *buf, size_t len);
ssize_t sluice_net_recv(int fd, void *buf, size_t len);

/* Writes all of buf before deadline. 0, or -1 with errno (ETIMEDOUT). */
int sluice_net_send_all(int fd, const void *buf, size_t len, int64_t deadline);

/* Sleeps until min(wake, deadline) (deadline < 0: until wake). Used for backoff pauses only. */
void sluice_sleep_until(int64_t wake, int64_t deadline);

#endif
