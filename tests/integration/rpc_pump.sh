#!/bin/bash
# rpc_pump.sh - request and response over one connection, as servers and
# their clients talk: a program under `tapnet run` asks a kernel-side echo
# server 2000 times (every answer checked) and answers 2000 requests of a
# kernel-side client. tapnetd reads a program's bytes from its socket pair
# when the pair says it has some (EV_READ): a short read means the pair is
# empty, and an ACK that gives room in the send buffer is no reason to
# look; so reads that find the pair empty (SockPairEmptyReads) stay few,
# where before this there was at least one per request.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

ROUNDS=2000
start_tapnetd

echo_server kernel kecho 7700

# the program asks: request and answer of sizes that vary, each answer whole
CLIENT='
import socket, sys
def ask(s, rounds):
    for i in range(rounds):
        req = (b"%06d:" % i) * (1 + i % 50)
        s.sendall(req)
        got = b""
        while len(got) < len(req):
            b = s.recv(65536)
            if not b: sys.exit("end of file after %d rounds" % i)
            got += b
        if got != req: sys.exit("round %d: answer differs" % i)
'
reads=$(counter SockPairReads) empty=$(counter SockPairEmptyReads)
tn_run "$PYTHON" -c "$CLIENT"'
s = socket.create_connection(("'"$HOST_ADDR"'", 7700), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ask(s, '"$ROUNDS"')
print("asked", flush=True)' >"$TN_TMP/asked" || fail "the program on tapnet: $(cat "$TN_TMP/asked")"
grep -qx asked "$TN_TMP/asked" || fail "the program on tapnet did not finish"
log "$ROUNDS requests and answers from a program on tapnet: every byte"

# the program answers: a server under tapnet run, a kernel-side client
echo_server tapnet techo 7701
ns_exec "$PYTHON" -c "$CLIENT"'
s = socket.create_connection(("'"$TAPNET_ADDR"'", 7701), timeout=20)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
ask(s, '"$ROUNDS"')' || fail "the kernel-side client of a server on tapnet failed"
log "$ROUNDS requests answered by a server on tapnet: every byte"

reads=$(($(counter SockPairReads) - reads)) empty=$(($(counter SockPairEmptyReads) - empty))
log "pair reads: $reads with data, $empty that found the pair empty"
[ "$reads" -ge $((2 * ROUNDS)) ] || fail "only $reads reads with data for $((2 * ROUNDS)) requests and answers"
# a read may still find nothing when its EV_READ raced with an option or an end: a few
[ "$empty" -lt $((2 * ROUNDS / 10)) ] ||
	fail "$empty reads found a pair empty for $((2 * ROUNDS)) writes (one per request or more: the pump reads to learn that a pair is empty)"
exit 0
