#!/bin/bash
# rpc_limits.sh - tapnetd never reserves more buffer space for its clients
# than max_buffer_bytes(_per_client): with 32 KiB TCP buffers a connection
# reserves 32768 + 32768 = 65536 bytes, so a user may hold two (150000)
# and all users four (300000); the second user here is nobody. Over the per-client limit, and
# over the total, connect fails with ENOBUFS; a close gives the space back
# once its FIN exchange is over (the kernel side closes on EOF). A listener
# whose user has no space left gets no new connection (the SYN is dropped,
# TcpExtListenDrops; its fd is not readable) until one of its connections
# is gone, and the peer's retransmitted SYN gets in. `tapnet status` and the SockBuffer* counters tell what is held.
# SIGHUP applies changed limits to the connections that open next.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
CLIENT=$TOP_SRCDIR/tests/integration/limits_client.py

start_tapnetd "[tcp]" "rcvbuf = 32768" "sndbuf = 32768" \
	"[daemon]" "max_buffer_bytes = 300000" "max_buffer_bytes_per_client = 150000"

# kernel side: accepts every connection and keeps it until the other side closes
bg sink ns_exec "$PYTHON" -c '
import select, socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7100)); l.listen(64)
held = []
while True:
    for r in select.select([l] + held, [], [])[0]:
        if r is l:
            held.append(l.accept()[0])
        elif not r.recv(65536):
            held.remove(r); r.close()'
wait_listen kernel "$HOST_ADDR" 7100

status_buffers() { tapnet_cli status | awk '$1 == "buffers" { print $2 }'; }

# wait_line FILE TEXT: bounded wait for a line starting with TEXT
wait_line() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		grep -q "^$2" "$1" && return 0
		grep -q "^limits_client:" "$1" && break
		sleep 0.1
	done
	fail "$(basename "$1" .log): no '$2': $(cat "$1")"
}

# one client: two connections fit, the third is over the per-client limit
bg first tn_run "$PYTHON" "$CLIENT" connect "$HOST_ADDR" 7100 2 ENOBUFS
wait_line "$TN_TMP/first.log" held
cat "$TN_TMP/first.log"
grep -q "max_buffer_bytes_per_client (150000) reached" "$DAEMON_LOG" ||
	fail "no log line about max_buffer_bytes_per_client"
[ "$(status_buffers)" = 131072 ] || fail "tapnet status: buffers $(status_buffers), expected 131072"
log "per client: the third connect failed with ENOBUFS, a close gave the space back"

# a second user: two more fit (four in all); then a third's first is over the total
nobody_copy "$CLIENT"
bg second tn_run_nobody "$PYTHON" "$TN_TMP/pub/${CLIENT##*/}" connect "$HOST_ADDR" 7100 1 ok
wait_line "$TN_TMP/second.log" held
cat "$TN_TMP/second.log"
[ "$(status_buffers)" = 262144 ] || fail "tapnet status: buffers $(status_buffers), expected 262144"
out=$(tn_run "$PYTHON" "$CLIENT" refused "$HOST_ADDR" 7100 2>&1) || fail "third client: $out"
log "third client: $out"
grep -q "max_buffer_bytes (300000) reached" "$DAEMON_LOG" || fail "no log line about max_buffer_bytes"
[ "$(counter SockBufferRefusals)" -ge 2 ] || fail "SockBufferRefusals is $(counter SockBufferRefusals)"

# the space comes back when the clients go (kill -9: their sockets close)
kill -KILL "$(awk '/^held/ { print $2 }' "$TN_TMP/first.log")" \
	"$(awk '/^held/ { print $2 }' "$TN_TMP/second.log")" || fail "cannot kill the clients"
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(status_buffers)" = 0 ] && break
	sleep 0.1
done
[ "$(status_buffers)" = 0 ] || fail "tapnet status: buffers $(status_buffers) after the clients left"
[ "$(counter SockBufferBytes)" = 0 ] || fail "SockBufferBytes is $(counter SockBufferBytes), expected 0"
log "every client gone: no buffer space reserved"

# a listener on tapnet: two accepted connections use up its client's space
bg server tn_run "$PYTHON" "$CLIENT" accept "$TAPNET_ADDR" 7200 2
wait_line "$TN_TMP/server.log" listening
bg kclients ns_exec "$PYTHON" -c '
import socket, threading, time
def client():
    c = socket.create_connection(("'"$TAPNET_ADDR"'", 7200))
    c.sendall(b"late")
    while c.recv(65536):
        pass
    c.close()
for i in range(3):
    threading.Thread(target=client).start()
    time.sleep(0.2)
'
wait_line "$TN_TMP/server.log" "accepted the waiting connection"
cat "$TN_TMP/server.log"
[ "$(counter TcpExtListenDrops)" -ge 1 ] || fail "TcpExtListenDrops is $(counter TcpExtListenDrops)"
log "a new connection waited for buffer space and got in when a connection closed"

# SIGHUP: the per-client limit goes up to the total, four connections fit
write_config "[tcp]" "rcvbuf = 32768" "sndbuf = 32768" \
	"[daemon]" "max_buffer_bytes = 300000" "max_buffer_bytes_per_client = 300000"
kill -HUP "$DAEMON_PID"
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	grep -q "max_buffer_bytes_per_client changed from 150000 to 300000" "$DAEMON_LOG" && break
	sleep 0.1
done
grep -q "max_buffer_bytes_per_client changed from 150000 to 300000" "$DAEMON_LOG" ||
	fail "SIGHUP did not change max_buffer_bytes_per_client"
bg after tn_run "$PYTHON" "$CLIENT" connect "$HOST_ADDR" 7100 3 ok
wait_line "$TN_TMP/after.log" held
cat "$TN_TMP/after.log"
log "after SIGHUP: four connections for one client"
exit 0
