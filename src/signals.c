/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "signals.h"

#include <errno.h>
#include <glib-unix.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

void signals_monitor_set(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGCHLD);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGQUIT);
        sigaddset(set, SIGHUP);
        sigaddset(set, SIGABRT);
}

static gboolean on_signalfd(int fd, GIOCondition cond, gpointer data)
{
        SignalWatch *w = data;
        struct signalfd_siginfo info;

        for (;;) {
                ssize_t n = read(fd, &info, sizeof(info));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n != sizeof(info))
                        break;
                w->func(&info, w->user_data);
        }
        return G_SOURCE_CONTINUE;
}

int signal_watch_start(SignalWatch *w, const sigset_t *set, SignalFunc func, gpointer user_data)
{
        if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
                return -errno;
        w->fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
        if (w->fd < 0)
                return -errno;
        w->func = func;
        w->user_data = user_data;
        w->source = g_unix_fd_add(w->fd, G_IO_IN, on_signalfd, w);
        return 0;
}

void signal_watch_stop(SignalWatch *w)
{
        if (w->source)
                g_source_remove(w->source);
        w->source = 0;
        fd_clear(&w->fd);
}
