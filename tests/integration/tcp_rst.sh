#!/bin/bash
# tcp_rst.sh - a SYN to a port nothing listens on is answered with a RST
# (connection refused), and `tapnet ss` lists the connections of a transfer
# in progress: the default (connections), -l (listeners), -a (both), -i, -j.
# Before that: a service that cannot listen stops tapnetd at start-up.
. "$TOP_SRCDIR/tests/integration/lib.sh"

# A service that cannot listen stops tapnetd at start-up with one clear line
# (here the third of four sockets is over [tcp] max_conns).
write_config "${SERVICES_CONFIG[@]}" "[tcp]" "max_conns = 2"
out=$(ns_exec timeout 10 "$TAPNETD" -f -c "$CONF" 2>&1)
rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "tapnetd started (exit $rc) with max_conns = 2 and 4 services"
printf '%s\n' "$out" >"$TN_TMP/refused.log"
has_sanitizer_report "$TN_TMP/refused.log" && fail "sanitizer report: $out"
[ "$(grep -c 'error: ' "$TN_TMP/refused.log")" -eq 1 ] &&
	grep -q 'error: cannot start the daytime service on port 13: .*max_conns' "$TN_TMP/refused.log" ||
	fail "no one-line error for the daytime service: $out"
log "start-up refused: $(grep 'error: ' "$TN_TMP/refused.log")"

start_tapnetd "${SERVICES_CONFIG[@]}"

rsts0=$(counter TcpOutRsts)
for port in 1 8 80 65535; do
	tcp_client --timeout 20 refused "$TAPNET_ADDR" "$port" || fail "port $port was not refused"
done
rsts=$(($(counter TcpOutRsts) - rsts0))
[ "$rsts" -ge 4 ] || fail "TcpOutRsts grew by $rsts after 4 refused connections"
log "4 connection attempts refused, TcpOutRsts +$rsts"

# Three connections to discard with data flowing while `tapnet ss` looks.
sync=$TN_TMP/hold
tcp_client --sync "$sync" --timeout 60 hold "$TAPNET_ADDR" 9 3 &
pid=$!
at_exit "touch $sync.go; kill $pid"
wait_for_file "$sync.ready" 30 "$pid"
for opt in "" -l -a -i -j; do
	tapnet_cli ss $opt >"$TN_TMP/ss$opt.out" || fail "tapnet ss $opt failed"
done
touch "$sync.go"
wait "$pid" || fail "the held connections failed"

"$PYTHON" - "$TN_TMP" "$sync.ready" <<'PY' || fail "tapnet ss shows something else"
import json, os, sys
d = sys.argv[1]
ports = {int(l) for l in open(sys.argv[2])}
def lines(opt):
    out = open(os.path.join(d, "ss%s.out" % opt)).read().splitlines()
    assert out[0].split()[:3] == ["State", "Recv-Q", "Send-Q"], "ss %s: header %r" % (opt, out[0])
    return out[1:]
def conns(ls):
    return {int(l.split()[4].rsplit(":", 1)[1]) for l in ls
            if l.startswith("ESTAB") and l.split()[3] == "10.0.0.2:9"}
listeners = {"0.0.0.0:7", "0.0.0.0:9", "0.0.0.0:13", "0.0.0.0:19"}
default = lines("")
assert conns(default) == ports, "ss: %r, the client's ports are %r" % (default, ports)
assert not [l for l in default if l.startswith("LISTEN")], "ss without -l/-a shows listeners"
l = lines("-l")
assert {x.split()[3] for x in l} == listeners and all(x.startswith("LISTEN") for x in l), "ss -l: %r" % l
a = lines("-a")
assert conns(a) == ports and {x.split()[3] for x in a if x.startswith("LISTEN")} == listeners, "ss -a: %r" % a
i = lines("-i")
assert conns([x for x in i if not x.startswith("\t")]) == ports, "ss -i: %r" % i
assert len(i) == 2 * len(conns(i)), "ss -i: not one info line after each socket: %r" % i
for line, info in zip(i[0::2], i[1::2]):
    assert info.startswith("\t "), "ss -i: %r after %r is not an info line" % (info, line)
    for field in ("cubic", "rto:", "rtt:", "cwnd:", "mss:", "bytes_received:"):
        assert field in info, "ss -i: no %s in %r" % (field, info)
j = json.load(open(os.path.join(d, "ss-j.out")))
assert {s["peer_port"] for s in j if s["state"] == "ESTAB" and s["local_port"] == 9} == ports, "ss -j: %r" % j
for s in j:
    assert s["bytes_received"] >= 1000 and s["rtt_us"] > 0 and s["cwnd"] > 0, "ss -j: %r" % s
print("tcp_rst: tapnet ss, -l, -a, -i and -j show the 3 connections and 4 listeners")
PY
exit 0
