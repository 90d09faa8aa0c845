#!/bin/bash
# rpc_curl.sh - curl through tapnet, both ways: `tapnet run curl` fetches
# 50 MB from a kernel-side python3 http.server, and kernel-side curl fetches
# 50 MB from `tapnet run python3 -m http.server 80` (a port below 1024: the
# client is root), then 50 curls at once. sha256 checked every time; the
# counters show the connections were tapnet's, not the kernel's.
. "$TOP_SRCDIR/tests/integration/lib.sh"
. "$TOP_SRCDIR/tests/integration/rpc_lib.sh"

start_tapnetd
mkdir "$TN_TMP/www" && make_file "$TN_TMP/www/big" 50 && make_file "$TN_TMP/www/small" 1

# --- tapnet client, kernel server
bg kserver ns_exec "$PYTHON" -m http.server 8000 --bind "$HOST_ADDR" --directory "$TN_TMP/www"
wait_listen kernel "$HOST_ADDR" 8000
active=$(counter TcpActiveOpens)
tn_run curl -sS --fail -o "$TN_TMP/got-client" "http://$HOST_ADDR:8000/big" ||
	fail "tapnet run curl failed"
same_file "$TN_TMP/www/big" "$TN_TMP/got-client" "tapnet run curl http://$HOST_ADDR:8000/big"
expect_counter_above TcpActiveOpens "$active"

# --- tapnet server, kernel clients
passive=$(counter TcpPassiveOpens)
bg tserver tn_run "$PYTHON" -m http.server 80 --bind "$TAPNET_ADDR" --directory "$TN_TMP/www"
wait_listen tapnet "$TAPNET_ADDR" 80
ns_exec curl -sS --fail -o "$TN_TMP/got-server" "http://$TAPNET_ADDR/big" ||
	fail "curl from tapnet run python3 -m http.server failed"
same_file "$TN_TMP/www/big" "$TN_TMP/got-server" "curl http://$TAPNET_ADDR/big"
expect_counter_above TcpPassiveOpens "$passive"

pids=()
for i in $(seq 1 50); do
	ns_exec curl -sS --fail -o "$TN_TMP/par.$i" "http://$TAPNET_ADDR/small" &
	pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
	wait "$p" || failed=$((failed + 1))
done
[ "$failed" -eq 0 ] || fail "$failed of 50 parallel curls failed"
for i in $(seq 1 50); do
	[ "$(sha "$TN_TMP/par.$i")" = "$(sha "$TN_TMP/www/small")" ] || fail "parallel curl $i: sha256 differs"
done
log "50 parallel curls: all 50 complete, sha256 matches"
grep -q ' "GET /big HTTP/1.1" 200' "$TN_TMP/tserver.log" || fail "the tapnet-side server did not log the request"
exit 0
