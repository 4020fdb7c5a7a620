/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The spawner: a small process forked during setup, before the monitor confines itself
 * (confine.h).  It keeps the rights the monitor gives up and runs, on request, only the
 * commands fixed when it was forked: `runtime start`, the health check and the exit command.
 * Its copy of that table lives in its own address space, so a compromised monitor can ask for
 * one of them to run or be killed, and nothing else.
 *
 * The two talk over a SOCK_SEQPACKET pair: the monitor sends { RUN | KILL, job }, the spawner
 * answers STARTED (with the pid) or FAILED (with an errno), and EXITED (with the wait status)
 * when a job's process ends.  The spawner is that process's parent and reaps it, so a KILL
 * never reaches a recycled pid.  The monitor hands EXITED to a callback from its main loop.
 *
 * The spawner dies with the monitor (PDEATHSIG) and, when the monitor closes its end, kills
 * what still runs and exits; the monitor, as its parent, reaps it.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef enum {
        SPAWN_START,            /* `runtime start CID` (--start) */
        SPAWN_HEALTH,           /* `runtime exec CID /bin/sh -c CMD` */
        SPAWN_EXIT_COMMAND,     /* --exit-command */
        SPAWN__MAX,
} SpawnJob;

typedef struct {
        char **argv;            /* NULL: not available */
        gboolean null_stdio;    /* fds 0-2 on /dev/null; else the monitor's */
        gboolean detach;        /* own session, no fd but stdio, outlives the spawner */
        unsigned delay_s;       /* sleep before exec (--exit-delay) */
} SpawnCommand;

typedef struct Spawner Spawner;

/* A job's process has exited; called from the main loop or from spawner_run()/_wait(). */
typedef void (*SpawnExitFunc)(SpawnJob job, pid_t pid, int wstatus, gpointer data);

/**
 * spawner_new() - fork the spawner with @commands (copied into it; the caller keeps its own).
 * @oom_score_adj: restored in every job's process; NULL leaves it.
 * Return: 0, or -errno; *@ret is NULL when no command is available (nothing to fork for).
 */
int spawner_new(Spawner **ret, const SpawnCommand commands[SPAWN__MAX], const char *oom_score_adj,
                SpawnExitFunc on_exit, gpointer data);

/* TRUE if @job can be run. */
gboolean spawner_has(const Spawner *s, SpawnJob job);

/* Start @job and wait for its pid.  -EBUSY while it runs, -EPIPE if the spawner is gone. */
int spawner_run(Spawner *s, SpawnJob job, pid_t *ret_pid);

/* Send SIGKILL to @job's process if it still runs. */
int spawner_kill(Spawner *s, SpawnJob job);

/* Block until @job's process exits; its exit goes to the callback as well.  0 or -errno. */
int spawner_wait(Spawner *s, SpawnJob job, int *ret_wstatus);

pid_t spawner_pid(const Spawner *s);

/*
 * The exit command's process, in a forked child (the spawner's, or the monitor's own before
 * there is a spawner): its own session, stdio on /dev/null, no other fd, @cmd->delay_s, exec.
 */
G_GNUC_NORETURN void spawner_exec_detached(const SpawnCommand *cmd, const char *oom_score_adj);

Spawner *spawner_free(Spawner *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Spawner, spawner_free)
