#!/bin/bash
# ping.sh - tapnet answers ping: small, fragmented (8000 and 60000 bytes, so
# reassembly and output fragmentation), and a 2000-echo flood with no loss.
. "$TOP_SRCDIR/tests/integration/lib.sh"

start_tapnetd

# the kernel side's queue toward tapnet is the configured txqueuelen (default 10000)
ns_exec ip link show "$IFACE" | grep -q ' qlen 10000' || fail "tap0's txqueuelen is not 10000: $(ns_exec ip link show "$IFACE")"
# Started as root, it must now be nobody with no capability left, not even
# in its bounding set.
expect_unprivileged "$(id -u nobody)" 0

# ping_ok NAME ARGS...: runs ping in the namespace; fails unless every echo
# was answered (0% packet loss in its summary).
ping_ok() {
	local name=$1 out
	shift
	out=$(ns_exec ping -n "$@" "$TAPNET_ADDR" 2>&1)
	local rc=$?
	printf '%s\n' "$out" | tail -n 3
	[ "$rc" -eq 0 ] || fail "$name: ping exited with status $rc"
	printf '%s\n' "$out" | grep -qE '^([0-9]+) packets transmitted, \1 received, 0% packet loss' ||
		fail "$name: not every echo was answered"
	log "$name: ok"
}

ping_ok "ping -c 5" -c 5 -i 0.2 -w 20
ping_ok "ping -s 8000" -c 3 -i 0.2 -s 8000 -w 20
ping_ok "ping -s 60000" -c 3 -i 0.2 -s 60000 -w 20
ping_ok "ping -f -c 2000" -f -c 2000 -w 60

# The fragmented echoes were reassembled by tapnet and their replies fragmented.
[ "$(counter IpReasmOKs)" -ge 6 ] || fail "IpReasmOKs is $(counter IpReasmOKs), expected >= 6"
[ "$(counter IpFragCreates)" -gt 0 ] || fail "IpFragCreates is 0 after fragmented echoes"
[ "$(counter IcmpOutEchoReps)" -ge 2011 ] ||
	fail "IcmpOutEchoReps is $(counter IcmpOutEchoReps), expected >= 2011"
exit 0
