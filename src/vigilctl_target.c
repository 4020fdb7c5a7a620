/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which monitor a command means, as podman resolves containers: a full id, then a name, then
 * an id prefix that only one monitor has.  A path (bundle or socket) is taken as it is.
 *
 * An entry is live when its socket accepts a connection.  ECONNREFUSED (the socket is there,
 * nobody listens) and ENOENT (the link leads nowhere) mean its monitor was killed before it
 * could remove the entry: it is skipped and removed.  Anything else (EACCES: another user's
 * monitor) is reported, not cleaned.
 */
#include "vigilctl.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

static gboolean is_stale(int r)
{
        return r == -ECONNREFUSED || r == -ENOENT;
}

/* Connects to the entry @file in the registry (or its @sub: by-name); removes it when it is a
 * stale link (a socket bound there directly, with --control-socket, is not ours to remove).
 * The link is looked at before the connect, so that what is removed is what failed, not a
 * newer monitor's entry made since.  Return: 0, or -errno. */
static int open_entry(const Ctl *ctl, const char *sub, const char *file, Conn *conn)
{
        g_autofree char *path = g_build_filename(ctl->registry_dir, sub ? sub : file, sub ? file : NULL, NULL);
        struct stat seen;
        gboolean is_link = lstat(path, &seen) == 0 && S_ISLNK(seen.st_mode);
        int r = conn_open(conn, path);

        if (is_link && is_stale(r))
                registry_remove_stale(ctl->registry_dir, sub, file, &seen);
        return r;
}

static int cmp_entry(gconstpointer a, gconstpointer b)
{
        const LiveEntry *x = *(LiveEntry *const *) a, *y = *(LiveEntry *const *) b;

        return strcmp(x->key, y->key);
}

static void live_entry_free(LiveEntry *e)
{
        g_free(e->key);
        g_free(e->path);
        g_free(e);
}

void target_visit(const Ctl *ctl, const char *prefix, TargetVisitFunc visit, gpointer data)
{
        g_autoptr(GDir) d = ctl->registry_dir ? g_dir_open(ctl->registry_dir, 0, NULL) : NULL;
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *key = registry_parse_entry(name);
                g_autofree char *path = NULL;
                Conn conn = CONN_NULL;
                if (!key || !g_str_has_prefix(key, prefix))
                        continue;
                if (open_entry(ctl, NULL, name, &conn) < 0)
                        continue;
                path = g_build_filename(ctl->registry_dir, name, NULL);
                visit(&(LiveEntry) { .key = key, .path = path }, &conn, data);
                conn_close(&conn);
        }
}

static void collect_entry(const LiveEntry *e, Conn *conn, gpointer data)
{
        LiveEntry *copy = g_new0(LiveEntry, 1);

        copy->key = g_strdup(e->key);
        copy->path = g_strdup(e->path);
        g_ptr_array_add(data, copy);
}

/* Live entries whose id starts with @prefix ("" for all), sorted. */
static GPtrArray *list_matching(const Ctl *ctl, const char *prefix)
{
        GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify) live_entry_free);

        target_visit(ctl, prefix, collect_entry, out);
        g_ptr_array_sort(out, cmp_entry);
        return out;
}

static int open_path(const char *arg, Conn *conn)
{
        g_autofree char *path = NULL;
        struct stat st;
        int r;

        if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
                path = g_build_filename(arg, VIGIL_CONTROL_SOCKET_NAME, NULL);
        else
                path = g_strdup(arg);
        r = conn_open(conn, path);
        if (r < 0)
                return fail("cannot connect to %s: %s", path, g_strerror(-r));
        return 0;
}

/* The exact entry <dir>[/by-name]/<arg>.sock: 1 connected, 0 none (or stale), -exit code. */
static int open_exact(const Ctl *ctl, const char *sub, const char *arg, Conn *conn)
{
        g_autofree char *file = g_strconcat(arg, REGISTRY_SUFFIX, NULL);
        g_autofree char *path = g_build_filename(ctl->registry_dir, sub ? sub : file, sub ? file : NULL, NULL);
        struct stat st;
        int r;

        if (lstat(path, &st) < 0)
                return 0;
        r = open_entry(ctl, sub, file, conn);
        if (r == 0)
                return 1;
        if (is_stale(r))
                return 0;
        fail("cannot connect to %s: %s", path, g_strerror(-r));
        return -CTL_EXIT_ERROR;
}

static int open_prefix(const Ctl *ctl, const char *arg, Conn *conn)
{
        g_autoptr(GPtrArray) found = list_matching(ctl, arg);
        g_autoptr(GString) ids = g_string_new(NULL);
        int r;

        if (found->len == 0)
                return 0;
        if (found->len > 1) {
                for (guint i = 0; i < found->len; i++)
                        g_string_append_printf(ids, " %s", ((LiveEntry *) found->pdata[i])->key);
                fail("\"%s\" is ambiguous: it is a prefix of %u container ids:%s", arg, found->len, ids->str);
                return -CTL_EXIT_AMBIGUOUS;
        }
        r = conn_open(conn, ((LiveEntry *) found->pdata[0])->path);
        if (r < 0) {
                fail("cannot connect to %s: %s", ((LiveEntry *) found->pdata[0])->path, g_strerror(-r));
                return -CTL_EXIT_ERROR;
        }
        return 1;
}

/* 1 found and connected, 0 not there, -exit code after an error. */
static int open_registered(const Ctl *ctl, const char *arg, Conn *conn)
{
        int r;

        if (!ctl->registry_dir || !registry_key_valid(arg))
                return 0;
        r = open_exact(ctl, NULL, arg, conn);
        if (r == 0)
                r = open_exact(ctl, REGISTRY_BY_NAME, arg, conn);
        if (r == 0)
                r = open_prefix(ctl, arg, conn);
        return r;
}

int target_open(const Ctl *ctl, const char *arg, Conn *conn)
{
        int r;

        if (strchr(arg, '/'))
                return open_path(arg, conn);
        r = open_registered(ctl, arg, conn);
        if (r < 0)
                return -r;
        if (r > 0)
                return 0;
        /* A bundle or socket in the current directory, as before there was a registry. */
        if (access(arg, F_OK) == 0)
                return open_path(arg, conn);
        if (!ctl->registry_dir)
                fail("no container \"%s\": it is no path, and there is no registry to look names up in", arg);
        else
                fail("no container with the name, id or id prefix \"%s\" (registry %s)", arg, ctl->registry_dir);
        return CTL_EXIT_UNKNOWN;
}
