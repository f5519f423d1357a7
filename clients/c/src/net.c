#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1 /* SOCK_NONBLOCK, SOCK_CLOEXEC, MSG_NOSIGNAL */
#endif
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t sluice_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sluice_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sluice_ms_until(int64_t deadline) {
    if (deadline < 0) return -1;
    int64_t left = deadline - sluice_now_ms();
    if (left <= 0) return 0;
    if (left > INT_MAX) return INT_MAX;
    return (int)left;
}

int sluice_net_poll(int fd, short events, int64_t deadline, short *revents) {
    struct pollfd p = {.fd = fd, .events = events, .revents = 0};
    int rc = poll(&p, 1, sluice_ms_until(deadline));
    if (rc < 0) {
        if (errno == EINTR) return 0;
        return -1;
    }
    if (rc == 0) return 0;
    *revents = p.revents;
    return 1;
}

int sluice_net_connect(const char *path, int64_t deadline) {
    struct sockaddr_un sa;
    size_t plen = strlen(path);
    if (plen == 0 || plen >= sizeof(sa.sun_path)) {
        errno = plen == 0 ? ENOENT : ENAMETOOLONG;
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, plen + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) return fd;
        if (errno == EINTR) continue;
        if (errno != EINPROGRESS) break; /* EAGAIN on a Unix socket: the listen backlog is full */
        short rev = 0;
        int rc;
        while ((rc = sluice_net_poll(fd, POLLOUT, deadline, &rev)) == 0) {
            if (sluice_ms_until(deadline) == 0) {
                errno = ETIMEDOUT;
                goto fail;
            }
        }
        if (rc < 0) break;
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) break;
        if (soerr == 0) return fd;
        errno = soerr;
        break;
    }
fail: {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}
}

ssize_t sluice_net_send(int fd, const void *buf, size_t len) {
    ssize_t n;
    do {
        n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t sluice_net_recv(int fd, void *buf, size_t len) {
    ssize_t n;
    do {
        n = recv(fd, buf, len, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n;
}

int sluice_net_send_all(int fd, const void *buf, size_t len, int64_t deadline) {
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = sluice_net_send(fd, p, len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        short rev = 0;
        int rc = sluice_net_poll(fd, POLLOUT, deadline, &rev);
        if (rc < 0) return -1;
        if (rc == 0 && sluice_ms_until(deadline) == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
    }
    return 0;
}

void sluice_sleep_until(int64_t wake, int64_t deadline) {
    if (deadline >= 0 && deadline < wake) wake = deadline;
    int ms = sluice_ms_until(wake);
    if (ms > 0) poll(NULL, 0, ms);
}
