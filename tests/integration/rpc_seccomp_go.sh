#!/bin/bash
# rpc_seccomp_go.sh - Go programs (raw system calls, no libc) under
# `tapnet run`: a Go client (built static, CGO_ENABLED=0, and dynamic with
# cgo, where the shim is loaded but Go's own calls bypass it) reaches a
# kernel-side echo server through tapnet (TcpActiveOpens; the server sees
# tapnet's address) and, after a peer's reset, reads ECONNRESET ("connection
# reset by peer", not end-of-file: the supervisor passes the reset on), and
# after TCP_USER_TIMEOUT with a silenced peer ECONNRESET too (Linux says
# ETIMEDOUT; the pair can carry only a reset, but an error, not end-of-file),
# and a Go server on tapnet serves 20 kernel-side clients (TcpPassiveOpens).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"
require_cmd go

# build: a module of one file, in the test's directory, caches there too
export GOCACHE=$TN_TMP/gocache GOPATH=$TN_TMP/gopath GOFLAGS=-mod=mod GO111MODULE=off
mkdir -p "$TN_TMP/go" && cp "$TOP_SRCDIR/tests/integration/seccomp_go.go" "$TN_TMP/go/main.go" ||
	fail "cannot copy the Go program"
(cd "$TN_TMP/go" && CGO_ENABLED=0 go build -o static main.go) >"$TN_TMP/gobuild.log" 2>&1 ||
	fail "go build (static): $(cat "$TN_TMP/gobuild.log")"
if (cd "$TN_TMP/go" && CGO_ENABLED=1 go build -o dynamic main.go) >>"$TN_TMP/gobuild.log" 2>&1; then
	builds="static dynamic"
else
	builds=static
	log "no cgo build (no C compiler for cgo?): the static one only"
fi

start_tapnetd
require_seccomp
# kernel side: an echo server that logs each peer
echo_server kernel kecho 7611
resetter_server resetter 7613
require_cmd nft
silent_server silent 7614

for b in $builds; do
	active=$(counter TcpActiveOpens)
	out=$(tn_run -v "$TN_TMP/go/$b" client "$HOST_ADDR:7611" 2>"$TN_TMP/$b.err") ||
		fail "Go client ($b): $out $(cat "$TN_TMP/$b.err")"
	grep -qx "local $TAPNET_ADDR:[0-9]* remote $HOST_ADDR:7611" <<<"$out" ||
		fail "Go client ($b) addresses: $out"
	grep -qx "echo hello go" <<<"$out" || fail "Go client ($b): $out"
	grep -q 'made without libc: tapnet.s' "$TN_TMP/$b.err" ||
		fail "Go client ($b): -v did not say the supervisor made its socket: $(cat "$TN_TMP/$b.err")"
	expect_counter_above TcpActiveOpens "$active"
	log "Go client ($b): $(echo $out)"
	out=$(tn_run "$TN_TMP/go/$b" reset "$HOST_ADDR:7613" 2>&1) || fail "Go reset ($b): $out"
	[ "$out" = ECONNRESET ] || fail "Go client ($b) after the peer's reset: $out"
	log "Go client ($b) after the peer's reset: $out"
	silenced_client "timeout_$b" 7614 tn_run "$TN_TMP/go/$b" timeout "$HOST_ADDR:7614"
	[ "$OUT" = "read ECONNRESET" ] || fail "Go client ($b) after TCP_USER_TIMEOUT: $OUT"
	log "Go client ($b) after TCP_USER_TIMEOUT: $OUT"
done
[ "$(grep -c "^peer $TAPNET_ADDR" "$TN_TMP/kecho.log")" -ge 1 ] ||
	fail "the kernel-side server saw: $(cat "$TN_TMP/kecho.log")"
grep -q "^peer $HOST_ADDR" "$TN_TMP/kecho.log" &&
	fail "a Go client reached the server through the kernel: $(cat "$TN_TMP/kecho.log")"

passive=$(counter TcpPassiveOpens)
bg gserver tn_run "$TN_TMP/go/static" server "$TAPNET_ADDR:7612" 20
wait_listen tapnet "$TAPNET_ADDR" 7612
ns_exec "$PYTHON" -c '
import socket, sys
for i in range(20):
    s = socket.create_connection(("'"$TAPNET_ADDR"'", 7612), timeout=10)
    s.sendall(b"go %d\n" % i)
    got = s.makefile().readline().strip()
    if got != "GO %d" % i: sys.exit("reply %d: %r" % (i, got))
    s.close()' || fail "kernel-side clients of the Go server: $(cat "$TN_TMP/gserver.log")"
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(grep -c "^peer $HOST_ADDR:" "$TN_TMP/gserver.log")" -ge 20 ] && break
	sleep 0.1
done
[ "$(grep -c "^peer $HOST_ADDR:" "$TN_TMP/gserver.log")" -eq 20 ] ||
	fail "Go server: $(cat "$TN_TMP/gserver.log")"
grep -q FAIL "$TN_TMP/gserver.log" && fail "Go server: $(cat "$TN_TMP/gserver.log")"
expect_counter_above TcpPassiveOpens $((passive + 19))
log "Go server on tapnet: 20 kernel-side clients served"
exit 0
