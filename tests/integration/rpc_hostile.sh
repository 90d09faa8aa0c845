#!/bin/bash
# rpc_hostile.sh - socket requests with the wrong file descriptors (with a
# HELLO, too few, too many, none) cost the sender its connection and are
# logged; a request naming an fd that is no tapnet socket gets ENOTSOCK; a
# second reset watcher of a process gets EBUSY, and a request after RESETS
# costs the connection; the daemon goes on.
. "$TOP_SRCDIR/tests/integration/lib.sh"

start_tapnetd
bad=$(counter CtlBadMessages)
if ! "$PYTHON" "$TOP_SRCDIR/tests/integration/rpc_hostile.py" "$SOCK"; then
	# what was the daemon doing: its threads (the closer's among them) and its unfinished closes
	for task in /proc/"$DAEMON_PID"/task/*; do
		log "thread $(cat "$task/comm"): state $(awk '{print $3}' "$task/stat"), in $(cat "$task/wchan")"
	done
	log "closes queued or running: $(counter CloserBusy); descriptors open: $(ls /proc/"$DAEMON_PID"/fd | wc -l)"
	fail "rpc_hostile.py failed"
fi
[ "$(counter CtlBadMessages)" -eq $((bad + 5)) ] ||
	fail "CtlBadMessages is $(counter CtlBadMessages), expected $((bad + 5))"
grep -q "file descriptors with a HELLO request; connection closed" "$DAEMON_LOG" ||
	fail "the dropped client is not in the log"
exit 0
