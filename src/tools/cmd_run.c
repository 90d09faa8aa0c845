/* cmd_run.c - `tapnet run CMD`: CMD with its TCP sockets on tapnet. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"
#include "tools/run_seccomp.h"
#include "lib/tapnet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- run */

#ifndef TAPNET_PRELOAD_PATH
#define TAPNET_PRELOAD_PATH "libtapnet-preload.so"
#endif
#define PRELOAD_ENV "TAPNET_PRELOAD" /* another shim (a build tree's), for tests */
#define CTL_FD_ENV "TAPNET_CTL_FD"   /* the program's control connection (libtapnet) */
/* words the shim reads: verbose, kernel-ipv6, kernel-loopback */
#define OPTIONS_ENV "TAPNET_OPTIONS"

/* The lowest fd number the program's control connection is moved to, out of the way of 0-2 and
 * of the numbers a program opens first. */
#define RUN_CTL_FD_MIN 64

/*
 * The seccomp supervisor, unless --no-seccomp: it follows the socket calls
 * that the shim cannot see (static programs, Go), and passes the shim's
 * own. 0 to go on (with it, or without it when the kernel cannot and
 * --seccomp was not given), or the exit code.
 */
static int start_seccomp(const struct cli *cli, const struct cmd_options *opt)
{
	const char *why = opt->seccomp < 0 ? NULL : run_seccomp_unavailable();
	int pid;

	if (opt->seccomp < 0) {
		if (opt->verbose)
			fprintf(stderr, "tapnet: no seccomp supervisor (--no-seccomp): only socket "
					"calls made through libc are tapnet's\n");
		return 0;
	}
	if (why && opt->seccomp > 0)
		return fail("run: --seccomp: %s", why);
	if (why) {
		/* said even without -v: sockets of static and Go programs would be the kernel's */
		fprintf(stderr, "tapnet: no seccomp supervisor: %s; only socket calls made "
				"through libc are tapnet's\n", why);
		return 0;
	}
	struct run_seccomp_opts so = {
		.socket_path = cli->socket_path,
		.verbose = opt->verbose,
		.kernel_ipv6 = opt->kernel_ipv6,
		.kernel_loopback = opt->kernel_loopback,
	};
	int r = run_seccomp_start(&so, &pid);
	if (r == -1 && opt->seccomp == 0) {
		fprintf(stderr, "tapnet: no seccomp supervisor; only socket calls made through libc "
				"are tapnet's\n");
		return 0;
	}
	if (r < 0)
		return EXIT_FAILURE;
	if (opt->verbose)
		fprintf(stderr, "tapnet: seccomp supervisor (pid %d) follows the socket calls the "
				"shim does not see (static programs, Go)\n", pid);
	return 0;
}

/*
 * Runs CMD with the shim preloaded: its TCP sockets are tapnet's, reached
 * through a control connection made here, before CMD runs, with the
 * credentials it starts with. CMD finds it at $TAPNET_CTL_FD (libtapnet
 * explains how it follows forks and execs). Under the seccomp supervisor
 * (start_seccomp), unless --no-seccomp. Only returns on failure.
 */
int cmd_run(struct cli *cli, const struct cmd_options *opt)
{
	const char *shim = getenv(PRELOAD_ENV);
	const char *old = getenv("LD_PRELOAD");
	char *preload, num[16];

	if (opt->argc < 1) {
		fprintf(stderr, "tapnet: run: which command?\n");
		return EXIT_USAGE;
	}
	if (!shim || !shim[0])
		shim = TAPNET_PRELOAD_PATH;
	if (access(shim, R_OK) < 0)
		return fail("run: %s: %s", shim, strerror(errno));

	const char *base = strrchr(opt->argv[0], '/');
	char name[16]; /* as /proc/PID/comm will say it */
	snprintf(name, sizeof(name), "%s", base ? base + 1 : opt->argv[0]);
	int fd = tn_rpc_connect_program(cli->socket_path, name, REPLY_TIMEOUT_MS);
	if (fd < 0) {
		int err = errno;
		return fail("run: cannot connect to %s: %s%s", cli->socket_path, strerror(err),
			    err == ENOENT || err == ECONNREFUSED ? " (is tapnetd running?)" : "");
	}
	int ctl = fcntl(fd, F_DUPFD, RUN_CTL_FD_MIN); /* not close-on-exec: CMD inherits it */
	if (ctl < 0)
		return fail("run: %s", strerror(errno));
	close(fd);
	snprintf(num, sizeof(num), "%d", ctl);

	/* ours first, then whatever was there already */
	if (asprintf(&preload, "%s%s%s", shim, old && old[0] ? ":" : "", old && old[0] ? old : "") < 0)
		return fail("out of memory");
	char options[64];
	snprintf(options, sizeof(options), "%s%s%s", opt->verbose ? " verbose" : "",
		 opt->kernel_ipv6 ? " kernel-ipv6" : "", opt->kernel_loopback ? " kernel-loopback" : "");
	if (setenv("LD_PRELOAD", preload, 1) < 0 || setenv(SOCKET_ENV, cli->socket_path, 1) < 0 ||
	    setenv(CTL_FD_ENV, num, 1) < 0 ||
	    (options[0] ? setenv(OPTIONS_ENV, options + 1, 1) : unsetenv(OPTIONS_ENV)) < 0)
		return fail("run: cannot set the environment: %s", strerror(errno));
	free(preload);
	free(cli->reply);
	cli->reply = NULL;
	int rc = start_seccomp(cli, opt);
	if (rc != 0)
		return rc;
	/* its filter, and any we run under: more, later, are the program's (libtapnet's ring_make) */
	int filters = tn_lib_seccomp_filters();
	char count[16];
	snprintf(count, sizeof(count), "%d", filters);
	if (filters >= 0 ? setenv(TN_LIB_FILTERS_ENV, count, 1) : unsetenv(TN_LIB_FILTERS_ENV))
		return fail("run: cannot set the environment: %s", strerror(errno));
	execvp(opt->argv[0], opt->argv);
	int err = errno;
	fail("run: %s: %s", opt->argv[0], strerror(err));
	return err == ENOENT ? 127 : 126; /* as the shell says it */
}
