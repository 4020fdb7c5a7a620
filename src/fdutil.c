/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fdutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

void fd_close(int fd)
{
        /* Never retry close() on EINTR: Linux has released the fd already. */
        if (fd >= 0)
                close(fd);
}

void fd_closep(int *fd)
{
        fd_close(*fd);
}

void fd_clear(int *fd)
{
        fd_close(*fd);
        *fd = -1;
}

int fd_set_cloexec(int fd, gboolean on)
{
        int flags = fcntl(fd, F_GETFD);
        if (flags < 0)
                return -errno;
        flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
        return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
}

int fd_set_nonblock(int fd, gboolean on)
{
        int flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        flags = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

int fd_from_env(const char *name)
{
        const char *value = g_getenv(name);
        char *end = NULL;
        long fd;

        if (!value)
                return -ENOENT;
        errno = 0;
        fd = strtol(value, &end, 10);
        if (errno || end == value || *end || fd < 0 || fd > INT_MAX || fcntl((int) fd, F_GETFD) < 0)
                return -EBADF;
        return (int) fd;
}

int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= n;
        }
        return 0;
}

int write_file_atomic(const char *path, const char *data, size_t len, mode_t mode)
{
        g_autofree char *tmp = g_strdup_printf("%s.vigil-XXXXXX", path);
        AutoFd fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, mode);
        int r;

        if (fd < 0)
                return -errno;
        r = write_all(fd, data, len);
        if (r == 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                unlink(tmp);
        return r;
}

int unix_address_in_dir(struct sockaddr_un *sa, int dirfd, const char *name)
{
        int n;

        *sa = (struct sockaddr_un) { .sun_family = AF_UNIX };
        n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
        if (n < 0 || (size_t) n >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        return (int) (offsetof(struct sockaddr_un, sun_path) + n + 1);
}
