#!/bin/bash
# fault.sh - [debug] fault injection on tap0 with real kernel peers: with 1 %
# and 5 % of the frames dropped both ways, then with frames corrupted,
# duplicated, reordered and delayed both ways, every byte still goes through
# the built-in echo (sha256 of 2 MB), discard and chargen services, and the
# Fault* counters show that each fault happened. No timing is judged.
. "$TOP_SRCDIR/tests/integration/lib.sh"

BYTES=$((2 * 1024 * 1024))

# stuck WHAT: fails, with both sides' view of the connections for the log.
stuck() {
	log "tapnet ss -ia:"
	tapnet_cli ss -ia
	log "the kernel's ss -tnoi:"
	ns_exec ss -tnoi
	tapnet_cli stats
	fail "$1"
}

# transfers LABEL: echo (sha256), discard (every byte counted), chargen (the pattern).
transfers() {
	local in0
	grep -q 'FAULT INJECTION ON' "$DAEMON_LOG" || fail "$1: no FAULT INJECTION warning in the log"
	tcp_client echo "$TAPNET_ADDR" 7 "$BYTES" || stuck "$1: $BYTES bytes through echo"
	in0=$(counter SvcInOctets)
	tcp_client discard "$TAPNET_ADDR" 9 "$BYTES" || stuck "$1: $BYTES bytes into discard"
	[ "$(($(counter SvcInOctets) - in0))" -eq "$BYTES" ] ||
		fail "$1: discard read $(($(counter SvcInOctets) - in0)) bytes, expected $BYTES"
	tcp_client chargen "$TAPNET_ADDR" 19 --expect-total "$BYTES" || stuck "$1: chargen's $BYTES bytes"
	log "$1: echo, discard and chargen moved every byte (at ${SECONDS}s)"
}

# expect_faults LABEL COUNTER...: each counter is above 0.
expect_faults() {
	local label=$1 c v
	shift
	for c in "$@"; do
		v=$(counter "$c")
		[ "$v" -gt 0 ] || fail "$label: $c is $v: the fault never happened"
	done
	log "$label: $(for c in "$@"; do printf '%s=%s ' "$c" "$(counter "$c")"; done)"
}

services=("${SERVICES_CONFIG[@]}" "chargen_bytes = $BYTES")

# Offloads off first: a frame is a segment, so a few percent are many faults.
OFFLOAD=no
for loss in 1 5; do
	if [ "$loss" = 1 ]; then start=start_tapnetd; else start=restart_tapnetd; fi
	$start "${services[@]}" "[debug]" "fault_rx_drop = $loss" "fault_tx_drop = $loss" \
		"fault_seed = $loss"
	transfers "drop $loss %"
	expect_faults "drop $loss %" FaultRxDrops FaultTxDrops TcpRetransSegs
	[ "$(counter FaultHeld)" -eq 0 ] || fail "drop $loss %: frames held without delay or reorder"
done

every_fault() {
	local rate=$1
	shift
	restart_tapnetd "${services[@]}" "[debug]" "fault_rx_drop = 0.5" "fault_tx_drop = 0.5" \
		"fault_rx_corrupt = $rate" "fault_tx_corrupt = $rate" \
		"fault_rx_duplicate = $rate" "fault_tx_duplicate = $rate" \
		"fault_rx_reorder = $rate" "fault_tx_reorder = $rate" \
		"fault_rx_delay = $rate" "fault_tx_delay = $rate" "fault_delay = 5ms" "$@"
	transfers "every fault, offload $OFFLOAD"
	# tapnet's checksum check saw the damage done to frames in
	expect_faults "every fault, offload $OFFLOAD" FaultRxCorrupts FaultTxCorrupts \
		FaultRxDups FaultTxDups FaultRxReorders FaultTxReorders FaultRxDelays FaultTxDelays \
		TcpInCsumErrors
	# whatever is held goes within fault_delay: nothing stays
	for ((i = 0; i < 50; i++)); do
		[ "$(counter FaultHeld)" -eq 0 ] && break
		sleep 0.1
	done
	[ "$(counter FaultHeld)" -eq 0 ] || fail "every fault: $(counter FaultHeld) frames still held"
}

every_fault 2 "fault_seed = 7"
# ping through the same faults: some may be lost, not all of them
out=$(ns_exec ping -n -c 20 -i 0.05 -w 20 "$TAPNET_ADDR") || fail "ping through the faults: $out"
log "ping: $(printf '%s\n' "$out" | grep 'packets transmitted')"

# Offloads on: a GSO frame of up to 64 KiB is one frame (and one fault loses up to 45 segments).
OFFLOAD=yes
every_fault 4 "fault_seed = 8"
tapnet_cli stats | grep -E 'Timeouts|Retrans|Recovery|Fault|Gso|CsumErr'
exit 0
