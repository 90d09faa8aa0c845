#!/bin/bash
# tcp_conformance.sh - raw segments from scapy (tcp_conformance.py) at the
# echo service: handshake options, RST for a closed port, RST and SYN
# handling per RFC 5961, out-of-window data, retransmission of data we never
# acknowledge. Every segment is checked as the wire carries it, checksum
# included, so the tap's offloads (checksums completed by the kernel,
# segments of 64 KiB) are off here; offload.sh tests them.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_python_module scapy

OFFLOAD=no start_tapnetd "[services]" "echo = 7"

ns_exec ping -n -c 1 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping failed"
mac=$(ns_exec ip neigh show dev "$IFACE" "$TAPNET_ADDR" | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
[ -n "$mac" ] || fail "the kernel has no MAC for $TAPNET_ADDR"

ns_exec timeout 180 "$PYTHON" "$TOP_SRCDIR/tests/integration/tcp_conformance.py" \
	--iface "$IFACE" --mac "$mac" --port 7 || fail "tcp_conformance.py found problems (above)"
expect_counter_above TcpExtTCPChallengeACK 0
exit 0
