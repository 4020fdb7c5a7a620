/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "exit_files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
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

char **exit_command_build_argv(const VigilConfig *cfg)
{
        GPtrArray *argv;

        if (!cfg->exit_command)
                return NULL;
        argv = g_ptr_array_new();
        g_ptr_array_add(argv, g_strdup(cfg->exit_command));
        for (char **a = cfg->exit_command_args; a && *a; a++)
                g_ptr_array_add(argv, g_strdup(*a));
        g_ptr_array_add(argv, NULL);
        return (char **) g_ptr_array_free(argv, FALSE);
}

static int run_here(const VigilConfig *cfg, const char *oom_score_adj, int *ret_wstatus)
{
        g_auto(GStrv) argv = exit_command_build_argv(cfg);
        SpawnCommand cmd = { .argv = argv, .detach = TRUE, .delay_s = MAX(cfg->exit_delay, 0) };
        pid_t pid = fork();

        if (pid < 0)
                return -errno;
        if (pid == 0)
                spawner_exec_detached(&cmd, oom_score_adj);
        while (waitpid(pid, ret_wstatus, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static int run_spawned(Spawner *spawner, int *ret_wstatus)
{
        pid_t pid;
        int r = spawner_run(spawner, SPAWN_EXIT_COMMAND, &pid);

        return r < 0 ? r : spawner_wait(spawner, SPAWN_EXIT_COMMAND, ret_wstatus);
}

int exit_command_run(const VigilConfig *cfg, Spawner *spawner, const char *oom_score_adj)
{
        int status = 0;
        int r;

        if (!cfg->exit_command)
                return 0;
        r = spawner_has(spawner, SPAWN_EXIT_COMMAND) ? run_spawned(spawner, &status)
                                                     : run_here(cfg, oom_score_adj, &status);
        if (r < 0) {
                log_error("Failed to start exit command %s: %s", cfg->exit_command, g_strerror(-r));
                return r;
        }
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
                log_warning("exit command %s exited with %d", cfg->exit_command, WEXITSTATUS(status));
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
