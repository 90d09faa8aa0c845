#!/bin/bash
# systemd.sh - the unit built from systemd/tapnetd.service.in passes
# `systemd-analyze verify` without a word, `systemd-analyze security
# --offline=yes` rates it 2.5 or lower, and systemd-sysusers creates the
# tapnet user and group from systemd/tapnet.conf. Needs no root.
LIB_NO_NETNS=1
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd systemd-analyze

unit_in=$TOP_BUILDDIR/systemd/tapnetd.service
[ -f "$unit_in" ] || fail "$unit_in was not built"
TN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tapnet-$TEST_NAME.XXXXXX") || fail "mktemp -d failed"
trap 'rm -rf "$TN_TMP"' EXIT

# verify checks that the programs named by Exec*= exist: point the unit at
# the freshly built tapnetd instead of its install location.
sbindir=$(sed -n 's|^ExecStart=\(/[^ ]*\)/tapnetd .*|\1|p' "$unit_in")
[ -n "$sbindir" ] || fail "no ExecStart=SBINDIR/tapnetd line in $unit_in"
unit=$TN_TMP/tapnetd.service
sed "s|^\(Exec[A-Za-z]*=\)$sbindir/tapnetd|\1$TOP_BUILDDIR/tapnetd|" "$unit_in" >"$unit"
grep -q "^ExecStart=$TOP_BUILDDIR/tapnetd -f" "$unit" || fail "cannot point $unit at the built tapnetd"

out=$(systemd-analyze verify "$unit" 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "systemd-analyze verify exited $rc: $out"
[ -z "$out" ] || fail "systemd-analyze verify is not clean: $out"
log "systemd-analyze verify: clean"

out=$(systemd-analyze security --offline=yes "$unit" 2>&1) || fail "systemd-analyze security failed: $out"
# the settings that still cost something, for the log
printf '%s\n' "$out" | awk '$NF ~ /^[0-9.]+$/ && $NF > 0'
level=$(printf '%s\n' "$out" | sed -n 's/^.*Overall exposure level for tapnetd.service: \([0-9.]*\) .*$/\1/p')
[ -n "$level" ] || fail "no overall exposure level in: $out"
awk -v l="$level" 'BEGIN { exit !(l <= 2.5) }' || fail "exposure level $level is above 2.5"
log "systemd-analyze security --offline=yes: $level (at most 2.5 wanted)"

# sysusers.d: into an empty root, the tapnet user and its group.
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$TN_TMP/root/etc"
	out=$(systemd-sysusers --root="$TN_TMP/root" "$TOP_SRCDIR/systemd/tapnet.conf" 2>&1) ||
		fail "systemd-sysusers refused systemd/tapnet.conf: $out"
	grep -q '^tapnet:' "$TN_TMP/root/etc/group" || fail "systemd-sysusers created no tapnet group"
	grep -qE '^tapnet:x:[0-9]+:[0-9]+:.*:/usr/sbin/nologin$' "$TN_TMP/root/etc/passwd" ||
		fail "systemd-sysusers created no tapnet user with nologin"
	gid=$(awk -F: '$1 == "tapnet" { print $3 }' "$TN_TMP/root/etc/group")
	awk -F: -v g="$gid" '$1 == "tapnet" && $4 == g { f = 1 } END { exit !f }' "$TN_TMP/root/etc/passwd" ||
		fail "the tapnet user's primary group is not tapnet"
	log "systemd-sysusers: user and group tapnet"
else
	log "systemd-sysusers not found: sysusers snippet not checked"
fi
exit 0
