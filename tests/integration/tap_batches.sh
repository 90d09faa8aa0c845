#!/bin/bash
# tap_batches.sh - batched tap reads and writes (io_uring) when io_uring
# stops working mid-run: io_uring_enter fails from its 40th call on
# (uring_fail.so, preloaded into tapnetd). tapnetd says so once, goes on
# with a system call per frame, and every byte arrives both ways; first
# with only the writes batched, then only the reads. Without offloads, so
# that frames are small and many.
. "$TOP_SRCDIR/tests/integration/lib.sh"

PRELOAD=$TOP_BUILDDIR/tests/integration/.libs/uring_fail.so
[ -r "$PRELOAD" ] || fail "$PRELOAD is not built (make check builds it)"
MB20=$((20 * 1024 * 1024))
FAIL_AFTER=40

transfers() {
	tcp_client discard "$TAPNET_ADDR" 9 "$MB20" || fail "20 MB into discard ($1)"
	tcp_client chargen "$TAPNET_ADDR" 19 --expect-total "$MB20" || fail "20 MB of chargen ($1)"
	tcp_client echo "$TAPNET_ADDR" 7 "$MB20" || fail "20 MB through echo ($1)"
}

TAPNETD_ENV=(LD_PRELOAD="$PRELOAD" URING_FAIL_AFTER=$FAIL_AFTER)
start=start_tapnetd
for kind in writes reads; do
	case $kind in
	writes) other=reads counter=TapOutBatches said="frames written in batches" ;;
	reads) other=writes counter=TapInBatches said="frames read in batches" ;;
	esac
	OFFLOAD=no $start "${SERVICES_CONFIG[@]}" "chargen_bytes = $MB20" \
		"[interface]" "batch_$kind = yes" "batch_$other = no"
	start=restart_tapnetd
	if grep -q "one at a time (io_uring: " "$TN_TMP/tapnetd.log"; then
		log "this kernel offers tapnetd no batched tap $kind: nothing to test:" \
			"$(grep "one at a time" "$TN_TMP/tapnetd.log")"
		exit 77
	fi
	grep -q "$said" "$TN_TMP/tapnetd.log" || fail "batch_$kind = yes, but the log does not say \"$said\""
	transfers "$kind batched, then not"
	failed=$(grep -c "a batch of $kind failed (io_uring_enter: Input/output error); one system call per frame from now on" "$TN_TMP/tapnetd.log")
	[ "$failed" -eq 1 ] || fail "the failed batch of $kind is logged $failed times, not once"
	batches=$(counter $counter)
	[ "$batches" -gt 0 ] && [ "$batches" -lt $FAIL_AFTER ] ||
		fail "$counter is $batches: not between 1 and $((FAIL_AFTER - 1))"
	[ "$(counter TcpInCsumErrors)" -eq 0 ] || fail "TcpInCsumErrors is $(counter TcpInCsumErrors)"
	log "$kind: $batches batches, then io_uring_enter failed and each frame went alone:" \
		"$(counter TapInFrames) frames in, $(counter TapOutFrames) out, every byte there"
done
exit 0
