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

/*
 * The TIMEWAIT reply, decoded and checked whole: TW_TOTAL is there, and
 * the reply holds every entry, or exactly the TW_TRUNCATED oldest ones.
 */
int fetch_timewait(struct cli *cli, struct tw_table *t)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	uint32_t listed = 0;
	bool have_total = false, truncated = false;
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = call(cli, TN_RPC_TIMEWAIT, NULL, NULL)) != EXIT_SUCCESS)
		return rc;
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_TW_ENTRY) {
			struct tw_entry *v = array_room(t->v, t->n, &t->cap, sizeof(*v));
			if (!v) {
				rc = fail("out of memory");
				goto out;
			}
			t->v = v;
			if (!decode_tw_entry(&a, &t->v[t->n])) {
				rc = malformed("bad TW_ENTRY in TIMEWAIT");
				goto out;
			}
			t->n++;
		} else if (a.type == TN_ATTR_TW_TOTAL) {
			if (!(have_total = tn_rpc_get_u32(&a, &t->total))) {
				rc = malformed("bad TW_TOTAL in TIMEWAIT");
				goto out;
			}
		} else if (a.type == TN_ATTR_TW_TRUNCATED) {
			if (!(truncated = tn_rpc_get_u32(&a, &listed))) {
				rc = malformed("bad TW_TRUNCATED in TIMEWAIT");
				goto out;
			}
		}
	}
	if (it.bad || !have_total || t->n > t->total || t->n != (truncated ? listed : t->total)) {
		rc = malformed("bad TIMEWAIT");
		goto out;
	}
	return EXIT_SUCCESS;
out:
	free(t->v);
	memset(t, 0, sizeof(*t));
	return rc;
}

int cmd_timewait(struct cli *cli, const struct cmd_options *opt)
{
	struct tw_table t;
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	/* Whole reply checked before the first line, so output is all or nothing. */
	if ((rc = fetch_timewait(cli, &t)) != EXIT_SUCCESS)
		return rc;
	if (opt->json)
		putchar('[');
	else
		printf("%-10s %-6s %-6s %-21s %-21s %s\n", "State", "Recv-Q", "Send-Q",
		       "Local Address:Port", "Peer Address:Port", "Timer");
	for (size_t i = 0; i < t.n; i++) {
		if (opt->json) {
			fputs(i ? ", " : "", stdout);
			print_tw_json(&t.v[i]);
		} else {
			print_tw_text(&t.v[i]);
		}
	}
	if (opt->json)
		puts("]");
	if (t.n < t.total)
		/* on stderr with -j, so that stdout stays valid JSON */
		fprintf(opt->json ? stderr : stdout,
			"%sTRUNCATED: %" PRIu32 " entries in TIME-WAIT, the oldest %zu shown\n",
			opt->json ? "tapnet: timewait: " : "", t.total, t.n);
	free(t.v);
	return EXIT_SUCCESS;
}
