/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sd_notify as the monitor sees it: which mode applies, where the host socket is, and the
 * moments of the container's life that matter (created, started, exited).  The relay, the
 * policy and the health checks live in their own files; this one wires them to the monitor.
 *
 *   host socket: --sdnotify-socket (podman's container mode), else the monitor's own
 *                $NOTIFY_SOCKET (a unit running vigil directly), else none: the state is
 *                kept for the control socket only (doc/readiness.md).  That variable is removed
 *                from the environment at once: a runtime that sees it starts its own proxy
 *                and blocks `start` until READY (podman#6688).
 *   container:   <bundle>/notify/notify.sock, relayed (notify_relay.c)
 *   conmon:      READY=1 from the monitor once the container has started
 *   healthy:     READY=1 after the first passing check, STATUS= with the health state,
 *                WATCHDOG=1 / WATCHDOG=trigger when the watchdog is on (health.c)
 *   ignore:      nothing
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "health.h"
#include "json_lazy.h"
#include "notify_relay.h"
#include "options.h"

typedef struct Notify Notify;

/**
 * notify_new() - set up what the configured mode needs, before the runtime runs: the
 * container's socket exists before its pid is reported.  *@ret is NULL when there is nothing
 * to do (no host socket, mode ignore, exec sessions).
 * Return: 0 or -errno.
 */
/* @spawner: where health checks run (healthy mode). */
int notify_new(const VigilConfig *cfg, Spawner *spawner, Notify **ret);
Notify *notify_free(Notify *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Notify, notify_free)

/* The three moments; each accepts a NULL @n. */
void notify_container_created(Notify *n, pid_t container_pid);
void notify_container_started(Notify *n);
void notify_container_exited(Notify *n);

/* TRUE if @pid was a child of this module (a health check). */
gboolean notify_child_exited(Notify *n, pid_t pid, int wstatus);

/* For the control socket; NULL when there is no relay. */
NotifyRelay *notify_get_relay(Notify *n);

/**
 * notify_prepare_bundle() - make <bundle>/config.json reach <bundle>/notify/notify.sock: a
 * bind mount of <bundle>/notify at /run/notify and NOTIFY_SOCKET=/run/notify/notify.sock in
 * the process environment (what podman does in container mode); WATCHDOG_USEC too when systemd
 * gave vigil a watchdog.  Idempotent.
 * Return: 0 or -errno.
 */
int notify_prepare_bundle(JsonApi *json, const char *bundle);
