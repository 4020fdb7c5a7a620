#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Run one OCI bundle under a container monitor the way podman 4.3.1 does.

Usage: run-under-monitor.py [options] MONITOR RUNTIME BUNDLE CID

The monitor (vigil, or conmon as the reference) is spawned with two
SOCK_SEQPACKET socketpairs announced as _OCI_SYNCPIPE and _OCI_STARTPIPE.
This helper then plays the engine's part (see shared/spec/engine-contract.md
§0 and §2.1):

  1. send one start byte (podman sends it after moving the monitor into a
     cgroup);
  2. wait for the monitor's first process to exit and read --conmon-pidfile;
  3. read {"data": <pid>} from the sync pipe (the monitor ran `runtime create`);
  4. run `RUNTIME start CID` itself, as podman does;
  5. wait for <exit-dir>/<CID> and print the exit code.

This helper becomes the child subreaper, so the daemonised monitor is
reparented to it and can be reaped here rather than by the host's init.

It prints progress lines prefixed with "#" and a final line "exit code N".
Exit status: 0 if the container's exit code was obtained, 1 otherwise.
Python 3 standard library only.
"""

import argparse
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def say(msg):
    print("# " + msg, flush=True)


def fail(msg):
    print("run-under-monitor: " + msg, file=sys.stderr, flush=True)
    return 1


def set_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")
        return True
    except (OSError, AttributeError):
        return False


def read_sync(sock, timeout):
    """Read the monitor's one JSON line from the sync pipe (None on EOF)."""
    sock.settimeout(timeout)
    buf = b""
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
    if not buf:
        return None
    return json.loads(buf.split(b"\n", 1)[0])


def wait_for_file(path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(path) as f:
                text = f.read()
            if text != "":
                return text
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    return None


def reap(pid, timeout):
    """Wait for a (reparented) process; True if it went away in time."""
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
        time.sleep(0.02)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("monitor")
    ap.add_argument("runtime", help="absolute path of runc")
    ap.add_argument("bundle")
    ap.add_argument("cid")
    ap.add_argument("--workdir", required=True,
                    help="where the pid files, exit dir and log go")
    ap.add_argument("--runtime-arg", action="append", default=[],
                    help="global runtime option (repeatable), e.g. --root")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    work = os.path.abspath(args.workdir)
    bundle = os.path.abspath(args.bundle)
    exit_dir = os.path.join(work, "exits")
    os.makedirs(exit_dir, exist_ok=True)
    log_path = os.path.join(work, "ctr.log")
    monitor_pidfile = os.path.join(work, "conmon.pid")
    exit_file = os.path.join(exit_dir, args.cid)

    argv = [args.monitor, "--api-version", "1", "-c", args.cid, "-u", args.cid,
            "-r", args.runtime, "-b", bundle, "-p", os.path.join(work, "pidfile"),
            "-n", args.cid, "--exit-dir", exit_dir, "--full-attach",
            "-l", "k8s-file:" + log_path, "--log-level", "warning"]
    for ra in args.runtime_arg:
        argv += ["--runtime-arg", ra]
    argv += ["--conmon-pidfile", monitor_pidfile]

    subreaper = set_subreaper()

    # podman creates these with SOCK_CLOEXEC; pass_fds keeps the child's ends.
    sync_ours, sync_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    start_ours, start_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "_OCI_SYNCPIPE": str(sync_theirs.fileno()),
        "_OCI_STARTPIPE": str(start_theirs.fileno()),
    }
    monitor_pid = None
    try:
        first = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                 pass_fds=(sync_theirs.fileno(), start_theirs.fileno()),
                                 start_new_session=True)
        sync_theirs.close()
        start_theirs.close()

        start_ours.send(b"\0")
        try:
            rc = first.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            first.kill()
            return fail("the monitor's first process did not exit")
        if rc != 0:
            return fail("the monitor's first process exited with status %d" % rc)
        try:
            with open(monitor_pidfile) as f:
                monitor_pid = int(f.read())
        except (OSError, ValueError) as e:
            return fail("cannot read --conmon-pidfile: %s" % e)

        try:
            msg = read_sync(sync_ours, args.timeout)
        except (socket.timeout, ValueError) as e:
            return fail("no valid message on the sync pipe: %s" % e)
        if msg is None:
            return fail("the monitor closed the sync pipe without reporting a pid")
        pid = msg.get("data", -1)
        if pid <= 0:
            return fail("runtime create failed: %s" % msg.get("message", "(no message)"))
        start_ours.close()  # podman closes its ends once create has returned
        say("monitor %d ran `runc create`: container pid %d" % (monitor_pid, pid))

        subprocess.run([args.runtime] + args.runtime_arg + ["start", args.cid], check=True,
                       timeout=args.timeout)
        say("engine ran `runc start %s`" % args.cid)

        code = wait_for_file(exit_file, args.timeout)
        if code is None:
            return fail("no exit file %s after %gs" % (exit_file, args.timeout))
        if subreaper and not reap(monitor_pid, 10):
            say("monitor %d still running after the exit file appeared" % monitor_pid)
        monitor_pid = None
        print("exit code %s" % code, flush=True)
        return 0
    finally:
        if monitor_pid is not None:
            try:
                os.kill(monitor_pid, signal.SIGKILL)
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
