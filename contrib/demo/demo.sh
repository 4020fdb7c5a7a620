#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# demo.sh [BUILD_DIR]
#
# Runs one small busybox container under the monitor with real runc, driven the
# way podman drives it (sync/start socketpairs, `runc start` by the "engine",
# exit file), then shows the container's k8s-file log and its exit code.
#
#   BUILD_DIR       default: build (in the repository); the demo works in BUILD_DIR/demo
#   VIGIL_MONITOR   monitor to run, default BUILD_DIR/vigil (/usr/bin/conmon works too)
#   RUNC            default: runc from PATH
#
# Needs root, runc, busybox-static and python3. Exits 0 when the container's exit
# code came back as 7, as the script inside it intends.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-$repo/build}
mkdir -p "$build"
build=$(cd "$build" && pwd)
monitor=${VIGIL_MONITOR:-$build/vigil}
runc=${RUNC:-$(command -v runc || true)}
python=${PYTHON:-python3}
demo=$build/demo
runc_root=$demo/runc-root
cid=vigil-demo

die() { echo "demo: $*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
[ "$(id -u)" = 0 ] || die "run me as root (runc needs it)"
if [ -z "$runc" ] || [ ! -x "$runc" ]; then die "runc not found (apt-get install runc)"; fi
runc=$(readlink -f "$runc")
[ -x "$monitor" ] || die "no monitor at $monitor (build first, or set VIGIL_MONITOR)"
monitor=$(readlink -f "$monitor")

# The container's script: lines on stdout and stderr, a partial last line, exit 7.
# It is expanded inside the container, hence the single quotes; the sleeps keep
# the order of stdout and stderr lines in the log stable.
# shellcheck disable=SC2016
script='echo "hello from $(hostname), pid $$"
sleep 0.1
echo "this line goes to stderr" >&2
sleep 0.1
echo "stdout again"
printf "a partial line without a newline"
exit 7'

cleanup() {
	"$runc" --root "$runc_root" delete --force "$cid" >/dev/null 2>&1 || true
	rm -rf "$runc_root"
}
trap cleanup EXIT

cleanup
rm -rf "$demo"
mkdir -p "$demo/run"
"$repo/tests/lib/mkbundle.sh" "$demo/bundle" sh -c "$script" >/dev/null

echo "== vigil demo"
echo "monitor: $monitor ($("$monitor" --version | head -n1))"
echo "runtime: $runc --root $runc_root"
echo "container $cid runs busybox sh -c:"
indent <<<"$script"
echo

out=$("$python" "$here/run-under-monitor.py" --workdir "$demo/run" \
	--runtime-arg=--root --runtime-arg="$runc_root" \
	"$monitor" "$runc" "$demo/bundle" "$cid") || die "the run failed (see above)"
sed -n 's/^# //p' <<<"$out"
code=$(sed -n 's/^exit code //p' <<<"$out")

echo
echo "== container log ($demo/run/ctr.log, k8s-file format)"
indent <"$demo/run/ctr.log"
echo
echo "exit code $code"
[ "$code" = 7 ] || die "expected exit code 7"
