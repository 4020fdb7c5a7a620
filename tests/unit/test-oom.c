/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include "oom.h"

static void test_cgroup_dir_v1_hybrid(void)
{
        gboolean v2 = TRUE;
        g_autofree char *dir = oom_cgroup_dir("12:pids:/libpod_parent/libpod-abc\n"
                                              "4:memory:/libpod_parent/libpod-abc\n"
                                              "0::/libpod_parent/libpod-abc\n",
                                              &v2);
        g_assert_cmpstr(dir, ==, "/sys/fs/cgroup/memory/libpod_parent/libpod-abc");
        g_assert_false(v2);
}

static void test_cgroup_dir_v1_joined_controllers(void)
{
        gboolean v2 = TRUE;
        g_autofree char *dir = oom_cgroup_dir("5:cpu,memory:/x\n", &v2);
        g_assert_cmpstr(dir, ==, "/sys/fs/cgroup/memory/x");
}

static void test_cgroup_dir_v2(void)
{
        gboolean v2 = FALSE;
        g_autofree char *dir = oom_cgroup_dir("0::/machine.slice/libpod-abc.scope\n", &v2);
        g_assert_cmpstr(dir, ==, "/sys/fs/cgroup/machine.slice/libpod-abc.scope");
        g_assert_true(v2);
        g_assert_null(oom_cgroup_dir("garbage\n", &v2));
}

static void test_kill_count(void)
{
        guint64 n = 0;
        g_assert_true(oom_parse_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", &n));
        g_assert_cmpuint(n, ==, 3);
        g_assert_true(oom_parse_kill_count("low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\noom_group_kill 0\n", &n));
        g_assert_cmpuint(n, ==, 1);
        g_assert_false(oom_parse_kill_count("oom_kill_disable 0\nunder_oom 0\n", &n));
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/oom/cgroup-dir-v1-hybrid", test_cgroup_dir_v1_hybrid);
        g_test_add_func("/oom/cgroup-dir-v1-joined", test_cgroup_dir_v1_joined_controllers);
        g_test_add_func("/oom/cgroup-dir-v2", test_cgroup_dir_v2);
        g_test_add_func("/oom/kill-count", test_kill_count);
        return g_test_run();
}
