/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Defaults for the sanitizer runtimes, linked into vigil and vigilctl in sanitizer builds only
 * (CMake VIGIL_SANITIZE or VIGIL_FUZZ).  ASAN_OPTIONS and UBSAN_OPTIONS still override them.
 *
 * They are built in rather than left to the environment because the monitor's environment is
 * not the test's: podman gives its monitor a fixed one (conmon_env_vars), the integration tests
 * spawn it with a minimal one, and once daemonized its stderr is /dev/null.  With
 * VIGIL_SANITIZER_LOG_DIR set (contrib/test.sh does), every report lands in a file
 * DIR/vigil.PID or DIR/vigilctl.PID (UBSan, ASan and LSan share it) that the test run checks
 * for. */
#ifdef VIGIL_SANITIZER_LOG
#define LOG_PATH "log_path=" VIGIL_SANITIZER_LOG ":"
#else
#define LOG_PATH ""
#endif

const char *__asan_default_options(void);
const char *__ubsan_default_options(void);

/* Leak checking stays on for the monitor: the integration suite then checks the real run
 * paths (podman, exec, attach, rotation) for leaks too.  LeakSanitizer's exit-time check
 * ptrace()s the process's threads, so once the monitor confines itself with a seccomp filter
 * that forbids ptrace, the monitor's default here must become detect_leaks=0; its leaks are
 * then still checked by the unit tests (ASan with LSan, not confined) and valgrind memcheck
 * (CTest label memcheck). */
const char *__asan_default_options(void)
{
        return LOG_PATH "halt_on_error=1:detect_leaks=1";
}

const char *__ubsan_default_options(void)
{
        return LOG_PATH "halt_on_error=1:print_stacktrace=1";
}
