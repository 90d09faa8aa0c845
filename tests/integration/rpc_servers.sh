#!/bin/bash
# rpc_servers.sh - more servers as they are deployed, under `tapnet run`,
# each checked from the kernel side, every byte compared:
# - Apache httpd, event MPM: started as root, child processes that switch
#   to www-data and serve with threads, keepalive, and Debian's default
#   accept filter (TCP_DEFER_ACCEPT); an 8 MB file and 200 requests on one
#   connection;
# - HAProxy, a proxy both ways on tapnet: it accepts on tapnet's address
#   and connects out through tapnet to a kernel-side web server; the same
#   file and 50 requests through it;
# - memcached, threads and libevent, as nobody: 100 values of 10 KB set
#   and read back.
# tapnetd's TcpPassiveOpens and TcpActiveOpens must count what they served.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

APACHE=/usr/sbin/apache2 HAPROXY=/usr/sbin/haproxy MEMCACHED=/usr/bin/memcached
for p in "$APACHE" "$HAPROXY" "$MEMCACHED"; do
	[ -x "$p" ] || missing "$p not found (Debian packages apache2, haproxy, memcached)"
done
getent passwd www-data >/dev/null || missing "no user www-data"

start_tapnetd
WWW=$TN_TMP/www
mkdir -p "$WWW" && chmod 0755 "$TN_TMP" "$WWW" || fail "cannot make $WWW"
make_file "$WWW/big" 8
{ head -c 700 /dev/urandom | base64 -w 0; echo; } >"$WWW/index.html"
chmod 0644 "$WWW"/* || fail "cannot make the document root readable by www-data"
big_sha=$(sha "$WWW/big")
small=$(cat "$WWW/index.html")

# fetch NAME URL: the 8 MB file through URL, checked
fetch_big() {
	ns_exec curl -sS --fail -m 60 -o "$TN_TMP/got-$1" "$2" || fail "$1: curl $2 failed"
	[ "$(sha "$TN_TMP/got-$1")" = "$big_sha" ] || fail "$1: the 8 MB file came back changed"
}
# keepalive NAME BASE N: N requests for index.html on one connection, each checked
keepalive() {
	local got n
	got=$(ns_exec curl -sS --fail -m 60 "$2/index.html?[1-$3]") || fail "$1: curl of $3 requests failed"
	n=$(grep -cxF "$small" <<<"$got")
	[ "$n" -eq "$3" ] || fail "$1: $n of $3 responses were the page"
}

# ------------------------------------------------------------ Apache httpd
AP=$TN_TMP/apache
mkdir -p "$AP" && printf 'text/html html\n' >"$AP/mime.types" || fail "cannot make $AP"
cat >"$AP/httpd.conf" <<CONF || fail "cannot write $AP/httpd.conf"
ServerName tapnet-test
Listen $TAPNET_ADDR:8080
PidFile $AP/httpd.pid
ErrorLog $AP/error.log
Mutex file:$AP default
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
TypesConfig $AP/mime.types
User www-data
Group www-data
KeepAlive On
MaxKeepAliveRequests 0
AcceptFilter http data
DocumentRoot $WWW
<Directory $WWW>
	Require all granted
</Directory>
CONF
at_exit "[ -f '$AP/httpd.pid' ] && kill -TERM \"\$(cat '$AP/httpd.pid')\""
passive=$(counter TcpPassiveOpens)
# as apachectl starts it: it forks into the background, the command returns
tn_run "$APACHE" -f "$AP/httpd.conf" -k start 2>"$TN_TMP/apache.err" ||
	fail "apache did not start: $(cat "$TN_TMP/apache.err" "$AP/error.log" 2>/dev/null)"
wait_listen tapnet "$TAPNET_ADDR" 8080
wait_for_file "$AP/httpd.pid" 10
children=0
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do
	children=$(pgrep -P "$(cat "$AP/httpd.pid")" -u www-data | wc -l)
	[ "$children" -ge 1 ] && break
	sleep 0.1
done
[ "$children" -ge 1 ] || fail "no apache child process runs as www-data"
fetch_big apache "http://$TAPNET_ADDR:8080/big"
keepalive apache "http://$TAPNET_ADDR:8080" 200
[ "$(counter TcpPassiveOpens)" -ge $((passive + 2)) ] || fail "tapnet did not count apache's connections"
if grep -E '\[(emerg|alert|crit|error)\]|AH0' "$AP/error.log" | grep -v 'AH00489\|AH00094\|AH00558'; then
	fail "apache logged the errors above"
fi
log "apache: $children children as www-data, 8 MB and 200 keep-alive requests"

# ------------------------------------------------------------ HAProxy
bg kweb ns_exec "$PYTHON" -m http.server --bind "$HOST_ADDR" 7009 --directory "$WWW"
wait_listen kernel "$HOST_ADDR" 7009
cat >"$TN_TMP/haproxy.cfg" <<CONF || fail "cannot write haproxy.cfg"
global
	maxconn 200
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend front
	bind $TAPNET_ADDR:8081
	default_backend back
backend back
	server web $HOST_ADDR:7009
CONF
active=$(counter TcpActiveOpens)
bg haproxy tn_run "$HAPROXY" -f "$TN_TMP/haproxy.cfg" -db
wait_listen tapnet "$TAPNET_ADDR" 8081
fetch_big haproxy "http://$TAPNET_ADDR:8081/big"
keepalive haproxy "http://$TAPNET_ADDR:8081" 50
[ "$(counter TcpActiveOpens)" -ge $((active + 1)) ] || fail "haproxy's connections out did not go through tapnet"
log "haproxy: 8 MB and 50 requests, in and out through tapnet"

# ------------------------------------------------------------ memcached
bg memcached tn_run "$MEMCACHED" -u nobody -l "$TAPNET_ADDR" -p 11211 -t 2
wait_listen tapnet "$TAPNET_ADDR" 11211
ns_exec "$PYTHON" - "$TAPNET_ADDR" <<'PY' || fail "memcached did not give back what was set"
import os, socket, sys
s = socket.create_connection((sys.argv[1], 11211), timeout=30)
f = s.makefile("rb")
values = {"k%d" % i: os.urandom(10240) for i in range(100)}
for k, v in values.items():
    s.sendall(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(v), v))
    assert f.readline() == b"STORED\r\n"
for k, v in values.items():
    s.sendall(b"get %s\r\n" % k.encode())
    assert f.readline() == b"VALUE %s 0 %d\r\n" % (k.encode(), len(v)), k
    assert f.read(len(v) + 2) == v + b"\r\n", k
    assert f.readline() == b"END\r\n"
s.sendall(b"quit\r\n")
PY
log "memcached: 100 values of 10 KB set and read back"
exit 0
