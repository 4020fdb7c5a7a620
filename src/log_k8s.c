/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The k8s-file driver (CRI log format): "<timestamp> <stream> <F|P> <content>\n" per line.
 * A chunk is split at newlines; a piece that ends without one is a P record (terminated by
 * an added newline), everything else an F record.  Size limits are checked per record, so a
 * record is never split across files.
 *
 * Records are built in place, in the relay's read buffer (LOG_CHUNK_HEADROOM in log_sink.h):
 * each prefix and line is moved to the output position, which starts in the room in front of
 * the chunk and never passes the unread input, so a 64 KiB chunk becomes one write(2) with no
 * buffer of our own.  Each record takes one prefix of the room, so after more than
 * LOG_CHUNK_HEADROOM / prefix records (a 64 KiB chunk of lines under about 60 bytes) the output
 * catches up with the input, and what is built so far is written first.  Why not writev() of a prefix and a content
 * iovec per line, without moving anything: the kernel's cost per iovec made that twice the
 * system time for 67-byte lines, and moving a line costs less than its iovec.
 *
 * Records are written whole or not at all: a write cut short by a full disk leaves the file
 * ending in a torn record, which is cut off again (drop_unwritten), so that the file always
 * ends at a record boundary and the next record never glues onto a fragment.  What did not fit
 * is counted (bytes_dropped, records_dropped) and warned about once a minute at most.
 *
 * When the file will be fsync()ed at exit, writeback is started every K8S_WRITEBACK_BYTES
 * (sync_file_range), so that the final fsync, which the engine waits for, has little left.
 *
 * Rotation is a rename chain, and the new file takes the name only after a grace period.
 * `podman logs -f` (4.x) follows the name by stat()ing it every 250 ms and, when the name
 * points at another file, reopens at once without reading the rest of the old one.  So
 * records after a rotation go to "<path>.next" first; the old file stops growing, the reader
 * sees its last size and drains it, and K8S_ROTATE_GRACE_MS later the chain is renamed.
 * A reader that follows by name with inotify just sees the switch later.  A file that fills
 * up within the grace period finishes its rotation at once.
 */
#include "log_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

#define K8S_WRITEBACK_BYTES (8 * 1024 * 1024)
#define K8S_ROTATE_GRACE_MS 1000
#define K8S_FILE_MODE 0640
#define K8S_DROP_WARN_INTERVAL_US (60 * G_USEC_PER_SEC)
/* "<35-char timestamp> stdout F ": every record's prefix has this length */
#define K8S_PREFIX_LEN (LOG_TIMESTAMP_LEN + 1 + 6 + 1 + 2)
G_STATIC_ASSERT(LOG_CHUNK_HEADROOM >= K8S_PREFIX_LEN);
G_STATIC_ASSERT(LOG_CHUNK_TAILROOM >= 1); /* the newline after a partial line */

typedef struct {
        LogSink base;
        char *path;
        char *next_path;        /* "<path>.next": the file after a rotation, until renamed */
        int fd;
        gboolean rotation_pending; /* writing to next_path; the rename chain is still to come */
        guint rotation_timer;
        K8sFileOptions opts;
        uint64_t file_bytes;   /* size of the current file */
        uint64_t total_bytes;  /* bytes ever written, for --log-global-size-max */
        uint64_t written_back; /* file offset up to which writeback was started */
        uint64_t reopen_retry_at; /* total_bytes: after a failed rotation, try again one limit later */
        /* During k8s_write: the start of the chunk's buffer and the end of the records built
         * there, not written yet.  NULL outside it. */
        char *room;
        char *out;
        TimestampCache ts_cache;
        gboolean dropping;        /* the last write failed: records are being dropped */
        gint64 drop_warned_at;    /* monotonic time of the last warning about that */
        uint64_t unreported_drops; /* records dropped since that warning */
} K8sSink;

static int open_log(const char *path, int flags)
{
        return open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | flags, K8S_FILE_MODE);
}

/* Records in [p, end), as write_record() builds them: how many, and the container bytes in them. */
static void count_records(const char *p, const char *end, uint64_t *ret_records, uint64_t *ret_bytes)
{
        uint64_t records = 0, bytes = 0;

        while (p < end) {
                const char *nl = memchr(p, '\n', end - p);
                size_t len = (size_t) (nl - p) + 1;
                records++;
                /* A P record's newline is ours, not the container's. */
                bytes += len - K8S_PREFIX_LEN - (p[K8S_PREFIX_LEN - 2] == 'P');
                p = nl + 1;
        }
        *ret_records = records;
        *ret_bytes = bytes;
}

/*
 * A full disk fails every write, so one warning per K8S_DROP_WARN_INTERVAL_US with what was
 * lost since the last one, and one when writing works again: never one per record or chunk.
 */
static void report_drop(K8sSink *s, int err, uint64_t records, uint64_t bytes)
{
        gint64 now = g_get_monotonic_time();

        s->base.stats.records_dropped += records;
        s->base.stats.bytes_dropped += bytes;
        s->unreported_drops += records;
        if (s->dropping && now - s->drop_warned_at < K8S_DROP_WARN_INTERVAL_US)
                return;
        log_warning("writing %s failed: %s; %" G_GUINT64_FORMAT " records dropped whole (%" G_GUINT64_FORMAT
                    " in all), more are dropped until writing works again",
                    s->path, g_strerror(-err), s->unreported_drops, s->base.stats.records_dropped);
        s->dropping = TRUE;
        s->drop_warned_at = now;
        s->unreported_drops = 0;
}

static void report_resumed(K8sSink *s)
{
        log_warning("writing %s works again; %" G_GUINT64_FORMAT " records were dropped in all", s->path,
                    s->base.stats.records_dropped);
        s->dropping = FALSE;
        s->unreported_drops = 0;
}

/* Starts writeback of what was written since the last call (see the comment at the top). */
static void start_writeback(K8sSink *s)
{
        if (!s->opts.sync_writeback || s->file_bytes < s->written_back + K8S_WRITEBACK_BYTES)
                return;
        (void) sync_file_range(s->fd, s->written_back, s->file_bytes - s->written_back, SYNC_FILE_RANGE_WRITE);
        s->written_back = s->file_bytes;
}

static size_t pending(const K8sSink *s)
{
        return s->out ? (size_t) (s->out - s->room) : 0;
}

/* Returns how much of @len was written; *ret_err says why the rest was not. */
static size_t write_some(int fd, const char *p, size_t len, int *ret_err)
{
        size_t done = 0;

        /* Regular files only write short on errors (ENOSPC, EDQUOT, EFBIG), which the next
         * write then returns: go on until it does, space may have come back in between. */
        while (done < len) {
                ssize_t w = write(fd, p + done, len - done);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        *ret_err = w < 0 ? -errno : -EIO;
                        break;
                }
                done += w;
        }
        return done;
}

/* Cuts the start of a torn record, @torn bytes, off the end of the file again. */
static void cut_torn_record(K8sSink *s, size_t torn)
{
        struct stat st;
        int r = 0;

        if (fstat(s->fd, &st) < 0)
                r = -errno;
        else if ((uint64_t) st.st_size < torn)
                r = -ESTALE; /* someone else truncated it: nothing of ours to cut */
        else if (ftruncate(s->fd, st.st_size - torn) < 0)
                r = -errno;
        if (r < 0)
                log_warning("%s may end in a torn record: cutting its %zu bytes off failed: %s", s->path, torn,
                            g_strerror(-r));
}

/*
 * A write stopped after @done of the pending bytes.  The file must still end at a record
 * boundary, or the next record is glued onto the torn one and readers fail on that line
 * (podman logs stops there): so the torn record is cut off again, and it and the rest of the
 * pending records are dropped, whole.  Not kept for later: they are in the relay's buffer,
 * which is reused as soon as we return, so keeping them would take a buffer of our own, and
 * holding the container's output back until space returns would stall it with no event to
 * say when that is.  The next write tries again.
 */
static void drop_unwritten(K8sSink *s, size_t done, int err)
{
        const char *nl = done ? memrchr(s->room, '\n', done) : NULL;
        size_t keep = nl ? (size_t) (nl - s->room) + 1 : 0;
        uint64_t records, bytes;

        if (keep < done)
                cut_torn_record(s, done - keep);
        s->file_bytes += keep;
        s->total_bytes -= pending(s) - keep;
        count_records(s->room + keep, s->out, &records, &bytes);
        report_drop(s, err, records, bytes);
}

/* Writes the records built so far: whole, or those that do not fit are dropped whole. */
static void flush_pending(K8sSink *s)
{
        size_t len = pending(s);
        int err = 0;
        size_t done;

        if (!len)
                return;
        done = write_some(s->fd, s->room, len, &err);
        if (done == len) {
                s->file_bytes += len;
                if (s->dropping)
                        report_resumed(s);
        } else {
                drop_unwritten(s, done, err);
        }
        s->out = s->room;
        start_writeback(s);
}

/* Appends at the output position; @data is elsewhere (the prefix) or at or after it (the line). */
static void put(K8sSink *s, const char *data, size_t len)
{
        if (s->out != data)
                memmove(s->out, data, len);
        s->out += len;
}

/* Truncating reopen, as conmon: a new file is renamed over the path, the old content goes. */
static int reopen_truncate(K8sSink *s)
{
        g_autofree char *tmp = g_strdup_printf("%s.tmp", s->path);
        AutoFd fd = open_log(tmp, O_TRUNC | O_APPEND);

        if (fd < 0)
                return -errno;
        if (rename(tmp, s->path) < 0) {
                int r = -errno;
                unlink(tmp);
                return r;
        }
        fd_close(s->fd);
        s->fd = steal_fd(&fd);
        s->file_bytes = s->written_back = 0;
        return 0;
}

static int rename_logged(const char *from, const char *to, gboolean may_be_missing)
{
        if (rename(from, to) == 0 || (may_be_missing && errno == ENOENT))
                return 0;
        log_warning("log rotation: renaming %s to %s failed: %s", from, to, g_strerror(errno));
        return -errno;
}

/* <path>.N-1 -> .N ... <path> -> .1, <path>.next -> <path>: never a truncation, so a tailer
 * that follows by name finishes the old file and then opens the new one. */
static int rename_chain(K8sSink *s)
{
        g_autofree char *first = g_strdup_printf("%s.1", s->path);
        int r;

        for (int i = s->opts.max_files; i > 1; i--) {
                g_autofree char *from = g_strdup_printf("%s.%d", s->path, i - 1);
                g_autofree char *to = g_strdup_printf("%s.%d", s->path, i);
                if ((r = rename_logged(from, to, TRUE)) < 0)
                        return r;
        }
        if ((r = rename_logged(s->path, first, TRUE)) < 0)
                return r;
        return rename_logged(s->next_path, s->path, FALSE);
}

/*
 * Gives the file that took over at the last rotation its name.  On failure the rotation stays
 * pending and the records stay in <path>.next, which grows past the limit until a later try
 * succeeds: better than overwriting it.
 */
static int finish_rotation(K8sSink *s)
{
        int r;

        if (!s->rotation_pending)
                return 0;
        g_clear_handle_id(&s->rotation_timer, g_source_remove);
        if ((r = rename_chain(s)) < 0)
                return r;
        s->rotation_pending = FALSE;
        s->base.stats.rotations++;
        if (s->base.rotated)
                s->base.rotated(s->base.rotated_data);
        return 0;
}

static gboolean on_rotation_grace(gpointer data)
{
        K8sSink *s = data;

        s->rotation_timer = 0;
        (void) finish_rotation(s);
        return G_SOURCE_REMOVE;
}

static int begin_rotation(K8sSink *s)
{
        AutoFd fd = -1;
        int r;

        if ((r = finish_rotation(s)) < 0)
                return r;
        /* O_EXCL: an existing <path>.next holds records that are not in <path> yet. */
        fd = open_log(s->next_path, O_EXCL | O_APPEND);
        if (fd < 0) {
                r = -errno;
                log_warning("log rotation: creating %s failed: %s", s->next_path, g_strerror(errno));
                return r;
        }
        fd_close(s->fd);
        s->fd = steal_fd(&fd);
        s->file_bytes = s->written_back = 0;
        s->rotation_pending = TRUE;
        s->rotation_timer = g_timeout_add(s->opts.rotate_grace_ms ? s->opts.rotate_grace_ms : K8S_ROTATE_GRACE_MS,
                                          on_rotation_grace, s);
        return 0;
}

static int k8s_reopen(LogSink *sink)
{
        K8sSink *s = (K8sSink *) sink;
        int r;

        flush_pending(s);
        if (s->opts.rotate)
                return begin_rotation(s); /* it says what failed */
        r = reopen_truncate(s);
        if (r < 0)
                log_warning("reopening %s failed, logging on to the old file: %s", s->path, g_strerror(-r));
        return r;
}

static void write_record(K8sSink *s, const char *prefix, size_t prefix_len, const char *content, size_t len,
                         gboolean full)
{
        size_t record = prefix_len + len + (full ? 0 : 1);

        if (s->opts.global_size_max > 0 && s->total_bytes + record > (uint64_t) s->opts.global_size_max) {
                s->base.stats.bytes_dropped += len;
                s->base.stats.records_dropped++;
                return;
        }
        if (s->opts.size_max > 0 && s->file_bytes + pending(s) + record > (uint64_t) s->opts.size_max &&
            s->file_bytes + pending(s) > 0 && s->total_bytes >= s->reopen_retry_at &&
            k8s_reopen(&s->base) < 0)
                s->reopen_retry_at = s->total_bytes + s->opts.size_max;
        /* The prefix must not reach the line it goes in front of. */
        if (s->out + prefix_len > content)
                flush_pending(s);
        put(s, prefix, prefix_len);
        put(s, content, len);
        /* Only the last piece of a chunk is partial: its newline may take LOG_CHUNK_TAILROOM. */
        if (!full)
                put(s, "\n", 1);
        s->total_bytes += record;
}

static void k8s_write(LogSink *sink, StreamId stream, char *buf, size_t len, const struct timespec *now)
{
        K8sSink *s = (K8sSink *) sink;
        char prefix[2][K8S_PREFIX_LEN + 1];
        int idx = stream_index(stream);
        size_t prefix_len;
        const char *end = buf + len;

        s->room = s->out = buf - LOG_CHUNK_HEADROOM;

        log_format_timestamp(&s->ts_cache, now, prefix[0]);
        prefix_len = LOG_TIMESTAMP_LEN;
        prefix[0][prefix_len++] = ' ';
        memcpy(prefix[0] + prefix_len, stream_name(stream), 6);
        prefix_len += 6;
        prefix[0][prefix_len] = ' ';
        prefix[0][prefix_len + 2] = ' ';
        memcpy(prefix[1], prefix[0], sizeof(prefix[0]));
        prefix[0][prefix_len + 1] = 'F';
        prefix[1][prefix_len + 1] = 'P';

        while (buf < end) {
                const char *nl = memchr(buf, '\n', end - buf);
                gboolean full = nl != NULL;
                size_t piece = full ? (size_t) (nl - buf) + 1 : (size_t) (end - buf);

                write_record(s, prefix[full ? 0 : 1], prefix_len + 3, buf, piece, full);
                s->base.stats.records[idx]++;
                if (!full)
                        s->base.stats.partial_records++;
                buf += piece;
        }
        s->base.stats.bytes[idx] += len;
        flush_pending(s);
        s->room = s->out = NULL; /* the relay reuses the buffer */
}

static void k8s_flush(LogSink *sink, gboolean sync)
{
        K8sSink *s = (K8sSink *) sink;

        flush_pending(s);
        /* The monitor is about to exit: every file gets its final name first. */
        (void) finish_rotation(s);
        if (sync && fsync(s->fd) < 0 && errno != EINVAL)
                log_warning("fsync %s: %s", s->path, g_strerror(errno));
}

static void k8s_free(LogSink *sink)
{
        K8sSink *s = (K8sSink *) sink;

        flush_pending(s);
        (void) finish_rotation(s);
        fd_close(s->fd);
        g_free(s->path);
        g_free(s->next_path);
        g_strfreev(s->opts.allowlist_dirs);
        g_free(s);
}

static const LogSinkOps k8s_ops = {
        .name = "k8s-file",
        .rewrites_chunk = TRUE,
        .write = k8s_write,
        .reopen = k8s_reopen,
        .flush = k8s_flush,
        .free = k8s_free,
};

/*
 * Rotation creates and renames files next to the log, as root: refuse a path through which
 * a container user could redirect that (a symlink component, "..", a world-writable or
 * foreign-owned directory) or one outside the allowed directories.
 */
static gboolean validate_rotation_path(const K8sFileOptions *o, GError **error)
{
        g_autofree char *dir = g_path_get_dirname(o->path);
        g_autofree char *canonical = NULL;
        gboolean allowed = !o->allowlist_dirs || !o->allowlist_dirs[0];
        struct stat st;

        if (!g_path_is_absolute(o->path) || strstr(o->path, "/../") || g_str_has_suffix(o->path, "/.."))
                return g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                                   "log path %s must be absolute and free of '..' to rotate", o->path),
                       FALSE;
        canonical = realpath(dir, NULL);
        if (!canonical || !g_str_equal(canonical, dir))
                return g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                                   "log directory %s must exist and contain no symlinks to rotate", dir),
                       FALSE;
        if (stat(dir, &st) < 0 || (st.st_mode & S_IWOTH) || (st.st_uid != 0 && st.st_uid != geteuid()))
                return g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                                   "log directory %s must not be world-writable and must be owned by root or "
                                   "us to rotate",
                                   dir),
                       FALSE;
        for (char **a = o->allowlist_dirs; a && *a && !allowed; a++) {
                size_t n = strlen(*a);
                while (n > 1 && (*a)[n - 1] == '/')
                        n--;
                allowed = strncmp(canonical, *a, n) == 0 && (canonical[n] == '/' || canonical[n] == '\0');
        }
        if (!allowed)
                return g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                                   "log path %s is outside every --log-allowlist-dir", o->path),
                       FALSE;
        return TRUE;
}

LogSink *log_k8s_new(const K8sFileOptions *opts, GError **error)
{
        K8sSink *s;
        struct stat st;

        if (opts->rotate && !validate_rotation_path(opts, error))
                return NULL;
        s = g_new0(K8sSink, 1);
        s->base.ops = &k8s_ops;
        s->path = g_strdup(opts->path);
        s->next_path = g_strdup_printf("%s.next", opts->path);
        s->opts = *opts;
        s->opts.path = s->path;
        s->opts.allowlist_dirs = g_strdupv(opts->allowlist_dirs);
        s->fd = -1;
        /* A monitor that died within a grace period left the newest records in <path>.next. */
        s->rotation_pending = opts->rotate && g_file_test(s->next_path, G_FILE_TEST_EXISTS);
        if (finish_rotation(s) < 0) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                            "%s holds the newest records of an earlier monitor and cannot take the name %s "
                            "(see the warning above)",
                            s->next_path, s->path);
                s->rotation_pending = FALSE;
                k8s_free(&s->base);
                return NULL;
        }
        s->fd = open_log(opts->path, O_APPEND);
        if (s->fd < 0) {
                int err = errno;
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "Failed to open log file %s: %s",
                            opts->path, g_strerror(err));
                k8s_free(&s->base);
                return NULL;
        }
        /* An existing file counts toward the limits (conmon#468: restart loops grew logs forever). */
        if (fstat(s->fd, &st) == 0)
                s->file_bytes = s->total_bytes = st.st_size;
        return &s->base;
}
