/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vigilctl: ask a vigil monitor about its container over the control socket (Varlink,
 * interface io.vigil.Monitor).  One call per run; `events` follows the Subscribe stream
 * until the container exits.  Human-readable output by default, JSON with --json.
 *
 * Exit status: 0, the container's exit code for `wait`, 1 for an error reply or a failed
 * connection, 2 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "version.h"

#include "vigil-protocol.h"

#define IFACE VIGIL_VARLINK_INTERFACE "."
#define REPLY_MAX (16 * 1024 * 1024)

typedef struct {
        int fd;
        GByteArray *buf;
} Conn;

static gboolean opt_json;

static int usage(FILE *f, int status)
{
        fprintf(f, "Usage: vigilctl [--json] COMMAND SOCKET-OR-BUNDLE [ARGS]\n"
                   "\n"
                   "Commands:\n"
                   "  state                 the container's state\n"
                   "  wait                  wait for the container to exit; exit with its exit code\n"
                   "  kill [SIGNAL]         send SIGNAL (name or number, default TERM)\n"
                   "  resize ROWS COLS      resize the container's terminal\n"
                   "  reopen-log            reopen the log files\n"
                   "  stats                 logging, monitor and cgroup statistics\n"
                   "  events                print events until the container exits\n"
                   "\n"
                   "SOCKET-OR-BUNDLE is the control socket, or a bundle directory holding vigil.sock.\n"
                   "  --json                print the replies as JSON\n");
        return status;
}

static int fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
        va_list ap;

        fputs("vigilctl: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

/* A directory means the bundle: its vigil.sock.  Long paths go through /proc/self/fd. */
static int connect_target(const char *target, Conn *conn)
{
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        g_autofree char *path = NULL;
        g_autofree char *dir = NULL;
        g_autofree char *name = NULL;
        struct stat st;
        int dfd, fd, r;

        if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
                path = g_build_filename(target, VIGIL_CONTROL_SOCKET_NAME, NULL);
        else
                path = g_strdup(target);
        dir = g_path_get_dirname(path);
        name = g_path_get_basename(path);
        dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                fail("%s: %s", dir, g_strerror(errno));
                return -1;
        }
        g_snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dfd, name);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        r = fd < 0 ? -1 : connect(fd, (struct sockaddr *) &addr, sizeof(addr));
        if (r < 0) {
                int err = errno;
                close(dfd);
                if (fd >= 0)
                        close(fd);
                fail("cannot connect to %s: %s", path, g_strerror(err));
                return -1;
        }
        close(dfd);
        conn->fd = fd;
        conn->buf = g_byte_array_new();
        return 0;
}

static int send_call(Conn *conn, const char *method, JsonObject *params, gboolean more)
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

/* The next reply as a parsed JSON object, or NULL after printing why. */
static JsonObject *read_reply(Conn *conn)
{
        guint8 chunk[16384];
        guint8 *nul = NULL;

        /* An empty GByteArray's data is NULL, which memchr() must not get even with length 0. */
        while (!conn->buf->len || !(nul = memchr(conn->buf->data, 0, conn->buf->len))) {
                ssize_t n = recv(conn->fd, chunk, sizeof(chunk), 0);
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
}

static void print_json(JsonNode *node)
{
        g_autofree char *text = json_to_string(node, TRUE);

        printf("%s\n", text);
}

static void print_object_json(JsonObject *o)
{
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

        json_node_set_object(node, o);
        print_json(node);
}

static char *value_text(JsonNode *v)
{
        if (JSON_NODE_HOLDS_NULL(v))
                return g_strdup("-");
        if (json_node_get_value_type(v) == G_TYPE_BOOLEAN)
                return g_strdup(json_node_get_boolean(v) ? "yes" : "no");
        if (json_node_get_value_type(v) == G_TYPE_STRING)
                return g_strdup(json_node_get_string(v));
        return json_to_string(v, FALSE);
}

/* "key: value" lines, nested objects as "outer.inner". */
static void print_flat(JsonObject *o, const char *prefix)
{
        g_autoptr(GList) members = json_object_get_members(o);

        for (GList *l = members; l; l = l->next) {
                JsonNode *v = json_object_get_member(o, l->data);
                g_autofree char *key = prefix ? g_strdup_printf("%s.%s", prefix, (char *) l->data)
                                              : g_strdup(l->data);
                if (JSON_NODE_HOLDS_OBJECT(v)) {
                        print_flat(json_node_get_object(v), key);
                } else if (JSON_NODE_HOLDS_ARRAY(v)) {
                        g_autofree char *text = json_to_string(v, FALSE);
                        printf("%-28s %s\n", key, text);
                } else {
                        g_autofree char *text = value_text(v);
                        g_autofree char *label = g_strconcat(key, ":", NULL);
                        printf("%-28s %s\n", label, text);
                }
        }
}

/* Prints an error reply; returns TRUE when @reply is one. */
static gboolean report_error(JsonObject *reply)
{
        const char *error = json_object_get_string_member_with_default(reply, "error", NULL);
        JsonObject *params;

        if (!error)
                return FALSE;
        params = json_object_get_object_member(reply, "parameters");
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

static JsonObject *reply_params(JsonObject *reply)
{
        JsonNode *p = json_object_get_member(reply, "parameters");

        return p && JSON_NODE_HOLDS_OBJECT(p) ? json_node_get_object(p) : NULL;
}

/* One call, one reply; the reply's parameters or NULL (error printed). */
static JsonObject *call(Conn *conn, const char *method, JsonObject *params)
{
        g_autoptr(JsonObject) reply = NULL;
        JsonObject *out;

        if (send_call(conn, method, params, FALSE) < 0 || !(reply = read_reply(conn)))
                return NULL;
        if (report_error(reply))
                return NULL;
        out = reply_params(reply);
        return out ? json_object_ref(out) : json_object_new();
}

static int parse_signal(const char *text)
{
        static const struct {
                const char *name;
                int signo;
        } names[] = {
                { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
                { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "CONT", SIGCONT },
                { "STOP", SIGSTOP }, { "WINCH", SIGWINCH },
        };
        gint64 n;

        if (g_ascii_string_to_signed(text, 10, 0, SIGRTMAX, &n, NULL))
                return (int) n;
        if (g_ascii_strncasecmp(text, "SIG", 3) == 0)
                text += 3;
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                if (g_ascii_strcasecmp(text, names[i].name) == 0)
                        return names[i].signo;
        return -1;
}

static void print_event(JsonObject *event)
{
        const char *type = json_object_get_string_member_with_default(event, "type", "?");
        const char *time = json_object_get_string_member_with_default(event, "time", "");
        const char *text = json_object_get_string_member_with_default(event, "text", NULL);

        if (opt_json) {
                g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
                g_autofree char *line = NULL;
                json_node_set_object(node, event);
                line = json_to_string(node, FALSE);
                printf("%s\n", line);
        } else if (g_str_equal(type, "exited")) {
                printf("%s %s exit_code=%" G_GINT64_FORMAT " signal=%" G_GINT64_FORMAT " oom=%s\n", time, type,
                       json_object_get_int_member_with_default(event, "exit_code", -1),
                       json_object_get_int_member_with_default(event, "signal", 0),
                       json_object_get_boolean_member_with_default(event, "oom", FALSE) ? "yes" : "no");
        } else {
                gint64 pid = json_object_get_int_member_with_default(event, "pid", 0);
                printf("%s %s", time, type);
                if (pid > 0)
                        printf(" pid=%" G_GINT64_FORMAT, pid);
                if (text)
                        printf(" %s", text);
                printf("\n");
        }
        fflush(stdout);
}

static int cmd_events(Conn *conn)
{
        if (send_call(conn, IFACE "Subscribe", NULL, TRUE) < 0)
                return 1;
        for (;;) {
                g_autoptr(JsonObject) reply = read_reply(conn);
                JsonObject *params;
                JsonNode *event;

                if (!reply || report_error(reply))
                        return 1;
                params = reply_params(reply);
                event = params ? json_object_get_member(params, "event") : NULL;
                if (event && JSON_NODE_HOLDS_OBJECT(event))
                        print_event(json_node_get_object(event));
                if (!json_object_get_boolean_member_with_default(reply, "continues", FALSE))
                        return 0;
        }
}

static int cmd_wait(Conn *conn)
{
        g_autoptr(JsonObject) r = call(conn, IFACE "Wait", NULL);
        gint64 code, signo;

        if (!r)
                return 1;
        code = json_object_get_int_member_with_default(r, "exit_code", -1);
        signo = json_object_get_int_member_with_default(r, "signal", 0);
        if (opt_json)
                print_object_json(r);
        else if (signo > 0)
                printf("killed by signal %" G_GINT64_FORMAT " (exit code %" G_GINT64_FORMAT ")\n", signo, code);
        else
                printf("exited with code %" G_GINT64_FORMAT "\n", code);
        /* An unknown status (-1) is not a success. */
        return code < 0 || code > 255 ? 255 : (int) code;
}

static int cmd_simple(Conn *conn, const char *method, JsonObject *params, const char *member)
{
        g_autoptr(JsonObject) r = call(conn, method, params);
        JsonObject *shown;

        if (!r)
                return 1;
        shown = member ? json_object_get_object_member(r, member) : r;
        if (opt_json)
                print_object_json(shown ? shown : r);
        else if (member && shown)
                print_flat(shown, NULL);
        return 0;
}

static int run(const char *command, const char *target, char **args, int nargs)
{
        Conn conn = { .fd = -1 };
        JsonObject *params = NULL;
        int status;

        if (g_str_equal(command, "kill")) {
                int signo = parse_signal(nargs > 0 ? args[0] : "TERM");
                if (signo < 0 || nargs > 1)
                        return usage(stderr, 2);
                params = json_object_new();
                json_object_set_int_member(params, "signal", signo);
        } else if (g_str_equal(command, "resize")) {
                gint64 rows, cols;
                if (nargs != 2 || !g_ascii_string_to_signed(args[0], 10, 0, 65535, &rows, NULL) ||
                    !g_ascii_string_to_signed(args[1], 10, 0, 65535, &cols, NULL))
                        return usage(stderr, 2);
                params = json_object_new();
                json_object_set_int_member(params, "rows", rows);
                json_object_set_int_member(params, "cols", cols);
        } else if (nargs > 0) {
                return usage(stderr, 2);
        }
        if (connect_target(target, &conn) < 0) {
                if (params)
                        json_object_unref(params);
                return 1;
        }
        if (g_str_equal(command, "state"))
                status = cmd_simple(&conn, IFACE "GetState", NULL, "state");
        else if (g_str_equal(command, "stats"))
                status = cmd_simple(&conn, IFACE "GetStats", NULL, "stats");
        else if (g_str_equal(command, "wait"))
                status = cmd_wait(&conn);
        else if (g_str_equal(command, "kill"))
                status = cmd_simple(&conn, IFACE "Kill", params, NULL);
        else if (g_str_equal(command, "resize"))
                status = cmd_simple(&conn, IFACE "Resize", params, NULL);
        else if (g_str_equal(command, "reopen-log"))
                status = cmd_simple(&conn, IFACE "ReopenLog", NULL, NULL);
        else
                status = cmd_events(&conn);
        close(conn.fd);
        g_byte_array_unref(conn.buf);
        return status;
}

int main(int argc, char **argv)
{
        static const char *commands[] = { "state", "wait", "kill", "resize", "reopen-log", "stats", "events" };
        g_autoptr(GPtrArray) pos = g_ptr_array_new();
        gboolean known = FALSE;

        for (int i = 1; i < argc; i++) {
                if (g_str_equal(argv[i], "--json"))
                        opt_json = TRUE;
                else if (g_str_equal(argv[i], "-h") || g_str_equal(argv[i], "--help"))
                        return usage(stdout, 0);
                else if (g_str_equal(argv[i], "--version")) {
                        printf("vigilctl version " VIGIL_VERSION "\n");
                        return 0;
                } else if (g_str_equal(argv[i], "--"))
                        for (i++; i < argc; i++)
                                g_ptr_array_add(pos, argv[i]);
                else if (argv[i][0] == '-' && argv[i][1] == '-')
                        return usage(stderr, 2);
                else
                        g_ptr_array_add(pos, argv[i]);
        }
        if (pos->len < 2)
                return usage(stderr, 2);
        for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
                known = known || g_str_equal(pos->pdata[0], commands[i]);
        if (!known)
                return usage(stderr, 2);
        return run(pos->pdata[0], pos->pdata[1], (char **) pos->pdata + 2, (int) pos->len - 2);
}
