#!/bin/bash
# tcp_chargen.sh - the built-in chargen service (RFC 864): with chargen_bytes
# set, exactly that many bytes of the pattern and then tapnet's FIN; with
# no limit, 20 MB of the pattern until the client closes, after which
# tapnet lets the connection go (nothing left in `tapnet ss -a`).
. "$TOP_SRCDIR/tests/integration/lib.sh"

LIMIT=1000003 # not a whole number of 74-byte lines

start_tapnetd "${SERVICES_CONFIG[@]}" "chargen_bytes = $LIMIT"
tcp_client chargen "$TAPNET_ADDR" 19 --expect-total "$LIMIT" || fail "chargen with chargen_bytes"
tcp_client chargen "$TAPNET_ADDR" 19 --bytes 1000 || fail "1000 bytes of chargen"

restart_tapnetd "${SERVICES_CONFIG[@]}"
tcp_client chargen "$TAPNET_ADDR" 19 --bytes $((20 * 1024 * 1024)) || fail "20 MB of endless chargen"
# The client closed with data unread: its RST ends tapnet's side too.
for ((i = 0; i < 100; i++)); do
	tapnet_cli ss -a >"$TN_TMP/ss.txt" || fail "tapnet ss -a failed"
	grep -q '10\.0\.0\.2:19 ' "$TN_TMP/ss.txt" || break
	sleep 0.1
done
grep '10\.0\.0\.2:19 ' "$TN_TMP/ss.txt" && fail "the chargen connection is still there after the client closed"
[ "$(counter SvcOutOctets)" -ge $((20 * 1024 * 1024)) ] || fail "SvcOutOctets is $(counter SvcOutOctets)"
log "chargen: the endless stream ended with the client"
exit 0
