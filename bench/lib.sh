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
kernel_cc_in() {
	local ns route
	for ns; do
		while read -r route; do
			route=$(sed -E 's/ (linkdown|dead|offload|trap|offload_failed)( |$)/ /g' <<<"$route")
			# shellcheck disable=SC2086 # the route's words
			ip netns exec "$ns" ip route replace $route congctl "$KERNEL_CC" ||
				fail "cannot give the route '$route' in $ns the congestion control $KERNEL_CC (KERNEL_CC)"
		done < <(ip netns exec "$ns" ip -4 route show table all | grep -Ev '^(broadcast|multicast|anycast|unreachable|prohibit|blackhole) ')
	done
}
