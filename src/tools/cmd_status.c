/* cmd_status.c - `tapnet status`: the daemon, its interface and address. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cmd_status(struct cli *cli, const struct cmd_options *opt)
{
	struct status st;
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_STATUS, NULL, NULL)) != EXIT_SUCCESS)
		return rc;
	memset(&st, 0, sizeof(st));
	if ((rc = decode_status(cli, &st)) != EXIT_SUCCESS)
		return rc;
	status_fill_from_hello(cli, &st);
	print_status(&st);
	return EXIT_SUCCESS;
}
