#!/bin/bash
# cli.sh - the tapnet CLI against a running tapnetd: status, stats (text,
# -a, -j), arp (text, -j), TAPNET_SOCKET, and clear errors when tapnetd is
# not there or the command line is wrong. Then against fake_daemon.py: a
# TIME-WAIT list cut short is said to be (timewait, ss -a), an
# inconsistent one is refused.
. "$TOP_SRCDIR/tests/integration/lib.sh"

start_tapnetd
ns_exec ping -n -c 2 -i 0.2 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping failed"

# json_check KIND TEXT: TEXT parses as JSON of the expected shape.
json_check() {
	printf '%s' "$2" | "$PYTHON" -c '
import json, sys
kind, doc = sys.argv[1], json.load(sys.stdin)
if kind == "stats":
    assert isinstance(doc, dict) and doc, "not a non-empty object"
    for k, v in doc.items():
        assert isinstance(v, int) and v >= 0, "%s: %r is not a counter" % (k, v)
    for k in ("IpInReceives", "IcmpInEchos", "IcmpOutEchoReps", "EthInTruncated"):
        assert k in doc, "no " + k
    assert doc["IcmpInEchos"] >= 2, "IcmpInEchos %d after 2 pings" % doc["IcmpInEchos"]
elif kind == "arp":
    assert isinstance(doc, list), "not a list"
    hosts = [e for e in doc if e.get("dst") == sys.argv[2]]
    assert hosts, "no entry for " + sys.argv[2]
    assert hosts[0].get("state"), "entry without a state"
' "$1" "$HOST_ADDR" || fail "tapnet $1 -j: not the JSON expected: $2"
}

out=$(tapnet_cli status) || fail "tapnet status failed"
printf '%s\n' "$out"
for want in "interface *$IFACE" "address *$TAPNET_ADDR/24" "pid *$DAEMON_PID" "mtu *1500" \
	"sockets *0$" "buffers *0 bytes reserved of 4294967296$"; do
	printf '%s\n' "$out" | grep -qE "^$want" || fail "tapnet status has no line matching '$want'"
done

out=$(tapnet_cli stats) || fail "tapnet stats failed"
printf '%s\n' "$out" | grep -qE '^IcmpInEchos +[1-9]' || fail "tapnet stats shows no IcmpInEchos"
printf '%s\n' "$out" | grep -qE ' 0$' && fail "tapnet stats (without -a) shows zero counters"
all=$(tapnet_cli stats -a) || fail "tapnet stats -a failed"
printf '%s\n' "$all" | grep -qE '^EthInTruncated +0$' || fail "tapnet stats -a does not show EthInTruncated 0"

json=$(tapnet_cli stats -j) || fail "tapnet stats -j failed"
json_check stats "$json"
# Text and JSON name the same counters.
names_text=$(printf '%s\n' "$all" | awk '{ print $1 }' | sort)
names_json=$(printf '%s' "$json" | "$PYTHON" -c 'import json, sys; print("\n".join(sorted(json.load(sys.stdin))))')
[ "$names_text" = "$names_json" ] || fail "tapnet stats -a and stats -j list different counters"

out=$(tapnet_cli arp) || fail "tapnet arp failed"
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -q "^$HOST_ADDR lladdr " || fail "tapnet arp does not list $HOST_ADDR"
json=$(tapnet_cli arp -j) || fail "tapnet arp -j failed"
json_check arp "$json"

# The socket from the environment.
TAPNET_SOCKET=$SOCK "$TAPNET" status >/dev/null || fail "TAPNET_SOCKET=$SOCK tapnet status failed"

# No tapnetd on the socket: exit 1 and a message that names the socket.
missing_sock=$TN_TMP/nobody-here.sock
err=$("$TAPNET" -s "$missing_sock" status 2>&1 >/dev/null)
rc=$?
log "without tapnetd: exit $rc: $err"
[ "$rc" -eq 1 ] || fail "tapnet status on a missing socket exited $rc, expected 1"
case $err in
*"$missing_sock"*) ;;
*) fail "the error for a missing socket does not name it: $err" ;;
esac

# fake_tw MODE: fake_daemon.py serving MODE on $FAKE_SOCK, until the test ends.
fake_tw() {
	FAKE_SOCK=$TN_TMP/fake-$1.sock
	PYTHONPATH=$TOP_SRCDIR/tests/integration "$PYTHON" \
		"$TOP_SRCDIR/tests/integration/fake_daemon.py" "$FAKE_SOCK" "$1" &
	at_exit "kill $!"
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ -S "$FAKE_SOCK" ] && return 0
		sleep 0.1
	done
	fail "fake_daemon.py did not start"
}

# A TIME-WAIT table of 3 of which the reply holds the oldest 2: both listed, and the cut said.
fake_tw tw-truncated
out=$("$TAPNET" -s "$FAKE_SOCK" timewait) || fail "tapnet timewait (truncated) failed"
printf '%s\n' "$out"
[ "$(printf '%s\n' "$out" | grep -c '^TIME-WAIT ')" -eq 2 ] || fail "tapnet timewait: not 2 entries"
printf '%s\n' "$out" | grep -qE '^TIME-WAIT +0 +0 +10\.0\.0\.2:13 +10\.0\.0\.1:40002 +timer:\(timewait,6sec,0\)$' ||
	fail "tapnet timewait: the second entry is not as sent"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "TRUNCATED: 3 entries in TIME-WAIT, the oldest 2 shown" ] ||
	fail "tapnet timewait does not say the list was cut short"
json=$("$TAPNET" -s "$FAKE_SOCK" timewait -j 2>"$TN_TMP/tw-err") || fail "tapnet timewait -j (truncated) failed"
printf '%s' "$json" | "$PYTHON" -c '
import json, sys
doc = json.load(sys.stdin)
assert [e["peer_port"] for e in doc] == [40001, 40002], doc
assert [e["remaining_ms"] for e in doc] == [5000, 6000], doc
' || fail "tapnet timewait -j: not the 2 entries as JSON: $json"
grep -qx "tapnet: timewait: TRUNCATED: 3 entries in TIME-WAIT, the oldest 2 shown" "$TN_TMP/tw-err" ||
	fail "tapnet timewait -j does not say on stderr that the list was cut short: $(cat "$TN_TMP/tw-err")"
out=$("$TAPNET" -s "$FAKE_SOCK" ss -a) || fail "tapnet ss -a (truncated) failed"
[ "$(printf '%s\n' "$out" | grep -c '^TIME-WAIT ')" -eq 2 ] || fail "tapnet ss -a: not 2 TIME-WAIT entries: $out"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "TRUNCATED: 3 connections in TIME-WAIT, the oldest 2 shown" ] ||
	fail "tapnet ss -a does not say the TIME-WAIT list was cut short: $out"

# TW_TRUNCATED says 3 entries came, 2 did: no listing, a malformed reply, from both commands.
fake_tw tw-inconsistent
for cmd in timewait "ss -a"; do
	# shellcheck disable=SC2086 # cmd is two words for ss -a
	err=$("$TAPNET" -s "$FAKE_SOCK" $cmd 2>&1 >"$TN_TMP/tw-out")
	rc=$?
	[ "$rc" -eq 1 ] || fail "tapnet $cmd on an inconsistent TIMEWAIT reply exited $rc, expected 1"
	[ "$err" = "tapnet: malformed reply from tapnetd: bad TIMEWAIT" ] ||
		fail "tapnet $cmd on an inconsistent TIMEWAIT reply: $err"
	[ -s "$TN_TMP/tw-out" ] && fail "tapnet $cmd printed a listing of an inconsistent reply"
done

# Usage errors are not successes either.
"$TAPNET" -s "$SOCK" no-such-command >/dev/null 2>&1 && fail "tapnet accepted an unknown command"
"$TAPNET" -s "$SOCK" stats --no-such-option >/dev/null 2>&1 && fail "tapnet stats accepted an unknown option"
"$TAPNET" --help | grep -q '^Usage: tapnet' || fail "tapnet --help prints no usage"
"$TAPNET" --version | grep -q '^tapnet ' || fail "tapnet --version prints no version"
exit 0
