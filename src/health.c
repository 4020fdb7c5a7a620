/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "health.h"

#include <errno.h>
#include <sys/wait.h>

#include "logging.h"

struct Health {
        const VigilConfig *cfg;
        Spawner *spawner;
        HealthFunc func;
        gpointer data;
        HealthState state;
        unsigned failures;
        gboolean ever_passed;
        gboolean stopped;
        gint64 started_at;
        pid_t pid;              /* the running check, or 0 */
        gboolean timed_out;
        guint interval_timer;
        guint timeout_timer;
};

const char *health_state_name(HealthState state)
{
        switch (state) {
        case HEALTH_STARTING:
                return "starting";
        case HEALTH_HEALTHY:
                return "healthy";
        case HEALTH_UNHEALTHY:
                return "unhealthy";
        }
        return "?";
}

char **health_build_argv(const VigilConfig *cfg)
{
        GPtrArray *argv = g_ptr_array_new();

        g_ptr_array_add(argv, g_strdup(cfg->runtime));
        for (char **a = cfg->runtime_args; a && *a; a++)
                g_ptr_array_add(argv, g_strdup(*a));
        g_ptr_array_add(argv, g_strdup("exec"));
        g_ptr_array_add(argv, g_strdup(cfg->cid));
        g_ptr_array_add(argv, g_strdup("/bin/sh"));
        g_ptr_array_add(argv, g_strdup("-c"));
        g_ptr_array_add(argv, g_strdup(cfg->vigil.health_cmd));
        g_ptr_array_add(argv, NULL);
        return (char **) g_ptr_array_free(argv, FALSE);
}

Health *health_new(const VigilConfig *cfg, Spawner *spawner, HealthFunc func, gpointer data)
{
        Health *h = g_new0(Health, 1);

        h->cfg = cfg;
        h->spawner = spawner;
        h->func = func;
        h->data = data;
        return h;
}

static void run_check(Health *h);

static gboolean on_interval(gpointer data)
{
        Health *h = data;

        h->interval_timer = 0;
        run_check(h);
        return G_SOURCE_REMOVE;
}

static gboolean on_check_timeout(gpointer data)
{
        Health *h = data;

        h->timeout_timer = 0;
        if (h->pid > 0) {
                log_info("health check %d timed out", (int) h->pid);
                h->timed_out = TRUE;
                /* The runtime forwards nothing once killed; whatever it started inside is
                 * re-parented to the monitor (a subreaper) and reaped there. */
                spawner_kill(h->spawner, SPAWN_HEALTH);
        }
        return G_SOURCE_REMOVE;
}

static void schedule_next(Health *h)
{
        if (!h->stopped && !h->interval_timer)
                h->interval_timer = g_timeout_add(MAX(h->cfg->vigil.health_interval_ms, 1), on_interval, h);
}

static void record_result(Health *h, gboolean passed)
{
        gboolean in_start_period = !h->ever_passed &&
                                   g_get_monotonic_time() - h->started_at <
                                           (gint64) h->cfg->vigil.health_start_period_ms * 1000;

        if (passed) {
                h->ever_passed = TRUE;
                h->failures = 0;
                h->state = HEALTH_HEALTHY;
        } else if (!in_start_period) {
                h->failures++;
                if (h->failures >= MAX(h->cfg->vigil.health_retries, 1))
                        h->state = HEALTH_UNHEALTHY;
        }
        h->func(passed, h->state, h->failures, h->data);
}

static void run_check(Health *h)
{
        int r;

        if (h->stopped || h->pid > 0)
                return;
        h->timed_out = FALSE;
        r = spawner_run(h->spawner, SPAWN_HEALTH, &h->pid);
        if (r < 0) {
                log_warning("health check: cannot run the runtime: %s", g_strerror(-r));
                h->pid = 0;
                record_result(h, FALSE);
                schedule_next(h);
                return;
        }
        h->timeout_timer = g_timeout_add(MAX(h->cfg->vigil.health_timeout_ms, 1), on_check_timeout, h);
}

void health_start(Health *h)
{
        h->started_at = g_get_monotonic_time();
        run_check(h);
}

void health_stop(Health *h)
{
        h->stopped = TRUE;
        if (h->interval_timer)
                g_source_remove(h->interval_timer);
        h->interval_timer = 0;
}

gboolean health_child_exited(Health *h, pid_t pid, int wstatus)
{
        gboolean passed;

        if (!h || pid <= 0 || pid != h->pid)
                return FALSE;
        h->pid = 0;
        if (h->timeout_timer)
                g_source_remove(h->timeout_timer);
        h->timeout_timer = 0;
        passed = !h->timed_out && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
        log_debug("health check: %s", passed ? "passed" : "failed");
        if (!h->stopped) {
                record_result(h, passed);
                schedule_next(h);
        }
        return TRUE;
}

Health *health_free(Health *h)
{
        if (!h)
                return NULL;
        health_stop(h);
        if (h->timeout_timer)
                g_source_remove(h->timeout_timer);
        if (h->pid > 0)
                spawner_kill(h->spawner, SPAWN_HEALTH);
        g_free(h);
        return NULL;
}
