# packages.sh - the Debian 12 packages that building and testing tapnet need,
# in one place; sourced by tests/run.sh, tests/demo.sh and .ci/run.
#
#   install_packages        installs those missing (apt-get update first)
#   install_packages force  apt-get update and install all, as CI does

TAPNET_PACKAGES=(
	# build
	build-essential autoconf automake libtool pkg-config
	libev-dev libcap-dev libinih-dev check
	# sanitizer and fuzzing build
	clang libclang-rt-14-dev
	# integration tests, demo, benchmarks
	iproute2 iputils-ping iputils-arping procps
	python3 python3-scapy python3-pytest
	netcat-openbsd curl iperf3 nginx-light
	# more servers as deployed under `tapnet run` (rpc_servers.sh)
	apache2 haproxy memcached
	# a server that sandboxes itself with seccomp (rpc_sandbox.sh)
	openssh-server openssh-client
	# systemd-analyze, systemd-sysusers
	systemd
	# the manual pages, checked by tests/man.sh
	man-db groff-base
	# setpriv (util-linux) and setcap: attacks by local users in the integration tests
	util-linux libcap2-bin
	# loss in the test's namespace (tcp_loss.sh, bench/loss); ethtool for bench/loss
	nftables ethtool
	# `tapnet capture` read back (trace.sh); asks about non-root capture: DEBIAN_FRONTEND
	tshark
	# a Go client and server under `tapnet run`'s seccomp supervisor (rpc_seccomp_go.sh)
	golang-go
)

install_packages() {
	local missing=() p
	if [ "${1:-}" = force ]; then
		missing=("${TAPNET_PACKAGES[@]}")
	else
		for p in "${TAPNET_PACKAGES[@]}"; do
			[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] ||
				missing+=("$p")
		done
	fi
	[ "${#missing[@]}" -gt 0 ] || return 0
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "packages missing, and no apt-get as root to install them: ${missing[*]}" >&2
		return 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Packages with a service (nginx) must not start it on this machine: the
	# tests start their own, inside their namespaces. policy-rc.d is Debian's
	# way to say so during an install; ours is removed afterwards.
	local policy=/usr/sbin/policy-rc.d ours=0 rc
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && ours=1
	fi
	apt-get update -q && apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
	rc=$?
	[ "$ours" -eq 1 ] && rm -f "$policy"
	return "$rc"
}
