/* SPDX-License-Identifier: GPL-2.0-or-later */
/* File-descriptor helpers.  GLib 2.74 has no g_autofd, so AutoFd fills the gap. */
#pragma once

#include <glib.h>
#include <sys/types.h>
#include <sys/un.h>

void fd_close(int fd);
void fd_closep(int *fd);

/*
 * An owned fd: `AutoFd fd = open(...);` closes it when it goes out of scope.  The cleanup is
 * part of the type, so it cannot be declared without it (a plain typedef could, and leaked);
 * as a struct member or parameter the attribute is rejected under -Werror.
 */
#define AutoFd __attribute__((cleanup(fd_closep))) int

static inline int steal_fd(int *fd)
{
        int r = *fd;
        *fd = -1;
        return r;
}

/* Close *fd if open and set it to -1. */
void fd_clear(int *fd);

int fd_set_cloexec(int fd, gboolean on);
int fd_set_nonblock(int fd, gboolean on);

/* Reads an fd number from environment variable @name; -ENOENT if unset, -EBADF if invalid. */
int fd_from_env(const char *name);

/**
 * write_file_atomic() - replace @path with @data through a temporary file and rename(2).
 * Readers (podman polls exit files and parses the whole content) never see a partial file.
 * Return: 0 or -errno.
 */
int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode);

/* write(2) all of @buf, retrying on EINTR and short writes (blocking fds).  0 or -errno. */
int write_all(int fd, const void *buf, size_t len);

/**
 * unix_address_in_dir() - fill @sa with the name of socket @name in the directory open as
 * @dirfd, addressed as /proc/self/fd/DIRFD/NAME: sun_path holds 108 bytes, and bundle paths
 * (podman's are ~130) are often longer.
 * Return: the address length for bind(2)/connect(2), or -ENAMETOOLONG.
 */
int unix_address_in_dir(struct sockaddr_un *sa, int dirfd, const char *name);
