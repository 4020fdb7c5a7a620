# SPDX-License-Identifier: GPL-2.0-or-later
"""Log integrity, back-pressure and `podman logs` (issue 4).  journald: test_journald.py
(needs with-private-journald.sh).

Sizes: plain k8s-file no-loss run 1 GiB total (512 MiB stdout + 512 MiB stderr written at
once), also with rotation (--log-size-max 50000000: about 22 files); back-pressure 100 MB.
The generator is genstream.c, compiled with gcc -O2 -static into the rootfs; it writes the
sha256 and length of each stream to /tmp/gen.{stdout,stderr} inside the rootfs."""
import datetime
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import monitor as m
import streams
import varlink_client as vc
from conftest import SCRATCH, vigil_only

IMAGE = "localhost/busybox:latest"
MiB = 1024 * 1024


def _gen_container(container, seed, out_bytes, err_bytes, **kw):
    c = container(["/genstream", str(seed), str(out_bytes), str(err_bytes), "/tmp/gen"], **kw)
    streams.install_genstream(SCRATCH, os.path.join(c.bundle, "rootfs"))
    return c


def _expected(c):
    return streams.read_expected(os.path.join(c.bundle, "rootfs"))


def _unlink_logs(c):
    d = os.path.dirname(c.log_path)
    for f in os.listdir(d):
        if f.startswith(os.path.basename(c.log_path)):
            os.unlink(os.path.join(d, f))


# --- no loss -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_k8s_no_loss_1gib(container):
    """1 GiB (512 MiB per stream, concurrently) of lines of 0..200 KiB, multi-MiB runs without
    a newline, every byte value, \\r\\n, \\0 and a final partial line on each stream: the k8s
    file rebuilds both streams exactly."""
    c = _gen_container(container, 1, 512 * MiB, 512 * MiB)
    try:
        t0 = time.monotonic()
        assert c.run(timeout=300) == 0
        c.wait_monitor_gone(timeout=60)
        elapsed = time.monotonic() - t0
        got = streams.hash_k8s_files([c.log_path])
        assert got.result() == _expected(c)
        # The final partial lines stay partial: no terminating F record.
        assert got.last_tag == {"stdout": "P", "stderr": "P"}
        print(f"1 GiB through the monitor in {elapsed:.1f}s, {got.records} records")
    finally:
        _unlink_logs(c)


@vigil_only
@pytest.mark.slow
def test_k8s_no_loss_rotation(container):
    """1 GiB with --log-size-max 50000000 --log-rotate --log-max-files 100: the files .N .. .1
    and then the live file, read in that order, rebuild both streams exactly; no file exceeds
    the limit."""
    limit = 50_000_000
    c = _gen_container(container, 2, 512 * MiB, 512 * MiB,
                       opts=["--log-size-max", str(limit), "--log-rotate", "--log-max-files", "100"])
    try:
        assert c.run(timeout=300) == 0
        c.wait_monitor_gone(timeout=60)
        d = os.path.dirname(c.log_path)
        base = os.path.basename(c.log_path)
        rotated = sorted(int(f[len(base) + 1:]) for f in os.listdir(d)
                         if f.startswith(base + ".") and f[len(base) + 1:].isdigit())
        assert rotated == list(range(1, len(rotated) + 1)), rotated
        assert len(rotated) >= 3, rotated
        paths = [c.log_path + ".%d" % i for i in reversed(rotated)] + [c.log_path]
        for p in paths:
            assert os.path.getsize(p) <= limit, (p, os.path.getsize(p))
        got = streams.hash_k8s_files(paths)
        assert got.result() == _expected(c)
    finally:
        _unlink_logs(c)


# --- back-pressure -------------------------------------------------------------------------------

@vigil_only
def test_stalled_attach_client_does_not_block_k8s(container):
    """With a log driver, an attach client that never reads must not hold the container back:
    100 MB are written promptly, the log is complete and the stalled client is cut off.
    (conmon 2.1.6 writes to clients blocking: the container stalls.)"""
    c = _gen_container(container, 3, 80_000_000, 20_000_000)
    try:
        c.create()
        sock = m.connect_seqpacket(os.path.join(c.bundle, "attach"))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        t0 = time.monotonic()
        c.start()
        assert c.wait_exit(timeout=60) == 0
        elapsed = time.monotonic() - t0
        c.wait_monitor_gone(timeout=30)
        assert elapsed < 15, f"container took {elapsed:.1f}s: held back by the stalled client"
        assert streams.hash_k8s_files([c.log_path]).result() == _expected(c)
        # The client was disconnected: what is queued for it ends in EOF/ECONNRESET, and it is
        # far less than everything.
        sock.settimeout(10)
        got = 0
        while True:
            try:
                pkt = sock.recv(65536)
            except ConnectionResetError:
                break
            if not pkt:
                break
            got += len(pkt) - 1
        assert got < 100_000_000
    finally:
        _unlink_logs(c)


def test_no_log_driver_slow_reader_gets_everything(container):
    """-l none (how podman runs exec sessions): no driver to fall back on, so a slow attach
    client gets every byte (the container is held back instead)."""
    c = _gen_container(container, 4, 60_000_000, 40_000_000, log=["none"])
    c.create()
    sock = m.connect_seqpacket(os.path.join(c.bundle, "attach"))
    c.start()
    time.sleep(2)  # stalled at first ...
    import hashlib
    h = {2: hashlib.sha256(), 3: hashlib.sha256()}
    n = {2: 0, 3: 0}
    sock.settimeout(60)
    count = 0
    while True:
        try:
            pkt = sock.recv(65536)
        except ConnectionResetError:
            break
        if not pkt:
            break
        assert pkt[0] in (2, 3) and len(pkt) <= 8193
        h[pkt[0]].update(pkt[1:])
        n[pkt[0]] += len(pkt) - 1
        count += 1
        if count % 256 == 0:
            time.sleep(0.002)  # ... then slow
    assert c.wait_exit(timeout=60) == 0
    exp = _expected(c)
    assert (h[2].hexdigest(), n[2]) == exp["stdout"]
    assert (h[3].hexdigest(), n[3]) == exp["stderr"]


# --- a full log disk ----------------------------------------------------------------------------

@pytest.fixture
def small_tmpfs(tmp_path):
    """A 1 MiB tmpfs under the build tree's scratch dir, three quarters taken by a filler file
    the test can delete to free space.  Request it before `container`, so that it is unmounted
    after the container (and its monitor, which holds the log open) is gone."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755", "vigil-test", str(mnt)], check=True)
    try:
        with open(mnt / "filler", "wb") as f:
            f.write(b"\0" * (768 * 1024))
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


LINE_RE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d stdout F line-(\d+)-x*")


def _log_stats(c):
    with vc.Connection(os.path.join(c.bundle, "vigil.sock")) as conn:
        return conn.call("io.vigil.Monitor.GetStats")["stats"]["log"]


def _line_numbers(path):
    """The number of every line in the log, asserting that each is a whole k8s-file record."""
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n"), f"log ends in a torn record: {data[-120:]!r}"
    nums = []
    for line in data.split(b"\n")[:-1]:
        mt = LINE_RE.fullmatch(line)
        assert mt, f"torn or glued k8s-file record: {line[:300]!r}"
        nums.append(int(mt.group(1)))
    return nums


@vigil_only
def test_k8s_full_disk_keeps_whole_records(small_tmpfs, container):
    """A container keeps logging onto a full disk: writes stop short at the end of the space
    (tmpfs, ENOSPC), yet every line of the log is a whole record (conmon 2.1.6 leaves the torn
    start of one and glues the next onto it), the drops are counted, and once space is freed
    logging goes on, with whole records again."""
    log = str(small_tmpfs / "ctr.log")
    script = ('i=0; while true; do j=0; while [ $j -lt 50 ]; do echo "line-$i-$(printf %0$((i % 37))d 0 | '
              'tr 0 x)"; i=$((i+1)); j=$((j+1)); done; sleep 0.01; done')
    c = container(["sh", "-c", script], log=["k8s-file:" + log])
    c.create()
    c.start()
    m.wait_for(lambda: _log_stats(c)["bytes_dropped"] > 0, 30, interval=0.1, what="dropped log bytes")
    full = os.path.getsize(log)
    os.unlink(small_tmpfs / "filler")
    m.wait_for(lambda: os.path.getsize(log) > full + 20000, 30, interval=0.1, what="logging to resume")
    # A consistent moment to compare the monitor's count with the file: the container frozen
    # and what its pipe still held written out (the log's size unchanged for 0.3 s).
    c.runc("pause", c.cid)
    sizes = []
    m.wait_for(lambda: sizes.append(os.path.getsize(log)) or sizes[-4:] == [sizes[-1]] * 4, 10, interval=0.1,
               what="the log to settle")
    stats = _log_stats(c)
    lines_then = len(_line_numbers(log))
    c.runc("resume", c.cid)
    c.runc("kill", c.cid, "KILL")
    c.wait_exit(timeout=20)
    c.wait_monitor_gone()
    nums = _line_numbers(log)
    assert nums == sorted(set(nums)), "lines out of order or repeated"
    gaps = [(a, b) for a, b in zip(nums, nums[1:]) if b != a + 1]
    assert gaps, "no line was dropped, yet the disk was full"
    assert nums[-1] - gaps[0][1] > 100, f"few lines after the first drop: {gaps[:3]}, last {nums[-1]}"
    assert stats["bytes_dropped"] > 0
    assert stats["records_dropped"] > 0
    assert stats["stdout"]["lines"] > lines_then


# --- rotation and a tail -F style reader ----------------------------------------------------------

class NameFollower(threading.Thread):
    """Follows a log by name like `tail -F`: read to EOF; when the path names another inode,
    drain the old file, then open the new one."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.data = bytearray()
        self.stop = threading.Event()
        self.reopens = 0
        self.skipped = 0  # generations this reader itself was too slow to see

    def _open(self):
        while not self.stop.is_set():
            try:
                return os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                time.sleep(0.001)
        return None

    def _drain(self, fd):
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                return
            self.data += b

    def run(self):
        fd = self._open()
        while fd is not None:
            self._drain(fd)
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            old = os.fstat(fd).st_ino
            if st is not None and st.st_ino != old:
                self._drain(fd)
                os.close(fd)
                try:
                    if os.stat(self.path + ".1").st_ino != old:
                        self.skipped += 1
                except FileNotFoundError:
                    self.skipped += 1
                fd = self._open()
                self.reopens += 1
                continue
            if self.stop.is_set():
                self._drain(fd)
                os.close(fd)
                return
            time.sleep(0.002)


@vigil_only
def test_rotation_keeps_name_follower_complete(container):
    """--log-rotate renames the live file away and creates a new one (never truncates), so a
    reader that follows by name sees every line exactly once, in order."""
    batches, per = 60, 1000
    script = ("b=0; while [ $b -lt %d ]; do seq $((b*%d+1)) $((b*%d+%d)); b=$((b+1)); "
              "sleep 0.05; done" % (batches, per, per, per))
    c = container(["sh", "-c", script],
                  opts=["--log-size-max", "300000", "--log-rotate", "--log-max-files", "3"])
    c.create()
    f = NameFollower(c.log_path)
    f.start()
    c.start()
    assert c.wait_exit(timeout=60) == 0
    c.wait_monitor_gone()
    f.stop.set()
    f.join(10)
    _, st = m.parse_k8s_log(bytes(f.data))
    want = "".join("%d\n" % i for i in range(1, batches * per + 1)).encode()
    if st["stdout"] != want and f.skipped:
        pytest.skip(f"the follower thread itself missed {f.skipped} rotation(s) (host too busy)")
    if st["stdout"] != want:
        seen = [int(x) for x in st["stdout"].split()]
        missing = sorted(set(range(1, batches * per + 1)) - set(seen))
        dups = len(seen) - len(set(seen))
        raise AssertionError(f"{len(missing)} lines missing (first {missing[:5]}, last "
                             f"{missing[-5:]}), {dups} duplicates, {f.reopens} reopens")
    assert f.reopens >= 5


# --- podman logs ------------------------------------------------------------------------------------

pm = pytest.mark.podman


@pm
def test_podman_logs_tail_since(podman_alt):
    p = podman_alt
    n = p.name()
    p("run", "-d", "--name", n, IMAGE, "sh", "-c",
      "echo one; echo two; sleep 1.2; echo three; echo four; echo five", check=True)
    assert p("wait", n, check=True).out.strip() == "0"
    assert p("logs", "--tail", "2", n, check=True).out == "four\nfive\n"
    assert p("logs", n, check=True).out == "one\ntwo\nthree\nfour\nfive\n"
    # --since: 0.6 s after "two" was logged (from the k8s file) excludes the first two lines.
    path = p("inspect", "--format", "{{.HostConfig.LogConfig.Path}}", n, check=True).out.strip()
    with open(path, "rb") as fh:
        recs, _ = m.parse_k8s_log(fh.read())
    ts = [r[0].decode() for r in recs if r[3] == b"two"][0]
    since = datetime.datetime.fromisoformat(ts[:26] + ts[29:]) + datetime.timedelta(seconds=0.6)
    assert p("logs", "--since", since.isoformat(), n, check=True).out == "three\nfour\nfive\n"
    assert p("logs", "--until", since.isoformat(), n, check=True).out == "one\ntwo\n"
    p("rm", n, check=True)


@pm
def test_podman_logs_follow_until_exit(podman_alt):
    p = podman_alt
    n = p.name()
    p("run", "-d", "--name", n, IMAGE, "sh", "-c",
      "i=0; while [ $i -lt 20 ]; do echo f-$i; i=$((i+1)); sleep 0.1; done; printf last", check=True)
    t0 = time.monotonic()
    r = p("logs", "-f", n, timeout=60)
    assert r.returncode == 0, r.err
    assert r.out == "".join("f-%d\n" % i for i in range(20)) + "last"
    assert time.monotonic() - t0 < 20
    p("rm", n, check=True)


@pm
def test_podman_logs_follow_max_size(podman_alt):
    """--log-opt max-size: the monitor replaces the file when full (conmon semantics: old
    content dropped); `podman logs -f` reopens by name and ends when the container exits."""
    p = podman_alt
    n = p.name()
    p("run", "-d", "--name", n, "--log-opt", "max-size=3000", IMAGE, "sh", "-c",
      "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); [ $((i % 20)) = 0 ] && sleep 0.05; "
      "done; echo the-end", check=True)
    r = p("logs", "-f", n, timeout=60)
    assert r.returncode == 0, r.err
    lines = r.out.splitlines()
    assert lines[-1] == "the-end"
    # Whatever was seen is in order and without duplicates.
    nums = [int(x[5:]) for x in lines if x.startswith("line-")]
    assert nums == sorted(set(nums))
    path = p("inspect", "--format", "{{.HostConfig.LogConfig.Path}}", n, check=True).out.strip()
    assert os.path.getsize(path) <= 3000
    p("rm", n, check=True)


@pytest.fixture(scope="module")
def podman_rotating(podman_alt):
    """podman_alt whose monitors rotate (podman 4.3.1 cannot pass --log-rotate; containers.conf
    conmon_env_vars can pass VIGIL_LOG_ROTATE)."""
    podman_alt.write_conf(["VIGIL_LOG_ROTATE=1", "VIGIL_LOG_MAX_FILES=3"])
    yield podman_alt
    podman_alt.write_conf()


@pm
@vigil_only
def test_podman_logs_follow_rotation_complete(podman_rotating):
    """With rotation (not truncation) at --log-opt max-size, `podman logs -f` started before the
    first line (the container sleeps 1 s first) sees every line once, in order, across the rotations; rotated files are kept.
    podman's reader polls the name every 250 ms and does not drain the old file when the name
    moves on; vigil renames a second after the switch (log_k8s.c).  The container writes about
    8 kB/s, so a 10 kB file lasts longer than that."""
    p = podman_rotating
    n = p.name()
    lines = 1000
    # `logs -f` on a container that is not running yet returns at once: start it first.
    p("run", "-d", "--name", n, "--log-opt", "max-size=10000", IMAGE, "sh", "-c",
      "sleep 1; i=0; while [ $i -lt %d ]; do echo rot-$i; i=$((i+1)); [ $((i %% 100)) = 0 ] && sleep 0.7; "
      "done; echo the-end" % lines, check=True)
    follower = subprocess.Popen(["podman", "logs", "-f", n], env=p.env, cwd=p.root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = follower.communicate(timeout=120)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    got = out.decode().splitlines()
    assert got and got[-1] == "the-end", (got[-3:], err)
    nums = [int(x[4:]) for x in got if x.startswith("rot-")]
    missing = sorted(set(range(lines)) - set(nums))
    assert nums == list(range(lines)), f"{len(missing)} missing (first {missing[:5]}), {len(nums)} seen"
    path = p("inspect", "--format", "{{.HostConfig.LogConfig.Path}}", n, check=True).out.strip()
    assert os.path.exists(path + ".1") and not os.path.exists(path + ".4")
    p("rm", n, check=True)
