/*
 * tapnet.c - the `tapnet` command: asks tapnetd over its control socket
 * and prints the answer for people (text) or programs (-j, JSON).
 *
 * This file holds the one command table, the usage text and the option
 * parsing; each command's cmd_* function has a cmd_*.c file of its own
 * and cli.c what they share.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"
#include "tools/trace_filter.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- commands */

static const struct command commands[] = {
	{ "status", cmd_status, "", 0, "", "the daemon, its interface and address" },
	{ "stats", cmd_stats, "ja", 0, "[-j] [-a]", "counters, nstat style (-a: zeros too)" },
	{ "arp", cmd_arp, "j", 0, "[-j]", "the neighbour (ARP) cache, ip neigh style" },
	{ "ss", cmd_ss, "ijla", 0, "[-ijla]",
	  "TCP sockets, ss -tan style (-l: listeners; -a: all; -i: rtt, cwnd, ...)" },
	{ "timewait", cmd_timewait, "j", 0, "[-j]",
	  "connections in TIME-WAIT, ss -tan -o state time-wait style" },
	{ "run", cmd_run, "v6LSN", 4096,
	  "[-v] [--kernel-ipv6] [--kernel-loopback] [--[no-]seccomp] CMD...",
	  "run CMD with its TCP sockets on tapnet (LD_PRELOAD, seccomp)" },
	{ "trace", cmd_trace, "j", TRACE_FILTER_WORDS, "[-j] [FILTER]",
	  "live ladder diagram of TCP connections (FILTER: port 13, host A, and, or, not)" },
	{ "capture", cmd_capture, "w:c:", TRACE_FILTER_WORDS, "-w FILE [-c COUNT] [FILTER]",
	  "what crosses the tap, as a pcap file (GSO frames cut into segments)" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: tapnet [-s PATH] COMMAND [ARGS]\n"
		     "Ask tapnetd, the user-space TCP/IP stack daemon, about its state.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "%s %s", commands[i].name, commands[i].args);
		fprintf(out, "  %-18s %s\n", left, commands[i].summary);
	}
	fprintf(out, "\nOptions:\n"
		     "  -s, --socket PATH  control socket (default: $" SOCKET_ENV
		     ", else " DEFAULT_SOCKET ")\n"
		     "  -h, --help         this help (tapnet COMMAND --help: one command's)\n"
		     "  -V, --version      the version\n"
		     "  -j, --json         (stats, arp, ss, timewait, trace) print JSON\n"
		     "  -a, --all          (stats) include counters that are zero; (ss) every socket\n"
		     "  -l, --listening    (ss) listening sockets only\n"
		     "  -i, --info         (ss) a second line per socket: rtt, rto, cwnd, mss, ...\n"
		     "  -v, --verbose      (run) say on stderr each socket that stays the kernel's, and why\n"
		     "  -w, --write FILE   (capture) the pcap file to write (- for stdout)\n"
		     "  -c, --count COUNT  (capture) stop after COUNT frames\n"
		     "  --kernel-ipv6      (run) IPv6 sockets for IPv6 proper use the kernel instead of\n"
		     "                     failing (IPv4, also through v4-mapped addresses, is tapnet's)\n"
		     "  --kernel-loopback  (run) sockets for 127.0.0.0/8 and ::1 are the kernel's (its own\n"
		     "                     services), not those of tapnet's host\n"
		     "  --seccomp          (run) fail unless the seccomp supervisor can follow the socket\n"
		     "                     calls made without libc (static programs, Go); default: when\n"
		     "                     the kernel can\n"
		     "  --no-seccomp       (run) the LD_PRELOAD shim alone\n");
}

static void command_usage(FILE *out, const struct command *cmd)
{
	fprintf(out, "Usage: tapnet [-s PATH] %s%s%s\n%s\n", cmd->name, cmd->args[0] ? " " : "",
		cmd->args, cmd->summary);
}

/*
 * Every long option any command takes; commands[].options says which apply
 * (a long-only option, by the character its code stands for there).
 */
#define OPT_KERNEL_IPV6 0x100
#define OPT_SECCOMP 0x101
#define OPT_NO_SECCOMP 0x102
#define OPT_KERNEL_LOOPBACK 0x103
/* in commands[].options, the characters that stand for long-only options */
static const struct {
	int code;
	char c;
} long_only[] = {
	{ OPT_KERNEL_IPV6, '6' },
	{ OPT_KERNEL_LOOPBACK, 'L' },
	{ OPT_SECCOMP, 'S' },
	{ OPT_NO_SECCOMP, 'N' },
};
static const struct option command_long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, 'j' },
	{ "all", no_argument, NULL, 'a' },
	{ "info", no_argument, NULL, 'i' },
	{ "listening", no_argument, NULL, 'l' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "kernel-ipv6", no_argument, NULL, OPT_KERNEL_IPV6 },
	{ "kernel-loopback", no_argument, NULL, OPT_KERNEL_LOOPBACK },
	{ "seccomp", no_argument, NULL, OPT_SECCOMP },
	{ "no-seccomp", no_argument, NULL, OPT_NO_SECCOMP },
	{ "write", required_argument, NULL, 'w' },
	{ "count", required_argument, NULL, 'c' },
	{ NULL, 0, NULL, 0 },
};

#define PARSE_RUN (-1) /* options fine: run the command */

/* A positive decimal count, whole. */
static bool parse_count(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || end == s || *end || n == 0 || s[0] == '-')
		return false;
	*v = n;
	return true;
}

/* argv[0] is the command's name. Returns PARSE_RUN or the exit code. */
static int parse_command_options(const struct command *cmd, int argc, char **argv,
				 struct cmd_options *opt)
{
	char shortopts[32];
	int c;

	/* '+': stop at the first operand, so an operand's own options stay its own */
	snprintf(shortopts, sizeof(shortopts), "+h%s", cmd->options);
	for (size_t k = 0; k < sizeof(long_only) / sizeof(long_only[0]); k++) {
		char *at = strchr(shortopts, long_only[k].c);
		if (at)
			memmove(at, at + 1, strlen(at));
	}
	memset(opt, 0, sizeof(*opt));
	optind = 0; /* glibc: start afresh on a new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, command_long_options, NULL)) != -1) {
		if (c == 'h') {
			command_usage(stdout, cmd);
			return EXIT_SUCCESS;
		}
		int key = c;
		bool is_long_only_char = false;
		for (size_t k = 0; k < sizeof(long_only) / sizeof(long_only[0]); k++) {
			key = c == long_only[k].code ? long_only[k].c : key;
			is_long_only_char |= c == long_only[k].c;
		}
		if (c == '?' || is_long_only_char || strchr(cmd->options, key) == NULL) {
			if (c == '?' && optopt != 0)
				fprintf(stderr, "tapnet: %s: unknown option '-%c'\n", cmd->name, optopt);
			else
				fprintf(stderr, "tapnet: %s: unknown option '%s'\n", cmd->name,
					argv[optind - 1]);
			command_usage(stderr, cmd);
			return EXIT_USAGE;
		}
		opt->json |= c == 'j';
		opt->all |= c == 'a';
		opt->info |= c == 'i';
		opt->listening |= c == 'l';
		opt->verbose |= c == 'v';
		opt->kernel_ipv6 |= c == OPT_KERNEL_IPV6;
		opt->kernel_loopback |= c == OPT_KERNEL_LOOPBACK;
		if (c == OPT_SECCOMP || c == OPT_NO_SECCOMP)
			opt->seccomp = c == OPT_SECCOMP ? 1 : -1; /* the last one given */
		if (c == 'w')
			opt->write_file = optarg;
		if (c == 'c' && !parse_count(optarg, &opt->count)) {
			fprintf(stderr, "tapnet: %s: -c wants a number of frames, not '%s'\n", cmd->name,
				optarg);
			return EXIT_USAGE;
		}
	}
	opt->argc = argc - optind;
	opt->argv = argv + optind;
	if (opt->argc > cmd->max_operands) {
		fprintf(stderr, "tapnet: %s: unexpected argument '%s'\n", cmd->name,
			opt->argv[cmd->max_operands]);
		command_usage(stderr, cmd);
		return EXIT_USAGE;
	}
	return PARSE_RUN;
}

/* -s, else $TAPNET_SOCKET, else the compiled-in default. Returns PARSE_RUN or the exit code. */
static int parse_global_options(int argc, char **argv, struct cli *cli)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *env = getenv(SOCKET_ENV);
	int c;

	cli->socket_path = env && env[0] ? env : DEFAULT_SOCKET;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:s:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			cli->socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("tapnet %s\n", PACKAGE_VERSION);
			return EXIT_SUCCESS;
		case ':':
			fprintf(stderr, "tapnet: option '%s' needs an argument\n", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			fprintf(stderr, "tapnet: unknown option '%s' (try 'tapnet --help')\n",
				argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return PARSE_RUN;
}

static int run_command(struct cli *cli, int argc, char **argv)
{
	const struct command *cmd = find_command(argv[0]);
	struct cmd_options opt;
	int rc;

	if (cmd == NULL) {
		fprintf(stderr, "tapnet: unknown command '%s' (try 'tapnet --help')\n", argv[0]);
		return EXIT_USAGE;
	}
	if ((rc = parse_command_options(cmd, argc, argv, &opt)) != PARSE_RUN)
		return rc;
	cli->reply = malloc(TN_RPC_MAX_MSG);
	if (cli->reply == NULL)
		return fail("out of memory");
	rc = cmd->run(cli, &opt);
	free(cli->reply);
	if (cli->fd >= 0)
		close(cli->fd);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli cli = { .fd = -1, .next_id = 1 };
	int rc = parse_global_options(argc, argv, &cli);

	if (rc == PARSE_RUN)
		rc = run_command(&cli, argc - optind, argv + optind);
	/* output to a full disk or a closed pipe is a failure, not a success */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc == EXIT_SUCCESS)
			rc = fail("write error: %s", strerror(errno));
	}
	return rc;
}
