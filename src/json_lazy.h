/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * json-glib, loaded on first use.  Linking it would map gobject, gio and json-glib into every
 * monitor (about 200 kB of private dirty memory each); only a monitor that reports a runtime
 * failure or answers a control-socket client ever needs JSON, so the library is dlopen()ed
 * through GModule the first time, the way systemd loads its optional libraries.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct {
        GModule *module;
        JsonNode *(*from_string)(const char *str, GError **error);
        char *(*to_string)(JsonNode *node, gboolean pretty);
        JsonNode *(*node_new)(JsonNodeType type);
        void (*node_set_string)(JsonNode *node, const char *value);
        void (*node_unref)(JsonNode *node);
        JsonNode *(*node_init_object)(JsonNode *node, JsonObject *object);
        JsonObject *(*node_get_object)(JsonNode *node);
        JsonNodeType (*node_get_node_type)(JsonNode *node);
        JsonObject *(*object_new)(void);
        void (*object_unref)(JsonObject *object);
        void (*object_set_member)(JsonObject *object, const char *name, JsonNode *node);
        void (*object_set_int_member)(JsonObject *object, const char *name, gint64 value);
        void (*object_set_string_member)(JsonObject *object, const char *name, const char *value);
        void (*object_set_boolean_member)(JsonObject *object, const char *name, gboolean value);
        JsonNode *(*object_get_member)(JsonObject *object, const char *name);
        /* the control socket (control_varlink.c) */
        GType (*node_get_value_type)(JsonNode *node);
        gint64 (*node_get_int)(JsonNode *node);
        const char *(*node_get_string)(JsonNode *node);
        gboolean (*node_get_boolean)(JsonNode *node);
        GList *(*object_get_members)(JsonObject *object);
        void (*object_set_null_member)(JsonObject *object, const char *name);
        void (*object_set_object_member)(JsonObject *object, const char *name, JsonObject *value);
        void (*object_set_array_member)(JsonObject *object, const char *name, JsonArray *value);
        JsonArray *(*array_new)(void);
        void (*array_add_string_element)(JsonArray *array, const char *value);
        /* notify.c: editing config.json for --sdnotify-prepare-bundle */
        JsonArray *(*node_get_array)(JsonNode *node);
        guint (*array_get_length)(JsonArray *array);
        JsonNode *(*array_get_element)(JsonArray *array, guint index);
        void (*array_add_object_element)(JsonArray *array, JsonObject *value);
        void (*array_remove_element)(JsonArray *array, guint index);
} JsonApi;

/**
 * json_api_load() - the json-glib entry points, loading the library on the first call.
 * @api: a zero-initialised JsonApi owned by the caller (the monitor); loaded once.
 * Return: TRUE, or FALSE with @error saying which library or symbol failed.
 */
gboolean json_api_load(JsonApi *api, GError **error);

/* Serialises @s as a JSON string literal, quotes included; invalid UTF-8 is replaced. */
char *json_quote(JsonApi *api, const char *s);
