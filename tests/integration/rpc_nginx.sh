#!/bin/bash
# rpc_nginx.sh - nginx as it is deployed, under `tapnet run`: Debian's stock
# settings (master process started as root and daemonising, 2 worker
# processes that switch to www-data, an environment nginx clears for its
# workers, sendfile, tcp_nopush, keepalive), serving a 20 MB file and 1000
# small requests to kernel-side curl, every byte checked. The workers make
# their socket calls over control connections made before they dropped
# privileges (kept past client_idle_timeout), so tapnetd sees them and
# counts the connections.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

require_nginx

# idle control connections give up their slots only when one is wanted: a
# worker that made its connection before dropping privileges keeps it
start_tapnetd "[daemon]" "client_idle_timeout = 1s"
WWW=$TN_TMP/www
NGX=$TN_TMP/nginx
nginx_conf "$NGX" "$TAPNET_ADDR:80" "$WWW"
make_file "$WWW/big" 20
head -c 700 /dev/urandom | base64 >"$WWW/index.html"
chmod 0644 "$WWW"/* || fail "cannot make the document root readable by www-data"
passive=$(counter TcpPassiveOpens)
# as nginx is started: it forks into the background, the command returns
tn_run "$NGINX" -p "$NGX" -c "$NGX/nginx.conf" 2>"$TN_TMP/nginx.err" ||
	fail "nginx did not start: $(cat "$TN_TMP/nginx.err" "$NGX/error.log" 2>/dev/null)"
wait_listen tapnet "$TAPNET_ADDR" 80
wait_for_file "$NGX/nginx.pid" 10
master=$(cat "$NGX/nginx.pid")
# the pid file is written before the workers are forked and drop privileges
for ((i = 0; i < WAIT_SECONDS * 10; i++)); do # the master forks them after it listens
	workers=$(pgrep -P "$master" -u www-data | wc -l)
	[ "$workers" -eq 2 ] && break
	sleep 0.1
done
[ "$workers" -eq 2 ] || fail "expected 2 nginx workers as www-data, found $workers: $(ps -o pid,user,args --ppid "$master")"
log "nginx master $master (root), 2 workers as www-data"

ns_exec curl -sS --fail -o "$TN_TMP/got-big" "http://$TAPNET_ADDR/big" ||
	fail "curl of the 20 MB file failed: $(cat "$NGX/error.log")"
same_file "$WWW/big" "$TN_TMP/got-big" "nginx on tapnet: 20 MB with sendfile and tcp_nopush"

sleep 2 # past client_idle_timeout: the workers' connections stay theirs
# 1000 small requests: 10 curls of 100 requests each, each over one keep-alive connection
urls=()
for ((i = 0; i < 100; i++)); do urls+=("http://$TAPNET_ADDR/index.html"); done
pids=()
for c in $(seq 1 10); do
	ns_exec curl -sS --fail -o /dev/null -w '%{http_code} %{size_download} %{num_connects}\n' \
		"${urls[@]}" >"$TN_TMP/small.$c" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a curl of 100 small requests failed"; done
size=$(stat -c %s "$WWW/index.html")
ok=$(cat "$TN_TMP"/small.* | grep -c "^200 $size ")
[ "$ok" -eq 1000 ] || fail "$ok of 1000 small requests answered 200 with $size bytes: $(sort "$TN_TMP"/small.* | uniq -c)"
conns=$(cat "$TN_TMP"/small.* | awk '{ n += $3 } END { print n }')
log "1000 small requests: all 200 with $size bytes, over $conns connections (keep-alive)"
ns_exec curl -sS --fail "http://$TAPNET_ADDR/index.html" | cmp -s - "$WWW/index.html" ||
	fail "index.html differs"
expect_counter_above TcpPassiveOpens "$((passive + conns))"
grep -q 'failed' "$NGX/error.log" && fail "nginx logged failures: $(grep failed "$NGX/error.log")"
exit 0
