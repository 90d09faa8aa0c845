#!/bin/bash
# control_dir.sh - the control socket's directory cannot be someone else's:
# tapnetd refuses to start with it in a directory owned by another user,
# behind a symlink, or in one others may write to without the sticky bit.
# And a client's name reaches the log escaped: a newline in it forges no
# log line.
. "$TOP_SRCDIR/tests/integration/lib.sh"

# refused DIR WHY: tapnetd with its socket in DIR exits non-zero, logging WHY
refused() {
	local dir=$1 why=$2 i
	SOCK=$dir/tapnetd.sock
	write_config
	launch_tapnetd
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$DAEMON_PID" 2>/dev/null && fail "tapnetd runs with its socket in $dir"
	wait "$DAEMON_PID"
	DAEMON_STATUS=$?
	DAEMON_PID=
	[ "$DAEMON_STATUS" -ne 0 ] || fail "tapnetd exited 0 with its socket in $dir"
	grep -qF "$why" "$DAEMON_LOG" || fail "no '$why' in the log: $(cat "$DAEMON_LOG")"
	[ -e "$SOCK" ] && fail "a socket was created in $dir"
	log "socket in $dir refused: $why"
}

mkdir "$TN_TMP/theirs" && chown 12345 "$TN_TMP/theirs" || fail "cannot make $TN_TMP/theirs"
refused "$TN_TMP/theirs" "belongs to uid 12345, neither root nor tapnetd's user"
mkdir "$TN_TMP/real" && ln -s real "$TN_TMP/link" || fail "cannot make $TN_TMP/link"
refused "$TN_TMP/link" "not a directory (a symlink is not accepted)"
mkdir -m 0777 "$TN_TMP/open" && chmod 0777 "$TN_TMP/open" || fail "cannot make $TN_TMP/open"
refused "$TN_TMP/open" "may be written by others (mode 0777) and is not sticky"

# a sticky world-writable directory (as /tmp) owned by root is accepted, and
# a directory that is missing is created
mkdir "$TN_TMP/sticky" && chmod 1777 "$TN_TMP/sticky" || fail "cannot make $TN_TMP/sticky"
SOCK=$TN_TMP/sticky/tapnetd.sock
start_tapnetd
stop_tapnetd
SOCK=$TN_TMP/made/tapnetd.sock
start_tapnetd
[ "$(stat -c %a "$TN_TMP/made")" = 755 ] || fail "$TN_TMP/made has mode $(stat -c %a "$TN_TMP/made")"

# HELLO with a name that would write a log line of its own
"$PYTHON" - "$SOCK" <<'PY' || fail "the HELLO was not answered"
import socket, struct, sys
name = b"evil\n2026-01-01T00:00:00.000 warning: forged line\x1b[2J"
pad = (4 - len(name) % 4) % 4
body = struct.pack("<HH", 3, len(name)) + name + b"\0" * pad
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect(sys.argv[1])
s.sendall(struct.pack("<IHHII", 16 + len(body), 1, 1, 1, 0) + body)
sys.exit(0 if len(s.recv(16)) == 16 else 1)
PY
stop_tapnetd
grep -q "^2026-01-01T00:00:00.000 warning: forged line" "$DAEMON_LOG" && fail "a client forged a log line"
grep -qF "'evil\\x0a2026-01-01T00:00:00.000 warning: forged line\\x1b[2J'" "$DAEMON_LOG" ||
	fail "the client's name is not in the log, escaped: $(grep evil "$DAEMON_LOG")"
log "a client's name is logged escaped"
exit 0
