/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Health checks for --sdnotify-mode=healthy: the monitor runs `runtime exec CID /bin/sh -c CMD`
 * from its own loop (no resident podman polling every 250 ms, no transient timer per check),
 * one check at a time: the next starts an interval after the previous one ended.
 *
 *   - a check passes when the command exits 0 within the timeout;
 *   - failures during the start period do not count until the first pass;
 *   - after `retries` consecutive counted failures the container is unhealthy.
 *
 * Results go to a callback (notify.c turns them into READY=1, STATUS=, WATCHDOG=).  Checks run
 * through the spawner (spawner.h), which reaps them; the monitor hands their exit to
 * health_child_exited().
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "options.h"
#include "spawner.h"

typedef enum {
        HEALTH_STARTING,
        HEALTH_HEALTHY,
        HEALTH_UNHEALTHY,
} HealthState;

typedef struct Health Health;

/* @passed: this check's result; @state: the state after it; @failures: consecutive, counted. */
typedef void (*HealthFunc)(gboolean passed, HealthState state, unsigned failures, gpointer data);

/* @spawner runs the checks (SPAWN_HEALTH); without one, every check fails. */
Health *health_new(const VigilConfig *cfg, Spawner *spawner, HealthFunc func, gpointer data);
Health *health_free(Health *h);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Health, health_free)

/* Run the first check now, then one per interval. */
void health_start(Health *h);
/* The container is gone: no more checks. */
void health_stop(Health *h);

/* TRUE if @pid was this module's check (and has been accounted for). */
gboolean health_child_exited(Health *h, pid_t pid, int wstatus);

const char *health_state_name(HealthState state);

/* The argv of one check: RUNTIME [runtime-args] exec CID /bin/sh -c CMD (for the tests). */
char **health_build_argv(const VigilConfig *cfg);
