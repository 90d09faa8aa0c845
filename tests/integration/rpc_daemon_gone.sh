#!/bin/bash
# rpc_daemon_gone.sh - tapnetd stops while a program under `tapnet run`
# listens: the listening fd reports the loss once (accept fails with
# ECONNABORTED, one line on stderr), then stays open and quiet like a
# kernel listener whose network went away, for epoll and select alike;
# it never reports readiness again, so a server loop does not spin. A
# connected socket reads end-of-file.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
bg kpeer ns_exec "$PYTHON" -c '
import socket, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$HOST_ADDR"'", 7401)); l.listen(1)
c, _ = l.accept(); time.sleep(3600)'
wait_listen kernel "$HOST_ADDR" 7401
STOPPED=$TN_TMP/stopped
bg server tn_run "$PYTHON" -u -c '
import os, select, selectors, socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("'"$TAPNET_ADDR"'", 7400)); l.listen(4)
c = socket.create_connection(("'"$HOST_ADDR"'", 7401))
print("listening", flush=True)
while not os.path.exists("'"$STOPPED"'"):
    time.sleep(0.05)
c.settimeout(10)
print("connected socket reads", c.recv(10), flush=True)
sel = selectors.EpollSelector()
sel.register(l, selectors.EVENT_READ)
for i in range(3):
    if sel.select(1.0):
        try:
            l.accept(); print("accepted", flush=True)
        except ConnectionAbortedError:
            print("aborted", flush=True)
        except OSError as e:
            print("error", e.errno, flush=True)
    else:
        print("quiet", flush=True)
r, _, _ = select.select([l], [], [], 1.0)
print("select", "readable" if r else "quiet", flush=True)
l.setblocking(False)
try:
    l.accept(); print("accepted", flush=True)
except BlockingIOError:
    print("accept EAGAIN", flush=True)
print("done", l.fileno() >= 0, flush=True)'
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	grep -q "^listening" "$TN_TMP/server.log" && break
	sleep 0.1
done
grep -q "^listening" "$TN_TMP/server.log" || fail "the server did not start: $(cat "$TN_TMP/server.log")"
stop_tapnetd TERM
touch "$STOPPED"
for ((i = 0; i < 20 * 10; i++)); do
	grep -q "^done" "$TN_TMP/server.log" && break
	sleep 0.1
done
cat "$TN_TMP/server.log"
want="connected socket reads b''
aborted
quiet
quiet
select quiet
accept EAGAIN
done True"
got=$(grep -v "^listening\|^tapnet:" "$TN_TMP/server.log")
[ "$got" = "$want" ] || fail "the program saw: $got"
grep -q "^tapnet: a listening socket lost tapnetd" "$TN_TMP/server.log" || fail "no line on stderr"
log "after tapnetd stopped: one ECONNABORTED, then a quiet listener"
exit 0
