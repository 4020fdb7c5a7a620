/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "oom.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cgroup.h"
#include "fdutil.h"
#include "logging.h"

gboolean oom_parse_kill_count(const char *text, guint64 *ret_count)
{
        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
                if (g_str_has_prefix(p, "oom_kill ")) {
                        *ret_count = g_ascii_strtoull(p + 9, NULL, 10);
                        return TRUE;
                }
        }
        return FALSE;
}

char *oom_cgroup_dir(const char *proc_cgroup, gboolean *ret_v2)
{
        char *dir = cgroup_dir(proc_cgroup, "memory");

        *ret_v2 = dir == NULL;
        return dir ? dir : cgroup_dir(proc_cgroup, NULL);
}

static gboolean read_count(OomWatch *w, guint64 *ret)
{
        char buf[1024];
        ssize_t n = pread(w->counter_fd, buf, sizeof(buf) - 1, 0);

        if (n <= 0)
                return FALSE;
        buf[n] = '\0';
        return oom_parse_kill_count(buf, ret);
}

void oom_watch_check(OomWatch *w)
{
        guint64 count;

        if (w->counter_fd < 0 || w->reported || !read_count(w, &count) || count <= w->baseline)
                return;
        w->reported = TRUE;
        w->func(w->user_data);
}

static gboolean on_event(int fd, GIOCondition cond, gpointer data)
{
        OomWatch *w = data;
        char buf[4096];

        /* Drain the eventfd counter or the inotify events, then look at the real counter. */
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        oom_watch_check(w);
        if (cond & (G_IO_HUP | G_IO_ERR)) {
                w->source = 0;
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

static int start_v1(OomWatch *w, const char *dir)
{
        g_autofree char *control = g_build_filename(dir, "cgroup.event_control", NULL);
        g_autofree char *line = NULL;
        AutoFd cfd = open(control, O_WRONLY | O_CLOEXEC);

        if (cfd < 0)
                return -errno;
        w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->event_fd < 0)
                return -errno;
        line = g_strdup_printf("%d %d", w->event_fd, w->counter_fd);
        if (write(cfd, line, strlen(line)) < 0)
                return -errno;
        return 0;
}

static int start_v2(OomWatch *w, const char *events)
{
        w->event_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (w->event_fd < 0)
                return -errno;
        return inotify_add_watch(w->event_fd, events, IN_MODIFY) < 0 ? -errno : 0;
}

int oom_watch_start(OomWatch *w, pid_t pid, OomFunc func, gpointer user_data)
{
        g_autofree char *proc = g_strdup_printf("/proc/%d/cgroup", pid);
        g_autofree char *text = NULL;
        g_autofree char *dir = NULL;
        g_autofree char *file = NULL;
        gboolean v2 = FALSE;
        int r;

        w->func = func;
        w->user_data = user_data;
        if (!g_file_get_contents(proc, &text, NULL, NULL))
                return -ESRCH;
        if (!(dir = oom_cgroup_dir(text, &v2)))
                return -ENOENT;
        file = g_build_filename(dir, v2 ? "memory.events" : "memory.oom_control", NULL);
        w->counter_fd = open(file, O_RDONLY | O_CLOEXEC);
        if (w->counter_fd < 0)
                return -errno;
        if (!read_count(w, &w->baseline))
                w->baseline = 0;
        r = v2 ? start_v2(w, file) : start_v1(w, dir);
        if (r < 0)
                return r;
        w->source = g_unix_fd_add(w->event_fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_event, w);
        log_debug("watching %s for OOM kills", file);
        return 0;
}

void oom_watch_stop(OomWatch *w)
{
        if (w->source)
                g_source_remove(w->source);
        w->source = 0;
        fd_clear(&w->event_fd);
        fd_clear(&w->counter_fd);
}
