/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's transport: the listening socket, peer credentials, per-client
 * buffers, NUL framing and the limits that keep a misbehaving client from costing the
 * monitor more than a bounded amount of memory and never any blocking.  What a message
 * means is control_varlink.c's business.
 */
#include "control_private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

#define CONTROL_READ_CHUNK 16384
/* How long the final flush at exit may wait for all slow clients together. */
#define CONTROL_FINAL_FLUSH_MS 1000
/*
 * Sent to a peer that is neither root nor our uid, then the connection is closed.  A fixed
 * string, so refusing a client never loads json-glib.
 */
static const char permission_denied[] = "{\"error\":\"org.varlink.service.PermissionDenied\",\"parameters\":{}}";

static gboolean client_process(ControlClient *c);

static void client_free(ControlClient *c)
{
        if (c->in_source)
                g_source_remove(c->in_source);
        if (c->out_source)
                g_source_remove(c->out_source);
        if (c->timer)
                g_source_remove(c->timer);
        if (c->process_idle)
                g_source_remove(c->process_idle);
        if (c->pending != CALL_NONE)
                c->server->waiting--;
        fd_close(c->fd);
        g_byte_array_unref(c->in);
        g_byte_array_unref(c->out);
        g_free(c);
}

gboolean control_client_fail(ControlClient *c, const char *why)
{
        if (!c->drop_reason)
                c->drop_reason = why;
        return FALSE;
}

/*
 * The only place a client is freed (control_private.h).  Called by the source that owns
 * the current dispatch with @source, its id, which is then no longer ours to remove.
 */
static gboolean client_reap(ControlClient *c, guint *source)
{
        if (!c->drop_reason)
                return G_SOURCE_CONTINUE;
        if (source)
                *source = 0;
        log_debug("control client %d disconnected: %s", c->fd, c->drop_reason);
        g_ptr_array_remove_fast(c->server->clients, c);
        return G_SOURCE_REMOVE;
}

/* After a walk over all clients: free the ones it condemned. */
static void server_reap(ControlServer *s)
{
        for (guint i = s->clients->len; i > 0; i--)
                client_reap(g_ptr_array_index(s->clients, i - 1), NULL);
}

/* The end of the first complete message received, or NULL. */
static guint8 *next_message_end(const ControlClient *c)
{
        /* An empty GByteArray may have no data at all, and memchr() wants a pointer. */
        return c->in->len > 0 ? memchr(c->in->data, 0, c->in->len) : NULL;
}

/* Done with the client once it has said all it will and received all it is owed. */
static gboolean client_finished(ControlClient *c)
{
        return c->input_closed && c->pending == CALL_NONE && c->out->len == 0 && !next_message_end(c);
}

/* Sends what the socket takes without blocking; FALSE when the peer is gone. */
static gboolean client_flush(ControlClient *c)
{
        while (c->out->len > 0) {
                ssize_t n = send(c->fd, c->out->data, c->out->len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        break;
                if (n < 0)
                        return FALSE;
                g_byte_array_remove_range(c->out, 0, n);
        }
        return TRUE;
}

static gboolean output_paused(const ControlClient *c)
{
        /* A client that pipelines calls faster than it reads replies gets no new replies
         * until it reads; what it keeps sending then counts against message_max. */
        return c->out->len >= c->server->limits.output_max / 4;
}

static gboolean on_writable(int fd, GIOCondition cond, gpointer data)
{
        ControlClient *c = data;
        gboolean was_paused = output_paused(c);

        if (!client_flush(c))
                control_client_fail(c, "send failed");
        else if (c->out->len > 0)
                return G_SOURCE_CONTINUE;
        c->out_source = 0;
        if (!c->drop_reason && client_finished(c))
                control_client_fail(c, "done");
        else if (!c->drop_reason && was_paused)
                client_process(c);
        client_reap(c, NULL);
        return G_SOURCE_REMOVE;
}

gboolean control_client_send(ControlClient *c, const char *json_text)
{
        size_t len = strlen(json_text) + 1;

        if (c->drop_reason)
                return FALSE;
        if (c->out->len + len > c->server->limits.output_max)
                return control_client_fail(c, "not reading its replies");
        g_byte_array_append(c->out, (const guint8 *) json_text, len);
        if (c->out_source)
                return TRUE;
        if (!client_flush(c))
                return control_client_fail(c, "send failed");
        if (c->out->len > 0)
                c->out_source = g_unix_fd_add(c->fd, G_IO_OUT, on_writable, c);
        return TRUE;
}

static gboolean on_process_idle(gpointer data)
{
        ControlClient *c = data;

        c->process_idle = 0;
        client_process(c);
        client_reap(c, NULL);
        return G_SOURCE_REMOVE;
}

void control_client_call_done(ControlClient *c)
{
        if (c->pending == CALL_NONE)
                return;
        c->pending = CALL_NONE;
        c->server->waiting--;
        /* Called while the server walks its clients: dispatch later calls from the loop. */
        if (!c->process_idle)
                c->process_idle = g_idle_add(on_process_idle, c);
}

static gboolean on_timeout(gpointer data)
{
        ControlClient *c = data;

        c->timer = 0;
        control_client_fail(c, c->timer_partial ? "message not completed in time" : "idle for too long");
        client_reap(c, NULL);
        return G_SOURCE_REMOVE;
}

/*
 * A client owes us its next call unless a Wait or Subscribe of its own is in progress:
 * finishing a message it has begun is timed by partial_timeout_ms, beginning one (or
 * reading the replies that paused it) by idle_timeout_ms.  @restart: it just made a call.
 */
static void update_timer(ControlClient *c, gboolean restart)
{
        const ControlLimits *l = &c->server->limits;
        gboolean want = c->pending == CALL_NONE;
        gboolean partial = c->in->len > 0 && !output_paused(c);

        if (c->timer && (restart || !want || partial != c->timer_partial))
                g_clear_handle_id(&c->timer, g_source_remove);
        if (want && !c->timer) {
                c->timer_partial = partial;
                c->timer = g_timeout_add(partial ? l->partial_timeout_ms : l->idle_timeout_ms, on_timeout, c);
        }
}

/* Dispatch every complete message the client's pending call and output allow. */
static gboolean client_process(ControlClient *c)
{
        gboolean called = FALSE;

        while (c->pending == CALL_NONE && !output_paused(c)) {
                guint8 *nul = next_message_end(c);
                size_t len;
                g_autofree char *msg = NULL;

                if (!nul)
                        break;
                len = nul - c->in->data;
                msg = g_strndup((const char *) c->in->data, len);
                g_byte_array_remove_range(c->in, 0, len + 1);
                called = TRUE;
                c->last_call_usec = g_get_monotonic_time();
                if (!control_varlink_dispatch(c, msg, len))
                        return FALSE;
        }
        if (c->in->len >= c->server->limits.message_max)
                return control_client_fail(c, "message too long, or too much sent while a call is pending");
        if (c->input_closed && c->pending == CALL_NONE && c->in->len > 0 && !next_message_end(c))
                return control_client_fail(c, "half-sent message at end of input");
        if (client_finished(c))
                return control_client_fail(c, "done");
        update_timer(c, called);
        return TRUE;
}

static gboolean on_hangup(int fd, GIOCondition cond, gpointer data)
{
        ControlClient *c = data;

        control_client_fail(c, "hung up");
        return client_reap(c, &c->in_source);
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
        ControlClient *c = data;
        guint8 buf[CONTROL_READ_CHUNK];
        ssize_t n;

        do
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return G_SOURCE_CONTINUE;
        if (n < 0) {
                control_client_fail(c, "receive failed");
                return client_reap(c, &c->in_source);
        }
        if (n == 0) {
                /* shutdown(SHUT_WR): replies still owed are sent.  Only a full close (HUP)
                 * is watched from now on, so a waiter that goes away is noticed. */
                c->input_closed = TRUE;
                c->in_source = g_unix_fd_add(fd, G_IO_HUP | G_IO_ERR, on_hangup, c);
                client_process(c);
                client_reap(c, NULL);
                return G_SOURCE_REMOVE;
        }
        g_byte_array_append(c->in, buf, n);
        client_process(c);
        return client_reap(c, &c->in_source);
}

static gboolean peer_allowed(int fd)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return FALSE;
        return cred.uid == 0 || cred.uid == geteuid();
}

/* The table is full: make room by dropping the idle client that has been quiet longest. */
static gboolean evict_idle(ControlServer *s)
{
        ControlClient *victim = NULL;

        for (guint i = 0; i < s->clients->len; i++) {
                ControlClient *c = g_ptr_array_index(s->clients, i);
                if (c->pending == CALL_NONE && (!victim || c->last_call_usec < victim->last_call_usec))
                        victim = c;
        }
        if (!victim)
                return FALSE;
        control_client_fail(victim, "evicted: idle while the client table was full");
        client_reap(victim, NULL);
        return TRUE;
}

static gboolean on_connect(int fd, GIOCondition cond, gpointer data)
{
        ControlServer *s = data;
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_debug("accepting a control client: %s", g_strerror(errno));
                return G_SOURCE_CONTINUE;
        }
        if (!peer_allowed(cfd)) {
                log_info("control socket: refusing a client that is neither root nor uid %d", (int) geteuid());
                (void) send(cfd, permission_denied, sizeof(permission_denied), MSG_DONTWAIT | MSG_NOSIGNAL);
                fd_close(cfd);
                return G_SOURCE_CONTINUE;
        }
        if (s->clients->len >= s->limits.clients_max && !evict_idle(s)) {
                log_info("control socket: %u clients connected, refusing another", s->clients->len);
                fd_close(cfd);
                return G_SOURCE_CONTINUE;
        }
        control_server_adopt(s, cfd);
        return G_SOURCE_CONTINUE;
}

void control_server_adopt(ControlServer *s, int fd)
{
        ControlClient *c = g_new0(ControlClient, 1);

        c->server = s;
        c->fd = fd;
        c->in = g_byte_array_new();
        c->out = g_byte_array_new();
        c->last_call_usec = g_get_monotonic_time();
        c->in_source = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, c);
        g_ptr_array_add(s->clients, c);
        update_timer(c, FALSE);
}

static ControlServer *server_alloc(const ControlOps *ops, gpointer data, JsonApi *json, const ControlLimits *limits)
{
        static const ControlLimits defaults = CONTROL_LIMITS_DEFAULT;
        ControlServer *s = g_new0(ControlServer, 1);

        s->listen_fd = -1;
        s->dir_fd = -1;
        s->ops = ops;
        s->data = data;
        s->json = json;
        s->limits = limits ? *limits : defaults;
        /* Waiters are never evicted: keep a slot that can be freed for the calls they block. */
        s->limits.clients_max = MAX(s->limits.clients_max, 2);
        s->limits.waiting_max = MIN(s->limits.waiting_max, s->limits.clients_max - 1);
        s->clients = g_ptr_array_new_with_free_func((GDestroyNotify) client_free);
        return s;
}

/* Binds @name in @dir_fd (through /proc/self/fd: bundle paths may exceed sun_path). */
static int bind_in_dir(ControlServer *s)
{
        struct sockaddr_un addr;
        struct stat st;
        mode_t old_umask;
        int r, len;

        if (fstatat(s->dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
                /* A stale socket from an earlier run is replaced; anything else is not ours. */
                if (!S_ISSOCK(st.st_mode))
                        return -EEXIST;
                if (unlinkat(s->dir_fd, s->name, 0) < 0)
                        return -errno;
        }
        len = unix_address_in_dir(&addr, s->dir_fd, s->name);
        if (len < 0)
                return len;
        /* Created 0600 from the start: there is no window in which others may connect. */
        old_umask = umask(0177);
        r = bind(s->listen_fd, (struct sockaddr *) &addr, len);
        umask(old_umask);
        if (r < 0)
                return -errno;
        if (fstatat(s->dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        s->ino = st.st_ino;
        return 0;
}

ControlServer *control_server_new(const char *path, const ControlOps *ops, gpointer data, JsonApi *json,
                                  const ControlLimits *limits, GError **error)
{
        g_autoptr(ControlServer) s = server_alloc(ops, data, json, limits);
        g_autofree char *dir = g_path_get_dirname(path);
        int r = 0;

        s->name = g_path_get_basename(path);
        s->dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (s->dir_fd < 0)
                r = -errno;
        if (r == 0 && (s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
                r = -errno;
        if (r == 0)
                r = bind_in_dir(s);
        if (r == 0 && listen(s->listen_fd, 16) < 0)
                r = -errno;
        if (r < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r),
                            "Failed to create the control socket %s: %s", path, g_strerror(-r));
                /* Not ours to unlink: bind failed or the name is something else. */
                s->ino = 0;
                return NULL;
        }
        s->listen_source = g_unix_fd_add(s->listen_fd, G_IO_IN, on_connect, s);
        return g_steal_pointer(&s);
}

ControlServer *control_server_new_for_fd(int listen_fd, const ControlOps *ops, gpointer data, JsonApi *json,
                                         const ControlLimits *limits)
{
        ControlServer *s = server_alloc(ops, data, json, limits);

        s->listen_fd = listen_fd;
        if (listen_fd < 0)
                return s;
        fd_set_nonblock(listen_fd, TRUE);
        s->listen_source = g_unix_fd_add(s->listen_fd, G_IO_IN, on_connect, s);
        return s;
}

void control_server_emit(ControlServer *s, const ControlEvent *event)
{
        gboolean ready = g_str_equal(event->type, "ready");

        if (!s || s->waiting == 0)
                return;
        for (guint i = 0; i < s->clients->len; i++) {
                ControlClient *c = g_ptr_array_index(s->clients, i);
                if (c->pending == CALL_SUBSCRIBE)
                        control_varlink_send_event(c, event, FALSE);
                else if (c->pending == CALL_WAIT_READY && ready)
                        control_varlink_send_ready(c);
        }
        server_reap(s);
}

/* Read what a client has sent already, without blocking: the loop will not run again. */
static void read_sent(ControlClient *c)
{
        guint8 buf[CONTROL_READ_CHUNK];
        ssize_t n;

        while (!c->drop_reason && !c->input_closed && c->in->len < c->server->limits.message_max &&
               (n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                g_byte_array_append(c->in, buf, n);
}

void control_server_exited(ControlServer *s)
{
        if (!s || s->exited)
                return;
        s->exited = TRUE;
        for (guint i = 0; i < s->clients->len; i++) {
                ControlClient *c = g_ptr_array_index(s->clients, i);
                if (c->pending != CALL_NONE) {
                        control_varlink_send_exit(c);
                        continue;
                }
                /* A call already on its way (Kill, then Wait at once) is answered as one
                 * sent after the exit would be, not with a closed connection. */
                read_sent(c);
                client_process(c);
        }
        server_reap(s);
}

guint control_server_client_count(const ControlServer *s)
{
        return s ? s->clients->len : 0;
}

static gint64 now_ms(void)
{
        return g_get_monotonic_time() / 1000;
}

/* The loop no longer runs: push queued replies out with a deadline shared by all clients. */
static void final_flush(ControlServer *s)
{
        gint64 deadline = now_ms() + CONTROL_FINAL_FLUSH_MS;

        for (guint i = 0; i < s->clients->len; i++) {
                ControlClient *c = g_ptr_array_index(s->clients, i);
                while (!c->drop_reason && c->out->len > 0) {
                        struct pollfd p = { .fd = c->fd, .events = POLLOUT };
                        gint64 left = deadline - now_ms();
                        if (left <= 0 || poll(&p, 1, (int) left) <= 0 || !client_flush(c))
                                break;
                }
        }
}

void control_server_free(ControlServer *s)
{
        struct stat st;

        if (!s)
                return;
        if (s->listen_source)
                g_source_remove(s->listen_source);
        for (guint i = 0; i < s->clients->len; i++) {
                ControlClient *c = g_ptr_array_index(s->clients, i);
                if (c->pending != CALL_NONE)
                        control_varlink_send_gone(c);
        }
        server_reap(s);
        final_flush(s);
        g_clear_pointer(&s->clients, g_ptr_array_unref);
        fd_close(s->listen_fd);
        /* Only our own socket: a newer monitor may have bound the same path since. */
        if (s->ino && s->dir_fd >= 0 && fstatat(s->dir_fd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISSOCK(st.st_mode) && st.st_ino == s->ino)
                unlinkat(s->dir_fd, s->name, 0);
        fd_close(s->dir_fd);
        g_free(s->name);
        g_free(s);
}

const char *control_status_name(ControlStatus status)
{
        switch (status) {
        case CONTROL_STATUS_CREATING:
                return "creating";
        case CONTROL_STATUS_CREATED:
                return "created";
        case CONTROL_STATUS_RUNNING:
                return "running";
        case CONTROL_STATUS_STOPPED:
                return "stopped";
        }
        return "unknown";
}

void control_format_time(gint64 realtime_usec, char buf[CONTROL_TIME_LEN])
{
        time_t sec = (time_t) (realtime_usec / G_USEC_PER_SEC);
        struct tm tm;
        size_t n;

        gmtime_r(&sec, &tm);
        n = strftime(buf, CONTROL_TIME_LEN, "%Y-%m-%dT%H:%M:%S", &tm);
        g_snprintf(buf + n, CONTROL_TIME_LEN - n, ".%06dZ", (int) (realtime_usec % G_USEC_PER_SEC));
}
