/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "notify_host.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"
#include "notify_policy.h"

#define BACKOFF_MIN_MS 20
#define BACKOFF_MAX_MS 2000
/* Host barriers in flight at once; more client barriers wait in the queue. */
#define BARRIERS_MAX 8
/* Client barriers waiting in the queue; past this they are answered at once. */
#define QUEUED_BARRIERS_MAX 64
/* runc waits as long for its own barrier; sd_notify_barrier() callers give up sooner. */
#define BARRIER_TIMEOUT_S 30

typedef struct {
        char *data;
        size_t len;
        int *fds;
        unsigned n_fds;
        int client_fd;          /* a client's barrier, else -1 */
        gboolean mergeable;
} Entry;

typedef struct {
        NotifyHost *host;
        int read_fd;            /* our end of the pipe whose write end went to the host */
        guint watch;
        guint timeout;
        GArray *client_fds;
} Barrier;

struct NotifyHost {
        char *address;
        NotifyHostOptions opt;
        int fd;
        GQueue queue;
        unsigned queued_barriers;
        guint out_watch;
        guint timer;
        unsigned backoff_ms;
        double tokens;
        gint64 tokens_at;
        GPtrArray *barriers;
        gboolean warned_full;
        NotifyHostStats stats;
};

static void close_fds(int *fds, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                fd_close(fds[i]);
}

static void entry_free(Entry *e)
{
        close_fds(e->fds, e->n_fds);
        fd_close(e->client_fd);
        g_free(e->fds);
        g_free(e->data);
        g_free(e);
}

int notify_socket_connect(const char *address)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t len = strlen(address);
        socklen_t salen;
        AutoFd fd = -1;
        AutoFd dir = -1;

        if (len < 2 || (address[0] != '/' && address[0] != '@'))
                return -EINVAL;
        if (address[0] == '@') {
                /* Linux abstract namespace: the '@' stands for a leading NUL, no terminator. */
                if (len > sizeof(sa.sun_path))
                        return -ENAMETOOLONG;
                memcpy(sa.sun_path + 1, address + 1, len - 1);
                salen = offsetof(struct sockaddr_un, sun_path) + len;
        } else if (len < sizeof(sa.sun_path)) {
                memcpy(sa.sun_path, address, len + 1);
                salen = offsetof(struct sockaddr_un, sun_path) + len + 1;
        } else {
                g_autofree char *dirname = g_path_get_dirname(address);
                g_autofree char *base = g_path_get_basename(address);
                dir = open(dirname, O_PATH | O_DIRECTORY | O_CLOEXEC);
                if (dir < 0)
                        return -errno;
                int n = unix_address_in_dir(&sa, dir, base);
                if (n < 0)
                        return n;
                salen = n;
        }
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, salen) < 0)
                return -errno;
        return steal_fd(&fd);
}

int notify_host_new(const char *address, const NotifyHostOptions *o, NotifyHost **ret)
{
        g_autoptr(NotifyHost) h = g_new0(NotifyHost, 1);

        if (!address || strlen(address) < 2 || (address[0] != '/' && address[0] != '@'))
                return -EINVAL;
        h->address = g_strdup(address);
        h->opt = *o;
        h->fd = -1;
        g_queue_init(&h->queue);
        h->barriers = g_ptr_array_new();
        h->tokens = o->burst ? o->burst : 1;
        h->tokens_at = g_get_monotonic_time();
        *ret = g_steal_pointer(&h);
        return 0;
}

/* --- rate limit ------------------------------------------------------------------------ */

/* TRUE if a datagram may go now; else *ret_wait_ms until the next token. */
static gboolean token_available(NotifyHost *h, unsigned *ret_wait_ms)
{
        gint64 now = g_get_monotonic_time();
        double burst = h->opt.burst ? h->opt.burst : 1;

        if (h->opt.rate == 0)
                return TRUE;
        h->tokens = MIN(burst, h->tokens + (double) (now - h->tokens_at) * h->opt.rate / G_USEC_PER_SEC);
        h->tokens_at = now;
        if (h->tokens >= 1)
                return TRUE;
        *ret_wait_ms = (unsigned) ((1 - h->tokens) * 1000 / h->opt.rate) + 1;
        return FALSE;
}

static void take_token(NotifyHost *h)
{
        if (h->opt.rate)
                h->tokens -= 1;
}

/* --- sending ---------------------------------------------------------------------------- */

static void host_pump(NotifyHost *h);

static gboolean on_timer(gpointer data)
{
        NotifyHost *h = data;

        h->timer = 0;
        host_pump(h);
        return G_SOURCE_REMOVE;
}

static gboolean on_writable(int fd, GIOCondition cond, gpointer data)
{
        NotifyHost *h = data;

        h->out_watch = 0;
        host_pump(h);
        return G_SOURCE_REMOVE;
}

static int ensure_connected(NotifyHost *h)
{
        int fd;

        if (h->fd >= 0)
                return 0;
        fd = notify_socket_connect(h->address);
        if (fd < 0)
                return fd;
        h->fd = fd;
        h->stats.connected = TRUE;
        return 0;
}

static int send_with_fds(NotifyHost *h, const char *data, size_t len, const int *fds, unsigned n_fds)
{
        struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        g_autofree char *control = NULL;
        int r = ensure_connected(h);

        if (r < 0)
                return r;
        if (n_fds > 0) {
                struct cmsghdr *c;
                msg.msg_controllen = CMSG_SPACE(sizeof(int) * n_fds);
                control = g_malloc0(msg.msg_controllen);
                msg.msg_control = control;
                c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * n_fds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * n_fds);
        }
        if (sendmsg(h->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

/* Errors after which the host may come back: wait and retry the same message. */
static gboolean error_is_transient(int r)
{
        switch (r) {
        case -EAGAIN:
        case -ENOENT:
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -ENOTCONN:
        case -EPIPE:
        case -ENOTDIR:
        case -EACCES:
        case -EPERM:
        case -ENOBUFS:
        case -ENOMEM:
        case -EINTR:
        case -EMFILE:
        case -ENFILE:
                return TRUE;
        default:
                return FALSE;
        }
}

static void barrier_complete(Barrier *b, gboolean timed_out)
{
        NotifyHost *h = b->host;

        if (timed_out) {
                h->stats.barrier_timeouts++;
                log_warning("sd-notify: the host did not answer a barrier within %d s", BARRIER_TIMEOUT_S);
        }
        h->stats.barriers += b->client_fds->len;
        close_fds((int *) b->client_fds->data, b->client_fds->len);
        g_array_unref(b->client_fds);
        if (b->watch)
                g_source_remove(b->watch);
        if (b->timeout)
                g_source_remove(b->timeout);
        fd_close(b->read_fd);
        g_ptr_array_remove(h->barriers, b);
        g_free(b);
}

static gboolean on_barrier_hup(int fd, GIOCondition cond, gpointer data)
{
        Barrier *b = data;
        NotifyHost *h = b->host;

        b->watch = 0;
        barrier_complete(b, FALSE);
        host_pump(h);
        return G_SOURCE_REMOVE;
}

static gboolean on_barrier_timeout(gpointer data)
{
        Barrier *b = data;
        NotifyHost *h = b->host;

        b->timeout = 0;
        barrier_complete(b, TRUE);
        host_pump(h);
        return G_SOURCE_REMOVE;
}

/* The queue's head is a client barrier: answer it and every barrier right behind it with one
 * barrier of our own. */
static int send_barrier(NotifyHost *h)
{
        int pipefd[2];
        Barrier *b;
        int r;

        if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
                return -errno;
        r = send_with_fds(h, "BARRIER=1", 9, &pipefd[1], 1);
        /* The host holds its own copy now; ours would keep the pipe open forever. */
        close(pipefd[1]);
        if (r < 0) {
                close(pipefd[0]);
                return r;
        }
        b = g_new0(Barrier, 1);
        b->host = h;
        b->read_fd = pipefd[0];
        b->client_fds = g_array_new(FALSE, FALSE, sizeof(int));
        for (Entry *e; (e = g_queue_peek_head(&h->queue)) && e->client_fd >= 0;) {
                g_array_append_val(b->client_fds, e->client_fd);
                e->client_fd = -1;
                h->queued_barriers--;
                entry_free(g_queue_pop_head(&h->queue));
        }
        b->watch = g_unix_fd_add(b->read_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_barrier_hup, b);
        b->timeout = g_timeout_add_seconds(BARRIER_TIMEOUT_S, on_barrier_timeout, b);
        g_ptr_array_add(h->barriers, b);
        return 0;
}

static void wait_for_host(NotifyHost *h, int r)
{
        h->stats.retries++;
        if (r == -EAGAIN && h->fd >= 0) {
                /* A connected unix datagram socket polls writable once the peer has room. */
                h->out_watch = g_unix_fd_add(h->fd, G_IO_OUT, on_writable, h);
                return;
        }
        if (h->backoff_ms == 0)
                log_info("sd-notify: host socket %s unavailable (%s); queueing", h->address, g_strerror(-r));
        /* A closed or re-created host socket needs a new connection. */
        fd_clear(&h->fd);
        h->stats.connected = FALSE;
        h->backoff_ms = h->backoff_ms ? MIN(h->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_MIN_MS;
        h->timer = g_timeout_add(h->backoff_ms, on_timer, h);
}

/* Send the head of the queue.  Return: 0 sent (or dropped for good), 1 wait, -errno wait. */
static int send_head(NotifyHost *h, Entry *e, gboolean rate_limited)
{
        unsigned wait_ms;
        int r;

        if (e->client_fd >= 0) {
                if (h->barriers->len >= BARRIERS_MAX)
                        return 1; /* resumed when one completes */
                r = send_barrier(h);
                if (r < 0 && !error_is_transient(r)) {
                        /* Our barrier cannot be sent at all: answer the client anyway. */
                        log_warning("sd-notify: cannot send a barrier to the host: %s", g_strerror(-r));
                        h->queued_barriers--;
                        entry_free(g_queue_pop_head(&h->queue));
                        return 0;
                }
                return r;
        }
        if (rate_limited && !token_available(h, &wait_ms)) {
                h->timer = g_timeout_add(wait_ms, on_timer, h);
                return 1;
        }
        r = send_with_fds(h, e->data, e->len, e->fds, e->n_fds);
        if (r < 0 && error_is_transient(r))
                return r;
        if (r == 0) {
                take_token(h);
                h->stats.sent++;
        } else {
                h->stats.dropped_send_error++;
                log_warning("sd-notify: the host refused a message: %s", g_strerror(-r));
        }
        g_queue_pop_head(&h->queue);
        h->stats.queued--;
        entry_free(e);
        return 0;
}

static void pump(NotifyHost *h, gboolean rate_limited)
{
        Entry *e;
        int r;

        if (h->out_watch || (h->timer && rate_limited))
                return;
        while ((e = g_queue_peek_head(&h->queue))) {
                r = send_head(h, e, rate_limited);
                if (r > 0)
                        return;
                if (r < 0) {
                        if (rate_limited)
                                wait_for_host(h, r);
                        return;
                }
                if (h->backoff_ms) {
                        log_info("sd-notify: host socket %s reachable again", h->address);
                        h->backoff_ms = 0;
                }
        }
        h->warned_full = FALSE;
}

static void host_pump(NotifyHost *h)
{
        pump(h, TRUE);
}

int notify_host_send(NotifyHost *h, const char *data, size_t len, int *fds, unsigned n_fds, gboolean mergeable)
{
        Entry *tail = g_queue_peek_tail(&h->queue);
        Entry *e;

        if (mergeable && n_fds == 0 && tail && tail->mergeable) {
                size_t mlen;
                char *merged = notify_policy_merge(tail->data, tail->len, data, len, &mlen);
                if (merged) {
                        g_free(tail->data);
                        tail->data = merged;
                        tail->len = mlen;
                        h->stats.merged++;
                        return 0;
                }
        }
        if (h->stats.queued >= h->opt.queue_max) {
                close_fds(fds, n_fds);
                h->stats.dropped_queue_full++;
                if (!h->warned_full)
                        log_warning("sd-notify: %u messages wait for the host; dropping new ones", h->stats.queued);
                h->warned_full = TRUE;
                return -ENOBUFS;
        }
        e = g_new0(Entry, 1);
        e->data = g_memdup2(data, len);
        e->len = len;
        e->client_fd = -1;
        e->mergeable = mergeable && n_fds == 0;
        if (n_fds) {
                e->fds = g_memdup2(fds, sizeof(int) * n_fds);
                e->n_fds = n_fds;
        }
        g_queue_push_tail(&h->queue, e);
        h->stats.queued++;
        host_pump(h);
        return 0;
}

void notify_host_barrier(NotifyHost *h, int client_fd)
{
        Entry *e;

        if (h->queued_barriers >= QUEUED_BARRIERS_MAX) {
                fd_close(client_fd);
                return;
        }
        e = g_new0(Entry, 1);
        e->client_fd = client_fd;
        g_queue_push_tail(&h->queue, e);
        h->queued_barriers++;
        host_pump(h);
}

void notify_host_flush(NotifyHost *h)
{
        if (h->out_watch)
                g_source_remove(h->out_watch);
        h->out_watch = 0;
        pump(h, FALSE);
}

const NotifyHostStats *notify_host_stats(NotifyHost *h)
{
        return &h->stats;
}

NotifyHost *notify_host_free(NotifyHost *h)
{
        if (!h)
                return NULL;
        while (h->barriers && h->barriers->len)
                barrier_complete(g_ptr_array_index(h->barriers, 0), FALSE);
        g_clear_pointer(&h->barriers, g_ptr_array_unref);
        g_queue_clear_full(&h->queue, (GDestroyNotify) entry_free);
        if (h->out_watch)
                g_source_remove(h->out_watch);
        if (h->timer)
                g_source_remove(h->timer);
        fd_close(h->fd);
        g_free(h->address);
        g_free(h);
        return NULL;
}
