# rpc_lib.sh - sourced by the tests of tapnet sockets for programs (`tapnet
# run`, libtapnet) after lib.sh: helpers to run programs on either side.

require_cmd curl sha256sum
TAPNET_PRELOAD=${TAPNET_PRELOAD:-$TOP_BUILDDIR/.libs/libtapnet-preload.so}
[ -f "$TAPNET_PRELOAD" ] || fail "$TAPNET_PRELOAD not built"
export TAPNET_PRELOAD

# tn_run CMD ARGS...: CMD in the namespace, its IPv4 TCP sockets on tapnet.
tn_run() { ns_exec "$TAPNET" -s "$SOCK" run "$@"; }

# make_file PATH MB: MB mebibytes of random bytes.
make_file() { head -c "$(($2 * 1048576))" /dev/urandom >"$1" || fail "cannot write $1"; }

sha() { sha256sum <"$1" | cut -d' ' -f1; }

# same_file A B WHAT: fails unless A and B have the same sha256.
same_file() {
	local a b
	a=$(sha "$1") b=$(sha "$2")
	[ "$a" = "$b" ] || fail "$3: sha256 differs ($a, expected $b)"
	log "$3: sha256 $a matches ($(stat -c %s "$2") bytes)"
}

# on_side SIDE: the command prefix that runs a program there (tapnet or kernel).
on_side() { if [ "$1" = tapnet ]; then echo tn_run; else echo ns_exec; fi; }
other_side() { if [ "$1" = tapnet ]; then echo kernel; else echo tapnet; fi; }

# nc_copy NAME RECEIVER-SIDE ADDR PORT: nc -N sends $TN_TMP/data from the
# other side, nc -l on the receiving side reads it to the FIN; the sha256
# must match.
nc_copy() {
	local name=$1 side=$2 addr=$3 port=$4 srv cli
	srv=$(on_side "$side") cli=$(on_side "$(other_side "$side")")
	$srv timeout 60 nc -l "$addr" "$port" </dev/null >"$TN_TMP/$port.got" &
	local spid=$!
	wait_listen "$side" "$addr" "$port"
	$cli timeout 60 nc -N "$addr" "$port" <"$TN_TMP/data" >/dev/null || fail "$name: nc -N failed"
	wait "$spid" || fail "$name: nc -l did not end with the FIN"
	same_file "$TN_TMP/$port.got" "$TN_TMP/data" "$name"
	rm -f "$TN_TMP/$port.got"
}

# wait_listen SIDE ADDR PORT: bounded wait until something listens there
# (SIDE: kernel or tapnet; a TCP connect to it succeeds from the other side).
wait_listen() {
	local side=$1 addr=$2 port=$3 i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		if [ "$side" = tapnet ]; then
			tapnet_cli ss -l 2>/dev/null | grep -q "$addr:$port " && return 0
		else
			ns_exec ss -ltnH "src $addr:$port" 2>/dev/null | grep -q . && return 0
		fi
		sleep 0.1
	done
	fail "nothing listens on $side $addr:$port after ${WAIT_SECONDS}s"
}

# wait_for_file_line FILE LINE: bounded wait until FILE (a helper's output) has LINE, whole.
wait_for_file_line() {
	local i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		grep -qx "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$2' in $1 after ${WAIT_SECONDS}s: $(cat "$1")"
}

# tapnet_conns: tapnet's connections and listeners now, one per line (no header).
tapnet_conns() { tapnet_cli ss -a | tail -n +2; }

# wait_no_conns [PATTERN]: bounded wait until `tapnet ss -a` shows no line
# matching PATTERN (default: any); fails with what is left.
wait_no_conns() {
	local pat=${1:-.} i
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		tapnet_conns | grep -qE "$pat" || return 0
		sleep 0.1
	done
	fail "tapnet still has connections: $(tapnet_conns | grep -E "$pat")"
}

# stop_bg_expect_nothing_left BG_PID...: stops the programs that bg started
# (the program, then what ran it) and waits, up to 30 s, until tapnetd
# holds no socket of a program and no buffer byte; fails with what is left.
stop_bg_expect_nothing_left() {
	local pid i
	for pid in "$@"; do
		pkill -P "$pid" 2>/dev/null
		kill "$pid" 2>/dev/null
	done
	for ((i = 0; i < 30 * 10; i++)); do
		[ "$(counter SockOpen)" -eq 0 ] && [ "$(counter SockBufferBytes)" -eq 0 ] && return 0
		sleep 0.1
	done
	[ "$(counter SockOpen)" -eq 0 ] ||
		fail "tapnetd still holds $(counter SockOpen) sockets of programs that ended: $(tapnet_conns | head -5)"
	fail "tapnetd still holds $(counter SockBufferBytes) bytes of buffers for programs that ended"
}

# bg NAME CMD...: runs CMD in the background, its output in $TN_TMP/NAME.log;
# its pid in BG_PID; killed at exit.
bg() {
	local name=$1
	shift
	"$@" >"$TN_TMP/$name.log" 2>&1 &
	BG_PID=$!
	BG_LOGS+=("$TN_TMP/$name.log") # shown when the test fails (cleanup, lib.sh)
	# CMD may be a shell function (ns_exec, tn_run): then $! is a subshell and
	# the program its child, which would outlive it (and the namespace)
	at_exit "pkill -P $BG_PID; kill $BG_PID"
}

# ---------------------------------------------------------------- as another user
# For attacks by a local user, limits per user, and servers that drop
# privileges: nobody:nogroup, without supplementary groups, must reach the
# control socket and read what it runs (the build and source trees may be
# closed to it: a clone under /root), so those are copied to $TN_TMP/pub.

# as_nobody CMD ARGS...: CMD in the namespace as nobody.
as_nobody() { ns_exec setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# nobody_copy FILE...: copies FILEs into $TN_TMP/pub, readable by everyone.
nobody_copy() {
	mkdir -p "$TN_TMP/pub" && chmod 0755 "$TN_TMP" "$TN_TMP/pub" &&
		cp "$@" "$TN_TMP/pub/" && chmod -R a+rX "$TN_TMP/pub" || fail "cannot copy $* for nobody"
}

# publish_tools: `tapnet` and the shim in $TN_TMP/pub (once); sets
# PUB_TAPNET and PUB_PRELOAD.
publish_tools() {
	PUB_TAPNET=$TN_TMP/pub/${TAPNET##*/}
	PUB_PRELOAD=$TN_TMP/pub/${TAPNET_PRELOAD##*/}
	[ -f "$PUB_PRELOAD" ] || nobody_copy "$TAPNET" "$TAPNET_PRELOAD"
}

# tn_run_as USER GROUP CMD ARGS...: CMD under `tapnet run` as USER, with no
# capabilities, as a local user would start it.
tn_run_as() {
	local user=$1 group=$2
	shift 2
	publish_tools
	ns_exec env TAPNET_PRELOAD="$PUB_PRELOAD" \
		setpriv --reuid "$user" --regid "$group" --clear-groups --inh-caps=-all \
		"$PUB_TAPNET" -s "$SOCK" run "$@"
}

# tn_run_nobody CMD ARGS...: tn_run as nobody.
tn_run_nobody() { tn_run_as nobody nogroup "$@"; }

# ---------------------------------------------------------------- nginx as deployed
# require_nginx: sets NGINX; the test is skipped (missing) without nginx or
# the user www-data its workers switch to.
require_nginx() {
	NGINX=$(command -v nginx || echo /usr/sbin/nginx)
	[ -x "$NGINX" ] || missing "nginx not found (Debian package nginx-light)"
	getent passwd www-data >/dev/null || missing "no user www-data"
}

# nginx_conf DIR LISTEN ROOT [DIRECTIVE]...: DIR/nginx.conf, Debian's stock
# /etc/nginx/nginx.conf less its includes (master as root, 2 workers that
# switch to www-data, sendfile, tcp_nopush, keepalive), its paths in DIR
# (nginx.pid, error.log, access.log, tmp/ owned by www-data) and one server
# on LISTEN (ADDR:PORT) serving ROOT. Each DIRECTIVE goes into http { } too;
# an access_log one replaces DIR/access.log. DIR and ROOT are made readable
# by www-data (so are the directories above them: $TN_TMP).
nginx_conf() {
	local dir=$1 listen=$2 root=$3 d access="access_log $1/access.log;" extra=""
	shift 3
	for d in "$@"; do
		case $d in access_log*) access=$d ;; *) extra+="	$d"$'\n' ;; esac
	done
	mkdir -p "$dir/tmp" "$root" && chown www-data "$dir/tmp" &&
		chmod 0755 "$TN_TMP" "$dir" "$root" || fail "cannot make $dir and $root for www-data"
	cat >"$dir/nginx.conf" <<CONF || fail "cannot write $dir/nginx.conf"
# Debian's /etc/nginx/nginx.conf, less its includes, with paths in $dir
user www-data;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 768; }
http {
	sendfile on;
	tcp_nopush on;
	keepalive_timeout 65;
	types_hash_max_size 2048;
	default_type application/octet-stream;
	$access
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
$extra	server {
		listen $listen;
		root $root;
	}
}
CONF
	at_exit "[ -f '$dir/nginx.pid' ] && kill -QUIT \"\$(cat '$dir/nginx.pid')\""
}

# require_seccomp: `tapnet run --seccomp` can run a program here (tapnetd
# started); if the kernel has no seccomp user notification, the test is
# missing what it needs.
require_seccomp() {
	local why
	if ! why=$(tn_run --seccomp true 2>&1); then
		grep -q 'run: --seccomp: ' <<<"$why" && missing "no seccomp supervisor here: $why"
		fail "tapnet run --seccomp true: $why"
	fi
}

# echo_server SIDE NAME PORT: an echo server (TCP_NODELAY, a thread per
# connection) on SIDE (kernel: $HOST_ADDR, tapnet: $TAPNET_ADDR under
# `tapnet run`), in the background as NAME; its log ($TN_TMP/NAME.log) has
# "peer ADDR" for each connection.
echo_server() {
	local run=ns_exec addr=$HOST_ADDR
	[ "$1" = tapnet ] && run=tn_run addr=$TAPNET_ADDR
	bg "$2" $run "$PYTHON" -u -c '
import socket, sys, threading
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
def echo(c):
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        b = c.recv(65536)
        if not b: break
        c.sendall(b)
    c.close()
while True:
    c, peer = l.accept(); print("peer", peer[0], flush=True)
    threading.Thread(target=echo, args=(c,)).start()' "$addr" "$3"
	wait_listen "$1" "$addr" "$3"
}

# resetter_server NAME PORT: a kernel-side server that, on each connection,
# sends "x", waits for a byte back (the client has read its "x") and resets
# the connection (SO_LINGER 0).
resetter_server() {
	bg "$1" ns_exec "$PYTHON" -u -c '
import socket, struct, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
while True:
    c, peer = l.accept(); print("peer", peer[0], flush=True)
    c.sendall(b"x")
    c.recv(1)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()' "$HOST_ADDR" "$2"
	wait_listen kernel "$HOST_ADDR" "$2"
}

# silent_server NAME PORT: a kernel-side server that sends "x" on each
# connection and then says nothing (for silenced_client).
silent_server() {
	bg "$1" ns_exec "$PYTHON" -u -c '
import socket, sys
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2]))); l.listen(16)
held = []
while True:
    c, peer = l.accept(); c.sendall(b"x"); held.append(c)' "$HOST_ADDR" "$2"
	wait_listen kernel "$HOST_ADDR" "$2"
}

# silenced_client NAME PORT CMD...: CMD is a client of silent_server on PORT
# that prints "connected" once it has the "x", then waits for the file
# $TN_TMP/NAME.silent, sends and reads, and prints a line that starts with
# "read": what its read answered. Once it is connected, nftables drops all
# the server sends to tapnet (what CMD sends goes unacknowledged), the file
# appears, and OUT is set to that line (the rule is gone after).
silenced_client() {
	local name=$1 port=$2 i
	shift 2
	rm -f "$TN_TMP/$name.silent"
	bg "$name" "$@" "$TN_TMP/$name.silent"
	for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
		grep -q "^connected" "$TN_TMP/$name.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -qx connected "$TN_TMP/$name.log" || fail "$name: $(cat "$TN_TMP/$name.log")"
	ns_exec nft -f - <<-NFT || fail "cannot make the peer silent with nftables"
	table inet silent {
		chain out { type filter hook output priority 0; ip daddr $TAPNET_ADDR tcp sport $port drop; }
	}
	NFT
	: >"$TN_TMP/$name.silent"
	for ((i = 0; i < 150; i++)); do
		grep -q "^read" "$TN_TMP/$name.log" && break
		sleep 0.1
	done
	ns_exec nft delete table inet silent
	OUT=$(grep "^read" "$TN_TMP/$name.log")
	[ -n "$OUT" ] || fail "$name read nothing within 15 s: $(cat "$TN_TMP/$name.log")"
}
