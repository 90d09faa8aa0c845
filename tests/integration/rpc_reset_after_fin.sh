#!/bin/bash
# rpc_reset_after_fin.sh - the peer closes (FIN), then resets the connection
# because data came after its close, while the program on tapnet still
# writes. As on Linux (the same client run on the kernel's side first):
#  1. a program that keeps writing after reading end-of-file gets an error
#     (EPIPE or ECONNRESET), not a write that blocks for ever;
#  2. a program that writes 3 MiB after end-of-file, unaware of the reset,
#     and exits: its socket leaves tapnetd, with the buffers it held.
# tapnetd used to keep both sockets, in state CLOSED with their send
# buffers full, until it stopped: the pump that passes peer data on had
# stopped at the FIN, and the one that reads the program's data swallowed
# the reset.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
PORT=7010

# A kernel-side server that closes each connection as soon as it is accepted
# (nothing unread: a FIN; what comes after it is answered with a RST).
bg closer ns_exec "$PYTHON" -u -c '
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
while True:
    c, _ = l.accept(); c.close()' "$HOST_ADDR" "$PORT"
wait_listen kernel "$HOST_ADDR" "$PORT"

# writer MODE: connects, reads end-of-file, then writes. MODE "until-error"
# writes up to 64 MiB and prints the error that stopped it; "3mib" writes
# 3 MiB, ignoring any error, and closes.
WRITER='
import errno, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
assert s.recv(1) == b"", "no end-of-file"
chunk = b"w" * 65536
if sys.argv[3] == "until-error":
    sent = 0
    try:
        while sent < 64 << 20:
            s.sendall(chunk)
            sent += len(chunk)
            time.sleep(0.001)
        print("no error after %d bytes" % sent)
    except (BrokenPipeError, ConnectionResetError) as e:
        print("write failed:", errno.errorcode[e.errno])
    except socket.timeout:
        print("write blocked for 10 s after %d bytes" % sent)
else:
    try:
        for _ in range(48):
            s.sendall(chunk)
    except OSError:
        pass
    s.close()
    print("closed")'

baseline_sockets=$(counter SockOpen)
baseline_bytes=$(counter SockBufferBytes)

linux=$(ns_exec timeout 30 "$PYTHON" -c "$WRITER" "$HOST_ADDR" "$PORT" until-error 2>&1)
case $linux in "write failed: "*) ;; *) fail "Linux, for reference: $linux" ;; esac
log "Linux: $linux"

out=$(tn_run timeout 30 "$PYTHON" -c "$WRITER" "$HOST_ADDR" "$PORT" until-error 2>&1)
case $out in "write failed: "*) ;; *) fail "writes after the peer's FIN and RST: $out" ;; esac
log "tapnet: $out"

out=$(tn_run timeout 30 "$PYTHON" -c "$WRITER" "$HOST_ADDR" "$PORT" 3mib 2>&1)
[ "$out" = closed ] || fail "3 MiB after end-of-file: $out"

wait_no_conns ":$PORT( |$)"
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(counter SockOpen)" -le "$baseline_sockets" ] && [ "$(counter SockBufferBytes)" -le "$baseline_bytes" ] && break
	sleep 0.1
done
[ "$(counter SockOpen)" -le "$baseline_sockets" ] ||
	fail "tapnetd still holds $(counter SockOpen) sockets, $baseline_sockets before the clients"
[ "$(counter SockBufferBytes)" -le "$baseline_bytes" ] ||
	fail "tapnetd still holds $(counter SockBufferBytes) bytes of buffers, $baseline_bytes before the clients"
log "both sockets gone from tapnetd, with their buffers"
