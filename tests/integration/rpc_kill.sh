#!/bin/bash
# rpc_kill.sh - kill -9 of a client on tapnet mid-transfer: its sockets are
# closed as close() would close them. A downloading client (unread data
# left) ends in a RST, an uploading one in a FIN; the kernel-side peers see
# their connection end, and `tapnet ss` shows nothing left of them.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
# kernel side: port 7100 sends forever, port 7101 reads until EOF; each
# prints how its connection ended (a line at a time: the two threads'
# lines must not interleave).
bg peers ns_exec "$PYTHON" -u -c '
import socket, sys, threading
lock = threading.Lock()
def say(port, what):
    with lock:
        sys.stdout.write("%d %s\n" % (port, what))
def serve(port, send):
    l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind(("'"$HOST_ADDR"'", port)); l.listen(1)
    c, _ = l.accept()
    say(port, "accepted")
    try:
        if send:
            while True: c.sendall(b"x" * 65536)
        else:
            while c.recv(65536): pass
            say(port, "EOF")
    except OSError as e:
        say(port, type(e).__name__)
ts = [threading.Thread(target=serve, args=(p, s)) for p, s in ((7100, True), (7101, False))]
[t.start() for t in ts]; [t.join() for t in ts]'
wait_listen kernel "$HOST_ADDR" 7100
wait_listen kernel "$HOST_ADDR" 7101

# the clients: one reads a little and stops, one writes forever
bg down tn_run "$PYTHON" -c '
import os, socket, time
s = socket.create_connection(("'"$HOST_ADDR"'", 7100)); s.recv(1000)
print("reading stopped", os.getpid(), flush=True); time.sleep(3600)'
bg up tn_run "$PYTHON" -c '
import os, socket
s = socket.create_connection(("'"$HOST_ADDR"'", 7101))
print("writing", os.getpid(), flush=True)
while True: s.sendall(b"y" * 65536)'

# both mid-transfer: established, data moving (bounded waits, no timing verdicts)
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	grep -q "reading stopped" "$TN_TMP/down.log" && grep -q writing "$TN_TMP/up.log" &&
		[ "$(tapnet_conns | grep -c ESTAB)" -eq 2 ] && break
	sleep 0.1
done
[ "$(tapnet_conns | grep -c ESTAB)" -eq 2 ] || fail "the two clients are not connected: $(tapnet_conns)"
rst=$(counter TcpOutRsts)
# the programs themselves, not the shells that started them
DOWN=$(awk '/^reading stopped/ { print $3 }' "$TN_TMP/down.log")
UP=$(awk '/^writing/ { print $2 }' "$TN_TMP/up.log")
kill -KILL "$DOWN" "$UP" || fail "cannot kill the clients ($DOWN, $UP)"
wait_no_conns 'ESTAB|CLOSE-WAIT|FIN-WAIT|LAST-ACK|SYN'
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(grep -cE '^710[01] (EOF|ConnectionResetError|BrokenPipeError)' "$TN_TMP/peers.log")" -eq 2 ] && break
	sleep 0.1
done
cat "$TN_TMP/peers.log"
grep -qE '^7100 (ConnectionResetError|BrokenPipeError)' "$TN_TMP/peers.log" ||
	fail "the sender to the killed reader did not see a reset"
grep -q '^7101 EOF' "$TN_TMP/peers.log" || fail "the reader from the killed writer did not see EOF"
expect_counter_above TcpOutRsts "$rst"
log "after kill -9: $(tapnet_conns | wc -l) tapnet sockets left"
exit 0
