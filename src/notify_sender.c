/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "notify_sender.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdutil.h"

/* linux/pidfd.h and asm/socket.h of Linux 6.13 / 6.5; Debian 12's headers predate both. */
#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#define PIDFD_INFO_PID (1ULL << 0)
#define PIDFD_INFO_CGROUPID (1ULL << 2)
#define PIDFD_INFO_EXIT (1ULL << 3)

G_STATIC_ASSERT(sizeof(struct pidfd_info_v0) == 64);

int socket_pass_pidfd(int fd)
{
        int one = 1;

        return setsockopt(fd, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof(one)) < 0 ? -errno : 0;
}

uint64_t pidfd_cgroup_id(int pidfd)
{
        /* With PIDFD_INFO_EXIT a reaped process still answers, with its cgroup at exit. */
        struct pidfd_info_v0 info = { .mask = PIDFD_INFO_CGROUPID | PIDFD_INFO_EXIT };

        if (pidfd < 0 || ioctl(pidfd, PIDFD_GET_INFO_V0, &info) < 0)
                return 0;
        return (info.mask & PIDFD_INFO_CGROUPID) ? info.cgroupid : 0;
}

static uint64_t pid_cgroup_id(pid_t pid)
{
        AutoFd pidfd = (int) syscall(SYS_pidfd_open, pid, 0);

        return pidfd_cgroup_id(pidfd);
}

/* --- the container ----------------------------------------------------------------------- */

static char *read_cgroup(pid_t pid)
{
        char path[64];
        char *text = NULL;

        if (pid)
                snprintf(path, sizeof(path), "/proc/%d/cgroup", (int) pid);
        else
                snprintf(path, sizeof(path), "/proc/self/cgroup");
        if (!g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        return text;
}

static int stat_pidns(pid_t pid, struct stat *st)
{
        char path[64];

        if (pid)
                snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) pid);
        else
                snprintf(path, sizeof(path), "/proc/self/ns/pid");
        return stat(path, st) < 0 ? -errno : 0;
}

int container_identity_init(ContainerIdentity *id, pid_t container_pid)
{
        g_autofree char *own_cgroup = read_cgroup(0);
        struct stat st, self;
        int r;

        memset(id, 0, sizeof(*id));
        r = stat_pidns(container_pid, &st);
        if (r < 0)
                return r;
        if (stat_pidns(0, &self) == 0 && (self.st_dev != st.st_dev || self.st_ino != st.st_ino)) {
                id->own_pidns = TRUE;
                id->pidns_dev = st.st_dev;
                id->pidns_ino = st.st_ino;
        }
        id->cgroup = read_cgroup(container_pid);
        /* Sharing the monitor's cgroups says nothing about a sender. */
        if (id->cgroup && own_cgroup && g_str_equal(id->cgroup, own_cgroup))
                g_clear_pointer(&id->cgroup, g_free);
        id->cgroup_id = pid_cgroup_id(container_pid);
        if (id->cgroup_id == pid_cgroup_id(getpid()))
                id->cgroup_id = 0;
        return 0;
}

void container_identity_clear(ContainerIdentity *id)
{
        g_clear_pointer(&id->cgroup, g_free);
}

/* The line of @text whose "ID:CONTROLLERS:" part is @prefix (@plen bytes); its path or NULL. */
static const char *cgroup_path_for(const char *text, const char *prefix, size_t plen, size_t *ret_len)
{
        for (const char *p = text; p && *p;) {
                const char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t) (nl - p) : strlen(p);
                if (l >= plen && memcmp(p, prefix, plen) == 0) {
                        *ret_len = l - plen;
                        return p + plen;
                }
                p = nl ? nl + 1 : NULL;
        }
        return NULL;
}

gboolean cgroup_text_contains(const char *container, const char *sender)
{
        gboolean specific = FALSE;
        const char *p = container;

        while (p && *p) {
                const char *nl = strchr(p, '\n');
                size_t l = nl ? (size_t) (nl - p) : strlen(p);
                const char *line = p;
                const char *colon = memchr(line, ':', l);
                const char *colon2 = colon ? memchr(colon + 1, ':', l - (size_t) (colon + 1 - line)) : NULL;
                const char *cpath, *spath;
                size_t prefix_len, cplen, splen;

                p = nl ? nl + 1 : NULL;
                if (!colon2)
                        continue;
                prefix_len = (size_t) (colon2 + 1 - line);
                cpath = colon2 + 1;
                cplen = l - prefix_len;
                spath = cgroup_path_for(sender, line, prefix_len, &splen);
                if (!spath)
                        return FALSE;
                if (cplen == 1 && cpath[0] == '/')
                        continue; /* the root cgroup holds everyone */
                /* At or below the container's cgroup: its own sub-cgroups count too. */
                if (splen < cplen || memcmp(spath, cpath, cplen) != 0 || (splen > cplen && spath[cplen] != '/'))
                        return FALSE;
                specific = TRUE;
        }
        return specific;
}

int container_identity_contains(const ContainerIdentity *id, pid_t pid)
{
        g_autofree char *cgroup = NULL;
        struct stat st;
        int r;

        if (pid <= 0)
                return 0;
        if (id->own_pidns) {
                r = stat_pidns(pid, &st);
                if (r == 0 && st.st_dev == id->pidns_dev && st.st_ino == id->pidns_ino)
                        return 1;
        }
        cgroup = read_cgroup(pid);
        if (!cgroup) {
                /* Gone already (sd_notify() then exit), or a zombie without namespaces. */
                return -ESRCH;
        }
        return id->cgroup && cgroup_text_contains(id->cgroup, cgroup) ? 1 : 0;
}

/* --- one sender ------------------------------------------------------------------------------ */

/* Has the process @pidfd refers to been reaped?  Its pid number may name another one then. */
static gboolean pidfd_reaped(int pidfd)
{
        /* Signal 0 checks without sending; a zombie still counts, its pid is still its own. */
        return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0 && errno == ESRCH;
}

int container_identity_check_sender(const ContainerIdentity *id, pid_t pid, int pidfd)
{
        uint64_t cgroup_id;
        int c;

        if (pidfd < 0)
                return container_identity_contains(id, pid);
        /* One ioctl for the usual sender: a process in the container's own cgroup. */
        cgroup_id = pidfd_cgroup_id(pidfd);
        if (id->cgroup_id && cgroup_id == id->cgroup_id)
                return 1;
        c = container_identity_contains(id, pid);
        /* Gone, or reaped by the time /proc/PID was read (then it may have been another
         * process).  Where the kernel still told its cgroup (6.16+), that was not the
         * container's: outside. */
        if (c == -ESRCH || pidfd_reaped(pidfd))
                return cgroup_id ? 0 : -ESRCH;
        return c;
}
