#!/bin/bash
# write_thread.sh - tapnetd's write thread ([interface] write_thread, on by
# default) writes the runs of frames of a transfer, in order, and leaves a
# lone frame to the loop. Without offloads (every segment a frame of its
# own, every ACK a write):
#   - 32 MiB each way with nc, tapnet receiving and sending: sha256 exact;
#     TapOutThreadBatches grows in each direction; tapnet's sending is
#     received in order: the kernel's receiver queued nothing out of order
#     (TcpExtTCPOFOQueue) and tapnet began no SACK recovery (at no loss,
#     frames the thread reordered would show as both);
#   - 20 pings one at a time are answered, and the thread writes none of
#     them (TapOutThreadBatches does not move);
#   - with write_thread = no the same copies are exact and the thread never
#     writes (TapOutThreadBatches 0, no thread named tapnetd-write).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd nc timeout nstat

writer_threads() { grep -lx tapnetd-write /proc/"$DAEMON_PID"/task/*/comm 2>/dev/null | wc -l; }

make_file "$TN_TMP/data" 32
OFFLOAD=no LOG_LEVEL=info start_tapnetd
grep -q "runs of frames written by a thread of their own" "$DAEMON_LOG" ||
	fail "tapnetd did not start its write thread: $(cat "$DAEMON_LOG")"
[ "$(writer_threads)" = 1 ] || fail "no thread named tapnetd-write in tapnetd"

batches=$(counter TapOutThreadBatches)
nc_copy "kernel nc -> tapnet nc -l" tapnet "$TAPNET_ADDR" 5301
received=$(($(counter TapOutThreadBatches) - batches))
[ "$received" -gt 0 ] || fail "receiving 32 MiB, the write thread wrote no batch (its ACKs)"

# sent_in_order NAME PORT: nc_copy from tapnet to the kernel; the kernel's
# receiver queued no segment out of order and tapnet started no recovery
sent_in_order() {
	local ofo recoveries
	ofo=$(kernel_counter TcpExtTCPOFOQueue) recoveries=$(counter TcpExtTCPSackRecovery)
	nc_copy "$1" kernel "$HOST_ADDR" "$2"
	ofo=$(($(kernel_counter TcpExtTCPOFOQueue) - ofo))
	recoveries=$(($(counter TcpExtTCPSackRecovery) - recoveries))
	[ "$ofo" -eq 0 ] && [ "$recoveries" -eq 0 ] ||
		fail "$1: out of order: the kernel queued $ofo segments out of order, tapnet began $recoveries SACK recoveries"
	log "$1: in order (retransmissions $(counter TcpRetransSegs), probes $(counter TcpExtTCPLossProbes), timeouts $(counter TcpExtTCPTimeouts) since start)"
}

batches=$(counter TapOutThreadBatches)
sent_in_order "tapnet nc -> kernel nc -l" 5302
sent=$(($(counter TapOutThreadBatches) - batches))
[ "$sent" -gt 0 ] || fail "sending 32 MiB, the write thread wrote no batch"
log "the write thread wrote $received batches receiving and $sent sending"

batches=$(counter TapOutThreadBatches)
ns_exec ping -c 20 -i 0.05 -W 1 -q "$TAPNET_ADDR" >"$TN_TMP/ping.out" ||
	fail "ping: $(cat "$TN_TMP/ping.out")"
[ "$(counter TapOutThreadBatches)" = "$batches" ] ||
	fail "the write thread wrote $(($(counter TapOutThreadBatches) - batches)) batches for 20 lone pings"
log "20 pings answered by the loop itself: $(grep -o '[0-9]* received' "$TN_TMP/ping.out")"

OFFLOAD=no restart_tapnetd "[interface]" "write_thread = no"
nc_copy "write_thread = no: kernel nc -> tapnet nc -l" tapnet "$TAPNET_ADDR" 5303
sent_in_order "write_thread = no: tapnet nc -> kernel nc -l" 5304
[ "$(counter TapOutThreadBatches)" = 0 ] || fail "write_thread = no, yet TapOutThreadBatches $(counter TapOutThreadBatches)"
[ "$(writer_threads)" = 0 ] || fail "write_thread = no, yet a tapnetd-write thread"
log "write_thread = no: no thread, both copies exact"
exit 0
