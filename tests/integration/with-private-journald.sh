#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# with-private-journald.sh CMD [ARG...]
#
# Runs CMD with a private systemd-journald: in a new mount namespace (private propagation),
# tmpfs over /run/systemd and /run/log, a bind-mounted journald.conf (volatile storage, no
# rate limit, large runtime limits, no forwarding), journald started from
# /lib/systemd/systemd-journald, CMD run once /run/systemd/journal/socket exists, journald
# stopped afterwards.  CMD sees VIGIL_PRIVATE_JOURNALD=1.  Exit status: CMD's.  Needs root.
set -eu
if [ "${VIGIL_PRIVATE_JOURNALD_NS:-}" != 1 ]; then
	[ $# -gt 0 ] || { echo "usage: $0 CMD [ARG...]" >&2; exit 2; }
	export VIGIL_PRIVATE_JOURNALD_NS=1
	exec unshare -m --propagation private "$0" "$@"
fi
journald=${VIGIL_JOURNALD:-/lib/systemd/systemd-journald}
[ -x "$journald" ] || { echo "$0: $journald not found" >&2; exit 77; }
mkdir -p /run/systemd /run/log
mount -t tmpfs -o mode=0755 tmpfs /run/systemd
mount -t tmpfs -o mode=0755 tmpfs /run/log
conf=/run/log/vigil-journald.conf
cat > "$conf" <<'CONF'
[Journal]
Storage=volatile
Compress=no
RateLimitIntervalSec=0
RateLimitBurst=0
RuntimeMaxUse=8G
RuntimeKeepFree=0
RuntimeMaxFileSize=1G
RuntimeMaxFiles=100
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
ReadKMsg=no
Audit=no
CONF
mkdir -p /etc/systemd
[ -e /etc/systemd/journald.conf ] || : > /etc/systemd/journald.conf
mount --bind "$conf" /etc/systemd/journald.conf
# Drop-ins would override the private settings.
for d in /etc/systemd/journald.conf.d /run/systemd/journald.conf.d /usr/lib/systemd/journald.conf.d; do
	[ -d "$d" ] && mount -t tmpfs tmpfs "$d"
done
"$journald" >/run/log/journald.out 2>&1 &
jpid=$!
i=0
while [ ! -S /run/systemd/journal/socket ]; do
	i=$((i + 1))
	if [ $i -gt 200 ] || ! kill -0 $jpid 2>/dev/null; then
		echo "$0: systemd-journald did not come up:" >&2
		cat /run/log/journald.out >&2
		kill $jpid 2>/dev/null || :
		exit 1
	fi
	sleep 0.05
done
export VIGIL_PRIVATE_JOURNALD=1
rc=0
"$@" || rc=$?
kill -TERM $jpid 2>/dev/null || :
wait $jpid 2>/dev/null || :
exit $rc
