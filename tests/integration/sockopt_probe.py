#!/usr/bin/python3
"""sockopt_probe.py LISTEN_ADDR PORT PEER_ADDR PEER_PORT READY_FILE

Sets and reads the socket options programs use, the way they use them, on a
new socket, a listener, the socket it accepts (someone else connects to
LISTEN_ADDR:PORT once READY_FILE exists) and a client connected to
PEER_ADDR:PEER_PORT, and prints one line per answer: OK or the errno name of
each setsockopt, the value or the errno name of each getsockopt. Run on a
kernel socket and under `tapnet run`, the two outputs must be the same
(rpc_sockopt.sh compares them); values that depend on the path and not on
the call are left out."""
import errno
import os
import socket
import struct
import sys

listen_addr, port, peer_addr, peer_port, ready = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                                   int(sys.argv[4]), sys.argv[5])
S, T, IP = socket.SOL_SOCKET, socket.IPPROTO_TCP, socket.IPPROTO_IP
# from the Linux headers, where Python's socket module does not name them
SO_MAX_PACING_RATE, SO_BUSY_POLL, SO_INCOMING_CPU, SO_ZEROCOPY = 47, 46, 49, 60
TCP_DEFER_ACCEPT, TCP_WINDOW_CLAMP, TCP_LINGER2, TCP_SYNCNT = 9, 10, 8, 7
TCP_FASTOPEN, TCP_FASTOPEN_CONNECT, TCP_NOTSENT_LOWAT, TCP_THIN_LINEAR = 23, 30, 25, 16
TCP_INQ, TCP_TX_DELAY = 36, 37
IP_BIND_ADDRESS_NO_PORT, IP_FREEBIND, IP_MTU_DISCOVER, IP_RECVERR = 24, 15, 10, 11
IP_PMTUDISC_DO = 2


NAMES = {}
for _k, _v in list(globals().items()) + list(vars(socket).items()):
    for _prefix, _level in (("SO_", S), ("TCP_", T), ("IP_", IP)):
        if _k.startswith(_prefix) and isinstance(_v, int) and not _k.startswith("SO_VM"):
            NAMES.setdefault((_level, _v), _k)


def name(level, opt):
    return NAMES.get((level, opt), "%d/%d" % (level, opt))


def put(what, s, level, opt, value):
    raw = value if isinstance(value, bytes) else struct.pack("i", value)
    try:
        s.setsockopt(level, opt, raw)
        r = "OK"
    except OSError as e:
        r = errno.errorcode.get(e.errno, str(e.errno))
    shown = value.hex() if isinstance(value, bytes) else value
    print("%s set %s %s: %s" % (what, name(level, opt), shown, r))


def get(what, s, level, opt, size=4):
    try:
        v = s.getsockopt(level, opt, size)
        v = struct.unpack("i", v)[0] if size == 4 else v.hex()
    except OSError as e:
        v = errno.errorcode.get(e.errno, str(e.errno))
    print("%s get %s: %s" % (what, name(level, opt), v))


# options whose value is the one set (or what Linux makes of it)
SETTABLE = [
    (S, socket.SO_REUSEADDR, [1, 0]),
    (S, socket.SO_KEEPALIVE, [1]),
    (S, socket.SO_OOBINLINE, [1]),
    (S, socket.SO_PRIORITY, [7, 3]),
    (S, socket.SO_RCVLOWAT, [10]),
    (S, socket.SO_SNDLOWAT, [10]),
    (S, SO_MAX_PACING_RATE, [125000000]),
    (S, SO_BUSY_POLL, [50]),
    (S, SO_ZEROCOPY, [1]),
    (S, socket.SO_DONTROUTE, [1, 0]),
    (S, socket.SO_BROADCAST, [1]),
    (T, socket.TCP_NODELAY, [1]),
    (T, socket.TCP_MAXSEG, [1000, 50, 40000, 0]),
    (T, socket.TCP_KEEPIDLE, [30, 0]),
    (T, socket.TCP_KEEPINTVL, [5]),
    (T, socket.TCP_KEEPCNT, [4]),
    (T, TCP_SYNCNT, [3, 0, 256]),
    (T, TCP_LINGER2, [10, -1]),
    (T, TCP_DEFER_ACCEPT, [5, 0]),
    (T, TCP_WINDOW_CLAMP, [20000]),
    (T, TCP_NOTSENT_LOWAT, [16384]),
    (T, socket.TCP_QUICKACK, [1]),
    (T, TCP_THIN_LINEAR, [1]),
    (T, TCP_INQ, [1]),
    (T, TCP_TX_DELAY, [0]),
    (T, socket.TCP_USER_TIMEOUT, [30000]),
    (IP, socket.IP_TOS, [0x20]),
    (IP, socket.IP_TTL, [33]),
    (IP, IP_BIND_ADDRESS_NO_PORT, [1]),
    (IP, IP_FREEBIND, [1]),
    (IP, IP_MTU_DISCOVER, [IP_PMTUDISC_DO]),
    (IP, IP_RECVERR, [1]),
]


def probe(what, s, extra=()):
    for level, opt, values in SETTABLE + list(extra):
        for v in values:
            put(what, s, level, opt, v)
        get(what, s, level, opt)


def read_back(what, s, opts):
    for level, opt in opts:
        get(what, s, level, opt)


# a new socket
s = socket.socket()
probe("new", s, [(T, TCP_FASTOPEN_CONNECT, [1]), (T, TCP_FASTOPEN, [5])])
get("new", s, S, socket.SO_BINDTODEVICE, 16)  # no device: nothing (sshd asks, for its VRF)
s.close()

# a listener, its options, then what the socket it accepts inherits
l = socket.socket()
l.setsockopt(S, socket.SO_REUSEADDR, 1)
l.bind((listen_addr, port))
put("listener", l, T, socket.TCP_MAXSEG, 1200)
put("listener", l, T, TCP_DEFER_ACCEPT, 30)
put("listener", l, T, TCP_FASTOPEN, 16)
put("listener", l, T, TCP_WINDOW_CLAMP, 40000)
put("listener", l, T, TCP_LINGER2, 7)
put("listener", l, T, TCP_NOTSENT_LOWAT, 8192)
put("listener", l, T, TCP_SYNCNT, 2)
put("listener", l, IP, socket.IP_TOS, 0x28)
l.listen(8)
read_back("listener", l, [(T, socket.TCP_MAXSEG), (T, TCP_DEFER_ACCEPT), (T, TCP_FASTOPEN),
                          (T, TCP_WINDOW_CLAMP), (T, TCP_LINGER2), (T, TCP_NOTSENT_LOWAT),
                          (T, TCP_SYNCNT)])
put("listener", l, T, TCP_FASTOPEN_CONNECT, 1)
open(ready, "w").close()
c, _ = l.accept()
# the peer sent a byte first: TCP_DEFER_ACCEPT let the connection through
print("accepted reads %r" % c.recv(1))
read_back("accepted", c, [(T, TCP_DEFER_ACCEPT), (T, TCP_FASTOPEN), (T, TCP_WINDOW_CLAMP),
                          (T, TCP_LINGER2), (T, TCP_NOTSENT_LOWAT), (T, TCP_SYNCNT),
                          (IP, socket.IP_TOS)])
# the MSS the listener asked for is the one the connection sends with
mss = c.getsockopt(T, socket.TCP_MAXSEG)
print("accepted TCP_MAXSEG at most 1200: %s" % (mss <= 1200))
c.close()
l.close()

# a connected client
s = socket.socket()
put("client", s, T, socket.TCP_MAXSEG, 536)
put("client", s, T, TCP_FASTOPEN_CONNECT, 1)
s.connect((peer_addr, peer_port))
mss = s.getsockopt(T, socket.TCP_MAXSEG)
print("client TCP_MAXSEG at most 536 once connected: %s" % (mss <= 536))
put("client", s, T, TCP_FASTOPEN_CONNECT, 0)
put("client", s, T, TCP_DEFER_ACCEPT, 3)
probe("client", s)
s.sendall(b"x" * 3000)
got = b""
while len(got) < 3000:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("client echo %d bytes" % len(got))
s.close()
os.unlink(ready)
