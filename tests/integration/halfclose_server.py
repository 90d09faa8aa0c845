#!/usr/bin/python3
"""halfclose_server.py ADDR PORT OUT REPLY: accept one TCP connection, read
until the peer's FIN into OUT, only then send REPLY and close. A peer that
half-closes must still read REPLY. Under `tapnet run` its socket is tapnet's."""
import socket
import sys

addr, port, out, reply = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lsock.bind((addr, port))
lsock.listen(1)
conn, _ = lsock.accept()
lsock.close()
with open(out, "wb") as f:
    while True:
        data = conn.recv(65536)
        if not data:
            break
        f.write(data)
with open(reply, "rb") as f:
    conn.sendall(f.read())
conn.close()
