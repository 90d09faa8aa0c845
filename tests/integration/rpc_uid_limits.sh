#!/bin/bash
# rpc_uid_limits.sh - limits are per user, not per control connection: as
# nobody, rpc_uid_limits.py gets no more sockets through a second
# connection or after reconnecting (its sockets stay counted), no more
# connections than max_clients_per_user, an accept over its socket limit
# waits for a slot, and its connections idle past client_idle_timeout
# give up their slots to new ones. Meanwhile root's clients are served,
# and tapnetd answers status and pings.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd setpriv
ATTACK=rpc_uid_limits.py
nobody_copy "$TOP_SRCDIR/tests/integration/$ATTACK" "$TOP_SRCDIR/tests/integration/ctlproto.py"

alive() {
	timeout 1 "$TAPNET" -s "$SOCK" status >/dev/null || fail "tapnet status did not answer within 1 s"
	ns_exec ping -c 1 -W 1 "$TAPNET_ADDR" >/dev/null || fail "no answer to a ping within 1 s"
}

start_tapnetd "[daemon]" "max_sockets_per_client = 4" "max_clients_per_user = 3" \
	"client_idle_timeout = 0"
out=$(as_nobody timeout 120 "$PYTHON" "$TN_TMP/pub/$ATTACK" limits "$SOCK" 4 3 2>&1)
rc=$?
printf '%s\n' "$out"
[ $rc -eq 0 ] || fail "a per-user limit did not hold"
grep -q "uid $(id -u nobody): socket refused: max_sockets_per_client (4) reached" "$DAEMON_LOG" ||
	fail "no log line about nobody's max_sockets_per_client"
grep -q "too many connections of uid $(id -u nobody) (max_clients_per_user = 3)" "$DAEMON_LOG" ||
	fail "no log line about nobody's max_clients_per_user"
alive
log "per user: sockets and connection slots held; root still served"

# a listener at the socket limit: the next accept waits for a slot
bg listener tn_run_nobody timeout 120 "$PYTHON" "$TN_TMP/pub/$ATTACK" accept 7600 4 3
LISTENER=$BG_PID
wait_listen tapnet 0.0.0.0 7600
bg kclients ns_exec "$PYTHON" -c '
import socket, threading, time
def client():
    c = socket.create_connection(("'"$TAPNET_ADDR"'", 7600), timeout=60)
    time.sleep(3600)
for i in range(5):
    threading.Thread(target=client, daemon=True).start()
time.sleep(3600)'
wait "$LISTENER"
rc=$?
cat "$TN_TMP/listener.log"
[ $rc -eq 0 ] || fail "the accept at the socket limit did not wait, or did not go on"
[ "$(counter SockAcceptWaits)" -ge 1 ] || fail "SockAcceptWaits is $(counter SockAcceptWaits)"
log "an accept over the socket limit waited for a slot"

restart_tapnetd "[daemon]" "max_clients_per_user = 3" "client_idle_timeout = 1s"
out=$(as_nobody timeout 120 "$PYTHON" "$TN_TMP/pub/$ATTACK" idle "$SOCK" 4 3 2>&1)
rc=$?
printf '%s\n' "$out"
[ $rc -eq 0 ] || fail "idle connections did not give up their slots as they should"
[ "$(counter CtlIdleCloses)" -ge 1 ] || fail "CtlIdleCloses is $(counter CtlIdleCloses)"
alive
# a program that outlives client_idle_timeout between two calls goes on
bg kernel ns_exec "$PYTHON" -c '
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7400)); l.listen(4)
while True:
    c = l.accept()[0]; c.sendall(c.recv(100)); c.close()'
wait_listen kernel "$HOST_ADDR" 7400
# ... also when its connection's slot went to another meanwhile: tapnetd
# closed it, and its next call finds that out and makes a new one (and its
# next socket(), the spare socket made by the connection that was closed,
# still connects)
idle_closes=$(counter CtlIdleCloses)
tn_run_nobody "$PYTHON" -c '
import signal, socket, time
signal.alarm(60)
for i in range(2):  # first two connections: from the second on a connect brings a spare socket,
    s = socket.create_connection(("'"$HOST_ADDR"'", 7400), timeout=5)  # which keeps no
    s.sendall(b"warm"); s.recv(100); s.close()  # idle connection from giving up its slot
for i in range(2):
    s = socket.create_connection(("'"$HOST_ADDR"'", 7400), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # without a reply
    s.sendall(b"round %d" % i); print(s.recv(100).decode(), flush=True); s.close()
    time.sleep(4)' >"$TN_TMP/idle_prog" 2>&1 &
prog=$!
for ((i = 0; i < 50; i++)); do grep -q "round 0" "$TN_TMP/idle_prog" && break; sleep 0.1; done
sleep 2 # the program's connection is idle past client_idle_timeout: 3 more of nobody's take it
as_nobody "$PYTHON" -c '
import socket, sys, time
sys.path.insert(0, "'"$TN_TMP/pub"'")
from ctlproto import REPLY, STATUS, msg, recv_reply
conns = []
for i in range(3):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); c.settimeout(10); c.connect("'"$SOCK"'")
    c.sendall(msg(STATUS)); r = recv_reply(c)
    assert r is not None and r[0] == STATUS | REPLY, (i, r)
    conns.append(c)
for c in conns: c.close()' || fail "nobody could not have 3 connections with the program idle"
wait "$prog" || fail "a program whose idle connection was closed failed: $(cat "$TN_TMP/idle_prog")"
[ "$(counter CtlIdleCloses)" -gt "$idle_closes" ] || fail "the idle program's connection was not closed"
out=$(cat "$TN_TMP/idle_prog")
[ "$out" = "round 0
round 1" ] || fail "echo after an idle pause: '$out'"
log "idle connections give up their slots when wanted; a program whose connection went reconnects transparently"
exit 0
