#!/bin/bash
# reorder.sh - a path that reorders and loses nothing: the delay line
# (longpath_lib.sh) holds 5 % of the frames each way 1 ms longer than the
# others, on a 2 ms and on a 20 ms round trip, so that the frames behind
# overtake them, as on parallel links. On each, a kernel client sends a
# file to a server under `tapnet run`, which reads it to the FIN and sends
# another back:
#  1. every byte, both ways (sha256);
#  2. tapnet as the sender took the late frames for reordering, not loss:
#     TcpExtTCPSACKReorder counted, no more than 1 % of its segments
#     retransmitted (a sender that took three duplicate ACKs for a loss
#     would resend about one in twenty), and every recovery it entered
#     (before it had seen reordering) undone, by D-SACK or by the
#     timestamps of the ACKs that filled the holes (Eifel): a cut that
#     stayed would leave a long path at a fraction of its rate;
#  3. tapnet as the receiver: its SACKs and D-SACKs let the kernel client
#     see the same, no more than 1 % retransmitted by the kernel either.
# Counts, not timings: bench/longpath -r compares the throughput with two
# kernels on the same path.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
. "$TOP_SRCDIR/tests/integration/longpath_lib.sh"
require_cmd nc timeout ethtool nstat
start_tapnetd
longpath_setup
make_file "$TN_TMP/up" 48
make_file "$TN_TMP/down" 48
SERVER=$TOP_SRCDIR/tests/integration/halfclose_server.py
export NSTAT_HISTORY=$TN_TMP/nstat.c # nstat's history is per user, not per namespace
COUNTERS=(TcpOutSegs TcpRetransSegs TcpExtTCPSACKReorder TcpExtTCPOFOQueue TcpExtTCPSackRecovery
	TcpExtTCPDSACKUndo TcpExtTCPPartialUndo TcpExtTCPFullUndo TcpExtTCPTSReorder)
declare -A before delta
port=5000
for rtt in 2 20; do
	name="RTT $rtt ms"
	longpath_delay $((rtt / 2)) -r 5 -x 1000
	c_exec nstat -n >/dev/null || fail "nstat failed"
	for c in "${COUNTERS[@]}"; do before[$c]=$(counter "$c"); done
	port=$((port + 1))
	tn_run timeout 60 "$PYTHON" "$SERVER" "$TAPNET_ADDR" $port "$TN_TMP/up.$rtt" "$TN_TMP/down" \
		2>"$TN_TMP/server-err.$rtt" &
	spid=$!
	wait_listen tapnet "$TAPNET_ADDR" $port
	c_exec timeout 60 nc -N "$TAPNET_ADDR" $port <"$TN_TMP/up" >"$TN_TMP/down.$rtt" ||
		fail "$name: nc failed (got $(stat -c %s "$TN_TMP/down.$rtt") bytes back)"
	wait "$spid" || fail "$name: the server failed: $(cat "$TN_TMP/server-err.$rtt")"
	same_file "$TN_TMP/up" "$TN_TMP/up.$rtt" "$name: kernel -> tapnet, every byte"
	same_file "$TN_TMP/down" "$TN_TMP/down.$rtt" "$name: tapnet -> kernel, every byte"
	k=$(c_exec nstat | awk '$1 == "TcpOutSegs" { o = $2 } $1 == "TcpRetransSegs" { r = $2 }
		END { printf "%d %d", o, r }')
	: >"$TN_TMP/delayline.log"
	longpath_stop_delay
	for c in "${COUNTERS[@]}"; do delta[$c]=$(($(counter "$c") - ${before[$c]})); done

	# the path lost nothing: the delay line's queues and packet sockets dropped no frame
	lanes=$(grep -c 'forwarded, 0 dropped, 0 dropped by the socket' "$TN_TMP/delayline.log")
	[ "$lanes" = 4 ] || fail "$name: the delay line lost frames: $(cat "$TN_TMP/delayline.log")"
	held=$(grep -o '[0-9]* held back' "$TN_TMP/delayline.log" | head -2 | awk '{ s += $1 } END { print s + 0 }')
	[ "$held" -gt 1000 ] || fail "$name: the delay line held back only $held frames"
	out=${delta[TcpOutSegs]} retrans=${delta[TcpRetransSegs]}
	recoveries=${delta[TcpExtTCPSackRecovery]}
	undone=$((delta[TcpExtTCPDSACKUndo] + delta[TcpExtTCPPartialUndo] + delta[TcpExtTCPFullUndo]))
	log "$name: $held frames held back; tapnet sent $out segments, $retrans retransmitted;" \
		"reordering seen ${delta[TcpExtTCPSACKReorder]} times by SACK, ${delta[TcpExtTCPTSReorder]}" \
		"by timestamps; $recoveries recoveries, $undone undone;" \
		"${delta[TcpExtTCPOFOQueue]} segments received out of order"
	[ "${delta[TcpExtTCPSACKReorder]}" -gt 0 ] ||
		fail "$name: tapnet as the sender never took a late frame for reordering"
	[ "${delta[TcpExtTCPOFOQueue]}" -gt 0 ] ||
		fail "$name: tapnet as the receiver queued nothing out of order: no reordering came"
	[ $((retrans * 100)) -le "$out" ] ||
		fail "$name: tapnet retransmitted $retrans of $out segments on a path that loses nothing:" \
			"$(tapnet_cli stats | grep -iE 'retrans|reorder|dsack|undo|recovery|probe|timeout')"
	[ "$undone" -ge "$recoveries" ] ||
		fail "$name: tapnet undid $undone of its $recoveries recoveries on a path that loses nothing:" \
			"$(tapnet_cli stats | grep -iE 'retrans|reorder|dsack|undo|recovery|probe|timeout')"
	read -r k_out k_retrans <<<"$k"
	log "$name: the kernel client sent $k_out segments, $k_retrans retransmitted"
	[ "${k_out:-0}" -gt 1000 ] || fail "$name: nstat in the client's namespace counted no segments: $k"
	[ $((k_retrans * 100)) -le "$k_out" ] ||
		fail "$name: the kernel client retransmitted $k_retrans of $k_out segments to tapnet"
done
exit 0
