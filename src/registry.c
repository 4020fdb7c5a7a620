/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The discovery registry (registry.h).  Every change is a symlink created under a temporary
 * name and renamed into place, so a client listing the directory sees an entry whole or not
 * at all, and a newer monitor's entry replaces an older one atomically.
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Keys end up as "<key>.sock" file names: leave room for the suffix within NAME_MAX. */
#define KEY_MAX (NAME_MAX - (int) sizeof(REGISTRY_SUFFIX) - 16)

char *registry_dir(const char *configured)
{
        const char *runtime_dir;

        if (configured && g_str_equal(configured, "none"))
                return NULL;
        if (configured && *configured)
                return g_strdup(configured);
        if (geteuid() == 0)
                return g_strdup("/run/vigil");
        runtime_dir = g_getenv("XDG_RUNTIME_DIR");
        /* Relative or empty: not a place we could name to a client in another directory. */
        if (!runtime_dir || runtime_dir[0] != '/')
                return NULL;
        return g_build_filename(runtime_dir, "vigil", NULL);
}

gboolean registry_key_valid(const char *key)
{
        size_t len = key ? strlen(key) : 0;

        /* A leading dot would hide it (and clash with our temporary names). */
        if (len == 0 || len > KEY_MAX || key[0] == '.')
                return FALSE;
        for (size_t i = 0; i < len; i++)
                if (key[i] == '/' || (unsigned char) key[i] <= ' ' || key[i] == 0x7f)
                        return FALSE;
        return TRUE;
}

char *registry_parse_entry(const char *filename)
{
        size_t len = strlen(filename);
        size_t slen = strlen(REGISTRY_SUFFIX);
        g_autofree char *key = NULL;

        if (len <= slen || !g_str_has_suffix(filename, REGISTRY_SUFFIX))
                return NULL;
        key = g_strndup(filename, len - slen);
        return registry_key_valid(key) ? g_steal_pointer(&key) : NULL;
}

/* Points @path at @target, replacing whatever is there, never leaving it missing. */
static int link_atomically(const char *dir, const char *path, const char *target)
{
        g_autofree char *base = g_path_get_basename(path);
        g_autofree char *tmp = g_strdup_printf("%s/.tmp-%d-%s", dir, (int) getpid(), base);

        (void) unlink(tmp);
        if (symlink(target, tmp) < 0)
                return -errno;
        if (rename(tmp, path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

/* Only the last component: a registry whose parent is gone (a test's scratch) is not made up. */
static int make_dir(const char *dir)
{
        /* Root's registry is readable by all (the sockets decide who may connect); a user's is private. */
        if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int registry_register(Registration *reg, const char *dir, const char *id, const char *name,
                      const char *socket_path)
{
        g_autofree char *by_name = g_build_filename(dir, REGISTRY_BY_NAME, NULL);
        g_autofree char *id_file = g_strconcat(id ? id : "", REGISTRY_SUFFIX, NULL);
        g_autofree char *abs_target = NULL;
        struct stat st;
        int r;

        if (!registry_key_valid(id) || (name && !registry_key_valid(name)))
                return -EINVAL;
        /* The link is followed from <dir>, so a relative socket path must be made absolute. */
        abs_target = g_path_is_absolute(socket_path) ? g_strdup(socket_path)
                                                     : g_canonicalize_filename(socket_path, NULL);
        if (stat(abs_target, &st) < 0)
                return -errno;
        reg->dev = st.st_dev;
        reg->ino = st.st_ino;
        r = make_dir(dir);
        if (r < 0)
                return r;
        reg->id_path = g_build_filename(dir, id_file, NULL);
        reg->id_target = g_steal_pointer(&abs_target);
        r = link_atomically(dir, reg->id_path, reg->id_target);
        if (r < 0) {
                g_clear_pointer(&reg->id_path, g_free);
                g_clear_pointer(&reg->id_target, g_free);
                return r;
        }
        if (!name)
                return 0;
        r = make_dir(by_name);
        if (r < 0)
                return r;
        reg->name_path = g_strconcat(by_name, "/", name, REGISTRY_SUFFIX, NULL);
        reg->name_target = g_strconcat("../", id_file, NULL);
        r = link_atomically(by_name, reg->name_path, reg->name_target);
        if (r < 0) {
                g_clear_pointer(&reg->name_path, g_free);
                g_clear_pointer(&reg->name_target, g_free);
        }
        return r;
}

/* Unlinks @path if it is a symlink to @target.  Not atomic: a newer monitor replacing the link
 * between the check and the unlink loses its entry, which needs the same id or name taken
 * over within microseconds of our exit. */
static void unlink_if_links_to(const char *path, const char *target)
{
        char buf[PATH_MAX];
        ssize_t n;

        if (!path || !target)
                return;
        n = readlink(path, buf, sizeof(buf) - 1);
        if (n < 0)
                return;
        buf[n] = '\0';
        if (g_str_equal(buf, target))
                (void) unlink(path);
}

/* Where @path leads is our socket, or nothing any more: not a newer monitor's socket. */
static gboolean leads_to_ours(const Registration *reg, const char *path)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return errno == ENOENT;
        return st.st_dev == reg->dev && st.st_ino == reg->ino;
}

void registry_unregister(Registration *reg)
{
        /* The name first: it leads through the id entry. */
        if (reg->name_path && leads_to_ours(reg, reg->name_path))
                unlink_if_links_to(reg->name_path, reg->name_target);
        if (reg->id_path && leads_to_ours(reg, reg->id_path))
                unlink_if_links_to(reg->id_path, reg->id_target);
        g_clear_pointer(&reg->id_path, g_free);
        g_clear_pointer(&reg->id_target, g_free);
        g_clear_pointer(&reg->name_path, g_free);
        g_clear_pointer(&reg->name_target, g_free);
}

void registry_remove_stale(const char *dir, const char *path, const char *target)
{
        g_autofree char *by_name = g_build_filename(dir, REGISTRY_BY_NAME, NULL);
        g_autofree char *base = g_path_get_basename(path);
        g_autofree char *name_target = g_strconcat("../", base, NULL);
        g_autoptr(GDir) d = NULL;
        const char *e;

        unlink_if_links_to(path, target);
        d = g_dir_open(by_name, 0, NULL);
        while (d && (e = g_dir_read_name(d))) {
                g_autofree char *link = g_build_filename(by_name, e, NULL);
                unlink_if_links_to(link, name_target);
        }
}
