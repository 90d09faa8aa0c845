#!/bin/bash
# tests/run.sh - build tapnet and run every test: `bash tests/run.sh`, as root
# on Debian 12 (as another user the packages must already be there and the
# integration tests skip).
#
#   1. installs the Debian packages it needs (tests/packages.sh) if missing
#   2. _build/gcc:  gcc build, `make check` (unit, integration), `make distcheck`
#   3. _build/asan: clang with ASan+UBSan and the libFuzzer targets, `make check`
#                   (the same tests against the sanitized daemon, plus each
#                   fuzz target for FUZZ_SECONDS, default 10)
#
# Exits non-zero if any step failed. Logs: _build/logs/ (one per step) and each
# build's test-suite.log; the log of every failed test is printed at the end.
#
# Environment: FUZZ_SECONDS (default 10), DISTCHECK=0 to leave out `make
# distcheck`, JOBS (default: number of CPUs), CI=true (a skipped integration
# test is then a failure).
set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP" || exit 1
. "$TOP/tests/packages.sh"

BUILD=$TOP/_build
LOGS=$BUILD/logs
STEPS=$LOGS/steps # one "PASS name" / "FAIL name" line per step, for .ci/run
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
export FUZZ_SECONDS=${FUZZ_SECONDS:-10}
# UBSan: a report is fatal (-fno-sanitize-recover) and has a stack trace.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}

mkdir -p "$LOGS" || exit 1
: >"$STEPS"
failed=0

# step NAME LOG CMD...: runs CMD with its output in LOG; records the result.
step() {
	local name=$1 log=$2 start rc
	shift 2
	start=$(date +%s)
	printf '==> %-28s ' "$name"
	"$@" >"$log" 2>&1
	rc=$?
	if [ "$rc" -eq 0 ]; then
		printf 'ok    (%ss)\n' $(($(date +%s) - start))
		echo "PASS $name" >>"$STEPS"
	else
		printf 'FAILED (exit %s, %ss; log: %s)\n' "$rc" $(($(date +%s) - start)) "$log"
		tail -n 30 "$log" | sed 's/^/    /'
		echo "FAIL $name" >>"$STEPS"
		failed=1
	fi
	return "$rc"
}

# A tree configured in place would make every out-of-tree configure refuse.
if [ -f "$TOP/config.status" ]; then
	echo "tests/run.sh: $TOP is configured in place; run 'make distclean' there first" >&2
	exit 1
fi

step "install packages" "$LOGS/packages.log" install_packages || exit 1
step "autoreconf" "$LOGS/autoreconf.log" autoreconf -fi || exit 1

# build NAME CONFIGURE-ARGS...: configure, make, make check in _build/NAME.
build() {
	local name=$1 dir=$BUILD/$1
	shift
	mkdir -p "$dir" || return 1
	(cd "$dir" && step "$name: configure" "$LOGS/$name-configure.log" "$TOP/configure" "$@") || return 1
	(cd "$dir" && step "$name: make" "$LOGS/$name-make.log" make -j"$JOBS") || return 1
	# Integration tests each run in their own namespace: parallel is fine.
	(cd "$dir" && step "$name: make check" "$LOGS/$name-check.log" make -j"$JOBS" check)
}

# Results of steps run in subshells reach us through $STEPS.
build gcc CC=gcc
if [ "${DISTCHECK:-1}" != 0 ]; then
	(cd "$BUILD/gcc" && step "gcc: make distcheck" "$LOGS/distcheck.log" make -j"$JOBS" distcheck)
fi
build asan CC=clang --enable-sanitizers --enable-fuzzing
grep -q '^FAIL ' "$STEPS" && failed=1

# Every failed test's own log, so that CI's output tells what went wrong.
# distcheck leaves its tree behind when its check fails.
for suite in "$BUILD"/gcc/test-suite.log "$BUILD"/gcc/tapnet-*/_build/sub/test-suite.log \
	"$BUILD"/asan/test-suite.log; do
	[ -f "$suite" ] || continue
	if grep -qE '^# (FAIL|ERROR|XPASS): +[1-9]' "$suite"; then
		echo
		echo "==> failed tests in $suite:"
		cat "$suite"
	fi
done

echo
echo "Test results (Automake): $BUILD/gcc/test-suite.log, $BUILD/asan/test-suite.log"
echo "                         and one .log per test beside its .trs under $BUILD/{gcc,asan}/tests/"
echo "Step logs:               $LOGS/"
for suite in "$BUILD"/gcc/test-suite.log "$BUILD"/asan/test-suite.log; do
	[ -f "$suite" ] || continue
	printf '%-24s %s\n' "${suite#"$BUILD"/}:" \
		"$(grep -E '^# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$suite" | tr -s ' ' | tr '\n' ' ')"
done
if [ "$failed" -ne 0 ]; then
	echo "tests/run.sh: FAILED: $(grep '^FAIL ' "$STEPS" | cut -c6- | paste -sd, -)"
	exit 1
fi
echo "tests/run.sh: all steps passed"
exit 0
