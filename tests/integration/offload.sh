#!/bin/bash
# offload.sh - the tap's offloads ([interface] offload): with them, the
# kernel hands tapnet TCP segments of up to 64 KiB with checksums left to
# trust (TapInGsoFrames), tapnet hands the kernel runs of segments as one
# frame with the checksum left to complete (TapOutGsoFrames), and every
# byte arrives intact both ways (echo checks sha256, chargen the pattern);
# TcpInSegs and TcpOutSegs count the segments the runs stand for, as Linux
# does. Without them, the same transfers go as plain frames of at most the
# MTU, and no frame is a GSO one; those go to the tap and come from it in
# batches (TapOutBatches, TapInBatches: io_uring, where the kernel has it,
# as the log says), and the same bytes arrive with batch_writes = no and
# batch_reads = no (no batch either way).
. "$TOP_SRCDIR/tests/integration/lib.sh"

MB20=$((20 * 1024 * 1024))

transfers() {
	tcp_client discard "$TAPNET_ADDR" 9 "$MB20" || fail "20 MB into discard (offload $1)"
	tcp_client chargen "$TAPNET_ADDR" 19 --expect-total "$MB20" || fail "20 MB of chargen (offload $1)"
	tcp_client echo "$TAPNET_ADDR" 7 "$MB20" || fail "20 MB through echo (offload $1)"
	# at most 1448 bytes of payload per segment with timestamps (MTU 1500)
	local min=$((2 * MB20 / 1448))
	[ "$(counter TcpInSegs)" -ge "$min" ] || fail "TcpInSegs is $(counter TcpInSegs), fewer than $min"
	[ "$(counter TcpOutSegs)" -ge "$min" ] || fail "TcpOutSegs is $(counter TcpOutSegs), fewer than $min"
	[ "$(counter TcpInCsumErrors)" -eq 0 ] || fail "TcpInCsumErrors is $(counter TcpInCsumErrors)"
}

OFFLOAD=yes start_tapnetd "${SERVICES_CONFIG[@]}" "chargen_bytes = $MB20"
transfers yes
for c in TapInGsoFrames TapOutGsoFrames; do
	[ "$(counter $c)" -gt 0 ] || fail "offload yes: $c is 0"
done
[ "$(counter TapInBadHeaders)" -eq 0 ] || fail "TapInBadHeaders is $(counter TapInBadHeaders)"
log "offload yes: $(counter TapInFrames) frames in ($(counter TapInGsoFrames) GSO) for" \
	"$(counter TcpInSegs) segments; $(counter TapOutFrames) out ($(counter TapOutGsoFrames) GSO)" \
	"for $(counter TcpOutSegs)"

OFFLOAD=no restart_tapnetd "${SERVICES_CONFIG[@]}" "chargen_bytes = $MB20"
transfers no
for c in TapInGsoFrames TapOutGsoFrames; do
	[ "$(counter $c)" -eq 0 ] || fail "offload no: $c is $(counter $c)"
done
[ "$(counter TapInFrames)" -ge $((MB20 / 1448)) ] || fail "offload no: only $(counter TapInFrames) frames in"
# plain frames go to the tap and come from it in batches (io_uring) where
# the kernel has it; the log says which, and the counters must agree
out_batches=$(counter TapOutBatches) in_batches=$(counter TapInBatches)
if grep -q "frames read and written in batches" "$TN_TMP/tapnetd.log"; then
	[ "$out_batches" -gt 0 ] || fail "offload no: batched writes on, but TapOutBatches is 0"
	[ "$in_batches" -gt 0 ] || fail "offload no: batched reads on, but TapInBatches is 0"
elif grep -q "frames written in batches" "$TN_TMP/tapnetd.log"; then
	[ "$out_batches" -gt 0 ] || fail "offload no: batched writes on, but TapOutBatches is 0"
	grep -q "batched tap reads not offered here" "$TN_TMP/tapnetd.log" ||
		fail "reads not batched, and the log does not say why"
	[ "$in_batches" -eq 0 ] || fail "reads not batched, but TapInBatches is $in_batches"
else
	grep -q "frames read and written one at a time (io_uring: " "$TN_TMP/tapnetd.log" ||
		fail "the log says neither how frames are read and written nor why not"
fi
log "offload no: $(counter TapInFrames) frames in (read in $in_batches batches)," \
	"$(counter TapOutFrames) out in $out_batches batches, all plain"

# and one read and one write per frame: the same bytes, no batch
OFFLOAD=no restart_tapnetd "${SERVICES_CONFIG[@]}" "chargen_bytes = $MB20" "[interface]" \
	"batch_writes = no" "batch_reads = no"
transfers "no, batch_writes and batch_reads no"
for c in TapOutBatches TapInBatches; do
	[ "$(counter $c)" -eq 0 ] || fail "batch_writes and batch_reads no: $c is $(counter $c)"
done
log "offload no, no batches: $(counter TapInFrames) frames in, $(counter TapOutFrames) out, one" \
	"system call each"
exit 0
