"""ctlproto.py - tapnetd's control protocol spoken by hand, for the tests
that play a hostile or greedy local client (the wire format is in
src/rpc/rpc.h: a 16-byte header, then 4-byte-aligned attributes)."""
import socket
import struct

HELLO, STATUS, SOCKET, BIND, LISTEN, CONNECT, SETSOCKOPT = 1, 2, 16, 17, 18, 19, 22
RESETS = 25
ATTR_ADDR, ATTR_FILLER, ATTR_PORT = 14, 60, 61
ATTR_LEVEL, ATTR_OPTNAME, ATTR_OPTVAL = 65, 66, 68
REPLY, ERROR = 0x8000, 0x7FFF


def attr(atype, value):
    """One attribute: type, length, the value bytes, padding."""
    pad = (4 - len(value) % 4) % 4
    return struct.pack("<HH", atype, len(value)) + value + b"\0" * pad


def u32_attrs(attrs):
    """Attributes of (type, 32-bit value) pairs."""
    return b"".join(attr(t, struct.pack("<I", v)) for t, v in attrs)


def msg(mtype, body=b"", mid=1):
    """A whole message: the header, then body (attributes)."""
    return struct.pack("<IHHII", 16 + len(body), 1, mtype, mid, 0) + body


def recv_msg(s):
    """(the whole message, header and attributes; the fds passed with it),
    or None at end of file."""
    data, fds = b"", []
    while len(data) < 16:
        chunk, got, _, _ = socket.recv_fds(s, 16 - len(data), 4)
        if not chunk:
            return None
        data += chunk
        fds += got
    length = struct.unpack("<I", data[:4])[0]
    while len(data) < length:
        chunk = s.recv(length - len(data))
        if not chunk:
            return None
        data += chunk
    return data, fds


def msg_type_id(data):
    """(type, id) of a message from recv_msg."""
    _, _, mtype, mid, _ = struct.unpack("<IHHII", data[:16])
    return mtype, mid


def recv_reply(s):
    """(type, errno or None, fds passed with it), or None at end of file."""
    got = recv_msg(s)
    if got is None:
        return None
    data, fds = got
    mtype = msg_type_id(data)[0]
    err = struct.unpack("<I", data[20:24])[0] if mtype & ~REPLY == ERROR else None
    return mtype, err, fds
