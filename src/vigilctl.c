/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vigilctl: ask vigil monitors about their containers over their control sockets (Varlink,
 * interface io.vigil.Monitor).  A container is named by its name, id or unique id prefix
 * (through the registry, registry.h) or by its bundle or socket path.  One call per run;
 * `events` follows the Subscribe stream until the container exits, `top` redraws until
 * interrupted.  Human-readable output by default, JSON with --json.
 *
 * Exit status: vigilctl.h (CTL_EXIT_*), documented in vigilctl(1); `wait` exits with the
 * container's exit code.
 */
#include <errno.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "registry.h"
#include "version.h"
#include "vigilctl.h"

static int usage(FILE *f, int status)
{
        fprintf(f, "Usage: vigilctl [OPTIONS] COMMAND [CONTAINER] [ARGS]\n"
                   "\n"
                   "Commands:\n"
                   "  ps                    list the monitors on this host\n"
                   "  top                   CPU, memory, log rate and state of every container, live\n"
                   "  state CONTAINER       the container's state\n"
                   "  wait CONTAINER        wait for the container to exit; exit with its exit code\n"
                   "  wait --ready CONTAINER  wait until the container is ready (sd-notify READY=1)\n"
                   "  kill CONTAINER [SIGNAL]  send SIGNAL (name or number, default TERM)\n"
                   "  resize CONTAINER ROWS COLS  resize the container's terminal\n"
                   "  reopen-log CONTAINER  reopen the log files\n"
                   "  stats CONTAINER       logging, monitor and cgroup statistics\n"
                   "  events CONTAINER      print events until the container exits\n"
                   "\n"
                   "CONTAINER is a container name, id or unique id prefix, a bundle directory holding\n"
                   "vigil.sock, or a control socket.\n"
                   "  --json                print JSON\n"
                   "  --timeout DURATION    wait --ready: give up after DURATION (30s, 500ms, 2m)\n"
                   "  --no-stream           top: print once\n"
                   "  --interval DURATION   top: time between samples (default 1s)\n");
        return status;
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

static void print_event(const Ctl *ctl, JsonObject *event)
{
        const char *type = json_object_get_string_member_with_default(event, "type", "?");
        const char *time = json_object_get_string_member_with_default(event, "time", "");
        const char *text = json_object_get_string_member_with_default(event, "text", NULL);

        if (ctl->json) {
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

static int cmd_events(const Ctl *ctl, Conn *conn)
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
                        print_event(ctl, json_node_get_object(event));
                if (!json_object_get_boolean_member_with_default(reply, "continues", FALSE))
                        return 0;
        }
}

static int cmd_wait(const Ctl *ctl, Conn *conn)
{
        g_autoptr(JsonObject) r = call(conn, IFACE "Wait", NULL);
        gint64 code, signo;

        if (!r)
                return 1;
        code = json_object_get_int_member_with_default(r, "exit_code", -1);
        signo = json_object_get_int_member_with_default(r, "signal", 0);
        if (ctl->json)
                print_object_json(r);
        else if (signo > 0)
                printf("killed by signal %" G_GINT64_FORMAT " (exit code %" G_GINT64_FORMAT ")\n", signo, code);
        else
                printf("exited with code %" G_GINT64_FORMAT "\n", code);
        /* An unknown status (-1) is not a success. */
        return code < 0 || code > 255 ? 255 : (int) code;
}

static int cmd_simple(const Ctl *ctl, Conn *conn, const char *method, JsonObject *params, const char *member)
{
        g_autoptr(JsonObject) r = call(conn, method, params);
        JsonObject *shown;

        if (!r)
                return 1;
        shown = member ? json_object_get_object_member(r, member) : r;
        if (ctl->json)
                print_object_json(shown ? shown : r);
        else if (member && shown)
                print_flat(shown, NULL);
        return 0;
}

static int not_ready_exited(const char *target, gint64 exit_code, gboolean was_ready)
{
        fail("%s exited (exit code %" G_GINT64_FORMAT ") %s", target, exit_code,
             was_ready ? "after it had been ready: it is not ready now" : "before it was ready");
        return CTL_EXIT_NOT_READY;
}

static int not_ready_no_notify(const char *target)
{
        fail("%s cannot report readiness: it has no sd-notify socket (see vigilctl(1), READINESS)", target);
        return CTL_EXIT_NOT_READY;
}

/* --timeout 0: ready now or not, from the state; WaitReady would hold an undecided call. */
static int ready_now(const Ctl *ctl, Conn *conn, const char *target)
{
        g_autoptr(JsonObject) reply = call(conn, IFACE "GetState", NULL);
        JsonObject *state = member_object(reply, "state");
        JsonObject *notify = member_object(state, "notify");
        gboolean ready;

        if (!state) {
                if (reply)
                        fail("%s answered GetState without a state", target);
                return CTL_EXIT_ERROR;
        }
        ready = notify && json_object_get_boolean_member_with_default(notify, "ready", FALSE);
        if (json_object_has_member(state, "exit_code"))
                return not_ready_exited(target, json_object_get_int_member_with_default(state, "exit_code", -1), ready);
        if (!notify)
                return not_ready_no_notify(target);
        if (!ready) {
                fail("%s is not ready yet (--timeout 0: not waiting)", target);
                return CTL_EXIT_TIMEOUT;
        }
        if (!ctl->json)
                printf("ready\n");
        else
                print_object_json(state);
        return 0;
}

static int cmd_wait_ready(const Ctl *ctl, Conn *conn, const char *target)
{
        g_autoptr(JsonObject) reply = NULL;
        const char *error;
        JsonObject *params;

        if (ctl->timeout_ms == 0)
                return ready_now(ctl, conn, target);
        if (ctl->timeout_ms >= 0)
                conn->deadline = g_get_monotonic_time() + ctl->timeout_ms * 1000;
        reply = call_raw(conn, IFACE "WaitReady", NULL);
        if (!reply && conn->timed_out) {
                fail("timed out after %" G_GINT64_FORMAT " ms: %s is not ready yet", ctl->timeout_ms, target);
                return CTL_EXIT_TIMEOUT;
        }
        if (!reply)
                return CTL_EXIT_ERROR;
        error = json_object_get_string_member_with_default(reply, "error", NULL);
        params = reply_params(reply);
        if (error && g_str_equal(error, IFACE "Exited"))
                return not_ready_exited(
                        target, params ? json_object_get_int_member_with_default(params, "exit_code", -1) : -1,
                        params && json_object_get_boolean_member_with_default(params, "was_ready", FALSE));
        if (error && g_str_equal(error, IFACE "NoNotify"))
                return not_ready_no_notify(target);
        if (report_error(reply))
                return CTL_EXIT_ERROR;
        if (ctl->json && params)
                print_object_json(params);
        else if (!ctl->json)
                printf("ready\n");
        return 0;
}

/* Arguments after the container; NULL @ret_params and an exit code on a usage error. */
static int command_params(const char *command, char **args, int nargs, JsonObject **ret_params)
{
        gint64 rows, cols;
        int signo;

        *ret_params = NULL;
        if (g_str_equal(command, "kill")) {
                signo = parse_signal(nargs > 0 ? args[0] : "TERM");
                if (signo < 0 || nargs > 1)
                        return CTL_EXIT_USAGE;
                *ret_params = json_object_new();
                json_object_set_int_member(*ret_params, "signal", signo);
        } else if (g_str_equal(command, "resize")) {
                if (nargs != 2 || !g_ascii_string_to_signed(args[0], 10, 0, 65535, &rows, NULL) ||
                    !g_ascii_string_to_signed(args[1], 10, 0, 65535, &cols, NULL))
                        return CTL_EXIT_USAGE;
                *ret_params = json_object_new();
                json_object_set_int_member(*ret_params, "rows", rows);
                json_object_set_int_member(*ret_params, "cols", cols);
        } else if (nargs > 0) {
                return CTL_EXIT_USAGE;
        }
        return 0;
}

static int dispatch(const Ctl *ctl, const char *command, const char *target, Conn *conn, JsonObject *params)
{
        if (g_str_equal(command, "state"))
                return cmd_simple(ctl, conn, IFACE "GetState", NULL, "state");
        if (g_str_equal(command, "stats"))
                return cmd_simple(ctl, conn, IFACE "GetStats", NULL, "stats");
        if (g_str_equal(command, "wait"))
                return ctl->ready ? cmd_wait_ready(ctl, conn, target) : cmd_wait(ctl, conn);
        if (g_str_equal(command, "kill"))
                return cmd_simple(ctl, conn, IFACE "Kill", params, NULL);
        if (g_str_equal(command, "resize"))
                return cmd_simple(ctl, conn, IFACE "Resize", params, NULL);
        if (g_str_equal(command, "reopen-log"))
                return cmd_simple(ctl, conn, IFACE "ReopenLog", NULL, NULL);
        return cmd_events(ctl, conn);
}

static int run(const Ctl *ctl, const char *command, const char *target, char **args, int nargs)
{
        Conn conn = CONN_NULL;
        JsonObject *params = NULL;
        int status = command_params(command, args, nargs, &params);

        if (status != 0)
                return usage(stderr, status);
        status = target_open(ctl, target, &conn);
        if (status == 0)
                status = dispatch(ctl, command, target, &conn, g_steal_pointer(&params));
        if (params)
                json_object_unref(params);
        conn_close(&conn);
        return status;
}

/* An option's value: "--name=VALUE" or the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
        size_t len = strlen(name);

        if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=')
                return argv[*i] + len + 1;
        if (!g_str_equal(argv[*i], name))
                return NULL;
        return *i + 1 < argc ? argv[++*i] : "";
}

static gboolean parse_duration_option(const char *value, unsigned *ret_ms)
{
        if (config_parse_duration_ms(value, ret_ms))
                return TRUE;
        fail("invalid duration \"%s\" (30s, 500ms, 2m; a bare number is seconds)", value);
        return FALSE;
}

/* 0, -1 to exit 0 (help, version), or an exit code. */
static int parse_option(Ctl *ctl, int argc, char **argv, int *i)
{
        const char *a = argv[*i];
        const char *v;
        unsigned ms;

        if (g_str_equal(a, "--json"))
                ctl->json = TRUE;
        else if (g_str_equal(a, "--ready"))
                ctl->ready = TRUE;
        else if (g_str_equal(a, "--no-stream"))
                ctl->no_stream = TRUE;
        else if ((v = option_value(argc, argv, i, "--timeout"))) {
                if (!parse_duration_option(v, &ms))
                        return CTL_EXIT_USAGE;
                ctl->timeout_ms = ms;
        } else if ((v = option_value(argc, argv, i, "--interval"))) {
                if (!parse_duration_option(v, &ctl->interval_ms) || ctl->interval_ms == 0)
                        return CTL_EXIT_USAGE;
        } else if (g_str_equal(a, "-h") || g_str_equal(a, "--help")) {
                usage(stdout, 0);
                return -1;
        } else if (g_str_equal(a, "--version")) {
                printf("vigilctl version " VIGIL_VERSION "\n");
                return -1;
        } else {
                return usage(stderr, CTL_EXIT_USAGE);
        }
        return 0;
}

/* The registry vigil itself would use: VIGIL_REGISTRY_DIR, vigil.conf, the default. */
static int resolve_registry(Ctl *ctl)
{
        VigilSettings s = { 0 };
        g_autoptr(GError) error = NULL;

        if (!config_file_resolve(&s, &error)) {
                config_file_clear(&s);
                return fail("%s", error->message);
        }
        ctl->registry_dir = registry_dir(s.registry_dir);
        config_file_clear(&s);
        return 0;
}

static gboolean known_command(const char *command)
{
        static const char *const commands[] = { "state", "wait", "kill", "resize", "reopen-log", "stats",
                                                "events", "ps", "top" };

        for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
                if (g_str_equal(command, commands[i]))
                        return TRUE;
        return FALSE;
}

static int run_command(Ctl *ctl, GPtrArray *pos)
{
        const char *command = pos->pdata[0];
        gboolean listing = g_str_equal(command, "ps") || g_str_equal(command, "top");

        if (!known_command(command) || (listing && pos->len != 1) || (!listing && pos->len < 2) ||
            (ctl->ready && !g_str_equal(command, "wait")))
                return usage(stderr, CTL_EXIT_USAGE);
        if (g_str_equal(command, "ps"))
                return cmd_ps(ctl);
        if (g_str_equal(command, "top"))
                return cmd_top(ctl);
        return run(ctl, command, pos->pdata[1], (char **) pos->pdata + 2, (int) pos->len - 2);
}

int main(int argc, char **argv)
{
        g_autoptr(GPtrArray) pos = g_ptr_array_new();
        Ctl ctl = { .timeout_ms = -1, .interval_ms = 1000 };
        int status;

        for (int i = 1; i < argc; i++) {
                if (g_str_equal(argv[i], "--")) {
                        for (i++; i < argc; i++)
                                g_ptr_array_add(pos, argv[i]);
                } else if (argv[i][0] == '-' && argv[i][1] == '-') {
                        status = parse_option(&ctl, argc, argv, &i);
                        if (status != 0)
                                return status < 0 ? 0 : status;
                } else if (g_str_equal(argv[i], "-h")) {
                        return usage(stdout, 0);
                } else {
                        g_ptr_array_add(pos, argv[i]);
                }
        }
        if (pos->len < 1)
                return usage(stderr, CTL_EXIT_USAGE);
        status = resolve_registry(&ctl);
        if (status == 0)
                status = run_command(&ctl, pos);
        g_free(ctl.registry_dir);
        return status;
}
