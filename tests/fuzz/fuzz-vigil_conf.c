/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil.conf: a file an administrator writes, read by every monitor the engine starts. */
#include <stdint.h>

#include "config_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        VigilSettings s = { 0 };
        g_autoptr(GError) error = NULL;

        if (!config_file_load_data(&s, (const char *) data, size, "/etc/vigil/vigil.conf", &error))
                g_assert(error && g_str_has_prefix(error->message, "/etc/vigil/vigil.conf"));
        else
                g_assert(!s.health_cmd || *s.health_cmd);
        config_file_clear(&s);
        return 0;
}
