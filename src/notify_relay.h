/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The sd_notify relay of one container: <bundle>/notify/notify.sock (SOCK_DGRAM, mode 0777
 * so a non-root container user can send, SO_PASSCRED and, where the kernel has it,
 * SO_PASSPIDFD so every datagram names its sender), the sender check when a datagram is
 * received (notify_sender.c), the policy (notify_policy.c) and the link to the host
 * (notify_host.c).
 * Also the way vigil's own messages (READY=1 in conmon mode, health) reach the host, so both
 * share one queue and one order.
 *
 * The socket is created before the container's pid is reported, but read only once the pid
 * is known (notify_relay_set_container()): a sender can be checked only against a container.
 * Each wake-up reads a bounded batch, so a flood cannot starve the rest of the loop.
 *
 * NotifyState is what the control socket publishes; it is updated as messages are accepted.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/types.h>

#include "config_file.h"
#include "notify_host.h"
#include "notify_policy.h"
#include "notify_sender.h"

typedef struct NotifyRelay NotifyRelay;

typedef struct {
        const char *host_address;       /* "/path" or "@abstract"; NULL: none, the state only */
        const char *socket_path;        /* the container's socket; NULL: vigil's own messages only */
        NotifyPolicy policy;
        SenderCheck sender_check;
        NotifyHostOptions host;
} NotifyRelayOptions;

typedef struct {
        const char *mode;               /* notify_mode_name() */
        gboolean ready;                 /* READY=1 seen, and no RELOADING=1 since */
        gboolean reloading;
        gboolean stopping;
        char *status;                   /* last STATUS=, NULL if none */
        int64_t last_watchdog_usec;     /* CLOCK_REALTIME of the last WATCHDOG=1; 0: never */
        gboolean watchdog_triggered;
        const char *health;             /* "starting", "healthy", "unhealthy"; NULL: no health check */

        /* datagrams from the container */
        uint64_t received;
        uint64_t relayed;               /* with at least one line accepted */
        uint64_t dropped;               /* everything else, by reason below */
        uint64_t dropped_empty;         /* no line survived the policy */
        uint64_t dropped_oversize;      /* over 4096 bytes, or fds cut off */
        uint64_t dropped_sender;        /* sent from outside the container */
        uint64_t dropped_queue_full;
        uint64_t unverified_senders;    /* of dropped_sender: gone before they could be identified */
        NotifyLineCounters lines;       /* per key */
        const NotifyHostStats *host;    /* NULL without a host */
} NotifyState;

/**
 * notify_relay_new() - create the container's socket (its directory too) and prepare the host
 * link.  Return: 0 or -errno.
 */
int notify_relay_new(const NotifyRelayOptions *o, NotifyRelay **ret);
NotifyRelay *notify_relay_free(NotifyRelay *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NotifyRelay, notify_relay_free)

/* The container's pid is known: start relaying, checking senders against it. */
void notify_relay_set_container(NotifyRelay *r, pid_t container_pid);

/* The container has exited: relay what it sent last (STOPPING=1; exit), send what can be sent. */
void notify_relay_drain(NotifyRelay *r);

/* Stop reading the container's socket. */
void notify_relay_stop(NotifyRelay *r);

/* Send vigil's own @message (KEY=VALUE lines) to the host, after what is queued. */
void notify_relay_send_own(NotifyRelay *r, const char *message);

void notify_relay_set_health(NotifyRelay *r, const char *health);
void notify_relay_set_mode(NotifyRelay *r, const char *mode);

const NotifyState *notify_relay_state(NotifyRelay *r);

/*
 * Told of every state change as it is relayed: @event is "ready", "reloading", "stopping",
 * "watchdog", "watchdog-trigger", "status" (with @text) or "health" (with @text).  The control
 * socket turns these into its events.
 */
typedef void (*NotifyEventFunc)(const char *event, const char *text, gpointer user_data);
void notify_relay_set_listener(NotifyRelay *r, NotifyEventFunc func, gpointer user_data);
