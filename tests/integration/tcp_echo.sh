#!/bin/bash
# tcp_echo.sh - the built-in echo service (RFC 862): a kernel-side client
# sends 10 MB of random data and gets every byte back (sha256), then the
# FINs cross; a line through nc comes back as it went. Then the same 10 MB
# with the [tcp] options turned the other way (NewReno, no SACK, no
# timestamps, no window scaling, small buffers), which `tapnet ss` shows.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd nc timeout

MB10=$((10 * 1024 * 1024))

start_tapnetd "${SERVICES_CONFIG[@]}"
grep -q 'echo service listening on port 7' "$DAEMON_LOG" || fail "no 'echo service listening' in the log"

tcp_client echo "$TAPNET_ADDR" 7 "$MB10" || fail "10 MB through echo"
out=$(printf 'hello, tapnet\n' | ns_exec timeout 30 nc -N "$TAPNET_ADDR" 7) || fail "nc to echo failed"
[ "$out" = "hello, tapnet" ] || fail "nc got back '$out' from echo"
log "nc: a line went to echo and came back"

[ "$(counter SvcAccepts)" -eq 2 ] || fail "SvcAccepts is $(counter SvcAccepts), expected 2"
[ "$(counter SvcOutOctets)" -eq $((MB10 + 14)) ] ||
	fail "SvcOutOctets is $(counter SvcOutOctets), expected $((MB10 + 14))"
[ "$(counter TcpPassiveOpens)" -eq 2 ] || fail "TcpPassiveOpens is $(counter TcpPassiveOpens), expected 2"

# The other way round: every option off, NewReno, 16 KiB buffers.
restart_tapnetd "${SERVICES_CONFIG[@]}" "[tcp]" "congestion = newreno" "sack = no" \
	"timestamps = false" "window_scaling = 0" "rcvbuf = 16384" "sndbuf = 16384"
tcp_client echo "$TAPNET_ADDR" 7 "$MB10" || fail "10 MB through echo with options off"

# A connection held open to discard shows the options in `tapnet ss -j`.
sync=$TN_TMP/hold
tcp_client --sync "$sync" --timeout 60 hold "$TAPNET_ADDR" 9 1 &
hold_pid=$!
at_exit "touch $sync.go; kill $hold_pid"
wait_for_file "$sync.ready" 30 "$hold_pid"
tapnet_cli ss -j >"$TN_TMP/ss.json" || fail "tapnet ss -j failed"
touch "$sync.go"
wait "$hold_pid" || fail "the held connection failed"
"$PYTHON" - "$TN_TMP/ss.json" <<'PY' || fail "tapnet ss -j does not show the configured options"
import json, sys
socks = [s for s in json.load(open(sys.argv[1])) if s["local_port"] == 9 and s["state"] == "ESTAB"]
assert len(socks) == 1, "expected one ESTAB connection to port 9, got %r" % socks
s = socks[0]
want = {"cc": "reno", "ts": False, "sack": False, "rcv_wscale": 0, "snd_wscale": 0}
bad = {k: s[k] for k in want if s[k] != want[k]}
assert not bad, "expected %r, got %r" % (want, bad)
assert s["rcv_wnd"] <= 16384, "rcv_wnd %d is more than the 16 KiB buffer" % s["rcv_wnd"]
print("tcp_echo: tapnet ss -j: cc reno, no ts, no sack, no window scaling, rcv_wnd %d" % s["rcv_wnd"])
PY
exit 0
