/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared between the control socket's transport (control.c: sockets, framing, limits,
 * queues) and its protocol (control_varlink.c: parsing calls, methods, replies).  Not for
 * other modules.
 */
#pragma once

#include "control.h"

typedef enum {
        CALL_NONE,
        CALL_WAIT,              /* waiting for the container's exit */
        CALL_SUBSCRIBE,         /* receiving events */
        CALL_WAIT_READY,        /* waiting for READY=1 (or the exit, an error then) */
} PendingCall;

typedef struct ControlClient {
        ControlServer *server;
        int fd;
        guint in_source;
        guint out_source;
        guint timer;            /* the partial or idle timeout, whichever applies */
        gboolean timer_partial;
        gint64 last_call_usec;  /* monotonic: connected, or last call dispatched */
        guint process_idle;     /* dispatch what queued up behind a finished call */
        GByteArray *in;         /* received, not yet dispatched */
        GByteArray *out;        /* replies not yet sent */
        PendingCall pending;    /* a call still owing replies: later calls wait behind it */
        gboolean pending_oneway;
        gboolean input_closed;  /* the peer shut down its sending side */
        const char *drop_reason; /* set: the transport frees the client at its next step */
} ControlClient;

struct ControlServer {
        int listen_fd;
        guint listen_source;
        int dir_fd;             /* the socket's directory, to unlink it at exit */
        char *name;
        ino_t ino;
        const ControlOps *ops;
        gpointer data;
        JsonApi *json;
        ControlLimits limits;
        GPtrArray *clients;     /* ControlClient * */
        guint waiting;          /* clients with CALL_WAIT or CALL_SUBSCRIBE */
        gboolean exited;
};

/*
 * Who frees a client: only the transport (control.c), in its event handlers and after its
 * walks over all clients.  Everything else, the protocol included, only passes a verdict
 * up: FALSE means "drop this client", with the reason in drop_reason.  So nothing frees a
 * client that a caller further up the stack is still using, or that a walk would skip.
 */

/* control.c */
/* Serve @fd, a connected nonblocking stream socket, as if just accepted; takes @fd. */
void control_server_adopt(ControlServer *s, int fd);
/* Queue one message (a NUL is appended).  FALSE: the client is to be dropped. */
gboolean control_client_send(ControlClient *c, const char *json_text);
/* The pending call has sent its last reply: dispatch what the client sent after it. */
void control_client_call_done(ControlClient *c);
/* Marks @c to be dropped (the first reason sticks).  Returns FALSE, the verdict. */
gboolean control_client_fail(ControlClient *c, const char *why);

/* control_varlink.c; FALSE: the client is to be dropped. */
/* One complete message, NUL stripped. */
gboolean control_varlink_dispatch(ControlClient *c, const char *msg, size_t len);
/* Send @event to @c, a subscriber. */
gboolean control_varlink_send_event(ControlClient *c, const ControlEvent *event, gboolean final);
/* Answer @c's Wait, WaitReady or Subscribe now that the container has exited. */
gboolean control_varlink_send_exit(ControlClient *c);
/* Answer @c's WaitReady: the container is ready. */
gboolean control_varlink_send_ready(ControlClient *c);
/* Tell a client whose call can never be answered (the monitor exits first). */
gboolean control_varlink_send_gone(ControlClient *c);

/* Checks nesting depth and string syntax enough to keep a recursive parser safe. */
gboolean control_json_depth_ok(const char *msg, size_t len, guint depth_max);
