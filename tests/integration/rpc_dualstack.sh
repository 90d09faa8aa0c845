#!/bin/bash
# rpc_dualstack.sh - AF_INET6 stream sockets under `tapnet run`: IPv4
# through v4-mapped addresses is tapnet's, nothing escapes to the kernel
# silently.
#   - a dual-stack server on [::] (python3) is reached from the kernel side
#     over IPv4 and sees its peer as ::ffff:10.0.0.1;
#   - a client's AF_INET6 socket to ::ffff:10.0.0.1 is a tapnet connection
#     (TcpActiveOpens), the kernel-side server sees 10.0.0.2;
#   - IPV6_V6ONLY is kept: a v4-mapped connect then fails (ENETUNREACH);
#   - a pure IPv6 destination fails clearly (ENETUNREACH and a line on
#     stderr), or, with `tapnet run --kernel-ipv6`, is the kernel's;
#   - `tapnet run -v` says which sockets stay the kernel's, and why.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
# the namespace has IPv6 off (lib.sh), but --kernel-ipv6 below wants ::1
ns_exec sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 && ns_exec ip link set lo up ||
	fail "cannot bring up lo with ::1 in the namespace"

# --- a dual-stack server on tapnet, an IPv4 client on the kernel side
passive=$(counter TcpPassiveOpens)
bg server6 tn_run "$PYTHON" -u -c '
import socket
l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
assert l.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
assert l.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) == socket.AF_INET6
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("::", 7500)); l.listen(4)
print("name", l.getsockname()[:2], flush=True)
for _ in range(2):  # the second through what the shim remembers of the listener
    c, peer = l.accept()
    print("peer", peer[0], "local", c.getsockname()[0], "peername", c.getpeername()[0], flush=True)
    c.sendall(c.recv(100).upper()); c.close()'
wait_listen tapnet 0.0.0.0 7500
reply=$(ns_exec "$PYTHON" -c '
import socket
for _ in range(2):
    s = socket.create_connection(("'"$TAPNET_ADDR"'", 7500), timeout=10)
    s.sendall(b"dual stack"); print(s.recv(100).decode()); s.close()') ||
	fail "IPv4 client to the [::] server failed"
[ "$reply" = "DUAL STACK
DUAL STACK" ] || fail "the [::] server answered '$reply'"
for ((i = 0; i < 50; i++)); do [ "$(grep -c '^peer' "$TN_TMP/server6.log")" = 2 ] && break; sleep 0.1; done
grep -qx "name ('::', 7500)" "$TN_TMP/server6.log" ||
	fail "getsockname of the [::] listener: $(cat "$TN_TMP/server6.log")"
[ "$(grep -cx "peer ::ffff:$HOST_ADDR local ::ffff:$TAPNET_ADDR peername ::ffff:$HOST_ADDR" \
	"$TN_TMP/server6.log")" = 2 ] || fail "the [::] server saw: $(cat "$TN_TMP/server6.log")"
expect_counter_above TcpPassiveOpens "$passive"
log "[::] server on tapnet: IPv4 client served twice, peer ::ffff:$HOST_ADDR"

# --- beside it, an AF_INET listener: its connections' names stay IPv4 ones
bg server4 tn_run "$PYTHON" -u -c '
import socket
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.bind(("0.0.0.0", 7502)); l.listen(4)
for _ in range(2):
    c, peer = l.accept()
    print("peer", peer[0], "local", c.getsockname()[0], "peername", c.getpeername()[0], flush=True)
    c.close()'
wait_listen tapnet 0.0.0.0 7502
ns_exec "$PYTHON" -c '
import socket
for _ in range(2):
    s = socket.create_connection(("'"$TAPNET_ADDR"'", 7502), timeout=10); s.recv(1); s.close()' ||
	fail "IPv4 client to the AF_INET server failed"
for ((i = 0; i < 50; i++)); do [ "$(grep -c '^peer' "$TN_TMP/server4.log")" = 2 ] && break; sleep 0.1; done
[ "$(grep -cx "peer $HOST_ADDR local $TAPNET_ADDR peername $HOST_ADDR" "$TN_TMP/server4.log")" = 2 ] ||
	fail "the AF_INET server saw: $(cat "$TN_TMP/server4.log")"
log "AF_INET server beside it: IPv4 names for both its connections"

# --- an AF_INET6 client to a v4-mapped address, a kernel-side server
bg kserver ns_exec "$PYTHON" -u -c '
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7501)); l.listen(4)
while True:
    c, peer = l.accept(); c.sendall(("from " + peer[0]).encode()); c.close()'
wait_listen kernel "$HOST_ADDR" 7501
active=$(counter TcpActiveOpens)
out=$(tn_run "$PYTHON" -c '
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.connect(("::ffff:'"$HOST_ADDR"'", 7501))
print(s.getpeername()[0], s.getsockname()[0], s.recv(100).decode())') ||
	fail "AF_INET6 client to ::ffff:$HOST_ADDR failed"
[ "$out" = "::ffff:$HOST_ADDR ::ffff:$TAPNET_ADDR from $TAPNET_ADDR" ] ||
	fail "AF_INET6 client to ::ffff:$HOST_ADDR: '$out'"
expect_counter_above TcpActiveOpens "$active"
log "AF_INET6 client: a tapnet connection to ::ffff:$HOST_ADDR ($out)"

# --- IPV6_V6ONLY is kept; pure IPv6 fails clearly
out=$(tn_run "$PYTHON" -c '
import errno, socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
print(s.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
try:
    s.connect(("::ffff:'"$HOST_ADDR"'", 7501)); print("connected")
except OSError as e:
    print(errno.errorcode[e.errno])
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
try:
    t.connect(("::1", 7502)); print("connected")
except OSError as e:
    print(errno.errorcode[e.errno])' 2>"$TN_TMP/v6.err") || fail "the IPV6_V6ONLY probe failed"
[ "$(echo $out)" = "1 ENETUNREACH ENETUNREACH" ] || fail "IPV6_V6ONLY and ::1 on tapnet: '$out'"
grep -q 'connect to \[::1\]:7502: tapnet has no IPv6 (tapnet run --kernel-loopback leaves ::1' "$TN_TMP/v6.err" ||
	fail "no clear message for the pure IPv6 connect: $(cat "$TN_TMP/v6.err")"
log "IPV6_V6ONLY kept; pure IPv6 refused with ENETUNREACH and: $(head -1 "$TN_TMP/v6.err")"

# --- --kernel-ipv6: IPv6 proper is the kernel's (a listener on the namespace's ::1)
bg kserver6 ns_exec "$PYTHON" -u -c '
import socket
l = socket.socket(socket.AF_INET6); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("::1", 7502)); l.listen(4)
while True:
    c, peer = l.accept(); c.sendall(("v6 from " + peer[0]).encode()); c.close()'
for ((i = 0; i < 50; i++)); do ns_exec ss -ltnH 'sport = :7502' | grep -q . && break; sleep 0.1; done
active=$(counter TcpActiveOpens)
out=$(ns_exec "$TAPNET" -s "$SOCK" run -v --kernel-ipv6 "$PYTHON" -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.connect(("::1", 7502)); print(s.recv(100).decode())
m = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
m.connect(("::ffff:'"$HOST_ADDR"'", 7501)); print(m.recv(100).decode())' 2>"$TN_TMP/kv6.err") ||
	fail "tapnet run --kernel-ipv6 failed: $(cat "$TN_TMP/kv6.err")"
[ "$(echo $out)" = "v6 from ::1 from $TAPNET_ADDR" ] || fail "--kernel-ipv6: '$out'"
grep -q 'stays the kernel.s: tapnet has no UDP' "$TN_TMP/kv6.err" ||
	fail "-v did not name the UDP socket: $(cat "$TN_TMP/kv6.err")"
grep -q 'is for IPv6: now the kernel.s (--kernel-ipv6)' "$TN_TMP/kv6.err" ||
	fail "-v did not name the IPv6 socket: $(cat "$TN_TMP/kv6.err")"
expect_counter_above TcpActiveOpens "$active"
log "--kernel-ipv6: [::1] through the kernel, ::ffff:$HOST_ADDR through tapnet; -v said: $(tr '\n' '|' <"$TN_TMP/kv6.err")"
exit 0
