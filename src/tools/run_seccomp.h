/*
 * run_seccomp.h - `tapnet run`'s seccomp supervisor: the TCP sockets of
 * programs that make their socket system calls without libc (static
 * binaries, Go), which the LD_PRELOAD shim cannot see.
 */
#ifndef TAPNET_TOOLS_RUN_SECCOMP_H
#define TAPNET_TOOLS_RUN_SECCOMP_H

#include <linux/audit.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdbool.h>

/* The ABI followed: the filter's arch; other ABIs' calls are not followed. */
#if defined(__x86_64__)
#define RUN_SECCOMP_ARCH AUDIT_ARCH_X86_64
#define RUN_SECCOMP_X32_BIT 0x40000000u /* x32 system calls: another ABI */
#elif defined(__aarch64__)
#define RUN_SECCOMP_ARCH AUDIT_ARCH_AARCH64
#else
#define RUN_SECCOMP_ARCH 0 /* not supported: run_seccomp_unavailable() says so */
#endif
#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#define RUN_SECCOMP_FILTER_MAX 96 /* instructions, at most */

struct run_seccomp_opts {
	const char *socket_path; /* tapnetd's control socket */
	bool verbose;            /* run -v: each socket it makes, each it leaves to the kernel */
	bool kernel_ipv6;        /* run --kernel-ipv6: IPv6 proper becomes the kernel's */
	bool kernel_loopback;    /* run --kernel-loopback: 127.0.0.0/8 and ::1 become the kernel's */
};

/* run_seccomp_filter.c: NULL if the kernel can notify a supervisor of calls, else why not. */
const char *run_seccomp_unavailable(void);
/*
 * run_seccomp_filter.c: the filter, into out (RUN_SECCOMP_FILTER_MAX), its
 * length in *len; with verbose, also the socket() calls that stay the
 * kernel's. 0, or -1 if it does not assemble.
 */
int run_seccomp_filter(bool verbose, struct sock_filter *out, unsigned *len);
/*
 * run_seccomp_filter.c: the filter's listener goes from the process that
 * installed the filter to its supervisor over a socket, with one byte
 * (SCM_RIGHTS). Send: 0, or -1 with errno. Receive: the fd (close-on-exec),
 * or -1 if what came is not one fd with one byte.
 */
int run_seccomp_send_listener(int chan, int listener);
int run_seccomp_recv_listener(int chan);

/*
 * Starts the supervisor (a process of its own, outside the caller's
 * process tree, which ends when no process under the filter is left) and
 * installs the filter on the calling process, which then execs the
 * program: everything it runs from then on is followed. 0 (the supervisor's
 * pid in *pid); -1 with a message on stderr, nothing installed; -2 with a
 * message, the filter installed but nobody to answer it: the caller must
 * not run anything.
 */
int run_seccomp_start(const struct run_seccomp_opts *opts, int *pid);

#endif
