# SPDX-License-Identifier: GPL-2.0-or-later
"""CRI calls as the kubelet makes them, where crictl does not: ReopenContainerLog (crictl has
no command for it) and ExecSync (crictl prints no stdout for a non-zero exit, appends blank lines
and exits 1 whatever the code).  Unary gRPC calls over HTTP/2 without TLS (prior knowledge) on
CRI-O's unix socket, in the standard library only.

HPACK: the request uses only literals without indexing and no Huffman coding, which every
decoder accepts.  The response's headers are not decoded (Go's encoder may Huffman-code them):
a gRPC server sends a response message only on success, and a "trailers-only" response without
one for an error.
"""
import socket
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def _frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream) + payload


def _hpack_int(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def _hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    out = b"\x00"
    for s in (name.encode(), value.encode()):
        out += _hpack_int(len(s), 7) + s
    return out


def _varint(n):
    out = b""
    while n >= 128:
        out += bytes([n % 128 + 128])
        n //= 128
    return out + bytes([n])


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("CRI socket closed in the middle of a frame")
        buf += chunk
    return buf


def unary_call(socket_path, method, request, timeout=30):
    """Calls METHOD (/package.Service/Method) with the serialized REQUEST; returns the response
    message bytes, or raises RuntimeError when the server answered without one."""
    headers = b"".join(_hpack_literal(k, v) for k, v in (
        (":method", "POST"), (":scheme", "http"), (":path", method), (":authority", "localhost"),
        ("content-type", "application/grpc"), ("te", "trailers")))
    body = b"\x00" + struct.pack(">I", len(request)) + request
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(PREFACE + _frame(SETTINGS, 0, 0) + _frame(HEADERS, END_HEADERS, 1, headers) +
                     _frame(DATA, END_STREAM, 1, body))
        message = None
        trailers = b""
        while True:
            head = _recv_exact(sock, 9)
            length = int.from_bytes(head[:3], "big")
            ftype, flags = head[3], head[4]
            stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
            payload = _recv_exact(sock, length)
            if ftype == SETTINGS and not flags & ACK:
                sock.sendall(_frame(SETTINGS, ACK, 0))
            elif ftype == PING and not flags & ACK:
                sock.sendall(_frame(PING, ACK, 0, payload))
            elif ftype == GOAWAY:
                raise RuntimeError(f"{method}: server sent GOAWAY: {payload[8:]!r}")
            elif ftype == RST_STREAM and stream == 1:
                raise RuntimeError(f"{method}: stream reset, error code {int.from_bytes(payload, 'big')}")
            elif ftype == DATA and stream == 1:
                message = (message or b"") + payload
                if payload:
                    # Flow control: give back what was read, or the server stops at 64 KiB.
                    grant = struct.pack(">I", len(payload))
                    sock.sendall(_frame(WINDOW_UPDATE, 0, 0, grant) + _frame(WINDOW_UPDATE, 0, 1, grant))
            elif ftype == HEADERS and stream == 1:
                trailers = payload
            if stream == 1 and ftype in (DATA, HEADERS) and flags & END_STREAM:
                break
        if message is None:
            raise RuntimeError(f"{method} failed (trailers-only response, HPACK {trailers.hex()})")
        return message[5:]


def reopen_container_log(socket_path, container_id, timeout=30):
    request = b"\x0a" + _varint(len(container_id)) + container_id.encode()
    unary_call(socket_path, "/runtime.v1.RuntimeService/ReopenContainerLog", request, timeout)


def _fields(message):
    """Decodes a protobuf message's varint and length-delimited fields: {number: [values]}."""
    out = {}
    i = 0
    while i < len(message):
        key, i = _read_varint(message, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(message, i)
        elif wire == 2:
            n, i = _read_varint(message, i)
            value, i = message[i:i + n], i + n
        else:
            raise ValueError(f"unexpected protobuf wire type {wire} for field {number}")
        out.setdefault(number, []).append(value)
    return out


def _read_varint(buf, i):
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 128:
            return value, i


def _string_field(number, s):
    b = s.encode() if isinstance(s, str) else s
    return _varint(number << 3 | 2) + _varint(len(b)) + b


def exec_sync(socket_path, container_id, argv, timeout=0):
    """ExecSync as the kubelet's exec probes make it: returns (exit_code, stdout, stderr)."""
    request = _string_field(1, container_id) + b"".join(_string_field(2, a) for a in argv)
    if timeout:
        request += _varint(3 << 3) + _varint(timeout)
    reply = _fields(unary_call(socket_path, "/runtime.v1.RuntimeService/ExecSync", request,
                               timeout + 60))
    code = reply.get(3, [0])[0]
    if code >= 1 << 63:
        code -= 1 << 64
    return code, reply.get(1, [b""])[0], reply.get(2, [b""])[0]
