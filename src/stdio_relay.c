/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "stdio_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

/* Large reads amortise the per-chunk work (one clock read, one write per sink) and wake a
 * writer that filled the pipe less often. */
#define STDIO_READ_SIZE (64 * 1024)
/* Reads per wake-up while data keeps coming: a busy container costs one poll() per burst,
 * and 1 MiB is still short enough not to keep signals and clients waiting. */
#define STDIO_BURST_READS 16
#define STDIO_PIPE_SIZE (1024 * 1024)
#define STDIN_QUEUE_MAX (1024 * 1024)

static int make_pipe(int *ret_r, int *ret_w)
{
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        *ret_r = p[0];
        *ret_w = p[1];
        return 0;
}

int stdio_relay_init(StdioRelay *r, gboolean want_stdin, gboolean terminal, gboolean passthrough)
{
        int err;

        r->stdin_w = r->stdin_r = r->master = -1;
        r->out_r[0] = r->out_r[1] = r->out_w[0] = r->out_w[1] = -1;
        r->sinks = g_ptr_array_new_with_free_func((GDestroyNotify) log_sink_free);
        r->stdin_pending = g_byte_array_new();
        if (passthrough)
                return 0;
        r->awaiting_terminal = terminal;
        /* With a terminal the pipe carries only the runtime's own stderr messages. */
        if (terminal) {
                r->out_w[0] = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (r->out_w[0] < 0)
                        return -errno;
        }
        for (int i = terminal ? 1 : 0; i < 2; i++) {
                if ((err = make_pipe(&r->out_r[i], &r->out_w[i])) < 0)
                        return err;
                /* A bigger pipe lets a bursty container run ahead of the monitor (best effort:
                 * fs.pipe-max-size may be lower for unprivileged monitors). */
                (void) fcntl(r->out_w[i], F_SETPIPE_SZ, STDIO_PIPE_SIZE);
                fd_set_nonblock(r->out_r[i], TRUE);
        }
        if (want_stdin && !terminal) {
                if ((err = make_pipe(&r->stdin_r, &r->stdin_w)) < 0)
                        return err;
                fd_set_nonblock(r->stdin_w, TRUE);
        } else {
                r->stdin_r = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (r->stdin_r < 0)
                        return -errno;
        }
        return 0;
}

int stdio_relay_set_terminal(StdioRelay *r, int master_fd)
{
        int out = fcntl(master_fd, F_DUPFD_CLOEXEC, 3);

        if (out < 0)
                return -errno;
        r->master = r->stdin_w = master_fd;
        r->out_r[0] = out;
        r->awaiting_terminal = FALSE;
        if (r->stdin_pending->len)
                stdio_relay_write_stdin(r, NULL, 0);
        return 0;
}

void stdio_relay_child_spawned(StdioRelay *r)
{
        fd_clear(&r->stdin_r);
        fd_clear(&r->out_w[0]);
        fd_clear(&r->out_w[1]);
}

static void on_sink_rotated(gpointer data)
{
        StdioRelay *r = data;

        if (r->log_rotated)
                r->log_rotated(r->hook_data);
}

void stdio_relay_add_sink(StdioRelay *r, LogSink *sink)
{
        LogSink *last = r->sinks->len ? g_ptr_array_index(r->sinks, r->sinks->len - 1) : NULL;

        sink->rotated = on_sink_rotated;
        sink->rotated_data = r;
        /* The sink that rewrites the chunk must see it last (log_sink.h). */
        g_assert(!(sink->ops->rewrites_chunk && last && last->ops->rewrites_chunk));
        if (last && last->ops->rewrites_chunk)
                g_ptr_array_insert(r->sinks, r->sinks->len - 1, sink);
        else
                g_ptr_array_add(r->sinks, sink);
}

/* FALSE when an attach client lags behind. */
static gboolean dispatch(StdioRelay *r, StreamId stream, char *buf, size_t len)
{
        struct timespec now;
        gboolean caught_up;

        /* Stamped when read, before the clients' sends. */
        clock_gettime(CLOCK_REALTIME, &now);
        caught_up = r->output ? r->output(stream, buf, len, r->output_data) : TRUE;
        for (guint i = 0; i < r->sinks->len; i++) {
                LogSink *sink = g_ptr_array_index(r->sinks, i);
                sink->ops->write(sink, stream, buf, len, &now);
        }
        return caught_up;
}

typedef enum {
        READ_FULL,      /* a whole buffer, and every reader kept up: more is probably waiting */
        READ_DATA,
        READ_AGAIN,
        READ_END,       /* EOF, an error, or EIO from a pty whose slave side closed */
} ReadResult;

/* One read, handed to the attach clients and the sinks. */
static ReadResult read_once(StdioRelay *r, int idx)
{
        ssize_t n;
        char *chunk;

        if (!r->buf)
                r->buf = g_malloc(LOG_CHUNK_HEADROOM + STDIO_READ_SIZE + LOG_CHUNK_TAILROOM);
        chunk = r->buf + LOG_CHUNK_HEADROOM;
        do
                n = read(r->out_r[idx], chunk, STDIO_READ_SIZE);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
                gboolean caught_up = dispatch(r, idx ? STREAM_STDERR : STREAM_STDOUT, chunk, n);
                return n == STDIO_READ_SIZE && caught_up ? READ_FULL : READ_DATA;
        }
        if (n < 0 && errno == EAGAIN)
                return READ_AGAIN;
        if (n < 0 && errno != EIO)
                log_warning("reading container %s: %s", idx ? "stderr" : "stdout", g_strerror(errno));
        return READ_END;
}

static void stop_stream(StdioRelay *r, int idx)
{
        if (r->out_source[idx])
                g_source_remove(r->out_source[idx]);
        r->out_source[idx] = 0;
        fd_clear(&r->out_r[idx]);
}

static gboolean on_output(int fd, GIOCondition cond, gpointer data)
{
        StdioRelay *r = data;
        int idx = fd == r->out_r[0] ? 0 : 1;
        ReadResult res = READ_FULL;

        /* A paused relay (an attach client is full) stops at once; its source is gone. */
        for (int i = 0; i < STDIO_BURST_READS && res == READ_FULL && !r->paused; i++)
                res = read_once(r, idx);
        if (res != READ_END)
                return G_SOURCE_CONTINUE;
        r->out_source[idx] = 0;
        fd_clear(&r->out_r[idx]);
        return G_SOURCE_REMOVE;
}

void stdio_relay_start(StdioRelay *r)
{
        r->started = TRUE;
        if (r->paused)
                return;
        for (int i = 0; i < 2; i++)
                if (r->out_r[i] >= 0 && !r->out_source[i])
                        r->out_source[i] = g_unix_fd_add(r->out_r[i], G_IO_IN | G_IO_HUP | G_IO_ERR, on_output, r);
}

void stdio_relay_pause_output(StdioRelay *r)
{
        r->paused = TRUE;
        for (int i = 0; i < 2; i++) {
                if (r->out_source[i])
                        g_source_remove(r->out_source[i]);
                r->out_source[i] = 0;
        }
}

void stdio_relay_resume_output(StdioRelay *r)
{
        r->paused = FALSE;
        if (r->started)
                stdio_relay_start(r);
}

void stdio_relay_drain(StdioRelay *r, gboolean sync_logs)
{
        /* Non-blocking: a daemonised grandchild may hold the pipe open forever (conmon#632). */
        for (int i = 0; i < 2; i++) {
                if (r->out_r[i] < 0)
                        continue;
                ReadResult res;
                do
                        res = read_once(r, i);
                while (res == READ_FULL || res == READ_DATA);
                stop_stream(r, i);
        }
        for (guint i = 0; i < r->sinks->len; i++) {
                LogSink *sink = g_ptr_array_index(r->sinks, i);
                sink->ops->flush(sink, sync_logs);
        }
}

static void close_stdin_now(StdioRelay *r)
{
        if (r->stdin_source)
                g_source_remove(r->stdin_source);
        r->stdin_source = 0;
        if (r->master == r->stdin_w)
                r->master = -1;
        fd_clear(&r->stdin_w);
        g_byte_array_set_size(r->stdin_pending, 0);
}

/* Writes queued input; FALSE when the container's stdin is gone. */
static gboolean flush_stdin(StdioRelay *r)
{
        while (r->stdin_pending->len) {
                ssize_t n = write(r->stdin_w, r->stdin_pending->data, r->stdin_pending->len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return TRUE;
                if (n < 0) {
                        if (errno != EPIPE)
                                log_warning("writing container stdin: %s", g_strerror(errno));
                        return FALSE;
                }
                g_byte_array_remove_range(r->stdin_pending, 0, n);
        }
        return TRUE;
}

static gboolean on_stdin_writable(int fd, GIOCondition cond, gpointer data)
{
        StdioRelay *r = data;
        gboolean had_no_room = !stdio_relay_stdin_has_room(r);

        if (!flush_stdin(r) || (r->stdin_close_requested && !r->stdin_pending->len)) {
                r->stdin_source = 0;
                close_stdin_now(r);
                return G_SOURCE_REMOVE;
        }
        if (had_no_room && stdio_relay_stdin_has_room(r) && r->stdin_room)
                r->stdin_room(r->hook_data);
        if (r->stdin_pending->len)
                return G_SOURCE_CONTINUE;
        r->stdin_source = 0;
        return G_SOURCE_REMOVE;
}

gboolean stdio_relay_stdin_has_room(const StdioRelay *r)
{
        return r->stdin_pending->len < STDIN_QUEUE_MAX;
}

gboolean stdio_relay_write_stdin(StdioRelay *r, const char *buf, size_t len)
{
        /* An exec client sends input before the runtime has made the terminal: hold it. */
        if (r->awaiting_terminal) {
                g_byte_array_append(r->stdin_pending, (const guint8 *) buf, len);
                return stdio_relay_stdin_has_room(r);
        }
        if (r->stdin_w < 0)
                return TRUE; /* no stdin (no -i, or already closed): input is discarded */
        g_byte_array_append(r->stdin_pending, (const guint8 *) buf, len);
        if (!flush_stdin(r)) {
                close_stdin_now(r);
                return TRUE;
        }
        if (r->stdin_pending->len && !r->stdin_source)
                r->stdin_source = g_unix_fd_add(r->stdin_w, G_IO_OUT | G_IO_ERR, on_stdin_writable, r);
        return stdio_relay_stdin_has_room(r);
}

void stdio_relay_close_stdin(StdioRelay *r)
{
        /* A terminal stays: the client detached, the container's session goes on. */
        if (r->stdin_w < 0 || r->master >= 0)
                return;
        if (!r->stdin_pending->len)
                close_stdin_now(r);
        else
                r->stdin_close_requested = TRUE;
}

int stdio_relay_reopen_logs(StdioRelay *r)
{
        int first = 0;

        /* Every sink gets its chance even after one failed: they are independent files. */
        for (guint i = 0; i < r->sinks->len; i++) {
                LogSink *sink = g_ptr_array_index(r->sinks, i);
                int err = sink->ops->reopen(sink);
                if (err < 0 && first == 0)
                        first = err;
        }
        return first;
}

void stdio_relay_deinit(StdioRelay *r)
{
        stop_stream(r, 0);
        stop_stream(r, 1);
        close_stdin_now(r);
        stdio_relay_child_spawned(r);
        g_clear_pointer(&r->sinks, g_ptr_array_unref);
        g_clear_pointer(&r->stdin_pending, g_byte_array_unref);
        g_clear_pointer(&r->buf, g_free);
}
