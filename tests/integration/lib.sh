# lib.sh - sourced by every integration test: a real tapnetd on tap0 inside a
# network namespace that the test creates and removes.
#
#   . "$TOP_SRCDIR/tests/integration/lib.sh"   # checks prerequisites, makes NS and TN_TMP
#   start_tapnetd                              # config + daemon, waits for its control socket
#   ns_exec ping -c 1 -w 5 10.0.0.2
#   [ "$(counter IcmpInEchos)" -ge 1 ] || fail "no echo counted"
#
# A test adds configuration by passing whole sections to start_tapnetd, e.g.
#   start_tapnetd "${SERVICES_CONFIG[@]}" "[tcp]" "rcvbuf = 65536"
# and talks TCP to the built-in services with tcp_client (tcpclient.py).
#
# Exit codes follow Automake: 0 pass, 1 fail, 77 skip. A missing prerequisite
# (root, /dev/net/tun, ip, ping, python3, ...) is a skip with its reason, except
# under CI=true, where it is a failure: CI must run these tests.
#
# Every packet stays inside the namespace: tap0 is created there, its kernel
# side is 10.0.0.1/24 and tapnet is 10.0.0.2. Nothing here touches the
# interfaces or routes of the namespace the test was started in.

set -u

: "${TOP_SRCDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${TOP_BUILDDIR:=$TOP_SRCDIR}"
export TOP_SRCDIR TOP_BUILDDIR

PYTHON=/usr/bin/python3 # Debian's, the one with python3-scapy; not whatever is first on PATH
TAPNETD=$TOP_BUILDDIR/tapnetd
TAPNET=$TOP_BUILDDIR/tapnet
TEST_NAME=$(basename "$0" .sh)
HOST_ADDR=10.0.0.1
TAPNET_ADDR=10.0.0.2
IFACE=tap0
WAIT_SECONDS=10 # longest wait for tapnetd to start or stop

NS=
TN_TMP=
CONF=
SOCK=
DAEMON_LOG=
DAEMON_PID=
DAEMON_STATUS=
AT_EXIT=()
BG_LOGS=() # the output of programs run in the background (bg, rpc_lib.sh)

log() { printf '%s: %s\n' "$TEST_NAME" "$*"; }

fail() {
	printf '%s: FAIL: %s\n' "$TEST_NAME" "$*" >&2
	exit 1
}

# A prerequisite is missing: skip (77), or fail under CI=true.
missing() {
	if [ "${CI:-}" = true ]; then
		printf '%s: FAIL: prerequisite missing under CI=true: %s\n' "$TEST_NAME" "$*" >&2
		exit 1
	fi
	printf '%s: SKIP: %s\n' "$TEST_NAME" "$*" >&2
	exit 77
}

require_cmd() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing "command '$c' not found"
	done
}

# require_python_module scapy ...: importable by /usr/bin/python3.
require_python_module() {
	local m
	[ -x "$PYTHON" ] || missing "$PYTHON not found (Debian package python3)"
	for m in "$@"; do
		"$PYTHON" -c "import $m" >/dev/null 2>&1 ||
			missing "$PYTHON cannot import $m (Debian package python3-$m)"
	done
}

ns_exec() { ip netns exec "$NS" "$@"; }

tapnet_cli() { "$TAPNET" -s "$SOCK" "$@"; }

# kernel_counter NAME: one counter of the namespace's kernel, by nstat's name
# (TcpExtTCPOFOQueue), its absolute value (-a: no history; -z: zeros too).
kernel_counter() {
	local v
	v=$(ns_exec nstat -az "$1" | awk -v n="$1" '$1 == n { print $2 }')
	[ -n "$v" ] || fail "no counter $1 in the kernel's nstat"
	printf '%s\n' "$v"
}

# counter NAME: one counter from `tapnet stats -j` (every counter, zeros too).
counter() {
	local json
	json=$(tapnet_cli stats -j) || fail "tapnet stats -j failed"
	printf '%s' "$json" | "$PYTHON" -c '
import json, sys
stats = json.load(sys.stdin)
name = sys.argv[1]
if name not in stats:
    sys.exit("no counter %r in tapnet stats -j" % name)
print(stats[name])
' "$1" || fail "cannot read counter $1"
}

# expect_counter_above NAME BEFORE: fails unless counter NAME is now above BEFORE.
expect_counter_above() {
	local now
	now=$(counter "$1")
	[ "$now" -gt "$2" ] || fail "counter $1 is $now, expected more than $2"
	log "$1: $2 -> $now"
}

# write_config [LINES...]: the test configuration, plus LINES (whole new
# sections, e.g. "[icmp]" "ratelimit = 100ms") at the end. LOG_LEVEL
# overrides its log_level (debug), OFFLOAD its [interface] offload (yes),
# TAP_HOST_ADDRESS its host_address (10.0.0.1/24; empty: the kernel's side of
# tap0 gets no address, for a test that bridges tap0 elsewhere).
# TAPNETD_EXTRA_CONFIG, lines of a configuration file, goes after them all:
# the benches take it from the user (say "[interface]" and "busy_poll = 0"
# on two lines) to measure a setting; its sections may repeat earlier ones.
write_config() {
	local line
	{
		cat <<-EOF
		# written by tests/integration/lib.sh for $TEST_NAME
		[interface]
		name = $IFACE
		host_address = ${TAP_HOST_ADDRESS-$HOST_ADDR/24}
		offload = ${OFFLOAD:-yes}

		[ipv4]
		address = $TAPNET_ADDR/24

		[daemon]
		user = nobody
		group = nogroup
		control_socket = $SOCK
		log_level = ${LOG_LEVEL:-debug}
		EOF
		for line in "$@"; do
			printf '%s\n' "$line"
		done
		[ -z "${TAPNETD_EXTRA_CONFIG:-}" ] || printf '%s\n' "$TAPNETD_EXTRA_CONFIG"
	} >"$CONF" || fail "cannot write $CONF"
	chmod 0644 "$CONF"
}

# start_tapnetd [CONFIG LINES...]: writes the config, starts tapnetd in the
# namespace and waits until `tapnet status` answers.
start_tapnetd() {
	write_config "$@"
	launch_tapnetd
	wait_ready
}

# launch_tapnetd: starts tapnetd with $CONF in the namespace, in the
# foreground, its output in $DAEMON_LOG; does not wait.
# Extra environment for it: TAPNETD_ENV=(VAR=value ...); a program that
# execs it: TAPNETD_WRAPPER=(setpriv ...).
launch_tapnetd() {
	: >"$DAEMON_LOG"
	DAEMON_STATUS=
	# `ip netns exec`, env and the wrapper exec: $! is tapnetd itself.
	ip netns exec "$NS" env ${TAPNETD_ENV[@]+"${TAPNETD_ENV[@]}"} \
		${TAPNETD_WRAPPER[@]+"${TAPNETD_WRAPPER[@]}"} \
		"$TAPNETD" -f -c "$CONF" >>"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
}

# expect_unprivileged UID CAPBND: the running tapnetd has uid and gid (real,
# effective, saved) of UID and its group, no capability in any set but the
# bounding set, which is CAPBND (hex, as in /proc/PID/status), and
# no_new_privs set.
expect_unprivileged() {
	local want_uid=$1 want_bnd=$2 status f
	status=$(cat "/proc/$DAEMON_PID/status") || fail "cannot read /proc/$DAEMON_PID/status"
	[ "$(status_field "$status" Uid)" = "$want_uid $want_uid $want_uid $want_uid" ] ||
		fail "tapnetd runs with uids $(status_field "$status" Uid), expected $want_uid"
	for f in CapInh CapPrm CapEff CapAmb; do
		[ "$((16#$(status_field "$status" $f)))" -eq 0 ] ||
			fail "tapnetd still has capabilities: $f $(status_field "$status" $f)"
	done
	[ "$((16#$(status_field "$status" CapBnd)))" -eq "$((16#$want_bnd))" ] ||
		fail "tapnetd's capability bounding set is $(status_field "$status" CapBnd), expected $want_bnd"
	[ "$(status_field "$status" NoNewPrivs)" = 1 ] || fail "tapnetd runs without no_new_privs"
	log "tapnetd runs as uid $want_uid, no capabilities, bounding set $want_bnd, no_new_privs"
}

# status_field TEXT NAME: the value of "NAME:" in /proc/PID/status TEXT, blanks squeezed.
status_field() {
	printf '%s\n' "$1" | awk -v k="$2:" '$1 == k { $1 = ""; print substr($0, 2) }'
}

# Bounded wait for the control socket to answer; fails if tapnetd died.
wait_ready() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		if tapnet_cli status >/dev/null 2>&1; then
			log "tapnetd (pid $DAEMON_PID) is up in namespace $NS"
			return 0
		fi
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			wait "$DAEMON_PID"
			DAEMON_STATUS=$?
			DAEMON_PID=
			fail "tapnetd exited with status $DAEMON_STATUS before it was ready"
		fi
		sleep 0.1
	done
	fail "tapnetd did not answer on $SOCK within ${WAIT_SECONDS}s"
}

# stop_tapnetd [SIGNAL]: signals tapnetd (TERM), waits (bounded, then KILL),
# sets DAEMON_STATUS to its exit status.
stop_tapnetd() {
	local sig=${1:-TERM} i
	[ -n "$DAEMON_PID" ] || return 0
	kill -"$sig" "$DAEMON_PID" 2>/dev/null
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$DAEMON_PID" 2>/dev/null; then
		log "tapnetd did not stop within ${WAIT_SECONDS}s of SIG$sig; killing it"
		kill -KILL "$DAEMON_PID" 2>/dev/null
	fi
	wait "$DAEMON_PID" 2>/dev/null
	DAEMON_STATUS=$?
	DAEMON_PID=
	return 0
}

# has_sanitizer_report FILE: ASan, LSan or UBSan reported something in FILE.
has_sanitizer_report() {
	[ -f "$1" ] && grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"
}

# restart_tapnetd [CONFIG LINES...]: stops tapnetd (SIGTERM; it must exit 0
# with a clean sanitizer log, kept as $DAEMON_LOG.N) and starts it again
# with a new configuration, in the same namespace.
RESTARTS=0
restart_tapnetd() {
	stop_tapnetd TERM
	[ "$DAEMON_STATUS" -eq 0 ] || fail "tapnetd exited with status $DAEMON_STATUS on SIGTERM"
	has_sanitizer_report "$DAEMON_LOG" && fail "sanitizer report in the tapnetd log: $(cat "$DAEMON_LOG")"
	RESTARTS=$((RESTARTS + 1))
	cp "$DAEMON_LOG" "$DAEMON_LOG.$RESTARTS"
	start_tapnetd "$@"
}

# The built-in services on their usual ports, as lines for start_tapnetd.
SERVICES_CONFIG=("[services]" "echo = 7" "discard = 9" "daytime = 13" "chargen = 19")

# tcp_client [--timeout S] [--sync PREFIX] MODE ARGS...: tests/integration/tcpclient.py,
# the kernel's side of a TCP exchange, run in the namespace. It bounds its
# own waits (--timeout, default 120 s); `timeout` bounds it from outside too.
TCPCLIENT=$TOP_SRCDIR/tests/integration/tcpclient.py
tcp_client() {
	ns_exec timeout -k 10 "${TCP_CLIENT_TIMEOUT:-600}" "$PYTHON" "$TCPCLIENT" "$@"
}

# wait_for_file PATH SECONDS [PID]: until PATH exists; fails after SECONDS or
# if process PID (a helper that was to create it) ended.
wait_for_file() {
	local path=$1 seconds=$2 pid=${3:-} i
	for ((i = 0; i < seconds * 10; i++)); do
		[ -e "$path" ] && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			fail "the helper (pid $pid) ended before $path appeared"
		fi
		sleep 0.1
	done
	fail "$path did not appear within ${seconds}s"
}

# at_exit 'COMMAND': run by cleanup, before tapnetd is stopped (e.g. to end
# a helper process or remove a second namespace).
at_exit() { AT_EXIT+=("$1"); }

cleanup() {
	local rc=$? cmd log
	trap - EXIT INT TERM HUP
	for cmd in ${AT_EXIT[@]+"${AT_EXIT[@]}"}; do
		eval "$cmd" 2>/dev/null
	done
	if [ -n "$DAEMON_PID" ]; then
		stop_tapnetd TERM
		if [ "$rc" -eq 0 ] && [ "$DAEMON_STATUS" -ne 0 ]; then
			printf '%s: FAIL: tapnetd exited with status %s on SIGTERM\n' \
				"$TEST_NAME" "$DAEMON_STATUS" >&2
			rc=1
		fi
	fi
	# Sanitizer reports in the daemon's log fail the test even if it exited 0.
	if [ "$rc" -eq 0 ] && has_sanitizer_report "$DAEMON_LOG"; then
		printf '%s: FAIL: sanitizer report in the tapnetd log\n' "$TEST_NAME" >&2
		rc=1
	fi
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -s "${DAEMON_LOG:-}" ]; then
		printf -- '--- tapnetd log (%s) ---\n' "$DAEMON_LOG" >&2
		cat "$DAEMON_LOG" >&2
		printf -- '--- end of tapnetd log ---\n' >&2
	fi
	# and what each background program said last: a server that never
	# listened says why here (a wait_listen failure names only the port)
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for log in ${BG_LOGS[@]+"${BG_LOGS[@]}"}; do
			[ -s "$log" ] || continue
			printf -- '--- the last lines of %s ---\n' "${log##*/}" >&2
			tail -n 20 "$log" >&2
		done
	fi
	[ -n "$NS" ] && ip netns delete "$NS" 2>/dev/null
	[ -n "$TN_TMP" ] && rm -rf "$TN_TMP"
	exit "$rc"
}

# ------------------------------------------------------------------ set-up on source

# LIB_NO_NETNS=1: only the helpers above, for tests that need no daemon.
[ -n "${LIB_NO_NETNS:-}" ] && return 0

[ "$(id -u)" -eq 0 ] || missing "needs root (to create a network namespace and a TAP device)"
[ -c /dev/net/tun ] || missing "/dev/net/tun is missing (load the tun module)"
require_cmd ip ping
[ -x "$PYTHON" ] || missing "$PYTHON not found (Debian package python3)"
[ -x "$TAPNETD" ] || fail "$TAPNETD not built"
[ -x "$TAPNET" ] || fail "$TAPNET not built"
id nobody >/dev/null 2>&1 || missing "user nobody does not exist"
getent group nogroup >/dev/null 2>&1 || missing "group nogroup does not exist"

trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# Short and under /tmp: the control socket path must fit in sun_path (108 bytes).
TN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tapnet-$TEST_NAME.XXXXXX") || fail "mktemp -d failed"
CONF=$TN_TMP/tapnetd.conf
SOCK=$TN_TMP/tapnetd.sock
DAEMON_LOG=$TN_TMP/tapnetd.log
# tapnetd creates its socket here as root and removes it as nobody on exit.
chown nobody:nogroup "$TN_TMP" && chmod 0755 "$TN_TMP" || fail "cannot prepare $TN_TMP"

NS=tntest-$$-$TEST_NAME
if ! ip netns add "$NS" 2>"$TN_TMP/netns.err"; then
	err=$(cat "$TN_TMP/netns.err")
	NS=
	missing "cannot create a network namespace: $err"
fi
ns_exec ip link set lo up || fail "cannot bring lo up in $NS"
# No IPv6 chatter (router solicitations, MLD) on tap0: counters move only for what a test sends.
ns_exec sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
