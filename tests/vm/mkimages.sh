#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# mkimages.sh BUILD_DIR
#
# Builds (or reuses) both guests' images at the same time: the CTest fixture vm-images, run
# before vm-acceptance and vm-acceptance-trixie.  One after the other, the two debootstraps
# would take about 80 + 170 s of the VM stage's 15 minutes; side by side they overlap (each
# waits on the network and on dpkg in turn).  Each build holds its release's lock, as run.sh
# does.  Always exits 0 (77 when neither image could be made): a release whose image failed
# is built again, and its failure reported, by its own run.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:?usage: mkimages.sh BUILD_DIR}")
t0=$(date +%s)
pids=
for release in bookworm trixie; do
	mkdir -p "$build/vm/$release"
	flock "$build/vm/$release/lock" "$here/mkimage.sh" "$build" "$release" \
		>"$build/vm/$release/mkimage.log" 2>&1 &
	pids="$pids $!"
done
skipped=0
set -- $pids
for release in bookworm trixie; do
	r=0
	wait "$1" || r=$?
	shift
	sed "s/^/[$release] /" "$build/vm/$release/mkimage.log"
	echo "mkimages: $release: exit $r"
	[ "$r" = 77 ] && skipped=$((skipped + 1))
done
echo "mkimages: both images in $(( $(date +%s) - t0 )) s"
[ "$skipped" = 2 ] && exit 77
exit 0
