#!/bin/bash
# rpc_iperf.sh - iperf3 through `tapnet run`, 5 s in each direction, with
# tapnet as the server and as the client. Passes when every run completes
# and moved data; the rates are printed, never judged (bench/rpc does that).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd iperf3 timeout

LOG_LEVEL=info start_tapnetd

# one_run NAME SERVER-SIDE ADDR PORT [-R]
one_run() {
	local name=$1 side=$2 addr=$3 port=$4 srv cli
	shift 4
	if [ "$side" = tapnet ]; then srv=(tn_run) cli=(ns_exec); else srv=(ns_exec) cli=(tn_run); fi
	"${srv[@]}" timeout 60 iperf3 -s -1 -B "$addr" -p "$port" >"$TN_TMP/$name.server" 2>&1 &
	local spid=$!
	wait_listen "$side" "$addr" "$port"
	"${cli[@]}" timeout 60 iperf3 -c "$addr" -p "$port" -t 5 -J "$@" >"$TN_TMP/$name.json" ||
		fail "$name: iperf3 -c failed: $(tail -c 400 "$TN_TMP/$name.json")"
	wait "$spid" || fail "$name: iperf3 -s failed: $(tail -5 "$TN_TMP/$name.server")"
	"$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))["end"]["sum_received"]
if r["bytes"] <= 0: sys.exit("no bytes received")
print("%s: %.0f MB in %.1f s, %.2f Gbit/s" % (sys.argv[2], r["bytes"] / 1e6, r["seconds"], r["bits_per_second"] / 1e9))
' "$TN_TMP/$name.json" "$name" || fail "$name: no data moved"
}

one_run "kernel -> tapnet iperf3 -s" tapnet "$TAPNET_ADDR" 5201
one_run "tapnet iperf3 -s -> kernel (-R)" tapnet "$TAPNET_ADDR" 5202 -R
one_run "tapnet iperf3 -c -> kernel" kernel "$HOST_ADDR" 5203
one_run "kernel -> tapnet iperf3 -c (-R)" kernel "$HOST_ADDR" 5204 -R
wait_no_conns 'ESTAB|LISTEN|SYN|CLOSE-WAIT'
exit 0
