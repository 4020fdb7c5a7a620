/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Self-confinement of the run phase.  Once the container is created and its pid reported,
 * the monitor only relays bytes, answers its sockets and writes files: it gives up the
 * capabilities it no longer uses, sets NoNewPrivs and loads a syscall allowlist (doc/SECURITY.md
 * says what is allowed and why).  What must still be started goes through the spawner
 * (spawner.h), forked before.
 *
 * An unexpected syscall fails with EPERM instead of killing the monitor, so a missing entry
 * costs one feature, not the container's logs and exit status; each is logged once.
 *
 * libseccomp builds the filter in a short-lived child, which hands the BPF program back:
 * a monitor never maps the library, nor keeps the heap it dirties.
 */
#pragma once

#include <glib.h>

#include "config_file.h"

typedef struct Confinement Confinement;

/**
 * confine_apply() - confine the calling process for good.
 * @mode: SECCOMP_MODE_ENFORCE: calls outside the allowlist fail with EPERM and are logged once
 *        per syscall; SECCOMP_MODE_LOG: they are allowed and logged by the kernel (audit);
 *        SECCOMP_MODE_OFF: nothing is applied and *@ret is NULL.
 * Return: TRUE, or FALSE with @error saying which step failed and why; some of the steps
 * may have been applied then.
 */
gboolean confine_apply(SeccompMode mode, Confinement **ret, GError **error);

Confinement *confine_free(Confinement *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Confinement, confine_free)

/* The capabilities the run phase keeps, as a mask of CAP_* bits (for the tests). */
guint64 confine_kept_capabilities(void);
