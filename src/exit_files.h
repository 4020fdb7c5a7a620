/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the engine reads after the container exited: <exit-dir>/<cid> and <persist-dir>/exit
 * (decimal status, no newline, replaced atomically: podman parses the whole file and takes
 * its ctime as FinishedAt), the oom files, and the exit command (podman's
 * "container cleanup"), which runs last and is waited for.
 */
#pragma once

#include <glib.h>
#include "options.h"
#include "spawner.h"

/**
 * check_dir_writable() - can files be created in @dir?  Creates an unnamed file there
 * (O_TMPFILE: no name appears, so nothing watching the directory sees it), or a named one
 * that is unlinked at once where the filesystem has no O_TMPFILE.
 * Return: 0, or -errno (-ENOENT, -ENOTDIR, -EACCES, -EROFS, ...).
 */
int check_dir_writable(const char *dir);

/**
 * exit_files_check() - before the container is created: --exit-dir and --persist-dir are
 * directories we can write in.  Otherwise the container would run and its exit could never be
 * recorded.  Return: TRUE, or FALSE with @error naming the option, the path and why.
 */
gboolean exit_files_check(const VigilConfig *cfg, GError **error);

/* Writes the exit files for @status; logs and returns the first error (0 or -errno). */
int exit_files_write(const VigilConfig *cfg, int status);

/* Creates <bundle>/oom and <persist-dir>/oom (podman 4.3.1 reads the bundle one). */
void oom_files_write(const VigilConfig *cfg);

/* --exit-command and its arguments (empty strings kept), or NULL when there is none. */
char **exit_command_build_argv(const VigilConfig *cfg);

/**
 * exit_command_run() - run --exit-command after --exit-delay seconds, with fds 0-2 on
 * /dev/null and no other fd, and wait for it: through @spawner once there is one (the
 * monitor may be confined), else forked here (setup failed before the spawner existed).
 * Return: its exit status (0..255), or -errno if it could not be started.
 */
int exit_command_run(const VigilConfig *cfg, Spawner *spawner, const char *oom_score_adj);
