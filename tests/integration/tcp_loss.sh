#!/bin/bash
# tcp_loss.sh - TCP through random loss, both directions: nftables in the
# test's namespace drops 1 % and then 5 % of the packets to and from
# tapnet, and a kernel-side client sends 8 MB of random data through the
# built-in echo service, which must come back exact (sha256). Once with
# offloads off, once on (then whole super-frames are lost, and 32 MB go).
# A drop in the kernel's output hook is reported to its TCP, which sends
# the segment again at once, so the loss that counts is on the input side:
# tapnet's data and ACKs. tapnet must have repaired its losses by SACK
# recovery (RFC 6675 with RACK, RFC 8985) and tail loss probes rather than
# by retransmission timeouts; `tapnet ss -j` shows the recovery state.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd nft

MB8=$((8 * 1024 * 1024))
# With offloads a dropped frame is a 64 KB run of segments: more bytes for
# as many loss events.
MB32=$((32 * 1024 * 1024))

# set_loss PERCENT: replaces the namespace's loss table (kernel output to
# tapnet, kernel input from tapnet).
set_loss() {
	ns_exec nft delete table inet loss 2>/dev/null
	ns_exec nft -f - <<-NFT || fail "cannot set up nftables loss of $1 %"
	table inet loss {
		chain o { type filter hook output priority 0; ip daddr $TAPNET_ADDR numgen random mod 100 < $1 drop; }
		chain i { type filter hook input priority 0; ip saddr $TAPNET_ADDR numgen random mod 100 < $1 drop; }
	}
	NFT
}

for offload in no yes; do
	for pct in 1 5; do
		OFFLOAD=$offload
		if [ "$offload" = no ] && [ "$pct" = 1 ]; then
			start_tapnetd "${SERVICES_CONFIG[@]}"
		else
			restart_tapnetd "${SERVICES_CONFIG[@]}"
		fi
		set_loss "$pct"
		bytes=$MB8
		[ "$offload" = yes ] && bytes=$MB32
		tcp_client echo "$TAPNET_ADDR" 7 "$bytes" || fail "$bytes bytes through echo at $pct % loss, offload $offload"
		drops=$(ns_exec nft list table inet loss | grep -c 'drop')
		[ "$drops" -eq 2 ] || fail "the loss rules are gone"
		ns_exec nft delete table inet loss
		[ "$(counter SvcOutOctets)" -eq "$bytes" ] ||
			fail "SvcOutOctets is $(counter SvcOutOctets), expected $bytes"
		rec=$(counter TcpExtTCPSackRecovery)
		rto=$(counter TcpExtTCPTimeouts)
		probes=$(counter TcpExtTCPLossProbes)
		log "offload $offload, $pct % loss: retrans $(counter TcpRetransSegs)" \
			"sack recovery $rec timeouts $rto probes $probes" \
			"lost retrans $(counter TcpExtTCPLostRetransmit) ofo $(counter TcpExtTCPOFOQueue)" \
			"ofo drops $(counter TcpExtTCPOFODrop) dsack undo $(counter TcpExtTCPDSACKUndo)"
		[ "$rec" -gt 0 ] || fail "no SACK recovery at $pct % loss, offload $offload"
		# The RTO is the last resort: recoveries and probes must outnumber
		# timeouts by far. Some RTOs are in the rules: at 5 % a flight of a
		# few segments (CUBIC's window there) can lose all its ACKs and the
		# answer to its tail loss probe; kernel CUBIC sending under the
		# same rules has about one RTO per 7 recoveries.
		[ $((rec + probes)) -gt $((4 * rto)) ] ||
			fail "$rto timeouts for $rec SACK recoveries and $probes probes at $pct % loss"
	done
done

# `tapnet ss -i/-j` shows the recovery state of a connection (here one held
# open to echo, which sends back what it gets): open, nothing lost.
sync=$TN_TMP/hold
tcp_client --sync "$sync" --timeout 60 hold "$TAPNET_ADDR" 7 1 &
hold_pid=$!
at_exit "touch $sync.go; kill $hold_pid"
wait_for_file "$sync.ready" 30 "$hold_pid"
sleep 0.3
tapnet_cli ss -j >"$TN_TMP/ss.json" || fail "tapnet ss -j failed"
tapnet_cli ss -i >"$TN_TMP/ss.txt" || fail "tapnet ss -i failed"
touch "$sync.go"
wait "$hold_pid" || fail "the held connection failed"
grep -q 'minrtt:' "$TN_TMP/ss.txt" || fail "tapnet ss -i shows no minrtt: $(cat "$TN_TMP/ss.txt")"
"$PYTHON" - "$TN_TMP/ss.json" <<'PY' || fail "tapnet ss -j does not show the recovery state"
import json, sys
socks = [s for s in json.load(open(sys.argv[1])) if s["local_port"] == 7 and s["state"] == "ESTAB"]
assert len(socks) == 1, "expected one ESTAB connection to port 7, got %r" % socks
s = socks[0]
assert s["ca_state"] == "open" and s["lost"] == 0 and s["min_rtt_us"] > 0, s
print("tcp_loss: tapnet ss -j: ca_state %s, lost %d, sacked %d, min_rtt_us %d, reord_seen %s"
      % (s["ca_state"], s["lost"], s["sacked"], s["min_rtt_us"], s["reord_seen"]))
PY
exit 0
