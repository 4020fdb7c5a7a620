#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# mkbundle.sh BUNDLE [CMD ARG...]
#
# Builds an OCI bundle for runc: BUNDLE/rootfs is a busybox-static root filesystem and
# BUNDLE/config.json runs CMD (default: sh) without a terminal, as root, with the host
# network namespace left out so no networking is needed.  Set MKBUNDLE_TTY=1 for a
# terminal.  Needs busybox-static, runc and python3.
set -eu
bundle=$1; shift
[ $# -gt 0 ] || set -- sh
busybox=${BUSYBOX:-/bin/busybox}
ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable' || {
	echo "mkbundle: $busybox is not busybox-static (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$bundle/rootfs"
root="$bundle/rootfs"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc" "$root/run"
cp "$busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
echo 'root:x:0:' > "$root/etc/group"
rm -f "$bundle/config.json"
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" "$@" <<'PY'
import json, os, sys
path, args = sys.argv[1], sys.argv[2:]
spec = json.load(open(path))
spec["process"]["args"] = args
spec["process"]["terminal"] = os.environ.get("MKBUNDLE_TTY") == "1"
spec["process"]["env"] = ["PATH=/bin", "HOME=/", "TERM=xterm"]
spec["root"]["readonly"] = False
spec["hostname"] = "vigil-test"
# cgroup v1 hybrid host: rlimits cannot be raised, so keep the caller's.
spec["process"].pop("rlimits", None)
json.dump(spec, open(path, "w"), indent=1)
PY
