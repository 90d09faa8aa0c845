#!/usr/bin/python3
"""bench/tcp.py - both ends of bench/tcp's measurements, the same code against
tapnet and against the kernel, so that only the far side differs.

  tcp.py serve ADDR           kernel discard (9), chargen (19) and echo (7) servers on ADDR
  tcp.py send HOST PORT SECS  stream to a discard server for SECS, then FIN; wait for its FIN
  tcp.py recv HOST PORT SECS  read from a chargen server for SECS
  tcp.py cps HOST PORT SECS   connect, 1 byte to echo and back, close; as often as SECS allow
  tcp.py cpsalt HOST1 HOST2 PORT SECS
                              the same against two servers in turn, 0.5 s each, for SECS
                              in all: both rates (medians of the slices) and the median
                              of the ratios of neighbouring slices, HOST1 over HOST2

Each client prints one line: "<what> <value> <unit> (<detail>)".
"""
import os
import selectors
import socket
import sys
import threading
import time

BUF = 256 * 1024


def serve(addr):
    chunk = (bytes(range(32, 127)) * (BUF // 95 + 1))[:BUF]

    def discard(c):
        buf = bytearray(BUF)
        while c.recv_into(buf):
            pass

    def chargen(c):
        try:
            while True:
                c.sendall(chunk)
        except OSError:
            pass

    def echo(c):
        while True:
            b = c.recv(BUF)
            if not b:
                return
            c.sendall(b)

    def run(port, fn):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port))
        ls.listen(4096)
        while True:
            c, _ = ls.accept()
            if port == 7:  # many short connections: no thread each
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    fn(c)
                except OSError:
                    pass
                c.close()
                continue

            def one(c=c):
                try:
                    fn(c)
                except OSError:
                    pass
                c.close()
            threading.Thread(target=one, daemon=True).start()

    for port, fn in ((9, discard), (19, chargen), (7, echo)):
        threading.Thread(target=run, args=(port, fn), daemon=True).start()
    print("serving on %s" % addr, flush=True)
    sys.stdin.read()  # until the bench closes our stdin


def send(host, port, secs):
    s = socket.create_connection((host, port), timeout=30)
    data = memoryview(os.urandom(BUF))
    total = 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        total += s.send(data)
    s.shutdown(socket.SHUT_WR)
    while s.recv(BUF):  # the server's FIN: everything was read
        pass
    elapsed = time.monotonic() - start
    s.close()
    print("send %.3f Gbit/s (%d bytes in %.2f s)" % (total * 8 / elapsed / 1e9, total, elapsed))


def recv(host, port, secs):
    s = socket.create_connection((host, port), timeout=30)
    buf = bytearray(BUF)
    total = 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        n = s.recv_into(buf)
        if not n:
            break
        total += n
    elapsed = time.monotonic() - start
    s.close()
    print("recv %.3f Gbit/s (%d bytes in %.2f s)" % (total * 8 / elapsed / 1e9, total, elapsed))


def cps_slice(host, port, secs):
    """Connections per second (connect, a byte echoed, close) for secs seconds."""
    n = 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        s = socket.create_connection((host, port), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"x")
        if s.recv(1) != b"x":
            sys.exit("cps: echo did not send the byte back")
        s.close()
        n += 1
    return n, time.monotonic() - start


def cps(host, port, secs):
    n, elapsed = cps_slice(host, port, secs)
    print("cps %.0f connections/s (%d in %.2f s)" % (n / elapsed, n, elapsed))


def cps_rate(host, port, secs):
    n, elapsed = cps_slice(host, port, secs)
    return n / elapsed


def cpsalt(host1, host2, port, secs):
    """Both servers in turn from one process: a busy machine slows both alike."""
    a, b, ratios = [], [], []
    rounds = max(1, int(secs / 1.0))
    for i in range(rounds):
        # the order alternates, so that neither always goes first
        if i % 2 == 0:
            ra = cps_rate(host1, port, 0.5)
            rb = cps_rate(host2, port, 0.5)
        else:
            rb = cps_rate(host2, port, 0.5)
            ra = cps_rate(host1, port, 0.5)
        a.append(ra)
        b.append(rb)
        ratios.append(ra / rb if rb else 0.0)
    med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else sum(sorted(v)[len(v) // 2 - 1:len(v) // 2 + 1]) / 2
    print("cpsalt %.0f %.0f connections/s, ratio %.2f (medians of %d slices of 0.5 s each; ratios %s)"
          % (med(a), med(b), med(ratios), rounds, " ".join("%.2f" % r for r in ratios)))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(sys.argv[2])
        return
    if len(sys.argv) == 6 and sys.argv[1] == "cpsalt":
        cpsalt(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
        return
    if len(sys.argv) != 5 or sys.argv[1] not in ("send", "recv", "cps"):
        sys.exit(__doc__)
    {"send": send, "recv": recv, "cps": cps}[sys.argv[1]](sys.argv[2], int(sys.argv[3]),
                                                          float(sys.argv[4]))


if __name__ == "__main__":
    main()
