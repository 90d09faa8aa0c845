#!/bin/bash
# trace.sh - `tapnet trace` and `tapnet capture` against a real tapnetd:
#  - a daytime connection (tapnet closes first) traced with `trace -j port 13`:
#    the handshake, the data, the FIN exchange with their flags, tapnet's
#    states in order (LISTEN -> SYN-RECV -> ESTAB -> FIN-WAIT-1 -> FIN-WAIT-2
#    -> TIME-WAIT), the TIME-WAIT entry and its expiry; a late FIN (scapy)
#    re-ACKed with the timer restarted; the same as a text ladder (time_wait 6 s:
#    the late FIN comes 2 s into TIME-WAIT, plus what scapy and two CLI calls take);
#  - `capture -w f.pcap port 9` during a transfer into discard with offloads
#    on, read back with tshark: real segments, no bad checksum;
#  - a trace reader stopped (SIGSTOP) during a bulk transfer: the transfer
#    completes, tapnetd counts lost events and the reader, continued, says so.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd tshark
require_python_module scapy

TW=$TOP_SRCDIR/tests/integration/timewait.py
tw() { ns_exec timeout -k 5 120 "$PYTHON" "$TW" "$@"; }

start_tapnetd "${SERVICES_CONFIG[@]}" "[tcp]" "time_wait = 6s"

# usage errors: a bad filter, capture without a file or with a bad count
for args in "trace port" "trace port 70000" "trace host 10.0.0" "capture port 9" "capture -w /dev/null -c 0"; do
	tapnet_cli $args >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 2 ] || fail "tapnet $args exited $rc, not 2 (usage)"
done
[ "$(counter TraceSubscribers)" -eq 0 ] || fail "a refused trace left a subscriber"

# start_reader OUT ARGS...: `tapnet trace|capture ARGS` in the background, its
# stdout in OUT; waits until tapnetd counts it as a subscriber.
READER_PID=
start_reader() {
	local out=$1 before i
	shift
	before=$(counter TraceSubscribers)
	"$TAPNET" -s "$SOCK" "$@" >"$out" 2>"$out.err" &
	READER_PID=$!
	at_exit "kill $READER_PID"
	for ((i = 0; i < 100; i++)); do
		[ "$(counter TraceSubscribers)" -gt "$before" ] && return 0
		kill -0 "$READER_PID" 2>/dev/null || fail "tapnet $* ended: $(cat "$out.err")"
		sleep 0.1
	done
	fail "tapnet $* did not subscribe within 10 s"
}

# stop_reader: SIGINT, as a user's ^C; the reader must exit 0.
stop_reader() {
	kill -INT "$READER_PID"
	wait "$READER_PID" || fail "the reader exited with status $? after SIGINT"
}

# wait_line FILE REGEX SECONDS: until a line of FILE matches (a bound, not a measurement).
wait_line() {
	wait_line_quiet "$@" || fail "no line matching '$2' in $1 within $3 s: $(cat "$1")"
}

# wait_line_quiet FILE REGEX SECONDS: as wait_line, but returns 1 instead of failing.
wait_line_quiet() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -qE "$2" "$1" && return 0
		sleep 0.1
	done
	return 1
}

# ------------------------------------------------------------ the ladder, JSON lines
J=$TN_TMP/trace.json
start_reader "$J" trace -j port 13
port=$(tw daytime "$TAPNET_ADDR" 13) || fail "daytime exchange failed"
log "daytime from port $port"
wait_line "$J" '"event":"expired"' 15
stop_reader
"$PYTHON" - "$J" "$port" <<'PY' || fail "the trace of the daytime connection is not as expected"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
port = int(sys.argv[2])
me = "10.0.0.1:%d" % port
conn = [l for l in lines if l.get("kernel") == me and l.get("tapnet") == "10.0.0.2:13"]
assert all(l.get("tapnet", "").endswith(":13") or l["type"] == "lost" for l in lines), \
    "something besides port 13: %r" % lines
def show(l):
    if l["type"] == "segment":
        return "%s %s len %d" % ("<-" if l["dir"] == "from_tapnet" else "->", l["flags"], l["len"])
    if l["type"] == "state":
        return "%s -> %s" % (l["from"], l["to"])
    return "timewait %s" % l["event"]
story = [show(l) for l in conn]
print("\n".join(story))
want = [
    "-> SYN len 0", "LISTEN -> SYN-RECV", "<- SYN,ACK len 0", "-> ACK len 0",
    "SYN-RECV -> ESTAB", "ESTAB -> FIN-WAIT-1",
    "FIN-WAIT-1 -> FIN-WAIT-2", "FIN-WAIT-2 -> TIME-WAIT", "timewait enter", "timewait expired",
]
# the wanted lines appear in this order (others, like the kernel's FIN, in between)
i = 0
for s in story:
    if i < len(want) and s == want[i]:
        i += 1
assert i == len(want), "missing %r (in order) in the story above" % want[i]
# data from tapnet before its FIN, and the FIN exchange: tapnet's FIN, the kernel's, the last ACK
segs = [l for l in conn if l["type"] == "segment"]
data = [l for l in segs if l["dir"] == "from_tapnet" and l["len"] > 0]
assert data, "no data segment from tapnet"
fin_out = [k for k, l in enumerate(segs) if l["dir"] == "from_tapnet" and "FIN" in l["flags"]]
fin_in = [k for k, l in enumerate(segs) if l["dir"] == "to_tapnet" and "FIN" in l["flags"]]
assert fin_out and fin_in and fin_out[0] < fin_in[0], "tapnet did not send its FIN first"
last = segs[fin_in[0] + 1:]
assert any(l["dir"] == "from_tapnet" and l["flags"] == "ACK" for l in last), "no last ACK"
assert segs[0]["seq"] == 0 and segs[1]["seq"] == 0 and segs[1]["ack"] == 1, "relative seq/ack"
enter = [l for l in conn if l["type"] == "timewait" and l["event"] == "enter"][0]
assert enter["remaining_ms"] == 6000, "TIME-WAIT entered with %r ms" % enter["remaining_ms"]
PY
log "JSON ladder: handshake, data, FIN exchange, states and TIME-WAIT in order"

# ------------------------------------------------------------ a late FIN, text ladder
T=$TN_TMP/trace.txt
start_reader "$T" trace port 13
mac=$(ns_exec ip neigh show dev "$IFACE" "$TAPNET_ADDR" |
	awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
[ -n "$mac" ] || fail "the kernel has no MAC for $TAPNET_ADDR"
ns_exec timeout -k 10 120 "$PYTHON" "$TW" raw --iface "$IFACE" --mac "$mac" --port 13 \
	--cli "$TAPNET -s $SOCK" lost-last-ack || fail "timewait.py raw lost-last-ack failed"
wait_line "$T" '2\*MSL over: CLOSED' 15
stop_reader
cat "$T"
grep -qE '\| LISTEN -> SYN-RECV$' "$T" || fail "no LISTEN -> SYN-RECV in the text ladder"
grep -qE '\| FIN-WAIT-2 -> TIME-WAIT$' "$T" || fail "no FIN-WAIT-2 -> TIME-WAIT in the text ladder"
grep -qE '\| TIME-WAIT entry \(6\.0 s left\)$' "$T" || fail "no TIME-WAIT entry in the text ladder"
grep -qE '\| late FIN: ACKed again, timer restarted \(6\.0 s left\)$' "$T" ||
	fail "the late FIN is not in the text ladder"
grep -qE '^ *[0-9.]+  \|<-- SYN,ACK seq 0 ack 1 ' "$T" || fail "no SYN,ACK arrow in the text ladder"
log "text ladder: the late FIN re-ACKed and the timer restarted"

# ------------------------------------------------------------ capture, GSO frames cut
P=$TN_TMP/discard.pcap
start_reader "$TN_TMP/capture.out" capture -w "$P" port 9
tcp_client discard "$TAPNET_ADDR" 9 $((4 * 1024 * 1024)) >/dev/null || fail "transfer into discard failed"
sleep 1 # the last ACKs and FINs cross the tap (a pause, not a verdict)
stop_reader
cat "$TN_TMP/capture.out.err"
[ "$(counter TapInGsoFrames)" -gt 0 ] || fail "no GSO frame came in: offloads are not on"
# Port 9's payload is random bytes: tshark must show it as data, or a
# heuristic dissector (Thrift) may now and then take it for its protocol
# and report an error in it.
TSHARK_DATA=(-d tcp.port==9,data)
segs=$(ns_exec tshark -r "$P" "${TSHARK_DATA[@]}" -Y tcp 2>/dev/null | wc -l)
big=$(ns_exec tshark -r "$P" "${TSHARK_DATA[@]}" -Y 'tcp.len > 1460' 2>/dev/null | wc -l)
data=$(ns_exec tshark -r "$P" "${TSHARK_DATA[@]}" -T fields -e tcp.len -Y 'tcp.dstport == 9 and not tcp.analysis.retransmission and not tcp.analysis.fast_retransmission' 2>/dev/null |
	awk '{ s += $1 } END { print s + 0 }')
ns_exec tshark -r "$P" "${TSHARK_DATA[@]}" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
	-Y 'tcp.checksum.status == "Bad" || ip.checksum.status == "Bad" || _ws.expert.severity >= error' \
	>"$TN_TMP/bad.txt" 2>/dev/null
bad=$(wc -l <"$TN_TMP/bad.txt")
if [ "$bad" -ne 0 ]; then # what they are, for whoever reads the log
	head -20 "$TN_TMP/bad.txt"
	ns_exec tshark -r "$P" "${TSHARK_DATA[@]}" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -z expert,error -q 2>&1 | head -40
fi
log "capture: $segs TCP segments, $big longer than an MSS, $data payload bytes to port 9 (retransmissions aside), $bad bad"
[ "$segs" -gt 2800 ] || fail "only $segs TCP segments in the capture of a 4 MiB transfer"
[ "$big" -eq 0 ] || fail "$big segments longer than an MSS: GSO frames were not cut"
[ "$data" -eq $((4 * 1024 * 1024)) ] || fail "the capture holds $data payload bytes, not 4 MiB"
[ "$bad" -eq 0 ] || fail "tshark finds $bad frames with bad checksums or errors"
ns_exec tshark -r "$P" "${TSHARK_DATA[@]}" -o tcp.check_checksum:TRUE -z expert,error -q 2>&1 | grep -i 'bad' &&
	fail "tshark's expert info reports bad checksums"
grep -qE "^tapnet: capture: [0-9]+ frames written to $P$" "$TN_TMP/capture.out.err" ||
	fail "capture did not say how many frames it wrote"
log "capture: every segment real, every checksum good"

# capture -c COUNT stops by itself
start_reader "$TN_TMP/count.out" capture -w "$TN_TMP/five.pcap" -c 5
ns_exec ping -n -c 3 -i 0.2 "$TAPNET_ADDR" >/dev/null || fail "ping failed"
wait "$READER_PID" || fail "capture -c 5 failed"
n=$(tshark -r "$TN_TMP/five.pcap" 2>/dev/null | wc -l)
[ "$n" -eq 5 ] || fail "capture -c 5 wrote $n frames"

# ------------------------------------------------------------ a slow reader
lost_before=$(counter TraceEventsLost)
S=$TN_TMP/slow.json
start_reader "$S" trace -j
kill -STOP "$READER_PID"
tcp_client discard "$TAPNET_ADDR" 9 $((64 * 1024 * 1024)) >/dev/null ||
	fail "a bulk transfer with a stopped trace reader did not complete"
lost=$(counter TraceEventsLost)
kill -CONT "$READER_PID"
[ "$lost" -gt "$lost_before" ] || fail "tapnetd counted no lost events for a stopped reader"
if ! wait_line_quiet "$S" '"type":"lost"' 30; then
	fail "no lost event in $S within 30 s of the reader's SIGCONT ($(wc -l <"$S") lines; TraceEvents $(counter TraceEvents), TraceEventsLost $(counter TraceEventsLost), TraceSubscribers $(counter TraceSubscribers); reader state: $(grep -E '^State' /proc/"$READER_PID"/status 2>&1); its stderr: $(cat "$S.err"); last lines: $(tail -3 "$S"))"
fi
stop_reader
grep -qE "^tapnet: trace: [0-9]+ events lost" "$S.err" || fail "trace did not say it lost events"
log "slow reader: transfer completed, $((lost - lost_before)) events lost, the reader told"
[ "$(counter TraceSubscribers)" -eq 0 ] || fail "subscribers left after every reader ended"
exit 0
