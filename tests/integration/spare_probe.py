#!/usr/bin/python3
"""spare_probe.py ADDR PORT MODE - socket() and fd numbers, connection after
connection, as a program sees them; run once on the kernel and once under
`tapnet run` (rpc_spare.sh), whose spare socket must change nothing here.

MODE numbers: prints the fd numbers socket(), accept-less connects and an
open() after them get; the lines must be the kernel's.
MODE fork: after a few connections (so that a spare waits), a fork child
sleeps while the parent connects, sends "q" and closes: the echo server
(its own reply) tells how long the close took to reach it.
MODE closed: the program closes every fd from 3 up, and puts /dev/null
at a number behind libc's back; socket() still works and that number
stays the program's /dev/null.
"""
import ctypes
import os
import socket
import stat
import sys
import time

ADDR = (sys.argv[1], int(sys.argv[2]))
MODE = sys.argv[3]


def conn():
    s = socket.socket()
    s.connect(ADDR)
    return s


def echo(s):
    s.sendall(b"x")
    assert s.recv(1) == b"x", "no echo"


def spares():
    """unix sockets at 64 and up other than the control connection"""
    ctl = int(os.environ.get("TAPNET_CTL_FD", "-1"))
    out = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if fd >= 64 and fd != ctl and stat.S_ISSOCK(st.st_mode):
            out.append(fd)
    return out


if MODE == "numbers":
    got = []
    for i in range(4):
        s = conn()
        got.append(s.fileno())
        echo(s)
        s.close()
    f = os.open("/dev/null", os.O_RDONLY)
    got.append(f)
    a, b = conn(), conn()
    got += [a.fileno(), b.fileno()]
    a.close()
    c = socket.socket()  # the lowest free number: a's
    got.append(c.fileno())
    c.connect(ADDR)
    echo(c)
    g = os.open("/dev/null", os.O_RDONLY)
    got.append(g)
    print("fds", *got)
elif MODE == "fork":
    for i in range(4):
        s = conn()
        echo(s)
        s.close()
    print("spares before the fork", len(spares()), flush=True)
    pid = os.fork()
    if pid == 0:
        time.sleep(8)
        os._exit(0)
    s = conn()
    s.sendall(b"q")  # the server times from here to the FIN
    s.close()
    s = conn()
    s.sendall(b"t")  # and says how long that was
    took = s.recv(100).decode()
    s.close()
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    print("the close reached the server in", took)
elif MODE == "closed":
    for i in range(4):
        s = conn()
        echo(s)
        s.close()
    waiting = spares()
    print("spares", len(waiting))
    libc = ctypes.CDLL(None, use_errno=True)
    null = os.open("/dev/null", os.O_RDONLY)
    for fd in waiting:  # behind libc's back: the shim cannot know
        libc.syscall(3, fd)  # SYS_close
        assert libc.syscall(33, null, fd) == fd  # SYS_dup2
    s = conn()
    echo(s)
    s.close()
    for fd in waiting:
        assert stat.S_ISCHR(os.fstat(fd).st_mode), "the program's /dev/null at %d is gone" % fd
    os.closerange(3, 4096)  # the spare, the control connection and the rest
    s = conn()
    echo(s)
    s.close()
    s = conn()
    echo(s)
    s.close()
    print("socket() after the numbers were closed: ok")
else:
    sys.exit("unknown mode " + MODE)
