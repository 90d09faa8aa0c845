#!/usr/bin/python3
# limits_client.py - run under `tapnet run` by rpc_limits.sh: what a program
# sees of tapnetd's buffer-space limits.
#
#   limits_client.py connect ADDR PORT HOLD EXPECT   connects HOLD times (each
#       must work), then once more: EXPECT is "ok" or "ENOBUFS"; with ENOBUFS,
#       closes one connection and connects again (the space came back); then
#       prints "held PID" and keeps its connections until killed.
#   limits_client.py refused ADDR PORT              one connect, which must fail
#       with ENOBUFS.
#   limits_client.py accept ADDR PORT ACCEPTED      listens, accepts ACCEPTED
#       connections, checks that the listening fd then is not readable while
#       one more connection waits, closes one, and accepts the waiting one
#       (which must carry data).
import errno
import os
import select
import socket
import sys
import time


def die(msg):
    print("limits_client: " + msg, flush=True)
    sys.exit(1)


def connect(addr, port):
    s = socket.socket()
    s.connect((addr, port))
    return s


def cmd_connect(addr, port, hold, expect):
    conns = [connect(addr, port) for _ in range(hold)]
    try:
        conns.append(connect(addr, port))
        got = "ok"
    except OSError as e:
        if e.errno != errno.ENOBUFS:
            die("connect %d: %s, expected %s" % (hold + 1, e, expect))
        got = "ENOBUFS"
    if got != expect:
        die("connect %d: %s, expected %s" % (hold + 1, got, expect))
    print("connect %d: %s" % (hold + 1, got), flush=True)
    if got == "ENOBUFS":
        conns.pop().close()
        # the space comes back when the connection is freed: bounded retry
        for _ in range(100):
            try:
                conns.append(connect(addr, port))
                break
            except OSError as e:
                if e.errno != errno.ENOBUFS:
                    die("connect after a close: %s" % e)
                time.sleep(0.05)
        else:
            die("connect after a close: still ENOBUFS after 5 s")
        print("connect after a close: ok", flush=True)
    for c in conns:
        c.sendall(b"x")
    print("held", os.getpid(), flush=True)
    time.sleep(3600)


def cmd_accept(addr, port, accepted):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((addr, port))
    l.listen(16)
    print("listening", flush=True)
    conns = []
    for _ in range(accepted):
        c, _ = l.accept()
        conns.append(c)
    print("accepted %d" % accepted, flush=True)
    # the kernel side opens one more: it must wait for buffer space
    r, _, _ = select.select([l], [], [], 2.0)
    if r:
        die("the listening fd is readable with the per-client buffer space used up")
    l.setblocking(False)
    try:
        l.accept()
        die("accept returned a connection with the buffer space used up")
    except BlockingIOError:
        pass
    print("accept waits", flush=True)
    conns.pop().close()
    r, _, _ = select.select([l], [], [], 10.0)
    if not r:
        die("the waiting connection was not handed over after a close")
    c, _ = l.accept()
    c.setblocking(True)
    c.settimeout(10)
    data = c.recv(16)
    if data != b"late":
        die("the waiting connection carried %r, expected b'late'" % data)
    print("accepted the waiting connection", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "refused":
        try:
            connect(sys.argv[2], int(sys.argv[3]))
            die("connect worked, expected ENOBUFS")
        except OSError as e:
            if e.errno != errno.ENOBUFS:
                die("connect: %s, expected ENOBUFS" % e)
        print("connect: ENOBUFS", flush=True)
    elif len(sys.argv) == 6 and sys.argv[1] == "connect":
        cmd_connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif len(sys.argv) == 5 and sys.argv[1] == "accept":
        cmd_accept(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        die("usage: limits_client.py connect ADDR PORT HOLD ok|ENOBUFS | refused ADDR PORT | "
            "accept ADDR PORT N")
