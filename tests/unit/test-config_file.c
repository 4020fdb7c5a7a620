/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "config_file.h"

/* A vigil.conf under the build tree's scratch directory (never /tmp), replaced each time. */
static char *scratch_file(const char *name, const char *content)
{
        const char *dir = g_getenv("VIGIL_TEST_SCRATCH");
        g_autofree char *base = g_build_filename(dir ? dir : "test-scratch-unit", "config_file", NULL);
        char *path = g_build_filename(base, name, NULL);

        g_assert_cmpint(g_mkdir_with_parents(base, 0755), ==, 0);
        g_assert_true(g_file_set_contents(path, content, -1, NULL));
        return path;
}

static void clear_env(void)
{
        static const char *vars[] = { "VIGIL_SDNOTIFY_MODE", "VIGIL_START", "VIGIL_HEALTH_CMD",
                                      "VIGIL_HEALTH_INTERVAL", "VIGIL_SDNOTIFY_RATE_LIMIT" };
        for (size_t i = 0; i < G_N_ELEMENTS(vars); i++)
                g_unsetenv(vars[i]);
        g_setenv("VIGIL_CONFIG", "", TRUE);
}

static void test_defaults(void)
{
        VigilSettings s = { 0 };

        clear_env();
        g_assert_true(config_file_resolve(&s, NULL));
        g_assert_cmpint(s.notify_mode, ==, NOTIFY_MODE_CONTAINER);
        g_assert_false(s.start);
        g_assert_false(s.notify_fdstore);
        g_assert_cmpuint(s.notify_rate_limit, ==, 100);
        g_assert_cmpuint(s.health_interval_ms, ==, 30000);
        g_assert_cmpint(s.health_watchdog, ==, -1);
        g_assert_cmpint(s.notify_sender_check, ==, SENDER_CHECK_RELAXED);
        config_file_clear(&s);
}

static void test_precedence(void)
{
        g_autofree char *path = scratch_file("precedence.conf", "[notify]\nmode=ignore\nrate-limit=7\n[monitor]\nstart=yes\n"
                                             "[health]\ninterval=2m\ncmd=true\n");
        VigilSettings s = { 0 };

        clear_env();
        g_setenv("VIGIL_CONFIG", path, TRUE);
        g_setenv("VIGIL_SDNOTIFY_MODE", "healthy", TRUE);
        g_setenv("VIGIL_HEALTH_INTERVAL", "250ms", TRUE);
        s.cli[0] = g_strdup("conmon"); /* --sdnotify-mode */
        g_assert_true(config_file_resolve(&s, NULL));
        g_assert_cmpint(s.notify_mode, ==, NOTIFY_MODE_CONMON);  /* command line > env > file */
        g_assert_cmpuint(s.notify_rate_limit, ==, 7);              /* file */
        g_assert_true(s.start);                                     /* file */
        g_assert_cmpuint(s.health_interval_ms, ==, 250);           /* env > file */
        g_assert_cmpstr(s.health_cmd, ==, "true");
        config_file_clear(&s);
        clear_env();
}

static void test_errors(void)
{
        g_autofree char *bad = scratch_file("bad.conf", "[notify]\nmode=sometimes\n");
        g_autofree char *broken = scratch_file("broken.conf", "not a key file");
        VigilSettings s = { 0 };
        g_autoptr(GError) e1 = NULL;
        g_autoptr(GError) e2 = NULL;
        g_autoptr(GError) e3 = NULL;
        g_autoptr(GError) e4 = NULL;

        clear_env();
        g_setenv("VIGIL_CONFIG", bad, TRUE);
        g_assert_false(config_file_resolve(&s, &e1));
        g_assert_nonnull(strstr(e1->message, "sometimes"));
        g_setenv("VIGIL_CONFIG", broken, TRUE);
        g_assert_false(config_file_resolve(&s, &e2));
        g_setenv("VIGIL_CONFIG", "/nonexistent/vigil.conf", TRUE);
        g_assert_true(config_file_resolve(&s, NULL));
        g_setenv("VIGIL_HEALTH_INTERVAL", "soon", TRUE);
        g_assert_false(config_file_resolve(&s, &e3));
        g_assert_nonnull(strstr(e3->message, "VIGIL_HEALTH_INTERVAL"));
        clear_env();
        g_setenv("VIGIL_SDNOTIFY_MODE", "healthy", TRUE);
        g_assert_false(config_file_resolve(&s, &e4));
        g_assert_nonnull(strstr(e4->message, "health command"));
        clear_env();
        config_file_clear(&s);
}

/* The text itself, as the fuzz target feeds it: unknown keys are ignored, errors name the file. */
static void test_load_data(void)
{
        static const char good[] = "# comment\n[notify]\nmode = healthy \nunknown=1\n[other]\nx=y\n"
                                   "[health]\ncmd=true\ninterval=2s\n";
        static const char binary[] = "[notify]\nmode=con\0mon\n";
        VigilSettings s = { 0 };
        g_autoptr(GError) e1 = NULL;
        g_autoptr(GError) e2 = NULL;
        g_autoptr(GError) e3 = NULL;

        g_assert_true(config_file_load_data(&s, good, strlen(good), "/etc/x.conf", NULL));
        g_assert_cmpint(s.notify_mode, ==, NOTIFY_MODE_HEALTHY);
        g_assert_cmpstr(s.health_cmd, ==, "true");
        g_assert_cmpuint(s.health_interval_ms, ==, 2000);
        g_assert_false(config_file_load_data(&s, "[health]\nretries=-1\n", 20, "/etc/x.conf", &e1));
        g_assert_cmpstr(e1->message, ==,
                        "/etc/x.conf [health] retries: invalid value \"-1\" (Consecutive failures before the "
                        "container is unhealthy)");
        g_assert_false(config_file_load_data(&s, "key=value\n", 10, "/etc/x.conf", &e2));
        g_assert_true(g_str_has_prefix(e2->message, "/etc/x.conf: "));
        g_assert_false(config_file_load_data(&s, binary, sizeof(binary) - 1, "/etc/x.conf", &e3));
        config_file_clear(&s);
}

static void test_parsers(void)
{
        unsigned ms;
        gboolean b;

        g_assert_true(config_parse_duration_ms("5", &ms) && ms == 5000);
        g_assert_true(config_parse_duration_ms("5ms", &ms) && ms == 5);
        g_assert_true(config_parse_duration_ms("1h", &ms) && ms == 3600000);
        g_assert_false(config_parse_duration_ms("", &ms));
        g_assert_false(config_parse_duration_ms("-1s", &ms));
        g_assert_false(config_parse_duration_ms("5x", &ms));
        g_assert_false(config_parse_duration_ms("99999999h", &ms));
        g_assert_true(config_parse_bool("On", &b) && b);
        g_assert_true(config_parse_bool("0", &b) && !b);
        g_assert_false(config_parse_bool("maybe", &b));
        g_assert_cmpstr(notify_mode_name(NOTIFY_MODE_HEALTHY), ==, "healthy");
}

static void test_command_line(void)
{
        VigilSettings s = { 0 };
        g_autoptr(GOptionContext) ctx = g_option_context_new(NULL);
        char *args[] = { "vigil", "--start", "--sdnotify-mode=ignore", "--sdnotify-fdstore=false",
                         "--health-retries", "5", NULL };
        char **argv = args;
        int argc = G_N_ELEMENTS(args) - 1;

        clear_env();
        g_option_context_add_group(ctx, config_file_option_group(&s));
        g_assert_true(g_option_context_parse(ctx, &argc, &argv, NULL));
        g_assert_true(config_file_resolve(&s, NULL));
        g_assert_true(s.start);
        g_assert_cmpint(s.notify_mode, ==, NOTIFY_MODE_IGNORE);
        g_assert_false(s.notify_fdstore);
        g_assert_cmpuint(s.health_retries, ==, 5);
        config_file_clear(&s);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/config_file/defaults", test_defaults);
        g_test_add_func("/config_file/precedence", test_precedence);
        g_test_add_func("/config_file/errors", test_errors);
        g_test_add_func("/config_file/load-data", test_load_data);
        g_test_add_func("/config_file/parsers", test_parsers);
        g_test_add_func("/config_file/command_line", test_command_line);
        return g_test_run();
}
