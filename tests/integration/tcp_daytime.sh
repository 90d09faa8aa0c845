#!/bin/bash
# tcp_daytime.sh - the built-in daytime service (RFC 867): one line, then
# tapnet closes first (its FIN before the client's), so the kernel, the
# passive closer, is left with no TIME-WAIT for the connection, and tapnet
# has it (tapnet ss -a).
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd ss

start_tapnetd "${SERVICES_CONFIG[@]}"
out=$(tcp_client daytime "$TAPNET_ADDR" 13) || fail "daytime"
printf '%s\n' "$out"
port=$(printf '%s\n' "$out" | sed -n 's/.*(client port \([0-9]*\))$/\1/p')
[ -n "$port" ] || fail "no client port in '$out'"
# The client's FIN (after tapnet's) and tapnet's ACK of it cross tap0 in well under the bound.
for ((i = 0; i < 50; i++)); do
	ns_exec ss -Htan "dport = :13" >"$TN_TMP/kernel-ss.txt"
	[ -s "$TN_TMP/kernel-ss.txt" ] || break
	sleep 0.1
done
[ -s "$TN_TMP/kernel-ss.txt" ] && fail "the kernel still has the daytime connection: $(cat "$TN_TMP/kernel-ss.txt")"
[ "$(counter SvcOutOctets)" -gt 0 ] || fail "daytime sent nothing, by the counters"
# tapnet, the active closer, holds the TIME-WAIT: `tapnet ss -a` shows it, plain `ss` does not.
tapnet_cli ss -a >"$TN_TMP/ss-a.txt" || fail "tapnet ss -a failed"
grep -Eq "^TIME-WAIT +0 +0 +10\.0\.0\.2:13 +10\.0\.0\.1:$port\$" "$TN_TMP/ss-a.txt" ||
	fail "tapnet ss -a shows no TIME-WAIT for 10.0.0.1:$port: $(cat "$TN_TMP/ss-a.txt")"
tapnet_cli ss | grep -q TIME-WAIT && fail "tapnet ss without -a shows TIME-WAIT"
log "daytime: the kernel's side is gone without a TIME-WAIT: tapnet closed first"
exit 0
