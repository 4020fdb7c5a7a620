/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config_file.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/vigil/vigil.conf"

typedef enum {
        TYPE_BOOL,
        TYPE_UINT,
        TYPE_DURATION,
        TYPE_STRING,
        TYPE_MODE,
        TYPE_SENDER_CHECK,
        TYPE_AUTO_BOOL,
        TYPE_SECCOMP,
} SettingType;

typedef struct {
        const char *group;
        const char *key;
        const char *env;
        const char *option;
        SettingType type;
        size_t offset;
        const char *fallback;
        const char *help;
} Setting;

#define F(field) offsetof(VigilSettings, field)

static const Setting settings[] = {
        { "notify", "mode", "VIGIL_SDNOTIFY_MODE", "sdnotify-mode", TYPE_MODE, F(notify_mode), "container",
          "container, conmon, healthy or ignore" },
        { "notify", "watchdog-usec", "VIGIL_SDNOTIFY_WATCHDOG_USEC", "sdnotify-watchdog-usec", TYPE_BOOL,
          F(notify_watchdog_usec), "false", "Relay WATCHDOG_USEC=" },
        { "notify", "fdstore", "VIGIL_SDNOTIFY_FDSTORE", "sdnotify-fdstore", TYPE_BOOL, F(notify_fdstore), "false",
          "Relay the fd store (FDSTORE=1 and its fds, FDSTOREREMOVE, FDNAME, FDPOLL)" },
        { "notify", "rate-limit", "VIGIL_SDNOTIFY_RATE_LIMIT", "sdnotify-rate-limit", TYPE_UINT,
          F(notify_rate_limit), "100", "Datagrams per second to the host (0: no limit)" },
        { "notify", "rate-burst", "VIGIL_SDNOTIFY_RATE_BURST", "sdnotify-rate-burst", TYPE_UINT,
          F(notify_rate_burst), "200", "Datagrams sent at once before the rate limit applies" },
        { "notify", "queue-max", "VIGIL_SDNOTIFY_QUEUE_MAX", "sdnotify-queue-max", TYPE_UINT, F(notify_queue_max),
          "128", "Messages kept while the host socket is missing or full" },
        { "notify", "sender-check", "VIGIL_SDNOTIFY_SENDER_CHECK", "sdnotify-sender-check", TYPE_SENDER_CHECK,
          F(notify_sender_check), "relaxed", "relaxed, strict or off" },
        { "notify", "prepare-bundle", "VIGIL_SDNOTIFY_PREPARE_BUNDLE", "sdnotify-prepare-bundle", TYPE_BOOL,
          F(notify_prepare_bundle), "false", "Mount <bundle>/notify at /run/notify and set NOTIFY_SOCKET" },
        { "monitor", "start", "VIGIL_START", "start", TYPE_BOOL, F(start), "false",
          "Run `runtime start` after create (standalone units)" },
        { "monitor", "unit-cgroup", "VIGIL_UNIT_CGROUP", "unit-cgroup", TYPE_BOOL, F(unit_cgroup), "false",
          "Run the container in the cgroup of the systemd service that runs vigil (cgroup v2, Delegate=yes)" },
        { "monitor", "seccomp", "VIGIL_SECCOMP", "seccomp", TYPE_SECCOMP, F(seccomp), "enforce",
          "enforce, log or off: the syscall filter and capability drop of the run phase" },
        { "health", "cmd", "VIGIL_HEALTH_CMD", "health-cmd", TYPE_STRING, F(health_cmd), NULL,
          "Health check, run as /bin/sh -c CMD inside the container" },
        { "health", "interval", "VIGIL_HEALTH_INTERVAL", "health-interval", TYPE_DURATION, F(health_interval_ms),
          "30s", "Time between health checks" },
        { "health", "timeout", "VIGIL_HEALTH_TIMEOUT", "health-timeout", TYPE_DURATION, F(health_timeout_ms), "30s",
          "A check running longer fails" },
        { "health", "retries", "VIGIL_HEALTH_RETRIES", "health-retries", TYPE_UINT, F(health_retries), "3",
          "Consecutive failures before the container is unhealthy" },
        { "health", "start-period", "VIGIL_HEALTH_START_PERIOD", "health-start-period", TYPE_DURATION,
          F(health_start_period_ms), "0", "Failures in this time after start do not count" },
        { "health", "watchdog", "VIGIL_HEALTH_WATCHDOG", "health-watchdog", TYPE_AUTO_BOOL, F(health_watchdog),
          "auto", "WATCHDOG=1 per passing check, WATCHDOG=trigger when unhealthy (auto: if WATCHDOG_USEC is set)" },
        { "log", "rotate", "VIGIL_LOG_ROTATE", NULL, TYPE_BOOL, F(log_rotate), "false",
          "Rotate the k8s-file log at its size limit, as --log-rotate" },
        { "log", "max-files", "VIGIL_LOG_MAX_FILES", NULL, TYPE_UINT, F(log_max_files), "1",
          "Rotated files kept, as --log-max-files" },
        { "registry", "dir", "VIGIL_REGISTRY_DIR", "registry-dir", TYPE_STRING, F(registry_dir), NULL,
          "Where monitors register for discovery (default /run/vigil, rootless $XDG_RUNTIME_DIR/vigil; "
          "none: off)" },
        { "registry", "exec", "VIGIL_REGISTRY_EXEC", "registry-exec", TYPE_BOOL, F(registry_exec), "false",
          "Exec sessions register too, as exec/<session>.sock" },
};

G_STATIC_ASSERT(G_N_ELEMENTS(settings) <= SETTINGS_COUNT);

static const char *const mode_names[] = { "container", "conmon", "healthy", "ignore" };
static const char *const sender_check_names[] = { "relaxed", "strict", "off" };
static const char *const seccomp_names[] = { "enforce", "log", "off" };

const char *notify_mode_name(NotifyMode mode)
{
        return (unsigned) mode < G_N_ELEMENTS(mode_names) ? mode_names[mode] : "?";
}

gboolean config_parse_bool(const char *text, gboolean *ret)
{
        static const char *const yes[] = { "1", "yes", "true", "on" };
        static const char *const no[] = { "0", "no", "false", "off" };

        for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
                if (g_ascii_strcasecmp(text, yes[i]) == 0) {
                        *ret = TRUE;
                        return TRUE;
                }
                if (g_ascii_strcasecmp(text, no[i]) == 0) {
                        *ret = FALSE;
                        return TRUE;
                }
        }
        return FALSE;
}

/* A decimal number at the start of @text (no sign, no space); *@ret_end points after it. */
static gboolean parse_uint_prefix(const char *text, guint64 *ret, char **ret_end)
{
        if (!g_ascii_isdigit(text[0]))
                return FALSE;
        errno = 0;
        *ret = g_ascii_strtoull(text, ret_end, 10);
        return errno == 0;
}

static gboolean parse_uint(const char *text, guint64 max, guint64 *ret)
{
        char *end;
        guint64 v;

        if (!parse_uint_prefix(text, &v, &end) || v > max || *end)
                return FALSE;
        *ret = v;
        return TRUE;
}

gboolean config_parse_duration_ms(const char *text, unsigned *ret_ms)
{
        static const struct {
                const char *suffix;
                guint64 ms;
        } units[] = { { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
        char *end;
        guint64 v;

        if (!parse_uint_prefix(text, &v, &end))
                return FALSE;
        for (size_t i = 0; i < G_N_ELEMENTS(units); i++) {
                if (g_str_equal(end, units[i].suffix)) {
                        if (v > G_MAXUINT / units[i].ms)
                                return FALSE;
                        *ret_ms = (unsigned) (v * units[i].ms);
                        return TRUE;
                }
        }
        return FALSE;
}

static gboolean parse_enum(const char *text, const char *const *names, size_t n, int *ret)
{
        for (size_t i = 0; i < n; i++) {
                if (g_str_equal(text, names[i])) {
                        *ret = (int) i;
                        return TRUE;
                }
        }
        return FALSE;
}

/* Store @text into @s's field for @def; FALSE if @text is not valid for its type. */
static gboolean apply(VigilSettings *s, const Setting *def, const char *text)
{
        char *field = (char *) s + def->offset;
        guint64 u;
        gboolean b;
        int e;

        switch (def->type) {
        case TYPE_BOOL:
                if (!config_parse_bool(text, &b))
                        return FALSE;
                *(gboolean *) field = b;
                return TRUE;
        case TYPE_AUTO_BOOL:
                if (g_str_equal(text, "auto")) {
                        *(int *) field = -1;
                        return TRUE;
                }
                if (!config_parse_bool(text, &b))
                        return FALSE;
                *(int *) field = b;
                return TRUE;
        case TYPE_UINT:
                if (!parse_uint(text, G_MAXUINT, &u))
                        return FALSE;
                *(unsigned *) field = (unsigned) u;
                return TRUE;
        case TYPE_DURATION:
                return config_parse_duration_ms(text, (unsigned *) field);
        case TYPE_STRING:
                g_free(*(char **) field);
                *(char **) field = *text ? g_strdup(text) : NULL;
                return TRUE;
        case TYPE_MODE:
                if (!parse_enum(text, mode_names, G_N_ELEMENTS(mode_names), &e))
                        return FALSE;
                *(NotifyMode *) field = e;
                return TRUE;
        case TYPE_SENDER_CHECK:
                if (!parse_enum(text, sender_check_names, G_N_ELEMENTS(sender_check_names), &e))
                        return FALSE;
                *(SenderCheck *) field = e;
                return TRUE;
        case TYPE_SECCOMP:
                if (!parse_enum(text, seccomp_names, G_N_ELEMENTS(seccomp_names), &e))
                        return FALSE;
                *(SeccompMode *) field = e;
                return TRUE;
        }
        return FALSE;
}

static gboolean bad_value(GError **error, const char *where, const char *value, const Setting *def)
{
        g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE, "%s: invalid value \"%s\" (%s)", where,
                    value, def->help);
        return FALSE;
}

gboolean config_file_load_data(VigilSettings *s, const char *data, size_t len, const char *path, GError **error)
{
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;

        if (!g_key_file_load_from_data(kf, data, len, G_KEY_FILE_NONE, &local)) {
                g_set_error(error, local->domain, local->code, "%s: %s", path, local->message);
                return FALSE;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
                g_autofree char *value = g_key_file_get_string(kf, settings[i].group, settings[i].key, NULL);
                g_autofree char *where = NULL;
                if (!value)
                        continue;
                g_strstrip(value);
                where = g_strdup_printf("%s [%s] %s", path, settings[i].group, settings[i].key);
                if (!apply(s, &settings[i], value))
                        return bad_value(error, where, value, &settings[i]);
        }
        return TRUE;
}

static gboolean load_file(VigilSettings *s, GError **error)
{
        const char *path = g_getenv("VIGIL_CONFIG") ? g_getenv("VIGIL_CONFIG") : DEFAULT_CONFIG;
        g_autoptr(GError) local = NULL;
        g_autofree char *data = NULL;
        gsize len = 0;

        if (!*path)
                return TRUE;
        if (!g_file_get_contents(path, &data, &len, &local)) {
                if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return TRUE;
                g_set_error(error, local->domain, local->code, "%s: %s", path, local->message);
                return FALSE;
        }
        return config_file_load_data(s, data, len, path, error);
}

gboolean config_file_resolve(VigilSettings *s, GError **error)
{
        for (size_t i = 0; i < G_N_ELEMENTS(settings); i++)
                if (settings[i].fallback && !apply(s, &settings[i], settings[i].fallback))
                        g_assert_not_reached();
        if (!load_file(s, error))
                return FALSE;
        for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
                const char *value = g_getenv(settings[i].env);
                if (value && !apply(s, &settings[i], value))
                        return bad_value(error, settings[i].env, value, &settings[i]);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
                g_autofree char *where = NULL;
                if (!s->cli[i])
                        continue;
                where = g_strdup_printf("--%s", settings[i].option);
                if (!apply(s, &settings[i], s->cli[i]))
                        return bad_value(error, where, s->cli[i], &settings[i]);
        }
        if (s->notify_mode == NOTIFY_MODE_HEALTHY && !s->health_cmd) {
                g_set_error_literal(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                                    "sd-notify mode healthy needs a health command (--health-cmd, "
                                    "VIGIL_HEALTH_CMD or [health] cmd)");
                return FALSE;
        }
        return TRUE;
}

static gboolean on_option(const char *name, const char *value, gpointer data, GError **error)
{
        VigilSettings *s = data;

        for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
                if (settings[i].option && g_str_equal(name + 2, settings[i].option)) {
                        /* A bare boolean flag ("--start") means true. */
                        g_free(s->cli[i]);
                        s->cli[i] = g_strdup(value ? value : "true");
                        return TRUE;
                }
        }
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION, "Unknown option %s", name);
        return FALSE;
}

GOptionGroup *config_file_option_group(VigilSettings *s)
{
        GOptionGroup *group = g_option_group_new("vigil", "vigil's own options (each also a VIGIL_* variable "
                                                 "and a vigil.conf key; VIGIL_LOG_ROTATE and VIGIL_LOG_MAX_FILES, "
                                                 "[log] rotate and max-files, stand in for --log-rotate and "
                                                 "--log-max-files)",
                                                 "vigil's own options", s, NULL);
        g_autofree GOptionEntry *entries = g_new0(GOptionEntry, G_N_ELEMENTS(settings) + 1);
        size_t n = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(settings); i++) {
                gboolean flag = settings[i].type == TYPE_BOOL;
                if (!settings[i].option)
                        continue;
                entries[n++] = (GOptionEntry){
                        .long_name = settings[i].option,
                        .flags = flag ? G_OPTION_FLAG_OPTIONAL_ARG : 0,
                        .arg = G_OPTION_ARG_CALLBACK,
                        .arg_data = (gpointer) on_option,
                        .description = settings[i].help,
                        .arg_description = flag ? "[=BOOL]" : "VALUE",
                };
        }
        /* GOption copies the array; the strings are static. */
        g_option_group_add_entries(group, entries);
        return group;
}

void config_file_clear(VigilSettings *s)
{
        g_clear_pointer(&s->health_cmd, g_free);
        g_clear_pointer(&s->registry_dir, g_free);
        for (size_t i = 0; i < SETTINGS_COUNT; i++)
                g_clear_pointer(&s->cli[i], g_free);
}
