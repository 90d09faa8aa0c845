#!/bin/bash
# rpc_cork.sh - TCP_CORK and TCP_NODELAY through `tapnet run`, seen on tap0.
# setsockopt of these options does not wait for tapnetd; the daemon applies
# each one after the bytes the program wrote before the call:
#  - corked writes of 100 bytes, spread out so that tapnetd takes each into
#    the core before the next, then uncork (no reply awaited): one segment
#    of 500 bytes; an uncork applied before the last write was taken would
#    send what the core held apart from the rest;
#  - getsockopt sees the value set without a reply;
#  - nginx with tcp_nopush (Debian's stock setting): each response, headers
#    and file, leaves in full segments but the last;
#  - an accepted socket's getsockname is answered from its accept record,
#    also after fork and dup, without a request to tapnetd;
#  - a connect's reply names its local end: getsockname, getpeername and
#    SO_ERROR of a connection that stands, the end of a blocking connect,
#    a connect again on it (EISCONN) and the end-of-file of an orderly
#    close make no request (two per connection: socket and connect; a
#    reset's end-of-file asks for its ECONNRESET);
#    names right as the kernel side sees them; a refused connect still
#    reports ECONNREFUSED, and getpeername ENOTCONN.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

require_nginx

start_tapnetd
nowait_errors=$(counter SockOptNowaitErrors)

# segments PORT: starts capturing the data segments to or from PORT on tap0
segments() {
	bg "seg$1" ns_exec "$PYTHON" "$TOP_SRCDIR/tests/integration/tcp_segments.py" tap0 "$1"
	wait_for_file_line "$TN_TMP/seg$1.log" ready
}
# sink NAME PORT: a kernel-side server on PORT that logs each arrival
# ("at BYTES-SO-FAR MONOTONIC-TIME") and the total at the end ("got BYTES")
sink() {
	bg "$1" ns_exec "$PYTHON" -c '
import socket, sys, time
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.0.0.1", int(sys.argv[1])))
l.listen(1)
c, _ = l.accept()
n = 0
while True:
    b = c.recv(65536)
    if not b:
        break
    n += len(b)
    print("at", n, time.monotonic(), flush=True)
print("got", n, flush=True)
' "$2"
}
# --- a kernel-side sink and a client on tapnet
segments 9000
sink sink 9000
wait_listen kernel 10.0.0.1 9000
tn_run "$PYTHON" -c '
import socket, time
T = socket.IPPROTO_TCP
s = socket.create_connection(("10.0.0.1", 9000))
s.setsockopt(T, socket.TCP_NODELAY, 1)
s.setsockopt(T, socket.TCP_CORK, 1)
assert s.getsockopt(T, socket.TCP_CORK) == 1, "getsockopt(TCP_CORK) after setting it"
for i in range(5):
    if i:
        time.sleep(0.02)  # lets tapnetd take each write into the core before the next
    s.sendall(b"a" * 100)
s.setsockopt(T, socket.TCP_CORK, 0)  # right after the last write: likely still in the pair
assert s.getsockopt(T, socket.TCP_CORK) == 0, "getsockopt(TCP_CORK) after clearing it"
assert s.getsockopt(T, socket.TCP_NODELAY) == 1
time.sleep(0.3)
s.sendall(b"z" * 7)
time.sleep(0.1)
s.close()
' >"$TN_TMP/client.log" 2>&1 || fail "client failed: $(cat "$TN_TMP/client.log")"
wait_for_file_line "$TN_TMP/sink.log" "got 507"
sizes=$(awk 'NF == 5 && $1 != 9000 { print $4 }' "$TN_TMP/seg9000.log" | tr '\n' ' ')
[ "$sizes" = "500 7 " ] ||
	fail "corked writes then uncork: data segments of $sizes, expected 500 then 7"
log "5 corked writes of 100 bytes, uncork without a reply: one segment of 500, then 7"

# --- the same through the option ring: a process that set options often
# writes them into memory it shares with tapnetd (the ring comes at its
# 8th); uncorking while tapnetd sleeps wakes it (else the data would wait
# for the cork's 200 ms ceiling); the ring is per process: a fork child
# makes its own, an exec'd image replaces its predecessor's on the same
# connection, and what each wrote applies in order with the rest. The
# client first checks that a socket named by its noted cookie (TCP_CORK)
# is the one at the number, after a close and after a dup2 over it.
ring_requests=$(counter CtlRingRequests)
ring_wakeups=$(counter CtlRingWakeups)
segments 9001
sink ringsink 9001
wait_listen kernel 10.0.0.1 9001
cat >"$TN_TMP/after_exec.py" <<'PY'
import socket, sys
T = socket.IPPROTO_TCP
s = socket.socket(fileno=int(sys.argv[1]))
for i in range(10):
    s.setsockopt(T, socket.TCP_KEEPCNT, 1 + i)
assert s.getsockopt(T, socket.TCP_KEEPCNT) == 10, "ten options after exec"
assert s.getsockopt(T, socket.TCP_KEEPINTVL) == 5
s.sendall(b"z" * 7)
s.close()
PY
tn_run "$PYTHON" - "$PYTHON" "$TN_TMP/after_exec.py" >"$TN_TMP/ringclient.log" 2>&1 <<'PY' ||
import errno, os, socket, sys, time
T = socket.IPPROTO_TCP
# TCP_CORK and TCP_NODELAY name the socket by the cookie noted at its
# number: a close or a dup2 over the number through libc forgets it
for i in range(3):
    u = socket.socket()
    fd = u.fileno()
    u.setsockopt(T, socket.TCP_CORK, 1)
    u.setsockopt(T, socket.TCP_CORK, 1)  # by the note
    assert u.getsockopt(T, socket.TCP_CORK) == 1
    u.close()
    v = socket.socket()
    assert v.fileno() == fd, (v.fileno(), fd)
    v.setsockopt(T, socket.TCP_CORK, 1)
    assert v.getsockopt(T, socket.TCP_CORK) == 1, "TCP_CORK went to the closed socket"
    k = socket.socket(socket.AF_UNIX)
    os.dup2(k.fileno(), fd)
    try:
        v.setsockopt(T, socket.TCP_CORK, 0)
        sys.exit("TCP_CORK on a Unix socket dup2'd over a tapnet one: no error")
    except OSError as e:
        assert e.errno == errno.EOPNOTSUPP, e
    v.close()
    k.close()
s = socket.create_connection(("10.0.0.1", 9001))
s.setsockopt(T, socket.TCP_NODELAY, 1)
for i in range(10):
    s.setsockopt(T, socket.TCP_KEEPIDLE, 60 + i)
assert s.getsockopt(T, socket.TCP_KEEPIDLE) == 69, "getsockopt after ten changes"
s.setsockopt(T, socket.TCP_CORK, 1)
for i in range(5):
    if i:
        time.sleep(0.02)
    s.sendall(b"a" * 100)
s.setsockopt(T, socket.TCP_CORK, 0)
assert s.getsockopt(T, socket.TCP_CORK) == 0
time.sleep(0.5)  # tapnetd goes to sleep
s.setsockopt(T, socket.TCP_CORK, 1)
s.sendall(b"b" * 50)
time.sleep(0.05)
print("uncork", time.monotonic(), flush=True)
s.setsockopt(T, socket.TCP_CORK, 0)
time.sleep(0.3)
pid = os.fork()
if pid == 0:
    for i in range(10):
        s.setsockopt(T, socket.TCP_KEEPINTVL, 10 + i)
    os._exit(0 if s.getsockopt(T, socket.TCP_KEEPINTVL) == 19 else 1)
_, st = os.waitpid(pid, 0)
assert st == 0, "ten options in a fork child, then getsockopt"
s.setsockopt(T, socket.TCP_KEEPINTVL, 5)
assert s.getsockopt(T, socket.TCP_KEEPINTVL) == 5, "the parent's ring after the child's"
os.set_inheritable(s.fileno(), True)
os.execv(sys.argv[1], [sys.argv[1], sys.argv[2], str(s.fileno())])
PY
	fail "ring client failed: $(cat "$TN_TMP/ringclient.log")"
wait_for_file_line "$TN_TMP/ringsink.log" "got 557"
sizes=$(awk 'NF == 5 && $1 != 9001 { print $4 }' "$TN_TMP/seg9001.log" | tr '\n' ' ')
[ "$sizes" = "500 50 7 " ] ||
	fail "through the ring: data segments of $sizes, expected 500, 50, then 7"
"$PYTHON" - "$TN_TMP/ringclient.log" "$TN_TMP/ringsink.log" <<'PY' || fail "an uncork while tapnetd slept did not wake it"
import sys
uncork = float(open(sys.argv[1]).read().split("uncork")[1].split()[0])
at = [float(l.split()[2]) for l in open(sys.argv[2]) if l.startswith("at 550 ")]
# woken, tapnetd sends at once; asleep, the cork's ceiling (200 ms after the write) would
assert at and at[0] - uncork < 0.1, "the 50 corked bytes came %.3f s after the uncork" % (at[0] - uncork)
print("the 50 corked bytes came %.3f s after the uncork" % (at[0] - uncork))
PY
ring_requests=$(($(counter CtlRingRequests) - ring_requests))
ring_wakeups=$(($(counter CtlRingWakeups) - ring_wakeups))
# from each process's 8th on: 17 of the first one's 24, 3 of the child's 10, 3 of the exec'd image's 10
[ "$ring_requests" -ge 23 ] || fail "only $ring_requests options went through a ring, 23 expected"
[ "$ring_wakeups" -ge 1 ] || fail "no client woke tapnetd to read its ring"
log "through the ring ($ring_requests options, $ring_wakeups wakeups): 500 then 50 then 7, fork and exec too"

# --- nginx, tcp_nopush: headers and file in full segments
WWW=$TN_TMP/www
NGX=$TN_TMP/nginx
nginx_conf "$NGX" "$TAPNET_ADDR:80" "$WWW" "access_log off;"
head -c 5000 /dev/urandom >"$WWW/file"
chmod 0644 "$WWW"/* || fail "cannot make the document root readable by www-data"
tn_run "$NGINX" -p "$NGX" -c "$NGX/nginx.conf" 2>"$TN_TMP/nginx.err" ||
	fail "nginx did not start: $(cat "$TN_TMP/nginx.err" "$NGX/error.log" 2>/dev/null)"
wait_listen tapnet "$TAPNET_ADDR" 80
segments 80
urls=()
for ((i = 0; i < 10; i++)); do urls+=(-o /dev/null "http://$TAPNET_ADDR/file"); done
# one connection per request and 10 requests on one keep-alive connection
for ((i = 0; i < 10; i++)); do
	ns_exec curl -sS --fail -o "$TN_TMP/got" "http://$TAPNET_ADDR/file" ||
		fail "curl failed: $(cat "$NGX/error.log")"
	cmp -s "$TN_TMP/got" "$WWW/file" || fail "nginx served other bytes than the file"
done
ns_exec curl -sS --fail "${urls[@]}" || fail "keep-alive curl failed"
sleep 0.5
# each response: the segments from port 80 between two requests
"$PYTHON" - "$TN_TMP/seg80.log" <<'PY' || fail "nginx with tcp_nopush sent partial segments (log: $TN_TMP/seg80.log)"
import sys
responses, cur, sent = [], None, {}
for line in open(sys.argv[1]):
    f = line.split()
    if f == ["ready"]:
        continue
    sport, dport, seq, length = (int(x) for x in f[:4])
    if sport != 80:  # a request: what follows is its response
        cur = []
        responses.append(cur)
        continue
    end = (seq + length) % 2**32
    if dport in sent and (end - sent[dport]) % 2**32 > 2**31 or end == sent.get(dport):
        continue  # a retransmission (a loss probe): not how the response was cut
    sent[dport] = end
    if cur is not None:
        cur.append(length)
if len(responses) != 20:
    sys.exit("expected 20 requests on the wire, saw %d" % len(responses))
for r in responses:
    if sum(r) < 5000:
        sys.exit("a response of %d bytes: %s" % (sum(r), r))
    # GSO frames carry several full segments: every frame but the last is whole ones
    full = min(r[:-1]) if len(r) > 1 else None
    if full is None or full < 1000 or any(x % full for x in r[:-1]) or r[-1] > full:
        sys.exit("response in segments of %s: not full ones but the last" % r)
print("20 responses of %d bytes, each in full segments but the last (e.g. %s)"
      % (sum(responses[0]), responses[0]))
PY
log "nginx tcp_nopush: every response in full segments but the last"
# --- getsockname of accepted sockets: from the accept record
bg names tn_run "$PYTHON" -c '
import os, socket
l = socket.socket()
l.bind(("0.0.0.0", 9100))
l.listen(1)
print("listening", flush=True)
c, peer = l.accept()
want = ("10.0.0.2", 9100)
assert c.getsockname() == want, c.getsockname()
d = socket.socket(fileno=os.dup(c.fileno()))
pid = os.fork()
if pid == 0:
    ok = all(d.getsockname() == want for _ in range(100))
    os._exit(0 if ok else 1)
_, st = os.waitpid(pid, 0)
assert st == 0, "getsockname in a child after fork and dup"
assert all(c.getsockname() == want for _ in range(100))
print("names", flush=True)
'
wait_for_file_line "$TN_TMP/names.log" listening
requests=$(counter CtlRequests)
ns_exec "$PYTHON" -c '
import socket, time
s = socket.create_connection(("10.0.0.2", 9100))
time.sleep(1)
' &
client=$!
wait_for_file_line "$TN_TMP/names.log" names
after=$(counter CtlRequests)
# the counter reads, the child's own control connection: a few requests, not 201
[ $((after - requests)) -lt 50 ] ||
	fail "201 getsockname of accepted sockets made $((after - requests)) requests to tapnetd"
log "201 getsockname of accepted sockets (after fork and dup too): $((after - requests)) requests to tapnetd"
wait "$client"

# --- connected sockets: names and SO_ERROR from the connect's reply
bg peers ns_exec "$PYTHON" -c '
import socket, struct
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.0.0.1", 9200))
l.listen(64)
print("listening", flush=True)
for i in range(65):
    c, peer = l.accept()
    got = b""
    while not got.endswith(b"\n"):
        b = c.recv(100)
        assert b, "EOF before the names"
        got += b
    assert got.decode() == "%s %d 10.0.0.1 9200\n" % peer, (got, peer)
    c.sendall(b"ok")
    how = c.recv(1)  # c: close, r: reset
    assert how in (b"c", b"r"), how
    if how == b"r":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
print("names checked", flush=True)
'
wait_for_file_line "$TN_TMP/peers.log" listening
requests=$(counter CtlRequests)
tn_run "$PYTHON" - <<'PY' || fail "names and SO_ERROR of connected sockets"
import errno, select, socket
def names(s, reset=False):
    me, peer = s.getsockname(), s.getpeername()
    assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
    assert me[0] == "10.0.0.2" and 1024 <= me[1] <= 65535, me
    assert peer == ("10.0.0.1", 9200), peer
    s.sendall(("%s %d %s %d\n" % (me + peer)).encode())
    assert s.recv(2) == b"ok"
    # connect again, as APR does after a non-blocking one
    assert s.connect_ex(("10.0.0.1", 9200)) == errno.EISCONN
    s.sendall(b"r" if reset else b"c")
    if not reset:
        assert s.recv(1) == b"", "no end-of-file after the close"
        return
    try:
        s.recv(1)
        raise SystemExit("no ECONNRESET after the reset")
    except ConnectionResetError:
        pass
for i in range(50):  # blocking connects
    s = socket.socket()
    s.connect(("10.0.0.1", 9200))
    names(s)
    s.close()
for i in range(10):  # non-blocking ones: poll, then SO_ERROR
    s = socket.socket()
    s.setblocking(False)
    assert s.connect_ex(("10.0.0.1", 9200)) in (0, errno.EINPROGRESS)
    select.select([], [s], [], 10)
    s.setblocking(True)
    names(s)
    s.close()
for i in range(5):  # reset by the peer: the end-of-file asks tapnetd why
    s = socket.socket()
    s.connect(("10.0.0.1", 9200))
    names(s, reset=True)
    s.close()
PY
after=$(counter CtlRequests)
[ $((after - requests)) -le 145 ] ||
	fail "65 connections with names, SO_ERROR, a connect again and an end-of-file or a reset made $((after - requests)) requests to tapnetd (2 each and 1 per reset wanted)"
log "65 connections, their names, SO_ERROR, a connect again (EISCONN), an end-of-file (60) or a reset (5): $((after - requests)) requests to tapnetd"
wait_for_file_line "$TN_TMP/peers.log" "names checked"
tn_run "$PYTHON" - <<'PY' || fail "a refused connect through tapnet"
import errno, select, socket
s = socket.socket()
try:
    s.connect(("10.0.0.1", 9201))
    raise SystemExit("a connect to a closed port succeeded")
except ConnectionRefusedError:
    pass
try:
    s.getpeername()
    raise SystemExit("getpeername of a refused socket succeeded")
except OSError as e:
    assert e.errno == errno.ENOTCONN, e
s = socket.socket()
s.setblocking(False)
assert s.connect_ex(("10.0.0.1", 9201)) in (errno.EINPROGRESS, errno.ECONNREFUSED)
select.select([], [s], [], 10)
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == errno.ECONNREFUSED
PY
log "a refused connect: ECONNREFUSED blocking and by SO_ERROR, getpeername ENOTCONN"

now=$(counter SockOptNowaitErrors)
[ "$now" -eq "$nowait_errors" ] || fail "SockOptNowaitErrors went from $nowait_errors to $now"
log "no setsockopt sent without a reply failed"
