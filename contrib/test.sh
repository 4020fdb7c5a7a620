#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test.sh: the repository's single test command.  Runs these stages, each announced with a
# "==== stage" line, goes on after a failed stage and exits non-zero if any failed:
#
#   main      gcc build, warnings as errors, in BUILD_DIR; ctest runs every test: unit tests,
#             valgrind memcheck over them (label memcheck), the pytest integration suite
#             (needs root, runc, podman and busybox-static; see contrib/deps.txt), the CRI-O
#             tests (label crio; skipped without ../shared/crio or VIGIL_CRIO_DIR), the Debian
#             package test (label deb: debootstrap, dpkg-dev, debhelper, lintian, a mirror), the
#             vm tests (a Debian 12 and a Debian 13 guest under qemu; tests/vm/README.md)
#   sanitize  clang ASan+UBSan build in BUILD_DIR/sanitize (-DVIGIL_FUZZ=ON: the same build
#             serves the fuzz stage); unit and integration tests with halt_on_error.  Reports
#             of the vigil and vigilctl processes go to BUILD_DIR/sanitize/sanitizer-logs
#             (a daemonized monitor has no stderr): any file there fails the stage
#   fuzz      each libFuzzer target (ctest -L fuzz) for FUZZ_SECONDS, in the sanitize build
#
#   BUILD_DIR     build directory, default: build (in the repository)
#   JOBS          parallel build jobs and fuzz targets, default: nproc
#   STAGES        the stages to run, default: "main sanitize fuzz", or "main" when there are
#                 extra arguments
#   FUZZ_SECONDS  seconds per fuzz target, default: 20
#   extra arguments are appended to every stage's ctest command (ctest ANDs several -L):
#   contrib/test.sh -L unit runs the unit tests of the gcc build (quick), and
#   STAGES=sanitize contrib/test.sh -L unit those of the sanitizer build;
#   STAGES="main sanitize fuzz" contrib/test.sh -LE vm runs everything but the vm test.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
build=${BUILD_DIR:-build}
san=$build/sanitize
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-20}
if [ $# -gt 0 ]; then
	stages=${STAGES:-main}
else
	stages=${STAGES:-main sanitize fuzz}
fi
failed=()
times=()

[ "$(id -u)" = 0 ] || echo "test.sh: not root: the integration tests need root and may fail or skip" >&2

stage_main() {
	cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=ON &&
		cmake --build "$build" -j"$jobs" &&
		ctest --test-dir "$build" --output-on-failure "$@"
}

# The sanitizer build, configured and built once for the sanitize and fuzz stages.
san_built=
build_sanitize() {
	[ -n "$san_built" ] && return "$san_built"
	san_built=1
	if ! command -v clang >/dev/null; then
		echo "test.sh: clang not found: install contrib/deps.txt, or run with STAGES=main" >&2
		return 1
	fi
	CC=clang cmake -S . -B "$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=ON \
		-DVIGIL_FUZZ=ON -DVIGIL_FUZZ_SECONDS="$fuzz_seconds" \
		-DVIGIL_SANITIZER_LOG_DIR="$(realpath -m "$san")/sanitizer-logs" &&
		cmake --build "$san" -j"$jobs" &&
		san_built=0
}

stage_sanitize() {
	local logs=$san/sanitizer-logs r=0
	build_sanitize || return 1
	rm -rf "$logs" && mkdir -p "$logs" || return 1
	# halt_on_error: the first report fails the test.  These reach the unit tests (with leak
	# checking, LSan's default), whose reports ctest shows; vigil and vigilctl have their
	# defaults built in (src/sanitizer_options.c, which says why the monitor has no leak
	# check), since podman and the tests start them with an environment of their own.
	ASAN_OPTIONS=halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_string_checks=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		ctest --test-dir "$san" --output-on-failure -L 'unit|integration' "$@" || r=1
	if [ -n "$(ls -A "$logs")" ]; then
		echo "test.sh: sanitizer reports of vigil/vigilctl processes in $logs:" >&2
		for f in "$logs"/*; do
			echo "---- $f" >&2
			cat "$f" >&2
		done
		r=1
	fi
	return $r
}

stage_fuzz() {
	build_sanitize || return 1
	ctest --test-dir "$san" --output-on-failure -j"$jobs" -L fuzz "$@"
}

for stage in $stages; do
	case $stage in
	main | sanitize | fuzz) ;;
	*) echo "test.sh: unknown stage '$stage' in STAGES (main, sanitize, fuzz)" >&2; exit 2 ;;
	esac
	echo "==== stage $stage: start ($(date -u +%H:%M:%S))"
	start=$SECONDS
	"stage_$stage" "$@"
	r=$?
	times+=("$stage $((SECONDS - start))s")
	if [ $r = 0 ]; then
		echo "==== stage $stage: passed in $((SECONDS - start)) s"
	else
		echo "==== stage $stage: FAILED in $((SECONDS - start)) s"
		failed+=("$stage")
	fi
done

printf '==== stage times:'; printf ' %s;' "${times[@]}"; echo
if [ ${#failed[@]} -gt 0 ]; then
	echo "==== FAILED stages: ${failed[*]}"
	exit 1
fi
echo "==== all stages passed: $stages"
