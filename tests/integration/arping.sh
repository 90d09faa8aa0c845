#!/bin/bash
# arping.sh - tapnet answers ARP requests for its address, and its neighbour
# cache (`tapnet arp`) holds the kernel side of tap0 once they have talked.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd arping

start_tapnetd
before=$(counter ArpInRequests)

out=$(ns_exec arping -c 3 -w 10 -I "$IFACE" "$TAPNET_ADDR" 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" -eq 0 ] || fail "arping exited with status $rc"
printf '%s\n' "$out" | grep -qE '^Received 3 response' || fail "arping did not get 3 replies"
mac=$(ns_exec cat "/sys/class/net/$IFACE/address") || fail "cannot read the MAC of $IFACE"
expect_counter_above ArpInRequests "$before"

# tapnet learns the kernel side's address when it answers it.
ns_exec ping -n -c 1 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping after arping failed"
arp=$(tapnet_cli arp) || fail "tapnet arp failed"
printf 'tapnet arp:\n%s\n' "$arp"
printf '%s\n' "$arp" | grep -qE "^$HOST_ADDR lladdr $mac " ||
	fail "tapnet arp does not list $HOST_ADDR with lladdr $mac"

# And the kernel's own cache has tapnet's MAC for 10.0.0.2.
ns_exec ip neigh show dev "$IFACE" "$TAPNET_ADDR" | grep -q lladdr ||
	fail "the kernel has no neighbour entry for $TAPNET_ADDR"
exit 0
