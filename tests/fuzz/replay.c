/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Replays fuzz inputs without libFuzzer: every file named on the command line, or found in a
 * directory named there, goes once through LLVMFuzzerTestOneInput().  Built into each fuzz
 * target when VIGIL_FUZZ is off, so the seed corpora and crash reproducers run in every build.
 */
#include <dirent.h>
#include <glib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
        g_autoptr(GError) error = NULL;
        g_autofree char *data = NULL;
        gsize size = 0;

        if (!g_file_get_contents(path, &data, &size, &error)) {
                fprintf(stderr, "replay: %s\n", error->message);
                return -1;
        }
        LLVMFuzzerTestOneInput((const uint8_t *) data, size);
        return 0;
}

static int replay(const char *path, unsigned *count)
{
        g_autoptr(GDir) dir = NULL;
        const char *name;
        int r = 0;

        if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
                (*count)++;
                return replay_file(path);
        }
        dir = g_dir_open(path, 0, NULL);
        while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *child = g_build_filename(path, name, NULL);
                if (replay(child, count) < 0)
                        r = -1;
        }
        return r;
}

int main(int argc, char **argv)
{
        unsigned count = 0;
        int r = 0;

        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++)
                if (replay(argv[i], &count) < 0)
                        r = 1;
        printf("replayed %u inputs\n", count);
        return count == 0 ? 1 : r;
}
