#!/bin/bash
# rpc_port_attack.sh - no port stealing, no privileged port without the
# privilege, as Linux: with root's program listening on 0.0.0.0:8088
# (SO_REUSEADDR), nobody can neither bind 10.0.0.2:8088 with SO_REUSEADDR
# nor share the port with SO_REUSEPORT (EADDRINUSE); when both were bound
# before either listened, nobody's listen fails after root's; the kernel
# side's connections still reach root's program. nobody gets
# EACCES for port 80, nobody with CAP_NET_BIND_SERVICE gets it; and a
# connection made without the capability keeps that answer after an exec
# of a program that has it (credentials are taken at connect time).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd setpriv setcap
ATTACK=rpc_port_attack.py
nobody_copy "$TOP_SRCDIR/tests/integration/$ATTACK" "$TOP_SRCDIR/tests/integration/ctlproto.py"
SCRIPT=$TN_TMP/pub/$ATTACK

alive() {
	timeout 1 "$TAPNET" -s "$SOCK" status >/dev/null || fail "tapnet status did not answer within 1 s"
	ns_exec ping -c 1 -W 1 "$TAPNET_ADDR" >/dev/null || fail "no answer to a ping within 1 s"
}
# expect OUTPUT LINE: OUTPUT has LINE
expect() { grep -qxF "$2" <<<"$1" || fail "expected '$2', got: $1"; }

start_tapnetd
bg victim tn_run "$PYTHON" "$SCRIPT" serve 8088
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	grep -q listening "$TN_TMP/victim.log" && break
	sleep 0.1
done
wait_listen tapnet 0.0.0.0 8088

out=$(tn_run_nobody "$PYTHON" "$SCRIPT" steal "$TAPNET_ADDR" 8088 2>&1)
printf '%s\n' "$out"
expect "$out" "bind $TAPNET_ADDR:8088 with SO_REUSEADDR: EADDRINUSE"
expect "$out" "bind 0.0.0.0:8088 with SO_REUSEPORT: EADDRINUSE"
got=$(ns_exec "$PYTHON" -c '
import socket
print(socket.create_connection(("'"$TAPNET_ADDR"'", 8088), timeout=5).recv(1).decode())')
[ "$got" = A ] || fail "a connection to $TAPNET_ADDR:8088 reached '$got', not the listener on 0.0.0.0"
alive
log "port 8088 stays root's program's"

# both bound first (SO_REUSEADDR), then root's listens: nobody's listen fails
mkdir -m 0777 "$TN_TMP/pub/flags" || fail "cannot make $TN_TMP/pub/flags"
bg victim2 tn_run "$PYTHON" "$SCRIPT" serve-late 8089 "$TN_TMP/pub/flags"
out=$(tn_run_nobody timeout 120 "$PYTHON" "$SCRIPT" steal-early "$TAPNET_ADDR" 8089 \
	"$TN_TMP/pub/flags" 2>&1)
printf '%s\n' "$out"
expect "$out" "bind $TAPNET_ADDR:8089 with SO_REUSEADDR before any listen: ok"
expect "$out" "listen after the wildcard socket listens: EADDRINUSE"
got=$(ns_exec "$PYTHON" -c '
import socket
print(socket.create_connection(("'"$TAPNET_ADDR"'", 8089), timeout=5).recv(1).decode())')
[ "$got" = A ] || fail "a connection to $TAPNET_ADDR:8089 reached '$got', not the listener on 0.0.0.0"
log "a specific bind made before the wildcard listened cannot listen over it"

out=$(tn_run_nobody "$PYTHON" "$SCRIPT" bind 80 2>&1)
printf '%s\n' "$out"
expect "$out" "bind 0.0.0.0:80: EACCES"
nobody_copy "$TAPNET" "$TAPNET_PRELOAD"
out=$(ns_exec setpriv --reuid=nobody --regid=nogroup --clear-groups \
	--inh-caps +net_bind_service --ambient-caps +net_bind_service \
	env TAPNET_PRELOAD="$TN_TMP/pub/${TAPNET_PRELOAD##*/}" \
	"$TN_TMP/pub/${TAPNET##*/}" -s "$SOCK" run "$PYTHON" "$SCRIPT" bind 80 2>&1)
printf '%s\n' "$out"
expect "$out" "bind 0.0.0.0:80: ok"

# a python that has cap_net_bind_service as a file capability
cp "$(readlink -f "$PYTHON")" "$TN_TMP/pub/pycap" && setcap cap_net_bind_service+ep "$TN_TMP/pub/pycap" ||
	fail "cannot make a python with a file capability"
out=$(as_nobody timeout 60 "$PYTHON" "$SCRIPT" exec "$SOCK" "$TN_TMP/pub/pycap" 2>&1)
printf '%s\n' "$out"
expect "$out" "after exec, a kernel socket on port 80 (the capability is real): ok"
expect "$out" "after exec, tapnet port 80 on the old connection: EACCES"
alive
log "privileged ports: only with the privilege held when the connection was made"
exit 0
