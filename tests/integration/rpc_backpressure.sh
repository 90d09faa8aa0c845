#!/bin/bash
# rpc_backpressure.sh - a program on tapnet that does not read stops its
# peer: a kernel-side server sends 16 MB to a client under `tapnet run` that
# reads nothing at first. tapnet must not buffer without bound: the client's
# socket pair fills, tapnet's receive buffer fills (Recv-Q at most rcvbuf),
# the window it advertises closes to zero, and the sender stalls far short
# of the end. Then the client reads: every byte arrives, in order (sha256).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd timeout

RCVBUF=65536
start_tapnetd "[tcp]" "rcvbuf = $RCVBUF"
make_file "$TN_TMP/data" 16
zero_before=$(counter TcpExtTCPToZeroWindowAdv)

# sender NAME PORT: a kernel-side server that sends the 16 MB to whoever connects
sender() {
	bg "$1" ns_exec "$PYTHON" -u -c '
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", int(sys.argv[2]))); l.listen(1)
c, _ = l.accept()
c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
c.sendall(open(sys.argv[1], "rb").read())
c.close()
print("sent everything", flush=True)' "$TN_TMP/data" "$2"
	wait_listen kernel "$HOST_ADDR" "$2"
}
sender sender 7300

# client NAME PORT GO OUT [RCVBUF]: a client under `tapnet run` that connects
# to the sender on PORT (with SO_RCVBUF RCVBUF), reads nothing until the
# file GO exists, then says how many bytes its socket holds (FIONREAD) and
# reads them all into OUT
client() {
	bg "$1" tn_run timeout 120 "$PYTHON" -u -c '
import fcntl, os, socket, struct, sys, termios, time
s = socket.socket()
if len(sys.argv) > 4:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, int(sys.argv[4]))
s.connect(("'"$HOST_ADDR"'", int(sys.argv[1])))
print("connected", flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.05)
inq = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0" * 4))[0]
print("inq %d" % inq, flush=True)
with open(sys.argv[3], "wb") as out:
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        out.write(b)
print("read to EOF", flush=True)' "${@:2}"
}
go=$TN_TMP/go
client client 7300 "$go" "$TN_TMP/got"

# sock_field FIELD [PORT]: FIELD of tapnet's connection to the sender on
# PORT (7300), from `tapnet ss -j`.
sock_field() {
	tapnet_cli ss -j 2>/dev/null | "$PYTHON" -c '
import json, sys
socks = [s for s in json.load(sys.stdin) if s["peer_port"] == int(sys.argv[2]) and s["state"] == "ESTAB"]
print(socks[0][sys.argv[1]] if len(socks) == 1 else "-")' "$1" "${2:-7300}"
}

# the window closes: tapnet holds at most its receive buffer
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(sock_field rcv_wnd)" = 0 ] && break
	sleep 0.1
done
[ "$(sock_field rcv_wnd)" = 0 ] || fail "the window did not close (rcv_wnd $(sock_field rcv_wnd))"
sleep 1 # whatever was still on its way has arrived
q=$(sock_field recv_q)
[ "$q" != - ] && [ "$q" -gt 0 ] && [ "$q" -le "$RCVBUF" ] ||
	fail "Recv-Q is $q with the window closed, expected 1..$RCVBUF"
[ "$(sock_field rcv_wnd)" = 0 ] || fail "the window opened with nobody reading"
expect_counter_above TcpExtTCPToZeroWindowAdv "$zero_before"
grep -q "sent everything" "$TN_TMP/sender.log" && fail "the sender was not stopped"
log "nobody reading: window 0, Recv-Q $q, the sender stalled"

touch "$go"
for ((i = 0; i < 600; i++)); do
	grep -q "read to EOF" "$TN_TMP/client.log" && grep -q "sent everything" "$TN_TMP/sender.log" && break
	sleep 0.1
done
grep -q "sent everything" "$TN_TMP/sender.log" || fail "the sender did not finish: $(cat "$TN_TMP/sender.log")"
grep -q "read to EOF" "$TN_TMP/client.log" || fail "the client did not read to EOF: $(cat "$TN_TMP/client.log")"
same_file "$TN_TMP/data" "$TN_TMP/got" "after the stall"

# A socket with a large receive buffer (SO_RCVBUF 2 MiB: 4 MiB, as Linux
# doubles it) gets a socket pair that grows with it, as far as the kernel's
# net.core.wmem_max lets a socket's send buffer grow: the pair holds about
# half what the receive buffer does (tapnetd asks for a quarter, the kernel
# doubles it), no more. The sender stalls before its 16 MB are out.
wmem_max=$(cat /proc/sys/net/core/wmem_max)
sender sender2 7301
client client2 7301 "$TN_TMP/measure" "$TN_TMP/got2" $((2 << 20))
# closed, or less than a segment left that the sender will not send alone
window_shut() { local w; w=$(sock_field rcv_wnd 7301); [ "$w" != - ] && [ "$w" -lt 1448 ]; }
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	window_shut && break
	sleep 0.1
done
window_shut || fail "SO_RCVBUF 2 MiB: the window did not close: $(tapnet_cli ss -j 2>&1)"
sleep 1
grep -q "sent everything" "$TN_TMP/sender2.log" && fail "SO_RCVBUF 2 MiB: the sender was not stopped"
rcvbuf=$(sock_field rcvbuf 7301)
touch "$TN_TMP/measure"
for ((i = 0; i < 100; i++)); do grep -q "^inq " "$TN_TMP/client2.log" && break; sleep 0.1; done
inq=$(sed -n 's/^inq //p' "$TN_TMP/client2.log")
[ -n "$inq" ] || fail "the client did not measure its socket: $(cat "$TN_TMP/client2.log")"
# what A was asked for: a quarter of the receive buffer, at least the
# pair's first 212992, and the kernel's cap over both; it holds up to twice that
want=$((rcvbuf / 4 > 212992 ? rcvbuf / 4 : 212992))
want=$((want < wmem_max ? want : wmem_max))
low=$((2 * want * 8 / 10)) high=$((2 * want + 65536))
log "receive buffer $rcvbuf, wmem_max $wmem_max: the pair holds $inq bytes (expected $low..$high)"
[ "$inq" -ge "$low" ] && [ "$inq" -le "$high" ] ||
	fail "the pair holds $inq bytes with the window closed, expected $low..$high"
for ((i = 0; i < 600; i++)); do
	grep -q "read to EOF" "$TN_TMP/client2.log" && grep -q "sent everything" "$TN_TMP/sender2.log" && break
	sleep 0.1
done
grep -q "read to EOF" "$TN_TMP/client2.log" || fail "the second client did not read to EOF"
same_file "$TN_TMP/data" "$TN_TMP/got2" "through the grown pair"
exit 0
