#!/usr/bin/python3
"""bulk_server.py ADDR PORT - for soak.sh: a threaded server that answers a
request line "GET N" with N bytes, half-closes, and reads whatever else the
client sends until its end. Clients that reset, stop reading or close early
are the point: each connection's errors end only that connection."""
import socket
import sys
import threading

BLOB = b"y" * (1 << 20)


def serve(conn):
    try:
        conn.settimeout(60)
        line = b""
        while not line.endswith(b"\n") and len(line) < 100:
            data = conn.recv(100)
            if not data:
                return
            line += data
        left = int(line.split()[1])
        while left > 0:
            k = min(left, len(BLOB))
            conn.sendall(BLOB[:k])
            left -= k
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):
            pass
    except (OSError, ValueError, IndexError):
        pass
    finally:
        conn.close()


def main():
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((sys.argv[1], int(sys.argv[2])))
    listener.listen(128)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


main()
