#!/bin/bash
# rpc_loopback.sh - tapnet's host has a loopback, as any host: programs
# under `tapnet run` reach each other at 127.0.0.1 and at tapnet's own
# address, and nothing of it crosses tap0.
#   - a server bound to 127.0.0.1, and one on 0.0.0.0 reached at 127.0.0.1
#     and at 10.0.0.2: 1 MiB echoed exactly each time, tap0's packet counts
#     unmoved, the names as Linux gives them (127.0.0.1 to 127.0.0.1);
#   - a connect to a port nobody listens on at 127.0.0.1 is refused at once
#     (it timed out after two minutes, its SYNs sent to the link);
#   - a socket bound to 127.0.0.1 cannot reach the kernel side (EINVAL, as
#     Linux), and 127.0.0.1 on tapnet is not the kernel's: a kernel-side
#     server listening there is not reached; a connect to 0.0.0.0 is to
#     this host at 127.0.0.1, as on Linux;
#   - `tapnet run --kernel-loopback`: loopback sockets are the kernel's, in
#     the same program as tapnet sockets (curl's fetch from the kernel's
#     127.0.0.1 and an echo at 10.0.0.1 through tapnet; a server under it on
#     127.0.0.1 reached from the kernel's loopback; ::1 too; -v says so);
#     through the seccomp supervisor: rpc_seccomp.sh.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
tap_packets() {
	ns_exec cat "/sys/class/net/$IFACE/statistics/rx_packets" "/sys/class/net/$IFACE/statistics/tx_packets" |
		tr '\n' ' '
}

# echo_through BIND CONNECT PORT: a server under tapnet run bound to BIND
# echoes 1 MiB to a client under tapnet run connecting to CONNECT
echo_through() {
	local bind=$1 to=$2 port=$3
	bg "server-$port" tn_run "$PYTHON" -u -c '
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(4)
c, peer = l.accept()
print("local", c.getsockname()[0], "peer", peer[0], flush=True)
while True:
    b = c.recv(65536)
    if not b:
        break
    c.sendall(b)
c.close()' "$bind" "$port"
	wait_listen tapnet "$bind" "$port"
	local before
	before=$(tap_packets)
	tn_run "$PYTHON" "$TCPCLIENT" echo "$to" "$port" 1048576 >"$TN_TMP/client.$port" 2>&1 ||
		fail "client to $to:$port: $(cat "$TN_TMP/client.$port")"
	[ "$(tap_packets)" = "$before" ] ||
		fail "tap0 carried packets for $to:$port: rx tx $before -> $(tap_packets)"
	log "server on $bind, client to $to: $(cat "$TN_TMP/client.$port"); the server's end:" \
		"$(cat "$TN_TMP/server-$port.log"); tap0 rx tx unmoved ($before)"
}
echo_through 127.0.0.1 127.0.0.1 7801
grep -qx "local 127.0.0.1 peer 127.0.0.1" "$TN_TMP/server-7801.log" || fail "names: $(cat "$TN_TMP/server-7801.log")"
echo_through 0.0.0.0 127.0.0.1 7802
echo_through 0.0.0.0 "$TAPNET_ADDR" 7803
grep -qx "local $TAPNET_ADDR peer $TAPNET_ADDR" "$TN_TMP/server-7803.log" ||
	fail "names: $(cat "$TN_TMP/server-7803.log")"

# refused at once; a socket bound to loopback stays in the host; the kernel's 127.0.0.1 is another host's
bg kernel-lo ns_exec "$PYTHON" -c '
import socket, time
l = socket.socket(); l.bind(("127.0.0.1", 7805)); l.listen(1); time.sleep(60)'
ns_exec ip link set lo up
wait_listen kernel 127.0.0.1 7805
cat >"$TN_TMP/checks.py" <<-'PY' || fail "cannot write $TN_TMP/checks.py"
	import errno, socket, time
	def connect(addr, bind=None):
	    s = socket.socket()
	    s.settimeout(20)
	    if bind:
	        s.bind((bind, 0))
	    t = time.monotonic()
	    try:
	        s.connect(addr)
	        return "connected", time.monotonic() - t
	    except OSError as e:
	        return errno.errorcode[e.errno], time.monotonic() - t
	    finally:
	        s.close()
	what, took = connect(("127.0.0.1", 7809))
	print("nobody listening:", what, "after %.3f s" % took)
	assert what == "ECONNREFUSED" and took < 2, (what, took)
	what, took = connect(("10.0.0.1", 7809), bind="127.0.0.1")
	print("bound to 127.0.0.1, to the kernel side:", what)
	assert what == "EINVAL", what
	what, took = connect(("127.0.0.1", 7805))
	print("the kernel's own 127.0.0.1:", what)
	assert what == "ECONNREFUSED", what
	l = socket.socket()
	l.bind(("0.0.0.0", 0))
	l.listen(1)
	c = socket.create_connection(("0.0.0.0", l.getsockname()[1]), timeout=20)
	names = (c.getsockname()[0], c.getpeername()[0], l.accept()[1][0])
	print("connected to 0.0.0.0: local %s peer %s, accepted from %s" % names)
	assert names == ("127.0.0.1",) * 3, names
	PY
out=$(tn_run "$PYTHON" "$TN_TMP/checks.py" 2>&1) || fail "loopback checks: $out"
log "$(tr '\n' ';' <<<"$out")"

# ------------------------------------------------------------ --kernel-loopback
mkdir -p "$TN_TMP/www" && echo "the kernel's own" >"$TN_TMP/www/index.html" || fail "cannot write the page"
bg kernel-http ns_exec "$PYTHON" -m http.server --bind 127.0.0.1 --directory "$TN_TMP/www" 7806
wait_listen kernel 127.0.0.1 7806
echo_server kernel kecho 7807
active=$(counter TcpActiveOpens)
out=$(tn_run --kernel-loopback -v "$PYTHON" -c '
import socket, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:7806/", timeout=20).read().decode().strip())
c = socket.create_connection(("10.0.0.1", 7807), timeout=20)
c.sendall(b"through tapnet"); print(c.recv(100).decode())' 2>"$TN_TMP/kl.err") ||
	fail "--kernel-loopback: $out $(cat "$TN_TMP/kl.err")"
[ "$out" = "the kernel's own
through tapnet" ] || fail "--kernel-loopback said: $out"
[ "$(counter TcpActiveOpens)" -eq $((active + 1)) ] ||
	fail "--kernel-loopback: tapnet's active opens $active -> $(counter TcpActiveOpens), expected one more"
grep -q 'is for the loopback: now the kernel.s (--kernel-loopback)' "$TN_TMP/kl.err" ||
	fail "-v did not say the loopback socket is the kernel's: $(cat "$TN_TMP/kl.err")"
log "--kernel-loopback: the kernel's 127.0.0.1 and tapnet's 10.0.0.1 from one program"

# a server under it on the loopback, reached from the kernel's 127.0.0.1 and ::1
ns_exec sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 || fail "cannot give lo ::1 in the namespace"
listening_7808() { ns_exec ss -ltnH "sport = :7808" | grep -q .; }
for addr in 127.0.0.1 ::1; do
	bg "klserver-$addr" tn_run --kernel-loopback "$PYTHON" -c '
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
l = socket.socket(fam); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], 7808)); l.listen(1)
c, _ = l.accept(); c.sendall(b"served on the loopback"); c.close()' "$addr"
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do listening_7808 && break; sleep 0.1; done
	got=$(ns_exec "$PYTHON" -c '
import socket, sys
print(socket.create_connection((sys.argv[1], 7808), timeout=20).recv(100).decode())' "$addr") ||
		fail "the kernel's client could not reach the server at $addr under --kernel-loopback"
	[ "$got" = "served on the loopback" ] || fail "the server at $addr said $got"
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do listening_7808 || break; sleep 0.1; done
done
log "--kernel-loopback: servers on 127.0.0.1 and ::1 reached from the kernel's loopback"

exit 0
