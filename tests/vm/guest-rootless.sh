# SPDX-License-Identifier: GPL-2.0-or-later
# guest-rootless.sh: rootless podman with vigil as its monitor, sourced by guest-podman.sh.
# A user with subordinate ids and a lingering systemd user session (user@UID.service, whose
# cgroup v2 subtree systemd delegates to it) runs quadlet user units from
# ~/.config/containers/systemd/ and the shipped units/podman-vigil-example.service as a user
# unit.  vigil runs as that user throughout; the system-wide containers.conf.d drop-ins
# (conmon_path, no network) apply to the user's podman too.
# shellcheck shell=sh disable=SC2015,SC2154

ruser=vigiltest
if id "$ruser" >/dev/null 2>&1; then :; else
	useradd --create-home --shell /bin/sh "$ruser"
fi
ruid=$(id -u "$ruser")
rhome=$(getent passwd "$ruser" | cut -d: -f6)
rrun=/run/user/$ruid
grep -q "^$ruser:" /etc/subuid 2>/dev/null ||
	usermod --add-subuids 200000-265535 --add-subgids 200000-265535 "$ruser"
# as_user CMD...: CMD as the user, in its session's environment.
as_user() {
	(cd "$rhome" && runuser -u "$ruser" -- env -i HOME="$rhome" USER="$ruser" LOGNAME="$ruser" \
		PATH=/usr/local/bin:/usr/bin:/bin XDG_RUNTIME_DIR="$rrun" \
		DBUS_SESSION_BUS_ADDRESS="unix:path=$rrun/bus" "$@")
}
uctl() { as_user systemctl --user "$@"; }
urprop() { uctl show -P "$2" "$1"; }
urstate_is() { [ "$(urprop "$1" ActiveState)" = "$2" ]; }
user_manager_up() { [ "$(systemctl show -P ActiveState "user@$ruid.service")" = active ] && [ -S "$rrun/bus" ]; }

t0=$(now_ms)
loginctl enable-linger "$ruser"
wait_for 120 user_manager_up || out "INFO rootless: user@$ruid.service is not up after 120 s"
out "INFO rootless: user session of $ruser (uid $ruid) up in $(( $(now_ms) - t0 )) ms; delegated controllers: $(cat "/sys/fs/cgroup/user.slice/user-$ruid.slice/user@$ruid.service/cgroup.subtree_control" 2>/dev/null)"
rbase=$rhome/vigil
as_user mkdir -p "$rbase" "$rhome/.config/containers/systemd" "$rhome/.config/systemd/user"
cp /var/lib/vigil-podman/web.tar "$rbase/web.tar" 2>/dev/null
cp "$share/rootfs.tar" "$rbase/rootfs.tar"
chown -R "$ruser:" "$rbase"
t0=$(now_ms)
as_user podman import -q "$rbase/rootfs.tar" "$pod_tag" >/dev/null 2>/tmp/rimport.err || out "INFO rootless: podman import failed: $(cat /tmp/rimport.err)"
out "INFO rootless: podman import took $(( $(now_ms) - t0 )) ms; $(as_user podman info --format 'rootless {{.Host.Security.Rootless}}, monitor {{.Host.Conmon.Path}}, cgroups {{.Host.CgroupsVersion}} {{.Host.CgroupManager}}' 2>&1 | tr '\n' ' ')"

# rquadlet NAME [CONTAINER-KEYS] < SCRIPT: a quadlet user unit running SCRIPT, Notify=true.
rquadlet() {
	cat > "$rbase/$1.sh"
	cat > "$rhome/.config/containers/systemd/$1.container" <<EOF
[Container]
Image=$pod_tag
ContainerName=$1
Exec=sh /test.sh
Volume=$rbase/$1.sh:/test.sh:ro
Notify=true
LogDriver=journald
${2:-}
[Service]
Restart=no
EOF
	chown "$ruser:" "$rbase/$1.sh" "$rhome/.config/containers/systemd/$1.container"
}
rquadlet rnotify <<'EOF'
trap 'echo "rnotify: got SIGTERM"; exit 0' TERM
echo "rnotify: hello"
notifier msg:STATUS=starting sleep:5000 'msg:STATUS=ready to serve\nREADY=1'
while :; do sleep 0.2; done
EOF
rquadlet room "PodmanArgs=--memory=32m --memory-swap=32m" <<'EOF'
notifier msg:READY=1
exec tail /dev/zero
EOF
uctl daemon-reload || out "INFO rootless: systemctl --user daemon-reload failed"

# rmain_is_vigil UNIT: the unit's main process is vigil, running as the user.
rmain_is_vigil() {
	mainpid=$(urprop "$1" MainPID)
	expect "MainPID exe" "$(exe_of "$mainpid")" /usr/local/libexec/vigil/conmon
	expect "MainPID uid" "$(awk '/^Uid:/ { print $2 }' "/proc/$mainpid/status" 2>/dev/null)" "$ruid"
}
rend() {
	uctl stop "$1" >/dev/null 2>&1
	uctl reset-failed "$1" >/dev/null 2>&1
	[ "$ok" = 1 ] || journalctl -b "_SYSTEMD_USER_UNIT=$1" -o short-monotonic --no-pager 2>&1 | tail -n 30 | sed 's/^/    | /' | tee -a "$results"
	end
}

# --- 30. quadlet user unit, Notify=true ----------------------------------------------------------
if want 30-rootless-quadlet-notify; then
begin 30-rootless-quadlet-notify none
start_probe rnotify.service uctl
expect_ge start_ms "$start_ms" 5000
expect "before READY" "$probe" "activating/start/starting"
expect ActiveState "$(urprop rnotify.service ActiveState)" active
expect StatusText "$(urprop rnotify.service StatusText)" "ready to serve"
rmain_is_vigil rnotify.service
case $(cut -d: -f3 "/proc/$mainpid/cgroup" 2>/dev/null) in
	/user.slice/user-$ruid.slice/user@$ruid.service/*) note "vigil in the user's delegated subtree" ;;
	*) fail "vigil in $(cut -d: -f3 "/proc/$mainpid/cgroup" 2>/dev/null)" ;; esac
journalctl -b "_SYSTEMD_USER_UNIT=rnotify.service" -o cat | grep -qxF "rnotify: hello" &&
	note "the unit's journal shows the container's output" || fail "no container output in the user unit's journal"
# The control socket: the user's, 0600, in the container's bundle.
id=$(as_user podman inspect --format '{{.Id}}' rnotify 2>/dev/null)
sock=$(as_user podman inspect --format '{{.StaticDir}}' rnotify 2>/dev/null)/vigil.sock
[ -S "$sock" ] && expect "control socket owner/mode" "$(stat -c '%u %a' "$sock")" "$ruid 600" || fail "no control socket at $sock"
note "control socket $sock"
as_user varlinkctl call "unix:$sock" io.vigil.Monitor.GetState '{}' > /tmp/rvl.state 2>&1
tr -d ' \n' < /tmp/rvl.state | grep -q "\"id\":\"$id\"" && note "varlinkctl call GetState as the user" ||
	fail "GetState as the user: $(head -c 300 /tmp/rvl.state)"
# The registry: a short address under the user's runtime directory, by id and by name.
reg=$rrun/vigil
expect "registry owner/mode" "$(stat -c '%u %a' "$reg" 2>&1)" "$ruid 700"
[ "$(readlink -f "$reg/$id.sock" 2>/dev/null)" = "$(readlink -f "$sock")" ] && note "$reg/$id.sock leads to the control socket" ||
	fail "registry entry $reg/$id.sock: $(ls -la "$reg" 2>&1 | head -n 5 | tr '\n' ' ')"
[ "$(readlink -f "$reg/by-name/rnotify.sock" 2>/dev/null)" = "$(readlink -f "$reg/$id.sock" 2>/dev/null)" ] &&
	note "by-name/rnotify.sock leads to the same socket" || fail "by-name/rnotify.sock: $(ls -la "$reg/by-name" 2>&1 | tr '\n' ' ')"
as_user varlinkctl call "unix:$reg/by-name/rnotify.sock" io.vigil.Monitor.GetState '{}' > /tmp/rvl.state 2>&1
tr -d ' \n' < /tmp/rvl.state | grep -q "\"id\":\"$id\"" && note "varlinkctl call through the registry name" ||
	fail "GetState through $reg/by-name/rnotify.sock: $(head -c 300 /tmp/rvl.state)"
as_user vigilctl state rnotify > /tmp/rvl.vstate 2>&1 && note "vigilctl state rnotify as the user: $(head -n 1 /tmp/rvl.vstate)" ||
	fail "vigilctl state rnotify as the user: $(head -c 300 /tmp/rvl.vstate)"
as_user vigilctl ps > /tmp/rvl.ps 2>&1 && grep -q rnotify /tmp/rvl.ps && note "vigilctl ps as the user lists rnotify" ||
	fail "vigilctl ps as the user: $(head -c 300 /tmp/rvl.ps)"
t0=$(now_ms)
uctl stop rnotify.service
note "stop_ms=$(( $(now_ms) - t0 ))"
expect "after stop" "$(urprop rnotify.service ActiveState)/$(urprop rnotify.service Result)" inactive/success
journalctl -b "_SYSTEMD_USER_UNIT=rnotify.service" -o cat | grep -qxF "rnotify: got SIGTERM" && note "container got SIGTERM" ||
	fail "no 'got SIGTERM' from the container"
rend rnotify.service; fi

# --- 31. --sdnotify=container: units/podman-vigil-example.service as a user unit ----------------
if want 31-rootless-sdnotify-container; then
begin 31-rootless-sdnotify-container none
if [ ! -s "$rbase/web.tar" ]; then
	fail "needs check 28 (the example unit's image)"
else
as_user podman import -q --change 'CMD ["sh", "/web.sh"]' "$rbase/web.tar" docker.io/library/nginx:stable >/dev/null ||
	fail "podman import as nginx:stable failed"
install -o "$ruser" -m 644 "$share/podman-vigil-example.service" "$rhome/.config/systemd/user/podman-vigil-example.service"
uctl daemon-reload
start_probe podman-vigil-example.service uctl
expect_ge start_ms "$start_ms" 2000
expect "before READY" "$probe" "activating/start/starting"
expect "after start" "$(urprop podman-vigil-example.service ActiveState)/$(urprop podman-vigil-example.service StatusText)" active/serving
rmain_is_vigil podman-vigil-example.service
uctl stop podman-vigil-example.service
expect "after stop" "$(urprop podman-vigil-example.service ActiveState)/$(urprop podman-vigil-example.service Result)" inactive/success
fi
rend podman-vigil-example.service; fi

# --- 32. OOM in a rootless container (--memory: the memory controller is delegated) -----------
# (podman's OOMKilled and exit code 137 under --memory: check 26, as root.)
if want 32-rootless-oom; then
begin 32-rootless-oom none
uctl start room.service || fail "systemctl --user start room.service failed"
wait_for 90 urstate_is room.service failed || fail "not failed within 90 s"
expect ActiveState "$(urprop room.service ActiveState)" failed
note "Result=$(urprop room.service Result)"
expect ExecMainStatus "$(urprop room.service ExecMainStatus)" 137
n=$(journalctl -k -b -o cat | grep -c "oom-kill:.*oom_memcg=/user.slice/user-$ruid.slice/" || true)
expect_ge "kernel OOM kills in the user's slice" "$n" 1
as_user podman rm -f --ignore room >/dev/null 2>&1
rend room.service; fi
