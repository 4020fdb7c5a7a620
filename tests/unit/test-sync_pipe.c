/* SPDX-License-Identifier: GPL-2.0-or-later */
#undef NDEBUG
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <errno.h>
#include <unistd.h>

#include "sync_pipe.h"

static char *roundtrip(const char *key, int value, const char *message, gboolean *loaded_json)
{
        int sv[2];
        char buf[16384];
        SyncPipe p = { .key = key };
        JsonApi json = { 0 };
        ssize_t n;

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
        p.fd = sv[0];
        g_assert_cmpint(sync_pipe_send(&p, &json, value, message), ==, 0);
        n = recv(sv[1], buf, sizeof(buf) - 1, 0);
        g_assert_cmpint(n, >, 0);
        buf[n] = '\0';
        close(sv[0]);
        close(sv[1]);
        *loaded_json = json.module != NULL;
        return g_strdup(buf);
}

static void test_pid(void)
{
        gboolean loaded;
        g_autofree char *line = roundtrip("data", 2594, NULL, &loaded);
        g_assert_cmpstr(line, ==, "{\"data\": 2594}\n");
        /* The success path must not map json-glib (memory per monitor). */
        g_assert_false(loaded);
}

static void test_message_escaped(void)
{
        gboolean loaded;
        g_autofree char *line = roundtrip("pid", -1, "runc create failed: exec: \"/x\": no such file\n\ttab \x01 \xff", &loaded);
        g_assert_true(loaded);
        g_assert_true(g_str_has_prefix(line, "{\"pid\": -1, \"message\": \"runc create failed: exec: \\\"/x\\\": no such file\\n\\ttab \\u0001 "));
        g_assert_true(g_str_has_suffix(line, "\"}\n"));
        g_assert_true(g_utf8_validate(line, -1, NULL));
}

static void test_closed_reader(void)
{
        int sv[2];
        SyncPipe p = { .key = "data" };
        JsonApi json = { 0 };

        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
        close(sv[1]);
        p.fd = sv[0];
        g_assert_cmpint(sync_pipe_send(&p, &json, 1, NULL), ==, -EPIPE);
        g_assert_cmpint(p.fd, ==, -1);
        g_assert_cmpint(sync_pipe_send(&p, &json, 1, NULL), ==, 0);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/sync_pipe/pid", test_pid);
        g_test_add_func("/sync_pipe/message", test_message_escaped);
        g_test_add_func("/sync_pipe/closed-reader", test_closed_reader);
        return g_test_run();
}
