#!/usr/bin/python3
"""rpc_port_attack.py MODE ARGS: a local user after another's port, or a
privileged one. Prints what it got, one line per step.

  serve PORT              (the victim, under tapnet run) SO_REUSEADDR, binds
                          0.0.0.0:PORT, listens; answers each connection "A"
  steal ADDR PORT         (under tapnet run) SO_REUSEADDR, binds ADDR:PORT and
                          listens; then SO_REUSEPORT on 0.0.0.0:PORT
  serve-late PORT DIR     (the victim) as serve, but listens only once DIR/b-bound
                          exists, then creates DIR/a-listening
  steal-early ADDR PORT DIR  (under tapnet run) SO_REUSEADDR, binds ADDR:PORT
                          while the victim is only bound, creates DIR/b-bound,
                          waits for DIR/a-listening, then listens
  bind PORT               (under tapnet run) binds 0.0.0.0:PORT
  exec SOCKET PYCAP       (no tapnet run) opens a control connection and a
                          tapnet socket, then execs PYCAP (a python with file
                          capability cap_net_bind_service) with both fds,
                          which asks for port 80 on that connection
"""
import errno
import os
import socket
import struct
import sys
import time

from ctlproto import ATTR_ADDR, ATTR_PORT, BIND, SOCKET, msg, recv_reply, u32_attrs


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def try_call(what, f):
    try:
        f()
        print("%s: ok" % what, flush=True)
    except OSError as e:
        print("%s: %s" % (what, name(e)), flush=True)


def wait_file(path):
    for _ in range(600):
        if os.path.exists(path):
            return
        time.sleep(0.1)
    print("%s never appeared" % path, flush=True)
    sys.exit(1)


def touch(path):
    open(path, "w").close()


mode = sys.argv[1]
if mode in ("serve", "serve-late"):
    port = int(sys.argv[2])
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("0.0.0.0", port))
    if mode == "serve-late":
        print("bound", flush=True)
        wait_file(os.path.join(sys.argv[3], "b-bound"))
    l.listen(8)
    print("listening", flush=True)
    if mode == "serve-late":
        touch(os.path.join(sys.argv[3], "a-listening"))
    while True:
        c = l.accept()[0]
        c.sendall(b"A")
        c.close()
elif mode == "steal":
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try_call("bind %s:%d with SO_REUSEADDR" % (addr, port), lambda: s.bind((addr, port)))
    try_call("listen on it", lambda: s.listen(8))
    s.close()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try_call("bind 0.0.0.0:%d with SO_REUSEPORT" % port, lambda: s.bind(("0.0.0.0", port)))
elif mode == "steal-early":
    addr, port, flags = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try_call("bind %s:%d with SO_REUSEADDR before any listen" % (addr, port),
             lambda: s.bind((addr, port)))
    touch(os.path.join(flags, "b-bound"))
    wait_file(os.path.join(flags, "a-listening"))
    try_call("listen after the wildcard socket listens", lambda: s.listen(8))
elif mode == "bind":
    port = int(sys.argv[2])
    s = socket.socket()
    try_call("bind 0.0.0.0:%d" % port, lambda: s.bind(("0.0.0.0", port)))
elif mode == "exec":
    path, pycap = sys.argv[2], sys.argv[3]
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    c.sendall(msg(SOCKET))
    r = recv_reply(c)
    if not r or r[1] is not None or len(r[2]) != 1:
        print("SOCKET failed: %r" % (r,), flush=True)
        sys.exit(1)
    b = r[2][0]
    os.set_inheritable(c.fileno(), True)
    os.set_inheritable(b, True)
    print("connected without capabilities; exec %s" % pycap, flush=True)
    os.execv(pycap, [pycap, os.path.abspath(__file__), "after-exec", str(c.fileno()), str(b)])
elif mode == "after-exec":
    c = socket.socket(fileno=int(sys.argv[2]))
    b = int(sys.argv[3])
    k = socket.socket()
    try_call("after exec, a kernel socket on port 80 (the capability is real)",
             lambda: k.bind(("0.0.0.0", 80)))
    k.close()
    socket.send_fds(c, [msg(BIND, u32_attrs([(ATTR_ADDR, 0), (ATTR_PORT, 80)]), mid=2)], [b])
    r = recv_reply(c)
    got = "hung up" if r is None else "ok" if r[1] is None else errno.errorcode.get(r[1], r[1])
    print("after exec, tapnet port 80 on the old connection: %s" % got, flush=True)
