#!/bin/bash
# rpc_reuseport.sh - SO_REUSEPORT spreads connections, as on Linux: two
# processes under `tapnet run` (one user) listen on 0.0.0.0:8089 with
# SO_REUSEPORT; 40 connections from the kernel side reach both, each
# answered by the one that accepted it; once one of them exits, every new
# connection reaches the other, none refused. The same two servers on the
# kernel side first, so that the test expects what Linux does.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

SERVER='
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
l.bind(("0.0.0.0", 8089))
l.listen(64)
print("listening", flush=True)
while True:
    c, _ = l.accept()
    c.sendall(sys.argv[1].encode())
    c.close()'
# connections ADDR N: the answers of N connections to ADDR:8089, one a line
connections() {
	ns_exec "$PYTHON" -c '
import socket, sys
for _ in range(int(sys.argv[2])):
    with socket.create_connection((sys.argv[1], 8089), timeout=5) as s:
        print(s.recv(1).decode() or "nothing")' "$1" "$2"
}
# serve SIDE NAME: a server on SIDE (kernel or tapnet) answering NAME; its pid in SERVED
serve() {
	local run=ns_exec i
	[ "$1" = tapnet ] && run=tn_run
	bg "$1-$2" "$run" "$PYTHON" -c "$SERVER" "$2"
	SERVED=$BG_PID
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		grep -q listening "$TN_TMP/$1-$2.log" && return 0
		sleep 0.1
	done
	fail "the $1 server $2 did not listen: $(cat "$TN_TMP/$1-$2.log")"
}
# listeners SIDE: how many sockets listen on port 8089 on SIDE
listeners() {
	if [ "$1" = tapnet ]; then
		tapnet_cli ss -l | grep -c ':8089 '
	else
		ns_exec ss -ltnH 'sport = :8089' | grep -c .
	fi
}
# share SIDE ADDR: two servers on SIDE, 40 connections to ADDR reach both, then only B once A is gone
share() {
	local a b answers i
	serve "$1" A
	a=$SERVED
	serve "$1" B
	b=$SERVED
	answers=$(connections "$2" 40 | sort | uniq -c | tr -s ' \n' '  ')
	log "$1: 40 connections answered by$answers"
	[[ "$answers" == *" A "* && "$answers" == *" B"* ]] ||
		fail "$1: 40 connections did not reach both listeners:$answers"
	pkill -P "$a"
	kill "$a" 2>/dev/null
	wait "$a" 2>/dev/null
	# A's listener closes with its process: wait until one listener is left
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		[ "$(listeners "$1")" -eq 1 ] && break
		sleep 0.1
	done
	[ "$(listeners "$1")" -eq 1 ] || fail "$1: $(listeners "$1") listeners on 8089 after A exited"
	answers=$(connections "$2" 20 | sort | uniq -c | tr -s ' \n' '  ')
	log "$1: with A gone, 20 connections answered by$answers"
	[ "$answers" = " 20 B " ] || fail "$1: with A gone, 20 connections answered by$answers"
	pkill -P "$b"
	kill "$b" 2>/dev/null
	wait "$b" 2>/dev/null
}

start_tapnetd
share kernel "$HOST_ADDR"
share tapnet "$TAPNET_ADDR"
[ "$(counter TcpPassiveOpens)" -ge 60 ] || fail "TcpPassiveOpens is $(counter TcpPassiveOpens), not >= 60"
exit 0
