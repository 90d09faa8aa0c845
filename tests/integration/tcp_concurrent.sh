#!/bin/bash
# tcp_concurrent.sh - 1000 connections to the built-in echo service open at
# once (more than one SOCKETS reply holds, so `tapnet ss` pages), then each
# sends its own random bytes and gets exactly those back, then the FINs.
. "$TOP_SRCDIR/tests/integration/lib.sh"

N=1000
BYTES=20000

start_tapnetd "${SERVICES_CONFIG[@]}"
sync=$TN_TMP/conc
tcp_client --sync "$sync" --timeout 300 concurrent "$TAPNET_ADDR" 7 "$N" "$BYTES" &
pid=$!
at_exit "touch $sync.go; kill $pid"
wait_for_file "$sync.ready" 300 "$pid"

# Every one of them is in `tapnet ss`, text and JSON, with the client's ports.
# The client's connect() returns at the SYN-ACK; tapnet's side is established
# when the last ACK has crossed the tap: look again until it has (bounded).
cat >"$TN_TMP/check_ss.py" <<'PY'
import json, sys
ports = {int(l) for l in open(sys.argv[3])}
socks = json.load(open(sys.argv[1]))
estab = {s["peer_port"] for s in socks
         if s["state"] == "ESTAB" and s["local_port"] == 7 and s["peer_addr"] == "10.0.0.1"}
assert estab == ports, "ss -j: %d ESTAB to port 7, %d client ports, %d in common" % (
    len(estab), len(ports), len(estab & ports))
text = {int(l.split()[4].rsplit(":", 1)[1]) for l in open(sys.argv[2])
        if l.startswith("ESTAB") and " 10.0.0.2:7 " in l}
assert text == ports, "ss: %d ESTAB lines to port 7, %d client ports" % (len(text), len(ports))
assert "TRUNCATED" not in open(sys.argv[2]).read()
print("tcp_concurrent: tapnet ss lists all %d connections (text and JSON)" % len(ports))
PY
for ((try = 1; ; try++)); do
	tapnet_cli ss >"$TN_TMP/ss.txt" || fail "tapnet ss failed"
	tapnet_cli ss -j >"$TN_TMP/ss.json" || fail "tapnet ss -j failed"
	"$PYTHON" "$TN_TMP/check_ss.py" "$TN_TMP/ss.json" "$TN_TMP/ss.txt" "$sync.ready" && break
	[ "$try" -lt 30 ] || fail "tapnet ss does not list the $N connections"
	sleep 1
done
touch "$sync.go"
wait "$pid" || fail "$N concurrent echo connections"
# Every connection was accepted once. A SYN cookie costs one thing, as on
# Linux: once tapnet's side of a cookie connection is gone (LAST-ACK ended
# by the peer's ACK), a late duplicate ACK (here, the kernel answering from
# TIME-WAIT a retransmission that crossed that ACK on a loaded machine) passes
# the cookie check again, since seq and ack moved by the same 20001 each way,
# and makes a new connection that has received nothing. Those are counted
# apart: ESTAB, nothing received, a port of the client, made from a cookie.
cat >"$TN_TMP/ghosts.py" <<'PY'
import json, sys
ports = {int(l) for l in open(sys.argv[2])}
socks = json.load(open(sys.argv[1]))
print(sum(1 for s in socks if s["state"] == "ESTAB" and s["local_port"] == 7 and
          s["peer_port"] in ports and s["bytes_received"] == 0 and s["bytes_acked"] == 0))
PY
for ((try = 1; ; try++)); do
	tapnet_cli ss -j >"$TN_TMP/after.json" || fail "tapnet ss -j failed"
	ghosts=$("$PYTHON" "$TN_TMP/ghosts.py" "$TN_TMP/after.json" "$sync.ready") || fail "ss -j unreadable"
	accepts=$(counter SvcAccepts)
	[ "$accepts" -eq $((N + ghosts)) ] && break
	[ "$try" -lt 20 ] || fail "SvcAccepts is $accepts, expected $N (+ $ghosts from late ACKs)"
	sleep 0.5
done
[ "$ghosts" -le "$(counter TcpExtSyncookiesRecv)" ] ||
	fail "$ghosts connections made after the end, more than the cookies received"
[ "$ghosts" -eq 0 ] || log "$ghosts late ACKs of closed cookie connections made new (idle) ones"
[ "$(counter SvcOutOctets)" -eq $((N * BYTES)) ] ||
	fail "SvcOutOctets is $(counter SvcOutOctets), expected $((N * BYTES))"
log "while $N connected at once: listen drops $(counter TcpExtListenDrops), SYN cookies $(counter TcpExtSyncookiesSent) sent, $(counter TcpExtSyncookiesRecv) back"
exit 0
