#!/usr/bin/python3
"""tcpclient.py - the kernel's side of the TCP integration tests: talks to
tapnet's built-in services (echo, discard, daytime, chargen) and checks every
byte. Every wait is bounded (--timeout); a failure is one line on stderr and
exit status 1. Nothing here measures time for a verdict.

  tcpclient.py echo HOST PORT BYTES          random bytes out, the same back (sha256)
  tcpclient.py discard HOST PORT BYTES       BYTES out, then our FIN; nothing back but EOF
  tcpclient.py chargen HOST PORT [--bytes N | --expect-total N]
                                             the RFC 864 pattern, byte for byte
  tcpclient.py daytime HOST PORT             exactly one line, then EOF from tapnet
  tcpclient.py refused HOST PORT             the connection is refused (RST)
  tcpclient.py concurrent HOST PORT N BYTES  N connections open at once, each echoed
  tcpclient.py hold HOST PORT N              N connections trickling into discard until told to stop

With --sync PREFIX, `concurrent` and `hold` write PREFIX.ready (the local
ports, one per line) once every connection is up, and carry on when
PREFIX.go exists.
"""
import argparse
import errno
import hashlib
import os
import resource
import selectors
import socket
import sys
import time

CHUNK = 65536


def fail(msg):
    print("tcpclient: FAIL: %s" % msg, file=sys.stderr)
    sys.exit(1)


class Deadline:
    def __init__(self, seconds, what):
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.what = what

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            fail("%s: not done within %ss" % (self.what, self.seconds))
        return left


def connect(args):
    try:
        return socket.create_connection((args.host, args.port), timeout=args.timeout)
    except OSError as e:
        fail("connect to %s:%d: %s" % (args.host, args.port, e))


def recv_all(s, deadline):
    """Everything until EOF."""
    parts = []
    while True:
        s.settimeout(deadline.left())
        try:
            b = s.recv(CHUNK)
        except socket.timeout:
            deadline.left()
            continue
        if not b:
            return b"".join(parts)
        parts.append(b)


def cmd_echo(args):
    data = os.urandom(args.bytes)
    want = hashlib.sha256(data).hexdigest()
    deadline = Deadline(args.timeout, "echo of %d bytes" % args.bytes)
    s = connect(args)
    s.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    view = memoryview(data)
    sent = got = 0
    h = hashlib.sha256()
    eof = False
    while not eof:
        for _, ev in sel.select(timeout=min(1.0, deadline.left())):
            if ev & selectors.EVENT_WRITE and sent < len(data):
                try:
                    sent += s.send(view[sent:sent + CHUNK])
                except BlockingIOError:
                    pass
                if sent == len(data):
                    s.shutdown(socket.SHUT_WR)  # echo closes after our FIN
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    b = s.recv(CHUNK)
                except BlockingIOError:
                    continue
                if not b:
                    eof = True
                    break
                h.update(b)
                got += len(b)
                if got > len(data):
                    fail("echo sent back %d bytes, more than the %d sent" % (got, len(data)))
    s.close()
    if sent != len(data):
        fail("echo closed after %d of %d bytes were sent" % (sent, len(data)))
    if got != len(data):
        fail("echo sent back %d of %d bytes before its FIN" % (got, len(data)))
    if h.hexdigest() != want:
        fail("echo sent back %d bytes, but not the ones sent (sha256 %s, expected %s)"
             % (got, h.hexdigest(), want))
    print("echo: %d bytes sent and received back, sha256 %s" % (got, want))


def cmd_discard(args):
    block = os.urandom(1 << 20)
    deadline = Deadline(args.timeout, "discard of %d bytes" % args.bytes)
    s = connect(args)
    left = args.bytes
    view = memoryview(block)
    while left:
        s.settimeout(deadline.left())
        n = min(left, len(block))
        try:
            s.sendall(view[:n])
        except socket.timeout:
            fail("discard: sending stalled with %d bytes left" % left)
        left -= n
    s.shutdown(socket.SHUT_WR)
    back = recv_all(s, deadline)  # discard closes after our FIN
    s.close()
    if back:
        fail("discard sent %d bytes back" % len(back))
    print("discard: %d bytes sent, EOF received" % args.bytes)


def chargen_pattern():
    """RFC 864: 72 of the 95 printable characters per line, each line one further along."""
    lines = []
    for i in range(95):
        lines.append(bytes(32 + (i + j) % 95 for j in range(72)) + b"\r\n")
    return b"".join(lines)


def cmd_chargen(args):
    cycle = chargen_pattern()
    reps = CHUNK // len(cycle) + 2
    big = cycle * reps
    deadline = Deadline(args.timeout, "chargen")
    s = connect(args)
    off = 0
    limit = args.bytes if args.bytes is not None else None
    while True:
        s.settimeout(deadline.left())
        want = CHUNK if limit is None else min(CHUNK, limit - off)
        if want == 0:
            break
        try:
            b = s.recv(want)
        except socket.timeout:
            deadline.left()
            continue
        if not b:
            break
        start = off % len(cycle)
        if b != big[start:start + len(b)]:
            for i, c in enumerate(b):
                if c != big[start + i]:
                    fail("chargen byte %d is %r, the pattern has %r"
                         % (off + i, bytes([c]), bytes([big[start + i]])))
        off += len(b)
    s.close()
    if args.bytes is not None and off != args.bytes:
        fail("chargen ended after %d bytes, %d were to be read" % (off, args.bytes))
    if args.expect_total is not None and off != args.expect_total:
        fail("chargen sent %d bytes before its FIN, expected %d" % (off, args.expect_total))
    print("chargen: %d bytes, every one as RFC 864's pattern has it%s"
          % (off, "" if args.bytes is not None else ", then EOF"))


def cmd_daytime(args):
    deadline = Deadline(args.timeout, "daytime")
    s = connect(args)
    port = s.getsockname()[1]
    data = recv_all(s, deadline)
    s.close()
    if not data.endswith(b"\r\n") or data.count(b"\n") != 1:
        fail("daytime sent %r, not one line ending in CR LF" % data)
    text = data[:-2]
    if not text or any(c < 32 or c > 126 for c in text):
        fail("daytime line %r is empty or not printable ASCII" % data)
    print("daytime: %s, then EOF (client port %d)" % (text.decode(), port))


def cmd_refused(args):
    try:
        s = socket.create_connection((args.host, args.port), timeout=args.timeout)
    except ConnectionRefusedError:
        print("refused: connection to %s:%d refused (RST)" % (args.host, args.port))
        return
    except OSError as e:
        fail("connect to %s:%d: %s, expected 'connection refused'" % (args.host, args.port, e))
    s.close()
    fail("connect to %s:%d succeeded, expected a refusal" % (args.host, args.port))


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(n, hard), max(n, hard)))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


def sync_point(args, socks, deadline):
    if not args.sync:
        return
    ports = "".join("%d\n" % s.getsockname()[1] for s in socks)
    tmp = args.sync + ".ready.tmp"
    with open(tmp, "w") as f:
        f.write(ports)
    os.rename(tmp, args.sync + ".ready")
    while not os.path.exists(args.sync + ".go"):
        deadline.left()
        time.sleep(0.05)


def open_all(args, n, deadline):
    """n non-blocking connections, returned once every one is established."""
    raise_nofile(n + 64)
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((args.host, args.port))
        if rc not in (0, errno.EINPROGRESS):
            fail("connect: %s" % os.strerror(rc))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE)
    pending = n
    while pending:
        for key, _ in sel.select(timeout=min(1.0, deadline.left())):
            s = key.fileobj
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                fail("connection %d of %d: %s" % (socks.index(s) + 1, n, os.strerror(err)))
            sel.unregister(s)
            pending -= 1
    sel.close()
    return socks


def cmd_concurrent(args):
    deadline = Deadline(args.timeout, "%d concurrent echo connections" % args.n)
    socks = open_all(args, args.n, deadline)
    sync_point(args, socks, deadline)
    # Each connection: its own random bytes out, the same back, our FIN, its FIN.
    data = [os.urandom(args.bytes) for _ in range(args.n)]
    sent = [0] * args.n
    got = [0] * args.n
    index = {s.fileno(): i for i, s in enumerate(socks)}
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    open_count = args.n
    while open_count:
        for key, ev in sel.select(timeout=min(1.0, deadline.left())):
            s = key.fileobj
            i = index[s.fileno()]
            if ev & selectors.EVENT_WRITE and sent[i] < args.bytes:
                try:
                    sent[i] += s.send(data[i][sent[i]:sent[i] + CHUNK])
                except BlockingIOError:
                    pass
                if sent[i] == args.bytes:
                    s.shutdown(socket.SHUT_WR)
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    b = s.recv(CHUNK)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    fail("connection %d was reset after %d bytes back" % (i + 1, got[i]))
                if not b:
                    if got[i] != args.bytes or sent[i] != args.bytes:
                        fail("connection %d: EOF after %d of %d bytes back (%d sent)"
                             % (i + 1, got[i], args.bytes, sent[i]))
                    sel.unregister(s)
                    s.close()
                    open_count -= 1
                    continue
                if data[i][got[i]:got[i] + len(b)] != b:
                    fail("connection %d got back bytes that are not its own (at offset %d)"
                         % (i + 1, got[i]))
                got[i] += len(b)
    print("concurrent: %d connections open at once, each got its own %d bytes back, then EOF"
          % (args.n, args.bytes))


def cmd_hold(args):
    """A trickle on each connection until PREFIX.go appears: a transfer in progress."""
    deadline = Deadline(args.timeout, "holding %d connections" % args.n)
    socks = open_all(args, args.n, deadline)
    for s in socks:
        s.setblocking(True)
        s.settimeout(args.timeout)
        s.sendall(b"x" * 1000)
    if args.sync:
        ports = "".join("%d\n" % s.getsockname()[1] for s in socks)
        with open(args.sync + ".ready.tmp", "w") as f:
            f.write(ports)
        os.rename(args.sync + ".ready.tmp", args.sync + ".ready")
    while not (args.sync and os.path.exists(args.sync + ".go")):
        deadline.left()
        for s in socks:
            s.sendall(b"y" * 1000)
        time.sleep(0.05)
    for s in socks:
        s.close()
    print("hold: %d connections held, then closed" % args.n)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--timeout", type=float, default=120, help="seconds for the whole exchange")
    p.add_argument("--sync", help="file prefix for the ready/go handshake (concurrent, hold)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("echo", "discard"):
        sp = sub.add_parser(name)
        sp.add_argument("host")
        sp.add_argument("port", type=int)
        sp.add_argument("bytes", type=int)
    sp = sub.add_parser("chargen")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--bytes", type=int, help="read this many bytes, then close")
    g.add_argument("--expect-total", type=int, help="read until EOF; expect this many bytes")
    for name in ("daytime", "refused"):
        sp = sub.add_parser(name)
        sp.add_argument("host")
        sp.add_argument("port", type=int)
    sp = sub.add_parser("concurrent")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("n", type=int)
    sp.add_argument("bytes", type=int)
    sp = sub.add_parser("hold")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("n", type=int)
    args = p.parse_args()
    {
        "echo": cmd_echo, "discard": cmd_discard, "chargen": cmd_chargen,
        "daytime": cmd_daytime, "refused": cmd_refused, "concurrent": cmd_concurrent,
        "hold": cmd_hold,
    }[args.cmd](args)


if __name__ == "__main__":
    main()
