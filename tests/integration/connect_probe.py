#!/usr/bin/python3
"""connect_probe.py ADDR CLOSED_PORT OPEN_PORT: connects the ways programs do
and checks the answers a kernel socket would give. Prints one line per check;
exits 1 at the first wrong answer."""
import ctypes
import errno
import fcntl
import os
import resource
import select
import selectors
import signal
import socket
import sys
import threading
import time

addr, closed_port, open_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def read_all(s):
    data = b""
    while True:
        b = s.recv(4096)
        if not b:
            return data
        data += b


def check(what, ok, detail):
    print("%s: %s (%s)" % (what, "ok" if ok else "WRONG", detail))
    if not ok:
        sys.exit(1)


def check_echo(s, what, line):
    """line out through connected s, our FIN, and the same line back (the server echoes)."""
    s.setblocking(True)
    s.sendall(line)
    s.shutdown(socket.SHUT_WR)
    data = read_all(s)
    check(what, data == line, data)


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
check_echo(s, "echo through the connection", b"ping\n")
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
data = read_all(s)
check("the connection's bytes after accept", data == b"kept\n", data)
s.close()
signal.alarm(0)

# a listener: connect is EISCONN; shutdown(SHUT_WR) leaves it listening;
# shutdown(SHUT_RDWR) stops it and wakes a thread blocked in accept with
# EINVAL (how threaded servers stop their accept loop), as does every
# accept after
signal.alarm(20)
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("0.0.0.0", 0))
l.listen(4)
r = l.connect_ex((addr, open_port))
check("connect on a listener: EISCONN", r == errno.EISCONN, errno.errorcode.get(r, r))
l.shutdown(socket.SHUT_WR)
listening = l.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
check("shutdown(SHUT_WR) leaves a listener listening", listening == 1, listening)
woken = []


def blocked_accept():
    try:
        l.accept()
        woken.append("a connection")
    except OSError as ex:
        woken.append(errno.errorcode.get(ex.errno, ex.errno))


waiter = threading.Thread(target=blocked_accept)
waiter.start()
time.sleep(0.3)
l.shutdown(socket.SHUT_RDWR)
waiter.join(10)
check("shutdown(SHUT_RDWR) wakes the accept with EINVAL", woken == ["EINVAL"], woken)
try:
    l.accept()
    check("accept after the shutdown fails", False, "it returned")
except OSError as ex:
    check("accept after the shutdown: EINVAL", ex.errno == errno.EINVAL, ex)
l.close()
signal.alarm(0)

# a socket never connected, and a listener: sends are EPIPE (with SIGPIPE
# unless MSG_NOSIGNAL) and receives ENOTCONN at once, blocking or not,
# whatever the call (send, write, writev, sendmsg, recv, read, readv,
# recvmsg); a wait ends the probe
pipes = []
signal.signal(signal.SIGPIPE, lambda signum, frame: pipes.append(signum))
signal.alarm(20)
fresh = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
bound.bind(("0.0.0.0", 0))
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("0.0.0.0", 0))
l.listen(4)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


FdSet = ctypes.c_ulong * (1024 // (8 * ctypes.sizeof(ctypes.c_ulong)))
libc = ctypes.CDLL(None, use_errno=True)  # the shim's pselect under tapnet run, libc's else


def pselect(fd, seconds):
    """pselect on fd in all three sets: the lists select.select would return."""
    bits = 8 * ctypes.sizeof(ctypes.c_ulong)
    sets = [FdSet() for _ in range(3)]
    for one in sets:
        one[fd // bits] |= 1 << (fd % bits)
    r = libc.pselect(fd + 1, *[ctypes.byref(one) for one in sets],
                     ctypes.byref(Timespec(seconds, 0)), None)
    if r < 0:
        raise OSError(ctypes.get_errno(), "pselect")
    return tuple([fd] if one[fd // bits] >> (fd % bits) & 1 else [] for one in sets)


def answer(call):
    try:
        return "returned %r" % (call(),)
    except OSError as ex:
        return errno.errorcode.get(ex.errno, ex.errno)


# copies answer as their originals: socket.dup() is fcntl(F_DUPFD_CLOEXEC),
# then dup() and dup2(); and at numbers a busy server has (past 4096, and
# far past it), where a copy is where the number comes from
fresh_dup = fresh.dup()
bound_dup = socket.socket(fileno=os.dup(bound.fileno()))
bound_dup2 = socket.socket(fileno=os.dup2(bound.fileno(), 200))
copies = [("a new socket", fresh), ("a bound socket", bound), ("a listener", l),
          ("a new socket's F_DUPFD copy", fresh_dup), ("a bound socket's dup", bound_dup),
          ("a bound socket's dup2 copy", bound_dup2)]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # raising the soft limit needs no privilege
high = [n for n in sorted({5000, min(hard - 1, 70000)}) if n > 4096]
if len(high) < 2:
    print("not checked: copies at two numbers past 4096 (the hard limit on fds is %d)" % hard)
for n in high[:1]:
    copies.append(("a bound socket's dup2 copy at %d" % n, socket.socket(fileno=os.dup2(bound.fileno(), n))))
for n in high[1:]:
    copies.append(("a new socket's F_DUPFD copy at %d" % n,
                   socket.socket(fileno=fcntl.fcntl(fresh.fileno(), fcntl.F_DUPFD, n))))

for name, s in copies:
    fd = s.fileno()
    for blocking in (True, False):
        s.setblocking(blocking)
        how = "blocking" if blocking else "non-blocking"
        sends = (("send", lambda: s.send(b"x")), ("write", lambda: os.write(fd, b"x")),
                 ("writev", lambda: os.writev(fd, [b"x", b"y"])),
                 ("sendmsg", lambda: s.sendmsg([b"x"])))
        for call_name, call in sends:
            del pipes[:]
            r = answer(call)
            check("%s on %s (%s): EPIPE and SIGPIPE" % (call_name, name, how),
                  r == "EPIPE" and pipes == [signal.SIGPIPE], "%s, %d SIGPIPE" % (r, len(pipes)))
        del pipes[:]
        r = answer(lambda: s.send(b"x", socket.MSG_NOSIGNAL))
        check("send MSG_NOSIGNAL on %s (%s): EPIPE, no SIGPIPE" % (name, how),
              r == "EPIPE" and not pipes, "%s, %d SIGPIPE" % (r, len(pipes)))
        recvs = (("recv", lambda: s.recv(10)), ("read", lambda: os.read(fd, 10)),
                 ("readv", lambda: os.readv(fd, [bytearray(10)])), ("recvmsg", lambda: s.recvmsg(10)))
        for call_name, call in recvs:
            r = answer(call)
            check("%s on %s (%s): ENOTCONN" % (call_name, name, how), r == "ENOTCONN", r)
    # poll: a socket never connected is hung up and writable at once; a
    # listener with nothing waiting reports nothing
    p = select.poll()
    p.register(fd, select.POLLIN | select.POLLOUT)
    ev = p.poll(0 if s is l else 5000)
    want = [] if s is l else [(fd, select.POLLOUT | select.POLLHUP)]
    check("poll on %s: %s" % (name, want and "POLLOUT and POLLHUP at once" or "nothing"), ev == want, ev)
    # select takes POLLHUP as readable (and nothing as exceptional); its
    # sets hold numbers below FD_SETSIZE only
    if fd < 1024:
        t0 = time.monotonic()
        sel = select.select([fd], [fd], [fd], 0 if s is l else 5)
        want = ([], [], []) if s is l else ([fd], [fd], [])
        check("select on %s: %s" % (name, s is l and "nothing" or "readable and writable at once"),
              sel == want and time.monotonic() - t0 < 2, "%r after %.1f s" % (sel, time.monotonic() - t0))
        # and pselect, called through libc as a C program would (python has none)
        t0 = time.monotonic()
        sel = pselect(fd, 0 if s is l else 5)
        check("pselect on %s: %s" % (name, s is l and "nothing" or "readable and writable at once"),
              sel == want and time.monotonic() - t0 < 2, "%r after %.1f s" % (sel, time.monotonic() - t0))
    if s is not l:
        # so a receive with a timeout (python polls first) fails at once, as the call would
        s.settimeout(5)
        t0 = time.monotonic()
        r = answer(lambda: s.recv(10))
        check("recv with a timeout on %s: ENOTCONN at once" % name,
              r == "ENOTCONN" and time.monotonic() - t0 < 2, "%s after %.1f s" % (r, time.monotonic() - t0))
        s.settimeout(None)
# after a refused connect: a blocking one's error was its connect's, then
# sends are EPIPE and receives ENOTCONN; a non-blocking one's is still
# pending, and the first send reports it (not EPIPE, nor a reset), then a
# receive reads end-of-file and a send EPIPE
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
r = answer(lambda: s.connect((addr, closed_port)))
check("blocking connect to a closed port", r == "ECONNREFUSED", r)
del pipes[:]
r = answer(lambda: s.send(b"x"))
check("then send: EPIPE and SIGPIPE", r == "EPIPE" and pipes == [signal.SIGPIPE], "%s, %d SIGPIPE" % (r, len(pipes)))
r = answer(lambda: s.recv(10))
check("then recv: ENOTCONN", r == "ENOTCONN", r)
s.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
r = s.connect_ex((addr, closed_port))
check("non-blocking connect to a closed port", r == errno.EINPROGRESS, errno.errorcode.get(r, r))
sel = selectors.DefaultSelector()
sel.register(s, selectors.EVENT_WRITE)
sel.select(30)
sel.close()
r = answer(lambda: s.send(b"x", socket.MSG_NOSIGNAL))
check("then the first send: ECONNREFUSED", r == "ECONNREFUSED", r)
r = answer(lambda: s.recv(10))
check("then recv: end-of-file", r == "returned b''", r)
r = answer(lambda: s.send(b"x", socket.MSG_NOSIGNAL))
check("then send: EPIPE", r == "EPIPE", r)
s.close()
# a free port as test suites find one: bind port 0, close, bind that port;
# the close is over before the next call, as on Linux (a close reaches
# tapnetd as its pair's hang-up, which a bind can overtake)
taken = 0
for attempt in range(300):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    s.close()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if answer(lambda: s.bind(("0.0.0.0", port))) != "returned None":
        taken += 1
    s.close()
check("bind 0, close, bind that port, 300 times: never EADDRINUSE", taken == 0, taken)

# connect again after a failed connect, as a loop waiting for a server
# does: Linux connects the same socket again, with the options set before;
# after a non-blocking failure the next connect reports it (ECONNABORTED
# once SO_ERROR was read), and the one after starts anew
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
# a port bind() named stays the socket's (one bind() chose is given back)
s.bind(("0.0.0.0", 0))
bound_port = s.getsockname()[1]
s.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", bound_port))
for attempt in (1, 2):
    r = answer(lambda: s.connect((addr, closed_port)))
    check("blocking connect %d to a closed port" % attempt, r == "ECONNREFUSED", r)
r = answer(lambda: s.connect((addr, open_port)))
check("then to an open port on the same socket: connected", r == "returned None", r)
opts = (s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
        s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))
check("with the options set before the first connect", opts == (1, 1), opts)
check("from the port it was bound to", s.getsockname()[1] == bound_port, (s.getsockname(), bound_port))
check_echo(s, "and an echo through it", b"again\n")
s.close()
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
r = s.connect_ex((addr, closed_port))
check("non-blocking connect to a closed port", r == errno.EINPROGRESS, errno.errorcode.get(r, r))
select.select([], [s], [], 30)
e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
check("SO_ERROR is ECONNREFUSED", e == errno.ECONNREFUSED, errno.errorcode.get(e, e))
r = s.connect_ex((addr, open_port))
check("the next connect: ECONNABORTED", r == errno.ECONNABORTED, errno.errorcode.get(r, r))
r = s.connect_ex((addr, open_port))
check("the one after: EINPROGRESS", r == errno.EINPROGRESS, errno.errorcode.get(r, r))
select.select([], [s], [], 30)
e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
check("then connected", e == 0, errno.errorcode.get(e, e))
check_echo(s, "and an echo through it", b"anew\n")
s.close()
# a copy connects again after the original's connect failed: both numbers
# are the one socket, connected (the new pair at both)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
copy = s.dup()
r = answer(lambda: s.connect((addr, closed_port)))
check("a socket with a copy: blocking connect to a closed port", r == "ECONNREFUSED", r)
r = answer(lambda: copy.connect((addr, open_port)))
check("its copy connects again", r == "returned None", r)
s.sendall(b"original:")
copy.sendall(b"copy\n")
copy.shutdown(socket.SHUT_WR)
data = read_all(s)
check("both numbers are the connection", data == b"original:copy\n", data)
s.close()
copy.close()
# then connected: the same socket carries data both ways
fresh.setblocking(True)
fresh.connect((addr, open_port))
# it works now; so does its copy, noted never connected and connected now too
fresh_dup.setblocking(True)
fresh_dup.sendall(b"copy:")
fresh.sendall(b"after\n")
fresh_dup.shutdown(socket.SHUT_WR)
data = read_all(fresh_dup)
check("a socket that sent before it was connected works once connected, through its F_DUPFD copy too",
      data == b"copy:after\n", data)
for _, s in copies:
    s.close()
signal.alarm(0)
signal.signal(signal.SIGPIPE, signal.SIG_IGN)
