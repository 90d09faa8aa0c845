#!/bin/bash
# rpc_connect.sh - connect() on tapnet tells the truth: a python client with
# non-blocking connect and selectors (epoll) sees EINPROGRESS, writability
# and SO_ERROR = ECONNREFUSED for a closed kernel-side port; blocking connect
# raises ConnectionRefusedError; a connect to an open port is writable only
# once established, then names, options and an echo work. Also: a port
# below 1024 needs privileges, as on Linux; sendto and sendmsg with
# MSG_FASTOPEN connect and send, answering as the kernel does; MSG_OOB is
# refused (EOPNOTSUPP), urgent data received reads inline; a send or
# receive on a socket never connected, bound or listening answers EPIPE
# (SIGPIPE) or ENOTCONN at once, for each of the calls that do them, and
# poll, select and pselect report it at once, as the kernel does (the pair
# alone would wait for ever), on the socket and on its copies (fcntl
# F_DUPFD, dup, dup2); IP_TOS and IP_TTL are on the segments.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd nc setpriv

start_tapnetd
# kernel-side echo of one line (nc -l closes after its peer's FIN when -N... use python)
bg echo ns_exec "$PYTHON" -c '
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7007)); l.listen(1)
while True:
    c, _ = l.accept()
    data = b""
    while True:
        b = c.recv(4096)
        if not b: break
        data += b
    c.sendall(data); c.close()'
wait_listen kernel "$HOST_ADDR" 7007
# the probe's expectations are the kernel's own answers
ns_exec "$PYTHON" "$TOP_SRCDIR/tests/integration/connect_probe.py" "$HOST_ADDR" 9 7007 >/dev/null ||
	fail "connect_probe.py expects what a kernel socket does not answer"
tn_run "$PYTHON" "$TOP_SRCDIR/tests/integration/connect_probe.py" "$HOST_ADDR" 9 7007 ||
	fail "connect_probe.py found a wrong answer"
[ "$(counter TcpAttemptFails)" -ge 2 ] || fail "TcpAttemptFails is $(counter TcpAttemptFails), expected >= 2"

# an accepted socket has its listener's options, as on Linux
bg inherit tn_run "$PYTHON" -c '
import socket, struct
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
l.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
l.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 7))
l.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 42)
l.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
l.bind(("'"$TAPNET_ADDR"'", 7300)); l.listen(1)
print("listening", flush=True)
c, _ = l.accept()
got = (l.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), c.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
       l.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF), c.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
       struct.unpack("ii", c.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)),
       c.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
       c.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
       c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
print("inherited", got == (16384, 16384, 32768, 32768, (1, 7), 1, 42, 1), got, flush=True)'
wait_listen tapnet "$TAPNET_ADDR" 7300
ns_exec "$PYTHON" -c 'import socket; socket.create_connection(("'"$TAPNET_ADDR"'", 7300)).close()'
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	grep -q "^inherited" "$TN_TMP/inherit.log" && break
	sleep 0.1
done
grep -q "^inherited True" "$TN_TMP/inherit.log" ||
	fail "accepted socket options: $(cat "$TN_TMP/inherit.log")"
log "accepted socket: $(cat "$TN_TMP/inherit.log" | tail -1)"

# sendto and sendmsg with MSG_FASTOPEN (TCP Fast Open's connect-and-send):
# the same answers from the kernel and under `tapnet run` (EISCONN before)
echo_server kernel fastopen 7400
FASTOPEN_PROBE='
import errno, select, socket, sys
host, port, closed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
F = socket.MSG_FASTOPEN
def err(f):
    try:
        f(); return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
s = socket.socket()
n = s.sendto(b"hello", F, (host, port))
print("blocking sendto", n, s.recv(100).decode())
print("again on it", err(lambda: s.sendto(b"x", F, (host, port))))
s.close()
s = socket.socket()
n = s.sendmsg([b"msg", b"parts"], [], F, (host, port))
print("blocking sendmsg", n, s.recv(100).decode())
s.close()
s = socket.socket(); s.setblocking(False)
print("non-blocking sendto", err(lambda: s.sendto(b"lost", F, (host, port))))
select.select([], [s], [], 10)
s.setblocking(True); s.sendall(b"later"); print("then", s.recv(100).decode())
s.close()
print("closed port", err(lambda: socket.socket().sendto(b"x", F, (host, closed))))
'
kernel_says=$(ns_exec "$PYTHON" -c "$FASTOPEN_PROBE" "$HOST_ADDR" 7400 9 2>&1)
tapnet_says=$(tn_run "$PYTHON" -c "$FASTOPEN_PROBE" "$HOST_ADDR" 7400 9 2>&1)
grep -q "^blocking sendto 5 hello" <<<"$kernel_says" ||
	fail "MSG_FASTOPEN from the kernel side itself: $kernel_says"
[ "$tapnet_says" = "$kernel_says" ] ||
	fail "MSG_FASTOPEN under tapnet run: $tapnet_says; the kernel: $kernel_says"
log "MSG_FASTOPEN as on the kernel: $(tr '\n' ';' <<<"$tapnet_says")"

# urgent data: a send with MSG_OOB under `tapnet run` fails (EOPNOTSUPP)
# instead of losing its byte in the socket pair, whose reads pass over an
# out-of-band byte, and the stream around it arrives whole; the urgent byte
# a kernel client sends reaches a tapnet server inline (as SO_OOBINLINE)
oob=$(tn_run "$PYTHON" -c '
import errno, socket, sys
s = socket.create_connection((sys.argv[1], 7400))
s.sendall(b"abc")
try:
    s.send(b"X", socket.MSG_OOB); print("sent")
except OSError as e:
    print("EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else errno.errorcode[e.errno])
s.sendall(b"def")
data = b""
while len(data) < 6:
    b = s.recv(100)
    if not b: break
    data += b
print(data.decode())' "$HOST_ADDR" 2>&1)
[ "$oob" = $'EOPNOTSUPP\nabcdef' ] || fail "send(MSG_OOB) under tapnet run: $oob"
bg urgent tn_run "$PYTHON" -c '
import socket
l = socket.socket(); l.bind(("'"$TAPNET_ADDR"'", 7500)); l.listen(1)
c, _ = l.accept()
data = b""
while True:
    b = c.recv(100)
    if not b: break
    data += b
print("got", data.decode(), flush=True)'
wait_listen tapnet "$TAPNET_ADDR" 7500
ns_exec "$PYTHON" -c '
import socket, time
s = socket.create_connection(("'"$TAPNET_ADDR"'", 7500))
s.sendall(b"abc"); time.sleep(0.1); s.send(b"X", socket.MSG_OOB); time.sleep(0.1); s.sendall(b"def"); s.close()' ||
	fail "the kernel-side client with urgent data"
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	grep -q "^got" "$TN_TMP/urgent.log" && break
	sleep 0.1
done
grep -q "^got abcXdef$" "$TN_TMP/urgent.log" || fail "urgent data into tapnet: $(cat "$TN_TMP/urgent.log")"
log "MSG_OOB: EOPNOTSUPP from a tapnet socket; urgent data into tapnet read inline"

# IP_TOS and IP_TTL on the wire: nftables on the kernel side counts the
# segments from tapnet with DSCP CS1 (TOS 0x20) and TTL 33
require_cmd nft
ns_exec nft -f - <<NFT || fail "cannot set up the nftables counter"
table inet tosttl {
	chain in { type filter hook input priority 0; ip saddr $TAPNET_ADDR tcp dport 7400 ip dscp cs1 ip ttl 33 counter; }
}
NFT
tn_run "$PYTHON" -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x20)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 33)
assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == 0x20
assert s.getsockopt(socket.IPPROTO_IP, socket.IP_TTL) == 33
s.connect((sys.argv[1], 7400)); s.sendall(b"marked"); assert s.recv(100) == b"marked"' "$HOST_ADDR" ||
	fail "IP_TOS and IP_TTL through tapnet run"
marked=$(ns_exec nft list table inet tosttl | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
ns_exec nft delete table inet tosttl
[ "${marked:-0}" -ge 3 ] || fail "segments with TOS 0x20 and TTL 33 seen: ${marked:-none}, expected the handshake and data"
log "IP_TOS 0x20 and IP_TTL 33: $marked segments so marked"

# bind to port 80 as nobody: EACCES; as root: fine
out=$(tn_run_as nobody nogroup "$PYTHON" -c '
import socket, errno
s = socket.socket()
try:
    s.bind(("'"$TAPNET_ADDR"'", 80)); print("bound")
except PermissionError: print("EACCES")' 2>&1)
[ "$out" = EACCES ] || fail "bind to port 80 as nobody: $out, expected EACCES"
log "bind to port 80 as nobody: EACCES"
exit 0
