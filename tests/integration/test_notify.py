# SPDX-License-Identifier: GPL-2.0-or-later
"""The sd-notify relay (issue 5): a host receiver plays systemd, a static notifier runs in the
busybox container.  Everything here is vigil behaviour: conmon 2.1.6 relays only READY=1 and
WATCHDOG=1, so the module is skipped for it."""
import json
import os
import shutil
import signal
import subprocess
import time
import uuid

import pytest

import monitor as m
import notify_helpers as nh
from conftest import BUILD_DIR, IS_VIGIL, SCRATCH

pytestmark = pytest.mark.skipif(not IS_VIGIL, reason="vigil's sd-notify relay")

# No /etc/vigil/vigil.conf of the host leaks into the tests.
BASE_ENV = {"VIGIL_CONFIG": ""}


@pytest.fixture(scope="session")
def notifier():
    return nh.build_notifier(BUILD_DIR)


@pytest.fixture(scope="module")
def socket_dir():
    """Where the host sockets go: under the scratch tree, reached through a short link in /run,
    since Python binds only paths that fit sun_path."""
    real = os.path.join(SCRATCH, "notify-sockets")
    os.makedirs(real, exist_ok=True)
    link = m.short_link(real, "nt")
    yield link
    os.unlink(link)
    shutil.rmtree(real, ignore_errors=True)


@pytest.fixture
def receiver(socket_dir):
    made = []

    def make(**kw):
        path = kw.pop("path", None) or os.path.join(socket_dir, uuid.uuid4().hex[:10] + ".sock")
        r = nh.Receiver(path, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def ncontainer(container, notifier, script, *, mount=True, opts=(), **kw):
    c = container(["sh", "-c", script], mutate=nh.notify_mount if mount else kw.pop("mutate", None),
                  opts=list(opts), **kw)
    nh.install_notifier(notifier, os.path.join(c.bundle, "rootfs"))
    return c


def run_relay(container, notifier, rec, script, extra_env=None, opts=()):
    c = ncontainer(container, notifier, script, opts=["--sdnotify-socket", rec.path, *opts])
    c.create(extra_env={**BASE_ENV, **(extra_env or {})})
    c.start()
    return c


# --- policy, end to end ------------------------------------------------------------------------

def test_keys_relayed_forbidden_dropped(container, notifier, receiver):
    rec = receiver()
    msgs = [
        "STATUS=x\\nREADY=1",                      # READY after STATUS (runc loses this one)
        "RELOADING=1\\nMONOTONIC_USEC=12345",       # kept together
        "READY=1\\nMAINPID=1",                     # MAINPID stripped, READY kept
        "STOPPING=1",
        "ERRNO=2\\nBUSERROR=org.freedesktop.DBus.Error.Failed",
        "VARLINKERROR=io.systemd.Foo.Bar-Baz",
        "WATCHDOG=1",
        "WATCHDOG=trigger",
        "EXTEND_TIMEOUT_USEC=5000000",
        "MONOTONIC_USEC=99",
        "X_VIGIL_TEST=hello world",
        "MAINPID=1", "MAINPIDFD=1", "MAINPIDFDID=42", "NOTIFYACCESS=all",   # never relayed
        "WATCHDOG_USEC=1000", "FDSTORE=1", "FDNAME=x",                       # disabled by default
        "ERRNO=abc\\nEXTEND_TIMEOUT_USEC=-1\\nWATCHDOG=2\\nREADY=0\\nFOO=bar\\nnot-an-assignment",
        "BUSERROR=nodots\\nSTATUS=valid",
        "STATUS=done",
    ]
    # A barrier after each message: the host never lags, so nothing is coalesced.
    script = "notifier " + " ".join(f"'msg:{x}' barrier" for x in msgs) + "; sleep 0.2"
    c = run_relay(container, notifier, rec, script)
    assert c.wait_exit() == 0
    rec.wait_line("STATUS=done")
    assert rec.texts() == [
        "STATUS=x\nREADY=1",
        "RELOADING=1\nMONOTONIC_USEC=12345",
        "READY=1",
        "STOPPING=1",
        "ERRNO=2\nBUSERROR=org.freedesktop.DBus.Error.Failed",
        "VARLINKERROR=io.systemd.Foo.Bar-Baz",
        "WATCHDOG=1",
        "WATCHDOG=trigger",
        "EXTEND_TIMEOUT_USEC=5000000",
        "MONOTONIC_USEC=99",
        "X_VIGIL_TEST=hello world",
        "STATUS=valid",
        "STATUS=done",
    ]
    # Relayed from the monitor's own pid, which systemd knows as MAINPID.
    assert {r.pid for r in rec.records} == {c.monitor_pid}
    assert c.read_log().count(b"barrier ok") == len(msgs)


def test_watchdog_usec_and_fd_store_when_enabled(container, notifier, receiver):
    rec = receiver()
    script = ("echo stored-content > /tmp/f; notifier msg:WATCHDOG_USEC=2000000 "
              "'fd:/tmp/f:FDSTORE=1\\nFDNAME=web' 'msg:FDSTOREREMOVE=1\\nFDNAME=old\\nFDPOLL=0' "
              "'fd:/tmp/f:FDSTORE=1\\nFDNAME=bad:name' 'fd:/tmp/f:STATUS=fd-without-store' barrier msg:STATUS=done")
    c = run_relay(container, notifier, rec, script,
                  {"VIGIL_SDNOTIFY_WATCHDOG_USEC": "1", "VIGIL_SDNOTIFY_FDSTORE": "yes"})
    assert c.wait_exit() == 0
    rec.wait_line("STATUS=done")
    recs = rec.records
    assert [r.text for r in recs] == [
        "WATCHDOG_USEC=2000000",
        "FDSTORE=1\nFDNAME=web",
        "FDSTOREREMOVE=1\nFDNAME=old\nFDPOLL=0",
        "FDSTORE=1",                 # the invalid FDNAME dropped, the store kept
        "STATUS=fd-without-store",
        "STATUS=done",
    ]
    assert recs[1].fds == [b"stored-content\n"]
    assert recs[3].fds == [b"stored-content\n"]
    assert recs[4].fds == []         # fds go on only with FDSTORE=1
    assert recs[2].fds == []


def test_fd_store_disabled_closes_fds(container, notifier, receiver):
    rec = receiver()
    c = run_relay(container, notifier, rec,
                  "echo x > /tmp/f; notifier 'fd:/tmp/f:FDSTORE=1\\nSTATUS=s' barrier msg:STATUS=done")
    assert c.wait_exit() == 0
    rec.wait_line("STATUS=done")
    assert [(r.text, r.fds) for r in rec.records] == [("STATUS=s", []), ("STATUS=done", [])]


def test_datagram_size_limit(container, notifier, receiver):
    rec = receiver()
    c = run_relay(container, notifier, rec, "notifier big:4097 big:4096 msg:STATUS=done")
    assert c.wait_exit() == 0
    rec.wait_line("STATUS=done")
    sizes = [len(r.data) for r in rec.records]
    assert sizes == [4096, len("STATUS=done")]


# --- barrier -----------------------------------------------------------------------------------

def test_barrier_waits_for_host(container, notifier, receiver):
    """The client's fd stays open until the host answered vigil's own barrier, and that
    barrier reaches the host after every earlier message."""
    rec = receiver(answer_barriers=False)
    statuses = " ".join(f"msg:STATUS=s{i}" for i in range(20))
    c = run_relay(container, notifier, rec, f"notifier {statuses} barrier:1500")
    assert c.wait_exit() == 0
    assert b"barrier timeout" in c.read_log()
    rec.wait(lambda r: r.barriers, 5, what="vigil's barrier at the host")
    # In order; while the host's queue is full, STATUS updates waiting in vigil's queue are
    # coalesced (last value wins), so some may be skipped, never the last one.
    nums = [int(line[len("STATUS=s"):]) for line in rec.lines()]
    assert nums == sorted(nums) and nums[-1] == 19 and nums[0] == 0
    assert rec.barriers[0][1] >= rec.records[-1].t
    assert rec.barriers[0][0] == c.monitor_pid


def test_barrier_answered(container, notifier, receiver):
    rec = receiver()
    c = run_relay(container, notifier, rec, "notifier msg:STATUS=a barrier msg:STATUS=b barrier")
    assert c.wait_exit() == 0
    log = c.read_log().decode()
    assert log.count("barrier ok") == 2, log
    assert rec.texts() == ["STATUS=a", "STATUS=b"]


# --- senders, flood, host availability ---------------------------------------------------------

def test_sender_outside_container_dropped(container, notifier, receiver):
    rec = receiver()
    c = ncontainer(container, notifier, "sleep 0.5; notifier msg:STATUS=inside barrier",
                   opts=["--sdnotify-socket", rec.path])
    c.create(extra_env=BASE_ENV)
    sock = os.path.join(c.bundle, "notify", "notify.sock")
    assert m.is_socket(sock)
    assert os.stat(sock).st_mode & 0o777 == 0o777
    # The host process stays alive, so it is checked and refused.
    nh.send_outside(sock, b"STATUS=outside\nREADY=1")
    c.start()
    assert c.wait_exit() == 0
    rec.wait_line("STATUS=inside")
    assert rec.texts() == ["STATUS=inside"]


def outside_senders(notifier, notify_dir, n, loops=4):
    """n short-lived host processes, @loops shells at a time, each sending one datagram to the
    container's socket and exiting at once; each shell reaps its sender the moment it exits."""
    per = n // loops
    procs = [subprocess.Popen(["sh", "-c", f'i=0; while [ $i -lt {per} ]; do '
                               f'{notifier} -s notify.sock "msg:X_OUT_{k}_$i=1"; i=$((i+1)); done'],
                              cwd=notify_dir) for k in range(loops)]
    for p in procs:
        assert p.wait(timeout=120) == 0


def test_racing_outside_senders_dropped(container, notifier, receiver):
    """Senders outside the container that exit before the monitor reads their datagram are
    still refused (the check is made at receive time and fails closed), while short-lived
    senders inside the container, gone just as fast, are all relayed."""
    rec = receiver()
    n = 200
    script = (f"i=0; while [ $i -lt {n} ]; do notifier msg:X_IN_$i=1; i=$((i+1)); done; "
              "k=0; while [ ! -e /run/notify/outside-done ] && [ $k -lt 1200 ]; do sleep 0.05; k=$((k+1)); done; "
              "notifier msg:X_DONE=1 barrier:20000")
    c = ncontainer(container, notifier, script, opts=["--sdnotify-socket", rec.path])
    c.create(extra_env=BASE_ENV)
    notify_dir = os.path.join(c.bundle, "notify")
    c.start()
    outside_senders(notifier, notify_dir, n)
    # Written after the last outside datagram: the container's X_DONE comes after them all.
    open(os.path.join(notify_dir, "outside-done"), "w").close()
    assert c.wait_exit(timeout=120) == 0
    rec.wait_line("X_DONE=1", timeout=20)
    log = c.read_log().decode()
    assert "barrier ok" in log
    lines = rec.lines()
    assert [x for x in lines if x.startswith("X_OUT_")] == []
    missing = sorted({f"X_IN_{i}=1" for i in range(n)} - set(lines))
    assert missing == [], log


@pytest.mark.slow
def test_flood_keeps_monitor_responsive(container, notifier, receiver):
    rec = receiver()
    t0 = time.monotonic()
    c = run_relay(container, notifier, rec,
                  "notifier flood:100000:f-; notifier msg:STATUS=last barrier:20000")
    assert c.wait_exit(timeout=120) == 0
    elapsed = time.monotonic() - t0
    rec.wait_line("STATUS=last", timeout=10)
    log = c.read_log().decode()
    assert "barrier ok" in log, log
    texts = rec.texts()
    # Rate limited (burst 200 + 100/s) and coalesced: far fewer than 100 000 datagrams,
    # in order, and the latest STATUS is the last thing the host saw.
    assert len(texts) < 200 + 100 * (elapsed + 2), len(texts)
    assert texts[-1].split("\n")[-1] == "STATUS=last"
    nums = [int(line[len("STATUS=f-"):]) for t in texts for line in t.split("\n") if line.startswith("STATUS=f-")]
    assert nums == sorted(nums)
    assert elapsed < 60


def test_host_socket_appears_late(container, notifier, receiver):
    rec = receiver(bind=False)
    c = run_relay(container, notifier, rec, "notifier msg:STATUS=early msg:READY=1 barrier:10000")
    time.sleep(1.5)
    rec.bind()
    rec.wait_line("READY=1", timeout=10)
    assert c.wait_exit() == 0
    assert rec.texts() == ["STATUS=early", "READY=1"]
    assert "barrier ok" in c.read_log().decode()


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_host_socket_retries_keep_fds(container, notifier, receiver):
    """While the host socket is missing the monitor retries with a backoff (20 ms doubling):
    no retry may leave an fd behind (one leaked per failed connect until EMFILE, once), and
    once the host is there the monitor holds exactly one more fd, its connected socket."""
    rec = receiver(bind=False)
    script = ("echo waiting; k=0; while [ ! -e /run/notify/go ] && [ $k -lt 600 ]; do sleep 0.05; k=$((k+1)); done; "
              "notifier msg:STATUS=early; sleep 3")
    c = ncontainer(container, notifier, script, opts=["--sdnotify-socket", rec.path])
    c.create(extra_env=BASE_ENV)
    c.start()
    m.wait_for(lambda: b"waiting" in c.read_log(), 10, what="container started")
    before = fd_count(c.monitor_pid)
    open(os.path.join(c.bundle, "notify", "go"), "w").close()
    time.sleep(1.5)  # retries after 20, 40, 80, 160, 320 and 640 ms have all failed
    during = fd_count(c.monitor_pid)
    rec.bind()
    rec.wait_line("STATUS=early", timeout=10)
    after = fd_count(c.monitor_pid)
    assert c.wait_exit() == 0
    assert rec.texts() == ["STATUS=early"]
    assert (during, after) == (before, before + 1)


def test_host_socket_restarted(container, notifier, receiver):
    """A host that goes away and comes back (systemd re-exec) gets the later messages."""
    rec = receiver()
    path = rec.path
    c = run_relay(container, notifier, rec, "notifier msg:STATUS=one; sleep 1.5; notifier msg:STATUS=two; sleep 0.3")
    rec.wait_line("STATUS=one")
    rec.close()
    rec2 = receiver(path=path)
    rec2.wait_line("STATUS=two", timeout=10)
    assert c.wait_exit() == 0


def test_abstract_host_socket(container, notifier, receiver):
    rec = receiver(path="@vigil-nt-%s" % uuid.uuid4().hex[:10])
    c = run_relay(container, notifier, rec, "notifier msg:READY=1")
    assert c.wait_exit() == 0
    rec.wait_line("READY=1")


@pytest.mark.slow
def test_sighup_reload(container, notifier, receiver):
    rec = receiver()
    script = ("trap 'notifier \"msg:RELOADING=1\\nMONOTONIC_USEC=777\" msg:STATUS=reloaded msg:READY=1' HUP; "
              "notifier msg:READY=1; i=0; while [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done")
    c = run_relay(container, notifier, rec, script)
    rec.wait_line("READY=1")
    os.kill(c.monitor_pid, signal.SIGHUP)
    rec.wait_line("STATUS=reloaded")
    rec.wait(lambda r: r.texts().count("READY=1") == 2, 5)
    assert rec.texts() == ["READY=1", "RELOADING=1\nMONOTONIC_USEC=777", "STATUS=reloaded", "READY=1"]
    c.runc("kill", c.cid, "KILL")
    c.wait_exit()


# --- modes, configuration, standalone units ----------------------------------------------------

def standalone(container, notifier, script, rec, opts=(), extra_env=None, mount=False):
    """vigil as a unit's main process: --sync --start, the host socket in $NOTIFY_SOCKET."""
    c = ncontainer(container, notifier, script, mount=mount, opts=["--sync", "--start", *opts])
    c.create(extra_env={**BASE_ENV, "NOTIFY_SOCKET": rec.path, **(extra_env or {})})
    return c


def test_standalone_conmon_mode(container, notifier, receiver):
    rec = receiver()
    c = standalone(container, notifier, "echo started; sleep 0.5; exit 7", rec, ["--sdnotify-mode=conmon"])
    rec.wait_line("READY=1")
    assert rec.records[0].pid == c.proc.pid  # the unit's main process itself
    # READY=1 is sent once `runtime start` has succeeded (the container's output follows).
    m.wait_for(lambda: b"started" in c.read_log(), 5, what="container output")
    assert c.wait_exit() == 7
    assert c.proc.wait(10) == 7              # the unit sees the container's exit code
    # runc never saw NOTIFY_SOCKET: it would have made its own proxy and blocked in start.
    assert not os.path.exists(os.path.join(c.env.runc_root, c.cid, "notify"))
    assert rec.texts() == ["READY=1"]


def test_standalone_prepare_bundle(container, notifier, receiver):
    rec = receiver()
    c = standalone(container, notifier, "notifier 'msg:STATUS=hi\\nREADY=1'; sleep 1", rec,
                   ["--sdnotify-prepare-bundle"])
    rec.wait_line("READY=1")
    # config.json was edited in a child: json-glib is not mapped in the monitor for good.
    with open(f"/proc/{c.proc.pid}/maps") as f:
        assert "libjson-glib" not in f.read()
    assert c.proc.wait(10) == 0
    with open(os.path.join(c.bundle, "config.json")) as f:
        cfg = json.load(f)
    assert "NOTIFY_SOCKET=/run/notify/notify.sock" in cfg["process"]["env"]
    assert [x for x in cfg["mounts"] if x["destination"] == "/run/notify"]
    assert rec.texts() == ["STATUS=hi\nREADY=1"]


def test_standalone_no_start_without_flag(container, notifier, receiver):
    """Without --start nothing starts the container: the conmon-mode READY waits for it."""
    rec = receiver()
    c = ncontainer(container, notifier, "exit 3", mount=False, opts=["--sdnotify-mode=conmon"])
    c.create(extra_env={**BASE_ENV, "NOTIFY_SOCKET": rec.path})
    c.start()
    assert c.wait_exit() == 3


def test_ignore_mode(container, notifier, receiver):
    rec = receiver()
    c = run_relay(container, notifier, rec, "notifier msg:READY=1 2>/dev/null; exit 0",
                  {"VIGIL_SDNOTIFY_MODE": "ignore"})
    assert c.wait_exit() == 0
    time.sleep(0.3)
    assert rec.texts() == []
    assert not os.path.exists(os.path.join(c.bundle, "notify", "notify.sock"))


def test_config_file_and_env_precedence(container, notifier, receiver, tmp_path):
    conf = tmp_path / "vigil.conf"
    conf.write_text("[notify]\nmode=ignore\n[monitor]\nstart=true\n")
    rec = receiver()
    # The file says ignore; the environment wins with conmon; start comes from the file.
    c = ncontainer(container, notifier, "sleep 0.3", mount=False, opts=["--sync"])
    c.create(extra_env={"VIGIL_CONFIG": str(conf), "NOTIFY_SOCKET": rec.path, "VIGIL_SDNOTIFY_MODE": "conmon"})
    rec.wait_line("READY=1")
    assert c.proc.wait(10) == 0


def test_config_file_invalid_value_fails(container, notifier, tmp_path):
    conf = tmp_path / "vigil.conf"
    conf.write_text("[notify]\nmode=sometimes\n")
    c = ncontainer(container, notifier, "true", mount=False)
    c.spawn(extra_env={"VIGIL_CONFIG": str(conf)})
    try:
        c.start_sock.send(b"\0")
    except BrokenPipeError:
        pass  # it may reject its settings before it reads the start byte
    assert c.proc.wait(10) != 0
    assert "sometimes" in c.proc.out()[1]


@pytest.mark.slow
def test_healthy_mode_ready_and_watchdog(container, notifier, receiver):
    rec = receiver()
    script = "sleep 1; touch /tmp/ready; sleep 2; rm /tmp/ready; sleep 30"
    c = standalone(container, notifier, script, rec, ["--sdnotify-mode=healthy"], {
        "VIGIL_HEALTH_CMD": "test -e /tmp/ready",
        "VIGIL_HEALTH_INTERVAL": "200ms",
        "VIGIL_HEALTH_TIMEOUT": "5s",
        "VIGIL_HEALTH_RETRIES": "2",
        "VIGIL_HEALTH_START_PERIOD": "10s",
        "VIGIL_HEALTH_WATCHDOG": "yes",
    })
    rec.wait_line("READY=1", timeout=15)
    lines = rec.lines()
    assert lines[0] == "STATUS=health: starting"
    assert "STATUS=health: healthy" in lines
    assert lines.index("READY=1") > lines.index("STATUS=health: starting")
    rec.wait_line("WATCHDOG=trigger", timeout=15)
    lines = rec.lines()
    assert lines.count("WATCHDOG=1") >= 3
    assert "STATUS=health: unhealthy (2 failed checks)" in lines
    assert lines.index("WATCHDOG=trigger") > lines.index("READY=1")
    assert {r.pid for r in rec.records} == {c.proc.pid}
    c.runc("kill", c.cid, "KILL")
    assert c.proc.wait(15) == 137


def test_healthy_mode_needs_a_command(container, notifier):
    c = ncontainer(container, notifier, "true", mount=False)
    c.spawn(extra_env={**BASE_ENV, "VIGIL_SDNOTIFY_MODE": "healthy"})
    try:
        c.start_sock.send(b"\0")
    except BrokenPipeError:
        pass  # it may reject its settings before it reads the start byte
    assert c.proc.wait(10) != 0
    assert "health command" in c.proc.out()[1]


# --- podman 4.3.1 end to end -------------------------------------------------------------------

@pytest.fixture(scope="module")
def npodman(env, notifier):
    """A podman of our own (own root: test_podman's session fixture may exist too), with the
    notifier in its image."""
    if not shutil.which("podman"):
        pytest.skip("podman not installed")
    from test_podman import Podman, podman_root
    root = podman_root("podman-notify")
    rootfs = os.path.join(root, "rootfs-notify")
    subprocess.run(["cp", "-a", os.path.join(env.rootfs.dir, "rootfs"), rootfs], check=True, timeout=60)
    nh.install_notifier(notifier, rootfs)
    p = Podman(env.monitor, root, rootfs)
    yield p
    p.close()


def podman_notify(p, rec, *args, timeout=60):
    r = subprocess.run(["podman", *args], env={**p.env, "NOTIFY_SOCKET": rec.path}, capture_output=True,
                       timeout=timeout, cwd=p.root)
    assert r.returncode == 0, r.stderr.decode()
    return r


@pytest.mark.podman
def test_podman_container_mode(npodman, receiver):
    from test_podman import IMAGE
    rec = receiver()
    n = npodman.name()
    podman_notify(npodman, rec, "run", "-d", "--sdnotify=container", "--name", n, IMAGE, "sh", "-c",
                  "notifier 'msg:STATUS=in podman\\nREADY=1\\nMAINPID=1' msg:X_APP=1 barrier; sleep 0.5")
    rec.wait_line("X_APP=1", timeout=20)
    mainpid = [r for r in rec.records if r.text.startswith("MAINPID=")]
    assert len(mainpid) == 1 and mainpid[0].text == mainpid[0].text.split("\n")[0]
    monitor_pid = int(mainpid[0].text[len("MAINPID="):])
    relayed = [r for r in rec.records if not r.text.startswith("MAINPID=")]
    assert [r.text for r in relayed] == ["STATUS=in podman\nREADY=1", "X_APP=1"]
    assert {r.pid for r in relayed} == {monitor_pid}
    assert npodman("wait", n, check=True).out.strip() == "0"
    assert "barrier ok" in npodman("logs", n, check=True).out


@pytest.mark.podman
def test_podman_conmon_mode(npodman, receiver):
    from test_podman import IMAGE
    rec = receiver()
    n = npodman.name()
    r = podman_notify(npodman, rec, "run", "-d", "--sdnotify=conmon", "--name", n, IMAGE, "sh", "-c",
                      "echo socket=${NOTIFY_SOCKET:-none}")
    assert npodman("wait", n, check=True).out.strip() == "0"
    rec.wait(lambda x: x.records, 10)
    time.sleep(0.5)
    # podman itself sends MAINPID (the monitor) and READY; vigil adds nothing.
    assert len(rec.records) == 1, rec.texts()
    assert rec.records[0].text.split("\n")[1:] == ["READY=1"]
    assert rec.records[0].pid != int(rec.records[0].text.split("\n")[0][len("MAINPID="):])
    assert npodman("logs", n, check=True).out == "socket=none\n"
    del r


@pytest.mark.podman
def test_podman_ignore_mode(npodman, receiver):
    from test_podman import IMAGE
    rec = receiver()
    n = npodman.name()
    podman_notify(npodman, rec, "run", "-d", "--sdnotify=ignore", "--name", n, IMAGE, "sh", "-c",
                  "echo socket=${NOTIFY_SOCKET:-none}")
    assert npodman("wait", n, check=True).out.strip() == "0"
    time.sleep(0.5)
    assert rec.texts() == []
    assert npodman("logs", n, check=True).out == "socket=none\n"


def run_as_unit(env, notifier, rec, tmp_path, script, extra_env=None, extra_args=()):
    """vigil started the way units/vigil@.service starts it; returns (process, stdout, stderr)."""
    bundle = str(tmp_path / "bundle")
    env.rootfs.bundle(bundle, ["sh", "-c", script])
    nh.install_notifier(notifier, os.path.join(bundle, "rootfs"))
    cid = "vigil-unit-" + uuid.uuid4().hex[:12]
    argv = [env.monitor, "--sync", "--start", f"--cid={cid}", f"--cuuid={cid}", f"--name={cid}",
            f"--runtime={m.RUNC}", "--runtime-arg=--root", f"--runtime-arg={env.runc_root}",
            f"--bundle={bundle}", f"--container-pidfile={tmp_path}/pid", f"--exit-dir={tmp_path}",
            "--log-path=passthrough", "--sdnotify-prepare-bundle", *extra_args]
    p = subprocess.Popen(argv, env={"PATH": os.environ["PATH"], "NOTIFY_SOCKET": rec.path, **BASE_ENV,
                                    "VIGIL_REGISTRY_DIR": m.REGISTRY_DIR, **(extra_env or {})},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(tmp_path))
    try:
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
        subprocess.run([m.RUNC, "--root", env.runc_root, "delete", "--force", cid], capture_output=True)
    return p, out, err


def test_unit_command_line(env, notifier, receiver, tmp_path):
    """vigil started the way units/vigil@.service starts it: no engine pipes at all."""
    rec = receiver()
    p, out, err = run_as_unit(env, notifier, rec, tmp_path,
                              "echo from-container; notifier 'msg:STATUS=unit\\nREADY=1'; exit 4")
    assert p.returncode == 4, err
    assert out == b"from-container\n"
    rec.wait_line("READY=1")
    assert rec.texts() == ["STATUS=unit\nREADY=1"]
    assert {r.pid for r in rec.records} == {p.pid}


def test_unit_watchdog_reaches_container(env, notifier, receiver, tmp_path):
    """WatchdogSec= gives vigil WATCHDOG_USEC; --sdnotify-prepare-bundle passes it on so that
    sd_watchdog_enabled() in the container knows how often to ping."""
    rec = receiver()
    p, out, err = run_as_unit(env, notifier, rec, tmp_path, "echo wd=${WATCHDOG_USEC:-none}",
                              extra_env={"WATCHDOG_USEC": "3000000"})
    assert p.returncode == 0, err
    assert out == b"wd=3000000\n"
    # Meant for another process: not passed on.
    (tmp_path / "x").mkdir()
    p, out, err = run_as_unit(env, notifier, rec, tmp_path / "x",
                              "echo wd=${WATCHDOG_USEC:-none}",
                              extra_env={"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"})
    assert out == b"wd=none\n", err


@pytest.mark.skipif(subprocess.run(["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True,
                                   text=True).stdout.strip() == "cgroup2fs",
                    reason="cgroup v2 host: tests/vm checks --unit-cgroup under systemd")
def test_unit_cgroup_without_cgroup_v2(env, notifier, receiver, tmp_path):
    """--unit-cgroup (in units/vigil@.service) on a cgroup v1 host: a warning, and the
    container runs in the runtime's default cgroup, its config.json untouched there."""
    rec = receiver()
    p, out, err = run_as_unit(env, notifier, rec, tmp_path, "echo hi", extra_args=["--unit-cgroup"])
    assert p.returncode == 0, err
    assert out == b"hi\n"
    assert b"--unit-cgroup needs cgroup v2 at /sys/fs/cgroup" in err
    with open(tmp_path / "bundle" / "config.json") as f:
        assert "cgroupsPath" not in json.load(f).get("linux", {})


def test_last_words_before_exit(container, notifier, receiver):
    """A container that notifies and exits at once: the datagram may be read after the exit
    was seen, and still reaches the host."""
    rec = receiver()
    c = run_relay(container, notifier, rec, "notifier 'msg:STOPPING=1\\nSTATUS=bye'; exit 0")
    assert c.wait_exit() == 0
    rec.wait_line("STATUS=bye", timeout=5)
