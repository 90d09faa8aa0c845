# bench/lib.sh - what the benchmarks share (sourced, after tests/integration/lib.sh).

# median FORMAT VALUES...: the middle value (the mean of the two middle ones
# for an even count), printed with FORMAT (%.0f, %.2f, ...).
median() {
	local fmt=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v fmt="$fmt" '{ v[NR] = $1 }
		END { if (NR % 2) printf fmt, v[(NR + 1) / 2]; else printf fmt, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# kernel_cc_in NAMESPACE...: the kernel's TCP in each of the bench's own
# namespaces sends with KERNEL_CC (default cubic: Linux's default, and
# tapnet's), whatever the machine's own default is, which a new namespace
# inherits (and may not change: only the algorithms the machine allows).
# That default is often bbr, which paces by the rate it measures: on a
# two-CPU machine, iperf3 over a veth pair made 17.8 Gbit/s with bbr and
# 39.6 with cubic, and through `tapnet run` 12.7 and 22.6 (bench/rpc,
# medians of two 4 s runs), so every ratio to the kernel then compares
# algorithms as much as stacks. The namespaces' routes carry it (ip route
# ... congctl, as a route may): call it once tap0 exists, and again after
# each restart of tapnetd (tap0's routes go with it).
KERNEL_CC=${KERNEL_CC:-cubic}
# kernel_cc_here: the same for the namespace this shell runs in (passed into
# other ones whole: "$(declare -f kernel_cc_here)"); status 1 on a failure
kernel_cc_here() {
	local route
	while read -r route; do
		route=$(sed -E 's/ (linkdown|dead|offload|trap|offload_failed)( |$)/ /g' <<<"$route")
		# shellcheck disable=SC2086 # the route's words
		ip route replace $route congctl "$KERNEL_CC" || {
			echo "cannot give the route '$route' the congestion control $KERNEL_CC (KERNEL_CC)" >&2
			return 1
		}
	done < <(ip -4 route show table all | grep -Ev '^(broadcast|multicast|anycast|unreachable|prohibit|blackhole) ')
}
# kernel_cc_run CMD...: kernel_cc_here in the namespace CMD enters (ip netns
# exec NS, nsenter -t PID -n, ...)
kernel_cc_run() {
	"$@" bash -c "KERNEL_CC=$KERNEL_CC; $(declare -f kernel_cc_here); kernel_cc_here"
}
kernel_cc_in() {
	local ns
	echo "the kernel's TCP sends with $KERNEL_CC (KERNEL_CC; this machine's default: $(sysctl -n net.ipv4.tcp_congestion_control))"
	for ns; do
		kernel_cc_run ip netns exec "$ns" || fail "cannot make $KERNEL_CC the congestion control in $ns"
	done
}
