/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "ctl_fifo.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

static gboolean parse_int(const char **p, int max, int *ret)
{
        char *end;
        long v;

        while (**p == ' ' || **p == '\t')
                (*p)++;
        if (!g_ascii_isdigit(**p) && **p != '-' && **p != '+')
                return FALSE;
        errno = 0;
        v = strtol(*p, &end, 10);
        if (errno || end == *p || v < 0 || v > max || (*end && *end != ' ' && *end != '\t'))
                return FALSE;
        *p = end;
        *ret = (int) v;
        return TRUE;
}

gboolean ctl_parse_line(const char *line, int *ret_type, int *ret_rows, int *ret_cols, const char **ret_error)
{
        const char *p = line;
        int type, rows, cols;

        if (!parse_int(&p, INT_MAX, &type)) {
                *ret_error = "the type is not a non-negative decimal number";
                return FALSE;
        }
        if (!parse_int(&p, 65535, &rows) || !parse_int(&p, 65535, &cols)) {
                *ret_error = "expected two sizes from 0 to 65535 after the type";
                return FALSE;
        }
        if (type != CTL_RESIZE && type != CTL_REOPEN_LOG) {
                *ret_error = "unknown message type";
                return FALSE;
        }
        *ret_type = type;
        *ret_rows = rows;
        *ret_cols = cols;
        return TRUE;
}

void ctl_line_feed(GString *line, const char *buf, size_t n, CtlLineFunc func, gpointer data)
{
        for (size_t i = 0; i < n; i++) {
                if (buf[i] != '\n') {
                        /* An over-long line is cut at the limit and reported when it ends. */
                        if (line->len < CTL_LINE_MAX)
                                g_string_append_c(line, buf[i]);
                        continue;
                }
                func(line->str, data);
                g_string_truncate(line, 0);
        }
}

typedef struct {
        CtlFifos *c;
        int idx;
} CtlLineSource;

static void handle_line(const char *line, gpointer data)
{
        const CtlLineSource *src = data;
        CtlFifos *c = src->c;
        const char *error = NULL;
        int type, rows, cols;

        if (src->idx == 1) {
                /* winsz carries "ROWS COLS". */
                g_autofree char *as_ctl = g_strdup_printf("1 %s", line);
                if (ctl_parse_line(as_ctl, &type, &rows, &cols, &error))
                        c->func(type, rows, cols, c->user_data);
                else
                        log_warning("ignoring winsz line \"%s\": %s", line, error);
                return;
        }
        if (ctl_parse_line(line, &type, &rows, &cols, &error))
                c->func(type, rows, cols, c->user_data);
        else
                log_warning("ignoring ctl line \"%s\": %s", line, error);
}

static gboolean on_fifo(int fd, GIOCondition cond, gpointer data)
{
        CtlFifos *c = data;
        CtlLineSource src = { .c = c, .idx = fd == c->fd[0] ? 0 : 1 };
        char buf[CTL_LINE_MAX];
        ssize_t n = read(fd, buf, sizeof(buf));

        if (n <= 0)
                return G_SOURCE_CONTINUE; /* EAGAIN/EINTR; EOF cannot happen: we hold a writer */
        ctl_line_feed(c->line[src.idx], buf, n, handle_line, &src);
        return G_SOURCE_CONTINUE;
}

static int open_fifo(const char *dir, const char *name, int *ret_r, int *ret_w)
{
        g_autofree char *path = g_build_filename(dir, name, NULL);

        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        if (mkfifo(path, 0660) < 0)
                return -errno;
        *ret_r = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (*ret_r < 0)
                return -errno;
        *ret_w = open(path, O_WRONLY | O_CLOEXEC);
        return *ret_w < 0 ? -errno : 0;
}

int ctl_fifos_open(CtlFifos *c, const char *dir, CtlFunc func, gpointer user_data)
{
        static const char *names[] = { "ctl", "winsz" };
        int r;

        c->func = func;
        c->user_data = user_data;
        for (int i = 0; i < 2; i++) {
                if ((r = open_fifo(dir, names[i], &c->fd[i], &c->keep_w[i])) < 0)
                        return r;
                c->line[i] = g_string_new(NULL);
                c->source[i] = g_unix_fd_add(c->fd[i], G_IO_IN, on_fifo, c);
        }
        return 0;
}

void ctl_fifos_close(CtlFifos *c)
{
        for (int i = 0; i < 2; i++) {
                if (c->source[i])
                        g_source_remove(c->source[i]);
                c->source[i] = 0;
                fd_clear(&c->fd[i]);
                fd_clear(&c->keep_w[i]);
                if (c->line[i])
                        g_string_free(g_steal_pointer(&c->line[i]), TRUE);
        }
}
