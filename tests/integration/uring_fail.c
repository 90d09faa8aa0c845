/*
 * uring_fail.c - preloaded into tapnetd by tap_batches.sh: io_uring_enter(2)
 * fails (EIO) from its URING_FAIL_AFTER-th call on, the way a kernel that
 * turns on it mid-run would look. Every other system call goes through.
 * tapnetd makes its io_uring calls with syscall(3), which this replaces.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>

long syscall(long number, ...);

static long fail_after; /* 0: never; read once, before tapnetd may clear its environment */
static atomic_long calls;

__attribute__((constructor)) static void read_env(void)
{
	const char *after = getenv("URING_FAIL_AFTER");

	fail_after = after ? atol(after) : 0;
}

long syscall(long number, ...)
{
	static long (*real)(long, ...);
	va_list ap;
	long a[6];

	va_start(ap, number);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == __NR_io_uring_enter && fail_after > 0 &&
	    atomic_fetch_add(&calls, 1) + 1 >= fail_after) {
		errno = EIO;
		return -1;
	}
	if (!real)
		real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
