/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vigilctl's parts: the Varlink connection (vigilctl_conn.c), finding a monitor by name, id,
 * id prefix or path through the registry (vigilctl_target.c), ps and top (vigilctl_ps.c) and
 * the commands (vigilctl.c).  A client: it prints its errors itself and returns exit codes.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "vigil-protocol.h"

#define IFACE VIGIL_VARLINK_INTERFACE "."

/* Exit codes, documented in vigilctl(1).  `wait` exits with the container's code instead. */
enum {
        CTL_EXIT_ERROR = 1,             /* an error reply, a failed connection */
        CTL_EXIT_USAGE = 2,
        CTL_EXIT_UNKNOWN = 3,           /* no monitor by that name, id or prefix */
        CTL_EXIT_AMBIGUOUS = 4,         /* an id prefix that several monitors share */
        CTL_EXIT_NOT_READY = 5,         /* wait --ready: exited first, or nothing tells readiness */
        CTL_EXIT_TIMEOUT = 6,           /* wait --ready --timeout passed */
};

/* What the command line set; passed to every command. */
typedef struct {
        gboolean json;
        gboolean ready;                 /* wait --ready */
        gboolean no_stream;             /* top --no-stream */
        gint64 timeout_ms;              /* -1: none */
        unsigned interval_ms;           /* top */
        char *registry_dir;             /* NULL: registration is off, or no default here */
} Ctl;

typedef struct {
        int fd;
        GByteArray *buf;
        gint64 deadline;                /* monotonic usec; 0: none */
        gboolean timed_out;             /* the last read passed the deadline */
} Conn;

#define CONN_NULL { .fd = -1 }

/* Varlink over a unix stream socket (vigilctl_conn.c). */
int fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Connect to the socket at @path (through /proc/self/fd when long).  Return: 0 or -errno. */
int conn_open(Conn *conn, const char *path);
void conn_close(Conn *conn);
int send_call(Conn *conn, const char *method, JsonObject *params, gboolean more);
/* The next reply, or NULL after printing why (nothing printed when conn->timed_out). */
JsonObject *read_reply(Conn *conn);
/* Prints an error reply; TRUE when @reply is one. */
gboolean report_error(JsonObject *reply);
JsonObject *reply_params(JsonObject *reply);
/* One call, one reply: its parameters, or NULL (error printed); takes @params. */
JsonObject *call(Conn *conn, const char *method, JsonObject *params);
/* @o's member @key if it is an object (@o may be NULL), else NULL. */
JsonObject *member_object(JsonObject *o, const char *key);
/* The reply's "error", or NULL; for callers that map errors to their own messages. */
JsonObject *call_raw(Conn *conn, const char *method, JsonObject *params);

/*
 * Finding a monitor (vigilctl_target.c).  @arg: a path (it has a '/', or names an existing
 * file), else a container id, name or unique id prefix looked up in the registry.
 * Return: 0 with @conn connected, or an exit code after printing why.
 */
int target_open(const Ctl *ctl, const char *arg, Conn *conn);

/* A live registry entry. */
typedef struct {
        char *key;                      /* the id */
        char *path;                     /* <dir>/<id>.sock */
} LiveEntry;

typedef void (*TargetVisitFunc)(const LiveEntry *e, Conn *conn, gpointer data);

/* Calls @visit for each live registry entry whose id starts with @prefix ("" for all), with a
 * connection to it that is closed afterwards: one monitor at a time, in no particular order.
 * Stale entries are removed on the way. */
void target_visit(const Ctl *ctl, const char *prefix, TargetVisitFunc visit, gpointer data);

/* ps and top (vigilctl_ps.c). */
int cmd_ps(const Ctl *ctl);
int cmd_top(const Ctl *ctl);
