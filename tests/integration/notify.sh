#!/bin/bash
# notify.sh - sd_notify without systemd: READY=1 arrives on NOTIFY_SOCKET
# once tap0 is up and the control socket answers, WATCHDOG=1 keeps coming at
# half of WATCHDOG_USEC, and SIGTERM gives STOPPING=1, exit status 0 and the
# control socket removed. The messages come from tapnetd's own pid, as
# systemd's NotifyAccess=main requires.
. "$TOP_SRCDIR/tests/integration/lib.sh"

NOTIFY=$TN_TMP/notify.sock
MSGS=$TN_TMP/notify.out
"$PYTHON" "$TOP_SRCDIR/tests/integration/notify_listen.py" "$NOTIFY" 60 >"$MSGS" 2>&1 &
LISTENER=$!
at_exit 'kill "$LISTENER"'
for ((i = 0; i < 100; i++)); do
	[ -S "$NOTIFY" ] && break
	sleep 0.1
done
[ -S "$NOTIFY" ] || fail "the NOTIFY_SOCKET listener did not start: $(cat "$MSGS")"

# wait_msg TEXT: bounded wait until the listener printed a line ending in TEXT.
wait_msg() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		grep -qE " $1\$" "$MSGS" && return 0
		sleep 0.1
	done
	fail "no $1 on NOTIFY_SOCKET within ${WAIT_SECONDS}s; got: $(cat "$MSGS")"
}

write_config
TAPNETD_ENV=(NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=400000)
launch_tapnetd
wait_msg READY=1
# READY=1 means ready: no retry here.
tapnet_cli status >/dev/null || fail "READY=1 came but tapnet status fails"
ns_exec ip link show "$IFACE" | grep -q '[<,]UP[,>]' || fail "READY=1 came but $IFACE is not up"
log "READY=1 received; control socket answers, $IFACE is up"
grep -E "^pid=[0-9]+ READY=1$" "$MSGS" | grep -qE "^pid=$DAEMON_PID " ||
	fail "READY=1 was not sent by tapnetd's pid $DAEMON_PID: $(cat "$MSGS")"

# WATCHDOG_USEC=400 ms: pings every 200 ms; wait for a few.
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	[ "$(grep -c ' WATCHDOG=1$' "$MSGS")" -ge 3 ] && break
	sleep 0.1
done
[ "$(grep -c ' WATCHDOG=1$' "$MSGS")" -ge 3 ] || fail "fewer than 3 WATCHDOG=1 messages: $(cat "$MSGS")"
log "WATCHDOG=1 received $(grep -c ' WATCHDOG=1$' "$MSGS") times"

stop_tapnetd TERM
[ "$DAEMON_STATUS" -eq 0 ] || fail "tapnetd exited with status $DAEMON_STATUS on SIGTERM"
wait_msg STOPPING=1
[ -e "$SOCK" ] && fail "the control socket $SOCK is still there after SIGTERM"
log "SIGTERM: STOPPING=1 received, exit status 0, control socket removed"
ns_exec ip link show "$IFACE" >/dev/null 2>&1 && fail "$IFACE still exists after tapnetd stopped"
grep -v WATCHDOG "$MSGS"
exit 0
