/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vigil: a per-container monitor that speaks conmon's command line.  main() is the list of
 * phases; the work is in monitor.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"
#include "monitor.h"
#include "options.h"
#include "sync_pipe.h"
#include "version.h"

static void print_version(void)
{
        printf("conmon version " VIGIL_CONMON_COMPAT_VERSION "\n"
               "vigil version " VIGIL_VERSION "\n"
               "commit: " VIGIL_GIT_COMMIT "\n");
}

static void write_conmon_pidfile(const VigilConfig *cfg, pid_t pid, int go_fd)
{
        char text[16];
        int r = 0;

        if (cfg->conmon_pidfile) {
                g_snprintf(text, sizeof(text), "%d", pid);
                r = write_file_atomic(cfg->conmon_pidfile, text, strlen(text), 0644);
                if (r < 0)
                        log_error("Failed to write the pid file %s: %s", cfg->conmon_pidfile, g_strerror(-r));
        }
        if (r == 0 && write(go_fd, "", 1) != 1)
                r = -errno;
        _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

/*
 * Fork unless --sync.  The parent reports the monitor's pid in --conmon-pidfile and exits 0
 * at once: podman wait()s for it before it reads the sync pipe.  The monitor goes on only once
 * the parent wrote the pid file (one byte on @go): when that fails the parent exits 1 and no
 * container may be created.  Returns only in the monitor, FALSE if it must stop.
 */
static gboolean daemonize(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        AutoFd go_r = -1;
        AutoFd go_w = -1;
        int go[2];
        char byte;
        pid_t pid;

        if (cfg->sync)
                return TRUE;
        if (pipe2(go, O_CLOEXEC) < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "Failed to create a pipe: %s",
                            g_strerror(errno));
                return FALSE;
        }
        go_r = go[0];
        go_w = go[1];
        pid = fork();
        if (pid < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "Failed to fork the monitor: %s",
                            g_strerror(errno));
                return FALSE;
        }
        if (pid > 0)
                write_conmon_pidfile(cfg, pid, go_w);
        fd_clear(&go_w);
        if (read(go_r, &byte, 1) != 1) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "Failed to write the pid file %s",
                            cfg->conmon_pidfile);
                return FALSE;
        }
        return TRUE;
}

/* Before the container exists: the engine reads the reason on the sync pipe, a person on stderr. */
static int setup_failed(Monitor *m, const char *message)
{
        log_error("%s", message);
        sync_pipe_send(&m->sync, &m->json, -1, message);
        return EXIT_FAILURE;
}

static int wait_for_start(Monitor *m)
{
        if (m->start_fd < 0)
                return 0;
        return start_pipe_wait(m->start_fd);
}

int main(int argc, char **argv)
{
        LogSettings log_settings = { 0 };
        g_autoptr(GError) error = NULL;
        VigilConfig cfg = { 0 };
        Monitor monitor = MONITOR_NULL;
        int status = EXIT_FAILURE;
        int r;

        setlocale(LC_ALL, "");
        tzset();
        g_set_prgname(argv[0] ? argv[0] : "vigil");
        logging_setup(&log_settings, argv[0]);
        /* A reader that goes away (sync pipe, attach client) must not kill the monitor. */
        signal(SIGPIPE, SIG_IGN);

        if (!config_parse(&cfg, argc, argv, &error)) {
                if (error->domain == G_OPTION_ERROR)
                        fprintf(stderr, "%s: option parsing failed: %s\n", log_settings.prefix, error->message);
                else
                        log_error("%s", error->message);
                goto out;
        }
        if (cfg.version) {
                print_version();
                status = EXIT_SUCCESS;
                goto out;
        }
        logging_configure(&log_settings, &cfg);
        if (!monitor_prepare(&monitor, &cfg, &error)) {
                status = setup_failed(&monitor, error->message);
                goto out;
        }
        r = wait_for_start(&monitor);
        if (r < 0) {
                g_autofree char *message = g_strdup_printf("Failed to read from the start pipe: %s", g_strerror(-r));
                status = setup_failed(&monitor, message);
                goto out;
        }
        if (!daemonize(&monitor, &error)) {
                status = setup_failed(&monitor, error->message);
                goto out;
        }
        status = monitor_run(&monitor);
out:
        monitor_deinit(&monitor);
        config_clear(&cfg);
        return status;
}
