#!/bin/bash
# lib_reset.sh - a program that uses libtapnet directly learns how its
# connection ended as from a kernel socket: with tapnet_read, tapnet_recv,
# tapnet_recvmsg, tapnet_send and tapnet_write (lib_reset.c)
#   - a peer's reset reads ECONNRESET once, then end-of-file, whichever call
#     reads it; a send that finds it gets ECONNRESET and no SIGPIPE, the next
#     one EPIPE and SIGPIPE: the same lines as libc's calls on a kernel socket
#     to the same server (and libc's read on the pair, as before, reads
#     end-of-file: the check can tell);
#   - a socket never connected answers recv and read ENOTCONN, send and
#     write EPIPE (SIGPIPE without MSG_NOSIGNAL), as a kernel socket does;
#   - a connection that times out (TCP_USER_TIMEOUT, a silenced peer) reads
#     ETIMEDOUT, then end-of-file;
#   - MSG_OOB is refused with EOPNOTSUPP and the connection goes on.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

PROG=$TOP_BUILDDIR/tests/integration/lib_reset
[ -x "$PROG" ] || fail "$PROG not built"
start_tapnetd

# on_tapnet API ARGS...: lib_reset outside the namespace, on this tapnetd
on_tapnet() { TAPNET_SOCKET=$SOCK "$PROG" "$@"; }

# --- a peer's reset
resetter_server resetter 7621
kernel_says=$(ns_exec "$PROG" kernel reset "$HOST_ADDR" 7621 2>&1) || fail "on the kernel: $kernel_says"
# the reference itself is what Linux answers
expected='read ECONNRESET
then recv 0
recv ECONNRESET
then recv 0
recvmsg ECONNRESET
then recv 0
then send EPIPE
send after the reset ECONNRESET
then send EPIPE
SIGPIPE 1'
[ "$kernel_says" = "$expected" ] || fail "the kernel's answers changed: $kernel_says"
tapnet_says=$(on_tapnet tapnet reset "$HOST_ADDR" 7621 2>&1) || fail "libtapnet: $tapnet_says"
[ "$tapnet_says" = "$kernel_says" ] ||
	fail "after a reset, libtapnet: $(tr '\n' ';' <<<"$tapnet_says"); the kernel: $(tr '\n' ';' <<<"$kernel_says")"
log "after a reset, as on the kernel: $(tr '\n' ';' <<<"$tapnet_says")"
plain_says=$(on_tapnet plain reset "$HOST_ADDR" 7621 2>&1) || fail "libc on the pair: $plain_says"
grep -qx "read 0" <<<"$plain_says" && [ "$plain_says" != "$kernel_says" ] ||
	fail "libc's read on the pair did not read end-of-file after the reset: $plain_says"
log "libc's calls on the pair instead: $(tr '\n' ';' <<<"$plain_says")"

# --- a socket never connected
kernel_says=$(ns_exec "$PROG" kernel unconnected 2>&1) || fail "on the kernel: $kernel_says"
tapnet_says=$(on_tapnet tapnet unconnected 2>&1) || fail "libtapnet: $tapnet_says"
[ "$tapnet_says" = "$kernel_says" ] ||
	fail "never connected, libtapnet: $(tr '\n' ';' <<<"$tapnet_says"); the kernel: $(tr '\n' ';' <<<"$kernel_says")"
grep -qx "recv ENOTCONN" <<<"$kernel_says" || fail "the kernel's answers changed: $kernel_says"
log "never connected, as on the kernel: $(tr '\n' ';' <<<"$tapnet_says")"

# --- a connection that times out
silent_server silent 7622
silenced_client libtimeout 7622 env TAPNET_SOCKET="$SOCK" "$PROG" tapnet timeout "$HOST_ADDR" 7622
[ "$OUT" = "read ETIMEDOUT then 0" ] || fail "after a timeout, libtapnet: $OUT"
log "after a timeout: $OUT"

# --- MSG_OOB
echo_server kernel kecho 7623
out=$(on_tapnet tapnet oob "$HOST_ADDR" 7623 2>&1) || fail "MSG_OOB: $out"
[ "$out" = "send MSG_OOB EOPNOTSUPP
then send 3
echo 3" ] || fail "MSG_OOB: $(tr '\n' ';' <<<"$out")"
log "MSG_OOB: $(tr '\n' ';' <<<"$out")"
exit 0
