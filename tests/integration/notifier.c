/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny sd_notify client for the integration tests, linked statically so it runs inside the
 * busybox container.  It talks to $NOTIFY_SOCKET (or -s PATH) and performs its arguments in
 * order:
 *
 *   msg:TEXT         one datagram; "\n" in TEXT becomes a newline
 *   fd:PATH:TEXT     one datagram with PATH opened read-only attached (SCM_RIGHTS)
 *   barrier[:MS]     BARRIER=1 with a pipe, wait up to MS (default 5000) for the pipe to close;
 *                    prints "barrier ok" or "barrier timeout"
 *   flood:N:PREFIX   N datagrams "STATUS=PREFIX<i>" (i = 1..N), blocking when the socket is full
 *   big:N            one datagram of N bytes ("STATUS=xxx...")
 *   sleep:MS
 *   print:TEXT       write TEXT and a newline to stdout (markers for the log)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int sock = -1;

static void die(const char *what)
{
        fprintf(stderr, "notifier: %s: %s\n", what, strerror(errno));
        exit(1);
}

static void open_socket(const char *path)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (!path || !*path) {
                fprintf(stderr, "notifier: no NOTIFY_SOCKET\n");
                exit(2);
        }
        strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
        if (path[0] == '@')
                sa.sun_path[0] = '\0';
        sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (sock < 0)
                die("socket");
        if (connect(sock, (struct sockaddr *) &sa,
                    offsetof(struct sockaddr_un, sun_path) + strlen(path) + (path[0] != '@')) < 0)
                die("connect");
}

static void send_msg(const char *text, size_t len, int fd)
{
        struct iovec iov = { .iov_base = (void *) text, .iov_len = len };
        char control[CMSG_SPACE(sizeof(int))];
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (fd >= 0) {
                struct cmsghdr *c;
                memset(control, 0, sizeof(control));
                msg.msg_control = control;
                msg.msg_controllen = sizeof(control);
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &fd, sizeof(int));
        }
        while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) {
                if (errno != EINTR)
                        die("sendmsg");
        }
}

/* Copy @s with "\n" sequences turned into newlines. */
static char *unescape(const char *s, size_t *ret_len)
{
        char *out = malloc(strlen(s) + 1);
        size_t n = 0;

        for (; *s; s++) {
                if (s[0] == '\\' && s[1] == 'n') {
                        out[n++] = '\n';
                        s++;
                } else {
                        out[n++] = *s;
                }
        }
        out[n] = '\0';
        *ret_len = n;
        return out;
}

static long now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void barrier(int timeout_ms)
{
        int p[2];
        struct pollfd pfd;
        long t0 = now_ms();
        int r;

        if (pipe2(p, O_CLOEXEC) < 0)
                die("pipe");
        send_msg("BARRIER=1", 9, p[1]);
        close(p[1]);
        pfd.fd = p[0];
        pfd.events = POLLIN;
        r = poll(&pfd, 1, timeout_ms);
        if (r > 0)
                printf("barrier ok %ld ms\n", now_ms() - t0);
        else
                printf("barrier timeout\n");
        fflush(stdout);
        close(p[0]);
}

int main(int argc, char **argv)
{
        const char *path = getenv("NOTIFY_SOCKET");
        int i = 1;

        if (argc > 2 && strcmp(argv[1], "-s") == 0) {
                path = argv[2];
                i = 3;
        }
        open_socket(path);
        for (; i < argc; i++) {
                const char *a = argv[i];
                size_t len;
                if (strncmp(a, "msg:", 4) == 0) {
                        char *text = unescape(a + 4, &len);
                        send_msg(text, len, -1);
                        free(text);
                } else if (strncmp(a, "fd:", 3) == 0) {
                        const char *colon = strchr(a + 3, ':');
                        char *file, *text;
                        int fd;
                        if (!colon)
                                return 2;
                        file = strndup(a + 3, colon - (a + 3));
                        fd = open(file, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                die(file);
                        text = unescape(colon + 1, &len);
                        send_msg(text, len, fd);
                        close(fd);
                        free(text);
                        free(file);
                } else if (strncmp(a, "barrier", 7) == 0) {
                        barrier(a[7] == ':' ? atoi(a + 8) : 5000);
                } else if (strncmp(a, "flood:", 6) == 0) {
                        char *prefix = strchr(a + 6, ':');
                        long n = atol(a + 6);
                        char buf[256];
                        for (long k = 1; k <= n; k++) {
                                int l = snprintf(buf, sizeof(buf), "STATUS=%s%ld", prefix ? prefix + 1 : "", k);
                                send_msg(buf, l, -1);
                        }
                } else if (strncmp(a, "big:", 4) == 0) {
                        long n = atol(a + 4);
                        char *buf = malloc(n);
                        memcpy(buf, "STATUS=", 7);
                        memset(buf + 7, 'x', n - 7);
                        send_msg(buf, n, -1);
                        free(buf);
                } else if (strncmp(a, "sleep:", 6) == 0) {
                        usleep(atol(a + 6) * 1000);
                } else if (strncmp(a, "print:", 6) == 0) {
                        printf("%s\n", a + 6);
                        fflush(stdout);
                } else {
                        fprintf(stderr, "notifier: unknown action %s\n", a);
                        return 2;
                }
        }
        return 0;
}
