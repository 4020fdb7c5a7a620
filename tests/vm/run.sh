#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run.sh BUILD_DIR [SOURCE_DIR]: the real-systemd acceptance test (CTest "vm-acceptance").
#
# Boots a throw-away Debian 12 guest with systemd 252 as PID 1 under qemu (TCG, its own
# disk image, never the host's filesystems) and runs tests/vm/guest-test.sh there: the
# shipped units/vigil@.service with Type=notify and real sd_notify containers.
#
#   1. tests/vm/mkimage.sh builds or reuses BUILD_DIR/vm/image (debootstrap, mkfs.ext4 -d).
#   2. BUILD_DIR/vm/run/share gets vigil, the unit, a busybox bundle with the static
#      notifier (tests/integration/notifier.c) and the guest script; the guest mounts it
#      over 9p at /mnt/host and writes its results there.
#   3. qemu boots the image with snapshot=on (the image itself is never written) under a
#      hard timeout; the guest powers off when the checks are done.
#
# Exit: 0 all checks passed, 1 a check failed or the guest did not finish, 77 (skip) when
# qemu or debootstrap cannot run at all here.  VIGIL_VM_TIMEOUT (s, default 480) bounds
# the boot and the checks; VIGIL_VM_ACCEL (default tcg) is passed to -accel.  For debugging:
# VIGIL_VM_CHECKS="1 5a" runs only those checks, VIGIL_VM_EXTRA=FILE is sourced by the guest
# after them (its output lands in BUILD_DIR/vm/run/share/results and the console log).
set -euo pipefail

build=$(realpath "${1:?usage: run.sh BUILD_DIR [SOURCE_DIR]}")
here=$(cd "$(dirname "$0")" && pwd)
src=$(realpath "${2:-$here/../..}")
vm=$build/vm
run=$vm/run
timeout_s=${VIGIL_VM_TIMEOUT:-480}
accel=${VIGIL_VM_ACCEL:-tcg}

log() { echo "vm-acceptance: $*"; }
skip() { log "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, qemu's 9p share with security_model=none)"
qemu=$(command -v qemu-system-x86_64 || true)
[ -n "$qemu" ] || skip "qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)"
[ -x "$build/vigil" ] || { log "ERROR: $build/vigil is not built"; exit 1; }
command -v runc >/dev/null || skip "runc is not installed (needed for runc spec)"

mkdir -p "$vm"
# One run at a time per build tree (the image and the share are shared).  qemu does not
# inherit the lock: a qemu left behind by a killed run does not block the next one.
exec 9>"$vm/lock"
flock 9

t_start=$(date +%s)
r=0
"$here/mkimage.sh" "$build" || r=$?
[ "$r" = 0 ] || exit "$r"
t_image=$(date +%s)

# --- the share -------------------------------------------------------------------------------
rm -rf "$run"
mkdir -p "$run/share" "$run/tmp"
share=$run/share
install -m 755 "$build/vigil" "$share/vigil"
install -m 644 "$src/units/vigil@.service" "$share/vigil@.service"
install -m 755 "$here/guest-test.sh" "$share/guest-test.sh"
printf '%s\n' "${VIGIL_VM_CHECKS:-}" > "$share/checks"
[ -z "${VIGIL_VM_EXTRA:-}" ] || install -m 644 "$VIGIL_VM_EXTRA" "$share/extra.sh"
gcc -static -O2 -o "$run/notifier" "$src/tests/integration/notifier.c"
"$src/tests/lib/mkbundle.sh" "$share/bundle" sh /test.sh >/dev/null
install -m 755 "$run/notifier" "$share/bundle/rootfs/bin/notifier"

# --- boot ------------------------------------------------------------------------------------
img=$vm/image
console=$run/console.log
log "booting $(cat "$img/kernel-version") under qemu -accel $accel (timeout ${timeout_s} s)"
t0=$(date +%s)
qr=0
# snapshot=on keeps the guest's writes in a temporary file under $TMPDIR.
TMPDIR=$run/tmp timeout -k 10 "$timeout_s" "$qemu" \
	-accel "$accel" -m 1024 -smp 2 \
	-nodefaults -no-user-config -display none -no-reboot \
	-serial "file:$console" \
	-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 fsck.mode=skip quiet loglevel=4 systemd.show_status=error" \
	-drive "file=$img/disk.raw,if=virtio,format=raw,snapshot=on" \
	-virtfs "local,path=$share,mount_tag=host,security_model=none,id=host" \
	-device virtio-rng-pci \
	</dev/null >"$run/qemu.log" 2>&1 9>&- || qr=$?
t1=$(date +%s)
log "qemu exited with $qr after $((t1 - t0)) s (image step $((t_image - t_start)) s)"

results=$share/results
if [ "$qr" = 124 ] || [ "$qr" = 137 ]; then
	log "ERROR: the guest did not power off within ${timeout_s} s"
elif [ "$qr" != 0 ]; then
	log "ERROR: qemu failed:"; sed 's/^/    /' "$run/qemu.log"
	# qemu that cannot start at all (no TCG, no 9p support) is a skip, not a failure.
	if [ ! -s "$console" ] && grep -qiE "not supported|no accelerator|invalid accelerator|'virtio-9p|virtfs support is disabled" "$run/qemu.log"; then
		skip "qemu cannot boot the guest here"
	fi
fi

if [ ! -f "$results" ]; then
	log "ERROR: no results from the guest; console (last 60 lines):"
	tail -n 60 "$console" | sed 's/^/    /'
	exit 1
fi
cat "$results"
pass=$(grep -c '^PASS ' "$results" || true)
fail=$(grep -c '^FAIL ' "$results" || true)
skipped=$(grep -c '^SKIP ' "$results" || true)
knownc=$(grep -c '^KNOWN ' "$results" || true)
log "$pass passed, $fail failed, $skipped skipped, $knownc known problems; total $(( $(date +%s) - t_start )) s"
if ! grep -q '^DONE$' "$results"; then
	log "ERROR: the guest script did not finish; console (last 60 lines):"
	tail -n 60 "$console" | sed 's/^/    /'
	exit 1
fi
[ "$fail" = 0 ] && [ "$pass" -gt 0 ] || exit 1
exit 0
