/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Joins P records up to F, per stream, the way podman's reader does. */
static void rebuild(const char *text, GString *out[2])
{
        /* Line by line: g_strsplit() of the whole log is quadratic under ASan's strstr(). */
        for (const char *l = text, *nl; *l; l = nl + 1) {
                g_autofree char *line = NULL;
                g_auto(GStrv) f = NULL;

                nl = strchr(l, '\n');
                g_assert_nonnull(nl);
                line = g_strndup(l, nl - l);
                f = g_strsplit(line, " ", 4);
                int idx = g_str_equal(f[1], "stderr");
                g_assert_cmpuint(g_strv_length(f), ==, 4);
                g_string_append(out[idx], f[3]);
                if (g_str_equal(f[2], "F"))
                        g_string_append_c(out[idx], '\n');
        }
}

/* Lines of 0 to @max_line bytes (-1: a newline is every 8th byte on average), in chunks of
 * up to @max_chunk bytes. */
static void round_trip(const char *name, gsize max_chunk, int max_line)
{
        g_autofree char *path = scratch_file(name);
        g_autoptr(LogSink) s = open_sink(path, -1, FALSE, 1);
        GString *sent[2] = { g_string_new(NULL), g_string_new(NULL) };
        GString *got[2] = { g_string_new(NULL), g_string_new(NULL) };
        g_autofree char *text = NULL;
        GRand *rand = g_rand_new_with_seed(42);

        for (int i = 0; i < 200; i++) {
                int idx = g_rand_int_range(rand, 0, 2);
                gsize len = g_rand_int_range(rand, 0, i % 10 == 0 ? max_chunk : 200);
                g_autofree char *chunk = g_malloc(len);
                int line = max_line >= 0 ? g_rand_int_range(rand, 0, max_line + 1) : 0;
                for (gsize j = 0; j < len; j++) {
                        gboolean nl = max_line >= 0 ? line-- == 0 : g_rand_int_range(rand, 0, 8) == 0;
                        chunk[j] = nl ? '\n' : 'a' + g_rand_int_range(rand, 0, 26);
                        if (nl && max_line >= 0)
                                line = g_rand_int_range(rand, 0, max_line + 1);
                }
                write_chunk(s, idx ? STREAM_STDERR : STREAM_STDOUT, chunk, len);
                g_string_append_len(sent[idx], chunk, len);
        }
        s->ops->flush(s, FALSE);
        text = slurp(path);
        rebuild(text, got);
        for (int i = 0; i < 2; i++) {
                g_assert_cmpuint(got[i]->len, ==, sent[i]->len);
                g_assert_true(memcmp(got[i]->str, sent[i]->str, sent[i]->len) == 0);
                g_string_free(sent[i], TRUE);
                g_string_free(got[i], TRUE);
        }
        g_rand_free(rand);
}

/* Lines of about 8 bytes: records are 6x the input, so the output keeps catching up with it. */
static void test_round_trip_short_lines(void)
{
        round_trip("roundtrip-short.log", 300000, -1);
}

/* Lines on both sides of the length at which content stays where it was read. */
static void test_round_trip_mixed_lines(void)
{
        round_trip("roundtrip-mixed.log", 65536, 3000);
}

/* Nothing but newlines: every record is a prefix and one byte. */
static void test_round_trip_empty_lines(void)
{
        round_trip("roundtrip-empty.log", 65536, 0);
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
        g_test_add_func("/log_k8s/size-max", test_size_max_truncates);
        g_test_add_func("/log_k8s/rotate", test_rotate_keeps_files);
        g_test_add_func("/log_k8s/rotate-grace", test_rotate_renames_after_grace);
        g_test_add_func("/log_k8s/stale-next", test_stale_next_file_is_renamed);
        g_test_add_func("/log_k8s/failed-rename", test_failed_rename_keeps_records);
        g_test_add_func("/log_k8s/unwritable", test_unwritable_path);
        g_test_add_func("/log_k8s/rotation-path-checks", test_rotation_path_checks);
        return g_test_run();
}
