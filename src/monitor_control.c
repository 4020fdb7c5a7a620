/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor's side of the control socket: the ControlOps that read and act on the
 * Monitor, the socket's place (--control-socket, default <bundle>/vigil.sock), the
 * created/started/finished times, and the events the monitor reports at its transitions.
 *
 * "started" is not something the monitor is told: `runtime start` runs from the engine.  The
 * container's process is still the runtime's init when create returns, blocked opening
 * <state dir>/<id>/exec.fifo (runc and crun both work this way); `runtime start` opens that
 * FIFO, lets the init exec the entrypoint and deletes it.  An inotify watch on the FIFO turns
 * that into an event, so nothing polls.  Without the FIFO (another runtime, or a state dir
 * we cannot tell), the monitor notes the executable the process runs at creation and checks
 * for a change whenever somebody asks (GetState).
 */
#include "monitor.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "logging.h"
#include "userns.h"


/* An exec session asked to register ([registry] exec) has its socket in the registry itself. */
static char *exec_socket_path(const VigilConfig *cfg)
{
        g_autofree char *dir = cfg->vigil.registry_exec ? registry_dir(cfg->vigil.registry_dir) : NULL;
        g_autofree char *exec_dir = NULL;
        const char *session = cfg->cuuid ? cfg->cuuid : cfg->cid;
        int r;

        if (!dir || !registry_key_valid(session))
                return NULL;
        r = registry_exec_dir(dir, &exec_dir);
        if (r < 0) {
                log_warning("cannot use %s/%s for exec sessions' sockets: %s", dir, REGISTRY_EXEC,
                            registry_error(r));
                return NULL;
        }
        return g_strconcat(exec_dir, "/", session, REGISTRY_SUFFIX, NULL);
}

/* The socket's path, or NULL when there is none (--control-socket none, or an exec session
 * without an explicit path: its bundle is the container's, whose monitor owns vigil.sock). */
static char *control_socket_path(const VigilConfig *cfg)
{
        if (cfg->control_socket)
                return g_str_equal(cfg->control_socket, "none") ? NULL : g_strdup(cfg->control_socket);
        if (cfg->exec)
                return exec_socket_path(cfg);
        if (!cfg->bundle)
                return NULL;
        return g_build_filename(cfg->bundle, VIGIL_CONTROL_SOCKET_NAME, NULL);
}

/* Discovery (registry.h): a convenience, so a failure is reported and the container runs on. */
static void register_control_socket(Monitor *m, const char *path)
{
        const VigilConfig *cfg = m->cfg;
        g_autofree char *dir = NULL;
        int r;

        /* An exec session that registers has its socket in the registry already; and every
         * exec probe starts one, so it does not even look the directory up. */
        if (cfg->exec || !(dir = registry_dir(cfg->vigil.registry_dir)))
                return;
        r = registry_register(&m->registration, dir, cfg->cid, cfg->name && *cfg->name ? cfg->name : NULL, path);
        if (r < 0)
                log_warning("cannot register container %s in %s: %s", cfg->cid ? cfg->cid : "?", dir,
                            r == -EINVAL ? "its id or name cannot be a file name" : registry_error(r));
}

static gboolean exe_identity(pid_t pid, dev_t *ret_dev, ino_t *ret_ino)
{
        char path[64];
        struct stat st;

        g_snprintf(path, sizeof(path), "/proc/%d/exe", (int) pid);
        if (stat(path, &st) < 0)
                return FALSE;
        *ret_dev = st.st_dev;
        *ret_ino = st.st_ino;
        return TRUE;
}

static void stop_start_watch(Monitor *m)
{
        if (m->start_watch.source)
                g_source_remove(m->start_watch.source);
        m->start_watch.source = 0;
        if (m->start_watch.inotify_fd >= 0)
                close(m->start_watch.inotify_fd);
        m->start_watch.inotify_fd = -1;
}

static void mark_started(Monitor *m)
{
        ControlEvent ev = { .type = "started", .pid = m->container_pid };

        m->started_usec = g_get_real_time();
        stop_start_watch(m);
        control_server_emit(m->control, &ev);
        /* sd-notify conmon and healthy modes act on the real start. */
        notify_container_started(m->notify);
}

/* TRUE once there is nothing left to watch for. */
static gboolean check_started(Monitor *m)
{
        dev_t dev;
        ino_t ino;

        if (m->started_usec)
                return TRUE;
        if (m->phase != PHASE_RUNNING || m->container_exited)
                return m->phase == PHASE_EXITED;
        if (exe_identity(m->container_pid, &dev, &ino) && (dev != m->start_watch.dev || ino != m->start_watch.ino)) {
                mark_started(m);
                return TRUE;
        }
        return FALSE;
}

/*
 * The runtime's state directory: --root among the runtime arguments, else its default, which
 * runc and crun choose so: $XDG_RUNTIME_DIR/<name> for a user, and for root in a user
 * namespace (rootless podman passes no --root) unless USER is root; else /run/<name>.
 */
static char *runtime_state_dir(const VigilConfig *cfg)
{
        g_autofree char *base = g_path_get_basename(cfg->runtime);
        const char *xdg = g_getenv("XDG_RUNTIME_DIR");

        for (char **a = cfg->runtime_args; a && *a; a++) {
                if (g_str_equal(*a, "--root") && a[1])
                        return g_strdup(a[1]);
                if (g_str_has_prefix(*a, "--root="))
                        return g_strdup(*a + 7);
        }
        if (xdg && *xdg && (geteuid() != 0 || (!userns_is_host_root() && g_strcmp0(g_getenv("USER"), "root") != 0)))
                return g_build_filename(xdg, base, NULL);
        return g_build_filename("/run", base, NULL);
}

static gboolean on_exec_fifo(int fd, GIOCondition cond, gpointer data)
{
        Monitor *m = data;
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        gboolean gone = FALSE;
        ssize_t n = read(fd, buf, sizeof(buf));

        for (char *p = buf; n > 0 && p < buf + n;) {
                const struct inotify_event *e = (const struct inotify_event *) p;
                gone |= (e->mask & (IN_DELETE_SELF | IN_IGNORED)) != 0;
                p += sizeof(*e) + e->len;
        }
        /* The FIFO is deleted once `runtime start` has released the init. */
        if (gone || check_started(m)) {
                m->start_watch.source = 0;
                if (!m->started_usec)
                        mark_started(m);
                return G_SOURCE_REMOVE;
        }
        return G_SOURCE_CONTINUE;
}

/* Watches exec.fifo; FALSE when there is none to watch. */
static gboolean watch_exec_fifo(Monitor *m)
{
        g_autofree char *dir = runtime_state_dir(m->cfg);
        g_autofree char *fifo = g_build_filename(dir, m->cfg->cid, "exec.fifo", NULL);
        int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

        if (fd < 0)
                return FALSE;
        if (inotify_add_watch(fd, fifo, IN_OPEN | IN_DELETE_SELF) < 0) {
                close(fd);
                return FALSE;
        }
        m->start_watch.inotify_fd = fd;
        m->start_watch.source = g_unix_fd_add(fd, G_IO_IN, on_exec_fifo, m);
        return TRUE;
}

void monitor_control_created(Monitor *m)
{
        m->created_usec = g_get_real_time();
        m->start_watch.inotify_fd = -1;
        /* exec runs the process directly; a runtime we cannot inspect counts as started. */
        if (m->cfg->exec || !exe_identity(m->container_pid, &m->start_watch.dev, &m->start_watch.ino)) {
                mark_started(m);
                return;
        }
        if ((m->control || m->notify) && !watch_exec_fifo(m))
                log_debug("no exec.fifo to watch: the started state is checked when asked");
}

/* --- ControlOps --------------------------------------------------------------------------- */

static ControlStatus current_status(Monitor *m)
{
        if (m->phase == PHASE_CREATING)
                return CONTROL_STATUS_CREATING;
        if (m->phase == PHASE_EXITED || m->container_exited)
                return CONTROL_STATUS_STOPPED;
        check_started(m);
        return m->started_usec ? CONTROL_STATUS_RUNNING : CONTROL_STATUS_CREATED;
}

static void fill_notify_state(Monitor *m, ControlState *st)
{
        NotifyRelay *relay = notify_get_relay(m->notify);
        const NotifyState *ns = relay ? notify_relay_state(relay) : NULL;

        if (!ns)
                return;
        st->notify = (ControlNotifyState) {
                .enabled = TRUE,
                .ready = ns->ready,
                .reloading = ns->reloading,
                .stopping = ns->stopping,
                .status = ns->status,
                .last_watchdog_usec = ns->last_watchdog_usec,
                .relayed = ns->relayed,
                .dropped = ns->dropped,
        };
        if (ns->health)
                st->health = (ControlHealthState) { .enabled = TRUE, .status = ns->health };
}

static void op_get_state(gpointer data, ControlState *st)
{
        Monitor *m = data;
        const VigilConfig *cfg = m->cfg;

        st->id = cfg->cid;
        st->name = cfg->name;
        st->runtime = cfg->runtime;
        st->bundle = cfg->bundle;
        st->container_pid = m->container_pid > 0 ? m->container_pid : 0;
        st->monitor_pid = m->self_pid;
        st->status = current_status(m);
        if (st->status == CONTROL_STATUS_STOPPED && m->container_exited) {
                st->exited = TRUE;
                st->exit_code = m->timed_out ? -1 : monitor_wait_status_to_exit(m->container_wstatus);
                st->signal = WIFSIGNALED(m->container_wstatus) ? WTERMSIG(m->container_wstatus) : 0;
        }
        fill_notify_state(m, st);
        st->oom = m->oom_killed;
        st->created_usec = m->created_usec;
        st->started_usec = m->started_usec;
        st->finished_usec = m->finished_usec;
}

/* The number on the first line of @file under @dir, or on the line "@key N"; -1 if none. */
static gint64 read_cgroup_value(const char *dir, const char *file, const char *key)
{
        g_autofree char *path = g_build_filename(dir, file, NULL);
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        gint64 value;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return -1;
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++) {
                const char *v = *l;
                if (key) {
                        if (!g_str_has_prefix(v, key) || v[strlen(key)] != ' ')
                                continue;
                        v += strlen(key) + 1;
                }
                return g_ascii_string_to_signed(v, 10, 0, G_MAXINT64, &value, NULL) ? value : -1;
        }
        return -1;
}

static void get_cgroup_stats(pid_t pid, ControlStats *st)
{
        g_autofree char *path = g_strdup_printf("/proc/%d/cgroup", (int) pid);
        g_autofree char *text = NULL;
        g_autofree char *memory = NULL;
        g_autofree char *cpu = NULL;
        g_autofree char *pids = NULL;
        gint64 ns;

        if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
                return;
        if (g_file_test("/sys/fs/cgroup/cgroup.controllers", G_FILE_TEST_EXISTS)) {
                g_autofree char *dir = cgroup_dir(text, NULL);
                if (!dir)
                        return;
                st->cgroup_memory_bytes = read_cgroup_value(dir, "memory.current", NULL);
                st->cgroup_cpu_usec = read_cgroup_value(dir, "cpu.stat", "usage_usec");
                st->cgroup_pids = read_cgroup_value(dir, "pids.current", NULL);
                return;
        }
        if ((memory = cgroup_dir(text, "memory")))
                st->cgroup_memory_bytes = read_cgroup_value(memory, "memory.usage_in_bytes", NULL);
        if ((cpu = cgroup_dir(text, "cpuacct")) && (ns = read_cgroup_value(cpu, "cpuacct.usage", NULL)) >= 0)
                st->cgroup_cpu_usec = ns / 1000;
        if ((pids = cgroup_dir(text, "pids")))
                st->cgroup_pids = read_cgroup_value(pids, "pids.current", NULL);
}

static void add_sink_stats(ControlStats *st, const LogStats *ls)
{
        /* Every sink sees the same output: take the largest count, add up what each lost. */
        for (int i = 0; i < 2; i++) {
                st->log_bytes[i] = MAX(st->log_bytes[i], ls->bytes[i]);
                st->log_lines[i] = MAX(st->log_lines[i], ls->records[i]);
        }
        st->partial_records = MAX(st->partial_records, ls->partial_records);
        st->rotations += ls->rotations;
        st->bytes_dropped += ls->bytes_dropped;
        st->records_dropped += ls->records_dropped;
}

/* "READY" and "READY_dropped" for every key that was seen, relayed or dropped. */
static void fill_notify_counters(Monitor *m, ControlStats *st)
{
        NotifyRelay *relay = notify_get_relay(m->notify);
        const NotifyLineCounters *c = relay ? &notify_relay_state(relay)->lines : NULL;
        size_t n = 0;

        for (int k = 0; c && k < NOTIFY_KEY__MAX; k++) {
                g_snprintf(m->notify_counter_names[k], sizeof(m->notify_counter_names[k]), "%s_dropped",
                           notify_key_name(k));
                if (c->relayed[k])
                        m->notify_counters[n++] = (ControlCounter) { notify_key_name(k), c->relayed[k] };
                if (c->dropped[k])
                        m->notify_counters[n++] = (ControlCounter) { m->notify_counter_names[k], c->dropped[k] };
        }
        st->notify_counters = n ? m->notify_counters : NULL;
        st->n_notify_counters = n;
}

static void op_get_stats(gpointer data, ControlStats *st)
{
        Monitor *m = data;
        g_autofree char *statm = NULL;
        struct rusage ru;

        fill_notify_counters(m, st);
        for (guint i = 0; m->stdio.sinks && i < m->stdio.sinks->len; i++)
                add_sink_stats(st, &((LogSink *) g_ptr_array_index(m->stdio.sinks, i))->stats);
        st->attach_clients = attach_client_count(m->attach);
        st->attach_clients_dropped = attach_clients_dropped(m->attach);
        if (g_file_get_contents("/proc/self/statm", &statm, NULL, NULL)) {
                unsigned long size, resident;
                if (sscanf(statm, "%lu %lu", &size, &resident) == 2)
                        st->rss_bytes = (uint64_t) resident * (uint64_t) sysconf(_SC_PAGESIZE);
        }
        if (getrusage(RUSAGE_SELF, &ru) == 0) {
                st->cpu_user_usec = (uint64_t) ru.ru_utime.tv_sec * G_USEC_PER_SEC + ru.ru_utime.tv_usec;
                st->cpu_system_usec = (uint64_t) ru.ru_stime.tv_sec * G_USEC_PER_SEC + ru.ru_stime.tv_usec;
        }
        if (!m->container_exited)
                get_cgroup_stats(m->container_pid, st);
}

static int op_kill(gpointer data, int signo)
{
        Monitor *m = data;

        if (m->phase != PHASE_RUNNING || m->container_exited || m->container_pid <= 0)
                return -ESRCH;
        return kill(m->container_pid, signo) < 0 ? -errno : 0;
}

static int op_resize(gpointer data, int rows, int cols)
{
        Monitor *m = data;

        if (m->stdio.master < 0)
                return -ENOTTY;
        if (m->phase == PHASE_EXITED)
                return -ESRCH;
        return console_resize(m->stdio.master, rows, cols);
}

static int op_reopen_log(gpointer data, const char **failed_path)
{
        Monitor *m = data;
        int r = stdio_relay_reopen_logs(&m->stdio);

        /* Journald has nothing to reopen: a failure is the k8s-file log's (stdio_relay.h). */
        if (r < 0)
                *failed_path = m->cfg->log_k8s_path;
        return r;
}

static const ControlOps monitor_control_ops = {
        .get_state = op_get_state,
        .get_stats = op_get_stats,
        .kill = op_kill,
        .resize = op_resize,
        .reopen_log = op_reopen_log,
};

/* --- lifecycle ------------------------------------------------------------------------- */

gboolean monitor_control_open(Monitor *m, GError **error)
{
        g_autofree char *path = control_socket_path(m->cfg);
        g_autoptr(GError) local = NULL;

        if (!path)
                return TRUE;
        m->control = control_server_new(path, &monitor_control_ops, m, &m->json, NULL, &local);
        if (m->control) {
                register_control_socket(m, path);
                return TRUE;
        }
        /* Only a socket the caller asked for by name is worth failing the container for. */
        if (m->cfg->control_socket) {
                g_propagate_error(error, g_steal_pointer(&local));
                return FALSE;
        }
        log_warning("%s", local->message);
        return TRUE;
}

void monitor_control_emit(Monitor *m, const char *type, const char *text)
{
        ControlEvent ev = { .type = type, .text = text };

        control_server_emit(m->control, &ev);
}

void monitor_control_exited(Monitor *m)
{
        stop_start_watch(m);
        control_server_exited(m->control);
        monitor_control_close(m);
}

void monitor_control_close(Monitor *m)
{
        stop_start_watch(m);
        /* Before the socket goes: an entry never outlives what it leads to. */
        registry_unregister(&m->registration);
        g_clear_pointer(&m->control, control_server_free);
}
