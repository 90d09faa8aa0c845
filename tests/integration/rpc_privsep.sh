#!/bin/bash
# rpc_privsep.sh - a server under `tapnet run` that forks per connection
# and separates privileges the way real servers do, after which its socket
# calls still reach tapnetd:
#   1. the child chroots into an empty directory, drops to nobody and
#      clears its environment, then uses its connection (TCP_NODELAY,
#      getpeername) and opens a new one to the kernel side;
#   2. the child drops to nobody and re-execs itself inetd-style with an
#      environment of LD_PRELOAD alone, and the new program does the same.
# Both children's outgoing connections are tapnet's (TcpActiveOpens).
#   3. a program takes the control connection's fd number for its own
#      (dup2 of a socket pair over it; close and reuse; close_range of
#      everything above stderr): its next socket calls go on a new
#      connection, and nothing of libtapnet's reaches the program's fds.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

require_cmd setpriv
start_tapnetd
publish_tools
EMPTY=$TN_TMP/empty
mkdir -m 0755 "$EMPTY" || fail "mkdir $EMPTY failed"

bg kserver ns_exec "$PYTHON" -u -c '
import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7601)); l.listen(8)
while True:
    c, peer = l.accept(); c.sendall(("hello " + peer[0]).encode()); c.close()'
wait_listen kernel "$HOST_ADDR" 7601

# what a child does with its connection once it has dropped everything
CHILD_WORK='
import socket
def work(c, how):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    nodelay = c.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    o = socket.create_connection(("'"$HOST_ADDR"'", 7601), timeout=10)
    out = o.recv(100).decode(); o.close()
    c.sendall(("%s: uid %d nodelay %d peer %s out %r\n" % (how, os.getuid(), nodelay, c.getpeername()[0], out)).encode())
    c.close()
'
active=$(counter TcpActiveOpens)
bg server ns_exec env TAPNET_PRELOAD="$PUB_PRELOAD" "$PUB_TAPNET" -s "$SOCK" run "$PYTHON" -u -c '
import os, socket, sys, encodings.idna  # idna: no imports once in the chroot
'"$CHILD_WORK"'
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$TAPNET_ADDR"'", 7600)); l.listen(4)
print("listening", flush=True)
for how in ("chroot", "exec"):
    c, peer = l.accept()
    if os.fork() == 0:
        l.close()
        if how == "chroot":
            os.chroot("'"$EMPTY"'"); os.chdir("/")
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        os.environ.clear()
        if how == "chroot":
            work(c, how); os._exit(0)
        os.dup2(c.fileno(), 0)
        os.execve(sys.executable, [sys.executable, "-c", "import os, socket\n" + r"""'"$CHILD_WORK"'""" +
                  "\nwork(socket.socket(fileno=0), \"exec\")"], {"LD_PRELOAD": "'"$PUB_PRELOAD"'"})
    c.close()
    os.wait()
print("served", flush=True)'
wait_for_file "$TN_TMP/server.log" 5
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do grep -q '^listening' "$TN_TMP/server.log" && break; sleep 0.1; done
for how in chroot exec; do
	out=$(ns_exec "$PYTHON" -c '
import socket
s = socket.create_connection(("'"$TAPNET_ADDR"'", 7600), timeout=20)
print(s.makefile().readline().strip())') || fail "$how: the connection to the server failed"
	[ "$out" = "$how: uid 65534 nodelay 1 peer $HOST_ADDR out 'hello $TAPNET_ADDR'" ] ||
		fail "$how child answered '$out' (server: $(cat "$TN_TMP/server.log"))"
	log "$out"
done
expect_counter_above TcpActiveOpens "$((active + 1))"

active=$(counter TcpActiveOpens)
out=$(tn_run "$PYTHON" -c '
import os, socket
def ctl_now():  # the fd of the control connection of this process, by its name
    for n in os.listdir("/proc/self/fd"):
        try:
            s = socket.socket(fileno=os.dup(int(n)))
        except OSError:
            continue
        name = s.getsockname() if s.family == socket.AF_UNIX else ""
        s.close()
        if isinstance(name, bytes) and name.startswith(b"\0tapnet-ctl/%d/" % os.getpid()):
            return int(n)
    raise SystemExit("no control connection")
ctl = int(os.environ["TAPNET_CTL_FD"])
assert ctl_now() == ctl
def use(how):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # without a reply
    s.settimeout(20); s.connect(("'"$HOST_ADDR"'", 7601))
    got = s.recv(100).decode()
    assert s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    s.close()
    print(how, got)
def quiet(sock):  # nothing of the control protocol reached the program
    sock.setblocking(False)
    try:
        data = sock.recv(100)
    except BlockingIOError:
        data = b""
    assert data == b"", (data, sock)
use("first")
a, b = socket.socketpair()
os.dup2(a.fileno(), ctl)  # the program puts its own socket at that number
use("dup2")
quiet(b)
ctl = ctl_now()
os.close(ctl)             # and closes it; the number comes back for a pair of its own
c, d = socket.socketpair()
assert c.fileno() == ctl or d.fileno() == ctl, (c, d, ctl)
use("close")
quiet(d if c.fileno() == ctl else c)
os.closerange(3, 1 << 20) # as daemons do: every fd above stderr
e, f = socket.socketpair()
use("closerange")
quiet(f); quiet(e)
') || fail "a program that took the control connection's number: $out"
[ "$(echo "$out" | grep -c "hello $TAPNET_ADDR\$")" -eq 4 ] || fail "expected 4 tapnet connections, got: $out"
log "the control connection's number taken by dup2, close, closerange: each time a new one ($(echo $out | tr '\n' ' '))"
expect_counter_above TcpActiveOpens "$((active + 3))"
exit 0
