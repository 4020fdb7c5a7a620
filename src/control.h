/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The control socket: a Varlink server (JSON objects terminated by NUL over a unix stream
 * socket) serving the interface io.vigil.Monitor and org.varlink.service.
 *
 * The server knows nothing about the monitor: it asks for state, stats and actions through
 * ControlOps, and the monitor tells it about transitions with control_server_emit() and
 * control_server_exited().  An idle server is a listening socket and nothing else:
 * json-glib is loaded through the caller's JsonApi only when a client sends its first
 * message, so a monitor nobody queries never maps it.
 *
 * Everything an untrusted peer can make the server hold is bounded (ControlLimits): message
 * size, nesting depth, clients, queued output, time to finish a message, time to stay idle.
 * A client that breaks a limit is disconnected; nothing a client does blocks the loop.
 *
 * No client can lock the others out.  A client with no Wait or Subscribe in progress is
 * "idle": it is dropped after idle_timeout_ms without a complete call, and when all
 * clients_max slots are taken a new connection evicts the idle client that has been quiet
 * longest.  Wait and Subscribe hold their slot for as long as the container runs, so at most
 * waiting_max (< clients_max) clients may hold one; a further Wait or Subscribe gets
 * io.vigil.Monitor.TooManyWaiters.  So at least clients_max - waiting_max slots are always
 * free or evictable, and a GetState always gets one.
 *
 * Single-threaded: all callbacks run on the default GMainContext.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "json_lazy.h"

#include "vigil-protocol.h"

#define CONTROL_INTERFACE VIGIL_VARLINK_INTERFACE

typedef enum {
        CONTROL_STATUS_CREATING,        /* the runtime is creating the container */
        CONTROL_STATUS_CREATED,         /* created, its process not started yet */
        CONTROL_STATUS_RUNNING,
        CONTROL_STATUS_STOPPED,
} ControlStatus;

/* The sd-notify relay's view of the container; zero when no relay is configured. */
typedef struct {
        gboolean enabled;
        gboolean ready;
        gboolean reloading;
        gboolean stopping;
        const char *status;             /* last STATUS=, or NULL */
        gint64 last_watchdog_usec;      /* CLOCK_REALTIME; 0: never */
        uint64_t relayed;
        uint64_t dropped;
} ControlNotifyState;

typedef struct {
        gboolean enabled;
        const char *status;             /* "starting", "healthy", "unhealthy" */
        int failing_streak;
        gint64 last_check_usec;         /* CLOCK_REALTIME; 0: never */
} ControlHealthState;

/* Strings are borrowed: they must stay valid until the ops callback returns. */
typedef struct {
        const char *id;
        const char *name;
        const char *runtime;
        const char *bundle;
        pid_t container_pid;            /* 0 while unknown */
        pid_t monitor_pid;
        ControlStatus status;
        gboolean exited;                /* exit_code, signal and oom are meaningful */
        int exit_code;                  /* as in the exit file: code, 128+signal, -1 unknown */
        int signal;                     /* the signal that killed it, or 0 */
        gboolean oom;
        gint64 created_usec;            /* CLOCK_REALTIME; 0: not yet */
        gint64 started_usec;
        gint64 finished_usec;
        ControlNotifyState notify;
        ControlHealthState health;
} ControlState;

typedef struct {
        const char *key;
        uint64_t count;
} ControlCounter;

typedef struct {
        uint64_t log_bytes[2];          /* stdout, stderr */
        uint64_t log_lines[2];
        uint64_t partial_records;
        uint64_t rotations;
        uint64_t bytes_dropped;
        uint64_t records_dropped;
        guint attach_clients;
        uint64_t attach_clients_dropped;
        const ControlCounter *notify_counters; /* borrowed, as the strings in ControlState */
        size_t n_notify_counters;
        uint64_t rss_bytes;             /* the monitor's own */
        uint64_t cpu_user_usec;
        uint64_t cpu_system_usec;
        gint64 cgroup_memory_bytes;     /* the container's cgroup; -1 where unreadable */
        gint64 cgroup_cpu_usec;
        gint64 cgroup_pids;
} ControlStats;

/* Implemented by the monitor (monitor_control.c); @data is the pointer given to _new(). */
typedef struct {
        void (*get_state)(gpointer data, ControlState *ret);
        void (*get_stats)(gpointer data, ControlStats *ret);
        int (*kill)(gpointer data, int signo);          /* -ESRCH: not running */
        int (*resize)(gpointer data, int rows, int cols); /* -ENOTTY: no terminal */
        /* On failure, *@failed_path: the file that failed (borrowed, as the strings above). */
        int (*reopen_log)(gpointer data, const char **failed_path);
} ControlOps;

/* Subscribe events.  Fields that do not apply stay zero/NULL and are left out. */
typedef struct {
        const char *type;               /* started, ready, status, reloading, stopping, watchdog,
                                         * health, oom, log-rotated (exited: control_server_exited) */
        const char *text;               /* status: the STATUS= text; health: the health status */
        pid_t pid;                      /* started: the container's pid */
} ControlEvent;

typedef struct {
        size_t message_max;             /* bytes of one incoming message, NUL included */
        guint depth_max;                /* JSON nesting */
        guint clients_max;
        size_t output_max;              /* queued reply bytes per client */
        guint partial_timeout_ms;       /* to finish a message once it has begun */
        guint idle_timeout_ms;          /* to begin the next call, without Wait or Subscribe */
        guint waiting_max;              /* clients in Wait or Subscribe; below clients_max */
} ControlLimits;

#define CONTROL_LIMITS_DEFAULT                                                                      \
        {                                                                                           \
                .message_max = 64 * 1024, .depth_max = 32, .clients_max = 32,                       \
                .output_max = 256 * 1024, .partial_timeout_ms = 10000, .idle_timeout_ms = 30000,    \
                .waiting_max = 24,                                                                  \
        }

typedef struct ControlServer ControlServer;

/**
 * control_server_new() - bind and listen on @path (mode 0600), replacing a stale socket.
 * @json: the monitor's JsonApi, loaded on the first message; must outlive the server.
 * @limits: NULL for CONTROL_LIMITS_DEFAULT.
 * Paths longer than sun_path are reached through /proc/self/fd.
 * Return: the server, or NULL with @error set.
 */
ControlServer *control_server_new(const char *path, const ControlOps *ops, gpointer data, JsonApi *json,
                                  const ControlLimits *limits, GError **error);

/* Serve on an already listening socket (unit tests); takes @listen_fd.  -1: none (fuzzer). */
ControlServer *control_server_new_for_fd(int listen_fd, const ControlOps *ops, gpointer data, JsonApi *json,
                                         const ControlLimits *limits);

/* Send @event to every subscriber; a "ready" event also answers every WaitReady.  Cheap
 * (nothing is built) when nobody subscribed or waits. */
void control_server_emit(ControlServer *s, const ControlEvent *event);

/*
 * The container has exited and the exit files are written: answer every Wait, send
 * "exited" to subscribers and end their streams.  Later Waits are answered at once.
 */
void control_server_exited(ControlServer *s);

guint control_server_client_count(const ControlServer *s);

/* Give clients what is queued (bounded wait), close them and unlink the socket. */
void control_server_free(ControlServer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ControlServer, control_server_free)

/* RFC 3339 in UTC with microseconds: "2026-11-22T09:18:31.891998Z".  @buf: 32 bytes. */
#define CONTROL_TIME_LEN 32
void control_format_time(gint64 realtime_usec, char buf[CONTROL_TIME_LEN]);

const char *control_status_name(ControlStatus status);
