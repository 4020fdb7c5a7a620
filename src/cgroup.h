/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Where a process's cgroups are, for the OOM watcher and the control socket's statistics. */
#pragma once

#include <glib.h>

/*
 * The cgroup directory for @controller from the text of /proc/PID/cgroup: the v1 hierarchy
 * that carries @controller, or with @controller NULL the unified (v2) hierarchy mounted at
 * /sys/fs/cgroup.  NULL when there is none.
 */
char *cgroup_dir(const char *proc_cgroup, const char *controller);
