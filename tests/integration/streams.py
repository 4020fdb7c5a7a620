# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for the log-integrity tests: the static output generator (genstream.c) and
streaming parsers that rebuild a container's stdout/stderr from a k8s-file log or from the
journal without holding gigabytes in memory."""
import hashlib
import os
import shutil
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
_built = {}


def genstream_binary(scratch):
    """Compile genstream.c with gcc -O2 -static once per session; returns its path."""
    if "path" in _built:
        return _built["path"]
    if not shutil.which("gcc"):
        import pytest
        pytest.skip("gcc not installed")
    out_dir = os.path.join(scratch, "genstream")
    os.makedirs(out_dir, exist_ok=True)
    out = os.path.join(out_dir, "genstream")
    r = subprocess.run(["gcc", "-O2", "-static", "-Wall", "-o", out, os.path.join(HERE, "genstream.c")],
                       capture_output=True, timeout=120)
    if r.returncode != 0:
        import pytest
        pytest.skip("cannot build a static genstream: " + r.stderr.decode(errors="replace")[-500:])
    _built["path"] = out
    return out


def install_genstream(scratch, rootfs):
    """Copy genstream into a bundle's rootfs as /genstream (a new file, not a hard link)."""
    dst = os.path.join(rootfs, "genstream")
    shutil.copy(genstream_binary(scratch), dst)
    os.chmod(dst, 0o755)
    return "/genstream"


def read_expected(rootfs, prefix="/tmp/gen"):
    """{'stdout': (sha256hex, length), 'stderr': ...} as written by genstream."""
    res = {}
    for s in ("stdout", "stderr"):
        with open(os.path.join(rootfs, prefix.lstrip("/") + "." + s)) as f:
            h, n = f.read().split()
        res[s] = (h, int(n))
    return res


class StreamHash:
    def __init__(self):
        self.h = {"stdout": hashlib.sha256(), "stderr": hashlib.sha256()}
        self.n = {"stdout": 0, "stderr": 0}
        self.last_tag = {"stdout": None, "stderr": None}
        self.records = 0

    def add(self, stream, data):
        self.h[stream].update(data)
        self.n[stream] += len(data)

    def result(self):
        return {s: (self.h[s].hexdigest(), self.n[s]) for s in ("stdout", "stderr")}


TS_LEN = 35  # 2006-01-02T15:04:05.000000000+00:00


def hash_k8s_files(paths, sh=None):
    """Rebuild both streams from k8s-file logs (read in order) and hash them.

    Each record is checked: `<35-char timestamp> <stdout|stderr> <F|P> <content>\n`.  An F
    record's content includes its newline; a P record's terminating newline is not content.
    """
    sh = sh or StreamHash()
    for p in paths:
        with open(p, "rb", buffering=1 << 20) as f:
            for rec in f:
                assert rec.endswith(b"\n"), f"{p}: unterminated last record {rec[:80]!r}"
                assert (rec[TS_LEN:TS_LEN + 1] == b" " and rec[TS_LEN + 7:TS_LEN + 8] == b" "
                        and rec[TS_LEN + 9:TS_LEN + 10] == b" " and rec[4:5] == b"-"
                        and rec[10:11] == b"T" and rec[19:20] == b"."), f"{p}: bad record {rec[:80]!r}"
                stream = rec[TS_LEN + 1:TS_LEN + 7]
                tag = rec[TS_LEN + 8:TS_LEN + 9]
                if stream == b"stdout":
                    s = "stdout"
                elif stream == b"stderr":
                    s = "stderr"
                else:
                    raise AssertionError(f"{p}: bad stream in {rec[:80]!r}")
                if tag == b"F":
                    sh.add(s, rec[TS_LEN + 10:])
                elif tag == b"P":
                    sh.add(s, rec[TS_LEN + 10:-1])
                else:
                    raise AssertionError(f"{p}: bad tag in {rec[:80]!r}")
                sh.last_tag[s] = tag.decode()
                sh.records += 1
    return sh


def iter_journal_export(stream):
    """Parse `journalctl -o export` from a binary file object; yields {field: bytes} dicts."""
    entry = {}
    while True:
        line = stream.readline()
        if not line:
            if entry:
                yield entry
            return
        if line == b"\n":
            if entry:
                yield entry
            entry = {}
            continue
        line = line[:-1]
        eq = line.find(b"=")
        if eq >= 0:
            entry[line[:eq].decode()] = line[eq + 1:]
        else:
            size = struct.unpack("<Q", stream.read(8))[0]
            data = stream.read(size)
            assert len(data) == size
            assert stream.read(1) == b"\n"
            entry[line.decode()] = data
