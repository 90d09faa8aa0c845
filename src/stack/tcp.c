/*
 * tcp.c - the TCP connection table and connection lifecycle.
 *
 * Connections are found by a keyed SipHash of the 4-tuple (hash.c) (the key comes from
 * the injected RNG, so peers cannot aim for collisions) in the connection
 * hash, which also holds the TIME_WAIT entries (tcp_timewait.c); listeners
 * and bound sockets by local port. ISNs follow RFC 6528, ephemeral ports RFC
 * 6056 (algorithm 4, "double-hash") skipping 4-tuples in TIME_WAIT. A
 * connection entering TIME_WAIT gives up its socket and buffers and leaves a
 * compact entry behind (tcp_enter_time_wait). Events for the socket owner are queued and
 * delivered when the outermost core entry point returns, so a callback never
 * runs in the middle of segment processing; sockets that end are freed at
 * the same moment.
 */
#include "tcp.h"

#include <errno.h>
#include <stdlib.h>

#define TCP_INIT_BUCKETS 1024
#define TCP_MAX_BUCKETS (1u << 22)
#define TCP_BOUND_BUCKETS 1024

/* ---- init / free */

/* max_orphans reached: the oldest orphan is reset (Linux counts its orphan resets so). */
static void orphan_evicted(struct tn_stack *stack, const struct tn_tw_entry *e)
{
	if (TN_TRACING(stack))
		tn_trace_state(stack, &e->hn, TN_TCP_FIN_WAIT_2, TN_TCP_CLOSED);
	TN_COUNT(stack, TcpExtTCPAbortOnMemory);
	tn_tw_send(stack, e, TCP_RST | TCP_ACK);
}

static enum tn_tw_overflow tw_overflow_of(const struct tn_config *c)
{
	return c->tcp_tw_overflow == TN_TCP_TW_EVICT_OLDEST ? TN_TW_OVERFLOW_EVICT_OLDEST
							     : TN_TW_OVERFLOW_DROP;
}

void tn_tcp_reconfigure(struct tn_stack *stack, struct tn_config *next)
{
	struct tn_tcp *tcp = tcp_of(stack);

	next->tcp_tw_max_buckets = tn_tw_reconfigure(stack, &tcp->tw, next->tcp_tw_max_buckets,
						     next->tcp_time_wait_ms, tw_overflow_of(next));
	next->tcp_max_orphans = tn_tw_reconfigure(stack, &tcp->fw2, next->tcp_max_orphans,
						  next->tcp_fin_timeout_ms, TN_TW_OVERFLOW_EVICT_OLDEST);
}

int tn_tcp_init(struct tn_stack *stack)
{
	const struct tn_config *c = &stack->cfg;
	struct tn_tcp *tcp = calloc(1, sizeof(*tcp));
	if (!tcp)
		return -1;
	/*
	 * One hash for live connections and TIME_WAIT entries. It starts small
	 * (a stack is cheap to create) and doubles while it holds more nodes
	 * than buckets: amortized O(1), and a full table never shrinks it.
	 */
	if (tn_ehash_init(&tcp->ehash, TCP_INIT_BUCKETS, TCP_MAX_BUCKETS) < 0) {
		free(tcp);
		return -1;
	}
	struct tn_tw_config twc = {
		.max_entries = c->tcp_tw_max_buckets,
		.lifetime_ms = c->tcp_time_wait_ms,
		.overflow = tw_overflow_of(c),
		.ehash = &tcp->ehash,
	};
	struct tn_tw_config fw2c = {
		.max_entries = c->tcp_max_orphans,
		.lifetime_ms = c->tcp_fin_timeout_ms,
		.overflow = TN_TW_OVERFLOW_EVICT_OLDEST,
		.ehash = &tcp->ehash,
		.evict = orphan_evicted,
	};
	tcp->nbound_buckets = TCP_BOUND_BUCKETS;
	tcp->bound = calloc(tcp->nbound_buckets, sizeof(*tcp->bound));
	if (!tcp->bound || tn_tw_init(stack, &tcp->tw, &twc) < 0 ||
	    tn_tw_init(stack, &tcp->fw2, &fw2c) < 0) {
		tn_tw_free(stack, &tcp->tw);
		free(tcp->bound);
		tn_ehash_free(&tcp->ehash);
		free(tcp);
		return -1;
	}
	tn_random(stack, tcp->isn_key, sizeof(tcp->isn_key));
	tn_random(stack, tcp->port_key, sizeof(tcp->port_key));
	tn_random(stack, tcp->port_table, sizeof(tcp->port_table));
	tn_random(stack, tcp->ts_key, sizeof(tcp->ts_key));
	tn_random(stack, tcp->cookie_key, sizeof(tcp->cookie_key));
	tcp->clock_base_ns = tn_now(stack);
	stack->tcp = tcp;
	return 0;
}

/*
 * Only rings of a starting size wait in the pool for the next connection: a
 * ring that grew with its path would wait for one of its own size, which
 * never comes, and hold megabytes nobody is charged for.
 */
static void ring_release(struct tn_sock *s, struct tn_ring *r)
{
	const struct tn_config *c = &s->stack->cfg;
	if (r->size == c->tcp_rcvbuf || r->size == c->tcp_sndbuf)
		tn_ring_free_pooled(&tcp_of(s->stack)->ring_pool, r);
	else
		tn_ring_free(r);
}

static void sock_free(struct tn_sock *s)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (s->ack_listed)
		TN_LIST_REMOVE(tcp->ack_head, s, ack_prev, ack_next);
	if (s->charged && tcp->charge)
		tcp->charge(tcp->charge_ctx, s->mem_owner, -(int64_t)s->charged);
	ring_release(s, &s->sndbuf);
	ring_release(s, &s->rcvbuf);
	free(s->ofo);
	free(s->sb);
	free(s->rxt);
	free(s->txlog);
	free(s->kept);
	while (s->listen && s->listen->req_head)
		tcp_req_free(s->listen->req_head);
	free(s->listen);
	free(s);
}

void tn_tcp_free(struct tn_stack *stack)
{
	struct tn_tcp *tcp = stack->tcp;
	if (!tcp)
		return;
	/*
	 * The timer heap is freed by the stack; only our memory goes here. The
	 * TIME_WAIT entries leave the shared hash first, while the sockets
	 * chained next to them still exist.
	 */
	tn_tw_free(stack, &tcp->tw);
	tn_tw_free(stack, &tcp->fw2);
	for (struct tn_sock *s = tcp->all, *next; s; s = next) {
		next = s->all_next;
		tcp_timers_stop(s);
		sock_free(s);
	}
	for (struct tn_sock *s = tcp->dead, *next; s; s = next) {
		next = s->all_next;
		sock_free(s);
	}
	tn_ring_pool_drain(&tcp->ring_pool);
	tn_ehash_free(&tcp->ehash);
	free(tcp->bound);
	free(tcp);
	stack->tcp = NULL;
}

const char *tn_tcp_config_check(const struct tn_config *cfg)
{
	if (cfg->tcp_rcvbuf_min < 4096 || cfg->tcp_rcvbuf_min > cfg->tcp_rcvbuf ||
	    cfg->tcp_rcvbuf > cfg->tcp_rcvbuf_max || cfg->tcp_rcvbuf_max > (64u << 20) ||
	    cfg->tcp_sndbuf_min < 4096 || cfg->tcp_sndbuf_min > cfg->tcp_sndbuf ||
	    cfg->tcp_sndbuf > cfg->tcp_sndbuf_max || cfg->tcp_sndbuf_max > (64u << 20))
		return "tcp buffer sizes must satisfy 4 KiB <= min <= default <= max <= 64 MiB";
	if (cfg->tcp_rto_min_ms < 1 || cfg->tcp_rto_min_ms > cfg->tcp_rto_initial_ms ||
	    cfg->tcp_rto_initial_ms > cfg->tcp_rto_max_ms || cfg->tcp_rto_max_ms > 3600000)
		return "tcp rto must satisfy 1 <= min <= initial <= max <= 3600000 ms";
	if (cfg->tcp_syn_retries < 1 || cfg->tcp_syn_retries > 127 || cfg->tcp_synack_retries > 127 ||
	    cfg->tcp_retries < 1 || cfg->tcp_retries > 255)
		return "tcp retry counts out of range";
	if (cfg->tcp_delack_ms < 1 || cfg->tcp_delack_ms > 1000)
		return "tcp delayed ack must be 1..1000 ms";
	if (cfg->tcp_port_min < 1024 || cfg->tcp_port_min > cfg->tcp_port_max)
		return "tcp port range must be 1024 <= min <= max";
	if (cfg->tcp_keepalive_time_s < 1 || cfg->tcp_keepalive_intvl_s < 1 ||
	    cfg->tcp_keepalive_probes < 1 || cfg->tcp_keepalive_probes > 127)
		return "tcp keepalive values out of range";
	if (cfg->tcp_max_syn_backlog < 1 || cfg->tcp_somaxconn < 1 || cfg->tcp_max_conns < 1)
		return "tcp queue limits must be positive";
	if (cfg->tcp_congestion > TN_TCP_CC_NEWRENO)
		return "unknown tcp congestion control";
	if (cfg->tcp_time_wait_ms < 1 || cfg->tcp_time_wait_ms > 3600000)
		return "tcp time_wait must be 1..3600000 ms";
	if (cfg->tcp_fin_timeout_ms < 1 || cfg->tcp_fin_timeout_ms > 3600000)
		return "tcp fin_timeout must be 1..3600000 ms";
	if (cfg->tcp_tw_max_buckets > TN_TW_MAX_ENTRIES)
		return "tcp tw_max_buckets must be 0..16777216";
	if (cfg->tcp_tw_overflow > TN_TCP_TW_EVICT_OLDEST)
		return "tcp tw_overflow must be drop or evict_oldest";
	if (cfg->tcp_tw_reuse > 1)
		return "tcp tw_reuse must be 0 or 1";
	if (cfg->tcp_invalid_ratelimit_ms > 60000)
		return "tcp invalid_ratelimit must be 0..60000 ms";
	if (cfg->tcp_syncookies > TN_TCP_SYNCOOKIES_ALWAYS)
		return "tcp syncookies must be no, yes or always";
	if (cfg->tcp_max_orphans > TN_TW_MAX_ENTRIES)
		return "tcp max_orphans must be 0..16777216";
	return NULL;
}

/* ---- connection hash (shared with the TIME_WAIT entries, see stack_internal.h) */
struct tn_sock *tcp_lookup(struct tn_stack *stack, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
			   uint16_t rport)
{
	struct tn_hnode *n = tn_ehash_lookup(stack, &tcp_of(stack)->ehash, laddr, lport, raddr, rport);
	return n && n->kind == TN_HNODE_SOCK ? tcp_sock_of_node(n) : NULL;
}

/* Fails when a live connection or a TIME_WAIT entry holds the 4-tuple. */
int tcp_hash(struct tn_sock *s)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (tn_ehash_lookup(s->stack, &tcp->ehash, s->laddr, s->lport, s->raddr, s->rport))
		return -EADDRINUSE;
	s->hn.laddr = s->laddr;
	s->hn.lport = s->lport;
	s->hn.raddr = s->raddr;
	s->hn.rport = s->rport;
	s->hn.kind = TN_HNODE_SOCK;
	tn_ehash_insert(s->stack, &tcp->ehash, &s->hn);
	s->hashed = true;
	return 0;
}

void tcp_unhash(struct tn_sock *s)
{
	if (!s->hashed)
		return;
	tn_ehash_remove(s->stack, &tcp_of(s->stack)->ehash, &s->hn);
	s->hashed = false;
}

/* ---- bound ports (listeners and explicitly bound sockets) */
static struct tn_sock **bound_bucket(struct tn_stack *stack, uint16_t port)
{
	struct tn_tcp *tcp = tcp_of(stack);
	return &tcp->bound[port & (tcp->nbound_buckets - 1)];
}

/*
 * Listeners have a chain of their own: every SYN looks here, and the
 * bound-port chains, which sockets bound with SO_REUSEADDR can make long,
 * are not walked for it.
 */
static struct tn_sock **listen_bucket(struct tn_stack *stack, uint16_t port)
{
	return &tcp_of(stack)->listeners[port % TCP_LISTEN_BUCKETS];
}

void tcp_listen_hash(struct tn_sock *s)
{
	struct tn_sock **b = listen_bucket(s->stack, s->lport);
	TN_LIST_INSERT_HEAD(*b, s, lprev, lnext);
	s->listed = true;
}

static void listen_unhash(struct tn_sock *s)
{
	if (!s->listed)
		return;
	struct tn_sock **b = listen_bucket(s->stack, s->lport);
	TN_LIST_REMOVE(*b, s, lprev, lnext);
	s->listed = false;
}

/*
 * The listener for a connection from raddr:rport to laddr:lport: one bound
 * to laddr itself before a wildcard one, as Linux prefers. Listeners that
 * share the port with SO_REUSEPORT (one owner's: see port_taken) split
 * the connections between them by the 4-tuple's keyed hash, as Linux's
 * reuseport_select_sock does, so that a server's processes each get a
 * share, and every segment of one handshake (a SYN cookie's ACK too) finds
 * the same listener for as long as the group stays the same.
 */
static bool listens_on(const struct tn_sock *s, tn_ip4 laddr, uint16_t lport)
{
	return s->lport == lport && s->state == TN_TCP_LISTEN && s->laddr == laddr;
}

struct tn_sock *tcp_lookup_listener(struct tn_stack *stack, tn_ip4 laddr, uint16_t lport,
				    tn_ip4 raddr, uint16_t rport)
{
	struct tn_sock *first = NULL;
	unsigned sharing = 0;
	tn_ip4 at = laddr;

	for (int pass = 0; pass < 2 && !first; pass++, at = 0) {
		for (struct tn_sock *s = *listen_bucket(stack, lport); s; s = s->lnext) {
			if (!listens_on(s, at, lport))
				continue;
			if (!first)
				first = s;
			sharing += s->reuseport;
		}
	}
	if (!first || !first->reuseport || sharing < 2)
		return first;
	/* the hash scaled to the group (Linux's reciprocal_scale) */
	unsigned pick = (unsigned)(((uint64_t)tn_tuple_hash(stack, first->laddr, lport, raddr, rport) *
				    sharing) >> 32);
	for (struct tn_sock *s = first; s; s = s->lnext)
		if (listens_on(s, first->laddr, lport) && s->reuseport && pick-- == 0)
			return s;
	return first; /* not reached: the group counted above */
}

/*
 * As Linux's inet_bind_conflict(): o, on the port at an address that
 * overlaps s's (equal, or either a wildcard), stands in s's way unless
 * both set SO_REUSEADDR and o does not listen, or both set SO_REUSEPORT
 * and have the same owner (Linux: the same uid).
 */
static bool port_taken(struct tn_stack *stack, const struct tn_sock *s, uint16_t port)
{
	for (struct tn_sock *o = *bound_bucket(stack, port); o; o = o->bnext) {
		if (o == s || o->lport != port)
			continue;
		if (o->laddr && s->laddr && o->laddr != s->laddr)
			continue;
		if (s->reuseaddr && o->reuseaddr && o->state != TN_TCP_LISTEN)
			continue;
		if (s->reuseport && o->reuseport && s->reuse_owner == o->reuse_owner)
			continue;
		return true;
	}
	return false;
}

/*
 * listen() checks again, as Linux's inet_csk_listen_start() does: two
 * sockets with SO_REUSEADDR may share a port while bound, but only one of
 * them may listen; else a socket bound to a specific address would take a
 * wildcard listener's connections (tcp_lookup_listener prefers it).
 */
int tcp_listen_conflict(const struct tn_sock *s)
{
	return port_taken(s->stack, s, s->lport) ? -EADDRINUSE : 0;
}

/*
 * bind(): a port is taken by a bound socket (above) or by TIME_WAIT entries
 * (CONFORMANCE 19, as Linux: unless this socket and the connections that
 * left them all had SO_REUSEADDR). All entries have our one local address,
 * so a port count says it all.
 */
static bool bind_conflict(struct tn_stack *stack, const struct tn_sock *s, uint16_t port)
{
	struct tn_tcp *tcp = tcp_of(stack);
	return port_taken(stack, s, port) || tn_tw_bind_conflict(&tcp->tw, port, s->reuseaddr) ||
	       tn_tw_bind_conflict(&tcp->fw2, port, s->reuseaddr);
}

int tcp_bind_port(struct tn_sock *s, uint16_t port)
{
	struct tn_stack *stack = s->stack;
	if (port == 0) {
		const struct tn_config *c = &stack->cfg;
		uint32_t n = (uint32_t)c->tcp_port_max - c->tcp_port_min + 1, start;
		tn_random(stack, &start, sizeof(start));
		for (uint32_t i = 0; i < n; i++) {
			uint16_t p = (uint16_t)(c->tcp_port_min + (start + i) % n);
			/* Like Linux's bind(0): no port where TIME_WAIT lingers, even with SO_REUSEADDR. */
			if (!port_taken(stack, s, p) && !tn_tw_port_refs(&tcp_of(stack)->tw, p) &&
			    !tn_tw_port_refs(&tcp_of(stack)->fw2, p)) {
				port = p;
				break;
			}
		}
		if (!port)
			return -EADDRINUSE;
	} else if (bind_conflict(stack, s, port)) {
		return -EADDRINUSE;
	}
	s->lport = port;
	struct tn_sock **b = bound_bucket(stack, port);
	TN_LIST_INSERT_HEAD(*b, s, bprev, bnext);
	s->bound = true;
	return 0;
}

void tcp_unbind(struct tn_sock *s)
{
	if (!s->bound)
		return;
	struct tn_sock **b = bound_bucket(s->stack, s->lport);
	TN_LIST_REMOVE(*b, s, bprev, bnext);
	s->bound = false;
}

/*
 * Is s's 4-tuple (with local port lport) free for a new connection? A live
 * connection holds it for good; a TIME_WAIT entry unless tw_reuse lets the
 * new connection take it over (Linux __inet_check_established with
 * tcp_twsk_unique): then the entry goes and *isn gets the ISN to start at.
 */
static bool tuple_free(struct tn_sock *s, uint16_t lport, uint32_t *isn)
{
	struct tn_stack *stack = s->stack;
	struct tn_tcp *tcp = tcp_of(stack);
	struct tn_hnode *n = tn_ehash_lookup(stack, &tcp->ehash, s->laddr, lport, s->raddr, s->rport);
	*isn = 0;
	if (!n)
		return true;
	if (n->kind != TN_HNODE_TW || (tn_tw_of_node(n)->flags & TN_TW_FIN_WAIT2) ||
	    !stack->cfg.tcp_tw_reuse ||
	    !tn_tw_reusable(stack, &tcp->tw, tn_tw_of_node(n), TCP_TW_REUSE_DELAY_MS))
		return false;
	struct tn_tw_entry *e = tn_tw_of_node(n);
	*isn = tn_tw_reuse_isn(e);
	s->ts_recent = e->ts_recent; /* PAWS against the old incarnation from the start */
	tn_tw_remove(stack, &tcp->tw, e, TN_TW_RECYCLED);
	return true;
}

int tcp_check_established(struct tn_sock *s, uint32_t *isn)
{
	return tuple_free(s, s->lport, isn) ? 0 : -EADDRNOTAVAIL;
}

/*
 * RFC 6056 3.3.4 (algorithm 4): offset from a keyed hash of the
 * destination, plus a per-bucket counter so consecutive connections to the
 * same peer walk the range instead of colliding. 4-tuples still in
 * TIME_WAIT are skipped (CONFORMANCE 18) unless tw_reuse allows them.
 */
int tcp_pick_port(struct tn_sock *s, uint32_t *isn)
{
	struct tn_stack *stack = s->stack;
	struct tn_tcp *tcp = tcp_of(stack);
	const struct tn_config *c = &stack->cfg;
	uint8_t t[10];
	tn_put32(t, s->laddr);
	tn_put32(t + 4, s->raddr);
	tn_put16(t + 8, s->rport);
	uint32_t offset = (uint32_t)tn_siphash(tcp->isn_key, t, sizeof(t));
	uint32_t idx = (uint32_t)tn_siphash(tcp->port_key, t, sizeof(t)) % TN_ARRAY_SIZE(tcp->port_table);
	uint32_t n = (uint32_t)c->tcp_port_max - c->tcp_port_min + 1;

	for (uint32_t i = 0; i < n; i++) {
		uint16_t port = (uint16_t)(c->tcp_port_min + (offset + tcp->port_table[idx] + i) % n);
		if (port_taken(stack, s, port) || !tuple_free(s, port, isn))
			continue;
		tcp->port_table[idx] += (uint16_t)(i + 1);
		s->lport = port;
		return 0;
	}
	return -EADDRNOTAVAIL;
}

/* RFC 6528: ISN = M + F(4-tuple, secret), M a 4 microsecond clock. */
uint32_t tcp_new_isn(struct tn_stack *stack, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
		     uint16_t rport)
{
	uint32_t f = (uint32_t)tn_tuple_siphash(tcp_of(stack)->isn_key, laddr, lport, raddr, rport);
	return f + (uint32_t)(tn_now(stack) / 4000);
}

/* Timestamp clock: milliseconds (RFC 7323 5.4), offset so it leaks no uptime. */
uint32_t tcp_ts_clock_at(const struct tn_stack *stack, uint32_t offset, uint64_t ns)
{
	uint64_t base = tcp_of(stack)->clock_base_ns;
	uint64_t ms = (ns > base ? ns - base : 0) / TN_NSEC_PER_MSEC;
	return (uint32_t)ms + offset;
}

uint32_t tcp_ts_clock(const struct tn_stack *stack, uint32_t offset)
{
	return tcp_ts_clock_at(stack, offset, tn_now(stack));
}

uint32_t tcp_ts_now(const struct tn_sock *s)
{
	return tcp_ts_clock(s->stack, s->ts_offset);
}

/*
 * The offset is a keyed hash of the address pair (Linux's secure_tcp_ts_off),
 * not random per connection: every incarnation of a 4-tuple then runs on one
 * clock, so a new one's TSvals are newer than the old one's (RFC 6191, and
 * PAWS for tw_reuse).
 */
uint32_t tcp_ts_offset(struct tn_stack *stack, tn_ip4 laddr, tn_ip4 raddr)
{
	uint8_t t[8];
	tn_put32(t, laddr);
	tn_put32(t + 4, raddr);
	return (uint32_t)tn_siphash(tcp_of(stack)->ts_key, t, sizeof(t));
}

/* ---- sockets */
struct tn_sock *tcp_sock_new(struct tn_stack *stack)
{
	struct tn_tcp *tcp = tcp_of(stack);
	if (tcp->nsocks >= stack->cfg.tcp_max_conns)
		return NULL;
	struct tn_sock *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	const struct tn_config *c = &stack->cfg;
	s->stack = stack;
	s->state = TN_TCP_CLOSED;
	s->rcvbuf_size = c->tcp_rcvbuf;
	s->sndbuf_size = c->tcp_sndbuf;
	s->rcvbuf_max = c->tcp_rcvbuf_max;
	s->sndbuf_max = c->tcp_sndbuf_max;
	s->ka_idle_s = c->tcp_keepalive_time_s;
	s->ka_intvl_s = c->tcp_keepalive_intvl_s;
	s->ka_probes = c->tcp_keepalive_probes;
	s->rto_us = c->tcp_rto_initial_ms * 1000;
	s->mss = TCP_DEFAULT_MSS;
	s->rcv_mss = TCP_DEFAULT_MSS;
	s->ssthresh = UINT32_MAX;
	s->cc = tcp_cc_get(c->tcp_congestion);
	tcp_timers_init(s);
	TN_LIST_INSERT_HEAD(tcp->all, s, all_prev, all_next);
	tcp->nsocks++;
	return s;
}

int tcp_alloc_buffers(struct tn_sock *s)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (!s->charged && !s->rcvbuf.data && !s->sndbuf.data && tcp->charge) {
		uint64_t bytes = (uint64_t)s->rcvbuf_size + s->sndbuf_size;
		if (!tcp->charge(tcp->charge_ctx, s->mem_owner, (int64_t)bytes))
			return -ENOBUFS;
		s->charged = bytes; /* given back by sock_free, whatever happens below */
	}
	if (!s->rcvbuf.data && tn_ring_init_pooled(&tcp->ring_pool, &s->rcvbuf, s->rcvbuf_size) < 0)
		return -ENOMEM;
	if (!s->sndbuf.data && tn_ring_init_pooled(&tcp->ring_pool, &s->sndbuf, s->sndbuf_size) < 0)
		return -ENOMEM;
	return 0;
}

void tn_stack_set_charge(struct tn_stack *stack, tn_charge_fn fn, void *ctx)
{
	struct tn_tcp *tcp = tcp_of(stack);
	tcp->charge = fn;
	tcp->charge_ctx = ctx;
}

void tn_sock_set_owner(struct tn_sock *s, void *owner)
{
	s->mem_owner = owner;
}

/*
 * Smallest scale that lets the whole receive buffer be advertised (RFC 7323
 * 2.2); callers pass the size it may grow to, as the scale is fixed at the SYN.
 */
uint8_t tcp_wscale_for(uint32_t rcvbuf_size)
{
	uint8_t ws = 0;
	while (ws < TCP_MAX_WSCALE && (rcvbuf_size >> ws) > 65535)
		ws++;
	return ws;
}

void tcp_init_rcv_wscale(struct tn_sock *s)
{
	s->rcv_wscale = tcp_wscale_for(s->rcvbuf_max);
}

static bool state_is_estab(uint8_t st)
{
	return st == TN_TCP_ESTABLISHED || st == TN_TCP_CLOSE_WAIT;
}

/* For tracing: a socket's 4-tuple as a hash node, whether it is hashed or not. */
static struct tn_hnode sock_tuple(const struct tn_sock *s)
{
	return (struct tn_hnode){.laddr = s->laddr, .lport = s->lport, .raddr = s->raddr,
				 .rport = s->rport};
}

void tcp_set_state(struct tn_sock *s, enum tn_tcp_state st)
{
	if (TN_TRACING(s->stack) && st != s->state && !s->to_entry) {
		struct tn_hnode t = sock_tuple(s);
		tn_trace_state(s->stack, &t, s->state, st);
	}
	if (state_is_estab(s->state) && !state_is_estab(st))
		s->stack->counters[TN_CTR_TcpCurrEstab]--;
	if (!state_is_estab(s->state) && state_is_estab(st))
		TCP_CTR(s, TcpCurrEstab);
	if (st == TN_TCP_ESTABLISHED)
		s->was_established = true;
	s->state = st;
}

void tcp_notify(struct tn_sock *s, unsigned events)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (s->orphan || s->dead)
		return;
	s->events |= events;
	if (s->ev_queued || !s->events)
		return;
	s->ev_queued = true;
	s->ev_next = NULL;
	if (tcp->ev_tail)
		tcp->ev_tail->ev_next = s;
	else
		tcp->ev_head = s;
	tcp->ev_tail = s;
}

static void orphan_unlink(struct tn_sock *s)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (!s->in_orphans)
		return;
	TN_FIFO_REMOVE(tcp->orph_head, tcp->orph_tail, s, orph_prev, orph_next);
	s->in_orphans = false;
	tcp->norphans--;
}

/*
 * Linux's tcp_max_orphans: orphans (sockets still closing, and compact
 * FIN_WAIT_2 entries) at most max_orphans; beyond, the oldest is reset,
 * first those that hold a socket and its buffers.
 */
void tcp_orphan_add(struct tn_sock *s)
{
	struct tn_stack *stack = s->stack;
	struct tn_tcp *tcp = tcp_of(stack);
	s->in_orphans = true;
	TN_FIFO_APPEND(tcp->orph_head, tcp->orph_tail, s, orph_prev, orph_next);
	tcp->norphans++;
	while (tcp->norphans + tcp->fw2.count > stack->cfg.tcp_max_orphans) {
		if (tcp->fw2.count && !tcp->orph_head->orph_next && tcp->orph_head == s) {
			/* only the newcomer holds a socket: the oldest compact entry goes */
			struct tn_tw_entry *e = &tcp->fw2.entries[tcp->fw2.fifo_head];
			orphan_evicted(stack, e);
			tn_tw_remove(stack, &tcp->fw2, e, TN_TW_MOVED);
			continue;
		}
		struct tn_sock *victim = tcp->orph_head;
		TN_COUNT(stack, TcpExtTCPAbortOnMemory);
		tcp_send_rst(victim);
		tcp_done(victim, 0); /* an orphan: released, and unlinked from here */
	}
}

void tcp_release(struct tn_sock *s)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (s->dead)
		return;
	orphan_unlink(s);
	listen_unhash(s);
	tcp_timers_stop(s);
	tcp_unhash(s);
	tcp_unbind(s);
	s->dead = true;
	TN_LIST_REMOVE(tcp->all, s, all_prev, all_next);
	tcp->nsocks--;
	s->all_next = tcp->dead; /* the dead list is singly linked */
	tcp->dead = s;
}

void tcp_done(struct tn_sock *s, int err)
{
	if (s->state == TN_TCP_SYN_SENT && err)
		TCP_CTR(s, TcpAttemptFails);
	if (s->parent)
		tcp_child_unlink(s);
	tcp_set_state(s, TN_TCP_CLOSED);
	tcp_timers_stop(s);
	tcp_unhash(s);
	if (err == -ETIMEDOUT && s->soft_err)
		err = s->soft_err;
	if (err && !s->err)
		s->err = err;
	if (s->orphan) {
		tcp_release(s);
		return;
	}
	tcp_notify(s, (err ? TN_SOCK_EV_ERROR : 0) | TN_SOCK_EV_CLOSED | TN_SOCK_EV_READABLE |
			      TN_SOCK_EV_WRITABLE);
}

/*
 * The compact entry that stands for s from now on (TIME_WAIT, or an
 * orphan's FIN_WAIT_2): the 4-tuple, the sequence numbers and window that
 * its ACKs carry, and the timestamp state.
 */
static struct tn_tw_entry tw_entry_of(const struct tn_sock *s, uint8_t flags)
{
	uint32_t wnd = seq_gt(s->rcv_adv, s->rcv_nxt) ? (s->rcv_adv - s->rcv_nxt) >> s->rcv_wscale : 0;
	return (struct tn_tw_entry){
		.hn = {.laddr = s->laddr, .lport = s->lport, .raddr = s->raddr, .rport = s->rport},
		.snd_nxt = s->snd_max,
		.rcv_nxt = s->rcv_nxt,
		.ts_recent = s->ts_recent,
		/* TW's clock is tn_tw_now_ms(): shift the offset so our TSvals go on from here. */
		.ts_offset = tcp_ts_now(s) - tn_tw_now_ms(s->stack),
		.rcv_wnd = (uint16_t)(wnd > 65535 ? 65535 : wnd),
		.flags = (uint8_t)(flags | (s->ts_ok ? TN_TW_TS : 0) | (s->reuseaddr ? TN_TW_REUSEADDR : 0)),
		.rcv_wscale = s->rcv_wscale,
	};
}

/*
 * CONFORMANCE 1, 2, 4: the connection is over for us, and 2*MSL begins. The
 * socket and its buffers go (an owner still holding the handle sees CLOSED,
 * as with Linux's tcp_time_wait); what TIME_WAIT needs stays as a compact
 * entry in the table, hashed under the same 4-tuple. If the table is full
 * under the drop policy the connection simply ends without TIME_WAIT (Linux,
 * counted as TcpExtTCPTimeWaitOverflow).
 */
void tcp_enter_time_wait(struct tn_sock *s)
{
	struct tn_stack *stack = s->stack;
	/* The peer's FIN gets its ACK now, before the block goes away (item 1). */
	if (s->ack_now || s->rcv_acked != s->rcv_nxt)
		tcp_send_ack(s);

	struct tn_tw_entry t = tw_entry_of(s, 0);
	tcp_set_state(s, TN_TCP_TIME_WAIT); /* (tracing: the entry's own events follow) */
	s->to_entry = true;
	tcp_done(s, 0); /* unhashed first: the entry takes the 4-tuple */
	if (!tn_tw_insert(stack, &tcp_of(stack)->tw, &t) && TN_TRACING(stack))
		tn_trace_state(stack, &t.hn, TN_TCP_TIME_WAIT, TN_TCP_CLOSED); /* table full */
}

/*
 * An orphan whose FIN the peer acknowledged waits fin_timeout for the
 * peer's FIN (CONFORMANCE 9). It needs no socket for that: like Linux's
 * tcp_time_wait(TCP_FIN_WAIT2) it leaves a compact entry in the orphan
 * table (max_orphans, the oldest reset beyond it), which a FIN turns into
 * TIME_WAIT, data or a SYN into a RST (tcp_in.c, tcp_fw2_input).
 */
void tcp_enter_fin_wait2(struct tn_sock *s, bool closing)
{
	struct tn_stack *stack = s->stack;
	if (s->linger2_s < 0) {
		/*
		 * TCP_LINGER2 -1: no waiting for the peer's FIN; it learns at
		 * once (Linux's tcp_close, and tcp_rcv_state_process's reset
		 * for an orphan's acknowledged FIN).
		 */
		if (closing)
			TCP_CTR(s, TcpExtTCPAbortOnLinger);
		else
			TCP_CTR(s, TcpExtTCPAbortOnData);
		tcp_send_rst(s);
		tcp_done(s, 0);
		return;
	}
	struct tn_tw_entry t = tw_entry_of(s, TN_TW_FIN_WAIT2);
	s->to_entry = true; /* still FIN_WAIT_2, as an entry */
	tcp_done(s, 0);
	if (!tn_tw_insert(stack, &tcp_of(stack)->fw2, &t)) {
		if (TN_TRACING(stack))
			tn_trace_state(stack, &t.hn, TN_TCP_FIN_WAIT_2, TN_TCP_CLOSED);
		/* max_orphans 0: nothing may wait, the peer learns at once */
		TN_COUNT(stack, TcpExtTCPAbortOnMemory);
		tn_tw_send(stack, &t, TCP_RST | TCP_ACK);
	}
}

/* ---- TIME_WAIT views (stack.h) */
size_t tn_timewait_list(const struct tn_stack *stack, struct tn_tw_info *out, size_t max)
{
	const struct tn_tw_table *tw = &tcp_of(stack)->tw;
	size_t n = 0;
	for (uint32_t i = tw->fifo_head; i != TN_TW_NONE && n < max; i = tw->entries[i].fifo_next, n++) {
		const struct tn_tw_entry *e = &tw->entries[i];
		out[n] = (struct tn_tw_info){
			.local_addr = e->hn.laddr, .local_port = e->hn.lport,
			.remote_addr = e->hn.raddr, .remote_port = e->hn.rport,
			.remaining_ms = tn_tw_remaining_ms(stack, e),
			.snd_nxt = e->snd_nxt, .rcv_nxt = e->rcv_nxt,
			.ts = (e->flags & TN_TW_TS) != 0,
		};
	}
	return tw->count;
}

size_t tn_timewait_count(const struct tn_stack *stack)
{
	return tcp_of(stack)->tw.count;
}

/* ---- listener children: the accept queue, a FIFO through aq_prev/aq_next */
void tcp_child_queue(struct tn_sock *l, struct tn_sock *c)
{
	struct tcp_listen *q = l->listen;
	c->parent = l;
	TN_FIFO_APPEND(q->aq_head, q->aq_tail, c, aq_prev, aq_next);
	q->aq_len++;
	tcp_notify(l, TN_SOCK_EV_ACCEPT);
}

void tcp_child_unlink(struct tn_sock *c)
{
	struct tcp_listen *q = c->parent ? c->parent->listen : NULL;
	if (!q)
		return;
	TN_FIFO_REMOVE(q->aq_head, q->aq_tail, c, aq_prev, aq_next);
	q->aq_len--;
	c->parent = NULL;
}

struct tn_sock *tcp_child_accept(struct tn_sock *l)
{
	struct tn_sock *c = l->listen->aq_head;
	if (!c)
		return NULL;
	tcp_child_unlink(c);
	c->orphan = false;
	return c;
}

/* ---- half-open connections */
static void req_timer_fired(struct tn_stack *stack, struct tn_timer *t)
{
	struct tcp_req *r = (struct tcp_req *)((char *)t - offsetof(struct tcp_req, timer));
	const struct tn_config *c = &stack->cfg;
	/* a listener's TCP_SYNCNT counts its SYN-ACKs, as Linux's reqsk_timer_handler */
	uint32_t limit = r->listener->syn_retries ? r->listener->syn_retries : c->tcp_synack_retries;
	if (r->retries >= limit) {
		tcp_req_free(r); /* nobody knew of it: it goes quietly, as Linux's */
		return;
	}
	r->retries++;
	TN_COUNT(stack, TcpExtTCPSynRetrans);
	TN_COUNT(stack, TcpRetransSegs);
	tcp_send_req_synack(stack, r);
	uint64_t rto = (uint64_t)c->tcp_rto_initial_ms << min_u32(r->retries, 20);
	if (rto > c->tcp_rto_max_ms)
		rto = c->tcp_rto_max_ms;
	(void)tn_timer_arm(stack, &r->timer, tn_now(stack) + rto * TN_NSEC_PER_MSEC);
}

struct tcp_req *tcp_req_new(struct tn_sock *l, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
			    uint16_t rport)
{
	struct tn_stack *stack = l->stack;
	struct tcp_req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->hn = (struct tn_hnode){.laddr = laddr, .lport = lport, .raddr = raddr, .rport = rport,
				  .kind = TN_HNODE_REQ};
	r->listener = l;
	tn_timer_init(&r->timer, req_timer_fired);
	if (tn_timer_arm(stack, &r->timer,
			 tn_now(stack) + (uint64_t)stack->cfg.tcp_rto_initial_ms * TN_NSEC_PER_MSEC) < 0) {
		free(r);
		return NULL;
	}
	tn_ehash_insert(stack, &tcp_of(stack)->ehash, &r->hn);
	struct tcp_listen *q = l->listen;
	r->next = q->req_head;
	if (q->req_head)
		q->req_head->prev = r;
	q->req_head = r;
	q->syn_len++;
	if (TN_TRACING(stack))
		tn_trace_state(stack, &r->hn, TN_TCP_LISTEN, TN_TCP_SYN_RECEIVED);
	return r;
}

void tcp_req_free(struct tcp_req *r)
{
	struct tn_stack *stack = r->listener->stack;
	struct tcp_listen *q = r->listener->listen;
	if (TN_TRACING(stack) && !r->established)
		tn_trace_state(stack, &r->hn, TN_TCP_SYN_RECEIVED, TN_TCP_CLOSED);
	tn_timer_cancel(stack, &r->timer);
	tn_ehash_remove(stack, &tcp_of(stack)->ehash, &r->hn);
	if (r->prev)
		r->prev->next = r->next;
	else
		q->req_head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	q->syn_len--;
	free(r);
}

/* ---- rate limits */
bool tcp_oow_rate_limited(struct tn_sock *s)
{
	uint64_t now = tn_now(s->stack);
	uint64_t gap = (uint64_t)s->stack->cfg.tcp_invalid_ratelimit_ms * TN_NSEC_PER_MSEC;
	if (s->last_oow_ack_ns && now - s->last_oow_ack_ns < gap)
		return true;
	s->last_oow_ack_ns = now;
	return false;
}

/*
 * RFC 5961 challenge ACKs, limited as Linux's tcp_send_challenge_ack: the
 * connection's own invalid_ratelimit first, so one connection cannot spend
 * the shared budget; then a stack-wide budget per second drawn at random in
 * [limit/2, limit*3/2), so an off-path attacker counting the challenge ACKs
 * it provokes cannot tell how many other connections spent (the global
 * counter side channel of CVE-2016-5696).
 */
bool tcp_challenge_allowed(struct tn_sock *s)
{
	struct tn_stack *stack = s->stack;
	struct tn_tcp *tcp = tcp_of(stack);
	if (tcp_oow_rate_limited(s)) {
		TCP_CTR(s, TcpExtTCPACKSkippedChallenge);
		return false;
	}
	uint64_t now = tn_now(stack);
	if (!tcp->chal_window_ns || now - tcp->chal_window_ns >= TN_NSEC_PER_SEC) {
		uint32_t limit = stack->cfg.tcp_challenge_ack_limit, half = (limit + 1) / 2, r;
		tn_random(stack, &r, sizeof(r));
		tcp->chal_window_ns = now ? now : 1;
		tcp->chal_budget = half + (limit ? r % limit : 0);
	}
	if (!tcp->chal_budget)
		return false;
	tcp->chal_budget--;
	return true;
}

/* ---- entry points: deliver events and free ended sockets on the way out */
void tcp_enter(struct tn_stack *stack)
{
	tcp_of(stack)->depth++;
}

static void flush_events(struct tn_tcp *tcp)
{
	while (tcp->ev_head) {
		struct tn_sock *s = tcp->ev_head;
		tcp->ev_head = s->ev_next;
		if (!tcp->ev_head)
			tcp->ev_tail = NULL;
		s->ev_queued = false;
		/* Without a callback the events wait for tn_sock_set_callback(). */
		if (!s->cb || s->orphan || s->dead)
			continue;
		unsigned ev = s->events;
		s->events = 0;
		if (ev)
			s->cb(s, ev, s->cb_arg);
	}
}

/* On tcp->ack_head's list once, whatever the reason (an ACK owed at leave or at the batch's end). */
void tcp_ack_list(struct tn_tcp *tcp, struct tn_sock *s)
{
	if (s->ack_listed)
		return;
	s->ack_listed = true;
	TN_LIST_INSERT_HEAD(tcp->ack_head, s, ack_prev, ack_next);
}

void tcp_ack_on_leave(struct tn_sock *s)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (tcp->depth == 0) {
		tcp_send_ack(s);
		return;
	}
	tcp_ack_list(tcp, s);
}

/*
 * The ACKs still owed once every owner had its say (an answer carried the
 * others): ack_now ones at every way out of the core; deferred ones (a run
 * the link merged, tcp_defer_ack) only at the end of the input batch. A
 * segment sent since cleared both flags: it carried the ACK.
 */
static void flush_acks(struct tn_tcp *tcp, bool batch_end)
{
	struct tn_sock *next;
	for (struct tn_sock *s = tcp->ack_head; s; s = next) {
		next = s->ack_next;
		if (!s->ack_now && s->ack_deferred && !batch_end)
			continue;
		TN_LIST_REMOVE(tcp->ack_head, s, ack_prev, ack_next);
		s->ack_listed = false;
		if ((s->ack_now || s->ack_deferred) && !s->dead && s->state != TN_TCP_CLOSED)
			tcp_send_ack(s);
		s->ack_deferred = false;
	}
}

void tn_stack_batch_begin(struct tn_stack *stack)
{
	struct tn_tcp *tcp = tcp_of(stack);
	tcp->batch = true;
	tcp->batch_gen++;
}

void tn_stack_batch_end(struct tn_stack *stack)
{
	struct tn_tcp *tcp = tcp_of(stack);
	tcp->batch = false;
	if (!tcp->ack_head)
		return;
	tcp_enter(stack);
	tcp_leave(stack); /* out of the batch: the deferred ACKs go too */
}

void tcp_leave(struct tn_stack *stack)
{
	struct tn_tcp *tcp = tcp_of(stack);
	if (--tcp->depth > 0)
		return;
	tcp->depth = 1; /* callbacks may call the API: no nested flush */
	flush_events(tcp);
	flush_acks(tcp, !tcp->batch);
	while (tcp->dead) {
		struct tn_sock *s = tcp->dead;
		tcp->dead = s->all_next;
		sock_free(s);
	}
	tcp->depth = 0;
}
