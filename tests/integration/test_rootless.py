# SPDX-License-Identifier: GPL-2.0-or-later
"""Rootless podman with vigil as its monitor, on this host (Debian 12: podman 4.3.1, runc,
cgroup v1, so no cgroups for rootless containers).

A throw-away user with subordinate ids (/etc/subuid, /etc/subgid) runs podman; vigil runs
as that user, inside podman's user namespace, and nothing it creates needs root.  The user's
home and its podman store live under the test scratch dir, and so does its XDG_RUNTIME_DIR
unless the build dir is too deep for podman (then it is in /run; see User._runtime_dir).  The user,
its subordinate ids, its processes (podman's pause process included) and its files are
removed at the end, whatever happened."""
import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import uuid

import pytest

import monitor as m
from conftest import BUILD_DIR, SCRATCH

pytestmark = pytest.mark.podman

IMAGE = "localhost/busybox:latest"
VIGILCTL = os.path.join(BUILD_DIR, "vigilctl")
SUBID_COUNT = 65536


def _others_can_reach(path):
    """The user must be able to run the monitor: every directory above it searchable."""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & 0o001:
        return False
    d = os.path.dirname(path)
    while True:
        if not os.stat(d).st_mode & 0o001:
            return False
        if d == "/":
            return True
        d = os.path.dirname(d)


def _free_subid_start(files=("/etc/subuid", "/etc/subgid")):
    """A range above every one handed out so far (and above useradd's own defaults)."""
    top = 1000000
    for name in files:
        try:
            with open(name) as f:
                for line in f:
                    parts = line.strip().split(":")
                    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
                        top = max(top, int(parts[1]) + int(parts[2]))
        except FileNotFoundError:
            pass
    return top + SUBID_COUNT


def _subid_lines(user):
    found = []
    for name in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(name) as f:
                found += [(name, line) for line in f if line.split(":")[0] == user]
        except FileNotFoundError:
            pass
    return found


def _pids_of(uid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat("/proc/" + entry).st_uid == uid:
                pids.append(int(entry))
        except FileNotFoundError:
            pass
    return pids


def _chown_tree(path, uid, gid):
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, n) for n in dirs + files]:
            os.lchown(name, uid, gid)


class User:
    """A throw-away user, its files under SCRATCH, and podman run as that user."""

    def __init__(self, monitor, rootfs_dir):
        self.name = "vigil-rl-" + uuid.uuid4().hex[:8]
        self.base = os.path.join(SCRATCH, self.name)
        self.home = os.path.join(self.base, "home")
        self.monitor = monitor
        self.uid = None
        self.run_outside = None
        if os.path.exists(self.base):
            shutil.rmtree(self.base)
        os.makedirs(self.home)
        subprocess.run(["useradd", "--no-create-home", "--home-dir", self.home, "--shell", "/bin/sh",
                        "--user-group", self.name], check=True, capture_output=True, timeout=60)
        pw = pwd.getpwnam(self.name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # useradd hands out subordinate ids itself where login.defs says so; else add some.
        if not any(f == "/etc/subuid" for f, _ in _subid_lines(self.name)):
            start = _free_subid_start()
            ids = "%d-%d" % (start, start + SUBID_COUNT - 1)
            subprocess.run(["usermod", "--add-subuids", ids, "--add-subgids", ids, self.name],
                           check=True, capture_output=True, timeout=60)
        self.run_dir = self._runtime_dir()
        self._write_config()
        _chown_tree(self.base, self.uid, self.gid)
        tar = os.path.join(self.base, "rootfs.tar")
        subprocess.run(["tar", "-C", rootfs_dir, "-cf", tar, "."], check=True, timeout=60)
        os.chown(tar, self.uid, self.gid)
        r = self.podman("import", "-q", tar, IMAGE, timeout=120)
        assert r.returncode == 0, r.err

    def _runtime_dir(self):
        """XDG_RUNTIME_DIR, where rootless podman keeps its runroot.  podman's exit command
        (`podman container cleanup`) rejects a runroot longer than 50 characters, and then the
        monitor's exit costs podman 20 s per container.  Rootless podman resolves symlinks in
        it (unlike test_podman.py's rootful store), so when the build dir is too deep the
        runtime dir is a real one in /run, as /run/user/UID would be: 0700, the user's, and
        removed with the user."""
        real = os.path.join(self.base, "run")
        if len(os.path.join(real, "containers")) > 50:
            real = "/run/vigil-rl-%s" % hashlib.sha256(self.base.encode()).hexdigest()[:8]
            self.run_outside = real
            shutil.rmtree(real, ignore_errors=True)
        os.makedirs(real)
        os.chown(real, self.uid, self.gid)
        os.chmod(real, 0o700)
        return real

    def _write_config(self):
        conf_dir = os.path.join(self.home, ".config", "containers")
        os.makedirs(conf_dir)
        # A rootless container on a cgroup v1 host gets no cgroup: runc would refuse
        # cgroups = "disabled", "no-conmon" keeps podman from placing the monitor.
        with open(os.path.join(conf_dir, "containers.conf"), "w") as f:
            f.write(f"""[containers]
netns = "none"
cgroups = "no-conmon"
default_ulimits = []

[engine]
conmon_path = ["{self.monitor}"]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_config_dir = "{self.home}/netconf"
""")
        with open(os.path.join(conf_dir, "storage.conf"), "w") as f:
            f.write("""[storage]
driver = "vfs"
""")

    def env(self):
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name,
                "XDG_RUNTIME_DIR": self.run_dir, "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}

    def run(self, *args, timeout=60, check=False):
        """args as the user (runuser), with a clean environment, in its home."""
        cmd = ["runuser", "-u", self.name, "--", "env", "-i"]
        cmd += ["%s=%s" % kv for kv in self.env().items()] + list(args)
        r = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=self.home)
        r.out = r.stdout.decode(errors="replace")
        r.err = r.stderr.decode(errors="replace")
        if check:
            assert r.returncode == 0, f"{args}: rc {r.returncode}: {r.err}"
        return r

    def podman(self, *args, timeout=60, check=False):
        return self.run("podman", *args, timeout=timeout, check=check)

    def remove(self):
        if self.uid is not None:
            try:
                self.podman("rm", "-f", "--all", "-t", "0", timeout=120)
            except subprocess.TimeoutExpired:
                pass
            # What is left (podman's pause process, a monitor): by pid, never by name.
            for _ in range(50):
                pids = _pids_of(self.uid)
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            subprocess.run(["userdel", self.name], capture_output=True, timeout=60)
        # userdel removes the subordinate ids too; make sure.
        for name, _ in _subid_lines(self.name):
            with open(name) as f:
                keep = [line for line in f if line.split(":")[0] != self.name]
            with open(name, "w") as f:
                f.writelines(keep)
        if self.run_outside:
            shutil.rmtree(self.run_outside, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def user(env):
    if os.geteuid() != 0:
        pytest.skip("needs root to create a throw-away user")
    for tool in ("podman", "useradd", "usermod", "userdel", "runuser", "newuidmap", "newgidmap"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (podman, passwd, util-linux, uidmap)")
    if not _others_can_reach(env.monitor):
        pytest.skip(f"{env.monitor} is not reachable by other users (a directory above it is not searchable)")
    u = User(env.monitor, os.path.join(env.rootfs.dir, "rootfs"))
    try:
        yield u
    finally:
        u.remove()
    assert not _subid_lines(u.name)
    assert not _pids_of(u.uid)


def test_rootless_podman_uses_vigil(user):
    r = user.podman("info", "--format", "{{.Host.Conmon.Path}} {{.Host.Security.Rootless}}", check=True)
    assert r.out.split() == [user.monitor, "true"]


def test_rootless_run_exit_code_and_output(user):
    t0 = time.monotonic()
    r = user.podman("run", "--rm", IMAGE, "sh", "-c", "echo out; echo err >&2; id -u; exit 3")
    elapsed = time.monotonic() - t0
    assert r.returncode == 3, r.err
    # root in the container is the user outside.
    assert r.out == "out\n0\n"
    assert "err" in r.err
    # Not a timing assertion: 20 s is podman giving up on a monitor that does not exit
    # (its exit command failed), an order of magnitude above any slow start.
    assert elapsed < 20, f"podman run took {elapsed:.1f} s: the monitor did not exit"


def test_rootless_detached_logs_exec_state_stop(user):
    name = "rl-" + uuid.uuid4().hex[:8]
    user.podman("run", "-d", "--name", name, IMAGE, "sh", "-c",
                'trap "echo got-term; exit 0" TERM; echo started; while :; do sleep 0.2; done', check=True)
    m.wait_for(lambda: "started" in user.podman("logs", name).out, 20, what="'started' in podman logs")

    # The monitor runs as the user, is vigil, and holds no capability outside the user's
    # namespace (it lives in podman's rootless namespace).
    pid = int(user.podman("inspect", "--format", "{{.State.ConmonPid}}", name, check=True).out)
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    assert status["Uid"].split() == [str(user.uid)] * 4
    assert os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(user.monitor)
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")

    r = user.podman("exec", name, "sh", "-c", "echo in-exec; exit 4")
    assert (r.returncode, r.out) == (4, "in-exec\n"), r.err

    # vigilctl as the user against the monitor's control socket (<bundle>/vigil.sock, 0600).
    bundle = user.podman("inspect", "--format", "{{.StaticDir}}", name, check=True).out.strip()
    sock = os.path.join(bundle, "vigil.sock")
    st = os.stat(sock)
    assert (st.st_uid, st.st_mode & 0o777) == (user.uid, 0o600)
    cpid = int(user.podman("inspect", "--format", "{{.State.Pid}}", name, check=True).out)
    state = json.loads(user.run(VIGILCTL, "--json", "state", bundle, check=True).out)
    assert (state["pid"], state["monitor_pid"], state["name"]) == (cpid, pid, name)

    t0 = time.monotonic()
    user.podman("stop", "-t", "10", name, check=True)
    assert time.monotonic() - t0 < 10
    assert user.podman("inspect", "--format", "{{.State.ExitCode}}", name, check=True).out.strip() == "0"
    assert user.podman("logs", name, check=True).out == "started\ngot-term\n"
    m.wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, what="the monitor to exit")
    assert not os.path.exists(sock)
    user.podman("rm", name, check=True)


def test_rootless_state_running(user):
    """Rootless runc keeps its state in $XDG_RUNTIME_DIR/runc and podman passes no --root: the
    monitor must look for exec.fifo where runc puts it to see the start."""
    name = "rl-" + uuid.uuid4().hex[:8]
    user.podman("run", "-d", "--name", name, IMAGE, "sleep", "60", check=True)
    try:
        bundle = user.podman("inspect", "--format", "{{.StaticDir}}", name, check=True).out.strip()
        m.wait_for(lambda: user.podman("inspect", "--format", "{{.State.Status}}", name).out.strip() == "running",
                   20, what="podman to say running")
        state = json.loads(user.run(VIGILCTL, "--json", "state", bundle, check=True).out)
        assert state["status"] == "running"
    finally:
        user.podman("rm", "-f", "-t", "0", name, timeout=120)
