/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's framing, dispatch, errors and limits against fake ControlOps, on an
 * abstract unix socket; the test drives the default main context by hand.
 */
#undef NDEBUG
#include <errno.h>
#include <glib.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control_private.h"

typedef struct {
        int kills;
        int last_signal;
        int kill_result;
        int resize_result;
        int reopen_result;
        int rows, cols;
        gboolean exited;
        gboolean no_notify;             /* no sd-notify relay */
        gboolean not_ready;             /* READY=1 not seen yet */
} Fake;

static Fake fake;
static JsonApi json;
static struct sockaddr_un addr;
static socklen_t addr_len;

static void fake_state(gpointer data, ControlState *st)
{
        st->id = "0123456789abcdef";
        st->name = "web";
        st->runtime = "/usr/bin/runc";
        st->bundle = "/run/b\xff";     /* not UTF-8: must still come out as valid JSON */
        st->container_pid = 4242;
        st->monitor_pid = 4241;
        st->status = fake.exited ? CONTROL_STATUS_STOPPED : CONTROL_STATUS_RUNNING;
        st->created_usec = 1700000000000000;
        st->started_usec = 1700000000500000;
        if (fake.exited) {
                st->exited = TRUE;
                st->exit_code = 137;
                st->signal = 9;
                st->oom = TRUE;
                st->finished_usec = 1700000001000000;
        }
        st->notify = (ControlNotifyState){ .enabled = !fake.no_notify, .ready = !fake.not_ready, .status = "serving",
                                           .relayed = 3 };
}

static void fake_stats(gpointer data, ControlStats *st)
{
        static const ControlCounter counters[] = { { "READY", 1 }, { "STATUS", 2 } };

        st->log_bytes[0] = 100;
        st->log_lines[1] = 7;
        st->notify_counters = counters;
        st->n_notify_counters = G_N_ELEMENTS(counters);
        st->cgroup_pids = 3;
}

static int fake_kill(gpointer data, int signo)
{
        fake.kills++;
        fake.last_signal = signo;
        return fake.kill_result;
}

static int fake_resize(gpointer data, int rows, int cols)
{
        fake.rows = rows;
        fake.cols = cols;
        return fake.resize_result;
}

static int fake_reopen(gpointer data, const char **failed_path)
{
        if (fake.reopen_result < 0)
                *failed_path = "/var/log/ctr/gone.log";
        return fake.reopen_result;
}

static const ControlOps ops = {
        .get_state = fake_state,
        .get_stats = fake_stats,
        .kill = fake_kill,
        .resize = fake_resize,
        .reopen_log = fake_reopen,
};

static ControlServer *server_new(const ControlLimits *limits)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        memset(&fake, 0, sizeof(fake));
        addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
        /* Abstract: nothing to clean up in the file system. */
        g_snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "vigil-test-control-%d", (int) getpid());
        addr_len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1);
        g_assert_cmpint(bind(fd, (struct sockaddr *) &addr, addr_len), ==, 0);
        g_assert_cmpint(listen(fd, 64), ==, 0);
        return control_server_new_for_fd(fd, &ops, NULL, &json, limits);
}

static void spin(void)
{
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static int client_new(void)
{
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        g_assert_cmpint(connect(fd, (struct sockaddr *) &addr, addr_len), ==, 0);
        spin();
        return fd;
}

static void send_raw(int fd, const char *data, size_t len)
{
        g_assert_cmpint(send(fd, data, len, MSG_NOSIGNAL), ==, (ssize_t) len);
}

static void send_msg(int fd, const char *msg)
{
        send_raw(fd, msg, strlen(msg) + 1);
}

/* The next message from the server (loop driven meanwhile), or NULL at EOF. */
static char *receive(int fd)
{
        GString *s = g_string_new(NULL);
        gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char ch;
                spin();
                if (poll(&p, 1, 10) == 1) {
                        ssize_t n = recv(fd, &ch, 1, 0);
                        if (n <= 0) {
                                g_string_free(s, TRUE);
                                return NULL;
                        }
                        if (ch == '\0')
                                return g_string_free(s, FALSE);
                        g_string_append_c(s, ch);
                }
                g_assert_cmpint(g_get_monotonic_time(), <, deadline);
        }
}

static gboolean nothing_to_read(int fd)
{
        struct pollfd p = { .fd = fd, .events = POLLIN };

        spin();
        return poll(&p, 1, 50) == 0;
}

static char *call(int fd, const char *msg)
{
        send_msg(fd, msg);
        return receive(fd);
}

static JsonNode *parse(const char *text)
{
        g_autoptr(GError) error = NULL;
        JsonNode *node;

        g_assert_nonnull(text);
        node = json.from_string(text, &error);
        g_assert_no_error(error);
        g_assert_cmpint(json.node_get_node_type(node), ==, JSON_NODE_OBJECT);
        return node;
}

static JsonNode *path(JsonNode *root, const char *dotted)
{
        g_auto(GStrv) parts = g_strsplit(dotted, ".", -1);
        JsonNode *n = root;

        for (char **p = parts; *p; p++) {
                if (json.node_get_node_type(n) != JSON_NODE_OBJECT)
                        return NULL;
                n = json.object_get_member(json.node_get_object(n), *p);
                if (!n)
                        return NULL;
        }
        return n;
}

static const char *path_str(JsonNode *o, const char *dotted)
{
        JsonNode *n = path(o, dotted);
        return n ? json.node_get_string(n) : NULL;
}

static gint64 path_int(JsonNode *o, const char *dotted)
{
        JsonNode *n = path(o, dotted);
        g_assert_nonnull(n);
        return json.node_get_int(n);
}

static void assert_error(const char *reply, const char *error, const char *param)
{
        JsonNode *o = parse(reply);

        g_assert_cmpstr(path_str(o, "error"), ==, error);
        if (param)
                g_assert_cmpstr(path_str(o, "parameters.parameter"), ==, param);
        json.node_unref(o);
}

static void assert_closed(int fd)
{
        g_autofree char *r = receive(fd);
        g_assert_null(r);
}

static void test_lazy_json_and_info(void)
{
        g_autoptr(ControlServer) s = server_new(NULL);
        int fd = client_new();
        g_autofree char *info = NULL;
        g_autofree char *desc = NULL;
        g_autofree char *svc = NULL;
        g_autofree char *missing = NULL;
        JsonNode *o;

        /* Connecting costs nothing: json-glib arrives with the first message. */
        g_assert_null(json.module);
        info = call(fd, "{\"method\":\"org.varlink.service.GetInfo\"}");
        g_assert_nonnull(json.module);
        o = parse(info);
        g_assert_cmpstr(path_str(o, "parameters.product"), ==, "vigil");
        g_assert_null(path(o, "continues"));
        json.node_unref(o);
        desc = call(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                        "\"parameters\":{\"interface\":\"io.vigil.Monitor\"}}");
        o = parse(desc);
        g_assert_true(g_str_has_prefix(strstr(path_str(o, "parameters.description"), "interface "),
                                       "interface io.vigil.Monitor\n"));
        g_assert_nonnull(strstr(path_str(o, "parameters.description"), "method Subscribe() -> (event: Event)"));
        json.node_unref(o);
        svc = call(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                       "\"parameters\":{\"interface\":\"org.varlink.service\"}}");
        g_assert_nonnull(strstr(svc, "interface org.varlink.service"));
        missing = call(fd, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
                           "\"parameters\":{\"interface\":\"com.example.Nope\"}}");
        assert_error(missing, "org.varlink.service.InterfaceNotFound", NULL);
        close(fd);
}

static void test_state_and_stats(void)
{
        g_autoptr(ControlServer) s = server_new(NULL);
        int fd = client_new();
        g_autofree char *state = call(fd, "{\"method\":\"io.vigil.Monitor.GetState\",\"parameters\":{}}");
        g_autofree char *stats = NULL;
        JsonNode *o = parse(state);

        g_assert_true(g_utf8_validate(state, -1, NULL));
        g_assert_cmpstr(path_str(o, "parameters.state.id"), ==, "0123456789abcdef");
        g_assert_cmpstr(path_str(o, "parameters.state.status"), ==, "running");
        g_assert_cmpint(path_int(o, "parameters.state.pid"), ==, 4242);
        g_assert_cmpstr(path_str(o, "parameters.state.created"), ==, "2023-11-14T22:13:20.000000Z");
        g_assert_cmpstr(path_str(o, "parameters.state.started"), ==, "2023-11-14T22:13:20.500000Z");
        g_assert_null(path(o, "parameters.state.finished"));
        g_assert_null(path(o, "parameters.state.exit_code"));
        g_assert_null(path(o, "parameters.state.health"));
        g_assert_cmpstr(path_str(o, "parameters.state.notify.status"), ==, "serving");
        g_assert_cmpint(path_int(o, "parameters.state.notify.relayed"), ==, 3);
        json.node_unref(o);

        stats = call(fd, "{\"method\":\"io.vigil.Monitor.GetStats\"}");
        o = parse(stats);
        g_assert_cmpint(path_int(o, "parameters.stats.log.stdout.bytes"), ==, 100);
        g_assert_cmpint(path_int(o, "parameters.stats.log.stderr.lines"), ==, 7);
        g_assert_cmpint(path_int(o, "parameters.stats.notify.STATUS"), ==, 2);
        g_assert_cmpint(path_int(o, "parameters.stats.monitor.control_clients"), ==, 1);
        g_assert_cmpint(path_int(o, "parameters.stats.cgroup.pids"), ==, 3);
        g_assert_null(path(o, "parameters.stats.cgroup.memory_bytes"));
        json.node_unref(o);
        close(fd);
}

static void test_actions_and_errors(void)
{
        static const struct {
                const char *call;
                const char *error;
                const char *param;
        } bad[] = {
                { "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":\"TERM\"}}",
                  "org.varlink.service.InvalidParameter", "signal" },
                { "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{}}", "org.varlink.service.InvalidParameter",
                  "signal" },
                { "{\"method\":\"io.vigil.Monitor.Kill\"}", "org.varlink.service.InvalidParameter", "signal" },
                { "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":1.5}}",
                  "org.varlink.service.InvalidParameter", "signal" },
                { "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":-1}}",
                  "org.varlink.service.InvalidParameter", "signal" },
                { "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":15,\"all\":true}}",
                  "org.varlink.service.InvalidParameter", "all" },
                { "{\"method\":\"io.vigil.Monitor.Resize\",\"parameters\":{\"rows\":70000,\"cols\":1}}",
                  "org.varlink.service.InvalidParameter", "rows" },
                { "{\"method\":\"io.vigil.Monitor.Resize\",\"parameters\":{\"rows\":10}}",
                  "org.varlink.service.InvalidParameter", "cols" },
                { "{\"method\":\"io.vigil.Monitor.GetState\",\"parameters\":[]}",
                  "org.varlink.service.InvalidParameter", "parameters" },
                { "{\"method\":\"io.vigil.Monitor.Explode\"}", "org.varlink.service.MethodNotFound", NULL },
                { "{\"method\":\"com.example.Thing.Do\"}", "org.varlink.service.InterfaceNotFound", NULL },
                { "{\"method\":\"NoDots\"}", "org.varlink.service.InterfaceNotFound", NULL },
                { "{\"method\":\"io.vigil.Monitor.Subscribe\"}", "org.varlink.service.ExpectedMore", NULL },
        };
        g_autoptr(ControlServer) s = server_new(NULL);
        int fd = client_new();

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autofree char *r = call(fd, bad[i].call);
                assert_error(r, bad[i].error, bad[i].param);
        }
        g_assert_cmpint(fake.kills, ==, 0);
        g_free(call(fd, "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":15}}"));
        g_assert_cmpint(fake.last_signal, ==, 15);
        fake.kill_result = -ESRCH;
        {
                g_autofree char *r = call(fd, "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":9}}");
                assert_error(r, "io.vigil.Monitor.NotRunning", NULL);
        }
        fake.resize_result = -ENOTTY;
        {
                g_autofree char *r = call(fd, "{\"method\":\"io.vigil.Monitor.Resize\","
                                              "\"parameters\":{\"rows\":24,\"cols\":80}}");
                assert_error(r, "io.vigil.Monitor.NoTerminal", NULL);
                g_assert_cmpint(fake.cols, ==, 80);
        }
        {
                g_autofree char *r = call(fd, "{\"method\":\"io.vigil.Monitor.ReopenLog\"}");
                g_assert_cmpstr(r, ==, "{\"parameters\":{}}");
        }
        fake.reopen_result = -EACCES;
        {
                g_autofree char *r = call(fd, "{\"method\":\"io.vigil.Monitor.ReopenLog\"}");
                JsonNode *o = parse(r);
                g_assert_cmpstr(path_str(o, "error"), ==, "io.vigil.Monitor.OperationFailed");
                g_assert_cmpint(path_int(o, "parameters.errno"), ==, EACCES);
                g_assert_cmpstr(path_str(o, "parameters.message"), ==, g_strerror(EACCES));
                g_assert_cmpstr(path_str(o, "parameters.path"), ==, "/var/log/ctr/gone.log");
                json.node_unref(o);
        }
        /* oneway: no reply at all; the next call's reply is the next message. */
        send_msg(fd, "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":1},\"oneway\":true}");
        {
                g_autofree char *r = call(fd, "{\"method\":\"org.varlink.service.GetInfo\"}");
                g_assert_nonnull(strstr(r, "\"vendor\""));
                g_assert_cmpint(fake.last_signal, ==, 1);
        }
        close(fd);
}

static void test_garbage_closes(void)
{
        static const char *garbage[] = {
                "", "{", "not json", "[1,2,3]", "42", "{\"parameters\":{}}", "{\"method\":17}",
                "{\"method\":\"org.varlink.service.GetInfo\",\"more\":\"yes\"}", "{\"method\":\"a.b\"}trailing",
                "{\"method\":\"\xff\xfe\"}",
        };
        g_autoptr(ControlServer) s = server_new(NULL);
        GString *deep = g_string_new("{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{\"x\":");

        for (size_t i = 0; i < G_N_ELEMENTS(garbage); i++) {
                int fd = client_new();
                send_msg(fd, garbage[i]);
                assert_closed(fd);
                close(fd);
        }
        /* Deeply nested but short (a recursive parser's stack), then simply too long. */
        for (int n = 0; n < 2; n++) {
                int fd = client_new();
                for (int i = 0; i < (n == 0 ? 20000 : 100000); i++)
                        g_string_append_c(deep, '[');
                send_raw(fd, deep->str, deep->len);
                send_raw(fd, "", 1);
                assert_closed(fd);
                close(fd);
        }
        g_string_free(deep, TRUE);
        /* Still serving. */
        {
                int fd = client_new();
                g_autofree char *r = call(fd, "{\"method\":\"org.varlink.service.GetInfo\"}");
                g_assert_nonnull(r);
                close(fd);
        }
        spin();
        g_assert_cmpuint(control_server_client_count(s), ==, 0);
}

static void test_limits(void)
{
        ControlLimits limits = CONTROL_LIMITS_DEFAULT;
        g_autoptr(ControlServer) s = NULL;
        g_autofree char *big = g_malloc(5000);
        int fds[3];

        limits.message_max = 4096;
        limits.clients_max = 2;
        limits.output_max = 8192;
        limits.partial_timeout_ms = 100;
        s = server_new(&limits);

        /* Too long without a NUL. */
        fds[0] = client_new();
        memset(big, ' ', 5000);
        send_raw(fds[0], big, 5000);
        assert_closed(fds[0]);
        close(fds[0]);

        /* Client limit: a third connection evicts the client idle longest, the first. */
        fds[0] = client_new();
        fds[1] = client_new();
        g_free(call(fds[1], "{\"method\":\"org.varlink.service.GetInfo\"}"));
        fds[2] = client_new();
        assert_closed(fds[0]);
        close(fds[0]);
        close(fds[2]);
        spin();
        fds[0] = client_new();

        /* Half a message: dropped after partial_timeout_ms; the other client is unaffected. */
        send_raw(fds[0], "{\"method\":\"org.varl", 19);
        {
                g_autofree char *r = call(fds[1], "{\"method\":\"org.varlink.service.GetInfo\"}");
                g_assert_nonnull(r);
        }
        assert_closed(fds[0]);
        close(fds[0]);

        /* Half a message, then end of input: dropped. */
        fds[0] = client_new();
        send_raw(fds[0], "{\"method\":", 10);
        shutdown(fds[0], SHUT_WR);
        assert_closed(fds[0]);
        close(fds[0]);

        /* A client that sends calls but never reads replies is dropped, not buffered for. */
        {
                gboolean closed = FALSE;
                for (int i = 0; i < 20000 && !closed; i++) {
                        const char *m = "{\"method\":\"io.vigil.Monitor.GetState\"}";
                        closed = send(fds[1], m, strlen(m) + 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
                                 errno != EAGAIN;
                        spin();
                }
                g_assert_cmpuint(control_server_client_count(s), ==, 0);
        }
        close(fds[1]);
}

static void assert_get_state_answered(void)
{
        int fd = client_new();
        g_autofree char *r = call(fd, "{\"method\":\"io.vigil.Monitor.GetState\"}");

        g_assert_nonnull(r);
        g_assert_nonnull(strstr(r, "\"state\""));
        close(fd);
}

/* A full table of connections that never send a byte locks nobody out, and goes away. */
static void test_silent_clients(void)
{
        ControlLimits limits = CONTROL_LIMITS_DEFAULT;
        g_autoptr(ControlServer) s = NULL;
        int fds[32];

        limits.idle_timeout_ms = 300;
        s = server_new(&limits);
        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                fds[i] = client_new();
        g_assert_cmpuint(control_server_client_count(s), ==, limits.clients_max);
        for (int i = 0; i < 3; i++)
                assert_get_state_answered();
        /* Each GetState evicted one silent client; the rest go at the idle timeout. */
        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++) {
                assert_closed(fds[i]);
                close(fds[i]);
        }
        spin();
        g_assert_cmpuint(control_server_client_count(s), ==, 0);
}

/* Idle subscribers take at most waiting_max slots and are never timed out or evicted. */
static void test_idle_subscribers(void)
{
        ControlLimits limits = CONTROL_LIMITS_DEFAULT;
        g_autoptr(ControlServer) s = NULL;
        ControlEvent ev = { .type = "ready" };
        int fds[32];

        limits.idle_timeout_ms = 100;
        s = server_new(&limits);
        for (guint i = 0; i < G_N_ELEMENTS(fds); i++) {
                g_autofree char *r = NULL;
                fds[i] = client_new();
                r = call(fds[i], "{\"method\":\"io.vigil.Monitor.Subscribe\",\"more\":true}");
                g_assert_nonnull(r);
                if (i < limits.waiting_max) {
                        g_assert_nonnull(strstr(r, "\"subscribed\""));
                } else {
                        JsonNode *o = parse(r);
                        g_assert_cmpstr(path_str(o, "error"), ==, "io.vigil.Monitor.TooManyWaiters");
                        g_assert_cmpint(path_int(o, "parameters.limit"), ==, limits.waiting_max);
                        json.node_unref(o);
                }
        }
        for (int i = 0; i < 3; i++)
                assert_get_state_answered();
        /* Past the idle timeout: the refused ones are gone, the subscribers are served. */
        for (guint i = limits.waiting_max; i < G_N_ELEMENTS(fds); i++)
                assert_closed(fds[i]);
        control_server_emit(s, &ev);
        for (guint i = 0; i < limits.waiting_max; i++) {
                g_autofree char *r = receive(fds[i]);
                g_assert_nonnull(r);
                g_assert_nonnull(strstr(r, "\"ready\""));
        }
        g_assert_cmpuint(control_server_client_count(s), ==, limits.waiting_max);
        for (guint i = 0; i < G_N_ELEMENTS(fds); i++)
                close(fds[i]);
}

static void test_shutdown_write_still_answered(void)
{
        g_autoptr(ControlServer) s = server_new(NULL);
        int fd = client_new();
        g_autofree char *a = NULL;
        g_autofree char *b = NULL;

        /* Two calls in one write, then SHUT_WR: both answered, in order, then EOF. */
        static const char two[] = "{\"method\":\"io.vigil.Monitor.GetState\"}\0"
                                  "{\"method\":\"org.varlink.service.GetInfo\"}";

        send_raw(fd, two, sizeof(two));
        shutdown(fd, SHUT_WR);
        a = receive(fd);
        b = receive(fd);
        g_assert_nonnull(strstr(a, "\"state\""));
        g_assert_nonnull(strstr(b, "\"vendor\""));
        assert_closed(fd);
        close(fd);
}

static void test_wait_and_subscribe(void)
{
        g_autoptr(ControlServer) s = server_new(NULL);
        int waiters[4], subs[3];
        int fd;
        ControlEvent ev = { .type = "status", .text = "warming up" };

        for (size_t i = 0; i < G_N_ELEMENTS(waiters); i++) {
                waiters[i] = client_new();
                send_msg(waiters[i], "{\"method\":\"io.vigil.Monitor.Wait\"}");
        }
        /* A call behind a pending Wait waits for it. */
        send_msg(waiters[0], "{\"method\":\"org.varlink.service.GetInfo\"}");
        for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
                g_autofree char *first = NULL;
                JsonNode *o;
                subs[i] = client_new();
                send_msg(subs[i], "{\"method\":\"io.vigil.Monitor.Subscribe\",\"more\":true}");
                first = receive(subs[i]);
                o = parse(first);
                g_assert_cmpstr(path_str(o, "parameters.event.type"), ==, "subscribed");
                g_assert_cmpstr(path_str(o, "parameters.event.text"), ==, "running");
                g_assert_true(json.node_get_boolean(path(o, "continues")));
                json.node_unref(o);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(waiters); i++)
                g_assert_true(nothing_to_read(waiters[i]));
        control_server_emit(s, &ev);
        for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
                g_autofree char *r = receive(subs[i]);
                JsonNode *o = parse(r);
                g_assert_cmpstr(path_str(o, "parameters.event.type"), ==, "status");
                g_assert_cmpstr(path_str(o, "parameters.event.text"), ==, "warming up");
                g_assert_nonnull(path_str(o, "parameters.event.time"));
                json.node_unref(o);
        }
        /* A subscriber that hangs up is forgotten. */
        close(subs[2]);
        spin();
        g_assert_cmpuint(control_server_client_count(s), ==, G_N_ELEMENTS(waiters) + 2);

        fake.exited = TRUE;
        control_server_exited(s);
        for (size_t i = 0; i < G_N_ELEMENTS(waiters); i++) {
                g_autofree char *r = receive(waiters[i]);
                JsonNode *o = parse(r);
                g_assert_cmpint(path_int(o, "parameters.exit_code"), ==, 137);
                g_assert_cmpint(path_int(o, "parameters.signal"), ==, 9);
                g_assert_true(json.node_get_boolean(path(o, "parameters.oom")));
                g_assert_cmpstr(path_str(o, "parameters.finished"), ==, "2023-11-14T22:13:21.000000Z");
                json.node_unref(o);
        }
        {
                g_autofree char *r = receive(waiters[0]);
                g_assert_nonnull(strstr(r, "\"vendor\""));
        }
        for (size_t i = 0; i < 2; i++) {
                g_autofree char *r = receive(subs[i]);
                JsonNode *o = parse(r);
                g_assert_cmpstr(path_str(o, "parameters.event.type"), ==, "exited");
                g_assert_cmpint(path_int(o, "parameters.event.exit_code"), ==, 137);
                g_assert_null(path(o, "continues"));
                json.node_unref(o);
        }
        /* After the exit: Wait answers at once, Subscribe ends at once, Kill is refused. */
        fd = client_new();
        {
                g_autofree char *w = call(fd, "{\"method\":\"io.vigil.Monitor.Wait\"}");
                g_autofree char *e = call(fd, "{\"method\":\"io.vigil.Monitor.Subscribe\",\"more\":true}");
                g_autofree char *k = call(fd, "{\"method\":\"io.vigil.Monitor.Kill\",\"parameters\":{\"signal\":9}}");
                g_assert_nonnull(strstr(w, "\"exit_code\":137"));
                g_assert_nonnull(strstr(e, "\"exited\""));
                g_assert_null(strstr(e, "continues"));
                assert_error(k, "io.vigil.Monitor.NotRunning", NULL);
        }
        close(fd);
        for (size_t i = 0; i < G_N_ELEMENTS(waiters); i++)
                close(waiters[i]);
        close(subs[0]);
        close(subs[1]);
}

static void assert_ready_reply(int fd)
{
        g_autofree char *r = receive(fd);
        JsonNode *o = parse(r);

        g_assert_null(path(o, "error"));
        g_assert_cmpstr(path_str(o, "parameters.status"), ==, "serving");
        json.node_unref(o);
}

/* WaitReady answers on the "ready" event only, at once when ready already. */
static void test_wait_ready(void)
{
        g_autoptr(ControlServer) s = server_new(NULL);
        ControlEvent status = { .type = "status", .text = "warming up" };
        ControlEvent ready = { .type = "ready" };
        int fds[3];

        fake.not_ready = TRUE;
        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++) {
                fds[i] = client_new();
                send_msg(fds[i], "{\"method\":\"io.vigil.Monitor.WaitReady\"}");
        }
        control_server_emit(s, &status);
        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                g_assert_true(nothing_to_read(fds[i]));
        fake.not_ready = FALSE;
        control_server_emit(s, &ready);
        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                assert_ready_reply(fds[i]);
        /* The slot is free again, and a later WaitReady is answered at once. */
        send_msg(fds[0], "{\"method\":\"io.vigil.Monitor.WaitReady\"}");
        assert_ready_reply(fds[0]);
        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                close(fds[i]);
}

static void test_wait_ready_exit_and_no_notify(void)
{
        g_autoptr(ControlServer) s = server_new(NULL);
        int fd = client_new();
        g_autofree char *late = NULL;
        g_autofree char *none = NULL;
        g_autofree char *r = NULL;
        JsonNode *o;

        fake.not_ready = TRUE;
        send_msg(fd, "{\"method\":\"io.vigil.Monitor.WaitReady\"}");
        g_assert_true(nothing_to_read(fd));
        fake.exited = TRUE;
        control_server_exited(s);
        r = receive(fd);
        o = parse(r);
        g_assert_cmpstr(path_str(o, "error"), ==, "io.vigil.Monitor.Exited");
        g_assert_cmpint(path_int(o, "parameters.exit_code"), ==, 137);
        g_assert_cmpint(path_int(o, "parameters.signal"), ==, 9);
        g_assert_false(json.node_get_boolean(path(o, "parameters.was_ready")));
        json.node_unref(o);
        /* After the exit, at once; even a container that was ready is no dependency now. */
        fake.not_ready = FALSE;
        late = call(fd, "{\"method\":\"io.vigil.Monitor.WaitReady\"}");
        assert_error(late, "io.vigil.Monitor.Exited", NULL);
        o = parse(late);
        g_assert_true(json.node_get_boolean(path(o, "parameters.was_ready")));
        json.node_unref(o);
        fake.exited = FALSE;
        fake.no_notify = TRUE;
        s->exited = FALSE;
        none = call(fd, "{\"method\":\"io.vigil.Monitor.WaitReady\"}");
        assert_error(none, "io.vigil.Monitor.NoNotify", NULL);
        close(fd);
}

/*
 * Every waiter hears NoExitStatus, however many, even when sending to one of them fails
 * (@gone waiters hung up before the loop noticed): dropping one must not skip another.
 */
static void free_with_waiters(guint n, guint gone)
{
        ControlServer *s = server_new(NULL);
        g_autofree int *fds = g_new(int, n);

        for (guint i = 0; i < n; i++) {
                fds[i] = client_new();
                send_msg(fds[i], "{\"method\":\"io.vigil.Monitor.Wait\"}");
        }
        spin();
        for (guint i = 0; i < gone; i++)
                close(fds[i]);
        control_server_free(s);
        for (guint i = gone; i < n; i++) {
                g_autofree char *r = receive(fds[i]);
                g_assert_nonnull(r);
                assert_error(r, "io.vigil.Monitor.NoExitStatus", NULL);
                assert_closed(fds[i]);
                close(fds[i]);
        }
}

static void test_free_with_waiters(void)
{
        free_with_waiters(1, 0);
        free_with_waiters(3, 0);
        free_with_waiters(3, 1);
        free_with_waiters(8, 3);
}

/* Kill, then Wait at once: the Wait may still be unread when the exit is seen. */
static void test_wait_sent_before_exit_answered(void)
{
        ControlServer *s = server_new(NULL);
        int fd = client_new();
        g_autofree char *r = NULL;
        JsonNode *root;

        spin();
        fake.exited = TRUE;
        send_msg(fd, "{\"method\":\"io.vigil.Monitor.Wait\"}");
        control_server_exited(s);
        control_server_free(s);
        r = receive(fd);
        g_assert_nonnull(r);
        root = parse(r);
        g_assert_cmpint(path_int(root, "parameters.exit_code"), ==, 137);
        json.node_unref(root);
        assert_closed(fd);
        close(fd);
        fake.exited = FALSE;
}

static void test_peer_uid_refused(void)
{
        g_autoptr(ControlServer) s = NULL;
        pid_t pid;
        int status;

        if (geteuid() != 0) {
                g_test_skip("needs root to connect as another uid");
                return;
        }
        s = server_new(NULL);
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                char buf[256] = { 0 };
                int fd;
                ssize_t n, total = 0;
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(3);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
                if (connect(fd, (struct sockaddr *) &addr, addr_len) < 0)
                        _exit(4);
                (void) send(fd, "{\"method\":\"io.vigil.Monitor.GetState\"}", 39, MSG_NOSIGNAL);
                while ((n = recv(fd, buf + total, sizeof(buf) - 1 - total, 0)) > 0)
                        total += n;
                _exit(strstr(buf, "org.varlink.service.PermissionDenied") && !strstr(buf, "\"state\"") ? 0 : 5);
        }
        while (waitpid(pid, &status, WNOHANG) == 0) {
                spin();
                g_usleep(1000);
        }
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
        g_assert_cmpuint(control_server_client_count(s), ==, 0);
}

static void test_depth_and_time(void)
{
        char buf[CONTROL_TIME_LEN];

        g_assert_true(control_json_depth_ok("{\"a\":[[1]]}", 11, 3));
        g_assert_false(control_json_depth_ok("{\"a\":[[1]]}", 11, 2));
        /* Brackets inside strings (escaped quotes too) do not count. */
        g_assert_true(control_json_depth_ok("{\"[[[\\\"[[\":1}", 13, 1));
        control_format_time(1700000000123456, buf);
        g_assert_cmpstr(buf, ==, "2023-11-14T22:13:20.123456Z");
        g_assert_cmpstr(control_status_name(CONTROL_STATUS_CREATED), ==, "created");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        signal(SIGPIPE, SIG_IGN);
        /* Order matters for the first: it checks that json-glib is not loaded before a message. */
        g_test_add_func("/control/lazy-json-and-info", test_lazy_json_and_info);
        g_test_add_func("/control/state-and-stats", test_state_and_stats);
        g_test_add_func("/control/actions-and-errors", test_actions_and_errors);
        g_test_add_func("/control/garbage-closes", test_garbage_closes);
        g_test_add_func("/control/limits", test_limits);
        g_test_add_func("/control/silent-clients", test_silent_clients);
        g_test_add_func("/control/idle-subscribers", test_idle_subscribers);
        g_test_add_func("/control/shutdown-write-still-answered", test_shutdown_write_still_answered);
        g_test_add_func("/control/wait-and-subscribe", test_wait_and_subscribe);
        g_test_add_func("/control/wait-ready", test_wait_ready);
        g_test_add_func("/control/wait-ready-exit-and-no-notify", test_wait_ready_exit_and_no_notify);
        g_test_add_func("/control/free-with-waiters", test_free_with_waiters);
        g_test_add_func("/control/wait-sent-before-exit-answered", test_wait_sent_before_exit_answered);
        g_test_add_func("/control/peer-uid-refused", test_peer_uid_refused);
        g_test_add_func("/control/depth-and-time", test_depth_and_time);
        return g_test_run();
}
