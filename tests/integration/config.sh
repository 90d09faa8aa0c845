#!/bin/bash
# config.sh - configuration errors are refused with FILE:LINE by both
# `tapnetd --check-config` and start-up (which then creates no interface);
# the shipped etc/tapnetd.conf is valid; SIGHUP re-reads the log level.
. "$TOP_SRCDIR/tests/integration/lib.sh"

# refused NAME LINE PATTERN: the config in $bad must be refused, citing
# "$bad:LINE: ..." matching PATTERN, by --check-config and by start-up.
refused() {
	local name=$1 line=$2 pattern=$3 out rc
	out=$("$TAPNETD" --check-config -c "$bad" 2>&1)
	rc=$?
	log "$name: --check-config: exit $rc: $(printf '%s' "$out" | head -n 1)"
	[ "$rc" -ne 0 ] || fail "$name: --check-config accepted it"
	printf '%s\n' "$out" | grep -qE "^$bad:$line: .*$pattern" ||
		fail "$name: --check-config did not report '$bad:$line: ...$pattern': $out"

	# Start-up, inside the namespace, in case it wrongly starts.
	out=$(ns_exec timeout 10 "$TAPNETD" -f -c "$bad" 2>&1)
	rc=$?
	log "$name: start-up: exit $rc"
	if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then # 124: still running after 10 s
		fail "$name: tapnetd started (exit $rc) with a bad config"
	fi
	printf '%s\n' "$out" | grep -qE "$bad:$line: .*$pattern" ||
		fail "$name: start-up did not report '$bad:$line: ...$pattern': $out"
	printf '%s\n' "$out" >"$TN_TMP/refused.log"
	has_sanitizer_report "$TN_TMP/refused.log" && fail "$name: sanitizer report: $out"
	ns_exec ip link show "$IFACE" >/dev/null 2>&1 && fail "$name: $IFACE exists after a refused start"
	return 0
}

bad=$TN_TMP/bad.conf

cat >"$bad" <<CONF
# line 1
[interface]
name = $IFACE

[ipv4]
address = $TAPNET_ADDR/24
no_such_key = 1
CONF
refused "unknown key" 7 "no_such_key"

cat >"$bad" <<CONF
[interface]
name = $IFACE
[no_such_section]
key = 1
CONF
refused "unknown section" 3 "no_such_section"

cat >"$bad" <<CONF
[interface]
name = $IFACE
mtu = fifteen hundred
CONF
refused "bad value" 3 "mtu"

cat >"$bad" <<CONF
[interface]
name = $IFACE

[arp]

cache_size = 1000000
CONF
refused "out of range" 6 "cache_size"

cat >"$bad" <<CONF
[daemon]
log_level = info
control_socket = relative/path.sock
CONF
refused "relative control socket" 3 "control_socket"

cat >"$bad" <<CONF
[ipv4]
reasm_timeout = 30 parsecs
CONF
refused "bad duration unit" 2 "reasm_timeout"

cat >"$bad" <<CONF
[interface]
mtu = 1500
mtu = 1400
CONF
refused "key given twice" 3 "mtu"

# A file that cannot be read is an error, not the defaults.
out=$("$TAPNETD" --check-config -c "$TN_TMP/does-not-exist.conf" 2>&1) &&
	fail "--check-config accepted a missing file given with -c"
log "missing file: $out"

# The shipped configuration is valid as it is.
out=$("$TAPNETD" --check-config -c "$TOP_SRCDIR/etc/tapnetd.conf" 2>&1) ||
	fail "the shipped etc/tapnetd.conf is refused: $out"
[ "$out" = "$TOP_SRCDIR/etc/tapnetd.conf: ok" ] || fail "unexpected --check-config output: $out"
log "$out"

# And so is the one the tests use; SIGHUP re-reads the log level from it.
# With a receive buffer that may grow to 64 MiB, a program's socket pair
# would ask for 16 MiB: tapnetd says whether net.core.wmem_max caps that.
start_tapnetd "[tcp]" "rcvbuf = 4096 65536 67108864"
wmem_max=$(cat /proc/sys/net/core/wmem_max)
if [ "$wmem_max" -lt 16777216 ]; then
	grep -q "net.core.wmem_max ($wmem_max) caps each program's socket pair below the 16777216 bytes" \
		"$DAEMON_LOG" || fail "no word of net.core.wmem_max $wmem_max capping the socket pairs"
	log "wmem_max $wmem_max: tapnetd says it caps the socket pairs"
else
	grep -q "caps each program's socket pair" "$DAEMON_LOG" &&
		fail "a note of net.core.wmem_max capping the pairs, though it is $wmem_max"
	log "wmem_max $wmem_max: no note, as it caps nothing"
fi
tapnet_cli status | grep -qE '^log level +debug$' || fail "log level is not debug at start"
sed -i 's/^log_level = debug$/log_level = warning/' "$CONF"
kill -HUP "$DAEMON_PID"
for ((i = 0; i < 100; i++)); do
	tapnet_cli status | grep -qE '^log level +warning$' && break
	sleep 0.1
done
tapnet_cli status | grep -qE '^log level +warning$' || fail "SIGHUP did not change the log level to warning"
log "SIGHUP: log level now warning"
kill -0 "$DAEMON_PID" || fail "tapnetd died on SIGHUP"
ns_exec ping -n -c 1 -w 5 "$TAPNET_ADDR" >/dev/null || fail "ping after SIGHUP failed"
exit 0
