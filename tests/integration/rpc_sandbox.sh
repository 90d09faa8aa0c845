#!/bin/bash
# rpc_sandbox.sh - programs that confine themselves with seccomp run under
# `tapnet run`: the shim makes no call they did not make once they have
# installed a filter (see is_confined in the shim).
#   - sandboxed.c accepts a connection, installs a filter that traps every
#     call but read, write, readv, writev, poll and the exits (a trap kills:
#     no handler), as OpenSSH's pre-authentication child does, and echoes 2
#     MiB until end-of-file: through prctl(PR_SET_SECCOMP), through seccomp(2)
#     by syscall() (libseccomp's way), and in seccomp's strict mode (read,
#     write and exit only; `--no-seccomp`, since strict mode cannot join
#     `tapnet run`'s own filter). Each must exit 0 with every byte echoed;
#     before, the first write (sent as a send) or the read of end-of-file
#     (which asked tapnetd how the connection ended) killed it with SIGSYS.
#   - a program confined by a filter installed before its exec (one that
#     kills at memfd_create) sets 20 options: no option ring, no SIGSYS.
#   - OpenSSH's sshd as deployed (privilege separation, its pre-authentication
#     child chrooted, unprivileged and sandboxed): a command, 4 MiB each way
#     (sha256), and a port forwarding that goes out through tapnet; its log
#     clean (no "cannot determine VRF": SO_BINDTODEVICE reads as on Linux).
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

PROG=$TOP_BUILDDIR/tests/integration/sandboxed
[ -x "$PROG" ] || fail "$PROG not built"
SSHD=/usr/sbin/sshd
for p in "$SSHD" "$(command -v ssh)" "$(command -v ssh-keygen)"; do
	[ -x "$p" ] || missing "sshd, ssh or ssh-keygen not found (Debian packages openssh-server, openssh-client)"
done
id sshd >/dev/null 2>&1 || missing "no user sshd (Debian package openssh-server)"
start_tapnetd

# sandboxed MODE PORT [RUN OPTIONS]: the echo through a confined server, exact, exit 0
sandboxed() {
	local mode=$1 port=$2 rc
	shift 2
	tn_run "$@" "$PROG" "$mode" "$TAPNET_ADDR" "$port" >"$TN_TMP/$mode.out" 2>&1 &
	local pid=$!
	wait_listen tapnet "$TAPNET_ADDR" "$port"
	tcp_client echo "$TAPNET_ADDR" "$port" 2097152 >"$TN_TMP/$mode.echo" ||
		fail "$mode: the echo failed: $(cat "$TN_TMP/$mode.out")"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || fail "$mode: the confined server exited $rc (159: SIGSYS): $(cat "$TN_TMP/$mode.out")"
	log "$mode: $(cat "$TN_TMP/$mode.echo"); the confined server exited 0"
}
sandboxed prctl 7701 -v
grep -q 'confines itself with seccomp' "$TN_TMP/prctl.out" ||
	fail "tapnet run -v did not say the program confined itself: $(cat "$TN_TMP/prctl.out")"
log "prctl under -v: $(grep 'confines itself' "$TN_TMP/prctl.out")"
sandboxed seccomp 7702
sandboxed strict 7703 --no-seccomp

# A program a sandbox confined before it exec'd it: its shim did not see the
# filter go in, and libtapnet's option ring (at a process's 8th setsockopt
# sent without waiting) takes a memfd_create that this filter kills for.
# Only `tapnet run`'s own filter is counted in ($TAPNET_SECCOMP_FILTERS): with
# one more, the changes are sent as messages. The same program without the
# filter makes its ring.
options_script='
import socket
T = socket.IPPROTO_TCP
s = socket.socket()
for i in range(20):
    s.setsockopt(T, socket.TCP_KEEPIDLE, 10 + i)
assert s.getsockopt(T, socket.TCP_KEEPIDLE) == 29
print("20 options set")
'
ring=$(counter CtlRingRequests)
tn_run "$PYTHON" -c "$options_script" >"$TN_TMP/free.out" 2>&1 || fail "20 options: $(cat "$TN_TMP/free.out")"
free=$(($(counter CtlRingRequests) - ring))
[ "$free" -ge 13 ] || fail "20 options outside a sandbox: $free through the option ring, 13 expected"
tn_run "$PROG" exec "$PYTHON" -c "$options_script" >"$TN_TMP/exec.out" 2>&1
rc=$?
[ "$rc" -eq 0 ] || fail "20 options under a filter set before exec: exit $rc (159: SIGSYS): $(cat "$TN_TMP/exec.out")"
confined=$(($(counter CtlRingRequests) - ring - free))
[ "$confined" -eq 0 ] || fail "under a filter set before exec, $confined options went through a ring"
log "20 options: $free through the ring outside a sandbox; under a filter set before exec, none, and no SIGSYS"

# ------------------------------------------------------------ OpenSSH's sshd
D=$TN_TMP/ssh
mkdir -p -m 0755 "$D" && mkdir -p -m 0755 /run/sshd || fail "cannot make $D or /run/sshd"
ssh-keygen -q -t ed25519 -N '' -f "$D/hostkey" && ssh-keygen -q -t ed25519 -N '' -f "$D/userkey" &&
	cp "$D/userkey.pub" "$D/authorized_keys" || fail "ssh-keygen failed"
cat >"$D/sshd_config" <<EOF || fail "cannot write $D/sshd_config"
ListenAddress $TAPNET_ADDR:22
HostKey $D/hostkey
AuthorizedKeysFile $D/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $D/sshd.pid
EOF
bg sshd tn_run "$SSHD" -D -e -f "$D/sshd_config"
wait_listen tapnet "$TAPNET_ADDR" 22
SSH_OPTS=(-F /dev/null -i "$D/userkey" -o BatchMode=yes -o StrictHostKeyChecking=no
	-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=20)
ssh_tapnet() { ns_exec timeout 60 ssh "${SSH_OPTS[@]}" "root@$TAPNET_ADDR" "$@"; }
passive=$(counter TcpPassiveOpens)
out=$(ssh_tapnet 'echo "$SSH_CONNECTION"' 2>&1) || fail "ssh: $out; sshd: $(cat "$TN_TMP/sshd.log")"
[[ $out == "$HOST_ADDR "*" $TAPNET_ADDR 22" ]] || fail "ssh's command said $out"
[ "$(counter TcpPassiveOpens)" -gt "$passive" ] || fail "the ssh connection did not go through tapnet"
make_file "$TN_TMP/big" 4
ssh_tapnet "cat > '$D/big.up'" <"$TN_TMP/big" || fail "ssh upload failed: $(cat "$TN_TMP/sshd.log")"
same_file "$D/big.up" "$TN_TMP/big" "ssh upload"
ssh_tapnet "cat '$TN_TMP/big'" >"$TN_TMP/big.down" || fail "ssh download failed"
same_file "$TN_TMP/big.down" "$TN_TMP/big" "ssh download"
grep -q 'SIGSYS\|killed\|cannot determine VRF' "$TN_TMP/sshd.log" && fail "sshd's log: $(cat "$TN_TMP/sshd.log")"
log "sshd: a command over $out"

# a forwarding: sshd (on tapnet) connects to a kernel-side server for the client
echo_server kernel kecho 7704
active=$(counter TcpActiveOpens)
bg forward ns_exec ssh "${SSH_OPTS[@]}" -N -L "127.0.0.1:7705:$HOST_ADDR:7704" "root@$TAPNET_ADDR"
wait_listen kernel 127.0.0.1 7705
out=$(ns_exec "$PYTHON" -c '
import socket
c = socket.create_connection(("127.0.0.1", 7705), timeout=20)
c.sendall(b"through the tunnel"); c.shutdown(socket.SHUT_WR)
print(c.recv(100).decode())') || fail "the forwarded connection failed"
[ "$out" = "through the tunnel" ] || fail "the forwarded echo said $out"
[ "$(counter TcpActiveOpens)" -gt "$active" ] || fail "sshd's forwarded connection did not go through tapnet"
log "sshd: a forwarded connection out through tapnet"
exit 0
