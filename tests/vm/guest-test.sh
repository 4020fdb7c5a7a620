#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# guest-test.sh: the acceptance checks, run inside the throw-away Debian guest (12 with
# systemd 252, or 13 with systemd 257) by vigil-acceptance.service (tests/vm/mkimage.sh).
# The same checks run in every guest; what needs a newer systemd, crun or podman runs where
# they are and is reported as SKIP elsewhere.  The podman checks are in guest-podman.sh.
#
# The host (tests/vm/run.sh) shares a directory at /mnt/host holding this script, vigil,
# units/vigil@.service, a busybox bundle with the static notifier (bundle/), the same rootfs
# as rootfs.tar and the podman side (guest-podman.sh, units/podman-vigil-example.service,
# contrib/containers.conf.d/vigil-notify.conf).
# Each check installs the shipped unit's instance vigil@NAME with a drop-in of its own,
# writes the container's script to /var/lib/vigil/NAME/rootfs/test.sh and looks at what
# systemd reports (systemctl show).  Results go to /mnt/host/results, one line per check:
#   PASS|FAIL|SKIP <check>: <what was seen> [N ms]
#   KNOWN <check>: <a known problem, reported, that does not fail the test>
# followed by the unit's journal for a failed check, and "DONE" at the end.
# note and fail always succeed, so "A && note ... || fail ..." is an if-then-else here.
# shellcheck disable=SC2015
set -u
share=/mnt/host
results=$share/results
: > "$results"
exec 2>&1
# VIGIL_VM_TRACE=1 on the host: every command the script runs goes to $share/trace.
if [ -e "$share/trace" ]; then exec 2>>"$share/trace"; set -x; fi

out() { echo "$*"; echo "$*" >> "$results"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
prop() { systemctl show -P "$2" "vigil@$1.service"; }
# container_said LINE: the container printed LINE (passthrough: its stdout is the unit's
# journal stream, but journald files it by the writer's cgroup, which is runc's, outside
# the unit; so it is looked up by vigil's syslog identifier, not with -u).
container_said() { journalctl -b SYSLOG_IDENTIFIER=vigil -o cat --no-pager | grep -qxF "$1"; }

# --- per check bookkeeping ---------------------------------------------------------------------
check=""; ok=1; detail=""; current_unit=""
# $share/checks (from VIGIL_VM_CHECKS on the host) may name the checks to run, e.g. "1 5a 9".
only=$(cat "$share/checks" 2>/dev/null || true)
# Where podman is (Debian 13), the vigil@ checks that only repeat the Debian 12 guest's are
# left out, to keep both guests within the VM stage's time: the same unit and vigil, and
# nothing in them that changed in systemd between 252 and 257.  Named in VIGIL_VM_CHECKS,
# they run here too.
repeats="2 3 5b 5c 5d 6 6b 7"
command -v podman >/dev/null 2>&1 || repeats=""
want() {
	if [ -z "$only" ]; then
		for w in $repeats; do case "$1" in "$w"-*) skip "$1" "the Debian 12 guest runs it"; return 1 ;; esac; done
		return 0
	fi
	for w in $only; do case "$1" in "$w"-*|"$w") return 0 ;; esac; done
	return 1
}
# current_unit: the unit end() reports on and stops (vigil@NAME.service unless set).
begin() {
	check=$1; current_unit=vigil@$2.service; ok=1; detail=""; knowns=""; t_check=$(now_ms)
	echo "$check" > "$share/current"
}
note() { detail="${detail:+$detail; }$*"; }
fail() { ok=0; note "$*"; }
# known MSG: a known problem (see tests/vm/README.md), printed as KNOWN, not a failure.
known() { knowns="${knowns:+$knowns
}$*"; }
# expect LABEL ACTUAL EXPECTED
expect() {
	if [ "$2" = "$3" ]; then note "$1=$2"; else fail "$1=$2 (expected $3)"; fi
}
# expect_ge LABEL ACTUAL MIN (integers)
expect_ge() {
	if [ "$2" -ge "$3" ] 2>/dev/null; then note "$1=$2"; else fail "$1=$2 (expected >= $3)"; fi
}
expect_lt() {
	if [ "$2" -lt "$3" ] 2>/dev/null; then note "$1=$2"; else fail "$1=$2 (expected < $3)"; fi
}
end() {
	took="[$(( $(now_ms) - t_check )) ms]"
	if [ "$ok" = 1 ]; then
		out "PASS $check: $detail $took"
	else
		out "FAIL $check: $detail $took"
		journalctl -b -u "$current_unit" -o short-monotonic --no-pager 2>&1 | tail -n 40 | sed 's/^/    | /' | tee -a "$results"
	fi
	[ -z "$knowns" ] || echo "$knowns" | while read -r k; do out "KNOWN $check: $k"; done
	systemctl stop "$current_unit" >/dev/null 2>&1
	systemctl reset-failed "$current_unit" >/dev/null 2>&1
}
skip() { out "SKIP $1: $2"; }

# container NAME: a bundle at /var/lib/vigil/NAME whose process runs the script on stdin.
# Copied from a local copy of the shared bundle: a copy over 9p takes seconds under TCG.
container() {
	rm -rf "/var/lib/vigil/$1"
	[ -d /var/lib/vigil/.bundle ] || cp -a "$share/bundle" /var/lib/vigil/.bundle
	cp -a /var/lib/vigil/.bundle "/var/lib/vigil/$1"
	cat > "/var/lib/vigil/$1/rootfs/test.sh"
}
# dropin NAME: a drop-in for vigil@NAME.service from stdin.
dropin() {
	mkdir -p "/etc/systemd/system/vigil@$1.service.d"
	cat > "/etc/systemd/system/vigil@$1.service.d/50-check.conf"
}
# wait_for SECONDS COMMAND...: poll every 100 ms until COMMAND succeeds, for SECONDS of
# wall time (a COMMAND such as podman can itself take seconds under TCG).
wait_for() {
	wf_end=$(( $(date +%s) + $1 )); shift
	while :; do
		"$@" && return 0
		[ "$(date +%s)" -lt "$wf_end" ] || return 1
		sleep 0.1
	done
}
state_is() { [ "$(prop "$1" ActiveState)" = "$2" ]; }
# states: "ActiveState/SubState/StatusText" from the output of one `systemctl show`.
states() { awk -F= '{ v[$1] = substr($0, length($1) + 2) } END { print v["ActiveState"] "/" v["SubState"] "/" v["StatusText"] }'; }
# probe_status UNIT SECONDS CTL...: the first consistent sample (one `CTL show`) that has a
# StatusText, or shows the unit active or failed: what a start showed before READY=1.
probe_status() {
	ps_unit=$1; ps_end=$(( $(date +%s) + $2 )); shift 2
	while :; do
		ps_s=$("$@" show -p ActiveState,SubState,StatusText "$ps_unit" | states)
		case $ps_s in */*/?*|active/*|failed/*) break ;; esac
		[ "$(date +%s)" -lt "$ps_end" ] || break
		sleep 0.1
	done
	echo "$ps_s"
}
runc_has() { runc state "$1" >/dev/null 2>&1; }
exe_of() { readlink "/proc/$1/exe" 2>/dev/null || echo "?"; }

# --- set-up ------------------------------------------------------------------------------------
systemctl is-system-running --wait >/dev/null 2>&1
read -r uptime _ < /proc/uptime
out "INFO boot: guest uptime at test start ${uptime} s; $(systemd-analyze time 2>/dev/null | head -n1)"
out "INFO versions: $(systemctl --version | head -n1); $(runc --version | head -n1); kernel $(uname -r); cgroup $(stat -fc %T /sys/fs/cgroup)"
systemd_version=$(systemctl --version | awk 'NR == 1 { print $2 + 0 }')
has_crun=; command -v crun >/dev/null && has_crun=1 && out "INFO crun: $(crun --version | head -n1)"
has_podman=; command -v podman >/dev/null && has_podman=1 && out "INFO podman: $(podman --version)"

install -m 755 "$share/vigil" /usr/local/bin/vigil
install -m 755 "$share/vigilctl" /usr/local/bin/vigilctl
install -m 644 "$share/vigil@.service" /etc/systemd/system/vigil@.service
# The shipped unit restarts on failure; the checks look at the first failure instead.
mkdir -p /etc/systemd/system/vigil@.service.d
cat > /etc/systemd/system/vigil@.service.d/10-acceptance.conf <<'EOF'
[Service]
Restart=no
EOF
mkdir -p /var/lib/vigil
out "INFO vigil: $(/usr/local/bin/vigil --version | head -n1)"

# Keep the guest kernel from rewriting its own code for every container.  A static branch
# flips when the first cgroup with a cpuset (or a device filter) appears or the last one goes,
# and the kernel patches each of its sites with an int3 first; under TCG with two vCPUs the
# other vCPU can still run that int3 afterwards ("Oops: int3" in get_page_from_freelist, the
# cpusets_enabled() branch, right after a container's cgroup went: a panic mid-run).  This
# unit holds one of each for the whole run, so those branches stay on.
systemd-run --quiet --unit=vigil-vm-keys -p AllowedCPUs=0-1 -p DevicePolicy=closed sleep infinity ||
	out "INFO could not start vigil-vm-keys.service: the kernel will patch itself per container"

# --- the containers ----------------------------------------------------------------------------
# Every container is busybox sh running /test.sh as PID 1: PID 1 ignores SIGTERM unless it
# traps it, so the scripts that must stop on SIGTERM trap it.

# 1: STATUS at once, READY=1 only after 2 s.
container ready <<'EOF'
trap 'echo "ready: got SIGTERM"; exit 0' TERM
echo "ready: hello"
notifier msg:STATUS=starting sleep:2000 'msg:STATUS=ready to serve\nREADY=1'
while :; do sleep 0.2; done
EOF

# 2: never READY; TimeoutStartSec=4s.
container noready <<'EOF'
trap 'echo "noready: got SIGTERM"; exit 0' TERM
notifier msg:STATUS=never-ready
while :; do sleep 0.2; done
EOF
dropin noready <<'EOF'
[Service]
TimeoutStartSec=4s
EOF

# 3: READY=1 after 6 s with TimeoutStartSec=4s, extended twice by 5 s.
container extend <<'EOF'
trap 'exit 0' TERM
notifier msg:EXTEND_TIMEOUT_USEC=5000000 msg:STATUS=extending sleep:3000 \
	msg:EXTEND_TIMEOUT_USEC=5000000 sleep:3000 'msg:STATUS=slow start done\nREADY=1'
while :; do sleep 0.2; done
EOF
dropin extend <<'EOF'
[Service]
TimeoutStartSec=4s
EOF

# 4: watchdog, WatchdogSec=3s: pinging every 0.5 s, trigger, and silence.
container wdok <<'EOF'
trap 'exit 0' TERM
notifier msg:READY=1
while :; do notifier msg:WATCHDOG=1; sleep 0.5; done
EOF
container wdtrigger <<'EOF'
trap 'exit 0' TERM
notifier msg:READY=1 msg:WATCHDOG=1 sleep:500 msg:WATCHDOG=1 sleep:500 'msg:STATUS=tripping\nWATCHDOG=trigger'
while :; do sleep 0.2; done
EOF
container wdsilent <<'EOF'
trap 'exit 0' TERM
trap 'echo "wdsilent: got SIGABRT"; exit 3' ABRT
notifier msg:READY=1 msg:WATCHDOG=1
while :; do sleep 0.2; done
EOF
for n in wdok wdtrigger wdsilent; do
	dropin "$n" <<'EOF'
[Service]
WatchdogSec=3s
EOF
done

# 5: stop from systemd (SIGTERM through vigil) and from the container (STOPPING=1).
container stopme <<'EOF'
trap 'echo "stopme: got SIGTERM"; exit 0' TERM
notifier msg:READY=1
while :; do sleep 0.2; done
EOF
container stopping <<'EOF'
notifier msg:READY=1 sleep:1000 'msg:STOPPING=1\nSTATUS=shutting down'
sleep 3
echo "stopping: exiting"
exit 0
EOF

# 5c: PID 1 without a SIGTERM trap ignores SIGTERM; TimeoutStopSec=3s.
container deaf <<'EOF'
notifier msg:READY=1
while :; do sleep 0.2; done
EOF
dropin deaf <<'EOF'
[Service]
TimeoutStopSec=3s
EOF

# 5d: as 5c, without ExecStopPost=: only systemd's SIGKILL to the unit's cgroup can end it.
container deafer < /var/lib/vigil/deaf/rootfs/test.sh
dropin deafer <<'EOF'
[Service]
TimeoutStopSec=3s
ExecStopPost=
EOF

# 6: exit status 3.
container exit3 <<'EOF'
notifier msg:READY=1
sleep 1
exit 3
EOF

# 6b: the shipped Restart=on-failure: exit 3 on the first run, up on the second.
container restart <<'EOF'
trap 'exit 0' TERM
if [ ! -e /ran-once ]; then
	touch /ran-once
	echo "restart: first run exits 3"
	notifier msg:READY=1
	sleep 1
	exit 3
fi
notifier 'msg:STATUS=second run\nREADY=1'
while :; do sleep 0.2; done
EOF
dropin restart <<'EOF'
[Service]
Restart=on-failure
RestartSec=1s
EOF

# 7: a container that never speaks sd_notify, with --sdnotify-mode=conmon from the unit's
# environment.
container conmon <<'EOF'
trap 'exit 0' TERM
echo "conmon: no notify here"
while :; do sleep 0.2; done
EOF
dropin conmon <<'EOF'
[Service]
Environment=VIGIL_SDNOTIFY_MODE=conmon
EOF

# 8: the fd store.
container fdstore <<'EOF'
trap 'exit 0' TERM
echo stored-by-container > /tmp/f
notifier 'fd:/tmp/f:FDSTORE=1\nFDNAME=web' msg:READY=1
while :; do sleep 0.2; done
EOF
dropin fdstore <<'EOF'
[Service]
FileDescriptorStoreMax=4
Environment=VIGIL_SDNOTIFY_FDSTORE=yes
EOF

# 9: OOM kill under a 32 MiB memory limit (cgroup v2 on the guest).
container oom <<'EOF'
notifier msg:READY=1
exec tail /dev/zero
EOF
sed -i 's/"resources": {/"resources": {"memory": {"limit": 33554432, "swap": 33554432},/' /var/lib/vigil/oom/config.json

# 11: Type=notify-reload (systemd >= 253): SIGHUP through vigil, RELOADING=1 with
# MONOTONIC_USEC= (from /proc/uptime: boot time, never behind the monotonic clock), READY=1
# a second later.  The reload script is shared with the podman checks.
cat > /var/lib/vigil/reload.sh <<'EOF'
mono() { read -r u _ < /proc/uptime; echo "${u%.*}${u#*.}0000"; }
reloads=0
trap 'reloads=$((reloads + 1)); echo "reload: got SIGHUP"; notifier "msg:RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=$(mono)" sleep:1000 "msg:STATUS=reloaded $reloads\nREADY=1"' HUP
trap 'exit 0' TERM
notifier 'msg:STATUS=serving\nREADY=1'
while :; do sleep 0.2; done
EOF
container reload < /var/lib/vigil/reload.sh
[ "$systemd_version" -lt 253 ] || dropin reload <<'EOF'
[Service]
Type=notify-reload
EOF

# 12: crun as vigil@.service's runtime, the container in <unit>/container; 12b: the same
# with DelegateSubgroup=vigil (systemd >= 254 starts vigil in <unit>/vigil itself).
for n in crun crunsub; do
	container "$n" <<EOF
trap 'echo "$n: got SIGTERM"; exit 0' TERM
echo "$n: hello"
notifier 'msg:STATUS=on crun\nREADY=1'
while :; do sleep 0.2; done
EOF
done
if [ -n "$has_crun" ]; then
	dropin crun <<'EOF'
[Service]
Environment=VIGIL_RUNTIME=/usr/bin/crun
EOF
	dropin crunsub <<'EOF'
[Service]
Environment=VIGIL_RUNTIME=/usr/bin/crun
DelegateSubgroup=vigil
EOF
fi

systemctl daemon-reload

# --- 1. start blocks until READY=1 -------------------------------------------------------------
if want 1-ready; then
begin 1-ready ready
t0=$(now_ms)
# What systemd shows once the first STATUS= arrived and before READY=1.
probe_status vigil@ready.service 60 systemctl > /run/ready-probe &
if systemctl start vigil@ready.service; then note "start ok"; else fail "systemctl start failed"; fi
t1=$(now_ms)
wait
expect_ge start_ms $((t1 - t0)) 2000
expect "before READY" "$(cat /run/ready-probe)" "activating/start/starting"
expect ActiveState "$(prop ready ActiveState)" active
expect SubState "$(prop ready SubState)" running
expect StatusText "$(prop ready StatusText)" "ready to serve"
mainpid=$(prop ready MainPID)
cpid=$(cat /run/vigil/ready/pid 2>/dev/null || echo none)
expect "MainPID exe" "$(exe_of "$mainpid")" /usr/local/bin/vigil
note "MainPID=$mainpid container pid=$cpid"
[ "$cpid" != "$mainpid" ] || fail "MainPID is the container's pid"
ucg=$(prop ready ControlGroup)
vcg=$(cut -d: -f3 "/proc/$mainpid/cgroup"); ccg=$(cut -d: -f3 "/proc/$cpid/cgroup" 2>/dev/null)
# --unit-cgroup: vigil in <unit>/vigil, the container in <unit>/container.
expect "vigil cgroup" "$vcg" "$ucg/vigil"
expect "container cgroup" "$ccg" "$ucg/container"
grep -qx "$cpid" "/sys/fs/cgroup$ucg/container/cgroup.procs" 2>/dev/null && note "container pid in <unit>/container/cgroup.procs" ||
	fail "container pid not in /sys/fs/cgroup$ucg/container/cgroup.procs"
expect_ge "unit MemoryCurrent (bytes)" "$(prop ready MemoryCurrent)" 1
container_said "ready: hello" && note "container output in the journal" || fail "no container output in the journal"
journalctl -b -u vigil@ready.service -o cat | grep -qxF "ready: hello" && note "journalctl -u shows the container's output" ||
	known "journalctl -u vigil@ready.service does not show the container's output"
end; fi

# --- 2. no READY: start times out --------------------------------------------------------------
if want 2-timeout; then
begin 2-timeout noready
t0=$(now_ms)
if systemctl start vigil@noready.service 2>/dev/null; then fail "start succeeded"; else note "start failed"; fi
t1=$(now_ms)
expect_ge start_ms $((t1 - t0)) 4000
expect_lt "start_ms (upper bound)" $((t1 - t0)) 15000
expect ActiveState "$(prop noready ActiveState)" failed
expect Result "$(prop noready Result)" timeout
expect StatusText "$(prop noready StatusText)" never-ready
container_said "noready: got SIGTERM" &&
	note "container got SIGTERM" || fail "no 'got SIGTERM' from the container"
runc_has noready && fail "runc still has the container" || note "runc state gone"
end; fi

# --- 3. EXTEND_TIMEOUT_USEC ---------------------------------------------------------------------
if want 3-extend-timeout; then
begin 3-extend-timeout extend
t0=$(now_ms)
if systemctl start vigil@extend.service; then note "start ok"; else fail "systemctl start failed"; fi
t1=$(now_ms)
expect_ge start_ms $((t1 - t0)) 6000
expect ActiveState "$(prop extend ActiveState)" active
expect Result "$(prop extend Result)" success
expect StatusText "$(prop extend StatusText)" "slow start done"
expect TimeoutStartUSec "$(prop extend TimeoutStartUSec)" 4s
end; fi

# --- 4. watchdog --------------------------------------------------------------------------------
if want 4a-watchdog-pinged; then
begin 4a-watchdog-pinged wdok
systemctl start vigil@wdok.service || fail "systemctl start failed"
w1=$(prop wdok WatchdogTimestampMonotonic)
sleep 7
w2=$(prop wdok WatchdogTimestampMonotonic)
expect ActiveState "$(prop wdok ActiveState)" active
expect Result "$(prop wdok Result)" success
expect WatchdogUSec "$(prop wdok WatchdogUSec)" 3s
[ "${w2:-0}" -gt "${w1:-0}" ] && note "WatchdogTimestamp advanced by $(( (w2 - w1) / 1000 )) ms over 7 s" ||
	fail "WatchdogTimestamp did not advance ($w1 -> $w2)"
end; fi

if want 4b-watchdog-trigger; then
begin 4b-watchdog-trigger wdtrigger
systemctl start vigil@wdtrigger.service || fail "systemctl start failed"
cpid=$(cat /run/vigil/wdtrigger/pid 2>/dev/null)
t0=$(now_ms)
# The trigger comes about 1 s after READY; the container's sh ignores the SIGABRT that vigil
# passes on, and gets SIGKILL 5 s later.
wait_for 40 state_is wdtrigger failed || fail "not failed 40 s after the start"
note "failed $(( $(now_ms) - t0 )) ms after the start returned"
expect ActiveState "$(prop wdtrigger ActiveState)" failed
expect Result "$(prop wdtrigger Result)" watchdog
# vigil lived on to record the exit: the container's SIGKILL, not vigil's own SIGABRT.
expect ExecMainCode "$(prop wdtrigger ExecMainCode)" 1
expect ExecMainStatus "$(prop wdtrigger ExecMainStatus)" 137
[ -n "$cpid" ] && [ ! -e "/proc/$cpid" ] && note "container pid $cpid gone" || fail "container pid ${cpid:-?} still there"
for f in /core* /var/lib/vigil/wdtrigger/core*; do
	[ -e "$f" ] && note "core file $f left by the watchdog's SIGABRT"
done
runc_has wdtrigger && fail "runc still has the container" || note "runc state gone"
end; fi

if want 4c-watchdog-silent; then
begin 4c-watchdog-silent wdsilent
t0=$(now_ms)
systemctl start vigil@wdsilent.service || fail "systemctl start failed"
wait_for 40 state_is wdsilent failed || fail "not failed 40 s after the start"
t1=$(now_ms)
expect_ge failed_after_ms $((t1 - t0)) 3000
expect Result "$(prop wdsilent Result)" watchdog
# The container's own SIGABRT handler ran: vigil passed the watchdog's signal on.
expect ExecMainStatus "$(prop wdsilent ExecMainStatus)" 3
journalctl -b -u vigil@wdsilent.service -o cat | grep -qxF "wdsilent: got SIGABRT" &&
	note "the container got the SIGABRT" || fail "journalctl -u vigil@wdsilent.service lacks 'wdsilent: got SIGABRT'"
runc_has wdsilent && fail "runc still has the container" || note "runc state gone"
end; fi

# --- 5. stopping --------------------------------------------------------------------------------
if want 5a-systemctl-stop; then
begin 5a-systemctl-stop stopme
systemctl start vigil@stopme.service || fail "systemctl start failed"
cpid=$(cat /run/vigil/stopme/pid 2>/dev/null)
runc_has stopme && note "runc has the container" || fail "runc does not know the container"
t0=$(now_ms)
systemctl stop vigil@stopme.service
t1=$(now_ms)
expect_lt stop_ms $((t1 - t0)) 10000
expect ActiveState "$(prop stopme ActiveState)" inactive
expect Result "$(prop stopme Result)" success
expect ExecMainStatus "$(prop stopme ExecMainStatus)" 0
container_said "stopme: got SIGTERM" &&
	note "container got SIGTERM" || fail "no 'got SIGTERM' from the container"
[ -n "$cpid" ] && [ ! -e "/proc/$cpid" ] && note "container pid $cpid gone" || fail "container pid ${cpid:-?} still there"
runc_has stopme && fail "runc still has the container" || note "runc state gone"
end; fi

if want 5b-stopping; then
begin 5b-stopping stopping
systemctl start vigil@stopping.service || fail "systemctl start failed"
wait_for 5 state_is stopping deactivating && note "deactivating after STOPPING=1" ||
	fail "ActiveState=$(prop stopping ActiveState) (expected deactivating after STOPPING=1)"
expect StatusText "$(prop stopping StatusText)" "shutting down"
wait_for 15 state_is stopping inactive || fail "not inactive after 15 s"
expect ActiveState "$(prop stopping ActiveState)" inactive
expect Result "$(prop stopping Result)" success
container_said "stopping: exiting" && note "container exited by itself" ||
	fail "no 'exiting' from the container"
runc_has stopping && fail "runc still has the container" || note "runc state gone"
end; fi

if want 5c-stop-timeout; then
begin 5c-stop-timeout deaf
systemctl start vigil@deaf.service || fail "systemctl start failed"
cpid=$(cat /run/vigil/deaf/pid 2>/dev/null)
t0=$(now_ms)
systemctl stop vigil@deaf.service
t1=$(now_ms)
expect_ge stop_ms $((t1 - t0)) 3000
expect_lt "stop_ms (upper bound)" $((t1 - t0)) 15000
expect ActiveState "$(prop deaf ActiveState)" failed
expect Result "$(prop deaf Result)" timeout
note "ExecMainCode=$(prop deaf ExecMainCode) ExecMainStatus=$(prop deaf ExecMainStatus)"
[ -n "$cpid" ] && [ ! -e "/proc/$cpid" ] && note "container pid $cpid gone" || fail "container pid ${cpid:-?} still there"
runc_has deaf && fail "runc still has the container" || note "runc state gone"
end; fi

if want 5d-killed-with-unit; then
begin 5d-killed-with-unit deafer
systemctl start vigil@deafer.service || fail "systemctl start failed"
cpid=$(cat /run/vigil/deafer/pid 2>/dev/null)
systemctl stop vigil@deafer.service
expect Result "$(prop deafer Result)" timeout
[ -n "$cpid" ] && [ ! -e "/proc/$cpid" ] && note "container pid $cpid killed with the unit" ||
	fail "container pid ${cpid:-?} survived the unit"
note "runc state: $(runc state deafer 2>/dev/null | grep -o '"status": *"[a-z]*"' || echo none)"
runc delete --force deafer >/dev/null 2>&1
end; fi

# --- 6. exit status ---------------------------------------------------------------------------
if want 6-exit-status; then
begin 6-exit-status exit3
systemctl start vigil@exit3.service || fail "systemctl start failed"
wait_for 15 state_is exit3 failed || fail "not failed after 15 s"
expect ActiveState "$(prop exit3 ActiveState)" failed
expect Result "$(prop exit3 Result)" exit-code
expect ExecMainCode "$(prop exit3 ExecMainCode)" 1
expect ExecMainStatus "$(prop exit3 ExecMainStatus)" 3
runc_has exit3 && fail "runc still has the container" || note "runc state gone"
end; fi

if want 6b-restart-on-failure; then
begin 6b-restart-on-failure restart
systemctl start vigil@restart.service 2>/dev/null && note "first start ok" || note "first start failed"
wait_for 20 sh -c '[ "$(systemctl show -P NRestarts vigil@restart.service)" -ge 1 ] && [ "$(systemctl show -P ActiveState vigil@restart.service)" = active ]' ||
	fail "not active again after a restart within 20 s"
expect NRestarts "$(prop restart NRestarts)" 1
expect ActiveState "$(prop restart ActiveState)" active
expect StatusText "$(prop restart StatusText)" "second run"
container_said "restart: first run exits 3" && note "first run exited 3" || fail "no output from the first run"
end; fi

# --- 7. --sdnotify-mode=conmon from the unit's environment --------------------------------------
if want 7-conmon-mode; then
begin 7-conmon-mode conmon
t0=$(now_ms)
systemctl start vigil@conmon.service && note "start ok" || fail "systemctl start failed"
t1=$(now_ms)
note "start_ms=$((t1 - t0))"
expect ActiveState "$(prop conmon ActiveState)" active
expect SubState "$(prop conmon SubState)" running
expect_lt NRestarts "$(prop conmon NRestarts)" 1
end; fi

# --- 8. fd store --------------------------------------------------------------------------------
if want 8-fdstore; then
begin 8-fdstore fdstore
systemctl start vigil@fdstore.service || fail "systemctl start failed"
cur=$(systemd-analyze dump 2>/dev/null | awk '/^-> Unit vigil@fdstore.service:/ { u = 1; next } /^-> Unit / { u = 0 }
	u && /File Descriptor Store Current:/ { print $NF; exit }')
# systemd >= 254 has the property; 257's dump no longer lists the store's size.
n_fds=$(prop fdstore NFileDescriptorStore)
if [ -n "$n_fds" ]; then expect "NFileDescriptorStore" "$n_fds" 1
else expect "FD store current (systemd-analyze dump)" "${cur:-none}" 1; fi
pid1=$(prop fdstore MainPID)
systemctl restart vigil@fdstore.service || fail "systemctl restart failed"
pid2=$(prop fdstore MainPID)
env2=$(tr '\0' '\n' < "/proc/$pid2/environ" 2>/dev/null | grep -E '^LISTEN_(FDS|FDNAMES)=' | tr '\n' ' ')
note "MainPID $pid1 -> $pid2"
expect "restarted vigil's environment" "$env2" "LISTEN_FDS=1 LISTEN_FDNAMES=web "
fdpath=$(readlink "/proc/$pid2/fd/3" 2>/dev/null)
note "fd 3 of the new vigil: ${fdpath:-none}"
end; fi

# --- 9. OOM kill on cgroup v2 -------------------------------------------------------------------
if want 9-oom; then
begin 9-oom oom
rm -f /var/lib/vigil/oom/oom
systemctl start vigil@oom.service || fail "systemctl start failed"
wait_for 60 state_is oom failed || fail "not failed after 60 s"
expect ActiveState "$(prop oom ActiveState)" failed
note "Result=$(prop oom Result) ExecMainCode=$(prop oom ExecMainCode) ExecMainStatus=$(prop oom ExecMainStatus)"
[ -e /var/lib/vigil/oom/oom ] && note "<bundle>/oom written" || fail "no <bundle>/oom"
journalctl -k -b -o cat | grep -q "Memory cgroup out of memory" && note "kernel OOM-killed it" ||
	fail "no memory-cgroup OOM kill in the kernel log"
end; fi

# --- 11. Type=notify-reload -------------------------------------------------------------------
if want 11-notify-reload; then
if [ "$systemd_version" -lt 253 ]; then skip 11-notify-reload "Type=notify-reload needs systemd >= 253 (this is $systemd_version)"; else
begin 11-notify-reload reload
systemctl start vigil@reload.service || fail "systemctl start failed"
expect StatusText "$(prop reload StatusText)" serving
for i in 1 2; do
	t0=$(now_ms)
	systemctl reload vigil@reload.service || fail "systemctl reload $i failed"
	t1=$(now_ms)
	expect_ge "reload $i ms" $((t1 - t0)) 1000
	expect StatusText "$(prop reload StatusText)" "reloaded $i"
done
expect ActiveState "$(prop reload ActiveState)" active
expect Type "$(prop reload Type)" notify-reload
container_said "reload: got SIGHUP" && note "container got SIGHUP" || fail "no 'got SIGHUP' from the container"
end; fi; fi

# --- 12. crun, --unit-cgroup with Delegate=yes and DelegateSubgroup= ---------------------------
crun_check() {
	begin "$1" "$2"
	t0=$(now_ms)
	systemctl start "vigil@$2.service" && note "start ok" || fail "systemctl start failed"
	note "start_ms=$(( $(now_ms) - t0 ))"
	expect ActiveState "$(prop "$2" ActiveState)" active
	expect StatusText "$(prop "$2" StatusText)" "on crun"
	mainpid=$(prop "$2" MainPID); cpid=$(cat "/run/vigil/$2/pid" 2>/dev/null || echo none)
	ucg=$(prop "$2" ControlGroup)
	expect "MainPID exe" "$(exe_of "$mainpid")" /usr/local/bin/vigil
	expect "vigil cgroup" "$(cut -d: -f3 "/proc/$mainpid/cgroup")" "$ucg/vigil"
	expect "container cgroup" "$(cut -d: -f3 "/proc/$cpid/cgroup" 2>/dev/null)" "$ucg/container"
	expect "crun state" "$(crun state "$2" 2>/dev/null | grep -o '"status": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"')" running
	runc_has "$2" && fail "runc knows the container" || note "not runc's"
	journalctl -b -u "vigil@$2.service" -o cat | grep -qxF "$2: hello" && note "journalctl -u shows the container's output" ||
		fail "journalctl -u vigil@$2.service does not show the container's output"
	systemctl stop "vigil@$2.service"
	expect "after stop" "$(prop "$2" ActiveState)/$(prop "$2" Result)" inactive/success
	container_said "$2: got SIGTERM" && note "container got SIGTERM" || fail "no 'got SIGTERM' from the container"
	[ ! -e "/proc/$cpid" ] && note "container pid $cpid gone" || fail "container pid $cpid still there"
	# The shipped unit's ExecStopPost= runs `runc delete`: crun's state of the stopped
	# container stays until the next start (crun create replaces nothing: delete it here).
	note "crun state after stop: $(crun state "$2" 2>/dev/null | grep -o '"status": *"[a-z]*"' || echo none)"
	crun delete --force "$2" >/dev/null 2>&1
	end
}
for c in 12-crun-unit-cgroup:crun 12b-crun-delegate-subgroup:crunsub; do
	want "${c%%:*}" || continue
	if [ -z "$has_crun" ]; then skip "${c%%:*}" "no crun in this guest"; continue; fi
	if [ "$c" = 12b-crun-delegate-subgroup:crunsub ] && [ "$systemd_version" -lt 254 ]; then
		skip "${c%%:*}" "DelegateSubgroup= needs systemd >= 254"; continue; fi
	crun_check "${c%%:*}" "${c#*:}"
done

# --- podman (guest-podman.sh), where there is podman --------------------------------------------
if [ -n "$has_podman" ]; then
	# shellcheck source=tests/vm/guest-podman.sh
	. "$share/guest-podman.sh"
else
	skip podman "no podman in this guest: the podman and quadlet checks run in the trixie guest"
fi

# --- 10. every notification came from the main pid -----------------------------------------
if want 10-main-pid-only; then
begin 10-main-pid-only ready
n=$(journalctl -b -o cat --no-pager | grep -c "reception only permitted for main PID" || true)
expect "notifications systemd refused (not from MainPID) in this boot" "$n" 0
end; fi

# A debugging hook: VIGIL_VM_EXTRA=FILE on the host is sourced here.
# shellcheck disable=SC1091
[ -f "$share/extra.sh" ] && . "$share/extra.sh"
out "DONE"
sync
