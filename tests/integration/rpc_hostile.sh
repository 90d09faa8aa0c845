#!/bin/bash
# rpc_hostile.sh - socket requests with the wrong file descriptors (with a
# HELLO, too few, too many, none) cost the sender its connection and are
# logged; a request naming an fd that is no tapnet socket gets ENOTSOCK;
# the daemon goes on.
. "$TOP_SRCDIR/tests/integration/lib.sh"

start_tapnetd
bad=$(counter CtlBadMessages)
"$PYTHON" "$TOP_SRCDIR/tests/integration/rpc_hostile.py" "$SOCK" || fail "rpc_hostile.py failed"
[ "$(counter CtlBadMessages)" -eq $((bad + 4)) ] ||
	fail "CtlBadMessages is $(counter CtlBadMessages), expected $((bad + 4))"
grep -q "file descriptors with a HELLO request; connection closed" "$DAEMON_LOG" ||
	fail "the dropped client is not in the log"
exit 0
