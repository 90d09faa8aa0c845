/*
 * arp.c - ARP (RFC 826) and the neighbour cache.
 *
 * Entries follow a reduced form of Linux's NUD machine:
 *   INCOMPLETE  requests broadcast every arp_retry_ms, packets queued (bounded)
 *   REACHABLE   confirmed within arp_reachable_ms
 *   STALE       still used; the next use sends unicast refresh requests and,
 *               without an answer after arp_max_retries, the entry goes
 *   FAILED      resolution gave up; kept one retry interval so a stream of
 *               packets does not turn into a stream of broadcasts
 * Lookup is a hash of the address into chained slots: no scan per packet.
 *
 * Anyone on the link can make tapnet answer many addresses that never
 * resolve (spoofed sources), so what unresolved neighbours hold is bounded
 * three ways: the cache size, the packets and bytes queued per neighbour,
 * and the packets and bytes queued for all of them. Entries still
 * resolving (or failed) sit in one list, oldest first: when the cache is
 * full the oldest of them makes room, before any neighbour that answered
 * (as Linux's neigh_forced_gc prefers invalid entries), and when the total
 * queue is full the oldest packets of the oldest of them go first. Each
 * queued packet is charged its size plus its bookkeeping.
 */
#include "stack_internal.h"

#include <stdlib.h>

#define ARP_HLEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2
#define ARP_NONE UINT32_MAX
/* A STALE entry nobody uses is forgotten after this many reachable times. */
#define ARP_STALE_LIFETIMES 4

struct arp_pending {
	struct arp_pending *next;
	struct tn_frame_meta meta;
	size_t len;
	uint8_t data[]; /* one IP packet */
};

struct tn_arp_entry {
	tn_ip4 addr;
	uint8_t mac[TN_ETH_ALEN];
	uint8_t state;     /* enum tn_arp_state */
	bool in_use;
	bool refreshing;   /* STALE entry with unicast requests outstanding */
	bool unresolved;   /* on the list of entries still resolving or failed */
	uint8_t requests;  /* sent in the current resolution or refresh */
	uint32_t next;     /* hash chain (free list when not in use), ARP_NONE ends it */
	uint32_t unres_prev, unres_next; /* the unresolved list, oldest first */
	uint64_t last_used;
	struct tn_timer timer;
	struct arp_pending *queue_head, *queue_tail;
	uint32_t queued;
	uint32_t queued_bytes; /* charged: packets plus their bookkeeping */
};

_Static_assert(sizeof(void *) != 8 || sizeof(struct arp_pending) == 32,
	       "README.md and tapnetd.conf say what a queued packet is charged");

static size_t arp_pending_charge(size_t len)
{
	return sizeof(struct arp_pending) + len;
}

/* The hash table lives right behind the entries; its size is a power of two. */
static uint32_t *arp_buckets(const struct tn_stack *stack)
{
	return (uint32_t *)(stack->arp.entries + stack->cfg.arp_cache_size);
}

static uint32_t arp_bucket_count(const struct tn_stack *stack)
{
	uint32_t n = 1;
	while (n < stack->cfg.arp_cache_size * 2)
		n <<= 1;
	return n;
}

static uint32_t arp_hash(const struct tn_stack *stack, tn_ip4 addr)
{
	uint32_t h = addr * 0x9e3779b1u;
	return (h ^ (h >> 15)) & (arp_bucket_count(stack) - 1);
}

static void arp_timer_fired(struct tn_stack *stack, struct tn_timer *t);

int tn_arp_init(struct tn_stack *stack)
{
	uint32_t n = stack->cfg.arp_cache_size, buckets = 1;
	while (buckets < n * 2)
		buckets <<= 1;
	stack->arp.entries = calloc(1, n * sizeof(struct tn_arp_entry) + buckets * sizeof(uint32_t));
	if (!stack->arp.entries)
		return -1;
	for (uint32_t i = 0; i < n; i++) {
		tn_timer_init(&stack->arp.entries[i].timer, arp_timer_fired);
		stack->arp.entries[i].next = i + 1 < n ? i + 1 : ARP_NONE;
	}
	stack->arp.free_head = 0;
	stack->arp.unres_head = stack->arp.unres_tail = ARP_NONE;
	uint32_t *b = arp_buckets(stack);
	for (uint32_t i = 0; i < buckets; i++)
		b[i] = ARP_NONE;
	return 0;
}

static uint32_t arp_index(const struct tn_stack *stack, const struct tn_arp_entry *e)
{
	return (uint32_t)(e - stack->arp.entries);
}

static void arp_unresolved_add(struct tn_stack *stack, struct tn_arp_entry *e)
{
	struct tn_arp_cache *c = &stack->arp;
	uint32_t i = arp_index(stack, e);

	e->unresolved = true;
	e->unres_next = ARP_NONE;
	e->unres_prev = c->unres_tail;
	if (c->unres_tail != ARP_NONE)
		c->entries[c->unres_tail].unres_next = i;
	else
		c->unres_head = i;
	c->unres_tail = i;
}

static void arp_unresolved_remove(struct tn_stack *stack, struct tn_arp_entry *e)
{
	struct tn_arp_cache *c = &stack->arp;

	if (!e->unresolved)
		return;
	if (e->unres_prev != ARP_NONE)
		c->entries[e->unres_prev].unres_next = e->unres_next;
	else
		c->unres_head = e->unres_next;
	if (e->unres_next != ARP_NONE)
		c->entries[e->unres_next].unres_prev = e->unres_prev;
	else
		c->unres_tail = e->unres_prev;
	e->unresolved = false;
}

/* Takes the oldest packet off e's queue; the caller frees it. */
static struct arp_pending *arp_queue_pop(struct tn_stack *stack, struct tn_arp_entry *e)
{
	struct arp_pending *p = e->queue_head;

	e->queue_head = p->next;
	if (!e->queue_head)
		e->queue_tail = NULL;
	e->queued--;
	e->queued_bytes -= (uint32_t)arp_pending_charge(p->len);
	stack->arp.queued--;
	stack->arp.queued_bytes -= arp_pending_charge(p->len);
	return p;
}

/* Frees every packet e holds; returns how many there were. */
static uint32_t arp_queue_drop(struct tn_stack *stack, struct tn_arp_entry *e)
{
	uint32_t n = 0;
	while (e->queue_head) {
		free(arp_queue_pop(stack, e));
		n++;
	}
	return n;
}

void tn_arp_free(struct tn_stack *stack)
{
	if (!stack->arp.entries)
		return;
	for (uint32_t i = 0; i < stack->cfg.arp_cache_size; i++)
		arp_queue_drop(stack, &stack->arp.entries[i]);
	free(stack->arp.entries);
	stack->arp.entries = NULL;
}

static struct tn_arp_entry *arp_lookup(struct tn_stack *stack, tn_ip4 addr)
{
	uint32_t i = arp_buckets(stack)[arp_hash(stack, addr)];
	while (i != ARP_NONE) {
		struct tn_arp_entry *e = &stack->arp.entries[i];
		if (e->addr == addr)
			return e;
		i = e->next;
	}
	return NULL;
}

static void arp_unlink(struct tn_stack *stack, struct tn_arp_entry *e)
{
	uint32_t idx = arp_index(stack, e);
	uint32_t *link = &arp_buckets(stack)[arp_hash(stack, e->addr)];
	while (*link != idx)
		link = &stack->arp.entries[*link].next;
	*link = e->next;
	tn_timer_cancel(stack, &e->timer);
	arp_unresolved_remove(stack, e);
	arp_queue_drop(stack, e);
	e->in_use = false;
	e->next = stack->arp.free_head;
	stack->arp.free_head = idx;
	stack->arp.used--;
}

/*
 * The entry to give up when the cache is full: the oldest one still
 * resolving or failed, else the least recently used. Only the second needs
 * a scan, and only when every entry is a neighbour that answered.
 */
static struct tn_arp_entry *arp_victim(struct tn_stack *stack)
{
	if (stack->arp.unres_head != ARP_NONE)
		return &stack->arp.entries[stack->arp.unres_head];
	struct tn_arp_entry *best = NULL;
	for (uint32_t i = 0; i < stack->cfg.arp_cache_size; i++) {
		struct tn_arp_entry *e = &stack->arp.entries[i];
		if (!best || e->last_used < best->last_used)
			best = e;
	}
	return best;
}

static struct tn_arp_entry *arp_create(struct tn_stack *stack, tn_ip4 addr)
{
	if (stack->arp.free_head == ARP_NONE) {
		TN_COUNT(stack, ArpCacheFull);
		struct tn_arp_entry *victim = arp_victim(stack);
		if (victim->state == TN_ARP_INCOMPLETE) {
			TN_COUNT(stack, ArpUnresolvedEvictions);
			TN_COUNT_N(stack, ArpQueueDrops, victim->queued);
		}
		arp_unlink(stack, victim);
	}
	uint32_t idx = stack->arp.free_head;
	struct tn_arp_entry *e = &stack->arp.entries[idx];
	stack->arp.free_head = e->next;

	uint32_t *head = &arp_buckets(stack)[arp_hash(stack, addr)];
	memset(e->mac, 0, sizeof(e->mac));
	e->addr = addr;
	e->in_use = true;
	e->refreshing = false;
	e->requests = 0;
	e->state = TN_ARP_INCOMPLETE;
	e->last_used = tn_now(stack);
	e->next = *head;
	*head = idx;
	arp_unresolved_add(stack, e);
	stack->arp.used++;
	return e;
}

static void arp_send(struct tn_stack *stack, uint16_t op, const uint8_t *dst_mac,
		     const uint8_t *target_mac, tn_ip4 target_ip, tn_ip4 sender_ip)
{
	uint8_t *p = stack->tx + TN_ETH_HLEN;
	static const uint8_t zero[TN_ETH_ALEN];

	tn_put16(p, 1);             /* Ethernet */
	tn_put16(p + 2, TN_ETH_P_IP);
	p[4] = TN_ETH_ALEN;
	p[5] = 4;
	tn_put16(p + 6, op);
	memcpy(p + 8, stack->cfg.mac, TN_ETH_ALEN);
	tn_put32(p + 14, sender_ip);
	memcpy(p + 18, target_mac ? target_mac : zero, TN_ETH_ALEN);
	tn_put32(p + 24, target_ip);
	TN_COUNT_N(stack, ArpOutRequests, op == ARP_OP_REQUEST);
	TN_COUNT_N(stack, ArpOutReplies, op == ARP_OP_REPLY);
	tn_eth_output(stack, dst_mac, TN_ETH_P_ARP, NULL, p, ARP_HLEN);
}

/* A request while resolving (broadcast) or refreshing (unicast to the known MAC). */
static void arp_solicit(struct tn_stack *stack, struct tn_arp_entry *e)
{
	const uint8_t *dst = e->state == TN_ARP_INCOMPLETE ? NULL : e->mac;
	e->requests++;
	arp_send(stack, ARP_OP_REQUEST, dst, NULL, e->addr, stack->cfg.addr);
	tn_timer_arm(stack, &e->timer, tn_now(stack) + stack->cfg.arp_retry_ms * TN_NSEC_PER_MSEC);
}

void tn_arp_announce(struct tn_stack *stack)
{
	arp_send(stack, ARP_OP_REQUEST, NULL, NULL, stack->cfg.addr, stack->cfg.addr);
}

static void arp_flush_queue(struct tn_stack *stack, struct tn_arp_entry *e)
{
	while (e->queue_head) {
		struct arp_pending *p = arp_queue_pop(stack, e);
		tn_eth_output(stack, e->mac, TN_ETH_P_IP, &p->meta, p->data, p->len);
		free(p);
	}
}

static void arp_confirm(struct tn_stack *stack, struct tn_arp_entry *e, const uint8_t *mac)
{
	memcpy(e->mac, mac, TN_ETH_ALEN);
	arp_unresolved_remove(stack, e);
	e->state = TN_ARP_REACHABLE;
	e->refreshing = false;
	e->requests = 0;
	tn_timer_arm(stack, &e->timer,
		     tn_now(stack) + stack->cfg.arp_reachable_ms * TN_NSEC_PER_MSEC);
	arp_flush_queue(stack, e);
}

static void arp_timer_fired(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_arp_entry *e = (struct tn_arp_entry *)((char *)t - offsetof(struct tn_arp_entry, timer));
	uint64_t now = tn_now(stack);

	switch (e->state) {
	case TN_ARP_INCOMPLETE:
		if (e->requests < stack->cfg.arp_max_retries) {
			arp_solicit(stack, e);
			return;
		}
		TN_COUNT(stack, ArpResolveFails);
		TN_COUNT_N(stack, IpOutDiscards, arp_queue_drop(stack, e));
		e->state = TN_ARP_FAILED;
		tn_timer_arm(stack, &e->timer, now + stack->cfg.arp_retry_ms * TN_NSEC_PER_MSEC);
		return;
	case TN_ARP_REACHABLE:
		e->state = TN_ARP_STALE;
		tn_timer_arm(stack, &e->timer, now + ARP_STALE_LIFETIMES *
						   stack->cfg.arp_reachable_ms * TN_NSEC_PER_MSEC);
		return;
	case TN_ARP_STALE:
		if (e->refreshing && e->requests < stack->cfg.arp_max_retries) {
			arp_solicit(stack, e);
			return;
		}
		/* refresh unanswered, or unused for a long time */
		arp_unlink(stack, e);
		return;
	case TN_ARP_FAILED:
	default:
		arp_unlink(stack, e);
		return;
	}
}

/* The whole queue is over its bounds with charge more: the oldest packets of the oldest entries go. */
static bool arp_total_full(const struct tn_stack *stack, size_t charge)
{
	return stack->arp.queued >= stack->cfg.arp_queue_total_len ||
	       stack->arp.queued_bytes + charge > stack->cfg.arp_queue_total_bytes;
}

static void arp_enqueue(struct tn_stack *stack, struct tn_arp_entry *e,
			const struct tn_frame_meta *meta, const uint8_t *ip, size_t len)
{
	const struct tn_config *cfg = &stack->cfg;
	size_t charge = arp_pending_charge(len);

	if (cfg->arp_queue_len == 0 || charge > cfg->arp_queue_bytes ||
	    charge > cfg->arp_queue_total_bytes || cfg->arp_queue_total_len == 0) {
		TN_COUNT(stack, ArpQueueDrops);
		return;
	}
	/* Like Linux: the oldest packets make room for the newest. */
	while (e->queued >= cfg->arp_queue_len || e->queued_bytes + charge > cfg->arp_queue_bytes) {
		free(arp_queue_pop(stack, e));
		TN_COUNT(stack, ArpQueueDrops);
	}
	for (uint32_t i = stack->arp.unres_head; i != ARP_NONE && arp_total_full(stack, charge);) {
		struct tn_arp_entry *old = &stack->arp.entries[i];
		if (!old->queue_head) {
			i = old->unres_next;
			continue;
		}
		free(arp_queue_pop(stack, old));
		TN_COUNT(stack, ArpQueueDrops);
	}
	if (arp_total_full(stack, charge)) {
		TN_COUNT(stack, ArpQueueDrops); /* not reached: every queued packet is an unresolved entry's */
		return;
	}
	struct arp_pending *p = malloc(charge);
	if (!p) {
		TN_COUNT(stack, ArpQueueDrops);
		return;
	}
	p->next = NULL;
	if (meta)
		p->meta = *meta;
	else
		memset(&p->meta, 0, sizeof(p->meta));
	p->len = len;
	memcpy(p->data, ip, len);
	if (e->queue_tail)
		e->queue_tail->next = p;
	else
		e->queue_head = p;
	e->queue_tail = p;
	e->queued++;
	e->queued_bytes += (uint32_t)charge;
	stack->arp.queued++;
	stack->arp.queued_bytes += charge;
}

const uint8_t *tn_arp_ready_mac(struct tn_stack *stack, tn_ip4 next_hop)
{
	if (tn_ip4_is_broadcast(stack, next_hop))
		return NULL;
	struct tn_arp_entry *e = arp_lookup(stack, next_hop);
	if (!e || e->state == TN_ARP_INCOMPLETE || e->state == TN_ARP_FAILED ||
	    (e->state == TN_ARP_STALE && !e->refreshing))
		return NULL;
	e->last_used = tn_now(stack);
	return e->mac;
}

void tn_arp_output(struct tn_stack *stack, tn_ip4 next_hop, const struct tn_frame_meta *meta,
		   const uint8_t *ip, size_t len)
{
	const uint8_t *mac = tn_arp_ready_mac(stack, next_hop);
	if (mac) {
		tn_eth_output(stack, mac, TN_ETH_P_IP, meta, ip, len);
		return;
	}
	if (tn_ip4_is_broadcast(stack, next_hop)) {
		tn_eth_output(stack, NULL, TN_ETH_P_IP, meta, ip, len);
		return;
	}
	struct tn_arp_entry *e = arp_lookup(stack, next_hop);
	if (!e) {
		e = arp_create(stack, next_hop);
		arp_enqueue(stack, e, meta, ip, len);
		arp_solicit(stack, e);
		return;
	}
	e->last_used = tn_now(stack);
	switch (e->state) {
	case TN_ARP_INCOMPLETE:
		arp_enqueue(stack, e, meta, ip, len);
		return;
	case TN_ARP_FAILED:
		TN_COUNT(stack, IpOutDiscards);
		return;
	default: /* stale and not refreshing yet: every other entry was ready */
		e->refreshing = true;
		e->requests = 0;
		/* Send the packet first: the tx buffer is reused by the request. */
		tn_eth_output(stack, e->mac, TN_ETH_P_IP, meta, ip, len);
		arp_solicit(stack, e);
		return;
	}
}

static bool mac_is_valid_sender(const uint8_t *mac)
{
	static const uint8_t zero[TN_ETH_ALEN];
	return !(mac[0] & 1) && memcmp(mac, zero, TN_ETH_ALEN) != 0;
}

void tn_arp_input(struct tn_stack *stack, const uint8_t *pkt, size_t len)
{
	if (len < ARP_HLEN || tn_get16(pkt) != 1 || tn_get16(pkt + 2) != TN_ETH_P_IP ||
	    pkt[4] != TN_ETH_ALEN || pkt[5] != 4) {
		TN_COUNT(stack, ArpInErrors);
		return;
	}
	uint16_t op = tn_get16(pkt + 6);
	const uint8_t *sender_mac = pkt + 8;
	tn_ip4 sender_ip = tn_get32(pkt + 14);
	tn_ip4 target_ip = tn_get32(pkt + 24);

	if ((op != ARP_OP_REQUEST && op != ARP_OP_REPLY) || !mac_is_valid_sender(sender_mac)) {
		TN_COUNT(stack, ArpInErrors);
		return;
	}
	TN_COUNT_N(stack, ArpInRequests, op == ARP_OP_REQUEST);
	TN_COUNT_N(stack, ArpInReplies, op == ARP_OP_REPLY);
	if (sender_ip == stack->cfg.addr)
		return; /* someone else claims our address; we keep answering */

	/* RFC 826 merge: refresh what we know, learn the sender when it asks for us. */
	bool for_us = target_ip == stack->cfg.addr;
	bool sender_usable = sender_ip != 0 && !tn_ip4_is_broadcast(stack, sender_ip) &&
			     (sender_ip & stack->netmask) == (stack->cfg.addr & stack->netmask);
	struct tn_arp_entry *e = sender_usable ? arp_lookup(stack, sender_ip) : NULL;
	if (!e && for_us && sender_usable)
		e = arp_create(stack, sender_ip);
	if (e)
		arp_confirm(stack, e, sender_mac);

	if (op == ARP_OP_REQUEST && for_us)
		arp_send(stack, ARP_OP_REPLY, sender_mac, sender_mac, sender_ip, stack->cfg.addr);
}

const char *tn_arp_state_name(enum tn_arp_state s)
{
	switch (s) {
	case TN_ARP_INCOMPLETE: return "INCOMPLETE";
	case TN_ARP_REACHABLE: return "REACHABLE";
	case TN_ARP_STALE: return "STALE";
	case TN_ARP_FAILED: return "FAILED";
	}
	return "?";
}

size_t tn_stack_arp_list(const struct tn_stack *stack, struct tn_arp_info *out, size_t max)
{
	size_t n = 0;
	for (uint32_t i = 0; i < stack->cfg.arp_cache_size; i++) {
		const struct tn_arp_entry *e = &stack->arp.entries[i];
		if (!e->in_use)
			continue;
		if (n < max) {
			struct tn_arp_info *info = &out[n];
			info->addr = e->addr;
			memcpy(info->mac, e->mac, TN_ETH_ALEN);
			info->state = e->state;
			info->expires_ns = tn_timer_armed(&e->timer) ? e->timer.deadline : TN_TIME_NEVER;
			info->queued = e->queued;
		}
		n++;
	}
	return n;
}
