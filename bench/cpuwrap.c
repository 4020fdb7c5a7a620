/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cpuwrap LOG MONITOR [ARG...]: bench/crio.py's monitor_path for the exec-probe workload.
 *
 * Runs MONITOR as its child with every fd and the environment as they are (CRI-O's sync and
 * start pipes pass through), waits for it to exit without reaping it, appends the child's
 * own on-CPU time to LOG ("<ns>\n", /proc/PID/schedstat: kernel and user time, exact, and
 * without its reaped children, so runc's share is left out), then reaps it and exits as it
 * did.  An ExecSync monitor (--sync) is the child itself; a container's monitor daemonizes,
 * so only its first, short-lived process is counted here and the harness reads the daemon.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static long long on_cpu_ns(pid_t pid)
{
        char path[64];
        long long ns = -1;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%d/schedstat", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return -1;
        if (fscanf(f, "%lld", &ns) != 1)
                ns = -1;
        fclose(f);
        return ns;
}

int main(int argc, char **argv)
{
        siginfo_t si;
        pid_t pid;
        int status, fd;

        if (argc < 3) {
                fprintf(stderr, "usage: cpuwrap LOG MONITOR [ARG...]\n");
                return 2;
        }
        pid = fork();
        if (pid < 0) {
                perror("cpuwrap: fork");
                return 1;
        }
        if (pid == 0) {
                execv(argv[2], argv + 2);
                perror("cpuwrap: exec");
                _exit(127);
        }
        if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) == 0) {
                fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        dprintf(fd, "%lld\n", on_cpu_ns(pid));
                        close(fd);
                }
        }
        if (waitpid(pid, &status, 0) < 0)
                return 1;
        if (WIFSIGNALED(status)) {
                signal(WTERMSIG(status), SIG_DFL);
                raise(WTERMSIG(status));
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
