#!/usr/bin/python3
"""rpc_hostile.py SOCKET: socket requests that break the rules of the
control protocol cost the sender its connection (or, for a request that is
merely wrong, an error reply); the daemon answers the next client."""
import os
import socket
import struct
import sys

PATH = sys.argv[1]
HELLO, STATUS, SOCKET, BIND, CONNECT = 1, 2, 16, 17, 19
ATTR_ADDR, ATTR_PORT, ATTR_FILLER = 14, 61, 60
REPLY, ERROR = 0x8000, 0x7FFF


def msg(mtype, attrs=(), mid=1):
    body = b""
    for atype, value in attrs:
        body += struct.pack("<HHI", atype, 4, value)
    return struct.pack("<IHHII", 16 + len(body), 1, mtype, mid, 0) + body


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(PATH)
    return s


def reply(s):
    hdr = b""
    while len(hdr) < 16:
        b = s.recv(16 - len(hdr))
        if not b:
            return None
        hdr += b
    length, _, mtype, _, _ = struct.unpack("<IHHII", hdr)
    body = b""
    while len(body) < length - 16:
        body += s.recv(length - 16 - len(body))
    errno_value = None
    if mtype & ~REPLY == ERROR:
        errno_value = struct.unpack("<I", body[4:8])[0]
    return mtype, errno_value


def expect_dropped(name, data, fds):
    s = conn()
    socket.send_fds(s, [data], fds)
    r = reply(s)
    ok = r is None
    print("%s: %s" % (name, "connection closed" if ok else "WRONG: answered %r" % (r,)))
    s.close()
    return ok


def still_answers():
    s = conn()
    s.sendall(msg(STATUS))
    r = reply(s)
    s.close()
    return r is not None and r[0] == STATUS | REPLY


ok = True
a, b = socket.socketpair()
f = os.open("/dev/null", os.O_RDONLY)
ok &= expect_dropped("an fd with HELLO", msg(HELLO), [a.fileno()])
ok &= expect_dropped("SOCKET with one fd", msg(SOCKET, [(ATTR_FILLER, 0)]), [a.fileno()])
ok &= expect_dropped("SOCKET with three fds", msg(SOCKET, [(ATTR_FILLER, 0)]),
                     [a.fileno(), b.fileno(), f])
ok &= expect_dropped("CONNECT without an fd", msg(CONNECT, [(ATTR_ADDR, 0x0A000001), (ATTR_PORT, 80)]), [])
# well formed but about something that is not a tapnet socket: an error, not a hang-up
s = conn()
socket.send_fds(s, [msg(BIND, [(ATTR_ADDR, 0), (ATTR_PORT, 1234)])], [f])
r = reply(s)
print("BIND with /dev/null: %r" % (r,))
ok &= r is not None and r[1] == 88  # ENOTSOCK
socket.send_fds(s, [msg(BIND, [(ATTR_ADDR, 0), (ATTR_PORT, 1234)], mid=2)], [a.fileno()])
r = reply(s)
print("BIND with a socket that is not tapnet's: %r" % (r,))
ok &= r is not None and r[1] == 88
s.close()
alive = still_answers()
print("the daemon still answers: %s" % alive)
sys.exit(0 if ok and alive else 1)
