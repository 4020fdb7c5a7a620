#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The kubelet's log rotation under load, through CRI-O 1.33, for vigil and conmon in one run.

A container writes numbered lines as fast as it can (awk, block-buffered) while its log is
renamed and reopened through the CRI's ReopenContainerLog every 100 ms, as the kubelet does
(tests/integration/crio_node.py: rotate_under_writer, count_lines).  Reports, per monitor and
round, the lines written, and how many were lost, duplicated, cut (begun in one file, ended
in the next: a reader of either file sees half a line) or torn (not whole anywhere).  tests/integration/test_crio.py asserts zero of each for vigil; for conmon this
is a measurement only.

    bench/crio_log_rotation.py [--rounds 3] [--seconds 2] [--vigil PATH] [--conmon PATH]
        [--workdir build/bench/crio-rotation] [--json OUT]

Needs root and ../shared/crio (VIGIL_CRIO_DIR), like the CRI-O tests.
"""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import crio_node as cn  # noqa: E402

FIELDS = ("lines", "files", "lost", "duplicated", "cut", "torn", "bad_records")


def run_monitor(state, monitor, rounds, seconds):
    node = cn.CrioNode(state)
    node.configure(monitor)
    rows = []
    try:
        node.start()
        for i in range(rounds):
            pod = node.run_pod(f"rot{i}")
            try:
                _, files = cn.rotate_under_writer(pod, seconds=seconds)
                rows.append(cn.count_lines(files))
                for path in files:
                    os.unlink(path)
            finally:
                pod.remove(check=False)
    finally:
        node.shutdown()
    left = cn.leftovers(state)
    if left:
        print(f"warning: left behind: {left}", file=sys.stderr)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vigil", default=os.path.join(REPO, "build", "conmon"))
    ap.add_argument("--conmon", default="/usr/bin/conmon")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="rotating for this long per round")
    ap.add_argument("--workdir", default=os.path.join(REPO, "build", "bench", "crio-rotation"))
    ap.add_argument("--json")
    a = ap.parse_args()
    why = cn.missing()
    if why:
        sys.exit(why)
    state = os.path.abspath(a.workdir)
    shutil.rmtree(state, ignore_errors=True)
    cn.CrioNode(state).import_image()
    results = {}
    try:
        for name, path in (("vigil", a.vigil), ("conmon", a.conmon)):
            results[name] = run_monitor(state, path, a.rounds, a.seconds)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print("%-7s %5s " % ("monitor", "round") + " ".join("%10s" % f for f in FIELDS))
    for name, rows in results.items():
        for i, row in enumerate(rows):
            print("%-7s %5d " % (name, i + 1) + " ".join("%10d" % row[f] for f in FIELDS))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
