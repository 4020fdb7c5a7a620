/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket's protocol: Varlink calls parsed with json-glib (through JsonApi, so
 * the library is mapped only once a client has spoken), checked against a table of
 * methods and their parameter types, and answered with replies built as JsonObjects.
 *
 * What is dropped and what is answered: a message that is not a JSON object with a string
 * "method" cannot be answered meaningfully and closes the connection; everything else gets
 * a Varlink error (unknown interface or method, a parameter of the wrong type or range).
 */
#include "control_private.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "logging.h"
#include "version.h"

static const char service_description[] =
        "# Introspection, provided by every Varlink service.\n"
        "interface org.varlink.service\n"
        "\n"
        "# The service's vendor, product, version, a URL, and its interfaces.\n"
        "method GetInfo() -> (\n"
        "  vendor: string,\n"
        "  product: string,\n"
        "  version: string,\n"
        "  url: string,\n"
        "  interfaces: []string\n"
        ")\n"
        "\n"
        "# The IDL text of one of the interfaces named by GetInfo.\n"
        "method GetInterfaceDescription(interface: string) -> (description: string)\n"
        "\n"
        "error InterfaceNotFound (interface: string)\n"
        "error MethodNotFound (method: string)\n"
        "error MethodNotImplemented (method: string)\n"
        "error InvalidParameter (parameter: string)\n"
        "error PermissionDenied ()\n"
        "error ExpectedMore ()\n";

static const char monitor_description[] =
        "# One container as seen by its vigil monitor: state, exit, control, statistics and\n"
        "# a live event stream.  Times are RFC 3339 in UTC.\n"
        "interface io.vigil.Monitor\n"
        "\n"
        "# The sd-notify relay's view (present when --sdnotify-socket relays).\n"
        "type NotifyState (\n"
        "  ready: bool,\n"
        "  reloading: bool,\n"
        "  stopping: bool,\n"
        "  status: ?string,\n"
        "  last_watchdog: ?string,\n"
        "  relayed: int,\n"
        "  dropped: int\n"
        ")\n"
        "\n"
        "# The health check's view (present when a health check is configured).\n"
        "type HealthState (\n"
        "  status: string,\n"
        "  failing_streak: int,\n"
        "  last_check: ?string\n"
        ")\n"
        "\n"
        "# exit_code is what the exit file says: the code, 128+signal, or -1 when unknown.\n"
        "type State (\n"
        "  id: string,\n"
        "  name: ?string,\n"
        "  runtime: string,\n"
        "  bundle: ?string,\n"
        "  pid: ?int,\n"
        "  monitor_pid: int,\n"
        "  status: (creating, created, running, stopped),\n"
        "  exit_code: ?int,\n"
        "  signal: ?int,\n"
        "  oom: bool,\n"
        "  created: ?string,\n"
        "  started: ?string,\n"
        "  finished: ?string,\n"
        "  notify: ?NotifyState,\n"
        "  health: ?HealthState\n"
        ")\n"
        "\n"
        "type StreamStats (bytes: int, lines: int)\n"
        "\n"
        "type LogStats (\n"
        "  stdout: StreamStats,\n"
        "  stderr: StreamStats,\n"
        "  partial_records: int,\n"
        "  rotations: int,\n"
        "  bytes_dropped: int,\n"
        "  records_dropped: int\n"
        ")\n"
        "\n"
        "type AttachStats (clients: int, dropped: int)\n"
        "\n"
        "# The monitor process itself.\n"
        "type MonitorStats (\n"
        "  rss_bytes: int,\n"
        "  cpu_user_usec: int,\n"
        "  cpu_system_usec: int,\n"
        "  control_clients: int\n"
        ")\n"
        "\n"
        "# The container's cgroup; a field is absent when it cannot be read.\n"
        "type CgroupStats (memory_bytes: ?int, cpu_usec: ?int, pids: ?int)\n"
        "\n"
        "# notify: datagrams relayed per sd-notify key.\n"
        "type Stats (\n"
        "  log: LogStats,\n"
        "  attach: AttachStats,\n"
        "  notify: ?[string]int,\n"
        "  monitor: MonitorStats,\n"
        "  cgroup: CgroupStats\n"
        ")\n"
        "\n"
        "# type is one of subscribed, started, ready, status, reloading, stopping, watchdog,\n"
        "# health, oom, log-rotated, exited.  text: the STATUS= text (status) or the health\n"
        "# status (health); pid: started; exit_code, signal, oom: exited.\n"
        "type Event (\n"
        "  type: string,\n"
        "  time: string,\n"
        "  text: ?string,\n"
        "  pid: ?int,\n"
        "  exit_code: ?int,\n"
        "  signal: ?int,\n"
        "  oom: ?bool\n"
        ")\n"
        "\n"
        "method GetState() -> (state: State)\n"
        "\n"
        "# Returns once the container has exited and its exit files are written; at once if\n"
        "# it already has.\n"
        "method Wait() -> (exit_code: int, signal: int, oom: bool, finished: string)\n"
        "\n"
        "# Returns once the container has sent READY=1 (in healthy mode: has passed its first\n"
        "# health check); at once if it has.  status: its last STATUS= text.\n"
        "method WaitReady() -> (status: ?string)\n"
        "\n"
        "# Sends a signal to the container's process (0 checks that it exists).\n"
        "method Kill(signal: int) -> ()\n"
        "\n"
        "# Sets the container terminal's size.\n"
        "method Resize(rows: int, cols: int) -> ()\n"
        "\n"
        "# Reopens the log files (after they were moved away).\n"
        "method ReopenLog() -> ()\n"
        "\n"
        "method GetStats() -> (stats: Stats)\n"
        "\n"
        "# Needs \"more\".  The first reply is a \"subscribed\" event, the last an \"exited\" one.\n"
        "method Subscribe() -> (event: Event)\n"
        "\n"
        "# The container's process is not running (not yet started, or exited).\n"
        "error NotRunning ()\n"
        "\n"
        "# The container has no terminal.\n"
        "error NoTerminal ()\n"
        "\n"
        "# errno and its text; path: the file that failed, where there is one.\n"
        "error OperationFailed (errno: int, message: string, path: ?string)\n"
        "\n"
        "# WaitReady: the container has exited, so it is no dependency to wait for; was_ready:\n"
        "# it had sent READY=1 before.\n"
        "error Exited (exit_code: int, signal: int, was_ready: bool)\n"
        "\n"
        "# WaitReady: nothing can tell readiness (no sd-notify relay for this container).\n"
        "error NoNotify (message: string)\n"
        "\n"
        "# The monitor is exiting without an exit status to report (the runtime failed).\n"
        "error NoExitStatus (message: string)\n"
        "\n"
        "# limit clients are in Wait or Subscribe already; the rest of the slots are kept for\n"
        "# other calls.\n"
        "error TooManyWaiters (limit: int)\n";

typedef enum {
        PARAM_STRING,
        PARAM_INT,
} ParamType;

typedef struct {
        const char *name;
        ParamType type;
} Param;

typedef struct {
        ControlClient *client;
        JsonApi *j;
        JsonObject *params;     /* NULL when the call had none */
        gboolean more;
        gboolean oneway;
} Call;

typedef gboolean (*MethodFunc)(Call *call);

typedef struct {
        const char *name;
        MethodFunc func;
        Param params[3];        /* all required; ended by a NULL name */
} Method;

/* --- building replies ------------------------------------------------------------------ */

static char *object_to_string(JsonApi *j, JsonObject *o)
{
        JsonNode *node = j->node_new(JSON_NODE_OBJECT);
        char *text;

        j->node_init_object(node, o);
        text = j->to_string(node, FALSE);
        j->node_unref(node);
        return text;
}

static void set_str(JsonApi *j, JsonObject *o, const char *key, const char *value)
{
        /* Paths and container-supplied text need not be UTF-8; JSON strings must be. */
        g_autofree char *valid = NULL;

        if (!value)
                return;
        valid = g_utf8_make_valid(value, -1);
        j->object_set_string_member(o, key, valid);
}

static void set_time(JsonApi *j, JsonObject *o, const char *key, gint64 usec)
{
        char buf[CONTROL_TIME_LEN];

        if (usec <= 0)
                return;
        control_format_time(usec, buf);
        j->object_set_string_member(o, key, buf);
}

static gboolean send_object(ControlClient *c, JsonApi *j, JsonObject *o)
{
        g_autofree char *text = object_to_string(j, o);

        j->object_unref(o);
        return control_client_send(c, text);
}

/* Sends {"parameters": @params[, "continues": true]}; takes @params. */
static gboolean send_reply(ControlClient *c, JsonApi *j, JsonObject *params, gboolean continues)
{
        JsonObject *o = j->object_new();

        j->object_set_object_member(o, "parameters", params ? params : j->object_new());
        if (continues)
                j->object_set_boolean_member(o, "continues", TRUE);
        return send_object(c, j, o);
}

static gboolean send_error(ControlClient *c, JsonApi *j, const char *error, JsonObject *params)
{
        JsonObject *o = j->object_new();

        j->object_set_string_member(o, "error", error);
        j->object_set_object_member(o, "parameters", params ? params : j->object_new());
        return send_object(c, j, o);
}

static gboolean reply(Call *call, JsonObject *params)
{
        if (call->oneway) {
                if (params)
                        call->j->object_unref(params);
                return TRUE;
        }
        return send_reply(call->client, call->j, params, FALSE);
}

static gboolean reply_error(Call *call, const char *error, const char *key, const char *value)
{
        JsonObject *params = NULL;

        if (call->oneway)
                return TRUE;
        if (key) {
                params = call->j->object_new();
                set_str(call->j, params, key, value);
        }
        return send_error(call->client, call->j, error, params);
}

/* OperationFailed, or a more specific error where there is one; @path may be NULL. */
static gboolean reply_errno(Call *call, int r, const char *path)
{
        JsonObject *params;

        if (r == -ESRCH)
                return reply_error(call, CONTROL_INTERFACE ".NotRunning", NULL, NULL);
        if (r == -ENOTTY)
                return reply_error(call, CONTROL_INTERFACE ".NoTerminal", NULL, NULL);
        if (call->oneway)
                return TRUE;
        params = call->j->object_new();
        call->j->object_set_int_member(params, "errno", -r);
        call->j->object_set_string_member(params, "message", g_strerror(-r));
        set_str(call->j, params, "path", path);
        return send_error(call->client, call->j, CONTROL_INTERFACE ".OperationFailed", params);
}

/* --- state, stats, events ---------------------------------------------------------------- */

static JsonObject *notify_to_json(JsonApi *j, const ControlNotifyState *n)
{
        JsonObject *o = j->object_new();

        j->object_set_boolean_member(o, "ready", n->ready);
        j->object_set_boolean_member(o, "reloading", n->reloading);
        j->object_set_boolean_member(o, "stopping", n->stopping);
        set_str(j, o, "status", n->status);
        set_time(j, o, "last_watchdog", n->last_watchdog_usec);
        j->object_set_int_member(o, "relayed", (gint64) n->relayed);
        j->object_set_int_member(o, "dropped", (gint64) n->dropped);
        return o;
}

static JsonObject *health_to_json(JsonApi *j, const ControlHealthState *h)
{
        JsonObject *o = j->object_new();

        set_str(j, o, "status", h->status ? h->status : "starting");
        j->object_set_int_member(o, "failing_streak", h->failing_streak);
        set_time(j, o, "last_check", h->last_check_usec);
        return o;
}

static JsonObject *state_to_json(JsonApi *j, const ControlState *st)
{
        JsonObject *o = j->object_new();

        set_str(j, o, "id", st->id ? st->id : "");
        set_str(j, o, "name", st->name);
        set_str(j, o, "runtime", st->runtime ? st->runtime : "");
        set_str(j, o, "bundle", st->bundle);
        if (st->container_pid > 0)
                j->object_set_int_member(o, "pid", st->container_pid);
        j->object_set_int_member(o, "monitor_pid", st->monitor_pid);
        j->object_set_string_member(o, "status", control_status_name(st->status));
        if (st->exited) {
                j->object_set_int_member(o, "exit_code", st->exit_code);
                j->object_set_int_member(o, "signal", st->signal);
        }
        j->object_set_boolean_member(o, "oom", st->oom);
        set_time(j, o, "created", st->created_usec);
        set_time(j, o, "started", st->started_usec);
        set_time(j, o, "finished", st->finished_usec);
        if (st->notify.enabled)
                j->object_set_object_member(o, "notify", notify_to_json(j, &st->notify));
        if (st->health.enabled)
                j->object_set_object_member(o, "health", health_to_json(j, &st->health));
        return o;
}

static JsonObject *stream_stats(JsonApi *j, uint64_t bytes, uint64_t lines)
{
        JsonObject *o = j->object_new();

        j->object_set_int_member(o, "bytes", (gint64) bytes);
        j->object_set_int_member(o, "lines", (gint64) lines);
        return o;
}

static void set_optional_int(JsonApi *j, JsonObject *o, const char *key, gint64 value)
{
        if (value >= 0)
                j->object_set_int_member(o, key, value);
}

static JsonObject *stats_to_json(JsonApi *j, const ControlStats *st, guint control_clients)
{
        JsonObject *o = j->object_new();
        JsonObject *log = j->object_new();
        JsonObject *attach = j->object_new();
        JsonObject *self = j->object_new();
        JsonObject *cgroup = j->object_new();

        j->object_set_object_member(log, "stdout", stream_stats(j, st->log_bytes[0], st->log_lines[0]));
        j->object_set_object_member(log, "stderr", stream_stats(j, st->log_bytes[1], st->log_lines[1]));
        j->object_set_int_member(log, "partial_records", (gint64) st->partial_records);
        j->object_set_int_member(log, "rotations", (gint64) st->rotations);
        j->object_set_int_member(log, "bytes_dropped", (gint64) st->bytes_dropped);
        j->object_set_int_member(log, "records_dropped", (gint64) st->records_dropped);
        j->object_set_object_member(o, "log", log);
        j->object_set_int_member(attach, "clients", st->attach_clients);
        j->object_set_int_member(attach, "dropped", (gint64) st->attach_clients_dropped);
        j->object_set_object_member(o, "attach", attach);
        if (st->notify_counters) {
                JsonObject *notify = j->object_new();
                for (size_t i = 0; i < st->n_notify_counters; i++)
                        j->object_set_int_member(notify, st->notify_counters[i].key,
                                                 (gint64) st->notify_counters[i].count);
                j->object_set_object_member(o, "notify", notify);
        }
        j->object_set_int_member(self, "rss_bytes", (gint64) st->rss_bytes);
        j->object_set_int_member(self, "cpu_user_usec", (gint64) st->cpu_user_usec);
        j->object_set_int_member(self, "cpu_system_usec", (gint64) st->cpu_system_usec);
        j->object_set_int_member(self, "control_clients", control_clients);
        j->object_set_object_member(o, "monitor", self);
        set_optional_int(j, cgroup, "memory_bytes", st->cgroup_memory_bytes);
        set_optional_int(j, cgroup, "cpu_usec", st->cgroup_cpu_usec);
        set_optional_int(j, cgroup, "pids", st->cgroup_pids);
        j->object_set_object_member(o, "cgroup", cgroup);
        return o;
}

static JsonObject *event_to_json(JsonApi *j, const ControlEvent *ev)
{
        JsonObject *params = j->object_new();
        JsonObject *o = j->object_new();

        j->object_set_string_member(o, "type", ev->type);
        set_time(j, o, "time", g_get_real_time());
        set_str(j, o, "text", ev->text);
        if (ev->pid > 0)
                j->object_set_int_member(o, "pid", ev->pid);
        j->object_set_object_member(params, "event", o);
        return params;
}

gboolean control_varlink_send_event(ControlClient *c, const ControlEvent *event, gboolean final)
{
        JsonApi *j = c->server->json;

        if (c->pending_oneway)
                return TRUE;
        return send_reply(c, j, event_to_json(j, event), !final);
}

static JsonObject *exit_event(JsonApi *j, const ControlState *st)
{
        ControlEvent ev = { .type = "exited" };
        JsonObject *params = event_to_json(j, &ev);
        JsonObject *o = j->node_get_object(j->object_get_member(params, "event"));

        j->object_set_int_member(o, "exit_code", st->exit_code);
        j->object_set_int_member(o, "signal", st->signal);
        j->object_set_boolean_member(o, "oom", st->oom);
        return params;
}

static JsonObject *wait_result(JsonApi *j, const ControlState *st)
{
        JsonObject *o = j->object_new();

        j->object_set_int_member(o, "exit_code", st->exit_code);
        j->object_set_int_member(o, "signal", st->signal);
        j->object_set_boolean_member(o, "oom", st->oom);
        set_time(j, o, "finished", st->finished_usec > 0 ? st->finished_usec : g_get_real_time());
        return o;
}

static gboolean send_exited(ControlClient *c, JsonApi *j, const ControlState *st)
{
        JsonObject *params = j->object_new();

        j->object_set_int_member(params, "exit_code", st->exited ? st->exit_code : -1);
        j->object_set_int_member(params, "signal", st->signal);
        j->object_set_boolean_member(params, "was_ready", st->notify.enabled && st->notify.ready);
        return send_error(c, j, CONTROL_INTERFACE ".Exited", params);
}

gboolean control_varlink_send_exit(ControlClient *c)
{
        ControlServer *s = c->server;
        JsonApi *j = s->json;
        ControlState st = { 0 };
        PendingCall call = c->pending;
        gboolean oneway = c->pending_oneway;

        control_client_call_done(c);
        if (oneway)
                return TRUE;
        s->ops->get_state(s->data, &st);
        if (call == CALL_WAIT)
                return send_reply(c, j, wait_result(j, &st), FALSE);
        if (call == CALL_WAIT_READY)
                return send_exited(c, j, &st);
        return send_reply(c, j, exit_event(j, &st), FALSE);
}

static JsonObject *ready_result(JsonApi *j, const ControlState *st)
{
        JsonObject *o = j->object_new();

        set_str(j, o, "status", st->notify.status);
        return o;
}

gboolean control_varlink_send_ready(ControlClient *c)
{
        ControlServer *s = c->server;
        ControlState st = { 0 };
        gboolean oneway = c->pending_oneway;

        control_client_call_done(c);
        if (oneway)
                return TRUE;
        s->ops->get_state(s->data, &st);
        return send_reply(c, s->json, ready_result(s->json, &st), FALSE);
}

gboolean control_varlink_send_gone(ControlClient *c)
{
        JsonApi *j = c->server->json;
        JsonObject *params;
        gboolean oneway = c->pending_oneway;

        control_client_call_done(c);
        if (oneway)
                return TRUE;
        params = j->object_new();
        j->object_set_string_member(params, "message", "the monitor is exiting without a container exit status");
        return send_error(c, j, CONTROL_INTERFACE ".NoExitStatus", params);
}

/* --- methods ------------------------------------------------------------------------------ */

static gint64 int_param(Call *call, const char *name)
{
        return call->j->node_get_int(call->j->object_get_member(call->params, name));
}

static gboolean m_get_info(Call *call)
{
        JsonApi *j = call->j;
        JsonObject *o = j->object_new();
        JsonArray *ifaces = j->array_new();

        j->object_set_string_member(o, "vendor", "vigil");
        j->object_set_string_member(o, "product", "vigil");
        j->object_set_string_member(o, "version", VIGIL_VERSION);
        j->object_set_string_member(o, "url", "man:vigilctl(1)");
        j->array_add_string_element(ifaces, "org.varlink.service");
        j->array_add_string_element(ifaces, CONTROL_INTERFACE);
        j->object_set_array_member(o, "interfaces", ifaces);
        return reply(call, o);
}

static gboolean m_get_interface_description(Call *call)
{
        const char *iface = call->j->node_get_string(call->j->object_get_member(call->params, "interface"));
        JsonObject *o;

        if (!g_str_equal(iface, "org.varlink.service") && !g_str_equal(iface, CONTROL_INTERFACE))
                return reply_error(call, "org.varlink.service.InterfaceNotFound", "interface", iface);
        o = call->j->object_new();
        call->j->object_set_string_member(o, "description", g_str_equal(iface, CONTROL_INTERFACE)
                                                                    ? monitor_description
                                                                    : service_description);
        return reply(call, o);
}

static gboolean m_get_state(Call *call)
{
        ControlServer *s = call->client->server;
        ControlState st = { 0 };
        JsonObject *o = call->j->object_new();

        s->ops->get_state(s->data, &st);
        call->j->object_set_object_member(o, "state", state_to_json(call->j, &st));
        return reply(call, o);
}

static gboolean m_get_stats(Call *call)
{
        ControlServer *s = call->client->server;
        ControlStats st = { .cgroup_memory_bytes = -1, .cgroup_cpu_usec = -1, .cgroup_pids = -1 };
        JsonObject *o = call->j->object_new();

        s->ops->get_stats(s->data, &st);
        call->j->object_set_object_member(o, "stats", stats_to_json(call->j, &st, s->clients->len));
        return reply(call, o);
}

/* Waiters hold their slot until the exit, so they may not take all of them (control.h). */
static gboolean reply_too_many_waiters(Call *call)
{
        JsonObject *params;

        if (call->oneway)
                return TRUE;
        params = call->j->object_new();
        call->j->object_set_int_member(params, "limit", call->client->server->limits.waiting_max);
        return send_error(call->client, call->j, CONTROL_INTERFACE ".TooManyWaiters", params);
}

static gboolean m_wait(Call *call)
{
        ControlClient *c = call->client;
        ControlServer *s = c->server;
        ControlState st = { 0 };

        if (s->exited) {
                s->ops->get_state(s->data, &st);
                return reply(call, wait_result(call->j, &st));
        }
        if (s->waiting >= s->limits.waiting_max)
                return reply_too_many_waiters(call);
        c->pending = CALL_WAIT;
        c->pending_oneway = call->oneway;
        s->waiting++;
        return TRUE;
}

static gboolean m_wait_ready(Call *call)
{
        ControlClient *c = call->client;
        ControlServer *s = c->server;
        ControlState st = { 0 };

        s->ops->get_state(s->data, &st);
        if (st.notify.enabled && st.notify.ready && !s->exited)
                return reply(call, ready_result(call->j, &st));
        if (s->exited)
                return call->oneway || send_exited(c, call->j, &st);
        if (!st.notify.enabled)
                return reply_error(call, CONTROL_INTERFACE ".NoNotify", "message",
                                   "the container has no sd-notify socket to report readiness through");
        if (s->waiting >= s->limits.waiting_max)
                return reply_too_many_waiters(call);
        c->pending = CALL_WAIT_READY;
        c->pending_oneway = call->oneway;
        s->waiting++;
        return TRUE;
}

static gboolean m_subscribe(Call *call)
{
        ControlClient *c = call->client;
        ControlServer *s = c->server;
        ControlState st = { 0 };
        ControlEvent ev = { .type = "subscribed" };
        JsonObject *params;

        if (!call->more)
                return reply_error(call, "org.varlink.service.ExpectedMore", NULL, NULL);
        s->ops->get_state(s->data, &st);
        if (s->exited)
                return call->oneway || send_reply(c, call->j, exit_event(call->j, &st), FALSE);
        if (s->waiting >= s->limits.waiting_max)
                return reply_too_many_waiters(call);
        c->pending = CALL_SUBSCRIBE;
        c->pending_oneway = call->oneway;
        s->waiting++;
        if (call->oneway)
                return TRUE;
        /* The first reply says the subscription is in place, and what the status is now. */
        ev.text = control_status_name(st.status);
        ev.pid = st.container_pid;
        params = event_to_json(call->j, &ev);
        return send_reply(c, call->j, params, TRUE);
}

static gboolean m_kill(Call *call)
{
        ControlServer *s = call->client->server;
        gint64 signo = int_param(call, "signal");

        if (signo < 0 || signo > SIGRTMAX)
                return reply_error(call, "org.varlink.service.InvalidParameter", "parameter", "signal");
        if (s->exited)
                return reply_error(call, CONTROL_INTERFACE ".NotRunning", NULL, NULL);
        int r = s->ops->kill(s->data, (int) signo);
        return r < 0 ? reply_errno(call, r, NULL) : reply(call, NULL);
}

static gboolean m_resize(Call *call)
{
        ControlServer *s = call->client->server;
        gint64 rows = int_param(call, "rows");
        gint64 cols = int_param(call, "cols");
        int r;

        /* TIOCSWINSZ takes unsigned short sizes. */
        if (rows < 0 || rows > 65535)
                return reply_error(call, "org.varlink.service.InvalidParameter", "parameter", "rows");
        if (cols < 0 || cols > 65535)
                return reply_error(call, "org.varlink.service.InvalidParameter", "parameter", "cols");
        r = s->ops->resize(s->data, (int) rows, (int) cols);
        return r < 0 ? reply_errno(call, r, NULL) : reply(call, NULL);
}

static gboolean m_reopen_log(Call *call)
{
        ControlServer *s = call->client->server;
        const char *path = NULL;
        int r = s->ops->reopen_log(s->data, &path);

        return r < 0 ? reply_errno(call, r, path) : reply(call, NULL);
}

static const Method methods[] = {
        { "org.varlink.service.GetInfo", m_get_info, { { NULL } } },
        { "org.varlink.service.GetInterfaceDescription", m_get_interface_description,
          { { "interface", PARAM_STRING }, { NULL } } },
        { CONTROL_INTERFACE ".GetState", m_get_state, { { NULL } } },
        { CONTROL_INTERFACE ".Wait", m_wait, { { NULL } } },
        { CONTROL_INTERFACE ".WaitReady", m_wait_ready, { { NULL } } },
        { CONTROL_INTERFACE ".Kill", m_kill, { { "signal", PARAM_INT }, { NULL } } },
        { CONTROL_INTERFACE ".Resize", m_resize, { { "rows", PARAM_INT }, { "cols", PARAM_INT }, { NULL } } },
        { CONTROL_INTERFACE ".ReopenLog", m_reopen_log, { { NULL } } },
        { CONTROL_INTERFACE ".GetStats", m_get_stats, { { NULL } } },
        { CONTROL_INTERFACE ".Subscribe", m_subscribe, { { NULL } } },
};

/* --- dispatch ------------------------------------------------------------------------------ */

static gboolean param_has_type(JsonApi *j, JsonNode *node, ParamType type)
{
        if (!node || j->node_get_node_type(node) != JSON_NODE_VALUE)
                return FALSE;
        return j->node_get_value_type(node) == (type == PARAM_INT ? G_TYPE_INT64 : G_TYPE_STRING);
}

/* NULL when the parameters fit @m, else the name of the first one that does not. */
static const char *check_params(JsonApi *j, const Method *m, JsonObject *params)
{
        GList *names = params ? j->object_get_members(params) : NULL;
        const char *bad = NULL;

        for (GList *l = names; l && !bad; l = l->next) {
                const Param *p = m->params;
                while (p->name && !g_str_equal(p->name, l->data))
                        p++;
                if (!p->name || !param_has_type(j, j->object_get_member(params, l->data), p->type))
                        bad = l->data;
        }
        for (const Param *p = m->params; p->name && !bad; p++)
                if (!params || !j->object_get_member(params, p->name))
                        bad = p->name;
        g_list_free(names);
        return bad;
}

static gboolean unknown_method(Call *call, const char *method)
{
        const char *dot = strrchr(method, '.');
        g_autofree char *iface = dot ? g_strndup(method, dot - method) : g_strdup("");

        if (!g_str_equal(iface, "org.varlink.service") && !g_str_equal(iface, CONTROL_INTERFACE))
                return reply_error(call, "org.varlink.service.InterfaceNotFound", "interface", iface);
        return reply_error(call, "org.varlink.service.MethodNotFound", "method", dot + 1);
}

/* A boolean member of the call ("more", "oneway"); absent or null is FALSE. */
static gboolean call_flag(JsonApi *j, JsonObject *call, const char *name, gboolean *ret)
{
        JsonNode *node = j->object_get_member(call, name);

        *ret = FALSE;
        if (!node || j->node_get_node_type(node) == JSON_NODE_NULL)
                return TRUE;
        if (j->node_get_node_type(node) != JSON_NODE_VALUE || j->node_get_value_type(node) != G_TYPE_BOOLEAN)
                return FALSE;
        *ret = j->node_get_boolean(node);
        return TRUE;
}

static gboolean dispatch_call(ControlClient *c, JsonApi *j, JsonObject *obj)
{
        JsonNode *method_node = j->object_get_member(obj, "method");
        JsonNode *params_node = j->object_get_member(obj, "parameters");
        Call call = { .client = c, .j = j };
        const char *method, *bad;

        if (!method_node || j->node_get_node_type(method_node) != JSON_NODE_VALUE ||
            j->node_get_value_type(method_node) != G_TYPE_STRING) {
                return control_client_fail(c, "message is not a Varlink call");
        }
        method = j->node_get_string(method_node);
        if (!call_flag(j, obj, "oneway", &call.oneway) || !call_flag(j, obj, "more", &call.more)) {
                return control_client_fail(c, "\"more\" or \"oneway\" is not a boolean");
        }
        if (params_node && j->node_get_node_type(params_node) == JSON_NODE_OBJECT)
                call.params = j->node_get_object(params_node);
        else if (params_node && j->node_get_node_type(params_node) != JSON_NODE_NULL)
                return reply_error(&call, "org.varlink.service.InvalidParameter", "parameter", "parameters");
        for (size_t i = 0; i < G_N_ELEMENTS(methods); i++) {
                if (!g_str_equal(methods[i].name, method))
                        continue;
                bad = check_params(j, &methods[i], call.params);
                if (bad)
                        return reply_error(&call, "org.varlink.service.InvalidParameter", "parameter", bad);
                return methods[i].func(&call);
        }
        return unknown_method(&call, method);
}

gboolean control_json_depth_ok(const char *msg, size_t len, guint depth_max)
{
        gboolean in_string = FALSE;
        guint depth = 0;

        for (size_t i = 0; i < len; i++) {
                char ch = msg[i];
                if (in_string) {
                        if (ch == '\\')
                                i++;
                        else if (ch == '"')
                                in_string = FALSE;
                } else if (ch == '"') {
                        in_string = TRUE;
                } else if (ch == '[' || ch == '{') {
                        if (++depth > depth_max)
                                return FALSE;
                } else if ((ch == ']' || ch == '}') && depth > 0) {
                        depth--;
                }
        }
        return TRUE;
}

gboolean control_varlink_dispatch(ControlClient *c, const char *msg, size_t len)
{
        ControlServer *s = c->server;
        JsonApi *j = s->json;
        g_autoptr(GError) error = NULL;
        JsonNode *root;
        gboolean alive;

        if (!json_api_load(j, &error)) {
                log_warning("control socket: %s", error->message);
                return control_client_fail(c, "json-glib unavailable");
        }
        /* json-glib parses recursively: bound the nesting before it sees the text. */
        if (!g_utf8_validate_len(msg, len, NULL) || !control_json_depth_ok(msg, len, s->limits.depth_max))
                return control_client_fail(c, "message is not UTF-8 or nested too deeply");
        root = j->from_string(msg, &error);
        if (!root || j->node_get_node_type(root) != JSON_NODE_OBJECT) {
                if (root)
                        j->node_unref(root);
                if (error)
                        log_debug("control client %d: %s", c->fd, error->message);
                /* Not error->message: the reason must outlive this call. */
                return control_client_fail(c, "message is not a JSON object");
        }
        alive = dispatch_call(c, j, j->node_get_object(root));
        j->node_unref(root);
        return alive;
}
