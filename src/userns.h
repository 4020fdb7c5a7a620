/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who "root" is: the host's, or a user's inside a user namespace (rootless podman). */
#pragma once

#include <glib.h>

/* TRUE for uid 0 of the host; FALSE for any other uid, and for uid 0 of a user namespace that
 * maps it to someone else. */
gboolean userns_is_host_root(void);
