/*
 * run_seccomp.h - `tapnet run`'s seccomp supervisor: the TCP sockets of
 * programs that make their socket system calls without libc (static
 * binaries, Go), which the LD_PRELOAD shim cannot see.
 */
#ifndef TAPNET_TOOLS_RUN_SECCOMP_H
#define TAPNET_TOOLS_RUN_SECCOMP_H

#include <stdbool.h>

struct run_seccomp_opts {
	const char *socket_path; /* tapnetd's control socket */
	bool verbose;            /* run -v: each socket it makes, each it leaves to the kernel */
	bool kernel_ipv6;        /* run --kernel-ipv6: IPv6 proper becomes the kernel's */
};

/* NULL if this kernel can notify a supervisor of system calls; else why not. */
const char *run_seccomp_unavailable(void);

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
