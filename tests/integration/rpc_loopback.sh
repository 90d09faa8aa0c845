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
#     server listening there is not reached.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
make_file "$TN_TMP/in" 1
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
while True:
    b = c.recv(65536)
    if not b:
        break
    c.sendall(b)
c.close()' "$bind" "$port"
	wait_listen tapnet "$bind" "$port"
	local before
	before=$(tap_packets)
	tn_run "$PYTHON" - "$to" "$port" "$TN_TMP/in" "$TN_TMP/out.$port" <<-'PY' >"$TN_TMP/client.$port" 2>&1 ||
		import socket, sys, threading
		c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
		print("local", c.getsockname()[0], "peer", c.getpeername()[0], flush=True)
		data = open(sys.argv[3], "rb").read()
		def send():
		    c.sendall(data)
		    c.shutdown(socket.SHUT_WR)
		t = threading.Thread(target=send); t.start()
		got = bytearray()
		while True:
		    b = c.recv(65536)
		    if not b:
		        break
		    got += b
		t.join()
		open(sys.argv[4], "wb").write(got)
	PY
		fail "client to $to:$port: $(cat "$TN_TMP/client.$port")"
	same_file "$TN_TMP/out.$port" "$TN_TMP/in" "server on $bind, client to $to"
	[ "$(tap_packets)" = "$before" ] ||
		fail "tap0 carried packets for $to:$port: rx tx $before -> $(tap_packets)"
	log "client to $to:$port: $(cat "$TN_TMP/client.$port"); tap0 rx tx unmoved ($before)"
}
echo_through 127.0.0.1 127.0.0.1 7801
grep -qx "local 127.0.0.1 peer 127.0.0.1" "$TN_TMP/client.7801" || fail "names: $(cat "$TN_TMP/client.7801")"
echo_through 0.0.0.0 127.0.0.1 7802
echo_through 0.0.0.0 "$TAPNET_ADDR" 7803
grep -qx "local $TAPNET_ADDR peer $TAPNET_ADDR" "$TN_TMP/client.7803" || fail "names: $(cat "$TN_TMP/client.7803")"

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
	PY
out=$(tn_run "$PYTHON" "$TN_TMP/checks.py" 2>&1) || fail "loopback checks: $out"
log "$(tr '\n' ';' <<<"$out")"
exit 0
