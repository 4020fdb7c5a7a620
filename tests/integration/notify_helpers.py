# SPDX-License-Identifier: GPL-2.0-or-later
"""sd-notify test helpers: a host receiver that plays systemd's part, the static notifier
that runs inside the busybox container, and bundle tweaks (the /run/notify mount)."""
import array
import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import monitor as m

HERE = os.path.dirname(os.path.abspath(__file__))
SO_PASSCRED = getattr(socket, "SO_PASSCRED", 16)
SCM_CREDENTIALS = getattr(socket, "SCM_CREDENTIALS", 2)


def build_notifier(build_dir):
    """Compile tests/integration/notifier.c statically (once per build dir)."""
    out = os.path.join(build_dir, "test-scratch", "notifier")
    src = os.path.join(HERE, "notifier.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        subprocess.run(["gcc", "-static", "-O2", "-o", out + ".tmp", src], check=True,
                       capture_output=True, timeout=120)
        os.replace(out + ".tmp", out)
    return out


def install_notifier(notifier, rootfs):
    shutil.copy(notifier, os.path.join(rootfs, "bin", "notifier"))


def notify_mount(cfg):
    """config.json mutation: what podman does in container mode."""
    cfg.setdefault("mounts", []).append({
        "destination": "/run/notify", "type": "bind", "source": "notify",
        "options": ["bind", "ro", "nosuid", "nodev", "noexec"]})
    cfg["process"]["env"].append("NOTIFY_SOCKET=/run/notify/notify.sock")


class Record:
    def __init__(self, pid, uid, gid, data, fds, t):
        self.pid, self.uid, self.gid = pid, uid, gid
        self.data = data
        self.fds = fds          # [(fd content bytes or None)]
        self.t = t

    @property
    def text(self):
        return self.data.decode(errors="replace")

    def __repr__(self):
        return f"Record(pid={self.pid}, data={self.data!r}, fds={len(self.fds)})"


class Receiver:
    """A host sd_notify socket: SO_PASSCRED, fds read and closed, BARRIER answered by closing
    its fd (as systemd does)."""

    def __init__(self, path, *, answer_barriers=True, bind=True, rcvbuf=None):
        self.path = path
        self.answer_barriers = answer_barriers
        self.records = []
        self.barriers = []
        self.lock = threading.Lock()
        self.sock = None
        self.stopped = False
        self.rcvbuf = rcvbuf
        if bind:
            self.bind()

    def bind(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_PASSCRED, 1)
        if self.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        addr = "\0" + self.path[1:] if self.path.startswith("@") else self.path
        if not self.path.startswith("@") and os.path.exists(self.path):
            os.unlink(self.path)
        s.bind(addr)
        s.settimeout(0.2)
        self.sock = s
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        fdsize = array.array("i").itemsize
        while not self.stopped:
            try:
                data, anc, flags, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(300 * fdsize))
            except socket.timeout:
                continue
            except OSError:
                break
            pid = uid = gid = None
            fds = []
            for level, typ, payload in anc:
                if level == socket.SOL_SOCKET and typ == SCM_CREDENTIALS:
                    pid, uid, gid = struct.unpack("iII", payload[:12])
                elif level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    a = array.array("i")
                    a.frombytes(payload[:len(payload) - len(payload) % fdsize])
                    fds.extend(a)
            if data == b"BARRIER=1" and len(fds) == 1:
                with self.lock:
                    self.barriers.append((pid, time.monotonic()))
                if self.answer_barriers:
                    os.close(fds[0])
                else:
                    self.held = getattr(self, "held", []) + fds
                continue
            contents = []
            for fd in fds:
                try:
                    os.lseek(fd, 0, os.SEEK_SET)
                    contents.append(os.read(fd, 65536))
                except OSError:
                    contents.append(None)
                os.close(fd)
            with self.lock:
                self.records.append(Record(pid, uid, gid, data, contents, time.monotonic()))

    def texts(self):
        with self.lock:
            return [r.text for r in self.records]

    def lines(self):
        return [line for t in self.texts() for line in t.split("\n") if line]

    def wait(self, pred, timeout=10, what="notification"):
        return m.wait_for(lambda: pred(self), timeout, what=what)

    def wait_line(self, line, timeout=10):
        return self.wait(lambda r: line in r.lines(), timeout, what=f"{line!r} at the host; got {self.texts()[-5:]!r}")

    def find(self, line):
        with self.lock:
            return [r for r in self.records if line in r.text.split("\n")]

    def close(self):
        self.stopped = True
        if self.sock:
            self.sock.close()
            self.thread.join(2)
        if not self.path.startswith("@") and os.path.exists(self.path):
            os.unlink(self.path)


def send_outside(path, payload):
    """Send a datagram to the container's socket from this (host) process."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        dfd = os.open(os.path.dirname(path), os.O_PATH)
        try:
            s.sendto(payload, f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
        finally:
            os.close(dfd)
    finally:
        s.close()
