#!/bin/bash
# rpc_mem_attack.sh - memory is charged to whoever holds it until the core
# frees it. With 32 KiB TCP buffers (65536 bytes a connection),
# max_buffer_bytes_per_client = 200000 (three) and max_buffer_bytes =
# 400000 (six):
# - nobody's listener that never accepts: the kernel side's ten connections
#   get no more than three into its accept queue (the rest: SYN dropped);
# - nobody's closed connections to a peer that never closes still count
#   (FIN_WAIT) after its program exited: its next connect gets ENOBUFS
#   (each took more than the peer's window before its first EAGAIN);
# - the built-in echo service's connections count against the total.
# tapnetd answers status and pings all along.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd setpriv
ATTACK=rpc_mem_attack.py
nobody_copy "$TOP_SRCDIR/tests/integration/$ATTACK"
SCRIPT=$TN_TMP/pub/$ATTACK
CONN=65536

alive() {
	timeout 1 "$TAPNET" -s "$SOCK" status >/dev/null || fail "tapnet status did not answer within 1 s"
	ns_exec ping -c 1 -W 1 "$TAPNET_ADDR" >/dev/null || fail "no answer to a ping within 1 s"
}
status_buffers() { tapnet_cli status | awk '$1 == "buffers" { print $2 }'; }
# kernel_clients PORT N: N connections from the kernel side, each in its own thread, kept
kernel_clients() {
	ns_exec "$PYTHON" -c '
import socket, sys, threading, time
def client():
    try:
        c = socket.create_connection(("'"$TAPNET_ADDR"'", '"$1"'), timeout=60)
        time.sleep(3600)
    except OSError:
        pass
for i in range('"$2"'):
    threading.Thread(target=client, daemon=True).start()
time.sleep(3600)'
}
# wait_drops_above N: bounded wait until TcpExtListenDrops is above N
wait_drops_above() {
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(counter TcpExtListenDrops)" -gt "$1" ] && return 0
		sleep 0.1
	done
	fail "TcpExtListenDrops is $(counter TcpExtListenDrops), expected more than $1"
}
# wait_buffers BYTES: bounded wait until tapnet status says BYTES
wait_buffers() {
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(status_buffers)" = "$1" ] && return 0
		sleep 0.1
	done
	fail "tapnet status: buffers $(status_buffers), expected $1"
}

start_tapnetd "[tcp]" "rcvbuf = 32768" "sndbuf = 32768" "[services]" "echo = 7" \
	"[daemon]" "max_buffer_bytes = 400000" "max_buffer_bytes_per_client = 200000"

# the backlog
bg listener tn_run_nobody "$PYTHON" "$SCRIPT" backlog 7500
wait_listen tapnet 0.0.0.0 7500
drops=$(counter TcpExtListenDrops)
bg kclients kernel_clients 7500 10
KCLIENTS=$BG_PID
wait_drops_above "$drops"
wait_buffers $((3 * CONN))
sleep 1 # retransmitted SYNs come and go: still three
[ "$(status_buffers)" = $((3 * CONN)) ] || fail "buffers $(status_buffers) with nobody's backlog full"
alive
log "nobody's accept queue holds three connections' buffers, no more"
pkill -P "$KCLIENTS"; kill "$KCLIENTS" 2>/dev/null
pkill -f "$SCRIPT backlog"
wait_buffers 0

# closed, not yet freed: a peer that never reads nor closes
bg sink ns_exec "$PYTHON" -c '
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
l.bind(("'"$HOST_ADDR"'", 7501)); l.listen(64)
held = []
while True:
    held.append(l.accept()[0])'
wait_listen kernel "$HOST_ADDR" 7501
out=$(tn_run_nobody timeout 60 "$PYTHON" "$SCRIPT" orphans "$HOST_ADDR" 7501 3 2>&1)
[[ "$out" =~ ^"closed 3, each after at least "([0-9]+)" bytes"$ ]] || fail "orphans: $out"
# More than the sink's window can ever take, or an orphan may finish its
# FIN exchange and be freed. A connected socket's first non-blocking write
# has the pair's whole buffer (it once had the few KiB of the connect's filler).
[ "${BASH_REMATCH[1]}" -gt 65536 ] || fail "a connected socket took only ${BASH_REMATCH[1]} bytes before EAGAIN"
[ "$(status_buffers)" = $((3 * CONN)) ] || fail "buffers $(status_buffers) after nobody's program closed 3"
out=$(tn_run_nobody timeout 60 "$PYTHON" "$SCRIPT" connect "$HOST_ADDR" 7501 2>&1)
[ "$out" = ENOBUFS ] || fail "nobody's connect with its closed connections still held: $out"
out=$(tn_run timeout 60 "$PYTHON" "$SCRIPT" connect "$HOST_ADDR" 7501 2>&1)
[ "$out" = ok ] || fail "root's connect: $out"
alive
log "closed connections still held count against their user"

# the built-in echo service: everyone's total
drops=$(counter TcpExtListenDrops)
bg echoclients kernel_clients 7 10
wait_drops_above "$drops"
sleep 1
total=$(status_buffers)
[ "$total" -le 400000 ] || fail "buffers $total over max_buffer_bytes"
[ "$total" -gt $((3 * CONN)) ] || fail "buffers $total: the echo service's connections are not counted"
out=$(tn_run timeout 60 "$PYTHON" "$SCRIPT" connect "$HOST_ADDR" 7501 2>&1)
[ "$out" = ENOBUFS ] || fail "root's connect with the total used up: $out"
alive
log "the echo service's connections count against max_buffer_bytes ($total bytes)"
exit 0
