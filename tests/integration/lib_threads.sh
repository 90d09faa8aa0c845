#!/bin/bash
# lib_threads.sh - libtapnet is thread-safe: lib_threads (8 threads x 3000
# setsockopt/getsockopt TCP_NODELAY, each on its own socket) sees no error
# and no other thread's answer; the changes go through the process's option
# ring, written by every thread (CtlRingRequests). Where the compiler has
# ThreadSanitizer, the same program built with it (lib/rpc compiled in) runs
# too, and a report fails the test.
. "$TOP_SRCDIR/tests/integration/lib.sh"

start_tapnetd
ring=$(counter CtlRingRequests)
out=$(TAPNET_SOCKET=$SOCK timeout 300 "$TOP_BUILDDIR/tests/integration/lib_threads" 2>&1) ||
	fail "lib_threads: $out"
log "$out"
ring=$(($(counter CtlRingRequests) - ring))
# all but the first 7 of the 24 000 changes (more when the ring is full: those are sent)
[ "$ring" -ge 12000 ] || fail "only $ring of 24000 changes went through the option ring"
log "$ring of them through the option ring"
if [ -x "$TOP_BUILDDIR/tests/integration/lib_threads_tsan" ]; then
	out=$(TAPNET_SOCKET=$SOCK TSAN_OPTIONS="halt_on_error=1 exitcode=66" timeout 600 \
		"$TOP_BUILDDIR/tests/integration/lib_threads_tsan" 2>&1) ||
		fail "lib_threads_tsan: $out"
	log "under ThreadSanitizer: $out"
else
	log "no ThreadSanitizer build (the compiler cannot link -fsanitize=thread)"
fi
exit 0
