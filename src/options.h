/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Command line of the monitor: every option of conmon 2.2.x (podman and CRI-O pass them
 * unchanged) plus vigil's own.  Parsing fills a VigilConfig; validation reproduces conmon's
 * messages verbatim because engines and scripts match on them.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

#include "config_file.h"

typedef enum {
        LOG_LEVEL_ERROR = 0,
        LOG_LEVEL_WARNING,
        LOG_LEVEL_INFO,
        LOG_LEVEL_DEBUG,
        LOG_LEVEL_TRACE,
} VigilLogLevel;

typedef struct {
        /* identity and paths */
        char *cid;
        char *cuuid;
        char *name;
        char *bundle;
        char *container_pidfile;
        char *conmon_pidfile;
        char *persist_dir;
        char *exit_dir;
        char *socket_dir;
        gboolean full_attach;

        /* runtime invocation */
        char *runtime;
        char **runtime_args;
        char **runtime_opts;
        gboolean systemd_cgroup;
        gboolean no_pivot;
        gboolean no_new_keyring;
        char *restore;
        gboolean replace_listen_pid;

        /* stdio */
        gboolean terminal;
        gboolean stdin;
        gboolean leave_stdin_open;

        /* container logs: -l values, and what they resolve to (only one k8s file: the last) */
        char **log_paths;
        char *log_k8s_path;
        gboolean log_journald;
        gboolean log_passthrough;
        int64_t log_size_max;
        int64_t log_global_size_max;
        char *log_tag;
        char **log_labels;
        gboolean no_container_partial_message;
        gboolean log_rotate;
        gboolean log_rotate_from_settings; /* VIGIL_LOG_ROTATE, not --log-rotate: may fall back */
        int log_max_files;
        char **log_allowlist_dirs;
        gboolean no_sync_log;

        /* the monitor's own diagnostics */
        char *log_level_name;
        VigilLogLevel log_level;
        gboolean syslog;

        /* exit handling */
        int timeout;
        char *exit_command;
        char **exit_command_args;
        int exit_delay;

        /* exec */
        gboolean exec;
        char *exec_process_spec;
        gboolean exec_attach;
        gboolean api_version;

        gboolean sync;
        char *sdnotify_socket;
        char *control_socket;   /* --control-socket: a path, or "none"; NULL: <bundle>/vigil.sock */
        char *seccomp_notify_socket;
        char *seccomp_notify_plugins;
        gboolean version;

        /* vigil's own settings: command line, VIGIL_* variables, vigil.conf (config_file.h) */
        VigilSettings vigil;
} VigilConfig;

/**
 * config_parse() - parse argv into @cfg and validate it.
 * @cfg: zero-initialised; filled even on failure so config_clear() is always safe.
 *
 * Return: TRUE, or FALSE with @error set to the message conmon prints for the same input.
 * --version short-circuits validation: check cfg->version first.
 */
/* Validation errors (as opposed to GOption's own parse errors). */
#define CONFIG_ERROR (g_quark_from_static_string("vigil-config-error"))

gboolean config_parse(VigilConfig *cfg, int argc, char **argv, GError **error);

void config_clear(VigilConfig *cfg);

/* The sync-pipe JSON key: "data" with --api-version, else "exit_code" for exec, else "pid". */
const char *config_sync_key(const VigilConfig *cfg);

/* The file name under --exit-dir and the journald CONTAINER_ID_FULL. */
static inline const char *config_exit_name(const VigilConfig *cfg)
{
        return cfg->cid;
}

