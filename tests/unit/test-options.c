/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include "options.h"

#define CID "0123456789abcdef0123"

/* Parses a NULL-terminated argv; returns the error message or NULL. */
static char *parse(VigilConfig *cfg, const char *first, ...)
{
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        va_list ap;

        g_ptr_array_add(argv, "conmon");
        va_start(ap, first);
        for (const char *a = first; a; a = va_arg(ap, const char *))
                g_ptr_array_add(argv, (char *) a);
        va_end(ap);
        g_ptr_array_add(argv, NULL);
        *cfg = (VigilConfig) { 0 };
        if (config_parse(cfg, argv->len - 1, (char **) argv->pdata, &error))
                return NULL;
        return g_strdup(error->message);
}

static void test_podman_argv(void)
{
        VigilConfig c;
        g_autofree char *err = parse(&c, "--api-version", "1", "-c", CID, "-u", CID, "-r", "/bin/true", "-b", "/b",
                                     "-p", "/r/pidfile", "-n", "web", "--exit-dir", "/x", "--full-attach", "-l",
                                     "k8s-file:/b/ctr.log", "--log-level", "warning", "--runtime-arg",
                                     "--log-format=json", "--runtime-arg", "--log", "--runtime-arg=/r/oci-log",
                                     "--conmon-pidfile", "/r/conmon.pid", "--exit-command", "/usr/bin/podman",
                                     "--exit-command-arg", "--network-config-dir", "--exit-command-arg", "",
                                     "--exit-command-arg", "cleanup", NULL);
        g_assert_null(err);
        g_assert_true(c.api_version);
        g_assert_cmpstr(c.cid, ==, CID);
        g_assert_cmpstr(c.log_k8s_path, ==, "/b/ctr.log");
        g_assert_cmpuint(g_strv_length(c.runtime_args), ==, 3);
        g_assert_cmpstr(c.runtime_args[2], ==, "/r/oci-log");
        g_assert_cmpuint(g_strv_length(c.exit_command_args), ==, 3);
        g_assert_cmpstr(c.exit_command_args[1], ==, "");
        g_assert_cmpstr(config_sync_key(&c), ==, "data");
        config_clear(&c);
}

static void test_base_detected_integers(void)
{
        VigilConfig c;
        g_autofree char *err = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "none", "--timeout", "0x10",
                                     "--log-size-max", "010", "--exit-delay", "3", NULL);
        g_assert_null(err);
        g_assert_cmpint(c.timeout, ==, 16);
        g_assert_cmpint(c.log_size_max, ==, 8);
        config_clear(&c);
}

static void test_repeated_and_aliases(void)
{
        VigilConfig c;
        g_autofree char *err = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "k8s-file:/a", "-l",
                                     "journald", "-l", "/b", "--restore-arg", "x", "--runtime-opt", "y",
                                     "--pidfile", "/p", "--name", "one", "--name", "two", NULL);
        g_assert_null(err);
        g_assert_cmpstr(c.log_k8s_path, ==, "/b"); /* only one k8s file: the last */
        g_assert_true(c.log_journald);
        g_assert_cmpstr(c.runtime_opts[0], ==, "x");
        g_assert_cmpstr(c.runtime_opts[1], ==, "y");
        g_assert_cmpstr(c.container_pidfile, ==, "/p");
        g_assert_cmpstr(c.name, ==, "two");
        config_clear(&c);
}


static void test_validation_messages(void)
{
        static const struct {
                const char *args[12];
                const char *message;
        } cases[] = {
                { { "-u", CID, "-r", "/bin/true", "-l", "none" }, "Container ID not provided. Use --cid" },
                { { "-c", CID, "-r", "/bin/true", "-l", "none" }, "Container UUID not provided. Use --cuuid" },
                { { "-c", CID, "-u", CID, "-l", "none" }, "Runtime path not provided. Use --runtime" },
                { { "-c", CID, "-u", CID, "-r", "/nonexistent", "-l", "none" }, "Runtime path /nonexistent is not valid" },
                { { "-c", CID, "-u", CID, "-r", "/bin/true" }, "Log driver not provided. Use --log-path" },
                { { "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "k8s-file" }, "k8s-file requires a filename" },
                { { "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "syslog:/x" }, "No such log driver syslog" },
                { { "-c", CID, "-u", CID, "-r", "/bin/true", "-l", ":" }, "log-path must not be empty" },
                { { "-c", "short", "-u", CID, "-r", "/bin/true", "-l", "journald" },
                  "Container ID must be longer than 12 characters" },
                { { "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "/x", "--log-tag", "t" },
                  "k8s-file doesn't support --log-tag" },
                { { "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "none", "--log-level", "loud" },
                  "No such log level loud" },
                { { "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "none", "--exec-attach" },
                  "Attach can only be specified with exec" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                const char *const *a = cases[i].args;
                VigilConfig c;
                g_autofree char *err = parse(&c, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], NULL);
                g_assert_nonnull(err);
                if (!g_str_has_prefix(err, cases[i].message))
                        g_error("case %zu: got \"%s\", expected \"%s\"", i, err, cases[i].message);
                config_clear(&c);
        }
}

static void test_more_validation(void)
{
        VigilConfig c;
        g_autofree char *e1 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "none", "--log-rotate",
                                    "--log-max-files", "0", NULL);
        g_assert_cmpstr(e1, ==, "log-max-files must be at least 1 when log-rotate is enabled, got 0");
        config_clear(&c);
        g_autofree char *e2 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "journald", "--log-label",
                                    "lower=x", NULL);
        g_assert_true(g_str_has_prefix(e2, "Container label names must contain only uppercase"));
        config_clear(&c);
        g_autofree char *e3 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "none", "--timeout", "abc",
                                    NULL);
        g_assert_nonnull(strstr(e3, "abc"));
        config_clear(&c);
        g_autofree char *e4 = parse(&c, "--bogus", NULL);
        g_assert_nonnull(strstr(e4, "--bogus"));
        config_clear(&c);
        g_autofree char *e5 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "none", "--log-max-files",
                                    "2147483648", NULL);
        g_assert_nonnull(strstr(e5, "out of range"));
        config_clear(&c);
}

/* podman 4.3.1 cannot pass --log-rotate: VIGIL_LOG_* stand in, the conmon options win, and a
 * setting rotates only logs that have a size limit. */
static void test_log_rotation_settings(void)
{
        VigilConfig c;
        g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL;

        g_setenv("VIGIL_CONFIG", "", TRUE);
        e1 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "/l", "--log-size-max", "1000", NULL);
        g_assert_null(e1);
        g_assert_false(c.log_rotate);
        g_assert_cmpint(c.log_max_files, ==, 1);
        config_clear(&c);
        g_setenv("VIGIL_LOG_ROTATE", "yes", TRUE);
        g_setenv("VIGIL_LOG_MAX_FILES", "4", TRUE);
        e2 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "/l", "--log-size-max", "1000", NULL);
        g_assert_null(e2);
        g_assert_true(c.log_rotate);
        g_assert_true(c.log_rotate_from_settings);
        g_assert_cmpint(c.log_max_files, ==, 4);
        config_clear(&c);
        e3 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "/l", "--log-max-files", "2", NULL);
        g_assert_null(e3);
        g_assert_false(c.log_rotate); /* no size limit */
        g_assert_cmpint(c.log_max_files, ==, 2);
        config_clear(&c);
        g_setenv("VIGIL_LOG_MAX_FILES", "0", TRUE);
        e4 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "/l", "--log-size-max", "1000", NULL);
        g_assert_cmpstr(e4, ==, "VIGIL_LOG_MAX_FILES ([log] max-files) must be at least 1 when logs rotate, got 0");
        config_clear(&c);
        /* conmon's order: the log-max-files check comes before the container id one. */
        e5 = parse(&c, "--log-rotate", "--log-max-files", "0", NULL);
        g_assert_cmpstr(e5, ==, "log-max-files must be at least 1 when log-rotate is enabled, got 0");
        config_clear(&c);
        g_unsetenv("VIGIL_LOG_ROTATE");
        g_unsetenv("VIGIL_LOG_MAX_FILES");
}

/* conmon's messages, word for word, in conmon's order of checks. */
static void test_log_label_messages(void)
{
        static const struct {
                const char *label;
                const char *message;
        } cases[] = {
                { "=value", "Container labels must be in format LABEL=VALUE (no LABEL present in '=value')" },
                { "=", "Container labels must be in format LABEL=VALUE (no LABEL present in '=')" },
                { "NAME", "Container labels must be in format LABEL=VALUE (none or more than one '=' present in 'NAME')" },
                { "A=b=c", "Container labels must be in format LABEL=VALUE (none or more than one '=' present in 'A=b=c')" },
                { "a=b", "Container label names must contain only uppercase letters, numbers and underscore (in 'a=b')" },
                { "A_1=", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                VigilConfig c;
                g_autofree char *err = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "journald",
                                             "--log-label", cases[i].label, NULL);
                g_assert_cmpstr(err, ==, cases[i].message);
                config_clear(&c);
        }
}

static void test_partial_message_needs_journald(void)
{
        VigilConfig c;
        g_autofree char *e1 = NULL, *e2 = NULL;

        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING,
                              "--no-container-partial-message has no effect without journald log driver");
        e1 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "/l", "--no-container-partial-message", NULL);
        g_test_assert_expected_messages();
        g_assert_null(e1);
        config_clear(&c);
        /* With journald: no warning (an unexpected one would abort the test). */
        e2 = parse(&c, "-c", CID, "-u", CID, "-r", "/bin/true", "-l", "/l", "-l", "journald",
                   "--no-container-partial-message", NULL);
        g_assert_null(e2);
        g_assert_true(c.no_container_partial_message);
        config_clear(&c);
}

static void test_legacy_exec_needs_no_cuuid(void)
{
        VigilConfig c;
        g_autofree char *err = parse(&c, "-c", CID, "-r", "/bin/true", "-l", "none", "-e", "--exec-process-spec",
                                     "/s", NULL);
        g_assert_null(err);
        g_assert_cmpstr(config_sync_key(&c), ==, "exit_code");
        config_clear(&c);
}

static void test_version_short_circuits(void)
{
        VigilConfig c;
        g_autofree char *err = parse(&c, "--version", NULL);
        g_assert_null(err);
        g_assert_true(c.version);
        config_clear(&c);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/options/podman-argv", test_podman_argv);
        g_test_add_func("/options/base-detected-integers", test_base_detected_integers);
        g_test_add_func("/options/repeated-and-aliases", test_repeated_and_aliases);
        g_test_add_func("/options/validation-messages", test_validation_messages);
        g_test_add_func("/options/more-validation", test_more_validation);
        g_test_add_func("/options/legacy-exec", test_legacy_exec_needs_no_cuuid);
        g_test_add_func("/options/log-label-messages", test_log_label_messages);
        g_test_add_func("/options/partial-message-needs-journald", test_partial_message_needs_journald);
        g_test_add_func("/options/log-rotation-settings", test_log_rotation_settings);
        g_test_add_func("/options/version", test_version_short_circuits);
        return g_test_run();
}
