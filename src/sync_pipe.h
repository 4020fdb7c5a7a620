/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine's pipes: _OCI_SYNCPIPE (the monitor reports the container pid, or -1 and the
 * runtime's message), _OCI_STARTPIPE (the engine releases the monitor, and for exec-attach
 * the runtime child) and _OCI_ATTACHPIPE (exec: "attach socket ready").  Each write is one
 * SOCK_SEQPACKET message holding one line of JSON.
 */
#pragma once

#include <glib.h>
#include "json_lazy.h"

typedef struct {
        int fd;
        const char *key;        /* "data", "exit_code" or "pid" (config_sync_key) */
} SyncPipe;

#define SYNC_PIPE_NULL { .fd = -1, .key = "data" }

/* Takes the fd named by environment variable @env (marking it close-on-exec); 0 or -errno. */
int sync_pipe_open(SyncPipe *p, const char *env, const char *key);
void sync_pipe_close(SyncPipe *p);

/**
 * sync_pipe_send() - write {"<key>": value[, "message": "..."]}\n.
 * @json: loaded only when @message is set, so a monitor that succeeds never maps json-glib.
 * A reader that has gone away (EPIPE) closes the pipe; later sends are no-ops.
 * Return: 0 or -errno.
 */
int sync_pipe_send(SyncPipe *p, JsonApi *json, int value, const char *message);

/* Blocks until one byte or EOF arrives on the start pipe fd; 0 or -errno. */
int start_pipe_wait(int fd);
