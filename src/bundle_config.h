/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Editing <bundle>/config.json before `runtime create`, for the options that prepare a bundle. */
#pragma once

#include "json_lazy.h"

/* Changes @root, the config's top-level object: 0, or -errno after logging what is wrong. */
typedef int (*BundleEditFunc)(JsonApi *json, JsonObject *root, gpointer data);

/**
 * bundle_config_edit() - load <bundle>/config.json, let @edit change it, and replace the file
 * atomically, all in a child process, so that json-glib is never mapped in the monitor: @edit
 * and @data must not change anything the monitor keeps.  @what names the option in messages.
 * Return: 0, or -errno after logging what failed and where.
 */
int bundle_config_edit(JsonApi *json, const char *bundle, const char *what, BundleEditFunc edit, gpointer data);

/* The object member @name of @obj, created empty when missing; NULL if it is something else. */
JsonObject *bundle_object_member(JsonApi *json, JsonObject *obj, const char *name);
/* Likewise for an array member. */
JsonArray *bundle_array_member(JsonApi *json, JsonObject *obj, const char *name);
