#!/bin/bash
# tests/demo.sh - tapnet in one minute: `bash tests/demo.sh`, as root on Debian 12.
#
# Installs the packages it needs, builds tapnet (in the tree if it is configured
# there, else in _build/gcc), creates a private network namespace, starts
# tapnetd in it (it creates tap0 and gives the kernel's side 10.0.0.1/24;
# tapnet itself is 10.0.0.2), pings tapnet, talks TCP to its built-in services,
# fetches pages with curl both ways (tapnet run curl, and a web server run on
# tapnet with tapnet run), shows what the tapnet CLI says,
# then stops tapnetd and removes the namespace. Nothing outside that
# namespace is touched.
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$TOP/tests/packages.sh"

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
# show CMD...: prints the command as a person would type it, then runs it.
show() {
	printf '$ %s\n' "$*"
	"$@"
}

[ "$(id -u)" -eq 0 ] || { echo "demo: run me as root (I create a network namespace and a TAP device)" >&2; exit 1; }

say "packages"
install_packages || exit 1
echo "all installed"

say "build"
if [ -f "$TOP/config.status" ]; then
	BUILDDIR=$TOP # configured in place: use that build
else
	BUILDDIR=$TOP/_build/gcc
	if [ ! -f "$BUILDDIR/Makefile" ]; then
		[ -x "$TOP/configure" ] || (cd "$TOP" && autoreconf -fi) || exit 1
		mkdir -p "$BUILDDIR" && (cd "$BUILDDIR" && "$TOP/configure" -q) || exit 1
	fi
fi
make -s -C "$BUILDDIR" -j"$(nproc)" tapnetd tapnet libtapnet-preload.la || exit 1
echo "built in $BUILDDIR"

# The namespace, tapnetd and the clean-up on exit come from the integration
# tests' library.
TOP_SRCDIR=$TOP TOP_BUILDDIR=$BUILDDIR LOG_LEVEL=info
. "$TOP/tests/integration/lib.sh"

say "tapnetd in network namespace $NS"
start_tapnetd "${SERVICES_CONFIG[@]}"
grep -v '^#' "$CONF" | grep .
echo
ns_exec ip -brief address show dev "$IFACE"

# ---------------------------------------------------------------- demo steps
# Each is a function; later features add theirs to DEMO_STEPS.

demo_ping() {
	say "ping tapnet"
	show ip netns exec "$NS" ping -n -c 3 -w 10 "$TAPNET_ADDR" || fail "ping got no answer"
	say "a 20000-byte ping: fragmented both ways, reassembled by tapnet"
	show ip netns exec "$NS" ping -n -c 2 -s 20000 -w 10 "$TAPNET_ADDR" || fail "ping -s 20000 got no answer"
}

demo_cli() {
	say "what tapnetd says about itself"
	show "$TAPNET" -s "$SOCK" status
	echo
	show "$TAPNET" -s "$SOCK" arp
	echo
	show "$TAPNET" -s "$SOCK" stats
}

# show_ns 'PIPELINE': prints it, then runs it with bash in the namespace, bounded.
show_ns() {
	printf '$ %s\n' "$1"
	ip netns exec "$NS" timeout 30 bash -c "$1"
}

demo_tcp() {
	say "TCP from the kernel's side to tapnet's built-in services (nc)"
	show_ns "nc -d $TAPNET_ADDR 13                       # daytime: one line, tapnet closes" ||
		fail "daytime"
	show_ns "echo 'hello, tapnet' | nc -N $TAPNET_ADDR 7   # echo" || fail "echo"
	show_ns "nc -d $TAPNET_ADDR 19 | head -n 4             # chargen (RFC 864)"
	show_ns "dd if=/dev/zero bs=1M count=100 status=none | nc -N $TAPNET_ADDR 9 && echo '100 MiB into discard'" ||
		fail "discard"
	say "tapnet's sockets while a connection is open (tapnet ss -a -i)"
	ip netns exec "$NS" timeout 10 bash -c "sleep 2 | nc -N $TAPNET_ADDR 7" &
	local held=$!
	sleep 0.5
	show "$TAPNET" -s "$SOCK" ss -a -i
	wait "$held"
}

# Programs run unchanged on tapnet sockets with `tapnet run` (an LD_PRELOAD
# shim); this build's shim, not an installed one.
export TAPNET_PRELOAD=$BUILDDIR/.libs/libtapnet-preload.so

# wait_port ADDR PORT: until a TCP listener answers there (bounded).
wait_port() {
	for _ in $(seq 1 50); do
		ip netns exec "$NS" timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on $1:$2"
}

demo_curl() {
	local www=$TN_TMP/www
	mkdir -p "$www" && echo "hello from the kernel's side" >"$www/index.html" || fail "cannot write $www"
	say "curl on tapnet fetches a page from a web server on the kernel's side"
	ip netns exec "$NS" "$PYTHON" -m http.server 8000 --bind "$HOST_ADDR" --directory "$www" \
		>"$TN_TMP/kernel-http.log" 2>&1 &
	local kernel_http=$!
	wait_port "$HOST_ADDR" 8000
	show ip netns exec "$NS" "$TAPNET" -s "$SOCK" run curl -sS "http://$HOST_ADDR:8000/" ||
		fail "tapnet run curl failed"
	kill "$kernel_http"; wait "$kernel_http" 2>/dev/null

	echo "hello from tapnet's side" >"$www/index.html"
	say "the kernel's curl fetches a page from a web server running on tapnet"
	ip netns exec "$NS" "$TAPNET" -s "$SOCK" run "$PYTHON" -m http.server 80 --bind "$TAPNET_ADDR" \
		--directory "$www" >"$TN_TMP/tapnet-http.log" 2>&1 &
	local tapnet_http=$!
	wait_port "$TAPNET_ADDR" 80
	show ip netns exec "$NS" curl -sS "http://$TAPNET_ADDR/" || fail "curl http://$TAPNET_ADDR/ failed"
	kill "$tapnet_http"; wait "$tapnet_http" 2>/dev/null
}

DEMO_STEPS=(demo_ping demo_tcp demo_curl demo_cli)

for s in "${DEMO_STEPS[@]}"; do
	"$s"
done

say "stop tapnetd (SIGTERM) and remove the namespace"
stop_tapnetd TERM
[ "$DAEMON_STATUS" -eq 0 ] || fail "tapnetd exited with status $DAEMON_STATUS"
sed 's/^/  tapnetd: /' "$DAEMON_LOG"
echo "done"
exit 0
