# SPDX-License-Identifier: GPL-2.0-or-later
"""journald log driver (issue 4).  Needs a private systemd-journald; run through the wrapper:

    tests/integration/with-private-journald.sh /usr/bin/python3 -m pytest -q \\
        tests/integration/test_journald.py

Skipped unless VIGIL_PRIVATE_JOURNALD=1 (set by the wrapper).  Integrity workload: 1 GiB
(512 + 512 MiB) from genstream."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

import monitor as m
import streams
from conftest import SCRATCH, vigil_only

pytestmark = pytest.mark.skipif(os.environ.get("VIGIL_PRIVATE_JOURNALD") != "1",
                                reason="needs tests/integration/with-private-journald.sh")

IMAGE = "localhost/busybox:latest"


def _journal_sync():
    subprocess.run(["journalctl", "--sync"], capture_output=True, timeout=60)


def _entries(cid, *, stable=True):
    """All entries of a container (journalctl -a -o json), after journald caught up."""
    def read():
        r = subprocess.run(["journalctl", "-a", "-o", "json", "--no-pager", "CONTAINER_ID_FULL=" + cid],
                           capture_output=True, timeout=120)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
    _journal_sync()
    prev = read()
    if stable:
        while True:
            time.sleep(0.2)
            _journal_sync()
            cur = read()
            if len(cur) == len(prev):
                return cur
            prev = cur
    return prev


def _b(v):
    """journalctl -o json: a string, or an array of byte values for binary/unprintable data."""
    if isinstance(v, list):
        return bytes(v)
    return v.encode()


def _msgs(entries, prio):
    return [(_b(e["MESSAGE"]), e.get("CONTAINER_PARTIAL_MESSAGE")) for e in entries
            if e["PRIORITY"] == str(prio)]


SCRIPT = ("echo out-line; echo err-line >&2; head -c 100000 /dev/zero | tr '\\0' x; echo; "
          "printf 'tail-partial'")


@vigil_only  # --log-label: conmon 2.2 (2.1.6 lacks it)
@pytest.mark.parametrize("tag", [None, "my-tag"])
def test_journald_fields(container, tag):
    opts = ["--log-label", "VIGIL_A=b", "--log-label", "VIGIL_EMPTY="]
    if tag:
        opts += ["--log-tag", tag]
    c = container(["sh", "-c", SCRIPT], log=["journald"], name="jctr-" + (tag or "notag"), opts=opts)
    assert c.run() == 0
    c.wait_monitor_gone()
    es = _entries(c.cid)
    for e in es:
        assert e["CONTAINER_ID_FULL"] == c.cid
        assert e["CONTAINER_ID"] == c.cid[:12]
        assert e["CONTAINER_NAME"] == c.name
        assert e["SYSLOG_IDENTIFIER"] == (tag or c.name)
        assert e.get("CONTAINER_TAG") == tag
        assert e["VIGIL_A"] == "b"
        assert e["VIGIL_EMPTY"] == ""
        assert e["PRIORITY"] in ("6", "3")
    out = _msgs(es, 6)
    err = _msgs(es, 3)
    assert err == [(b"err-line\n", None)]
    assert out[0] == (b"out-line\n", None)
    # The 100000-byte line: partial pieces, then the final piece with the newline.
    long_pieces = out[1:-1]
    assert b"".join(p for p, _ in long_pieces) == b"x" * 100000 + b"\n"
    assert len(long_pieces) >= 2
    assert all(flag == "true" for _, flag in long_pieces[:-1])
    assert long_pieces[-1][1] is None
    # The final partial line is sent (partial) when the stream ends.
    assert out[-1] == (b"tail-partial", "true")


def _maps(pid, lib):
    with open(f"/proc/{pid}/maps") as f:
        return lib in f.read()


@vigil_only  # libsystemd is loaded on first use; conmon links it
def test_libsystemd_mapped_only_with_journald(container):
    """A monitor that logs to a file never maps libsystemd (and libgcrypt, liblz4, ...)."""
    for log, expect in ((None, False), (["journald"], True)):
        kw = {"log": log} if log else {}
        c = container(["sleep", "30"], **kw)
        c.create()
        c.start()
        try:
            assert _maps(c.monitor_pid, "libsystemd.so") == expect
            assert _maps(c.monitor_pid, "libgcrypt.so") == expect
        finally:
            os.kill(c.container_pid, signal.SIGKILL)
            c.wait_exit()


@vigil_only  # --no-container-partial-message: conmon 2.2
def test_journald_no_partial_field(container):
    c = container(["sh", "-c", SCRIPT], log=["journald"], opts=["--no-container-partial-message"])
    assert c.run() == 0
    c.wait_monitor_gone()
    es = _entries(c.cid)
    assert all("CONTAINER_PARTIAL_MESSAGE" not in e for e in es)
    assert b"".join(_b(e["MESSAGE"]) for e in es if e["PRIORITY"] == "6") == (
        b"out-line\n" + b"x" * 100000 + b"\ntail-partial")


def test_journald_and_k8s_file(container):
    c = container(["sh", "-c", SCRIPT], log=[])
    c.log = ["k8s-file:" + c.log_path, "journald"]
    assert c.run() == 0
    c.wait_monitor_gone()
    want_out = b"out-line\n" + b"x" * 100000 + b"\ntail-partial"
    _, st = m.parse_k8s_log(c.read_log())
    assert st == {"stdout": want_out, "stderr": b"err-line\n"}
    es = _entries(c.cid)
    assert b"".join(_b(e["MESSAGE"]) for e in es if e["PRIORITY"] == "6") == want_out
    assert b"".join(_b(e["MESSAGE"]) for e in es if e["PRIORITY"] == "3") == b"err-line\n"


@pytest.mark.slow
def test_journald_integrity(container):
    """1 GiB of hostile output (genstream, 512 MiB on each stream at once) rebuilt from the
    journal (`journalctl -o export`, partial entries joined) byte for byte.  A k8s-file log
    runs alongside: it builds its records in the read buffer, after journald has read it."""
    half = str(512 * 1024 * 1024)
    c = container(["/genstream", "5", half, half, "/tmp/gen"], log=[])
    c.log = ["k8s-file:" + c.log_path, "journald"]
    streams.install_genstream(SCRATCH, os.path.join(c.bundle, "rootfs"))
    assert c.run(timeout=300) == 0
    c.wait_monitor_gone(timeout=120)
    exp = streams.read_expected(os.path.join(c.bundle, "rootfs"))
    try:
        assert streams.hash_k8s_files([c.log_path]).result() == exp
    finally:
        os.unlink(c.log_path)
    _journal_sync()
    sh = streams.StreamHash()
    total = sum(n for _, n in exp.values())
    deadline = time.monotonic() + 120
    while True:
        sh = streams.StreamHash()
        copies = []
        for e in _container_entries(c.cid, copies):
            sh.add(_stream_of(e), e["MESSAGE"])
            sh.records += 1
        if sum(sh.n.values()) >= total or time.monotonic() > deadline:
            break
        time.sleep(0.5)
        _journal_sync()
    if copies:
        print("journald wrote %d entries twice (systemd#29016), not counted: %s" % (len(copies), "; ".join(copies)))
    if sh.result() != exp:
        pytest.fail("journal differs from genstream's output: %s" % _explain_mismatch(c.cid, "5", half, half))


def _stream_of(entry):
    return {b"6": "stdout", b"3": "stderr"}[entry["PRIORITY"]]


def _container_entries(cid, copies):
    """A container's entries (`journalctl -o export`) without the copies systemd-journald
    makes itself.  When a journal file fills up, journald can fail to append an entry after it
    is already in the file's entry array; it then rotates and writes the entry again to the new
    file, with the same timestamps and the next seqnum, and journalctl shows both
    (systemd#29016, systemd#18005).  Such a copy has the cursor of the entry before it but for
    the seqnum (i=): the boot, both receive timestamps and the hash of the fields.  A line the
    monitor sent twice would be received twice, at two different times, and still count.
    Each skipped copy's cursor is appended to @copies."""
    p = subprocess.Popen(["journalctl", "-o", "export", "--no-pager", "CONTAINER_ID_FULL=" + cid],
                         stdout=subprocess.PIPE)
    prev = None
    for e in streams.iter_journal_export(p.stdout):
        key = [f for f in e["__CURSOR"].split(b";") if not f.startswith((b"s=", b"i="))]
        if key == prev:
            copies.append(e["__CURSOR"].decode())
            continue
        prev = key
        yield e
    assert p.wait(120) == 0


def _explain_mismatch(cid, seed, out_bytes, err_bytes):
    """Where the journal first departs from genstream's output (regenerated on the host; it is
    deterministic), with the entries there: a failure this rare must say what happened."""
    d = os.path.join(SCRATCH, "journal-mismatch")
    os.makedirs(d, exist_ok=True)
    exp = {k: os.path.join(d, k) for k in ("stdout", "stderr")}
    with open(exp["stdout"], "wb") as o, open(exp["stderr"], "wb") as e:
        subprocess.run([streams.genstream_binary(SCRATCH), seed, out_bytes, err_bytes, os.path.join(d, "r")],
                       stdout=o, stderr=e, check=True)
    files = {k: open(v, "rb") for k, v in exp.items()}
    try:
        offset = {"stdout": 0, "stderr": 0}
        prev = {}
        found = []
        for i, e in enumerate(_container_entries(cid, [])):
            s = _stream_of(e)
            msg, f = e["MESSAGE"], files[s]
            f.seek(offset[s])
            if f.read(len(msg)) != msg and s not in [x[0] for x in found]:
                f.seek(max(0, offset[s] - len(msg)))
                dup = prev.get(s) is not None and prev[s]["MESSAGE"] == msg
                found.append((s, "entry %d at %s offset %d, %d bytes, partial=%s, equal to the previous "
                              "%s entry: %s (then the cause may lie earlier, in the run of equal "
                              "entries); this one %s; previous %s" % (
                                  i, s, offset[s], len(msg), e.get("CONTAINER_PARTIAL_MESSAGE", b"-").decode(), s,
                                  dup, _entry_id(e), _entry_id(prev.get(s)))))
            offset[s] += len(msg)
            prev[s] = e
        return "; ".join(x[1] for x in found) or "no entry differs (lengths %s)" % offset
    finally:
        for f in files.values():
            f.close()
        shutil.rmtree(d, ignore_errors=True)


def _entry_id(e):
    if e is None:
        return "none"
    return " ".join("%s=%s" % (k, e.get(k, b"-").decode()) for k in (
        "__CURSOR", "__REALTIME_TIMESTAMP", "_SOURCE_REALTIME_TIMESTAMP", "_PID", "_TRANSPORT"))


# --- podman --log-driver journald --------------------------------------------------------------

@pytest.fixture(scope="module")
def podman_j(podman_alt):
    """podman_alt with the journald events backend (podman logs -f needs it)."""
    conf = podman_alt.env["CONTAINERS_CONF"]
    with open(conf) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace('events_logger = "file"', 'events_logger = "journald"'))
    yield podman_alt
    with open(conf, "w") as f:
        f.write(text)


@pytest.mark.podman
def test_podman_journald_logs(podman_j):
    p = podman_j
    n = p.name()
    r = p("run", "--name", n, "--log-driver", "journald", IMAGE, "sh", "-c",
          "echo j-out; echo j-err >&2; printf j-partial")
    assert r.returncode == 0, r.err
    _journal_sync()
    r = p("logs", n, check=True)
    assert r.out == "j-out\nj-partial"
    assert r.err == "j-err\n"
    p("rm", n, check=True)


@pytest.mark.podman
def test_podman_journald_logs_follow(podman_j):
    p = podman_j
    n = p.name()
    p("run", "-d", "--name", n, "--log-driver", "journald", IMAGE, "sh", "-c",
      "i=0; while [ $i -lt 10 ]; do echo jf-$i; i=$((i+1)); sleep 0.1; done", check=True)
    r = p("logs", "-f", n, timeout=60)
    assert r.returncode == 0, r.err
    assert r.out == "".join("jf-%d\n" % i for i in range(10))
    p("rm", n, check=True)
