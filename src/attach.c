/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "attach.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

#define ATTACH_INPUT_MAX 32768
/* How long the final flush may wait for a slow client at exit. */
#define ATTACH_FINAL_FLUSH_SECONDS 2

typedef struct {
        AttachServer *server;
        int fd;
        guint in_source;
        guint out_source;
        GQueue packets;         /* GBytes, each one packet */
        size_t queued;
        gboolean input_paused;
} AttachClient;

struct AttachServer {
        int listen_fd;
        guint listen_source;
        char *socket_path;
        char *symlink_path;
        gboolean close_stdin_on_hangup;
        gboolean block_when_full;
        gboolean output_paused;
        StdioRelay *stdio;
        GPtrArray *clients;
        uint64_t dropped;
};

static void client_free(AttachClient *c)
{
        if (c->in_source)
                g_source_remove(c->in_source);
        if (c->out_source)
                g_source_remove(c->out_source);
        g_queue_clear_full(&c->packets, (GDestroyNotify) g_bytes_unref);
        fd_close(c->fd);
        g_free(c);
}

static void client_remove(AttachClient *c)
{
        g_ptr_array_remove_fast(c->server->clients, c);
}

/* Sends queued packets; FALSE when the client is gone. */
static gboolean client_flush(AttachClient *c)
{
        GBytes *b;

        while ((b = g_queue_peek_head(&c->packets))) {
                gsize len;
                const void *data = g_bytes_get_data(b, &len);
                ssize_t n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                        return TRUE;
                if (n < 0)
                        return FALSE;
                c->queued -= len;
                g_bytes_unref(g_queue_pop_head(&c->packets));
        }
        return TRUE;
}

/* Resume the container's output once every client is below half its bound. */
static void maybe_resume_output(AttachServer *s)
{
        if (!s->output_paused)
                return;
        for (guint i = 0; i < s->clients->len; i++)
                if (((AttachClient *) g_ptr_array_index(s->clients, i))->queued > ATTACH_CLIENT_QUEUE_MAX / 2)
                        return;
        s->output_paused = FALSE;
        stdio_relay_resume_output(s->stdio);
}

static gboolean on_client_writable(int fd, GIOCondition cond, gpointer data)
{
        AttachClient *c = data;
        AttachServer *s = c->server;

        if (!client_flush(c)) {
                c->out_source = 0;
                client_remove(c);
                maybe_resume_output(s);
                return G_SOURCE_REMOVE;
        }
        maybe_resume_output(s);
        if (!g_queue_is_empty(&c->packets))
                return G_SOURCE_CONTINUE;
        c->out_source = 0;
        return G_SOURCE_REMOVE;
}

static void client_queue(AttachClient *c, GBytes *packet)
{
        c->queued += g_bytes_get_size(packet);
        g_queue_push_tail(&c->packets, g_bytes_ref(packet));
        if (!c->out_source)
                c->out_source = g_unix_fd_add(c->fd, G_IO_OUT, on_client_writable, c);
}

static void client_send(AttachClient *c, const char *packet, size_t len, GBytes **shared)
{
        if (g_queue_is_empty(&c->packets)) {
                ssize_t n;
                do
                        n = send(c->fd, packet, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                while (n < 0 && errno == EINTR);
                if (n >= 0)
                        return;
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                        client_remove(c);
                        return;
                }
        }
        if (c->queued + len > ATTACH_CLIENT_QUEUE_MAX && c->server->block_when_full) {
                if (!c->server->output_paused) {
                        c->server->output_paused = TRUE;
                        stdio_relay_pause_output(c->server->stdio);
                }
        } else if (c->queued + len > ATTACH_CLIENT_QUEUE_MAX) {
                log_warning("attach client stopped reading: more than %d bytes queued, disconnecting it",
                            ATTACH_CLIENT_QUEUE_MAX);
                c->server->dropped++;
                client_remove(c);
                return;
        }
        if (!*shared)
                *shared = g_bytes_new(packet, len);
        client_queue(c, *shared);
}

gboolean attach_has_backlog(const AttachServer *s)
{
        for (guint i = 0; s && i < s->clients->len; i++)
                if (((AttachClient *) g_ptr_array_index(s->clients, i))->queued)
                        return TRUE;
        return FALSE;
}

void attach_broadcast(AttachServer *s, StreamId stream, const char *buf, size_t len)
{
        char packet[1 + ATTACH_PACKET_MAX];

        while (s && s->clients->len && len > 0) {
                size_t n = MIN(len, ATTACH_PACKET_MAX);
                g_autoptr(GBytes) shared = NULL;

                packet[0] = (char) stream;
                memcpy(packet + 1, buf, n);
                /* Backwards: client_send may remove the client it is given. */
                for (guint i = s->clients->len; i > 0; i--)
                        client_send(g_ptr_array_index(s->clients, i - 1), packet, n + 1, &shared);
                buf += n;
                len -= n;
        }
}

static void client_input_eof(AttachClient *c)
{
        if (c->in_source)
                g_source_remove(c->in_source);
        c->in_source = 0;
        if (c->server->close_stdin_on_hangup)
                stdio_relay_close_stdin(c->server->stdio);
}

static gboolean on_client_input(int fd, GIOCondition cond, gpointer data)
{
        AttachClient *c = data;
        char buf[ATTACH_INPUT_MAX];
        ssize_t n;

        if (!stdio_relay_stdin_has_room(c->server->stdio)) {
                c->input_paused = TRUE;
                c->in_source = 0;
                return G_SOURCE_REMOVE;
        }
        do
                n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                return G_SOURCE_CONTINUE;
        if (n <= 0) {
                /* shutdown(SHUT_WR) or a closed client: its input has ended; output continues
                 * until a send fails. */
                c->in_source = 0;
                client_input_eof(c);
                return G_SOURCE_REMOVE;
        }
        stdio_relay_write_stdin(c->server->stdio, buf, n);
        return G_SOURCE_CONTINUE;
}

void attach_resume_input(AttachServer *s)
{
        for (guint i = 0; s && i < s->clients->len; i++) {
                AttachClient *c = g_ptr_array_index(s->clients, i);
                if (c->input_paused && !c->in_source) {
                        c->input_paused = FALSE;
                        c->in_source = g_unix_fd_add(c->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_input, c);
                }
        }
}

static gboolean on_connect(int fd, GIOCondition cond, gpointer data)
{
        AttachServer *s = data;
        AttachClient *c;
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning("accepting an attach client: %s", g_strerror(errno));
                return G_SOURCE_CONTINUE;
        }
        c = g_new0(AttachClient, 1);
        c->server = s;
        c->fd = cfd;
        g_queue_init(&c->packets);
        c->in_source = g_unix_fd_add(cfd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_client_input, c);
        g_ptr_array_add(s->clients, c);
        return G_SOURCE_CONTINUE;
}

static int bind_in_dir(int listen_fd, const char *dir, const char *name, char **ret_path)
{
        AutoFd dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct sockaddr_un addr;
        int len;

        if (dfd < 0)
                return -errno;
        len = unix_address_in_dir(&addr, dfd, name);
        if (len < 0)
                return len;
        if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
                return -errno;
        if (bind(listen_fd, (struct sockaddr *) &addr, len) < 0)
                return -errno;
        *ret_path = g_build_filename(dir, name, NULL);
        return 0;
}

static char *make_symlink(const AttachOptions *o, GError **error)
{
        g_autofree char *link = g_build_filename(o->socket_dir, o->cuuid, NULL);

        if (g_mkdir_with_parents(o->socket_dir, 0755) < 0 || (unlink(link) < 0 && errno != ENOENT) ||
            symlink(o->bundle, link) < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                            "Failed to create symlink %s for the attach socket: %s", link, g_strerror(errno));
                return NULL;
        }
        return g_steal_pointer(&link);
}

AttachServer *attach_server_new(const AttachOptions *o, StdioRelay *stdio, GError **error)
{
        g_autoptr(AttachServer) s = g_new0(AttachServer, 1);
        const char *dir = o->bundle;
        int r;

        s->listen_fd = -1;
        s->clients = g_ptr_array_new_with_free_func((GDestroyNotify) client_free);
        s->stdio = stdio;
        s->close_stdin_on_hangup = o->close_stdin_on_hangup;
        s->block_when_full = o->block_when_full;
        if (!o->full_attach) {
                s->symlink_path = make_symlink(o, error);
                if (!s->symlink_path)
                        return NULL;
                dir = s->symlink_path;
        }
        s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->listen_fd < 0 || (r = bind_in_dir(s->listen_fd, dir, "attach", &s->socket_path)) < 0 ||
            chmod(s->socket_path, 0700) < 0 || listen(s->listen_fd, 10) < 0) {
                int err = errno;
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                            "Failed to create the attach socket in %s: %s", dir, g_strerror(err));
                return NULL;
        }
        s->listen_source = g_unix_fd_add(s->listen_fd, G_IO_IN, on_connect, s);
        return g_steal_pointer(&s);
}

guint attach_client_count(const AttachServer *s)
{
        return s ? s->clients->len : 0;
}

uint64_t attach_clients_dropped(const AttachServer *s)
{
        return s ? s->dropped : 0;
}

static void final_flush(AttachClient *c)
{
        struct timeval tv = { .tv_sec = ATTACH_FINAL_FLUSH_SECONDS };

        /* The container is gone; a bounded blocking send gives a slow reader its last output. */
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        fd_set_nonblock(c->fd, FALSE);
        while (!g_queue_is_empty(&c->packets)) {
                g_autoptr(GBytes) b = g_queue_pop_head(&c->packets);
                gsize len;
                const void *data = g_bytes_get_data(b, &len);
                if (send(c->fd, data, len, MSG_NOSIGNAL) < 0 && errno != EINTR)
                        break;
        }
}

void attach_server_free(AttachServer *s)
{
        if (!s)
                return;
        if (s->listen_source)
                g_source_remove(s->listen_source);
        for (guint i = 0; s->clients && i < s->clients->len; i++)
                final_flush(g_ptr_array_index(s->clients, i));
        g_clear_pointer(&s->clients, g_ptr_array_unref);
        fd_close(s->listen_fd);
        if (s->socket_path)
                unlink(s->socket_path);
        if (s->symlink_path)
                unlink(s->symlink_path);
        g_free(s->socket_path);
        g_free(s->symlink_path);
        g_free(s);
}
