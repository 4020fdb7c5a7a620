#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mkimage.sh BUILD_DIR [RELEASE]
#
# Builds (or reuses) a Debian guest for the real-systemd acceptance test.  RELEASE (or
# $VIGIL_VM_RELEASE) is bookworm (Debian 12, systemd 252, the default) or trixie (Debian 13,
# systemd 257, podman 5, crun); each has a tree of its own, R=BUILD_DIR/vm/RELEASE:
#   R/image/disk.raw   ext4 root filesystem (made with mkfs.ext4 -d, no loop mount)
#   R/image/vmlinuz    the guest's own kernel and initrd, for qemu -kernel/-initrd
#   R/image/initrd.img
#   R/image/stamp      hash of this script and the package list: rebuilt when they change
#   R/image/build-time seconds the build took
#
# Only what never changes between runs is baked in: the packages, a boot that is quiet and
# fast, and vigil-acceptance.service, which mounts the 9p share "host" at /mnt/host, runs
# /mnt/host/guest-test.sh and powers the guest off.  vigil, the units, the bundles and the
# test script come through the share at run time (run.sh), so rebuilding vigil does not
# rebuild the image.
#
# Needs root, debootstrap, e2fsprogs (mkfs.ext4 -d) and a reachable Debian mirror: the one
# the host's apt uses, or $VIGIL_VM_MIRROR.  Exits 77 when debootstrap cannot run at all.
# All scratch files stay under BUILD_DIR/vm.
set -euo pipefail

build=$(realpath "${1:?usage: mkimage.sh BUILD_DIR [bookworm|trixie]}")
suite=${2:-${VIGIL_VM_RELEASE:-bookworm}}
here=$(cd "$(dirname "$0")" && pwd)
vm=$build/vm/$suite
img=$vm/image
# Every guest needs systemd as PID 1, a kernel, runc and vigil's shared libraries (vigil is
# built on the Debian 12 host; its glib is older than either guest's, so it runs on both).
packages=systemd,systemd-sysv,udev,linux-image-amd64,kmod,runc,libsystemd0,procps,util-linux
case $suite in
bookworm) packages=$packages,libglib2.0-0,libjson-glib-1.0-0 ;;
# Debian 13: podman 5 (quadlet, conmon_path=vigil) with crun, dbus for podman's systemd
# cgroup manager and the user sessions of the rootless checks, uidmap for their subuids.
# No recommends (debootstrap installs none): podman runs with --network=none here.
trixie) packages=$packages,libglib2.0-0t64,libjson-glib-1.0-0,crun,podman,dbus,dbus-user-session,uidmap ;;
*) echo "mkimage: unknown release '$suite' (bookworm or trixie)" >&2; exit 2 ;;
esac

log() { echo "mkimage: $*" >&2; }
skip() { log "SKIP: $*"; exit 77; }

stamp=$( { sha256sum "$here/mkimage.sh" | cut -d' ' -f1; echo "$suite $packages"; } | sha256sum | cut -d' ' -f1)
if [ -f "$img/stamp" ] && [ "$(cat "$img/stamp")" = "$stamp" ] &&
   [ -f "$img/disk.raw" ] && [ -f "$img/vmlinuz" ] && [ -f "$img/initrd.img" ]; then
	log "reusing $img (stamp $stamp)"
	exit 0
fi

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || skip "debootstrap is not installed (apt-get install debootstrap)"
command -v mkfs.ext4 >/dev/null || skip "mkfs.ext4 is not installed (apt-get install e2fsprogs)"
grep -q -- '-d root-directory' <<<"$(mkfs.ext4 2>&1)" || skip "this mkfs.ext4 has no -d (root directory) option"

# The mirror the host's apt uses for suite $1 main (deb822 or one-line format).
mirror_from_apt() {
	local f suite=$1
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk -v suite="$suite" '
			function flush() { if (uris != "" && suites ~ ("(^| )" suite "( |$)") && comps ~ /main/) { split(uris, u, " "); print u[1]; exit } uris = suites = comps = "" }
			/^[[:space:]]*$/ { flush(); next }
			/^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
			/^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
			/^Components:/ { sub(/^Components:[[:space:]]*/, ""); comps = $0 }
			END { flush() }' "$f"
	done
	{ cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
		awk -v suite="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++; if ($2 ~ /^\[/) i++;
			if ($(i + 1) == suite) { print $i; exit } }'
	return 0
}
# A suite the host does not use (trixie on a Debian 12 host) comes from the same mirror as
# the host's own release.
host_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
mirror=${VIGIL_VM_MIRROR:-$(mirror_from_apt "$suite" | sed -n 1p)}
[ -n "$mirror" ] || [ -z "$host_suite" ] || mirror=$(mirror_from_apt "$host_suite" | sed -n 1p)
[ -n "$mirror" ] || skip "no Debian mirror for $suite in the host's apt sources (set VIGIL_VM_MIRROR)"

mkdir -p "$vm/debs"
# Never delete a tree that still has something mounted in it.
safe_rm() {
	local d=$1
	[ -e "$d" ] || return 0
	local mounts
	mounts=$(findmnt -rn -o TARGET)
	if grep -q "^$d\(/\|$\)" <<<"$mounts"; then
		log "ERROR: something is mounted under $d; not deleting it"; exit 1
	fi
	rm -rf --one-file-system "$d"
}
root=$vm/root
safe_rm "$root"
safe_rm "$img.new"

t0=$(date +%s)
log "debootstrap $suite from $mirror into $root"
# In a private mount namespace: debootstrap's /proc and /sys mounts in the chroot cannot
# outlive it, whatever happens.  INITRD=No: the kernel's postinst hook makes no initramfs
# (a big MODULES=most one, twice); it is made once below, small, after the configuration.
if ! INITRD=No timeout "${VIGIL_VM_DEBOOTSTRAP_TIMEOUT:-900}" unshare --mount --propagation private \
	debootstrap --variant=minbase --include="$packages" --cache-dir="$vm/debs" \
	"$suite" "$root" "$mirror" >"$vm/debootstrap.log" 2>&1; then
	tail -n 20 "$vm/debootstrap.log" >&2
	if grep -qE 'Failed getting release file|Couldn.t download|Temporary failure resolving|unable to resolve' "$vm/debootstrap.log"; then
		skip "debootstrap cannot reach $mirror (no network?)"
	fi
	if grep -qE 'NO_PUBKEY|unknown key|Release signed by unknown' "$vm/debootstrap.log"; then
		skip "the host's debian-archive-keyring does not know $suite's key (upgrade debian-archive-keyring)"
	fi
	log "ERROR: debootstrap failed (log: $vm/debootstrap.log)"; exit 1
fi
log "debootstrap took $(( $(date +%s) - t0 )) s"

kver=$(basename "$(ls -d "$root"/lib/modules/* | head -n1)")

# --- guest configuration ---------------------------------------------------------------------
echo vigil-vm > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vigil-vm\n' > "$root/etc/hosts"
: > "$root/etc/fstab"
chroot "$root" passwd -dq root >/dev/null 2>&1 || chroot "$root" passwd -d root >/dev/null
# systemd's first boot would ask questions and set things up: the machine is configured.
echo 'b08dfa6083e7567a1921a715000001fb' > "$root/etc/machine-id"
# A small initrd (only what a virtio guest needs to mount / and the 9p share) boots faster
# under TCG than the default MODULES=most one.
cat > "$root/etc/initramfs-tools/conf.d/vigil-vm.conf" <<'EOF'
MODULES=list
COMPRESS=gzip
EOF
printf '%s\n' virtio_pci virtio_blk ext4 9p 9pnet_virtio > "$root/etc/initramfs-tools/modules"

# Nothing on the guest asks for a login or runs periodic jobs during the test.
mask() { for u; do ln -sf /dev/null "$root/etc/systemd/system/$u"; done; }
mask serial-getty@ttyS0.service getty@tty1.service apt-daily.timer apt-daily-upgrade.timer \
	e2scrub_all.timer e2scrub_reap.service fstrim.timer systemd-tmpfiles-clean.timer \
	dpkg-db-backup.timer systemd-networkd-wait-online.service

mkdir -p "$root/mnt/host" "$root/var/lib/vigil"
cat > "$root/usr/local/sbin/vigil-vm-run" <<'EOF'
#!/bin/sh
# Baked into the image by tests/vm/mkimage.sh: run the test script the host shares.
set -e
mountpoint -q /mnt/host || mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /mnt/host
exec /bin/sh /mnt/host/guest-test.sh
EOF
chmod 755 "$root/usr/local/sbin/vigil-vm-run"
cat > "$root/etc/systemd/system/vigil-acceptance.service" <<'EOF'
# Baked into the image by tests/vm/mkimage.sh.
[Unit]
Description=vigil acceptance tests (real systemd)
After=basic.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=exec
ExecStart=/usr/local/sbin/vigil-vm-run
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
ln -sf ../vigil-acceptance.service "$root/etc/systemd/system/multi-user.target.wants/vigil-acceptance.service"

# Smaller image: no documentation, no drivers a virtio guest never loads.
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/var/cache/apt/*.bin
m=$root/lib/modules/$kver/kernel
rm -rf "$m/sound" "$m/drivers/gpu" "$m/drivers/media" "$m/drivers/net/wireless" "$m/drivers/net/ethernet" \
	"$m/drivers/infiniband" "$m/drivers/staging" "$m/drivers/bluetooth" "$m/drivers/usb" "$m/drivers/iio" \
	"$m/drivers/isdn" "$m/drivers/mtd" "$m/net/wireless" "$m/net/mac80211" "$m/net/bluetooth"
log "depmod and update-initramfs -c for $kver"
unshare --mount --propagation private sh -c "
	mount -t proc proc '$root/proc' && chroot '$root' depmod -a '$kver' &&
	chroot '$root' update-initramfs -c -k '$kver'" >"$vm/initramfs.log" 2>&1 ||
	{ tail -n 20 "$vm/initramfs.log" >&2; log "ERROR: update-initramfs failed"; exit 1; }

mkdir -p "$img.new"
cp "$root/boot/vmlinuz-$kver" "$img.new/vmlinuz"
cp "$root/boot/initrd.img-$kver" "$img.new/initrd.img"
log "mkfs.ext4 -d ($(du -sm "$root" | cut -f1) MiB of files)"
mkfs.ext4 -q -F -L vigil-vm -d "$root" "$img.new/disk.raw" 2G
echo "$kver" > "$img.new/kernel-version"
echo "$stamp" > "$img.new/stamp"
echo "$(( $(date +%s) - t0 ))" > "$img.new/build-time"
safe_rm "$img"
mv "$img.new" "$img"
# The tree is in the image now; keep only the downloaded packages for a rebuild.
safe_rm "$root"
log "image ready in $(( $(date +%s) - t0 )) s: $img"
