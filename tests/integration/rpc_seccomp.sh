#!/bin/bash
# rpc_seccomp.sh - programs that make their socket calls without libc are
# on tapnet through `tapnet run`'s seccomp supervisor: a statically linked
# C program (static_sock, into which no shim can be preloaded)
#   - connects to a kernel-side echo server with a blocking connect: the
#     server sees tapnet's address, TcpActiveOpens counts it;
#   - connects non-blocking as Go does (EINPROGRESS, POLLOUT, SO_ERROR),
#     also to a closed port (ECONNREFUSED);
#   - listens and accepts kernel-side clients (a blocking accept, which a
#     signal interrupts and SA_RESTART restarts, then a non-blocking accept4
#     with poll): TcpPassiveOpens counts them;
#   - keeps UDP and AF_UNIX sockets the kernel's, and they work;
# `tapnet run -v` says which sockets the supervisor made; with --no-seccomp
# the same program's socket is the kernel's (which shows that the checks
# above can tell).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

STATIC=$TOP_BUILDDIR/tests/integration/static_sock
[ -x "$STATIC" ] || fail "$STATIC not built"
grep -q 'INTERP' <(LC_ALL=C readelf -lW "$STATIC" 2>/dev/null) &&
	fail "$STATIC has a program interpreter: not statically linked"

start_tapnetd
if ! why=$(tn_run --seccomp true 2>&1); then
	grep -q 'run: --seccomp: ' <<<"$why" && missing "no seccomp supervisor here: $why"
	fail "tapnet run --seccomp true: $why"
fi
# kernel side: an echo server that logs each peer
bg kecho ns_exec "$PYTHON" -u -c '
import socket, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7601)); l.listen(16)
def echo(c):
    while True:
        b = c.recv(4096)
        if not b: break
        c.sendall(b)
    c.close()
while True:
    c, peer = l.accept(); print("peer", peer[0], flush=True)
    threading.Thread(target=echo, args=(c,)).start()'
wait_listen kernel "$HOST_ADDR" 7601

# --- a blocking connect, an echo, names, SO_ERROR, shutdown
active=$(counter TcpActiveOpens)
out=$(tn_run -v "$STATIC" client "$HOST_ADDR" 7601 2>"$TN_TMP/client.err") ||
	fail "static client: $out $(cat "$TN_TMP/client.err")"
log "static client: $(echo $out)"
grep -q "local $TAPNET_ADDR:" <<<"$out" || fail "static client's local address: $out"
grep -q 'socket(AF_INET, SOCK_STREAM) made without libc: tapnet.s' "$TN_TMP/client.err" ||
	fail "-v did not say the supervisor made the socket: $(cat "$TN_TMP/client.err")"
grep -q 'seccomp supervisor (pid [0-9]*) follows' "$TN_TMP/client.err" ||
	fail "-v did not say the supervisor runs: $(cat "$TN_TMP/client.err")"
expect_counter_above TcpActiveOpens "$active"
grep -qx "peer $TAPNET_ADDR" "$TN_TMP/kecho.log" ||
	fail "the kernel-side server did not see $TAPNET_ADDR: $(cat "$TN_TMP/kecho.log")"

# --- non-blocking connect as Go makes it
active=$(counter TcpActiveOpens)
out=$(tn_run "$STATIC" nbclient "$HOST_ADDR" 7601 7609 2>&1) || fail "static nbclient: $out"
log "static non-blocking client: $(echo $out)"
[ "$(counter TcpActiveOpens)" -ge $((active + 2)) ] ||
	fail "TcpActiveOpens $(counter TcpActiveOpens), expected >= $((active + 2))"

# --- a server: blocking accept, then accept4 non-blocking with poll
passive=$(counter TcpPassiveOpens)
bg sserver tn_run "$STATIC" server "$TAPNET_ADDR" 7602 2
wait_listen tapnet "$TAPNET_ADDR" 7602
sleep 1.5 # the server's SIGALRM (at 1 s) interrupts its blocking accept, which goes on
for n in 1 2; do
	reply=$(ns_exec "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$TAPNET_ADDR"'", 7602), timeout=10)
s.sendall(b"static '$n'\n"); print(s.recv(100).decode().strip())') || fail "kernel client $n to the static server"
	[ "$reply" = "STATIC $n" ] || fail "the static server answered '$reply'"
done
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(grep -c "^peer $HOST_ADDR" "$TN_TMP/sserver.log")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c "^peer $HOST_ADDR" "$TN_TMP/sserver.log")" -eq 2 ] ||
	fail "static server: $(cat "$TN_TMP/sserver.log")"
grep -q '^FAIL' "$TN_TMP/sserver.log" && fail "static server: $(cat "$TN_TMP/sserver.log")"
grep -qx 'alarms during the first accept: 1' "$TN_TMP/sserver.log" ||
	fail "static server: the blocking accept was not interrupted and restarted: $(cat "$TN_TMP/sserver.log")"
expect_counter_above TcpPassiveOpens $((passive + 1))
log "static server: two kernel-side clients served: $(grep -c '^ok' "$TN_TMP/sserver.log") checks ok"

# --- UDP and AF_UNIX stay the kernel's, and work
out=$(tn_run -v "$STATIC" other 2>"$TN_TMP/other.err") ||
	fail "static UDP/AF_UNIX: $out $(cat "$TN_TMP/other.err")"
grep -q 'socket(AF_INET, type 2, protocol 0) stays the kernel.s: tapnet has no UDP' \
	"$TN_TMP/other.err" || fail "-v did not name the UDP socket: $(cat "$TN_TMP/other.err")"
log "static UDP and AF_UNIX: $(echo $out)"

# --- the same client without the supervisor: its socket is the kernel's
out=$(tn_run --no-seccomp "$STATIC" client "$HOST_ADDR" 7601 2>&1) ||
	fail "static client with --no-seccomp: $out"
grep -q "local $HOST_ADDR:" <<<"$out" || fail "--no-seccomp: expected the kernel's socket: $out"
log "with --no-seccomp the static client's socket is the kernel's: $(grep '^local' <<<"$out")"
exit 0
