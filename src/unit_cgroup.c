/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * runc puts a bundle without linux.cgroupsPath in a cgroup next to the unit's, where systemd
 * neither accounts for the container nor kills what is left of it when the unit stops, and
 * journald does not file its output under the unit.  A unit with Delegate=yes owns its cgroup
 * subtree, so the container can live in it.  cgroup v2 allows no processes in a cgroup whose
 * children use controllers, and runc enables them in the parent of the container's cgroup:
 * vigil leaves the unit's cgroup for a leaf of its own first.
 */
#include "unit_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bundle_config.h"
#include "cgroup.h"
#include "fdutil.h"
#include "logging.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define MONITOR_LEAF "vigil"
#define CONTAINER_LEAF "container"

/* The directory of the service's cgroup: ours, or our parent when systemd started us in a
 * subgroup of that name already (DelegateSubgroup=vigil). */
static char *service_cgroup_dir(void)
{
        g_autofree char *text = NULL;
        g_autofree char *dir = NULL;
        g_autofree char *base = NULL;

        if (!g_file_get_contents("/proc/self/cgroup", &text, NULL, NULL) || !(dir = cgroup_dir(text, NULL)))
                return NULL;
        base = g_path_get_basename(dir);
        return g_str_equal(base, MONITOR_LEAF) ? g_path_get_dirname(dir) : g_steal_pointer(&dir);
}

/* Writes @pid ("0": ourselves) into @procs. */
static int move_pid(const char *procs, pid_t pid)
{
        char text[16];
        AutoFd fd = open(procs, O_WRONLY | O_CLOEXEC);

        g_snprintf(text, sizeof(text), "%d", (int) pid);
        return fd < 0 ? -errno : write_all(fd, text, strlen(text));
}

/* With @helper (the spawner): the unit's own cgroup must be left empty. */
static int move_self(const char *service_dir, pid_t helper)
{
        g_autofree char *leaf = g_build_filename(service_dir, MONITOR_LEAF, NULL);
        g_autofree char *procs = g_build_filename(leaf, "cgroup.procs", NULL);
        int r;

        if (mkdir(leaf, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                log_error("--unit-cgroup: creating %s: %s", leaf, g_strerror(errno));
                return r;
        }
        r = move_pid(procs, 0);
        if (r == 0 && helper > 0)
                r = move_pid(procs, helper);
        if (r < 0)
                log_error("--unit-cgroup: moving vigil into %s: %s", leaf, g_strerror(-r));
        return r;
}

static int set_cgroups_path(JsonApi *j, JsonObject *root, gpointer path)
{
        JsonObject *linux_section = bundle_object_member(j, root, "linux");

        if (!linux_section) {
                log_error("--unit-cgroup: \"linux\" in config.json is not an object");
                return -EINVAL;
        }
        j->object_set_string_member(linux_section, "cgroupsPath", path);
        return 0;
}

int unit_cgroup_adopt(JsonApi *j, const char *bundle, pid_t helper)
{
        g_autofree char *dir = NULL;
        g_autofree char *path = NULL;
        struct statfs fs;
        int r;

        if (statfs(CGROUP_ROOT, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
                log_warning("--unit-cgroup needs cgroup v2 at %s: the container gets the runtime's default cgroup",
                            CGROUP_ROOT);
                return 0;
        }
        dir = service_cgroup_dir();
        if (!dir || !g_str_has_suffix(dir, ".service")) {
                log_error("--unit-cgroup: vigil does not run in a systemd service's cgroup (%s)", dir ? dir : "none");
                return -EINVAL;
        }
        /* systemd >= 251 marks the cgroups it delegates. */
        if (getxattr(dir, "trusted.delegate", NULL, 0) < 0 && errno == ENODATA)
                log_warning("--unit-cgroup: %s is not delegated; the unit needs Delegate=yes", dir);
        if ((r = move_self(dir, helper)) < 0)
                return r;
        path = g_build_filename(dir + strlen(CGROUP_ROOT), CONTAINER_LEAF, NULL);
        return bundle_config_edit(j, bundle, "--unit-cgroup", set_cgroups_path, path);
}
