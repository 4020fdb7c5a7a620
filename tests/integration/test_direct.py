# SPDX-License-Identifier: GPL-2.0-or-later
"""Drive the monitor directly, exactly as podman 4.3.1 does (see engine-contract.md), with
real runc 1.1.5 and a busybox rootfs."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import time

import pytest

import monitor as m
from conftest import IS_VIGIL, vigil_only

O_CLOEXEC = 0o2000000


# --- basic lifecycle -------------------------------------------------------------------------

def test_pid_and_pidfiles(container):
    c = container(["sh", "-c", "sleep 0.3"])
    c.create()
    # The pid on the sync pipe is the one runc wrote to -p.
    with open(c.pidfile) as f:
        assert int(f.read().strip()) == c.container_pid
    # The sync message is exactly one JSON line.
    assert re.fullmatch(rb'\{"data": ?\d+\}\n', c.sync_raw), c.sync_raw
    # conmon pidfile: digits only (checked in create), names the live monitor.
    assert m.pid_alive(c.monitor_pid)
    assert c.monitor_pid != c.proc.pid
    assert os.path.realpath(f"/proc/{c.monitor_pid}/exe") == os.path.realpath(c.env.monitor)
    # The container's init is (re-parented to) the monitor: it is a subreaper.
    with open(f"/proc/{c.container_pid}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    assert ppid == c.monitor_pid
    c.start()
    assert c.wait_exit() == 0
    c.wait_monitor_gone()


def test_bundle_files_exist_before_pid(container):
    c = container(["true"])
    c.create()
    assert m.is_socket(os.path.join(c.bundle, "attach"))
    assert m.is_fifo(os.path.join(c.bundle, "ctl"))
    assert m.is_fifo(os.path.join(c.bundle, "winsz"))
    c.start()
    assert c.wait_exit() == 0


@pytest.mark.parametrize("script,code,pidns", [
    ("exit 0", 0, True),
    ("exit 1", 1, True),
    ("exit 42", 42, True),
    # PID 1 of a pid namespace cannot signal itself to death: use the host pid namespace.
    ("kill -9 $$", 137, False),
    ("kill -TERM $$", 143, False),
])
def test_exit_codes(container, script, code, pidns):
    c = container(["sh", "-c", script], pidns=pidns)
    assert c.run() == code
    assert re.fullmatch(rb"-?\d+", c.exit_raw)  # digits only, no newline
    c.wait_monitor_gone()


def test_first_process_exits_quickly(container):
    c = container(["sleep", "5"])
    t0 = time.monotonic()
    c.create()
    assert time.monotonic() - t0 < 5
    c.runc("kill", c.cid, "KILL")
    assert c.wait_exit() == 137


# --- logs --------------------------------------------------------------------------------------

LOG_SCRIPT = r"""
printf 'line1\n'
printf '\n'
printf 'err1\n' >&2
printf 'abc'
sleep 0.2
printf 'def\n'
printf '\n\n' >&2
head -c 70000 /dev/zero | tr '\0' x
printf '\nafter-long\n'
printf 'err-partial' >&2
sleep 0.1
printf 'tail-no-newline'
"""


def test_k8s_log_byte_for_byte(container, is_vigil):
    c = container(["sh", "-c", LOG_SCRIPT])
    assert c.run() == 0
    c.wait_monitor_gone()
    data = c.read_log()
    records, streams = m.parse_k8s_log(data)
    assert streams["stdout"] == (b"line1\n\nabcdef\n" + b"x" * 70000 + b"\nafter-long\n"
                                 + b"tail-no-newline")
    assert streams["stderr"] == b"err1\n\n\nerr-partial"
    tags = [(s, t) for _, s, t, _ in records]
    assert ("stdout", "P") in tags
    # No terminating F record after the final partial line (podman's parser rejects it).
    assert records[-1][2] == "P" or records[-1][3] != b""
    # conmon splits at its 8192-byte read size (spec §3.2: long lines become several P
    # records).  podman's reader has no such limit and vigil (0.1.0) reads 64 KiB chunks, so
    # the record size is only checked for conmon.
    if not is_vigil:
        assert max(len(r[3]) for r in records) <= 8192
    mode = stat.S_IMODE(os.stat(c.log_path).st_mode)
    assert mode & 0o077 == mode & 0o040, oct(mode)  # 0600 (2.1.6) or 0640 (HEAD)


def test_log_size_max_truncates(container):
    n = 60
    script = "i=1; while [ $i -le %d ]; do printf 'line-%%03d\\n' $i; i=$((i+1)); done" % n
    c = container(["sh", "-c", script], opts=["--log-size-max", "400"])
    assert c.run() == 0
    c.wait_monitor_gone()
    data = c.read_log()
    assert len(data) <= 400
    _, streams = m.parse_k8s_log(data)
    lines = streams["stdout"].decode().splitlines()
    expected = ["line-%03d" % i for i in range(1, n + 1)]
    assert lines, "log is empty"
    assert lines[-1] == expected[-1]
    # What is left is a contiguous tail: the earlier content was dropped.
    assert lines == expected[-len(lines):]
    assert len(lines) < n


def test_log_none(container):
    c = container(["sh", "-c", "echo out; echo err >&2"], log=["none"])
    assert c.run() == 0
    c.wait_monitor_gone()
    assert not os.path.exists(c.log_path)
    assert [f for f in os.listdir(c.workdir) if f.endswith(".log")] == []


def test_log_passthrough(container):
    c = container(["sh", "-c", "echo pt-out; echo pt-err >&2; exit 5"], log=["passthrough"])
    assert c.run() == 5
    c.wait_monitor_gone()
    out, err = c.proc.out(timeout=10)
    assert out == "pt-out\n"
    assert err == "pt-err\n"
    assert not os.path.exists(c.log_path)


def test_log_repeated_last_k8s_file_wins(container):
    c = container(["sh", "-c", "echo twice"])
    first = os.path.join(c.workdir, "first.log")
    second = os.path.join(c.workdir, "second.log")
    c.log = ["k8s-file:" + first, "k8s-file:" + second]
    assert c.run() == 0
    c.wait_monitor_gone()
    # conmon 2.1.6: only one k8s file, the last one; the first is never created.
    assert not os.path.exists(first)
    with open(second, "rb") as f:
        assert m.parse_k8s_log(f.read())[1]["stdout"] == b"twice\n"


# --- timeout, exit command, signals -------------------------------------------------------------

def test_timeout_kills(container):
    c = container(["sleep", "30"], opts=["-T", "1"])
    t0 = time.monotonic()
    c.create()
    c.start()
    code = c.wait_exit(timeout=15)
    assert time.monotonic() - t0 < 8
    assert c.exit_raw == b"-1"
    assert code == -1
    c.wait_monitor_gone()


EXIT_SCRIPT = """#!/usr/bin/python3
import json, os, sys, time
with open(%(out)r + ".tmp", "w") as f:
    json.dump({"argv": sys.argv, "time": time.time(),
               "exit_file_exists": os.path.exists(%(exit_file)r)}, f)
os.rename(%(out)r + ".tmp", %(out)r)
"""


def _exit_script(c):
    out = os.path.join(c.workdir, "exit-command.json")
    script = os.path.join(c.workdir, "exit-command.py")
    with open(script, "w") as f:
        f.write(EXIT_SCRIPT % {"out": out, "exit_file": c.exit_file})
    os.chmod(script, 0o755)
    return script, out


def test_exit_command_args_verbatim(container):
    c = container(["sh", "-c", "exit 3"])
    script, out = _exit_script(c)
    args = ["--root", "/x", "--network-config-dir", "", "with spaces  in it", "container",
            "cleanup", c.cid]
    c.exit_command = [script, *args]
    assert c.run() == 3
    rec = json.load(open(m.wait_for(lambda: os.path.exists(out) and out, 15, what="exit command")))
    assert rec["argv"] == [script, *args]
    assert rec["exit_file_exists"] is True
    c.wait_monitor_gone()


@pytest.mark.slow
def test_exit_delay(container):
    c = container(["true"], opts=["--exit-delay", "2"])
    script, out = _exit_script(c)
    c.exit_command = [script, "x"]
    assert c.run() == 0
    exit_time = os.stat(c.exit_file).st_mtime
    rec = json.load(open(m.wait_for(lambda: os.path.exists(out) and out, 20, what="exit command")))
    assert rec["time"] - exit_time >= 1.8
    assert rec["exit_file_exists"]


@pytest.mark.parametrize("sig", [
    "TERM",
    # systemd's watchdog sends SIGABRT to the unit's main process, the monitor: the container
    # gets it, and the monitor lives on to record the exit (conmon dies of it, no exit file).
    pytest.param("ABRT", marks=vigil_only),
])
def test_signal_forwarded(container, sig):
    c = container(["sh", "-c", 'trap "exit 42" %s; echo ready; while :; do sleep 0.1; done' % sig])
    c.create()
    c.start()
    m.wait_for(lambda: b"ready" in c.read_log(), 10, what="container ready")
    os.kill(c.monitor_pid, getattr(signal, "SIG" + sig))
    assert c.wait_exit() == 42
    c.wait_monitor_gone()


@vigil_only
def test_sigabrt_ignored_by_pid1_kills(container):
    """A pid 1 without a handler ignores SIGABRT: SIGKILL follows after a grace period."""
    c = container(["sh", "-c", 'echo ready; while :; do sleep 0.1; done'])
    c.create()
    c.start()
    m.wait_for(lambda: b"ready" in c.read_log(), 10, what="container ready")
    t0 = time.monotonic()
    os.kill(c.monitor_pid, signal.SIGABRT)
    assert c.wait_exit(timeout=30) == 137
    assert time.monotonic() - t0 >= 4
    c.wait_monitor_gone()


# --- runtime failures ----------------------------------------------------------------------------

def test_runc_failure_message(container):
    c = container(["/nonexistent"])
    msg = c.create(expect_ok=False)
    assert msg["data"] == -1
    assert "/nonexistent" in msg["message"]
    assert "no such file or directory" in msg["message"]
    c.wait_monitor_gone()


def test_fake_runtime_failure(container, tmp_path):
    fake = tmp_path / "fake-runtime"
    fake.write_text("#!/bin/sh\necho 'fake runtime failure' >&2\nexit 1\n")
    fake.chmod(0o755)
    c = container(["true"], runtime=str(fake))
    msg = c.create(expect_ok=False)
    assert msg["data"] == -1
    assert "fake runtime failure" in msg["message"]
    c.wait_monitor_gone()


# --- attach socket -------------------------------------------------------------------------------

def _streams(packets):
    out = {2: b"", 3: b""}
    for kind, payload in packets:
        assert kind in (2, 3), kind
        assert len(payload) <= 8192
        out[kind] += payload
    return out


def test_attach_socket_streams(container):
    c = container(["sh", "-c", "echo out1; echo err1 >&2; head -c 20000 /dev/zero | tr '\\0' y"])
    c.create()
    sock = m.connect_seqpacket(os.path.join(c.bundle, "attach"))
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_SEQPACKET
    c.start()
    packets = m.read_attach(sock)
    sock.close()
    s = _streams(packets)
    assert s[2] == b"out1\n" + b"y" * 20000
    assert s[3] == b"err1\n"
    assert c.wait_exit() == 0


def test_attach_sees_chunks_before_the_log_rewrites_them(container):
    """The k8s-file sink builds its records in the read buffer, over the chunk, once more than
    about 1000 lines of a chunk are waiting: attach clients get the chunk first, intact."""
    c = container(["seq", "1", "100000"])
    c.create()
    sock = m.connect_seqpacket(os.path.join(c.bundle, "attach"))
    c.start()
    packets = m.read_attach(sock)
    sock.close()
    want = "".join(f"{i}\n" for i in range(1, 100001)).encode()
    assert _streams(packets)[2] == want
    assert c.wait_exit() == 0
    c.wait_monitor_gone()
    _, st = m.parse_k8s_log(c.read_log())
    assert st["stdout"] == want


def test_attach_stdin(container):
    c = container(["sh", "-c", "cat; echo stdin-closed"], opts=["-i"])
    c.create()
    sock = m.connect_seqpacket(os.path.join(c.bundle, "attach"))
    c.start()
    sock.send(b"hello\n")
    sock.send(b"world")
    got = b""
    deadline = time.monotonic() + 10
    while b"hello\nworld" not in got and time.monotonic() < deadline:
        pkt = m.recv_timeout(sock, 10)
        assert pkt
        got += pkt[1:]
    sock.shutdown(socket.SHUT_WR)
    rest = _streams(m.read_attach(sock))
    assert got + rest[2] == b"hello\nworld" + b"stdin-closed\n"
    assert c.wait_exit() == 0


def test_attach_two_clients(container):
    c = container(["sh", "-c", "echo shared-output; echo shared-err >&2"])
    c.create()
    a = m.connect_seqpacket(os.path.join(c.bundle, "attach"))
    b = m.connect_seqpacket(os.path.join(c.bundle, "attach"))
    c.start()
    sa, sb = _streams(m.read_attach(a)), _streams(m.read_attach(b))
    assert sa == sb == {2: b"shared-output\n", 3: b"shared-err\n"}
    assert c.wait_exit() == 0


# --- modes and fds -------------------------------------------------------------------------------

def test_sync_mode(container):
    c = container(["sh", "-c", "echo synced; exit 7"], opts=["--sync"])
    c.create()
    assert c.monitor_pid == c.proc.pid
    assert c.proc.poll() is None  # no fork: the spawned process is the monitor
    c.start()
    assert c.proc.wait(20) == 7
    assert c.wait_exit() == 7
    assert not os.path.exists(c.conmon_pidfile)
    assert m.parse_k8s_log(c.read_log())[1]["stdout"] == b"synced\n"


def test_preserve_fds(container):
    r, w = os.pipe()
    try:
        c = container(["sh", "-c", "echo via-fd3 >&3"],
                      opts=["--runtime-opt", "--preserve-fds", "--runtime-opt", "1"])
        c.create(preserve=[w])
        os.close(w)
        w = None
        c.start()
        assert c.wait_exit() == 0
        os.set_blocking(r, False)
        assert os.read(r, 4096) == b"via-fd3\n"
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


@pytest.mark.parametrize("replace", [True, False])
def test_listen_fds_reach_container(container, replace):
    """Socket activation: LISTEN_PID names the caller's pid; --replace-listen-pid (or a LISTEN_PID
    that is the monitor's own) makes it the runtime's, so runc takes fd 3 as a listen fd and
    hands it to the container with LISTEN_FDS=1 LISTEN_PID=1."""
    r, w = os.pipe()
    try:
        c = container(["sh", "-c", "echo fds=$LISTEN_FDS pid=$LISTEN_PID; echo via-listen-fd >&3"],
                      opts=["--replace-listen-pid"] if replace else [])
        c.create(preserve=[w], extra_env={"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid())})
        os.close(w)
        w = None
        c.start()
        assert (c.wait_exit() == 0) == replace
        os.set_blocking(r, False)
        if replace:
            assert os.read(r, 4096) == b"via-listen-fd\n"
            assert c.read_log().endswith(b"stdout F fds=1 pid=1\n")
        else:
            # LISTEN_PID is someone else's: runc leaves fd 3 alone, so the container has none.
            assert b"fds= pid=" in c.read_log()
    finally:
        os.close(r)
        if w is not None:
            os.close(w)


def _monitor_fds(c):
    res = []
    for name in os.listdir(f"/proc/{c.monitor_pid}/fd"):
        fd = int(name)
        try:
            ino = os.stat(f"/proc/{c.monitor_pid}/fd/{fd}").st_ino
            target = os.readlink(f"/proc/{c.monitor_pid}/fd/{fd}")
            flags = m.fd_flags(c.monitor_pid, fd)
        except FileNotFoundError:
            continue
        res.append((fd, target, ino, flags))
    return res


@pytest.mark.parametrize("stdin", [True, False])
def test_monitor_fds_cloexec(container, stdin):
    c = container(["sleep", "30"], opts=["-i"] if stdin else [])
    c.create()
    c.start()
    try:
        leaks = [(fd, target, oct(flags)) for fd, target, ino, flags in _monitor_fds(c)
                 if fd > 2 and ino not in c.inherited_inodes and not flags & O_CLOEXEC]
        assert leaks == []
    finally:
        c.runc("kill", c.cid, "KILL", check=False)
    assert c.wait_exit() == 137


# --- command line --------------------------------------------------------------------------------

def _bad(container, argv_edit, tmp_path):
    c = container(["true"])
    argv = argv_edit(c, c.argv())
    c.spawn(argv=argv)
    # Deliberately no start byte: validation errors must happen before waiting on it.
    try:
        rc = c.proc.wait(10)
    finally:
        c.proc.kill()
    out, err = c.proc.out()
    assert rc != 0
    assert m.pids_with_arg(c.cid) == []
    assert not os.path.exists(c.conmon_pidfile)
    return out, err


def _drop(argv, *opts):
    res = []
    skip = False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a in opts:
            skip = True
            continue
        res.append(a)
    return res


def test_bad_unknown_option(container, tmp_path):
    out, err = _bad(container, lambda c, a: a + ["--no-such-option"], tmp_path)
    # conmon 2.1.6 prints GOption errors on stdout; vigil (like conmon HEAD) on stderr.
    text = err if IS_VIGIL else out + err
    assert "Unknown option --no-such-option" in text


def test_bad_missing_cid(container, tmp_path):
    out, err = _bad(container, lambda c, a: _drop(a, "-c"), tmp_path)
    assert "Container ID not provided. Use --cid" in err


def test_bad_missing_runtime(container, tmp_path):
    out, err = _bad(container, lambda c, a: _drop(a, "-r"), tmp_path)
    assert "Runtime path not provided. Use --runtime" in err


def test_bad_runtime_not_executable(container, tmp_path):
    p = tmp_path / "not-exec"
    p.write_text("#!/bin/sh\n")
    p.chmod(0o644)

    def edit(c, a):
        a[a.index("-r") + 1] = str(p)
        return a
    out, err = _bad(container, edit, tmp_path)
    assert f"Runtime path {p} is not valid" in err


def test_bad_log_path(container, tmp_path):
    def edit(c, a):
        a[a.index("-l") + 1] = "k8s-file:" + str(tmp_path / "no" / "such" / "dir" / "ctr.log")
        return a
    out, err = _bad(container, edit, tmp_path)
    assert "Failed to open log file" in err


def test_bad_integer(container, tmp_path):
    out, err = _bad(container, lambda c, a: a + ["--timeout", "abc"], tmp_path)
    assert "abc" in out + err


# --- setups that cannot work: refused before the container is created ---------------------------

def _refused(c, *, argv=None, extra_env=None, sync_pipe=True):
    """Run c like podman does; assert that the first process exits non-zero, that no
    container and no pid file exist, and return (stderr, sync message or None)."""
    c.spawn(argv=argv, extra_env=extra_env)
    try:
        c.start_sock.send(b"\0")
    except OSError:
        pass  # it may be gone already: the checks come before the start byte
    try:
        rc = c.proc.wait(15)
    finally:
        c.proc.kill()
    out, err = c.proc.out()
    assert rc not in (0, None), f"first process exited {rc}: {err}"
    msg = c.read_sync(timeout=10) if sync_pipe else None
    # EOF: no monitor holds the pipe any more, so none can still create the container.
    assert m.recv_timeout(c.sync, 10) == b""
    assert c.runc("state", c.cid, check=False).returncode != 0, "a container was created"
    assert not os.path.exists(c.pidfile)
    assert m.pids_with_arg(c.cid) == []
    return err, msg


def _with_arg(argv, opt, value):
    if opt in argv:
        argv[argv.index(opt) + 1] = value
    else:
        argv += [opt, value]
    return argv


def _read_only_bind(path, argv):
    # A private mount namespace that dies with the monitor: nothing to clean up.
    return ["/usr/bin/unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind -o ro "$0" "$0" && exec "$@"', path, *argv]


@vigil_only
@pytest.mark.parametrize("var,value", [("_OCI_SYNCPIPE", "abc"), ("_OCI_SYNCPIPE", "999"),
                                       ("_OCI_STARTPIPE", "abc"), ("_OCI_STARTPIPE", "999")])
def test_refused_bad_pipe_variable(container, var, value):
    c = container(["true"])
    sync_ok = var != "_OCI_SYNCPIPE"
    err, msg = _refused(c, extra_env={var: value}, sync_pipe=sync_ok)
    expected = f'{var}="{value}" does not name an open file descriptor'
    assert expected in err
    if sync_ok:
        assert msg == {"data": -1, "message": expected}


@vigil_only
@pytest.mark.parametrize("opt", ["--exit-dir", "--persist-dir"])
@pytest.mark.parametrize("problem", ["missing", "not-a-directory", "read-only"])
def test_refused_unusable_exit_dir(container, tmp_path, opt, problem):
    c = container(["true"])
    path = str(tmp_path / "state")
    argv = c.argv()
    if problem == "not-a-directory":
        with open(path, "w") as f:
            f.write("x")
    elif problem == "read-only":
        os.mkdir(path)
        argv = _read_only_bind(path, argv)
    argv = _with_arg(argv, opt, path)
    err, msg = _refused(c, argv=argv)
    why = {"missing": "No such file or directory", "not-a-directory": "Not a directory",
           "read-only": "Read-only file system"}[problem]
    expected = f"Cannot write files in {opt} {path}: {why}"
    assert expected in err
    assert msg == {"data": -1, "message": expected}
    if problem == "read-only":
        assert os.listdir(path) == []


@vigil_only
def test_refused_conmon_pidfile_in_missing_dir(container, tmp_path):
    c = container(["true"])
    c.conmon_pidfile = str(tmp_path / "no" / "such" / "conmon.pid")
    err, msg = _refused(c)
    expected = f"Cannot write the --conmon-pidfile {c.conmon_pidfile}: No such file or directory"
    assert expected in err
    assert msg == {"data": -1, "message": expected}


@vigil_only
def test_refused_when_conmon_pidfile_write_fails_after_fork(container, tmp_path):
    # Its directory is fine, but the file cannot replace a directory: only the write, after
    # the fork, fails.  The monitor must not go on to create the container.
    c = container(["true"])
    c.conmon_pidfile = str(tmp_path / "conmon.pid")
    os.mkdir(c.conmon_pidfile)
    err, msg = _refused(c)
    assert f"Failed to write the pid file {c.conmon_pidfile}: Is a directory" in err
    assert msg["data"] == -1 and c.conmon_pidfile in msg["message"]
    assert os.listdir(c.conmon_pidfile) == []


def test_no_container_partial_message_without_journald_warns(container):
    c = container(["true"], opts=["--no-container-partial-message"])
    c.create()
    out, err = c.proc.out()
    assert "--no-container-partial-message has no effect without journald log driver" in err
    c.start()
    assert c.wait_exit() == 0


def test_bad_log_label_without_name(container, tmp_path):
    def edit(c, a):
        return _with_arg(a, "-l", "journald") + ["--log-label", "=value"]
    out, err = _bad(container, edit, tmp_path)
    assert "Container labels must be in format LABEL=VALUE (no LABEL present in '=value')" in err


def test_api_version_positional_and_base_ints(container):
    # argv() already carries "--api-version 1"; 0x10 must parse as 16 (GLib base detection).
    c = container(["sh", "-c", "exit 4"], opts=["--timeout", "0x10", "--exit-delay", "00"])
    assert c.run() == 4


def test_version(monitor_path, is_vigil):
    r = subprocess.run([monitor_path, "--version"], capture_output=True, timeout=10)
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert re.match(r"^conmon version 2\.\d+\.\d+", lines[0]), lines
    if is_vigil:
        assert lines[0] == "conmon version 2.2.1"
        assert any(re.match(r"^vigil version \S+", line) for line in lines)


# --- vigil improvements / conmon 2.2 options ------------------------------------------------------

@vigil_only
def test_log_rotate(container):
    script = "i=1; while [ $i -le 60 ]; do printf 'line-%03d\\n' $i; i=$((i+1)); done"
    c = container(["sh", "-c", script],
                  opts=["--log-size-max", "400", "--log-rotate", "--log-max-files", "2"])
    assert c.run() == 0
    c.wait_monitor_gone()
    assert os.path.exists(c.log_path + ".1")
    texts = b""
    for p in (c.log_path + ".2", c.log_path + ".1", c.log_path):
        if os.path.exists(p):
            with open(p, "rb") as f:
                texts += f.read()
    lines = m.parse_k8s_log(texts)[1]["stdout"].decode().splitlines()
    assert lines[-1] == "line-060"
    assert lines == ["line-%03d" % i for i in range(61 - len(lines), 61)]


def test_oom_file(container, is_vigil):
    """OOM kill -> exit 137 and an `oom` file.  vigil writes <bundle>/oom (what podman 4.3.1
    reads); conmon 2.1.6 writes it to its current directory (containers/conmon#504)."""
    def limit(cfg):
        cfg["linux"].setdefault("resources", {})["memory"] = {"limit": 16 * 1024 * 1024,
                                                              "swap": 16 * 1024 * 1024}
    c = container(["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo ${#x}"],
                  mutate=limit)
    code = c.run(timeout=60)
    assert code == 137
    where = c.bundle if is_vigil else c.workdir  # the monitor's cwd is c.workdir
    m.wait_for(lambda: os.path.exists(os.path.join(where, "oom")), 10, what="oom file")
