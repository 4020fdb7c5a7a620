/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <gmodule.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"
#include "notify_sender.h"

/*
 * What the run phase does, and the calls it takes: relay pipes and sockets (read, write,
 * splice, poll, sendmsg with fds), serve unix sockets (accept), write and rotate logs and exit
 * files (open, rename, unlink, ftruncate, fsync), resize the terminal (ioctl), signal the
 * container (kill), load json-glib and libsystemd on first use (mmap, mprotect), watch the
 * exec fifo and the OOM cgroup files (inotify, eventfd), and GLib's own (futex, getrandom).
 * Not in the list, among others: execve, fork and clone, ptrace, process_vm_*, mount and
 * pivot_root, setns and unshare, module and kexec loading, bpf, keyctl, userfaultfd,
 * perf_event_open, pidfd_getfd, setuid and friends.
 */
static const char *const allowed[] = {
        /* memory and process */
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "exit", "exit_group",
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "restart_syscall",
        "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getgroups",
        "getresuid", "getresgid", "getpgrp", "getpgid", "getsid", "getrlimit", "prlimit64",
        "getrusage", "times", "sysinfo", "uname", "umask", "getcwd", "capget",
        "futex", "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity",
        "membarrier", "getrandom",
        /* time */
        "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday", "time", "nanosleep",
        "timerfd_create", "timerfd_settime", "timerfd_gettime",
        /* signals and children: the container, `runtime create`'s leftovers, the spawner */
        "kill", "tgkill", "tkill", "pidfd_open", "pidfd_send_signal", "wait4", "waitid",
        "signalfd4",
        /* fds */
        "read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64", "pwritev",
        "pwritev2", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "lseek", "pipe", "pipe2",
        "splice", "tee", "sendfile", "copy_file_range", "eventfd2", "memfd_create",
        "poll", "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        /* files */
        "open", "openat", "openat2", "creat", "stat", "fstat", "lstat", "newfstatat", "statx",
        "statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
        "getdents64", "rename", "renameat", "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat",
        "rmdir", "chmod", "fchmod", "fchmodat", "fchown", "ftruncate", "fallocate", "fsync",
        "fdatasync", "sync_file_range", "fadvise64", "utimensat", "mknodat", "mknod",
        /* sockets: which families is in add_socket_rules() */
        "socketpair", "connect", "accept", "accept4", "bind", "listen", "shutdown", "sendto",
        "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "getsockopt", "setsockopt",
        "getsockname", "getpeername",
};

/* ioctl requests: terminal size and modes (resize, isatty), readable bytes, fd flags, and
 * an sd_notify sender's cgroup through its pidfd (notify_sender.c). */
static const unsigned long allowed_ioctls[] = {
        TIOCSWINSZ, TIOCGWINSZ, TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGPTN, TIOCGPGRP,
        FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, PIDFD_GET_INFO_V0,
};

/* prctl options: thread names (GLib), and the reads some libraries make. */
static const int allowed_prctls[] = {
        PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_GET_NO_NEW_PRIVS, PR_GET_SECCOMP,
        PR_CAPBSET_READ, PR_GET_PDEATHSIG, PR_GET_CHILD_SUBREAPER,
};

/* The capabilities the run phase uses, on a root monitor:
 *   KILL              forward signals to a container whose processes run as another user
 *   DAC_OVERRIDE,     exit files, logs and sockets in directories the engine chose
 *   DAC_READ_SEARCH,
 *   FOWNER
 *   SYS_RESOURCE      a log disk's reserved blocks and pipe sizes, as conmon has */
static const int kept_caps[] = {
        CAP_KILL, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SYS_RESOURCE,
};

guint64 confine_kept_capabilities(void)
{
        guint64 mask = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(kept_caps); i++)
                mask |= 1ULL << kept_caps[i];
        return mask;
}

static int monitor_status(int wstatus)
{
        return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

/* --- libseccomp, loaded for the time it takes to build the filter ------------------------ */

typedef struct {
        GModule *module;
        scmp_filter_ctx (*init)(uint32_t def_action);
        void (*release)(scmp_filter_ctx ctx);
        int (*attr_set)(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value);
        int (*resolve_name)(const char *name);
        char *(*resolve_num_arch)(uint32_t arch, int num);
        int (*rule_add_array)(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int count,
                              const struct scmp_arg_cmp *args);
        int (*export_bpf)(scmp_filter_ctx ctx, int fd);
} SeccompApi;

static void seccomp_api_close(SeccompApi *api)
{
        if (api->module)
                g_module_close(api->module);
        api->module = NULL;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SeccompApi, seccomp_api_close)

static gboolean seccomp_api_open(SeccompApi *api, GError **error)
{
        static const struct {
                size_t offset;
                const char *name;
        } symbols[] = {
                { G_STRUCT_OFFSET(SeccompApi, init), "seccomp_init" },
                { G_STRUCT_OFFSET(SeccompApi, release), "seccomp_release" },
                { G_STRUCT_OFFSET(SeccompApi, attr_set), "seccomp_attr_set" },
                { G_STRUCT_OFFSET(SeccompApi, resolve_name), "seccomp_syscall_resolve_name" },
                { G_STRUCT_OFFSET(SeccompApi, resolve_num_arch), "seccomp_syscall_resolve_num_arch" },
                { G_STRUCT_OFFSET(SeccompApi, rule_add_array), "seccomp_rule_add_array" },
                { G_STRUCT_OFFSET(SeccompApi, export_bpf), "seccomp_export_bpf" },
        };

        api->module = g_module_open(VIGIL_LIBSECCOMP_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
        if (!api->module) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot load %s: %s",
                            VIGIL_LIBSECCOMP_SONAME, g_module_error());
                return FALSE;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(symbols); i++) {
                if (!g_module_symbol(api->module, symbols[i].name, G_STRUCT_MEMBER_P(api, symbols[i].offset))) {
                        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s has no %s",
                                    VIGIL_LIBSECCOMP_SONAME, symbols[i].name);
                        return FALSE;
                }
        }
        return TRUE;
}

static gboolean fail_errno(GError **error, const char *what)
{
        int e = errno;

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(e), "%s: %s", what, g_strerror(e));
        return FALSE;
}

/* --- EPERM and a report for calls outside the list --------------------------------------- */

#if defined(__x86_64__)
#define SIGSYS_SET_RESULT(uc, value) ((uc)->uc_mcontext.gregs[REG_RAX] = (value))
#elif defined(__aarch64__)
#define SIGSYS_SET_RESULT(uc, value) ((uc)->uc_mcontext.regs[0] = (value))
#endif

#define SIGSYS_TRACKED 1024

struct Confinement {
        int report[2];          /* the SIGSYS handler writes syscall numbers to [1] */
        guint source;
};

/*
 * The handler's state.  A signal handler reaches nothing but process-wide variables; these
 * are set once, before the filter is loaded, and read only by the handler.
 */
static int sigsys_report_fd = -1;
static unsigned char sigsys_seen[SIGSYS_TRACKED];

#ifdef SIGSYS_SET_RESULT
static void on_sigsys(int signo, siginfo_t *info, void *context)
{
        int nr = info->si_syscall;
        int saved = errno;

        SIGSYS_SET_RESULT((ucontext_t *) context, -EPERM);
        if (nr < 0 || nr >= SIGSYS_TRACKED || !__atomic_test_and_set(&sigsys_seen[nr], __ATOMIC_RELAXED))
                (void) !write(sigsys_report_fd, &nr, sizeof(nr));
        errno = saved;
}
#endif

static void log_denied(int nr)
{
        g_auto(SeccompApi) api = { 0 };
        char *name = NULL;

        /* Rare by design: loading libseccomp again is cheaper than keeping it. */
        if (seccomp_api_open(&api, NULL))
                name = api.resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        log_warning("seccomp: %s (syscall %d) is not allowed after setup; it failed with EPERM (logged once)",
                    name ? name : "unknown", nr);
        free(name);
}

static gboolean on_report(int fd, GIOCondition cond, gpointer data)
{
        int nr;

        while (read(fd, &nr, sizeof(nr)) == sizeof(nr))
                log_denied(nr);
        return G_SOURCE_CONTINUE;
}

static gboolean install_sigsys_handler(Confinement *c, GError **error)
{
#ifdef SIGSYS_SET_RESULT
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_RESTART };

        if (pipe2(c->report, O_CLOEXEC | O_NONBLOCK) < 0)
                return fail_errno(error, "pipe2");
        sigsys_report_fd = c->report[1];
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) < 0) {
                g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "sigaction(SIGSYS): %s",
                            g_strerror(errno));
                return FALSE;
        }
        c->source = g_unix_fd_add(c->report[0], G_IO_IN, on_report, c);
#endif
        return TRUE;
}

/* --- the filter -------------------------------------------------------------------------- */

static int add_rule(SeccompApi *api, scmp_filter_ctx ctx, const char *name, unsigned n,
                    const struct scmp_arg_cmp *args)
{
        int nr = api->resolve_name(name);

        /* A name this architecture lacks (open on aarch64) simply has nothing to allow. */
        if (nr == __NR_SCMP_ERROR || nr < 0)
                return 0;
        return api->rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, args);
}

static int add_rules(SeccompApi *api, scmp_filter_ctx ctx)
{
        struct scmp_arg_cmp unix_only = { 0, SCMP_CMP_EQ, AF_UNIX, 0 };
        int r = add_rule(api, ctx, "socket", 1, &unix_only);

        for (size_t i = 0; r == 0 && i < G_N_ELEMENTS(allowed); i++)
                r = add_rule(api, ctx, allowed[i], 0, NULL);
        /* ioctl's request is an unsigned int: compare the low 32 bits only. */
        for (size_t i = 0; r == 0 && i < G_N_ELEMENTS(allowed_ioctls); i++) {
                struct scmp_arg_cmp req = { 1, SCMP_CMP_MASKED_EQ, 0xffffffffUL, allowed_ioctls[i] };
                r = add_rule(api, ctx, "ioctl", 1, &req);
        }
        for (size_t i = 0; r == 0 && i < G_N_ELEMENTS(allowed_prctls); i++) {
                struct scmp_arg_cmp option = { 0, SCMP_CMP_EQ, (scmp_datum_t) allowed_prctls[i], 0 };
                r = add_rule(api, ctx, "prctl", 1, &option);
        }
        return r;
}

/* In the short-lived child: build the filter and write its BPF program to @fd. */
static G_GNUC_NORETURN void export_filter(SeccompMode mode, int fd)
{
        g_auto(SeccompApi) api = { 0 };
        uint32_t action = SCMP_ACT_ERRNO(EPERM);
        scmp_filter_ctx ctx;
        int r = -EINVAL;

#ifdef SIGSYS_SET_RESULT
        action = SCMP_ACT_TRAP;
#endif
        if (mode == SECCOMP_MODE_LOG)
                action = SCMP_ACT_LOG;
        if (!seccomp_api_open(&api, NULL) || !(ctx = api.init(action)))
                _exit(2);
        /* Another ABI's calls (i386 on x86_64) fail rather than kill the monitor. */
        r = api.attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(EPERM));
        if (r == 0)
                r = add_rules(&api, ctx);
        if (r == 0)
                r = api.export_bpf(ctx, fd);
        _exit(r == 0 ? 0 : 1);
}

/*
 * The filter's BPF program.  libseccomp builds it in a child that exits at once: the monitor
 * never maps the library, and the heap it would leave dirty (about 190 kB per monitor) goes
 * with the child.
 */
static gboolean build_filter(SeccompMode mode, GByteArray *ret_prog, GError **error)
{
        AutoFd rd = -1;
        AutoFd wr = -1;
        int fds[2], wstatus;
        guint8 buf[4096];
        ssize_t n;
        pid_t pid;

        if (pipe2(fds, O_CLOEXEC) < 0)
                return fail_errno(error, "pipe2");
        rd = fds[0];
        wr = fds[1];
        pid = fork();
        if (pid < 0)
                return fail_errno(error, "fork");
        if (pid == 0)
                export_filter(mode, wr);
        fd_clear(&wr);
        while ((n = read(rd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
                if (n > 0)
                        g_byte_array_append(ret_prog, buf, n);
        while (waitpid(pid, &wstatus, 0) < 0)
                if (errno != EINTR)
                        return fail_errno(error, "waitpid");
        if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0 || ret_prog->len == 0 ||
            ret_prog->len % sizeof(struct sock_filter)) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                            "building the seccomp filter with %s failed (status %d)", VIGIL_LIBSECCOMP_SONAME,
                            monitor_status(wstatus));
                return FALSE;
        }
        return TRUE;
}

static gboolean load_filter(SeccompMode mode, GError **error)
{
        g_autoptr(GByteArray) prog = g_byte_array_new();
        struct sock_fprog fprog;

        if (!build_filter(mode, prog, error))
                return FALSE;
        fprog.len = prog->len / sizeof(struct sock_filter);
        fprog.filter = (struct sock_filter *) prog->data;
        /* TSYNC: every thread, should a library ever have started one. */
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fprog) != 0)
                return fail_errno(error, "Failed to load the seccomp filter");
        return TRUE;
}

/* --- capabilities ------------------------------------------------------------------------ */

static gboolean drop_capabilities(GError **error)
{
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };
        guint64 keep = confine_kept_capabilities();
        gboolean can_drop_bounding;

        if (syscall(SYS_capget, &header, data) < 0)
                return fail_errno(error, "capget");
        /* Without CAP_SETPCAP (a rootless monitor) the bounding set stays: NoNewPrivs already
         * keeps anything exec'd from gaining more. */
        can_drop_bounding = data[0].effective & (1U << CAP_SETPCAP);
        for (int cap = 0; can_drop_bounding && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
                if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
                        return fail_errno(error, "PR_CAPBSET_DROP");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return fail_errno(error, "PR_CAP_AMBIENT_CLEAR_ALL");
        for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
                data[i].permitted &= (uint32_t) (keep >> (32 * i));
                data[i].effective &= data[i].permitted;
                data[i].inheritable = 0;
        }
        if (syscall(SYS_capset, &header, data) < 0)
                return fail_errno(error, "capset");
        return TRUE;
}

gboolean confine_apply(SeccompMode mode, Confinement **ret, GError **error)
{
        g_autoptr(Confinement) c = NULL;

        *ret = NULL;
        if (mode == SECCOMP_MODE_OFF)
                return TRUE;
        c = g_new0(Confinement, 1);
        c->report[0] = c->report[1] = -1;
        if (!drop_capabilities(error))
                return FALSE;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return fail_errno(error, "PR_SET_NO_NEW_PRIVS");
        if (mode == SECCOMP_MODE_ENFORCE && !install_sigsys_handler(c, error))
                return FALSE;
        if (!load_filter(mode, error))
                return FALSE;
        *ret = g_steal_pointer(&c);
        return TRUE;
}

Confinement *confine_free(Confinement *c)
{
        if (!c)
                return NULL;
        if (c->source)
                g_source_remove(c->source);
        /* The filter stays with the process; the handler must not write to a closed fd. */
        if (sigsys_report_fd == c->report[1])
                sigsys_report_fd = -1;
        fd_clear(&c->report[0]);
        fd_clear(&c->report[1]);
        g_free(c);
        return NULL;
}
