#!/usr/bin/python3
"""rpc_flow.py - one bulk TCP flow for bench/rpc, the same code on every path.

  rpc_flow.py send ADDR PORT SECONDS   connect, write for SECONDS, print Gbit/s
  rpc_flow.py recv ADDR PORT SECONDS   connect, read for SECONDS, print Gbit/s
  rpc_flow.py sink ADDR PORT           accept connections, read each to EOF
  rpc_flow.py source ADDR PORT         accept connections, write until they end
"""
import socket
import sys
import threading
import time

CHUNK = 1 << 18
mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])

if mode in ("send", "recv"):
    secs = float(sys.argv[4])
    s = socket.create_connection((addr, port))
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    total = 0
    start = time.monotonic()
    end = start + secs
    while time.monotonic() < end:
        n = s.send(view) if mode == "send" else s.recv_into(view)
        if n == 0:
            break
        total += n
    elapsed = time.monotonic() - start
    s.close()
    print("%.3f" % (total * 8 / elapsed / 1e9))
    sys.exit(0)


def serve(conn):
    buf = bytearray(CHUNK)
    try:
        if mode == "sink":
            while conn.recv_into(buf):
                pass
        else:
            while True:
                conn.sendall(buf)
    except OSError:
        pass
    conn.close()


lsock = socket.socket()
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind((addr, port))
lsock.listen(16)
while True:
    c, _ = lsock.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
