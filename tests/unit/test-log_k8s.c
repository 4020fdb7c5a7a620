/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log_sink.h"

static char *scratch_file(const char *name)
{
        const char *dir = g_getenv("VIGIL_TEST_SCRATCH");
        g_autofree char *base = g_strdup(dir ? dir : "test-scratch-unit");
        char *path;

        g_mkdir_with_parents(base, 0755);
        path = g_build_filename(base, name, NULL);
        g_unlink(path);
        return path;
}

static char *slurp(const char *path)
{
        char *text = NULL;
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        return text;
}

static const struct timespec when = { .tv_sec = 1763807911, .tv_nsec = 891998005 };

/* As the stdio relay hands chunks over: LOG_CHUNK_HEADROOM writable bytes in front, one behind. */
static void write_chunk(LogSink *s, StreamId stream, const char *data, size_t len)
{
        g_autofree char *buf = g_malloc(LOG_CHUNK_HEADROOM + len + LOG_CHUNK_TAILROOM);

        if (len)
                memcpy(buf + LOG_CHUNK_HEADROOM, data, len);
        s->ops->write(s, stream, buf + LOG_CHUNK_HEADROOM, len, &when);
}

static void test_timestamp_format(void)
{
        TimestampCache cache = { 0 };
        char buf[LOG_TIMESTAMP_LEN + 1];
        struct timespec ts = { .tv_sec = 1763807911, .tv_nsec = 5 };

        g_setenv("TZ", "UTC", TRUE);
        tzset();
        log_format_timestamp(&cache, &ts, buf);
        g_assert_cmpstr(buf, ==, "2025-11-22T10:38:31.000000005+00:00");
        g_setenv("TZ", "Asia/Kolkata", TRUE); /* +05:30: the offset's minutes matter */
        tzset();
        cache.second = 0;
        log_format_timestamp(&cache, &when, buf);
        g_assert_cmpstr(buf, ==, "2025-11-22T16:08:31.891998005+05:30");
        g_setenv("TZ", "America/St_Johns", TRUE); /* -03:30 */
        tzset();
        cache.second = 0;
        log_format_timestamp(&cache, &when, buf);
        g_assert_cmpstr(buf, ==, "2025-11-22T07:08:31.891998005-03:30");
        g_setenv("TZ", "UTC", TRUE);
        tzset();
}

static LogSink *open_sink(const char *path, int64_t size_max, gboolean rotate, int max_files)
{
        g_autoptr(GError) error = NULL;
        K8sFileOptions o = { .path = path, .size_max = size_max, .global_size_max = -1, .rotate = rotate,
                             .max_files = max_files };
        LogSink *s = log_k8s_new(&o, &error);
        g_assert_no_error(error);
        return s;
}

static void test_records(void)
{
        g_autofree char *path = scratch_file("records.log");
        g_autoptr(LogSink) s = open_sink(path, -1, FALSE, 1);
        g_autofree char *text = NULL;

        write_chunk(s, STREAM_STDOUT, "out1\n\npartial", 13);
        write_chunk(s, STREAM_STDERR, "err1\n", 5);
        write_chunk(s, STREAM_STDOUT, "\n", 1);
        s->ops->flush(s, TRUE);
        text = slurp(path);
        g_assert_cmpstr(text, ==,
                        "2025-11-22T10:38:31.891998005+00:00 stdout F out1\n"
                        "2025-11-22T10:38:31.891998005+00:00 stdout F \n"
                        "2025-11-22T10:38:31.891998005+00:00 stdout P partial\n"
                        "2025-11-22T10:38:31.891998005+00:00 stderr F err1\n"
                        "2025-11-22T10:38:31.891998005+00:00 stdout F \n");
        g_assert_cmpuint(s->stats.records[0], ==, 4);
        g_assert_cmpuint(s->stats.partial_records, ==, 1);
        g_assert_cmpuint(s->stats.bytes[1], ==, 5);
}

/* The records the sink must write for one chunk, built the plain way; records that would take
 * the total past @global_max (0: no limit) are left out, as the sink drops them. */
static void expect_records(GString *want, StreamId stream, const char *data, size_t len, size_t global_max)
{
        TimestampCache cache = { 0 };
        char ts[LOG_TIMESTAMP_LEN + 1];
        const char *end;

        /* An empty chunk writes nothing, and g_malloc(0) gave NULL: NULL + 0 is undefined. */
        if (!len)
                return;
        end = data + len;
        log_format_timestamp(&cache, &when, ts);
        while (data < end) {
                const char *nl = memchr(data, '\n', end - data);
                size_t piece = nl ? (size_t) (nl - data) + 1 : (size_t) (end - data);
                g_autoptr(GString) rec = g_string_new(NULL);
                g_string_append_printf(rec, "%s %s %c ", ts, stream_name(stream), nl ? 'F' : 'P');
                g_string_append_len(rec, data, piece);
                if (!nl)
                        g_string_append_c(rec, '\n');
                if (!global_max || want->len + rec->len <= global_max)
                        g_string_append_len(want, rec->str, rec->len);
                data += piece;
        }
}

/* The log's files, oldest first: <path>.N ... <path>.1, <path>. */
static GString *read_files(const char *path, int max_files)
{
        GString *got = g_string_new(NULL);

        for (int i = max_files; i >= 0; i--) {
                g_autofree char *name = i ? g_strdup_printf("%s.%d", path, i) : g_strdup(path);
                g_autofree char *text = NULL;
                gsize len = 0;
                if (g_file_get_contents(name, &text, &len, NULL))
                        g_string_append_len(got, text, len);
                if (i)
                        g_unlink(name);
        }
        return got;
}

typedef struct {
        gsize max_chunk;
        int max_line;           /* lines of 0..max_line bytes; -1: a newline every 8th byte on average */
        int64_t size_max;       /* > 0: rotate at this size */
        int64_t global_size_max;
} RoundTrip;

/* Random chunks through the sink, laid out as the relay lays them out; the files must hold
 * exactly the records of a plain formatter, byte for byte. */
static void round_trip(const char *name, const RoundTrip *t)
{
        g_autofree char *path = scratch_file(name);
        const int max_files = 1000;
        K8sFileOptions o = { .path = path, .size_max = t->size_max, .global_size_max = t->global_size_max,
                             .rotate = t->size_max > 0, .max_files = max_files };
        g_autoptr(GError) error = NULL;
        g_autoptr(LogSink) s = log_k8s_new(&o, &error);
        g_autoptr(GString) want = g_string_new(NULL);
        g_autoptr(GString) got = NULL;
        GRand *rand = g_rand_new_with_seed(42);

        g_assert_no_error(error);
        for (int i = 0; i < 200; i++) {
                StreamId stream = g_rand_int_range(rand, 0, 2) ? STREAM_STDERR : STREAM_STDOUT;
                gsize len = g_rand_int_range(rand, 0, i % 10 == 0 ? t->max_chunk : 200);
                g_autofree char *chunk = g_malloc(len);
                int line = t->max_line >= 0 ? g_rand_int_range(rand, 0, t->max_line + 1) : 0;
                for (gsize j = 0; j < len; j++) {
                        gboolean nl = t->max_line >= 0 ? line-- == 0 : g_rand_int_range(rand, 0, 8) == 0;
                        chunk[j] = nl ? '\n' : 'a' + g_rand_int_range(rand, 0, 26);
                        if (nl && t->max_line >= 0)
                                line = g_rand_int_range(rand, 0, t->max_line + 1);
                }
                write_chunk(s, stream, chunk, len);
                expect_records(want, stream, chunk, len, t->global_size_max > 0 ? t->global_size_max : 0);
        }
        s->ops->flush(s, FALSE);
        if (t->size_max > 0)
                g_assert_cmpuint(s->stats.rotations, >, 3);
        if (t->global_size_max > 0)
                g_assert_cmpuint(s->stats.bytes_dropped, >, 0);
        got = read_files(path, max_files);
        g_assert_cmpuint(got->len, ==, want->len);
        g_assert_true(memcmp(got->str, want->str, want->len) == 0);
        g_rand_free(rand);
}

/* Lines of about 8 bytes: records are 6x the input, so the output keeps catching up with it. */
static void test_round_trip_short_lines(void)
{
        round_trip("roundtrip-short.log", &(RoundTrip) { .max_chunk = 300000, .max_line = -1 });
}

/* Around 60 bytes, where a 64 KiB chunk starts to need more than one write. */
static void test_round_trip_mixed_lines(void)
{
        round_trip("roundtrip-mixed.log", &(RoundTrip) { .max_chunk = 65536, .max_line = 120 });
}

/* Nothing but newlines: every record is a prefix and one byte. */
static void test_round_trip_empty_lines(void)
{
        round_trip("roundtrip-empty.log", &(RoundTrip) { .max_chunk = 65536, .max_line = 0 });
}

/* Lines of up to 100 KiB: a piece can be longer than the room in front of the chunk. */
static void test_round_trip_long_lines(void)
{
        round_trip("roundtrip-long.log", &(RoundTrip) { .max_chunk = 300000, .max_line = 100000 });
}

/* Rotations in the middle of chunks whose short lines also need early writes. */
static void test_round_trip_rotating(void)
{
        round_trip("roundtrip-rotate.log",
                   &(RoundTrip) { .max_chunk = 65536, .max_line = 30, .size_max = 65536 });
}

/* --log-global-size-max: the records past the limit are left out, whole. */
static void test_round_trip_global_size_max(void)
{
        round_trip("roundtrip-global.log",
                   &(RoundTrip) { .max_chunk = 65536, .max_line = 30, .global_size_max = 200000 });
}

static void test_size_max_truncates(void)
{
        g_autofree char *path = scratch_file("truncate.log");
        g_autoptr(LogSink) s = open_sink(path, 120, FALSE, 1);
        g_autofree char *text = NULL;

        write_chunk(s, STREAM_STDOUT, "first\n", 6);
        write_chunk(s, STREAM_STDOUT, "second\n", 7);
        write_chunk(s, STREAM_STDOUT, "third\n", 6);
        s->ops->flush(s, FALSE);
        text = slurp(path);
        /* Each record is 51-52 bytes: two fit in 120, the third starts a new file. */
        g_assert_cmpstr(text, ==, "2025-11-22T10:38:31.891998005+00:00 stdout F third\n");
}

static void test_rotate_keeps_files(void)
{
        g_autofree char *path = scratch_file("rotate.log");
        g_autofree char *p1 = g_strdup_printf("%s.1", path);
        g_autofree char *p2 = g_strdup_printf("%s.2", path);
        g_autoptr(LogSink) s = NULL;

        g_unlink(p1);
        g_unlink(p2);
        s = open_sink(path, 60, TRUE, 2);
        write_chunk(s, STREAM_STDOUT, "one\ntwo\nthree\nfour\n", 19);
        s->ops->flush(s, FALSE);
        g_autofree char *t0 = slurp(path);
        g_autofree char *t1 = slurp(p1);
        g_autofree char *t2 = slurp(p2);
        g_assert_true(g_str_has_suffix(t0, "F four\n"));
        g_assert_true(g_str_has_suffix(t1, "F three\n"));
        g_assert_true(g_str_has_suffix(t2, "F two\n"));
        g_assert_cmpuint(s->stats.rotations, ==, 3);
}

static gboolean on_guard(gpointer data)
{
        *(gboolean *) data = TRUE;
        return G_SOURCE_REMOVE;
}

/* Runs the default main context until @path is gone, for at most 5 s. */
static void iterate_until_gone(const char *path)
{
        gboolean expired = FALSE;
        guint guard = g_timeout_add(5000, on_guard, &expired);

        while (g_file_test(path, G_FILE_TEST_EXISTS) && !expired)
                g_main_context_iteration(NULL, TRUE);
        if (!expired)
                g_source_remove(guard);
}

/* A rotating sink with a short grace period (size limit 60: one record per file). */
static LogSink *open_rotating(const char *path, int max_files, unsigned grace_ms)
{
        g_autoptr(GError) error = NULL;
        K8sFileOptions o = { .path = path, .size_max = 60, .global_size_max = -1, .rotate = TRUE,
                             .max_files = max_files, .rotate_grace_ms = grace_ms };
        LogSink *s = log_k8s_new(&o, &error);

        g_assert_no_error(error);
        return s;
}

/* The new file writes under <path>.next until the grace period ends (podman's poller). */
static void test_rotate_renames_after_grace(void)
{
        g_autofree char *path = scratch_file("grace.log");
        g_autofree char *p1 = g_strdup_printf("%s.1", path);
        g_autofree char *next = g_strdup_printf("%s.next", path);
        g_autoptr(LogSink) s = NULL;

        g_unlink(p1);
        g_unlink(next);
        s = open_rotating(path, 2, 20);
        write_chunk(s, STREAM_STDOUT, "one\ntwo\n", 8);
        g_assert_cmpuint(s->stats.rotations, ==, 0);
        g_autofree char *before = slurp(path);
        g_autofree char *pending = slurp(next);
        g_assert_true(g_str_has_suffix(before, "F one\n"));
        g_assert_true(g_str_has_suffix(pending, "F two\n"));
        g_assert_false(g_file_test(p1, G_FILE_TEST_EXISTS));
        iterate_until_gone(next);
        g_assert_cmpuint(s->stats.rotations, ==, 1);
        g_autofree char *after = slurp(path);
        g_autofree char *old = slurp(p1);
        g_assert_true(g_str_has_suffix(after, "F two\n"));
        g_assert_true(g_str_has_suffix(old, "F one\n"));
        g_assert_false(g_file_test(next, G_FILE_TEST_EXISTS));
}

/* A rename that fails keeps the rotation pending: <path>.next grows, nothing is overwritten. */
static void test_failed_rename_keeps_records(void)
{
        g_autofree char *path = scratch_file("norename.log");
        g_autofree char *p1 = g_strdup_printf("%s.1", path);
        g_autofree char *blocker = g_build_filename(p1, "x", NULL);
        g_autofree char *next = g_strdup_printf("%s.next", path);
        g_autoptr(LogSink) s = NULL;

        g_unlink(next);
        g_unlink(path);
        g_unlink(blocker);
        g_rmdir(p1);
        g_unlink(p1);
        /* <path>.1 is a non-empty directory: renaming <path> onto it fails. */
        g_mkdir_with_parents(p1, 0755);
        g_assert_true(g_file_set_contents(blocker, "", 0, NULL));
        s = open_rotating(path, 1, 1);
        write_chunk(s, STREAM_STDOUT, "one\ntwo\n", 8);
        g_usleep(5000);
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "log rotation: renaming *norename.log to *: Is a directory");
        while (g_main_context_iteration(NULL, FALSE))
                ;
        g_test_assert_expected_messages();
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "log rotation: renaming *norename.log to *: Is a directory");
        write_chunk(s, STREAM_STDOUT, "three\n", 6);
        g_test_assert_expected_messages();
        g_autofree char *live = slurp(path);
        g_autofree char *pending = slurp(next);
        g_assert_true(g_str_has_suffix(live, "F one\n"));
        g_assert_nonnull(strstr(pending, "F two\n"));
        g_assert_true(g_str_has_suffix(pending, "F three\n"));
        g_assert_cmpuint(s->stats.rotations, ==, 0);
        /* Once the obstacle is gone, the exit flush puts every file in place. */
        g_unlink(blocker);
        g_rmdir(p1);
        s->ops->flush(s, FALSE);
        g_autofree char *after = slurp(path);
        g_autofree char *old = slurp(p1);
        g_assert_true(g_str_has_suffix(after, "F three\n"));
        g_assert_cmpstr(old, ==, live);
        g_assert_false(g_file_test(next, G_FILE_TEST_EXISTS));
        g_assert_cmpuint(s->stats.rotations, ==, 1);
}

/* A monitor that died within the grace period: the next one puts <path>.next in place. */
static void test_stale_next_file_is_renamed(void)
{
        g_autofree char *path = scratch_file("stale.log");
        g_autofree char *p1 = g_strdup_printf("%s.1", path);
        g_autofree char *next = g_strdup_printf("%s.next", path);
        g_autoptr(LogSink) s = NULL;

        g_unlink(p1);
        g_assert_true(g_file_set_contents(path, "older\n", -1, NULL));
        g_assert_true(g_file_set_contents(next, "newer\n", -1, NULL));
        s = open_sink(path, 1000, TRUE, 3);
        g_autofree char *live = slurp(path);
        g_autofree char *old = slurp(p1);
        g_assert_cmpstr(live, ==, "newer\n");
        g_assert_cmpstr(old, ==, "older\n");
        g_assert_false(g_file_test(next, G_FILE_TEST_EXISTS));
}

static void test_rotation_path_checks(void)
{
        g_autofree char *good = scratch_file("checked.log");
        g_autofree char *dir = g_path_get_dirname(good);
        g_autofree char *link = g_build_filename(dir, "via-link", NULL);
        g_autofree char *through_link = g_build_filename(link, "x.log", NULL);
        char *outside[] = { "/nonexistent-allowed", NULL };
        char *inside[] = { dir, NULL };
        K8sFileOptions o = { .rotate = TRUE, .max_files = 1 };
        g_autoptr(GError) e1 = NULL, e2 = NULL, e3 = NULL, e4 = NULL;
        LogSink *s;

        o.path = "relative.log";
        g_assert_null(log_k8s_new(&o, &e1));
        g_unlink(link);
        g_assert_cmpint(symlink(dir, link), ==, 0);
        o.path = through_link;
        g_assert_null(log_k8s_new(&o, &e2));
        g_assert_nonnull(strstr(e2->message, "symlinks"));
        o.path = good;
        o.allowlist_dirs = outside;
        g_assert_null(log_k8s_new(&o, &e3));
        g_assert_nonnull(strstr(e3->message, "allowlist"));
        o.allowlist_dirs = inside;
        s = log_k8s_new(&o, &e4);
        g_assert_no_error(e4);
        log_sink_free(s);
}

/* Writes @data while files may not grow past @limit bytes: RLIMIT_FSIZE makes the kernel stop
 * a write short at the limit and fail the next with EFBIG, as a full disk does with ENOSPC. */
static void write_chunk_limited(LogSink *s, const char *data, rlim_t limit)
{
        struct rlimit old, low;

        g_assert_cmpint(getrlimit(RLIMIT_FSIZE, &old), ==, 0);
        low = (struct rlimit) { .rlim_cur = limit, .rlim_max = old.rlim_max };
        g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &low), ==, 0);
        write_chunk(s, STREAM_STDOUT, data, strlen(data));
        g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &old), ==, 0);
}

#define REC(text) "2025-11-22T10:38:31.891998005+00:00 stdout F " text "\n"

/* A write that stops short must not leave a torn record for the next one to be glued onto:
 * the whole records stay, the torn one and the rest of the chunk are dropped and counted. */
static void test_short_write_keeps_whole_records(void)
{
        g_autofree char *path = scratch_file("short-write.log");
        g_autoptr(LogSink) s = open_sink(path, -1, FALSE, 1);
        const size_t first = strlen(REC("first"));
        g_autofree char *text = NULL;

        signal(SIGXFSZ, SIG_IGN);
        write_chunk(s, STREAM_STDOUT, "first\n", 6);
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "writing *short-write.log failed*File too large*");
        /* Room for "two" and 11 bytes of "three"'s record. */
        write_chunk_limited(s, "two\nthree\nfour\n", first + strlen(REC("two")) + 11);
        g_test_assert_expected_messages();
        g_assert_cmpuint(s->stats.records_dropped, ==, 2);
        g_assert_cmpuint(s->stats.bytes_dropped, ==, strlen("three\nfour\n"));
        /* Nothing fits: nothing is written, nothing is torn; one warning per interval. */
        write_chunk_limited(s, "five\npart", first + strlen(REC("two")));
        g_assert_cmpuint(s->stats.records_dropped, ==, 4);
        g_assert_cmpuint(s->stats.bytes_dropped, ==, strlen("three\nfour\nfive\npart"));
        /* Space is back: whole records again, and a word that it is. */
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "writing *short-write.log works again*4 records*");
        write_chunk(s, STREAM_STDOUT, "six\n", 4);
        g_test_assert_expected_messages();
        s->ops->flush(s, FALSE);
        text = slurp(path);
        g_assert_cmpstr(text, ==, REC("first") REC("two") REC("six"));
}

/* With a size limit, dropped records do not count toward the file's size: the next rotation
 * comes after size_max bytes that are really in the file. */
static void test_short_write_and_size_max(void)
{
        g_autofree char *path = scratch_file("short-rotate.log");
        g_autofree char *p1 = g_strdup_printf("%s.1", path);
        g_autoptr(LogSink) s = NULL;
        const size_t rec = strlen(REC("aaa"));
        g_autofree char *text = NULL;
        g_autofree char *old = NULL;

        g_unlink(p1);
        s = open_sink(path, 3 * rec, TRUE, 1);
        signal(SIGXFSZ, SIG_IGN);
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "writing *short-rotate.log failed*");
        write_chunk_limited(s, "aaa\nbbb\nccc\n", rec + 5);
        g_test_assert_expected_messages();
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "writing *short-rotate.log works again*");
        write_chunk(s, STREAM_STDOUT, "ddd\neee\nfff\n", 12);
        g_test_assert_expected_messages();
        s->ops->flush(s, FALSE);
        text = slurp(path);
        old = slurp(p1);
        g_assert_cmpstr(old, ==, REC("aaa") REC("ddd") REC("eee"));
        g_assert_cmpstr(text, ==, REC("fff"));
        g_assert_cmpuint(s->stats.rotations, ==, 1);
}

static void test_unwritable_path(void)
{
        g_autoptr(GError) error = NULL;
        K8sFileOptions o = { .path = "/nonexistent-dir/ctr.log" };
        g_assert_null(log_k8s_new(&o, &error));
        g_assert_nonnull(strstr(error->message, "Failed to open log file"));
}

int main(int argc, char **argv)
{
        g_setenv("TZ", "UTC", TRUE);
        tzset();
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/log_k8s/timestamp", test_timestamp_format);
        g_test_add_func("/log_k8s/records", test_records);
        g_test_add_func("/log_k8s/round-trip-short", test_round_trip_short_lines);
        g_test_add_func("/log_k8s/round-trip-mixed", test_round_trip_mixed_lines);
        g_test_add_func("/log_k8s/round-trip-empty", test_round_trip_empty_lines);
        g_test_add_func("/log_k8s/round-trip-long", test_round_trip_long_lines);
        g_test_add_func("/log_k8s/round-trip-rotating", test_round_trip_rotating);
        g_test_add_func("/log_k8s/round-trip-global-size-max", test_round_trip_global_size_max);
        g_test_add_func("/log_k8s/size-max", test_size_max_truncates);
        g_test_add_func("/log_k8s/rotate", test_rotate_keeps_files);
        g_test_add_func("/log_k8s/rotate-grace", test_rotate_renames_after_grace);
        g_test_add_func("/log_k8s/stale-next", test_stale_next_file_is_renamed);
        g_test_add_func("/log_k8s/failed-rename", test_failed_rename_keeps_records);
        g_test_add_func("/log_k8s/short-write", test_short_write_keeps_whole_records);
        g_test_add_func("/log_k8s/short-write-size-max", test_short_write_and_size_max);
        g_test_add_func("/log_k8s/unwritable", test_unwritable_path);
        g_test_add_func("/log_k8s/rotation-path-checks", test_rotation_path_checks);
        return g_test_run();
}
