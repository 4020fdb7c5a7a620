#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The CRI validation suite (critest 1.33), offline, through CRI-O 1.33, for vigil and for
conmon in one run; prints the passes and failures of each, and the failed specs.

    bench/critest.py [--vigil PATH] [--conmon PATH] [--only vigil|conmon]
        [--workdir build/bench/critest] [--keep-logs] [--no-httpd] [--no-reap]

As ../shared/crio/README.md section 6 describes: the images critest pulls are served by
Debian's docker-registry on 127.0.0.1 (a free port), loaded with the busybox rootfs under the
names critest asks for (and an httpd stand-in, see HTTPD_CMD); pods get their own network namespace with only lo (CNI loopback);
runc through runc-noadj (no CAP_SYS_RESOURCE needed for the infra containers' oom_score_adj).
CRI-O runs in its own pid namespace whose pid 1 reaps (tests/integration/crio_init.py).
Everything is under --workdir; critest's output per monitor is kept in
WORKDIR/critest-MONITOR.log with --keep-logs.

Not part of CI (about 3-4 minutes per monitor).  Needs root, ../shared/crio with critest
(VIGIL_CRIO_DIR), and `apt-get install docker-registry containernetworking-plugins curl`.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import crio_node as cn  # noqa: E402
import monitor as m  # noqa: E402

FOCUS = ("Container runtime|Streaming|Container OOM|Multiple Containers|Idempotence|"
         "PodSandbox runtime should support basic|Runtime info")
SKIP = "portforward|stats|volume|Networking|should support network|sysctls"
# critest pulls PREFIX/e2e-test-images/busybox:latest (--registry-prefix drops the tag) and
# creates containers from registry.k8s.io/e2e-test-images/busybox:1.29-2.
PUSHED = ("e2e-test-images/busybox:1.29-2", "e2e-test-images/busybox:latest", "busybox:latest")
TAGGED = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
# "Multiple Containers" pulls PREFIX/e2e-test-images/httpd, runs registry.k8s.io/...:2.4.39-4
# with the image's own command, looks for "httpd -D FOREGROUND" in its log and execs `echo` in
# it.  A stand-in: the busybox rootfs whose command prints the line httpd logs at start-up.
HTTPD_PUSHED = "e2e-test-images/httpd:latest"
HTTPD_TAGGED = "registry.k8s.io/e2e-test-images/httpd:2.4.39-4"
HTTPD_CMD = ('CMD ["/bin/sh", "-c", "echo AH00094: Command line: \'httpd -D FOREGROUND\'; '
             'exec sleep 2147483647"]')
HTTPD_LOCAL = "localhost/httpd-standin:latest"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, state):
        self.port = free_port()
        root = os.path.join(state, "registry")
        os.makedirs(root, exist_ok=True)
        conf = os.path.join(state, "registry.yml")
        with open(conf, "w") as f:
            f.write(f"version: 0.1\nstorage: {{filesystem: {{rootdirectory: {root}}}}}\n"
                    f"http: {{addr: 127.0.0.1:{self.port}}}\n")
        with open(os.path.join(state, "registry.log"), "w") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", conf], stdout=log, stderr=log)
        url = f"http://127.0.0.1:{self.port}/v2/"
        m.wait_for(lambda: subprocess.run(["curl", "-fs", url], capture_output=True).returncode == 0,
                   30, interval=0.2, what="docker-registry to answer")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def prepare(node, registry, httpd):
    prefix = f"127.0.0.1:{registry.port}"
    for name in PUSHED:
        r = node.podman("push", "-q", "--tls-verify=false", cn.IMAGE, f"{prefix}/{name}")
        assert r.returncode == 0, f"podman push {name}: {r.err}"
    r = node.podman("tag", cn.IMAGE, TAGGED)
    assert r.returncode == 0, f"podman tag: {r.err}"
    if httpd:
        tar = os.path.join(node.state, "httpd.tar")
        subprocess.run(["sh", os.path.join(cn.CRIO_DIR, "mkrootfs.sh"), tar], check=True, timeout=60,
                       capture_output=True)
        for args in (("import", "-q", "--change", HTTPD_CMD, tar, HTTPD_LOCAL),
                     ("push", "-q", "--tls-verify=false", HTTPD_LOCAL, f"{prefix}/{HTTPD_PUSHED}"),
                     ("tag", HTTPD_LOCAL, HTTPD_TAGGED)):
            r = node.podman(*args)
            assert r.returncode == 0, f"podman {args[0]}: {r.err}"
        os.unlink(tar)
    shutil.copy(os.path.join(cn.CRIO_DIR, "10-lo.conflist"), os.path.join(node.state, "cni"))
    with open(os.path.join(node.state, "registries.conf.d", "99-local.conf"), "w") as f:
        f.write(f'[[registry]]\nlocation = "{prefix}"\ninsecure = true\n')
    return prefix


def network_ready(node):
    conditions = node.info()["status"]["conditions"]
    return all(c["status"] for c in conditions)


def parse(output):
    """(passed, failed, ran, total, [failed spec names]) from critest's (ginkgo's) summary."""
    ran = re.search(r"Ran (\d+) of (\d+) Specs", output)
    counts = re.search(r"(\d+) Passed \| (\d+) Failed", output)
    failures = []
    if "Summarizing" in output:
        summary = output[output.index("Summarizing"):]
        for line in summary.splitlines():
            if line.strip().startswith("[FAIL]"):
                failures.append(line.strip()[len("[FAIL] "):])
    return (int(counts.group(1)) if counts else -1, int(counts.group(2)) if counts else -1,
            int(ran.group(1)) if ran else -1, int(ran.group(2)) if ran else -1, failures)


def run_monitor(state, monitor, prefix, a, name):
    node = cn.CrioNode(state)
    node.configure(monitor, runtime=os.path.join(cn.CRIO_DIR, "runc-noadj"))
    start = time.monotonic()
    try:
        node.start()
        if a.no_reap:
            node.reap(False)
        m.wait_for(lambda: network_ready(node), 60, interval=0.2, what="CRI-O's NetworkReady")
        sock = f"unix://{node.socket}"
        r = subprocess.run([os.path.join(node.bin, "critest"), "--runtime-endpoint", sock,
                            "--image-endpoint", sock, f"--registry-prefix={prefix}", "--ginkgo.no-color",
                            f"--ginkgo.focus={FOCUS}", f"--ginkgo.skip={SKIP}"],
                           capture_output=True, timeout=1800, env=node.env, cwd=state)
        output = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
        # A zombie left in a pod's pid namespace keeps the pod's pid 1 from finishing its exit,
        # and StopPodSandbox waits for it forever.
        node.reap(True)
    finally:
        node.shutdown()
        # critest's pods have no cgroup parent: CRI-O puts them under /crio, and leaves it.
        for top in ["/sys/fs/cgroup/crio"] + [f"/sys/fs/cgroup/{h}/crio" for h in os.listdir("/sys/fs/cgroup")]:
            if os.path.isdir(top):
                subprocess.run(["find", top, "-depth", "-type", "d", "-exec", "rmdir", "{}", ";"],
                               capture_output=True)
    seconds = time.monotonic() - start
    if a.keep_logs:
        with open(os.path.join(os.path.dirname(state), f"critest-{name}.log"), "w") as f:
            f.write(output)
    left = [p for p in cn.leftovers(state) if "docker-registry serve" not in p]
    if left:
        print(f"warning: left behind: {left}", file=sys.stderr)
    return parse(output) + (seconds,)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vigil", default=os.path.join(REPO, "build", "conmon"))
    ap.add_argument("--conmon", default="/usr/bin/conmon")
    ap.add_argument("--only", choices=("vigil", "conmon"))
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "bench", "critest"))
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("--no-httpd", action="store_true",
                    help="offer no httpd stand-in: the two 'Multiple Containers' specs fail to pull")
    ap.add_argument("--no-reap", action="store_true",
                    help="CRI-O's pid 1 reaps nothing but crio (as a slow init): a zombie left by a "
                         "timed-out exec fails 'execSync with timeout'")
    a = ap.parse_args()
    why = cn.missing()
    if why:
        sys.exit(why)
    for tool in ("docker-registry", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install docker-registry curl)")
    if not os.access(os.path.join(cn.CRIO_DIR, "bin", "critest"), os.X_OK):
        sys.exit(f"{cn.CRIO_DIR}/bin/critest is missing")
    workdir = os.path.abspath(a.workdir)
    state = os.path.join(workdir, "state")
    shutil.rmtree(state, ignore_errors=True)
    os.makedirs(workdir, exist_ok=True)
    node = cn.CrioNode(state)
    node.import_image()
    registry = Registry(state)
    results = {}
    try:
        prefix = prepare(node, registry, not a.no_httpd)
        for name, path in (("vigil", a.vigil), ("conmon", a.conmon)):
            if a.only in (None, name):
                results[name] = run_monitor(state, path, prefix, a, name)
    finally:
        registry.stop()
        shutil.rmtree(state, ignore_errors=True)
    for name, (passed, failed, ran, total, failures, seconds) in results.items():
        print(f"{name}: {passed} passed, {failed} failed, of {ran} specs run ({total} in critest), "
              f"{seconds:.0f} s")
        for f in failures:
            print(f"  FAIL {f}")


if __name__ == "__main__":
    main()
