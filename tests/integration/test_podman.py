# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end: Debian's podman 4.3.1 driving the monitor under test (selected through
CONTAINERS_CONF + conmon_path, as engine-contract.md §1.1 recommends) with real runc.

Everything podman stores lives under the test scratch dir; the host's default store is never
touched."""
import os
import shutil
import subprocess
import time
import uuid

import pytest

import monitor as m
from conftest import SCRATCH, vigil_only

pytestmark = pytest.mark.podman

IMAGE = "localhost/busybox:latest"


def _unmount_under(path):
    """Lazily unmount anything a crashed earlier run left mounted below path (shm mounts)."""
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    for point in sorted(points, key=len, reverse=True):
        if point == path or point.startswith(path + "/"):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)


def podman_root(name="podman"):
    """A fresh directory SCRATCH/<name> for podman's state.

    podman refuses a --runroot longer than 50 characters ("the specified runroot is longer
    than 50 characters"), and the exit command (`podman container cleanup`) passes it
    explicitly, so a long path silently costs 20 s per run.  Keep it short: outside pytest's
    basetemp, and behind a symlink in /run if the build dir itself is too deep.
    """
    root = os.path.join(SCRATCH, name)
    if os.path.exists(root):
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    if len(os.path.join(root, "runroot")) > 50:
        root = m.short_link(root, "it")
    return root


class Podman:
    def __init__(self, monitor, root, rootfs_dir, conmon_env=()):
        self.monitor = monitor
        self.root = root
        self.names = []
        conf = os.path.join(root, "containers.conf")
        storage = os.path.join(root, "storage.conf")
        real = os.path.realpath(root)
        self.write_conf(conmon_env)
        with open(storage, "w") as f:
            f.write(f"""[storage]
driver = "vfs"
graphroot = "{real}/storage"
runroot = "{root}/runroot"
""")
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "CONTAINERS_CONF": conf,
            "CONTAINERS_STORAGE_CONF": storage,
        }
        for k in ("LANG", "LC_ALL", "TMPDIR"):
            if k in os.environ:
                self.env[k] = os.environ[k]
        tar = os.path.join(root, "rootfs.tar")
        subprocess.run(["tar", "-C", rootfs_dir, "-cf", tar, "."], check=True, timeout=60)
        r = self("import", "-q", tar, IMAGE, timeout=120)
        assert r.returncode == 0, r.stderr

    def write_conf(self, conmon_env=()):
        """containers.conf; conmon_env: VAR=VALUE for the monitors (conmon_env_vars).  Monitors
        always register under the test scratch (VIGIL_REGISTRY_DIR), never in /run/vigil."""
        root = self.root
        conf = os.path.join(root, "containers.conf")
        env = ["VIGIL_REGISTRY_DIR=" + m.REGISTRY_DIR, *conmon_env]
        env_line = "conmon_env_vars = [%s]" % ", ".join('"%s"' % e for e in env)
        # Only the runroot needs the short symlinked path.  Logs live under the graphroot, and
        # vigil refuses to rotate a log whose directory path has a symlink in it.
        real = os.path.realpath(root)
        with open(conf, "w") as f:
            f.write(f"""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
cgroups = "no-conmon"

[network]
network_config_dir = "{root}/netconf"

[engine]
conmon_path = ["{self.monitor}"]
{env_line}
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{root}/events.log"
tmp_dir = "{root}/libpod-tmp"
static_dir = "{real}/storage/libpod"
volume_path = "{real}/storage/volumes"
""")

    def __call__(self, *args, timeout=60, input=None, check=False):
        # cwd: conmon 2.1.6 drops its `oom` file into podman's cwd; keep it out of the repo.
        r = subprocess.run(["podman", *args], env=self.env, capture_output=True, timeout=timeout,
                           input=input, cwd=self.root)
        r.out = r.stdout.decode(errors="replace")
        r.err = r.stderr.decode(errors="replace")
        if check:
            assert r.returncode == 0, f"podman {args}: rc {r.returncode}: {r.err}"
        return r

    def name(self):
        n = "vt-" + uuid.uuid4().hex[:12]
        self.names.append(n)
        return n

    def close(self):
        """The fixture's end: the test's containers, the store's mounts, the short runroot link."""
        self.cleanup()
        _unmount_under(os.path.realpath(self.root))
        if os.path.islink(self.root):
            os.unlink(self.root)

    def cleanup(self):
        if self.names:
            try:
                self("rm", "-f", "--ignore", "-t", "0", *self.names, timeout=120)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture(scope="session")
def podman(env, tmp_path_factory):
    if not shutil.which("podman"):
        pytest.skip("podman not installed")
    p = Podman(env.monitor, podman_root(), os.path.join(env.rootfs.dir, "rootfs"))
    yield p
    p.close()


def test_podman_uses_monitor(podman):
    r = podman("info", "--format", "{{.Host.Conmon.Path}}", check=True)
    assert r.out.strip() == podman.monitor


def test_run_rm_streams_and_exit_code(podman):
    t0 = time.monotonic()
    r = podman("run", "--rm", "--name", podman.name(), IMAGE,
               "sh", "-c", "echo out; echo err >&2; exit 3")
    elapsed = time.monotonic() - t0
    assert r.returncode == 3, r.err
    assert r.out == "out\n"
    assert "err\n" in r.err
    # A monitor that fails to run the exit command makes podman fall back after 20 s.
    assert elapsed < 10


def test_detached_logs_wait(podman):
    n = podman.name()
    podman("run", "-d", "--name", n, IMAGE, "sh", "-c", "echo hello-logs; echo e >&2; exit 5",
           check=True)
    r = podman("wait", n, check=True)
    assert r.out.strip() == "5"
    r = podman("logs", n, check=True)
    assert r.out == "hello-logs\n"
    assert r.err == "e\n"
    r = podman("inspect", "--format", "{{.State.ExitCode}} {{.State.Status}}", n, check=True)
    assert r.out.split() == ["5", "exited"]  # "stopped" = the exit command did not run
    podman("rm", n, check=True)


@pytest.mark.slow
def test_stop_sigkill_fallback_and_monitor_exe(podman):
    n = podman.name()
    podman("run", "-d", "--name", n, IMAGE, "sh", "-c",
           'echo started; trap "" TERM; while :; do sleep 1; done', check=True)
    m.wait_for(lambda: "started" in podman("logs", n).out, 15, interval=0.2, what="container output")
    r = podman("inspect", "--format", "{{.State.ConmonPid}}", n, check=True)
    pid = int(r.out.strip())
    assert os.path.realpath(f"/proc/{pid}/exe") == os.path.realpath(podman.monitor)
    t0 = time.monotonic()
    podman("stop", "-t", "2", n, check=True)
    assert time.monotonic() - t0 < 15
    r = podman("inspect", "--format", "{{.State.ExitCode}}", n, check=True)
    assert r.out.strip() == "137"
    m.wait_for(lambda: not m.pid_alive(pid), 15, what="monitor exit")
    podman("rm", n, check=True)


def test_run_interactive_stdin(podman):
    r = podman("run", "--rm", "-i", "--name", podman.name(), IMAGE, "cat", input=b"hello\n")
    assert r.returncode == 0, r.err
    assert r.out == "hello\n"


def test_log_max_size(podman):
    n = podman.name()
    script = "i=1; while [ $i -le 200 ]; do echo line-$i; i=$((i+1)); done"
    r = podman("run", "--name", n, "--log-opt", "max-size=2000", IMAGE, "sh", "-c", script)
    assert r.returncode == 0, r.err
    path = podman("inspect", "--format", "{{.HostConfig.LogConfig.Path}}", n, check=True).out.strip()
    assert os.path.getsize(path) <= 2000
    lines = podman("logs", n, check=True).out.splitlines()
    assert lines and lines[-1] == "line-200"
    assert len(lines) < 200
    podman("rm", n, check=True)


def test_log_driver_none(podman):
    n = podman.name()
    r = podman("run", "--name", n, "--log-driver", "none", IMAGE, "echo", "not-logged")
    assert r.returncode == 0, r.err
    r = podman("logs", n)
    assert "not-logged" not in r.out + r.err
    podman("rm", n, check=True)


def test_log_driver_passthrough(podman):
    r = podman("run", "--rm", "--name", podman.name(), "--log-driver", "passthrough", IMAGE,
               "sh", "-c", "echo pt-out; echo pt-err >&2; exit 2")
    assert r.returncode == 2, r.err
    assert r.out == "pt-out\n"
    assert "pt-err\n" in r.err


def test_run_nonexistent_command(podman):
    r = podman("run", "--rm", "--name", podman.name(), IMAGE, "/nonexistent")
    assert r.returncode == 127
    assert "/nonexistent" in r.err and "no such file or directory" in r.err


def test_run_not_executable(podman):
    r = podman("run", "--rm", "--name", podman.name(), IMAGE, "/etc/passwd")
    assert r.returncode == 126
    assert "permission denied" in r.err


def test_oom_killed(podman, is_vigil):
    """podman 4.3.1 sets OOMKilled iff <bundle>/oom exists.  vigil writes it there; conmon
    2.1.6 writes it to its cwd instead, so podman reports false (podman#13102, conmon#504)."""
    n = podman.name()
    r = podman("run", "--name", n, "--memory", "20m", "--memory-swap", "20m", IMAGE, "sh", "-c",
               "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}", timeout=120)
    assert r.returncode == 137, r.err
    r = podman("inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", n, check=True)
    assert r.out.split() == [("true" if is_vigil else "false"), "137"]
    podman("rm", n, check=True)


@vigil_only
def test_conmon_pidfile_in_missing_dir_creates_no_container(podman, tmp_path):
    """podman passes --conmon-pidfile through; the monitor used to report the failure only
    after forking, and its daemon went on to create a container podman knew nothing of."""
    n = podman.name()
    pidfile = str(tmp_path / "no" / "such" / "conmon.pid")
    r = podman("run", "-d", "--name", n, "--conmon-pidfile", pidfile, IMAGE, "sleep", "60")
    assert r.returncode != 0
    cid = podman("inspect", "--format", "{{.ID}}", n, check=True).out.strip()
    try:
        # A monitor forked before the first process exited would still be there.
        assert m.pids_with_arg(cid) == []
        assert cid not in subprocess.run(["runc", "list", "-q"], capture_output=True, text=True).stdout
    finally:
        # podman's rm does not know about such a container: remove it here.
        subprocess.run(["runc", "delete", "--force", cid], capture_output=True, timeout=30)
        for pid in m.pids_with_arg(cid):
            os.kill(pid, 9)
    assert f"Cannot write the --conmon-pidfile {pidfile}: No such file or directory" in r.err
