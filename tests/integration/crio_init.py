# SPDX-License-Identifier: GPL-2.0-or-later
"""pid 1 of the private pid and mount namespaces a test CRI-O runs in (crio_node.py).

    unshare --mount --propagation private --pid --fork --mount-proc \
        python3 crio_init.py STATE LOG CRIO_ARGV...

Why a namespace of its own: CRI-O and everything it starts (monitors, runc, containers) live
and die with it, so an aborted test run leaves nothing behind (the kernel kills the namespace
when its pid 1 exits), and CRI-O's overlay mounts never reach the host.  STATE/varlib is
bind-mounted on /var/lib, where containers/image and libcni write with no option to move them.

Why this pid 1 rather than a shell: the monitors reparent their orphans to it, and a test
must be able to choose whether they are reaped (an ExecSync timeout must leave no zombie
even where pid 1 never reaps), and CRI-O must be restartable while its containers run.

Commands, one per line on stdin, each answered by one line on stdout:
    start         start crio (output appended to LOG)     -> "started PID"
    stop          SIGTERM crio, wait for it (SIGKILL after STOP_TIMEOUT s)  -> "stopped WAITSTATUS"
    reap 0|1      stop or resume reaping orphans          -> "reap 0|1"
End of stdin ends the namespace.
"""
import os
import select
import signal
import subprocess
import sys

STOP_TIMEOUT = 60


class Init:
    def __init__(self, log, argv):
        self.log = log
        self.argv = argv
        self.crio = 0
        self.reap = True

    def start(self):
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        pid = os.fork()
        if pid == 0:
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            devnull = os.open("/dev/null", os.O_RDONLY)
            os.dup2(devnull, 0)
            # This pid 1's signal handlers and mask are not crio's.
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            try:
                os.execvp(self.argv[0], self.argv)
            finally:
                os._exit(127)
        os.close(fd)
        self.crio = pid
        return "started %d" % pid

    def stop(self):
        """SIGTERM, and SIGKILL should crio still be there a minute later."""
        if not self.crio:
            return "stopped -1"
        pidfd = os.pidfd_open(self.crio)
        os.kill(self.crio, signal.SIGTERM)
        if not select.select([pidfd], [], [], STOP_TIMEOUT)[0]:
            os.kill(self.crio, signal.SIGKILL)
        os.close(pidfd)
        _, status = os.waitpid(self.crio, 0)
        self.crio = 0
        return "stopped %d" % status

    def reap_children(self):
        if not self.reap:
            # Only crio itself, so that it can be restarted.
            if self.crio and os.waitpid(self.crio, os.WNOHANG)[0] == self.crio:
                self.crio = 0
            return
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.crio:
                self.crio = 0

    def command(self, line):
        words = line.split()
        if words == ["start"]:
            return self.start()
        if words == ["stop"]:
            return self.stop()
        if len(words) == 2 and words[0] == "reap":
            self.reap = words[1] == "1"
            self.reap_children()
            return "reap %d" % self.reap
        return "error unknown command %r" % line


def main():
    state, log, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
    os.makedirs(os.path.join(state, "varlib"), exist_ok=True)
    subprocess.run(["mount", "--bind", os.path.join(state, "varlib"), "/var/lib"], check=True)
    init = Init(log, argv)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stdin = sys.stdin.buffer.raw
    pending = b""
    print("ready", flush=True)
    while True:
        ready, _, _ = select.select([stdin, wake_r], [], [])
        if wake_r in ready:
            while True:
                try:
                    if not os.read(wake_r, 256):
                        break
                except BlockingIOError:
                    break
            init.reap_children()
        if stdin in ready:
            data = os.read(stdin.fileno(), 4096)
            if not data:
                return
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                print(init.command(line.decode()), flush=True)
        # A SIGCHLD may have come while the handler was being set up.
        init.reap_children()


if __name__ == "__main__":
    main()
