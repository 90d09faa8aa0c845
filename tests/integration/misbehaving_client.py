#!/usr/bin/python3
"""misbehaving_client.py ADDR PORT SECONDS SEED - for soak.sh: for SECONDS,
connections to bulk_server.py that ask for 1 KB, 100 KB or 3 MB and then,
chosen at random: reset it part-way (SO_LINGER 0), half-close and read it
all, stop reading with a small buffer and close later with data unread,
close at once with it unread, send a lot and reset, or read it all. Prints
how many of each, and how many failed to connect or broke otherwise
("errors N"); a reset it made itself is not an error."""
import random
import socket
import struct
import sys
import time

KINDS = ["reset_midway", "halfclose_read", "stop_reading", "close_unread", "send_then_reset", "read_all"]


def reset(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def main():
    addr, port, secs, seed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    rnd = random.Random(seed)
    end = time.monotonic() + secs
    counts = dict.fromkeys(KINDS, 0)
    errors = []
    held = []
    while time.monotonic() < end:
        kind = rnd.choice(KINDS)
        counts[kind] += 1
        try:
            sock = socket.create_connection((addr, port), timeout=30)
            sock.sendall(b"GET %d\n" % rnd.choice([1000, 100000, 3000000]))
            if kind == "reset_midway":
                sock.recv(rnd.randint(1, 65536))
                reset(sock)
            elif kind == "halfclose_read":
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(1 << 16):
                    pass
                sock.close()
            elif kind == "stop_reading":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                held.append((time.monotonic() + rnd.uniform(0.5, 3), sock))
            elif kind == "close_unread":
                time.sleep(0.01)
                sock.close()
            elif kind == "send_then_reset":
                sock.sendall(b"x" * rnd.randint(1, 60000))  # fits the receive buffers: no deadlock with a server still sending
                reset(sock)
            else:
                while sock.recv(1 << 16):
                    pass
                sock.close()
        except OSError as e:
            errors.append("%s: %r" % (kind, e))
        now = time.monotonic()
        for _, old in [h for h in held if h[0] < now]:
            old.close()
        held = [h for h in held if h[0] >= now]
    for _, old in held:
        old.close()
    print(" ".join("%s %d" % kv for kv in counts.items()), "errors %d" % len(errors))
    for e in errors[:5]:
        print(e)


main()
