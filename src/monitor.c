/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exit_files.h"
#include "fdutil.h"
#include "health.h"
#include "logging.h"
#include "runtime.h"
#include "unit_cgroup.h"

#define RUNTIME_MESSAGE_MAX 8191
/* How long a timed-out container may take to die once killed before the timeout is reported. */
#define KILL_GRACE_SECONDS 10
#define ABORT_GRACE_SECONDS 5

int monitor_wait_status_to_exit(int wstatus)
{
        if (WIFEXITED(wstatus))
                return WEXITSTATUS(wstatus);
        if (WIFSIGNALED(wstatus))
                return 128 + WTERMSIG(wstatus);
        return -1;
}

static gboolean is_engine_pipe(int fd)
{
        static const char *names[] = { "_OCI_SYNCPIPE", "_OCI_STARTPIPE", "_OCI_ATTACHPIPE" };

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                if (fd_from_env(names[i]) == fd)
                        return TRUE;
        return FALSE;
}

/*
 * fds >= 3 present at start other than the engine's pipes (which their owners close):
 * preserved fds and reserved host ports, held until the exit is published.
 */
static GArray *list_inherited_fds(void)
{
        GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
        DIR *dir = opendir("/proc/self/fd");
        struct dirent *e;

        if (!dir)
                return fds;
        while ((e = readdir(dir))) {
                int fd = atoi(e->d_name);
                if (fd >= 3 && fd != dirfd(dir) && !is_engine_pipe(fd))
                        g_array_append_val(fds, fd);
        }
        closedir(dir);
        return fds;
}

static char *read_oom_score_adj(void)
{
        g_autofree char *value = NULL;

        if (!g_file_get_contents("/proc/self/oom_score_adj", &value, NULL, NULL))
                return NULL;
        /* Not g_strstrip(): its g_ascii_table lookups fault in a 64 kB block of GLib's rodata
         * that an idle monitor would otherwise never touch (bench/README.md, memory). */
        value[strcspn(value, "\n")] = '\0';
        return g_steal_pointer(&value);
}

/* The monitor must outlive its container under memory pressure (conmon does the same). */
static void protect_from_oom_killer(void)
{
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

        if (fd < 0 || write(fd, "-1000", 5) < 0)
                log_debug("cannot set oom_score_adj: %s", g_strerror(errno));
        fd_close(fd);
}

static gboolean open_log_sinks(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        LogSink *sink;

        if (cfg->log_k8s_path) {
                K8sFileOptions o = {
                        .path = cfg->log_k8s_path,
                        .size_max = cfg->log_size_max,
                        .global_size_max = cfg->log_global_size_max,
                        .rotate = cfg->log_rotate,
                        .max_files = cfg->log_max_files,
                        .allowlist_dirs = cfg->log_allowlist_dirs,
                        .sync_writeback = !cfg->no_sync_log,
                };
                if (!(sink = log_k8s_new(&o, error)) && cfg->log_rotate_from_settings) {
                        /* A host-wide setting must not stop a container whose log path it does not suit. */
                        log_warning("%s; truncating at the size limit instead", (*error)->message);
                        g_clear_error(error);
                        o.rotate = FALSE;
                        sink = log_k8s_new(&o, error);
                }
                if (!sink)
                        return FALSE;
                stdio_relay_add_sink(&m->stdio, sink);
        }
        if (cfg->log_journald) {
                JournaldOptions o = {
                        .cid = cfg->cid,
                        .name = cfg->name,
                        .tag = cfg->log_tag,
                        .labels = cfg->log_labels,
                        .partial_field = !cfg->no_container_partial_message,
                };
                if (!(sink = log_journald_new(&o, error)))
                        return FALSE;
                stdio_relay_add_sink(&m->stdio, sink);
        }
        return TRUE;
}

static gboolean bad_pipe_fd(const char *env, GError **error)
{
        const char *value = g_getenv(env);

        if (value)
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_BADF, "%s=\"%s\" does not name an open file descriptor",
                            env, value);
        else
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_BADF, "--attach specified but %s was not", env);
        return FALSE;
}

static gboolean open_engine_pipes(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        int r = sync_pipe_open(&m->sync, "_OCI_SYNCPIPE", config_sync_key(cfg));

        if (r < 0 && r != -ENOENT)
                return bad_pipe_fd("_OCI_SYNCPIPE", error);
        if (!cfg->exec_attach)
                return TRUE;
        r = sync_pipe_open(&m->attach_pipe, "_OCI_ATTACHPIPE", "data");
        if (r < 0)
                return bad_pipe_fd("_OCI_ATTACHPIPE", error);
        return TRUE;
}

/* The first process writes it after the fork (main.c): a bad path must stop us before that. */
static gboolean check_conmon_pidfile(const VigilConfig *cfg, GError **error)
{
        g_autofree char *dir = NULL;
        int r;

        if (!cfg->conmon_pidfile || cfg->sync)
                return TRUE;
        dir = g_path_get_dirname(cfg->conmon_pidfile);
        r = check_dir_writable(dir);
        if (r == 0)
                return TRUE;
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Cannot write the --conmon-pidfile %s: %s",
                    cfg->conmon_pidfile, g_strerror(-r));
        return FALSE;
}

static gboolean open_start_pipe(Monitor *m, GError **error)
{
        int r = fd_from_env("_OCI_STARTPIPE");

        if (r == -ENOENT)
                return TRUE;
        if (r < 0) {
                /* Without it we would not wait for the engine to place us in a cgroup. */
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_BADF,
                            "_OCI_STARTPIPE=\"%s\" does not name an open file descriptor", g_getenv("_OCI_STARTPIPE"));
                return FALSE;
        }
        m->start_fd = r;
        fd_set_cloexec(r, TRUE);
        return TRUE;
}

/*
 * Everything that can be checked is checked here, before the fork: the first process must exit
 * non-zero for a setup that cannot work, and the sync pipe comes first so that it can carry
 * the reason (main.c sends it).
 */
gboolean monitor_prepare(Monitor *m, const VigilConfig *cfg, GError **error)
{
        int r;

        m->cfg = cfg;
        m->inherited_fds = list_inherited_fds();
        m->early_exits = g_hash_table_new(NULL, NULL);
        if (!open_engine_pipes(m, error) || !open_start_pipe(m, error) || !exit_files_check(cfg, error) ||
            !check_conmon_pidfile(cfg, error))
                return FALSE;
        m->oom_score_adj = read_oom_score_adj();
        protect_from_oom_killer();
        umask(022);
        r = stdio_relay_init(&m->stdio, cfg->stdin, cfg->terminal, cfg->log_passthrough);
        if (r < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Failed to create stdio pipes: %s",
                            g_strerror(-r));
                return FALSE;
        }
        return open_log_sinks(m, error);
}

/* --- children and signals ------------------------------------------------------------ */

static void check_progress(Monitor *m)
{
        if (m->phase == PHASE_CREATING && m->runtime_exited)
                g_main_loop_quit(m->loop);
        else if (m->phase == PHASE_RUNNING && m->container_exited)
                g_main_loop_quit(m->loop);
}

static void start_exited(Monitor *m, int wstatus);

static void record_exit(Monitor *m, pid_t pid, int wstatus)
{
        if (m->start_pid > 0 && pid == m->start_pid) {
                start_exited(m, wstatus);
        } else if (notify_child_exited(m->notify, pid, wstatus)) {
                /* a health check */
        } else if (pid == m->runtime_pid && !m->runtime_exited) {
                m->runtime_exited = TRUE;
                m->runtime_wstatus = wstatus;
        } else if (m->container_pid > 0 && pid == m->container_pid) {
                m->container_exited = TRUE;
                m->container_wstatus = wstatus;
        } else if (m->container_pid <= 0) {
                /* An exec'd process may be reaped before the runtime told us its pid. */
                g_hash_table_insert(m->early_exits, GINT_TO_POINTER(pid), GINT_TO_POINTER(wstatus));
        }
}

static void reap_children(Monitor *m)
{
        int wstatus;
        pid_t pid;

        while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0)
                record_exit(m, pid, wstatus);
        check_progress(m);
}

static void forward_signal(Monitor *m, int signo)
{
        pid_t target = m->container_pid > 0 && !m->container_exited ? m->container_pid
                       : m->runtime_pid > 0 && !m->runtime_exited ? m->runtime_pid
                                                                    : 0;

        if (target <= 0) {
                log_info("signal %d received with nothing to forward it to", signo);
                return;
        }
        if (kill(target, signo) < 0 && errno != ESRCH)
                log_warning("forwarding signal %d to %d: %s", signo, target, g_strerror(errno));
}

static gboolean on_abort_grace_over(gpointer data)
{
        Monitor *m = data;

        m->abort_source = 0;
        if (m->container_pid > 0 && !m->container_exited) {
                log_warning("container %d outlived SIGABRT by %d seconds; killing it", m->container_pid,
                            ABORT_GRACE_SECONDS);
                kill(m->container_pid, SIGKILL);
        }
        return G_SOURCE_REMOVE;
}

/*
 * systemd's watchdog aborts a unit's main process, which is the monitor, but what stopped
 * pinging is the container.  It gets the signal, to dump its state as it would outside a
 * container, and SIGKILL if it is still there ABORT_GRACE_SECONDS later: a pid 1 with no
 * handler ignores SIGABRT.  Its exit is then recorded like any other, so that the engine can
 * clean up; a monitor killed by the signal would leave a container nobody can remove.
 */
static void abort_container(Monitor *m)
{
        forward_signal(m, SIGABRT);
        if (m->container_pid > 0 && !m->container_exited && !m->abort_source)
                m->abort_source = g_timeout_add_seconds(ABORT_GRACE_SECONDS, on_abort_grace_over, m);
}

static void on_signal(const struct signalfd_siginfo *info, gpointer data)
{
        Monitor *m = data;

        if (info->ssi_signo == SIGCHLD)
                reap_children(m);
        else if (info->ssi_signo == SIGABRT)
                abort_container(m);
        else
                forward_signal(m, info->ssi_signo);
}

/* The killed process has not gone: not our child after all, or stuck in the kernel. */
static gboolean on_kill_grace_over(gpointer data)
{
        Monitor *m = data;

        m->timeout_source = 0;
        log_warning("container %d is still there %d seconds after SIGKILL; reporting the timeout anyway",
                    m->container_pid, KILL_GRACE_SECONDS);
        g_main_loop_quit(m->loop);
        return G_SOURCE_REMOVE;
}

/*
 * The timeout is reported only once the killed process is gone (reaped by us: an exec'd
 * process is our child, through the subreaper): else it would outlive the monitor as a zombie
 * under a pid 1 that may never reap it, and an exec probe that times out every few seconds
 * would pile them up.  check_progress() ends the loop when SIGCHLD says it has gone.
 */
static gboolean on_timeout(gpointer data)
{
        Monitor *m = data;
        pid_t pgid;

        m->timeout_source = 0;
        /* Reaped in the same main loop iteration: the pid may already be someone else's. */
        if (m->container_exited)
                return G_SOURCE_REMOVE;
        pgid = getpgid(m->container_pid);
        m->timed_out = TRUE;
        log_info("container %d timed out after %d seconds", m->container_pid, m->cfg->timeout);
        /* The whole process group, as conmon: a shell's children must not outlive it.  Never
         * our own group, which the container shares when the runtime did not setsid(). */
        if (pgid <= 1 || pgid == getpgrp() || kill(-pgid, SIGKILL) < 0)
                kill(m->container_pid, SIGKILL);
        m->timeout_source = g_timeout_add_seconds(KILL_GRACE_SECONDS, on_kill_grace_over, m);
        return G_SOURCE_REMOVE;
}

static void on_ctl(int type, int rows, int cols, gpointer data)
{
        Monitor *m = data;
        int r;

        if (type == CTL_REOPEN_LOG) {
                stdio_relay_reopen_logs(&m->stdio);
                return;
        }
        r = console_resize(m->stdio.master, rows, cols);
        if (r < 0)
                log_debug("resize to %dx%d: %s", rows, cols, g_strerror(-r));
}

static void on_console(int master, gpointer data)
{
        Monitor *m = data;
        int r = stdio_relay_set_terminal(&m->stdio, master);

        if (r < 0) {
                log_warning("cannot use the container's terminal: %s", g_strerror(-r));
                fd_close(master);
        }
}

static void on_oom(gpointer data)
{
        Monitor *m = data;

        log_info("container %d was OOM-killed", m->container_pid);
        m->oom_killed = TRUE;
        oom_files_write(m->cfg);
        monitor_control_emit(m, "oom", NULL);
}

static gboolean on_output(StreamId stream, const char *buf, size_t len, gpointer data)
{
        Monitor *m = data;

        attach_broadcast(m->attach, stream, buf, len);
        return !attach_has_backlog(m->attach);
}

static void on_stdin_room(gpointer data)
{
        attach_resume_input(((Monitor *) data)->attach);
}

static void on_log_rotated(gpointer data)
{
        monitor_control_emit(data, "log-rotated", NULL);
}

/* --- setup after daemonising ------------------------------------------------------------ */

static gboolean become_daemon_child(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);

        m->self_pid = getpid();
        /* The engine waits for EOF on the stdio it gave us, except in passthrough mode, where
         * the container writes to it.  With --sync there is no engine waiting: keep stderr so a
         * systemd unit's journal sees our diagnostics. */
        if (null >= 0 && !cfg->log_passthrough) {
                dup2(null, STDIN_FILENO);
                dup2(null, STDOUT_FILENO);
                if (!cfg->sync)
                        dup2(null, STDERR_FILENO);
        }
        fd_close(null);
        if (setsid() < 0 && errno != EPERM)
                log_debug("setsid: %s", g_strerror(errno));
        /* The container's init is re-parented to us when `runtime create` exits. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                            "Failed to set as subreaper: %s", g_strerror(errno));
                return FALSE;
        }
        return TRUE;
}

static gboolean open_bundle_endpoints(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        AttachOptions o = {
                .bundle = cfg->bundle,
                .socket_dir = cfg->socket_dir,
                .cuuid = cfg->cuuid ? cfg->cuuid : cfg->cid,
                .full_attach = cfg->full_attach,
                .close_stdin_on_hangup = cfg->stdin && !cfg->leave_stdin_open,
                .block_when_full = m->stdio.sinks->len == 0,
        };
        int r;

        if (!cfg->bundle || cfg->log_passthrough)
                return TRUE;
        if (!(m->attach = attach_server_new(&o, &m->stdio, error)))
                return FALSE;
        m->stdio.output = on_output;
        m->stdio.output_data = m;
        m->stdio.stdin_room = on_stdin_room;
        m->stdio.hook_data = m;
        m->stdio.log_rotated = on_log_rotated;
        r = ctl_fifos_open(&m->ctl, cfg->bundle, on_ctl, m);
        if (r < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Failed to create ctl FIFOs in %s: %s",
                            cfg->bundle, g_strerror(-r));
                return FALSE;
        }
        /* exec-attach: the engine connects once it knows the socket exists. */
        if (cfg->exec_attach)
                sync_pipe_send(&m->attach_pipe, &m->json, 0, NULL);
        return TRUE;
}

static gboolean spawn_runtime(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        g_auto(GStrv) argv = NULL;
        RuntimeChild child = {
                .stdin_fd = m->stdio.stdin_r,
                .stdout_fd = m->stdio.out_w[0],
                .stderr_fd = m->stdio.out_w[1],
                .start_fd = cfg->exec_attach ? m->start_fd : -1,
                .oom_score_adj = m->oom_score_adj,
                .replace_listen_pid = cfg->replace_listen_pid,
                .monitor_pid = m->self_pid,
        };
        int r;

        if (cfg->terminal) {
                r = console_socket_open(&m->console, on_console, m);
                if (r < 0) {
                        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r),
                                    "Failed to create the console socket: %s", g_strerror(-r));
                        return FALSE;
                }
        }
        argv = runtime_build_argv(cfg, m->console.path);
        if (cfg->log_level >= LOG_LEVEL_TRACE) {
                g_autofree char *line = g_strjoinv(" ", argv);
                log_debug("running %s", line);
        }
        r = runtime_spawn(argv, &child, &m->runtime_pid);
        if (r < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Failed to fork the runtime: %s",
                            g_strerror(-r));
                return FALSE;
        }
        stdio_relay_child_spawned(&m->stdio);
        fd_clear(&m->start_fd);
        return TRUE;
}

/* --- the runtime's result --------------------------------------------------------------- */

/* What the runtime said on stderr: the message the engine shows the user on failure. */
static char *read_runtime_message(Monitor *m)
{
        char buf[RUNTIME_MESSAGE_MAX + 1];
        ssize_t n = m->stdio.out_r[1] >= 0 ? read(m->stdio.out_r[1], buf, RUNTIME_MESSAGE_MAX) : -1;

        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        return g_strdup(buf);
}

static char *runtime_failure_message(Monitor *m)
{
        g_autofree char *stderr_text = read_runtime_message(m);
        int status = monitor_wait_status_to_exit(m->runtime_wstatus);

        if (stderr_text && *stderr_text)
                return g_steal_pointer(&stderr_text);
        if (WIFSIGNALED(m->runtime_wstatus))
                return g_strdup_printf("%s was killed by signal %d", m->cfg->runtime, WTERMSIG(m->runtime_wstatus));
        return g_strdup_printf("%s failed with exit status %d", m->cfg->runtime, status);
}

static pid_t read_container_pid(const char *path, GError **error)
{
        g_autofree char *text = NULL;
        char *end;
        long pid;

        if (!g_file_get_contents(path, &text, NULL, error))
                return -1;
        errno = 0;
        pid = strtol(text, &end, 10);   /* as read_oom_score_adj(): no g_strstrip() */
        if (*end == '\n')
                end++;
        if (errno || *end || pid <= 0) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "Invalid pid \"%s\" in %s", text, path);
                return -1;
        }
        return (pid_t) pid;
}

/* The runtime has exited: find the container's pid, or report why there is none. */
static gboolean take_container_pid(Monitor *m)
{
        const VigilConfig *cfg = m->cfg;
        g_autoptr(GError) error = NULL;
        gpointer early;

        if (!WIFEXITED(m->runtime_wstatus) || WEXITSTATUS(m->runtime_wstatus) != 0) {
                g_autofree char *message = runtime_failure_message(m);
                log_error("Failed to create container: %s", message);
                sync_pipe_send(&m->sync, &m->json, -1, message);
                return FALSE;
        }
        if (cfg->terminal) {
                console_socket_accept_pending(&m->console);
                console_socket_close(&m->console);
                if (m->stdio.master < 0) {
                        log_error("Runtime did not set up terminal");
                        sync_pipe_send(&m->sync, &m->json, -1, "Runtime did not set up terminal");
                        return FALSE;
                }
        }
        m->container_pid = read_container_pid(cfg->container_pidfile, &error);
        if (m->container_pid <= 0) {
                g_autofree char *message = read_runtime_message(m);
                log_error("Failed to read the container pid: %s", error->message);
                sync_pipe_send(&m->sync, &m->json, -1, message && *message ? message : error->message);
                return FALSE;
        }
        if (g_hash_table_lookup_extended(m->early_exits, GINT_TO_POINTER(m->container_pid), NULL, &early)) {
                m->container_exited = TRUE;
                m->container_wstatus = GPOINTER_TO_INT(early);
        }
        g_hash_table_remove_all(m->early_exits);
        return TRUE;
}

/*
 * Setup is done: from here on the monitor relays, answers and writes files, and starts
 * nothing itself.  Confined before the pid is reported, so that a failure is reported
 * instead of it, as a failed create would be.
 */
static gboolean confine_run_phase(Monitor *m)
{
        const VigilConfig *cfg = m->cfg;
        g_autoptr(GError) error = NULL;

        if (!confine_apply(cfg->vigil.seccomp, &m->confinement, &error)) {
                g_autofree char *message = g_strdup_printf("Failed to confine the monitor (--seccomp=off "
                                                           "disables it): %s", error->message);
                log_error("%s", message);
                sync_pipe_send(&m->sync, &m->json, -1, message);
                if (!m->container_exited)
                        kill(m->container_pid, SIGKILL);
                return FALSE;
        }
        /* Legacy exec (no --api-version) reports only the exit code, at the end. */
        if (!cfg->exec || cfg->api_version)
                sync_pipe_send(&m->sync, &m->json, m->container_pid, NULL);
        return TRUE;
}

/* --- the end ------------------------------------------------------------------------ */

/* Release what the engine handed us (reserved ports, ...) before the exit is published. */
static void close_inherited_fds(Monitor *m)
{
        for (guint i = 0; i < m->inherited_fds->len; i++)
                close(g_array_index(m->inherited_fds, int, i));
        g_array_set_size(m->inherited_fds, 0);
}

static int finish(Monitor *m)
{
        const VigilConfig *cfg = m->cfg;
        int status = m->timed_out ? -1 : monitor_wait_status_to_exit(m->container_wstatus);

        oom_watch_check(&m->oom);
        oom_watch_stop(&m->oom);
        /* Even after a timeout: what the container wrote before it was killed is kept. */
        stdio_relay_drain(&m->stdio, !cfg->no_sync_log && !m->timed_out);
        g_clear_pointer(&m->attach, attach_server_free);
        ctl_fifos_close(&m->ctl);
        close_inherited_fds(m);
        exit_files_write(cfg, status);
        if (cfg->exec)
                sync_pipe_send(&m->sync, &m->json, status, m->timed_out ? "command timed out" : NULL);
        sync_pipe_close(&m->sync);
        /* After the exit files: a Wait answer means podman can read them. */
        monitor_control_exited(m);
        return status;
}

static void run_loop_until_progress(Monitor *m)
{
        /* A child may have exited between spawning it and entering the loop. */
        reap_children(m);
        if (m->phase == PHASE_CREATING && m->runtime_exited)
                return;
        if (m->phase == PHASE_RUNNING && m->container_exited)
                return;
        g_main_loop_run(m->loop);
}

/* sd-notify: the container's socket exists before the runtime runs and the pid is reported. */
static void on_notify_event(const char *event, const char *text, gpointer data)
{
        monitor_control_emit(data, event, text);
}

static gboolean open_notify(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        int r = notify_new(cfg, m->spawner, &m->notify);

        if (r < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Failed to set up sd-notify: %s",
                            g_strerror(-r));
                return FALSE;
        }
        if (m->notify && cfg->vigil.notify_prepare_bundle && cfg->vigil.notify_mode == NOTIFY_MODE_CONTAINER &&
            notify_prepare_bundle(&m->json, cfg->bundle) < 0) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "Failed to prepare %s for sd-notify",
                            cfg->bundle);
                return FALSE;
        }
        if (m->notify && notify_get_relay(m->notify))
                notify_relay_set_listener(notify_get_relay(m->notify), on_notify_event, m);
        return TRUE;
}

static void on_spawned_exit(SpawnJob job, pid_t pid, int wstatus, gpointer data)
{
        Monitor *m = data;

        record_exit(m, pid, wstatus);
        check_progress(m);
}

/*
 * The commands the run phase may start, fixed now, before the runtime runs and the relays
 * allocate: the spawner keeps a copy of every page that existed at the fork and that the
 * monitor writes later.
 */
static gboolean start_spawner(Monitor *m, GError **error)
{
        const VigilConfig *cfg = m->cfg;
        gboolean healthy = cfg->vigil.notify_mode == NOTIFY_MODE_HEALTHY && cfg->vigil.health_cmd && !cfg->exec;
        g_auto(GStrv) start = cfg->vigil.start && !cfg->exec ? runtime_build_start_argv(cfg) : NULL;
        g_auto(GStrv) health = healthy ? health_build_argv(cfg) : NULL;
        g_auto(GStrv) exit_command = exit_command_build_argv(cfg);
        const SpawnCommand commands[SPAWN__MAX] = {
                [SPAWN_START] = { .argv = start },
                [SPAWN_HEALTH] = { .argv = health, .null_stdio = TRUE },
                [SPAWN_EXIT_COMMAND] = { .argv = exit_command, .detach = TRUE, .delay_s = MAX(cfg->exit_delay, 0) },
        };
        int r = spawner_new(&m->spawner, commands, m->oom_score_adj, on_spawned_exit, m);

        if (r < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Failed to fork the spawner: %s",
                            g_strerror(-r));
                return FALSE;
        }
        return TRUE;
}

static gboolean prepare_unit_cgroup(Monitor *m, GError **error)
{
        if (!m->cfg->vigil.unit_cgroup || m->cfg->exec || unit_cgroup_adopt(&m->json, m->cfg->bundle, spawner_pid(m->spawner)) == 0)
                return TRUE;
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "Failed to put the container in this service's cgroup (--unit-cgroup, see above)");
        return FALSE;
}

/* --start: run `runtime start` ourselves (a unit running vigil directly); else the engine does. */
static void start_container(Monitor *m)
{
        int r;

        if (!m->cfg->vigil.start || m->cfg->exec) {
                /* The engine starts it: the exec.fifo watch (monitor_control.c) tells when; only
                 * without one is "now" the best guess. */
                if (m->started_usec || !m->start_watch.source)
                        notify_container_started(m->notify);
                return;
        }
        if (m->container_exited)
                return;
        r = spawner_run(m->spawner, SPAWN_START, &m->start_pid);
        if (r < 0) {
                log_error("Failed to run %s start: %s", m->cfg->runtime, g_strerror(-r));
                m->start_pid = 0;
                kill(m->container_pid, SIGKILL);
        }
}

static void start_exited(Monitor *m, int wstatus)
{
        m->start_pid = 0;
        if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
                notify_container_started(m->notify);
                return;
        }
        /* A created container nobody starts would keep the monitor (and its unit) forever. */
        log_error("%s start failed with status %d", m->cfg->runtime, monitor_wait_status_to_exit(wstatus));
        if (m->container_pid > 0 && !m->container_exited)
                kill(m->container_pid, SIGKILL);
}

static gboolean setup(Monitor *m, GError **error)
{
        sigset_t set;
        int r;

        if (!become_daemon_child(m, error))
                return FALSE;
        signals_monitor_set(&set);
        r = signal_watch_start(&m->signals, &set, on_signal, m);
        if (r < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(-r), "Failed to watch signals: %s",
                            g_strerror(-r));
                return FALSE;
        }
        return open_bundle_endpoints(m, error) && monitor_control_open(m, error) && start_spawner(m, error) &&
               open_notify(m, error) &&
               prepare_unit_cgroup(m, error) && spawn_runtime(m, error);
}

int monitor_run(Monitor *m)
{
        g_autoptr(GError) error = NULL;
        int status;

        m->loop = g_main_loop_new(NULL, FALSE);
        if (!setup(m, &error)) {
                log_error("%s", error->message);
                sync_pipe_send(&m->sync, &m->json, -1, error->message);
                exit_command_run(m->cfg, m->spawner, m->oom_score_adj);
                return 1;
        }
        run_loop_until_progress(m);
        if (!take_container_pid(m)) {
                exit_command_run(m->cfg, m->spawner, m->oom_score_adj);
                return 1;
        }
        m->phase = PHASE_RUNNING;
        /* Before confinement: reading the namespaces and exe of the runtime's init (not
         * dumpable) takes CAP_SYS_PTRACE, which the run phase gives up. */
        monitor_control_created(m);
        notify_container_created(m->notify, m->container_pid);
        if (!confine_run_phase(m)) {
                exit_command_run(m->cfg, m->spawner, m->oom_score_adj);
                return 1;
        }
        start_container(m);
        stdio_relay_start(&m->stdio);
        if (!m->container_exited && oom_watch_start(&m->oom, m->container_pid, on_oom, m) < 0)
                log_debug("no memory cgroup to watch for OOM kills");
        if (m->cfg->timeout > 0)
                m->timeout_source = g_timeout_add_seconds(m->cfg->timeout, on_timeout, m);
        run_loop_until_progress(m);
        notify_container_exited(m->notify);
        m->phase = PHASE_EXITED;
        m->finished_usec = g_get_real_time();
        status = finish(m);
        exit_command_run(m->cfg, m->spawner, m->oom_score_adj);
        m->exit_status = status;
        return status < 0 ? 255 : status;
}

void monitor_deinit(Monitor *m)
{
        if (m->timeout_source)
                g_source_remove(m->timeout_source);
        m->timeout_source = 0;
        g_clear_handle_id(&m->abort_source, g_source_remove);
        g_clear_pointer(&m->attach, attach_server_free);
        ctl_fifos_close(&m->ctl);
        console_socket_close(&m->console);
        oom_watch_stop(&m->oom);
        monitor_control_close(m);
        g_clear_pointer(&m->notify, notify_free);
        g_clear_pointer(&m->spawner, spawner_free);
        g_clear_pointer(&m->confinement, confine_free);
        signal_watch_stop(&m->signals);
        if (m->stdio.sinks)
                stdio_relay_deinit(&m->stdio);
        sync_pipe_close(&m->sync);
        sync_pipe_close(&m->attach_pipe);
        fd_clear(&m->start_fd);
        g_clear_pointer(&m->inherited_fds, g_array_unref);
        g_clear_pointer(&m->early_exits, g_hash_table_unref);
        g_clear_pointer(&m->oom_score_adj, g_free);
        g_clear_pointer(&m->loop, g_main_loop_unref);
}
