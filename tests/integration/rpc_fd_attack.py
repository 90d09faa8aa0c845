#!/usr/bin/python3
"""rpc_fd_attack.py SOCKET HOST_ADDR PORT: what a hostile local user does to
make tapnetd run a close that blocks. Each attack puts a kernel TCP socket
with SO_LINGER {1, 20} and megabytes unsent to a peer that never reads into
a place whose last close falls to tapnetd; that close waits 20 s for the
data to go. Run as an unprivileged user.

  smuggled: in flight inside a Unix socket pair whose other end goes to
            tapnetd with a SETSOCKOPT request (a socket that is not one of
            tapnetd's: ENOTSOCK);
  data:     sent with SCM_RIGHTS on a real tapnet socket's own fd, into the
            end tapnetd reads (then the fd is closed);
  control:  passed on the control connection with half a message, then
            the connection hangs up.

Prints one line per attack, then "attacks done: ok" (or ": FAILED"), and
keeps the peers open (so the closes stay pending) until killed: whether
tapnetd stays responsive meanwhile is for the caller to check."""
import array
import errno
import select
import socket
import struct
import sys
import time

from ctlproto import (ATTR_ADDR, ATTR_LEVEL, ATTR_OPTNAME, ATTR_OPTVAL, ATTR_PORT, CONNECT, REPLY,
                      SETSOCKOPT, SOCKET, attr, msg, recv_reply)

PATH, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
TCP_NODELAY = 1


def control():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(PATH)
    return s


sink = socket.socket()
sink.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
sink.bind((HOST, PORT))
sink.listen(16)
held = []  # the peers: accepted, never read


def lingering_socket():
    """A kernel TCP socket whose close waits 20 s: its peer never reads."""
    t = socket.socket()
    t.connect((HOST, PORT))
    held.append(sink.accept()[0])
    t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 20))
    t.setblocking(False)
    sent = 0
    chunk = b"x" * 65536
    try:
        while True:
            sent += t.send(chunk)
    except BlockingIOError:
        pass
    return t, sent


ok = True

# smuggled
t, sent = lingering_socket()
x, y = socket.socketpair()
socket.send_fds(y, [b"!"], [t.fileno()])
t.close()
y.close()
c = control()
body = attr(ATTR_LEVEL, struct.pack("<I", socket.IPPROTO_TCP)) + \
    attr(ATTR_OPTNAME, struct.pack("<I", TCP_NODELAY)) + attr(ATTR_OPTVAL, struct.pack("<i", 1))
socket.send_fds(c, [msg(SETSOCKOPT, body)], [x.fileno()])
x.close()  # tapnetd holds the last reference to x, and so to t
r = recv_reply(c)
good = r is not None and r[1] == errno.ENOTSOCK
print("smuggled (%d bytes unsent): %s" % (sent, "refused with ENOTSOCK" if good else "WRONG: %r" % (r,)))
ok &= good

# data
c.sendall(msg(SOCKET, mid=2))
r = recv_reply(c)
good = r is not None and r[0] == SOCKET | REPLY and len(r[2]) == 1
print("SOCKET: %s" % ("one fd with the reply" if good else "WRONG: %r" % (r,)))
ok &= good
if good:
    # connected, so that its fd takes data
    b = socket.socket(fileno=r[2][0])
    addr = struct.unpack("!I", socket.inet_aton(HOST))[0]
    socket.send_fds(c, [msg(CONNECT, attr(ATTR_ADDR, struct.pack("<I", addr)) +
                            attr(ATTR_PORT, struct.pack("<I", PORT)), mid=3)], [b.fileno()])
    r = recv_reply(c)
    good = r is not None and r[0] == CONNECT | REPLY
    print("CONNECT: %s" % ("started" if good else "WRONG: %r" % (r,)))
    ok &= good
    held.append(sink.accept()[0])
    select.select([], [b], [], 10)
    t, sent = lingering_socket()
    try:
        socket.send_fds(b, [b"!"], [t.fileno()])
        how = "sent into tapnetd's end"
    except OSError as e:  # a kernel that refuses SCM_RIGHTS to the peer (SO_PASSRIGHTS)
        how = "refused by the kernel (%s)" % e.strerror
    t.close()
    b.close()
    print("data (%d bytes unsent): %s" % (sent, how))
c.close()

# control
t, sent = lingering_socket()
c = control()
socket.send_fds(c, [msg(SETSOCKOPT, body)[:8]], [t.fileno()])
t.close()
c.close()
print("control (%d bytes unsent): passed with half a message, hung up" % sent)

print("attacks done: %s" % ("ok" if ok else "FAILED"), flush=True)
time.sleep(600)  # the peers keep their connections, and so the lingering closes, open
