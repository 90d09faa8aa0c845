/*
 * tapnet.c - the `tapnet` command: asks tapnetd over its control socket
 * and prints the answer for people (text) or programs (-j, JSON).
 *
 * Each command is one row of the commands[] table and one cmd_* function;
 * the request/reply plumbing, the connection and the error reporting are
 * shared, so a new command only decodes its own reply.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rpc/rpc.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---------------------------------------------------------------- errors */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "tapnet: ..." to stderr and returns EXIT_FAILURE for `return fail(...)`. */
static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("tapnet: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

static int malformed(const char *what)
{
	return fail("malformed reply from tapnetd: %s", what);
}

/* Why a request got no usable reply, in words. */
static int report_call_error(const char *request, int err)
{
	switch (err) {
	case ETIMEDOUT:
		return fail("%s: no reply from tapnetd within %d s", request,
			    REPLY_TIMEOUT_MS / 1000);
	case ECONNRESET:
		return fail("%s: tapnetd closed the connection", request);
	case EPROTO:
		return fail("%s: malformed reply from tapnetd (or not an answer to the request)",
			    request);
	case EMSGSIZE:
		return fail("%s: malformed reply from tapnetd (larger than the protocol allows)",
			    request);
	default:
		return fail("%s: %s", request, strerror(err));
	}
}

/* ---------------------------------------------------------------- requests */

/*
 * Sends a request of the given type carrying only attrs_fn's attributes,
 * and leaves the reply in cli->reply. Error replies are reported here, so
 * callers see either a reply of their type or EXIT_FAILURE.
 */
static int call(struct cli *cli, uint16_t type, void (*attrs_fn)(struct tn_rpc_writer *))
{
	uint8_t req[512];
	struct tn_rpc_writer w;
	const char *name = tn_rpc_type_name(type);

	tn_rpc_begin(&w, req, sizeof(req), type, cli->next_id++);
	if (attrs_fn)
		attrs_fn(&w);
	long req_len = tn_rpc_end(&w);

	if (req_len < 0)
		return fail("%s: request does not fit in a message", name);

	long len = tn_rpc_call(cli->fd, req, (size_t)req_len, cli->reply, TN_RPC_MAX_MSG,
			       REPLY_TIMEOUT_MS);

	if (len < 0)
		return report_call_error(name, errno);
	cli->reply_len = (size_t)len;

	struct tn_rpc_header hdr;

	tn_rpc_parse_header(cli->reply, cli->reply_len, &hdr);
	if ((hdr.type & ~TN_RPC_REPLY) != TN_RPC_ERROR)
		return EXIT_SUCCESS;

	char message[1024];
	int err;

	if (!tn_rpc_decode_error(cli->reply, cli->reply_len, &err, message, sizeof(message)))
		return malformed("bad error reply");
	if (message[0] == '\0')
		return fail("%s request failed: %s", name, strerror(err));
	/* a daemon with nothing to add may send strerror() as the message */
	if (strcmp(message, strerror(err)) == 0)
		return fail("%s", message);
	return fail("%s: %s", message, strerror(err));
}

static void hello_attrs(struct tn_rpc_writer *w)
{
	tn_rpc_put_str(w, TN_ATTR_CLIENT_NAME, CLIENT_NAME);
}

/*
 * HELLO first: the daemon learns (and can log) who is asking, we learn
 * that the peer speaks our protocol before asking anything real, and its
 * version and pid are what `status` shows.
 */
static int decode_hello(struct cli *cli)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_VERSION_STR &&
		    !tn_rpc_get_str(&a, cli->daemon_version, sizeof(cli->daemon_version)))
			return malformed("bad VERSION_STR in HELLO");
		if (a.type == TN_ATTR_PID) {
			if (!tn_rpc_get_u32(&a, &cli->daemon_pid))
				return malformed("bad PID in HELLO");
			cli->have_daemon_pid = true;
		}
	}
	return it.bad ? malformed("bad HELLO") : EXIT_SUCCESS;
}

static int cli_connect(struct cli *cli)
{
	cli->fd = tn_rpc_connect(cli->socket_path, REPLY_TIMEOUT_MS);
	if (cli->fd < 0) {
		int err = errno;
		bool not_running = err == ENOENT || err == ECONNREFUSED;

		return fail("cannot connect to %s: %s%s", cli->socket_path, strerror(err),
			    not_running ? " (is tapnetd running?)" : "");
	}
	if (call(cli, TN_RPC_HELLO, hello_attrs) != EXIT_SUCCESS)
		return EXIT_FAILURE;
	return decode_hello(cli);
}

/* ---------------------------------------------------------------- printing helpers */

static const char *ip4_str(uint32_t addr, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff);
	return buf;
}

static const char *mac_str(const uint8_t mac[MAC_LEN], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
	return buf;
}

static bool mac_is_zero(const uint8_t mac[MAC_LEN])
{
	for (int i = 0; i < MAC_LEN; i++)
		if (mac[i])
			return false;
	return true;
}

/* "3d 04h 05m 06s", leading zero units left out */
static const char *duration_str(uint64_t ms, char *buf, size_t cap)
{
	uint64_t s = ms / 1000;
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;

	if (d)
		snprintf(buf, cap, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s",
			 d, h, m, sec);
	else if (h)
		snprintf(buf, cap, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", h, m, sec);
	else if (m)
		snprintf(buf, cap, "%" PRIu64 "m %02" PRIu64 "s", m, sec);
	else
		snprintf(buf, cap, "%" PRIu64 "s", sec);
	return buf;
}

/*
 * A JSON string literal. Bytes outside printable ASCII are escaped, so the
 * output is valid JSON whatever the daemon sent.
 */
static void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* ---------------------------------------------------------------- status */

struct status {
	uint64_t seen; /* bit per attribute type < 64 that was present */
	char version[STR_MAX];
	uint32_t pid;
	uint64_t uptime_ms;
	char ifname[STR_MAX];
	uint32_t ifindex;
	uint8_t mac[MAC_LEN];
	uint32_t addr, prefix_len, gateway, mtu, clients, sockets;
	uint64_t buffer_bytes, buffer_limit;
	char log_level[STR_MAX];
};

static uint64_t attr_bit(uint16_t type)
{
	return type < 64 ? UINT64_C(1) << type : 0;
}

static bool has(const struct status *st, uint16_t type)
{
	return (st->seen & attr_bit(type)) != 0;
}

/* Decodes one STATUS attribute; unknown ones (a newer daemon) are skipped. */
static bool decode_status_attr(struct status *st, const struct tn_rpc_attr_view *a)
{
	switch (a->type) {
	case TN_ATTR_VERSION_STR:
		return tn_rpc_get_str(a, st->version, sizeof(st->version));
	case TN_ATTR_PID:
		return tn_rpc_get_u32(a, &st->pid);
	case TN_ATTR_UPTIME_MS:
		return tn_rpc_get_u64(a, &st->uptime_ms);
	case TN_ATTR_IFNAME:
		return tn_rpc_get_str(a, st->ifname, sizeof(st->ifname));
	case TN_ATTR_IFINDEX:
		return tn_rpc_get_u32(a, &st->ifindex);
	case TN_ATTR_MAC:
		return tn_rpc_get_bytes(a, st->mac, MAC_LEN);
	case TN_ATTR_ADDR:
		return tn_rpc_get_u32(a, &st->addr);
	case TN_ATTR_PREFIX_LEN:
		return tn_rpc_get_u32(a, &st->prefix_len);
	case TN_ATTR_GATEWAY:
		return tn_rpc_get_u32(a, &st->gateway);
	case TN_ATTR_MTU:
		return tn_rpc_get_u32(a, &st->mtu);
	case TN_ATTR_CLIENTS:
		return tn_rpc_get_u32(a, &st->clients);
	case TN_ATTR_LOG_LEVEL:
		return tn_rpc_get_str(a, st->log_level, sizeof(st->log_level));
	case TN_ATTR_SOCKETS:
		return tn_rpc_get_u32(a, &st->sockets);
	case TN_ATTR_BUFFER_BYTES:
		return tn_rpc_get_u64(a, &st->buffer_bytes);
	case TN_ATTR_BUFFER_LIMIT:
		return tn_rpc_get_u64(a, &st->buffer_limit);
	default:
		return true;
	}
}

static int decode_status(const struct cli *cli, struct status *st)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (!decode_status_attr(st, &a))
			return malformed("bad attribute in STATUS");
		st->seen |= attr_bit(a.type);
	}
	return it.bad ? malformed("bad STATUS") : EXIT_SUCCESS;
}

/* The version and pid come with HELLO; a STATUS that carries them wins. */
static void status_fill_from_hello(const struct cli *cli, struct status *st)
{
	if (!has(st, TN_ATTR_VERSION_STR) && cli->daemon_version[0]) {
		snprintf(st->version, sizeof(st->version), "%s", cli->daemon_version);
		st->seen |= attr_bit(TN_ATTR_VERSION_STR);
	}
	if (!has(st, TN_ATTR_PID) && cli->have_daemon_pid) {
		st->pid = cli->daemon_pid;
		st->seen |= attr_bit(TN_ATTR_PID);
	}
}

#define ABSENT "-"

static void print_line(const char *key, const char *value)
{
	printf("%-11s %s\n", key, value);
}

static void print_u32_line(const struct status *st, const char *key, uint16_t type, uint32_t v)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%" PRIu32, v);
	print_line(key, has(st, type) ? buf : ABSENT);
}

static void print_status(const struct status *st)
{
	char buf[STR_MAX + 32], a[16];

	print_line("version", has(st, TN_ATTR_VERSION_STR) ? st->version : ABSENT);
	print_u32_line(st, "pid", TN_ATTR_PID, st->pid);
	print_line("uptime", has(st, TN_ATTR_UPTIME_MS)
				     ? duration_str(st->uptime_ms, buf, sizeof(buf))
				     : ABSENT);

	if (has(st, TN_ATTR_IFINDEX))
		snprintf(buf, sizeof(buf), "%s (index %" PRIu32 ")",
			 has(st, TN_ATTR_IFNAME) ? st->ifname : ABSENT, st->ifindex);
	else
		snprintf(buf, sizeof(buf), "%s", has(st, TN_ATTR_IFNAME) ? st->ifname : ABSENT);
	print_line("interface", buf);
	print_line("mac", has(st, TN_ATTR_MAC) ? mac_str(st->mac, buf) : ABSENT);

	if (has(st, TN_ATTR_PREFIX_LEN))
		snprintf(buf, sizeof(buf), "%s/%" PRIu32, ip4_str(st->addr, a), st->prefix_len);
	else
		snprintf(buf, sizeof(buf), "%s", ip4_str(st->addr, a));
	print_line("address", has(st, TN_ATTR_ADDR) ? buf : ABSENT);
	print_line("gateway", has(st, TN_ATTR_GATEWAY) && st->gateway != 0
				      ? ip4_str(st->gateway, a)
				      : "none");
	print_u32_line(st, "mtu", TN_ATTR_MTU, st->mtu);
	print_u32_line(st, "clients", TN_ATTR_CLIENTS, st->clients);
	print_u32_line(st, "sockets", TN_ATTR_SOCKETS, st->sockets);
	if (has(st, TN_ATTR_BUFFER_BYTES) && has(st, TN_ATTR_BUFFER_LIMIT))
		snprintf(buf, sizeof(buf), "%" PRIu64 " bytes reserved of %" PRIu64, st->buffer_bytes,
			 st->buffer_limit);
	else
		snprintf(buf, sizeof(buf), ABSENT);
	print_line("buffers", buf);
	print_line("log level", has(st, TN_ATTR_LOG_LEVEL) ? st->log_level : ABSENT);
}

static int cmd_status(struct cli *cli, const struct cmd_options *opt)
{
	struct status st;
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_STATUS, NULL)) != EXIT_SUCCESS)
		return rc;
	memset(&st, 0, sizeof(st));
	if ((rc = decode_status(cli, &st)) != EXIT_SUCCESS)
		return rc;
	status_fill_from_hello(cli, &st);
	print_status(&st);
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------- stats */

struct counter {
	char name[STR_MAX];
	uint64_t value;
};

struct counter_list {
	struct counter *v;
	size_t n, cap;
};

static bool decode_counter(const struct tn_rpc_attr_view *nest, struct counter *ctr)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	bool have_name = false, have_value = false;

	tn_rpc_iter_nest(&it, nest);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_NAME) {
			if (!tn_rpc_get_str(&a, ctr->name, sizeof(ctr->name)))
				return false;
			have_name = true;
		} else if (a.type == TN_ATTR_VALUE) {
			if (!tn_rpc_get_u64(&a, &ctr->value))
				return false;
			have_value = true;
		}
	}
	return !it.bad && have_name && have_value;
}

static bool counter_list_grow(struct counter_list *list)
{
	if (list->n < list->cap)
		return true;
	size_t cap = list->cap ? list->cap * 2 : 64;
	struct counter *v = realloc(list->v, cap * sizeof(*v));

	if (v == NULL)
		return false;
	list->v = v;
	list->cap = cap;
	return true;
}

static int decode_stats(const struct cli *cli, struct counter_list *list)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_COUNTER)
			continue;
		if (!counter_list_grow(list))
			return fail("out of memory");
		if (!decode_counter(&a, &list->v[list->n]))
			return malformed("bad COUNTER in STATS");
		list->n++;
	}
	return it.bad ? malformed("bad STATS") : EXIT_SUCCESS;
}

/* Like `nstat`: name and value, zero counters only with -a. */
static void print_counters_text(const struct counter_list *list, bool all)
{
	for (size_t i = 0; i < list->n; i++)
		if (all || list->v[i].value != 0)
			printf("%-31s %" PRIu64 "\n", list->v[i].name, list->v[i].value);
}

/* One object, every counter: programs should not have to guess at zeros. */
static void print_counters_json(const struct counter_list *list)
{
	putchar('{');
	for (size_t i = 0; i < list->n; i++) {
		if (i > 0)
			fputs(", ", stdout);
		json_string(list->v[i].name);
		printf(": %" PRIu64, list->v[i].value);
	}
	puts("}");
}

static int cmd_stats(struct cli *cli, const struct cmd_options *opt)
{
	struct counter_list list = { 0 };
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_STATS, NULL)) != EXIT_SUCCESS)
		return rc;
	rc = decode_stats(cli, &list);
	if (rc == EXIT_SUCCESS) {
		if (opt->json)
			print_counters_json(&list);
		else
			print_counters_text(&list, opt->all);
	}
	free(list.v);
	return rc;
}

/* ---------------------------------------------------------------- arp */

struct arp_entry {
	uint32_t addr;
	uint8_t mac[MAC_LEN];
	bool has_mac;
	char state[STR_MAX];
	uint64_t expires_ms;
	bool has_expires;
	uint32_t queued;
};

static bool decode_arp_attr(struct arp_entry *e, const struct tn_rpc_attr_view *a)
{
	switch (a->type) {
	case TN_ATTR_ADDR:
		return tn_rpc_get_u32(a, &e->addr);
	case TN_ATTR_MAC:
		return (e->has_mac = tn_rpc_get_bytes(a, e->mac, MAC_LEN));
	case TN_ATTR_STATE:
		return tn_rpc_get_str(a, e->state, sizeof(e->state));
	case TN_ATTR_EXPIRES_MS:
		return (e->has_expires = tn_rpc_get_u64(a, &e->expires_ms));
	case TN_ATTR_QUEUED:
		return tn_rpc_get_u32(a, &e->queued);
	default:
		return true;
	}
}

/* ADDR and STATE are what an entry is; the rest may be absent. */
static bool decode_arp_entry(const struct tn_rpc_attr_view *nest, struct arp_entry *e)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	bool have_addr = false;

	memset(e, 0, sizeof(*e));
	tn_rpc_iter_nest(&it, nest);
	while (tn_rpc_next(&it, &a)) {
		if (!decode_arp_attr(e, &a))
			return false;
		have_addr |= a.type == TN_ATTR_ADDR;
	}
	/* an INCOMPLETE entry has no address yet, whatever bytes stand in for it */
	if (e->has_mac && mac_is_zero(e->mac))
		e->has_mac = false;
	return !it.bad && have_addr && e->state[0] != '\0';
}

/* `ip neigh` style: 10.0.0.1 lladdr aa:bb:cc:dd:ee:ff REACHABLE expires 42s queued 0 */
static void print_arp_text(const struct arp_entry *e)
{
	char a[16], m[18];

	printf("%s", ip4_str(e->addr, a));
	if (e->has_mac)
		printf(" lladdr %s", mac_str(e->mac, m));
	printf(" %s", e->state);
	if (e->has_expires)
		/* rounded up: an entry still there has not expired */
		printf(" expires %" PRIu64 "s", e->expires_ms / 1000 + (e->expires_ms % 1000 != 0));
	printf(" queued %" PRIu32 "\n", e->queued);
}

/* Keys are left out when absent, as `ip -j neigh` does. */
static void print_arp_json(const struct arp_entry *e)
{
	char a[16], m[18];

	fputs("{\"dst\": ", stdout);
	json_string(ip4_str(e->addr, a));
	if (e->has_mac) {
		fputs(", \"lladdr\": ", stdout);
		json_string(mac_str(e->mac, m));
	}
	fputs(", \"state\": ", stdout);
	json_string(e->state);
	if (e->has_expires)
		printf(", \"expires_ms\": %" PRIu64, e->expires_ms);
	printf(", \"queued\": %" PRIu32 "}", e->queued);
}

static int cmd_arp(struct cli *cli, const struct cmd_options *opt)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	struct arp_entry e;
	size_t printed = 0;
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_ARP, NULL)) != EXIT_SUCCESS)
		return rc;
	/* Whole reply checked before the first line, so output is all or nothing. */
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a))
		if (a.type == TN_ATTR_ARP_ENTRY && !decode_arp_entry(&a, &e))
			return malformed("bad ARP_ENTRY in ARP");
	if (it.bad)
		return malformed("bad ARP");

	if (opt->json)
		putchar('[');
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_ARP_ENTRY)
			continue;
		decode_arp_entry(&a, &e);
		if (opt->json) {
			fputs(printed++ ? ", " : "", stdout);
			print_arp_json(&e);
		} else {
			print_arp_text(&e);
		}
	}
	if (opt->json)
		puts("]");
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------- ss */

struct sock_entry {
	char state[STR_MAX];
	char cc[STR_MAX];
	uint32_t laddr, lport, raddr, rport, recv_q, send_q;
	uint32_t rtt_us, rttvar_us, rto_ms, mss, rcv_mss, cwnd, ssthresh, snd_wnd, rcv_wnd;
	uint32_t wscale, flags, retrans;
	uint64_t total_retrans, bytes_acked, bytes_received;
	bool has_ssthresh;
	char ca_state[STR_MAX];
	uint32_t lost, sacked, min_rtt_us;
	uint32_t rcvbuf, sndbuf, rcv_space;
};

struct sock_list {
	struct sock_entry *v;
	size_t n, cap;
	uint32_t total;   /* sockets the daemon has, from the last reply */
	bool incomplete;  /* a reply was cut short and the rest could not be had */
	uint32_t tw_total; /* -a: entries of the TIME-WAIT table, */
	size_t tw_listed;  /* and how many of them are at the end of v */
};

/* Pages asked for at most; a reply holds about 290 sockets. */
#define SS_MAX_PAGES 16384

static bool decode_sock_attr(struct sock_entry *e, const struct tn_rpc_attr_view *a)
{
	switch (a->type) {
	case TN_ATTR_STATE:
		return tn_rpc_get_str(a, e->state, sizeof(e->state));
	case TN_ATTR_SOCK_CC:
		return tn_rpc_get_str(a, e->cc, sizeof(e->cc));
	case TN_ATTR_SOCK_LADDR:
		return tn_rpc_get_u32(a, &e->laddr);
	case TN_ATTR_SOCK_LPORT:
		return tn_rpc_get_u32(a, &e->lport);
	case TN_ATTR_SOCK_RADDR:
		return tn_rpc_get_u32(a, &e->raddr);
	case TN_ATTR_SOCK_RPORT:
		return tn_rpc_get_u32(a, &e->rport);
	case TN_ATTR_SOCK_RECV_Q:
		return tn_rpc_get_u32(a, &e->recv_q);
	case TN_ATTR_SOCK_SEND_Q:
		return tn_rpc_get_u32(a, &e->send_q);
	case TN_ATTR_SOCK_RTT_US:
		return tn_rpc_get_u32(a, &e->rtt_us);
	case TN_ATTR_SOCK_RTTVAR_US:
		return tn_rpc_get_u32(a, &e->rttvar_us);
	case TN_ATTR_SOCK_RTO_MS:
		return tn_rpc_get_u32(a, &e->rto_ms);
	case TN_ATTR_SOCK_MSS:
		return tn_rpc_get_u32(a, &e->mss);
	case TN_ATTR_SOCK_RCV_MSS:
		return tn_rpc_get_u32(a, &e->rcv_mss);
	case TN_ATTR_SOCK_CWND:
		return tn_rpc_get_u32(a, &e->cwnd);
	case TN_ATTR_SOCK_SSTHRESH:
		return (e->has_ssthresh = tn_rpc_get_u32(a, &e->ssthresh));
	case TN_ATTR_SOCK_SND_WND:
		return tn_rpc_get_u32(a, &e->snd_wnd);
	case TN_ATTR_SOCK_RCV_WND:
		return tn_rpc_get_u32(a, &e->rcv_wnd);
	case TN_ATTR_SOCK_WSCALE:
		return tn_rpc_get_u32(a, &e->wscale);
	case TN_ATTR_SOCK_FLAGS:
		return tn_rpc_get_u32(a, &e->flags);
	case TN_ATTR_SOCK_RETRANS:
		return tn_rpc_get_u32(a, &e->retrans);
	case TN_ATTR_SOCK_TOTAL_RETRANS:
		return tn_rpc_get_u64(a, &e->total_retrans);
	case TN_ATTR_SOCK_BYTES_ACKED:
		return tn_rpc_get_u64(a, &e->bytes_acked);
	case TN_ATTR_SOCK_BYTES_RECEIVED:
		return tn_rpc_get_u64(a, &e->bytes_received);
	case TN_ATTR_SOCK_CA_STATE:
		return tn_rpc_get_str(a, e->ca_state, sizeof(e->ca_state));
	case TN_ATTR_SOCK_LOST:
		return tn_rpc_get_u32(a, &e->lost);
	case TN_ATTR_SOCK_SACKED:
		return tn_rpc_get_u32(a, &e->sacked);
	case TN_ATTR_SOCK_MIN_RTT_US:
		return tn_rpc_get_u32(a, &e->min_rtt_us);
	case TN_ATTR_SOCK_RCVBUF:
		return tn_rpc_get_u32(a, &e->rcvbuf);
	case TN_ATTR_SOCK_SNDBUF:
		return tn_rpc_get_u32(a, &e->sndbuf);
	case TN_ATTR_SOCK_RCV_SPACE:
		return tn_rpc_get_u32(a, &e->rcv_space);
	default:
		return true;
	}
}

/* STATE is what an entry is; the rest may be absent (an older or newer daemon). */
static bool decode_sock(const struct tn_rpc_attr_view *nest, struct sock_entry *e)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	memset(e, 0, sizeof(*e));
	tn_rpc_iter_nest(&it, nest);
	while (tn_rpc_next(&it, &a))
		if (!decode_sock_attr(e, &a))
			return false;
	return !it.bad && e->state[0] != '\0';
}

/* Room for one more entry at the end of list; NULL when out of memory. */
static struct sock_entry *sock_list_add(struct sock_list *list)
{
	if (list->n == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		struct sock_entry *v = realloc(list->v, cap * sizeof(*v));
		if (!v)
			return NULL;
		list->v = v;
		list->cap = cap;
	}
	return &list->v[list->n];
}

static uint32_t ss_start; /* SS_START of the next request */

static void ss_attrs(struct tn_rpc_writer *w)
{
	if (ss_start)
		tn_rpc_put_u32(w, TN_ATTR_SS_START, ss_start);
}

/*
 * One reply's sockets appended to list. *next gets SS_TRUNCATED (where
 * the next page starts), or 0 when the reply went to the end.
 */
static int decode_sockets(const struct cli *cli, struct sock_list *list, uint32_t *next)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	*next = 0;
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_SS_TOTAL) {
			if (!tn_rpc_get_u32(&a, &list->total))
				return malformed("bad SS_TOTAL in SOCKETS");
		} else if (a.type == TN_ATTR_SS_TRUNCATED) {
			if (!tn_rpc_get_u32(&a, next))
				return malformed("bad SS_TRUNCATED in SOCKETS");
		} else if (a.type == TN_ATTR_SOCK) {
			struct sock_entry *e = sock_list_add(list);
			if (!e)
				return fail("out of memory");
			if (!decode_sock(&a, e))
				return malformed("bad SOCK in SOCKETS");
			list->n++;
		}
	}
	return it.bad ? malformed("bad SOCKETS") : EXIT_SUCCESS;
}

/*
 * Every socket, page by page. The daemon lists the oldest first, so
 * connections opened meanwhile only add to the end; ones closed meanwhile
 * may make a page skip a socket, as reading /proc/net/tcp can.
 */
static int fetch_sockets(struct cli *cli, struct sock_list *list)
{
	int rc;

	ss_start = 0;
	for (unsigned page = 0;; page++) {
		uint32_t next;

		if ((rc = call(cli, TN_RPC_SOCKETS, ss_attrs)) != EXIT_SUCCESS)
			return rc;
		if ((rc = decode_sockets(cli, list, &next)) != EXIT_SUCCESS)
			return rc;
		if (next == 0)
			return EXIT_SUCCESS;
		if (next <= ss_start || page + 1 >= SS_MAX_PAGES) {
			list->incomplete = true; /* no progress: do not loop forever */
			return EXIT_SUCCESS;
		}
		ss_start = next;
	}
}

static bool is_listener(const struct sock_entry *e)
{
	return strcmp(e->state, "LISTEN") == 0;
}

/* Like ss: listeners only with -l, and by default no listeners, closed, TIME-WAIT or SYN-RECV. */
static bool ss_shown(const struct sock_entry *e, const struct cmd_options *opt)
{
	if (opt->all)
		return true;
	if (opt->listening)
		return is_listener(e);
	return !is_listener(e) && strcmp(e->state, "UNCONN") != 0 &&
	       strcmp(e->state, "TIME-WAIT") != 0 && strcmp(e->state, "SYN-RECV") != 0;
}

static const char *endpoint_str(uint32_t addr, uint32_t port, bool wild_port, char *buf, size_t cap)
{
	char a[16];

	if (wild_port && port == 0)
		snprintf(buf, cap, "%s:*", ip4_str(addr, a));
	else
		snprintf(buf, cap, "%s:%" PRIu32, ip4_str(addr, a), port);
	return buf;
}

/* ss -ti's second line, tab-indented; a listener has little more than its algorithm. */
static void print_sock_info(const struct sock_entry *e)
{
	printf("\t %s", e->cc[0] ? e->cc : "-");
	if (is_listener(e)) {
		putchar('\n');
		return;
	}
	if (e->flags & TN_SOCK_F_TS)
		fputs(" ts", stdout);
	if (e->flags & TN_SOCK_F_SACK)
		fputs(" sack", stdout);
	if (e->flags & TN_SOCK_F_NODELAY)
		fputs(" nodelay", stdout);
	if (e->flags & TN_SOCK_F_KEEPALIVE)
		fputs(" keepalive", stdout);
	if (e->flags & TN_SOCK_F_ORPHAN)
		fputs(" orphan", stdout);
	printf(" wscale:%" PRIu32 ",%" PRIu32 " rto:%" PRIu32, e->wscale >> 8, e->wscale & 0xff,
	       e->rto_ms);
	if (e->rtt_us) /* none before the first sample */
		printf(" rtt:%.3f/%.3f", e->rtt_us / 1000.0, e->rttvar_us / 1000.0);
	printf(" mss:%" PRIu32 " rcvmss:%" PRIu32 " cwnd:%" PRIu32, e->mss, e->rcv_mss, e->cwnd);
	if (e->has_ssthresh)
		printf(" ssthresh:%" PRIu32, e->ssthresh);
	printf(" bytes_acked:%" PRIu64 " bytes_received:%" PRIu64, e->bytes_acked,
	       e->bytes_received);
	if (e->retrans || e->total_retrans)
		printf(" retrans:%" PRIu32 "/%" PRIu64, e->retrans, e->total_retrans);
	if (e->lost)
		printf(" lost:%" PRIu32, e->lost);
	if (e->sacked)
		printf(" sacked:%" PRIu32, e->sacked);
	if (e->flags & TN_SOCK_F_REORD)
		fputs(" reord_seen", stdout);
	if (e->min_rtt_us)
		printf(" minrtt:%.3f", e->min_rtt_us / 1000.0);
	if (e->ca_state[0] && strcmp(e->ca_state, "open") != 0)
		printf(" ca_state:%s", e->ca_state);
	printf(" snd_wnd:%" PRIu32 " rcv_wnd:%" PRIu32, e->snd_wnd, e->rcv_wnd);
	/* as Linux's skmem:(r,rb,t,tb): queued and size, receive then send */
	printf(" skmem:(r%" PRIu32 ",rb%" PRIu32 ",t%" PRIu32 ",tb%" PRIu32 ") rcv_space:%" PRIu32 "\n",
	       e->recv_q, e->rcvbuf, e->send_q, e->sndbuf, e->rcv_space);
}

static void print_sock_text(const struct sock_entry *e, bool info)
{
	char local[32], peer[32];
	bool listener = is_listener(e);

	printf("%-10s %-6" PRIu32 " %-6" PRIu32 " %-21s %s\n", e->state, e->recv_q, e->send_q,
	       endpoint_str(e->laddr, e->lport, false, local, sizeof(local)),
	       endpoint_str(e->raddr, e->rport, listener || e->rport == 0, peer, sizeof(peer)));
	if (info)
		print_sock_info(e);
}

static void json_bool(const char *key, bool v)
{
	printf(", \"%s\": %s", key, v ? "true" : "false");
}

/* Every field, whatever -i says: programs should not have to ask twice. */
static void print_sock_json(const struct sock_entry *e)
{
	char a[16];

	fputs("{\"state\": ", stdout);
	json_string(e->state);
	printf(", \"recv_q\": %" PRIu32 ", \"send_q\": %" PRIu32, e->recv_q, e->send_q);
	fputs(", \"local_addr\": ", stdout);
	json_string(ip4_str(e->laddr, a));
	printf(", \"local_port\": %" PRIu32 ", \"peer_addr\": ", e->lport);
	json_string(ip4_str(e->raddr, a));
	printf(", \"peer_port\": %" PRIu32 ", \"cc\": ", e->rport);
	json_string(e->cc);
	printf(", \"rtt_us\": %" PRIu32 ", \"rttvar_us\": %" PRIu32 ", \"rto_ms\": %" PRIu32
	       ", \"mss\": %" PRIu32 ", \"rcv_mss\": %" PRIu32 ", \"cwnd\": %" PRIu32,
	       e->rtt_us, e->rttvar_us, e->rto_ms, e->mss, e->rcv_mss, e->cwnd);
	if (e->has_ssthresh)
		printf(", \"ssthresh\": %" PRIu32, e->ssthresh);
	printf(", \"snd_wnd\": %" PRIu32 ", \"rcv_wnd\": %" PRIu32 ", \"snd_wscale\": %" PRIu32
	       ", \"rcv_wscale\": %" PRIu32,
	       e->snd_wnd, e->rcv_wnd, e->wscale >> 8, e->wscale & 0xff);
	json_bool("ts", e->flags & TN_SOCK_F_TS);
	json_bool("sack", e->flags & TN_SOCK_F_SACK);
	json_bool("nodelay", e->flags & TN_SOCK_F_NODELAY);
	json_bool("keepalive", e->flags & TN_SOCK_F_KEEPALIVE);
	json_bool("orphan", e->flags & TN_SOCK_F_ORPHAN);
	printf(", \"retrans\": %" PRIu32 ", \"total_retrans\": %" PRIu64
	       ", \"bytes_acked\": %" PRIu64 ", \"bytes_received\": %" PRIu64,
	       e->retrans, e->total_retrans, e->bytes_acked, e->bytes_received);
	fputs(", \"ca_state\": ", stdout);
	json_string(e->ca_state);
	printf(", \"lost\": %" PRIu32 ", \"sacked\": %" PRIu32 ", \"min_rtt_us\": %" PRIu32,
	       e->lost, e->sacked, e->min_rtt_us);
	json_bool("reord_seen", e->flags & TN_SOCK_F_REORD);
	printf(", \"rcvbuf\": %" PRIu32 ", \"sndbuf\": %" PRIu32 ", \"rcv_space\": %" PRIu32,
	       e->rcvbuf, e->sndbuf, e->rcv_space);
	fputs("}", stdout);
}

static int append_timewait(struct cli *cli, struct sock_list *list);

static int cmd_ss(struct cli *cli, const struct cmd_options *opt)
{
	struct sock_list list = { 0 };
	size_t printed = 0;
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	/* Whole listing fetched and checked before the first line: all or nothing. */
	if ((rc = fetch_sockets(cli, &list)) != EXIT_SUCCESS ||
	    (opt->all && (rc = append_timewait(cli, &list)) != EXIT_SUCCESS)) {
		free(list.v);
		return rc;
	}
	if (opt->json)
		putchar('[');
	else
		printf("%-10s %-6s %-6s %-21s %s\n", "State", "Recv-Q", "Send-Q",
		       "Local Address:Port", "Peer Address:Port");
	for (size_t i = 0; i < list.n; i++) {
		if (!ss_shown(&list.v[i], opt))
			continue;
		if (opt->json) {
			fputs(printed++ ? ", " : "", stdout);
			print_sock_json(&list.v[i]);
		} else {
			print_sock_text(&list.v[i], opt->info);
		}
	}
	if (opt->json)
		puts("]");
	if (list.incomplete) {
		/* on stderr with -j, so that stdout stays valid JSON */
		fprintf(opt->json ? stderr : stdout,
			"%sTRUNCATED: the daemon has %" PRIu32 " sockets, %zu were received\n",
			opt->json ? "tapnet: ss: " : "", list.total, list.n - list.tw_listed);
	}
	if (list.tw_listed < list.tw_total)
		fprintf(opt->json ? stderr : stdout,
			"%sTRUNCATED: %" PRIu32 " connections in TIME-WAIT, the oldest %zu shown\n",
			opt->json ? "tapnet: ss: " : "", list.tw_total, list.tw_listed);
	free(list.v);
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------- timewait */

struct tw_entry {
	uint32_t laddr, lport, raddr, rport;
	uint64_t remaining_ms;
};

static bool decode_tw_entry(const struct tn_rpc_attr_view *nest, struct tw_entry *e)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	unsigned seen = 0;

	memset(e, 0, sizeof(*e));
	tn_rpc_iter_nest(&it, nest);
	while (tn_rpc_next(&it, &a)) {
		uint32_t *field = NULL;
		switch (a.type) {
		case TN_ATTR_TW_LADDR:
			field = &e->laddr;
			break;
		case TN_ATTR_TW_LPORT:
			field = &e->lport;
			break;
		case TN_ATTR_TW_RADDR:
			field = &e->raddr;
			break;
		case TN_ATTR_TW_RPORT:
			field = &e->rport;
			break;
		case TN_ATTR_EXPIRES_MS:
			if (!tn_rpc_get_u64(&a, &e->remaining_ms))
				return false;
			seen |= 1u << 4;
			continue;
		default:
			continue; /* a newer daemon's */
		}
		if (!tn_rpc_get_u32(&a, field))
			return false;
		seen |= 1u << (a.type - TN_ATTR_TW_LADDR);
	}
	return !it.bad && seen == 0x1f;
}

/*
 * `ss -tan -o state time-wait` style: the 4-tuple and the time left, as ss
 * shows it (timer:(timewait,Nsec,0), rounded up: an entry still there has
 * not expired).
 */
static void print_tw_text(const struct tw_entry *e)
{
	char local[32], peer[32];

	printf("%-10s %-6d %-6d %-21s %-21s timer:(timewait,%" PRIu64 "sec,0)\n", "TIME-WAIT", 0, 0,
	       endpoint_str(e->laddr, e->lport, false, local, sizeof(local)),
	       endpoint_str(e->raddr, e->rport, false, peer, sizeof(peer)),
	       e->remaining_ms / 1000 + (e->remaining_ms % 1000 != 0));
}

static void print_tw_json(const struct tw_entry *e)
{
	char a[16];

	fputs("{\"state\": \"TIME-WAIT\", \"local_addr\": ", stdout);
	json_string(ip4_str(e->laddr, a));
	printf(", \"local_port\": %" PRIu32 ", \"peer_addr\": ", e->lport);
	json_string(ip4_str(e->raddr, a));
	printf(", \"peer_port\": %" PRIu32 ", \"remaining_ms\": %" PRIu64 "}", e->rport,
	       e->remaining_ms);
}

static int cmd_timewait(struct cli *cli, const struct cmd_options *opt)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	struct tw_entry e;
	uint32_t total = 0, listed = 0, entries = 0;
	bool have_total = false, truncated = false;
	size_t printed = 0;
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_TIMEWAIT, NULL)) != EXIT_SUCCESS)
		return rc;
	/* Whole reply checked before the first line, so output is all or nothing. */
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_TW_ENTRY) {
			if (!decode_tw_entry(&a, &e))
				return malformed("bad TW_ENTRY in TIMEWAIT");
			entries++;
		} else if (a.type == TN_ATTR_TW_TOTAL) {
			if (!(have_total = tn_rpc_get_u32(&a, &total)))
				return malformed("bad TW_TOTAL in TIMEWAIT");
		} else if (a.type == TN_ATTR_TW_TRUNCATED) {
			if (!(truncated = tn_rpc_get_u32(&a, &listed)))
				return malformed("bad TW_TRUNCATED in TIMEWAIT");
		}
	}
	if (it.bad || !have_total || entries > total || (!truncated && entries != total))
		return malformed("bad TIMEWAIT");

	if (opt->json)
		putchar('[');
	else
		printf("%-10s %-6s %-6s %-21s %-21s %s\n", "State", "Recv-Q", "Send-Q",
		       "Local Address:Port", "Peer Address:Port", "Timer");
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_TW_ENTRY)
			continue;
		decode_tw_entry(&a, &e);
		if (opt->json) {
			fputs(printed++ ? ", " : "", stdout);
			print_tw_json(&e);
		} else {
			print_tw_text(&e);
		}
	}
	if (opt->json)
		puts("]");
	if (truncated)
		/* on stderr with -j, so that stdout stays valid JSON */
		fprintf(opt->json ? stderr : stdout,
			"%sTRUNCATED: %" PRIu32 " entries in TIME-WAIT, the oldest %" PRIu32 " shown\n",
			opt->json ? "tapnet: timewait: " : "", total, entries);
	return EXIT_SUCCESS;
}

/*
 * ss -a: the TIME-WAIT table's entries after the sockets, as `ss -tan`
 * shows them among the others (they are no sockets in tapnet's core).
 */
static int append_timewait(struct cli *cli, struct sock_list *list)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	struct tw_entry e;
	int rc;

	if ((rc = call(cli, TN_RPC_TIMEWAIT, NULL)) != EXIT_SUCCESS)
		return rc;
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_TW_TOTAL) {
			if (!tn_rpc_get_u32(&a, &list->tw_total))
				return malformed("bad TW_TOTAL in TIMEWAIT");
			continue;
		}
		if (a.type != TN_ATTR_TW_ENTRY)
			continue;
		if (!decode_tw_entry(&a, &e))
			return malformed("bad TW_ENTRY in TIMEWAIT");
		struct sock_entry *s = sock_list_add(list);
		if (!s)
			return fail("out of memory");
		list->n++;
		memset(s, 0, sizeof(*s));
		snprintf(s->state, sizeof(s->state), "TIME-WAIT");
		s->laddr = e.laddr;
		s->lport = e.lport;
		s->raddr = e.raddr;
		s->rport = e.rport;
		list->tw_listed++;
	}
	if (it.bad)
		return malformed("bad TIMEWAIT");
	if (list->tw_total < list->tw_listed)
		list->tw_total = (uint32_t)list->tw_listed;
	return EXIT_SUCCESS;
}

/* ---------------------------------------------------------------- run */

#ifndef TAPNET_PRELOAD_PATH
#define TAPNET_PRELOAD_PATH "libtapnet-preload.so"
#endif
#define PRELOAD_ENV "TAPNET_PRELOAD" /* another shim (a build tree's), for tests */
#define CTL_FD_ENV "TAPNET_CTL_FD"   /* the program's control connection (libtapnet) */
#define OPTIONS_ENV "TAPNET_OPTIONS" /* words the shim reads: verbose, kernel-ipv6 */

/* The lowest fd number the program's control connection is moved to, out of the way of 0-2 and
 * of the numbers a program opens first. */
#define RUN_CTL_FD_MIN 64

/*
 * Runs CMD with the shim preloaded: its TCP sockets are tapnet's, reached
 * through a control connection made here, before CMD runs, with the
 * credentials it starts with. CMD finds it at $TAPNET_CTL_FD (libtapnet
 * explains how it follows forks and execs). Only returns on failure.
 */
static int cmd_run(struct cli *cli, const struct cmd_options *opt)
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
	const char *options = opt->verbose && opt->kernel_ipv6 ? "verbose kernel-ipv6"
			      : opt->verbose		       ? "verbose"
			      : opt->kernel_ipv6	       ? "kernel-ipv6"
							       : "";
	if (setenv("LD_PRELOAD", preload, 1) < 0 || setenv(SOCKET_ENV, cli->socket_path, 1) < 0 ||
	    setenv(CTL_FD_ENV, num, 1) < 0 ||
	    (options[0] ? setenv(OPTIONS_ENV, options, 1) : unsetenv(OPTIONS_ENV)) < 0)
		return fail("run: cannot set the environment: %s", strerror(errno));
	free(preload);
	free(cli->reply);
	cli->reply = NULL;
	execvp(opt->argv[0], opt->argv);
	int err = errno;
	fail("run: %s: %s", opt->argv[0], strerror(err));
	return err == ENOENT ? 127 : 126; /* as the shell says it */
}

/* ---------------------------------------------------------------- commands */

static const struct command commands[] = {
	{ "status", cmd_status, "", 0, "", "the daemon, its interface and address" },
	{ "stats", cmd_stats, "ja", 0, "[-j] [-a]", "counters, nstat style (-a: zeros too)" },
	{ "arp", cmd_arp, "j", 0, "[-j]", "the neighbour (ARP) cache, ip neigh style" },
	{ "ss", cmd_ss, "ijla", 0, "[-ijla]",
	  "TCP sockets, ss -tan style (-l: listeners; -a: all; -i: rtt, cwnd, ...)" },
	{ "timewait", cmd_timewait, "j", 0, "[-j]",
	  "connections in TIME-WAIT, ss -tan -o state time-wait style" },
	{ "run", cmd_run, "v6", 4096, "[-v] CMD...",
	  "run CMD with its TCP sockets on tapnet (LD_PRELOAD)" },
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
		     "  -j, --json         (stats, arp, ss, timewait) print JSON\n"
		     "  -a, --all          (stats) include counters that are zero; (ss) every socket\n"
		     "  -l, --listening    (ss) listening sockets only\n"
		     "  -i, --info         (ss) a second line per socket: rtt, rto, cwnd, mss, ...\n"
		     "  -v, --verbose      (run) say on stderr each socket that stays the kernel's, and why\n"
		     "  --kernel-ipv6      (run) IPv6 sockets for IPv6 proper use the kernel instead of\n"
		     "                     failing (IPv4, also through v4-mapped addresses, is tapnet's)\n");
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
#define OPT_KERNEL_IPV6_CHAR '6' /* in commands[].options; not a short option itself */
static const struct option command_long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, 'j' },
	{ "all", no_argument, NULL, 'a' },
	{ "info", no_argument, NULL, 'i' },
	{ "listening", no_argument, NULL, 'l' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "kernel-ipv6", no_argument, NULL, OPT_KERNEL_IPV6 },
	{ NULL, 0, NULL, 0 },
};

#define PARSE_RUN (-1) /* options fine: run the command */

/* argv[0] is the command's name. Returns PARSE_RUN or the exit code. */
static int parse_command_options(const struct command *cmd, int argc, char **argv,
				 struct cmd_options *opt)
{
	char shortopts[32];
	int c;

	/* '+': stop at the first operand, so an operand's own options stay its own */
	snprintf(shortopts, sizeof(shortopts), "+h%s", cmd->options);
	char *long_only = strchr(shortopts, OPT_KERNEL_IPV6_CHAR);
	if (long_only)
		memmove(long_only, long_only + 1, strlen(long_only));
	memset(opt, 0, sizeof(*opt));
	optind = 0; /* glibc: start afresh on a new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, command_long_options, NULL)) != -1) {
		if (c == 'h') {
			command_usage(stdout, cmd);
			return EXIT_SUCCESS;
		}
		int key = c == OPT_KERNEL_IPV6 ? OPT_KERNEL_IPV6_CHAR : c;
		if (c == '?' || c == OPT_KERNEL_IPV6_CHAR || strchr(cmd->options, key) == NULL) {
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
