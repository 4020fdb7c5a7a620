/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The command line and the VIGIL_* variables: whatever an engine or a unit passes.  The input
 * is one argument per line; a line "=NAME=VALUE" sets VIGIL_NAME-like variable NAME instead.
 * Parsing must either succeed or fail with a message, and never crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

#define MAX_ARGS 64
#define ENV_SLOTS 4
#define ENV_MAX 96

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * putenv(3) keeps these buffers in the environment, so a variable changes by rewriting its
 * slot.  setenv(3) would keep a copy of every value ever set, and a long run would grow
 * without bound.
 */
static char env_slots[ENV_SLOTS][ENV_MAX];

static void reset_env(void)
{
        for (int i = 0; i < ENV_SLOTS; i++)
                snprintf(env_slots[i], ENV_MAX, "VIGIL_FUZZ_UNUSED_%d=", i);
}

static GLogWriterOutput discard(GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
        return G_LOG_WRITER_HANDLED;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        /* vigil.conf has its own target; a file named by the input could be anything (a FIFO). */
        g_setenv("VIGIL_CONFIG", "", TRUE);
        reset_env();
        for (int i = 0; i < ENV_SLOTS; i++)
                putenv(env_slots[i]);
        /* The --no-container-partial-message warning is expected output, not a failure;
         * criticals still abort. */
        g_log_set_writer_func(discard, NULL, NULL);
        g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL);
        return 0;
}

/* A variable the monitor reads, except VIGIL_CONFIG (see above). */
static gboolean set_env(const char *assignment, int *used)
{
        const char *eq = strchr(assignment, '=');

        if (!eq || !g_str_has_prefix(assignment, "VIGIL_") || g_str_has_prefix(assignment, "VIGIL_CONFIG=") ||
            strlen(assignment) >= ENV_MAX || *used == ENV_SLOTS)
                return FALSE;
        memcpy(env_slots[(*used)++], assignment, strlen(assignment) + 1);
        return TRUE;
}

/* GOption prints the help and exit()s: -h, -?, --help*, also inside a group such as -th. */
static gboolean asks_for_help(const char *arg)
{
        if (g_str_has_prefix(arg, "--help"))
                return TRUE;
        return arg[0] == '-' && arg[1] != '-' && (strchr(arg, 'h') || strchr(arg, '?'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        g_autofree char *text = g_strndup((const char *) data, size);
        g_auto(GStrv) lines = g_strsplit(text, "\n", MAX_ARGS);
        g_autoptr(GPtrArray) argv = g_ptr_array_new();
        g_autoptr(GError) error = NULL;
        VigilConfig cfg = { 0 };
        int used = 0;

        reset_env();
        g_ptr_array_add(argv, "conmon");
        for (char **l = lines; *l; l++) {
                if (**l == '=' && set_env(*l + 1, &used))
                        continue;
                if (asks_for_help(*l))
                        return 0;
                g_ptr_array_add(argv, *l);
        }
        g_ptr_array_add(argv, NULL);
        if (config_parse(&cfg, argv->len - 1, (char **) argv->pdata, &error)) {
                g_assert(cfg.version || (cfg.cid && cfg.runtime && cfg.container_pidfile));
        } else {
                g_assert(error && error->message && *error->message);
        }
        config_clear(&cfg);
        return 0;
}
