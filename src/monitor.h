/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor: one context object that owns everything a monitored container needs and goes
 * through fixed phases:
 *
 *   monitor_prepare()  before the engine releases us: open the logs (errors reach the caller)
 *   monitor_run()      after daemonising: create, report the pid, relay until the container
 *                      exits, then write the exit files and run the exit command
 *   monitor_deinit()   free everything (valgrind/ASan clean)
 *
 * Single-threaded; every event arrives through the default GMainContext.  The run phase never
 * exits early: failures are logged and the exit path still runs.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "attach.h"
#include "confine.h"
#include "console.h"
#include "control.h"
#include "ctl_fifo.h"
#include "json_lazy.h"
#include "notify.h"
#include "oom.h"
#include "registry.h"
#include "options.h"
#include "signals.h"
#include "spawner.h"
#include "stdio_relay.h"
#include "sync_pipe.h"

typedef enum {
        PHASE_CREATING,         /* runtime create/exec is running */
        PHASE_RUNNING,          /* the container's pid is known and it has not exited */
        PHASE_EXITED,
} MonitorPhase;

/* How the monitor notices `runtime start` (monitor_control.c). */
typedef struct {
        dev_t dev;              /* the executable the container's process ran when created */
        ino_t ino;
        int inotify_fd;         /* watches the runtime's exec.fifo, -1 when there is none */
        guint source;
} MonitorStartWatch;

typedef struct {
        const VigilConfig *cfg;
        GMainLoop *loop;
        MonitorPhase phase;
        pid_t self_pid;

        JsonApi json;
        SyncPipe sync;
        SyncPipe attach_pipe;
        int start_fd;
        GArray *inherited_fds;  /* fds >= 3 we were started with: held until the exit files */
        char *oom_score_adj;    /* our original value, restored in children */

        SignalWatch signals;
        StdioRelay stdio;
        AttachServer *attach;
        CtlFifos ctl;
        ConsoleSocket console;
        OomWatch oom;
        gboolean oom_killed;

        pid_t runtime_pid;
        int runtime_wstatus;
        gboolean runtime_exited;
        pid_t container_pid;
        int container_wstatus;
        gboolean container_exited;
        GHashTable *early_exits; /* pid -> wait status, reaped before the container pid was known */

        guint timeout_source;
        gboolean timed_out;
        guint abort_source;     /* SIGKILL for a container that outlives a forwarded SIGABRT */
        int exit_status;

        /* the control socket (monitor_control.c); times are CLOCK_REALTIME, 0 until then */
        ControlServer *control;
        Registration registration; /* the control socket's entry in the registry (registry.h) */
        gint64 created_usec;    /* the container's pid was reported */
        gint64 started_usec;    /* its process left the runtime's init */
        gint64 finished_usec;   /* it was reaped */
        MonitorStartWatch start_watch;
        /* GetStats' per-key notify counters ("READY", "READY_dropped", ...), filled on demand. */
        ControlCounter notify_counters[2 * NOTIFY_KEY__MAX];
        char notify_counter_names[NOTIFY_KEY__MAX][40];

        /* sd-notify (notify.c) and --start */
        Notify *notify;
        pid_t start_pid;        /* `runtime start`, while it runs */

        /* what runs after setup (spawner.h), and the run phase's confinement (confine.h) */
        Spawner *spawner;
        Confinement *confinement;
} Monitor;

#define MONITOR_NULL                                                                                \
        {                                                                                           \
                .sync = SYNC_PIPE_NULL, .attach_pipe = SYNC_PIPE_NULL, .start_fd = -1,               \
                .signals = SIGNAL_WATCH_NULL, .ctl = CTL_FIFOS_NULL, .exit_status = -1,              \
                .stdio = STDIO_RELAY_NULL, .console = CONSOLE_SOCKET_NULL, .oom = OOM_WATCH_NULL,     \
                .start_watch = { .inotify_fd = -1 },                                                \
        }

/* Everything up to the engine's start byte: may fail with @error, nothing has forked yet. */
gboolean monitor_prepare(Monitor *m, const VigilConfig *cfg, GError **error);

/* The run phase; returns the monitor's own exit status (the container's, or 1/255). */
int monitor_run(Monitor *m);

void monitor_deinit(Monitor *m);

/* The exit status podman expects: the exit code, 128+signal, or -1 when unknown. */
int monitor_wait_status_to_exit(int wstatus);

/*
 * The control socket (monitor_control.c).  _open() in setup, before the pid is reported;
 * _created() once it is; _exited() after the exit files: answers Wait, sends "exited" and
 * removes the socket; _close() at deinit.  _emit() reports an event to subscribers.
 */
gboolean monitor_control_open(Monitor *m, GError **error);
void monitor_control_created(Monitor *m);
void monitor_control_emit(Monitor *m, const char *type, const char *text);
void monitor_control_exited(Monitor *m);
void monitor_control_close(Monitor *m);
