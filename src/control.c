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

static void client_process(ControlClient *c);

static void client_free(ControlClient *c)
{
        if (c->in_source)
                g_source_remove(c->in_source);
        if (c->out_source)
                g_source_remove(c->out_source);
        if (c->partial_timer)
                g_source_remove(c->partial_timer);
        if (c->process_idle)
                g_source_remove(c->process_idle);
        if (c->pending != CALL_NONE)
                c->server->waiting--;
        fd_close(c->fd);
        g_byte_array_unref(c->in);
        g_byte_array_unref(c->out);
        g_free(c);
}

void control_client_drop(ControlClient *c, const char *why)
{
        log_debug("control client %d disconnected: %s", c->fd, why);
        g_ptr_array_remove_fast(c->server->clients, c);
}

/* Done with the client once it has said all it will and received all it is owed. */
static gboolean client_finished(ControlClient *c)
{
        return c->input_closed && c->pending == CALL_NONE && c->out->len == 0 &&
               !memchr(c->in->data, 0, c->in->len);
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

        if (!client_flush(c)) {
                c->out_source = 0;
                control_client_drop(c, "send failed");
                return G_SOURCE_REMOVE;
        }
        if (c->out->len > 0)
                return G_SOURCE_CONTINUE;
        c->out_source = 0;
        if (client_finished(c))
                control_client_drop(c, "done");
        else if (was_paused)
                client_process(c);
        return G_SOURCE_REMOVE;
}

gboolean control_client_send(ControlClient *c, const char *json_text)
{
        size_t len = strlen(json_text) + 1;

        if (c->out->len + len > c->server->limits.output_max) {
                control_client_drop(c, "not reading its replies");
                return FALSE;
        }
        g_byte_array_append(c->out, (const guint8 *) json_text, len);
        if (c->out_source)
                return TRUE;
        if (!client_flush(c)) {
                control_client_drop(c, "send failed");
                return FALSE;
        }
        if (c->out->len > 0)
                c->out_source = g_unix_fd_add(c->fd, G_IO_OUT, on_writable, c);
        return TRUE;
}

static gboolean on_process_idle(gpointer data)
{
        ControlClient *c = data;

        c->process_idle = 0;
        client_process(c);
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

static gboolean on_partial_timeout(gpointer data)
{
        ControlClient *c = data;

        c->partial_timer = 0;
        control_client_drop(c, "message not completed in time");
        return G_SOURCE_REMOVE;
}

static void update_partial_timer(ControlClient *c)
{
        /* Only a message being received is timed, not one queued behind a pending call. */
        gboolean partial = c->in->len > 0 && c->pending == CALL_NONE && !output_paused(c);

        if (partial && !c->partial_timer)
                c->partial_timer = g_timeout_add(c->server->limits.partial_timeout_ms, on_partial_timeout, c);
        else if (!partial && c->partial_timer) {
                g_source_remove(c->partial_timer);
                c->partial_timer = 0;
        }
}

/* Dispatch every complete message the client's pending call and output allow. */
static void client_process(ControlClient *c)
{
        while (c->pending == CALL_NONE && !output_paused(c)) {
                guint8 *nul = memchr(c->in->data, 0, c->in->len);
                size_t len;
                g_autofree char *msg = NULL;

                if (!nul)
                        break;
                len = nul - c->in->data;
                /* Copied out: dispatching may free the client and its buffer. */
                msg = g_strndup((const char *) c->in->data, len);
                g_byte_array_remove_range(c->in, 0, len + 1);
                if (!control_varlink_dispatch(c, msg, len))
                        return;
        }
        if (c->in->len >= c->server->limits.message_max) {
                control_client_drop(c, "message too long, or too much sent while a call is pending");
                return;
        }
        if (c->input_closed && c->pending == CALL_NONE && !memchr(c->in->data, 0, c->in->len) && c->in->len > 0) {
                control_client_drop(c, "half-sent message at end of input");
                return;
        }
        if (client_finished(c)) {
                control_client_drop(c, "done");
                return;
        }
        update_partial_timer(c);
}

static gboolean on_hangup(int fd, GIOCondition cond, gpointer data)
{
        ControlClient *c = data;

        c->in_source = 0;
        control_client_drop(c, "hung up");
        return G_SOURCE_REMOVE;
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
                c->in_source = 0;
                control_client_drop(c, "receive failed");
                return G_SOURCE_REMOVE;
        }
        if (n == 0) {
                /* shutdown(SHUT_WR): replies still owed are sent.  Only a full close (HUP)
                 * is watched from now on, so a waiter that goes away is noticed. */
                c->input_closed = TRUE;
                c->in_source = g_unix_fd_add(fd, G_IO_HUP | G_IO_ERR, on_hangup, c);
                client_process(c);
                return G_SOURCE_REMOVE;
        }
        g_byte_array_append(c->in, buf, n);
        client_process(c);
        return G_SOURCE_CONTINUE;
}

static gboolean peer_allowed(int fd)
{
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return FALSE;
        return cred.uid == 0 || cred.uid == geteuid();
}

static gboolean on_connect(int fd, GIOCondition cond, gpointer data)
{
        ControlServer *s = data;
        ControlClient *c;
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
        if (s->clients->len >= s->limits.clients_max) {
                log_info("control socket: %u clients connected, refusing another", s->clients->len);
                fd_close(cfd);
                return G_SOURCE_CONTINUE;
        }
        c = g_new0(ControlClient, 1);
        c->server = s;
        c->fd = cfd;
        c->in = g_byte_array_new();
        c->out = g_byte_array_new();
        c->in_source = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, c);
        g_ptr_array_add(s->clients, c);
        return G_SOURCE_CONTINUE;
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
        fd_set_nonblock(listen_fd, TRUE);
        s->listen_source = g_unix_fd_add(s->listen_fd, G_IO_IN, on_connect, s);
        return s;
}

void control_server_emit(ControlServer *s, const ControlEvent *event)
{
        if (!s || s->waiting == 0)
                return;
        /* Backwards: sending may drop the client. */
        for (guint i = s->clients->len; i > 0; i--) {
                ControlClient *c = g_ptr_array_index(s->clients, i - 1);
                if (c->pending == CALL_SUBSCRIBE)
                        control_varlink_send_event(c, event, FALSE);
        }
}

void control_server_exited(ControlServer *s)
{
        if (!s || s->exited)
                return;
        s->exited = TRUE;
        for (guint i = s->clients->len; i > 0; i--) {
                ControlClient *c = g_ptr_array_index(s->clients, i - 1);
                if (c->pending != CALL_NONE)
                        control_varlink_send_exit(c);
        }
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
                while (c->out->len > 0) {
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
