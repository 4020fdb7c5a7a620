/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The two ends of the sd-notify latency benchmark (bench/notify_latency.py), linked statically
 * so the sender runs in the busybox container too.  Both read CLOCK_MONOTONIC, which the
 * container shares with the host (no time namespace).
 *
 *   notifylat send SOCKET N RATE   N datagrams "READY=1\nSTATUS=seq <i>", RATE per second,
 *                                  then, after 1 s (the harness reads the monitor's CPU time),
 *                                  one line "<i> <ns before sendmsg>" per datagram on stdout
 *   notifylat recv SOCKET N SECS   bind SOCKET (SO_PASSCRED, as systemd), receive N datagrams
 *                                  or stop after SECS, then "<ns after recvmsg> <bytes> <ns at
 *                                  enqueue>" per datagram on stdout
 *
 * "enqueue" is when the datagram reached the receiver's queue: the kernel's SO_TIMESTAMPNS
 * stamp, taken in the last sender's sendmsg (the monitor's, or the bare sender's).  It is
 * CLOCK_REALTIME and converted to CLOCK_MONOTONIC with the two clocks read side by side.  It
 * leaves the receiver's own wake-up out, which the relay does not add to.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t ts_ns(const struct timespec *ts)
{
        return (int64_t) ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* The kernel's enqueue stamp of a received datagram, on CLOCK_MONOTONIC; 0 if there is none. */
static int64_t enqueued_ns(struct msghdr *msg)
{
        for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                        struct timespec stamp, real, mono;

                        memcpy(&stamp, CMSG_DATA(c), sizeof(stamp));
                        clock_gettime(CLOCK_REALTIME, &real);
                        clock_gettime(CLOCK_MONOTONIC, &mono);
                        return ts_ns(&mono) - (ts_ns(&real) - ts_ns(&stamp));
                }
        }
        return 0;
}

static socklen_t address(struct sockaddr_un *sa, const char *path)
{
        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sa->sun_path)) {
                fprintf(stderr, "notifylat: socket path too long: %s\n", path);
                exit(2);
        }
        strcpy(sa->sun_path, path);
        return sizeof(*sa);
}

static int do_send(const char *path, long n, long rate)
{
        struct sockaddr_un sa;
        socklen_t len = address(&sa, path);
        int64_t *sent = calloc(n, sizeof(int64_t));
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct timespec next;

        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, len) < 0) {
                perror("notifylat: connect");
                return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &next);
        for (long i = 0; i < n; i++) {
                char buf[64];
                int l = snprintf(buf, sizeof(buf), "READY=1\nSTATUS=seq %ld", i);
                next.tv_nsec += 1000000000 / rate;
                if (next.tv_nsec >= 1000000000) {
                        next.tv_sec++;
                        next.tv_nsec -= 1000000000;
                }
                while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
                        ;
                sent[i] = now_ns();
                if (send(fd, buf, l, 0) != l) {
                        perror("notifylat: send");
                        return 1;
                }
        }
        sleep(1);
        for (long i = 0; i < n; i++)
                printf("%ld %lld\n", i, (long long) sent[i]);
        return 0;
}

static int do_recv(const char *path, long n, int secs)
{
        struct sockaddr_un sa;
        socklen_t len = address(&sa, path);
        int64_t *got = calloc(n, sizeof(int64_t)), *enq = calloc(n, sizeof(int64_t));
        int *size = calloc(n, sizeof(int));
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
        int64_t deadline = now_ns() + (int64_t) secs * 1000000000;
        long k = 0;

        unlink(path);
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *) &sa, len) < 0) {
                perror("notifylat: bind");
                return 1;
        }
        /* Bound: the harness may start the sender. */
        fprintf(stderr, "ready\n");
        while (k < n) {
                char buf[4096], control[256];
                struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
                struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                                      .msg_controllen = sizeof(control) };
                struct pollfd p = { .fd = fd, .events = POLLIN };
                int64_t left = (deadline - now_ns()) / 1000000;
                ssize_t r;
                if (left <= 0 || poll(&p, 1, (int) left) <= 0)
                        break;
                r = recvmsg(fd, &msg, 0);
                if (r < 0)
                        continue;
                got[k] = now_ns();
                enq[k] = enqueued_ns(&msg);
                size[k++] = (int) r;
        }
        for (long i = 0; i < k; i++)
                printf("%lld %d %lld\n", (long long) got[i], size[i], (long long) enq[i]);
        unlink(path);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 5 && strcmp(argv[1], "send") == 0)
                return do_send(argv[2], atol(argv[3]), atol(argv[4]));
        if (argc == 5 && strcmp(argv[1], "recv") == 0)
                return do_recv(argv[2], atol(argv[3]), atoi(argv[4]));
        fprintf(stderr, "usage: notifylat send SOCKET N RATE | recv SOCKET N SECS\n");
        return 2;
}
