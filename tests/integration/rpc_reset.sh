#!/bin/bash
# rpc_reset.sh - a peer's RST reaches a program on tapnet as ECONNRESET: a
# kernel-side server sends one byte and then resets the connection (SO_LINGER
# 0); a python client under `tapnet run` reads the byte, then recv() raises
# ConnectionResetError, and a further recv() returns end-of-file, as on Linux.
# Then a peer that goes silent under TCP_USER_TIMEOUT: ETIMEDOUT after it.
# Then sends after a reset: ECONNRESET, then EPIPE, as on Linux, and with
# SIGPIPE not ignored the first send returns and the second ends the program.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
bg resetter ns_exec "$PYTHON" -c '
import socket, struct
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7008)); l.listen(1)
c, _ = l.accept()
c.sendall(b"x")
c.recv(1)  # the client says it has read the byte
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()'
wait_listen kernel "$HOST_ADDR" 7008
out=$(tn_run timeout 20 "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$HOST_ADDR"'", 7008), timeout=10)
assert s.recv(1) == b"x"
s.sendall(b"k")
try:
    data = s.recv(100)
    print("no reset: recv returned %r" % data)
except ConnectionResetError:
    print("ECONNRESET then %r" % s.recv(100))' 2>&1)
[ "$out" = "ECONNRESET then b''" ] || fail "after the peer's RST: $out"
log "after the peer's RST: $out"

# A peer that goes silent (nftables drops what it sends to tapnet) with
# TCP_USER_TIMEOUT 1 s: the data stays unacknowledged, and after that second
# (not after 15 retransmissions, about 15 minutes) the program's recv()
# raises TimeoutError (ETIMEDOUT), once, then reads end-of-file, as on Linux.
require_cmd nft
bg silent ns_exec "$PYTHON" -c '
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7009)); l.listen(1)
c, _ = l.accept()
time.sleep(60)'
wait_listen kernel "$HOST_ADDR" 7009
bg timeout_client tn_run timeout 30 "$PYTHON" -u -c '
import os, socket, time
T = socket.IPPROTO_TCP
s = socket.create_connection(("'"$HOST_ADDR"'", 7009), timeout=20)
s.setsockopt(T, socket.TCP_USER_TIMEOUT, 1000)
print("user timeout", s.getsockopt(T, socket.TCP_USER_TIMEOUT), flush=True)
while not os.path.exists("'"$TN_TMP/silent"'"):
    time.sleep(0.05)
t0 = time.monotonic()
s.sendall(b"unanswered")
try:
    print("no error: recv returned %r" % s.recv(100))
except TimeoutError as e:
    print("ETIMEDOUT" if e.errno else "socket timeout", "after %.1f s then %r" % (time.monotonic() - t0, s.recv(100)))'
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	grep -q "^user timeout" "$TN_TMP/timeout_client.log" 2>/dev/null && break
	sleep 0.1
done
grep -qx "user timeout 1000" "$TN_TMP/timeout_client.log" ||
	fail "getsockopt(TCP_USER_TIMEOUT): $(cat "$TN_TMP/timeout_client.log")"
ns_exec nft -f - <<NFT || fail "cannot make the peer silent with nftables"
table inet silent {
	chain out { type filter hook output priority 0; ip daddr $TAPNET_ADDR tcp sport 7009 drop; }
}
NFT
: >"$TN_TMP/silent"
aborts=$(counter TcpExtTCPAbortOnTimeout)
for ((i = 0; i < 150; i++)); do
	grep -q "after" "$TN_TMP/timeout_client.log" && break
	sleep 0.1
done
out=$(tail -1 "$TN_TMP/timeout_client.log")
ns_exec nft delete table inet silent
grep -qE "^ETIMEDOUT after [123]\.[0-9] s then b''$" <<<"$out" ||
	fail "a silent peer with TCP_USER_TIMEOUT 1000: $out"
expect_counter_above TcpExtTCPAbortOnTimeout "$aborts"
log "a silent peer with TCP_USER_TIMEOUT 1000: $out"

# sends after a reset: the first reports it (ECONNRESET, where the pair
# alone says EPIPE), the next are EPIPE, then end-of-file, as on Linux. The
# peer resets only once the client's connect() has returned: a reset that
# comes before may end the connect itself with ECONNRESET, on Linux as here.
# Then the same with SIGPIPE's default action (python ignores it), by
# send, write, writev, sendmsg, sendfile, splice, write on a dup of the
# socket (and on one at a number past 4096) and write by
# a program it was inherited by across exec: Linux raises SIGPIPE with
# EPIPE only, so the send that reports the reset returns ECONNRESET and the
# program lives on to the next send, which ends it (exit status 141).
HOW=(send write writev sendmsg write-dup write-exec sendfile splice)
# fd numbers past the shim's first page of notes (4096), as far as the hard limit lets
HIGH_FD=$(($(ulimit -Hn) - 1))
[ "$HIGH_FD" -gt 70000 ] && HIGH_FD=70000
if [ "$HIGH_FD" -gt 4096 ]; then
	HOW+=(write-dup-high)
else
	log "not checked: a write on a copy past fd 4096 (the hard limit on fds is $(ulimit -Hn))"
fi
NAMES=(kernel tapnet kernel-ign tapnet-ign kernel-in tapnet-in)
for how in "${HOW[@]}"; do NAMES+=("kernel-$how" "tapnet-$how"); done
bg rst_sender ns_exec "$PYTHON" -c '
import os, socket, struct, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7010)); l.listen(2)
for who in sys.argv[1:]:
    c, _ = l.accept()
    while not os.path.exists("'"$TN_TMP"'/connected." + who):
        time.sleep(0.02)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    open("'"$TN_TMP"'/reset." + who, "w").close()' "${NAMES[@]}"
wait_listen kernel "$HOST_ADDR" 7010
CONNECT_AND_WAIT_FOR_RESET='
import errno, os, signal, socket, sys, time
host, tmp, who = sys.argv[1:4]
s = socket.create_connection((host, 7010))
open(tmp + "/connected." + who, "w").close()
while not os.path.exists(tmp + "/reset." + who):
    time.sleep(0.02)
time.sleep(0.5)  # the RST is in
# a file f and a pipe (r, w) holding bytes, for sendfile and splice
open(tmp + "/file." + who, "wb").write(b"x" * 10)
f = os.open(tmp + "/file." + who, os.O_RDONLY)
r, w = os.pipe()
os.write(w, b"xxxx")
'
# probe_after_reset WHO WANT WHAT CALLS: CALLS (python, each answer printed
# by answer()) on a connection the peer reset, on the kernel as WHO
# kernel-..., then under `tapnet run` as WHO tapnet-...; the kernel must
# answer WANT and tapnet as the kernel
probe_after_reset() {
	local who=$1 want=$2 what=$3 probe kernel_says tapnet_says
	probe=$CONNECT_AND_WAIT_FOR_RESET'
def answer(f):
    try:
        return repr(f())
    except OSError as e:
        return errno.errorcode[e.errno]
'$4
	kernel_says=$(ns_exec timeout 20 "$PYTHON" -c "$probe" "$HOST_ADDR" "$TN_TMP" "kernel$who" 2>&1)
	tapnet_says=$(tn_run timeout 20 "$PYTHON" -c "$probe" "$HOST_ADDR" "$TN_TMP" "tapnet$who" 2>&1)
	[ "$kernel_says" = "$want" ] || fail "$what after a reset on the kernel: $kernel_says"
	[ "$tapnet_says" = "$kernel_says" ] || fail "$what after a reset under tapnet run: $tapnet_says"
	log "$what after a reset: $tapnet_says, as on the kernel"
}
probe_after_reset "" "ECONNRESET EPIPE b''" "sends" \
	'print(answer(lambda: s.send(b"x")), answer(lambda: s.send(b"x")), answer(lambda: s.recv(10)))'
# sendfile and splice onto the socket, SIGPIPE ignored (as python, nginx):
# the first reports the reset, the next are EPIPE
probe_after_reset -ign "ECONNRESET EPIPE EPIPE" "sendfile and splice" \
	'print(answer(lambda: os.sendfile(s.fileno(), f, 0, 1)), answer(lambda: os.sendfile(s.fileno(), f, 0, 1)),
      answer(lambda: os.splice(r, s.fileno(), 1)))'
# and splice from the socket reads the reset, then end-of-file, as recv
probe_after_reset -in "ECONNRESET 0" "splice from the socket" \
	'print(answer(lambda: os.splice(s.fileno(), w, 10)), answer(lambda: os.splice(s.fileno(), w, 10)))'

SIGPIPE_PROBE=$CONNECT_AND_WAIT_FOR_RESET'
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
copy = os.dup(s.fileno())
if sys.argv[4] == "write-dup-high":  # a copy at a number a busy server has
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    copy = os.dup2(s.fileno(), '"$HIGH_FD"')
if sys.argv[4] == "write-exec":  # the same two writes, by the program exec makes of this one
    os.set_inheritable(copy, True)
    os.execv(sys.executable, [sys.executable, "-c", "\n".join((
        "import errno, os, signal, sys", "signal.signal(signal.SIGPIPE, signal.SIG_DFL)",
        "fd = int(sys.argv[1])", "try:", "    print(\"sent %d\" % os.write(fd, b\"x\"), flush=True)",
        "except OSError as e:", "    print(errno.errorcode[e.errno], flush=True)",
        "os.write(fd, b\"x\")", "print(\"no SIGPIPE\", flush=True)")), str(copy)])
op = {"send": lambda: s.send(b"x"), "write": lambda: os.write(s.fileno(), b"x"),
      "writev": lambda: os.writev(s.fileno(), [b"x", b"y"]), "sendmsg": lambda: s.sendmsg([b"x"]),
      "write-dup": lambda: os.write(copy, b"x"), "write-dup-high": lambda: os.write(copy, b"x"),
      "sendfile": lambda: os.sendfile(s.fileno(), f, 0, 1), "splice": lambda: os.splice(r, s.fileno(), 1)}[sys.argv[4]]
try:
    print("sent %d" % op(), flush=True)
except OSError as e:
    print(errno.errorcode[e.errno], flush=True)
op()
print("no SIGPIPE", flush=True)'
for how in "${HOW[@]}"; do
	# timeout --preserve-status: the program's own status, 141 for a SIGPIPE
	kernel_says=$(ns_exec timeout --preserve-status 20 "$PYTHON" -c "$SIGPIPE_PROBE" \
		"$HOST_ADDR" "$TN_TMP" "kernel-$how" "$how" 2>&1; echo "exit $?")
	tapnet_says=$(tn_run timeout --preserve-status 20 "$PYTHON" -c "$SIGPIPE_PROBE" \
		"$HOST_ADDR" "$TN_TMP" "tapnet-$how" "$how" 2>&1; echo "exit $?")
	kernel_says=${kernel_says//$'\n'/ } tapnet_says=${tapnet_says//$'\n'/ }
	[ "$kernel_says" = "ECONNRESET exit 141" ] ||
		fail "$how after a reset, SIGPIPE not ignored, on the kernel: $kernel_says"
	[ "$tapnet_says" = "$kernel_says" ] ||
		fail "$how after a reset, SIGPIPE not ignored, under tapnet run: $tapnet_says (the kernel: $kernel_says)"
done
log "${HOW[*]} after a reset with SIGPIPE's default action: ECONNRESET, then SIGPIPE, as on the kernel"
exit 0
