/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include <string.h>
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

static void collect(const char *line, gpointer data)
{
        g_ptr_array_add(data, g_strdup(line));
}

/* Lines split across reads at every possible point come out whole, in order. */
static void test_line_assembly(void)
{
        static const char text[] = "1 24 80\n2 0 0\n\n1 1 1\npartial";
        size_t len = strlen(text);

        for (size_t cut = 0; cut <= len; cut++) {
                g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
                g_autoptr(GString) line = g_string_new(NULL);
                ctl_line_feed(line, text, cut, collect, lines);
                ctl_line_feed(line, text + cut, len - cut, collect, lines);
                g_assert_cmpuint(lines->len, ==, 4);
                g_assert_cmpstr(lines->pdata[0], ==, "1 24 80");
                g_assert_cmpstr(lines->pdata[1], ==, "2 0 0");
                g_assert_cmpstr(lines->pdata[2], ==, "");
                g_assert_cmpstr(lines->pdata[3], ==, "1 1 1");
                g_assert_cmpstr(line->str, ==, "partial");
        }
}

/* An over-long line is cut at CTL_LINE_MAX and ends at its newline; the next one is intact. */
static void test_line_too_long(void)
{
        g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GString) line = g_string_new(NULL);
        g_autofree char *long_line = g_strnfill(3 * CTL_LINE_MAX, '7');

        for (int i = 0; i < 3; i++)
                ctl_line_feed(line, long_line, CTL_LINE_MAX, collect, lines);
        g_assert_cmpuint(line->len, ==, CTL_LINE_MAX);
        ctl_line_feed(line, "\n1 2 3\n", 7, collect, lines);
        g_assert_cmpuint(lines->len, ==, 2);
        g_assert_cmpuint(strlen(lines->pdata[0]), ==, CTL_LINE_MAX);
        g_assert_cmpstr(lines->pdata[1], ==, "1 2 3");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ctl/valid", test_valid);
        g_test_add_func("/ctl/invalid", test_invalid);
        g_test_add_func("/ctl/line-assembly", test_line_assembly);
        g_test_add_func("/ctl/line-too-long", test_line_too_long);
        return g_test_run();
}
