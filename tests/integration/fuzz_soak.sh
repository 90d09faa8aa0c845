#!/bin/bash
# fuzz_soak.sh - a million malformed and random frames (fuzz_frames.py: every
# layer done wrong, fragments, virtio-net headers) through tap0 at a
# tapnetd running the built-in services. Afterwards tapnetd is alive, has
# read every frame, its resident memory grew by less than RSS_GROWTH_MAX
# (what its bounds allow: reassembly 4 MiB, ARP queues 1 MiB, ...), and ping
# and a 1 MB echo (sha256) still work. FUZZ_FRAMES overrides the count.
. "$TOP_SRCDIR/tests/integration/lib.sh"

COUNT=${FUZZ_FRAMES:-1000000}
SEED=${FUZZ_SEED:-$RANDOM}
RSS_GROWTH_MAX=$((48 * 1024)) # KiB
# ASan's quarantine of freed memory would count as growth: keep it small.
TAPNETD_ENV=("ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8")

rss_kib() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$DAEMON_PID/status"; }

start_tapnetd "${SERVICES_CONFIG[@]}"
ns_exec ping -n -c 1 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping before the frames failed"
mac=$(ns_exec ip neigh show dev "$IFACE" "$TAPNET_ADDR" | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
[ -n "$mac" ] || fail "the kernel has no MAC for $TAPNET_ADDR"
tcp_client echo "$TAPNET_ADDR" 7 1000000 || fail "echo before the frames"

rss0=$(rss_kib)
frames0=$(counter TapInFrames)
log "sending $COUNT frames, seed $SEED (FUZZ_SEED=$SEED repeats them); tapnetd RSS ${rss0} KiB"
ns_exec timeout -k 5 240 "$PYTHON" "$TOP_SRCDIR/tests/integration/fuzz_frames.py" --iface "$IFACE" \
	--mac "$mac" --count "$COUNT" --seed "$SEED" --avoid-syn 7,9,13,19 ||
	fail "fuzz_frames.py failed (seed $SEED)"

kill -0 "$DAEMON_PID" 2>/dev/null || fail "tapnetd died under the frames (seed $SEED)"
read_frames=$(($(counter TapInFrames) - frames0))
[ "$read_frames" -ge "$COUNT" ] || fail "tapnetd read $read_frames frames, fewer than the $COUNT sent"
rss1=$(rss_kib)
log "tapnetd read $read_frames frames; RSS ${rss0} -> ${rss1} KiB"
[ $((rss1 - rss0)) -lt "$RSS_GROWTH_MAX" ] ||
	fail "tapnetd's RSS grew by $((rss1 - rss0)) KiB, more than $RSS_GROWTH_MAX KiB (seed $SEED)"

# Every layer saw its share of broken input, and dropped and counted it.
for c in EthInNotForUs EthInUnknownType ArpInErrors IpInHdrErrors IpInAddrErrors IpReasmFails \
	IcmpInErrors TcpInErrs TcpInCsumErrors TapInGsoFrames; do
	v=$(counter "$c")
	[ "$v" -gt 0 ] || fail "$c is 0 after $COUNT broken frames"
	printf '%s=%s ' "$c" "$v"
done
echo

out=$(ns_exec ping -n -c 3 -i 0.2 -w 10 "$TAPNET_ADDR") || fail "ping after the frames failed: $out; tapnet arp: $(tapnet_cli arp)"
ns_exec ping -n -c 1 -s 20000 -w 10 "$TAPNET_ADDR" >/dev/null || fail "fragmented ping after the frames failed"
tcp_client echo "$TAPNET_ADDR" 7 1000000 || fail "echo after the frames (seed $SEED)"
log "ping, a fragmented ping and a 1 MB echo work after the frames"
exit 0
