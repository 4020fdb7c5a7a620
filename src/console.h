/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Terminals (-t): the runtime connects to a console socket we listen on and hands us the
 * pty master over SCM_RIGHTS.  The master then is the container's stdin, and a dup of it its
 * output (stream 2), read by the stdio relay; resize requests become TIOCSWINSZ.
 */
#pragma once

#include <glib.h>

typedef void (*ConsoleFunc)(int master_fd, gpointer user_data);

typedef struct {
        char *dir;              /* private directory holding the socket */
        char *path;             /* passed to the runtime as --console-socket */
        int listen_fd;
        guint source;
        ConsoleFunc func;
        gpointer user_data;
} ConsoleSocket;

#define CONSOLE_SOCKET_NULL { .listen_fd = -1 }

/* Listen on a fresh socket under $TMPDIR; @func gets the master fd (ownership passes). */
int console_socket_open(ConsoleSocket *c, ConsoleFunc func, gpointer user_data);
void console_socket_close(ConsoleSocket *c);

/* The runtime has exited: take a connection it made that the loop has not seen yet. */
void console_socket_accept_pending(ConsoleSocket *c);

/* Set the terminal size on the pty master; 0 or -errno. */
int console_resize(int master_fd, int rows, int cols);
