#!/bin/bash
# timewait_raw.sh - raw segments from scapy (timewait.py raw) at connections
# tapnet's daytime service left in TIME-WAIT: the lost last ACK, RST in
# TIME-WAIT with rfc1337 off and on, SYN reuse (RFC 6191) with and without
# timestamps, an old SYN, out-of-window data and PAWS; tapnet's answers are
# checked on the wire and its entries through `tapnet timewait -j`.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_python_module scapy

TW=$TOP_SRCDIR/tests/integration/timewait.py

# raw_cases CASE...: the cases against the running tapnetd.
raw_cases() {
	local mac
	ns_exec ping -n -c 1 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping failed"
	mac=$(ns_exec ip neigh show dev "$IFACE" "$TAPNET_ADDR" |
		awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
	[ -n "$mac" ] || fail "the kernel has no MAC for $TAPNET_ADDR"
	ns_exec timeout -k 10 300 "$PYTHON" "$TW" raw --iface "$IFACE" --mac "$mac" --port 13 \
		--cli "$TAPNET -s $SOCK" "$@" || fail "timewait.py raw found problems (above)"
}

start_tapnetd "[services]" "daytime = 13"
raw_cases lost-last-ack rst syn-reuse-ts syn-reuse old-syn oow paws
expect_counter_above TcpExtTWKilled 0
expect_counter_above TcpExtTWRecycled 1
stop_tapnetd

start_tapnetd "[services]" "daytime = 13" "[tcp]" "rfc1337 = yes"
raw_cases rst-1337
[ "$(counter TcpExtTWKilled)" -eq 0 ] || fail "an entry was killed by RST with rfc1337 = yes"
exit 0
