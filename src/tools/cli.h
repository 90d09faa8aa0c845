/*
 * cli.h - what the `tapnet` commands share. Each command is one row of
 * the commands[] table in tapnet.c and one cmd_*.c file with its cmd_*
 * function; the request/reply plumbing, the connection and the error
 * reporting are in cli.c, so a new command only decodes its own reply.
 */
#ifndef TAPNET_TOOLS_CLI_H
#define TAPNET_TOOLS_CLI_H

#include "rpc/rpc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEFAULT_SOCKET RUNSTATEDIR "/tapnet/tapnetd.sock"
#define SOCKET_ENV "TAPNET_SOCKET"
#define CLIENT_NAME "tapnet"
#define REPLY_TIMEOUT_MS 5000
#define EXIT_USAGE 2
#define MAC_LEN 6
#define STR_MAX 256 /* longest string we keep from a reply, NUL included */

struct cli {
	const char *socket_path;
	int fd;
	uint32_t next_id;
	uint8_t *reply; /* TN_RPC_MAX_MSG bytes */
	size_t reply_len;
	/* from the HELLO reply */
	char daemon_version[STR_MAX];
	uint32_t daemon_pid;
	bool have_daemon_pid;
};

/* What a command's options and operands came to. */
struct cmd_options {
	bool json; /* -j: JSON for programs */
	bool all;  /* -a: include what is hidden by default */
	bool info; /* -i: more about each entry */
	bool listening; /* -l: only listeners */
	bool verbose;   /* run -v: say which sockets stay the kernel's */
	bool kernel_ipv6; /* run --kernel-ipv6 */
	bool kernel_loopback; /* run --kernel-loopback */
	int seccomp;      /* run: 1 --seccomp, -1 --no-seccomp, 0 when the kernel can */
	const char *write_file; /* capture -w FILE */
	uint64_t count;   /* capture -c COUNT (0: no limit) */
	int argc;  /* operands after the options */
	char **argv;
};

struct command {
	const char *name;
	int (*run)(struct cli *cli, const struct cmd_options *opt);
	const char *options; /* short options besides -h, see command_long_options[] */
	int max_operands;
	const char *args;    /* for the usage line */
	const char *summary;
};

/* cli.c: errors. fail() prints "tapnet: ..." and returns EXIT_FAILURE. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int malformed(const char *what);
int report_call_error(const char *request, int err);

/*
 * cli.c: the array v (n elements of size bytes used, room for *cap) with
 * room for one more: v itself or a larger copy (*cap updated), NULL when
 * out of memory (v is then left as it was).
 */
void *array_room(void *v, size_t n, size_t *cap, size_t size);

/* cli.c: requests. attrs_fn (may be NULL) writes the request's attributes from arg. */
typedef void (*attrs_fn_t)(struct tn_rpc_writer *w, const void *arg);
int call(struct cli *cli, uint16_t type, attrs_fn_t attrs_fn, const void *arg);
int cli_connect(struct cli *cli);

/* cli.c: printing helpers */
const char *ip4_str(uint32_t addr, char buf[16]);
const char *mac_str(const uint8_t mac[MAC_LEN], char buf[18]);
bool mac_is_zero(const uint8_t mac[MAC_LEN]);
const char *duration_str(uint64_t ms, char *buf, size_t cap);
void json_string(const char *s);
const char *endpoint_str(uint32_t addr, uint32_t port, bool wild_port, char *buf, size_t cap);

/* cmd_timewait.c: one TIMEWAIT entry, also listed by ss -a */
struct tw_entry {
	uint32_t laddr, lport, raddr, rport;
	uint64_t remaining_ms;
};
/* the whole TIMEWAIT reply; v is malloc'ed (free it), n < total when cut short */
struct tw_table {
	struct tw_entry *v;
	size_t n, cap;
	uint32_t total; /* entries in the daemon's table */
};
int fetch_timewait(struct cli *cli, struct tw_table *t);

/* one per command, each in its cmd_*.c */
int cmd_status(struct cli *cli, const struct cmd_options *opt);
int cmd_stats(struct cli *cli, const struct cmd_options *opt);
int cmd_arp(struct cli *cli, const struct cmd_options *opt);
int cmd_ss(struct cli *cli, const struct cmd_options *opt);
int cmd_timewait(struct cli *cli, const struct cmd_options *opt);
int cmd_run(struct cli *cli, const struct cmd_options *opt);
int cmd_trace(struct cli *cli, const struct cmd_options *opt);
int cmd_capture(struct cli *cli, const struct cmd_options *opt);

#endif
