/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The OCI runtime command line (create, restore, exec, start) and the runtime child process:
 * what it inherits, in which order it is set up, and what it execs.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>
#include "options.h"

/**
 * runtime_build_argv() - argv for `runtime create|restore|exec`, exactly as conmon builds it:
 *   RUNTIME [--systemd-cgroup] [runtime-args] create --bundle B --pid-file P [--no-pivot]
 *           [--no-new-keyring] [runtime-opts] [--console-socket CS] CID
 *   restore: as create, with --detach --image-path R --work-path B after the keyring flag
 *   RUNTIME [runtime-args] exec --pid-file P --process SPEC --detach [runtime-opts]
 *           [--console-socket CS] CID
 * @console_socket: path for -t, else NULL.
 */
char **runtime_build_argv(const VigilConfig *cfg, const char *console_socket);

/* RUNTIME [runtime-args] start CID, for monitors that start their container themselves. */
char **runtime_build_start_argv(const VigilConfig *cfg);

typedef struct {
        int stdin_fd;           /* installed as fd 0, 1, 2 in the child; -1 keeps the monitor's */
        int stdout_fd;
        int stderr_fd;
        int start_fd;           /* exec-attach: wait for the engine's second start byte; else -1 */
        const char *oom_score_adj; /* value restored in the child; NULL leaves it */
        gboolean replace_listen_pid;
        pid_t monitor_pid;
} RuntimeChild;

/**
 * runtime_spawn() - fork and exec @argv with @child's stdio.  The child restores the signal
 * mask and dispositions the monitor changed, dies with the monitor (PDEATHSIG), and keeps
 * every inherited fd that is not close-on-exec (the preserved fds 3..3+N).
 * Return: 0 with *@ret_pid, or -errno.
 */
int runtime_spawn(char **argv, const RuntimeChild *child, pid_t *ret_pid);

/* In a forked child: write @value (the monitor's original) to /proc/self/oom_score_adj, best
 * effort; NULL leaves it. */
void runtime_restore_oom_score_adj(const char *value);
