#!/bin/bash
# rpc_reset_after_fin.sh - the peer closes (FIN), then resets the connection
# because data came after its close, while the program on tapnet still
# writes. As on Linux (the same client run on the kernel's side first):
#  1. a program that keeps writing after reading end-of-file gets an error
#     (EPIPE or ECONNRESET), not a write that blocks for ever;
#  2. a program that writes 3 MiB after end-of-file, unaware of the reset,
#     and exits: its socket leaves tapnetd, with the buffers it held;
#  3. a reset that comes while the program reads nothing, its error taken
#     by getsockopt(SO_ERROR) before it reads: the data, end-of-file, and
#     then its writes fail (EPIPE), as on Linux.
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

# A kernel-side server that sends 1 MiB (into its send buffer: the client
# does not read yet) and a second later resets the connection.
bg flooder ns_exec "$PYTHON" -u -c '
import socket, struct, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
while True:
    c, _ = l.accept()
    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    c.sendall(b"d" * (1 << 20))
    time.sleep(1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()' "$HOST_ADDR" $((PORT + 1))
wait_listen kernel "$HOST_ADDR" $((PORT + 1))

# full_then_reset: reads nothing until the reset is in, takes its error
# with SO_ERROR, reads what there is to the end, then writes until an error.
FULL_THEN_RESET='
import errno, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
time.sleep(2)
err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
got = 0
try:
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        got += len(d)
    end = "end-of-file"
except OSError as e:
    end = e.__class__.__name__
what = "SO_ERROR %s, read then %s" % (errno.errorcode.get(err, err), end)
sent = 0
try:
    while sent < 64 << 20:
        s.sendall(b"w" * 65536)
        sent += 65536
    print(what + ", no write error")
except (BrokenPipeError, ConnectionResetError) as e:
    print(what + ", write failed: " + errno.errorcode[e.errno])
except socket.timeout:
    print(what + ", write blocked for 10 s")'

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

linux=$(ns_exec timeout 30 "$PYTHON" -c "$FULL_THEN_RESET" "$HOST_ADDR" $((PORT + 1)) 2>&1)
log "Linux: $linux"
out=$(tn_run timeout 30 "$PYTHON" -c "$FULL_THEN_RESET" "$HOST_ADDR" $((PORT + 1)) 2>&1)
log "tapnet: $out"
case $out in *"write failed: "*) ;; *) fail "writes after a reset whose error SO_ERROR took: $out" ;; esac

wait_no_conns ":$PORT( |$)"
wait_no_conns ":$((PORT + 1))( |$)"
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(counter SockOpen)" -le "$baseline_sockets" ] && [ "$(counter SockBufferBytes)" -le "$baseline_bytes" ] && break
	sleep 0.1
done
[ "$(counter SockOpen)" -le "$baseline_sockets" ] ||
	fail "tapnetd still holds $(counter SockOpen) sockets, $baseline_sockets before the clients"
[ "$(counter SockBufferBytes)" -le "$baseline_bytes" ] ||
	fail "tapnetd still holds $(counter SockBufferBytes) bytes of buffers, $baseline_bytes before the clients"
log "both sockets gone from tapnetd, with their buffers"
