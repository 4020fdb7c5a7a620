#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# build-and-demo.sh: from a fresh Debian 12 machine (as root) to a running demo.
#
# Installs the packages in contrib/deps.txt (only if some are missing), builds
# vigil into build/, and runs contrib/demo/demo.sh: podman runs two containers
# through the freshly built vigil, the second held back until the first is ready.
#
#   BUILD_DIR   build directory, default: build (in the repository)
#   JOBS        parallel build jobs, default: nproc
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
# shellcheck source=contrib/lib-deps.sh
. contrib/lib-deps.sh
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

missing=$(deps_missing)
if [ -n "$missing" ]; then
	[ "$(id -u)" = 0 ] || { echo "build-and-demo: missing packages: ${missing//$'\n'/ } (run me as root)" >&2; exit 1; }
	deps_install
else
	echo "deps: all packages in contrib/deps.txt are installed"
fi

echo "build: cmake into $build/"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs" >/dev/null
echo "build: $build/vigil"
echo

build=$(cd "$build" && pwd)
exec contrib/demo/demo.sh "$build"
