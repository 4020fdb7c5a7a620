/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vigilctl's Varlink connection: NUL-terminated JSON objects over a unix stream socket, one
 * call at a time, replies read with an optional deadline (wait --ready --timeout).
 */
#include "vigilctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdutil.h"

#define REPLY_MAX (16 * 1024 * 1024)

int fail(const char *fmt, ...)
{
        va_list ap;

        fputs("vigilctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return CTL_EXIT_ERROR;
}

/* The address of @path; a long one through its directory, opened as @dfd (kept open until
 * the connect). */
static int address_of(const char *path, struct sockaddr_un *addr, int *dfd)
{
        g_autofree char *dir = NULL;
        g_autofree char *name = NULL;

        if (strlen(path) < sizeof(addr->sun_path)) {
                *addr = (struct sockaddr_un) { .sun_family = AF_UNIX };
                memcpy(addr->sun_path, path, strlen(path) + 1);
                return sizeof(*addr);
        }
        dir = g_path_get_dirname(path);
        name = g_path_get_basename(path);
        *dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (*dfd < 0)
                return -errno;
        return unix_address_in_dir(addr, *dfd, name);
}

int conn_open(Conn *conn, const char *path)
{
        struct sockaddr_un addr;
        AutoFd dfd = -1;
        AutoFd fd = -1;
        int len = address_of(path, &addr, &dfd);

        if (len < 0)
                return len;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &addr, len) < 0)
                return -errno;
        conn->fd = steal_fd(&fd);
        conn->buf = g_byte_array_new();
        return 0;
}

void conn_close(Conn *conn)
{
        if (conn->fd >= 0)
                close(conn->fd);
        conn->fd = -1;
        g_clear_pointer(&conn->buf, g_byte_array_unref);
}

int send_call(Conn *conn, const char *method, JsonObject *params, gboolean more)
{
        g_autoptr(JsonBuilder) b = json_builder_new();
        g_autoptr(JsonNode) root = NULL;
        g_autofree char *text = NULL;
        size_t len, off = 0;

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "method");
        json_builder_add_string_value(b, method);
        json_builder_set_member_name(b, "parameters");
        if (params) {
                JsonNode *node = json_node_new(JSON_NODE_OBJECT);
                json_node_take_object(node, params);
                json_builder_add_value(b, node);
        } else {
                json_builder_begin_object(b);
                json_builder_end_object(b);
        }
        if (more) {
                json_builder_set_member_name(b, "more");
                json_builder_add_boolean_value(b, TRUE);
        }
        json_builder_end_object(b);
        root = json_builder_get_root(b);
        text = json_to_string(root, FALSE);
        len = strlen(text) + 1;
        while (off < len) {
                ssize_t n = send(conn->fd, text + off, len - off, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail("sending the call: %s", g_strerror(errno));
                off += n;
        }
        return 0;
}

/* Waits for input until the deadline; FALSE when it passed. */
static gboolean wait_readable(Conn *conn)
{
        struct pollfd p = { .fd = conn->fd, .events = POLLIN };
        int r;

        if (!conn->deadline)
                return TRUE;
        do {
                gint64 left = conn->deadline - g_get_monotonic_time();
                if (left <= 0)
                        return FALSE;
                r = poll(&p, 1, (int) MIN((left + 999) / 1000, G_MAXINT));
        } while (r < 0 && errno == EINTR);
        return r != 0;
}

static JsonObject *parse_reply(Conn *conn, guint8 *nul)
{
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = NULL;
        size_t len = nul - conn->buf->data;
        g_autofree char *text = g_strndup((const char *) conn->buf->data, len);

        g_byte_array_remove_range(conn->buf, 0, len + 1);
        node = json_from_string(text, &error);
        if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
                fail("malformed reply: %s", error ? error->message : text);
                return NULL;
        }
        return json_object_ref(json_node_get_object(node));
}

JsonObject *read_reply(Conn *conn)
{
        guint8 chunk[16384];
        guint8 *nul = NULL;

        conn->timed_out = FALSE;
        /* An empty GByteArray's data is NULL, which memchr() must not get even with length 0. */
        while (!conn->buf->len || !(nul = memchr(conn->buf->data, 0, conn->buf->len))) {
                ssize_t n;
                if (!wait_readable(conn)) {
                        conn->timed_out = TRUE;
                        return NULL;
                }
                n = recv(conn->fd, chunk, sizeof(chunk), 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        fail(n == 0 ? "the monitor closed the connection" : "receiving: %s", g_strerror(errno));
                        return NULL;
                }
                if (conn->buf->len + n > REPLY_MAX) {
                        fail("reply too long");
                        return NULL;
                }
                g_byte_array_append(conn->buf, chunk, n);
        }
        return parse_reply(conn, nul);
}

gboolean report_error(JsonObject *reply)
{
        const char *error = json_object_get_string_member_with_default(reply, "error", NULL);
        JsonObject *params;

        if (!error)
                return FALSE;
        params = reply_params(reply);
        if (params && json_object_get_size(params) > 0) {
                g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
                g_autofree char *text = NULL;
                json_node_set_object(node, params);
                text = json_to_string(node, FALSE);
                fail("%s %s", error, text);
        } else {
                fail("%s", error);
        }
        return TRUE;
}

JsonObject *reply_params(JsonObject *reply)
{
        JsonNode *p = json_object_get_member(reply, "parameters");

        return p && JSON_NODE_HOLDS_OBJECT(p) ? json_node_get_object(p) : NULL;
}

JsonObject *call_raw(Conn *conn, const char *method, JsonObject *params)
{
        if (send_call(conn, method, params, FALSE) < 0)
                return NULL;
        return read_reply(conn);
}

JsonObject *call(Conn *conn, const char *method, JsonObject *params)
{
        g_autoptr(JsonObject) reply = call_raw(conn, method, params);
        JsonObject *out;

        if (!reply || report_error(reply))
                return NULL;
        out = reply_params(reply);
        return out ? json_object_ref(out) : json_object_new();
}

JsonObject *member_object(JsonObject *o, const char *key)
{
        JsonNode *n = o ? json_object_get_member(o, key) : NULL;

        return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}
