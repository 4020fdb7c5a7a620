/* SPDX-License-Identifier: GPL-2.0-or-later */
/* File-descriptor helpers.  GLib 2.74 has no g_autofd, so AutoFd fills the gap. */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef int AutoFd;
void fd_close(int fd);
G_DEFINE_AUTO_CLEANUP_FREE_FUNC(AutoFd, fd_close, -1)

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
