#!/usr/bin/python3
"""rpc_mem_attack.py MODE ARGS: run under `tapnet run` by rpc_mem_attack.sh,
as an unprivileged user trying to make tapnetd hold more buffer space for
it than max_buffer_bytes_per_client.

  backlog PORT       listens with a backlog of 128 and never accepts: the
                     kernel side's connections pile up in the accept queue
  orphans ADDR PORT N  connects N times to a peer that never reads nor
                     closes, writes to each until a non-blocking write
                     fails, closes them all and exits: the closed
                     connections wait for their FIN exchange. Prints the
                     fewest bytes a connection took.
  connect ADDR PORT  one connect: prints ok or the errno name
"""
import errno
import socket
import sys
import time

mode = sys.argv[1]
if mode == "backlog":
    l = socket.socket()
    l.bind(("0.0.0.0", int(sys.argv[2])))
    l.listen(128)
    print("listening", flush=True)
    time.sleep(3600)
elif mode == "orphans":
    addr, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    conns, least = [], None
    for _ in range(n):
        c = socket.create_connection((addr, port), timeout=10)
        c.setblocking(False)
        taken = 0
        try:
            while True:
                taken += c.send(b"x" * 65536)
        except BlockingIOError:
            pass
        least = taken if least is None else min(least, taken)
        conns.append(c)
    for c in conns:
        c.close()
    print("closed %d, each after at least %d bytes" % (n, least), flush=True)
elif mode == "connect":
    try:
        socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10)
        print("ok", flush=True)
    except OSError as e:
        print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
