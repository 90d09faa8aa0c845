#!/bin/bash
# tcp_daytime.sh - the built-in daytime service (RFC 867): one line, then
# tapnet closes first (its FIN before the client's), so the kernel, the
# passive closer, is left with no TIME-WAIT for the connection.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd ss

start_tapnetd "${SERVICES_CONFIG[@]}"
tcp_client daytime "$TAPNET_ADDR" 13 || fail "daytime"
# The client's FIN (after tapnet's) and tapnet's ACK of it cross tap0 in well under the bound.
for ((i = 0; i < 50; i++)); do
	ns_exec ss -Htan "dport = :13" >"$TN_TMP/kernel-ss.txt"
	[ -s "$TN_TMP/kernel-ss.txt" ] || break
	sleep 0.1
done
[ -s "$TN_TMP/kernel-ss.txt" ] && fail "the kernel still has the daytime connection: $(cat "$TN_TMP/kernel-ss.txt")"
[ "$(counter SvcOutOctets)" -gt 0 ] || fail "daytime sent nothing, by the counters"
log "daytime: the kernel's side is gone without a TIME-WAIT: tapnet closed first"
exit 0
