/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The journald driver: one journal entry per line through sd_journal_sendv(), with the
 * fields podman's reader needs (CONTAINER_ID_FULL to match, PRIORITY 6 or 3 for the stream,
 * CONTAINER_PARTIAL_MESSAGE for pieces).  A line that arrives in several reads is held (up to
 * JOURNALD_LINE_MAX bytes per stream) so that it lands as one entry; longer lines become
 * partial entries followed by the final piece.  MESSAGE keeps its newline, as conmon sends it.
 *
 * libsystemd is loaded when the first journald sink is made, not linked: it brings libgcrypt,
 * liblz4, libzstd, liblzma and libcap along, about 120 kB of relocated data per process, which
 * a monitor logging only to a file would carry for nothing.
 */
#include "log_sink.h"

#include <gmodule.h>
#include <string.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "logging.h"

#define JOURNALD_LINE_MAX (64 * 1024)
#define JOURNALD_FIXED_FIELDS 8

typedef struct {
        LogSink base;
        GModule *libsystemd;
        __typeof__(sd_journal_sendv) *sendv;
        GPtrArray *fields;     /* "KEY=value" strings shared by every entry */
        GString *pending[2];   /* per stream: a line without its newline yet */
        gboolean partial_field;
        guint send_errors;
} JournaldSink;

static void send_entry(JournaldSink *s, StreamId stream, const char *data, size_t len, gboolean partial)
{
        g_autofree char *message = g_malloc(len + 8);
        struct iovec iov[JOURNALD_FIXED_FIELDS + 64];
        size_t n = 0;
        int r;

        memcpy(message, "MESSAGE=", 8);
        memcpy(message + 8, data, len);
        iov[n++] = (struct iovec) { message, len + 8 };
        iov[n++] = (struct iovec) { (void *) (stream == STREAM_STDERR ? "PRIORITY=3" : "PRIORITY=6"), 10 };
        for (guint i = 0; i < s->fields->len && n < G_N_ELEMENTS(iov) - 1; i++) {
                const char *f = g_ptr_array_index(s->fields, i);
                iov[n++] = (struct iovec) { (void *) f, strlen(f) };
        }
        if (partial && s->partial_field)
                iov[n++] = (struct iovec) { (void *) "CONTAINER_PARTIAL_MESSAGE=true", 30 };
        r = s->sendv(iov, n);
        if (r < 0) {
                s->base.stats.bytes_dropped += len;
                s->base.stats.records_dropped++;
                if (s->send_errors++ % 1000 == 0)
                        log_warning("sending to the journal failed (%u times): %s", s->send_errors,
                                    g_strerror(-r));
                return;
        }
        s->base.stats.records[stream_index(stream)]++;
        if (partial)
                s->base.stats.partial_records++;
}

static void journald_write(LogSink *sink, StreamId stream, char *buf, size_t len, const struct timespec *now)
{
        JournaldSink *s = (JournaldSink *) sink;
        GString *pending = s->pending[stream_index(stream)];
        const char *end = buf + len;

        s->base.stats.bytes[stream_index(stream)] += len;
        while (buf < end) {
                const char *nl = memchr(buf, '\n', end - buf);
                size_t piece = nl ? (size_t) (nl - buf) + 1 : (size_t) (end - buf);

                if (pending->len + piece > JOURNALD_LINE_MAX && pending->len) {
                        send_entry(s, stream, pending->str, pending->len, TRUE);
                        g_string_truncate(pending, 0);
                }
                if (nl || piece > JOURNALD_LINE_MAX) {
                        if (pending->len) {
                                g_string_append_len(pending, buf, piece);
                                send_entry(s, stream, pending->str, pending->len, !nl);
                                g_string_truncate(pending, 0);
                        } else {
                                send_entry(s, stream, buf, piece, !nl);
                        }
                } else {
                        g_string_append_len(pending, buf, piece);
                }
                buf += piece;
        }
}

static int journald_reopen(LogSink *sink)
{
        return 0;
}

static void journald_flush(LogSink *sink, gboolean sync)
{
        JournaldSink *s = (JournaldSink *) sink;

        for (int i = 0; i < 2; i++) {
                if (s->pending[i]->len)
                        send_entry(s, i ? STREAM_STDERR : STREAM_STDOUT, s->pending[i]->str, s->pending[i]->len,
                                   TRUE);
                g_string_truncate(s->pending[i], 0);
        }
}

static void journald_free(LogSink *sink)
{
        JournaldSink *s = (JournaldSink *) sink;

        g_ptr_array_unref(s->fields);
        g_string_free(s->pending[0], TRUE);
        g_string_free(s->pending[1], TRUE);
        g_module_close(s->libsystemd);
        g_free(s);
}

static const LogSinkOps journald_ops = {
        .name = "journald",
        .write = journald_write,
        .reopen = journald_reopen,
        .flush = journald_flush,
        .free = journald_free,
};

static GModule *load_sendv(gpointer *sendv, GError **error)
{
        GModule *module = g_module_open(VIGIL_LIBSYSTEMD_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);

        if (!module) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "journald log driver: cannot load %s: %s",
                            VIGIL_LIBSYSTEMD_SONAME, g_module_error());
                return NULL;
        }
        if (!g_module_symbol(module, "sd_journal_sendv", sendv)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "journald log driver: %s has no %s: %s",
                            VIGIL_LIBSYSTEMD_SONAME, "sd_journal_sendv", g_module_error());
                g_module_close(module);
                return NULL;
        }
        return module;
}

LogSink *log_journald_new(const JournaldOptions *opts, GError **error)
{
        gpointer sendv = NULL;
        GModule *libsystemd = load_sendv(&sendv, error);
        JournaldSink *s;
        GPtrArray *f;

        if (!libsystemd)
                return NULL;
        s = g_new0(JournaldSink, 1);
        s->libsystemd = libsystemd;
        s->sendv = (__typeof__(s->sendv)) sendv;
        f = g_ptr_array_new_with_free_func(g_free);
        s->base.ops = &journald_ops;
        g_ptr_array_add(f, g_strdup_printf("CONTAINER_ID_FULL=%s", opts->cid));
        g_ptr_array_add(f, g_strdup_printf("CONTAINER_ID=%.12s", opts->cid));
        if (opts->tag)
                g_ptr_array_add(f, g_strdup_printf("CONTAINER_TAG=%s", opts->tag));
        if (opts->name)
                g_ptr_array_add(f, g_strdup_printf("CONTAINER_NAME=%s", opts->name));
        if (opts->tag || opts->name)
                g_ptr_array_add(f, g_strdup_printf("SYSLOG_IDENTIFIER=%s", opts->tag ? opts->tag : opts->name));
        else
                g_ptr_array_add(f, g_strdup_printf("SYSLOG_IDENTIFIER=%.12s", opts->cid));
        for (char **l = opts->labels; l && *l && f->len < 60; l++)
                g_ptr_array_add(f, g_strdup(*l));
        s->fields = f;
        s->pending[0] = g_string_new(NULL);
        s->pending[1] = g_string_new(NULL);
        s->partial_field = opts->partial_field;
        return &s->base;
}
