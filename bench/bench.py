#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark vigil against conmon: the same workloads under both, alternating.

Each container is driven exactly like podman 4.3.1 drives its monitor
(shared/spec/engine-contract.md §0-2): SOCK_SEQPACKET socketpairs announced as
_OCI_SYNCPIPE/_OCI_STARTPIPE, podman's argv, one start byte, `{"data": pid}`
read back from the sync socket, `runc start` run by the harness, the exit file
awaited in --exit-dir.

Workloads (see bench/README.md):
  small   k8s-file throughput, 67-byte lines (66 chars + LF), + monitor CPU and VmHWM
  big     k8s-file throughput, 4096-byte lines, + monitor CPU and VmHWM
  idle    memory of an idle monitor (sleep container that printed one line)
  latency start byte -> {"data": pid} on the sync socket (runc create inside)
  density N idle containers at once per monitor kind: memory of each monitor and of its
          spawner (vigil's forked helper), then the same before/after relaying 10 MB

Python 3 standard library only.  Must run as root (runc).
"""

import argparse
import ctypes
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PR_SET_CHILD_SUBREAPER = 36
CLK_TCK = os.sysconf("SC_CLK_TCK")

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000

_libc = ctypes.CDLL(None, use_errno=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# small helpers


def on_cpu_ns(pid):
    """Time the task has run on a CPU, ns (/proc/PID/schedstat): exact, unlike utime."""
    with open("/proc/%d/schedstat" % pid) as f:
        return int(f.read().split()[0])


def percentile(vals, q):
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(round(q / 100.0 * (len(vals) - 1))))]


def read_kv(path):
    """Parse a /proc 'Key:   value kB' file into {key: int(kB)}."""
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            parts = v.split()
            if parts and parts[0].isdigit():
                out[k.strip()] = int(parts[0])
    return out


def proc_cpu(pid):
    """(utime, stime) in seconds of the whole thread group."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def children_of(pid):
    """PIDs whose parent is PID (every thread's children file)."""
    out = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def find_spawner(mon_pid):
    """The monitor's child that runs the monitor's own executable (vigil's spawner), or 0."""
    try:
        mon_exe = os.stat("/proc/%d/exe" % mon_pid)
    except OSError:
        return 0
    for child in children_of(mon_pid):
        try:
            st = os.stat("/proc/%d/exe" % child)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (mon_exe.st_dev, mon_exe.st_ino):
            return child
    return 0


class ExitWatcher:
    """Wait for <exit-dir>/<cid> with inotify (no polling error, no busy CPU)."""

    def __init__(self, exit_dir, name):
        self.path = os.path.join(exit_dir, name)
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        wd = _libc.inotify_add_watch(self.fd, exit_dir.encode(),
                                     IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def _ready(self):
        try:
            with open(self.path) as f:
                return f.read() or None
        except FileNotFoundError:
            return None

    def wait(self, timeout, pidfd=None):
        """Wait for the exit file; returns (text or None, time it was seen, time the
        process behind PIDFD (the container) was seen to exit, or None)."""
        deadline = time.monotonic() + timeout
        t_pid = None
        while True:
            text = self._ready()
            if text is not None:
                now = time.perf_counter()
                return text, now, t_pid if t_pid is not None else (now if pidfd else None)
            left = deadline - time.monotonic()
            if left <= 0:
                return None, time.perf_counter(), t_pid
            fds = [self.fd] + ([pidfd] if pidfd is not None and t_pid is None else [])
            r, _, _ = select.select(fds, [], [], min(left, 0.5))
            if pidfd is not None and pidfd in r:
                t_pid = time.perf_counter()
            if self.fd in r:
                try:
                    os.read(self.fd, 65536)
                except BlockingIOError:
                    pass

    def close(self):
        os.close(self.fd)


def reap(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.01)
    return False


# --------------------------------------------------------------------------
# the engine side


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.workdir)
        self.rootfs = os.path.join(self.work, "template", "rootfs")
        self.runc_root = os.path.join(self.work, "runc-root")
        self.runs = os.path.join(self.work, "runs")
        self.logcheck = os.path.join(self.work, "logcheck")
        self.counter = 0
        self.template = None

    # ---- setup
    def setup(self):
        os.makedirs(self.work, exist_ok=True)
        shutil.rmtree(self.runs, ignore_errors=True)
        os.makedirs(self.runs)
        os.makedirs(self.runc_root, exist_ok=True)
        tdir = os.path.join(self.work, "template")
        if not os.path.exists(os.path.join(tdir, "config.json")):
            log("# building the busybox bundle template in %s" % tdir)
            subprocess.run(["sh", os.path.join(REPO, "tests", "lib", "mkbundle.sh"), tdir,
                            "true"], check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(tdir, "config.json")) as f:
            self.template = json.load(f)
        cc = os.environ.get("CC", "gcc")
        subprocess.run([cc, "-O2", "-static", "-o", os.path.join(self.rootfs, "bin", "gen"),
                        os.path.join(HERE, "gen.c")], check=True)
        subprocess.run([cc, "-O2", "-o", self.logcheck, os.path.join(HERE, "logcheck.c")],
                       check=True)
        if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    def prepare(self, monitor, label, cmd, exit_cmd, extra_args=(), mutate=None):
        """A fresh bundle running CMD, and podman's argv for MONITOR; returns a dict.

        mutate(spec, bundle) may change the container's config.json and add to its bundle."""
        self.counter += 1
        cid = "vbench-%s-%d-%d" % (label, os.getpid(), self.counter)
        rdir = os.path.join(self.runs, cid)
        bundle = os.path.join(rdir, "bundle")
        exit_dir = os.path.join(rdir, "exits")
        os.makedirs(bundle)
        os.makedirs(exit_dir)
        spec = json.loads(json.dumps(self.template))
        spec["process"]["args"] = cmd
        spec["root"]["path"] = self.rootfs
        if mutate:
            mutate(spec, bundle)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(spec, f)
        log_path = os.path.join(rdir, "ctr.log")
        mon_pidfile = os.path.join(rdir, "conmon.pid")
        argv = [monitor, "--api-version", "1", "-c", cid, "-u", cid, "-r", self.args.runc,
                "-b", bundle, "-p", os.path.join(rdir, "pidfile"), "-n", cid,
                "--exit-dir", exit_dir, "--full-attach"]
        for ra in ("--root", self.runc_root):
            argv += ["--runtime-arg", ra]
        argv += ["-l", "k8s-file:" + log_path, "--log-level", "warning",
                 "--conmon-pidfile", mon_pidfile, "--exit-command", exit_cmd[0]]
        for a in exit_cmd[1:]:
            argv += ["--exit-command-arg", a]
        argv += list(extra_args)
        env = dict(kv.split("=", 1) for kv in getattr(self.args, "vigil_env", ())) \
            if monitor == self.args.vigil else {}
        return {"cid": cid, "rdir": rdir, "bundle": bundle, "exit_dir": exit_dir,
                "log": log_path, "mon_pidfile": mon_pidfile, "argv": argv, "env": env}

    @staticmethod
    def engine_env(c, sync_theirs, start_theirs):
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root",
            "_OCI_SYNCPIPE": str(sync_theirs.fileno()),
            "_OCI_STARTPIPE": str(start_theirs.fileno()),
        }
        env.update(c["env"])
        return env

    # ---- one container under one monitor
    def run(self, monitor, label, cmd, exit_cmd, on_started=None, timeout=600.0,
            extra_args=(), sample=False, mutate=None):
        """Run CMD in a fresh container under MONITOR; returns a dict of measurements.

        on_started(ctx) is called after `runc start`; it may wait for something
        and must arrange for the container to exit.  mutate: as for prepare().
        """
        c = self.prepare(monitor, label, cmd, exit_cmd, extra_args, mutate)
        cid, rdir, exit_dir, log_path = c["cid"], c["rdir"], c["exit_dir"], c["log"]
        mon_pidfile, argv = c["mon_pidfile"], c["argv"]
        runc = self.args.runc
        rargs = ["--root", self.runc_root]
        sync_ours, sync_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        start_ours, start_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = self.engine_env(c, sync_theirs, start_theirs)
        res = {"cid": cid, "ok": False}
        mon_pid = None
        pidfd = None
        watcher = ExitWatcher(exit_dir, cid)
        out = open(os.path.join(rdir, "monitor.out"), "wb")
        try:
            first = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=out, pass_fds=(sync_theirs.fileno(),
                                                           start_theirs.fileno()),
                                     start_new_session=True)
            sync_theirs.close()
            start_theirs.close()
            first_done = {}

            def wait_first():
                first_done["rc"] = first.wait()
                first_done["t"] = time.perf_counter()

            waiter = threading.Thread(target=wait_first, daemon=True)
            waiter.start()

            t_byte = time.perf_counter()
            start_ours.send(b"\0")
            sync_ours.settimeout(60)
            buf = b""
            while b"\n" not in buf:
                chunk = sync_ours.recv(4096)
                if not chunk:
                    break
                buf += chunk
            t_pid = time.perf_counter()
            waiter.join(60)
            if first_done.get("rc") != 0:
                raise RuntimeError("monitor's first process: rc=%s" % first_done.get("rc"))
            with open(mon_pidfile) as f:
                mon_pid = int(f.read())
            if not buf:
                raise RuntimeError("sync socket closed without a pid")
            msg = json.loads(buf.split(b"\n", 1)[0])
            if msg.get("data", -1) <= 0:
                raise RuntimeError("create failed: %s" % msg)
            start_ours.close()
            try:
                pidfd = os.pidfd_open(msg["data"])
            except OSError:
                pidfd = None
            res["create_to_pid"] = t_pid - t_byte
            res["create_to_parent_exit"] = first_done["t"] - t_byte

            if sample:
                # sample the monitor's smaps_rollup every 50 ms while it relays output
                stop = threading.Event()
                peak = {}

                def sampler(pid=mon_pid):
                    while not stop.is_set():
                        try:
                            sm = read_kv("/proc/%d/smaps_rollup" % pid)
                        except OSError:
                            return
                        pd = sm.get("Private_Dirty", 0)
                        if pd > peak.get("pd", -1):
                            peak["pd"] = pd
                        stop.wait(0.05)

                sthread = threading.Thread(target=sampler, daemon=True)
                sthread.start()
            t_start = time.perf_counter()
            subprocess.run([runc] + rargs + ["start", cid], check=True, timeout=60)
            t_started = time.perf_counter()
            res["runc_start"] = t_started - t_start
            ctx = {"cid": cid, "log": log_path, "mon_pid": mon_pid, "runc": [runc] + rargs,
                   "res": res}
            if on_started:
                on_started(ctx)
            code, t_exit, t_cexit = watcher.wait(timeout, pidfd)
            if sample:
                stop.set()
                sthread.join()
                res["peak_private_dirty_kb"] = peak.get("pd")
            if code is None:
                raise RuntimeError("no exit file after %gs" % timeout)
            # The monitor is now running (waiting for) the exit command: still alive.
            self.save_smaps(mon_pid, monitor, label)
            try:
                ut, st = proc_cpu(mon_pid)
                status = read_kv("/proc/%d/status" % mon_pid)
                res.update(utime=ut, stime=st, vmhwm_kb=status.get("VmHWM"),
                           vmrss_kb=status.get("VmRSS"))

            except (FileNotFoundError, ProcessLookupError):
                res["monitor_gone_at_exit_file"] = True
            res["exit_code"] = code.strip()
            res["start_to_exit"] = t_exit - t_start
            if t_cexit is not None:
                res["start_to_container_exit"] = t_cexit - t_start
                res["exit_tail"] = t_exit - t_cexit
            try:
                res["log_size_at_exit"] = os.path.getsize(log_path)
            except FileNotFoundError:
                res["log_size_at_exit"] = 0
            if not reap(mon_pid, 60):
                raise RuntimeError("monitor %d did not exit" % mon_pid)
            mon_pid = None
            try:
                res["log_size_final"] = os.path.getsize(log_path)
            except FileNotFoundError:
                res["log_size_final"] = 0
            res["ok"] = True
        except Exception as e:  # report, clean up, keep going
            res["error"] = str(e)
            log("!! %s run %s: %s (see %s/monitor.out)" % (os.path.basename(monitor), cid, e,
                                                           rdir))
        finally:
            watcher.close()
            out.close()
            if pidfd is not None:
                os.close(pidfd)
            for s in (sync_ours, start_ours, sync_theirs, start_theirs):
                try:
                    s.close()
                except OSError:
                    pass
            if mon_pid is not None:
                try:
                    os.kill(mon_pid, signal.SIGKILL)
                except OSError:
                    pass
                reap(mon_pid, 5)
            subprocess.run([runc, "--root", self.runc_root, "delete", "-f", cid],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res["rdir"] = rdir
        return res

    def save_smaps(self, pid, monitor, label):
        """--smaps DIR: keep the monitor's per-mapping memory, to see where it goes."""
        if not self.args.smaps:
            return
        os.makedirs(self.args.smaps, exist_ok=True)
        dest = os.path.join(self.args.smaps, "%s-%s-%d.smaps" % (os.path.basename(monitor), label,
                                                                 self.counter))
        try:
            shutil.copyfile("/proc/%d/smaps" % pid, dest)
        except OSError as e:
            log("smaps of %d: %s" % (pid, e))

    def cleanup_run(self, res):
        if not self.args.keep:
            shutil.rmtree(res["rdir"], ignore_errors=True)

    # ---- workloads
    def throughput(self, monitor, label, nbytes, line_len, extra_args=()):
        nbytes -= nbytes % line_len
        os.sync()  # start every run with no dirty page cache from the previous one
        res = self.run(monitor, label, ["/bin/gen", str(nbytes), str(line_len)],
                       ["/bin/sleep", "2"], extra_args=extra_args, sample=True)
        if res["ok"]:
            chk = subprocess.run([self.logcheck, os.path.join(res["rdir"], "ctr.log"),
                                  str(line_len), str(nbytes)], capture_output=True, text=True)
            res["logcheck"] = chk.stdout.strip()
            res["log_ok"] = chk.returncode == 0
            res["bytes"] = nbytes
            res["mb_s"] = nbytes / res["start_to_exit"] / 1e6
            if res.get("start_to_container_exit"):
                res["app_mb_s"] = nbytes / res["start_to_container_exit"] / 1e6
            if "utime" in res:
                cpu = res["utime"] + res["stime"]
                res["cpu_s_per_gb"] = cpu / (nbytes / 1e9)
            if res["log_size_at_exit"] != res["log_size_final"]:
                res["warn"] = "log grew after the exit file appeared (%d -> %d)" % (
                    res["log_size_at_exit"], res["log_size_final"])
            if not res["log_ok"]:
                res["ok"] = False
                res["error"] = "log check failed: " + res["logcheck"]
            if "--no-sync-log" not in extra_args:
                self.disk_limit(res, nbytes)
        self.cleanup_run(res)
        return res

    @staticmethod
    def disk_limit(res, nbytes):
        """What the disk allows: `dd conv=fdatasync` of the log's size, next to the log, right
        after the run.  No monitor can finish sooner, so mb_s / disk_mb_s is the share of the
        limit reached (the log is 1.67x the payload on 67 B lines, hence the same payload)."""
        mib = max(1, -(-res["log_size_final"] // (1 << 20)))
        img = os.path.join(res["rdir"], "dd.img")
        os.sync()
        t = time.monotonic()
        subprocess.run(["dd", "if=/dev/zero", "of=" + img, "bs=1M", "count=%d" % mib, "conv=fdatasync"],
                       check=True, capture_output=True)
        res["dd_s"] = time.monotonic() - t
        os.unlink(img)
        res["disk_mb_s"] = nbytes / res["dd_s"] / 1e6
        res["pct_of_disk"] = 100.0 * res["mb_s"] / res["disk_mb_s"]

    def idle(self, monitor):
        def started(ctx):
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    with open(ctx["log"], "rb") as f:
                        if b" stdout F ready\n" in f.read():
                            break
                except FileNotFoundError:
                    pass
                time.sleep(0.01)
            else:
                raise RuntimeError("the line never reached the log")
            time.sleep(self.args.idle_settle)
            pid = ctx["mon_pid"]
            self.save_smaps(pid, monitor, "idle")
            st = read_kv("/proc/%d/status" % pid)
            sm = read_kv("/proc/%d/smaps_rollup" % pid)
            ctx["res"].update(idle_vmhwm_kb=st.get("VmHWM"), idle_vmrss_kb=st.get("VmRSS"),
                              idle_pss_kb=sm.get("Pss"),
                              idle_private_dirty_kb=sm.get("Private_Dirty"),
                              idle_rss_kb=sm.get("Rss"),
                              idle_threads=read_kv("/proc/%d/status" % pid).get("Threads"))
            pair = self.sample_pair({"mon_pid": pid}, "%s-idle-%d" % (
                os.path.basename(monitor), self.counter) if self.args.smaps else None)
            ctx["res"].update(idle_spw_pd_kb=pair["spw_pd_kb"],
                              idle_sum_pd_kb=pair["sum_pd_kb"],
                              idle_sum_psd_kb=pair["sum_psd_kb"],
                              idle_sum_pss_kb=pair["sum_pss_kb"])
            ut, stt = proc_cpu(pid)
            ctx["res"]["idle_cpu_s"] = ut + stt
            subprocess.run(ctx["runc"] + ["kill", ctx["cid"], "KILL"], check=True)

        res = self.run(monitor, "idle", ["/bin/sh", "-c", "echo ready; exec sleep 600"],
                       ["/bin/true"], on_started=started)
        if res["ok"] and "idle_pss_kb" not in res:
            res["ok"] = False
        self.cleanup_run(res)
        return res

    def latency(self, monitor):
        res = self.run(monitor, "lat", ["/bin/true"], ["/bin/true"])
        self.cleanup_run(res)
        return res

    # ---- density: N idle containers at once under one monitor kind
    def density(self, monitor, name, n):
        """Start N `echo ready; exec sleep 600` containers, let them settle, read the memory
        of each monitor and of its spawner, then kill them all and check nothing is left."""
        cs = [self.prepare(monitor, "dens%d" % n, ["/bin/sh", "-c", "echo ready; exec sleep 600"],
                           ["/bin/true"]) for _ in range(n)]
        res = {"n": n, "ok": False, "cid": "%s (+%d)" % (cs[0]["cid"], n - 1),
               "cids": [c["cid"] for c in cs]}
        t0 = time.monotonic()
        try:
            self.launch_all(cs)
            res["launch_s"] = time.monotonic() - t0
            self.wait_logged(cs, b" stdout F ready\n", 120)
            time.sleep(self.args.idle_settle)
            per = [self.sample_pair(c, "%s-dens%d-%d" % (name, n, i) if i == 0 else None)
                   for i, c in enumerate(cs)]
            res["per_container"] = per
            for key in per[0]:
                if isinstance(per[0][key], int) and key != "spawner_pid":
                    res[key] = statistics.mean(p[key] for p in per)
            res["no_spawner"] = sum(1 for p in per if p["spawner_pid"] == 0)
            res["ok"] = True
        except Exception as e:  # report, clean up, keep going
            res["error"] = str(e)
            log("!! %s density N=%d: %s" % (name, n, e))
        res["leftovers"] = self.teardown(cs)
        if res["leftovers"]:
            res["ok"] = False
            res["error"] = "left behind: " + "; ".join(res["leftovers"])
        for c in cs:
            if not self.args.keep:
                shutil.rmtree(c["rdir"], ignore_errors=True)
        return res

    def relay_probe(self, monitor, name, nbytes):
        """One container that says ready, then, when told, relays NBYTES of 67-byte lines:
        the spawner's memory before and after, as the monitor dirties pages it shares."""
        c = self.prepare(monitor, "relay", ["/bin/sh", "-c", "echo ready; read x < /trigger/go; "
                                            "/bin/gen %d 67; echo done; exec sleep 600" % nbytes],
                         ["/bin/true"])
        trig = os.path.join(c["rdir"], "trigger")
        os.makedirs(trig)
        os.mkfifo(os.path.join(trig, "go"))
        with open(os.path.join(c["bundle"], "config.json")) as f:
            spec = json.load(f)
        spec.setdefault("mounts", []).append({"destination": "/trigger", "type": "bind", "source": trig,
                               "options": ["rbind", "rw"]})
        with open(os.path.join(c["bundle"], "config.json"), "w") as f:
            json.dump(spec, f)
        res = {"ok": False, "cid": c["cid"]}
        try:
            self.launch_all([c])
            self.wait_logged([c], b" stdout F ready\n", 60)
            time.sleep(self.args.idle_settle)
            for k, v in self.sample_pair(c, "%s-relay-before" % name).items():
                res["before_" + k] = v
            fd = os.open(os.path.join(trig, "go"), os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"go\n")
            os.close(fd)
            self.wait_logged([c], b" stdout F done\n", 120)
            time.sleep(self.args.idle_settle)
            for k, v in self.sample_pair(c, "%s-relay-after" % name).items():
                res["after_" + k] = v
            res["ok"] = True
        except Exception as e:
            res["error"] = str(e)
            log("!! %s relay probe: %s" % (name, e))
        res["leftovers"] = self.teardown([c])
        if res["leftovers"]:
            res["ok"] = False
            res["error"] = "left behind: " + "; ".join(res["leftovers"])
        if not self.args.keep:
            shutil.rmtree(c["rdir"], ignore_errors=True)
        return res

    def launch_all(self, cs, window=8):
        """Create and start the containers of CS like podman does, WINDOW monitors at a time
        (each runs `runc create`; 50 at once on 2 vCPUs would only queue up)."""
        for i in range(0, len(cs), window):
            batch = cs[i:i + window]
            for c in batch:
                self.launch(c)
            self.collect_pids(batch, 120)
            starts = [subprocess.Popen([self.args.runc, "--root", self.runc_root, "start",
                                        c["cid"]]) for c in batch]
            for p in starts:
                if p.wait(60) != 0:
                    raise RuntimeError("runc start failed: rc=%d" % p.returncode)

    def launch(self, c):
        sync_ours, sync_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        start_ours, start_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with open(os.path.join(c["rdir"], "monitor.out"), "wb") as out:
            c["first"] = subprocess.Popen(c["argv"], env=self.engine_env(c, sync_theirs, start_theirs),
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                          pass_fds=(sync_theirs.fileno(), start_theirs.fileno()),
                                          start_new_session=True)
        sync_theirs.close()
        start_theirs.close()
        c["sync"], c["start"] = sync_ours, start_ours
        try:
            start_ours.send(b"\0")
        except OSError as e:
            raise RuntimeError("%s: start byte: %s (see %s/monitor.out)" % (c["cid"], e, c["rdir"]))

    def collect_pids(self, cs, timeout):
        """Read `{"data": pid}` from every sync socket of CS, then the monitors' pidfiles."""
        bufs = {c["sync"].fileno(): [c, b""] for c in cs}
        pending = set(bufs)
        deadline = time.monotonic() + timeout
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("no pid from %d monitors after %gs" % (len(pending), timeout))
            r, _, _ = select.select(list(pending), [], [], left)
            for fd in r:
                chunk = bufs[fd][0]["sync"].recv(4096)
                bufs[fd][1] += chunk
                if not chunk or b"\n" in bufs[fd][1]:
                    pending.discard(fd)
        for c, buf in bufs.values():
            c["sync"].close()
            c["start"].close()
            rc = c.pop("first").wait(60)
            if rc != 0:
                raise RuntimeError("%s: monitor's first process: rc=%d" % (c["cid"], rc))
            with open(c["mon_pidfile"]) as f:
                c["mon_pid"] = int(f.read())
            msg = json.loads(buf.split(b"\n", 1)[0] or b"{}")
            if msg.get("data", -1) <= 0:
                raise RuntimeError("%s: create failed: %s" % (c["cid"], msg))
            c["ctr_pid"] = msg["data"]

    @staticmethod
    def wait_logged(cs, marker, timeout):
        """Until every log of CS has MARKER in its last 64 KiB (harness side; not measured)."""
        deadline = time.monotonic() + timeout
        todo = list(cs)
        while todo:
            for c in list(todo):
                try:
                    with open(c["log"], "rb") as f:
                        f.seek(max(0, os.fstat(f.fileno()).st_size - 65536))
                        if marker in f.read():
                            todo.remove(c)
                except FileNotFoundError:
                    pass
            if todo and time.monotonic() > deadline:
                raise RuntimeError("%d logs lack %r after %gs" % (len(todo), marker, timeout))
            if todo:
                time.sleep(0.05)

    def sample_pair(self, c, smaps_label=None):
        """smaps_rollup of the monitor and of its spawner (its child running the same
        executable; conmon has none), in kB."""
        mon = c["mon_pid"]
        spw = find_spawner(mon)
        c["spawner_pid"] = spw
        out = {"spawner_pid": spw}
        for who, pid in (("mon", mon), ("spw", spw)):
            sm = read_kv("/proc/%d/smaps_rollup" % pid) if pid else {}
            for key, name in (("Private_Dirty", "pd"), ("Pss", "pss"), ("Rss", "rss"),
                              ("Shared_Dirty", "sd"), ("Pss_Dirty", "psd")):
                out["%s_%s_kb" % (who, name)] = sm.get(key, 0)
            if pid and smaps_label and self.args.smaps:
                os.makedirs(self.args.smaps, exist_ok=True)
                shutil.copyfile("/proc/%d/smaps" % pid, os.path.join(
                    self.args.smaps, "%s-%s.smaps" % (smaps_label, who)))
        out["sum_pd_kb"] = out["mon_pd_kb"] + out["spw_pd_kb"]
        out["sum_pss_kb"] = out["mon_pss_kb"] + out["spw_pss_kb"]
        # Pages dirtied before the fork and not written since are Shared_Dirty in both, in
        # neither's Private_Dirty; Pss_Dirty gives each of them half to each: the sum counts
        # every dirty page of the pair once.
        out["sum_psd_kb"] = out["mon_psd_kb"] + out["spw_psd_kb"]
        return out

    def teardown(self, cs):
        """Kill every container of CS, reap every monitor (the harness is their subreaper),
        `runc delete` them, reap the detached exit commands; returns what is left, if any."""
        left = []
        runc = [self.args.runc, "--root", self.runc_root]
        for c in cs:
            for s in ("sync", "start"):
                if s in c:
                    c[s].close()
            if "first" in c:  # launch interrupted: its first process may still be there
                try:
                    c["first"].kill()
                except OSError:
                    pass
                c.pop("first").wait()
        for c in cs:  # a launch cut short: monitors may run whose pid was not read yet
            if "mon_pid" not in c:
                try:
                    with open(c["mon_pidfile"]) as f:
                        c["mon_pid"] = int(f.read())
                except (OSError, ValueError):
                    pass
        kills = [subprocess.Popen(runc + ["kill", c["cid"], "KILL"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for c in cs]
        for p in kills:
            p.wait(60)
        deadline = time.monotonic() + 60
        for c in cs:
            if "mon_pid" not in c:
                continue
            if not reap(c["mon_pid"], max(1.0, deadline - time.monotonic())):
                left.append("monitor %d (%s) still runs" % (c["mon_pid"], c["cid"]))
                try:
                    os.kill(c["mon_pid"], signal.SIGKILL)
                except OSError:
                    pass
                reap(c["mon_pid"], 5)
            elif not os.path.exists(os.path.join(c["exit_dir"], c["cid"])):
                left.append("no exit file for %s" % c["cid"])
        for c in cs:
            subprocess.run(runc + ["delete", "-f", c["cid"]], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        # The exit commands (/bin/true) were detached; their parent gone, they are ours.
        deadline = time.monotonic() + 10
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if time.monotonic() > deadline:
                    left.append("children of the harness: %s" % children_of(os.getpid()))
                    break
                time.sleep(0.02)
        for c in cs:
            for key in ("mon_pid", "spawner_pid", "ctr_pid"):
                pid = c.get(key)
                if pid and os.path.exists("/proc/%d" % pid):
                    left.append("%s %d of %s exists" % (key, pid, c["cid"]))
        listed = subprocess.run(runc + ["list", "-q"], capture_output=True, text=True).stdout
        ours = set(c["cid"] for c in cs) & set(listed.split())
        if ours:
            left.append("runc still lists %s" % " ".join(sorted(ours)))
        return left


# --------------------------------------------------------------------------
# reporting


def med(results, key):
    vals = [r[key] for r in results if r.get("ok") and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def spread(results, key):
    vals = [r[key] for r in results if r.get("ok") and r.get(key) is not None]
    return (min(vals), max(vals)) if vals else None


def version_of(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().replace("\n", "; ")
    except OSError as e:
        return "?? (%s)" % e


def machine_info(args):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = read_kv("/proc/meminfo").get("MemTotal", 0) // 1024
    vigil_commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                                  capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "src",
                            "include", "CMakeLists.txt"],
                           capture_output=True, text=True).stdout.strip()
    gcc = subprocess.run([os.environ.get("CC", "gcc"), "--version"], capture_output=True,
                         text=True).stdout.split("\n")[0]
    fs = subprocess.run(["df", "--output=fstype", args.workdir], capture_output=True,
                        text=True).stdout.split()[-1]
    return [
        ("host", "%s, nproc %d, %s, %d MiB RAM" % (platform.node(), os.cpu_count(), model, mem)),
        ("kernel", platform.release()),
        ("os", _os_release()),
        ("vigil", "%s (copy of %s, sha256 %s): %s (repo HEAD %s%s)" % (
            args.vigil, args.vigil_orig, _sha(args.vigil), version_of(args.vigil), vigil_commit,
            ", src/ has uncommitted changes" if dirty else "")),
        ("conmon", "%s: %s" % (args.conmon, version_of(args.conmon))),
    ] + ([("vigil env", " ".join(args.vigil_env))] if args.vigil_env else []) + [
        ("runc", "%s: %s" % (args.runc, version_of(args.runc))),
        ("gen/logcheck", gcc),
        ("scratch", "%s (%s)" % (os.path.abspath(args.workdir), fs)),
    ]


def _sha(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "?"


def fmt(v, digits=1):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "%.*f" % (digits, v)
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vigil", default=os.environ.get("VIGIL",
                                                      os.path.join(REPO, "build", "vigil")))
    ap.add_argument("--conmon", default=os.environ.get("CONMON", "/usr/bin/conmon"))
    ap.add_argument("--runc", default=os.environ.get("RUNC", shutil.which("runc") or
                                                     "/usr/bin/runc"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, 1 repetition (< 1 minute)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per throughput "
                    "workload and monitor (default 5, quick 1)")
    ap.add_argument("--small-mb", type=float, default=None,
                    help="container output for 67-byte lines, MB (default 400, quick 40)")
    ap.add_argument("--big-mb", type=float, default=None,
                    help="container output for 4 KiB lines, MB (default 1000, quick 100)")
    ap.add_argument("--latency-reps", type=int, default=None, help="default 20, quick 4")
    ap.add_argument("--idle-reps", type=int, default=None, help="default 3, quick 1")
    ap.add_argument("--idle-settle", type=float, default=1.0,
                    help="seconds to wait after the line is logged before sampling")
    ap.add_argument("--only", default="small,big,small-nosync,big-nosync,idle,latency,density",
                    help="comma-separated subset of small,big,small-nosync,big-nosync,idle,"
                    "latency,density (the -nosync variants add --no-sync-log to both monitors)")
    ap.add_argument("--density", default="1,50", metavar="N1,N2,...",
                    help="density: numbers of containers run at once under one monitor kind "
                    "(default 1,50)")
    ap.add_argument("--density-relay-mb", type=float, default=10.0, metavar="MB",
                    help="density: also sample one monitor and its spawner before and after "
                    "relaying this much log output (default 10; 0: skip)")
    ap.add_argument("--warmup", type=int, default=None,
                    help="untimed runs per monitor before each throughput workload "
                    "(default 1, quick 0)")
    ap.add_argument("--vigil-env", action="append", default=[], metavar="KEY=VALUE",
                    help="add to the environment of vigil only (diagnostics, e.g. "
                    "VIGIL_SECCOMP=off); repeatable")
    ap.add_argument("--json", help="also write all raw results here")
    ap.add_argument("--keep", action="store_true", help="keep per-run directories and logs")
    ap.add_argument("--smaps", metavar="DIR", help="save each monitor's /proc/PID/smaps at the "
                    "end of a throughput run and when idle, for a per-mapping breakdown")
    args = ap.parse_args()
    q = args.quick
    reps = args.reps or (1 if q else 5)
    small = int((args.small_mb or (40 if q else 400)) * 1e6)
    big = int((args.big_mb or (100 if q else 1000)) * 1e6)
    lat_reps = args.latency_reps or (4 if q else 20)
    idle_reps = args.idle_reps or (1 if q else 3)
    warmup = args.warmup if args.warmup is not None else (0 if q else 1)
    only = set(args.only.split(","))
    dens_ns = [int(x) for x in args.density.split(",") if x]

    if os.geteuid() != 0:
        sys.exit("bench: must run as root (runc)")
    for p in (args.vigil, args.conmon, args.runc):
        if not os.access(p, os.X_OK):
            sys.exit("bench: %s is not executable" % p)
    # Run a private copy: a rebuild of build/vigil during the run must not change the
    # binary under test half-way (or make exec fail with ETXTBSY/EACCES).
    os.makedirs(os.path.join(args.workdir, "bin"), exist_ok=True)
    args.vigil_orig = os.path.abspath(args.vigil)
    args.vigil = os.path.join(os.path.abspath(args.workdir), "bin", "vigil")
    tmp = args.vigil + ".new"
    shutil.copy2(args.vigil_orig, tmp)
    os.replace(tmp, args.vigil)
    # A binary written moments ago (this copy, or a fresh build passed as --conmon) has dirty
    # page-cache pages, and smaps counts those as Private_Dirty of every process mapping them
    # until writeback: up to ~150 kB of text that is not the monitor's memory.
    os.sync()
    b = Bench(args)
    b.setup()
    mons = [("vigil", args.vigil), ("conmon", args.conmon)]
    results = {name: {} for name, _ in mons}

    def order(i):
        # ABBA: vigil first on even repetitions, conmon first on odd ones
        return mons if i % 2 == 0 else mons[::-1]

    t0 = time.monotonic()
    nosync = ["--no-sync-log"]
    workloads = [("small", 67, small, []), ("big", 4096, big, []),
                 ("small-nosync", 67, small, nosync), ("big-nosync", 4096, big, nosync)]
    for wl, line_len, nbytes, extra in workloads:
        if wl not in only:
            continue
        for i in range(warmup):
            for name, path in order(i):
                r = b.throughput(path, wl, nbytes, line_len, extra)
                log("# %-6s %-12s warm-up: %s MB/s%s" % (
                    name, wl, fmt(r.get("mb_s")), "" if r["ok"] else " ERROR " +
                    r.get("error", "")))
        for i in range(reps):
            for name, path in order(i):
                r = b.throughput(path, wl, nbytes, line_len, extra)
                results[name].setdefault(wl, []).append(r)
                log("# %-6s %-12s rep %d: %s MB/s (app %s MB/s, tail %s ms; %s%% of dd), cpu %s+%s s, "
                    "VmHWM %s kB, %s%s" % (
                        name, wl, i + 1, fmt(r.get("mb_s")), fmt(r.get("app_mb_s")),
                        fmt(r["exit_tail"] * 1e3 if "exit_tail" in r else None, 0),
                        fmt(r.get("pct_of_disk"), 0),
                        fmt(r.get("utime"), 2), fmt(r.get("stime"), 2), r.get("vmhwm_kb"),
                        r.get("logcheck", r.get("error")),
                        ("  WARN " + r["warn"]) if r.get("warn") else ""))
    if "idle" in only:
        for i in range(idle_reps):
            for name, path in order(i):
                r = b.idle(path)
                results[name].setdefault("idle", []).append(r)
                log("# %-6s idle  rep %d: VmHWM %s kB, Rss %s kB, Pss %s kB, "
                    "Private_Dirty %s kB (+ spawner %s kB)%s" % (
                        name, i + 1, r.get("idle_vmhwm_kb"), r.get("idle_rss_kb"),
                        r.get("idle_pss_kb"), r.get("idle_private_dirty_kb"),
                        r.get("idle_spw_pd_kb"),
                                               "" if r["ok"] else " ERROR " + r.get("error", "")))
    if "latency" in only:
        for i in range(lat_reps):
            for name, path in order(i):
                r = b.latency(path)
                results[name].setdefault("latency", []).append(r)
                if not r["ok"]:
                    log("# %-6s latency rep %d: ERROR %s" % (name, i + 1, r.get("error")))
        for name, _ in mons:
            log("# %-6s latency: create->pid %s" % (name, " ".join(
                "%.1f" % (r["create_to_pid"] * 1e3) for r in results[name]["latency"]
                if r["ok"])))
    if "density" in only:
        for i, n in enumerate(dens_ns):
            for name, path in order(i):
                r = b.density(path, name, n)
                results[name].setdefault("density-%d" % n, []).append(r)
                log("# %-6s density N=%-3d per container: monitor+spawner Private_Dirty %s kB, "
                    "Pss_Dirty %s kB, Pss %s kB; monitor %s/%s kB; spawner %s/%s kB (%s without a "
                    "spawner); launch %s s%s" % (
                        name, n, fmt(r.get("sum_pd_kb")), fmt(r.get("sum_psd_kb")),
                        fmt(r.get("sum_pss_kb")),
                        fmt(r.get("mon_pd_kb")), fmt(r.get("mon_pss_kb")),
                        fmt(r.get("spw_pd_kb")), fmt(r.get("spw_pss_kb")), r.get("no_spawner"),
                        fmt(r.get("launch_s")), "" if r["ok"] else " ERROR " + r.get("error", "")))
        if args.density_relay_mb > 0:
            nb = int(args.density_relay_mb * 1e6)
            nb -= nb % 67
            for name, path in order(len(dens_ns)):
                r = b.relay_probe(path, name, nb)
                results[name].setdefault("density-relay", []).append(r)
                log("# %-6s relay probe: Private_Dirty spawner %s -> %s kB, monitor %s -> %s kB; "
                    "Shared_Dirty %s -> %s kB%s"
                    % (name, r.get("before_spw_pd_kb"), r.get("after_spw_pd_kb"),
                       r.get("before_mon_pd_kb"), r.get("after_mon_pd_kb"),
                       r.get("before_mon_sd_kb"), r.get("after_mon_sd_kb"),
                       "" if r["ok"] else " ERROR " + r.get("error", "")))
    elapsed = time.monotonic() - t0

    # ---- table
    rows = []  # (metric, vigil, conmon, ratio string)

    def row(metric, wl, key, scale=1.0, digits=1, better="higher"):
        v = med(results["vigil"].get(wl, []), key)
        c = med(results["conmon"].get(wl, []), key)
        v = v * scale if v is not None else None
        c = c * scale if c is not None else None
        if v is None or c is None or c == 0 or v == 0:
            ratio = "n/a"
        elif better == "higher":
            ratio = "%.2fx faster" % (v / c) if v >= c else "%.2fx slower" % (c / v)
        else:
            ratio = "%.2fx less" % (c / v) if v <= c else "%.2fx more" % (v / c)
        vr = v / c if (v is not None and c) else None
        rows.append((metric, fmt(v, digits), fmt(c, digits), fmt(vr, 2), ratio))

    for wl, title in (("small", "67 B lines"), ("big", "4 KiB lines"),
                      ("small-nosync", "67 B lines, --no-sync-log"),
                      ("big-nosync", "4 KiB lines, --no-sync-log")):
        if wl not in only:
            continue
        row("%s: throughput, MB/s" % title, wl, "mb_s")
        if not wl.endswith("-nosync"):
            row("%s: %% of the disk's limit (dd conv=fdatasync of the log's size, same rep)" % title,
                wl, "pct_of_disk")
        if wl == "small":
            row("%s: throughput, Mlines/s" % title, wl, "mb_s", 1 / 67, 2)
        row("%s: app write rate, MB/s" % title, wl, "app_mb_s")
        row("%s: exit tail, ms" % title, wl, "exit_tail", 1e3, 0, "lower")
        row("%s: monitor CPU s / GB" % title, wl, "cpu_s_per_gb", 1, 2, "lower")
        row("%s: monitor VmHWM, kB" % title, wl, "vmhwm_kb", 1, 0, "lower")
        row("%s: monitor peak Private_Dirty (sampled), kB" % title, wl, "peak_private_dirty_kb",
            1, 0, "lower")
    if "idle" in only:
        row("idle: VmHWM, kB", "idle", "idle_vmhwm_kb", 1, 0, "lower")
        row("idle: Rss, kB", "idle", "idle_rss_kb", 1, 0, "lower")
        row("idle: Pss, kB", "idle", "idle_pss_kb", 1, 0, "lower")
        row("idle: Private_Dirty, kB", "idle", "idle_private_dirty_kb", 1, 0, "lower")
        row("idle: spawner Private_Dirty, kB", "idle", "idle_spw_pd_kb", 1, 0, "lower")
        row("idle: monitor+spawner Private_Dirty, kB", "idle", "idle_sum_pd_kb", 1, 0, "lower")
        row("idle: monitor+spawner Pss_Dirty, kB", "idle", "idle_sum_psd_kb", 1, 0, "lower")
        row("idle: monitor+spawner Pss, kB", "idle", "idle_sum_pss_kb", 1, 0, "lower")
    if "density" in only:
        for n in dens_ns:
            wl = "density-%d" % n
            t = "density N=%d, per container:" % n
            row("%s monitor+spawner Private_Dirty, kB" % t, wl, "sum_pd_kb", 1, 0, "lower")
            row("%s monitor+spawner Pss_Dirty, kB" % t, wl, "sum_psd_kb", 1, 0, "lower")
            row("%s monitor+spawner Pss, kB" % t, wl, "sum_pss_kb", 1, 0, "lower")
            row("%s monitor Private_Dirty, kB" % t, wl, "mon_pd_kb", 1, 0, "lower")
            row("%s monitor Pss, kB" % t, wl, "mon_pss_kb", 1, 0, "lower")
            row("%s monitor Rss, kB" % t, wl, "mon_rss_kb", 1, 0, "lower")
            row("%s spawner Private_Dirty, kB" % t, wl, "spw_pd_kb", 1, 0, "lower")
            row("%s spawner Pss, kB" % t, wl, "spw_pss_kb", 1, 0, "lower")
        if args.density_relay_mb > 0:
            t = "after %g MB relayed:" % args.density_relay_mb
            for when, tt in (("before", "before %g MB relayed:" % args.density_relay_mb),
                             ("after", t)):
                row("%s monitor+spawner Private_Dirty, kB" % tt, "density-relay",
                    when + "_sum_pd_kb", 1, 0, "lower")
                row("%s monitor+spawner Pss_Dirty, kB" % tt, "density-relay",
                    when + "_sum_psd_kb", 1, 0, "lower")
                row("%s monitor Private_Dirty, kB" % tt, "density-relay", when + "_mon_pd_kb",
                    1, 0, "lower")
                row("%s spawner Private_Dirty, kB" % tt, "density-relay", when + "_spw_pd_kb",
                    1, 0, "lower")
    if "latency" in only:
        row("start byte -> {\"data\": pid}, ms", "latency", "create_to_pid", 1e3, 1, "lower")
        row("start byte -> first process exit, ms", "latency", "create_to_parent_exit", 1e3,
            1, "lower")
        row("runc start -> exit file (/bin/true), ms", "latency", "start_to_exit", 1e3, 1,
            "lower")

    print()
    print("vigil vs conmon benchmark (%s mode)" % ("quick" if q else "full"))
    for k, v in machine_info(args):
        print("  %-13s %s" % (k + ":", v))
    print("  %-13s throughput: %d reps (+%d warm-up) x %.0f MB (67 B lines), %.0f MB (4 KiB "
          "lines); idle: %d reps; latency: %d reps; density: N=%s; ABBA order; medians; total %.0f s"
          % ("runs:", reps, warmup, small / 1e6, big / 1e6, idle_reps, lat_reps, args.density,
             elapsed))
    print()
    hdr = ("metric", "vigil", "conmon", "vigil/conmon", "verdict for vigil")
    w = [max(len(hdr[i]), *(len(r[i]) for r in rows)) for i in range(5)]
    line = "| " + " | ".join("%-*s" % (w[i], hdr[i]) for i in range(5)) + " |"
    print(line)
    print("|" + "|".join("-" * (w[i] + 2) for i in range(5)) + "|")
    for r in rows:
        print("| %-*s | %*s | %*s | %*s | %-*s |" % (w[0], r[0], w[1], r[1], w[2], r[2],
                                                   w[3], r[3], w[4], r[4]))
    print()
    # spreads, failures and warnings
    for wl in ("small", "big", "small-nosync", "big-nosync"):
        for name, _ in mons:
            rs = results[name].get(wl, [])
            if spread(rs, "mb_s"):
                print("  %-6s %-12s MB/s per run: %s" % (name, wl, " ".join(
                    "%.0f" % r["mb_s"] for r in rs if r.get("ok"))))
    nfail = 0
    for name, _ in mons:
        for wl, rs in results[name].items():
            for r in rs:
                if not r.get("ok"):
                    nfail += 1
                    print("  FAILED %s %s %s: %s" % (name, wl, r["cid"], r.get("error")))
                if r.get("warn"):
                    print("  WARN %s %s %s: %s" % (name, wl, r["cid"], r["warn"]))
    for n in dens_ns:
        for name, _ in mons:
            for r in results[name].get("density-%d" % n, []):
                per = r.get("per_container")
                if per:
                    print("  %-6s density N=%-3d monitor+spawner Private_Dirty per container, "
                          "min..max: %d..%d kB; containers without a spawner: %d" % (
                              name, n, min(p["sum_pd_kb"] for p in per),
                              max(p["sum_pd_kb"] for p in per), r["no_spawner"]))
    checks = sum(1 for name, _ in mons for wl in ("small", "big", "small-nosync", "big-nosync")
                 for r in results[name].get(wl, []) if r.get("log_ok"))
    print("  log files verified complete and byte-exact: %d; failed runs: %d" % (checks, nfail))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": dict(machine_info(args)), "results": results}, f, indent=1)
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
