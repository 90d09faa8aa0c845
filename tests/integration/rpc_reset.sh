#!/bin/bash
# rpc_reset.sh - a peer's RST reaches a program on tapnet as ECONNRESET: a
# kernel-side server sends one byte and then resets the connection (SO_LINGER
# 0); a python client under `tapnet run` reads the byte, then recv() raises
# ConnectionResetError, and a further recv() returns end-of-file, as on Linux.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
bg resetter ns_exec "$PYTHON" -c '
import socket, struct
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7008)); l.listen(1)
c, _ = l.accept()
c.sendall(b"x")
c.recv(1)  # the client says it has read the byte
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()'
wait_listen kernel "$HOST_ADDR" 7008
out=$(tn_run timeout 20 "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$HOST_ADDR"'", 7008), timeout=10)
assert s.recv(1) == b"x"
s.sendall(b"k")
try:
    data = s.recv(100)
    print("no reset: recv returned %r" % data)
except ConnectionResetError:
    print("ECONNRESET then %r" % s.recv(100))' 2>&1)
[ "$out" = "ECONNRESET then b''" ] || fail "after the peer's RST: $out"
log "after the peer's RST: $out"
exit 0
