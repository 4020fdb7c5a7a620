/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Registry entry names: anything a user who can write the registry directory can create. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char name[NAME_MAX + 1];
        char *key;

        if (size > NAME_MAX || memchr(data, 0, size))
                return 0;
        memcpy(name, data, size);
        name[size] = '\0';
        key = registry_parse_entry(name);
        /* A key names its entry back, and is never a path or a hidden file. */
        if (key) {
                g_assert(registry_key_valid(key));
                g_assert(!strchr(key, '/') && key[0] != '.');
                g_assert(strlen(key) + strlen(REGISTRY_SUFFIX) == size);
                g_assert(strncmp(name, key, strlen(key)) == 0);
        }
        g_free(key);
        return 0;
}
