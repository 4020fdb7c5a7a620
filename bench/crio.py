#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""CRI-O node workloads: vigil against conmon as CRI-O's monitor_path, in one run.

Each workload starts its own CRI-O per monitor (tests/integration/crio_node.py: the state
under --workdir, private mount and pid namespaces, cgroupfs, runc, host-network pods without
an infra container) and removes every pod afterwards; the run FAILS if a monitor, crio, a
mount or a pod cgroup is left.

  density  --pods pods with --per-pod containers each (Kubernetes' default max-pods is 110),
           every container `sleep`: Private_Dirty and Pss per container, summed over every
           process running the monitor's binary (vigil's spawner included)
  exec     --execs sequential `crictl exec -s C true`, as exec probes do: p50 and p99 of the
           round trip; then the runtime's share, `runc exec C true` the same number of times,
           started as the monitor starts it (inside CRI-O's namespaces, through nsenter)
  probe    one pod whose container gets an exec probe every --probe-interval s, --probes
           times: the monitor's own on-CPU time (/proc/PID/schedstat, runc's left out) per
           probe, and of the container's long-lived monitor, extrapolated to one hour

Needs root, ../shared/crio (or VIGIL_CRIO_DIR), runc, podman, busybox-static, gcc.
"""

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import crio_node as cn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import log, on_cpu_ns, percentile, read_kv as kv  # noqa: E402


def processes_of(exe):
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and cn.exe_of(int(p)) == exe]


class Node:
    """A CrioNode for one monitor, torn down and checked on exit."""

    def __init__(self, state, monitor, monitor_path=None):
        self.monitor = monitor
        self.node = cn.CrioNode(state)
        self.node.configure(monitor_path or monitor)

    def __enter__(self):
        self.node.start()
        return self.node

    def __exit__(self, *exc):
        self.node.shutdown()
        left = cn.leftovers(self.node.state)
        if left:
            raise RuntimeError("the CRI-O node left behind: %s" % left)



def density(state, monitor, pods, per_pod):
    with Node(state, monitor) as node:
        t0 = time.monotonic()
        for i in range(pods):
            pod = node.run_pod("d%d" % i)
            for j in range(per_pod):
                pod.create("c%d" % j, ["sleep", "1000000"])
        started = time.monotonic() - t0
        time.sleep(2)
        pids = processes_of(monitor)
        mem = [kv("/proc/%d/smaps_rollup" % p) for p in pids]
        n = pods * per_pod
        return {"containers": n, "processes": len(pids), "start_s": started,
                "pd": sum(m["Private_Dirty"] for m in mem) / n, "pss": sum(m["Pss"] for m in mem) / n}


def namespace_pid1(node):
    """The host pid of crio_init, pid 1 of CRI-O's namespaces (the child of `unshare --fork`)."""
    with open("/proc/%d/task/%d/children" % (node.init.pid, node.init.pid)) as f:
        return int(f.read().split()[0])


def alternate(names, i):
    """ABBA: which monitor goes first changes every round."""
    return names if i % 2 == 0 else list(reversed(names))


def exec_latency(states, monitors, count):
    """Both nodes run at once and the calls alternate, so that load hits both alike."""
    names = sorted(monitors)
    with contextlib.ExitStack() as stack:
        nodes = {n: stack.enter_context(Node(states[n], monitors[n])) for n in names}
        ctrs = {n: nodes[n].run_pod("e").create("c", ["sleep", "1000000"]) for n in names}
        runc = {n: ["nsenter", "-t", str(namespace_pid1(nodes[n])), "-m", "-p", "--", cn.RUNC, "--root",
                    os.path.join(states[n], "runc"), "exec", ctrs[n].id, "true"] for n in names}
        res = {n: {"total": [], "runtime": []} for n in names}
        for n in names:
            ctrs[n].exec_sync("true", check=True)
        for i in range(count):
            for n in alternate(names, i):
                t = time.monotonic()
                ctrs[n].exec_sync("true", check=True)
                res[n]["total"].append((time.monotonic() - t) * 1000)
                t = time.monotonic()
                subprocess.run(runc[n], check=True, capture_output=True, timeout=60)
                res[n]["runtime"].append((time.monotonic() - t) * 1000)
        return res


def probe_cpu(states, monitors, wrapper, probes, interval):
    names = sorted(monitors)
    logs = {n: os.path.join(states[n], "probe-cpu.log") for n in names}
    scripts = {}
    for n in names:
        scripts[n] = os.path.join(states[n], "monitor-cpuwrap")
        with open(scripts[n], "w") as f:
            f.write('#!/bin/sh\nexec %s %s %s "$@"\n' % (wrapper, logs[n], monitors[n]))
        os.chmod(scripts[n], 0o755)
    with contextlib.ExitStack() as stack:
        nodes = {n: stack.enter_context(Node(states[n], monitors[n], scripts[n])) for n in names}
        ctrs = {n: nodes[n].run_pod("p").create("c", ["sleep", "1000000"]) for n in names}
        daemons, before = {}, {}
        for n in names:
            ctrs[n].exec_sync("true", check=True)
            daemons[n] = [p for p in processes_of(monitors[n]) if states[n].encode() in cmdline(p)]
            before[n] = sum(on_cpu_ns(p) for p in daemons[n])
            os.unlink(logs[n])
        t0 = time.monotonic()
        for i in range(probes):
            for n in alternate(names, i):
                ctrs[n].exec_sync("true", check=True)
            time.sleep(max(0.0, t0 + (i + 1) * interval - time.monotonic()))
        window = time.monotonic() - t0
        res = {}
        for n in names:
            after = sum(on_cpu_ns(p) for p in daemons[n])
            with open(logs[n]) as f:
                per_probe = [int(x) / 1e6 for x in f.read().split()]
            if len(per_probe) != probes:
                raise RuntimeError("%s: %d probe monitors counted, %d probes run" % (n, len(per_probe), probes))
            daemon_ms_h = (after - before[n]) / 1e6 * 3600 / window
            probe_ms_h = statistics.mean(per_probe) * 3600 / interval
            log("# %s: %d long-lived monitor processes, %.3f ms on-CPU in %.0f s" % (
                n, len(daemons[n]), (after - before[n]) / 1e6, window))
            res[n] = {"per_probe_ms": statistics.median(per_probe), "daemon_ms_h": daemon_ms_h,
                      "total_s_h": (daemon_ms_h + probe_ms_h) / 1000}
        return res


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


def build_wrapper(workdir):
    out = os.path.join(workdir, "cpuwrap")
    subprocess.run([os.environ.get("CC", "gcc"), "-O2", "-o", out, os.path.join(REPO, "bench", "cpuwrap.c")],
                   check=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vigil", default=os.path.join(REPO, "build", "vigil"))
    ap.add_argument("--conmon", default="/usr/bin/conmon")
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "bench-crio"))
    ap.add_argument("--only", default="density,exec,probe")
    ap.add_argument("--pods", type=int, default=110)
    ap.add_argument("--per-pod", type=int, default=2)
    ap.add_argument("--execs", type=int, default=100)
    ap.add_argument("--probes", type=int, default=12)
    ap.add_argument("--probe-interval", type=float, default=10.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/crio.py: must run as root")
    why = cn.missing()
    if why:
        sys.exit("bench/crio.py: " + why)
    only = args.only.split(",")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(os.path.join(args.workdir, "bin"))
    # A private copy, synced: a rebuild during the run must not change the binary under test,
    # and a binary written moments ago has dirty page-cache pages that smaps counts as the
    # monitors' Private_Dirty until writeback (40 kB per monitor in one run).
    vigil = os.path.join(args.workdir, "bin", "vigil")
    shutil.copy2(args.vigil, vigil)
    os.sync()
    monitors = {"vigil": vigil, "conmon": args.conmon}
    states = {n: os.path.join(args.workdir, n) for n in monitors}
    for st in states.values():
        cn.CrioNode(st).import_image()
    res = {k: {} for k in monitors}
    if "density" in only:
        for name, mon in monitors.items():
            log("# %s: density, %d pods x %d containers" % (name, args.pods, args.per_pod))
            res[name]["density"] = density(states[name], mon, args.pods, args.per_pod)
    if "exec" in only:
        log("# %d ExecSync round trips per monitor, alternating" % args.execs)
        for name, r in exec_latency(states, monitors, args.execs).items():
            res[name]["exec"] = r
    if "probe" in only:
        log("# %d exec probes every %g s per monitor" % (args.probes, args.probe_interval))
        for name, r in probe_cpu(states, monitors, build_wrapper(args.workdir), args.probes,
                                 args.probe_interval).items():
            res[name]["probe"] = r
    report(args, monitors, res)
    shutil.rmtree(args.workdir, ignore_errors=True)


def row(metric, v, c, fmt="%.1f"):
    print("| %-58s | %9s | %9s | %5.2f |" % (metric, fmt % v, fmt % c, v / c if c else 0))


def report(args, monitors, res):
    v, c = res["vigil"], res["conmon"]
    print("CRI-O workloads, vigil against conmon")
    for name, mon in monitors.items():
        out = subprocess.run([mon, "--version"], capture_output=True, text=True).stdout.strip()
        print("  %-6s %s: %s" % (name, mon, " ".join(out.split())))
    print("  kernel %s; load average %s" % (os.uname().release, " ".join(open("/proc/loadavg").read().split()[:3])))
    print()
    print("| %-58s | %9s | %9s | %5s |" % ("metric", "vigil", "conmon", "v/c"))
    print("|%s|%s|%s|%s|" % ("-" * 60, "-" * 11, "-" * 11, "-" * 7))
    if "density" in v:
        d, e = v["density"], c["density"]
        label = "density %d pods x %d" % (args.pods, args.per_pod)
        row(label + ": Private_Dirty per container, kB", d["pd"], e["pd"])
        row(label + ": Pss per container, kB", d["pss"], e["pss"])
        row(label + ": monitor processes", d["processes"], e["processes"], "%d")
        row(label + ": time to start them all, s", d["start_s"], e["start_s"])
    if "exec" in v:
        for key, what in (("total", "crictl exec -s round trip"), ("runtime", "runtime's share: runc exec")):
            for q in (50, 99):
                row("%s, p%d, ms" % (what, q), percentile(v["exec"][key], q), percentile(c["exec"][key], q))
        row("the rest: crictl, CRI-O and the monitor (p50 - p50), ms",
            percentile(v["exec"]["total"], 50) - percentile(v["exec"]["runtime"], 50),
            percentile(c["exec"]["total"], 50) - percentile(c["exec"]["runtime"], 50))
    if "probe" in v:
        p, q = v["probe"], c["probe"]
        row("exec probe: one probe's monitor on-CPU, ms (median)", p["per_probe_ms"], q["per_probe_ms"], "%.2f")
        row("exec probe: the container's monitor on-CPU per hour, ms", p["daemon_ms_h"], q["daemon_ms_h"], "%.2f")
        row("exec probe every %gs: monitor CPU per hour, s" % args.probe_interval, p["total_s_h"], q["total_s_h"],
            "%.2f")


if __name__ == "__main__":
    main()
