#!/bin/bash
# soak.sh - everything at once for SOAK_SECONDS (60 by default), with
# tapnetd's fault injection damaging frames both ways (drops, corruption,
# duplicates, reordering, delays): downloads through `tapnet run` both ways
# (python3 http.server, curl, the sha256 of each), the built-in echo
# service (every byte checked), iperf3 from tapnet to the kernel (its
# servers close their streams at the end of a test: the peer's FIN, then
# its RST), connection churn, clients killed in the middle of a transfer,
# clients that reset, half-close, stop reading or close with data unread
# (misbehaving_client.py against bulk_server.py, both ways), a ping every
# 10 ms.
# Then, with every program stopped: every download and echo was exact,
# tapnetd is alive, and it holds no socket of a program and no buffer
# byte (a ten-minute run of this found 129 sockets and 397 MB kept after a
# peer's reset that came after its FIN). Sanitizer reports fail it (lib.sh).
# A longer run: SOAK_SECONDS=600 make check TESTS=tests/integration/soak.sh
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd iperf3 curl

SECS=${SOAK_SECONDS:-60}
[[ $SECS =~ ^[0-9]+$ ]] || fail "SOAK_SECONDS must be a number of seconds: $SECS"
# ASan's quarantine would hold freed memory longer than the run needs.
TAPNETD_ENV=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=16")
start_tapnetd "${SERVICES_CONFIG[@]}" "[debug]" \
	"fault_rx_drop = 1" "fault_tx_drop = 1" "fault_rx_corrupt = 0.2" "fault_tx_corrupt = 0.2" \
	"fault_rx_duplicate = 0.5" "fault_tx_duplicate = 0.5" "fault_rx_reorder = 1" "fault_tx_reorder = 1" \
	"fault_rx_delay = 0.2" "fault_tx_delay = 0.2" "fault_delay = 5ms"

mkdir -p "$TN_TMP/www" "$TN_TMP/out"
make_file "$TN_TMP/www/file" 2
chmod -R a+rX "$TN_TMP/www"
want=$(sha "$TN_TMP/www/file")

bg http-tapnet tn_run "$PYTHON" -m http.server -b "$TAPNET_ADDR" -d "$TN_TMP/www" 8080
http_tapnet=$BG_PID
bg http-kernel ns_exec "$PYTHON" -m http.server -b "$HOST_ADDR" -d "$TN_TMP/www" 8081
bg iperf-kernel ns_exec iperf3 -s -B "$HOST_ADDR" -p 5202
bg bulk-tapnet tn_run "$PYTHON" "$TOP_SRCDIR/tests/integration/bulk_server.py" "$TAPNET_ADDR" 9000
bulk_tapnet=$BG_PID
bg bulk-kernel ns_exec "$PYTHON" "$TOP_SRCDIR/tests/integration/bulk_server.py" "$HOST_ADDR" 9001
wait_listen tapnet "$TAPNET_ADDR" 8080
wait_listen kernel "$HOST_ADDR" 8081
wait_listen kernel "$HOST_ADDR" 5202
wait_listen tapnet "$TAPNET_ADDR" 9000
wait_listen kernel "$HOST_ADDR" 9001

end=$((SECONDS + SECS))
# Each loop writes "NAME runs N failed M" to $TN_TMP/out/NAME, and what failed to NAME.err.
fetch_loop() { # NAME RUNNER URL
	local name=$1 runner=$2 url=$3 n=0 bad=0 got
	while [ $SECONDS -lt $end ]; do
		got=$($runner curl -sS --max-time 60 "$url" 2>>"$TN_TMP/out/$name.err" | sha256sum | cut -d' ' -f1)
		n=$((n + 1))
		[ "$got" = "$want" ] || { bad=$((bad + 1)); echo "run $n: sha256 $got" >>"$TN_TMP/out/$name.err"; }
	done
	echo "$name runs $n failed $bad" >"$TN_TMP/out/$name"
}
echo_loop() {
	local n=0 bad=0
	while [ $SECONDS -lt $end ]; do
		tcp_client echo "$TAPNET_ADDR" 7 200000 >>"$TN_TMP/out/echo.err" 2>&1 || bad=$((bad + 1))
		n=$((n + 1))
	done
	echo "echo runs $n failed $bad" >"$TN_TMP/out/echo"
}
iperf_loop() { # not counted as failures: iperf3's own control exchange may time out under faults
	local n=0
	while [ $SECONDS -lt $end ]; do
		tn_run timeout 60 iperf3 -c "$HOST_ADDR" -p 5202 -t 3 -P 2 >/dev/null 2>&1
		n=$((n + 1))
	done
	echo "iperf3 runs $n" >"$TN_TMP/out/iperf3"
}
churn_loop() {
	local n=0
	while [ $SECONDS -lt $end ]; do
		ns_exec timeout 10 "$PYTHON" -c '
import socket, sys
for _ in range(20):
    s = socket.create_connection((sys.argv[1], 13), timeout=5)
    while s.recv(100):
        pass
    s.close()' "$TAPNET_ADDR" >>"$TN_TMP/out/churn.err" 2>&1
		n=$((n + 20))
	done
	echo "churn connections $n" >"$TN_TMP/out/churn"
}
kill_loop() { # downloads on tapnet killed part-way
	local n=0 p
	while [ $SECONDS -lt $end ]; do
		tn_run curl -s "http://$HOST_ADDR:8081/file" -o /dev/null &
		p=$!
		sleep "0.$((RANDOM % 9 + 1))"
		pkill -KILL -P "$p" 2>/dev/null
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
		n=$((n + 1))
	done
	echo "killed downloads $n" >"$TN_TMP/out/kill"
}

log "$SECS s of traffic under fault injection"
loops=()
fetch_loop curl-in ns_exec "http://$TAPNET_ADDR:8080/file" &
loops+=($!)
fetch_loop curl-out tn_run "http://$HOST_ADDR:8081/file" &
loops+=($!)
echo_loop &
loops+=($!)
iperf_loop &
loops+=($!)
churn_loop &
loops+=($!)
kill_loop 2>>"$TN_TMP/out/kill.err" & # the shell's "Killed" notes too
loops+=($!)
MISBEHAVE=$TOP_SRCDIR/tests/integration/misbehaving_client.py
ns_exec "$PYTHON" "$MISBEHAVE" "$TAPNET_ADDR" 9000 "$SECS" 1 >"$TN_TMP/out/misbehave-in" 2>&1 &
loops+=($!)
tn_run "$PYTHON" "$MISBEHAVE" "$HOST_ADDR" 9001 "$SECS" 2 >"$TN_TMP/out/misbehave-out" 2>&1 &
loops+=($!)
ns_exec ping -q -i 0.01 -w "$SECS" "$TAPNET_ADDR" >"$TN_TMP/out/ping.log" 2>&1 &
loops+=($!)
wait "${loops[@]}" # not the servers
kill -0 "$DAEMON_PID" 2>/dev/null || fail "tapnetd died under the load"
for f in curl-in curl-out echo iperf3 churn kill; do
	[ -s "$TN_TMP/out/$f" ] || fail "the $f loop did not finish"
	log "$(cat "$TN_TMP/out/$f")"
done
for f in curl-in curl-out echo; do
	read -r _ _ runs _ failed <"$TN_TMP/out/$f"
	[ "$runs" -gt 0 ] || fail "$f never ran"
	[ "$failed" -eq 0 ] || fail "$f: $failed of $runs failed: $(tail -5 "$TN_TMP/out/$f.err")"
done
for f in misbehave-in misbehave-out; do
	grep -q " errors 0$" "$TN_TMP/out/$f" || fail "$f: $(cat "$TN_TMP/out/$f")"
	log "$f: $(cat "$TN_TMP/out/$f")"
done
# about 2.5 % of echoes lost or damaged on the way (1 % drops and 0.2 % corruption each way)
lost=$(awk '/packet loss/ { for (i = 1; i <= NF; i++) if ($i ~ /%$/) { sub(/%/, "", $i); print int($i) } }' "$TN_TMP/out/ping.log")
[ -n "$lost" ] && [ "$lost" -lt 10 ] || fail "pings: $(cat "$TN_TMP/out/ping.log")"
log "$(grep 'packet loss' "$TN_TMP/out/ping.log")"

# Every program on tapnet stopped: nothing of theirs may stay.
stop_bg_expect_nothing_left "$http_tapnet" "$bulk_tapnet"
for c in FaultRxDrops FaultTxDrops FaultRxCorrupts TcpRetransSegs TcpExtTCPSackRecovery TcpInCsumErrors; do
	log "$c $(counter "$c")"
done
log "no socket and no buffer left; tapnetd RSS $(awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status") KiB"
