#!/bin/bash
# synflood.sh - tapnetd under a spoofed SYN flood (issue: a flood used to
# deny service for a minute after it stopped). A raw sender on the kernel's
# side of tap0 sends 100 000 SYN/s for 5 s at the echo service (one in 8
# with a bad checksum), from spoofed off-link sources whose SYN-ACKs the
# gateway drops, while a kernel-side client connects, echoes and closes
# again and again. Every one of its echoes must succeed, during the flood
# and after it; the SYN cookies that let them in are counted; tapnetd's
# memory stays bounded (RSS_BOUND_KB). The rate reached is logged, never a
# pass/fail criterion.
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd "${CC:-cc}"

RATE=${SYNFLOOD_RATE:-100000}
SECONDS_FLOOD=${SYNFLOOD_SECONDS:-5}
# tapnetd's RSS at start is a few MiB; the flood may add the rings of the
# connections the client opens and little else: no half-open state is kept.
# AddressSanitizer's quarantine holds freed memory back (up to 256 MiB).
RSS_BOUND_KB=$((32 * 1024))
grep -q AddressSanitizer "$TAPNETD" 2>/dev/null && RSS_BOUND_KB=$((320 * 1024))

SENDER=$TN_TMP/synflood_send
"${CC:-cc}" -O2 -o "$SENDER" "$TOP_SRCDIR/tests/integration/synflood_send.c" ||
	fail "cannot build the flood sender"

LOG_LEVEL=info start_tapnetd "${SERVICES_CONFIG[@]}" "[ipv4]" "gateway = $HOST_ADDR"
mac=$(tapnet_cli status | awk '$1 == "mac" { print $2 }')
[ -n "$mac" ] || fail "no mac in tapnet status"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
rss_before=$(rss_kb)

# The legitimate client: connect, 1 KiB there and back, close; until told to stop.
cat >"$TN_TMP/client.py" <<'PY'
import os, socket, sys, time
addr, stop_file, out = sys.argv[1], sys.argv[2], sys.argv[3]
payload = os.urandom(1024)
ok = 0
start = time.monotonic()
while not os.path.exists(stop_file):
    s = socket.create_connection((addr, 7), timeout=60)
    s.settimeout(60)
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("echo closed after %d of %d bytes (echo %d)" % (len(got), len(payload), ok + 1))
        got += chunk
    if got != payload:
        sys.exit("echo %d came back different" % (ok + 1))
    s.close()
    ok += 1
took = time.monotonic() - start
open(out, "w").write("%d %.2f\n" % (ok, took))
PY
stop=$TN_TMP/client.stop
ns_exec "$PYTHON" "$TN_TMP/client.py" "$TAPNET_ADDR" "$stop" "$TN_TMP/client.out" &
client_pid=$!
at_exit "touch $stop; kill $client_pid 2>/dev/null"

sleep 1
before_passive=$(counter TcpPassiveOpens)
ns_exec "$SENDER" "$IFACE" "$mac" "$TAPNET_ADDR" 7 "$RATE" "$SECONDS_FLOOD" 8 >"$TN_TMP/flood.out" ||
	fail "the flood sender failed: $(cat "$TN_TMP/flood.out")"
log "flood: $(cat "$TN_TMP/flood.out")"
during=$(($(counter TcpPassiveOpens) - before_passive))
rss_flood=$(rss_kb)
# right after the flood: the client goes on for two more seconds
sleep 2
touch "$stop"
wait "$client_pid" || fail "a legitimate echo failed during or after the flood"
read -r echoes took <"$TN_TMP/client.out"
log "legitimate client: $echoes echoes in $took s, none failed ($during connections accepted during the flood)"
[ "$echoes" -gt 0 ] || fail "no legitimate echo at all"

sent=$(counter TcpExtSyncookiesSent)
recv=$(counter TcpExtSyncookiesRecv)
csum=$(counter TcpInCsumErrors)
log "TcpExtSyncookiesSent $sent TcpExtSyncookiesRecv $recv TcpExtSyncookiesFailed" \
	"$(counter TcpExtSyncookiesFailed) TcpExtListenDrops $(counter TcpExtListenDrops) TcpInCsumErrors $csum"
[ "$sent" -gt 0 ] || fail "no SYN cookie sent under the flood"
[ "$csum" -gt 0 ] || fail "the SYNs with bad checksums were not counted"
[ "$(counter TcpExtTCPReqQFullDoCookies)" -gt 0 ] || fail "the SYN queue never overflowed into cookies"

rss_after=$(rss_kb)
log "tapnetd RSS: ${rss_before} KiB before, ${rss_flood} KiB at the flood's end, ${rss_after} KiB after" \
	"(bound ${RSS_BOUND_KB} KiB)"
for r in "$rss_flood" "$rss_after"; do
	[ "$r" -le "$RSS_BOUND_KB" ] || fail "tapnetd's RSS ${r} KiB is above ${RSS_BOUND_KB} KiB"
done
# what the flood left: at most a full SYN queue of half-open entries, listed as SYN-RECV
synrecv=$(tapnet_cli ss -a | grep -c '^SYN-RECV' || true)
log "half-open connections left: $synrecv"
[ "$synrecv" -le 256 ] || fail "$synrecv half-open connections: more than the SYN queue holds"
exit 0
