#!/bin/bash
# timewait.sh - TIME-WAIT against the real kernel: a daytime connection, which
# tapnet closes first, leaves an entry that `tapnet timewait` lists (text and
# -j) and that goes after [tcp] time_wait; an echo connection the kernel
# closes first leaves none on tapnet's side. `tapnet stats` counts both.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd ss

TW=$TOP_SRCDIR/tests/integration/timewait.py
tw() { ns_exec timeout -k 5 120 "$PYTHON" "$TW" "$@"; }

# Short enough to wait for, long enough that the listing right after the
# exchange cannot miss the entry.
start_tapnetd "[services]" "daytime = 13" "echo = 7" "[tcp]" "time_wait = 10s"

# tw_json_check PORT: `tapnet timewait -j` lists exactly one entry, ours, with 0 < remaining <= 10 s.
tw_json_check() {
	tapnet_cli timewait -j | "$PYTHON" -c '
import json, sys
doc = json.load(sys.stdin)
port = int(sys.argv[1])
assert isinstance(doc, list) and len(doc) == 1, "expected one entry, got %r" % doc
e = doc[0]
want = {"state": "TIME-WAIT", "local_addr": "10.0.0.2", "local_port": 13,
        "peer_addr": "10.0.0.1", "peer_port": port}
for k, v in want.items():
    assert e.get(k) == v, "%s is %r, expected %r" % (k, e.get(k), v)
assert 0 < e["remaining_ms"] <= 10000, "remaining_ms %r" % e["remaining_ms"]
' "$1" || fail "tapnet timewait -j does not list the daytime connection as expected"
}

# wait_no_timewait SECONDS: until `tapnet timewait` lists nothing (a bound, not a measurement).
wait_no_timewait() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		[ "$(tapnet_cli timewait -j)" = "[]" ] && return 0
		sleep 0.1
	done
	fail "TIME-WAIT entries still listed after ${1}s: $(tapnet_cli timewait)"
}

[ "$(tapnet_cli timewait -j)" = "[]" ] || fail "TIME-WAIT entries before any connection"

# --- tapnet closes first: TIME-WAIT on tapnet's side
port=$(tw daytime "$TAPNET_ADDR" 13) || fail "daytime exchange failed"
log "daytime from port $port"
out=$(tapnet_cli timewait) || fail "tapnet timewait failed"
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -qE '^State +Recv-Q +Send-Q +Local Address:Port +Peer Address:Port +Timer$' ||
	fail "tapnet timewait has no header line"
printf '%s\n' "$out" | grep -qE "^TIME-WAIT +0 +0 +$TAPNET_ADDR:13 +$HOST_ADDR:$port +timer:\(timewait,([1-9]|10)sec,0\)$" ||
	fail "tapnet timewait does not list $TAPNET_ADDR:13 <-> $HOST_ADDR:$port"
tw_json_check "$port"
[ "$(counter TcpTimeWaitCurrent)" -eq 1 ] || fail "TcpTimeWaitCurrent is not 1"
tapnet_cli stats | grep -qE '^TcpTimeWaitCurrent +1$' || fail "tapnet stats does not show TcpTimeWaitCurrent 1"
# the socket itself is gone: only the listeners are left
tapnet_cli ss -j | "$PYTHON" -c '
import json, sys
left = [s for s in json.load(sys.stdin) if s["state"] != "LISTEN"]
assert not left, "sockets besides the listeners: %r" % left
' || fail "the connection's socket outlived its move to TIME-WAIT"

wait_no_timewait 60
[ "$(counter TcpExtTW)" -eq 1 ] || fail "TcpExtTW is not 1 after the entry expired"
[ "$(counter TcpTimeWaitCurrent)" -eq 0 ] || fail "TcpTimeWaitCurrent is not 0"

# --- the kernel closes first: no TIME-WAIT on tapnet's side
port=$(tw echo "$TAPNET_ADDR" 7) || fail "echo exchange failed"
log "echo from port $port, closed by the kernel first"
# tapnet's LAST-ACK ends when the kernel's ACK arrives; the kernel holds TIME-WAIT
ns_exec ss -tan state time-wait | grep -q ":$port " ||
	fail "the kernel does not hold TIME-WAIT for port $port"
for ((i = 0; i < 100; i++)); do
	left=$(tapnet_cli ss -j | "$PYTHON" -c '
import json, sys
print(len([s for s in json.load(sys.stdin) if s["state"] != "LISTEN"]))')
	[ "$left" = 0 ] && break
	sleep 0.1
done
[ "$left" = 0 ] || fail "tapnet's side of the echo connection did not close: $(tapnet_cli ss)"
[ "$(tapnet_cli timewait -j)" = "[]" ] || fail "tapnet holds TIME-WAIT although the kernel closed first"
[ "$(counter TcpExtTW)" -eq 1 ] || fail "TcpExtTW moved without an entry"
exit 0
