/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include "runtime.h"

static VigilConfig base(void)
{
        static char *args[] = { "--log-format=json", "--log", "/r/oci-log", NULL };
        static char *opts[] = { "--preserve-fds", "2", NULL };

        return (VigilConfig) {
                .cid = "cid", .runtime = "/usr/bin/runc", .bundle = "/b", .container_pidfile = "/r/pidfile",
                .runtime_args = args, .runtime_opts = opts,
        };
}

static void assert_argv(char **argv, const char *expected)
{
        g_autofree char *joined = g_strjoinv(" ", argv);
        g_assert_cmpstr(joined, ==, expected);
        g_strfreev(argv);
}

static void test_create(void)
{
        VigilConfig c = base();
        c.systemd_cgroup = TRUE;
        c.no_pivot = TRUE;
        c.no_new_keyring = TRUE;
        assert_argv(runtime_build_argv(&c, NULL),
                    "/usr/bin/runc --systemd-cgroup --log-format=json --log /r/oci-log create --bundle /b "
                    "--pid-file /r/pidfile --no-pivot --no-new-keyring --preserve-fds 2 cid");
}

static void test_create_tty(void)
{
        VigilConfig c = base();
        assert_argv(runtime_build_argv(&c, "/t/console.sock"),
                    "/usr/bin/runc --log-format=json --log /r/oci-log create --bundle /b --pid-file /r/pidfile "
                    "--preserve-fds 2 --console-socket /t/console.sock cid");
}

static void test_restore(void)
{
        VigilConfig c = base();
        c.restore = "/b/checkpoint";
        assert_argv(runtime_build_argv(&c, NULL),
                    "/usr/bin/runc --log-format=json --log /r/oci-log restore --bundle /b --pid-file /r/pidfile "
                    "--detach --image-path /b/checkpoint --work-path /b --preserve-fds 2 cid");
}

static void test_exec(void)
{
        VigilConfig c = base();
        c.exec = TRUE;
        c.systemd_cgroup = TRUE; /* create/restore only */
        c.exec_process_spec = "/s/exec-process-1";
        c.container_pidfile = "/s/exec_pid";
        assert_argv(runtime_build_argv(&c, NULL),
                    "/usr/bin/runc --log-format=json --log /r/oci-log exec --pid-file /s/exec_pid --process "
                    "/s/exec-process-1 --detach --preserve-fds 2 cid");
}

static void test_start(void)
{
        VigilConfig c = base();
        assert_argv(runtime_build_start_argv(&c), "/usr/bin/runc --log-format=json --log /r/oci-log start cid");
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/runtime/create", test_create);
        g_test_add_func("/runtime/create-tty", test_create_tty);
        g_test_add_func("/runtime/restore", test_restore);
        g_test_add_func("/runtime/exec", test_exec);
        g_test_add_func("/runtime/start", test_start);
        return g_test_run();
}
