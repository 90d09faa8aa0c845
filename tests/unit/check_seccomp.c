/*
 * check_seccomp.c - `tapnet run`'s seccomp filter (src/tools/run_seccomp_filter.c)
 * as the kernel runs it: a child installs it and makes a list of calls; the
 * test, as its supervisor, answers every call it is handed with EHOSTDOWN,
 * an error no call below makes on its own. So each call's result says
 * whether the filter handed it over or let it pass. Skipped (77) where the
 * kernel has no user notification.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/tapnet_internal.h"
#include "tools/run_seccomp.h"

#define HANDED EHOSTDOWN

enum expect { PASSES, IS_HANDED };

/* In the child: one call's result against what the filter should do with it. */
static int check_call(const char *what, long r, enum expect e)
{
	bool handed = r < 0 && errno == HANDED;

	if (handed == (e == IS_HANDED))
		return 0;
	fprintf(stderr, "check_seccomp: %s: %s, expected %s (result %ld, %s)\n", what,
		handed ? "handed to the supervisor" : "passed", e == IS_HANDED ? "handed" : "passed",
		r, r < 0 ? strerror(errno) : "no error");
	return 1;
}

#define CALL(e, ...) bad += check_call(#__VA_ARGS__, syscall(__VA_ARGS__), e)

/*
 * A program's own call right after a marked one of the shim's is handed
 * over all the same: the mark must not stay behind in the register of the
 * sixth argument (the kernel leaves it as it was), where a libc wrapper of
 * fewer arguments would pass it on. The call is made here as such a
 * wrapper makes it: the sixth register untouched.
 */
static int stale_mark(int u)
{
#if defined(__x86_64__)
	long r;

	tn_marked_syscall(SYS_getpid, 0, 0, 0, 0, 0);
	__asm__ volatile("syscall" : "=a"(r) : "0"((long)SYS_listen), "D"((long)u), "S"(1L)
			 : "rcx", "r11", "memory");
	if (r < 0) {
		errno = (int)-r;
		r = -1;
	}
	return check_call("SYS_listen after a marked call, the sixth register left alone", r,
			  IS_HANDED);
#else
	(void)u;
	return 0;
#endif
}

/* In the child, under the filter: the number of calls it treated wrongly. */
static int calls(bool verbose)
{
	const unsigned long mark = (unsigned long)TN_SECCOMP_MARK;
	int bad = 0;
	int u = socket(AF_UNIX, SOCK_STREAM, 0); /* AF_UNIX: never handed */

	bad += check_call("socket(AF_UNIX)", u, PASSES);
	CALL(IS_HANDED, SYS_socket, AF_INET, SOCK_STREAM, 0);
	CALL(IS_HANDED, SYS_socket, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	CALL(IS_HANDED, SYS_socket, AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
	CALL(verbose ? IS_HANDED : PASSES, SYS_socket, AF_INET, SOCK_DGRAM, 0);
	CALL(verbose ? IS_HANDED : PASSES, SYS_socket, AF_INET, SOCK_STREAM, IPPROTO_SCTP);
	CALL(verbose ? IS_HANDED : PASSES, SYS_socket, AF_PACKET, SOCK_DGRAM, 0);
	CALL(PASSES, SYS_socket, AF_NETLINK, SOCK_RAW, 0);
	/* the shim's own calls carry the mark in the sixth argument */
	CALL(PASSES, SYS_socket, AF_INET, SOCK_STREAM, 0, 0, 0, mark);
	CALL(PASSES, SYS_getsockopt, u, SOL_SOCKET, SO_TYPE, NULL, NULL, mark);
	CALL(PASSES, SYS_connect, u, NULL, 0, 0, 0, mark);
	CALL(PASSES, SYS_shutdown, u, SHUT_RDWR, 0, 0, 0, mark);
	/* half a mark is no mark */
	CALL(IS_HANDED, SYS_listen, u, 1, 0, 0, 0, mark & 0xffffffffUL);
	CALL(IS_HANDED, SYS_listen, u, 1, 0, 0, 0, mark & ~0xffffffffUL);
	/* every call on an fd, unmarked */
	CALL(IS_HANDED, SYS_connect, u, NULL, 0);
	CALL(IS_HANDED, SYS_bind, u, NULL, 0);
	CALL(IS_HANDED, SYS_listen, u, 1);
	CALL(IS_HANDED, SYS_accept, u, NULL, NULL);
	CALL(IS_HANDED, SYS_accept4, u, NULL, NULL, 0);
	CALL(IS_HANDED, SYS_getsockname, u, NULL, NULL);
	CALL(IS_HANDED, SYS_getpeername, u, NULL, NULL);
	CALL(IS_HANDED, SYS_setsockopt, u, SOL_SOCKET, SO_REUSEADDR, NULL, 0);
	CALL(IS_HANDED, SYS_getsockopt, u, SOL_SOCKET, SO_TYPE, NULL, NULL);
	CALL(IS_HANDED, SYS_shutdown, u, SHUT_RDWR);
	CALL(IS_HANDED, SYS_io_uring_setup, 1, NULL);
	/* the rest is the kernel's */
	CALL(PASSES, SYS_getpid);
	CALL(PASSES, SYS_sendto, u, "x", 1, 0, NULL, 0);
	CALL(PASSES, SYS_sendto, u, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT, NULL, 0);
	/* (a send's sixth argument is its address length: the shim cannot mark it) */
	CALL(IS_HANDED, SYS_sendto, u, "x", 1, MSG_OOB, NULL, 0);
	CALL(IS_HANDED, SYS_sendto, u, "x", 1, MSG_FASTOPEN | MSG_NOSIGNAL, NULL, 0);
	CALL(PASSES, SYS_sendmsg, u, NULL, MSG_NOSIGNAL);
	CALL(IS_HANDED, SYS_sendmsg, u, NULL, MSG_OOB);
	CALL(IS_HANDED, SYS_sendmsg, u, NULL, MSG_FASTOPEN);
	CALL(PASSES, SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, NULL);
	/*
	 * What may make a placeholder non-blocking, unmarked: fcntl F_SETFL,
	 * ioctl FIONBIO. (Every argument given: syscall() takes the sixth from
	 * the stack, where a marked call before may have left the mark.)
	 */
	int one = 1, inq = 0;
	CALL(IS_HANDED, SYS_fcntl, u, F_SETFL, O_NONBLOCK, 0, 0, 0);
	CALL(PASSES, SYS_fcntl, u, F_SETFL, O_NONBLOCK, 0, 0, mark);
	CALL(PASSES, SYS_fcntl, u, F_GETFL, 0, 0, 0, 0);
	CALL(PASSES, SYS_fcntl, u, F_SETFD, FD_CLOEXEC, 0, 0, 0);
	CALL(IS_HANDED, SYS_ioctl, u, FIONBIO, &one, 0, 0, 0);
	CALL(PASSES, SYS_ioctl, u, FIONBIO, &one, 0, 0, mark);
	CALL(PASSES, SYS_ioctl, u, FIONREAD, &inq, 0, 0, 0);
	bad += stale_mark(u);
	return bad;
}

/* Runs calls() under the filter, answering what it hands over; its count of wrong ones. */
static int run_child(bool verbose)
{
	struct sock_filter filter[RUN_SECCOMP_FILTER_MAX];
	unsigned len;
	int sv[2];

	ck_assert_int_eq(run_seccomp_filter(verbose, filter, &len), 0);
	ck_assert_uint_le(len, RUN_SECCOMP_FILTER_MAX);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct sock_fprog prog = { .len = (unsigned short)len, .filter = filter };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(100);
		int l = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				     SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
		if (l < 0)
			_exit(101);
		if (run_seccomp_send_listener(sv[1], l) < 0)
			_exit(102);
		close(l);
		close(sv[0]);
		close(sv[1]);
		_exit(calls(verbose));
	}
	close(sv[1]);
	int l = run_seccomp_recv_listener(sv[0]);
	ck_assert_int_ge(l, 0);
	close(sv[0]);

	struct seccomp_notif_sizes sizes;
	ck_assert_int_eq(syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes), 0);
	struct seccomp_notif *n = calloc(1, sizes.seccomp_notif);
	struct seccomp_notif_resp *r = calloc(1, sizes.seccomp_notif_resp);
	ck_assert_ptr_nonnull(n);
	ck_assert_ptr_nonnull(r);
	unsigned handed = 0;
	for (;;) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 10000), 1);
		if (!(p.revents & POLLIN))
			break; /* POLLHUP: the child is gone */
		memset(n, 0, sizes.seccomp_notif);
		if (ioctl(l, SECCOMP_IOCTL_NOTIF_RECV, n) < 0)
			continue;
		ck_assert_uint_eq(n->data.arch, RUN_SECCOMP_ARCH);
		memset(r, 0, sizes.seccomp_notif_resp);
		r->id = n->id;
		r->error = -HANDED;
		ioctl(l, SECCOMP_IOCTL_NOTIF_SEND, r);
		handed++;
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	free(n);
	free(r);
	close(l);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) < 100,
		      "the child could not install the filter (status 0x%x)", status);
	/* calls() hands over 23 calls, 26 with verbose: nothing else reached us */
	ck_assert_uint_eq(handed, verbose ? 26 : 23);
	return WEXITSTATUS(status);
}

START_TEST(handed_and_passed)
{
	ck_assert_int_eq(run_child(false), 0);
}
END_TEST

START_TEST(verbose_hands_every_ip_socket)
{
	ck_assert_int_eq(run_child(true), 0);
}
END_TEST

int main(void)
{
	const char *why = run_seccomp_unavailable();
	if (why) {
		printf("check_seccomp: SKIP: %s\n", why);
		return 77;
	}
	Suite *s = suite_create("seccomp");
	TCase *tc = tcase_create("filter");
	tcase_add_test(tc, handed_and_passed);
	tcase_add_test(tc, verbose_hands_every_ip_socket);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
