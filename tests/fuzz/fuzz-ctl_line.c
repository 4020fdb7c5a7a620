/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ctl and winsz FIFO lines: anything a process with write access to the bundle can send. */
#include <stdint.h>
#include <string.h>

#include "ctl_fifo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char line[CTL_LINE_MAX + 1];
        const char *error = NULL;
        int type = -1, rows = -1, cols = -1;

        if (size > CTL_LINE_MAX)
                return 0;
        memcpy(line, data, size);
        line[size] = '\0';
        if (ctl_parse_line(line, &type, &rows, &cols, &error))
                g_assert(rows >= 0 && rows <= 65535 && cols >= 0 && cols <= 65535);
        else
                g_assert(error != NULL);
        return 0;
}
