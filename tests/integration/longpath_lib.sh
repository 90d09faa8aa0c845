# longpath_lib.sh - sourced after lib.sh by tests and benchmarks that need a
# long path: the same delay between a kernel client and tapnet, and between
# two kernels, in one run (these machines have no tc/netem).
#
#   namespace $NS (lib.sh's):  tap0 (tapnetd, no address on the kernel side)
#                              va  <-- delayline -->  tap0
#                              vb1 <-- delayline -->  vb2
#   $NS-c:   vc  10.0.0.1/24 (veth peer of va): the client of tapnet (10.0.0.2)
#   $NS-k1:  vk1 10.0.1.1/24 (veth peer of vb1): the client of the kernel peer
#   $NS-k2:  vk2 10.0.1.2/24 (veth peer of vb2): the kernel peer
#
# Every interface on the way has its offloads off, so the delay line moves
# wire-sized frames, and tapnetd runs with offload = no.
#
#   longpath_setup                  the namespaces and veths (after start_tapnetd)
#   longpath_delay MS [OPTION...]   (re)starts the delay line: MS each way,
#                                   and delayline's other options (-r PCT
#                                   -x US: reordering)
#   c_exec / k1_exec / k2_exec CMD  run CMD in those namespaces
DELAYLINE=$TOP_BUILDDIR/tests/integration/delayline
[ -x "$DELAYLINE" ] || fail "$DELAYLINE not built"
export TAP_HOST_ADDRESS= OFFLOAD=no
KERNEL_CLIENT_ADDR=10.0.1.1
KERNEL_PEER_ADDR=10.0.1.2
DELAY_PID=

c_exec() { ip netns exec "$NS-c" "$@"; }
k1_exec() { ip netns exec "$NS-k1" "$@"; }
k2_exec() { ip netns exec "$NS-k2" "$@"; }

# no_offloads NSEXEC IFACE: wire-sized frames only
no_offloads() {
	"$1" ethtool -K "$2" tso off gso off gro off rx off tx off >/dev/null 2>&1 ||
		"$1" ethtool -K "$2" tso off gso off gro off >/dev/null 2>&1 ||
		fail "cannot turn the offloads of $2 off"
}

longpath_setup() {
	local n
	for n in c k1 k2; do
		ip netns add "$NS-$n" || fail "cannot create namespace $NS-$n"
		at_exit "ip netns delete $NS-$n"
	done
	ns_exec ip link add va type veth peer name vc netns "$NS-c" &&
		ns_exec ip link add vb1 type veth peer name vk1 netns "$NS-k1" &&
		ns_exec ip link add vb2 type veth peer name vk2 netns "$NS-k2" ||
		fail "cannot create the veth pairs"
	c_exec ip address add "$HOST_ADDR/24" dev vc &&
		k1_exec ip address add "$KERNEL_CLIENT_ADDR/24" dev vk1 &&
		k2_exec ip address add "$KERNEL_PEER_ADDR/24" dev vk2 || fail "cannot address the veths"
	for n in "ns_exec va" "ns_exec vb1" "ns_exec vb2" "c_exec vc" "k1_exec vk1" "k2_exec vk2"; do
		set -- $n
		"$1" ip link set "$2" up || fail "cannot bring $2 up"
		no_offloads "$1" "$2"
	done
	no_offloads ns_exec "$IFACE"
	c_exec ip link set lo up && k1_exec ip link set lo up && k2_exec ip link set lo up
	at_exit 'longpath_stop_delay'
}

longpath_stop_delay() {
	[ -n "$DELAY_PID" ] || return 0
	kill "$DELAY_PID" 2>/dev/null
	wait "$DELAY_PID" 2>/dev/null
	DELAY_PID=
}

# longpath_delay MS [OPTION...]: frames wait MS milliseconds each way (the
# RTT is twice that); OPTIONs go to the delay line (-r PCT -x US: reordering)
longpath_delay() {
	local ms=$1
	shift
	longpath_stop_delay
	# not through ns_exec (a function): $! would be a subshell, and killing
	# it would leave the delay line running next to the next one, every
	# frame then crossing twice (ip netns exec execs: $! is the delay line)
	ip netns exec "$NS" "$DELAYLINE" -d "$ms" "$@" va "$IFACE" vb1 vb2 >>"$TN_TMP/delayline.log" 2>&1 &
	DELAY_PID=$!
	local i
	for ((i = 0; i < 50; i++)); do
		c_exec ping -c 1 -W 1 "$TAPNET_ADDR" >/dev/null 2>&1 &&
			k1_exec ping -c 1 -W 1 "$KERNEL_PEER_ADDR" >/dev/null 2>&1 && return 0
		kill -0 "$DELAY_PID" 2>/dev/null || fail "the delay line died: $(cat "$TN_TMP/delayline.log")"
	done
	fail "no path through the delay line: $(cat "$TN_TMP/delayline.log")"
}
