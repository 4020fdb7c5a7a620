# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers that drive a conmon-compatible monitor exactly the way podman 4.3.1 does.

Only the Python standard library is used.  The monitor is spawned with posix_spawn so the
socketpair ends land on exact fd numbers (3+N sync, 4+N start, N = preserved fds), like
podman's exec.Cmd ExtraFiles.
"""
import fcntl
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

RUNC = shutil.which("runc") or "/usr/bin/runc"
# The discovery registry every monitor of the suite registers in (VIGIL_REGISTRY_DIR): under
# the build tree's scratch, set by conftest.py, so that tests never touch /run/vigil.
REGISTRY_DIR = None

K8S_RE = re.compile(
    rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d) (stdout|stderr) ([FP]) (.*)$")


def short_link(real, tag):
    """A short path for @real, a directory deep in the build tree: the link
    /run/vigil-<tag>-<hash of real>, made anew.  For what must fit a socket address or podman's
    50-character runroot; the caller removes it."""
    link = "/run/vigil-%s-%s" % (tag, hashlib.sha256(real.encode()).hexdigest()[:8])
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(real, link)
    return link


def wait_for(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; raise AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def parse_k8s_log(data):
    """Parse k8s-file log bytes; returns (records, {'stdout': bytes, 'stderr': bytes}).

    Asserts that every record matches the CRI format.  P records are joined up to the next F
    record of the same stream; an F record's content is followed by a newline.
    """
    records = []
    streams = {"stdout": b"", "stderr": b""}
    assert data == b"" or data.endswith(b"\n"), "log file does not end with a newline"
    for line in data.split(b"\n")[:-1]:
        m = K8S_RE.match(line)
        assert m, f"bad k8s-file record: {line[:200]!r}"
        ts, stream, tag, content = m.groups()
        stream = stream.decode()
        records.append((ts, stream, tag.decode(), content))
        streams[stream] += content + (b"\n" if tag == b"F" else b"")
    return records, streams


class PipeReader:
    """Collects everything written to a pipe in a background thread."""

    def __init__(self, fd):
        self.fd = fd
        self.data = b""
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    break
                self.data += chunk
        finally:
            os.close(self.fd)

    def wait(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()


class Spawned:
    """A monitor process started with posix_spawn (the "first process" in conmon terms)."""

    def __init__(self, pid, stdout, stderr):
        self.pid = pid
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout):
        wait_for(lambda: self.poll() is not None, timeout, what=f"monitor process {self.pid} to exit")
        return self.returncode

    def kill(self):
        if self.returncode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.wait(5)
            except AssertionError:
                pass

    def out(self, timeout=5):
        self.stdout.wait(timeout)
        self.stderr.wait(timeout)
        return self.stdout.data.decode(errors="replace"), self.stderr.data.decode(errors="replace")


def spawn(argv, *, fds=(), env=None, stdin=None, cwd=None):
    """Spawn argv with fds[i] dup'ed to fd 3+i (others closed); stdout/stderr are pipes.

    stdin: an fd for the child's fd 0 (default /dev/null).
    """
    actions = []
    keep = []
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    devnull = None
    if stdin is None:
        devnull = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        stdin = devnull
    # Move every source above the target range first, so the dup2 actions cannot clobber a
    # source that happens to sit on a target number.
    srcs = []
    for fd in [stdin, out_w, err_w, *fds]:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
        keep.append(high)
        srcs.append(high)
    for target, src in enumerate(srcs):
        actions.append((os.POSIX_SPAWN_DUP2, src, target))
    # Like Go's exec (podman), hand over nothing else: close any stray inheritable fd.
    ntargets = len(srcs)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= ntargets and fd not in keep:
            try:
                if not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    actions.append((os.POSIX_SPAWN_CLOSE, fd))
            except OSError:
                pass
    oldcwd = os.getcwd()
    try:
        if cwd:
            os.chdir(cwd)  # podman's monitor inherits podman's cwd; keep ours out of the repo
        pid = os.posix_spawn(argv[0], argv, env if env is not None else os.environ,
                             file_actions=actions, setpgroup=0)
    finally:
        os.chdir(oldcwd)
        for fd in keep + [out_w, err_w]:
            os.close(fd)
        if devnull is not None:
            os.close(devnull)
    return Spawned(pid, PipeReader(out_r), PipeReader(err_r))


def monitor_env(extra=None, nfds=0, attach=False):
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "XDG_RUNTIME_DIR": "",
        "_CONTAINERS_USERNS_CONFIGURED": "",
        "_CONTAINERS_ROOTLESS_UID": "",
        "_OCI_SYNCPIPE": str(3 + nfds),
        "_OCI_STARTPIPE": str(4 + nfds),
    }
    if REGISTRY_DIR:
        env["VIGIL_REGISTRY_DIR"] = REGISTRY_DIR
    if attach:
        env["_OCI_ATTACHPIPE"] = str(5 + nfds)
    if extra:
        env.update(extra)
    return env


def seqpacket_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return a, b


def recv_timeout(sock, timeout, size=65536):
    r, _, _ = select.select([sock], [], [], timeout)
    if not r:
        raise AssertionError(f"no data within {timeout}s")
    return sock.recv(size)


def connect_seqpacket(path):
    """Connect to a SOCK_SEQPACKET socket at path (through /proc/self/fd, as podman does)."""
    dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
        return s
    finally:
        os.close(dfd)


def read_attach(sock, timeout=15):
    """Read attach packets until EOF; returns list of (stream, payload)."""
    packets = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"attach socket not at EOF after {timeout}s: {packets!r}")
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            pkt = sock.recv(65536)
        except ConnectionResetError:
            return packets
        if not pkt:
            return packets
        packets.append((pkt[0], pkt[1:]))


class Rootfs:
    """A busybox rootfs + template config.json built once per session with mkbundle.sh."""

    def __init__(self, repo, workdir):
        self.dir = os.path.join(workdir, "template")
        subprocess.run(["sh", os.path.join(repo, "tests/lib/mkbundle.sh"), self.dir, "true"],
                       check=True, timeout=120, capture_output=True)
        with open(os.path.join(self.dir, "config.json")) as f:
            self.config = json.load(f)

    def bundle(self, path, args, *, pidns=True, mutate=None):
        os.makedirs(path, exist_ok=True)
        # Hard links keep this fast; tests never modify the busybox binary.
        subprocess.run(["cp", "-al", os.path.join(self.dir, "rootfs"), os.path.join(path, "rootfs")],
                       check=True, timeout=60)
        cfg = json.loads(json.dumps(self.config))
        cfg["process"]["args"] = list(args)
        if not pidns:
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "pid"]
        if mutate:
            mutate(cfg)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(cfg, f)
        return path


_seq = [0]


class Container:
    """One container driven through the monitor like podman does.

    Typical use:  c = Container(...); c.create(); c.start(); code = c.wait_exit()
    """

    def __init__(self, env, workdir, args, *, name=None, pidns=True, log=None, opts=(),
                 exit_command=None, mutate=None, runtime=None, bundle_args=True):
        _seq[0] += 1
        self.env = env
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.cid = ("%08x" % os.getpid()) + ("%08x" % _seq[0]) + os.urandom(24).hex()
        self.name = name or "vigil-test-%d" % _seq[0]
        self.bundle = os.path.join(workdir, "bundle")
        if bundle_args:
            env.rootfs.bundle(self.bundle, args, pidns=pidns, mutate=mutate)
        else:
            os.makedirs(self.bundle, exist_ok=True)
        self.exit_dir = os.path.join(workdir, "exits")
        os.makedirs(self.exit_dir, exist_ok=True)
        self.exit_file = os.path.join(self.exit_dir, self.cid)
        self.pidfile = os.path.join(workdir, "pidfile")
        self.conmon_pidfile = os.path.join(workdir, "conmon.pid")
        self.log_path = os.path.join(workdir, "ctr.log")
        self.log = log if log is not None else ["k8s-file:" + self.log_path]
        self.runtime = runtime or RUNC
        self.opts = list(opts)
        self.exit_command = exit_command
        self.proc = None
        self.sync = None
        self.start_sock = None
        self.monitor_pid = None
        self.container_pid = None
        self.cleanups = []
        env.containers.append(self)

    def argv(self):
        a = [self.env.monitor, "--api-version", "1", "-c", self.cid, "-u", self.cid,
             "-r", self.runtime, "-b", self.bundle, "-p", self.pidfile, "-n", self.name,
             "--exit-dir", self.exit_dir, "--full-attach"]
        for l in self.log:
            a += ["-l", l]
        a += ["--log-level", "warning", "--runtime-arg", "--root", "--runtime-arg", self.env.runc_root]
        a += self.opts
        if "--sync" not in self.opts:
            a += ["--conmon-pidfile", self.conmon_pidfile]
        if self.exit_command:
            a += ["--exit-command", self.exit_command[0]]
            for x in self.exit_command[1:]:
                a += ["--exit-command-arg", x]
        return a

    def spawn(self, *, preserve=(), stdin=None, extra_env=None, argv=None):
        sync_p, sync_c = seqpacket_pair()
        start_p, start_c = seqpacket_pair()
        self.sync, self.start_sock = sync_p, start_p
        env = monitor_env(extra_env, nfds=len(preserve))
        self.child_socks = (sync_c, start_c)
        self.inherited_inodes = {os.fstat(s.fileno()).st_ino for s in (sync_c, start_c)}
        self.inherited_inodes |= {os.fstat(fd).st_ino for fd in preserve}
        try:
            self.proc = spawn(argv or self.argv(), fds=[*preserve, sync_c.fileno(), start_c.fileno()],
                              env=env, stdin=stdin, cwd=self.workdir)
        finally:
            sync_c.close()
            start_c.close()
        return self.proc

    def create(self, *, expect_ok=True, **kw):
        """spawn + start byte + wait for first process + read sync message."""
        self.spawn(**kw)
        self.start_sock.send(b"\0")
        if "--sync" not in self.opts:
            rc = self.proc.wait(15)
            assert rc == 0, f"first monitor process exited {rc}: {self.proc.out()}"
            with open(self.conmon_pidfile, "rb") as f:
                raw = f.read()
            assert re.fullmatch(rb"[1-9][0-9]*", raw), f"conmon pidfile content {raw!r}"
            self.monitor_pid = int(raw)
        else:
            self.monitor_pid = self.proc.pid
        msg = self.read_sync()
        if expect_ok:
            assert isinstance(msg.get("data"), int) and msg["data"] > 0, f"sync message {msg!r}"
            self.container_pid = msg["data"]
        return msg

    def read_sync(self, timeout=30):
        raw = recv_timeout(self.sync, timeout)
        assert raw.endswith(b"\n"), f"sync message not newline-terminated: {raw!r}"
        self.sync_raw = raw
        return json.loads(raw)

    def runc(self, *args, check=True, timeout=30):
        return subprocess.run([RUNC, "--root", self.env.runc_root, *args], capture_output=True,
                              timeout=timeout, check=check)

    def start(self):
        self.runc("start", self.cid)

    def wait_exit(self, timeout=20):
        wait_for(lambda: os.path.exists(self.exit_file), timeout, what=f"exit file {self.exit_file}")
        with open(self.exit_file, "rb") as f:
            raw = f.read()
        self.exit_raw = raw
        assert re.fullmatch(rb"-?[0-9]+", raw), f"exit file content {raw!r}"
        return int(raw)

    def wait_monitor_gone(self, timeout=15):
        wait_for(lambda: not pid_alive(self.monitor_pid), timeout,
                 what=f"monitor {self.monitor_pid} to exit")

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def run(self, timeout=20, **kw):
        self.create(**kw)
        self.start()
        return self.wait_exit(timeout)

    def cleanup(self):
        for fn in self.cleanups:
            try:
                fn()
            except Exception:
                pass
        try:
            self.runc("delete", "--force", self.cid, check=False, timeout=20)
        except Exception:
            pass
        for pid in (self.monitor_pid,):
            if pid and pid_alive(pid) and is_monitor_pid(pid, self.cid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc is not None:
            self.proc.kill()
        for s in (self.sync, self.start_sock):
            if s is not None:
                s.close()


def is_monitor_pid(pid, cid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return cid.encode() in f.read()
    except OSError:
        return False


def pids_with_arg(arg):
    """PIDs whose command line contains arg (used to check no daemon was left behind)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != os.getpid():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if arg.encode() in f.read().split(b"\0"):
                        found.append(int(d))
            except OSError:
                pass
    return [p for p in found if pid_alive(p)]


def fd_flags(pid, fd):
    with open(f"/proc/{pid}/fdinfo/{fd}") as f:
        for line in f:
            if line.startswith("flags:"):
                return int(line.split()[1], 8)
    raise AssertionError("no flags line")


def is_fifo(path):
    return stat.S_ISFIFO(os.stat(path).st_mode)


def is_socket(path):
    return stat.S_ISSOCK(os.stat(path).st_mode)
