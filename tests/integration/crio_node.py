# SPDX-License-Identifier: GPL-2.0-or-later
"""A CRI-O 1.33 of the tests' own, as a Kubernetes node runs it, with everything it writes
under one state directory in the build tree (../shared/crio/README.md is the recipe).

CRI-O runs in private pid and mount namespaces (crio_init.py is their pid 1): cgroupfs,
runc, no infra container, host-network pods, overlay storage, and the monitor under test as
`monitor_path`.  Images come from `podman import` of a busybox rootfs: no registry.

VIGIL_CRIO_DIR overrides where the static crio, pinns and crictl are (default: ../shared/crio
next to the repository); without them the CRI-O tests skip.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import time

import cri_client
import monitor as m

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CRIO_DIR = os.path.abspath(os.environ.get("VIGIL_CRIO_DIR", os.path.join(REPO, "..", "shared", "crio")))
IMAGE = "localhost/bb:latest"
RUNC = shutil.which("runc") or "/usr/sbin/runc"
INIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "crio_init.py")


def missing():
    """Why the CRI-O tests cannot run here, or None."""
    for name in ("crio", "pinns", "crictl"):
        if not os.access(os.path.join(CRIO_DIR, "bin", name), os.X_OK):
            return f"CRI-O not available: {CRIO_DIR}/bin/{name} is missing (set VIGIL_CRIO_DIR)"
    for name in ("crio.conf.template", "mkrootfs.sh"):
        if not os.path.isfile(os.path.join(CRIO_DIR, name)):
            return f"CRI-O not available: {CRIO_DIR}/{name} is missing (set VIGIL_CRIO_DIR)"
    for tool in ("podman", "unshare", "runc"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not os.path.exists("/usr/bin/busybox"):
        return "busybox-static is not installed"
    return None


def cgroup_parent(state):
    """The pods' cgroup parent: one per state dir, so that nodes never share one."""
    return "vigil-crio-" + hashlib.sha256(state.encode()).hexdigest()[:8]


def cgroup_dirs(state):
    """The pods' cgroup parents in every hierarchy (v1 and v2)."""
    base = "/sys/fs/cgroup"
    dirs = [os.path.join(base, cgroup_parent(state))]
    for h in sorted(os.listdir(base)):
        dirs.append(os.path.join(base, h, cgroup_parent(state)))
    return [d for d in dirs if os.path.isdir(d)]


def remove_cgroups(state):
    """CRI-O's cgroupfs manager removes crio-ID and crio-conmon-ID but not the pods' parents."""
    for top in cgroup_dirs(state):
        for root, subdirs, _ in os.walk(top, topdown=False):
            for d in subdirs:
                try:
                    os.rmdir(os.path.join(root, d))
                except OSError:
                    pass
        try:
            os.rmdir(top)
        except OSError:
            pass


class Result:
    def __init__(self, r):
        self.returncode = r.returncode
        self.out = r.stdout.decode(errors="replace")
        self.err = r.stderr.decode(errors="replace")
        self.stdout = r.stdout


class CrioNode:
    """One state directory; start() and stop() may run several times (restarts, monitors)."""

    def __init__(self, state):
        self.state = state
        self.bin = os.path.join(CRIO_DIR, "bin")
        self.monitor = None
        self.init = None
        self.crio_pid = 0
        self.socket = os.path.join(state, "crio.sock")
        os.makedirs(state, exist_ok=True)
        for d in ("crio.conf.d", "cni", "registries.conf.d", "tmp", "pods", "varlib", "podman-tmp", "specs"):
            os.makedirs(os.path.join(state, d), exist_ok=True)
        self._write(
            "storage.conf",
            f'[storage]\ndriver = "overlay"\ngraphroot = "{state}/storage"\nrunroot = "{state}/run"\n')
        # sockaddr_un holds 108 bytes and CRI-O dials ATTACH_DIR/<64-hex id>/attach: reach the
        # attach dir through a short link when the build tree is deep.
        self.attach_link = None
        attach = os.path.join(state, "attach")
        os.makedirs(attach, exist_ok=True)
        if len(attach) > 30:
            self.attach_link = attach = m.short_link(attach, "crio")
        # No iptables or nft needed: host-network pods map no ports.
        self._write("crio.conf.d/10-vigil-tests.conf",
                    f'[crio.runtime]\ndisable_hostport_mapping = true\ncontainer_attach_socket_dir = "{attach}"\n')
        self._write("policy.json", '{"default":[{"type":"insecureAcceptAnything"}]}\n')
        self._write("registries.conf", "unqualified-search-registries = []\n")
        self._write("crictl.yaml", f"runtime-endpoint: unix://{state}/crio.sock\n"
                                   f"image-endpoint: unix://{state}/crio.sock\ntimeout: 30\n")
        self.env = {
            "PATH": self.bin + ":" + os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "CONTAINERS_STORAGE_CONF": f"{state}/storage.conf",
            "CONTAINERS_REGISTRIES_CONF": f"{state}/registries.conf",
            "CRI_CONFIG_FILE": f"{state}/crictl.yaml",
            "TMPDIR": f"{state}/tmp",
            "PODMAN_IGNORE_CGROUPSV1_WARNING": "1",
        }

    def _write(self, name, text):
        path = os.path.join(self.state, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    # --- the image ---------------------------------------------------------------------------

    def import_image(self):
        """localhost/bb:latest, also the pause image, into CRI-O's storage, once."""
        tar = os.path.join(self.state, "bb.tar")
        subprocess.run(["sh", os.path.join(CRIO_DIR, "mkrootfs.sh"), tar], check=True, timeout=60,
                       capture_output=True, env=self.env)
        r = self.podman("import", "-q", "--change", 'CMD ["/bin/sh"]', tar, IMAGE)
        assert r.returncode == 0, f"podman import: {r.err}"
        os.unlink(tar)

    def podman(self, *args, timeout=120):
        """podman on CRI-O's storage, with /var/lib redirected to STATE/varlib.  Its runroot is a
        tmpfs of its own at /mnt in the private mount namespace: podman refuses one longer than
        50 characters, which STATE/run is in a deep build tree (the sanitize stage's)."""
        s = self.state
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0/varlib" /var/lib && mount -t tmpfs tmpfs /mnt && exec "$@"', s,
                "podman", "--root", f"{s}/storage", "--runroot", "/mnt/run", "--storage-driver", "overlay",
                "--tmpdir", f"{s}/podman-tmp", "--events-backend", "none", "--cgroup-manager", "cgroupfs",
                "--network-config-dir", f"{s}/podman-net", *args]
        return Result(subprocess.run(argv, capture_output=True, timeout=timeout, env=self.env, cwd=s))

    # --- crio ----------------------------------------------------------------------------------

    def configure(self, monitor, runtime=RUNC):
        self.monitor = monitor
        with open(os.path.join(CRIO_DIR, "crio.conf.template")) as f:
            text = f.read()
        for k, v in (("@STATE@", self.state), ("@MONITOR@", monitor), ("@RUNTIME@", runtime),
                     ("@PINNS@", os.path.join(self.bin, "pinns"))):
            text = text.replace(k, v)
        if m.REGISTRY_DIR:
            # The suite's registry, not /run/vigil (monitor_env replaces CRI-O's default PATH).
            text = text.replace('monitor_cgroup = "pod"\n', 'monitor_cgroup = "pod"\nmonitor_env = ['
                                '"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", '
                                f'"VIGIL_REGISTRY_DIR={m.REGISTRY_DIR}"]\n')
        self._write("crio.conf", text)

    def _init_command(self, line):
        self.init.stdin.write(line + "\n")
        self.init.stdin.flush()
        reply = self.init.stdout.readline().strip()
        assert reply and not reply.startswith("error"), f"crio_init {line!r}: {reply!r}"
        return reply

    def start(self):
        """Start crio (the namespaces too, the first time); returns when it answers."""
        s = self.state
        if self.init is None:
            crio = [os.path.join(self.bin, "crio"), "--config", f"{s}/crio.conf", "--config-dir",
                    f"{s}/crio.conf.d", "--registries-conf", f"{s}/registries.conf",
                    "--registries-conf-dir", f"{s}/registries.conf.d"]
            self.init = subprocess.Popen(
                # --kill-child: should unshare be killed, so is the namespace's pid 1, and with
                # it everything in the namespace.
                ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child",
                 "--mount-proc",
                 "/usr/bin/python3", INIT, s, f"{s}/crio.log", *crio],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=self.env, cwd=s)
            assert self.init.stdout.readline().strip() == "ready", "crio_init did not start"
        log = f"{s}/crio.log"
        offset = os.path.getsize(log) if os.path.exists(log) else 0
        self.crio_pid = int(self._init_command("start").split()[1])

        def answers():
            with open(log, "rb") as f:
                f.seek(offset)
                fatal = [line for line in f if b"level=fatal" in line]
            assert not fatal, f"crio failed to start: {fatal[0].decode(errors='replace')}"
            return self.crictl("version").returncode == 0

        m.wait_for(answers, 60, interval=0.1, what=f"crio to answer on its socket (see {log})")

    def stop(self):
        """SIGTERM crio as systemd would; pods and containers keep running."""
        self._init_command("stop")
        self.crio_pid = 0

    def reap(self, on):
        self._init_command("reap %d" % bool(on))

    def shutdown(self):
        """Remove every pod, stop crio, end its namespaces; then nothing of it remains."""
        if self.init is None:
            return
        if self.crio_pid:
            # A pid 1 without a TERM handler would cost each pod its whole grace period.
            running = self.crictl("ps", "-q").out.split()
            if running:
                self.crictl("stop", "-t", "0", *running, timeout=120)
            self.crictl("rmp", "-fa", timeout=120)
            self.stop()
        self.init.stdin.close()
        try:
            self.init.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.init.kill()
            self.init.wait()
        self.init.stdout.close()
        self.init = None
        remove_cgroups(self.state)
        if self.attach_link and os.path.islink(self.attach_link):
            os.unlink(self.attach_link)
            self.attach_link = None

    def crictl(self, *args, timeout=60, input=None, check=False):
        r = Result(subprocess.run([os.path.join(self.bin, "crictl"), *args], capture_output=True,
                                  timeout=timeout, input=input, env=self.env, cwd=self.state))
        if check:
            assert r.returncode == 0, f"crictl {' '.join(args)}: rc {r.returncode}: {r.err}"
        return r

    def info(self):
        return json.loads(self.crictl("info", "-o", "json", check=True).out)

    # --- pods and containers -------------------------------------------------------------------

    def _spec(self, name, spec):
        path = os.path.join(self.state, "specs", name + ".json")
        with open(path, "w") as f:
            json.dump(spec, f)
        return path

    def run_pod(self, name, pid_ns=1):
        """A host-network pod; pid_ns 1 = one pid namespace per container (no infra container)."""
        spec = {
            "metadata": {"name": name, "namespace": "default", "uid": "uid-" + name, "attempt": 0},
            "hostname": name,
            "log_directory": os.path.join(self.state, "pods", name),
            "linux": {
                "cgroup_parent": f"/{cgroup_parent(self.state)}/pod-{name}",
                "security_context": {"namespace_options": {"network": 2, "pid": pid_ns, "ipc": 0}},
            },
        }
        path = self._spec("pod-" + name, spec)
        pod = self.crictl("runp", path, check=True).out.strip()
        return Pod(self, pod, path, spec["log_directory"])


class Pod:
    def __init__(self, node, pod_id, spec_path, log_dir):
        self.node = node
        self.id = pod_id
        self.spec_path = spec_path
        self.log_dir = log_dir

    def create(self, name, command, *, start=True, stdin=False, tty=False, memory=0):
        spec = {
            "metadata": {"name": name},
            "image": {"image": IMAGE},
            "command": command,
            "log_path": name + ".log",
            "stdin": stdin,
            "tty": tty,
            "linux": {"security_context": {"namespace_options": {"network": 2, "pid": 1, "ipc": 0}}},
        }
        if memory:
            spec["linux"]["resources"] = {"memory_limit_in_bytes": memory}
        path = self.node._spec(f"ctr-{self.id[:12]}-{name}", spec)
        cid = self.node.crictl("create", self.id, path, self.spec_path, check=True).out.strip()
        if start:
            self.node.crictl("start", cid, check=True)
        return Container(self.node, cid, os.path.join(self.log_dir, name + ".log"))

    def remove(self, check=True):
        # A pid 1 without a TERM handler would cost the whole grace period: no test wants it.
        running = self.node.crictl("ps", "-q", "--pod", self.id).out.split()
        if running:
            self.node.crictl("stop", "-t", "0", *running, timeout=120)
        self.node.crictl("stopp", self.id, check=check, timeout=120)
        self.node.crictl("rmp", self.id, check=check, timeout=120)


class Container:
    def __init__(self, node, cid, log_path):
        self.node = node
        self.id = cid
        self.log_path = log_path

    def inspect(self):
        return json.loads(self.node.crictl("inspect", "-o", "json", self.id, check=True).out)

    def status(self):
        return self.inspect()["status"]

    def state(self):
        return self.status()["state"]

    def wait_state(self, state, timeout=30):
        return m.wait_for(lambda: self.state() == state, timeout, interval=0.1,
                          what=f"container {self.id[:12]} to be {state}")

    def exec_sync(self, *argv, timeout=None, check=False):
        extra = ["--timeout", str(timeout)] if timeout else []
        return self.node.crictl("exec", "-s", *extra, self.id, *argv, check=check)

    def exec_cri(self, *argv, timeout=0):
        """ExecSync through the CRI directly: (exit_code, stdout bytes, stderr bytes)."""
        return cri_client.exec_sync(self.node.socket, self.id, argv, timeout)

    def exec_stream(self, *argv, check=False):
        return self.node.crictl("exec", self.id, *argv, check=check)

    def logs(self, *args, timeout=60):
        return self.node.crictl("logs", *args, self.id, timeout=timeout)

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def host_pids(self):
        """The container's processes, as the host's pid namespace numbers them."""
        for top in cgroup_dirs(self.node.state):
            for procs in glob.glob(f"{top}/*/crio-{self.id}/cgroup.procs"):
                with open(procs) as f:
                    return [int(p) for p in f.read().split()]
        return []

    def init_host_pid(self):
        """The host's number for the container's pid 1 (its own pid namespace's init)."""
        for pid in self.host_pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    nspid = [line.split()[1:] for line in f if line.startswith("NSpid:")][0]
            except OSError:
                continue
            if nspid[-1] == "1":
                return pid
        raise AssertionError(f"no pid 1 of container {self.id[:12]} in its cgroup")

    def monitor_pids(self):
        """Host pids of the monitor processes (ExecSync monitors too) whose argv names this id."""
        return [p for p in m.pids_with_arg(self.id) if exe_of(p) == self.node.monitor]


def exe_of(pid):
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def leftovers(state):
    """What a stopped node must not leave: any process started with the state directory in
    its argv (crio, crio_init, monitors, runc), mounts under it, the pods' cgroup parents.
    Other CRI-O instances on the machine (other state dirs) are not this node's."""
    found = []
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if pid != os.getpid() and any(state.encode() in a for a in argv):
            found.append(f"process {pid} {b' '.join(argv).decode(errors='replace')[:300]}")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            if point.startswith(state):
                found.append(f"mount {point}")
    found += [f"cgroup {d}" for d in cgroup_dirs(state)]
    return found


def wait_gone(pids, timeout=15):
    m.wait_for(lambda: not [p for p in pids if m.pid_alive(p)], timeout, what=f"processes {pids} to exit")



# --- the kubelet's log rotation ------------------------------------------------------------------

WRITER = ["awk", 'BEGIN { for (i = 0; ; i++) print "line " i }']


def rotate_under_writer(pod, seconds=2.0, interval=0.1, name="rot"):
    """A container writes numbered lines as fast as it can (awk: block-buffered, so writes cut
    lines anywhere) while the log is renamed to LOG.N and reopened through the CRI every
    INTERVAL s, as the kubelet rotates; then it is killed.  Returns (container, files in order)."""
    node = pod.node
    c = pod.create(name, WRITER)
    m.wait_for(lambda: os.path.exists(c.log_path) and os.path.getsize(c.log_path) > 0, 20,
               what="the writer's first lines")
    files = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(interval)
        files.append(f"{c.log_path}.{len(files) + 1}")
        os.rename(c.log_path, files[-1])
        cri_client.reopen_container_log(node.socket, c.id)
    node.crictl("stop", "-t", "0", c.id, check=True)
    c.wait_state("CONTAINER_EXITED")
    return c, files + [c.log_path]


def count_lines(files):
    """Every line of the writer across FILES: {lines, lost, duplicated, cut, torn, bad_records,
    files}.  P records are joined to their F; a line whose P records end one file and whose F
    starts the next is counted, and also as cut (a reader of one file sees half a line); a line
    that does not parse is torn, a record not in CRI format is bad."""
    seen = {}
    torn = bad = cut = 0
    pending = None
    crossed = False
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        crossed = pending is not None
        if data and not data.endswith(b"\n"):
            bad += 1
        for record in data.split(b"\n"):
            if not record:
                continue
            r = m.K8S_RE.match(record)
            if not r:
                bad += 1
                continue
            content = (pending or b"") + r.group(4)
            if r.group(3) == b"P":
                pending = content
                continue
            pending = None
            cut += crossed
            crossed = False
            w = content.split(b" ")
            if len(w) == 2 and w[0] == b"line" and w[1].isdigit():
                seen[int(w[1])] = seen.get(int(w[1]), 0) + 1
            else:
                torn += 1
    top = max(seen) if seen else -1
    return {
        "lines": top + 1,
        "lost": sum(1 for i in range(top + 1) if i not in seen),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "cut": cut,
        "torn": torn,
        "bad_records": bad,
        "files": len(files),
    }
