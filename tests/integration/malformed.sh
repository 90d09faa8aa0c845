#!/bin/bash
# malformed.sh - a burst of broken and hostile frames from scapy (malformed.py):
# each is dropped and counted; ICMP protocol unreachable answers UDP and
# unknown protocols within the rate limit; and ping still works afterwards.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_python_module scapy

BURST=4
start_tapnetd "[ipv4]" "reasm_timeout = 1s" "reasm_max_datagrams = 64" \
	"[icmp]" "ratelimit = 1m" "ratelimit_burst = $BURST"

# The kernel resolves tapnet's MAC, and tapnet the kernel side's.
ns_exec ping -n -c 1 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping before the burst failed"
mac=$(ns_exec ip neigh show dev "$IFACE" "$TAPNET_ADDR" | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
[ -n "$mac" ] || fail "the kernel has no MAC for $TAPNET_ADDR"

ns_exec timeout 180 "$PYTHON" "$TOP_SRCDIR/tests/integration/malformed.py" \
	--iface "$IFACE" --mac "$mac" --tapnet "$TAPNET" --socket "$SOCK" --burst "$BURST" ||
	fail "malformed.py found problems (above)"

out=$(ns_exec ping -n -c 3 -i 0.2 -w 10 "$TAPNET_ADDR") || fail "ping after the burst failed: $out"
log "ping after the burst: $(printf '%s\n' "$out" | grep 'packets transmitted')"
ns_exec ping -n -c 2 -s 20000 -w 10 "$TAPNET_ADDR" >/dev/null || fail "fragmented ping after the burst failed"
tapnet_cli stats
exit 0
