/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The discovery registry (registry.h).  Every change is a symlink created under a temporary
 * name and renamed into place, so a client listing the directory sees an entry whole or not
 * at all, and a newer monitor's entry replaces an older one atomically.  Changes are made
 * through the directories' fds (open_trusted_dir()), never through a path a symlink in it
 * could redirect.
 */
#include "registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdutil.h"
#include "userns.h"

/* Keys end up as "<key>.sock" file names: leave room for the suffix within NAME_MAX. */
#define KEY_MAX (NAME_MAX - (int) sizeof(REGISTRY_SUFFIX) - 16)

char *registry_dir(const char *configured)
{
        const char *runtime_dir;

        if (configured && g_str_equal(configured, "none"))
                return NULL;
        if (configured && *configured)
                return g_strdup(configured);
        if (userns_is_host_root())
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

G_DEFINE_AUTOPTR_CLEANUP_FUNC(DIR, closedir)

/*
 * Opens the directory @name under @parent_fd, created when @create, if it is one we may change
 * entries in: not a symlink, owned by us or root, writable by nobody else.  Every call below
 * resolves names anew, so whoever else could write in it (a user who made /run/vigil first, a
 * container it is mounted into) could swap a checked entry, or by-name itself, for a symlink
 * between our check and our unlink or rename.  Return: 0, -EPERM for such a directory, -ENOTDIR
 * for a symlink (O_NOFOLLOW with O_DIRECTORY), or -errno.
 */
static int open_trusted_dir(int parent_fd, const char *name, gboolean create, int *ret_fd)
{
        AutoFd fd = -1;
        struct stat st;

        /* Root's registry is readable by all (the sockets decide who may connect); a user's is private. */
        if (create && mkdirat(parent_fd, name, userns_is_host_root() ? 0755 : 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH)))
                return -EPERM;
        *ret_fd = steal_fd(&fd);
        return 0;
}

/* Points @file in @dfd at @target, replacing whatever is there, never leaving it missing. */
static int link_atomically(int dfd, const char *file, const char *target)
{
        g_autofree char *tmp = g_strdup_printf(".tmp-%d-%s", (int) getpid(), file);

        (void) unlinkat(dfd, tmp, 0);
        if (symlinkat(target, dfd, tmp) < 0)
                return -errno;
        if (renameat(dfd, tmp, dfd, file) < 0) {
                int r = -errno;
                (void) unlinkat(dfd, tmp, 0);
                return r;
        }
        return 0;
}

static int register_name(Registration *reg, int dfd, const char *name, const char *id_file)
{
        g_autofree char *name_file = g_strconcat(name, REGISTRY_SUFFIX, NULL);
        g_autofree char *name_target = g_strconcat("../", id_file, NULL);
        AutoFd by_name_fd = -1;
        int r;

        r = open_trusted_dir(dfd, REGISTRY_BY_NAME, TRUE, &by_name_fd);
        if (r < 0)
                return r;
        r = link_atomically(by_name_fd, name_file, name_target);
        if (r < 0)
                return r;
        reg->name_path = g_build_filename(reg->dir, REGISTRY_BY_NAME, name_file, NULL);
        reg->name_target = g_steal_pointer(&name_target);
        return 0;
}

int registry_register(Registration *reg, const char *dir, const char *id, const char *name,
                      const char *socket_path)
{
        g_autofree char *id_file = g_strconcat(id ? id : "", REGISTRY_SUFFIX, NULL);
        g_autofree char *abs_target = NULL;
        AutoFd dfd = -1;
        struct stat st;
        int r;

        if (!registry_key_valid(id) || (name && !registry_key_valid(name)))
                return -EINVAL;
        /* The link is followed from <dir>, so a relative socket path must be made absolute. */
        abs_target = g_path_is_absolute(socket_path) ? g_strdup(socket_path)
                                                     : g_canonicalize_filename(socket_path, NULL);
        if (stat(abs_target, &st) < 0)
                return -errno;
        /* Only the last component: a registry whose parent is gone (a test's scratch) is not made up. */
        r = open_trusted_dir(AT_FDCWD, dir, TRUE, &dfd);
        if (r < 0)
                return r;
        r = link_atomically(dfd, id_file, abs_target);
        if (r < 0)
                return r;
        reg->dev = st.st_dev;
        reg->ino = st.st_ino;
        reg->dir = g_strdup(dir);
        reg->id_path = g_build_filename(dir, id_file, NULL);
        reg->id_target = g_steal_pointer(&abs_target);
        return name ? register_name(reg, dfd, name, id_file) : 0;
}

int registry_exec_dir(const char *dir, char **ret_path)
{
        AutoFd dfd = -1;
        AutoFd exec_fd = -1;
        int r;

        r = open_trusted_dir(AT_FDCWD, dir, TRUE, &dfd);
        if (r == 0)
                r = open_trusted_dir(dfd, REGISTRY_EXEC, TRUE, &exec_fd);
        if (r < 0)
                return r;
        *ret_path = g_build_filename(dir, REGISTRY_EXEC, NULL);
        return 0;
}

const char *registry_error(int r)
{
        if (r == -EPERM)
                return "it, or its by-name or exec, is another user's or writable by others";
        if (r == -ENOTDIR || r == -ELOOP)
                return "it, or its by-name or exec, is a symlink or no directory";
        return g_strerror(-r);
}

/* Unlinks @file in @dfd if it is a symlink to @target.  Not atomic: a newer monitor replacing
 * the link between the check and the unlink loses its entry, which needs the same id or name
 * taken over within microseconds. */
static void unlink_if_links_to(int dfd, const char *file, const char *target)
{
        char buf[PATH_MAX];
        ssize_t n;

        n = readlinkat(dfd, file, buf, sizeof(buf) - 1);
        if (n < 0)
                return;
        buf[n] = '\0';
        if (g_str_equal(buf, target))
                (void) unlinkat(dfd, file, 0);
}

/* Where @path leads is our socket, or nothing any more: not a newer monitor's socket. */
static gboolean leads_to_ours(const Registration *reg, int dfd, const char *file)
{
        struct stat st;

        if (fstatat(dfd, file, &st, 0) < 0)
                return errno == ENOENT;
        return st.st_dev == reg->dev && st.st_ino == reg->ino;
}

static void unlink_if_ours(const Registration *reg, int dfd, const char *path, const char *target)
{
        const char *file = strrchr(path, '/') + 1;

        if (leads_to_ours(reg, dfd, file))
                unlink_if_links_to(dfd, file, target);
}

void registry_unregister(Registration *reg)
{
        AutoFd dfd = -1;
        AutoFd by_name_fd = -1;

        if (reg->dir && open_trusted_dir(AT_FDCWD, reg->dir, FALSE, &dfd) == 0) {
                /* The name first: it leads through the id entry. */
                if (reg->name_path && open_trusted_dir(dfd, REGISTRY_BY_NAME, FALSE, &by_name_fd) == 0)
                        unlink_if_ours(reg, by_name_fd, reg->name_path, reg->name_target);
                if (reg->id_path)
                        unlink_if_ours(reg, dfd, reg->id_path, reg->id_target);
        }
        g_clear_pointer(&reg->dir, g_free);
        g_clear_pointer(&reg->id_path, g_free);
        g_clear_pointer(&reg->id_target, g_free);
        g_clear_pointer(&reg->name_path, g_free);
        g_clear_pointer(&reg->name_target, g_free);
}

/* Unlinks @file in @dfd if it is still the very symlink @seen. */
static gboolean unlink_if_same(int dfd, const char *file, const struct stat *seen)
{
        struct stat st;

        if (fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode) ||
            st.st_dev != seen->st_dev || st.st_ino != seen->st_ino)
                return FALSE;
        return unlinkat(dfd, file, 0) == 0;
}

/* The names that led to the removed <id>.sock (@name_target) and lead nowhere now: a newer
 * monitor of the same id may have registered it, and its name, again since. */
static void remove_dangling_names(int by_name_fd, const char *name_target)
{
        AutoFd fd = openat(by_name_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        g_autoptr(DIR) d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *e;
        struct stat st;

        if (!d)
                return;
        steal_fd(&fd); /* d's now */
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.' || fstatat(by_name_fd, e->d_name, &st, 0) == 0 || errno != ENOENT)
                        continue;
                unlink_if_links_to(by_name_fd, e->d_name, name_target);
        }
}

void registry_remove_stale(const char *dir, const char *sub, const char *file, const struct stat *seen)
{
        g_autofree char *name_target = g_strconcat("../", file, NULL);
        AutoFd dfd = -1;
        AutoFd by_name_fd = -1;

        if (open_trusted_dir(AT_FDCWD, dir, FALSE, &dfd) < 0 ||
            (sub && open_trusted_dir(dfd, sub, FALSE, &by_name_fd) < 0))
                return;
        if (sub) {
                (void) unlink_if_same(by_name_fd, file, seen);
                return;
        }
        if (unlink_if_same(dfd, file, seen) && open_trusted_dir(dfd, REGISTRY_BY_NAME, FALSE, &by_name_fd) == 0)
                remove_dangling_names(by_name_fd, name_target);
}
