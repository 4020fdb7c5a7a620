/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "notify_policy.h"

static const NotifyPolicy defaults = { 0 };
static const NotifyPolicy everything = { .watchdog_usec = TRUE, .fdstore = TRUE };

/* Filter @in (NUL-terminated) and return the relayed text; @ret gets the details. */
static char *filter(const NotifyPolicy *p, const char *in, size_t n_fds, NotifyFiltered *ret,
                    NotifyLineCounters *c)
{
        char out[NOTIFY_DATAGRAM_MAX];
        NotifyFiltered f;

        g_assert_cmpint(notify_policy_filter(p, in, strlen(in), n_fds, out, &f, c), ==, 0);
        if (ret)
                *ret = f;
        return g_strndup(out, f.out_len);
}

static void check(const NotifyPolicy *p, const char *in, const char *expected)
{
        g_autofree char *out = filter(p, in, 0, NULL, NULL);

        if (!g_str_equal(out, expected))
                g_error("filter(\"%s\") = \"%s\", expected \"%s\"", g_strescape(in, NULL), g_strescape(out, NULL),
                        g_strescape(expected, NULL));
}

static void test_always_relayed(void)
{
        static const char *keep[] = {
                "READY=1", "RELOADING=1", "STOPPING=1", "STATUS=Serving 3 clients", "STATUS=", "ERRNO=0",
                "ERRNO=2147483647", "BUSERROR=org.freedesktop.DBus.Error.TimedOut", "BUSERROR=a._b",
                "VARLINKERROR=io.systemd.Foo.NoSuchThing", "VARLINKERROR=org.example-x.Err", "WATCHDOG=1",
                "WATCHDOG=trigger", "EXTEND_TIMEOUT_USEC=0", "EXTEND_TIMEOUT_USEC=18446744073709551615",
                "MONOTONIC_USEC=123456789", "X_FOO=bar", "X_A1_B=with = signs", "X_EMPTY=", "STATUS=ünïcødé ✓",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(keep); i++)
                check(&defaults, keep[i], keep[i]);
}

static void test_never_relayed(void)
{
        static const char *drop[] = {
                "MAINPID=1", "MAINPIDFD=1", "MAINPIDFDID=1234", "NOTIFYACCESS=all", "BARRIER=1",
                "EXIT_STATUS=3", "RESTART_RESET=1", "FOO=1", "ready=1", "READY", "=1", "X_=1", "X_-A=1", "",
                "\n\n",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(drop); i++) {
                check(&defaults, drop[i], "");
                check(&everything, drop[i], "");
        }
}

static void test_invalid_values(void)
{
        static const char *bad[] = {
                "READY=0", "READY=2", "READY=", "READY=1 ", "RELOADING=yes", "STOPPING=true", "WATCHDOG=0",
                "WATCHDOG=triggered", "WATCHDOG=", "ERRNO=-1", "ERRNO=abc", "ERRNO=2147483648", "ERRNO=",
                "EXTEND_TIMEOUT_USEC=-5", "EXTEND_TIMEOUT_USEC=18446744073709551616", "EXTEND_TIMEOUT_USEC=1e6",
                "EXTEND_TIMEOUT_USEC= 5", "MONOTONIC_USEC=", "MONOTONIC_USEC=0x10", "BUSERROR=nodots",
                "BUSERROR=a..b", "BUSERROR=.a.b", "BUSERROR=a.b.", "BUSERROR=1a.b", "BUSERROR=a.b-c",
                "VARLINKERROR=x", "STATUS=tab\there", "STATUS=cr\r", "STATUS=bell\a", "STATUS=del\x7f",
                "STATUS=\xff\xfe", "STATUS=\xc3", "X_FOO=\x01",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                NotifyLineCounters c = { 0 };
                NotifyFiltered f;
                g_autofree char *out = filter(&everything, bad[i], 0, &f, &c);
                if (*out)
                        g_error("\"%s\" was relayed", g_strescape(bad[i], NULL));
                g_assert_cmpuint(f.invalid, ==, 1);
                g_assert_cmpuint(f.dropped, ==, 1);
                g_assert_cmpuint(c.invalid[notify_key_of_line(bad[i], strlen(bad[i]))], ==, 1);
        }
        /* 255 characters is the longest D-Bus name. */
        {
                g_autofree char *name = g_strnfill(300, 'a');
                g_autofree char *line = NULL;
                name[100] = '.';
                line = g_strdup_printf("BUSERROR=%s", name);
                check(&defaults, line, "");
        }
}

static void test_every_line_counts(void)
{
        NotifyFiltered f;
        g_autofree char *out = filter(&defaults, "STATUS=x\nREADY=1", 0, &f, NULL);

        /* runc looks only at the start of the datagram and loses this READY. */
        g_assert_cmpstr(out, ==, "STATUS=x\nREADY=1");
        g_assert_true(f.flags & NOTIFY_FLAG_READY);
        g_assert_true(f.flags & NOTIFY_FLAG_STATUS);
        check(&defaults, "MAINPID=1\nREADY=1\nNOTIFYACCESS=all\nSTATUS=s", "READY=1\nSTATUS=s");
        check(&defaults, "\nREADY=1\n\n", "READY=1");
        check(&defaults, "READY=0\nREADY=1", "READY=1");
        check(&defaults, "FOO\nERRNO=x\nERRNO=5", "ERRNO=5");
}

static void test_reloading_kept_together(void)
{
        NotifyFiltered f;
        g_autofree char *out = filter(&defaults, "RELOADING=1\nMONOTONIC_USEC=42\nMAINPID=3", 0, &f, NULL);

        g_assert_cmpstr(out, ==, "RELOADING=1\nMONOTONIC_USEC=42");
        g_assert_true(f.flags & NOTIFY_FLAG_RELOADING);
        g_assert_false(f.mergeable);
}

static void test_optional_keys(void)
{
        check(&defaults, "WATCHDOG_USEC=1000000", "");
        check(&everything, "WATCHDOG_USEC=1000000", "WATCHDOG_USEC=1000000");
        check(&everything, "WATCHDOG_USEC=1s", "");
        check(&defaults, "FDSTORE=1\nFDNAME=db\nSTATUS=s", "STATUS=s");
        check(&everything, "FDSTORE=1\nFDNAME=db", "FDSTORE=1\nFDNAME=db");
        check(&everything, "FDSTOREREMOVE=1\nFDNAME=db", "FDSTOREREMOVE=1\nFDNAME=db");
        check(&everything, "FDPOLL=0", "FDPOLL=0");
        check(&everything, "FDPOLL=1", "FDPOLL=1");
        check(&everything, "FDPOLL=2", "");
        check(&everything, "FDSTORE=0", "");
}

static void test_fdname_rules(void)
{
        g_autofree char *long_ok = g_strnfill(NOTIFY_FDNAME_MAX, 'n');
        g_autofree char *too_long = g_strnfill(NOTIFY_FDNAME_MAX + 1, 'n');

        g_assert_true(notify_value_is_fdname("web-1 sock", 10));
        g_assert_true(notify_value_is_fdname(long_ok, strlen(long_ok)));
        g_assert_false(notify_value_is_fdname(too_long, strlen(too_long)));
        g_assert_false(notify_value_is_fdname("", 0));
        g_assert_false(notify_value_is_fdname("a:b", 3));
        g_assert_false(notify_value_is_fdname("a\tb", 3));
        g_assert_false(notify_value_is_fdname("caf\xc3\xa9", 5));
        check(&everything, "FDSTORE=1\nFDNAME=a:b", "FDSTORE=1");
}

static void test_fds(void)
{
        NotifyFiltered f;
        g_autofree char *a = filter(&everything, "FDSTORE=1\nFDNAME=x", 2, &f, NULL);
        g_autofree char *b = NULL;
        g_autofree char *c = NULL;
        g_autofree char *d = NULL;

        g_assert_true(f.pass_fds);
        g_assert_false(f.mergeable);
        b = filter(&defaults, "FDSTORE=1\nSTATUS=x", 2, &f, NULL);
        g_assert_false(f.pass_fds);
        g_assert_cmpstr(b, ==, "STATUS=x");
        /* fds without FDSTORE=1 are never passed on */
        c = filter(&everything, "STATUS=x", 1, &f, NULL);
        g_assert_false(f.pass_fds);
        g_assert_false(f.barrier);
        d = filter(&everything, "FDSTORE=1", NOTIFY_FDS_MAX + 1, &f, NULL);
        g_assert_false(f.pass_fds);
}

static void test_barrier(void)
{
        NotifyLineCounters c = { 0 };
        NotifyFiltered f;
        g_autofree char *a = filter(&defaults, "BARRIER=1", 1, &f, &c);
        g_autofree char *b = NULL;
        g_autofree char *d = NULL;
        g_autofree char *e = NULL;

        g_assert_true(f.barrier);
        g_assert_cmpuint(f.out_len, ==, 0);
        g_assert_cmpuint(c.relayed[NOTIFY_KEY_BARRIER], ==, 1);
        /* Not alone, or not exactly one fd: no barrier, and BARRIER itself is never relayed. */
        b = filter(&defaults, "BARRIER=1\nSTATUS=x", 1, &f, &c);
        g_assert_false(f.barrier);
        g_assert_cmpstr(b, ==, "STATUS=x");
        d = filter(&defaults, "BARRIER=1", 0, &f, &c);
        g_assert_false(f.barrier);
        g_assert_cmpstr(d, ==, "");
        e = filter(&defaults, "BARRIER=1", 2, &f, &c);
        g_assert_false(f.barrier);
        g_assert_cmpuint(c.dropped[NOTIFY_KEY_BARRIER], ==, 3);
        g_free(filter(&defaults, "BARRIER=1\n", 1, &f, &c));
        g_assert_true(f.barrier);
}

static void test_size_limit(void)
{
        char in[NOTIFY_DATAGRAM_MAX + 2];
        char out[NOTIFY_DATAGRAM_MAX + 2];
        NotifyFiltered f;

        memcpy(in, "STATUS=", 7);
        memset(in + 7, 'x', sizeof(in) - 7);
        g_assert_cmpint(notify_policy_filter(&defaults, in, NOTIFY_DATAGRAM_MAX + 1, 0, out, &f, NULL), ==,
                        -EMSGSIZE);
        g_assert_cmpint(notify_policy_filter(&defaults, in, NOTIFY_DATAGRAM_MAX, 0, out, &f, NULL), ==, 0);
        g_assert_cmpuint(f.out_len, ==, NOTIFY_DATAGRAM_MAX);
}

static void test_embedded_nul(void)
{
        static const char in[] = "STATUS=a\0b\nREADY=1";
        char out[sizeof(in)];
        NotifyFiltered f;

        g_assert_cmpint(notify_policy_filter(&defaults, in, sizeof(in) - 1, 0, out, &f, NULL), ==, 0);
        g_assert_cmpuint(f.out_len, ==, 7);
        g_assert_cmpmem(out, 7, "READY=1", 7);
        g_assert_cmpuint(f.invalid, ==, 1);
}

static void test_counters(void)
{
        NotifyLineCounters c = { 0 };
        NotifyFiltered f;

        g_free(filter(&defaults, "READY=1\nSTATUS=a\nSTATUS=\x01\nMAINPID=4\nFOO=1\nX_A=1", 0, &f, &c));
        g_assert_cmpuint(f.kept, ==, 3);
        g_assert_cmpuint(f.dropped, ==, 3);
        g_assert_cmpuint(f.invalid, ==, 1);
        g_assert_cmpuint(c.relayed[NOTIFY_KEY_READY], ==, 1);
        g_assert_cmpuint(c.relayed[NOTIFY_KEY_STATUS], ==, 1);
        g_assert_cmpuint(c.relayed[NOTIFY_KEY_X], ==, 1);
        g_assert_cmpuint(c.dropped[NOTIFY_KEY_STATUS], ==, 1);
        g_assert_cmpuint(c.invalid[NOTIFY_KEY_STATUS], ==, 1);
        g_assert_cmpuint(c.dropped[NOTIFY_KEY_MAINPID], ==, 1);
        g_assert_cmpuint(c.dropped[NOTIFY_KEY_OTHER], ==, 1);
        g_assert_cmpuint(c.invalid[NOTIFY_KEY_OTHER], ==, 0);
        g_assert_cmpstr(notify_key_name(NOTIFY_KEY_X), ==, "X_");
        g_assert_cmpstr(notify_key_name(NOTIFY_KEY_EXTEND_TIMEOUT_USEC), ==, "EXTEND_TIMEOUT_USEC");
        g_assert_cmpstr(notify_key_name(NOTIFY_KEY_OTHER), ==, "OTHER");
}

static void test_flags_and_mergeable(void)
{
        static const struct {
                const char *in;
                unsigned flags;
                gboolean mergeable;
        } cases[] = {
                { "STATUS=a", NOTIFY_FLAG_STATUS, TRUE },
                { "WATCHDOG=1\nSTATUS=a\nX_Y=1\nERRNO=3", NOTIFY_FLAG_STATUS | NOTIFY_FLAG_WATCHDOG, TRUE },
                { "WATCHDOG=trigger", NOTIFY_FLAG_WATCHDOG_TRIGGER, FALSE },
                { "READY=1\nSTATUS=a", NOTIFY_FLAG_READY | NOTIFY_FLAG_STATUS, FALSE },
                { "STOPPING=1", NOTIFY_FLAG_STOPPING, FALSE },
                { "EXTEND_TIMEOUT_USEC=10", 0, TRUE },
                { "MAINPID=1", 0, FALSE },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                NotifyFiltered f;
                g_free(filter(&defaults, cases[i].in, 0, &f, NULL));
                g_assert_cmpuint(f.flags, ==, cases[i].flags);
                g_assert_cmpint(f.mergeable, ==, cases[i].mergeable);
        }
}

static void test_merge(void)
{
        size_t len;
        g_autofree char *a = notify_policy_merge("STATUS=a\nX_K=1", 14, "STATUS=b", 8, &len);
        g_autofree char *b = notify_policy_merge("WATCHDOG=1", 10, "STATUS=b\nWATCHDOG=1", 19, &len);
        g_autofree char *big = g_strnfill(4000, 'x');
        g_autofree char *c = NULL;

        g_assert_cmpstr(a, ==, "X_K=1\nSTATUS=b");
        g_assert_cmpstr(b, ==, "STATUS=b\nWATCHDOG=1");
        g_assert_cmpuint(len, ==, 19);
        memcpy(big, "X_A=", 4);
        memcpy(big + 2000, "\nX_B=", 5);
        c = notify_policy_merge(big, 4000, "X_C=123456789012345678901234567890123456789012345678901234567890123456789"
                                           "01234567890123456789012345678901234567890",
                                114, &len);
        g_assert_null(c);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/notify_policy/always_relayed", test_always_relayed);
        g_test_add_func("/notify_policy/never_relayed", test_never_relayed);
        g_test_add_func("/notify_policy/invalid_values", test_invalid_values);
        g_test_add_func("/notify_policy/every_line_counts", test_every_line_counts);
        g_test_add_func("/notify_policy/reloading_kept_together", test_reloading_kept_together);
        g_test_add_func("/notify_policy/optional_keys", test_optional_keys);
        g_test_add_func("/notify_policy/fdname_rules", test_fdname_rules);
        g_test_add_func("/notify_policy/fds", test_fds);
        g_test_add_func("/notify_policy/barrier", test_barrier);
        g_test_add_func("/notify_policy/size_limit", test_size_limit);
        g_test_add_func("/notify_policy/embedded_nul", test_embedded_nul);
        g_test_add_func("/notify_policy/counters", test_counters);
        g_test_add_func("/notify_policy/flags_and_mergeable", test_flags_and_mergeable);
        g_test_add_func("/notify_policy/merge", test_merge);
        return g_test_run();
}
