/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Container-output log drivers behind one small ops table (k8s-file, journald).  The stdio
 * relay hands every chunk it reads to each sink with one timestamp per chunk; sinks never
 * block the loop on anything but their own file writes, and never exit the monitor.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <time.h>

typedef enum {
        STREAM_STDIN = 1,       /* the attach protocol's stream ids */
        STREAM_STDOUT = 2,
        STREAM_STDERR = 3,
} StreamId;

typedef struct {
        uint64_t bytes[2];      /* container bytes accepted, per stream (stdout, stderr) */
        uint64_t records[2];    /* lines or records accepted, per stream (dropped ones too) */
        uint64_t partial_records;
        /* Left out whole, over --log-global-size-max or after a failed write (a full disk):
         * the container bytes and the records they made. */
        uint64_t bytes_dropped;
        uint64_t records_dropped;
        uint64_t rotations;
} LogStats;

typedef struct LogSink LogSink;

/*
 * Every chunk lies in a buffer with LOG_CHUNK_HEADROOM writable bytes in front of it and
 * LOG_CHUNK_TAILROOM behind it.  The attach clients see it first, then the sinks in the order
 * they were added, except that a sink with .rewrites_chunk (at most one) comes last: it may
 * overwrite the chunk and that room, so it can build its records in place instead of copying
 * them.  Nobody keeps a pointer into the chunk after its call returns.
 */
#define LOG_CHUNK_HEADROOM (48 * 1024)
#define LOG_CHUNK_TAILROOM 1

typedef struct {
        const char *name;
        gboolean rewrites_chunk;
        /* One chunk as read from the container, all of it stamped @now (CLOCK_REALTIME). */
        void (*write)(LogSink *sink, StreamId stream, char *buf, size_t len, const struct timespec *now);
        /* ctl "2" or ReopenLog: start a new file (k8s-file); 0 or -errno. */
        int (*reopen)(LogSink *sink);
        /* The container's output has ended: send held partial lines, fsync when @sync. */
        void (*flush)(LogSink *sink, gboolean sync);
        void (*free)(LogSink *sink);
} LogSinkOps;

struct LogSink {
        const LogSinkOps *ops;
        LogStats stats;
        /* Once per rotation, when every file has its final name (stdio_relay_add_sink). */
        void (*rotated)(gpointer data);
        gpointer rotated_data;
};

static inline int stream_index(StreamId stream)
{
        return stream == STREAM_STDERR ? 1 : 0;
}

static inline const char *stream_name(StreamId stream)
{
        return stream == STREAM_STDERR ? "stderr" : "stdout";
}

void log_sink_free(LogSink *sink);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(LogSink, log_sink_free)

typedef struct {
        const char *path;
        int64_t size_max;        /* <= 0: unlimited */
        int64_t global_size_max; /* <= 0: unlimited */
        gboolean rotate;
        int max_files;
        unsigned rotate_grace_ms; /* 0: K8S_ROTATE_GRACE_MS (log_k8s.c) */
        char **allowlist_dirs;
        gboolean sync_writeback; /* the file is fsync()ed at exit: start writeback as we go */
} K8sFileOptions;

/* Opens (creates) the file now, so a bad path is reported before the monitor forks. */
LogSink *log_k8s_new(const K8sFileOptions *opts, GError **error);

typedef struct {
        const char *cid;
        const char *name;
        const char *tag;
        char **labels;
        gboolean partial_field; /* CONTAINER_PARTIAL_MESSAGE=true on partial pieces */
} JournaldOptions;

LogSink *log_journald_new(const JournaldOptions *opts, GError **error);

/*
 * Local time, RFC 3339 with nine fractional digits and a numeric offset, as the CRI log
 * format and podman's parser want: "2026-11-22T10:18:31.891998005+01:00".  @buf must hold
 * LOG_TIMESTAMP_LEN + 1 bytes.  @cache keeps the formatted second between calls.
 */
#define LOG_TIMESTAMP_LEN 35
typedef struct {
        time_t second;
        char text[LOG_TIMESTAMP_LEN + 1];
} TimestampCache;
void log_format_timestamp(TimestampCache *cache, const struct timespec *ts, char *buf);
