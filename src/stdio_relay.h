/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The container's stdio: the pipes (or, with -t, the pty master) between the runtime and the
 * monitor, read on the main loop and handed to the attach clients and then the log sinks;
 * and the container's stdin, fed from attach clients without ever blocking the loop.
 */
#pragma once

#include <glib.h>
#include "log_sink.h"

/* Returns FALSE while a reader lags: the relay then reads once per wake-up, not in bursts. */
typedef gboolean (*StdioOutputFunc)(StreamId stream, const char *buf, size_t len, gpointer user_data);

typedef struct {
        /* monitor ends */
        int stdin_w;            /* -i: write end of the container's stdin pipe, else -1 */
        int out_r[2];           /* read ends for stdout, stderr */
        /* runtime-child ends, closed in the monitor once the runtime is spawned */
        int stdin_r;
        int out_w[2];

        guint out_source[2];
        GByteArray *stdin_pending; /* bytes accepted from clients but not yet in the pipe */
        guint stdin_source;
        gboolean stdin_close_requested;

        GPtrArray *sinks;       /* LogSink * */
        /* attach broadcast, before the sinks: the k8s-file sink rewrites the chunk (log_sink.h) */
        StdioOutputFunc output;
        gpointer output_data;
        void (*stdin_room)(gpointer user_data); /* queued stdin fell below the bound */
        void (*log_rotated)(gpointer user_data); /* a sink rotated its files */
        gpointer hook_data;     /* for stdin_room and log_rotated */
        char *buf;              /* LOG_CHUNK_HEADROOM, each chunk read, LOG_CHUNK_TAILROOM */
        int master;             /* -t: the pty master (also stdin_w), else -1 */
        gboolean awaiting_terminal; /* -t before the pty arrived: client input is held */
        gboolean started;
        gboolean paused;
} StdioRelay;

#define STDIO_RELAY_NULL                                                                            \
        { .stdin_w = -1, .stdin_r = -1, .out_r = { -1, -1 }, .out_w = { -1, -1 }, .master = -1 }

/**
 * stdio_relay_init() - create the pipes (close-on-exec, 1 MiB when the kernel allows it).
 * @want_stdin: -i.  @terminal: -t; the runtime gets /dev/null for stdin and stdout and
 * the pty arrives later.  With @passthrough no pipes are made: the runtime inherits the caller's stdio.
 * Return: 0 or -errno.
 */
int stdio_relay_init(StdioRelay *r, gboolean want_stdin, gboolean terminal, gboolean passthrough);

/* -t: the pty master arrived; it becomes stdin and (a dup of it) the stdout stream. 0 or -errno. */
int stdio_relay_set_terminal(StdioRelay *r, int master_fd);

/* Takes @sink; its rotations reach the log_rotated hook. */
void stdio_relay_add_sink(StdioRelay *r, LogSink *sink);

/* Closes the runtime child's ends once it has them. */
void stdio_relay_child_spawned(StdioRelay *r);

/* Start reading the container's output on the default main context. */
void stdio_relay_start(StdioRelay *r);

/* Stop and restart reading the container's output (attach back-pressure without a log). */
void stdio_relay_pause_output(StdioRelay *r);
void stdio_relay_resume_output(StdioRelay *r);

/* Read what is left without blocking (the container has exited), then flush the sinks. */
void stdio_relay_drain(StdioRelay *r, gboolean sync_logs);

/**
 * stdio_relay_write_stdin() - queue client input for the container.
 * Return: FALSE when more than the bound is already queued: the caller stops reading its
 * client until stdio_relay_stdin_has_room() turns TRUE again.
 */
gboolean stdio_relay_write_stdin(StdioRelay *r, const char *buf, size_t len);
gboolean stdio_relay_stdin_has_room(const StdioRelay *r);

/* An attach client hung up: close the container's stdin once queued input is written. */
void stdio_relay_close_stdin(StdioRelay *r);

/*
 * ctl "2" or ReopenLog: every sink starts a new file.  A sink that fails says what failed
 * and keeps logging to its old file.  Return: 0, or the first failure's -errno.  Only the
 * k8s-file sink (--log-path) has files to reopen, so a failure is that file's.
 */
int stdio_relay_reopen_logs(StdioRelay *r);
void stdio_relay_deinit(StdioRelay *r);
