/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "cgroup.h"

/*
 * The container's cgroup directory for @controller, from /proc/PID/cgroup: the unified
 * hierarchy when the host is cgroup v2 only (@controller NULL), else the v1 hierarchy
 * that carries @controller.  NULL when unknown.
 */
char *cgroup_dir(const char *proc_cgroup, const char *controller)
{
        g_auto(GStrv) lines = g_strsplit(proc_cgroup, "\n", -1);

        for (char **l = lines; *l; l++) {
                g_auto(GStrv) f = g_strsplit(*l, ":", 3);
                g_auto(GStrv) names = NULL;
                if (g_strv_length(f) != 3 || f[2][0] != '/')
                        continue;
                if (!controller) {
                        if (g_str_equal(f[0], "0") && !*f[1])
                                return g_build_filename("/sys/fs/cgroup", f[2], NULL);
                        continue;
                }
                names = g_strsplit(f[1], ",", -1);
                if (g_strv_contains((const char *const *) names, controller))
                        return g_build_filename("/sys/fs/cgroup", controller, f[2], NULL);
        }
        return NULL;
}
