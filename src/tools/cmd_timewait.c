/* cmd_timewait.c - `tapnet timewait`: the TIME-WAIT table. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- timewait */

bool decode_tw_entry(const struct tn_rpc_attr_view *nest, struct tw_entry *e)
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

int cmd_timewait(struct cli *cli, const struct cmd_options *opt)
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
	if (it.bad || !have_total || entries > total || (!truncated && entries != total) ||
	    (truncated && entries != listed))
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
