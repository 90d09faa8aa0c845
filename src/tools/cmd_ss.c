/* cmd_ss.c - `tapnet ss`: TCP sockets, ss -tan style. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	/* the cases come from rpc.h's table, which the daemon's encoder uses too */
	if (a->type == TN_ATTR_SOCK_SSTHRESH)
		e->has_ssthresh = true; /* absent while unset */
	TN_RPC_GET_SOCK_ATTR(a, e);
	return true; /* not ours: a newer daemon's */
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
	struct sock_entry *v = array_room(list->v, list->n, &list->cap, sizeof(*v));
	if (!v)
		return NULL;
	list->v = v;
	return &v[list->n];
}

/* arg: the SS_START of the request (0: from the first socket) */
static void ss_attrs(struct tn_rpc_writer *w, const void *arg)
{
	uint32_t start = *(const uint32_t *)arg;

	if (start)
		tn_rpc_put_u32(w, TN_ATTR_SS_START, start);
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
	uint32_t start = 0;
	int rc;

	for (unsigned page = 0;; page++) {
		uint32_t next;

		if ((rc = call(cli, TN_RPC_SOCKETS, ss_attrs, &start)) != EXIT_SUCCESS)
			return rc;
		if ((rc = decode_sockets(cli, list, &next)) != EXIT_SUCCESS)
			return rc;
		if (next == 0)
			return EXIT_SUCCESS;
		if (next <= start || page + 1 >= SS_MAX_PAGES) {
			list->incomplete = true; /* no progress: do not loop forever */
			return EXIT_SUCCESS;
		}
		start = next;
	}
}

static bool is_listener(const struct sock_entry *e)
{
	return strcmp(e->state, "LISTEN") == 0;
}

/*
 * Like ss: listeners only with -l, and by default no listeners, closed,
 * TIME-WAIT or SYN-RECV. A socket never bound is in none of the tables
 * Linux's ss reads, even with -a, and not here either (a program's spare
 * socket waiting for its next socket() is one).
 */
static bool ss_shown(const struct sock_entry *e, const struct cmd_options *opt)
{
	if (opt->all)
		return strcmp(e->state, "UNCONN") != 0 || e->lport != 0;
	if (opt->listening)
		return is_listener(e);
	return !is_listener(e) && strcmp(e->state, "UNCONN") != 0 &&
	       strcmp(e->state, "TIME-WAIT") != 0 && strcmp(e->state, "SYN-RECV") != 0;
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

int cmd_ss(struct cli *cli, const struct cmd_options *opt)
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

/*
 * ss -a: the TIME-WAIT table's entries after the sockets, as `ss -tan`
 * shows them among the others (they are no sockets in tapnet's core).
 */
static int append_timewait(struct cli *cli, struct sock_list *list)
{
	struct tw_table t;
	int rc;

	if ((rc = fetch_timewait(cli, &t)) != EXIT_SUCCESS)
		return rc;
	for (size_t i = 0; i < t.n; i++) {
		struct sock_entry *s = sock_list_add(list);
		if (!s) {
			free(t.v);
			return fail("out of memory");
		}
		list->n++;
		memset(s, 0, sizeof(*s));
		snprintf(s->state, sizeof(s->state), "TIME-WAIT");
		s->laddr = t.v[i].laddr;
		s->lport = t.v[i].lport;
		s->raddr = t.v[i].raddr;
		s->rport = t.v[i].rport;
	}
	list->tw_total = t.total;
	list->tw_listed = t.n;
	free(t.v);
	return EXIT_SUCCESS;
}
