/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

/* Receives one fd; the runtime sends the terminal's name as the payload. */
static int receive_fd(int sock)
{
        char name[4096];
        char control[CMSG_SPACE(sizeof(int))] = { 0 };
        struct iovec iov = { name, sizeof(name) };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                              .msg_controllen = sizeof(control) };
        struct cmsghdr *cmsg;
        int fd;

        if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) < 0)
                return -errno;
        cmsg = CMSG_FIRSTHDR(&msg);
        if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
            cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
                return -EBADMSG;
        memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
        return fd;
}

static void setup_master(int fd)
{
        struct termios tio;

        /* Logs and attach clients expect "\r\n", as on a real terminal (conmon does the same). */
        if (tcgetattr(fd, &tio) == 0) {
                tio.c_oflag |= ONLCR;
                tcsetattr(fd, TCSANOW, &tio);
        }
        fd_set_nonblock(fd, TRUE);
}

static gboolean on_connect(int fd, GIOCondition cond, gpointer data)
{
        ConsoleSocket *c = data;
        AutoFd conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        int master;

        if (conn < 0)
                return G_SOURCE_CONTINUE;
        master = receive_fd(conn);
        if (master < 0) {
                log_warning("console socket: no terminal received: %s", g_strerror(-master));
                return G_SOURCE_CONTINUE;
        }
        setup_master(master);
        c->source = 0;
        /* One terminal per container: the socket has served its purpose. */
        console_socket_close(c);
        c->func(master, c->user_data);
        return G_SOURCE_REMOVE;
}

int console_socket_open(ConsoleSocket *c, ConsoleFunc func, gpointer user_data)
{
        g_autofree char *tmpl = g_build_filename(g_get_tmp_dir(), "vigil-term.XXXXXX", NULL);
        struct sockaddr_un addr = { .sun_family = AF_UNIX };

        c->func = func;
        c->user_data = user_data;
        if (!g_mkdtemp_full(tmpl, 0700))
                return -errno;
        c->dir = g_steal_pointer(&tmpl);
        c->path = g_build_filename(c->dir, "console.sock", NULL);
        if (strlen(c->path) >= sizeof(addr.sun_path))
                return -ENAMETOOLONG;
        strcpy(addr.sun_path, c->path);
        c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 ||
            listen(c->listen_fd, 128) < 0)
                return -errno;
        c->source = g_unix_fd_add(c->listen_fd, G_IO_IN, on_connect, c);
        return 0;
}

void console_socket_close(ConsoleSocket *c)
{
        if (c->source)
                g_source_remove(c->source);
        c->source = 0;
        fd_clear(&c->listen_fd);
        if (c->path)
                unlink(c->path);
        if (c->dir)
                rmdir(c->dir);
        g_clear_pointer(&c->path, g_free);
        g_clear_pointer(&c->dir, g_free);
}

void console_socket_accept_pending(ConsoleSocket *c)
{
        if (c->listen_fd >= 0 && on_connect(c->listen_fd, G_IO_IN, c) == G_SOURCE_REMOVE)
                c->source = 0;
}

int console_resize(int master_fd, int rows, int cols)
{
        struct winsize ws = { .ws_row = rows, .ws_col = cols };

        if (master_fd < 0)
                return -ENOTTY;
        return ioctl(master_fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}
