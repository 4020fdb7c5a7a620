/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The discovery registry: which keys and entry names are accepted, entries created and
 * replaced atomically, removed only by their owner, stale ones cleaned with their names.
 * Files live under $VIGIL_TEST_SCRATCH.
 */
#undef NDEBUG
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "registry.h"

static char *scratch_dir(const char *name)
{
        const char *base = g_getenv("VIGIL_TEST_SCRATCH");
        g_autofree char *dir = NULL;

        if (!base) {
                g_test_skip("VIGIL_TEST_SCRATCH is not set");
                return NULL;
        }
        dir = g_strdup_printf("%s/registry-%d-%s", base, (int) getpid(), name);
        g_assert_cmpint(g_mkdir_with_parents(base, 0755), ==, 0);
        return g_steal_pointer(&dir);
}

static void remove_tree(const char *dir)
{
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

        g_assert_cmpint(system(cmd), ==, 0);
}

static char *read_link(const char *path)
{
        char buf[PATH_MAX];
        ssize_t n = readlink(path, buf, sizeof(buf) - 1);

        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return g_strdup(buf);
}

/* A stand-in for a control socket: only its inode matters to the registry. */
static char *make_socket_file(const char *dir, const char *name)
{
        g_autofree char *sub = g_build_filename(dir, "bundle", NULL);
        char *path = g_build_filename(sub, name, NULL);

        g_assert_cmpint(g_mkdir_with_parents(sub, 0755), ==, 0);
        (void) unlink(path);
        g_assert_true(g_file_set_contents(path, "", 0, NULL));
        return path;
}

static void test_keys(void)
{
        static const char *const good[] = { "0123abcd", "web", "my-app_1.2", "a:b@c", "x" };
        static const char *const bad[] = { "", ".hidden", "..", "a/b", "with space", "tab\there", "nl\n",
                                           "del\x7f" };
        g_autofree char *longest = g_strnfill(NAME_MAX - 5 - 16 - 1, 'a');
        g_autofree char *too_long = g_strnfill(NAME_MAX, 'a');

        for (size_t i = 0; i < G_N_ELEMENTS(good); i++)
                g_assert_true(registry_key_valid(good[i]));
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++)
                g_assert_false(registry_key_valid(bad[i]));
        g_assert_false(registry_key_valid(NULL));
        g_assert_true(registry_key_valid(longest));
        g_assert_false(registry_key_valid(too_long));
}

static void test_parse_entry(void)
{
        static const struct {
                const char *file;
                const char *key;
        } cases[] = {
                { "abc.sock", "abc" }, { "a.b.sock", "a.b" }, { "x.sock.sock", "x.sock" },
                { ".sock", NULL },     { "abc", NULL },       { "abc.sockx", NULL },
                { ".tmp-1-abc.sock", NULL }, { "by-name", NULL }, { "exec", NULL },
                { "sp ace.sock", NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *key = registry_parse_entry(cases[i].file);
                g_assert_cmpstr(key, ==, cases[i].key);
        }
}

static void test_dir(void)
{
        g_autofree char *set = registry_dir("/some/where");
        g_autofree char *off = registry_dir("none");

        g_assert_cmpstr(set, ==, "/some/where");
        g_assert_null(off);
        if (geteuid() == 0) {
                g_autofree char *def = registry_dir(NULL);
                g_autofree char *empty = registry_dir("");
                g_assert_cmpstr(def, ==, "/run/vigil");
                g_assert_cmpstr(empty, ==, "/run/vigil");
        }
}

static void test_register_unregister(void)
{
        g_autofree char *dir = scratch_dir("reg");
        g_autofree char *id_path = NULL;
        g_autofree char *name_path = NULL;
        g_autofree char *target = NULL;
        g_autofree char *sock = NULL;
        Registration reg = REGISTRATION_NULL;
        Registration again = REGISTRATION_NULL;
        int old;

        if (!dir)
                return;
        id_path = g_strdup_printf("%s/cafe01.sock", dir);
        name_path = g_strdup_printf("%s/by-name/web.sock", dir);
        sock = make_socket_file(dir, "vigil.sock");
        g_assert_cmpint(registry_register(&reg, dir, "cafe01", "web", sock), ==, 0);
        target = read_link(id_path);
        g_assert_cmpstr(target, ==, sock);
        g_clear_pointer(&target, g_free);
        target = read_link(name_path);
        g_assert_cmpstr(target, ==, "../cafe01.sock");
        g_clear_pointer(&target, g_free);

        /* The next monitor of the same container (podman restart) binds the same path anew
         * and registers before the old one is done: the old one's exit leaves its entries.
         * The old socket's inode stays in use (its monitor still has it bound) as @old does. */
        old = open(sock, O_RDONLY | O_CLOEXEC);
        g_assert_cmpint(old, >=, 0);
        g_free(make_socket_file(dir, "vigil.sock"));
        g_assert_cmpint(registry_register(&again, dir, "cafe01", "web", sock), ==, 0);
        registry_unregister(&reg);
        g_assert_true(g_file_test(id_path, G_FILE_TEST_IS_SYMLINK));
        g_assert_true(g_file_test(name_path, G_FILE_TEST_IS_SYMLINK));
        close(old);
        registry_unregister(&again);
        g_assert_false(g_file_test(id_path, G_FILE_TEST_IS_SYMLINK));
        g_assert_false(g_file_test(name_path, G_FILE_TEST_IS_SYMLINK));
        g_assert_null(again.id_path);
        /* Nothing was left behind under a temporary name. */
        {
                g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
                const char *e;
                while ((e = g_dir_read_name(d)))
                        g_assert_true(g_str_equal(e, "by-name") || g_str_equal(e, "bundle"));
        }
        remove_tree(dir);
}

static void test_register_refuses_bad_keys(void)
{
        g_autofree char *dir = scratch_dir("bad");
        Registration reg = REGISTRATION_NULL;

        if (!dir)
                return;
        g_assert_cmpint(registry_register(&reg, dir, "../escape", NULL, "/"), ==, -EINVAL);
        g_assert_cmpint(registry_register(&reg, dir, "ok", "a/b", "/"), ==, -EINVAL);
        g_assert_cmpint(registry_register(&reg, dir, NULL, NULL, "/"), ==, -EINVAL);
        /* No socket, no entry. */
        g_assert_cmpint(registry_register(&reg, dir, "ok", NULL, "/nonexistent/vigil.sock"), ==, -ENOENT);
        g_assert_null(reg.id_path);
        g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
}

static void test_relative_socket_made_absolute(void)
{
        g_autofree char *dir = scratch_dir("rel");
        g_autofree char *cwd = g_get_current_dir();
        g_autofree char *expect = g_build_filename(cwd, "bundle", "vigil.sock", NULL);
        g_autofree char *path = NULL;
        g_autofree char *target = NULL;
        Registration reg = REGISTRATION_NULL;

        if (!dir)
                return;
        g_free(make_socket_file(dir, "vigil.sock"));
        g_assert_cmpint(chdir(dir), ==, 0);
        g_free(expect);
        expect = g_build_filename(dir, "bundle", "vigil.sock", NULL);
        g_assert_cmpint(registry_register(&reg, dir, "id1", NULL, "bundle/vigil.sock"), ==, 0);
        g_assert_cmpint(chdir(cwd), ==, 0);
        path = g_strdup_printf("%s/id1.sock", dir);
        target = read_link(path);
        g_assert_cmpstr(target, ==, expect);
        registry_unregister(&reg);
        g_assert_false(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        remove_tree(dir);
}

static void test_remove_stale(void)
{
        g_autofree char *dir = scratch_dir("stale");
        g_autofree char *path = NULL;
        g_autofree char *other = NULL;
        g_autofree char *gone = NULL;
        g_autofree char *here = NULL;
        Registration dead = REGISTRATION_NULL;
        Registration live = REGISTRATION_NULL;
        struct stat st;

        if (!dir)
                return;
        gone = make_socket_file(dir, "gone.sock");
        here = make_socket_file(dir, "here.sock");
        g_assert_cmpint(registry_register(&dead, dir, "dead", "db", gone), ==, 0);
        g_assert_cmpint(registry_register(&live, dir, "live", "web", here), ==, 0);
        path = g_strdup_printf("%s/dead.sock", dir);
        /* Not if it is another link than the one found stale. */
        other = g_strdup_printf("%s/live.sock", dir);
        g_assert_cmpint(lstat(other, &st), ==, 0);
        g_clear_pointer(&other, g_free);
        registry_remove_stale(dir, NULL, "dead.sock", &st);
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        g_assert_cmpint(lstat(path, &st), ==, 0);
        registry_remove_stale(dir, NULL, "dead.sock", &st);
        g_assert_false(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        other = g_strdup_printf("%s/by-name/db.sock", dir);
        g_assert_false(g_file_test(other, G_FILE_TEST_IS_SYMLINK));
        g_clear_pointer(&other, g_free);
        other = g_strdup_printf("%s/by-name/web.sock", dir);
        g_assert_true(g_file_test(other, G_FILE_TEST_IS_SYMLINK));
        registry_unregister(&live);
        registry_unregister(&dead);
        remove_tree(dir);
}

/* Whoever could create the registry directory before us may have planted a symlink there:
 * a root monitor must not create its entries wherever it leads. */
static void test_refuses_symlinked_dir(void)
{
        g_autofree char *dir = scratch_dir("planted");
        g_autofree char *victim = NULL;
        g_autofree char *planted = NULL;
        g_autofree char *sock = NULL;
        g_autofree char *entry = NULL;
        Registration reg = REGISTRATION_NULL;

        if (!dir)
                return;
        victim = g_build_filename(dir, "victim", NULL);
        planted = g_build_filename(dir, "registry", NULL);
        g_assert_cmpint(g_mkdir_with_parents(victim, 0755), ==, 0);
        g_assert_cmpint(symlink(victim, planted), ==, 0);
        sock = make_socket_file(dir, "vigil.sock");
        g_assert_cmpint(registry_register(&reg, planted, "id1", NULL, sock), <, 0);
        entry = g_build_filename(victim, "id1.sock", NULL);
        g_assert_false(g_file_test(entry, G_FILE_TEST_IS_SYMLINK));
        g_assert_null(reg.id_path);
        remove_tree(dir);
}

/* A directory that others may write in (or that someone else owns) could have its by-name
 * swapped for a symlink between our checks and our unlinks: it is not used. */
static void test_refuses_dir_others_may_write(void)
{
        g_autofree char *dir = scratch_dir("open");
        g_autofree char *sock = NULL;
        Registration reg = REGISTRATION_NULL;

        if (!dir)
                return;
        sock = make_socket_file(dir, "vigil.sock");
        g_assert_cmpint(chmod(dir, 0777), ==, 0);
        g_assert_cmpint(registry_register(&reg, dir, "id1", NULL, sock), ==, -EPERM);
        g_assert_null(reg.id_path);
        if (geteuid() == 0) {
                g_assert_cmpint(chmod(dir, 0755), ==, 0);
                g_assert_cmpint(chown(dir, 65534, 65534), ==, 0);
                g_assert_cmpint(registry_register(&reg, dir, "id1", NULL, sock), ==, -EPERM);
                g_assert_null(reg.id_path);
        }
        remove_tree(dir);
}

/* Cleaning a stale entry must not follow a by-name that is a symlink to another directory. */
static void test_remove_stale_keeps_out_of_planted_by_name(void)
{
        g_autofree char *dir = scratch_dir("by-name-planted");
        g_autofree char *victim = NULL;
        g_autofree char *by_name = NULL;
        g_autofree char *kept = NULL;
        g_autofree char *gone = NULL;
        g_autofree char *path = NULL;
        Registration dead = REGISTRATION_NULL;
        struct stat st;

        if (!dir)
                return;
        gone = make_socket_file(dir, "gone.sock");
        g_assert_cmpint(registry_register(&dead, dir, "dead", NULL, gone), ==, 0);
        victim = g_build_filename(dir, "victim", NULL);
        by_name = g_build_filename(dir, "by-name", NULL);
        kept = g_build_filename(victim, "precious", NULL);
        g_assert_cmpint(g_mkdir_with_parents(victim, 0755), ==, 0);
        g_assert_cmpint(symlink("../dead.sock", kept), ==, 0);
        g_assert_cmpint(symlink(victim, by_name), ==, 0);
        path = g_strdup_printf("%s/dead.sock", dir);
        g_assert_cmpint(lstat(path, &st), ==, 0);
        registry_remove_stale(dir, NULL, "dead.sock", &st);
        g_assert_false(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        g_assert_true(g_file_test(kept, G_FILE_TEST_IS_SYMLINK));
        registry_unregister(&dead);
        remove_tree(dir);
}

/* podman restart: the entry found stale is replaced by the next monitor's (the same link
 * text: the same bundle socket) before the client removes it.  The new entry stays. */
static void test_remove_stale_keeps_a_newer_entry(void)
{
        g_autofree char *dir = scratch_dir("stale-race");
        g_autofree char *sock = NULL;
        g_autofree char *path = NULL;
        g_autofree char *name = NULL;
        Registration dead = REGISTRATION_NULL;
        Registration next = REGISTRATION_NULL;
        struct stat seen;

        if (!dir)
                return;
        sock = make_socket_file(dir, "vigil.sock");
        g_assert_cmpint(registry_register(&dead, dir, "cafe", "web", sock), ==, 0);
        path = g_strdup_printf("%s/cafe.sock", dir);
        name = g_strdup_printf("%s/by-name/web.sock", dir);
        /* The client looks at the entry and finds it stale ... */
        g_assert_cmpint(lstat(path, &seen), ==, 0);
        /* ... the next monitor registers ... */
        g_assert_cmpint(registry_register(&next, dir, "cafe", "web", sock), ==, 0);
        /* ... and the client cleans up what it found. */
        registry_remove_stale(dir, NULL, "cafe.sock", &seen);
        g_assert_true(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        g_assert_true(g_file_test(name, G_FILE_TEST_IS_SYMLINK));
        registry_unregister(&next);
        g_assert_false(g_file_test(path, G_FILE_TEST_IS_SYMLINK));
        registry_unregister(&dead); /* its memory: the entries are gone */
        remove_tree(dir);
}

/* The exec sessions' directory is checked as the registry is: a planted symlink is refused. */
static void test_exec_dir(void)
{
        g_autofree char *dir = scratch_dir("exec");
        g_autofree char *victim = NULL;
        g_autofree char *exec_dir = NULL;
        g_autofree char *path = NULL;

        if (!dir)
                return;
        g_assert_cmpint(registry_exec_dir(dir, &path), ==, 0);
        exec_dir = g_build_filename(dir, "exec", NULL);
        g_assert_cmpstr(path, ==, exec_dir);
        g_assert_true(g_file_test(exec_dir, G_FILE_TEST_IS_DIR));
        g_clear_pointer(&path, g_free);
        g_assert_cmpint(rmdir(exec_dir), ==, 0);
        victim = g_build_filename(dir, "victim", NULL);
        g_assert_cmpint(g_mkdir_with_parents(victim, 0755), ==, 0);
        g_assert_cmpint(symlink(victim, exec_dir), ==, 0);
        g_assert_cmpint(registry_exec_dir(dir, &path), ==, -ENOTDIR);
        g_assert_null(path);
        remove_tree(dir);
}

/* Rootless podman runs its monitors as root in a user namespace that maps root to the user:
 * their registry is the user's, where the user's vigilctl looks, not /run/vigil. */
static void test_dir_as_root_of_a_user_namespace(void)
{
        int status;
        pid_t pid;

        if (geteuid() != 0) {
                g_test_skip("needs root, to become another user first");
                return;
        }
        pid = fork();
        g_assert_cmpint(pid, >=, 0);
        if (pid == 0) {
                g_autofree char *dir = NULL;
                int fd, wrong;
                if (setgid(65534) < 0 || setuid(65534) < 0)
                        _exit(2);
                /* setuid() made /proc/self root's: make it ours again, to write uid_map. */
                (void) prctl(PR_SET_DUMPABLE, 1);
                if (unshare(CLONE_NEWUSER) < 0)
                        _exit(77);
                fd = open("/proc/self/uid_map", O_WRONLY | O_CLOEXEC);
                if (fd < 0 || write(fd, "0 65534 1", 9) != 9)
                        _exit(77);
                close(fd);
                if (geteuid() != 0)
                        _exit(3);
                g_setenv("XDG_RUNTIME_DIR", "/run/user/65534", TRUE);
                dir = registry_dir(NULL);
                /* Freed before _exit(): valgrind checks the child's heap too. */
                wrong = g_strcmp0(dir, "/run/user/65534/vigil") != 0;
                g_clear_pointer(&dir, g_free);
                _exit(wrong);
        }
        g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
        g_assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77) {
                g_test_skip("no unprivileged user namespaces here");
                return;
        }
        g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

int main(int argc, char **argv)
{
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/registry/keys", test_keys);
        g_test_add_func("/registry/parse-entry", test_parse_entry);
        g_test_add_func("/registry/dir", test_dir);
        g_test_add_func("/registry/dir-as-root-of-a-user-namespace", test_dir_as_root_of_a_user_namespace);
        g_test_add_func("/registry/register-unregister", test_register_unregister);
        g_test_add_func("/registry/register-refuses-bad-keys", test_register_refuses_bad_keys);
        g_test_add_func("/registry/relative-socket-made-absolute", test_relative_socket_made_absolute);
        g_test_add_func("/registry/remove-stale", test_remove_stale);
        g_test_add_func("/registry/exec-dir", test_exec_dir);
        g_test_add_func("/registry/refuses-symlinked-dir", test_refuses_symlinked_dir);
        g_test_add_func("/registry/refuses-dir-others-may-write", test_refuses_dir_others_may_write);
        g_test_add_func("/registry/remove-stale-keeps-out-of-planted-by-name",
                        test_remove_stale_keeps_out_of_planted_by_name);
        g_test_add_func("/registry/remove-stale-keeps-a-newer-entry", test_remove_stale_keeps_a_newer_entry);
        return g_test_run();
}
