/* SPDX-License-Identifier: GPL-2.0-or-later */
/* --unit-cgroup: the container inside the cgroup of the systemd service that runs vigil. */
#pragma once

#include <sys/types.h>

#include "json_lazy.h"

/**
 * unit_cgroup_adopt() - move vigil, and @helper (its spawner; 0: none), into <unit>/vigil
 * and set the bundle's linux.cgroupsPath to <unit>/container, where <unit> is the cgroup v2
 * of the service vigil runs in.
 * Only warns, and changes nothing, on a host without cgroup v2.
 * Return: 0, or -errno after logging what failed.
 */
int unit_cgroup_adopt(JsonApi *json, const char *bundle, pid_t helper);
