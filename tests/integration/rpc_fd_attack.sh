#!/bin/bash
# rpc_fd_attack.sh - a local user cannot make tapnetd's event loop run a
# close that blocks. As nobody, rpc_fd_attack.py hands tapnetd, three ways,
# the last reference to a kernel TCP socket whose close lingers 20 s
# (SO_LINGER {1, 20}, megabytes unsent, a peer that never reads): inside a
# Unix socket pair passed with a request (refused, ENOTSOCK), through a
# tapnet socket's own fd, and on the control connection before hanging up.
# While those closes are still pending (CloserBusy > 0), tapnetd answers
# `tapnet status` and pings, and serves a new tapnet connection.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd setpriv

start_tapnetd
# the attacker is nobody: it must reach the socket and read its script
chmod 0755 "$TN_TMP"
cp "$TOP_SRCDIR/tests/integration/rpc_fd_attack.py" "$TN_TMP/attack.py"
cp "$TOP_SRCDIR/tests/integration/ctlproto.py" "$TN_TMP/"
chmod 0644 "$TN_TMP/attack.py" "$TN_TMP/ctlproto.py"

bg attack ns_exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
	"$PYTHON" "$TN_TMP/attack.py" "$SOCK" "$HOST_ADDR" 7300
for ((i = 0; i < 600; i++)); do # each step is quick; bounded all the same
	grep -q "^attacks done" "$TN_TMP/attack.log" && break
	kill -0 "$BG_PID" 2>/dev/null || break
	sleep 0.1
done
cat "$TN_TMP/attack.log"
grep -q "^attacks done: ok" "$TN_TMP/attack.log" || fail "the attacks did not go as expected"

busy=$(counter CloserBusy)
[ "$busy" -gt 0 ] || fail "no close pending: the attack did not reach a lingering close"
log "closes of client-touched fds pending: $busy"
timeout 1 "$TAPNET" -s "$SOCK" status >/dev/null || fail "tapnet status did not answer within 1 s"
ns_exec ping -c 1 -W 1 "$TAPNET_ADDR" >/dev/null || fail "no answer to a ping within 1 s"
# a real tapnet connection still works: the kernel listens, a tapnet client connects
bg echo ns_exec "$PYTHON" -c '
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7301)); l.listen(1)
c = l.accept()[0]; c.sendall(c.recv(100)); c.close()'
wait_listen kernel "$HOST_ADDR" 7301
out=$(timeout 10 "$TAPNET" -s "$SOCK" run "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$HOST_ADDR"'", 7301), timeout=5)
s.sendall(b"still here"); print(s.recv(100).decode())') || fail "a tapnet connection failed"
[ "$out" = "still here" ] || fail "echo through tapnet: '$out'"
[ "$(counter CloserBusy)" -gt 0 ] || fail "the closes ended before the checks: they prove nothing"
[ "$(counter CtlFdsRefused)" -ge 1 ] || fail "CtlFdsRefused is $(counter CtlFdsRefused)"
log "status, ping and a connection answered while the lingering closes wait"
exit 0
