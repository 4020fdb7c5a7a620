/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Option parsing with GOption, which already gives conmon's behaviour for free: base-detected
 * integers ("0x10", "010"), repeatable string arrays, last-wins scalars, stray positionals left
 * alone (podman passes "--api-version 1" to a flag) and conmon's wording for parse errors.
 */
#include "options.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "logging.h"

#define DEFAULT_SOCKET_DIR "/var/run/crio"
/* --log-max-files not given: vigil.conf / VIGIL_LOG_MAX_FILES decide (default 1). */
#define LOG_MAX_FILES_UNSET G_MININT

static gboolean set_api_version(const char *name, const char *value, gpointer data, GError **error)
{
        /* A flag that also tolerates "--api-version=1"; the value itself carries nothing. */
        ((VigilConfig *) data)->api_version = TRUE;
        return TRUE;
}

static GOptionEntry *option_entries(VigilConfig *c)
{
        const GOptionEntry entries[] = {
                { "terminal", 't', 0, G_OPTION_ARG_NONE, &c->terminal, "Allocate a pseudo-TTY", NULL },
                { "stdin", 'i', 0, G_OPTION_ARG_NONE, &c->stdin, "Keep the container's stdin open", NULL },
                { "leave-stdin-open", 0, 0, G_OPTION_ARG_NONE, &c->leave_stdin_open,
                  "Leave stdin open when the attached client disconnects", NULL },
                { "cid", 'c', 0, G_OPTION_ARG_STRING, &c->cid, "Container ID", "ID" },
                { "cuuid", 'u', 0, G_OPTION_ARG_STRING, &c->cuuid, "Container UUID (or exec session ID)", "ID" },
                { "name", 'n', 0, G_OPTION_ARG_STRING, &c->name, "Container name", "NAME" },
                { "runtime", 'r', 0, G_OPTION_ARG_FILENAME, &c->runtime, "Path of the OCI runtime", "PATH" },
                { "restore", 0, 0, G_OPTION_ARG_FILENAME, &c->restore, "Restore from this checkpoint", "PATH" },
                { "restore-arg", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING_ARRAY, &c->runtime_opts,
                  "Deprecated alias of --runtime-opt", "ARG" },
                { "runtime-opt", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c->runtime_opts,
                  "Option for the runtime's create, restore or exec command (repeatable)", "OPT" },
                { "runtime-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c->runtime_args,
                  "Global runtime argument, before the command (repeatable)", "ARG" },
                { "exec-attach", 0, 0, G_OPTION_ARG_NONE, &c->exec_attach, "Attach to an exec session", NULL },
                { "no-new-keyring", 0, 0, G_OPTION_ARG_NONE, &c->no_new_keyring,
                  "Do not create a new session keyring", NULL },
                { "no-pivot", 0, 0, G_OPTION_ARG_NONE, &c->no_pivot, "Do not use pivot_root", NULL },
                { "replace-listen-pid", 0, 0, G_OPTION_ARG_NONE, &c->replace_listen_pid,
                  "Rewrite LISTEN_PID to the runtime's pid", NULL },
                { "bundle", 'b', 0, G_OPTION_ARG_FILENAME, &c->bundle, "Bundle directory", "DIR" },
                { "persist-dir", '0', 0, G_OPTION_ARG_FILENAME, &c->persist_dir,
                  "Directory for the exit and oom files", "DIR" },
                { "pidfile", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &c->container_pidfile,
                  "Deprecated alias of --container-pidfile", "PATH" },
                { "container-pidfile", 'p', 0, G_OPTION_ARG_FILENAME, &c->container_pidfile,
                  "Container pid file (written by the runtime)", "PATH" },
                { "conmon-pidfile", 'P', 0, G_OPTION_ARG_FILENAME, &c->conmon_pidfile,
                  "Where to write the monitor's pid", "PATH" },
                { "systemd-cgroup", 's', 0, G_OPTION_ARG_NONE, &c->systemd_cgroup,
                  "Pass --systemd-cgroup to the runtime", NULL },
                { "exec", 'e', 0, G_OPTION_ARG_NONE, &c->exec, "Exec a process in a running container", NULL },
                { "api-version", 0, G_OPTION_FLAG_NO_ARG | G_OPTION_FLAG_OPTIONAL_ARG, G_OPTION_ARG_CALLBACK,
                  set_api_version, "Use API version 1 (the \"data\" key)", NULL },
                { "exec-process-spec", 0, 0, G_OPTION_ARG_FILENAME, &c->exec_process_spec,
                  "Process spec for exec", "PATH" },
                { "exit-dir", 0, 0, G_OPTION_ARG_FILENAME, &c->exit_dir,
                  "Directory for the <cid> exit file", "DIR" },
                { "exit-command", 0, 0, G_OPTION_ARG_FILENAME, &c->exit_command,
                  "Program to run after the container exited", "PATH" },
                { "exit-command-arg", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c->exit_command_args,
                  "Argument for the exit command (repeatable)", "ARG" },
                { "exit-delay", 0, 0, G_OPTION_ARG_INT, &c->exit_delay,
                  "Seconds to wait before running the exit command", "N" },
                { "log-path", 'l', 0, G_OPTION_ARG_STRING_ARRAY, &c->log_paths,
                  "Log driver and path: k8s-file:PATH, journald, passthrough, none (repeatable)", "DRIVER:PATH" },
                { "timeout", 'T', 0, G_OPTION_ARG_INT, &c->timeout, "Kill the container after N seconds", "N" },
                { "log-size-max", 0, 0, G_OPTION_ARG_INT64, &c->log_size_max,
                  "Maximum size of the k8s log file", "BYTES" },
                { "log-global-size-max", 0, 0, G_OPTION_ARG_INT64, &c->log_global_size_max,
                  "Maximum number of bytes ever written to the k8s log", "BYTES" },
                { "log-tag", 0, 0, G_OPTION_ARG_STRING, &c->log_tag, "journald tag", "TAG" },
                { "log-label", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c->log_labels,
                  "Extra journald field LABEL=VALUE (repeatable)", "LABEL=VALUE" },
                { "no-container-partial-message", 0, 0, G_OPTION_ARG_NONE, &c->no_container_partial_message,
                  "Do not mark partial journald entries", NULL },
                { "log-rotate", 0, 0, G_OPTION_ARG_NONE, &c->log_rotate,
                  "Rotate the k8s log at --log-size-max instead of truncating it (default: VIGIL_LOG_ROTATE, "
                  "[log] rotate)", NULL },
                { "log-max-files", 0, 0, G_OPTION_ARG_INT, &c->log_max_files,
                  "Number of rotated k8s log files to keep (default: VIGIL_LOG_MAX_FILES, [log] max-files, 1)",
                  "N" },
                { "log-allowlist-dir", 0, 0, G_OPTION_ARG_STRING_ARRAY, &c->log_allowlist_dirs,
                  "Directory in which log rotation may create files (repeatable)", "DIR" },
                { "no-sync-log", 0, 0, G_OPTION_ARG_NONE, &c->no_sync_log,
                  "Do not fsync the log at exit", NULL },
                { "socket-dir-path", 0, 0, G_OPTION_ARG_FILENAME, &c->socket_dir,
                  "Directory for the attach socket symlink", "DIR" },
                { "full-attach", 0, 0, G_OPTION_ARG_NONE, &c->full_attach,
                  "Bind the attach socket at <bundle>/attach", NULL },
                { "version", 0, 0, G_OPTION_ARG_NONE, &c->version, "Print the version and exit", NULL },
                { "syslog", 0, 0, G_OPTION_ARG_NONE, &c->syslog, "Also log to syslog", NULL },
                { "log-level", 0, 0, G_OPTION_ARG_STRING, &c->log_level_name,
                  "error, warning, info, debug or trace", "LEVEL" },
                { "sync", 0, 0, G_OPTION_ARG_NONE, &c->sync, "Do not fork; stay the caller's child", NULL },
                { "sdnotify-socket", 0, 0, G_OPTION_ARG_FILENAME, &c->sdnotify_socket,
                  "Host sd_notify socket to relay the container's notifications to", "PATH" },
                { "control-socket", 0, 0, G_OPTION_ARG_FILENAME, &c->control_socket,
                  "Varlink control socket (default <bundle>/vigil.sock; \"none\" disables it)", "PATH" },
                { "seccomp-notify-socket", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME,
                  &c->seccomp_notify_socket, "Not supported", "PATH" },
                { "seccomp-notify-plugins", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING,
                  &c->seccomp_notify_plugins, "Not supported", "LIST" },
                { NULL },
        };
        return g_memdup2(entries, sizeof(entries));
}

static gboolean fail(GError **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static gboolean fail(GError **error, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        g_autofree char *msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error_literal(error, CONFIG_ERROR, 0, msg);
        return FALSE;
}

static gboolean parse_log_level(VigilConfig *c, GError **error)
{
        static const struct {
                const char *name;
                VigilLogLevel level;
        } names[] = {
                { "error", LOG_LEVEL_ERROR },     { "fatal", LOG_LEVEL_ERROR }, { "panic", LOG_LEVEL_ERROR },
                { "warn", LOG_LEVEL_WARNING },    { "warning", LOG_LEVEL_WARNING },
                { "info", LOG_LEVEL_INFO },       { "debug", LOG_LEVEL_DEBUG }, { "trace", LOG_LEVEL_TRACE },
        };

        c->log_level = LOG_LEVEL_WARNING;
        if (!c->log_level_name)
                return TRUE;
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                if (g_ascii_strcasecmp(c->log_level_name, names[i].name) == 0) {
                        c->log_level = names[i].level;
                        return TRUE;
                }
        }
        return fail(error, "No such log level %s", c->log_level_name);
}

/* One -l value: "[driver:]path", split at the first colon as conmon does. */
static gboolean parse_log_path(VigilConfig *c, const char *value, GError **error)
{
        const char *colon = strchr(value, ':');
        g_autofree char *driver = colon ? g_strndup(value, colon - value) : NULL;
        const char *path = colon ? colon + 1 : value;

        if (!colon) {
                /* A bare word is a driver name when it is one, else a k8s file path. */
                if (!*value)
                        return fail(error, "log-path must not be empty");
                driver = g_strdup(value);
                path = "";
                if (!g_str_equal(driver, "none") && !g_str_equal(driver, "off") && !g_str_equal(driver, "null") &&
                    !g_str_equal(driver, "journald") && !g_str_equal(driver, "passthrough") &&
                    !g_str_equal(driver, "k8s-file")) {
                        g_free(c->log_k8s_path);
                        c->log_k8s_path = g_strdup(value);
                        return TRUE;
                }
        }
        if (g_str_equal(driver, "") && g_str_equal(path, ""))
                return fail(error, "log-path must not be empty");
        if (g_str_equal(driver, "none") || g_str_equal(driver, "off") || g_str_equal(driver, "null"))
                return TRUE;
        if (g_str_equal(driver, "passthrough")) {
                c->log_passthrough = TRUE;
                return TRUE;
        }
        if (g_str_equal(driver, "journald")) {
                c->log_journald = TRUE;
                return TRUE;
        }
        if (g_str_equal(driver, "k8s-file") || g_str_equal(driver, "")) {
                if (!*path)
                        return fail(error, "k8s-file requires a filename");
                g_free(c->log_k8s_path);
                c->log_k8s_path = g_strdup(path);
                return TRUE;
        }
        return fail(error, "No such log driver %s", driver);
}

/* conmon's checks and words, in its order: engines and scripts match on them. */
static gboolean validate_label(const char *label, GError **error)
{
        const char *eq = strchr(label, '=');

        if (eq == label)
                return fail(error, "Container labels must be in format LABEL=VALUE (no LABEL present in '%s')", label);
        if (!eq || strchr(eq + 1, '='))
                return fail(error,
                            "Container labels must be in format LABEL=VALUE (none or more than one '=' present in "
                            "'%s')",
                            label);
        for (const char *p = label; p < eq; p++)
                if (!g_ascii_isupper(*p) && !g_ascii_isdigit(*p) && *p != '_')
                        return fail(error,
                                    "Container label names must contain only uppercase letters, numbers and "
                                    "underscore (in '%s')",
                                    label);
        return TRUE;
}

static gboolean validate_logs(VigilConfig *c, GError **error)
{
        if (!c->log_paths || !c->log_paths[0])
                return fail(error, "Log driver not provided. Use --log-path");
        for (char **p = c->log_paths; *p; p++)
                if (!parse_log_path(c, *p, error))
                        return FALSE;
        if (c->log_journald && strlen(c->cid) <= 12)
                return fail(error, "Container ID must be longer than 12 characters");
        if (c->log_k8s_path && !c->log_journald) {
                if (c->log_tag)
                        return fail(error, "k8s-file doesn't support --log-tag");
                if (c->log_labels && c->log_labels[0])
                        return fail(error, "k8s-file doesn't support --log-label");
        }
        for (char **l = c->log_labels; l && *l; l++)
                if (!validate_label(*l, error))
                        return FALSE;
        if (c->no_container_partial_message && !c->log_journald)
                log_warning("--no-container-partial-message has no effect without journald log driver");
        return TRUE;
}

static gboolean validate(VigilConfig *c, GError **error)
{
        if (c->log_max_files < 0 && c->log_max_files != LOG_MAX_FILES_UNSET)
                return fail(error, "log-max-files must be non-negative, got %d", c->log_max_files);
        if (c->log_rotate && c->log_max_files != LOG_MAX_FILES_UNSET && c->log_max_files < 1)
                return fail(error, "log-max-files must be at least 1 when log-rotate is enabled, got %d",
                            c->log_max_files);
        if (!c->cid)
                return fail(error, "Container ID not provided. Use --cid");
        if (!parse_log_level(c, error))
                return FALSE;
        if (c->restore && c->exec)
                return fail(error, "Cannot use 'exec' and 'restore' at the same time");
        if (c->exec_attach && !c->exec)
                return fail(error, "Attach can only be specified with exec");
        if (c->exec_attach && !c->api_version)
                return fail(error, "Attach can only be specified for a non-legacy exec session");
        if (!c->cuuid && (!c->exec || c->api_version))
                return fail(error, "Container UUID not provided. Use --cuuid");
        if (!c->runtime)
                return fail(error, "Runtime path not provided. Use --runtime");
        if (access(c->runtime, X_OK) < 0)
                return fail(error, "Runtime path %s is not valid: %s", c->runtime, g_strerror(errno));
        if (c->exec && !c->exec_process_spec)
                return fail(error, "Exec process spec path not provided. Use --exec-process-spec");
        if (c->exit_delay < 0)
                return fail(error, "Delay before invoking exit command must be greater than or equal to 0");
        if (c->seccomp_notify_socket || c->seccomp_notify_plugins)
                return fail(error, "seccomp notify is not supported (it never worked in conmon and was removed)");
        return validate_logs(c, error);
}

/*
 * The conmon options win over vigil's settings for them (config_file.h).  A setting applies to
 * every container of an engine, so it turns rotation on only where a size limit asks for it.
 */
static gboolean apply_log_settings(VigilConfig *c, GError **error)
{
        if (!c->log_rotate && c->vigil.log_rotate && c->log_size_max > 0)
                c->log_rotate = c->log_rotate_from_settings = TRUE;
        if (c->log_max_files != LOG_MAX_FILES_UNSET)
                return TRUE;
        if (c->log_rotate && c->vigil.log_max_files < 1)
                return fail(error, "VIGIL_LOG_MAX_FILES ([log] max-files) must be at least 1 when logs rotate, got %u",
                            c->vigil.log_max_files);
        c->log_max_files = (int) MIN(c->vigil.log_max_files, (unsigned) G_MAXINT);
        return TRUE;
}

static void apply_defaults(VigilConfig *c)
{
        g_autofree char *cwd = g_get_current_dir();

        if (!c->bundle && !c->exec)
                c->bundle = g_strdup(cwd);
        if (!c->container_pidfile)
                c->container_pidfile = g_strdup_printf("%s/pidfile-%s", cwd, c->cid);
        if (!c->socket_dir)
                c->socket_dir = g_strdup(DEFAULT_SOCKET_DIR);
}

gboolean config_parse(VigilConfig *cfg, int argc, char **argv, GError **error)
{
        g_autofree GOptionEntry *entries = NULL;
        g_autoptr(GOptionContext) ctx = g_option_context_new("- container monitor (conmon compatible)");
        g_autofree char **args = g_memdup2(argv, sizeof(char *) * (argc + 1));
        int nargs = argc;

        cfg->log_size_max = -1;
        cfg->log_global_size_max = -1;
        cfg->log_max_files = LOG_MAX_FILES_UNSET;
        entries = option_entries(cfg);
        g_option_context_set_help_enabled(ctx, TRUE);
        GOptionGroup *main_group = g_option_group_new("conmon", "conmon utility", "Monitor options", cfg, NULL);
        g_option_group_add_entries(main_group, entries);
        g_option_context_set_main_group(ctx, main_group);
        g_option_context_add_group(ctx, config_file_option_group(&cfg->vigil));

        /* GOption rearranges the array it is given; keep the caller's argv intact. */
        if (!g_option_context_parse(ctx, &nargs, &args, error))
                return FALSE;
        if (cfg->version)
                return TRUE;
        if (!validate(cfg, error))
                return FALSE;
        if (!config_file_resolve(&cfg->vigil, error) || !apply_log_settings(cfg, error))
                return FALSE;
        apply_defaults(cfg);
        return TRUE;
}

const char *config_sync_key(const VigilConfig *cfg)
{
        if (cfg->api_version)
                return "data";
        return cfg->exec ? "exit_code" : "pid";
}

void config_clear(VigilConfig *c)
{
        char **strings[] = { &c->cid, &c->cuuid, &c->name, &c->bundle, &c->container_pidfile,
                             &c->conmon_pidfile, &c->persist_dir, &c->exit_dir, &c->socket_dir, &c->runtime,
                             &c->restore, &c->log_k8s_path, &c->log_tag, &c->log_level_name, &c->exit_command,
                             &c->exec_process_spec, &c->sdnotify_socket, &c->seccomp_notify_socket,
                             &c->seccomp_notify_plugins, &c->control_socket };
        char ***arrays[] = { &c->runtime_args, &c->runtime_opts, &c->log_paths, &c->log_labels,
                             &c->log_allowlist_dirs, &c->exit_command_args };

        for (size_t i = 0; i < G_N_ELEMENTS(strings); i++)
                g_clear_pointer(strings[i], g_free);
        for (size_t i = 0; i < G_N_ELEMENTS(arrays); i++)
                g_clear_pointer(arrays[i], g_strfreev);
        config_file_clear(&c->vigil);
}
