#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""sd-notify latency: one datagram's hop from a container to the host's notify socket.

The same sender (notifylat.c, static, in the busybox container) sends N datagrams
"READY=1\\nSTATUS=seq <i>" at RATE per second to /run/notify/notify.sock, which the
monitor (--sdnotify-socket=HOST, podman's container mode) relays to HOST, where
notifylat's receiver (SO_PASSCRED, as systemd) timestamps each arrival.  Both ends read
CLOCK_MONOTONIC; latency = arrival - the sender's clock just before send(2).  A second table
ends the hop where the datagram reaches the host socket's queue (the kernel's SO_TIMESTAMPNS
stamp, taken in the monitor's sendmsg): that leaves out the receiver's own wake-up, which is
the same with or without a monitor, so it is the part of the hop a monitor adds.

  bare    the sender on the host, straight to HOST: one socket hop, no monitor
  vigil   through vigil's relay
  conmon  through conmon 2.1.6's relay, which forwards exactly "READY=1" for each datagram
          containing it (arrivals are matched to sends by order, so this is fair)

Rounds alternate the order (bare, vigil, conmon / conmon, vigil, bare).  The first
--warmup datagrams of each run are left out.  Python 3 standard library only; root.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys

import bench
from bench import on_cpu_ns, percentile

HERE = os.path.dirname(os.path.abspath(__file__))


def notify_mount(spec, bundle):
    """What podman does in container mode (shared/spec/sd-notify.md §2); conmon binds
    <bundle>/notify/notify.sock and needs the directory."""
    os.makedirs(os.path.join(bundle, "notify"), exist_ok=True)
    spec.setdefault("mounts", []).append({
        "destination": "/run/notify", "type": "bind", "source": "notify",
        "options": ["bind", "ro", "nosuid", "nodev", "noexec"]})
    spec["process"]["env"].append("NOTIFY_SOCKET=/run/notify/notify.sock")


def container_stdout(log_path):
    """The container's stdout from a k8s-file log: P records continue a line, F ends it."""
    out = []
    with open(log_path, "rb") as f:
        for rec in f.read().splitlines():
            _, stream, flag, payload = (rec.split(b" ", 3) + [b""])[:4]
            if stream == b"stdout":
                out.append(payload + (b"\n" if flag == b"F" else b""))
    return b"".join(out).decode()


class NotifyBench:
    def __init__(self, args):
        self.args = args
        self.b = bench.Bench(args)
        self.host = os.path.join(self.b.work, "nl.sock")
        self.tool = None
        self.cpu = {"vigil": [], "vigil-b": [], "conmon": []}

    def setup(self):
        self.b.setup()
        cc = os.environ.get("CC", "gcc")
        self.tool = os.path.join(self.b.rootfs, "bin", "notifylat")
        subprocess.run([cc, "-O2", "-static", "-o", self.tool, os.path.join(HERE, "notifylat.c")],
                       check=True)

    def receiver(self, n):
        r = subprocess.Popen([self.tool, "recv", self.host, str(n), str(int(n / self.args.rate) + 30)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.stderr.readline().strip() != "ready":
            raise RuntimeError("receiver did not start")
        return r

    def one(self, who):
        n, rate = self.args.count, self.args.rate
        rec = self.receiver(n)
        try:
            if who == "bare":
                sent_out = subprocess.run([self.tool, "send", self.host, str(n), str(rate)],
                                          capture_output=True, text=True, check=True,
                                          timeout=n / rate + 60).stdout
            else:
                monitor = {"vigil": self.args.vigil, "vigil-b": self.args.vigil_b,
                           "conmon": self.args.conmon}[who]
                cmd = ["notifylat", "send", "/run/notify/notify.sock", str(n), str(rate)]
                cpu = {}

                def measure(ctx):
                    # The monitor's on-CPU time while it relays: from `runc start` until the
                    # host got the last datagram (the sender lingers 1 s before it exits).
                    cpu["t0"] = on_cpu_ns(ctx["mon_pid"])
                    rec.wait(timeout=n / rate + 60)
                    cpu["t1"] = on_cpu_ns(ctx["mon_pid"])

                res = self.b.run(monitor, "nl-" + who, cmd, ["/bin/true"], timeout=n / rate + 60,
                                 extra_args=["--sdnotify-socket", self.host], mutate=notify_mount,
                                 on_started=measure)
                if not res.get("ok"):
                    raise RuntimeError(res.get("error"))
                sent_out = container_stdout(os.path.join(res["rdir"], "ctr.log"))
                self.b.cleanup_run(res)
                self.cpu[who].append((cpu["t1"] - cpu["t0"]) / 1000.0 / n)
            recv_out, _ = rec.communicate(timeout=n / rate + 60)
        finally:
            if rec.poll() is None:
                rec.kill()
                rec.wait()
        sent = [int(x.split()[1]) for x in sent_out.splitlines() if x.strip()]
        rows = [x.split() for x in recv_out.splitlines() if x.strip()]
        got, enq = [int(x[0]) for x in rows], [int(x[2]) for x in rows]
        if len(sent) != n or len(got) != n:
            raise RuntimeError("%s: %d sent, %d received of %d" % (who, len(sent), len(got), n))
        if not all(enq):
            raise RuntimeError("%s: a datagram without its SO_TIMESTAMPNS stamp" % who)
        w = self.args.warmup
        return ([(g - s) / 1000.0 for s, g in zip(sent, got)][w:],
                [(q - s) / 1000.0 for s, q in zip(sent, enq)][w:])


def table(who, lat):
    print("| path    | p50, us | p90, us | p99, us | max, us | p99 vs bare |")
    print("|---------|---------|---------|---------|---------|-------------|")
    base = percentile(lat["bare"], 99) if "bare" in lat else None
    for w in who:
        v = lat[w]
        ratio = "%.2f" % (percentile(v, 99) / base) if base else "-"
        print("| %-7s | %7.1f | %7.1f | %7.1f | %7.1f | %11s |" % (
            w, statistics.median(v), percentile(v, 90), percentile(v, 99), max(v), ratio))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vigil", default=os.environ.get("VIGIL", os.path.join(bench.REPO, "build", "vigil")))
    ap.add_argument("--conmon", default=os.environ.get("CONMON", "/usr/bin/conmon"))
    ap.add_argument("--vigil-b", metavar="PATH", help="a second vigil to compare (A/B), as vigil-b")
    ap.add_argument("--runc", default=os.environ.get("RUNC", shutil.which("runc") or "/usr/bin/runc"))
    ap.add_argument("--workdir", default=os.path.join(bench.REPO, "build", "bench"))
    ap.add_argument("--count", type=int, default=1000, help="datagrams per run (default 1000)")
    ap.add_argument("--rate", type=int, default=50, help="datagrams per second (default 50)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each (default 2)")
    ap.add_argument("--warmup", type=int, default=10, help="first datagrams left out (default 10)")
    ap.add_argument("--only", default="bare,vigil,conmon")
    ap.add_argument("--quick", action="store_true", help="200 datagrams, 1 round")
    args = ap.parse_args()
    args.smaps, args.keep = None, False
    if args.quick:
        args.count, args.rounds = 200, 1
    if os.geteuid() != 0:
        sys.exit("notify_latency: must run as root (runc)")
    nb = NotifyBench(args)
    nb.setup()
    only = args.only.split(",") + (["vigil-b"] if args.vigil_b else [])
    who = [w for w in ("bare", "vigil", "vigil-b", "conmon") if w in only]
    lat = {w: [] for w in who}
    latq = {w: [] for w in who}
    for r in range(args.rounds):
        for w in (who if r % 2 == 0 else list(reversed(who))):
            vals, qvals = nb.one(w)
            bench.log("  %-7s round %d: p50 %6.1f us  p99 %6.1f us  max %7.1f us; to the queue p99 %6.1f us" %
                      (w, r, percentile(vals, 50), percentile(vals, 99), max(vals), percentile(qvals, 99)))
            lat[w] += vals
            latq[w] += qvals
    print("sd-notify hop latency, %d datagrams x %d rounds at %d/s (first %d of each run left out)"
          % (args.count, args.rounds, args.rate, args.warmup))
    print("  vigil:   %s: %s" % (args.vigil, bench.version_of(args.vigil)))
    if args.vigil_b:
        print("  vigil-b: %s: %s" % (args.vigil_b, bench.version_of(args.vigil_b)))
    print("  conmon:  %s: %s" % (args.conmon, bench.version_of(args.conmon)))
    print("  kernel:  %s; load average %s" % (os.uname().release, " ".join(open("/proc/loadavg").read().split()[:3])))
    print()
    print("Send to the host receiver's recvmsg (the receiver's wake-up included):")
    table(who, lat)
    print()
    print("Send to the host socket's queue (the kernel's SO_TIMESTAMPNS stamp, taken in the")
    print("monitor's sendmsg; bare: the sender's own send(2)):")
    table(who, latq)
    print()
    print("monitor on-CPU time per datagram, us (median of runs): " + ", ".join(
        "%s %.1f" % (w, statistics.median(nb.cpu[w])) for w in who if nb.cpu.get(w)))
    if "vigil" in lat and "conmon" in lat:
        print()
        for name, v in (("to recvmsg", lat), ("to the queue", latq)):
            print("vigil/conmon, %s: p50 %.2f, p99 %.2f" % (
                name, statistics.median(v["vigil"]) / statistics.median(v["conmon"]),
                percentile(v["vigil"], 99) / percentile(v["conmon"], 99)))


if __name__ == "__main__":
    main()
