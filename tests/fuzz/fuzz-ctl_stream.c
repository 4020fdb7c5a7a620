/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ctl and winsz FIFO streams: what a writer sends arrives in reads of any size.  The first
 * byte sets the read size; the lines assembled must be the same as from one read of it all,
 * and each goes through both parsers as the monitor would.
 */
#include <stdint.h>
#include <string.h>

#include "ctl_fifo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_both(const char *line)
{
        g_autofree char *as_winsz = g_strdup_printf("1 %s", line);
        const char *error = NULL;
        int type, rows, cols;

        g_assert(strlen(line) <= CTL_LINE_MAX);
        if (ctl_parse_line(line, &type, &rows, &cols, &error))
                g_assert(type == CTL_RESIZE || type == CTL_REOPEN_LOG);
        else
                g_assert(error);
        error = NULL;
        if (!ctl_parse_line(as_winsz, &type, &rows, &cols, &error))
                g_assert(error);
}

static void collect(const char *line, gpointer data)
{
        parse_both(line);
        g_ptr_array_add(data, g_strdup(line));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autoptr(GPtrArray) chunked = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) whole = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GString) line = g_string_new(NULL);
        g_autoptr(GString) reference = g_string_new(NULL);
        const char *text = (const char *) data + 1;
        size_t step, len;

        if (size < 1 || size > 16 * CTL_LINE_MAX)
                return 0;
        /* 1 .. CTL_LINE_MAX, the size of the monitor's read buffer. */
        step = data[0] % CTL_LINE_MAX + 1;
        len = size - 1;
        for (size_t off = 0; off < len; off += step)
                ctl_line_feed(line, text + off, MIN(step, len - off), collect, chunked);
        ctl_line_feed(reference, text, len, collect, whole);
        g_assert(chunked->len == whole->len);
        for (guint i = 0; i < chunked->len; i++)
                g_assert(g_str_equal(chunked->pdata[i], whole->pdata[i]));
        g_assert(g_string_equal(line, reference));
        return 0;
}
