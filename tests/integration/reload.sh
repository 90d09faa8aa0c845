#!/bin/bash
# reload.sh - SIGHUP (systemctl reload) applies what can change without a
# restart, on a live daemon:
#   - [tcp] time_wait: the next TIME-WAIT entry lives the new time, and a
#     shorter one also shortens the entry already there;
#   - [services]: the echo service starts, daytime moves to another port;
#   - [tcp] rto_min and the like are taken (the log says from what to what);
#   - a key fixed at start ([interface] mtu) is named in the log as waiting
#     for a restart, and the running value stays;
#   - a file with an error is rejected whole: FILE:LINE in the log, the old
#     configuration stays in effect.
. "$TOP_SRCDIR/tests/integration/lib.sh"

TW=$TOP_SRCDIR/tests/integration/timewait.py
tw() { ns_exec timeout -k 5 120 "$PYTHON" "$TW" "$@"; }
# remaining_ms PORT: the remaining time of the TIME-WAIT entry of daytime's peer PORT
remaining_ms() {
	tapnet_cli timewait -j | "$PYTHON" -c '
import json, sys
for e in json.load(sys.stdin):
    if e["peer_port"] == int(sys.argv[1]):
        print(e["remaining_ms"]); break
else:
    sys.exit("no TIME-WAIT entry for peer port %s" % sys.argv[1])' "$1" || fail "no TIME-WAIT entry for port $1"
}
# reload LINES...: rewrites the configuration and sends SIGHUP; waits for the log to say it was read
RELOADS=0
reload() {
	write_config "$@"
	RELOADS=$((RELOADS + 1))
	kill -HUP "$DAEMON_PID" || fail "cannot signal tapnetd"
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c 'SIGHUP: reading' "$DAEMON_LOG")" -ge "$RELOADS" ] &&
			grep -q 'configuration unchanged\|changed\|not reloaded' <(tail -n 20 "$DAEMON_LOG") && break
		sleep 0.1
	done
	sleep 0.3 # the rest of the reload's lines
	kill -0 "$DAEMON_PID" || fail "tapnetd died on SIGHUP"
}

start_tapnetd "[services]" "daytime = 13" "[tcp]" "time_wait = 30s"
port1=$(tw daytime "$TAPNET_ADDR" 13) || fail "daytime exchange failed"
r1=$(remaining_ms "$port1")
[ "$r1" -gt 20000 ] && [ "$r1" -le 30000 ] || fail "first entry: $r1 ms left of 30 s"
log "TIME-WAIT with time_wait = 30s: $r1 ms left"

# --- time_wait 30s -> 3s, echo on, daytime to 1313, rto_min 200ms -> 300ms, mtu 1500 -> 1400
reload "[services]" "daytime = 1313" "echo = 7" "[tcp]" "time_wait = 3s" "rto_min = 300ms" \
	"[interface]" "mtu = 1400"
grep -q '\[tcp\] time_wait changed from 30000ms to 3000ms' "$DAEMON_LOG" ||
	fail "the log does not say time_wait changed: $(tail -20 "$DAEMON_LOG")"
grep -q '\[tcp\] rto_min changed from 200ms to 300ms' "$DAEMON_LOG" || fail "rto_min not applied"
grep -q '\[interface\] mtu changed in .*; it takes effect when tapnetd is restarted' "$DAEMON_LOG" ||
	fail "the mtu change is not named as waiting for a restart"
tapnet_cli status | grep -qE '^mtu +1500$' || fail "the running mtu changed: $(tapnet_cli status)"
r1=$(remaining_ms "$port1")
[ "$r1" -le 3000 ] || fail "the entry made under 30 s still has $r1 ms after time_wait = 3s"
log "the old entry shortened to $r1 ms"
port2=$(tw daytime "$TAPNET_ADDR" 1313) || fail "daytime on its new port 1313 failed"
r2=$(remaining_ms "$port2")
[ "$r2" -gt 0 ] && [ "$r2" -le 3000 ] || fail "the new entry has $r2 ms, expected at most 3 s"
log "daytime moved to 1313; its TIME-WAIT entry: $r2 ms of 3 s"
ns_exec "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$TAPNET_ADDR"'", 7), timeout=10)
s.sendall(b"reloaded"); assert s.recv(100) == b"reloaded"' || fail "the echo service did not start on SIGHUP"
ns_exec "$PYTHON" -c '
import socket, sys
try:
    socket.create_connection(("'"$TAPNET_ADDR"'", 13), timeout=5)
except ConnectionRefusedError:
    sys.exit(0)
sys.exit("daytime still answers on port 13")' || fail "daytime still listens on 13"
for ((i = 0; i < 60; i++)); do [ "$(tapnet_cli timewait -j)" = "[]" ] && break; sleep 0.1; done
[ "$(tapnet_cli timewait -j)" = "[]" ] || fail "entries left 6 s after time_wait = 3s: $(tapnet_cli timewait)"
log "echo started, daytime moved, both entries gone within 3 s"

# --- a bad file is rejected whole; the running configuration stays
reload "[services]" "echo = 0" "daytime = 1313" "[tcp]" "time_wait = 3s" "rto_min = 300ms" \
	"bogus_key = 1" "[interface]" "mtu = 1400"
grep -qE "$CONF:[0-9]+: .*bogus_key" "$DAEMON_LOG" || fail "no FILE:LINE error for the bad key"
grep -q 'configuration not reloaded; the running one stays in effect' "$DAEMON_LOG" ||
	fail "the bad file was not rejected"
ns_exec "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$TAPNET_ADDR"'", 7), timeout=10)
s.sendall(b"still"); assert s.recv(100) == b"still"' || fail "a rejected file turned echo off"
log "a file with an error: rejected whole, echo still on"
ns_exec ping -n -c 1 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping after the reloads failed"
exit 0
