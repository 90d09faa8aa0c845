#!/bin/bash
# tcp_discard.sh - 100 MB into the built-in discard service (RFC 863): the
# client's FIN is answered with tapnet's once everything was read, and the
# daemon's counters account for every byte and at least a segment per MSS.
. "$TOP_SRCDIR/tests/integration/lib.sh"

MB100=$((100 * 1024 * 1024))

start_tapnetd "${SERVICES_CONFIG[@]}"
segs0=$(counter TcpInSegs)
octets0=$(counter TapInOctets)

tcp_client discard "$TAPNET_ADDR" 9 "$MB100" || fail "100 MB into discard"

in=$(counter SvcInOctets)
[ "$in" -eq "$MB100" ] || fail "SvcInOctets is $in, expected $MB100"
segs=$(($(counter TcpInSegs) - segs0))
# At most 1448 bytes of payload per segment with timestamps (MTU 1500).
[ "$segs" -ge $((MB100 / 1448)) ] || fail "TcpInSegs grew by $segs, fewer than $((MB100 / 1448))"
octets=$(($(counter TapInOctets) - octets0))
[ "$octets" -gt "$MB100" ] || fail "TapInOctets grew by $octets, not more than $MB100"
[ "$(counter SvcOutOctets)" -eq 0 ] || fail "discard sent $(counter SvcOutOctets) bytes"
[ "$(counter TcpCurrEstab)" -eq 0 ] || fail "TcpCurrEstab is $(counter TcpCurrEstab) after the close"
log "discard: $in bytes read in $segs segments ($octets bytes through tap0)"
exit 0
