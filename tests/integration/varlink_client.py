# SPDX-License-Identifier: GPL-2.0-or-later
"""A minimal Varlink client, written from the protocol description alone (not from vigilctl),
so the integration tests check vigil's control socket against the wire format itself:

  * a stream socket; every message is one JSON object followed by a single NUL byte;
  * a call is {"method": "iface.Method", "parameters": {...}} plus optional "more": true
    (the reply stream continues while replies carry "continues": true) or "oneway": true
    (no reply at all);
  * a reply is {"parameters": {...}} or {"error": "iface.Error", "parameters": {...}}.
"""
import json
import os
import select
import socket
import time


class VarlinkError(Exception):
    def __init__(self, error, parameters):
        super().__init__(f"{error} {parameters}")
        self.error = error
        self.parameters = parameters or {}


class Closed(Exception):
    """The service closed the connection."""


def connect_unix(path):
    """Connect through /proc/self/fd so paths longer than sun_path work."""
    dfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_CLOEXEC)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(f"/proc/self/fd/{dfd}/{os.path.basename(path)}")
        return s
    finally:
        os.close(dfd)


class Connection:
    def __init__(self, path=None, sock=None, timeout=10):
        self.sock = sock if sock is not None else connect_unix(path)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, method, parameters=None, more=False, oneway=False):
        msg = {"method": method}
        if parameters is not None:
            msg["parameters"] = parameters
        if more:
            msg["more"] = True
        if oneway:
            msg["oneway"] = True
        self.send_raw(json.dumps(msg).encode() + b"\0")

    def receive(self, timeout=None):
        """The next message as a dict; raises Closed at EOF, AssertionError on timeout."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no complete Varlink message within {timeout}s")
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                continue
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed" + (f" with {self.buf!r} pending" if self.buf else ""))
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        msg = json.loads(raw)
        assert isinstance(msg, dict), f"a message must be a JSON object: {raw!r}"
        return msg

    def reply(self, timeout=None):
        """The next reply's parameters; raises VarlinkError for an error reply."""
        msg = self.receive(timeout)
        if "error" in msg:
            assert isinstance(msg["error"], str)
            raise VarlinkError(msg["error"], msg.get("parameters"))
        params = msg.get("parameters", {})
        assert isinstance(params, dict), f"parameters must be an object: {msg!r}"
        return params, bool(msg.get("continues", False))

    def call(self, method, parameters=None, timeout=None):
        self.send(method, parameters)
        params, continues = self.reply(timeout)
        assert not continues, "a call without \"more\" must get exactly one reply"
        return params

    def stream(self, method, parameters=None, timeout=None):
        """Generator over the replies of a "more" call, ending with the last one."""
        self.send(method, parameters, more=True)
        while True:
            params, continues = self.reply(timeout)
            yield params
            if not continues:
                return
