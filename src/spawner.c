/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"
#include "runtime.h"

enum { OP_RUN = 1, OP_KILL };
enum { REPLY_STARTED = 1, REPLY_FAILED, REPLY_EXITED };

typedef struct {
        uint8_t op;
        uint8_t job;
} SpawnRequest;

typedef struct {
        uint8_t type;
        uint8_t job;
        int32_t pid;
        int32_t value;          /* FAILED: errno; EXITED: wait status */
} SpawnReply;

struct Spawner {
        pid_t pid;
        int fd;
        guint source;
        gboolean available[SPAWN__MAX];
        SpawnExitFunc on_exit;
        gpointer data;
};

/* --- the spawner process: plain libc from here to spawner_new(); no GLib after fork --------- */

typedef struct {
        const SpawnCommand *commands;   /* the copy this process inherited at fork */
        const char *oom_score_adj;
        int fd;
        int sigfd;
        pid_t pids[SPAWN__MAX];
} SpawnerChild;

static void reply(SpawnerChild *c, uint8_t type, uint8_t job, pid_t pid, int value)
{
        SpawnReply r = { .type = type, .job = job, .pid = pid, .value = value };

        /* The monitor gone (EPIPE) ends the loop through EOF on the next receive. */
        (void) !send(c->fd, &r, sizeof(r), MSG_NOSIGNAL);
}

void spawner_exec_detached(const SpawnCommand *cmd, const char *oom_score_adj)
{
        sigset_t none;
        int null = open("/dev/null", O_RDWR);

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        setsid();
        if (null >= 0) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
        }
        /* The command gets no fd of the monitor or of the engine (conmon: close_fds). */
        close_range(3, ~0U, 0);
        if (cmd->delay_s > 0)
                sleep(cmd->delay_s);
        runtime_restore_oom_score_adj(oom_score_adj);
        execv(cmd->argv[0], cmd->argv);
        _exit(127);
}

static int start_job(SpawnerChild *c, SpawnJob job, pid_t *ret_pid)
{
        const SpawnCommand *cmd = &c->commands[job];
        AutoFd null = cmd->null_stdio ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
        RuntimeChild child = {
                .stdin_fd = null, .stdout_fd = null, .stderr_fd = null, .start_fd = -1,
                .oom_score_adj = c->oom_score_adj, .monitor_pid = getppid(),
        };
        pid_t pid;

        if (cmd->null_stdio && null < 0)
                return -errno;
        if (!cmd->detach)
                return runtime_spawn(cmd->argv, &child, ret_pid);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                spawner_exec_detached(cmd, c->oom_score_adj);
        *ret_pid = pid;
        return 0;
}

static void serve_run(SpawnerChild *c, SpawnJob job)
{
        pid_t pid = 0;
        int r;

        if (c->pids[job] > 0) {
                reply(c, REPLY_FAILED, job, 0, EBUSY);
                return;
        }
        r = start_job(c, job, &pid);
        if (r < 0) {
                reply(c, REPLY_FAILED, job, 0, -r);
                return;
        }
        c->pids[job] = pid;
        reply(c, REPLY_STARTED, job, pid, 0);
}

/* FALSE once the monitor has closed its end. */
static gboolean serve_request(SpawnerChild *c)
{
        SpawnRequest rq;
        ssize_t n = recv(c->fd, &rq, sizeof(rq), 0);

        if (n == 0)
                return FALSE;
        if (n < 0)
                return errno == EINTR || errno == EAGAIN;
        if (n != sizeof(rq) || rq.job >= SPAWN__MAX || !c->commands[rq.job].argv) {
                reply(c, REPLY_FAILED, n == sizeof(rq) ? rq.job : 0, 0, EINVAL);
                return TRUE;
        }
        if (rq.op == OP_RUN)
                serve_run(c, rq.job);
        else if (rq.op == OP_KILL && c->pids[rq.job] > 0)
                kill(c->pids[rq.job], SIGKILL);
        return TRUE;
}

static void reap(SpawnerChild *c, int flags)
{
        struct signalfd_siginfo info;
        int wstatus;
        pid_t pid;

        while (read(c->sigfd, &info, sizeof(info)) > 0)
                ;
        while ((pid = waitpid(-1, &wstatus, flags)) > 0) {
                for (int job = 0; job < SPAWN__MAX; job++) {
                        if (c->pids[job] != pid)
                                continue;
                        c->pids[job] = 0;
                        reply(c, REPLY_EXITED, job, pid, wstatus);
                }
        }
}

static G_GNUC_NORETURN void child_main(SpawnerChild *c, pid_t monitor)
{
        sigset_t set;

        /* Dies with the monitor; its jobs die with it (PDEATHSIG in runtime.c). */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != monitor)
                _exit(1);
        /* Only the socket: the engine waits for EOF on pipes the monitor holds. */
        if (c->fd != 3 && dup3(c->fd, 3, O_CLOEXEC) < 0)
                _exit(1);
        c->fd = 3;
        close_range(4, ~0U, 0);
        /* As for the monitor once notify.c has read it: neither the runtime (it would proxy
         * and block in start) nor the exit command is to notify the host. */
        unsetenv("NOTIFY_SOCKET");
        /* The monitor forwards TERM, INT, ABRT ... to the container; here they would only cost the
         * exit command (systemd's stop signals the whole cgroup). */
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGHUP);
        sigaddset(&set, SIGQUIT);
        sigaddset(&set, SIGABRT); /* the watchdog, to every process under KillMode=control-group */
        sigprocmask(SIG_BLOCK, &set, NULL);
        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        c->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (c->sigfd < 0)
                _exit(1);
        for (;;) {
                struct pollfd p[2] = { { .fd = c->fd, .events = POLLIN }, { .fd = c->sigfd, .events = POLLIN } };
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        break;
                if (p[1].revents)
                        reap(c, WNOHANG);
                if (p[0].revents && !serve_request(c))
                        break;
        }
        for (int job = 0; job < SPAWN__MAX; job++)
                if (c->pids[job] > 0 && !c->commands[job].detach)
                        kill(c->pids[job], SIGKILL);
        reap(c, 0);
        _exit(0);
}

/* --- the monitor's side ---------------------------------------------------------------- */

static void handle_reply(Spawner *s, const SpawnReply *r)
{
        if (r->type == REPLY_EXITED && r->job < SPAWN__MAX)
                s->on_exit(r->job, r->pid, r->value, s->data);
}

/* Blocking: the spawner answers every request at once, after one fork(). */
static int receive(Spawner *s, SpawnReply *ret)
{
        ssize_t n;

        do
                n = recv(s->fd, ret, sizeof(*ret), 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n != sizeof(*ret))
                return -EPIPE;
        return 0;
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
        Spawner *s = data;
        SpawnReply r;
        ssize_t n = recv(fd, &r, sizeof(r), MSG_DONTWAIT);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return G_SOURCE_CONTINUE;
        if (n != sizeof(r)) {
                log_warning("the spawner (pid %d) is gone: %s", (int) s->pid,
                            n < 0 ? g_strerror(errno) : "connection closed");
                s->source = 0;
                return G_SOURCE_REMOVE;
        }
        handle_reply(s, &r);
        return G_SOURCE_CONTINUE;
}

static int request(Spawner *s, uint8_t op, SpawnJob job)
{
        SpawnRequest rq = { .op = op, .job = job };

        if (!s || job >= SPAWN__MAX || !s->available[job])
                return -EINVAL;
        if (send(s->fd, &rq, sizeof(rq), MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

int spawner_run(Spawner *s, SpawnJob job, pid_t *ret_pid)
{
        SpawnReply r;
        int k = request(s, OP_RUN, job);

        while (k == 0 && (k = receive(s, &r)) == 0) {
                if (r.type == REPLY_EXITED) {
                        handle_reply(s, &r);
                } else if (r.job == job) {
                        if (r.type == REPLY_FAILED)
                                return -r.value;
                        *ret_pid = r.pid;
                        return 0;
                }
        }
        return k;
}

int spawner_kill(Spawner *s, SpawnJob job)
{
        return request(s, OP_KILL, job);
}

int spawner_wait(Spawner *s, SpawnJob job, int *ret_wstatus)
{
        SpawnReply r;
        int k;

        if (!s)
                return -EINVAL;
        while ((k = receive(s, &r)) == 0) {
                handle_reply(s, &r);
                if (r.type == REPLY_EXITED && r.job == job) {
                        *ret_wstatus = r.value;
                        return 0;
                }
        }
        return k;
}

gboolean spawner_has(const Spawner *s, SpawnJob job)
{
        return s && job < SPAWN__MAX && s->available[job];
}

pid_t spawner_pid(const Spawner *s)
{
        return s ? s->pid : 0;
}

int spawner_new(Spawner **ret, const SpawnCommand commands[SPAWN__MAX], const char *oom_score_adj,
                SpawnExitFunc on_exit, gpointer data)
{
        g_autoptr(Spawner) s = g_new0(Spawner, 1);
        pid_t monitor = getpid();
        gboolean any = FALSE;
        int sv[2];

        s->fd = -1;
        for (int job = 0; job < SPAWN__MAX; job++)
                any |= s->available[job] = commands[job].argv != NULL;
        if (!any) {
                *ret = NULL;
                return 0;
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        s->pid = fork();
        if (s->pid < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (s->pid == 0) {
                SpawnerChild c = { .commands = commands, .oom_score_adj = oom_score_adj, .fd = sv[1] };
                child_main(&c, monitor);
        }
        close(sv[1]);
        s->fd = sv[0];
        s->on_exit = on_exit;
        s->data = data;
        s->source = g_unix_fd_add(s->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, s);
        *ret = g_steal_pointer(&s);
        return 0;
}

Spawner *spawner_free(Spawner *s)
{
        if (!s)
                return NULL;
        if (s->source)
                g_source_remove(s->source);
        fd_clear(&s->fd);
        /* It kills what still runs and exits on EOF; ECHILD if the monitor reaped it already. */
        if (s->pid > 0)
                while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        g_free(s);
        return NULL;
}
