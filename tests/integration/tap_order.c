/*
 * tap_order.c - preloaded into tapnetd by tap_lone.sh: logs, in order, each
 * read(2) and write(2) tapnetd makes on its tap (a descriptor of
 * /dev/net/tun), one line each, "R <result>" or "W <result>" (-1 for an
 * error), to the file TAP_ORDER_LOG names. Every call goes through
 * unchanged.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int log_fd = -1; /* opened once, before tapnetd may clear its environment or drop privileges */

__attribute__((constructor)) static void open_log(void)
{
	const char *path = getenv("TAP_ORDER_LOG");

	if (path)
		log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* /dev/net/tun is character device 10:200 */
static int is_tap(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
	       minor(st.st_rdev) == 200;
}

static void note(char what, int fd, ssize_t result)
{
	char line[32];
	int saved = errno;

	if (log_fd >= 0 && is_tap(fd)) {
		int n = snprintf(line, sizeof(line), "%c %zd\n", what, result);
		if (n > 0 && syscall(SYS_write, log_fd, line, (size_t)n) < 0) {
			/* a test's log: nothing to do about it */
		}
	}
	errno = saved;
}

ssize_t read(int fd, void *buf, size_t count)
{
	ssize_t n = syscall(SYS_read, fd, buf, count);

	note('R', fd, n);
	return n;
}

ssize_t write(int fd, const void *buf, size_t count)
{
	ssize_t n = syscall(SYS_write, fd, buf, count);

	note('W', fd, n);
	return n;
}
