#!/usr/bin/python3
"""rpc_hostile.py SOCKET: socket requests that break the rules of the
control protocol cost the sender its connection (or, for a request that is
merely wrong, an error reply); a reset watcher (RESETS) is one per process
and asks nothing more; an option ring (OPTION_RING) must be a sealed memfd
of the ring's size, and a ring that lies costs its connection; the daemon
answers the next client."""
import fcntl
import mmap
import os
import socket
import struct
import sys
import time

from ctlproto import (ATTR_ADDR, ATTR_FILLER, ATTR_LEVEL, ATTR_OPTNAME, ATTR_OPTVAL, ATTR_PORT, BIND,
                      CONNECT, HELLO, REPLY, RESETS, SETSOCKOPT, SOCKET, STATUS, attr, recv_reply,
                      u32_attrs)
from ctlproto import msg as ctl_msg

PATH = sys.argv[1]


def msg(mtype, attrs=(), mid=1):
    """A request with (type, 32-bit value) attributes."""
    return ctl_msg(mtype, u32_attrs(attrs), mid)


def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(PATH)
    return s


def expect_dropped(name, data, fds):
    s = conn()
    socket.send_fds(s, [data], fds)
    r = recv_reply(s)
    ok = r is None
    print("%s: %s" % (name, "connection closed" if ok else "WRONG: answered %r" % (r,)))
    s.close()
    return ok


def still_answers():
    s = conn()
    s.sendall(msg(STATUS))
    r = recv_reply(s)
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
r = recv_reply(s)
print("BIND with /dev/null: %r" % (r,))
ok &= r is not None and r[1] == 88  # ENOTSOCK
socket.send_fds(s, [msg(BIND, [(ATTR_ADDR, 0), (ATTR_PORT, 1234)], mid=2)], [a.fileno()])
r = recv_reply(s)
print("BIND with a socket that is not tapnet's: %r" % (r,))
ok &= r is not None and r[1] == 88
# a socket is named by its cookie alone: sockets of other families and types too are none of ours
for mid, (what, other) in enumerate((("a kernel TCP socket", socket.socket()),
                                     ("a UDP socket", socket.socket(socket.AF_INET, socket.SOCK_DGRAM)),
                                     ("a Unix datagram socket", socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM))),
                                    start=3):
    socket.send_fds(s, [msg(BIND, [(ATTR_ADDR, 0), (ATTR_PORT, 1234)], mid=mid)], [other.fileno()])
    r = recv_reply(s)
    print("BIND with %s: %r" % (what, r))
    ok &= r is not None and r[1] == 88
    other.close()
s.close()
# RESETS makes a connection a reset watcher of its process: one per process,
# and it asks nothing more (its notices would mix with the replies)
w = conn()
w.sendall(msg(RESETS))
r = recv_reply(w)
print("RESETS: %r" % (r,))
ok &= r is not None and r[0] == RESETS | REPLY
w2 = conn()
w2.sendall(msg(RESETS))
r = recv_reply(w2)
print("a second RESETS of the process: %r" % (r,))
ok &= r is not None and r[1] == 16  # EBUSY
w2.close()
w.sendall(msg(STATUS, mid=2))
r = recv_reply(w)
print("a request after RESETS: %s" % ("connection closed" if r is None else "WRONG: answered %r" % (r,)))
ok &= r is None
w.close()
# --- the option ring (OPTION_RING): memory the client shares with tapnetd
OPTION_RING, OPTION_RING_WAKE, SETSOCKOPT_NOWAIT = 27, 28, 24
RING_SIZE, RING_DATA_OFF, RING_DATA = 8192, 4096, 4096
ATTR_COOKIE = 70


def ring_memfd(size=RING_SIZE, seals=fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW):
    fd = os.memfd_create("hostile-ring", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(fd, size)
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


def ring_answer(name, fd, want_errno):
    """OPTION_RING with fd: an error reply, and the connection goes on."""
    s = conn()
    socket.send_fds(s, [msg(OPTION_RING)], [fd])
    r = recv_reply(s)
    s.sendall(msg(STATUS, mid=2))
    after = recv_reply(s)
    s.close()
    good = r is not None and r[1] == want_errno and after is not None and after[0] == STATUS | REPLY
    print("OPTION_RING with %s: %r, then STATUS %s" % (name, r, "answered" if after else "not answered"))
    return good


def ring_client():
    """A connection with a ring tapnetd accepted, and the client's mapping of it."""
    fd = ring_memfd()
    mem = mmap.mmap(fd, RING_SIZE)
    s = conn()
    socket.send_fds(s, [msg(OPTION_RING)], [fd])
    os.close(fd)
    r = recv_reply(s)
    assert r is not None and r[0] == OPTION_RING | REPLY, r
    return s, mem


def ring_write(mem, data, tail=None):
    """data into the ring after the tail, then the tail moved (or set to tail)."""
    old = struct.unpack_from("<I", mem, 0)[0]
    for i, byte in enumerate(data):
        mem[RING_DATA_OFF + (old + i) % RING_DATA] = byte
    struct.pack_into("<I", mem, 0, (old + len(data) if tail is None else tail) & 0xFFFFFFFF)


def nowait(cookie, mtype=SETSOCKOPT_NOWAIT):
    body = u32_attrs([(ATTR_LEVEL, 6), (ATTR_OPTNAME, 3)]) + attr(ATTR_OPTVAL, struct.pack("<i", 1))
    return ctl_msg(mtype, body + attr(ATTR_COOKIE, struct.pack("<Q", cookie)), 9)


def ring_lie(name, data, tail=None):
    """A ring that lies, then a request: the connection is closed."""
    s, mem = ring_client()
    ring_write(mem, data, tail)
    try:  # tapnetd reads the ring before its next wait: the request may find it closed
        s.sendall(msg(STATUS, mid=2))
        r = recv_reply(s)
    except (ConnectionResetError, BrokenPipeError):
        r = None
    print("option ring with %s: %s" % (name, "connection closed" if r is None else "WRONG: answered %r" % (r,)))
    s.close()
    mem.close()
    return r is None


ok &= expect_dropped("OPTION_RING without an fd", msg(OPTION_RING), [])
p0, p1 = os.pipe()
ok &= ring_answer("a pipe", p0, 22)  # EINVAL
os.close(p0)
os.close(p1)
for name, fd, want in (("a memfd it may still shrink", ring_memfd(seals=0), 1),  # EPERM
                       ("a memfd too small", ring_memfd(size=4096), 22),
                       ("a memfd too large", ring_memfd(size=1 << 20), 22)):
    ok &= ring_answer(name, fd, want)
    os.close(fd)
# a request for a socket that is not there: counted and logged by tapnetd, the connection goes on
s, mem = ring_client()
ring_write(mem, nowait(0xdead))
s.sendall(msg(STATUS, mid=2))
r = recv_reply(s)
print("a ring's request naming no socket, then STATUS: %r" % (r,))
ok &= r is not None and r[0] == STATUS | REPLY
s.sendall(msg(OPTION_RING_WAKE, mid=3))  # no reply, and no harm
s.sendall(msg(STATUS, mid=4))
r = recv_reply(s)
ok &= r is not None and r[0] == STATUS | REPLY
s.close()
mem.close()
ok &= ring_lie("its tail past the ring", b"", tail=RING_DATA + 100)
ok &= ring_lie("half a message", nowait(1)[:10])
ok &= ring_lie("a request other than SETSOCKOPT_NOWAIT", nowait(1, mtype=SETSOCKOPT))
ok &= ring_lie("a message of 4000 bytes", ctl_msg(SETSOCKOPT_NOWAIT, attr(ATTR_OPTVAL, b"x" * 3980), 9))
# a reset watcher asks nothing more: its ring is read when it becomes one, then no more
s, mem = ring_client()
s.sendall(msg(RESETS, mid=2))
r = recv_reply(s)
ok &= r is not None and r[0] == RESETS | REPLY
ring_write(mem, b"", tail=RING_DATA + 100)
time.sleep(0.3)
s.setblocking(False)
try:
    kept = s.recv(1) != b""
except BlockingIOError:
    kept = True
print("a reset watcher's ring after RESETS: %s" % ("not read" if kept else "WRONG: read, connection closed"))
ok &= kept
s.close()
mem.close()
alive = still_answers()
print("the daemon still answers: %s" % alive)
sys.exit(0 if ok and alive else 1)
