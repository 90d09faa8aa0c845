#!/bin/bash
# ambient.sh - tapnetd started the way tapnetd.service starts it: not as
# root but as a system user with only the unit's ambient capabilities
# (CAP_NET_ADMIN), its bounding set, and no_new_privs. It must set up tap0,
# give the capability up, answer ping, and own and remove its control socket.
# (nobody/nogroup stand in for the unit's tapnet/tapnet.)
. "$TOP_SRCDIR/tests/integration/lib.sh"
require_cmd setpriv

unit=$TOP_BUILDDIR/systemd/tapnetd.service
[ -f "$unit" ] || fail "$unit was not built"
# "CAP_NET_ADMIN CAP_X" -> "+net_admin,+x", as setpriv wants them.
caps_of() {
	sed -n "s/^$1=//p" "$unit" | tr ' ' '\n' | grep . |
		sed 's/^CAP_//' | tr 'A-Z' 'a-z' | sed 's/^/+/' | paste -sd, -
}
ambient=$(caps_of AmbientCapabilities)
bounding=$(caps_of CapabilityBoundingSet)
[ -n "$ambient" ] && [ -n "$bounding" ] ||
	fail "no AmbientCapabilities= or CapabilityBoundingSet= in $unit"
grep -q '^NoNewPrivileges=yes$' "$unit" || fail "$unit does not set NoNewPrivileges=yes"
log "as the unit: ambient $ambient, bounding set $bounding, no_new_privs"

# The bounding set the daemon must keep: what the unit gives (tapnetd has no
# CAP_SETPCAP to shrink it further, and needs none).
bnd=0
for c in ${bounding//,/ }; do
	n=$(setpriv --list-caps | grep -nx "${c#+}" | cut -d: -f1) # line n: capability n - 1
	[ -n "$n" ] || fail "setpriv does not know capability ${c#+}"
	bnd=$((bnd | (1 << (n - 1))))
done

TAPNETD_WRAPPER=(setpriv --reuid=nobody --regid=nogroup --clear-groups
	--inh-caps="$ambient" --ambient-caps="$ambient" --bounding-set=-all,"$bounding" --no-new-privs)

# udev gives /dev/net/tun mode 0666 (systemd's 50-udev-default.rules), and
# the unit relies on it. Where this machine's node is stricter, the daemon
# gets a 0666 node of its own, bind-mounted in a private mount namespace.
if [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
	require_cmd unshare
	mknod -m 0666 "$TN_TMP/tun" c 10 200 || missing "/dev/net/tun is not mode 0666 and no node can be made"
	log "/dev/net/tun is mode $(stat -c %a /dev/net/tun) here, not udev's 0666: using a 0666 node in a private mount namespace"
	TAPNETD_WRAPPER=(unshare --mount --propagation private
		sh -c 'mount --bind "$0" /dev/net/tun && exec "$@"' "$TN_TMP/tun" "${TAPNETD_WRAPPER[@]}")
fi
start_tapnetd
expect_unprivileged "$(id -u nobody)" "$(printf '%x' "$bnd")"

ns_exec ping -n -c 3 -i 0.2 -w 10 "$TAPNET_ADDR" >/dev/null || fail "ping failed"
[ "$(stat -c %U:%G "$SOCK")" = nobody:nogroup ] || fail "control socket owned by $(stat -c %U:%G "$SOCK")"
stop_tapnetd TERM
[ "$DAEMON_STATUS" -eq 0 ] || fail "tapnetd exited with status $DAEMON_STATUS on SIGTERM"
[ -e "$SOCK" ] && fail "the control socket is still there after SIGTERM"
log "ping answered; SIGTERM: exit 0, control socket removed"
exit 0
