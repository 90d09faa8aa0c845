#!/usr/bin/python3
"""connect_probe.py ADDR CLOSED_PORT OPEN_PORT: connects the ways programs do
and checks the answers a kernel socket would give. Prints one line per check;
exits 1 at the first wrong answer."""
import errno
import selectors
import signal
import socket
import sys

addr, closed_port, open_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def check(what, ok, detail):
    print("%s: %s (%s)" % (what, "ok" if ok else "WRONG", detail))
    if not ok:
        sys.exit(1)


# non-blocking connect to a closed port, waited for with selectors (epoll)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
r = s.connect_ex((addr, closed_port))
check("non-blocking connect returns EINPROGRESS", r == errno.EINPROGRESS, errno.errorcode.get(r, r))
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_WRITE)
events = sel.select(30)
check("the socket turns writable when the handshake fails", len(events) == 1, events)
e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
check("SO_ERROR is ECONNREFUSED", e == errno.ECONNREFUSED, errno.errorcode.get(e, e))
sel.close()
s.close()

# blocking connect to a closed port
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.connect((addr, closed_port))
    check("blocking connect to a closed port fails", False, "it succeeded")
except ConnectionRefusedError as ex:
    check("blocking connect to a closed port fails", True, ex)
s.close()

# non-blocking connect to an open port: not writable before the handshake
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setblocking(False)
r = s.connect_ex((addr, open_port))
check("non-blocking connect to an open port: EINPROGRESS", r == errno.EINPROGRESS, errno.errorcode.get(r, r))
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_WRITE)
events = sel.select(30)
check("writable once connected", len(events) == 1, events)
e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
check("SO_ERROR is 0", e == 0, e)
peer = s.getpeername()
check("getpeername", peer == (addr, open_port), peer)
local = s.getsockname()
check("getsockname has an address and a port", local[1] != 0 and local[0] != "0.0.0.0", local)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
check("TCP_NODELAY reads back", s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1, "")
check("SO_TYPE", s.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE) == socket.SOCK_STREAM, "")
s.setblocking(True)
s.sendall(b"ping\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
check("echo through the connection", data == b"ping\n", data)
s.close()

# accept on a socket that does not listen: EINVAL at once, as on Linux, not
# a wait for an accept record that never comes, nor a connection's bytes
# taken for one (the bytes are still there to read); a wait ends the probe
signal.alarm(20)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.accept()
    check("accept on a new socket fails", False, "it returned")
except OSError as ex:
    check("accept on a new socket: EINVAL", ex.errno == errno.EINVAL, ex)
s.connect((addr, open_port))
s.sendall(b"kept\n")
s.shutdown(socket.SHUT_WR)
try:
    s.accept()
    check("accept on a connected socket fails", False, "it returned")
except OSError as ex:
    check("accept on a connected socket: EINVAL", ex.errno == errno.EINVAL, ex)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
check("the connection's bytes after accept", data == b"kept\n", data)
s.close()
signal.alarm(0)
