/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "exit_files.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

static int write_status(const char *path, const char *text)
{
        int r = write_file_atomic(path, text, strlen(text), 0644);

        if (r < 0)
                log_error("Failed to write exit file %s: %s", path, g_strerror(-r));
        return r;
}

int exit_files_write(const VigilConfig *cfg, int status)
{
        char text[16];
        int r = 0, k;

        g_snprintf(text, sizeof(text), "%d", status);
        if (cfg->persist_dir) {
                g_autofree char *path = g_build_filename(cfg->persist_dir, "exit", NULL);
                r = write_status(path, text);
        }
        if (cfg->exit_dir) {
                g_autofree char *path = g_build_filename(cfg->exit_dir, config_exit_name(cfg), NULL);
                k = write_status(path, text);
                r = r < 0 ? r : k;
        }
        return r;
}

int check_dir_writable(const char *dir)
{
        g_autofree char *tmp = NULL;
        AutoFd fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);

        if (fd >= 0)
                return 0;
        if (errno != EOPNOTSUPP && errno != EISDIR)
                return -errno;
        /* EISDIR: a kernel that predates O_TMPFILE sees only O_DIRECTORY in it. */
        tmp = g_build_filename(dir, ".vigil-check-XXXXXX", NULL);
        fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        unlink(tmp);
        return 0;
}

static gboolean check_dir(const char *option, const char *dir, GError **error)
{
        int r;

        if (!dir)
                return TRUE;
        r = check_dir_writable(dir);
        if (r == 0)
                return TRUE;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Cannot write files in %s %s: %s", option,
                    dir, g_strerror(-r));
        return FALSE;
}

gboolean exit_files_check(const VigilConfig *cfg, GError **error)
{
        return check_dir("--exit-dir", cfg->exit_dir, error) && check_dir("--persist-dir", cfg->persist_dir, error);
}

static void touch(const char *dir)
{
        g_autofree char *path = NULL;
        int fd;

        if (!dir)
                return;
        path = g_build_filename(dir, "oom", NULL);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
                log_warning("Failed to write oom file %s: %s", path, g_strerror(errno));
        fd_close(fd);
}

void oom_files_write(const VigilConfig *cfg)
{
        touch(cfg->bundle);
        touch(cfg->persist_dir);
}

static G_GNUC_NORETURN void exit_command_child(const VigilConfig *cfg, char **argv, const char *oom_score_adj)
{
        sigset_t none;
        int null = open("/dev/null", O_RDWR);

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        setsid();
        if (null >= 0) {
                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
        }
        /* The command gets no fd of the monitor or of the engine (conmon: close_fds). */
        close_range(3, ~0U, 0);
        if (cfg->exit_delay > 0)
                sleep(cfg->exit_delay);
        if (oom_score_adj) {
                int fd = open("/proc/self/oom_score_adj", O_WRONLY);
                if (fd >= 0) {
                        (void) !write(fd, oom_score_adj, strlen(oom_score_adj));
                        close(fd);
                }
        }
        execv(argv[0], argv);
        _exit(127);
}

int exit_command_run(const VigilConfig *cfg, const char *oom_score_adj)
{
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        int status;
        pid_t pid;

        if (!cfg->exit_command)
                return 0;
        g_ptr_array_add(argv, cfg->exit_command);
        for (char **a = cfg->exit_command_args; a && *a; a++)
                g_ptr_array_add(argv, *a);
        g_ptr_array_add(argv, NULL);
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                log_error("Failed to start exit command %s: %s", cfg->exit_command, g_strerror(errno));
                return r;
        }
        if (pid == 0)
                exit_command_child(cfg, (char **) argv->pdata, oom_score_adj);
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR)
                        return -errno;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                log_warning("exit command %s exited with %d", cfg->exit_command, WEXITSTATUS(status));
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
