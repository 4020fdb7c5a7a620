/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include "ctl_fifo.h"

static void test_valid(void)
{
        const char *err = NULL;
        int t, r, c;

        g_assert_true(ctl_parse_line("1 33 101", &t, &r, &c, &err));
        g_assert_cmpint(t, ==, 1);
        g_assert_cmpint(r, ==, 33);
        g_assert_cmpint(c, ==, 101);
        g_assert_true(ctl_parse_line("2 0 0", &t, &r, &c, &err));
        g_assert_cmpint(t, ==, 2);
        g_assert_true(ctl_parse_line("1 0010 20 extra", &t, &r, &c, &err));
        g_assert_cmpint(r, ==, 10);
}

static void test_invalid(void)
{
        static const char *bad[] = { "", "1", "1 2", "x 1 2", "1 -5 10", "1 10 -5", "1 a b", "1 10.5 3",
                                     "1 0x10 3", "1 99999999999999999999 3", "1 70000 3", "7 1 1",
                                     "-1 2 3", "99999999999 1 1" };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                const char *err = NULL;
                int t, r, c;
                if (ctl_parse_line(bad[i], &t, &r, &c, &err))
                        g_error("\"%s\" was accepted", bad[i]);
                g_assert_nonnull(err);
        }
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ctl/valid", test_valid);
        g_test_add_func("/ctl/invalid", test_invalid);
        return g_test_run();
}
