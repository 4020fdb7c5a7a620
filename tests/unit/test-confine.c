/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The run phase's confinement and the spawner, each test in a subprocess of its own (a filter
 * cannot be taken back): what is refused, what is still allowed, what the spawner still runs
 * for a confined monitor, and that it runs nothing but its fixed commands.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confine.h"
#include "spawner.h"

static char *status_field(const char *name)
{
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;

        g_assert_true(g_file_get_contents("/proc/self/status", &text, NULL, NULL));
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                if (g_str_has_prefix(*l, name) && (*l)[strlen(name)] == ':')
                        return g_strdup(g_strstrip(*l + strlen(name) + 1));
        return NULL;
}

static void iterate(void)
{
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static int fd_count(void)
{
        g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
        int n = 0;

        while (g_dir_read_name(dir))
                n++;
        return n;
}

/* Runs the current test's @body in a child test process: a filter cannot be taken back. */
static void in_subprocess(void (*body)(void))
{
        if (g_test_subprocess()) {
                body();
                /* Not through exit(): LeakSanitizer's exit-time check (sanitizer builds)
                 * clones a tracer with every signal blocked, which the filter refuses. */
                fflush(NULL);
                _exit(g_test_failed() ? 1 : 0);
        }
        g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
        g_test_trap_assert_passed();
}

static void enforced_body(void)
{
        char *argv[] = { "/bin/true", NULL };
        g_autoptr(Confinement) c = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *seccomp = NULL;
        g_autofree char *nnp = NULL;
        int sv[2];

        g_assert_true(confine_apply(SECCOMP_MODE_ENFORCE, &c, &error));
        g_assert_no_error(error);
        g_assert_nonnull(c);
        seccomp = status_field("Seccomp");
        nnp = status_field("NoNewPrivs");
        g_assert_cmpstr(seccomp, ==, "2");
        g_assert_cmpstr(nnp, ==, "1");

        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "seccomp: execve *");
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "seccomp: unshare *");
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "seccomp: mount *");
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "seccomp: ptrace *");
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "seccomp: socket *");
        g_test_expect_message("vigil", G_LOG_LEVEL_WARNING, "seccomp: fork *");
        errno = 0;
        g_assert_cmpint(execve(argv[0], argv, environ), ==, -1);
        g_assert_cmpint(errno, ==, EPERM);
        /* Twice: logged once. */
        g_assert_cmpint(execve(argv[0], argv, environ), ==, -1);
        g_assert_cmpint(unshare(CLONE_NEWNS), ==, -1);
        g_assert_cmpint(errno, ==, EPERM);
        g_assert_cmpint(mount("none", "/", NULL, MS_REMOUNT, NULL), ==, -1);
        g_assert_cmpint(errno, ==, EPERM);
        g_assert_cmpint(ptrace(PTRACE_TRACEME, 0, NULL, NULL), ==, -1);
        g_assert_cmpint(errno, ==, EPERM);
        /* Only unix sockets. */
        g_assert_cmpint(socket(AF_INET, SOCK_STREAM, 0), ==, -1);
        g_assert_cmpint(errno, ==, EPERM);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
        close(sv[0]);
        close(sv[1]);
        /* fork() is clone() in glibc; the raw fork syscall is refused the same way. */
        g_assert_cmpint(syscall(SYS_fork), ==, -1);
        g_assert_cmpint(errno, ==, EPERM);
        iterate();
        g_test_assert_expected_messages();
}

static void test_enforced(void)
{
        in_subprocess(enforced_body);
}

static void capabilities_body(void)
{
        g_autoptr(Confinement) c = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *eff = NULL;
        g_autofree char *bnd = NULL;
        g_autofree char *before = status_field("CapEff");
        /* What the test runs with may lack some of them already (a container's bounding set). */
        guint64 kept = confine_kept_capabilities() & g_ascii_strtoull(before, NULL, 16);

        if (geteuid() != 0) {
                g_test_skip("needs root");
                return;
        }
        g_assert_true(confine_apply(SECCOMP_MODE_ENFORCE, &c, &error));
        eff = status_field("CapEff");
        bnd = status_field("CapBnd");
        g_assert_cmphex(g_ascii_strtoull(eff, NULL, 16), ==, kept);
        g_assert_cmphex(g_ascii_strtoull(bnd, NULL, 16), ==, kept);
}

static void test_capabilities(void)
{
        in_subprocess(capabilities_body);
}

static void log_mode_body(void)
{
        g_autoptr(Confinement) c = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *seccomp = NULL;

        g_assert_true(confine_apply(SECCOMP_MODE_LOG, &c, &error));
        seccomp = status_field("Seccomp");
        g_assert_cmpstr(seccomp, ==, "2");
        /* Not in the list, allowed and left to the kernel's log. */
        g_assert_cmpint(personality(0xffffffff), !=, -1);
}

static void test_log_mode(void)
{
        in_subprocess(log_mode_body);
}

static void off_body(void)
{
        g_autoptr(Confinement) c = NULL;
        g_autoptr(GError) error = NULL;
        g_autofree char *seccomp = NULL;

        g_assert_true(confine_apply(SECCOMP_MODE_OFF, &c, &error));
        g_assert_null(c);
        seccomp = status_field("Seccomp");
        g_assert_cmpstr(seccomp, ==, "0");
}

static void test_off(void)
{
        in_subprocess(off_body);
}

/* --- the spawner --------------------------------------------------------------------------- */

typedef struct {
        int exits;
        SpawnJob job;
        pid_t pid;
        int wstatus;
} Exits;

static void on_exit_cb(SpawnJob job, pid_t pid, int wstatus, gpointer data)
{
        Exits *e = data;

        e->exits++;
        e->job = job;
        e->pid = pid;
        e->wstatus = wstatus;
}

static gboolean wait_exits(Exits *e, int n)
{
        gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        while (e->exits < n && g_get_monotonic_time() < deadline)
                g_main_context_iteration(NULL, TRUE);
        return e->exits >= n;
}

static void spawner_confined_body(void)
{
        char *health[] = { "/bin/sh", "-c", "exit 3", NULL };
        char *start[] = { "/bin/sleep", "60", NULL };
        char *exit_cmd[] = { "/bin/sh", "-c", "exit 5", NULL };
        SpawnCommand commands[SPAWN__MAX] = {
                [SPAWN_START] = { .argv = start },
                [SPAWN_HEALTH] = { .argv = health, .null_stdio = TRUE },
                [SPAWN_EXIT_COMMAND] = { .argv = exit_cmd, .detach = TRUE },
        };
        g_autoptr(Confinement) c = NULL;
        g_autoptr(GError) error = NULL;
        g_autoptr(Spawner) s = NULL;
        Exits e = { 0 };
        pid_t pid = 0, pid2 = 0;
        int wstatus = -1;
        int fds;

        g_assert_cmpint(spawner_new(&s, commands, NULL, on_exit_cb, &e), ==, 0);
        g_assert_nonnull(s);
        /* What the spawner runs was fixed at fork: changing the caller's table changes nothing. */
        health[2] = "exit 0";
        g_assert_true(confine_apply(SECCOMP_MODE_ENFORCE, &c, &error));
        fds = fd_count();

        g_assert_cmpint(spawner_run(s, SPAWN_HEALTH, &pid), ==, 0);
        g_assert_cmpint(pid, >, 0);
        g_assert_true(wait_exits(&e, 1));
        g_assert_cmpint(e.job, ==, SPAWN_HEALTH);
        g_assert_cmpint(e.pid, ==, pid);
        g_assert_true(WIFEXITED(e.wstatus));
        g_assert_cmpint(WEXITSTATUS(e.wstatus), ==, 3);

        /* One instance per job; a kill reaches it and only it. */
        g_assert_cmpint(spawner_run(s, SPAWN_START, &pid), ==, 0);
        g_assert_cmpint(spawner_run(s, SPAWN_START, &pid2), ==, -EBUSY);
        g_assert_cmpint(spawner_kill(s, SPAWN_START), ==, 0);
        g_assert_true(wait_exits(&e, 2));
        g_assert_cmpint(e.pid, ==, pid);
        g_assert_true(WIFSIGNALED(e.wstatus));
        g_assert_cmpint(WTERMSIG(e.wstatus), ==, SIGKILL);

        g_assert_cmpint(spawner_run(s, SPAWN_EXIT_COMMAND, &pid), ==, 0);
        g_assert_cmpint(spawner_wait(s, SPAWN_EXIT_COMMAND, &wstatus), ==, 0);
        g_assert_true(WIFEXITED(wstatus));
        g_assert_cmpint(WEXITSTATUS(wstatus), ==, 5);
        g_assert_cmpint(e.exits, ==, 3);
        /* No fd is left behind by a run. */
        g_assert_cmpint(fd_count(), ==, fds);
}

static void test_spawner_confined(void)
{
        in_subprocess(spawner_confined_body);
}

static void spawner_unavailable_body(void)
{
        char *exit_cmd[] = { "/bin/true", NULL };
        SpawnCommand commands[SPAWN__MAX] = { [SPAWN_EXIT_COMMAND] = { .argv = exit_cmd, .detach = TRUE } };
        SpawnCommand none[SPAWN__MAX] = { { 0 } };
        g_autoptr(Spawner) s = NULL;
        g_autoptr(Spawner) nothing = NULL;
        Exits e = { 0 };
        pid_t pid, spawner;

        g_assert_cmpint(spawner_new(&nothing, none, NULL, on_exit_cb, &e), ==, 0);
        g_assert_null(nothing);
        g_assert_cmpint(spawner_new(&s, commands, NULL, on_exit_cb, &e), ==, 0);
        g_assert_false(spawner_has(s, SPAWN_HEALTH));
        g_assert_cmpint(spawner_run(s, SPAWN_HEALTH, &pid), ==, -EINVAL);
        g_assert_cmpint(spawner_run(s, SPAWN__MAX, &pid), ==, -EINVAL);
        spawner = spawner_pid(s);
        g_assert_cmpint(kill(spawner, 0), ==, 0);
        /* Freed: the spawner exits and is reaped. */
        g_clear_pointer(&s, spawner_free);
        g_assert_cmpint(kill(spawner, 0), ==, -1);
}

static void test_spawner_unavailable(void)
{
        in_subprocess(spawner_unavailable_body);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/confine/enforced", test_enforced);
        g_test_add_func("/confine/capabilities", test_capabilities);
        g_test_add_func("/confine/log", test_log_mode);
        g_test_add_func("/confine/off", test_off);
        g_test_add_func("/spawner/confined", test_spawner_confined);
        g_test_add_func("/spawner/unavailable", test_spawner_unavailable);
        return g_test_run();
}
