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

/* No leak check at exit in the monitor (vigilctl keeps it).  LeakSanitizer's check stops the
 * process's threads with ptrace(), which the monitor's seccomp self-confinement forbids, and a
 * monitor killed during the check (engines and tests SIGKILL monitors) leaves a half-written
 * report ("Unable to get registers from thread").  The monitor's code is leak-checked by the unit
 * tests (LSan) and valgrind (CTest label memcheck). */
#ifdef VIGIL_SANITIZER_MONITOR
#define DETECT_LEAKS "detect_leaks=0"
#else
#define DETECT_LEAKS "detect_leaks=1"
#endif

const char *__asan_default_options(void)
{
        return LOG_PATH "halt_on_error=1:" DETECT_LEAKS;
}

const char *__ubsan_default_options(void)
{
        return LOG_PATH "halt_on_error=1:print_stacktrace=1";
}
