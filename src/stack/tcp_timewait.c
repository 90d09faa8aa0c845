/*
 * tcp_timewait.c - the TIME_WAIT table (see tcp_timewait.h): its entries,
 * their expiry, and what a segment arriving for one of them does
 * (tn_tw_process, Linux's tcp_timewait_state_process). The TCP input path
 * (tcp_in.c) finds the entry and acts on the verdict.
 */
#include "tcp.h" /* flags, options (tcp_opt.c) and sequence arithmetic; tcp_timewait.h with it */

#include <stdlib.h>

static void tw_timer_fired(struct tn_stack *stack, struct tn_timer *t);

uint32_t tn_tw_now_ms(const struct tn_stack *stack)
{
	return (uint32_t)(tn_now(stack) / TN_NSEC_PER_MSEC);
}

/* Wrapping comparison: a is at or before b (within 24 days). */
static bool ms_before_eq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

int tn_tw_init(struct tn_stack *stack, struct tn_tw_table *tw, const struct tn_tw_config *cfg)
{
	memset(tw, 0, sizeof(*tw));
	tn_timer_init(&tw->timer, tw_timer_fired);
	tw->free_head = tw->fifo_head = tw->fifo_tail = TN_TW_NONE;
	if (cfg->max_entries > TN_TW_MAX_ENTRIES)
		return -1;
	tw->cfg = *cfg;
	tw->ehash = cfg->ehash;
	if (!tw->ehash) {
		if (tn_ehash_init(&tw->own, cfg->max_entries, cfg->max_entries) < 0)
			return -1;
		tw->ehash = &tw->own;
	}
	/*
	 * Preallocated, but neither zeroed nor walked: slots are handed out in
	 * order (unused) before released ones are recycled (free_head), and a
	 * slot is written whole before it is read, so its pages are touched only
	 * when entries use them. Creating a stack stays cheap however large
	 * tw_max_buckets is (the per-port counts come with the first entry).
	 */
	tw->capacity = cfg->max_entries;
	tw->entries = malloc((cfg->max_entries ? cfg->max_entries : 1) * sizeof(*tw->entries));
	if (!tw->entries) {
		tn_tw_free(stack, tw);
		return -1;
	}
	return 0;
}

/* The per-port counts (both arrays in one block), on first use. */
static bool tw_port_counts(struct tn_tw_table *tw)
{
	if (tw->port_refs)
		return true;
	tw->port_refs = calloc(2 * 65536, sizeof(*tw->port_refs));
	if (!tw->port_refs)
		return false;
	tw->port_noreuse = tw->port_refs + 65536;
	return true;
}

void tn_tw_free(struct tn_stack *stack, struct tn_tw_table *tw)
{
	tn_timer_cancel(stack, &tw->timer);
	/* Entries in a shared hash leave it with the table. */
	if (tw->entries && tw->ehash && tw->ehash != &tw->own) {
		for (uint32_t i = tw->fifo_head; i != TN_TW_NONE; i = tw->entries[i].fifo_next)
			tn_ehash_remove(stack, tw->ehash, &tw->entries[i].hn);
	}
	tn_ehash_free(&tw->own);
	free(tw->entries);
	free(tw->port_refs); /* port_noreuse is part of it */
	tw->entries = NULL;
	tw->port_refs = tw->port_noreuse = NULL;
	tw->ehash = NULL;
	tw->count = 0;
	tw->fifo_head = tw->fifo_tail = TN_TW_NONE;
}

size_t tn_tw_memory(const struct tn_tw_table *tw)
{
	size_t bytes = (size_t)tw->capacity * sizeof(struct tn_tw_entry) +
		       2 * 65536 * sizeof(uint32_t);
	if (tw->ehash == &tw->own)
		bytes += ((size_t)tw->own.mask + 1) * sizeof(*tw->own.buckets);
	return bytes;
}

static uint32_t tw_index(const struct tn_tw_table *tw, const struct tn_tw_entry *e)
{
	return (uint32_t)(e - tw->entries);
}

struct tn_tw_entry *tn_tw_lookup(const struct tn_stack *stack, const struct tn_tw_table *tw,
				 tn_ip4 laddr, uint16_t lport, tn_ip4 raddr, uint16_t rport)
{
	if (!tw->count)
		return NULL;
	struct tn_hnode *n = tn_ehash_lookup(stack, tw->ehash, laddr, lport, raddr, rport);
	return n && n->kind == TN_HNODE_TW ? tn_tw_of_node(n) : NULL;
}

/* Re-arms the table's one timer for the FIFO head, or stops it when empty. */
static void tw_arm(struct tn_stack *stack, struct tn_tw_table *tw)
{
	if (tw->fifo_head == TN_TW_NONE) {
		tn_timer_cancel(stack, &tw->timer);
		return;
	}
	uint32_t left = tn_tw_remaining_ms(stack, &tw->entries[tw->fifo_head]);
	uint64_t deadline = tn_now(stack) + (uint64_t)left * TN_NSEC_PER_MSEC;
	if (!tn_timer_armed(&tw->timer) || tw->timer.deadline != deadline)
		tn_timer_arm(stack, &tw->timer, deadline);
}

static void fifo_unlink(struct tn_tw_table *tw, struct tn_tw_entry *e)
{
	if (e->fifo_prev != TN_TW_NONE)
		tw->entries[e->fifo_prev].fifo_next = e->fifo_next;
	else
		tw->fifo_head = e->fifo_next;
	if (e->fifo_next != TN_TW_NONE)
		tw->entries[e->fifo_next].fifo_prev = e->fifo_prev;
	else
		tw->fifo_tail = e->fifo_prev;
}

static void fifo_append(struct tn_tw_table *tw, struct tn_tw_entry *e)
{
	uint32_t idx = tw_index(tw, e);
	e->fifo_next = TN_TW_NONE;
	e->fifo_prev = tw->fifo_tail;
	if (tw->fifo_tail != TN_TW_NONE)
		tw->entries[tw->fifo_tail].fifo_next = idx;
	else
		tw->fifo_head = idx;
	tw->fifo_tail = idx;
}

/* Takes e out of the hash, the FIFO and the port counts; back onto the free list. */
static void tw_release(const struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e)
{
	tn_ehash_remove(stack, tw->ehash, &e->hn);
	fifo_unlink(tw, e);
	tw->port_refs[e->hn.lport]--;
	if (!(e->flags & TN_TW_REUSEADDR))
		tw->port_noreuse[e->hn.lport]--;
	tw->count--;
	e->flags = 0;
	e->hn.kind = 0;
	e->fifo_next = tw->free_head;
	tw->free_head = tw_index(tw, e);
}

/* What an entry's early end looks like to a tracer; FIN_WAIT_2 entries' callers say it themselves. */
static void tw_trace_removal(struct tn_stack *stack, const struct tn_tw_entry *e,
			     enum tn_tw_removal why)
{
	if (e->flags & TN_TW_FIN_WAIT2)
		return;
	switch (why) {
	case TN_TW_KILLED:
		tn_trace_tw(stack, &e->hn, TN_TRACE_TW_RST_KILLED, 0);
		break;
	case TN_TW_RECYCLED:
		tn_trace_tw(stack, &e->hn, TN_TRACE_TW_RECYCLED, 0);
		break;
	case TN_TW_EVICTED:
	case TN_TW_MOVED:
		tn_trace_state(stack, &e->hn, TN_TCP_TIME_WAIT, TN_TCP_CLOSED);
		break;
	}
}

void tn_tw_remove(struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e,
		  enum tn_tw_removal why)
{
	bool was_head = tw_index(tw, e) == tw->fifo_head;
	if (TN_TRACING(stack))
		tw_trace_removal(stack, e, why);
	tw_release(stack, tw, e);
	switch (why) {
	case TN_TW_KILLED:
		TN_COUNT(stack, TcpExtTWKilled);
		break;
	case TN_TW_RECYCLED:
		TN_COUNT(stack, TcpExtTWRecycled);
		break;
	case TN_TW_EVICTED:
		TN_COUNT(stack, TcpExtTCPTimeWaitOverflow);
		break;
	case TN_TW_MOVED:
		break;
	}
	if (was_head)
		tw_arm(stack, tw);
}

/* A free slot: a released one, else one never used; TN_TW_NONE when all are in use. */
static uint32_t tw_alloc(struct tn_tw_table *tw)
{
	if (tw->count >= tw->cfg.max_entries)
		return TN_TW_NONE; /* a reload may have lowered the limit under what was used */
	uint32_t idx = tw->free_head;
	if (idx != TN_TW_NONE) {
		tw->free_head = tw->entries[idx].fifo_next;
		return idx;
	}
	if (tw->unused < tw->capacity)
		return tw->unused++;
	return TN_TW_NONE;
}

struct tn_tw_entry *tn_tw_insert(struct tn_stack *stack, struct tn_tw_table *tw,
				 const struct tn_tw_entry *tmpl)
{
	const struct tn_hnode *t = &tmpl->hn;
	if (tn_ehash_lookup(stack, tw->ehash, t->laddr, t->lport, t->raddr, t->rport))
		return NULL;
	if (!tw_port_counts(tw)) { /* out of memory: as good as full */
		TN_COUNT(stack, TcpExtTCPTimeWaitOverflow);
		return NULL;
	}
	uint32_t idx = tw_alloc(tw);
	if (idx == TN_TW_NONE) {
		if (tw->cfg.overflow != TN_TW_OVERFLOW_EVICT_OLDEST || tw->fifo_head == TN_TW_NONE) {
			TN_COUNT(stack, TcpExtTCPTimeWaitOverflow);
			return NULL;
		}
		struct tn_tw_entry *oldest = &tw->entries[tw->fifo_head];
		if (tw->cfg.evict) {
			tw->cfg.evict(stack, oldest); /* it says goodbye and counts */
			tn_tw_remove(stack, tw, oldest, TN_TW_MOVED);
		} else {
			tn_tw_remove(stack, tw, oldest, TN_TW_EVICTED);
		}
		idx = tw_alloc(tw);
	}
	struct tn_tw_entry *e = &tw->entries[idx];
	uint32_t now = tn_tw_now_ms(stack);

	*e = *tmpl;
	e->hn.kind = TN_HNODE_TW;
	e->flags |= TN_TW_IN_USE;
	e->expires_ms = now + tw->cfg.lifetime_ms;
	e->last_ack_ms = now - UINT32_MAX / 2; /* the first ACK is never limited */
	tn_ehash_insert(stack, tw->ehash, &e->hn);
	fifo_append(tw, e);
	tw->port_refs[e->hn.lport]++;
	if (!(e->flags & TN_TW_REUSEADDR))
		tw->port_noreuse[e->hn.lport]++;
	tw->count++;
	if (tw->fifo_head == idx)
		tw_arm(stack, tw);
	if (TN_TRACING(stack) && !(e->flags & TN_TW_FIN_WAIT2))
		tn_trace_tw(stack, &e->hn, TN_TRACE_TW_ENTER, tw->cfg.lifetime_ms);
	return e;
}

void tn_tw_restart(struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e)
{
	bool was_head = tw_index(tw, e) == tw->fifo_head;
	e->expires_ms = tn_tw_now_ms(stack) + tw->cfg.lifetime_ms;
	/* Same lifetime for all: the restarted entry is now the newest. */
	fifo_unlink(tw, e);
	fifo_append(tw, e);
	if (was_head)
		tw_arm(stack, tw);
}

uint32_t tn_tw_reconfigure(struct tn_stack *stack, struct tn_tw_table *tw, uint32_t max_entries,
			   uint32_t lifetime_ms, enum tn_tw_overflow overflow)
{
	tw->cfg.max_entries = max_entries < tw->capacity ? max_entries : tw->capacity;
	tw->cfg.overflow = overflow;
	if (lifetime_ms < tw->cfg.lifetime_ms) {
		/*
		 * The FIFO stays in expiry order: entries due after now + the new
		 * lifetime are the newest ones, and all of them get that expiry.
		 */
		uint32_t latest = tn_tw_now_ms(stack) + lifetime_ms;
		for (uint32_t i = tw->fifo_tail; i != TN_TW_NONE; i = tw->entries[i].fifo_prev) {
			if (ms_before_eq(tw->entries[i].expires_ms, latest))
				break;
			tw->entries[i].expires_ms = latest;
		}
	}
	tw->cfg.lifetime_ms = lifetime_ms;
	tw_arm(stack, tw);
	return tw->cfg.max_entries;
}

uint32_t tn_tw_remaining_ms(const struct tn_stack *stack, const struct tn_tw_entry *e)
{
	uint32_t now = tn_tw_now_ms(stack);
	return ms_before_eq(e->expires_ms, now) ? 0 : e->expires_ms - now;
}

static void tw_timer_fired(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_tw_table *tw = (struct tn_tw_table *)((char *)t - offsetof(struct tn_tw_table, timer));
	uint32_t now = tn_tw_now_ms(stack);

	/* Expiring N entries costs O(N): the FIFO is in expiry order. */
	while (tw->fifo_head != TN_TW_NONE &&
	       ms_before_eq(tw->entries[tw->fifo_head].expires_ms, now)) {
		const struct tn_tw_entry *e = &tw->entries[tw->fifo_head];
		if (TN_TRACING(stack) && (e->flags & TN_TW_FIN_WAIT2))
			tn_trace_state(stack, &e->hn, TN_TCP_FIN_WAIT_2, TN_TCP_CLOSED);
		else if (TN_TRACING(stack))
			tn_trace_tw(stack, &e->hn, TN_TRACE_TW_EXPIRED, 0);
		tw_release(stack, tw, &tw->entries[tw->fifo_head]);
		TN_COUNT(stack, TcpExtTW);
	}
	tw_arm(stack, tw);
}

void tn_tw_foreach(const struct tn_tw_table *tw, bool (*fn)(const struct tn_tw_entry *, void *),
		   void *arg)
{
	for (uint32_t i = tw->fifo_head; i != TN_TW_NONE; i = tw->entries[i].fifo_next)
		if (!fn(&tw->entries[i], arg))
			return;
}

bool tn_tw_reusable(const struct tn_stack *stack, const struct tn_tw_table *tw,
		    const struct tn_tw_entry *e, uint32_t delay_ms)
{
	if (!(e->flags & TN_TW_TS))
		return false;
	uint32_t now = tn_tw_now_ms(stack);
	/* Entered (or restarted) at expires - lifetime; our last TSval went out then or at last_ack_ms. */
	uint32_t since_enter = now - (e->expires_ms - tw->cfg.lifetime_ms);
	uint32_t since_ack = now - e->last_ack_ms;
	return (int32_t)since_enter >= (int32_t)delay_ms &&
	       (since_ack > UINT32_MAX / 4 || since_ack >= delay_ms);
}

/* ---- segments arriving in TIME_WAIT */

/* RFC 7323 5.3: a segment whose TSval is older than the last one is an old duplicate. */
static bool tw_paws_reject(const struct tn_tw_entry *e, const struct tn_tw_seg *seg)
{
	return (e->flags & TN_TW_TS) && seg->has_ts && !(seg->flags & TCP_RST) &&
	       (int32_t)(seg->tsval - e->ts_recent) < 0;
}

/* invalid_ratelimit: at most one such ACK per interval per entry. */
static enum tn_tw_verdict tw_ack_ratelimited(struct tn_stack *stack, struct tn_tw_entry *e,
					     const struct tn_tw_policy *policy)
{
	uint32_t now = tn_tw_now_ms(stack);
	if (policy->ack_ratelimit_ms && (uint32_t)(now - e->last_ack_ms) < policy->ack_ratelimit_ms)
		return TN_TW_DROP;
	e->last_ack_ms = now;
	return TN_TW_SEND_ACK;
}

/*
 * CONFORMANCE 13-17. Where the RFCs leave a choice this follows Linux's
 * tcp_timewait_state_process() with two deliberate differences: the timer
 * restarts only for a retransmitted FIN (RFC 9293 3.10.7.4: "the only thing
 * that can arrive in this state is a retransmission of the remote FIN...
 * restart the 2 MSL timeout"), not for any ACK; and a bare ACK at exactly
 * rcv_nxt gets the rate-limited duplicate ACK like every other segment
 * (Linux absorbs it silently; the rate limit bounds what two TIME_WAIT ends
 * can say to each other to one ACK per invalid_ratelimit each).
 */
enum tn_tw_verdict tn_tw_process(struct tn_stack *stack, struct tn_tw_table *tw,
				 struct tn_tw_entry *e, const struct tn_tw_seg *seg,
				 const struct tn_tw_policy *policy, uint32_t *isn)
{
	bool paws_reject = tw_paws_reject(e, seg);
	uint32_t end_seq = seg->seq + seg->len + !!(seg->flags & TCP_SYN) + !!(seg->flags & TCP_FIN);

	if (seg->flags & TCP_RST) {
		/* Item 15: only an exact in-window RST counts; a RST is never answered. */
		if (seg->seq == e->rcv_nxt && !policy->rfc1337)
			tn_tw_remove(stack, tw, e, TN_TW_KILLED);
		else if (TN_TRACING(stack))
			tn_trace_tw(stack, &e->hn, TN_TRACE_TW_RST_IGNORED, tn_tw_remaining_ms(stack, e));
		return TN_TW_DROP;
	}
	/* (SYN+FIN is never a new connection: the listener would drop it, the entry must not go.) */
	if ((seg->flags & (TCP_SYN | TCP_ACK | TCP_FIN)) == TCP_SYN && !paws_reject &&
	    (seq_gt(seg->seq, e->rcv_nxt) ||
	     ((e->flags & TN_TW_TS) && seg->has_ts && (int32_t)(seg->tsval - e->ts_recent) > 0))) {
		/* Item 16 (RFC 6191): a new incarnation; its ISN leaves the old sequence space behind. */
		*isn = tn_tw_reuse_isn(e);
		return TN_TW_ACCEPT_SYN;
	}
	if (!paws_reject && (seg->flags & TCP_FIN) && end_seq == e->rcv_nxt) {
		/* Item 13: our last ACK was lost; say it again and wait 2*MSL afresh. */
		if (seg->has_ts && (e->flags & TN_TW_TS))
			e->ts_recent = seg->tsval;
		tn_tw_restart(stack, tw, e);
		enum tn_tw_verdict v = tw_ack_ratelimited(stack, e, policy);
		if (TN_TRACING(stack))
			tn_trace_tw(stack, &e->hn, TN_TRACE_TW_FIN_REACKED, tw->cfg.lifetime_ms);
		return v;
	}
	/* Items 14 and 17: everything else gets the rate-limited ACK and changes nothing. */
	enum tn_tw_verdict v = tw_ack_ratelimited(stack, e, policy);
	if (TN_TRACING(stack) && v == TN_TW_SEND_ACK)
		tn_trace_tw(stack, &e->hn,
			    (seg->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN ? TN_TRACE_TW_SYN_REFUSED
									 : TN_TRACE_TW_ACKED,
			    tn_tw_remaining_ms(stack, e));
	return v;
}

void tn_tw_send(struct tn_stack *stack, const struct tn_tw_entry *e, uint8_t flags)
{
	uint8_t seg[TCP_HLEN + TCP_MAX_OPTLEN] = {0};
	size_t len = TCP_HLEN;

	tn_put16(seg, e->hn.lport);
	tn_put16(seg + 2, e->hn.rport);
	tn_put32(seg + 4, e->snd_nxt);
	tn_put32(seg + 8, e->rcv_nxt);
	seg[13] = flags;
	tn_put16(seg + 14, (flags & TCP_RST) ? 0 : e->rcv_wnd);
	if ((e->flags & TN_TW_TS) && !(flags & TCP_RST)) {
		struct tcp_opts o = {
			.ts_ok = true, .tsval = tn_tw_now_ms(stack) + e->ts_offset, .tsecr = e->ts_recent,
		};
		len += tcp_opt_emit(seg + TCP_HLEN, &o, false);
	}
	seg[12] = (uint8_t)((len / 4) << 4);
	uint32_t sum = tn_csum_pseudo(e->hn.laddr, e->hn.raddr, TN_IP_PROTO_TCP, (uint16_t)len);
	tn_put16(seg + 16, tn_csum_fold(tn_csum_add(sum, seg, len)));
	const struct tn_iov iov = {seg, len};
	TN_COUNT(stack, TcpOutSegs);
	if (flags & TCP_RST)
		TN_COUNT(stack, TcpOutRsts);
	tn_ipv4_output(stack, e->hn.laddr, e->hn.raddr, TN_IP_PROTO_TCP, 0, &iov, 1, TN_IP_OUT_DF);
}

void tn_tw_send_ack(struct tn_stack *stack, const struct tn_tw_entry *e)
{
	tn_tw_send(stack, e, TCP_ACK);
}
