/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The way out to the host's sd_notify socket ($NOTIFY_SOCKET of the unit, or podman's
 * --sdnotify-socket): one connected SOCK_DGRAM socket, so systemd sees the monitor's own pid
 * as the sender, behind a bounded FIFO queue.
 *
 *  - Never blocks the loop: sends use MSG_DONTWAIT; a full host queue (EAGAIN) waits for
 *    G_IO_OUT, a missing or restarted host socket is retried with a backoff timer.  Relaying
 *    never stops after a failure (conmon gives up on the first one).
 *  - A token bucket limits datagrams per second.  While messages wait, a newer message made
 *    only of last-value-wins lines (STATUS=, WATCHDOG=1, ...) is merged into the queue's tail,
 *    so a flood costs one slot and the host still gets the latest STATUS.
 *  - BARRIER: a client's barrier fd is queued like a message; when it reaches the head, the
 *    monitor sends its own BARRIER=1 with a pipe to the host and closes the client's fd once
 *    the host has closed the pipe (everything before it has been processed).
 *
 * Timers and watches exist only while something waits: an idle host link costs nothing.
 * Single-threaded, default GMainContext.
 */
#pragma once

#include <glib.h>
#include <stdint.h>

typedef struct NotifyHost NotifyHost;

typedef struct {
        unsigned rate;          /* datagrams per second to the host; 0: unlimited */
        unsigned burst;         /* bucket size */
        unsigned queue_max;     /* messages waiting (barriers are bounded separately) */
} NotifyHostOptions;

typedef struct {
        uint64_t sent;                  /* datagrams delivered to the host socket */
        uint64_t merged;                /* messages folded into a queued one */
        uint64_t dropped_queue_full;
        uint64_t dropped_send_error;    /* the host refused this message (EMSGSIZE, ...) */
        uint64_t retries;               /* host missing or full: waited and tried again */
        uint64_t barriers;              /* client barriers answered */
        uint64_t barrier_timeouts;      /* ... after the host never answered ours */
        unsigned queued;                /* messages waiting now */
        gboolean connected;
} NotifyHostStats;

/**
 * notify_host_new() - prepare the link to @address: "/path" or "@abstract".  Connects lazily.
 * Return: 0 or -EINVAL for an address that cannot be a unix socket.
 */
int notify_host_new(const char *address, const NotifyHostOptions *o, NotifyHost **ret);
NotifyHost *notify_host_free(NotifyHost *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NotifyHost, notify_host_free)

/**
 * notify_host_send() - queue one message for the host and try to send it now.
 * @fds: @n_fds descriptors passed on with it (SCM_RIGHTS); always taken over, closed if the
 *       message is dropped.
 * @mergeable: the message holds only last-value-wins lines (notify_policy_merge()).
 * Return: 0, or -ENOBUFS when the queue was full and the message was dropped.
 */
int notify_host_send(NotifyHost *h, const char *data, size_t len, int *fds, unsigned n_fds, gboolean mergeable);

/* Queue a client's barrier: @client_fd (taken over) is closed once answered. */
void notify_host_barrier(NotifyHost *h, int client_fd);

/* Send what can be sent now, ignoring the rate limit (at exit). */
void notify_host_flush(NotifyHost *h);

const NotifyHostStats *notify_host_stats(NotifyHost *h);

/**
 * notify_socket_connect() - a non-blocking, close-on-exec SOCK_DGRAM socket connected to
 * @address ("/path" or "@abstract").  A path too long for sun_path is reached through
 * /proc/self/fd/<dir>/<name>, as podman's bundle paths often are.
 * Return: the fd, or -errno.
 */
int notify_socket_connect(const char *address);
