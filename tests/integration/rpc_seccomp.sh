#!/bin/bash
# rpc_seccomp.sh - programs that make their socket calls without libc are
# on tapnet through `tapnet run`'s seccomp supervisor: a statically linked
# C program (static_sock, into which no shim can be preloaded)
#   - connects to a kernel-side echo server with a blocking connect: the
#     server sees tapnet's address, TcpActiveOpens counts it, its packets
#     come in on tap0;
#   - connects non-blocking as Go does (EINPROGRESS, POLLOUT, SO_ERROR),
#     also to a closed port (ECONNREFUSED);
#   - sends with MSG_FASTOPEN and an address (connect, then send), with the
#     answers a kernel socket gives, and has MSG_OOB refused (EOPNOTSUPP);
#   - connects a socket again after a failed connect, blocking and not, with
#     the answers a kernel socket gives;
#   - has a socket never connected answer send, recv and poll at once, as a
#     kernel socket does, and connect afterwards (non-blocking, close-on-exec);
#   - makes a socket non-blocking (FIONBIO), adds it to an epoll set before it
#     connects, and epoll reports it;
#   - makes connection after connection at one request each (spares);
#   - reads ECONNRESET (then end-of-file) after the peer resets, as from a
#     kernel socket: the supervisor, told of the reset, sends the byte that
#     makes tapnetd's close of its end of the pair a reset for the program;
#   - listens and accepts kernel-side clients (a blocking accept, which a
#     signal interrupts and SA_RESTART restarts, then a non-blocking accept4
#     with poll): TcpPassiveOpens counts them;
#   - keeps UDP and AF_UNIX sockets the kernel's, and they work;
#   - is followed when a dynamic program (the shim loaded) execs it, and a
#     python program's sockets made with the raw system call are tapnet's;
#   - sees its listener fail one accept with ECONNABORTED when tapnetd
#     stops, then stay quiet (as under the shim, rpc_daemon_gone.sh);
#   - with AF_INET6: v4-mapped through tapnet, IPv6 proper ENETUNREACH with a
#     line on stderr, or the kernel's with --kernel-ipv6; the loopback the
#     kernel's with --kernel-loopback;
# a dynamic program with the shim costs the supervisor no call at all;
# `tapnet run -v` says which sockets the supervisor made; with --no-seccomp
# the same program's socket is the kernel's (which shows that the checks
# above can tell).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

STATIC=$TOP_BUILDDIR/tests/integration/static_sock
[ -x "$STATIC" ] || fail "$STATIC not built"
grep -q 'INTERP' <(LC_ALL=C readelf -lW "$STATIC" 2>/dev/null) &&
	fail "$STATIC has a program interpreter: not statically linked"

# supervisor_summary FILE: the supervisor's last line under -v (it prints it
# once the program's last process is gone, which may be after `tapnet run`
# returned: the supervisor is no child of the program); bounded wait.
supervisor_summary() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		grep -q 'calls caught' "$1" && break
		sleep 0.1
	done
	grep 'calls caught' "$1" || fail "no summary from the supervisor in $1: $(cat "$1")"
}

start_tapnetd
require_seccomp
# kernel side: an echo server that logs each peer
echo_server kernel kecho 7601

# --- a blocking connect, an echo, names, SO_ERROR, shutdown
active=$(counter TcpActiveOpens)
tap_rx() { ns_exec cat /sys/class/net/$IFACE/statistics/rx_packets; }
rx=$(tap_rx)
out=$(tn_run -v "$STATIC" client "$HOST_ADDR" 7601 2>"$TN_TMP/client.err") ||
	fail "static client: $out $(cat "$TN_TMP/client.err")"
# SYN, ACK, data, ACK, FIN, ACK at least: what the kernel received on tap0
[ "$(tap_rx)" -ge $((rx + 5)) ] || fail "tap0 received $(($(tap_rx) - rx)) packets, expected >= 5"
log "static client: tap0 received $(($(tap_rx) - rx)) packets"
log "static client: $(echo $out)"
grep -q "local $TAPNET_ADDR:" <<<"$out" || fail "static client's local address: $out"
grep -q 'socket(AF_INET, SOCK_STREAM) made without libc: tapnet.s' "$TN_TMP/client.err" ||
	fail "-v did not say the supervisor made the socket: $(cat "$TN_TMP/client.err")"
grep -q 'seccomp supervisor (pid [0-9]*) follows' "$TN_TMP/client.err" ||
	fail "-v did not say the supervisor runs: $(cat "$TN_TMP/client.err")"
expect_counter_above TcpActiveOpens "$active"
grep -qx "peer $TAPNET_ADDR" "$TN_TMP/kecho.log" ||
	fail "the kernel-side server did not see $TAPNET_ADDR: $(cat "$TN_TMP/kecho.log")"

# --- a dynamic program (the shim loaded) that execs the static one: followed too
active=$(counter TcpActiveOpens)
out=$(tn_run /bin/sh -c 'exec "$0" client "$1" 7601' "$STATIC" "$HOST_ADDR" 2>&1) ||
	fail "sh -c exec static client: $out"
grep -q "local $TAPNET_ADDR:" <<<"$out" || fail "static client exec'd by sh: $out"
expect_counter_above TcpActiveOpens "$active"
log "static client exec'd by a shell that has the shim: on tapnet"

# --- a program the shim serves: the supervisor gets none of its calls
out=$(tn_run -v "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$HOST_ADDR"'", 7601)); s.sendall(b"py\n"); print(s.recv(10).decode().strip())' \
	2>"$TN_TMP/py.err") || fail "python client with the filter on: $out $(cat "$TN_TMP/py.err")"
[ "$out" = py ] || fail "python client with the filter on: '$out'"
summary=$(supervisor_summary "$TN_TMP/py.err")
grep -q 'seccomp supervisor (pid [0-9]*): 0 calls caught' <<<"$summary" ||
	fail "the supervisor saw calls of a program the shim serves: $(cat "$TN_TMP/py.err")"
log "python (the shim) with the filter on: $summary"
log "static client: $(supervisor_summary "$TN_TMP/client.err")"

# --- a program the shim serves that makes a socket with the raw system call:
# the supervisor's placeholder; the shim hands its bind and listen (which it
# would otherwise send marked, straight to the kernel) to the supervisor,
# which makes it tapnet's: a kernel-side client reaches it on tapnet
passive=$(counter TcpPassiveOpens)
bg rawsock tn_run "$PYTHON" -u -c '
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(41, socket.AF_INET, socket.SOCK_STREAM, 0)  # SYS_socket, no libc wrapper
assert fd >= 0, ctypes.get_errno()
s = socket.socket(fileno=fd)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("'"$TAPNET_ADDR"'", 7605)); s.listen(1)
c, peer = s.accept(); c.sendall(b"raw socket on tapnet"); c.close()'
wait_listen tapnet "$TAPNET_ADDR" 7605
reply=$(ns_exec "$PYTHON" -c '
import socket
print(socket.create_connection(("'"$TAPNET_ADDR"'", 7605), timeout=10).recv(100).decode())') ||
	fail "kernel client to the raw-socket server: $(cat "$TN_TMP/rawsock.log")"
[ "$reply" = "raw socket on tapnet" ] || fail "the raw-socket server answered '$reply'"
expect_counter_above TcpPassiveOpens "$passive"
active=$(counter TcpActiveOpens)
out=$(tn_run "$PYTHON" -c '
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.syscall(41, socket.AF_INET, socket.SOCK_STREAM, 0)
assert fd >= 0, ctypes.get_errno()
s = socket.socket(fileno=fd)
s.connect(("'"$HOST_ADDR"'", 7601)); s.sendall(b"raw\n"); print(s.recv(10).decode().strip())' 2>&1) ||
	fail "raw-socket client: $out"
[ "$out" = raw ] || fail "raw-socket client: '$out'"
expect_counter_above TcpActiveOpens "$active"
log "a socket from the raw system call in a program the shim serves: on tapnet, as server and client"

# --- non-blocking connect as Go makes it
active=$(counter TcpActiveOpens)
out=$(tn_run "$STATIC" nbclient "$HOST_ADDR" 7601 7609 2>&1) || fail "static nbclient: $out"
log "static non-blocking client: $(echo $out)"
[ "$(counter TcpActiveOpens)" -ge $((active + 2)) ] ||
	fail "TcpActiveOpens $(counter TcpActiveOpens), expected >= $((active + 2))"

# --- TCP Fast Open's connect-and-send (sendto and sendmsg with MSG_FASTOPEN
# and an address): the same answers from a kernel socket and through the
# supervisor (EISCONN from the pair before); MSG_OOB: EOPNOTSUPP, and the
# stream around it whole (the pair lost the byte without a word before)
kernel_says=$(ns_exec "$STATIC" fastopen "$HOST_ADDR" 7601 7609 2>&1)
grep -q "^blocking sendto 6 hello$" <<<"$kernel_says" || fail "static fastopen on the kernel: $kernel_says"
active=$(counter TcpActiveOpens)
tapnet_says=$(tn_run "$STATIC" fastopen "$HOST_ADDR" 7601 7609 2>&1)
[ "$tapnet_says" = "$kernel_says" ] ||
	fail "static MSG_FASTOPEN through the supervisor: $tapnet_says; the kernel: $kernel_says"
[ "$(counter TcpActiveOpens)" -ge $((active + 3)) ] ||
	fail "MSG_FASTOPEN: TcpActiveOpens $(counter TcpActiveOpens), expected >= $((active + 3))"
log "static MSG_FASTOPEN as on the kernel: $(tr '\n' ';' <<<"$tapnet_says")"
# --- connect again after a failed connect, blocking (starts anew) and
# non-blocking (the first connect again reports the failure, the next
# starts anew), as on the kernel (EINVAL before)
kernel_says=$(ns_exec "$STATIC" again "$HOST_ADDR" 7601 7609 2>&1)
grep -q "^echo non-blocking$" <<<"$kernel_says" || fail "static connect again on the kernel: $kernel_says"
tapnet_says=$(tn_run "$STATIC" again "$HOST_ADDR" 7601 7609 2>&1)
[ "$tapnet_says" = "$kernel_says" ] ||
	fail "static connect again through the supervisor: $tapnet_says; the kernel: $kernel_says"
log "static connect again as on the kernel: $(tr '\n' ';' <<<"$tapnet_says")"
# --- a socket never connected answers at once, as the kernel's (send EPIPE,
# recv ENOTCONN, poll hung up), then connects after fcntl made it non-blocking
# and close-on-exec (each call waited for ever before: the program's alarm ends it)
kernel_says=$(ns_exec "$STATIC" unconnected "$HOST_ADDR" 7601 2>&1)
grep -q "^send EPIPE$" <<<"$kernel_says" || fail "static unconnected on the kernel: $kernel_says"
active=$(counter TcpActiveOpens)
tapnet_says=$(tn_run "$STATIC" unconnected "$HOST_ADDR" 7601 2>&1)
[ "$tapnet_says" = "$kernel_says" ] ||
	fail "static never-connected socket through the supervisor: $tapnet_says; the kernel: $kernel_says"
expect_counter_above TcpActiveOpens "$active"
log "static never-connected socket as on the kernel: $(tr '\n' ';' <<<"$tapnet_says")"
# --- a socket made non-blocking (ioctl FIONBIO) and added to an epoll set
# before its connect, as nginx does an upstream connection: the set must
# watch the tapnet socket, not the placeholder the connect replaces
kernel_says=$(ns_exec "$STATIC" epollfirst "$HOST_ADDR" 7601 2>&1)
grep -q "^epoll_wait 1 out data 42$" <<<"$kernel_says" || fail "static epollfirst on the kernel: $kernel_says"
tapnet_says=$(tn_run "$STATIC" epollfirst "$HOST_ADDR" 7601 2>&1)
[ "$tapnet_says" = "$kernel_says" ] ||
	fail "static epoll before connect through the supervisor: $tapnet_says; the kernel: $kernel_says"
log "static epoll before connect as on the kernel: $(tr '\n' ';' <<<"$tapnet_says")"
# --- connection after connection: from the third on, a connect brings the
# next socket (the supervisor keeps a spare, as the shim does), so each costs
# one request; HELLOs and the first two sockets' own make the rest (44 for
# 20 connections when the supervisor asked for each socket, 26 with spares)
requests=$(counter CtlRequests)
out=$(tn_run "$STATIC" many "$HOST_ADDR" 7601 20 2>&1) || fail "static many: $out"
[ "$out" = "20 echoes" ] || fail "static many: $out"
used=$(($(counter CtlRequests) - requests))
[ "$used" -le 30 ] || fail "20 static connections made $used requests to tapnetd (at most 30)"
log "20 static connections: $used requests to tapnetd"
# --- the peer's reset: ECONNRESET once, then end-of-file, as Linux answers
resetter_server resetter 7605
out=$(tn_run -v "$STATIC" reset "$HOST_ADDR" 7605 2>"$TN_TMP/reset.err") ||
	fail "static reset: $out $(cat "$TN_TMP/reset.err")"
[ "$out" = "read ECONNRESET then 0" ] ||
	fail "static client after the peer's reset: $out $(cat "$TN_TMP/reset.err")"
supervisor_summary "$TN_TMP/reset.err" | grep -q ' 1 resets passed on' ||
	fail "the supervisor did not count the reset: $(cat "$TN_TMP/reset.err")"
log "static client after the peer's reset: $out"
# the same in a forked child that moved the socket to another number (the
# supervisor finds it there: /proc/PID/fd, the children)
out=$(tn_run "$STATIC" resetchild "$HOST_ADDR" 7605 2>&1) || fail "static resetchild: $out"
[ "$out" = "read ECONNRESET then 0" ] || fail "static child after the peer's reset: $out"
log "static child, socket moved, after the peer's reset: $out"
# --- a peer that goes silent, TCP_USER_TIMEOUT 1 s: Linux reads ETIMEDOUT
# then end-of-file; the pair can carry only ECONNRESET, but an error, not an
# end-of-file that passes for the end of the data
require_cmd nft
silent_server silent 7606
silenced_client static_timeout 7606 tn_run "$STATIC" timeout "$HOST_ADDR" 7606
out=$OUT
[[ "$out" =~ ^read\ ECONNRESET\ after\ [123]\.[0-9]\ s\ then\ 0,\ SO_ERROR\  ]] ||
	fail "static client after a timeout: $(cat "$TN_TMP/static_timeout.log")"
log "static client after TCP_USER_TIMEOUT: $out"
out=$(tn_run "$STATIC" oob "$HOST_ADDR" 7601 2>&1) || fail "static oob: $out"
[ "$out" = $'oob EOPNOTSUPP\necho after' ] || fail "static send(MSG_OOB) through the supervisor: $out"
log "static MSG_OOB: $(echo $out)"

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

# --- AF_INET6: v4-mapped is tapnet's; IPv6 proper fails, or is the kernel's with --kernel-ipv6
ns_exec sysctl -qw net.ipv6.conf.lo.disable_ipv6=0 && ns_exec ip link set lo up ||
	fail "cannot bring up lo with ::1 in the namespace"
bg kserver6 ns_exec "$PYTHON" -u -c '
import socket
l = socket.socket(socket.AF_INET6); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("::", 7603)); l.listen(8)
while True:
    c, peer = l.accept(); c.sendall(("from " + peer[0]).encode()); c.close()'
for ((i = 0; i < 50; i++)); do ns_exec ss -ltnH 'sport = :7603' | grep -q . && break; sleep 0.1; done
out=$(tn_run "$STATIC" connect6 "::ffff:$HOST_ADDR" 7603 2>&1)
[ "$out" = "got from ::ffff:$TAPNET_ADDR" ] || fail "static AF_INET6 to ::ffff:$HOST_ADDR: '$out'"
out=$(tn_run "$STATIC" connect6 ::1 7603 2>"$TN_TMP/v6.err")
[ "$out" = ENETUNREACH ] || fail "static AF_INET6 to ::1: '$out' $(cat "$TN_TMP/v6.err")"
grep -q 'connect to \[::1\]:7603: tapnet has no IPv6' "$TN_TMP/v6.err" ||
	fail "no clear message for the pure IPv6 connect: $(cat "$TN_TMP/v6.err")"
out=$(tn_run -v --kernel-ipv6 "$STATIC" connect6 ::1 7603 2>"$TN_TMP/kv6.err")
[ "$out" = "got from ::1" ] || fail "static --kernel-ipv6 to ::1: '$out' $(cat "$TN_TMP/kv6.err")"
grep -q 'socket [0-9]* is for IPv6: now the kernel.s (--kernel-ipv6)' "$TN_TMP/kv6.err" ||
	fail "-v did not name the IPv6 socket: $(cat "$TN_TMP/kv6.err")"
log "static AF_INET6: v4-mapped through tapnet; ::1 ENETUNREACH, or the kernel's with --kernel-ipv6"
# --kernel-loopback: ::1 and 127.0.0.1 (v4-mapped) are the kernel's, the supervisor's sockets too
for addr in ::1 ::ffff:127.0.0.1; do
	out=$(tn_run -v --kernel-loopback "$STATIC" connect6 "$addr" 7603 2>"$TN_TMP/klo.err")
	[ "$out" = "got from $addr" ] || fail "static --kernel-loopback to $addr: '$out' $(cat "$TN_TMP/klo.err")"
	grep -q 'socket [0-9]* is for the loopback: now the kernel.s (--kernel-loopback)' "$TN_TMP/klo.err" ||
		fail "-v did not name the loopback socket: $(cat "$TN_TMP/klo.err")"
done
log "static AF_INET6 with --kernel-loopback: ::1 and ::ffff:127.0.0.1 the kernel's"

# --- the same client without the supervisor: its socket is the kernel's
out=$(tn_run --no-seccomp "$STATIC" client "$HOST_ADDR" 7601 2>&1) ||
	fail "static client with --no-seccomp: $out"
grep -q "local $HOST_ADDR:" <<<"$out" || fail "--no-seccomp: expected the kernel's socket: $out"
log "with --no-seccomp the static client's socket is the kernel's: $(grep '^local' <<<"$out")"

# --- tapnetd stops under a static listener: one ECONNABORTED, then quiet (no spinning)
bg gone tn_run "$STATIC" gone "$TAPNET_ADDR" 7604 "$TN_TMP/stopped"
wait_listen tapnet "$TAPNET_ADDR" 7604
stop_tapnetd
touch "$TN_TMP/stopped"
said() { grep -v '^tapnet:' "$TN_TMP/gone.log" | tr '\n' ' '; }
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(grep -vc '^tapnet:' "$TN_TMP/gone.log")" -ge 4 ] && break
	sleep 0.1
done
[ "$(said)" = "listening aborted quiet quiet " ] ||
	fail "static listener after tapnetd stopped: $(cat "$TN_TMP/gone.log")"
grep -q '^tapnet: a listening socket lost tapnetd' "$TN_TMP/gone.log" ||
	fail "no line on stderr for the lost listener: $(cat "$TN_TMP/gone.log")"
log "static listener after tapnetd stopped: $(said)"
exit 0
