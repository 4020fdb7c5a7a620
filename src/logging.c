/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "logging.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>

static VigilLogLevel level_of(GLogLevelFlags flags)
{
        if (flags & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
                return LOG_LEVEL_ERROR;
        if (flags & G_LOG_LEVEL_WARNING)
                return LOG_LEVEL_WARNING;
        if (flags & (G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO))
                return LOG_LEVEL_INFO;
        return LOG_LEVEL_DEBUG;
}

static GLogWriterOutput write_log(GLogLevelFlags flags, const GLogField *fields, gsize n_fields, gpointer data)
{
        const LogSettings *s = data;
        static const char letters[] = { 'e', 'w', 'i', 'd', 'd' };
        VigilLogLevel level = level_of(flags);
        const char *message = NULL;

        if (level > s->level)
                return G_LOG_WRITER_HANDLED;
        for (gsize i = 0; i < n_fields; i++)
                if (g_str_equal(fields[i].key, "MESSAGE"))
                        message = fields[i].value;
        if (!message)
                return G_LOG_WRITER_UNHANDLED;
        fprintf(stderr, "[%s:%c]: %s\n", s->prefix, letters[level], message);
        if (s->syslog)
                syslog(level == LOG_LEVEL_ERROR ? LOG_ERR : LOG_INFO, "%s %s: %s", s->prefix, s->ident, message);
        return G_LOG_WRITER_HANDLED;
}

void logging_setup(LogSettings *s, const char *argv0)
{
        g_autofree char *base = g_path_get_basename(argv0 ? argv0 : "vigil");

        s->level = LOG_LEVEL_WARNING;
        g_strlcpy(s->prefix, g_str_equal(base, "conmon") ? "conmon" : "vigil", sizeof(s->prefix));
        g_log_set_writer_func(write_log, s, NULL);
}

void logging_configure(LogSettings *s, const VigilConfig *cfg)
{
        s->level = cfg->log_level;
        s->syslog = cfg->syslog;
        if (cfg->cid)
                g_snprintf(s->ident, sizeof(s->ident), "%.20s%s%s", cfg->cid, cfg->log_tag ? ": " : "",
                           cfg->log_tag ? cfg->log_tag : "");
        if (s->syslog)
                openlog(s->prefix, LOG_PID, LOG_USER);
}
