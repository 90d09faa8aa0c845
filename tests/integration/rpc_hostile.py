#!/usr/bin/python3
"""rpc_hostile.py SOCKET: socket requests that break the rules of the
control protocol cost the sender its connection (or, for a request that is
merely wrong, an error reply); a reset watcher (RESETS) is one per process
and asks nothing more; the daemon answers the next client."""
import os
import socket
import sys

from ctlproto import (ATTR_ADDR, ATTR_FILLER, ATTR_PORT, BIND, CONNECT, HELLO, REPLY, RESETS,
                      SOCKET, STATUS, recv_reply, u32_attrs)
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
alive = still_answers()
print("the daemon still answers: %s" % alive)
sys.exit(0 if ok and alive else 1)
