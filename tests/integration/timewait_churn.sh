#!/bin/bash
# timewait_churn.sh - 100000 short connections from the kernel to tapnet's
# daytime service (tapnet closes each first) against a TIME-WAIT table of
# 256 entries: the table stays at its bound, the overflow is counted, and
# the daemon still answers afterwards. CHURN_CONNECTIONS overrides the count.
. "$TOP_SRCDIR/tests/integration/lib.sh"

TW=$TOP_SRCDIR/tests/integration/timewait.py
N=${CHURN_CONNECTIONS:-100000}
MAX=256

# info: the per-connection log lines would be most of the run
LOG_LEVEL=info start_tapnetd "[services]" "daytime = 13" "[tcp]" "tw_max_buckets = $MAX"

ns_exec timeout -k 10 1800 "$PYTHON" "$TW" --timeout 60 churn "$TAPNET_ADDR" 13 "$N" ||
	fail "the churn failed"

current=$(counter TcpTimeWaitCurrent)
overflow=$(counter TcpExtTCPTimeWaitOverflow)
log "after $N connections: TcpTimeWaitCurrent $current, TcpExtTCPTimeWaitOverflow $overflow," \
	"TcpExtTWRecycled $(counter TcpExtTWRecycled), TcpExtTW $(counter TcpExtTW)"
[ "$current" -le "$MAX" ] || fail "the TIME-WAIT table holds $current entries, more than $MAX"
[ "$current" -gt 0 ] || fail "the TIME-WAIT table is empty"
[ "$overflow" -gt 0 ] || fail "no overflow counted"
n=$(tapnet_cli timewait -j | "$PYTHON" -c 'import json, sys; print(len(json.load(sys.stdin)))') ||
	fail "tapnet timewait -j failed"
[ "$n" -le "$MAX" ] || fail "tapnet timewait lists $n entries"
[ "$(counter TcpPassiveOpens)" -ge "$N" ] || fail "fewer passive opens than connections"

# still answering
ns_exec timeout -k 5 60 "$PYTHON" "$TW" daytime "$TAPNET_ADDR" 13 >/dev/null ||
	fail "daytime does not answer after the churn"
tapnet_cli status >/dev/null || fail "tapnet status does not answer after the churn"
exit 0
