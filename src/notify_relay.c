/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "notify_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

/* Datagrams read per wake-up: the rest of the loop runs between batches. */
#define RECV_BATCH 64
/* Without a pidfd, a pid found inside stays trusted this long (pids do not recycle that fast). */
#define SENDER_CACHE_USEC (G_USEC_PER_SEC)

struct NotifyRelay {
        NotifyPolicy policy;
        SenderCheck sender_check;
        NotifyHost *host;
        char *socket_path;
        int fd;
        gboolean pidfds;        /* datagrams come with SCM_PIDFD */
        guint watch;
        ContainerIdentity container;
        pid_t cached_pid;
        gint64 cached_at;
        /* Allocated on the first datagram: an idle relay costs no buffers. */
        char *buf;
        char *out;
        char *control;
        size_t control_size;
        NotifyState state;
        NotifyEventFunc listener;
        gpointer listener_data;
};

/* --- state --------------------------------------------------------------------------------- */

static void state_update(NotifyState *s, const char *msg, size_t len, unsigned flags)
{
        const char *p = msg, *end = msg + len;

        if (flags & NOTIFY_FLAG_RELOADING) {
                s->reloading = TRUE;
                s->ready = FALSE;
        }
        /* READY=1 after RELOADING=1 in one message still ends the reload. */
        if (flags & NOTIFY_FLAG_READY) {
                s->ready = TRUE;
                s->reloading = FALSE;
        }
        if (flags & NOTIFY_FLAG_STOPPING)
                s->stopping = TRUE;
        if (flags & NOTIFY_FLAG_WATCHDOG)
                s->last_watchdog_usec = g_get_real_time();
        if (flags & NOTIFY_FLAG_WATCHDOG_TRIGGER)
                s->watchdog_triggered = TRUE;
        if (!(flags & NOTIFY_FLAG_STATUS))
                return;
        while (p < end) {
                const char *nl = memchr(p, '\n', end - p);
                size_t l = (nl ? nl : end) - p;
                if (l >= 7 && memcmp(p, "STATUS=", 7) == 0) {
                        g_free(s->status);
                        s->status = g_strndup(p + 7, l - 7);
                }
                p += l + 1;
        }
}

static void announce(NotifyRelay *r, unsigned flags)
{
        static const struct {
                unsigned flag;
                const char *event;
        } events[] = {
                { NOTIFY_FLAG_RELOADING, "reloading" }, { NOTIFY_FLAG_READY, "ready" },
                { NOTIFY_FLAG_STOPPING, "stopping" },   { NOTIFY_FLAG_WATCHDOG, "watchdog" },
                { NOTIFY_FLAG_WATCHDOG_TRIGGER, "watchdog-trigger" },
        };

        if (!r->listener)
                return;
        for (size_t i = 0; i < G_N_ELEMENTS(events); i++)
                if (flags & events[i].flag)
                        r->listener(events[i].event, NULL, r->listener_data);
        if (flags & NOTIFY_FLAG_STATUS)
                r->listener("status", r->state.status, r->listener_data);
}

void notify_relay_set_listener(NotifyRelay *r, NotifyEventFunc func, gpointer user_data)
{
        r->listener = func;
        r->listener_data = user_data;
}

/* --- the container's socket ---------------------------------------------------------------- */

static int open_container_socket(const char *path)
{
        g_autofree char *dirname = g_path_get_dirname(path);
        g_autofree char *base = g_path_get_basename(path);
        struct sockaddr_un sa;
        AutoFd dir = -1;
        AutoFd fd = -1;
        int one = 1, len;

        if (mkdir(dirname, 0755) < 0 && errno != EEXIST)
                return -errno;
        dir = open(dirname, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
                return -errno;
        len = unix_address_in_dir(&sa, dir, base);
        if (len < 0)
                return len;
        if (unlinkat(dir, base, 0) < 0 && errno != ENOENT)
                return -errno;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, len) < 0)
                return -errno;
        /* Any container user may notify (runc#2041); who is relayed is decided per datagram. */
        if (chmod(sa.sun_path, 0777) < 0)
                return -errno;
        return steal_fd(&fd);
}

int notify_relay_new(const NotifyRelayOptions *o, NotifyRelay **ret)
{
        g_autoptr(NotifyRelay) r = g_new0(NotifyRelay, 1);
        int res;

        r->fd = -1;
        r->policy = o->policy;
        r->sender_check = o->sender_check;
        /* No host: readiness and status are tracked for the control socket only. */
        res = o->host_address ? notify_host_new(o->host_address, &o->host, &r->host) : 0;
        if (res < 0)
                return res;
        r->state.host = r->host ? notify_host_stats(r->host) : NULL;
        if (o->socket_path) {
                r->fd = open_container_socket(o->socket_path);
                if (r->fd < 0)
                        return r->fd;
                r->socket_path = g_strdup(o->socket_path);
                res = socket_pass_pidfd(r->fd);
                r->pidfds = res == 0;
                if (res < 0)
                        log_debug("sd-notify: no SO_PASSPIDFD (%s): senders are checked through /proc",
                                  g_strerror(-res));
        }
        *ret = g_steal_pointer(&r);
        return 0;
}

typedef struct {
        int fds[NOTIFY_FDS_MAX];
        unsigned n_fds;
        pid_t pid;
        int pidfd;              /* SCM_PIDFD; < 0: none, or the kernel could not make one */
        gboolean truncated;
} Received;

static void close_received(Received *m, unsigned from)
{
        for (unsigned i = from; i < m->n_fds; i++)
                fd_close(m->fds[i]);
        m->n_fds = from;
}

/* One datagram into r->buf.  Return: its length, or -errno (-EAGAIN when none is left). */
static ssize_t receive_one(NotifyRelay *r, Received *m)
{
        struct iovec iov = { .iov_base = r->buf, .iov_len = NOTIFY_DATAGRAM_MAX + 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = r->control,
                              .msg_controllen = r->control_size };
        ssize_t n;

        m->n_fds = 0;
        m->pid = 0;
        m->pidfd = -1;
        m->truncated = FALSE;
        n = recvmsg(r->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level != SOL_SOCKET)
                        continue;
                if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred cred;
                        memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                        m->pid = cred.pid;
                } else if (c->cmsg_type == NOTIFY_SCM_PIDFD && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
                        /* A negative value: the sender was reaped before a pidfd could be made. */
                        memcpy(&m->pidfd, CMSG_DATA(c), sizeof(int));
                } else if (c->cmsg_type == SCM_RIGHTS) {
                        size_t n_fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                        int *fds = (int *) CMSG_DATA(c);
                        for (size_t i = 0; i < n_fds; i++) {
                                if (m->n_fds < NOTIFY_FDS_MAX)
                                        m->fds[m->n_fds++] = fds[i];
                                else
                                        fd_close(fds[i]);
                        }
                }
        }
        m->truncated = (msg.msg_flags & MSG_CTRUNC) || n > NOTIFY_DATAGRAM_MAX;
        return n;
}

/*
 * May this sender be relayed?  Decided now, while the datagram is in hand: a sender whose
 * identity cannot be established (gone, and no pidfd says where it was) is dropped in every
 * mode, or a host process could slip through by exiting at once.  Counts what it refuses.
 */
static gboolean sender_allowed(NotifyRelay *r, const Received *m)
{
        gboolean cacheable = !r->pidfds;
        gint64 now = 0;
        int c;

        if (r->sender_check == SENDER_CHECK_OFF)
                return TRUE;
        /* Only a pid number to go on: skip the /proc reads for a sender seen just now. */
        if (cacheable) {
                now = g_get_monotonic_time();
                if (m->pid > 0 && m->pid == r->cached_pid && now - r->cached_at < SENDER_CACHE_USEC)
                        return TRUE;
        }
        /* Asked for and missing: the sender was reaped before the kernel could make one (Linux
         * 6.5-6.15); its pid number may name another process already. */
        if (r->pidfds && m->pidfd < 0)
                c = -ESRCH;
        else
                c = container_identity_check_sender(&r->container, m->pid, m->pidfd);
        if (c > 0) {
                if (cacheable) {
                        r->cached_pid = m->pid;
                        r->cached_at = now;
                }
                return TRUE;
        }
        if (c < 0) {
                r->state.unverified_senders++;
                /* Gone, and the kernel cannot tell where it was (before 6.16): `systemd-notify
                 * --ready` exits right after sending.  relaxed relays it, strict does not. */
                if (r->sender_check == SENDER_CHECK_RELAXED)
                        return TRUE;
        }
        r->state.dropped_sender++;
        log_debug("sd-notify: dropped a message from pid %d: %s", (int) m->pid,
                  c < 0 ? "gone before it could be identified" : "outside the container");
        return FALSE;
}

/* Without a host link (NotifyRelayOptions), a message counts as delivered. */
static int host_send(NotifyRelay *r, const char *data, size_t len, int *fds, unsigned n_fds, gboolean mergeable)
{
        if (r->host)
                return notify_host_send(r->host, data, len, fds, n_fds, mergeable);
        for (unsigned i = 0; i < n_fds; i++)
                fd_close(fds[i]);
        return 0;
}

static void handle_datagram(NotifyRelay *r, size_t len, Received *m)
{
        NotifyState *s = &r->state;
        NotifyFiltered f;

        s->received++;
        if (m->truncated) {
                close_received(m, 0);
                s->dropped++;
                s->dropped_oversize++;
                return;
        }
        if (!sender_allowed(r, m)) {
                close_received(m, 0);
                s->dropped++;
                return;
        }
        if (notify_policy_filter(&r->policy, r->buf, len, m->n_fds, r->out, &f, &s->lines) < 0) {
                close_received(m, 0);
                s->dropped++;
                s->dropped_oversize++;
                return;
        }
        if (f.barrier) {
                s->relayed++;
                if (r->host)
                        notify_host_barrier(r->host, m->fds[0]);
                else
                        fd_close(m->fds[0]); /* nothing to wait for: the barrier is passed */
                return;
        }
        if (!f.pass_fds)
                close_received(m, 0);
        if (f.out_len == 0) {
                s->dropped++;
                s->dropped_empty++;
                return;
        }
        state_update(s, r->out, f.out_len, f.flags);
        /* Sent first: control-socket subscribers must not delay the host. */
        if (host_send(r, r->out, f.out_len, m->fds, m->n_fds, f.mergeable) < 0) {
                s->dropped++;
                s->dropped_queue_full++;
        } else {
                s->relayed++;
        }
        announce(r, f.flags);
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
        NotifyRelay *r = data;
        Received m;

        if (!r->buf) {
                r->buf = g_malloc(NOTIFY_DATAGRAM_MAX + 1);
                r->out = g_malloc(NOTIFY_DATAGRAM_MAX);
                r->control_size = CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) +
                                  CMSG_SPACE(sizeof(int) * NOTIFY_FDS_MAX);
                r->control = g_malloc(r->control_size);
        }
        for (int i = 0; i < RECV_BATCH; i++) {
                ssize_t n = receive_one(r, &m);
                if (n == -EINTR)
                        continue;
                if (n < 0) {
                        if (n != -EAGAIN)
                                log_warning("sd-notify: receiving: %s", g_strerror((int) -n));
                        break;
                }
                handle_datagram(r, (size_t) n, &m);
                fd_clear(&m.pidfd);
        }
        return G_SOURCE_CONTINUE;
}

/*
 * g_unix_fd_add(), except that the source may recurse.  GLib blocks a source that may not
 * around each dispatch: it removes its fd from the poll set and adds it back, and each of
 * those signals the context's eventfd, so every datagram cost two write(2)s and one more
 * loop iteration (poll, read) before the next poll could sleep.  on_readable() never runs
 * the main loop, so there is nothing to recurse into.
 */
static guint watch_readable(int fd, GUnixFDSourceFunc func, gpointer data)
{
        g_autoptr(GSource) source = g_unix_fd_source_new(fd, G_IO_IN);

        g_source_set_callback(source, G_SOURCE_FUNC(func), data, NULL);
        g_source_set_can_recurse(source, TRUE);
        return g_source_attach(source, NULL);
}

void notify_relay_set_container(NotifyRelay *r, pid_t container_pid)
{
        int res;

        if (r->fd < 0 || r->watch)
                return;
        res = container_identity_init(&r->container, container_pid);
        if (res < 0)
                log_warning("sd-notify: cannot identify container %d: %s", (int) container_pid, g_strerror(-res));
        r->watch = watch_readable(r->fd, on_readable, r);
}

void notify_relay_drain(NotifyRelay *r)
{
        /* Bounded: a sender still flooding must not keep an exiting monitor alive. */
        for (int i = 0; r->watch && i < 16; i++)
                on_readable(r->fd, G_IO_IN, r);
        if (r->host)
                notify_host_flush(r->host);
}

void notify_relay_stop(NotifyRelay *r)
{
        if (r->watch)
                g_source_remove(r->watch);
        r->watch = 0;
}

void notify_relay_send_own(NotifyRelay *r, const char *message)
{
        static const NotifyPolicy all = { .watchdog_usec = TRUE, .fdstore = TRUE };
        size_t len = strlen(message);
        g_autofree char *out = g_malloc(len + 1);
        NotifyFiltered f;

        if (notify_policy_filter(&all, message, len, 0, out, &f, NULL) < 0 || f.out_len == 0)
                return;
        state_update(&r->state, out, f.out_len, f.flags);
        announce(r, f.flags);
        host_send(r, out, f.out_len, NULL, 0, f.mergeable);
}

void notify_relay_set_health(NotifyRelay *r, const char *health)
{
        gboolean changed = g_strcmp0(r->state.health, health) != 0;

        r->state.health = health;
        if (changed && r->listener)
                r->listener("health", health, r->listener_data);
}

void notify_relay_set_mode(NotifyRelay *r, const char *mode)
{
        r->state.mode = mode;
}

const NotifyState *notify_relay_state(NotifyRelay *r)
{
        return &r->state;
}

NotifyRelay *notify_relay_free(NotifyRelay *r)
{
        if (!r)
                return NULL;
        notify_relay_stop(r);
        if (r->host)
                notify_host_flush(r->host);
        g_clear_pointer(&r->host, notify_host_free);
        fd_close(r->fd);
        if (r->socket_path)
                unlink(r->socket_path);
        container_identity_clear(&r->container);
        g_free(r->socket_path);
        g_free(r->buf);
        g_free(r->out);
        g_free(r->control);
        g_free(r->state.status);
        g_free(r);
        return NULL;
}
