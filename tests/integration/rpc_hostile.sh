#!/bin/bash
# rpc_hostile.sh - socket requests with the wrong file descriptors (with a
# HELLO, too few, too many, none) cost the sender its connection and are
# logged; a request naming an fd that is no tapnet socket gets ENOTSOCK; a
# second reset watcher of a process gets EBUSY, and a request after RESETS
# costs the connection; an option ring that is not a sealed memfd of the
# ring's size is refused, one whose contents lie costs the connection; the
# daemon goes on.
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
# 5 above, 5 of the option ring's (no fd, and four lies)
[ "$(counter CtlBadMessages)" -eq $((bad + 10)) ] ||
	fail "CtlBadMessages is $(counter CtlBadMessages), expected $((bad + 10))"
grep -q "file descriptors with a HELLO request; connection closed" "$DAEMON_LOG" ||
	fail "the dropped client is not in the log"
exit 0
