/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Signals reach the monitor only through a signalfd watched by the main loop: SIGCHLD for
 * reaping, and the signals the monitor forwards to the container.  No work happens in signal
 * handlers.  Children restore the original mask before exec (runtime.c, exit_files.c).
 */
#pragma once

#include <glib.h>
#include <signal.h>
#include <sys/signalfd.h>

typedef void (*SignalFunc)(const struct signalfd_siginfo *info, gpointer user_data);

typedef struct {
        int fd;
        guint source;
        SignalFunc func;
        gpointer user_data;
} SignalWatch;

#define SIGNAL_WATCH_NULL { .fd = -1 }

/* The set the monitor handles: SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGABRT.  abort()
 * unblocks SIGABRT before raising it, so a failed assertion still ends the monitor. */
void signals_monitor_set(sigset_t *set);

/**
 * signal_watch_start() - block the signals in @set and dispatch them from @ctx's loop.
 * Return: 0 or -errno.
 */
int signal_watch_start(SignalWatch *w, const sigset_t *set, SignalFunc func, gpointer user_data);
void signal_watch_stop(SignalWatch *w);
