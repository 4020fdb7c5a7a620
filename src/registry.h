/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The discovery registry: one directory per host (per user when rootless) where every monitor
 * makes its control socket reachable by a short path, whatever the length of the bundle's:
 *
 *   <dir>/<id>.sock               a symlink to the monitor's control socket
 *   <dir>/by-name/<name>.sock     a symlink to ../<id>.sock, when the engine gave a name (-n)
 *   <dir>/exec/<session>.sock     an exec session's own control socket, when asked for
 *
 * connect(2) follows symlinks, and only the link's own path has to fit in sun_path, so each
 * entry is a Varlink address (unix:/run/vigil/<id>.sock) for any client.
 *
 * An entry is created before the container's pid is reported and removed when the monitor
 * exits.  A SIGKILLed monitor leaves its entry behind; its link then leads to a socket nobody
 * listens on (ECONNREFUSED) or to nothing (ENOENT), and clients skip and remove it
 * (registry_remove_stale()).
 *
 * Used by the monitor and by vigilctl.  Functions return 0 or -errno and do not log.
 */
#pragma once

#include <glib.h>
#include <sys/stat.h>
#include <sys/types.h>

#define REGISTRY_SUFFIX ".sock"
#define REGISTRY_BY_NAME "by-name"
#define REGISTRY_EXEC "exec"

/**
 * registry_dir() - the directory the setting @configured names.
 * NULL or "": the default, /run/vigil for root and $XDG_RUNTIME_DIR/vigil otherwise (also for
 * root in a user namespace that maps it to a user, as rootless podman runs its monitors);
 * "none": registration is off.
 * Return: the path, or NULL when there is none (off, or rootless without XDG_RUNTIME_DIR).
 */
char *registry_dir(const char *configured);

/* TRUE if @key (an id, a name or an exec session) can be a file name in the registry. */
gboolean registry_key_valid(const char *key);

/**
 * registry_parse_entry() - the key of the directory entry @filename ("<key>.sock"), or NULL
 * for anything else (temporary files, subdirectories' names, foreign files).
 */
char *registry_parse_entry(const char *filename);

/*
 * A monitor's registration, for removing exactly what it created.  The link's text alone
 * cannot tell: the next monitor of the same container (podman restart) links the same id to
 * the same bundle socket, bound anew.  The socket's inode tells.
 */
typedef struct {
        char *dir;
        char *id_path;          /* <dir>/<id>.sock, NULL when not registered */
        char *id_target;        /* what it links to */
        char *name_path;        /* <dir>/by-name/<name>.sock, or NULL */
        char *name_target;
        dev_t dev;              /* the socket's */
        ino_t ino;
} Registration;

#define REGISTRATION_NULL { 0 }

/**
 * registry_register() - link <dir>/<id>.sock (and by-name/<name>.sock when @name is not NULL)
 * to the socket at @socket_path, which must exist, creating @dir (0755 under root, 0700
 * otherwise; its parent must exist).  An entry already there is replaced: the id is ours now.
 * @reg must be REGISTRATION_NULL.
 * Return: 0, -EINVAL for an id or name that cannot be a file name, -EPERM for a @dir (or
 * by-name) that someone else owns or may write in, -ENOTDIR for a symlink there, or -errno.
 */
int registry_register(Registration *reg, const char *dir, const char *id, const char *name,
                      const char *socket_path);

/* Why registry_register() or registry_exec_dir() failed with @r, for a message. */
const char *registry_error(int r);

/* Remove the entries, unless a newer monitor has replaced them (or the socket) since. */
void registry_unregister(Registration *reg);

/**
 * registry_exec_dir() - create <dir>/exec for an exec session's socket, with the checks of
 * registry_register().  Return: 0 with @ret_path set, or -errno as registry_register().
 */
int registry_exec_dir(const char *dir, char **ret_path);

/**
 * registry_remove_stale() - remove the entry @file (in @dir, or in @dir/@sub: REGISTRY_BY_NAME)
 * found stale, if it is still the symlink @seen (its lstat(2) from before the connect that
 * failed: a newer monitor may have taken the id since, with a link of the same text), and
 * the by-name links that led to it and now lead nowhere.  Nothing in a @dir someone else owns
 * or may write in.
 */
void registry_remove_stale(const char *dir, const char *sub, const char *file, const struct stat *seen);
