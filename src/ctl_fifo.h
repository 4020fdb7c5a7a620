/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The ctl and winsz FIFOs in the bundle.  ctl carries text lines "TYPE ROWS COLS\n": type 1
 * resizes the terminal, type 2 reopens the log files.  winsz is created because engines
 * expect it (podman only deletes it); resize lines written to it are honoured too.
 * Malformed lines are reported and ignored: nothing on a FIFO can stop the monitor.
 */
#pragma once

#include <glib.h>

typedef enum {
        CTL_RESIZE = 1,
        CTL_REOPEN_LOG = 2,
} CtlType;

#define CTL_LINE_MAX 200

/**
 * ctl_parse_line() - parse one line (without its newline) of three decimal integers.
 * Sizes must be 0..65535 (TIOCSWINSZ takes unsigned short); extra fields are ignored.
 * Return: TRUE, or FALSE with @ret_error naming what is wrong.
 */
gboolean ctl_parse_line(const char *line, int *ret_type, int *ret_rows, int *ret_cols, const char **ret_error);

typedef void (*CtlLineFunc)(const char *line, gpointer data);

/**
 * ctl_line_feed() - add @n bytes read from a FIFO to the partial @line and call @func with each
 * line completed (without its newline).  Text after the last newline stays in @line for the
 * next read; a line is cut at CTL_LINE_MAX bytes but still ends only at its newline.
 */
void ctl_line_feed(GString *line, const char *buf, size_t n, CtlLineFunc func, gpointer data);

typedef void (*CtlFunc)(int type, int rows, int cols, gpointer user_data);

typedef struct {
        int fd[2];              /* ctl, winsz: read ends */
        int keep_w[2];          /* our own write ends, so the read ends never see EOF */
        guint source[2];
        GString *line[2];
        CtlFunc func;
        gpointer user_data;
} CtlFifos;

#define CTL_FIFOS_NULL { .fd = { -1, -1 }, .keep_w = { -1, -1 } }

/* mkfifo <dir>/ctl and <dir>/winsz (replacing old ones) and watch them; 0 or -errno. */
int ctl_fifos_open(CtlFifos *c, const char *dir, CtlFunc func, gpointer user_data);
void ctl_fifos_close(CtlFifos *c);
