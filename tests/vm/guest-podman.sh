# SPDX-License-Identifier: GPL-2.0-or-later
# guest-podman.sh: the podman checks, sourced by guest-test.sh in a guest with podman (the
# trixie guest: podman 5, crun, systemd 257, cgroup v2).  vigil is podman's monitor through
# the shipped contrib/containers.conf.d/vigil-notify.conf (conmon_path), and the units are
# quadlet .container files and units/podman-vigil-example.service, unchanged.  The image is the
# busybox root of the runc checks with the notifier, made with `podman import` (no registry).
# Uses guest-test.sh's helpers (begin/end, expect, want, out, now_ms).
# shellcheck shell=sh disable=SC2015,SC2154

# --- set-up ------------------------------------------------------------------------------------
install -D -m 755 /usr/local/bin/vigil /usr/local/libexec/vigil/conmon
install -D -m 644 "$share/vigil-notify.conf" /etc/containers/containers.conf.d/vigil-notify.conf
# No network in the guest: no bridge (netavark is not installed), no image pulls.
cat > /etc/containers/containers.conf.d/50-vm.conf <<'EOF'
[containers]
netns = "none"
EOF
# `podman import` copies through containers/image, which wants a signature policy.
[ -e /etc/containers/policy.json ] ||
	echo '{"default": [{"type": "insecureAcceptAnything"}]}' > /etc/containers/policy.json
uprop() { systemctl show -P "$2" "$1"; }
ustate_is() { [ "$(uprop "$1" ActiveState)" = "$2" ]; }
uprop_is() { [ "$(uprop "$1" "$2")" = "$3" ]; }
gone() { ! podman container exists "$1"; }
pod_tag=localhost/vigil-busybox
notify=; health=
t0=$(now_ms)
podman import -q "$share/rootfs.tar" "$pod_tag" >/dev/null 2>/tmp/import.err || out "INFO podman import failed: $(cat /tmp/import.err)"
out "INFO podman: import of the busybox root took $(( $(now_ms) - t0 )) ms; monitor $(podman info --format '{{.Host.Conmon.Path}} ({{.Host.Conmon.Version}}), runtime {{.Host.OCIRuntime.Name}}, cgroups {{.Host.CgroupsVersion}} {{.Host.CgroupManager}}' 2>&1 | tr '\n' ' ')"
mkdir -p /var/lib/vigil-podman /etc/containers/systemd

# quadlet NAME [SERVICE-KEYS] < SCRIPT: /etc/containers/systemd/NAME.container running SCRIPT
# with Notify=true (or $notify), LogDriver=journald, $health as HealthCmd=, plus [Service] keys.
quadlet() {
	cat > "/var/lib/vigil-podman/$1.sh"
	cat > "/etc/containers/systemd/$1.container" <<EOF
[Unit]
Description=vigil acceptance: $1
[Container]
Image=$pod_tag
ContainerName=$1
Exec=sh /test.sh
Volume=/var/lib/vigil-podman/$1.sh:/test.sh:ro
Notify=${notify:-true}
LogDriver=journald
${health:+HealthCmd=$health}
${health:+HealthInterval=1s}
[Service]
Restart=no
${2:-}
EOF
}

# 20: Notify=true; start blocks until READY=1, StatusText relayed, output in the unit's journal.
quadlet qnotify <<'EOF'
trap 'echo "qnotify: got SIGTERM"; exit 0' TERM
echo "qnotify: hello"
notifier msg:STATUS=starting sleep:2000 'msg:STATUS=ready to serve\nREADY=1'
while :; do sleep 0.2; done
EOF
# 21: Notify=healthy: READY=1 once the health check passes, 2 s after the start.
notify=healthy; health="test -e /tmp/healthy"
quadlet qhealthy <<'EOF'
trap 'exit 0' TERM
sleep 2
touch /tmp/healthy
while :; do sleep 0.2; done
EOF
notify=; health=
# 23: watchdog: pings for 6 s, then silence.
quadlet qwatchdog "WatchdogSec=3s" <<'EOF'
trap 'exit 0' TERM
notifier msg:READY=1
i=0
while [ $i -lt 12 ]; do notifier msg:WATCHDOG=1; sleep 0.5; i=$((i + 1)); done
notifier 'msg:STATUS=silent now'
while :; do sleep 0.2; done
EOF
# 24: EXTEND_TIMEOUT_USEC through podman: READY=1 16 s after the container starts,
# TimeoutStartSec=12s (podman may take several seconds before the container runs: every
# extension counts from when it arrives).
quadlet qextend "TimeoutStartSec=12s" <<'EOF'
trap 'exit 0' TERM
notifier msg:EXTEND_TIMEOUT_USEC=10000000 msg:STATUS=extending sleep:8000 \
	msg:EXTEND_TIMEOUT_USEC=10000000 sleep:8000 'msg:STATUS=slow start done\nREADY=1'
while :; do sleep 0.2; done
EOF
# 25b: OOM under the unit's MemoryMax= (the container's cgroup is below the unit's:
# quadlet runs podman with --cgroups=split).
quadlet qmemmax "MemoryMax=48M
MemorySwapMax=0" <<'EOF'
notifier msg:READY=1
exec tail /dev/zero
EOF
/usr/libexec/podman/quadlet -dryrun >/tmp/quadlet.out 2>&1 || out "INFO quadlet -dryrun: $(tail -n 5 /tmp/quadlet.out)"
systemctl daemon-reload

# start_probe UNIT [CTL]: start UNIT with CTL (systemctl, or guest-rootless.sh's uctl for the
# user's manager); start_ms is how long the start blocked, probe what systemd showed once the
# first StatusText arrived (before READY).
start_probe() {
	sp_ctl=${2:-systemctl}
	rm -f /run/probe
	probe_status "$1" 120 "$sp_ctl" > /run/probe &
	t0=$(now_ms)
	"$sp_ctl" start "$1" && note "start ok" || fail "$sp_ctl start $1 failed"
	start_ms=$(( $(now_ms) - t0 ))
	wait
	probe=$(cat /run/probe 2>/dev/null)
}
main_is_vigil() {
	mainpid=$(uprop "$1" MainPID)
	expect "MainPID exe" "$(exe_of "$mainpid")" /usr/local/libexec/vigil/conmon
}

# --- 20. podman uses vigil ------------------------------------------------------------------------
if want 20-podman-monitor; then
begin 20-podman-monitor none; current_unit=none.service
expect "podman's monitor" "$(podman info --format '{{.Host.Conmon.Path}}' 2>&1)" /usr/local/libexec/vigil/conmon
note "$(podman --version), $(crun --version | head -n1), $(podman info --format 'cgroup manager {{.Host.CgroupManager}}' 2>&1)"
podman image exists "$pod_tag" && note "image $pod_tag imported" || fail "no image $pod_tag"
t0=$(now_ms)
out_=$(podman run --rm "$pod_tag" sh -c 'echo hi; exit 7' 2>&1); rc=$?
note "podman run --rm took $(( $(now_ms) - t0 )) ms"
expect "podman run exit code" "$rc" 7
expect "podman run output" "$out_" hi
end; fi

# --- 21. quadlet Notify=true ---------------------------------------------------------------------
if want 21-quadlet-notify; then
begin 21-quadlet-notify qnotify; current_unit=qnotify.service
start_probe qnotify.service
expect_ge start_ms "$start_ms" 2000
expect "before READY" "$probe" "activating/start/starting"
expect ActiveState "$(uprop qnotify.service ActiveState)" active
expect StatusText "$(uprop qnotify.service StatusText)" "ready to serve"
main_is_vigil qnotify.service
expect NotifyAccess "$(uprop qnotify.service NotifyAccess)" all
journalctl -b -u qnotify.service -o cat | grep -qxF "qnotify: hello" && note "journalctl -u shows the container's output" ||
	fail "journalctl -u qnotify.service does not show the container's output"
t0=$(now_ms)
systemctl stop qnotify.service
note "stop_ms=$(( $(now_ms) - t0 ))"
expect "after stop" "$(uprop qnotify.service ActiveState)/$(uprop qnotify.service Result)" inactive/success
journalctl -b -u qnotify.service -o cat | grep -qxF "qnotify: got SIGTERM" && note "container got SIGTERM" ||
	fail "no 'got SIGTERM' from the container"
gone qnotify && note "container removed" || fail "container still there"
end; fi

# --- 22. quadlet Notify=healthy ------------------------------------------------------------------
if want 22-quadlet-healthy; then
begin 22-quadlet-healthy qhealthy; current_unit=qhealthy.service
start_probe qhealthy.service
expect_ge start_ms "$start_ms" 2000
expect ActiveState "$(uprop qhealthy.service ActiveState)" active
main_is_vigil qhealthy.service
expect Health "$(podman inspect --format '{{.State.Health.Status}}' qhealthy 2>&1)" healthy
end; fi

# --- 24. watchdog through podman -----------------------------------------------------------------
if want 24-podman-watchdog; then
begin 24-podman-watchdog qwatchdog; current_unit=qwatchdog.service
start_probe qwatchdog.service
w1=$(uprop qwatchdog.service WatchdogTimestampMonotonic)
sleep 4
w2=$(uprop qwatchdog.service WatchdogTimestampMonotonic)
expect "while pinging" "$(uprop qwatchdog.service ActiveState)" active
[ "${w2:-0}" -gt "${w1:-0}" ] && note "WatchdogTimestamp advanced by $(( (w2 - w1) / 1000 )) ms over 4 s" ||
	fail "WatchdogTimestamp did not advance ($w1 -> $w2)"
t0=$(now_ms)
wait_for 30 uprop_is qwatchdog.service Result watchdog || fail "no watchdog timeout within 30 s"
note "watchdog fired $(( $(now_ms) - t0 )) ms after the check of the pings"
expect Result "$(uprop qwatchdog.service Result)" watchdog
# systemd's watchdog sends SIGABRT to the main process, vigil, which passes it on and kills
# the container 5 s later (its sh ignores SIGABRT), records the exit and runs podman's
# cleanup.  (conmon dies of the SIGABRT: no exit file, and podman cannot remove the container.)
t0=$(now_ms)
if wait_for 60 gone qwatchdog; then note "container removed $(( $(now_ms) - t0 )) ms after the timeout"; else
	fail "the container is still there 60 s after the watchdog: $(podman ps -a --format '{{.Names}} {{.Status}}' --filter name=qwatchdog 2>&1)"
	podman rm -f qwatchdog >/dev/null 2>&1
fi
end; fi

# --- 25. EXTEND_TIMEOUT_USEC through podman ------------------------------------------------------
if want 25-podman-extend-timeout; then
begin 25-podman-extend-timeout qextend; current_unit=qextend.service
start_probe qextend.service
expect_ge start_ms "$start_ms" 16000
expect TimeoutStartUSec "$(uprop qextend.service TimeoutStartUSec)" 12s
expect "after start" "$(uprop qextend.service ActiveState)/$(uprop qextend.service Result)" active/success
expect StatusText "$(uprop qextend.service StatusText)" "slow start done"
end; fi

# --- 26. OOM under --memory and under MemoryMax= -------------------------------------------------
if want 26-podman-oom-memory; then
begin 26-podman-oom-memory none; current_unit=none.service
podman rm -f poom >/dev/null 2>&1
podman run -d --name poom --memory=32m --memory-swap=32m "$pod_tag" sh -c 'exec tail /dev/zero' >/dev/null 2>&1 ||
	fail "podman run failed"
t0=$(now_ms)
rc=$(timeout 120 podman wait poom 2>&1)
note "died after $(( $(now_ms) - t0 )) ms"
expect "exit code" "$rc" 137
expect OOMKilled "$(podman inspect --format '{{.State.OOMKilled}}' poom 2>&1)" true
podman rm -f poom >/dev/null 2>&1
end; fi

if want 26b-quadlet-oom-memorymax; then
begin 26b-quadlet-oom-memorymax qmemmax; current_unit=qmemmax.service
systemctl start qmemmax.service || fail "systemctl start failed"
wait_for 90 ustate_is qmemmax.service failed || fail "not failed within 90 s"
expect ActiveState "$(uprop qmemmax.service ActiveState)" failed
# The container, not vigil, is killed: vigil exits with its 137, and systemd may see that
# before it reads the unit's memory.events (Result=exit-code) or after (Result=oom-kill).
r=$(uprop qmemmax.service Result)/$(uprop qmemmax.service ExecMainStatus)
case $r in oom-kill/*|exit-code/137) note "Result/ExecMainStatus=$r" ;;
	*) fail "Result/ExecMainStatus=$r (expected oom-kill or exit-code/137)" ;; esac
journalctl -k -b -o cat | grep -q "oom-kill:.*qmemmax" && note "kernel OOM-killed in the unit's cgroup" ||
	fail "no OOM kill in qmemmax.service in the kernel log"
end; fi

# --- 27. varlinkctl against the control socket ---------------------------------------------------
if want 27-varlinkctl; then
begin 27-varlinkctl none; current_unit=none.service
podman rm -f pvarlink >/dev/null 2>&1
id=$(podman run -d --name pvarlink "$pod_tag" sh -c 'trap "exit 0" TERM; while :; do sleep 0.2; done' 2>&1)
sock=$(find /var/lib/containers/storage /run/containers -name vigil.sock -path "*$id*" 2>/dev/null | head -n1)
[ -S "$sock" ] && note "control socket $sock" || fail "no vigil.sock for $id"
if [ -S "$sock" ]; then
	varlinkctl info "unix:$sock" > /tmp/vl.info 2>&1 && grep -q io.vigil.Monitor /tmp/vl.info &&
		note "varlinkctl info lists io.vigil.Monitor" || fail "varlinkctl info: $(head -c 300 /tmp/vl.info)"
	varlinkctl introspect "unix:$sock" io.vigil.Monitor > /tmp/vl.idl 2>&1 && grep -q 'method GetState' /tmp/vl.idl &&
		note "varlinkctl introspect shows GetState" || fail "varlinkctl introspect: $(head -c 300 /tmp/vl.idl)"
	t0=$(now_ms)
	varlinkctl call "unix:$sock" io.vigil.Monitor.GetState '{}' > /tmp/vl.state 2>&1
	note "GetState took $(( $(now_ms) - t0 )) ms"
	tr -d ' \n' < /tmp/vl.state | grep -q '"status":"running"' && note "GetState: running" ||
		fail "GetState: $(head -c 300 /tmp/vl.state)"
	varlinkctl call "unix:$sock" io.vigil.Monitor.Kill '{"signal": 15}' >/tmp/vl.kill 2>&1 && note "Kill(15) ok" ||
		fail "Kill: $(head -c 300 /tmp/vl.kill)"
	expect "exit code after Kill(15)" "$(timeout 60 podman wait pvarlink 2>&1)" 0
fi
podman rm -f pvarlink >/dev/null 2>&1
end; fi

# --- 28. units/podman-vigil-example.service, unchanged ------------------------------------------
if want 28-podman-example; then
begin 28-podman-example none; current_unit=podman-vigil-example.service
# The unit runs docker.io/library/nginx:stable: here that name is the busybox root with a
# script that notifies like a server would.
rm -rf /var/lib/vigil-podman/web && cp -a /var/lib/vigil/.bundle/rootfs /var/lib/vigil-podman/web
# It reloads on SIGHUP like reload.sh (check 29).
{ sed -n '/^mono()/,/^trap .* HUP$/p' /var/lib/vigil/reload.sh; cat <<'EOF'; } > /var/lib/vigil-podman/web/web.sh
trap 'echo "web: got SIGTERM"; exit 0' TERM
echo "web: starting"
notifier msg:STATUS=starting sleep:2000 'msg:STATUS=serving\nREADY=1'
while :; do sleep 0.2; done
EOF
tar -C /var/lib/vigil-podman/web -cf /var/lib/vigil-podman/web.tar . &&
	podman import -q --change 'CMD ["sh", "/web.sh"]' /var/lib/vigil-podman/web.tar docker.io/library/nginx:stable >/dev/null ||
	fail "podman import as nginx:stable failed"
install -m 644 "$share/podman-vigil-example.service" /etc/systemd/system/podman-vigil-example.service
systemctl daemon-reload
start_probe podman-vigil-example.service
expect_ge start_ms "$start_ms" 2000
expect "before READY" "$probe" "activating/start/starting"
expect "after start" "$(uprop podman-vigil-example.service ActiveState)/$(uprop podman-vigil-example.service StatusText)" active/serving
main_is_vigil podman-vigil-example.service
ccg=$(podman inspect --format '{{.State.Pid}}' example-web 2>/dev/null | xargs -I{} cut -d: -f3 /proc/{}/cgroup 2>/dev/null)
case $ccg in "$(uprop podman-vigil-example.service ControlGroup)"/*) note "container in the unit's cgroup ($ccg)" ;;
	*) fail "container cgroup $ccg is not below the unit's" ;; esac
t0=$(now_ms)
systemctl stop podman-vigil-example.service
note "stop_ms=$(( $(now_ms) - t0 ))"
expect "after stop" "$(uprop podman-vigil-example.service ActiveState)/$(uprop podman-vigil-example.service Result)" inactive/success
gone example-web && note "container removed" || fail "example-web still there"
end; fi

# --- 29. Type=notify-reload with a podman unit: the example unit with a drop-in ---------------
if want 29-podman-notify-reload; then
begin 29-podman-notify-reload none; current_unit=podman-vigil-example.service
if [ ! -e /etc/systemd/system/podman-vigil-example.service ]; then
	fail "needs check 28 (the example unit and its image)"
else
mkdir -p /etc/systemd/system/podman-vigil-example.service.d
printf '[Service]\nType=notify-reload\n' > /etc/systemd/system/podman-vigil-example.service.d/50-reload.conf
systemctl daemon-reload
start_probe podman-vigil-example.service
note "start_ms=$start_ms"
u=podman-vigil-example.service
expect Type "$(uprop $u Type)" notify-reload
expect StatusText "$(uprop $u StatusText)" serving
main_is_vigil $u
for i in 1 2; do
	t0=$(now_ms)
	systemctl reload $u || fail "systemctl reload $i failed"
	t1=$(now_ms)
	expect_ge "reload $i ms" $((t1 - t0)) 1000
	expect StatusText "$(uprop $u StatusText)" "reloaded $i"
done
expect "after the reloads" "$(uprop $u ActiveState)/$(uprop $u MainPID)" "active/$mainpid"
podman logs example-web 2>&1 | grep -qxF "reload: got SIGHUP" && note "container got SIGHUP" ||
	fail "no 'got SIGHUP' from the container"
systemctl stop $u
expect "after stop" "$(uprop $u ActiveState)/$(uprop $u Result)" inactive/success
rm -rf /etc/systemd/system/podman-vigil-example.service.d
systemctl daemon-reload
fi
end; fi

# --- rootless (guest-rootless.sh) ----------------------------------------------------------------
# shellcheck source=tests/vm/guest-rootless.sh
. "$share/guest-rootless.sh"
