#!/bin/bash
# rpc_iperf.sh - iperf3 through `tapnet run`, with tapnet as the server and
# as the client, sending and receiving (-R), then the same bytes with sha256.
#  1. Each iperf3 run sends exactly IPERF_BYTES (-n). iperf3 (3.12) ends the
#     test once the sender has written its bytes and the receiver stops
#     reading then (kernel to kernel too: what is still buffered is not
#     counted), so: both ends' JSON say the same count S was sent, both say
#     the same count R was received, 0 < R <= S. S is IPERF_BYTES, or up to
#     one 128 KiB block more: iperf3's sender may check the count only after
#     its next write (seen with kernel senders, client and server), which a
#     full socket buffer may cut short (IPERF_BYTES + 121032 seen).
#  2. iperf3 cannot check the data (-F loses bytes on a short write, kernel
#     to kernel too), so nc carries a file of IPERF_BYTES random bytes each
#     way, tapnet sending and receiving: the sha256 must match. Receiving,
#     some of the kernel's 64 KB frames go from the tap straight to the pair
#     (SockPairDeliveries), the rest through the receive ring; the pair
#     carries every byte (SockPairOutOctets), some straight from the frame
#     (SockPairDeliveredOctets).
#  3. The same without busy polling (see there).
#  4. iperf3 -C reno and -C cubic (TCP_CONGESTION): the sender runs what it
#     asked for; an algorithm tapnet has not is ENOENT.
#  5. iperf3 --bidir: both directions at once on a link that loses nothing.
#     The kernel's ACKs of tapnet's data wait behind the kernel's own data
#     on tap0, later than a probe's timeout, and the probe reaches the
#     kernel as a duplicate: a probe whose D-SACK came back must not cost
#     tapnet's window (TcpExtTCPLossProbeRecovery), and nothing may enter
#     recovery, whatever the rates. The kernel does not always send the
#     D-SACK it owes: with its receiver's window nearly shut it has been
#     seen to count one (TcpExtTCPDSACKOldSent) that no segment on tap0
#     carried (67 counted, 66 captured), and then the probe looks like a
#     repair to tapnet, as it would to Linux. So repairs may number the
#     D-SACKs missing, no more (the old code counted 45 of 58 probes, with
#     57 D-SACKs back).
# The rates are printed, never judged (bench/rpc does that).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd iperf3 nc timeout nstat

IPERF_MB=64
IPERF_BYTES=$((IPERF_MB * 1048576))

LOG_LEVEL=info start_tapnetd

# one_run NAME SERVER-SIDE ADDR PORT [-R]: the client sends (the server with -R).
one_run() {
	local name=$1 side=$2 addr=$3 port=$4 reverse=${5:-} srv cli
	srv=$(on_side "$side") cli=$(on_side "$(other_side "$side")")
	$srv timeout 60 iperf3 -s -1 -B "$addr" -p "$port" -J \
		>"$TN_TMP/$port.server.json" 2>"$TN_TMP/$port.server.err" &
	local spid=$!
	wait_listen "$side" "$addr" "$port"
	$cli timeout 60 iperf3 -c "$addr" -p "$port" -n "$IPERF_BYTES" -J $reverse \
		>"$TN_TMP/$port.client.json" ||
		fail "$name: iperf3 -c failed: $(tail -c 400 "$TN_TMP/$port.client.json")"
	wait "$spid" || fail "$name: iperf3 -s failed: $(tail -c 400 "$TN_TMP/$port.server.json")" \
		"$(tail -5 "$TN_TMP/$port.server.err")"
	# the client's JSON has both ends' sums, the server's its own
	"$PYTHON" -c '
import json, sys
client, server, n, reverse, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "-R", sys.argv[5]
c = json.load(open(client))["end"]
s = json.load(open(server))["end"]
sent = {"client JSON": c["sum_sent"]["bytes"]}  # with -R, what the server sent
received = {"client JSON": c["sum_received"]["bytes"]}
if reverse:
    sent["server JSON"] = s["sum_sent"]["bytes"]
else:
    received["server JSON"] = s["sum_received"]["bytes"]
snt = sent["client JSON"]
block = 128 * 1024  # the TCP block of iperf3
if any(v != snt for v in sent.values()) or not n <= snt <= n + block:
    sys.exit("sent %s, expected %d" % (sent, n))
r = received["client JSON"]
if any(v != r for v in received.values()) or not 0 < r <= snt:
    sys.exit("received %s of %d" % (received, snt))
print("%s: %d bytes sent, %d received before the end of the test, %.2f Gbit/s"
      % (name, snt, r, c["sum_received"]["bits_per_second"] / 1e9))
' "$TN_TMP/$port.client.json" "$TN_TMP/$port.server.json" "$IPERF_BYTES" "$reverse" "$name" ||
		fail "$name: byte counts"
}

one_run "kernel -> tapnet iperf3 -s" tapnet "$TAPNET_ADDR" 5201
one_run "tapnet iperf3 -s -> kernel (-R)" tapnet "$TAPNET_ADDR" 5202 -R
one_run "tapnet iperf3 -c -> kernel" kernel "$HOST_ADDR" 5203
one_run "kernel -> tapnet iperf3 -c (-R)" kernel "$HOST_ADDR" 5204 -R

make_file "$TN_TMP/data" "$IPERF_MB"

delivered=$(counter SockPairDeliveries)
pair_octets=$(counter SockPairOutOctets) straight_octets=$(counter SockPairDeliveredOctets)
nc_copy "kernel nc -> tapnet nc -l" tapnet "$TAPNET_ADDR" 5205
# the kernel's 64 KB frames went past empty rings straight to the pair, some of them
[ "$(counter SockPairDeliveries)" -gt "$delivered" ] ||
	fail "no peer segment went straight to a pair (SockPairDeliveries $(counter SockPairDeliveries))"
# every byte nc read went through its pair (SockPairOutOctets), part of
# them straight from the frame (SockPairDeliveredOctets)
pair_octets=$(($(counter SockPairOutOctets) - pair_octets))
straight_octets=$(($(counter SockPairDeliveredOctets) - straight_octets))
[ "$pair_octets" -eq "$IPERF_BYTES" ] ||
	fail "SockPairOutOctets grew by $pair_octets for the $IPERF_BYTES bytes nc received"
[ "$straight_octets" -gt 0 ] && [ "$straight_octets" -le "$pair_octets" ] ||
	fail "SockPairDeliveredOctets grew by $straight_octets of $pair_octets"
log "into nc: $pair_octets bytes through the pair, $straight_octets straight from the frame"
nc_copy "tapnet nc -> kernel nc -l" kernel "$HOST_ADDR" 5206
wait_no_conns 'ESTAB|LISTEN|SYN|CLOSE-WAIT'

# 3. The runs above busy polled ([interface] busy_poll, on by default with
#    two CPUs or more); the same without (busy_poll = 0): the loop that
#    sleeps in every pass carries the data as the polling one does, and
#    SIGTERM (restart_tapnetd) stops either with status 0.
# (off with one CPU in the affinity or a cgroup CPU quota below two, which the log says)
grep "busy_poll off" "$DAEMON_LOG" | grep -q "no cgroup CPU quota" && [ "$(nproc)" -ge 2 ] &&
	fail "busy polling was turned off with $(nproc) CPUs and no quota: $(grep "busy_poll off" "$DAEMON_LOG")"
LOG_LEVEL=info restart_tapnetd "[interface]" "busy_poll = 0"
one_run "kernel -> tapnet iperf3 -s, no busy polling" tapnet "$TAPNET_ADDR" 5207
one_run "tapnet iperf3 -s -> kernel (-R), no busy polling" tapnet "$TAPNET_ADDR" 5208 -R
nc_copy "kernel nc -> tapnet nc -l, no busy polling" tapnet "$TAPNET_ADDR" 5209
nc_copy "tapnet nc -> kernel nc -l, no busy polling" kernel "$HOST_ADDR" 5210
wait_no_conns 'ESTAB|LISTEN|SYN|CLOSE-WAIT'

# 4. iperf3 -C (TCP_CONGESTION) under tapnet run: the sender's algorithm is
#    the one asked for, as iperf3 reads it back; one tapnet has not fails.
for cc in reno cubic; do
	ns_exec timeout 60 iperf3 -s -1 -B "$HOST_ADDR" -p 5211 >/dev/null 2>&1 &
	spid=$!
	wait_listen kernel "$HOST_ADDR" 5211
	tn_run timeout 60 iperf3 -c "$HOST_ADDR" -p 5211 -n 1M -C "$cc" -J >"$TN_TMP/cc.json" ||
		fail "iperf3 -C $cc: $(tail -c 400 "$TN_TMP/cc.json")"
	wait "$spid"
	got=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["end"]["sender_tcp_congestion"])' \
		"$TN_TMP/cc.json") || fail "iperf3 -C $cc: no sender_tcp_congestion"
	[ "$got" = "$cc" ] || fail "iperf3 -C $cc: the sender used $got"
	log "iperf3 -C $cc: the sender's algorithm is $got"
done
out=$(tn_run "$PYTHON" -c '
import errno, socket
s = socket.socket()
try:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, b"no-such-cc")
    print("accepted")
except OSError as e:
    print(errno.errorcode[e.errno])' 2>&1)
[ "$out" = ENOENT ] || fail "TCP_CONGESTION of an unknown algorithm: $out, expected ENOENT"
log "TCP_CONGESTION of an unknown algorithm: $out"

# 5. Both ways at once (with busy polling again, the default).
LOG_LEVEL=info restart_tapnetd
probes=$(counter TcpExtTCPLossProbes) repaired=$(counter TcpExtTCPLossProbeRecovery)
recoveries=$(counter TcpExtTCPSackRecovery) dsacks=$(counter TcpExtTCPDSACKRecv)
kernel_dsacks=$(kernel_counter TcpExtTCPDSACKOldSent)
tn_run timeout 60 iperf3 -s -1 -p 5212 >/dev/null 2>&1 &
spid=$!
wait_listen tapnet 0.0.0.0 5212
ns_exec timeout 60 iperf3 -c "$TAPNET_ADDR" -p 5212 -t 3 --bidir -J >"$TN_TMP/bidir.json" ||
	fail "iperf3 --bidir: $(tail -c 400 "$TN_TMP/bidir.json")"
wait "$spid"
rates=$("$PYTHON" -c '
import json, sys
e = json.load(open(sys.argv[1]))["end"]
print("kernel -> tapnet %.2f Gbit/s, tapnet -> kernel %.2f Gbit/s" % (
    e["sum_received"]["bits_per_second"] / 1e9, e["sum_received_bidir_reverse"]["bits_per_second"] / 1e9))
' "$TN_TMP/bidir.json") || fail "iperf3 --bidir: no sums in its JSON"
probes=$(($(counter TcpExtTCPLossProbes) - probes)) dsacks=$(($(counter TcpExtTCPDSACKRecv) - dsacks))
repaired=$(($(counter TcpExtTCPLossProbeRecovery) - repaired))
kernel_dsacks=$(($(kernel_counter TcpExtTCPDSACKOldSent) - kernel_dsacks))
log "iperf3 --bidir: $rates; $probes loss probes, $dsacks D-SACKs back ($kernel_dsacks owed by the kernel)," \
	"$repaired counted as repairs"
[ "$repaired" -le $((probes - dsacks)) ] ||
	fail "iperf3 --bidir lost nothing, yet $repaired probes counted as repairs" \
		"(TcpExtTCPLossProbeRecovery), more than the $((probes - dsacks)) of $probes without a D-SACK back"
[ "$(counter TcpExtTCPSackRecovery)" -eq "$recoveries" ] ||
	fail "iperf3 --bidir lost nothing, yet tapnet entered recovery" \
		"$(($(counter TcpExtTCPSackRecovery) - recoveries)) times"
exit 0
