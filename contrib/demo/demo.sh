#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# demo.sh [BUILD_DIR]
#
# What vigil is for, in about a minute: podman 4.3.1 runs two busybox containers with vigil
# as its monitor (conmon_path).  The first, "db", takes a few seconds to get ready and then
# says so with sd_notify (READY=1 and a STATUS); `vigilctl wait --ready db` holds the second,
# "app", back until then.  `vigilctl ps` lists both monitors and `vigilctl state db` shows
# the container by name with its notify status.  podman runs from a shell here, outside
# systemd, so vigil prepares the container's notify socket itself
# (VIGIL_SDNOTIFY_PREPARE_BUNDLE in conmon_env_vars).
#
#   BUILD_DIR   default: build (in the repository); podman's store is BUILD_DIR/demo, its own,
#               so the host's containers and images are never touched
#
# Needs root, podman, runc, busybox-static and gcc.  Exits 0 when app started only after db
# was ready; removes both containers, the image and the store afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${1:-$repo/build}
build=$(cd "$build" && pwd)
vigil=$build/vigil
vigilctl=$build/vigilctl
store=$build/demo
image=localhost/vigil-demo:latest

die() { echo "demo: $*" >&2; exit 1; }
indent() { sed 's/^/    /'; }
step() { echo; echo "== $*"; }
[ "$(id -u)" = 0 ] || die "run me as root (podman with runc and cgroupfs)"
for t in podman runc gcc; do command -v $t >/dev/null || die "$t not found (contrib/deps.txt)"; done
[ -x "$vigil" ] && [ -x "$vigilctl" ] || die "build first: no $vigil or $vigilctl"

# podman refuses a runroot path longer than 50 characters: reach a deep store through a link.
root=$store
link=
if [ ${#store} -gt 40 ]; then
	link=/run/vigil-demo-$(echo "$store" | sha256sum | cut -c1-8)
	root=$link
fi

podman_() { CONTAINERS_CONF=$store/containers.conf CONTAINERS_STORAGE_CONF=$store/storage.conf \
	podman "$@"; }

cleanup() {
	if [ -f "$store/containers.conf" ]; then
		podman_ rm -f -t 0 --ignore db app >/dev/null 2>&1 || true
		podman_ rmi -f "$image" >/dev/null 2>&1 || true
	fi
	[ -n "$link" ] && rm -f "$link"
	rm -rf "$store"
	# The monitors registered in the default registry: leave no empty one behind.
	rmdir /run/vigil/by-name /run/vigil 2>/dev/null || true
	# podman's parent cgroups, if this run made them.
	[ -n "$had_libpod" ] || find /sys/fs/cgroup -depth -type d -path '*/libpod_parent*' \
		-exec rmdir {} + 2>/dev/null || true
}
had_libpod=$(find /sys/fs/cgroup -maxdepth 2 -type d -name libpod_parent 2>/dev/null)
trap cleanup EXIT
cleanup

mkdir -p "$store"
[ -n "$link" ] && ln -s "$store" "$link"
cat >"$store/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"

[engine]
conmon_path = ["$vigil"]
conmon_env_vars = ["VIGIL_SDNOTIFY_PREPARE_BUNDLE=true"]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$root/events.log"
tmp_dir = "$root/libpod-tmp"
static_dir = "$store/storage/libpod"
volume_path = "$store/storage/volumes"

[network]
network_config_dir = "$root/netconf"
EOF
cat >"$store/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$store/storage"
runroot = "$root/runroot"
EOF

# The image: busybox-static and a tiny static sd_notify client (the tests' notifier).
"$repo/tests/lib/mkbundle.sh" "$store/bundle" >/dev/null
gcc -O2 -static -o "$store/bundle/rootfs/bin/notify" "$repo/tests/integration/notifier.c"
tar -C "$store/bundle/rootfs" -cf "$store/rootfs.tar" .
podman_ import -q "$store/rootfs.tar" "$image" >/dev/null

echo "== vigil demo: podman $(podman --version | awk '{print $3}') with conmon_path = $vigil"

step "podman run -d --name db: ready after 3 s, then says so with READY=1 and a STATUS"
# shellcheck disable=SC2016
podman_ run -d --name db "$image" sh -c 'echo "db: starting"; sleep 3;
	notify "msg:READY=1\nSTATUS=accepting connections on port 5432"; echo "db: ready";
	exec sleep 600' | cut -c1-12 | indent

step "vigilctl wait --ready db --timeout 60s && podman run -d --name app"
start=$(date +%s%N)
"$vigilctl" wait --ready db --timeout 60s | indent
held=$((($(date +%s%N) - start) / 1000000))
echo "    the gate held app back for $held ms, until db sent READY=1"
podman_ run -d --name app "$image" sh -c 'echo "app: started, db is ready"; exec sleep 600' |
	cut -c1-12 | indent

step "vigilctl ps"
"$vigilctl" ps | indent

step "vigilctl state db"
"$vigilctl" state db | indent

step "podman logs db; podman logs app"
podman_ logs db | indent
podman_ logs app | indent

[ "$held" -ge 1500 ] || die "app was let through after $held ms, before db could be ready"
"$vigilctl" state db | grep -q "accepting connections" || die "vigilctl state db shows no STATUS"
step "done: removing both containers, the image and the store"
