/*
 * main.c - tapnetd: options, configuration, and the start-up order.
 *
 * The order matters and is all here: configuration, then the tap (needs
 * CAP_NET_ADMIN), the stack, the control socket (may need root for its
 * directory), then the privilege drop, and only then the first frame
 * and READY=1.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "closer.h"
#include "control.h"
#include "daemon.h"
#include "services.h"
#include "sockets.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define DEFAULT_CONFIG SYSCONFDIR "/tapnet/tapnetd.conf"

struct options {
	const char *config;
	bool config_given;
	bool foreground;
	bool check_config;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: tapnetd [OPTION]...\n"
		"The tapnet TCP/IP stack daemon: a host on the far side of a TAP interface.\n"
		"\n"
		"  -c, --config FILE   read FILE (default " DEFAULT_CONFIG ")\n"
		"  -f, --foreground    do not detach (implied when started by systemd)\n"
		"      --check-config  check the configuration, print 'FILE: ok' or its errors, exit\n"
		"      --version       print the version and exit\n"
		"  -h, --help          print this help and exit\n");
}

/* Exits for --help, --version and usage errors. */
static void parse_options(int argc, char **argv, struct options *opt)
{
	enum { OPT_CHECK_CONFIG = 256, OPT_VERSION };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opt->config = DEFAULT_CONFIG;
	opterr = 0; /* our own one-line messages */
	while ((c = getopt_long(argc, argv, ":c:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			opt->config = optarg;
			opt->config_given = true;
			break;
		case 'f':
			opt->foreground = true;
			break;
		case OPT_CHECK_CONFIG:
			opt->check_config = true;
			break;
		case OPT_VERSION:
			printf("tapnetd %s\n", PACKAGE_VERSION);
			exit(EXIT_SUCCESS);
		case 'h':
			usage(stdout);
			exit(EXIT_SUCCESS);
		case ':':
			fprintf(stderr, "tapnetd: option '%s' needs an argument (see tapnetd --help)\n",
				argv[optind - 1]);
			exit(EXIT_FAILURE);
		default:
			fprintf(stderr, "tapnetd: unknown option '%s' (see tapnetd --help)\n",
				argv[optind - 1]);
			exit(EXIT_FAILURE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tapnetd: unexpected argument '%s' (see tapnetd --help)\n", argv[optind]);
		exit(EXIT_FAILURE);
	}
}

/* --check-config: errors as bare "FILE:LINE: message" lines, for people and editors. */
static void print_config_error(void *ctx, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

static int check_config(const struct options *opt)
{
	struct daemon_config cfg;

	if (!opt->config_given && access(opt->config, F_OK) < 0 && errno == ENOENT) {
		printf("%s: not found; the built-in defaults apply\n", opt->config);
		return EXIT_SUCCESS;
	}
	if (config_load(opt->config, &cfg, print_config_error, NULL) != 0)
		return EXIT_FAILURE;
	printf("%s: ok\n", opt->config);
	return EXIT_SUCCESS;
}

/* SIGHUP re-reads the file after chdir("/"), so remember it absolutely. */
static char *absolute_path(const char *path)
{
	char cwd[PATH_MAX];
	char *abs;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&abs, "%s/%s", cwd, path) < 0)
		return NULL;
	return abs;
}

/* ------------------------------------------------------------------ classic daemonization */

/*
 * Forks; the parent waits until the child is ready (exit 0) or has died
 * (its exit status), so `tapnetd` in a shell script fails visibly and the
 * child's errors still reach the terminal. Returns, in the child, the fd
 * to report readiness on.
 */
static int daemonize_begin(void)
{
	int pipefd[2];

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		log_error("cannot create a pipe: %s", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_error("cannot fork: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		char byte;
		ssize_t n;
		int status;

		close(pipefd[1]);
		do {
			n = read(pipefd[0], &byte, 1);
		} while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(EXIT_SUCCESS);
		if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status))
			_exit(WEXITSTATUS(status));
		_exit(EXIT_FAILURE);
	}
	close(pipefd[0]);
	if (setsid() < 0)
		log_warning("cannot start a new session: %s", strerror(errno));
	if (chdir("/") < 0)
		log_warning("cannot change directory to /: %s", strerror(errno));
	return pipefd[1];
}

/* Ready: detach stdio (logging moves to syslog) and let the parent exit 0. */
static void daemonize_finish(int ready_fd)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);

	log_use_syslog();
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	if (write(ready_fd, "R", 1) != 1)
		log_warning("cannot tell the parent process we are ready: %s", strerror(errno));
	close(ready_fd);
}

/* ------------------------------------------------------------------ start-up and shutdown */

/* The built-in services listen on the stack's own sockets; the failure is logged. */
static int start_services(struct tapnetd *d)
{
	_Static_assert(DCTR_SvcOutOctets - DCTR_SvcAccepts == SVC_CTR_SvcOutOctets,
		       "the services' counters are consecutive in DAEMON_COUNTERS");
	d->services = services_start(d->stack, &d->cfg.services, &d->counters[DCTR_SvcAccepts]);
	return d->services ? 0 : -1;
}

static int start(struct tapnetd *d)
{
	const struct daemon_config *cfg = &d->cfg;
	char addr[16], mac[18];
	uint8_t hw[TN_ETH_ALEN];

	if (privs_resolve(cfg, &d->privs) < 0)
		return -1;
	if (tapdev_open(&d->tap, cfg->ifname, cfg->offload) < 0 ||
	    tapdev_configure(&d->tap, cfg->core.mtu, cfg->txqueuelen, cfg->host_addr,
			     cfg->host_prefix_len ? cfg->host_prefix_len : cfg->core.prefix_len) < 0)
		return -1;
	if (daemon_stack_create(d) < 0)
		return -1;
	if (start_services(d) < 0)
		return -1;
	d->sockets = sockets_new(d);
	if (!d->sockets)
		return -1;
	d->control = control_open(d);
	if (!d->control)
		return -1;
	if (privs_drop(&d->privs) < 0)
		return -1;

	d->started_ns = daemon_now_ns();
	daemon_loop_start(d);
	/* after the tap's ring is made (daemon_loop_start): no other from now on */
	if (privs_forbid_new_rings() < 0)
		log_warning("new io_uring instances stay open to tapnetd, past its seccomp filter "
			    "(%s)", strerror(errno));

	tn_stack_get_mac(d->stack, hw);
	log_notice("tapnetd %s running on %s: %s/%u, mac %s, mtu %u", PACKAGE_VERSION, d->tap.name,
		   tn_ip4_str(cfg->core.addr, addr), cfg->core.prefix_len, tn_mac_str(hw, mac),
		   cfg->core.mtu);
	char status[256];
	snprintf(status, sizeof(status), "running on %s as %s/%u", d->tap.name, addr, cfg->core.prefix_len);
	notify_ready(&d->notify, status);
	notify_watchdog_start(&d->notify, d->loop);
	return 0;
}

/*
 * Everything start() made, in reverse; safe after a partial start (libev
 * ignores stopping a watcher that never started, and d was zeroed).
 */
static void stop(struct tapnetd *d)
{
	notify_stopping(&d->notify);
	daemon_loop_stop(d);
	control_close(d->control);
	d->control = NULL;
	sockets_free(d->sockets);
	d->sockets = NULL;
	closer_flush(); /* what the control connections and sockets handed over on the way out */
	services_stop(d->services);
	d->services = NULL;
	tn_stack_free(d->stack);
	d->stack = NULL;
	tapdev_close(&d->tap);
	notify_fini(&d->notify);
}

int main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct tapnetd d;
	int ready_fd = -1;

	parse_options(argc, argv, &opt);
	log_init();
	if (opt.check_config)
		return check_config(&opt);

	memset(&d, 0, sizeof(d));
	tapdev_init(&d.tap);
	d.config_optional = !opt.config_given;
	d.config_path = absolute_path(opt.config);
	if (!d.config_path) {
		log_error("cannot resolve the path of %s: %s", opt.config, strerror(errno));
		return EXIT_FAILURE;
	}
	if (daemon_read_config(&d, &d.cfg) != 0) {
		free(d.config_path);
		return EXIT_FAILURE;
	}
	log_set_level(d.cfg.log_level);

	umask(077);               /* files we create get their modes set explicitly */
	signal(SIGPIPE, SIG_IGN); /* a client hanging up is an EPIPE, not a death */

	if (!opt.foreground && !notify_under_systemd()) {
		ready_fd = daemonize_begin();
		if (ready_fd < 0) {
			free(d.config_path);
			return EXIT_FAILURE;
		}
	}
	notify_init(&d.notify);
	d.loop = ev_default_loop(EVFLAG_AUTO);
	if (!d.loop) {
		log_error("cannot initialise the event loop (libev)");
		free(d.config_path);
		return EXIT_FAILURE;
	}

	if (start(&d) == 0) {
		if (ready_fd >= 0)
			daemonize_finish(ready_fd);
		daemon_run(&d);
		log_info("stopped");
	} else {
		d.exit_status = EXIT_FAILURE;
	}
	stop(&d);
	ev_loop_destroy(d.loop);
	free(d.config_path);
	log_fini();
	return d.exit_status;
}
