/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "json_lazy.h"

#include <gmodule.h>

#define SYMBOL(field, name) { G_STRUCT_OFFSET(JsonApi, field), name }

static const struct {
        glong offset;
        const char *name;
} symbols[] = {
        SYMBOL(from_string, "json_from_string"),
        SYMBOL(to_string, "json_to_string"),
        SYMBOL(node_new, "json_node_new"),
        SYMBOL(node_set_string, "json_node_set_string"),
        SYMBOL(node_unref, "json_node_unref"),
        SYMBOL(node_init_object, "json_node_init_object"),
        SYMBOL(node_get_object, "json_node_get_object"),
        SYMBOL(node_get_node_type, "json_node_get_node_type"),
        SYMBOL(object_new, "json_object_new"),
        SYMBOL(object_unref, "json_object_unref"),
        SYMBOL(object_set_member, "json_object_set_member"),
        SYMBOL(object_set_int_member, "json_object_set_int_member"),
        SYMBOL(object_set_string_member, "json_object_set_string_member"),
        SYMBOL(object_set_boolean_member, "json_object_set_boolean_member"),
        SYMBOL(object_get_member, "json_object_get_member"),
        SYMBOL(node_get_value_type, "json_node_get_value_type"),
        SYMBOL(node_get_int, "json_node_get_int"),
        SYMBOL(node_get_string, "json_node_get_string"),
        SYMBOL(node_get_boolean, "json_node_get_boolean"),
        SYMBOL(object_get_members, "json_object_get_members"),
        SYMBOL(object_set_null_member, "json_object_set_null_member"),
        SYMBOL(object_set_object_member, "json_object_set_object_member"),
        SYMBOL(object_set_array_member, "json_object_set_array_member"),
        SYMBOL(array_new, "json_array_new"),
        SYMBOL(array_add_string_element, "json_array_add_string_element"),
        SYMBOL(node_get_array, "json_node_get_array"),
        SYMBOL(array_get_length, "json_array_get_length"),
        SYMBOL(array_get_element, "json_array_get_element"),
        SYMBOL(array_add_object_element, "json_array_add_object_element"),
        SYMBOL(array_remove_element, "json_array_remove_element"),
};

gboolean json_api_load(JsonApi *api, GError **error)
{
        GModule *module;

        if (api->module)
                return TRUE;
        module = g_module_open(VIGIL_JSON_GLIB_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
        if (!module) {
                g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot load %s: %s", VIGIL_JSON_GLIB_SONAME,
                            g_module_error());
                return FALSE;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(symbols); i++) {
                gpointer *slot = G_STRUCT_MEMBER_P(api, symbols[i].offset);
                if (!g_module_symbol(module, symbols[i].name, slot)) {
                        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s has no %s: %s",
                                    VIGIL_JSON_GLIB_SONAME, symbols[i].name, g_module_error());
                        g_module_close(module);
                        return FALSE;
                }
        }
        /* gobject cannot be unloaded safely once its types are registered: keep it resident. */
        g_module_make_resident(module);
        api->module = module;
        return TRUE;
}

char *json_quote(JsonApi *api, const char *s)
{
        g_autofree char *valid = g_utf8_make_valid(s, -1);
        JsonNode *node = api->node_new(JSON_NODE_VALUE);
        char *out;

        api->node_set_string(node, valid);
        out = api->to_string(node, FALSE);
        api->node_unref(node);
        return out;
}
