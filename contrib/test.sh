#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# test.sh: the repository's single test command.
#
# Configures and builds vigil with warnings as errors, then runs every test
# (unit tests, and the pytest integration suite, which needs root, runc, podman
# and busybox-static; see contrib/deps.txt) through ctest.
#
#   BUILD_DIR   build directory, default: build (in the repository)
#   JOBS        parallel build jobs, default: nproc
#   extra arguments are passed to ctest, e.g. contrib/test.sh -L unit
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

[ "$(id -u)" = 0 ] || echo "test.sh: not root: the integration tests need root and may fail or skip" >&2

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVIGIL_WERROR=ON
cmake --build "$build" -j"$jobs"
ctest --test-dir "$build" --output-on-failure "$@"
