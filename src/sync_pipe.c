/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "sync_pipe.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

int sync_pipe_open(SyncPipe *p, const char *env, const char *key)
{
        int fd = fd_from_env(env);

        p->fd = -1;
        p->key = key;
        if (fd < 0)
                return fd;
        if (fd_set_cloexec(fd, TRUE) < 0)
                return -errno;
        p->fd = fd;
        return 0;
}

void sync_pipe_close(SyncPipe *p)
{
        fd_clear(&p->fd);
}

int sync_pipe_send(SyncPipe *p, JsonApi *json, int value, const char *message)
{
        g_autofree char *line = NULL;
        g_autoptr(GError) error = NULL;
        int r;

        if (p->fd < 0)
                return 0;
        if (message && *message) {
                g_autofree char *quoted = NULL;
                if (!json_api_load(json, &error)) {
                        log_error("cannot report \"%s\" to the engine: %s", message, error->message);
                        quoted = g_strdup("\"(message lost: json-glib unavailable)\"");
                } else {
                        quoted = json_quote(json, message);
                }
                line = g_strdup_printf("{\"%s\": %d, \"message\": %s}\n", p->key, value, quoted);
        } else {
                line = g_strdup_printf("{\"%s\": %d}\n", p->key, value);
        }
        /* MSG_NOSIGNAL: a reader that went away must not kill the monitor with SIGPIPE. */
        do
                r = send(p->fd, line, strlen(line), MSG_NOSIGNAL);
        while (r < 0 && errno == EINTR);
        if (r < 0 && errno == ENOTSOCK)
                r = write_all(p->fd, line, strlen(line)) < 0 ? -1 : 0;
        if (r < 0) {
                r = -errno;
                if (r == -EPIPE || r == -ECONNRESET)
                        sync_pipe_close(p);
                return r;
        }
        return 0;
}

int start_pipe_wait(int fd)
{
        char buf[8192];
        ssize_t n;

        do
                n = read(fd, buf, sizeof(buf));
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : 0;
}
