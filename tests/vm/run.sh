#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# run.sh BUILD_DIR [SOURCE_DIR [RELEASE]]: the real-systemd acceptance test (CTests
# "vm-acceptance" for RELEASE=bookworm and "vm-acceptance-trixie").
#
# Boots a throw-away Debian guest under qemu (TCG, its own disk image, never the host's
# filesystems) with systemd as PID 1 and runs tests/vm/guest-test.sh there: the shipped
# units/vigil@.service with real sd_notify containers, and in a guest with podman (trixie)
# vigil as podman's monitor under quadlet units, as root and as a user.  RELEASE (or
# $VIGIL_VM_RELEASE) is bookworm (Debian 12, systemd 252; the default) or trixie (Debian 13,
# systemd 257, podman 5, crun).
#
#   1. tests/vm/mkimage.sh builds or reuses BUILD_DIR/vm/RELEASE/image.
#   2. BUILD_DIR/vm/RELEASE/run/share gets vigil, the units, a busybox bundle with the static
#      notifier (tests/integration/notifier.c), the same rootfs as a tarball for
#      `podman import`, and the guest scripts; the guest mounts it over 9p at /mnt/host and
#      writes its results there.
#   3. qemu boots the image with snapshot=on (the image itself is never written); the guest
#      powers off when the checks are done.
#
# Each phase has a limit of its own, and its duration is printed; a phase that runs out is
# named.  VIGIL_VM_BOOT_TIMEOUT (s, default 300): from starting qemu to the guest's first
# result line; VIGIL_VM_TIMEOUT (s, default 480 for bookworm, 900 for trixie): from then to
# the last line.  The image build is bounded by mkimage.sh (VIGIL_VM_DEBOOTSTRAP_TIMEOUT).
# Exit: 0 all checks passed, 1 a check failed or the guest did not finish, 77 (skip) when
# qemu or debootstrap cannot run at all here.  VIGIL_VM_ACCEL (default tcg) is passed to
# -accel.  For debugging: VIGIL_VM_CHECKS="1 5a" runs only those checks, VIGIL_VM_EXTRA=FILE
# is sourced by the guest after them (its output lands in the results and the console log).
set -euo pipefail

build=$(realpath "${1:?usage: run.sh BUILD_DIR [SOURCE_DIR [RELEASE]]}")
here=$(cd "$(dirname "$0")" && pwd)
src=$(realpath "${2:-$here/../..}")
release=${3:-${VIGIL_VM_RELEASE:-bookworm}}
vm=$build/vm/$release
run=$vm/run
case $release in
bookworm) checks_default=480 ;;
trixie) checks_default=900 ;;
*) echo "run.sh: unknown release '$release' (bookworm or trixie)" >&2; exit 2 ;;
esac
boot_limit=${VIGIL_VM_BOOT_TIMEOUT:-300}
checks_limit=${VIGIL_VM_TIMEOUT:-$checks_default}
accel=${VIGIL_VM_ACCEL:-tcg}

log() { echo "vm-acceptance[$release]: $*"; }
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
"$here/mkimage.sh" "$build" "$release" || r=$?
[ "$r" = 0 ] || exit "$r"
t_image=$(date +%s)

# --- the share -------------------------------------------------------------------------------
rm -rf "$run"
mkdir -p "$run/share" "$run/tmp"
share=$run/share
install -m 755 "$build/vigil" "$share/vigil"
install -m 755 "$build/vigilctl" "$share/vigilctl"
install -m 644 "$src/units/vigil@.service" "$share/vigil@.service"
install -m 755 "$here/guest-test.sh" "$share/guest-test.sh"
install -m 644 "$here/guest-podman.sh" "$share/guest-podman.sh"
install -m 644 "$here/guest-rootless.sh" "$share/guest-rootless.sh"
install -m 644 "$src/units/podman-vigil-example.service" "$share/podman-vigil-example.service"
install -m 644 "$src/contrib/containers.conf.d/vigil-notify.conf" "$share/vigil-notify.conf"
printf '%s\n' "${VIGIL_VM_CHECKS:-}" > "$share/checks"
[ -z "${VIGIL_VM_TRACE:-}" ] || : > "$share/trace"
[ -z "${VIGIL_VM_EXTRA:-}" ] || install -m 644 "$VIGIL_VM_EXTRA" "$share/extra.sh"
gcc -static -O2 -o "$run/notifier" "$src/tests/integration/notifier.c"
"$src/tests/lib/mkbundle.sh" "$share/bundle" sh /test.sh >/dev/null
install -m 755 "$run/notifier" "$share/bundle/rootfs/bin/notifier"
# The same busybox root for `podman import` (no registry in the guest).
tar -C "$share/bundle/rootfs" -cf "$share/rootfs.tar" .

# --- boot and checks ------------------------------------------------------------------------
img=$vm/image
console=$run/console.log
results=$share/results
# boot_once: boot the guest and watch its phases from the outside: "boot" ends with the
# guest's first result line, "checks" with its power-off.  Sets phase, ran_out, qr, t0, t1.
# Polling once a second is fine here: this is the test harness, not the monitor.
boot_once() {
	log "booting $(cat "$img/kernel-version") under qemu -accel $accel (boot limit ${boot_limit} s, checks limit ${checks_limit} s)"
	rm -f "$results" "$share/current" "$console"
	t0=$(date +%s)
	# snapshot=on keeps the guest's writes in a temporary file under $TMPDIR.  panic=-1 and
	# -no-reboot: a guest kernel that panics ends qemu at once.  The hard timeout is only a
	# backstop behind the phase limits below.
	TMPDIR=$run/tmp timeout -k 10 $((boot_limit + checks_limit + 60)) "$qemu" \
		-accel "$accel" -m 1536 -smp 2 \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$console" \
		-kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
		-append "root=/dev/vda rw console=ttyS0 fsck.mode=skip quiet loglevel=4 systemd.show_status=error panic=-1" \
		-drive "file=$img/disk.raw,if=virtio,format=raw,snapshot=on" \
		-virtfs "local,path=$share,mount_tag=host,security_model=none,id=host" \
		-device virtio-rng-pci \
		</dev/null >"$run/qemu.log" 2>&1 9>&- &
	local qpid=$! now limit
	phase=boot; t_phase=$t0; ran_out=
	while kill -0 "$qpid" 2>/dev/null; do
		now=$(date +%s)
		if [ "$phase" = boot ] && [ -s "$results" ]; then
			log "phase boot: $((now - t_phase)) s (limit ${boot_limit} s)"
			phase=checks; t_phase=$now
		fi
		limit=$boot_limit; [ "$phase" = boot ] || limit=$checks_limit
		if [ $((now - t_phase)) -ge "$limit" ]; then
			ran_out=$phase
			log "ERROR: phase $phase ran out of time: $((now - t_phase)) s (limit ${limit} s)"
			[ "$phase" != checks ] || log "the guest was in check $(cat "$share/current" 2>/dev/null || echo '?')"
			kill "$qpid" 2>/dev/null; break
		fi
		sleep 1
	done
	qr=0; wait "$qpid" || qr=$?
	t1=$(date +%s)
	[ -n "$ran_out" ] || [ "$phase" != checks ] || log "phase checks: $((t1 - t_phase)) s (limit ${checks_limit} s; to power-off)"
	log "qemu exited with $qr after $((t1 - t0)) s (image step $((t_image - t_start)) s)"
}

# The trixie kernel (6.12) under TCG with two vCPUs has been seen to oops in its own text
# patching ("Oops: int3", then a panic): early in the boot once in several boots, and once in
# the middle of the checks (guest-test.sh now keeps the static branch it hit from flipping).
# A run whose guest kernel panicked is booted once more, from the start.
boot_once
if grep -q 'Kernel panic' "$console" 2>/dev/null; then
	cp "$console" "$run/console-panic.log"
	where=boot; [ "$phase" = boot ] || where="check $(cat "$share/current" 2>/dev/null || echo '?')"
	log "the guest's kernel panicked in $where after $((t1 - t0)) s (console: $run/console-panic.log); booting once more"
	grep -m1 -B2 -A6 'Oops\|BUG' "$console" | sed 's/^/    /'
	boot_once
fi

if [ -n "$ran_out" ]; then
	:
elif [ "$qr" = 124 ] || [ "$qr" = 137 ]; then
	log "ERROR: the guest did not power off within $((boot_limit + checks_limit + 60)) s"
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
