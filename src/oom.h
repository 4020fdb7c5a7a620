/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * OOM-kill detection for the container's cgroup, without polling: cgroup v1 through an
 * eventfd registered on memory.oom_control, cgroup v2 through inotify on memory.events.
 * Both compare the kernel's oom_kill counter with the value seen at start, so a cgroup that
 * is removed (which also fires the v1 eventfd) is not mistaken for an OOM kill.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef void (*OomFunc)(gpointer user_data);

typedef struct {
        int event_fd;           /* v1 eventfd or v2 inotify fd */
        int counter_fd;         /* memory.oom_control (v1) or memory.events (v2), read with pread */
        guint source;
        guint64 baseline;
        gboolean reported;
        OomFunc func;
        gpointer user_data;
} OomWatch;

#define OOM_WATCH_NULL { .event_fd = -1, .counter_fd = -1 }

/**
 * oom_watch_start() - watch the memory cgroup of @pid; @func runs once on the first OOM kill.
 * Return: 0, or -errno when there is no memory cgroup to watch (monitoring is then off).
 */
int oom_watch_start(OomWatch *w, pid_t pid, OomFunc func, gpointer user_data);

/* One last look (the container has exited); calls @func if an OOM kill happened. */
void oom_watch_check(OomWatch *w);
void oom_watch_stop(OomWatch *w);

/* Parses "oom_kill N" out of memory.oom_control or memory.events text; FALSE if absent. */
gboolean oom_parse_kill_count(const char *text, guint64 *ret_count);

/* The memory cgroup directory of @pid from /proc/PID/cgroup text; NULL if none. */
char *oom_cgroup_dir(const char *proc_cgroup, gboolean *ret_v2);
