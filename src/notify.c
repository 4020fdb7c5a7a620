/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "notify.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_config.h"
#include "fdutil.h"
#include "logging.h"

#define CONTAINER_NOTIFY_DIR "/run/notify"
#define CONTAINER_NOTIFY_SOCKET CONTAINER_NOTIFY_DIR "/notify.sock"

struct Notify {
        const VigilConfig *cfg;
        NotifyMode mode;
        NotifyRelay *relay;
        Health *health;
        gboolean watchdog;
        gboolean sent_ready;
        gboolean started;
        HealthState last_health;
        gboolean health_reported;
};

/* systemd gives the main process WATCHDOG_USEC, and WATCHDOG_PID when it is meant for it. */
static gboolean watchdog_from_environment(void)
{
        const char *usec = g_getenv("WATCHDOG_USEC");
        const char *pid = g_getenv("WATCHDOG_PID");

        if (!usec || !*usec || g_str_equal(usec, "0"))
                return FALSE;
        return !pid || atoi(pid) == getpid();
}

static void on_health(gboolean passed, HealthState state, unsigned failures, gpointer data)
{
        Notify *n = data;
        g_autoptr(GString) msg = g_string_new(NULL);

        notify_relay_set_health(n->relay, health_state_name(state));
        if (!n->health_reported || state != n->last_health) {
                if (state == HEALTH_UNHEALTHY)
                        g_string_append_printf(msg, "STATUS=health: unhealthy (%u failed checks)\n", failures);
                else
                        g_string_append_printf(msg, "STATUS=health: %s\n", health_state_name(state));
        }
        if (passed && !n->sent_ready) {
                g_string_append(msg, "READY=1\n");
                n->sent_ready = TRUE;
        }
        if (n->watchdog && passed)
                g_string_append(msg, "WATCHDOG=1\n");
        /* Once per unhealthy episode: the unit's WatchdogSec= action takes over from here. */
        if (n->watchdog && state == HEALTH_UNHEALTHY && n->last_health != HEALTH_UNHEALTHY)
                g_string_append(msg, "WATCHDOG=trigger\n");
        n->last_health = state;
        n->health_reported = TRUE;
        if (msg->len)
                notify_relay_send_own(n->relay, msg->str);
}

int notify_new(const VigilConfig *cfg, Spawner *spawner, Notify **ret)
{
        g_autofree char *env_socket = g_strdup(g_getenv("NOTIFY_SOCKET"));
        g_autofree char *socket_path = NULL;
        g_autoptr(Notify) n = NULL;
        const char *host;
        NotifyRelayOptions o;
        int r;

        *ret = NULL;
        /* podman mounts <bundle>/notify whatever vigil's own mode is: the source must exist. */
        if (cfg->sdnotify_socket && *cfg->sdnotify_socket && cfg->bundle && !cfg->exec) {
                g_autofree char *dir = g_build_filename(cfg->bundle, "notify", NULL);
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return -errno;
        }
        /* Never for the runtime (it would proxy and block in start), nor for the exit command. */
        g_unsetenv("NOTIFY_SOCKET");
        host = cfg->sdnotify_socket && *cfg->sdnotify_socket ? cfg->sdnotify_socket : env_socket;
        if (host && !*host)
                host = NULL;
        if (cfg->exec || cfg->vigil.notify_mode == NOTIFY_MODE_IGNORE)
                return 0;
        /* No host (podman outside systemd): readiness is still kept for the control socket
         * (WaitReady, GetState); in container mode that needs a bundle vigil prepares itself. */
        if (!host && cfg->vigil.notify_mode == NOTIFY_MODE_CONTAINER &&
            !(cfg->vigil.notify_prepare_bundle && cfg->bundle))
                return 0;
        n = g_new0(Notify, 1);
        n->cfg = cfg;
        n->mode = cfg->vigil.notify_mode;
        if (n->mode == NOTIFY_MODE_CONTAINER && cfg->bundle)
                socket_path = g_build_filename(cfg->bundle, "notify", "notify.sock", NULL);
        o = (NotifyRelayOptions){
                .host_address = host,
                .socket_path = socket_path,
                .policy = { .watchdog_usec = cfg->vigil.notify_watchdog_usec, .fdstore = cfg->vigil.notify_fdstore },
                .sender_check = cfg->vigil.notify_sender_check,
                .host = { .rate = cfg->vigil.notify_rate_limit,
                          .burst = cfg->vigil.notify_rate_burst,
                          .queue_max = MAX(cfg->vigil.notify_queue_max, 1) },
        };
        r = notify_relay_new(&o, &n->relay);
        if (r < 0)
                return r;
        notify_relay_set_mode(n->relay, notify_mode_name(n->mode));
        if (n->mode == NOTIFY_MODE_HEALTHY) {
                n->health = health_new(cfg, spawner, on_health, n);
                n->watchdog = cfg->vigil.health_watchdog < 0 ? watchdog_from_environment()
                                                             : cfg->vigil.health_watchdog;
                notify_relay_set_health(n->relay, health_state_name(HEALTH_STARTING));
        }
        *ret = g_steal_pointer(&n);
        return 0;
}

void notify_container_created(Notify *n, pid_t container_pid)
{
        if (!n)
                return;
        notify_relay_set_container(n->relay, container_pid);
}

void notify_container_started(Notify *n)
{
        if (!n || n->started)
                return;
        n->started = TRUE;
        if (n->mode == NOTIFY_MODE_CONMON && !n->sent_ready) {
                n->sent_ready = TRUE;
                notify_relay_send_own(n->relay, "READY=1");
        } else if (n->mode == NOTIFY_MODE_HEALTHY) {
                n->last_health = HEALTH_STARTING;
                n->health_reported = TRUE;
                notify_relay_send_own(n->relay, "STATUS=health: starting");
                health_start(n->health);
        }
}

void notify_container_exited(Notify *n)
{
        if (!n)
                return;
        if (n->health)
                health_stop(n->health);
        /* The exit may be seen before the container's last datagrams: they still go out. */
        notify_relay_drain(n->relay);
}

gboolean notify_child_exited(Notify *n, pid_t pid, int wstatus)
{
        return n && health_child_exited(n->health, pid, wstatus);
}

NotifyRelay *notify_get_relay(Notify *n)
{
        return n ? n->relay : NULL;
}

Notify *notify_free(Notify *n)
{
        if (!n)
                return NULL;
        g_clear_pointer(&n->health, health_free);
        g_clear_pointer(&n->relay, notify_relay_free);
        g_free(n);
        return NULL;
}

/* --- --sdnotify-prepare-bundle -------------------------------------------------------------- */

static gboolean has_mount_at(JsonApi *j, JsonArray *mounts, const char *destination)
{
        for (guint i = 0; i < j->array_get_length(mounts); i++) {
                JsonNode *e = j->array_get_element(mounts, i);
                JsonNode *d;
                if (j->node_get_node_type(e) != JSON_NODE_OBJECT)
                        continue;
                d = j->object_get_member(j->node_get_object(e), "destination");
                if (d && j->node_get_value_type(d) == G_TYPE_STRING &&
                    g_str_equal(j->node_get_string(d), destination))
                        return TRUE;
        }
        return FALSE;
}

static gboolean env_entry_is(JsonApi *j, JsonArray *env, guint i, const char *prefix)
{
        JsonNode *e = j->array_get_element(env, i);

        return j->node_get_value_type(e) == G_TYPE_STRING && g_str_has_prefix(j->node_get_string(e), prefix);
}

static gboolean has_env(JsonApi *j, JsonArray *env, const char *prefix)
{
        for (guint i = 0; i < j->array_get_length(env); i++)
                if (env_entry_is(j, env, i, prefix))
                        return TRUE;
        return FALSE;
}

static void remove_env(JsonApi *j, JsonArray *env, const char *prefix)
{
        for (guint i = j->array_get_length(env); i > 0; i--)
                if (env_entry_is(j, env, i - 1, prefix))
                        j->array_remove_element(env, i - 1);
}

/*
 * NOTIFY_SOCKET, and the unit's watchdog interval: systemd hands WATCHDOG_USEC to vigil only,
 * and sd_watchdog_enabled() in the container needs it to know how often to ping.  A bundle
 * that is prepared again follows the unit's current WatchdogSec=.
 */
static void add_notify_env(JsonApi *j, JsonArray *env)
{
        guint64 usec;

        if (!has_env(j, env, "NOTIFY_SOCKET="))
                j->array_add_string_element(env, "NOTIFY_SOCKET=" CONTAINER_NOTIFY_SOCKET);
        remove_env(j, env, "WATCHDOG_USEC=");
        if (watchdog_from_environment() &&
            g_ascii_string_to_unsigned(g_getenv("WATCHDOG_USEC"), 10, 1, G_MAXUINT64, &usec, NULL)) {
                g_autofree char *entry = g_strdup_printf("WATCHDOG_USEC=%" G_GUINT64_FORMAT, usec);
                j->array_add_string_element(env, entry);
        }
}

static int add_notify_config(JsonApi *j, JsonObject *obj, gpointer source)
{
        JsonArray *mounts = bundle_array_member(j, obj, "mounts");
        JsonNode *process = j->object_get_member(obj, "process");
        JsonArray *env = process && j->node_get_node_type(process) == JSON_NODE_OBJECT
                                 ? bundle_array_member(j, j->node_get_object(process), "env")
                                 : NULL;

        if (!mounts || !env) {
                log_error("sd-notify: config.json has no usable mounts or process.env");
                return -EINVAL;
        }
        if (!has_mount_at(j, mounts, CONTAINER_NOTIFY_DIR)) {
                /* As runc does for its own proxy: read-only, nothing executable. */
                JsonObject *m = j->object_new();
                JsonArray *options = j->array_new();
                static const char *const opts[] = { "bind", "ro", "nosuid", "nodev", "noexec" };
                for (size_t i = 0; i < G_N_ELEMENTS(opts); i++)
                        j->array_add_string_element(options, opts[i]);
                j->object_set_string_member(m, "destination", CONTAINER_NOTIFY_DIR);
                j->object_set_string_member(m, "type", "bind");
                j->object_set_string_member(m, "source", source);
                j->object_set_array_member(m, "options", options);
                j->array_add_object_element(mounts, m);
        }
        add_notify_env(j, env);
        return 0;
}

int notify_prepare_bundle(JsonApi *j, const char *bundle)
{
        g_autofree char *source = g_build_filename(bundle, "notify", NULL);

        /* The bind mount's source must exist before `runtime create`. */
        if (g_mkdir_with_parents(source, 0755) < 0) {
                int r = -errno;
                log_error("sd-notify: creating %s: %s", source, g_strerror(errno));
                return r;
        }
        return bundle_config_edit(j, bundle, "sd-notify", add_notify_config, source);
}
