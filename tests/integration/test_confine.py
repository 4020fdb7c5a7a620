# SPDX-License-Identifier: GPL-2.0-or-later
"""The confined run phase (src/confine.h, src/spawner.h) on a real monitor and real runc:
what /proc shows, a forbidden call made inside the monitor, and the spawner that still runs
the exit command and `runtime start`."""
import os
import shutil
import subprocess

import pytest

import monitor as m
from conftest import vigil_only

pytestmark = vigil_only

# CAP_KILL, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_SYS_RESOURCE, of those the
# tests run with (a container's bounding set may lack some).
with open("/proc/self/status") as _f:
    _OWN = int([l for l in _f if l.startswith("CapEff:")][0].split()[1], 16)
KEPT_CAPS = ((1 << 5) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 24)) & _OWN


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def children(pid):
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def spawner_of(c):
    """The monitor's child that is itself a copy of the monitor (not the container's init)."""
    own = os.path.realpath(c.env.monitor)
    found = [p for p in children(c.monitor_pid) if os.path.realpath(exe_of(p)) == own]
    assert len(found) == 1, f"spawner among children {children(c.monitor_pid)}"
    return found[0]


def test_running_monitor_is_confined(container):
    c = container(["sleep", "60"], exit_command=["/bin/true"])
    c.create()
    c.start()
    st = proc_status(c.monitor_pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    assert int(st["CapEff"], 16) == KEPT_CAPS
    assert int(st["CapPrm"], 16) == KEPT_CAPS
    assert int(st["CapBnd"], 16) == KEPT_CAPS
    # The spawner keeps what the monitor gave up, to run the exit command.
    sp = proc_status(spawner_of(c))
    assert sp["Seccomp"] == "0"
    assert int(sp["CapEff"], 16) != KEPT_CAPS
    c.runc("kill", c.cid, "KILL")
    assert c.wait_exit() == 137


def test_seccomp_off(container):
    c = container(["sleep", "60"], exit_command=["/bin/true"], opts=["--seccomp=off"])
    c.create()
    st = proc_status(c.monitor_pid)
    assert st["Seccomp"] == "0" and st["NoNewPrivs"] == "0"
    c.runc("kill", c.cid, "KILL")
    assert c.wait_exit() == 137


def test_seccomp_mode_from_environment(container):
    c = container(["sleep", "60"])
    c.create(extra_env={"VIGIL_SECCOMP": "log"})
    assert proc_status(c.monitor_pid)["Seccomp"] == "2"
    c.runc("kill", c.cid, "KILL")
    assert c.wait_exit() == 137


def test_bad_seccomp_mode_fails_before_create(container):
    c = container(["true"], opts=["--seccomp=maybe"])
    c.spawn()
    rc = c.proc.wait(15)
    out, err = c.proc.out()
    assert rc != 0
    assert "--seccomp" in err and "maybe" in err
    assert not os.path.exists(c.pidfile)


def gdb_call(pid, expr):
    """Make the monitor itself run @expr (a libc call) and return what it printed."""
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx",
                        "-ex", "handle SIGSYS nostop noprint pass",
                        "-ex", f"print (int) {expr}",
                        "-ex", "print (int) *(int *) __errno_location()"],
                       capture_output=True, text=True, timeout=120)
    values = [line.split("=", 1)[1].strip() for line in r.stdout.splitlines() if line.startswith("$")]
    assert len(values) == 2, r.stdout + r.stderr
    return [int(v) for v in values]


@pytest.mark.skipif(not shutil.which("gdb"), reason="gdb is not installed")
def test_forbidden_call_fails_inside_the_monitor(container):
    """execve and unshare, made by the monitor process itself (gdb calls them in it), fail with
    EPERM, each is logged once, and the monitor goes on: the container's exit is recorded."""
    c = container(["sleep", "60"], opts=["--sync"], exit_command=["/bin/true"])
    c.create()
    c.start()
    EPERM = 1
    assert gdb_call(c.monitor_pid, 'execve("/bin/true", 0, 0)') == [-1, EPERM]
    assert gdb_call(c.monitor_pid, "unshare(0x20000)") == [-1, EPERM]
    assert gdb_call(c.monitor_pid, 'execve("/bin/true", 0, 0)') == [-1, EPERM]
    # Allowed calls still work.
    assert gdb_call(c.monitor_pid, "getppid()")[0] > 0
    c.runc("kill", c.cid, "KILL")
    assert c.wait_exit() == 137
    c.proc.wait(15)
    _, err = c.proc.out()
    assert err.count("seccomp: execve") == 1, err
    assert err.count("seccomp: unshare") == 1, err


def test_start_and_exit_command_through_the_spawner(container, tmp_path):
    """--start runs `runtime start` and the exit command still runs, both after the monitor
    is confined."""
    marker = tmp_path / "exit-command-ran"
    c = container(["sh", "-c", "echo started; exit 3"], opts=["--start"],
                  exit_command=["/bin/sh", "-c", f"echo $$ > {marker}"])
    c.create()
    assert c.wait_exit() == 3
    m.wait_for(lambda: marker.exists() and marker.read_text().strip(), 15, what="exit command")
    assert m.parse_k8s_log(c.read_log())[1]["stdout"] == b"started\n"
    c.wait_monitor_gone()
