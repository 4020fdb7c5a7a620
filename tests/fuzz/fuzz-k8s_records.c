/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * k8s-file records built in place across chunks of any size and content, with size limits,
 * rotation, reopens and writes cut short (RLIMIT_FSIZE: the kernel stops a write at the limit
 * as it does at the end of a full disk).  The input is a script: a header with the options,
 * then ops (run_op).  Every line the sink leaves in its files must be a whole record of a
 * plain formatter, in order; when no file was truncated or rotated away, the records written
 * and those counted as dropped add up to all of them, and with nothing dropped the files hold
 * them all.  The files live under VIGIL_TEST_SCRATCH (or the working directory, the build
 * tree under CTest), never /tmp.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "log_sink.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PREFIX_LEN 45                 /* "<timestamp> stdout F " */
#define MAX_CHUNK (96 * 1024)         /* more than the relay's 64 KiB: past the headroom */
#define MAX_TOTAL (128 * 1024)        /* bytes through the sink per input, to stay fast */
#define MAX_SWITCHES 16               /* new files per input: a rename over a file costs I/O */

static const struct timespec when = { .tv_sec = 1763807911, .tv_nsec = 891998005 };

typedef struct {
        const uint8_t *p, *end;
} Input;

/* The next byte, 0 past the end. */
static unsigned take(Input *in)
{
        return in->p < in->end ? *in->p++ : 0;
}

typedef struct {
        size_t off, len;
} Span;

typedef struct {
        LogSink *sink;
        K8sFileOptions opts;
        GString *want;          /* the plain formatter's records, in order */
        GArray *records;        /* Span of each record in want */
        gboolean lossy;         /* a truncating reopen may have dropped written records */
        rlim_t limit;           /* > 0: file size limit for the next chunk */
        size_t budget;          /* bytes for this input, about MAX_SWITCHES files' worth */
        size_t total;
        unsigned reopens;
} Run;

static void expect_records(Run *r, StreamId stream, const char *data, size_t len)
{
        char ts[LOG_TIMESTAMP_LEN + 1];
        TimestampCache cache = { 0 };
        const char *end = data + len;
        g_autofree char *full = NULL, *part = NULL;

        log_format_timestamp(&cache, &when, ts);
        full = g_strdup_printf("%s %s F ", ts, stream_name(stream));
        part = g_strdup_printf("%s %s P ", ts, stream_name(stream));
        g_assert(strlen(full) == PREFIX_LEN);
        while (data < end) {
                const char *nl = memchr(data, '\n', end - data);
                size_t piece = nl ? (size_t) (nl - data) + 1 : (size_t) (end - data);
                Span s = { .off = r->want->len };
                g_string_append_len(r->want, nl ? full : part, PREFIX_LEN);
                g_string_append_len(r->want, data, piece);
                if (!nl)
                        g_string_append_c(r->want, '\n');
                s.len = r->want->len - s.off;
                g_array_append_val(r->records, s);
                data += piece;
        }
}

/* One chunk as the relay hands it over: headroom in front, tailroom behind. */
static void write_chunk(Run *r, StreamId stream, const char *data, size_t len)
{
        g_autofree char *buf = NULL;
        struct rlimit old, low;

        len = MIN(len, r->budget - r->total);
        buf = g_malloc(LOG_CHUNK_HEADROOM + len + LOG_CHUNK_TAILROOM);
        memcpy(buf + LOG_CHUNK_HEADROOM, data, len);
        expect_records(r, stream, data, len);
        g_assert(getrlimit(RLIMIT_FSIZE, &old) == 0);
        low = (struct rlimit) { .rlim_cur = r->limit, .rlim_max = old.rlim_max };
        /* A write past the limit must fail with EFBIG, not kill us (libFuzzer's -handle_xfsz
         * handler, installed after LLVMFuzzerInitialize, would end the run). */
        if (r->limit) {
                signal(SIGXFSZ, SIG_IGN);
                g_assert(setrlimit(RLIMIT_FSIZE, &low) == 0);
        }
        r->sink->ops->write(r->sink, stream, buf + LOG_CHUNK_HEADROOM, len, &when);
        if (r->limit)
                g_assert(setrlimit(RLIMIT_FSIZE, &old) == 0);
        r->limit = 0;
        r->total += len;
}

/* A piece of the input repeated: long runs of short lines from a short input. */
static void write_repeated(Run *r, StreamId stream, Input *in)
{
        size_t piece = take(in) % 64 + 1;
        size_t times = (take(in) + 1) * 64;
        g_autoptr(GString) chunk = g_string_new(NULL);

        piece = MIN(piece, (size_t) (in->end - in->p));
        for (size_t i = 0; i < times && chunk->len + piece <= MAX_CHUNK; i++)
                g_string_append_len(chunk, (const char *) in->p, piece);
        in->p += piece;
        write_chunk(r, stream, chunk->str, chunk->len);
}

/* Op byte % 5: 0/1 a chunk of the input on stdout/stderr (two length bytes), 2 a repeated piece,
 * 3 a reopen (ctl "2"), 4 a file size limit for the next chunk (two bytes). */
static void run_op(Run *r, Input *in)
{
        unsigned op = take(in);
        StreamId stream = op & 8 ? STREAM_STDERR : STREAM_STDOUT;
        size_t len;

        switch (op % 5) {
        case 0:
        case 1:
                len = take(in);
                len |= take(in) << 8;
                len = MIN(len, (size_t) (in->end - in->p));
                write_chunk(r, op % 5 ? STREAM_STDERR : STREAM_STDOUT, (const char *) in->p, len);
                in->p += len;
                break;
        case 2:
                write_repeated(r, stream, in);
                break;
        case 3:
                if (r->reopens++ >= MAX_SWITCHES)
                        break;
                r->lossy |= !r->opts.rotate;
                (void) r->sink->ops->reopen(r->sink);
                break;
        default:
                r->limit = take(in) << 4;
                r->limit |= take(in) << 12;
                r->limit = MAX(r->limit, 1);
                break;
        }
}

/* Header: flags (bit 0 rotate, bits 1-2 size limit scale, bit 3 global limit, bits 4-6 max
 * files - 1), then a size limit byte and a global limit byte. */
static void parse_header(Run *r, Input *in)
{
        unsigned flags = take(in);
        unsigned scale = (flags >> 1) & 3;
        unsigned size = take(in);
        unsigned global = take(in);

        r->opts.rotate = flags & 1;
        r->opts.size_max = scale ? 64 + (int64_t) size * (1 << (3 * scale)) : -1;
        r->opts.global_size_max = flags & 8 ? 1024 + (int64_t) global * 1024 : -1;
        r->opts.max_files = 1 + ((flags >> 4) & 7);
        r->lossy = !r->opts.rotate && r->opts.size_max > 0;
        r->budget = r->opts.size_max > 0 ? MIN(MAX_TOTAL, MAX_SWITCHES * (size_t) r->opts.size_max) : MAX_TOTAL;
}

static char *scratch_log(void)
{
        const char *env = g_getenv("VIGIL_TEST_SCRATCH");
        g_autofree char *cwd = g_get_current_dir();
        g_autofree char *dir = env ? g_build_filename(env, "k8s_records", NULL)
                                   : g_build_filename(cwd, "test-scratch-k8s_records", NULL);
        g_autofree char *real = NULL;

        g_assert(g_mkdir_with_parents(dir, 0755) == 0);
        real = realpath(dir, NULL);
        g_assert(real);
        return g_build_filename(real, "ctr.log", NULL);
}

static void remove_files(const char *path)
{
        const char *suffixes[] = { "", ".next", ".tmp", ".1", ".2", ".3", ".4", ".5", ".6", ".7", ".8" };

        for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
                g_autofree char *name = g_strconcat(path, suffixes[i], NULL);
                g_unlink(name);
        }
}

typedef struct {
        guint next;             /* the first expected record not matched yet */
        uint64_t records, bytes; /* matched, and the container bytes in them */
} Match;

/* Every record of the file is the next expected one, or one after records that were dropped. */
static void match_file(const Run *r, const char *name, Match *m)
{
        g_autofree char *text = NULL;
        gsize len = 0;
        const char *p, *end;

        if (!g_file_get_contents(name, &text, &len, NULL))
                return;
        g_assert(len == 0 || text[len - 1] == '\n');
        for (p = text, end = text + len; p < end;) {
                size_t rec = (size_t) ((const char *) memchr(p, '\n', end - p) - p) + 1;
                const Span *s = NULL;
                while (m->next < r->records->len) {
                        s = &g_array_index(r->records, Span, m->next++);
                        if (s->len == rec && memcmp(r->want->str + s->off, p, rec) == 0)
                                break;
                        s = NULL;
                }
                g_assert(s != NULL); /* torn, glued, out of order or made up */
                g_assert(p == text || r->opts.size_max <= 0 || (int64_t) len <= r->opts.size_max);
                m->records++;
                m->bytes += rec - PREFIX_LEN - (p[PREFIX_LEN - 2] == 'P');
                p += rec;
        }
}

static void check_files(const Run *r, const char *path)
{
        const LogStats *st = &r->sink->stats;
        Match m = { 0 };
        uint64_t bytes = 0;

        for (int i = r->opts.rotate ? r->opts.max_files : 0; i >= 0; i--) {
                g_autofree char *name = i ? g_strdup_printf("%s.%d", path, i) : g_strdup(path);
                match_file(r, name, &m);
        }
        if (r->lossy || (r->opts.rotate && st->rotations > (uint64_t) r->opts.max_files))
                return;
        for (guint i = 0; i < r->records->len; i++) {
                const Span *s = &g_array_index(r->records, Span, i);
                bytes += s->len - PREFIX_LEN - (r->want->str[s->off + PREFIX_LEN - 2] == 'P');
        }
        g_assert(m.records + st->records_dropped == r->records->len);
        g_assert(m.bytes + st->bytes_dropped == bytes);
}

static void discard_message(const char *domain, GLogLevelFlags level, const char *message, gpointer data)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        g_setenv("TZ", "UTC", TRUE);
        tzset();
        /* Writes cut short are warned about, as they should be: not news here, nor fatal
         * (the replay runs with G_DEBUG=fatal-warnings). */
        g_log_set_always_fatal(G_LOG_FATAL_MASK);
        g_log_set_handler(G_LOG_DOMAIN, G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO |
                                                G_LOG_LEVEL_DEBUG,
                          discard_message, NULL);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autofree char *path = scratch_log();
        g_autoptr(GString) want = g_string_new(NULL);
        g_autoptr(GArray) records = g_array_new(FALSE, FALSE, sizeof(Span));
        g_autoptr(GError) error = NULL;
        Input in = { data, data + size };
        Run r = { .want = want, .records = records };

        parse_header(&r, &in);
        r.opts.path = path;
        remove_files(path);
        r.sink = log_k8s_new(&r.opts, &error);
        g_assert_no_error(error);
        while (in.p < in.end && r.total < r.budget)
                run_op(&r, &in);
        r.sink->ops->flush(r.sink, FALSE);
        check_files(&r, path);
        log_sink_free(r.sink);
        return 0;
}
