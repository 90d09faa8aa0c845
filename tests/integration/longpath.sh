#!/bin/bash
# longpath.sh - one connection each way over 20 ms and 50 ms round trips
# (longpath_lib.sh's delay line), tapnet with its default buffers:
#  1. data exact: a kernel client sends a file to a server under `tapnet
#     run`, which reads it to the FIN and sends another file back;
#  2. the buffers grew past their defaults while the data flowed (`tapnet
#     ss -i`: skmem rb/tb, rcv_space), and are given back at the end
#     (SockBufferBytes 0);
#  3. figures, not verdicts: iperf3 throughput each way next to two kernels
#     on the same delay (timing thresholds belong in bench/longpath);
#  4. a thousand idle connections over the 50 ms path (to the echo service,
#     a line each way first) keep the default sizes: memory per idle
#     connection does not grow.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
. "$TOP_SRCDIR/tests/integration/longpath_lib.sh"
require_cmd nc timeout iperf3 ethtool

start_tapnetd "${SERVICES_CONFIG[@]}"
longpath_setup
make_file "$TN_TMP/up" 24
make_file "$TN_TMP/down" 24
SERVER=$TOP_SRCDIR/tests/integration/halfclose_server.py
bg iperf-tapnet tn_run iperf3 -s -B "$TAPNET_ADDR" -p 5201
bg iperf-kernel k2_exec iperf3 -s -B "$KERNEL_PEER_ADDR" -p 5201
wait_listen tapnet "$TAPNET_ADDR" 5201

# largest FIELD (rb, tb) in `tapnet ss -i` skmem over the samples in FILE
largest() { grep -o "$1[0-9]*" "$2" | tr -d "$1" | sort -n | tail -1; }

# sample_ss FILE: `tapnet ss -i` every 0.2 s until the file "$FILE.stop" exists
sample_ss() {
	while [ ! -e "$1.stop" ]; do
		tapnet_cli ss -i >>"$1"
		sleep 0.2
	done
}

gbits() { "$PYTHON" -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))'; }

port=5000
FIGURES=()
for rtt in ${LONGPATH_RTTS:-20 50}; do
	longpath_delay $((rtt / 2))
	port=$((port + 1))
	name="RTT $rtt ms"
	: >"$TN_TMP/ss-$rtt"
	sample_ss "$TN_TMP/ss-$rtt" &
	sampler=$!
	tn_run timeout 60 "$PYTHON" "$SERVER" "$TAPNET_ADDR" $port "$TN_TMP/up.$rtt" "$TN_TMP/down" \
		2>"$TN_TMP/server-err.$rtt" &
	spid=$!
	wait_listen tapnet "$TAPNET_ADDR" $port
	start=$(date +%s.%N)
	c_exec timeout 60 nc -N "$TAPNET_ADDR" $port <"$TN_TMP/up" >"$TN_TMP/down.$rtt" ||
		fail "$name: nc failed (got $(stat -c %s "$TN_TMP/down.$rtt") bytes back); tapnet ss -i then:" \
			"$(tail -n 12 "$TN_TMP/ss-$rtt")" "$(c_exec ss -tni)" "$(tapnet_cli stats | grep -i 'retrans\|timeout\|ofo\|pressure\|zero\|prune\|drop')"
	end=$(date +%s.%N)
	wait "$spid" || fail "$name: the server failed: $(cat "$TN_TMP/server-err.$rtt")"
	touch "$TN_TMP/ss-$rtt.stop"
	wait "$sampler"
	same_file "$TN_TMP/up" "$TN_TMP/up.$rtt" "$name: kernel -> tapnet, every byte"
	same_file "$TN_TMP/down" "$TN_TMP/down.$rtt" "$name: tapnet -> kernel, every byte"
	rb=$(largest rb "$TN_TMP/ss-$rtt") tb=$(largest tb "$TN_TMP/ss-$rtt")
	[ -n "$rb" ] && [ -n "$tb" ] || fail "$name: tapnet ss -i showed no skmem: $(tapnet_cli ss -i)"
	log "$name: 48 MiB both ways exact in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s;" \
		"largest rcvbuf $rb, sndbuf $tb"
	# the defaults are 65536 and 16384: a path of this length needs more
	[ "$rb" -gt 65536 ] || fail "$name: the receive buffer did not grow (largest $rb)"
	[ "$tb" -gt 16384 ] || fail "$name: the send buffer did not grow (largest $tb)"
	grep -q 'rcv_space:[1-9]' "$TN_TMP/ss-$rtt" || fail "$name: no receive-space estimate in ss -i"

	to_t=$(c_exec iperf3 -c "$TAPNET_ADDR" -p 5201 -t 4 -J | gbits) || fail "$name: iperf3 to tapnet failed"
	from_t=$(c_exec iperf3 -c "$TAPNET_ADDR" -p 5201 -t 4 -J -R | gbits) ||
		fail "$name: iperf3 from tapnet failed"
	to_k=$(k1_exec iperf3 -c "$KERNEL_PEER_ADDR" -p 5201 -t 4 -J | gbits) || fail "$name: iperf3 kernel failed"
	from_k=$(k1_exec iperf3 -c "$KERNEL_PEER_ADDR" -p 5201 -t 4 -J -R | gbits) ||
		fail "$name: iperf3 kernel -R failed"
	FIGURES+=("$(printf '%-6s kernel->tapnet %s Gbit/s (kernel->kernel %s), tapnet->kernel %s Gbit/s (kernel->kernel %s)' \
		"$rtt ms" "$to_t" "$to_k" "$from_t" "$from_k")")
done

wait_no_conns 'ESTAB|SYN|CLOSE-WAIT'
# every growth was charged and everything is given back (only the listeners are left)
[ "$(counter SockBufferBytes)" = 0 ] || fail "buffer bytes still charged: $(counter SockBufferBytes)"

# 4. a thousand idle connections over the last path, each after one echoed line
IDLE=1000
c_exec "$PYTHON" - "$TAPNET_ADDR" "$IDLE" "$TN_TMP/idle" >"$TN_TMP/idle.log" 2>&1 <<'PY' &
import os, resource, selectors, socket, sys, time
host, n, sync = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 64, max(n + 64, hard)))
sel = selectors.DefaultSelector()
socks, left = [], {}
for i in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex((host, 7))
    socks.append(s)
    sel.register(s, selectors.EVENT_WRITE, i)
end = time.monotonic() + 120
while sel.get_map() and time.monotonic() < end:
    for key, ev in sel.select(1):
        s, i = key.fileobj, key.data
        if ev & selectors.EVENT_WRITE:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                sys.exit("connection %d: %s" % (i, os.strerror(err)))
            line = b"line %d\n" % i
            s.send(line)
            left[i] = line
            sel.modify(s, selectors.EVENT_READ, i)
        else:
            got = s.recv(100)
            if not got or not left[i].startswith(got):
                sys.exit("connection %d: %r is not its echo" % (i, got))
            left[i] = left[i][len(got):]
            if not left[i]:
                sel.unregister(s)
if sel.get_map():
    sys.exit("%d connections without their echo in 120 s" % len(sel.get_map()))
open(sync + ".ready", "w").close()
while not os.path.exists(sync + ".go") and time.monotonic() < end + 60:
    time.sleep(0.1)
PY
idle_pid=$!
at_exit "touch $TN_TMP/idle.go; kill $idle_pid 2>/dev/null"
wait_for_file "$TN_TMP/idle.ready" 130 "$idle_pid"
sleep 1 # a round trip or more of idleness (the echo's ACKs, nothing read since)
tapnet_cli ss -j >"$TN_TMP/idle.json" || fail "tapnet ss -j failed"
"$PYTHON" - "$TN_TMP/idle.json" "$IDLE" <<'PY' || fail "idle connections: $(tapnet_cli ss -i | tail -n 4)"
import json, sys
socks = [s for s in json.load(open(sys.argv[1])) if s["state"] == "ESTAB" and s["local_port"] == 7]
n = int(sys.argv[2])
assert len(socks) == n, "%d connections to echo, expected %d" % (len(socks), n)
grown = [s for s in socks if (s["rcvbuf"], s["sndbuf"]) != (65536, 16384)]
assert not grown, "%d idle connections not at 65536/16384, e.g. %r" % (len(grown), grown[0])
print("longpath: %d idle connections after an echoed line: every one at rcvbuf 65536, sndbuf 16384" % n)
PY
charged=$(counter SockBufferBytes)
[ "$charged" -eq $((IDLE * (65536 + 16384))) ] ||
	fail "$IDLE idle connections hold $charged bytes, expected $((IDLE * (65536 + 16384)))"
log "$IDLE idle connections: $charged bytes charged, $((charged / IDLE)) each"
touch "$TN_TMP/idle.go"
wait "$idle_pid" || fail "the idle client failed: $(cat "$TN_TMP/idle.log")"
longpath_stop_delay
log "figures (one run each, shared CPU: indicative only; bench/longpath compares properly):"
for f in "${FIGURES[@]}"; do log "  $f"; done
exit 0
