#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# guest-test.sh DEB CGROUP_PARENT: runs as root in a throw-away Debian 12 root with podman
# (tests/deb/run.sh: chroot, private mount and pid namespaces, no systemd).  Installs DEB,
# activates vigil for podman with the command README.Debian gives, checks that podman's run,
# logs and exec go through vigil, purges the package and checks that nothing is left of it.
# Prints PASS lines; the first failed check prints FAIL and exits 1.
set -euo pipefail

deb=$1
parent=$2
image=localhost/busybox:latest
link=/etc/containers/containers.conf.d/vigil.conf
vigil_conmon=/usr/libexec/vigil/conmon
export DEBIAN_FRONTEND=noninteractive

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
expect() { # expect WHAT GOT WANTED
	[ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
	pass "$1: $2"
}
# wait_for WHAT SECONDS COMMAND...: the container's own pace, bounded.
wait_for() {
	local what=$1 tries=$(($2 * 5))
	shift 2
	until "$@" >/dev/null 2>&1; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out waiting for $what"
		sleep 0.2
	done
}
conmon_path() { podman info --format '{{.Host.Conmon.Path}}'; }
# Every file and directory of the root but the volatile ones: dpkg's and apt's own state,
# caches, logs, podman's storage, and the mounts (proc, sys, dev, run, tmp).  The root's apt
# has no package lists: the .deb's dependencies must be installed already (run.sh).
snapshot() {
	find / -xdev \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/cache -o -path /var/log \
		-o -path /var/lib/containers -o -path /root \) -prune -o -printf '%y %p\n' | sort
}
# Monitors of any kind now running: "PID EXE ARGS".
monitors() {
	local p exe args
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		case $exe in
		*/conmon | */vigil) ;;
		*) continue ;;
		esac
		# It may have exited since.
		args=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
		echo "${p#/proc/} $exe $args"
	done
}

# --- what this host needs from podman (not vigil's business) ---------------------------------
# No systemd, a cgroup v1 hybrid layout, no network: the settings contrib/containers.conf.d/
# vigil.conf lists as comments.  vfs: the root is an overlay already.
cat >/etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
cgroups = "no-conmon"

[network]
network_backend = "netavark"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat >/etc/containers/storage.conf <<'CONF'
[storage]
driver = "vfs"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"
CONF
img=/root/deb-test/image
mkdir -p "$img/bin"
cp /bin/busybox "$img/bin/"
# Relative links: busybox --install would point them at this root's path.
for applet in $("$img/bin/busybox" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$img/bin/$applet"
done
tar -C "$img" -cf /root/deb-test/image.tar .
podman import -q /root/deb-test/image.tar "$image" >/dev/null
expect "monitor before the package" "$(conmon_path)" /usr/bin/conmon

# --- install ------------------------------------------------------------------------------------
snapshot >/root/deb-test/before
apt-get install -y -q "$deb" >/root/deb-test/install.log 2>&1 ||
	{ cat /root/deb-test/install.log >&2; fail "apt-get install $deb"; }
pass "apt-get install $(dpkg-query -W -f '${Package} ${Version}' vigil)"
dpkg -L vigil | sort >/root/deb-test/files
for f in /usr/bin/vigil /usr/bin/vigilctl "$vigil_conmon" /lib/systemd/system/vigil@.service \
	/usr/share/vigil/containers.conf.d/vigil.conf /usr/share/man/man8/vigil.8.gz \
	/usr/share/man/man5/vigil.conf.5.gz /usr/share/man/man1/vigilctl.1.gz \
	/usr/share/bash-completion/completions/vigilctl /usr/share/doc/vigil/README.md \
	/usr/share/doc/vigil/README.Debian /usr/share/doc/vigil/copyright; do
	grep -qx "$f" /root/deb-test/files || fail "the package has no $f"
	[ -e "$f" ] || fail "$f is not installed"
done
pass "the package installs the programs, the unit, the snippet, man pages, completion, docs"
# Whole outputs, not piped into grep -q: with pipefail, an early exit of grep is a failure.
version=$(/usr/bin/vigil --version)
[[ $version == *"vigil version"* ]] || fail "vigil --version: $version"
expect "monitor after install, not activated yet" "$(conmon_path)" /usr/bin/conmon

# --- activate, with the documented command ------------------------------------------------------
activate=$(sed -n 's/^    \(ln -s .*\)$/\1/p' /usr/share/doc/vigil/README.Debian)
[ -n "$activate" ] || fail "README.Debian shows no ln -s command"
sh -c "$activate"
pass "activated: $activate"
expect "monitor after activation" "$(conmon_path)" "$vigil_conmon"
version=$(podman info --format '{{.Host.Conmon.Version}}')
[[ $version == *"vigil version"* ]] || fail "podman info does not show vigil's version: $version"
pass "podman info shows vigil's version"

# --- podman run, logs -----------------------------------------------------------------------------
podman run -d --name deb-web --cgroup-parent="/$parent" "$image" \
	sh -c 'echo hello-stdout; echo hello-stderr >&2; exec sleep 600' >/dev/null
wait_for "the container's output" 15 sh -c 'podman logs deb-web 2>&1 | grep -q hello-stderr'
pid=$(podman inspect --format '{{.State.ConmonPid}}' deb-web)
expect "podman run: the monitor's exe" "$(readlink "/proc/$pid/exe")" "$vigil_conmon"
expect "podman run: the monitor is confined" "$(awk '$1 == "Seccomp:" { print $2 }' "/proc/$pid/status")" 2
logs=$(podman logs deb-web 2>&1 | sort | tr '\n' ' ')
expect "podman logs" "$logs" "hello-stderr hello-stdout "
bundle=$(podman inspect --format '{{.StaticDir}}' deb-web)
[ -S "$bundle/vigil.sock" ] || fail "no control socket $bundle/vigil.sock"
expect "vigilctl state: monitor pid" "$(vigilctl state "$bundle" | awk '$1 == "monitor_pid:" { print $2 }')" "$pid"
expect "vigilctl stats: stdout lines logged by vigil" \
	"$(vigilctl stats "$bundle" | awk '$1 == "log.stdout.lines:" { print $2 }')" 1
r=0
out=$(podman run --rm --cgroup-parent="/$parent" "$image" sh -c 'echo attached; exit 7') || r=$?
expect "podman run (attached): output" "$out" attached
expect "podman run (attached): exit code" "$r" 7

# --- podman exec ----------------------------------------------------------------------------------
expect "podman exec: output" "$(podman exec deb-web echo exec-out)" exec-out
r=0
podman exec deb-web sh -c 'exit 5' || r=$?
expect "podman exec: exit code" "$r" 5
session=$(podman exec -d deb-web sleep 600)
# The session's monitor names it on its command line (its -u), and so does its spawner.
expect "podman exec -d: the session's monitor" \
	"$(monitors | grep -e " --exec " | grep -e " $session " | awk '{ print $2 }' | sort -u)" "$vigil_conmon"
others=$(monitors | grep -v " $vigil_conmon " || true)
[ -z "$others" ] || fail "monitors other than vigil are running: $others"
pass "no conmon ran"
podman rm -f -t 0 deb-web >/dev/null
pass "podman rm -f"

# --- purge ----------------------------------------------------------------------------------------
[ -L "$link" ] || fail "the activation link $link is gone before the purge"
apt-get purge -y -q vigil >/root/deb-test/purge.log 2>&1 || { cat /root/deb-test/purge.log >&2; fail "apt-get purge vigil"; }
status=$(dpkg-query -W -f '${db:Status-Status}' vigil 2>/dev/null || true)
[ -z "$status" ] || [ "$status" = not-installed ] || fail "dpkg still has vigil as $status"
pass "apt-get purge vigil"
if [ -e "$link" ] || [ -L "$link" ]; then
	fail "the activation link $link is left"
fi
expect "monitor after the purge" "$(conmon_path)" /usr/bin/conmon
left=""
while read -r f; do
	[ "$f" != /. ] || continue
	[ -e "$f" ] || [ -L "$f" ] || continue
	# The snapshot has the physical paths: /lib is a link to usr/lib.
	real=$(readlink -f "$(dirname "$f")")
	real=${real%/}/$(basename "$f")
	awk -v p="$real" '$2 == p { found = 1 } END { exit !found }' /root/deb-test/before || left="$left $f"
done </root/deb-test/files
[ -z "$left" ] || fail "left behind from dpkg -L vigil:$left"
snapshot >/root/deb-test/after
if ! diff -u /root/deb-test/before /root/deb-test/after >/root/deb-test/diff; then
	cat /root/deb-test/diff >&2
	fail "the root differs from before the install"
fi
pass "nothing left behind: dpkg -L vigil and the whole root as before the install"
