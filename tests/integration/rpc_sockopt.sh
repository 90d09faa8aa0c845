#!/bin/bash
# rpc_sockopt.sh - socket options answer under `tapnet run` as on Linux:
# sockopt_probe.py sets and reads the options programs use on a new socket,
# a listener, the connection it accepts and a connected client, once on
# kernel sockets and once under `tapnet run`, and the two transcripts must be
# the same, line for line (errno names, values read back, what an accepted
# socket inherits, TCP_MAXSEG's clamp on the connection), and nftables on
# the kernel side sees the MSS tapnet's SYN-ACK and SYN offer. Three options
# tapnet refuses on purpose are checked apart: SO_ZEROCOPY (its completions
# would come on an error queue the pair does not have), TCP_INQ (its count
# would come in a control message the pair's recvmsg does not carry) and
# TCP_TX_DELAY (a test delay tapnet does not have); a program that is
# refused them does without, as on an older kernel.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

PROBE=$TOP_SRCDIR/tests/integration/sockopt_probe.py
REFUSED=' (SO_ZEROCOPY|TCP_INQ|TCP_TX_DELAY)[ :]'
start_tapnetd
bg echo ns_exec "$PYTHON" -c '
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7008)); l.listen(8)
def serve(c):
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = l.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()'
wait_listen kernel "$HOST_ADDR" 7008

# connects to the probe's listener once it is ready, and sends a byte first
# (after a pause, so that TCP_DEFER_ACCEPT has something to wait for)
connector() {
	wait_for_file "$3" 30
	ns_exec "$PYTHON" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
time.sleep(0.3)
s.send(b"!")
time.sleep(0.5)' "$1" "$2" || fail "the connection to the probe's listener failed"
}

run_probe() { # name, listen address, then how to run the probe
	local name=$1 addr=$2 pid
	shift 2
	connector "$addr" 7010 "$TN_TMP/ready.$name" &
	pid=$!
	"$@" "$PYTHON" "$PROBE" "$addr" 7010 "$HOST_ADDR" 7008 "$TN_TMP/ready.$name" \
		>"$TN_TMP/$name.out" || fail "the probe failed on $name sockets: $(tail -n 3 "$TN_TMP/$name.out")"
	wait "$pid" || fail "the connector to the $name probe failed"
}
run_probe kernel "$HOST_ADDR" ns_exec
# on the wire: the MSS the listener's SYN-ACK and the client's SYN offer
ns_exec nft -f - <<'NFT' || fail "cannot add the nftables counters"
table inet mss {
	chain input {
		type filter hook input priority 0;
		ip saddr 10.0.0.2 tcp sport 7010 tcp flags & (syn | ack) == syn | ack tcp option maxseg size 1200 counter
		ip saddr 10.0.0.2 tcp dport 7008 tcp flags & (syn | ack) == syn tcp option maxseg size 536 counter
	}
}
NFT
run_probe tapnet "$TAPNET_ADDR" tn_run --no-seccomp
counted=$(ns_exec nft list chain inet mss input | grep -c 'counter packets [1-9]')
[ "$counted" -eq 2 ] || fail "the SYN-ACK (MSS 1200) and the SYN (MSS 536) were not both seen: \
$(ns_exec nft list chain inet mss input)"

lines=$(wc -l <"$TN_TMP/kernel.out")
[ "$lines" -ge 150 ] || fail "the kernel probe printed only $lines lines"
grep -q "accepted reads b'!'" "$TN_TMP/tapnet.out" || fail "the accepted connection did not read the byte"
grep -q "TCP_MAXSEG at most 1200: True" "$TN_TMP/tapnet.out" || fail "the listener's TCP_MAXSEG did not clamp"
grep -q "TCP_MAXSEG at most 536 once connected: True" "$TN_TMP/tapnet.out" ||
	fail "the client's TCP_MAXSEG did not clamp"
if ! diff <(grep -Ev "$REFUSED" "$TN_TMP/kernel.out") <(grep -Ev "$REFUSED" "$TN_TMP/tapnet.out") \
	>"$TN_TMP/diff"; then
	cat "$TN_TMP/diff"
	fail "socket options under tapnet run answer otherwise than the kernel's (above: < kernel, > tapnet)"
fi
refused=$(grep -E "$REFUSED" "$TN_TMP/tapnet.out" | grep -Evc ': ENOPROTOOPT$')
[ "$refused" -eq 0 ] || fail "$refused answers for the options tapnet refuses were not ENOPROTOOPT"
[ "$(grep -Ec "$REFUSED" "$TN_TMP/tapnet.out")" -eq 12 ] || fail "the refused options were not all tried"
log "$lines answers, the same on kernel and tapnet sockets"

# what only root may: SO_PRIORITY above 6 is EPERM for nobody (decided by
# tapnetd, which knows the client's uid), SO_BUSY_POLL is anyone's
unprivileged='import errno, socket
s = socket.socket()
for opt, v in ((socket.SO_PRIORITY, 7), (socket.SO_PRIORITY, 6), (46, 10), (46, 0)):
    try:
        s.setsockopt(socket.SOL_SOCKET, opt, v)
        r = "OK"
    except OSError as e:
        r = errno.errorcode[e.errno]
    print(opt, v, r, s.getsockopt(socket.SOL_SOCKET, opt))'
kernel=$(as_nobody "$PYTHON" -c "$unprivileged") || fail "the unprivileged probe failed on the kernel"
tapnet=$(tn_run_nobody "$PYTHON" -c "$unprivileged") || fail "the unprivileged probe failed under tapnet run"
[ "$kernel" = "$tapnet" ] || fail "as nobody: kernel: $kernel; tapnet: $tapnet"
case $kernel in *EPERM*) ;; *) fail "as nobody the kernel allowed every option: $kernel" ;; esac
log "as nobody, the same: $(echo $tapnet)"
exit 0
