/*
 * ladder.c - ladder diagrams of TCP connections for `tapnet trace`.
 *
 *       time  10.0.0.1:40512 (kernel)                    10.0.0.2:13 (tapnet)
 *   0.000000  |--- SYN seq 0 win 64240 ------------------------>|
 *   0.000031  |                                                  | LISTEN -> SYN-RECV
 *   0.000040  |<-- SYN,ACK seq 0 ack 1 win 65535 ----------------|
 *
 * Sequence numbers are relative to each side's SYN (or to the first
 * segment seen, for a connection already open), as tcpdump shows them.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "tools/ladder.h"

#include <stdlib.h>
#include <string.h>

#include "stack/stack.h"

#define ARROW_WIDTH 50  /* columns between the two sides' bars */
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IP_PROTO_TCP 6

struct conn {
	struct ladder_tuple t;
	bool used, base_kernel_ok, base_tapnet_ok;
	uint32_t base_kernel, base_tapnet; /* sequence numbers shown as 0 */
	uint64_t last_ns;                  /* for choosing which to forget */
	uint64_t tw_until_ns;              /* in TIME-WAIT until then (0: not) */
	uint64_t tw_said_ns;               /* the last countdown line */
};

struct ladder {
	FILE *out;
	bool json;
	const struct trace_filter *filter;
	uint64_t t0;
	bool started;
	struct conn *last; /* the connection of the previous line */
	struct conn conn[LADDER_CONNS];
};

static const char *const tw_event_text[LADDER_TW_EVENTS] = {
	[LADDER_TW_ENTER] = "TIME-WAIT entry",
	[LADDER_TW_FIN_REACKED] = "late FIN: ACKed again, timer restarted",
	[LADDER_TW_ACKED] = "segment in TIME-WAIT: answered with an ACK",
	[LADDER_TW_RECYCLED] = "new SYN: the 4-tuple is taken over (RFC 6191)",
	[LADDER_TW_SYN_REFUSED] = "old SYN: ACKed, the entry stays",
	[LADDER_TW_RST_KILLED] = "RST: the entry ends early",
	[LADDER_TW_RST_IGNORED] = "RST: ignored (rfc1337)",
	[LADDER_TW_EXPIRED] = "2*MSL over: CLOSED",
};
static const char *const tw_event_name[LADDER_TW_EVENTS] = {
	[LADDER_TW_ENTER] = "enter", [LADDER_TW_FIN_REACKED] = "fin_reacked",
	[LADDER_TW_ACKED] = "acked", [LADDER_TW_RECYCLED] = "recycled",
	[LADDER_TW_SYN_REFUSED] = "syn_refused", [LADDER_TW_RST_KILLED] = "rst_killed",
	[LADDER_TW_RST_IGNORED] = "rst_ignored", [LADDER_TW_EXPIRED] = "expired",
};

struct ladder *ladder_new(FILE *out, bool json, const struct trace_filter *f)
{
	struct ladder *l = calloc(1, sizeof(*l));

	if (l) {
		l->out = out;
		l->json = json;
		l->filter = f;
	}
	return l;
}

void ladder_free(struct ladder *l)
{
	free(l);
}

static bool same_tuple(const struct ladder_tuple *a, const struct ladder_tuple *b)
{
	return a->kernel_addr == b->kernel_addr && a->tapnet_addr == b->tapnet_addr &&
	       a->kernel_port == b->kernel_port && a->tapnet_port == b->tapnet_port;
}

/* The connection of t, made (in the slot used longest ago) if new. */
static struct conn *conn_of(struct ladder *l, const struct ladder_tuple *t, uint64_t ts)
{
	struct conn *oldest = &l->conn[0];

	for (size_t i = 0; i < LADDER_CONNS; i++) {
		struct conn *c = &l->conn[i];
		if (c->used && same_tuple(&c->t, t)) {
			c->last_ns = ts;
			return c;
		}
		if (!c->used || (oldest->used && c->last_ns < oldest->last_ns))
			oldest = c;
	}
	if (l->last == oldest)
		l->last = NULL;
	memset(oldest, 0, sizeof(*oldest));
	oldest->used = true;
	oldest->t = *t;
	oldest->last_ns = ts;
	return oldest;
}

static bool shown(const struct ladder *l, const struct ladder_tuple *t)
{
	return trace_filter_match(l->filter, t->kernel_addr, t->kernel_port, t->tapnet_addr,
				  t->tapnet_port);
}

static char *endpoint(char *buf, size_t n, uint32_t addr, uint16_t port)
{
	snprintf(buf, n, "%u.%u.%u.%u:%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		 addr & 0xff, port);
	return buf;
}

static double secs(struct ladder *l, uint64_t ts)
{
	if (!l->started) {
		l->started = true;
		l->t0 = ts;
	}
	return ts >= l->t0 ? (double)(ts - l->t0) / 1e9 : 0.0;
}

/* The column heads when the lines turn to another connection. */
static void heads(struct ladder *l, struct conn *c)
{
	char k[32], t[32];

	if (l->json || l->last == c)
		return;
	l->last = c;
	fprintf(l->out, "\n%10s  %-*s%s\n", "time", ARROW_WIDTH - 6,
		endpoint(k, sizeof(k), c->t.kernel_addr, c->t.kernel_port),
		endpoint(t, sizeof(t), c->t.tapnet_addr, c->t.tapnet_port));
	/* a peer on tapnet's own loopback (127.0.0.0/8, or its own address) is tapnet too */
	bool own = tn_ip4_is_loopback(c->t.kernel_addr) || c->t.kernel_addr == c->t.tapnet_addr;
	fprintf(l->out, "%10s  %-*s%s\n", "", ARROW_WIDTH - 6, own ? "(tapnet, loopback)" : "(kernel side)",
		"(tapnet)");
}

/* A line of text on tapnet's side of the ladder. */
static void note(struct ladder *l, double t, const char *text)
{
	fprintf(l->out, "%10.6f  |%*s| %s\n", t, ARROW_WIDTH, "", text);
}

static void flags_text(uint8_t fl, char *buf, size_t n)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} names[] = { { 0x02, "SYN" }, { 0x01, "FIN" }, { 0x04, "RST" }, { 0x08, "PSH" },
		      { 0x10, "ACK" }, { 0x20, "URG" }, { 0x40, "ECE" }, { 0x80, "CWR" } };
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((fl & names[i].bit) && used < n)
			used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? "," : "",
						 names[i].name);
	if (!used)
		snprintf(buf, n, "none");
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void ladder_segment(struct ladder *l, uint64_t ts_ns, bool from_tapnet, const uint8_t *f,
		    size_t len)
{
	if (len < ETH_HLEN + 20 || get16(f + 12) != ETH_P_IP || (f[ETH_HLEN] >> 4) != 4 ||
	    f[ETH_HLEN + 9] != IP_PROTO_TCP)
		return; /* ARP, ICMP, ...: not a TCP segment */
	size_t ihl = (size_t)(f[ETH_HLEN] & 0x0f) * 4, tcp = ETH_HLEN + ihl;
	if (ihl < 20 || tcp + 20 > len)
		return;
	size_t thl = (size_t)(f[tcp + 12] >> 4) * 4;
	size_t iplen = get16(f + ETH_HLEN + 2);
	if (thl < 20 || ETH_HLEN + iplen > len || iplen < ihl + thl)
		return;
	uint32_t src = get32(f + ETH_HLEN + 12), dst = get32(f + ETH_HLEN + 16);
	uint16_t sport = get16(f + tcp), dport = get16(f + tcp + 2);
	struct ladder_tuple t = from_tapnet
		? (struct ladder_tuple){ dst, src, dport, sport }
		: (struct ladder_tuple){ src, dst, sport, dport };
	if (!shown(l, &t))
		return;
	struct conn *c = conn_of(l, &t, ts_ns);
	uint32_t seq = get32(f + tcp + 4), ack = get32(f + tcp + 8);
	uint8_t fl = f[tcp + 13];
	uint16_t win = get16(f + tcp + 14);
	size_t payload = iplen - ihl - thl;
	/* sequence bases: each side's SYN, or the first segment seen */
	uint32_t *base_own = from_tapnet ? &c->base_tapnet : &c->base_kernel;
	bool *own_ok = from_tapnet ? &c->base_tapnet_ok : &c->base_kernel_ok;
	if (!*own_ok || (fl & 0x02)) {
		*base_own = seq;
		*own_ok = true;
	}
	uint32_t *base_peer = from_tapnet ? &c->base_kernel : &c->base_tapnet;
	bool *peer_ok = from_tapnet ? &c->base_kernel_ok : &c->base_tapnet_ok;
	if (!*peer_ok && (fl & 0x10)) {
		*base_peer = ack;
		*peer_ok = true;
	}
	char fls[40], label[160];
	flags_text(fl, fls, sizeof(fls));
	double s = secs(l, ts_ns);
	if (l->json) {
		char k[32], tp[32];
		fprintf(l->out,
			"{\"t\":%.6f,\"type\":\"segment\",\"dir\":\"%s\",\"kernel\":\"%s\",\"tapnet\":\"%s\","
			"\"flags\":\"%s\",\"seq\":%u,\"ack\":%u,\"len\":%zu,\"win\":%u}\n",
			s, from_tapnet ? "from_tapnet" : "to_tapnet",
			endpoint(k, sizeof(k), t.kernel_addr, t.kernel_port),
			endpoint(tp, sizeof(tp), t.tapnet_addr, t.tapnet_port), fls, seq - *base_own,
			(fl & 0x10) ? ack - *base_peer : 0, payload, win);
		return;
	}
	heads(l, c);
	int n = snprintf(label, sizeof(label), " %s seq %u", fls, seq - *base_own);
	if (fl & 0x10)
		n += snprintf(label + n, sizeof(label) - (size_t)n, " ack %u", ack - *base_peer);
	if (payload)
		n += snprintf(label + n, sizeof(label) - (size_t)n, " len %zu", payload);
	snprintf(label + n, sizeof(label) - (size_t)n, " win %u ", win);
	/* |--- label ------->|   or   |<-- label --------| */
	char arrow[ARROW_WIDTH + 64];
	size_t lab = strlen(label), width = lab + 6 > ARROW_WIDTH ? lab + 6 : ARROW_WIDTH;
	memset(arrow, '-', width);
	arrow[width] = '\0';
	if (from_tapnet) {
		arrow[0] = '<';
		memcpy(arrow + 3, label, lab);
	} else {
		arrow[width - 1] = '>';
		memcpy(arrow + 3, label, lab);
	}
	fprintf(l->out, "%10.6f  |%s|\n", s, arrow);
}

void ladder_state(struct ladder *l, uint64_t ts_ns, const struct ladder_tuple *t, int from, int to)
{
	if (!shown(l, t))
		return;
	struct conn *c = conn_of(l, t, ts_ns);
	const char *a = tn_tcp_state_name((enum tn_tcp_state)from);
	const char *b = tn_tcp_state_name((enum tn_tcp_state)to);
	double s = secs(l, ts_ns);
	if (l->json) {
		char k[32], tp[32];
		fprintf(l->out,
			"{\"t\":%.6f,\"type\":\"state\",\"kernel\":\"%s\",\"tapnet\":\"%s\",\"from\":\"%s\","
			"\"to\":\"%s\"}\n",
			s, endpoint(k, sizeof(k), t->kernel_addr, t->kernel_port),
			endpoint(tp, sizeof(tp), t->tapnet_addr, t->tapnet_port), a, b);
		return;
	}
	heads(l, c);
	char text[64];
	snprintf(text, sizeof(text), "%s -> %s", a, b);
	note(l, s, text);
}

void ladder_timewait(struct ladder *l, uint64_t ts_ns, const struct ladder_tuple *t,
		     enum ladder_tw_event ev, uint32_t remaining_ms)
{
	if (!shown(l, t) || (unsigned)ev >= LADDER_TW_EVENTS)
		return;
	struct conn *c = conn_of(l, t, ts_ns);
	double s = secs(l, ts_ns);
	bool over = ev == LADDER_TW_EXPIRED || ev == LADDER_TW_RST_KILLED || ev == LADDER_TW_RECYCLED;
	c->tw_until_ns = over ? 0 : ts_ns + (uint64_t)remaining_ms * 1000000u;
	c->tw_said_ns = ts_ns;
	if (l->json) {
		char k[32], tp[32];
		fprintf(l->out,
			"{\"t\":%.6f,\"type\":\"timewait\",\"kernel\":\"%s\",\"tapnet\":\"%s\","
			"\"event\":\"%s\",\"remaining_ms\":%u}\n",
			s, endpoint(k, sizeof(k), t->kernel_addr, t->kernel_port),
			endpoint(tp, sizeof(tp), t->tapnet_addr, t->tapnet_port), tw_event_name[ev],
			over ? 0 : remaining_ms);
		return;
	}
	heads(l, c);
	char text[128];
	if (over)
		snprintf(text, sizeof(text), "%s", tw_event_text[ev]);
	else
		snprintf(text, sizeof(text), "%s (%u.%u s left)", tw_event_text[ev], remaining_ms / 1000,
			 remaining_ms % 1000 / 100);
	note(l, s, text);
}

void ladder_lost(struct ladder *l, uint64_t ts_ns, uint64_t n)
{
	double s = secs(l, ts_ns);

	if (l->json)
		fprintf(l->out, "{\"t\":%.6f,\"type\":\"lost\",\"events\":%llu}\n", s,
			(unsigned long long)n);
	else
		fprintf(l->out, "%10.6f  ... %llu events lost: this reader was too slow ...\n", s,
			(unsigned long long)n);
}

void ladder_tick(struct ladder *l, uint64_t ts_ns, unsigned countdown_s)
{
	uint64_t every = (uint64_t)countdown_s * 1000000000u;

	for (size_t i = 0; i < LADDER_CONNS; i++) {
		struct conn *c = &l->conn[i];
		if (!c->used || !c->tw_until_ns || ts_ns < c->tw_said_ns + every)
			continue;
		if (ts_ns >= c->tw_until_ns) {
			c->tw_until_ns = 0; /* the daemon says when it really goes */
			continue;
		}
		uint64_t left = (c->tw_until_ns - ts_ns) / 1000000u;
		c->tw_said_ns = ts_ns;
		if (l->json) {
			char k[32], tp[32];
			fprintf(l->out,
				"{\"t\":%.6f,\"type\":\"timewait\",\"kernel\":\"%s\",\"tapnet\":\"%s\","
				"\"event\":\"countdown\",\"remaining_ms\":%llu}\n",
				secs(l, ts_ns),
				endpoint(k, sizeof(k), c->t.kernel_addr, c->t.kernel_port),
				endpoint(tp, sizeof(tp), c->t.tapnet_addr, c->t.tapnet_port),
				(unsigned long long)left);
			continue;
		}
		heads(l, c);
		char text[64];
		snprintf(text, sizeof(text), "TIME-WAIT: %llu s left", (unsigned long long)(left + 500) / 1000);
		note(l, secs(l, ts_ns), text);
	}
}
