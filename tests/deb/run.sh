#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run.sh BUILD_DIR SOURCE_DIR: the Debian package, built and installed in a fresh Debian 12 root.
#
#  1. A Debian 12 root with podman is made by debootstrap, once, from the mirror the host's apt
#     uses, and kept in BUILD_DIR/deb-test/root (rebuilt when the package list below changes).
#  2. contrib/build-deb.sh builds the .deb from SOURCE_DIR into BUILD_DIR/deb and runs lintian
#     (an error fails the test).
#  3. Each run works on an overlay over that root, in a private mount and pid namespace
#     (unshare; chroot, no systemd in the root): guest-test.sh installs the .deb with apt,
#     activates the containers.conf snippet as README.Debian says, checks that podman's run,
#     logs and exec go through vigil, purges the package and checks that nothing is left.
#     Whatever the test starts dies with the pid namespace; its mounts go with the mount
#     namespace; the overlay's upper layer is deleted afterwards.
#
# Needs root, debootstrap, dpkg-dev, debhelper, lintian and the package's Build-Depends.
# Exits 77 (skip) when one is missing or the mirror cannot be reached.
set -euo pipefail

build=$(realpath "${1:?usage: run.sh BUILD_DIR SOURCE_DIR}")
src=$(realpath "${2:?usage: run.sh BUILD_DIR SOURCE_DIR}")
here=$(cd "$(dirname "$0")" && pwd)
work=$build/deb-test
suite=bookworm
# podman and what the test itself uses.  netavark: podman's network stack (a dependency that
# debootstrap does not resolve, being virtual).  runc: crun refuses a cgroup v1 hybrid host.
packages=podman,netavark,runc,busybox-static,libjson-glib-1.0-0,libseccomp2,libsystemd0
cgroup_parent=vigil-deb-test

log() { echo "deb-test: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot, mounts)"
for tool in debootstrap dpkg-buildpackage dh lintian unshare; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (contrib/deps.txt)"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
grep -qw overlay /proc/filesystems || skip "the kernel has no overlayfs"

# Never delete a tree that still has something mounted in it.
safe_rm() {
	local d=$1
	[ -e "$d" ] || return 0
	if findmnt -rn -o TARGET | grep -q "^$d\(/\|$\)"; then
		log "ERROR: something is mounted under $d; not deleting it"
		exit 1
	fi
	rm -rf --one-file-system "$d"
}

# --- 1. the Debian 12 root, cached (first: without a mirror there is nothing to build for) ---
mirror_from_apt() {
	# shellcheck disable=SC2016 # apt's own $(FIELD) syntax
	apt-get indextargets --format '$(REPO_URI) $(CODENAME) $(COMPONENT)' 'Created-By: Packages' 2>/dev/null |
		awk -v suite="$suite" '$2 == suite && $3 == "main" { print $1; exit }'
}
root=$work/root
stamp="$suite $packages"
if [ -f "$work/root.stamp" ] && [ "$(cat "$work/root.stamp")" = "$stamp" ] && [ -d "$root" ]; then
	log "reusing the Debian root $root"
else
	mirror=${VIGIL_DEB_MIRROR:-$(mirror_from_apt)}
	[ -n "$mirror" ] || skip "no Debian $suite mirror in the host's apt sources (set VIGIL_DEB_MIRROR)"
	mkdir -p "$work/debs"
	safe_rm "$root"
	rm -f "$work/root.stamp"
	t1=$SECONDS
	log "debootstrap $suite from $mirror into $root"
	# In a private mount namespace: debootstrap's /proc and /sys mounts cannot outlive it.
	if ! timeout 900 unshare --mount --propagation private \
		debootstrap --variant=minbase --include="$packages" --cache-dir="$work/debs" \
		"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
		tail -n 20 "$work/debootstrap.log" >&2
		if grep -qE 'Failed getting release file|Couldn.t download|Temporary failure resolving|unable to resolve' "$work/debootstrap.log"; then
			skip "debootstrap cannot reach $mirror (no network?)"
		fi
		log "ERROR: debootstrap failed (log: $work/debootstrap.log)"
		exit 1
	fi
	# The test installs with apt from local files only; the root's package lists stay empty.
	rm -f "$root"/var/cache/apt/archives/*.deb
	echo "$stamp" >"$work/root.stamp"
	log "debootstrap took $((SECONDS - t1)) s"
fi

# --- 2. the package -------------------------------------------------------------------------
t0=$SECONDS
"$src/contrib/build-deb.sh" "$build"
deb=$(ls "$build"/deb/vigil_*_"$(dpkg --print-architecture)".deb)
log "package built and checked in $((SECONDS - t0)) s: $deb"

# --- 3. install, use, purge, in an overlay over the root ------------------------------------
run=$work/run
safe_rm "$run"
mkdir -p "$run/upper" "$run/work" "$run/merged"
cp "$deb" "$here/guest-test.sh" "$run/"

t2=$SECONDS
r=0
# shellcheck disable=SC2016 # the inner script gets its values as arguments
unshare --mount --pid --fork --propagation private \
	env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	bash -euo pipefail -c '
		root=$1 run=$2 deb=$3 parent=$4
		m=$run/merged
		mount -t overlay overlay -o "lowerdir=$root,upperdir=$run/upper,workdir=$run/work" "$m"
		mount -t proc proc "$m/proc"
		mount --rbind /sys "$m/sys"
		mount --rbind /dev "$m/dev"
		mount -t tmpfs -o mode=755 tmpfs "$m/run"
		mount -t tmpfs -o mode=1777 tmpfs "$m/tmp"
		mkdir -p "$m/root/deb-test"
		cp "$run/$deb" "$run/guest-test.sh" "$m/root/deb-test/"
		exec chroot "$m" env HOME=/root LC_ALL=C.UTF-8 \
			bash /root/deb-test/guest-test.sh "/root/deb-test/$deb" "$parent"
	' deb-test "$root" "$run" "$(basename "$deb")" "$cgroup_parent" || r=$?
log "install, podman checks and purge took $((SECONDS - t2)) s"

# The pid namespace is gone, so is everything it ran; its cgroups are empty now.
find /sys/fs/cgroup -depth -type d -path "*/$cgroup_parent*" -exec rmdir {} + 2>/dev/null || true
if find /sys/fs/cgroup -type d -path "*/$cgroup_parent*" 2>/dev/null | grep -q .; then
	log "ERROR: cgroups left under $cgroup_parent"
	r=1
fi
for p in /proc/[0-9]*; do
	if [[ $(readlink "$p/root" 2>/dev/null) == "$run"* ]]; then
		log "ERROR: process ${p#/proc/} is still running in the test root"
		r=1
	fi
done
safe_rm "$run"
exit "$r"
