/*
 * tcp_timewait.c - the TIME_WAIT table's data structure (see tcp_timewait.h).
 * What a segment arriving in TIME_WAIT does is decided in the TCP input path;
 * this file only keeps the entries.
 */
#include "tcp_timewait.h"

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
	tw->cfg = *cfg;
	uint32_t buckets = 1;
	while (buckets < cfg->max_entries && buckets < (1u << 30))
		buckets <<= 1;
	tw->bucket_mask = buckets - 1;
	/* calloc'd pages stay untouched until entries use them. */
	tw->entries = calloc(cfg->max_entries ? cfg->max_entries : 1, sizeof(*tw->entries));
	tw->buckets = malloc(buckets * sizeof(*tw->buckets));
	tw->port_refs = calloc(65536, sizeof(*tw->port_refs));
	if (!tw->entries || !tw->buckets || !tw->port_refs) {
		tn_tw_free(stack, tw);
		return -1;
	}
	memset(tw->buckets, 0xff, buckets * sizeof(*tw->buckets)); /* TN_TW_NONE */
	/* The free list is threaded through hash_next, lowest index first. */
	for (uint32_t i = 0; i < cfg->max_entries; i++)
		tw->entries[i].hash_next = i + 1 < cfg->max_entries ? i + 1 : TN_TW_NONE;
	tw->free_head = cfg->max_entries ? 0 : TN_TW_NONE;
	tw->fifo_head = tw->fifo_tail = TN_TW_NONE;
	tn_timer_init(&tw->timer, tw_timer_fired);
	return 0;
}

void tn_tw_free(struct tn_stack *stack, struct tn_tw_table *tw)
{
	tn_timer_cancel(stack, &tw->timer);
	free(tw->entries);
	free(tw->buckets);
	free(tw->port_refs);
	tw->entries = NULL;
	tw->buckets = tw->port_refs = NULL;
	tw->count = 0;
}

static uint32_t *tw_bucket(const struct tn_stack *stack, const struct tn_tw_table *tw, tn_ip4 laddr,
			   uint16_t lport, tn_ip4 raddr, uint16_t rport)
{
	return &tw->buckets[tn_tuple_hash(stack, laddr, lport, raddr, rport) & tw->bucket_mask];
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
	for (uint32_t i = *tw_bucket(stack, tw, laddr, lport, raddr, rport); i != TN_TW_NONE;
	     i = tw->entries[i].hash_next) {
		struct tn_tw_entry *e = &tw->entries[i];
		if (e->lport == lport && e->rport == rport && e->raddr == raddr && e->laddr == laddr)
			return e;
	}
	return NULL;
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
	uint32_t idx = tw_index(tw, e);
	uint32_t *link = tw_bucket(stack, tw, e->laddr, e->lport, e->raddr, e->rport);
	while (*link != idx)
		link = &tw->entries[*link].hash_next;
	*link = e->hash_next;
	fifo_unlink(tw, e);
	tw->port_refs[e->lport]--;
	tw->count--;
	e->flags = 0;
	e->hash_next = tw->free_head;
	tw->free_head = idx;
}

void tn_tw_remove(struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e,
		  enum tn_tw_removal why)
{
	bool was_head = tw_index(tw, e) == tw->fifo_head;
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
	}
	if (was_head)
		tw_arm(stack, tw);
}

struct tn_tw_entry *tn_tw_insert(struct tn_stack *stack, struct tn_tw_table *tw,
				 const struct tn_tw_entry *tmpl)
{
	if (tn_tw_lookup(stack, tw, tmpl->laddr, tmpl->lport, tmpl->raddr, tmpl->rport))
		return NULL;
	if (tw->free_head == TN_TW_NONE) {
		if (tw->cfg.overflow != TN_TW_OVERFLOW_EVICT_OLDEST || tw->fifo_head == TN_TW_NONE) {
			TN_COUNT(stack, TcpExtTCPTimeWaitOverflow);
			return NULL;
		}
		tn_tw_remove(stack, tw, &tw->entries[tw->fifo_head], TN_TW_EVICTED);
	}
	uint32_t idx = tw->free_head;
	struct tn_tw_entry *e = &tw->entries[idx];
	tw->free_head = e->hash_next;

	*e = *tmpl;
	e->flags |= TN_TW_IN_USE;
	e->expires_ms = tn_tw_now_ms(stack) + tw->cfg.lifetime_ms;
	e->last_ack_ms = tn_tw_now_ms(stack) - UINT32_MAX / 2; /* the first ACK is never limited */
	uint32_t *head = tw_bucket(stack, tw, e->laddr, e->lport, e->raddr, e->rport);
	e->hash_next = *head;
	*head = idx;
	fifo_append(tw, e);
	tw->port_refs[e->lport]++;
	tw->count++;
	if (tw->fifo_head == idx)
		tw_arm(stack, tw);
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

/* ---- segments arriving in TIME_WAIT */

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define TCP_HLEN 20
#define TCPOPT_TS_LEN 12 /* NOP NOP TS(10) */

static bool seq_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

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
		return TN_TW_DROP;
	}
	if ((seg->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN && !paws_reject &&
	    (seq_after(seg->seq, e->rcv_nxt) ||
	     ((e->flags & TN_TW_TS) && seg->has_ts && (int32_t)(seg->tsval - e->ts_recent) > 0))) {
		/* Item 16 (RFC 6191): a new incarnation; its ISN leaves the old sequence space behind. */
		uint32_t new_isn = e->snd_nxt + 65535 + 2;
		*isn = new_isn ? new_isn : 1;
		tn_tw_remove(stack, tw, e, TN_TW_RECYCLED);
		return TN_TW_ACCEPT_SYN;
	}
	if (!paws_reject && (seg->flags & TCP_FIN) && end_seq == e->rcv_nxt) {
		/* Item 13: our last ACK was lost; say it again and wait 2*MSL afresh. */
		if (seg->has_ts && (e->flags & TN_TW_TS))
			e->ts_recent = seg->tsval;
		tn_tw_restart(stack, tw, e);
		return tw_ack_ratelimited(stack, e, policy);
	}
	/* Items 14 and 17: everything else gets the rate-limited ACK and changes nothing. */
	return tw_ack_ratelimited(stack, e, policy);
}

void tn_tw_send_ack(struct tn_stack *stack, const struct tn_tw_entry *e)
{
	uint8_t seg[TCP_HLEN + TCPOPT_TS_LEN] = {0};
	size_t len = TCP_HLEN;

	tn_put16(seg, e->lport);
	tn_put16(seg + 2, e->rport);
	tn_put32(seg + 4, e->snd_nxt);
	tn_put32(seg + 8, e->rcv_nxt);
	seg[13] = TCP_ACK;
	tn_put16(seg + 14, (uint16_t)(e->rcv_wnd > 0xffff ? 0xffff : e->rcv_wnd));
	if (e->flags & TN_TW_TS) {
		uint8_t *o = seg + TCP_HLEN;
		o[0] = 1, o[1] = 1, o[2] = 8, o[3] = 10;
		tn_put32(o + 4, tn_tw_now_ms(stack) + e->ts_offset);
		tn_put32(o + 8, e->ts_recent);
		len += TCPOPT_TS_LEN;
	}
	seg[12] = (uint8_t)((len / 4) << 4);
	uint32_t sum = tn_csum_pseudo(e->laddr, e->raddr, TN_IP_PROTO_TCP, (uint16_t)len);
	tn_put16(seg + 16, tn_csum_fold(tn_csum_add(sum, seg, len)));
	const struct tn_iov iov = {seg, len};
	tn_ipv4_output(stack, e->raddr, TN_IP_PROTO_TCP, 0, &iov, 1, TN_IP_OUT_DF);
}
