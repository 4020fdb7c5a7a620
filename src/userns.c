/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "userns.h"

#include <stdio.h>
#include <unistd.h>

gboolean userns_is_host_root(void)
{
        g_autofree char *map = NULL;
        g_auto(GStrv) lines = NULL;
        unsigned inside, outside, count;

        if (geteuid() != 0)
                return FALSE;
        if (!g_file_get_contents("/proc/self/uid_map", &map, NULL, NULL))
                return TRUE;    /* no /proc: nothing says otherwise */
        lines = g_strsplit(map, "\n", -1);
        for (char **l = lines; *l; l++)
                if (sscanf(*l, "%u %u %u", &inside, &outside, &count) == 3 && inside == 0)
                        return outside == 0;
        return FALSE;
}
