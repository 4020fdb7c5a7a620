# SPDX-License-Identifier: GPL-2.0-or-later
"""Discovery (issue 13): every monitor registers its control socket in the registry
(VIGIL_REGISTRY_DIR, here under the test scratch) by id and name; vigilctl finds monitors by
name, id or id prefix, lists them (ps, top) and waits for readiness (wait --ready).

Driven directly, as podman would, with real runc; test_registry_podman.py does the same
through podman 4.3.1."""
import errno
import json
import os
import shutil
import signal
import socket
import subprocess

import pytest

import monitor as m
import varlink_client as vc
from conftest import BUILD_DIR, vigil_only

pytestmark = vigil_only

IFACE = "io.vigil.Monitor."
VIGILCTL = os.path.join(BUILD_DIR, "vigilctl")
SUN_PATH_MAX = 107


def vigilctl(*args, timeout=30, env=None):
    return subprocess.run([VIGILCTL, *args], capture_output=True, text=True, timeout=timeout, env=env)


def id_entry(cid, registry=None):
    return os.path.join(registry or m.REGISTRY_DIR, cid + ".sock")


def name_entry(name, registry=None):
    return os.path.join(registry or m.REGISTRY_DIR, "by-name", name + ".sock")


def set_cid(c, cid):
    c.cid = cid
    c.exit_file = os.path.join(c.exit_dir, cid)


def running(container, args=("sleep", "60"), cid=None, **kw):
    c = container(list(args), **kw)
    if cid:
        set_cid(c, cid)
    c.create()
    c.start()
    return c


def raw_call(path, method):
    """A plain socket.connect() on the short address: no /proc/self/fd trick, no library."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(path)
        s.sendall(json.dumps({"method": method, "parameters": {}}).encode() + b"\0")
        buf = b""
        while not buf.endswith(b"\0"):
            chunk = s.recv(65536)
            assert chunk, "connection closed before the reply"
            buf += chunk
        return json.loads(buf[:-1])
    finally:
        s.close()


def test_registered_before_pid_and_removed_at_exit(container):
    c = container(["sh", "-c", "sleep 1"])
    c.create()
    # The pid has just been reported: both entries are there, short, and lead to the socket.
    path = id_entry(c.cid)
    assert len(path) <= SUN_PATH_MAX
    assert os.readlink(path) == os.path.join(c.bundle, "vigil.sock")
    assert os.readlink(name_entry(c.name)) == "../" + c.cid + ".sock"
    st = raw_call(path, IFACE + "GetState")["parameters"]["state"]
    assert st["id"] == c.cid and st["pid"] == c.container_pid
    st = raw_call(name_entry(c.name), IFACE + "GetState")["parameters"]["state"]
    assert st["name"] == c.name
    c.start()
    assert c.wait_exit() == 0
    c.wait_monitor_gone()
    assert not os.path.lexists(path)
    assert not os.path.lexists(name_entry(c.name))


def test_any_varlink_client_by_short_address(container):
    c = running(container)
    path = id_entry(c.cid)
    # The project's own client, and a plain connect() with the path in sockaddr_un.
    with vc.Connection(path) as conn:
        assert conn.call(IFACE + "GetState")["state"]["id"] == c.cid
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.close()
    reply = raw_call(path, "org.varlink.service.GetInfo")
    assert IFACE.rstrip(".") in reply["parameters"]["interfaces"]


def test_varlinkctl_by_short_address(container):
    varlinkctl = shutil.which("varlinkctl")
    if not varlinkctl:
        pytest.skip("varlinkctl is not installed (systemd >= 255; Debian 12 has 252): "
                    "the other clients are checked by test_any_varlink_client_by_short_address")
    c = running(container)
    r = subprocess.run([varlinkctl, "call", "unix:" + id_entry(c.cid), IFACE + "GetState", "{}"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"]["id"] == c.cid


def test_stale_entries_after_sigkill_are_skipped_and_removed(container):
    refused = running(container)        # its socket stays, nobody listens: ECONNREFUSED
    gone = running(container)           # its socket is removed too: the link leads nowhere
    live = running(container)
    for c in (refused, gone):
        os.kill(c.monitor_pid, signal.SIGKILL)
        c.wait_monitor_gone()
        assert os.path.lexists(id_entry(c.cid)) and os.path.lexists(name_entry(c.name))
    os.unlink(os.path.join(gone.bundle, "vigil.sock"))

    r = vigilctl("ps", "--json")
    assert r.returncode == 0, r.stderr
    ids = [row["id"] for row in json.loads(r.stdout)]
    assert live.cid in ids and refused.cid not in ids and gone.cid not in ids
    for c in (refused, gone):
        assert not os.path.lexists(id_entry(c.cid))
        assert not os.path.lexists(name_entry(c.name))
    assert os.path.lexists(id_entry(live.cid))


def test_stale_name_is_unknown(container):
    c = running(container)
    os.kill(c.monitor_pid, signal.SIGKILL)
    c.wait_monitor_gone()
    r = vigilctl("state", c.name)
    assert r.returncode == 3, r.stderr
    assert f'no container with the name, id or id prefix "{c.name}"' in r.stderr
    assert not os.path.lexists(name_entry(c.name))


def test_name_id_prefix_and_ambiguous(container):
    prefix = os.urandom(4).hex()
    a = running(container, cid=prefix + "a" + os.urandom(27).hex()[:55])
    b = running(container, cid=prefix + "b" + os.urandom(27).hex()[:55])

    def pid_of(target):
        r = vigilctl("--json", "state", target)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)["pid"]

    assert pid_of(a.cid) == a.container_pid
    assert pid_of(b.name) == b.container_pid
    assert pid_of(prefix + "a") == a.container_pid
    assert pid_of(b.cid[:20]) == b.container_pid
    # Paths still work: the bundle, and the socket.
    assert pid_of(a.bundle) == a.container_pid
    assert pid_of(os.path.join(b.bundle, "vigil.sock")) == b.container_pid

    r = vigilctl("state", prefix)
    assert r.returncode == 4, r.stderr
    assert "ambiguous" in r.stderr and a.cid in r.stderr and b.cid in r.stderr
    r = vigilctl("state", "no-such-container-" + prefix)
    assert r.returncode == 3 and "no container" in r.stderr
    # Every command resolves the same way.
    assert vigilctl("kill", b.name, "0").returncode == 0
    assert vigilctl("stats", prefix + "b").returncode == 0


def test_ps_table_and_json(container):
    cs = [running(container, ["sh", "-c", "echo hello; sleep 60"]) for _ in range(2)]
    m.wait_for(lambda: all(os.path.exists(c.log_path) and b"hello" in c.read_log() for c in cs), 10,
               what="output logged")
    r = vigilctl("ps")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = lines[0]
    assert header.split() == ["ID", "NAME", "MONITOR", "PID", "STATE", "UPTIME", "EXIT", "LOG", "NOTIFY",
                              "HEALTH", "STATUS"]
    for c in cs:
        row = next(line for line in lines if line.split()[1] == c.name)
        assert row.startswith(c.cid[:12] + " ")
        # Aligned: every column starts where its header does.
        assert row[header.index("NAME"):].startswith(c.name)
        assert row[header.index("PID"):].split()[0] == str(c.container_pid)
        assert row[header.index("MONITOR"):].split()[0] == str(c.monitor_pid)
        assert row[header.index("STATE"):].split()[0] == "running"
        assert row[header.index("LOG"):].split()[0] == "6B"
        assert row[header.index("NOTIFY"):].split()[0] == "-"
    rows = {row["id"]: row for row in json.loads(vigilctl("ps", "--json").stdout)}
    for c in cs:
        row = rows[c.cid]
        assert row["name"] == c.name and row["pid"] == c.container_pid
        assert row["monitor_pid"] == c.monitor_pid and row["status"] == "running"
        assert row["log_bytes"] == 6 and row["exit_code"] is None and row["notify"] is None
        assert row["uptime_sec"] >= 0


def test_top_no_stream(container):
    cs = [running(container, ["sh", "-c", "while true; do echo tick; sleep 0.05; done"]) for _ in range(2)]
    r = vigilctl("top", "--no-stream", "--interval", "500ms")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "\033" not in r.stdout
    assert lines[0].split() == ["ID", "NAME", "STATE", "CPU%", "MEM", "PIDS", "LOG/s", "MON-CPU%", "MON-MEM"]
    for c in cs:
        assert any(line.startswith(c.cid[:12]) and line.split()[1] == c.name for line in lines)
    rows = {row["id"]: row for row in json.loads(vigilctl("top", "--no-stream", "--json",
                                                          "--interval", "500ms").stdout)}
    for c in cs:
        row = rows[c.cid]
        assert row["status"] == "running"
        assert row["log_bytes_per_sec"] > 0
        assert row["monitor_memory_bytes"] > 0
        assert row["pids"] >= 1


def test_top_refreshes_in_place(container):
    c = running(container)
    p = subprocess.Popen([VIGILCTL, "top", "--interval", "200ms"], stdout=subprocess.PIPE, text=True)
    try:
        out = os.read(p.stdout.fileno(), 65536).decode()
        while out.count("\033[H\033[2J") < 2:
            out += os.read(p.stdout.fileno(), 65536).decode()
    finally:
        p.kill()
        p.wait()
    assert c.name in out


@pytest.mark.parametrize("asked", [False, True])
def test_exec_sessions_register_only_when_asked(container, asked):
    from test_exec_tty import ExecSession
    c = running(container)
    before = sorted(os.listdir(m.REGISTRY_DIR))
    e = ExecSession(c, ["sh", "-c", "sleep 1"], attach=False, opts=["--registry-exec"] if asked else [])
    e.begin()
    entry = os.path.join(m.REGISTRY_DIR, "exec", e.sid + ".sock")
    # While the session runs: registered under its session id, or not at all.
    assert os.path.exists(entry) == asked
    assert sorted(os.listdir(m.REGISTRY_DIR)) == before + (["exec"] if asked and "exec" not in before else [])
    assert os.path.lexists(id_entry(c.cid))
    if asked:
        with vc.Connection(entry) as conn:
            st = conn.call(IFACE + "GetState")["state"]
        assert st["id"] == c.cid and st["pid"] == e.pid
    assert e.exit_code() == 0
    m.wait_for(lambda: e.proc.poll() is not None, 15, what="the exec monitor to exit")
    assert not os.path.lexists(entry)
    assert os.path.lexists(id_entry(c.cid))


def test_wait_ready_without_notify_says_why(container):
    c = running(container)
    for timeout in ("5s", "0"):
        r = vigilctl("wait", "--ready", c.name, "--timeout", timeout)
        assert r.returncode == 5
        assert "cannot report readiness" in r.stderr


def test_default_registry_location(container):
    """Without a setting, root's monitors register in /run/vigil.  Cleans up what it made."""
    existed = os.path.exists("/run/vigil")
    default = {"VIGIL_REGISTRY_DIR": ""}
    env = dict(os.environ, VIGIL_REGISTRY_DIR="")
    try:
        c = container(["sleep", "60"])
        c.spawn(extra_env=default)
        c.start_sock.send(b"\0")
        assert c.proc.wait(15) == 0
        with open(c.conmon_pidfile) as f:
            c.monitor_pid = int(f.read())
        c.container_pid = c.read_sync()["data"]
        assert os.readlink(id_entry(c.cid, "/run/vigil")) == os.path.join(c.bundle, "vigil.sock")
        r = vigilctl("--json", "state", c.name, env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["id"] == c.cid
        c.start()
        assert vigilctl("kill", c.cid, "KILL", env=env).returncode == 0
        c.wait_exit()
        c.wait_monitor_gone()
        assert not os.path.lexists(id_entry(c.cid, "/run/vigil"))
        assert not os.path.lexists(name_entry(c.name, "/run/vigil"))
    finally:
        if not existed:
            shutil.rmtree("/run/vigil", ignore_errors=True)


def test_wait_ready_healthy_mode_without_a_host(container):
    """Healthy mode: ready means the first passing health check, and the monitor decides
    that itself, so it needs no sd-notify socket anywhere (no host, nothing in the bundle)."""
    c = container(["sh", "-c", "sleep 3; touch /tmp/ok; sleep 60"])
    c.create(extra_env={"VIGIL_SDNOTIFY_MODE": "healthy", "VIGIL_HEALTH_CMD": "test -e /tmp/ok",
                        "VIGIL_HEALTH_INTERVAL": "200ms"})
    c.start()
    # --timeout 0 asks without waiting: not yet (6), and after the wait, ready (0).
    r = vigilctl("wait", "--ready", c.name, "--timeout", "0")
    assert r.returncode == 6 and "not ready yet" in r.stderr, r.stderr
    r = vigilctl("wait", "--ready", c.name, "--timeout", "30s")
    assert r.returncode == 0, r.stderr
    r = vigilctl("wait", "--ready", c.name, "--timeout", "0")
    assert (r.returncode, r.stdout) == (0, "ready\n"), r.stderr
    st = json.loads(vigilctl("--json", "state", c.name).stdout)
    assert st["health"]["status"] == "healthy" and st["notify"]["ready"] is True
    assert os.path.exists(os.path.join(c.bundle, "rootfs", "tmp", "ok"))


def test_socket_bound_in_the_registry_is_found_and_kept(container):
    """--control-socket may put a socket in the registry itself: found by its name there, and
    never removed as stale by a client (it is no link of ours)."""
    c = container(["sleep", "60"])
    os.makedirs(m.REGISTRY_DIR, exist_ok=True)
    sock = os.path.join(m.REGISTRY_DIR, "bound-" + os.urandom(4).hex() + ".sock")
    c.opts += ["--control-socket", sock]
    c.create()
    c.start()
    key = os.path.basename(sock)[:-len(".sock")]
    r = vigilctl("--json", "state", key)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["pid"] == c.container_pid
    os.kill(c.monitor_pid, signal.SIGKILL)
    c.wait_monitor_gone()
    assert vigilctl("state", key).returncode == 3
    assert vigilctl("ps").returncode == 0
    assert os.path.exists(sock)
    os.unlink(sock)


@pytest.mark.parametrize("how", ["symlink", "world-writable", "no-parent"])
def test_unusable_registry_does_not_fail_the_container(container, tmp_path, how):
    """A registry directory the monitor must not use (a symlink planted where it would be
    made, one that others may write in) or cannot make (its parent is missing) is reported;
    the container runs, and nothing is created where the symlink leads."""
    victim = tmp_path / "victim"
    victim.mkdir()
    registry = tmp_path / "registry"
    if how == "symlink":
        registry.symlink_to(victim)
    elif how == "world-writable":
        registry.mkdir()
        registry.chmod(0o777)
    else:
        registry = tmp_path / "missing" / "registry"
    c = container(["sleep", "60"], opts=["--sync"])
    c.create(extra_env={"VIGIL_REGISTRY_DIR": str(registry)})
    c.start()
    assert vigilctl("--json", "state", os.path.join(c.bundle, "vigil.sock")).returncode == 0
    assert os.listdir(victim) == []
    if how == "world-writable":
        assert os.listdir(registry) == []
    c.runc("kill", c.cid, "KILL")
    assert c.wait_exit() == 137
    c.proc.wait(15)
    _, err = c.proc.out()
    assert f"cannot register container {c.cid} in {registry}" in err, err


def test_ps_skips_a_monitor_with_a_malformed_state(tmp_path):
    """A reply without the members ps needs (bad input from whatever listens there) leaves the
    row out, with no GLib critical on the way."""
    sock_path = tmp_path / "vigil.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock_path))
    srv.listen(4)
    srv.settimeout(10)
    entry = id_entry("f00d" + os.urandom(4).hex())
    os.makedirs(m.REGISTRY_DIR, exist_ok=True)
    os.symlink(str(sock_path), entry)

    def serve():
        for _ in range(2):      # the liveness check, then ps' GetState
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                while True:     # GetState, then GetStats
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    for _ in range(chunk.count(b"\0")):
                        c.sendall(b'{"parameters":{}}\0')

    import threading
    t = threading.Thread(target=serve)
    t.start()
    try:
        r = vigilctl("ps", "--json")
    finally:
        t.join(15)
        srv.close()
        os.unlink(entry)
    assert r.returncode == 0, r.stderr
    assert "CRITICAL" not in r.stderr, r.stderr
    assert os.path.basename(entry)[:-len(".sock")] not in r.stdout
