/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdutil.h"
#include "sync_pipe.h"

static void add_all(GPtrArray *argv, char **values)
{
        for (char **v = values; v && *v; v++)
                g_ptr_array_add(argv, g_strdup(*v));
}

static void add(GPtrArray *argv, const char *value)
{
        g_ptr_array_add(argv, g_strdup(value));
}

char **runtime_build_argv(const VigilConfig *cfg, const char *console_socket)
{
        GPtrArray *argv = g_ptr_array_new();

        add(argv, cfg->runtime);
        if (cfg->systemd_cgroup && !cfg->exec)
                add(argv, "--systemd-cgroup");
        add_all(argv, cfg->runtime_args);
        if (cfg->exec) {
                add(argv, "exec");
                add(argv, "--pid-file");
                add(argv, cfg->container_pidfile);
                add(argv, "--process");
                add(argv, cfg->exec_process_spec);
                add(argv, "--detach");
        } else {
                add(argv, cfg->restore ? "restore" : "create");
                add(argv, "--bundle");
                add(argv, cfg->bundle);
                add(argv, "--pid-file");
                add(argv, cfg->container_pidfile);
                if (cfg->no_pivot)
                        add(argv, "--no-pivot");
                if (cfg->no_new_keyring)
                        add(argv, "--no-new-keyring");
                if (cfg->restore) {
                        add(argv, "--detach");
                        add(argv, "--image-path");
                        add(argv, cfg->restore);
                        add(argv, "--work-path");
                        add(argv, cfg->bundle);
                }
        }
        add_all(argv, cfg->runtime_opts);
        if (console_socket) {
                add(argv, "--console-socket");
                add(argv, console_socket);
        }
        add(argv, cfg->cid);
        g_ptr_array_add(argv, NULL);
        return (char **) g_ptr_array_free(argv, FALSE);
}

char **runtime_build_start_argv(const VigilConfig *cfg)
{
        GPtrArray *argv = g_ptr_array_new();

        add(argv, cfg->runtime);
        add_all(argv, cfg->runtime_args);
        add(argv, "start");
        add(argv, cfg->cid);
        g_ptr_array_add(argv, NULL);
        return (char **) g_ptr_array_free(argv, FALSE);
}

/* Everything below runs in the forked child of a single-threaded monitor. */

static G_GNUC_NORETURN void child_fail(const char *what)
{
        dprintf(STDERR_FILENO, "vigil: runtime child: %s: %s\n", what, strerror(errno));
        _exit(127);
}

static void install_stdio(int fd, int target)
{
        if (fd < 0)
                return;
        if (fd == target) {
                if (fd_set_cloexec(fd, FALSE) < 0)
                        child_fail("clearing close-on-exec on stdio");
        } else if (dup2(fd, target) < 0) {
                child_fail("dup2");
        }
        /* An unprivileged container user must be able to reopen /dev/stdout (conmon 2.1.8+);
         * /dev/null and sockets refuse or ignore it, which is fine. */
        (void) fchmod(target, 0777);
}

static void fix_listen_pid(const RuntimeChild *c)
{
        const char *value = getenv("LISTEN_PID");
        char buf[32];
        char *end;
        long pid;

        if (!value)
                return;
        errno = 0;
        pid = strtol(value, &end, 10);
        if (errno || end == value || *end || pid <= 0)
                child_fail("invalid LISTEN_PID");
        /* Socket activation fds are addressed to the monitor; the runtime must claim them. */
        if (c->replace_listen_pid || pid == c->monitor_pid) {
                snprintf(buf, sizeof(buf), "%d", (int) getpid());
                setenv("LISTEN_PID", buf, 1);
        }
}

void runtime_restore_oom_score_adj(const char *value)
{
        int fd;

        if (!value)
                return;
        fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return;
        /* Best effort, as for the monitor itself. */
        (void) !write(fd, value, strlen(value));
        close(fd);
}

static G_GNUC_NORETURN void child_exec(char **argv, const RuntimeChild *c)
{
        sigset_t all;

        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                child_fail("PR_SET_PDEATHSIG");
        install_stdio(c->stdin_fd, STDIN_FILENO);
        install_stdio(c->stdout_fd, STDOUT_FILENO);
        install_stdio(c->stderr_fd, STDERR_FILENO);
        fix_listen_pid(c);
        if (c->start_fd >= 0 && start_pipe_wait(c->start_fd) < 0)
                child_fail("reading the start pipe");
        runtime_restore_oom_score_adj(c->oom_score_adj);
        execv(argv[0], argv);
        child_fail(argv[0]);
}

int runtime_spawn(char **argv, const RuntimeChild *child, pid_t *ret_pid)
{
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0)
                child_exec(argv, child);
        *ret_pid = pid;
        return 0;
}
