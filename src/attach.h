/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The attach socket <bundle>/attach: SOCK_SEQPACKET; every packet to a client is one stream
 * byte (2 stdout, 3 stderr) and at most 8192 bytes of output; what a client sends is the
 * container's stdin, and its shutdown(SHUT_WR) closes that stdin (unless --leave-stdin-open).
 *
 * Back-pressure policy.  Each client has a queue bounded at ATTACH_CLIENT_QUEUE_MAX bytes.
 *  - With a log driver (k8s-file, journald) the log is the record and output is never held
 *    back for a client: a client that stops reading until its queue overflows is disconnected
 *    with a warning, so neither logging nor the container waits for it (conmon blocks).
 *  - Without one (-l none, as for every exec session) the attach clients are the only
 *    consumers and dropping one would lose the output: the monitor stops reading the
 *    container's output while a queue is over the bound, so the container blocks in write()
 *    until the client catches up (below half the bound).
 */
#pragma once

#include <glib.h>
#include "log_sink.h"
#include "stdio_relay.h"

#define ATTACH_PACKET_MAX 8192
#define ATTACH_CLIENT_QUEUE_MAX (4 * 1024 * 1024)

typedef struct AttachServer AttachServer;

typedef struct {
        const char *bundle;
        const char *socket_dir; /* without --full-attach: <socket_dir>/<cuuid> -> bundle symlink */
        const char *cuuid;
        gboolean full_attach;
        gboolean close_stdin_on_hangup; /* -i and not --leave-stdin-open */
        gboolean block_when_full;       /* no log driver: hold the container back, keep the client */
} AttachOptions;

/* Binds and listens (through /proc/self/fd, so long bundle paths work); NULL with @error. */
AttachServer *attach_server_new(const AttachOptions *opts, StdioRelay *stdio, GError **error);

/* Queue @buf for every client, split into packets of ATTACH_PACKET_MAX. */
void attach_broadcast(AttachServer *s, StreamId stream, const char *buf, size_t len);

/* Some client has output queued that it has not taken yet. */
gboolean attach_has_backlog(const AttachServer *s);

/* Resume reading clients' input after stdin had no room (stdio_relay's stdin_room hook). */
void attach_resume_input(AttachServer *s);

guint attach_client_count(const AttachServer *s);
uint64_t attach_clients_dropped(const AttachServer *s);

/* Output is complete: give clients what is queued (bounded wait), then EOF; unlink. */
void attach_server_free(AttachServer *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AttachServer, attach_server_free)
