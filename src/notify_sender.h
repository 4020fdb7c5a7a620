/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Who sent a datagram to the container's notify socket: the container's identity, and the
 * check of one sender, done when its datagram is received.
 *
 * A sender is inside when it is in the container's pid namespace or at or below its cgroups.
 * With SO_PASSPIDFD (Linux 6.5) each datagram carries a pidfd of its sender, so the check
 * needs no pid number that may have been reused:
 *
 *  - PIDFD_GET_INFO (6.13) gives the sender's cgroup v2 id; equal to the container's, it is
 *    inside (cgroup ids are never reused).  Since 6.16 the kernel keeps the id of a sender
 *    that has exited and been reaped since, so a short-lived sender is still recognised.
 *  - Otherwise /proc/PID is read, and the pidfd then shows whether PID still was the sender
 *    when it was read (pidfd_send_signal(0) fails once it is reaped).
 *
 * Without a pidfd (older kernels) /proc/PID is read as soon as the datagram is received.
 * A sender gone before it could be placed is "unverified" (-ESRCH): the relay's sender-check
 * mode decides (relaxed relays it, strict drops it).  On 6.16+ that does not happen: a
 * reaped sender whose cgroup id is not the container's is outside.
 * No state, no I/O beyond /proc and the pidfd; single-threaded.
 */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>

typedef struct {
        gboolean own_pidns;             /* the container has its own pid namespace */
        dev_t pidns_dev;
        ino_t pidns_ino;
        char *cgroup;                   /* /proc/<pid>/cgroup of the container; NULL: unusable */
        uint64_t cgroup_id;             /* its cgroup v2 id; 0: unknown or shared with the monitor */
} ContainerIdentity;

/* PIDFD_INFO_SIZE_VER0 of linux/pidfd.h (6.13): the fields every kernel with PIDFD_GET_INFO
 * fills.  The ioctl is on the run phase's allowlist (confine.c). */
struct pidfd_info_v0 {
        uint64_t mask;
        uint64_t cgroupid;
        uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
        int32_t exit_code;
};
#define PIDFD_GET_INFO_V0 _IOWR(0xFF, 11, struct pidfd_info_v0)

/* What the container's init (@container_pid) is: its pid namespace and cgroups.  0 or -errno. */
int container_identity_init(ContainerIdentity *id, pid_t container_pid);
void container_identity_clear(ContainerIdentity *id);

/* Does @pid belong to the container, read from /proc now?  1 yes, 0 no, -ESRCH gone. */
int container_identity_contains(const ContainerIdentity *id, pid_t pid);

/**
 * container_identity_check_sender() - is the sender of a datagram inside the container?
 * @pid: the sender as SCM_CREDENTIALS names it (0: unknown).
 * @pidfd: its SCM_PIDFD, or < 0 when the datagram came without one.
 * Return: 1 inside, 0 outside, -ESRCH when its identity cannot be established.
 */
int container_identity_check_sender(const ContainerIdentity *id, pid_t pid, int pidfd);

/* Is every hierarchy of @sender (a /proc/PID/cgroup text) at or below the one in @container? */
gboolean cgroup_text_contains(const char *container, const char *sender);

/* The cgroup v2 id of the process @pidfd refers to (alive, or exited since 6.16); 0 if unknown. */
uint64_t pidfd_cgroup_id(int pidfd);

/* Ask for SCM_PIDFD on @fd.  Return: 0, or -errno (-ENOPROTOOPT before Linux 6.5). */
int socket_pass_pidfd(int fd);

/* SCM_PIDFD (asm-generic/socket.h), which the C library's headers may not know yet. */
#define NOTIFY_SCM_PIDFD 0x04
