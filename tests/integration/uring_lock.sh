#!/bin/bash
# uring_lock.sh - io_uring as an attacker who has taken tapnetd over would
# use it: a ring's operations pass no seccomp filter, so an unrestricted one
# would open files and sockets past the systemd unit's SystemCallFilter and
# RestrictAddressFamilies.
#   - The tap's ring (tapdev.c, the daemon's own code in uring_lock) does
#     only what read(2) and write(2) do: an openat, a socket, a read punted
#     to the kernel's workers and io_uring_register calls through it fail
#     with EACCES, while the same openat through an unrestricted ring opens
#     the file.
#   - Under a seccomp filter (as the unit starts it), tapnetd adds one: no new
#     ring, no io_uring_register (EPERM), the rest as before; without a
#     filter none is added (nothing to pass by, no cost per system call).
#   - tapnetd started under a filter (an allow-all one, for the unit's) still
#     reads and writes the tap in batches, with the second filter on it, and
#     answers ping; started without one, it has none.
. "$TOP_SRCDIR/tests/integration/lib.sh"

LOCK=$TOP_BUILDDIR/tests/integration/uring_lock
[ -x "$LOCK" ] || fail "$LOCK not built"

# expect OUTPUT LINE...: each line is in OUTPUT
expect_lines() {
	local out=$1 line
	shift
	for line in "$@"; do
		grep -qxF "$line" <<<"$out" || fail "expected \"$line\" in: $out"
	done
}

out=$(ns_exec "$LOCK" ring tapring0 2>&1) || fail "uring_lock ring: $out"
expect_lines "$out" \
	"openat through an unrestricted ring: opened" \
	"tap ring: reads batched" \
	"openat through the tap's ring: EACCES" \
	"openat with the fixed-file flag: EACCES" \
	"socket through the tap's ring: EACCES" \
	"a read punted to the kernel's workers: EACCES" \
	"a read of another fd: done (6)" \
	"register a file: EACCES" \
	"restrict it anew: EACCES" \
	"read of the tap as tapnetd reads it: Resource temporarily unavailable"
log "the tap's ring: $(grep -c EACCES <<<"$out") attacks refused (EACCES), reads and writes allowed"

out=$("$LOCK" filter 2>&1) || fail "uring_lock filter: $out"
expect_lines "$out" "privs_forbid_new_rings: 1" "io_uring_setup: EPERM" "io_uring_register: EPERM" "open: opened"
out=$("$LOCK" nofilter 2>&1) || fail "uring_lock nofilter: $out"
expect_lines "$out" "privs_forbid_new_rings: 0" "io_uring_setup: a ring" "open: opened"
log "new rings: refused under a filter, left alone without one"

seccomp_of() { # Seccomp and Seccomp_filters of tapnetd
	echo "$(status_field "$(cat "/proc/$DAEMON_PID/status")" Seccomp)" \
		"$(status_field "$(cat "/proc/$DAEMON_PID/status")" Seccomp_filters)"
}
TAPNETD_WRAPPER=("$LOCK" exec)
start_tapnetd
[ "$(seccomp_of)" = "2 2" ] || fail "tapnetd under a filter: Seccomp and filters $(seccomp_of), expected 2 2"
grep -q "frames read and written in batches (io_uring)" "$DAEMON_LOG" ||
	fail "no batches under a filter: $(cat "$DAEMON_LOG")"
ns_exec ping -c 3 -i 0.2 -W 2 "$TAPNET_ADDR" >/dev/null || fail "tapnetd under a filter does not answer ping"
log "tapnetd under a filter: seccomp filters $(seccomp_of | cut -d' ' -f2), frames in batches, ping answered"
stop_tapnetd
TAPNETD_WRAPPER=()
start_tapnetd
[ "$(seccomp_of)" = "0 0" ] || fail "tapnetd without a filter: Seccomp and filters $(seccomp_of), expected 0 0"
log "tapnetd without a filter: none added"
exit 0
