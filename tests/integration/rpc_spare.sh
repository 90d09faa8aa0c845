#!/bin/bash
# rpc_spare.sh - the spare socket a connect brings back (libtapnet). From a
# program's third socket on, a connect's reply brings a new socket, which
# the next socket() takes without a request to tapnetd. Checked:
#  - one request per connection from then on (CtlRequests), not two;
#  - fd numbers as the kernel gives them (spare_probe.py numbers, run on
#    the kernel and under `tapnet run`): socket() at the lowest free
#    number, an open() after a connect too (the spare waits from 64 up);
#  - a fork child closes its copy of the spare: the parent's connection
#    made from it reaches the server's end-of-file when the parent closes
#    it, while the child lives (a copy would hold it open until the child
#    ends, 8 s later);
#  - the spare counts as an open socket but `tapnet ss -a` does not list it
#    (never bound: Linux's ss lists no such socket either);
#  - a program that closes the spare's number behind libc's back and puts
#    something of its own there keeps it, and still gets sockets; so does
#    one that closes every fd from 3 up (closerange).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
PROBE=$TOP_SRCDIR/tests/integration/spare_probe.py

# x: echo; q: time until the connection's end-of-file; t: say that time once taken
bg echo ns_exec "$PYTHON" -c '
import socket, threading, time
last = "none"
timed = threading.Event()
def serve(c):
    global last
    while True:
        b = c.recv(1)
        if not b:
            break
        if b == b"x":
            c.sendall(b"x")
        elif b == b"q":
            t0 = time.monotonic()
            while c.recv(100):
                pass
            last = "%.1f s" % (time.monotonic() - t0)
            timed.set()
            break
        elif b == b"t":
            timed.wait(30)
            timed.clear()
            c.sendall(last.encode())
            break
    c.close()
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.0.0.1", 9300))
l.listen(64)
while True:
    threading.Thread(target=serve, args=(l.accept()[0],), daemon=True).start()
'
wait_listen kernel 10.0.0.1 9300

kernel=$(ns_exec timeout 60 "$PYTHON" "$PROBE" 10.0.0.1 9300 numbers) || fail "the probe failed on the kernel: $kernel"
tapnet=$(tn_run timeout 60 "$PYTHON" "$PROBE" 10.0.0.1 9300 numbers) || fail "the probe failed under tapnet run: $tapnet"
[ "$kernel" = "$tapnet" ] || fail "fd numbers differ: the kernel's '$kernel', under tapnet run '$tapnet'"
log "fd numbers as the kernel's: $tapnet"

requests=$(counter CtlRequests)
tn_run timeout 60 "$PYTHON" - <<'PY' || fail "50 connections one after another"
import socket
for i in range(50):
    s = socket.socket()
    s.connect(("10.0.0.1", 9300))
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    s.close()
PY
after=$(counter CtlRequests)
[ $((after - requests)) -le 60 ] ||
	fail "50 connections made $((after - requests)) requests to tapnetd (one each from the third on wanted)"
log "50 connections one after another: $((after - requests)) requests to tapnetd"

# a spare is a socket never bound: counted (SockOpen), not listed, as Linux's ss lists none such
bg holder tn_run timeout 60 "$PYTHON" -c '
import socket, time
for i in range(3):
    s = socket.socket()
    s.connect(("10.0.0.1", 9300))
    s.close()
print("holding", flush=True)
time.sleep(30)
'
holder=$BG_PID
wait_for_file_line "$TN_TMP/holder.log" holding
[ "$(counter SockOpen)" -ge 1 ] || fail "no socket open while a spare waits (SockOpen $(counter SockOpen))"
listed=$(tapnet_cli ss -a) || fail "tapnet ss -a failed"
echo "$listed" | grep -q '^UNCONN .* 0\.0\.0\.0:0 ' && fail "tapnet ss -a lists the spare, a socket never bound: $listed"
log "a spare waits (SockOpen $(counter SockOpen)), not listed by tapnet ss -a"
# its child first: once the subshell is gone the child is no longer its
pkill -P "$holder" 2>/dev/null
kill "$holder" 2>/dev/null

out=$(tn_run timeout 60 "$PYTHON" "$PROBE" 10.0.0.1 9300 fork) || fail "the fork probe failed: $out"
echo "$out" | grep -q "spares before the fork 1" || fail "no spare waited before the fork: $out"
took=$(echo "$out" | sed -n 's/.*reached the server in \([0-9.]*\) s$/\1/p')
awk -v t="$took" 'BEGIN { exit !(t != "" && t < 4) }' ||
	fail "with a fork child alive, the close of a socket made from the spare reached the server in ${took:-?} s: $out"
log "a fork child's copy of the spare is closed: the parent's close reached the server in $took s"

out=$(tn_run timeout 60 "$PYTHON" "$PROBE" 10.0.0.1 9300 closed) || fail "the closed-numbers probe failed: $out"
echo "$out" | grep -q "^spares 1$" || fail "no spare to close: $out"
log "the spare's number closed behind libc's back, then every fd from 3: $(echo "$out" | tail -1)"
