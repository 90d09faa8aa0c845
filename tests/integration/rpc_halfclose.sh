#!/bin/bash
# rpc_halfclose.sh - shutdown(SHUT_WR) through tapnet, both ways.
#  1. nc -N sends a file and half-closes; the server reads to the FIN and
#     only then sends its reply, which nc must still receive. Once with nc
#     on tapnet (kernel server), once with the server on tapnet (kernel nc).
#  2. nc -l reads until the FIN and exits, on tapnet and on the kernel side.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd nc timeout

start_tapnetd
make_file "$TN_TMP/request" 3
make_file "$TN_TMP/reply" 4
SERVER=$TOP_SRCDIR/tests/integration/halfclose_server.py

# reply_after_fin NAME SERVER-SIDE ADDR PORT
reply_after_fin() {
	local name=$1 side=$2 addr=$3 port=$4 srv cli
	if [ "$side" = tapnet ]; then srv=(tn_run) cli=(ns_exec); else srv=(ns_exec) cli=(tn_run); fi
	"${srv[@]}" timeout 60 "$PYTHON" "$SERVER" "$addr" "$port" "$TN_TMP/$name.req" "$TN_TMP/reply" \
		2>"$TN_TMP/$name.server-err" &
	local spid=$!
	wait_listen "$side" "$addr" "$port"
	"${cli[@]}" timeout 60 nc -N "$addr" "$port" <"$TN_TMP/request" >"$TN_TMP/$name.reply" ||
		fail "$name: nc failed"
	wait "$spid" || fail "$name: the server failed: $(cat "$TN_TMP/$name.server-err")"
	same_file "$TN_TMP/request" "$TN_TMP/$name.req" "$name: request, then FIN"
	same_file "$TN_TMP/reply" "$TN_TMP/$name.reply" "$name: reply read after SHUT_WR"
}

# read_to_fin NAME LISTENER-SIDE ADDR PORT
read_to_fin() {
	local name=$1 side=$2 addr=$3 port=$4 srv cli
	if [ "$side" = tapnet ]; then srv=(tn_run) cli=(ns_exec); else srv=(ns_exec) cli=(tn_run); fi
	"${srv[@]}" timeout 60 nc -l "$addr" "$port" </dev/null >"$TN_TMP/$name.got" &
	local spid=$!
	wait_listen "$side" "$addr" "$port"
	"${cli[@]}" timeout 60 nc -N "$addr" "$port" <"$TN_TMP/request" >/dev/null ||
		fail "$name: nc -N failed"
	wait "$spid" || fail "$name: nc -l did not end with the FIN"
	same_file "$TN_TMP/request" "$TN_TMP/$name.got" "$name: nc -l got everything, then the FIN"
}

reply_after_fin "nc on tapnet half-closes" kernel "$HOST_ADDR" 5000
reply_after_fin "kernel nc half-closes to tapnet" tapnet "$TAPNET_ADDR" 5001
read_to_fin "tapnet nc -l" tapnet "$TAPNET_ADDR" 5002
read_to_fin "kernel nc -l, tapnet nc -N" kernel "$HOST_ADDR" 5003
wait_no_conns 'ESTAB|LISTEN|SYN|CLOSE-WAIT'
exit 0
