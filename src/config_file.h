/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vigil's own settings, beyond conmon's command line.  podman cannot pass extra flags to its
 * monitor, so each setting has three spellings, in increasing precedence:
 *
 *   /etc/vigil/vigil.conf (GKeyFile; $VIGIL_CONFIG names another file)   [notify] mode=healthy
 *   the environment (podman passes containers.conf's conmon_env_vars)    VIGIL_SDNOTIFY_MODE=healthy
 *   the command line                                                     --sdnotify-mode=healthy
 *
 * A few stand in for conmon options that an older engine never passes ([log] rotate for
 * --log-rotate); those have no option of their own, the conmon option wins.
 *
 * The table in config_file.c is the single list; `vigil --help-vigil` prints it.
 */
#pragma once

#include <glib.h>

typedef enum {
        NOTIFY_MODE_CONTAINER,  /* relay the container's messages (podman --sdnotify=container) */
        NOTIFY_MODE_CONMON,     /* vigil sends READY=1 itself once the container has started */
        NOTIFY_MODE_HEALTHY,    /* READY=1 after the first passing health check */
        NOTIFY_MODE_IGNORE,     /* nothing at all */
} NotifyMode;

typedef enum {
        SENDER_CHECK_RELAXED,   /* a sender gone before the kernel could tell where it was
                                 * (Linux < 6.16) is relayed; one known to be outside is not */
        SENDER_CHECK_STRICT,    /* ... is dropped too */
        SENDER_CHECK_OFF,       /* anyone who can reach the socket (conmon's behaviour) */
} SenderCheck;

typedef enum {
        SECCOMP_MODE_ENFORCE,   /* calls outside the run phase's allowlist fail with EPERM */
        SECCOMP_MODE_LOG,       /* ... are allowed and logged by the kernel */
        SECCOMP_MODE_OFF,       /* no filter, no capabilities dropped */
} SeccompMode;

#define SETTINGS_COUNT 21

typedef struct {
        NotifyMode notify_mode;
        gboolean notify_watchdog_usec;
        gboolean notify_fdstore;
        unsigned notify_rate_limit;     /* datagrams per second to the host */
        unsigned notify_rate_burst;
        unsigned notify_queue_max;
        SenderCheck notify_sender_check;
        gboolean notify_prepare_bundle; /* add the /run/notify mount and NOTIFY_SOCKET to config.json */
        gboolean start;                 /* run `runtime start` after create */
        gboolean unit_cgroup;           /* the container in <our service's cgroup>/container */
        SeccompMode seccomp;            /* confinement of the run phase (confine.h) */
        char *health_cmd;               /* shell command run with `runtime exec CID /bin/sh -c` */
        unsigned health_interval_ms;
        unsigned health_timeout_ms;
        unsigned health_retries;
        unsigned health_start_period_ms;
        int health_watchdog;            /* -1: when systemd gave us WATCHDOG_USEC */
        gboolean log_rotate;            /* --log-rotate for engines that cannot pass it */
        unsigned log_max_files;         /* --log-max-files, likewise */
        char *registry_dir;             /* registry.h: NULL for the default, "none": off */
        gboolean registry_exec;         /* exec sessions register too */

        char *cli[SETTINGS_COUNT];      /* raw command-line values, NULL when not given */
} VigilSettings;

/* The options group for the command line; parsed values land in @s->cli. */
GOptionGroup *config_file_option_group(VigilSettings *s);

/**
 * config_file_resolve() - defaults, then the file, then VIGIL_* variables, then the command
 * line.  A missing file is fine; an unreadable one or a bad value is an error.
 */
gboolean config_file_resolve(VigilSettings *s, GError **error);

/**
 * config_file_load_data() - apply the vigil.conf text @data (@len bytes, read from @path)
 * over @s.  Unknown groups and keys are ignored; a bad value is an error naming @path.
 */
gboolean config_file_load_data(VigilSettings *s, const char *data, size_t len, const char *path, GError **error);

void config_file_clear(VigilSettings *s);

const char *notify_mode_name(NotifyMode mode);

/* "250ms", "2s", "1m", "1h"; a bare number is seconds.  FALSE if invalid. */
gboolean config_parse_duration_ms(const char *text, unsigned *ret_ms);
gboolean config_parse_bool(const char *text, gboolean *ret);
