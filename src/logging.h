/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor's own diagnostics go through GLib's structured logging; logging_setup() installs
 * a writer that prints "[conmon:e]: message" (or [vigil:e] when not invoked as conmon) to stderr
 * and, with --syslog, to syslog.  The writer's state is owned by main() and handed to GLib.
 */
#pragma once

#include <glib.h>
#include "options.h"

typedef struct {
        VigilLogLevel level;
        gboolean syslog;
        char prefix[8];         /* "conmon" or "vigil" */
        char ident[64];         /* "<cid≤20>[: tag]" for syslog lines */
} LogSettings;

void logging_setup(LogSettings *settings, const char *argv0);
void logging_configure(LogSettings *settings, const VigilConfig *cfg);

#define log_error(...) g_log(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, __VA_ARGS__)
#define log_warning(...) g_log(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) g_log(G_LOG_DOMAIN, G_LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) g_log(G_LOG_DOMAIN, G_LOG_LEVEL_DEBUG, __VA_ARGS__)
