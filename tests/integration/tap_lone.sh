#!/bin/bash
# tap_lone.sh - a frame that comes alone (a ping) is answered before the
# read that finds the tap's queue empty: the answer does not wait for a
# system call that can only say "nothing more" (tapdev_lone_frame in
# loop.c). tap_order.so, preloaded into tapnetd, logs its tap reads and
# writes in order; each echo request read (108 bytes with the virtio-net
# header) must be followed by its reply's write, not by another read.
# Then a stream of frames through the same daemon: still answered in full.
. "$TOP_SRCDIR/tests/integration/lib.sh"

PRELOAD=$TOP_BUILDDIR/tests/integration/.libs/tap_order.so
[ -r "$PRELOAD" ] || fail "$PRELOAD is not built (make check builds it)"
ORDER=$TN_TMP/order
TAPNETD_ENV=(LD_PRELOAD="$PRELOAD" TAP_ORDER_LOG="$ORDER")
start_tapnetd "${SERVICES_CONFIG[@]}"
ns_exec ping -n -c 2 -i 0.2 -W 2 "$TAPNET_ADDR" >/dev/null || fail "no answer to ping"
[ -s "$ORDER" ] || fail "tap_order.so logged nothing: not preloaded?"
: >"$ORDER"
ns_exec ping -n -c 10 -i 0.2 -W 2 "$TAPNET_ADDR" >/dev/null || fail "no answer to ping"
# the line after each "R 108": the reply's "W 108", never a read first
after=$(awk 'prev == "R 108" { print } { prev = $0 }' "$ORDER")
requests=$(grep -c '^R 108$' "$ORDER")
answered=$(printf '%s\n' "$after" | grep -c '^W 108$')
[ "$requests" -ge 10 ] || fail "only $requests echo requests read (of 10 sent): $(tr '\n' ' ' <"$ORDER")"
[ "$answered" = "$requests" ] ||
	fail "$answered of $requests echo requests answered before the next read: $(tr '\n' ' ' <"$ORDER")"
log "$requests echo requests, each answered before the read that found the queue empty"

# a run of frames: batches as before, every byte there
MB=$((8 * 1024 * 1024))
tcp_client echo "$TAPNET_ADDR" 7 "$MB" || fail "8 MB through echo"
[ "$(counter TapInBatches)" -gt 0 ] || fail "no batched tap reads during 8 MB through echo"
log "8 MB through echo afterwards, $(counter TapInBatches) batches of reads"
exit 0
