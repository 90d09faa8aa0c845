#!/usr/bin/python3
"""rpc_uid_limits.py limits|idle SOCKET MAX_SOCKETS MAX_CONNS: a user tries to
get past its limits, with max_sockets_per_client = MAX_SOCKETS and
max_clients_per_user = MAX_CONNS.

  limits: more sockets through more control connections, and after
          reconnecting; more connections than its slots (run with
          client_idle_timeout = 0);
  idle:   fills its slots with connections that hold no socket and say
          nothing: past client_idle_timeout they stay open until another
          connection wants a slot, which the one idle longest gives up.

  accept: (under tapnet run, PORT for SOCKET) a listener with MAX_SOCKETS - 1
          connections accepted has no socket left: the next accept waits
          (the fd is not readable) until one of them is closed.

Prints one line per step; exits 0 when every limit held."""
import errno
import socket
import struct
import sys
import time

MODE, PATH, MAX_SOCKETS, MAX_CONNS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
from ctlproto import REPLY, SOCKET, STATUS, msg, recv_reply


def control():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(PATH)
    return s


held = []  # every socket fd we were given: they stay open


def new_socket(c):
    c.sendall(msg(SOCKET))
    r = recv_reply(c)
    if r is None:
        return "hung up"
    if r[1] is not None:
        return errno.errorcode.get(r[1], str(r[1]))
    held.extend(r[2])
    return "ok" if len(r[2]) == 1 else "no fd"


ok = True


def check(what, got, want):
    global ok
    print("%s: %s%s" % (what, got, "" if got == want else " (WRONG: expected %s)" % want), flush=True)
    ok &= got == want


def status_works(c):
    c.sendall(msg(STATUS))
    r = recv_reply(c)
    return r is not None and r[0] == STATUS | REPLY


def refused():
    extra = control()
    try:
        extra.sendall(msg(STATUS))
    except OSError:
        pass
    r = recv_reply(extra)
    extra.close()
    return "refused (%s)" % errno.errorcode.get(r[1], r[1]) if r and r[1] is not None else "answered"


if MODE == "accept":
    import select
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", int(PATH)))
    l.listen(16)
    print("listening", flush=True)
    conns = [l.accept()[0] for _ in range(MAX_SOCKETS - 1)]
    check("readable with no socket left (2 s)", bool(select.select([l], [], [], 2)[0]), False)
    conns.pop().close()
    check("readable after a close (bounded wait)", bool(select.select([l], [], [], 30)[0]), True)
    c = l.accept()[0]
    check("the waiting connection accepted", c.fileno() >= 0, True)
elif MODE == "limits":
    c1 = control()
    for i in range(MAX_SOCKETS):
        check("socket %d on the first connection" % (i + 1), new_socket(c1), "ok")
    check("one more on the first connection", new_socket(c1), "EMFILE")
    c2 = control()
    check("one more on a second connection", new_socket(c2), "EMFILE")
    c1.close()  # its sockets live on in this process
    c3 = control()
    check("one more after the first connection closed", new_socket(c3), "EMFILE")
    conns = [c2, c3]
    while len(conns) < MAX_CONNS:
        c = control()
        check("connection %d answers" % (len(conns) + 1), status_works(c), True)
        conns.append(c)
    check("connection %d" % (MAX_CONNS + 1), refused(), "refused (EMFILE)")
    conns.pop().close()
    time.sleep(0.5)  # tapnetd sees the hang-up; a retry below covers a slow one
    for attempt in range(50):
        c = control()
        if status_works(c):
            break
        c.close()
        time.sleep(0.2)
    check("a connection in the slot one closed", status_works(c), True)
else:
    conns = []
    while len(conns) < MAX_CONNS:
        c = control()
        check("connection %d answers" % (len(conns) + 1), status_works(c), True)
        conns.append(c)
    time.sleep(2.5)  # well past client_idle_timeout (1 s)

    def closed(c, wait):
        c.settimeout(wait)
        try:
            return c.recv(1) == b""
        except socket.timeout:
            return False
    # idle, but nobody wants their slots: tapnetd leaves them open
    check("idle connections closed while no one needs a slot",
          sum(closed(c, 0.2) for c in conns), 0)
    c = control()
    check("a new connection gets the slot of an idle one", status_works(c), True)
    check("idle connections closed to make room", sum(closed(c, 5) for c in conns), 1)
    for c in conns:
        c.close()
print("done: %s" % ("ok" if ok else "FAILED"), flush=True)
sys.exit(0 if ok else 1)
