/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "bundle_config.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdutil.h"
#include "logging.h"

static int edit_here(JsonApi *j, const char *bundle, const char *what, BundleEditFunc edit, gpointer data)
{
        g_autofree char *path = g_build_filename(bundle, "config.json", NULL);
        g_autofree char *text = NULL;
        g_autofree char *out = NULL;
        g_autoptr(GError) error = NULL;
        JsonNode *root;
        int r;

        if (!json_api_load(j, &error) || !g_file_get_contents(path, &text, NULL, &error)) {
                log_error("%s: preparing %s: %s", what, path, error->message);
                return -EIO;
        }
        root = j->from_string(text, &error);
        if (!root || j->node_get_node_type(root) != JSON_NODE_OBJECT) {
                log_error("%s: %s is not a JSON object%s%s", what, path, error ? ": " : "",
                          error ? error->message : "");
                if (root)
                        j->node_unref(root);
                return -EINVAL;
        }
        r = edit(j, j->node_get_object(root), data);
        if (r == 0)
                out = j->to_string(root, FALSE);
        j->node_unref(root);
        if (r < 0)
                return r;
        r = write_file_atomic(path, out, strlen(out), 0644);
        if (r < 0)
                log_error("%s: writing %s: %s", what, path, g_strerror(-r));
        return r;
}

/*
 * In a child: json-glib brings gobject and gio, and once loaded they stay mapped, about 290 kB
 * of Private_Dirty in every monitor of a bundle that is prepared, for one edit made before the
 * container exists.  Setup runs before confinement, so the monitor may still fork.
 */
int bundle_config_edit(JsonApi *j, const char *bundle, const char *what, BundleEditFunc edit, gpointer data)
{
        int status;
        pid_t pid = fork();

        if (pid < 0) {
                int r = -errno;
                log_error("%s: preparing %s: fork: %s", what, bundle, g_strerror(errno));
                return r;
        }
        if (pid == 0)
                _exit(-edit_here(j, bundle, what, edit, data));
        while (waitpid(pid, &status, 0) < 0) {
                if (errno != EINTR) {
                        int r = -errno;
                        log_error("%s: preparing %s: waitpid: %s", what, bundle, g_strerror(errno));
                        return r;
                }
        }
        if (WIFEXITED(status))
                return -WEXITSTATUS(status);
        log_error("%s: preparing %s: the process editing config.json died of signal %d", what, bundle,
                  WTERMSIG(status));
        return -EIO;
}

JsonObject *bundle_object_member(JsonApi *j, JsonObject *obj, const char *name)
{
        JsonNode *node = j->object_get_member(obj, name);

        if (!node) {
                j->object_set_object_member(obj, name, j->object_new());
                node = j->object_get_member(obj, name);
        }
        return j->node_get_node_type(node) == JSON_NODE_OBJECT ? j->node_get_object(node) : NULL;
}

JsonArray *bundle_array_member(JsonApi *j, JsonObject *obj, const char *name)
{
        JsonNode *node = j->object_get_member(obj, name);

        if (!node) {
                j->object_set_array_member(obj, name, j->array_new());
                node = j->object_get_member(obj, name);
        }
        return j->node_get_node_type(node) == JSON_NODE_ARRAY ? j->node_get_array(node) : NULL;
}
