/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "notify_host.h"
#include "notify_relay.h"

static void test_cgroup_contains(void)
{
        const char *ctr = "12:memory:/ctr\n1:name=systemd:/ctr\n0::/ctr\n";

        g_assert_true(cgroup_text_contains(ctr, "12:memory:/ctr\n1:name=systemd:/ctr\n0::/ctr\n"));
        g_assert_true(cgroup_text_contains(ctr, "12:memory:/ctr/sub\n1:name=systemd:/ctr/a/b\n0::/ctr\n"));
        g_assert_false(cgroup_text_contains(ctr, "12:memory:/ctr2\n1:name=systemd:/ctr\n0::/ctr\n"));
        g_assert_false(cgroup_text_contains(ctr, "12:memory:/\n1:name=systemd:/user\n0::/\n"));
        g_assert_false(cgroup_text_contains(ctr, "1:name=systemd:/ctr\n0::/ctr\n"));
        /* Only root cgroups: says nothing about anyone. */
        g_assert_false(cgroup_text_contains("0::/\n", "0::/\n"));
        g_assert_true(cgroup_text_contains("0::/a/b", "0::/a/b/c"));
        g_assert_false(cgroup_text_contains("0::/a/b", "0::/a/bc"));
}

static void test_identity_self(void)
{
        ContainerIdentity id;

        /* The test itself is no container: its own pid namespace and cgroup say nothing. */
        g_assert_cmpint(container_identity_init(&id, getpid()), ==, 0);
        g_assert_false(id.own_pidns);
        g_assert_null(id.cgroup);
        g_assert_cmpint(container_identity_contains(&id, getpid()), ==, 0);
        g_assert_cmpint(container_identity_contains(&id, 0), ==, 0);
        g_assert_cmpint(container_identity_contains(&id, 0x3ffffff0), ==, -ESRCH);
        container_identity_clear(&id);
}

/* --- senders checked through SCM_PIDFD --------------------------------------------------- */

/* A datagram's sender as the relay receives it: *ret_pid and its pidfd (or -1). */
static void receive_sender(int fd, pid_t *ret_pid, int *ret_pidfd)
{
        char buf[16];
        char control[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof(control) };

        *ret_pid = 0;
        *ret_pidfd = -1;
        g_assert_cmpint(recvmsg(fd, &msg, MSG_CMSG_CLOEXEC), ==, 1);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_type == SCM_CREDENTIALS)
                        memcpy(ret_pid, CMSG_DATA(c), sizeof(pid_t));
                else if (c->cmsg_type == NOTIFY_SCM_PIDFD)
                        memcpy(ret_pidfd, CMSG_DATA(c), sizeof(int));
        }
}

/* A child that sends one datagram on sv[1], then waits for a byte on @hold (or exits at once). */
static pid_t sender_child(int *sv, int hold)
{
        pid_t pid = fork();
        char c;

        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                if (send(sv[1], "X", 1, 0) != 1)
                        _exit(1);
                if (hold >= 0 && read(hold, &c, 1) < 0)
                        _exit(1);
                _exit(0);
        }
        return pid;
}

static void test_sender_pidfd(void)
{
        ContainerIdentity id = { 0 };
        int sv[2], hold[2], one = 1, pidfd;
        uint64_t cgid;
        pid_t child, pid;

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        g_assert_cmpint(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), ==, 0);
        if (socket_pass_pidfd(sv[0]) < 0) {
                g_test_skip("no SO_PASSPIDFD (Linux < 6.5)");
                return;
        }
        g_assert_cmpint(pipe2(hold, O_CLOEXEC), ==, 0);

        /* Alive while checked: neither its cgroup id nor /proc puts it inside. */
        child = sender_child(sv, hold[0]);
        receive_sender(sv[0], &pid, &pidfd);
        g_assert_cmpint(pid, ==, child);
        g_assert_cmpint(pidfd, >=, 0);
        id.cgroup_id = (uint64_t) -2;
        g_assert_cmpint(container_identity_check_sender(&id, pid, pidfd), ==, 0);
        g_assert_cmpint(write(hold[1], "x", 1), ==, 1);
        g_assert_cmpint(waitpid(child, NULL, 0), ==, child);
        /* Reaped since: whatever now answers at /proc/PID, it is not trusted.  Where the
         * kernel keeps its cgroup id (6.16+), that is not the container's: outside. */
        cgid = pidfd_cgroup_id(pidfd);
        g_assert_cmpint(container_identity_check_sender(&id, pid, pidfd), ==, (cgid ? 0 : -ESRCH));
        close(pidfd);

        /* Sent, exited and reaped before the datagram is read: its cgroup at exit decides. */
        child = sender_child(sv, -1);
        g_assert_cmpint(waitpid(child, NULL, 0), ==, child);
        receive_sender(sv[0], &pid, &pidfd);
        g_assert_cmpint(pid, ==, child);
        g_assert_cmpint(container_identity_check_sender(&id, pid, pidfd), ==, (pidfd_cgroup_id(pidfd) ? 0 : -ESRCH));
        if (cgid == 0 || pidfd_cgroup_id(pidfd) != cgid) {
                g_test_message("no cgroup id of exited processes (Linux < 6.16)");
        } else {
                id.cgroup_id = cgid;
                g_assert_cmpint(container_identity_check_sender(&id, pid, pidfd), ==, 1);
        }
        close(pidfd);
        close(hold[0]);
        close(hold[1]);
        close(sv[0]);
        close(sv[1]);
}

/* --- the host link against a real socket ------------------------------------------------ */

/* Under the build tree's scratch directory, never /tmp; sockets are unlinked before bind. */
static char *scratch_path(const char *name)
{
        const char *base = g_getenv("VIGIL_TEST_SCRATCH");
        g_autofree char *dir = g_build_filename(base ? base : "test-scratch-unit", "notify_relay", NULL);

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        return g_build_filename(dir, name, NULL);
}

static int bind_receiver(const char *address)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(address);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

        g_assert_cmpint(fd, >=, 0);
        memcpy(sa.sun_path, address, len);
        if (address[0] == '@')
                sa.sun_path[0] = '\0';
        else
                unlink(address);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &sa, offsetof(struct sockaddr_un, sun_path) + len +
                                                                  (address[0] != '@')), ==, 0);
        return fd;
}

/* Next datagram within @ms; its fd (if any) in *ret_fd. */
static char *receive(int fd, int ms, int *ret_fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char buf[4097];
        char control[CMSG_SPACE(sizeof(int) * 4)];
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof(control) };
        ssize_t n;
        gint64 deadline = g_get_monotonic_time() + ms * 1000;

        if (ret_fd)
                *ret_fd = -1;
        while (poll(&p, 1, 0) == 0) {
                if (g_get_monotonic_time() > deadline)
                        return NULL;
                g_main_context_iteration(NULL, FALSE);
                g_usleep(1000);
        }
        n = recvmsg(fd, &msg, 0);
        g_assert_cmpint(n, >=, 0);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                if (c->cmsg_type == SCM_RIGHTS && ret_fd)
                        memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
        return g_strndup(buf, n);
}

static void iterate(int ms)
{
        gint64 end = g_get_monotonic_time() + ms * 1000;

        while (g_get_monotonic_time() < end) {
                g_main_context_iteration(NULL, FALSE);
                g_usleep(1000);
        }
}

static void test_host_late_and_merge(void)
{
        g_autofree char *path = scratch_path("late.sock");
        NotifyHostOptions o = { .rate = 0, .burst = 1, .queue_max = 4 };
        NotifyHost *h = NULL;
        int rfd;

        g_assert_cmpint(notify_host_new(path, &o, &h), ==, 0);
        /* No host yet: queued, coalesced, bounded. */
        g_assert_cmpint(notify_host_send(h, "READY=1", 7, NULL, 0, FALSE), ==, 0);
        g_assert_cmpint(notify_host_send(h, "STATUS=a", 8, NULL, 0, TRUE), ==, 0);
        g_assert_cmpint(notify_host_send(h, "STATUS=b", 8, NULL, 0, TRUE), ==, 0);
        g_assert_cmpint(notify_host_send(h, "WATCHDOG=1", 10, NULL, 0, TRUE), ==, 0);
        g_assert_cmpint(notify_host_send(h, "STOPPING=1", 10, NULL, 0, FALSE), ==, 0);
        g_assert_cmpint(notify_host_send(h, "X_1=1", 5, NULL, 0, FALSE), ==, 0);
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "*dropping new ones*");
        g_assert_cmpint(notify_host_send(h, "X_2=1", 5, NULL, 0, FALSE), ==, -ENOBUFS);
        g_test_assert_expected_messages();
        g_assert_cmpuint(notify_host_stats(h)->queued, ==, 4);
        g_assert_cmpuint(notify_host_stats(h)->merged, ==, 2);
        g_assert_cmpuint(notify_host_stats(h)->dropped_queue_full, ==, 1);
        iterate(50);
        rfd = bind_receiver(path);
        {
                static const char *expected[] = { "READY=1", "STATUS=b\nWATCHDOG=1", "STOPPING=1", "X_1=1" };
                for (size_t i = 0; i < G_N_ELEMENTS(expected); i++) {
                        g_autofree char *got = receive(rfd, 5000, NULL);
                        g_assert_cmpstr(got, ==, expected[i]);
                }
        }
        g_assert_cmpuint(notify_host_stats(h)->queued, ==, 0);
        g_assert_cmpuint(notify_host_stats(h)->sent, ==, 4);
        /* Host re-created: the next message reconnects. */
        close(rfd);
        rfd = bind_receiver(path);
        notify_host_send(h, "STATUS=again", 12, NULL, 0, TRUE);
        {
                g_autofree char *got = receive(rfd, 5000, NULL);
                g_assert_cmpstr(got, ==, "STATUS=again");
        }
        close(rfd);
        notify_host_free(h);
}

static void test_host_barrier(void)
{
        g_autofree char *path = scratch_path("barrier.sock");
        NotifyHostOptions o = { .rate = 0, .burst = 1, .queue_max = 8 };
        NotifyHost *h = NULL;
        int rfd = bind_receiver(path);
        int client[2], host_fd;
        struct pollfd p;

        g_assert_cmpint(notify_host_new(path, &o, &h), ==, 0);
        g_assert_cmpint(pipe2(client, O_CLOEXEC), ==, 0);
        notify_host_send(h, "STATUS=before", 13, NULL, 0, TRUE);
        notify_host_barrier(h, client[1]);
        {
                g_autofree char *a = receive(rfd, 5000, NULL);
                g_autofree char *b = receive(rfd, 5000, &host_fd);
                g_assert_cmpstr(a, ==, "STATUS=before");
                g_assert_cmpstr(b, ==, "BARRIER=1");
                g_assert_cmpint(host_fd, >=, 0);
        }
        /* The client's fd stays open until the host answers. */
        iterate(50);
        p = (struct pollfd){ .fd = client[0], .events = POLLIN };
        g_assert_cmpint(poll(&p, 1, 0), ==, 0);
        close(host_fd);
        iterate(50);
        g_assert_cmpint(poll(&p, 1, 0), ==, 1);
        g_assert_cmpuint(notify_host_stats(h)->barriers, ==, 1);
        close(client[0]);
        close(rfd);
        notify_host_free(h);
}

static void test_rate_limit(void)
{
        g_autofree char *path = scratch_path("rate.sock");
        NotifyHostOptions o = { .rate = 20, .burst = 2, .queue_max = 8 };
        NotifyHost *h = NULL;
        int rfd = bind_receiver(path);
        gint64 t0;

        g_assert_cmpint(notify_host_new(path, &o, &h), ==, 0);
        t0 = g_get_monotonic_time();
        for (int i = 0; i < 5; i++)
                notify_host_send(h, "READY=1", 7, NULL, 0, FALSE);
        g_assert_cmpuint(notify_host_stats(h)->sent, ==, 2);
        for (int i = 0; i < 5; i++)
                g_free(receive(rfd, 5000, NULL));
        /* three more at 20/s: at least ~100 ms */
        g_assert_cmpint(g_get_monotonic_time() - t0, >=, 100000);
        close(rfd);
        notify_host_free(h);
}

static void test_addresses(void)
{
        g_autofree char *abstract = g_strdup_printf("@vigil-unit-%d", (int) getpid());
        g_autofree char *dir = scratch_path("a-rather-long-directory-name-to-go-past-sun-path-"
                                            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        g_autofree char *long_path = g_build_filename(dir, "notify.sock", NULL);
        int rfd = bind_receiver(abstract);
        int fd = notify_socket_connect(abstract);

        g_assert_cmpint(fd, >=, 0);
        close(fd);
        close(rfd);
        g_assert_cmpint(notify_socket_connect("relative"), ==, -EINVAL);
        g_assert_cmpint(notify_socket_connect("/"), ==, -EINVAL);
        g_assert_cmpint(notify_socket_connect("/nonexistent/x.sock"), <, 0);
        g_assert_cmpuint(strlen(long_path), >=, 108);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        {
                /* Bind the long path the way the relay does, through /proc/self/fd. */
                int dfd = open(dir, O_PATH | O_CLOEXEC);
                g_autofree char *short_name = g_strdup_printf("/proc/self/fd/%d/notify.sock", dfd);
                rfd = bind_receiver(short_name);
                close(dfd);
        }
        fd = notify_socket_connect(long_path);
        g_assert_cmpint(fd, >=, 0);
        close(fd);
        close(rfd);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/notify_relay/cgroup_contains", test_cgroup_contains);
        g_test_add_func("/notify_relay/identity_self", test_identity_self);
        g_test_add_func("/notify_relay/sender_pidfd", test_sender_pidfd);
        g_test_add_func("/notify_relay/host_late_and_merge", test_host_late_and_merge);
        g_test_add_func("/notify_relay/host_barrier", test_host_barrier);
        g_test_add_func("/notify_relay/rate_limit", test_rate_limit);
        g_test_add_func("/notify_relay/addresses", test_addresses);
        return g_test_run();
}
