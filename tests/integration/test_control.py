# SPDX-License-Identifier: GPL-2.0-or-later
"""The control socket (Varlink, io.vigil.Monitor) and vigilctl against real runc containers.

Protocol conformance is checked with varlink_client.py, written from the wire format and
independent of vigilctl; vigilctl gets its own tests at the end.
"""
import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import threading
import time

import pytest

import monitor as m
import varlink_client as vc
from conftest import BUILD_DIR, vigil_only

pytestmark = vigil_only

IFACE = "io.vigil.Monitor."
VIGILCTL = os.path.join(BUILD_DIR, "vigilctl")
NOBODY = 65534


def sock_path(c):
    return os.path.join(c.bundle, "vigil.sock")


def running(container, args=("sleep", "60"), **kw):
    c = container(list(args), **kw)
    c.create()
    c.start()
    return c


def state(c):
    with vc.Connection(sock_path(c)) as conn:
        return conn.call(IFACE + "GetState")["state"]


def maps_json_glib(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libjson-glib" in f.read()


def vigilctl(*args, timeout=20, check=False):
    return subprocess.run([VIGILCTL, *args], capture_output=True, text=True, timeout=timeout, check=check)


# --- the socket --------------------------------------------------------------------------------

def test_socket_before_pid_and_removed_at_exit(container):
    c = container(["sh", "-c", "sleep 0.5"])
    c.create()
    # The pid has just been reported: the socket is already there, 0600, owned by us.
    st = os.stat(sock_path(c))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert st.st_uid == os.geteuid()
    s = state(c)
    assert s["status"] == "created"
    assert s["pid"] == c.container_pid
    assert s["monitor_pid"] == c.monitor_pid
    assert s["id"] == c.cid and s["name"] == c.name and s["bundle"] == c.bundle
    assert "started" not in s and "created" in s
    c.start()
    assert c.wait_exit() == 0
    c.wait_monitor_gone()
    assert not os.path.exists(sock_path(c))


def test_idle_monitor_does_not_map_json_glib(container):
    c = running(container)
    time.sleep(0.2)
    assert not maps_json_glib(c.monitor_pid)
    # A connection alone does not load it either; the first message does.
    with vc.Connection(sock_path(c)) as conn:
        time.sleep(0.1)
        assert not maps_json_glib(c.monitor_pid)
        conn.call(IFACE + "GetState")
        assert maps_json_glib(c.monitor_pid)


def test_control_socket_option(container, tmp_path):
    path = str(tmp_path / "ctl" / "x.sock")
    os.makedirs(os.path.dirname(path))
    c = running(container, opts=["--control-socket", path])
    assert not os.path.exists(sock_path(c))
    with vc.Connection(path) as conn:
        assert conn.call(IFACE + "GetState")["state"]["pid"] == c.container_pid
    d = running(container, opts=["--control-socket", "none"])
    assert not os.path.exists(sock_path(d))
    os.kill(c.container_pid, signal.SIGKILL)
    c.wait_exit()
    c.wait_monitor_gone()
    assert not os.path.exists(path)


# --- methods -------------------------------------------------------------------------------------

def test_service_introspection(container):
    c = running(container)
    with vc.Connection(sock_path(c)) as conn:
        info = conn.call("org.varlink.service.GetInfo")
        for key in ("vendor", "product", "version", "url"):
            assert isinstance(info[key], str)
        assert info["interfaces"] == ["org.varlink.service", "io.vigil.Monitor"]
        for iface in info["interfaces"]:
            desc = conn.call("org.varlink.service.GetInterfaceDescription", {"interface": iface})
            assert f"\ninterface {iface}\n" in "\n" + desc["description"]
        desc = conn.call("org.varlink.service.GetInterfaceDescription",
                         {"interface": "io.vigil.Monitor"})["description"]
        for method in ("GetState", "Wait", "Kill", "Resize", "ReopenLog", "GetStats", "Subscribe"):
            assert f"method {method}(" in desc
        with pytest.raises(vc.VarlinkError) as e:
            conn.call("org.varlink.service.GetInterfaceDescription", {"interface": "org.example.None"})
        assert e.value.error == "org.varlink.service.InterfaceNotFound"
        assert e.value.parameters == {"interface": "org.example.None"}


def test_state_times_and_running(container):
    c = running(container)
    s = m.wait_for(lambda: (lambda s: s if s["status"] == "running" else None)(state(c)), 5,
                   what="status running")
    assert s["pid"] == c.container_pid
    assert s["created"] <= s["started"]
    for key in ("created", "started"):
        assert s[key].endswith("Z") and "T" in s[key]
    assert s["oom"] is False
    assert "exit_code" not in s and "finished" not in s


def test_kill_and_errors(container):
    c = running(container)
    with vc.Connection(sock_path(c)) as conn:
        assert conn.call(IFACE + "Kill", {"signal": 0}) == {}
        for params, bad in (({"signal": "KILL"}, "signal"), ({}, "signal"), ({"signal": 1.0}, "signal"),
                            ({"signal": 9999}, "signal"), ({"signal": 9, "extra": 1}, "extra")):
            with pytest.raises(vc.VarlinkError) as e:
                conn.call(IFACE + "Kill", params)
            assert e.value.error == "org.varlink.service.InvalidParameter"
            assert e.value.parameters == {"parameter": bad}
        with pytest.raises(vc.VarlinkError) as e:
            conn.call(IFACE + "NoSuchMethod")
        assert e.value.error == "org.varlink.service.MethodNotFound"
        with pytest.raises(vc.VarlinkError) as e:
            conn.call(IFACE + "Resize", {"rows": 24, "cols": 80})
        assert e.value.error == IFACE + "NoTerminal"
        assert m.pid_alive(c.container_pid)
        # Kill and Wait sent together: the Wait may still be unread when the exit is seen.
        conn.send(IFACE + "Kill", {"signal": signal.SIGKILL})
        conn.send(IFACE + "Wait")
        assert conn.reply() == ({}, False)
        r, _ = conn.reply()
    assert (r["exit_code"], r["signal"], r["oom"]) == (137, 9, False)
    assert c.wait_exit() == 137


def test_resize_with_terminal(container):
    c = container(["sh", "-c", "sleep 1; stty size"], opts=["-t"],
                  mutate=lambda cfg: cfg["process"].__setitem__("terminal", True))
    c.create()
    with vc.Connection(sock_path(c)) as conn:
        assert conn.call(IFACE + "Resize", {"rows": 33, "cols": 101}) == {}
    c.start()
    assert c.wait_exit() == 0
    _, streams = m.parse_k8s_log(c.read_log())
    assert b"33 101" in streams["stdout"]


def test_reopen_log_and_stats(container):
    c = running(container, ["sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done"])
    m.wait_for(lambda: os.path.exists(c.log_path) and os.path.getsize(c.log_path) > 0, 5, what="log")
    os.rename(c.log_path, c.log_path + ".old")
    with vc.Connection(sock_path(c)) as conn:
        assert conn.call(IFACE + "ReopenLog") == {}
        m.wait_for(lambda: os.path.exists(c.log_path) and os.path.getsize(c.log_path) > 0, 5,
                   what="reopened log")
        stats = conn.call(IFACE + "GetStats")["stats"]
    log = stats["log"]
    assert log["stdout"]["bytes"] > 0 and log["stdout"]["lines"] > 0
    assert log["stderr"] == {"bytes": 0, "lines": 0}
    assert log["bytes_dropped"] == 0
    assert log["records_dropped"] == 0
    assert stats["attach"] == {"clients": 0, "dropped": 0}
    assert stats["monitor"]["rss_bytes"] > 0
    assert stats["monitor"]["control_clients"] == 1
    cg = stats["cgroup"]
    # Whatever the host lets us read must be plausible.
    if "pids" in cg:
        assert cg["pids"] >= 1
    if "memory_bytes" in cg:
        assert cg["memory_bytes"] > 0


def open_fd_of(pid, path):
    """/proc/PID/fd/N for the descriptor PID holds on @path (it stays usable once deleted)."""
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, name)) == path:
                return os.path.join(fd_dir, name)
        except FileNotFoundError:
            pass
    raise AssertionError(f"monitor {pid} has no descriptor on {path}")


def test_reopen_log_failure_reported(container, tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    path = str(log_dir / "ctr.log")
    c = running(container, ["sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done"],
                log=["k8s-file:" + path])
    m.wait_for(lambda: os.path.getsize(path) > 0, 5, what="log")
    old_log = open_fd_of(c.monitor_pid, path)
    shutil.rmtree(log_dir)
    with vc.Connection(sock_path(c)) as conn:
        with pytest.raises(vc.VarlinkError) as e:
            conn.call(IFACE + "ReopenLog")
        assert e.value.error == IFACE + "OperationFailed"
        assert e.value.parameters == {"errno": errno.ENOENT, "message": os.strerror(errno.ENOENT),
                                      "path": path}
        # Still running, and still logging to the file it had (stat follows the fd link).
        size = os.stat(old_log).st_size
        m.wait_for(lambda: os.stat(old_log).st_size > size, 5, what="more output in the old log")
        assert conn.call(IFACE + "GetState")["state"]["status"] != "stopped"
    r = vigilctl("reopen-log", c.bundle)
    assert r.returncode == 1
    assert "io.vigil.Monitor.OperationFailed" in r.stderr and path in r.stderr
    assert m.pid_alive(c.monitor_pid)


# --- Wait and Subscribe -------------------------------------------------------------------------------

def test_many_waiters_and_subscribers(container):
    c = running(container)
    waiters, subscribers = [], []
    for _ in range(5):
        conn = vc.Connection(sock_path(c), timeout=20)
        conn.send(IFACE + "Wait")
        waiters.append(conn)
    for _ in range(3):
        conn = vc.Connection(sock_path(c), timeout=20)
        stream = conn.stream(IFACE + "Subscribe")
        first = next(stream)["event"]
        assert first["type"] == "subscribed" and first["text"] in ("created", "running")
        subscribers.append((conn, stream))
    results = {}

    def wait(i, conn):
        params, continues = conn.reply()
        # When Wait returns, the exit file is already there to read.
        results[i] = (params, os.path.exists(c.exit_file), continues)

    threads = [threading.Thread(target=wait, args=(i, w)) for i, w in enumerate(waiters)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    assert not results, "Wait returned before the container exited"
    with vc.Connection(sock_path(c)) as conn:
        # pid 1 of a pid namespace ignores SIGTERM without a handler: KILL it.
        conn.call(IFACE + "Kill", {"signal": signal.SIGKILL})
    for t in threads:
        t.join(20)
    assert len(results) == 5
    for params, exit_file_written, continues in results.values():
        assert params["exit_code"] == 137 and params["signal"] == 9 and params["oom"] is False
        assert params["finished"].endswith("Z")
        assert exit_file_written and not continues
    for conn, stream in subscribers:
        events = list(stream)
        assert events[-1]["event"]["type"] == "exited"
        assert events[-1]["event"]["exit_code"] == 137
        types = [e["event"]["type"] for e in events]
        assert types.count("exited") == 1
    for conn in waiters + [s[0] for s in subscribers]:
        conn.close()
    c.wait_monitor_gone()


def test_wait_exit_code_and_started_event(container):
    c = container(["sh", "-c", "sleep 0.3; exit 7"])
    c.create()
    with vc.Connection(sock_path(c), timeout=20) as sub, vc.Connection(sock_path(c), timeout=20) as w:
        stream = sub.stream(IFACE + "Subscribe")
        assert next(stream)["event"]["type"] == "subscribed"
        w.send(IFACE + "Wait")
        c.start()
        events = [e["event"] for e in stream]
        params, _ = w.reply()
    types = [e["type"] for e in events]
    assert types[0] == "started" and events[0]["pid"] == c.container_pid
    assert types[-1] == "exited"
    assert params["exit_code"] == 7 and params["signal"] == 0


def test_log_rotated_event(container):
    script = "sleep 0.3; i=0; while [ $i -lt 200 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
    c = container(["sh", "-c", script], opts=("--log-size-max", "2000", "--log-rotate", "--log-max-files", "3"))
    c.create()
    with vc.Connection(sock_path(c), timeout=20) as sub:
        stream = sub.stream(IFACE + "Subscribe")
        assert next(stream)["event"]["type"] == "subscribed"
        c.start()
        types = [e["event"]["type"] for e in stream]
    assert types.count("log-rotated") >= 3
    assert types[-1] == "exited"


def test_subscribe_needs_more_and_oneway(container):
    c = running(container)
    with vc.Connection(sock_path(c)) as conn:
        with pytest.raises(vc.VarlinkError) as e:
            conn.call(IFACE + "Subscribe")
        assert e.value.error == "org.varlink.service.ExpectedMore"
        # oneway: no reply, the call still happens.
        conn.send(IFACE + "Kill", {"signal": 0}, oneway=True)
        assert "version" in conn.call("org.varlink.service.GetInfo")


# --- robustness and authorisation ----------------------------------------------------------------------

GARBAGE = [b"\0", b"{\0", b"[]\0", b"null\0", b"{\"method\": 1}\0", b"\xff\xfe\0",
           b"{\"method\": \"io.vigil.Monitor.GetState\", \"more\": 3}\0",
           b"[" * 50000 + b"\0", b" " * 200000]


def test_garbage_survived(container):
    c = running(container)
    for junk in GARBAGE:
        with vc.Connection(sock_path(c)) as conn:
            try:
                conn.send_raw(junk)
                msg = conn.receive(timeout=5)
                assert "error" in msg, msg
            except (vc.Closed, BrokenPipeError, ConnectionResetError):
                pass
    # A half-sent message neither blocks other clients nor the monitor.
    half = vc.Connection(sock_path(c))
    half.send_raw(b'{"method": "io.vigil.Monitor.GetSt')
    assert state(c)["status"] == "running"
    half.send_raw(b'ate"}\0')
    assert half.reply()[0]["state"]["pid"] == c.container_pid
    half.close()
    # A client that sends without ever reading is dropped; others are still served.
    hog = vc.Connection(sock_path(c))
    hog.sock.setblocking(False)
    dropped = False
    deadline = time.monotonic() + 15
    while not dropped and time.monotonic() < deadline:
        try:
            hog.sock.send(b'{"method": "io.vigil.Monitor.GetState"}\0' * 100)
        except BlockingIOError:
            time.sleep(0.01)
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
    assert dropped, "a client that never reads was not dropped"
    hog.close()
    assert state(c)["status"] == "running"
    assert m.pid_alive(c.monitor_pid)


def test_client_limit(container):
    c = running(container)
    conns = [vc.Connection(sock_path(c)) for _ in range(40)]
    served = 0
    for conn in conns:
        try:
            conn.call("org.varlink.service.GetInfo", timeout=5)
            served += 1
        except (vc.Closed, ConnectionResetError, BrokenPipeError):
            pass
    assert 1 <= served < 40
    for conn in conns:
        conn.close()
    time.sleep(0.2)
    assert state(c)["status"] == "running"


def test_held_connections_do_not_lock_out(container):
    c = running(container)
    # A full table of connections that never send a byte: each new caller evicts one.
    silent = [vc.Connection(sock_path(c)) for _ in range(32)]
    for _ in range(3):
        assert state(c)["status"] in ("created", "running")
    for conn in silent:
        conn.close()
    # Idle subscribers: 24 at most, the rest are told so, and GetState still gets through.
    subscribers, refused = [], 0
    for _ in range(32):
        conn = vc.Connection(sock_path(c))
        try:
            first = next(conn.stream(IFACE + "Subscribe"))
            assert first["event"]["type"] == "subscribed"
            subscribers.append(conn)
        except vc.VarlinkError as e:
            assert e.error == IFACE + "TooManyWaiters" and e.parameters == {"limit": 24}
            refused += 1
            conn.close()
    assert len(subscribers) == 24 and refused == 8
    for _ in range(3):
        assert state(c)["status"] in ("created", "running")
    for conn in subscribers:
        conn.close()
    assert m.pid_alive(c.monitor_pid)


def connect_as(uid, bundle):
    """In a child with @uid: connect to vigil.sock and read; returns what it saw."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.chdir(bundle)  # the bundle's parents may be closed to others
            os.setgid(uid)
            os.setuid(uid)
            import socket
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect("vigil.sock")
            except PermissionError:
                os.write(w, b"EACCES")
                os._exit(0)
            s.settimeout(5)
            # The monitor answers and closes at once: our send may find it gone already.
            time.sleep(0.2)
            try:
                s.sendall(b'{"method": "io.vigil.Monitor.GetState"}\0')
            except OSError:
                pass
            data = b""
            while True:
                try:
                    chunk = s.recv(65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                data += chunk
            os.write(w, b"READ:" + data)
        finally:
            os._exit(0)
    os.close(w)
    out = b""
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return out


def test_unauthorised_uid_refused(container):
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another uid")
    c = running(container)
    # The file mode keeps others out...
    assert connect_as(NOBODY, c.bundle) == b"EACCES"
    # ...and with the mode opened up, SO_PEERCRED still does.
    os.chmod(sock_path(c), 0o666)
    try:
        out = connect_as(NOBODY, c.bundle)
    finally:
        os.chmod(sock_path(c), 0o600)
    assert out.startswith(b"READ:")
    assert b"org.varlink.service.PermissionDenied" in out and b'"state"' not in out
    assert state(c)["status"] == "running"


# --- vigilctl ----------------------------------------------------------------------------------

def test_vigilctl_state_stats_json(container):
    c = running(container)
    r = vigilctl("state", c.bundle, check=True)
    assert f"pid:" in r.stdout and str(c.container_pid) in r.stdout
    r = vigilctl("--json", "state", sock_path(c), check=True)
    assert json.loads(r.stdout)["pid"] == c.container_pid
    r = vigilctl("stats", "--json", c.bundle, check=True)
    assert "log" in json.loads(r.stdout)
    r = vigilctl("stats", c.bundle, check=True)
    assert "monitor.rss_bytes:" in r.stdout
    r = vigilctl("resize", c.bundle, "24", "80")
    assert r.returncode == 1 and "NoTerminal" in r.stderr
    assert vigilctl("bogus", c.bundle).returncode == 2
    assert vigilctl("state", "/nonexistent/vigil.sock").returncode == 1
    assert vigilctl("reopen-log", c.bundle).returncode == 0


def test_vigilctl_events_and_wait(container):
    c = running(container, ["sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.1; done"])
    events = subprocess.Popen([VIGILCTL, "events", c.bundle], stdout=subprocess.PIPE, text=True)
    jevents = subprocess.Popen([VIGILCTL, "events", "--json", c.bundle], stdout=subprocess.PIPE, text=True)
    waiter = subprocess.Popen([VIGILCTL, "wait", c.bundle], stdout=subprocess.PIPE, text=True)
    # Live: the first line arrives while the container still runs.
    first = events.stdout.readline()
    assert " subscribed " in first
    m.wait_for(lambda: state(c)["status"] == "running", 5, what="running")
    time.sleep(0.3)
    assert vigilctl("kill", c.bundle, "TERM").returncode == 0
    out, _ = events.communicate(timeout=20)
    jout, _ = jevents.communicate(timeout=20)
    wout, _ = waiter.communicate(timeout=20)
    assert events.returncode == 0
    assert "exited exit_code=42 signal=0" in out.strip().splitlines()[-1]
    last = json.loads(jout.strip().splitlines()[-1])
    assert last["type"] == "exited" and last["exit_code"] == 42
    assert waiter.returncode == 42 and "exited with code 42" in wout
