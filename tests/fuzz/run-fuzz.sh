#!/bin/bash
# run-fuzz.sh - runs every libFuzzer target for FUZZ_SECONDS seconds each
# (default 10; CI sets 60). Any finding (crash, sanitizer report, leak,
# timeout, out of memory) fails the test, and its input is kept in
# tests/fuzz/artifacts/ of the build tree and shown as hex in the log.
#
# Seeds: tests/fuzz/corpus/TARGET/ in the source tree, if present, and for
# fuzz_frame the conversations tests/fuzz/seeds.py writes (a handshake, then
# data, holes, SACKs, FIN, RST); what the run discovers goes to a scratch
# corpus that is thrown away.
set -u
: "${TOP_SRCDIR:?run by make check}" "${TOP_BUILDDIR:?run by make check}"
: "${FUZZ_SECONDS:=10}"
TARGETS="fuzz_frame fuzz_rpc"

case $FUZZ_SECONDS in
'' | *[!0-9]*) echo "run-fuzz: FUZZ_SECONDS must be a whole number of seconds, not '$FUZZ_SECONDS'" >&2; exit 1 ;;
esac

artifacts=$TOP_BUILDDIR/tests/fuzz/artifacts
mkdir -p "$artifacts" || exit 1
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tapnet-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT

failed=0
for t in $TARGETS; do
	bin=$TOP_BUILDDIR/tests/fuzz/$t
	if [ ! -x "$bin" ]; then
		echo "run-fuzz: $t: $bin not built" >&2
		failed=1
		continue
	fi
	mkdir -p "$scratch/$t"
	rm -f "$artifacts/$t-"* # findings of an earlier run
	seeds=()
	[ -d "$TOP_SRCDIR/tests/fuzz/corpus/$t" ] && seeds=("$TOP_SRCDIR/tests/fuzz/corpus/$t")
	if [ "$t" = fuzz_frame ]; then
		/usr/bin/python3 "$TOP_SRCDIR/tests/fuzz/seeds.py" "$scratch/seeds-$t" || {
			echo "run-fuzz: $t: cannot write the seeds" >&2
			failed=1
			continue
		}
		seeds+=("$scratch/seeds-$t")
	fi
	echo "run-fuzz: $t for ${FUZZ_SECONDS}s"
	# libFuzzer's own exit code for a finding is 77, which Automake would
	# read as a skip: every non-zero status is mapped to a failure below.
	"$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
		"$scratch/$t" ${seeds[@]+"${seeds[@]}"} >"$scratch/$t.log" 2>&1
	rc=$?
	grep -E "^(Done [0-9]+ runs|stat::number_of_executed_units|stat::peak_rss_mb)" "$scratch/$t.log"
	if [ "$rc" -ne 0 ]; then
		echo "run-fuzz: $t: FINDING (libFuzzer exit status $rc); its last output:" >&2
		tail -n 60 "$scratch/$t.log" >&2
		for a in "$artifacts/$t-"*; do
			[ -f "$a" ] || continue
			echo "run-fuzz: input $a:" >&2
			od -A x -t x1z -v "$a" | head -n 64 >&2
		done
		failed=1
	else
		echo "run-fuzz: $t: no finding in ${FUZZ_SECONDS}s"
	fi
done
exit "$failed"
