/*
 * ipv4_reasm.c - IPv4 fragment reassembly (RFC 791, RFC 815 hole tracking).
 *
 * Hostile input shapes everything here: memory is bounded per datagram
 * (65535 bytes), in number of datagrams and in total bytes; a datagram that
 * has not completed within reasm_timeout_ms is dropped; any overlap other than
 * an exact duplicate drops the whole datagram (as Linux does since 4.19, and
 * RFC 5722 for IPv6), so overlapping fragments can never rewrite headers.
 */
#include "stack_internal.h"

#include <stdlib.h>

#define IP_FLAG_MF 0x2000
#define IP_OFFSET_MASK 0x1fff
#define REASM_MAX_HDR 60
/* Fragments per datagram: a full 65535-byte datagram at a 576-byte MTU needs 117. */
#define REASM_MAX_RANGES 256

struct reasm_range {
	uint32_t start, end; /* payload bytes [start, end) */
};

struct reasm_datagram {
	struct reasm_datagram *prev, *next; /* oldest first */
	struct reasm_datagram *hnext;       /* the chain of its hash bucket */
	struct tn_timer timer;
	tn_ip4 src, dst;
	uint16_t id;
	uint8_t proto;
	bool have_first, have_last;
	uint32_t total;     /* payload length, known once the last fragment came */
	uint32_t cap;       /* payload bytes allocated */
	uint8_t hdr[REASM_MAX_HDR];
	uint8_t hdr_len;
	uint32_t nranges;
	uint32_t received; /* payload bytes held; no overlaps, so complete when == total */
	struct reasm_range ranges[REASM_MAX_RANGES];
	uint8_t *buf;       /* REASM_MAX_HDR bytes of room, then the payload */
};

/*
 * Datagrams are found by a keyed hash of (source, destination, ID,
 * protocol), so a flood of fragments costs a short chain walk each even
 * when reasm_max_datagrams is large, and a sender cannot choose IDs that
 * pile up in one chain.
 */
struct tn_reasm {
	struct reasm_datagram *oldest, *newest;
	uint32_t count;
	size_t bytes; /* payload buffers held */
	struct reasm_datagram **buckets;
	uint32_t mask; /* buckets - 1 */
};

static struct reasm_datagram **reasm_bucket(const struct tn_stack *stack, tn_ip4 src, tn_ip4 dst,
					    uint16_t id, uint8_t proto)
{
	uint8_t key[11];
	tn_put32(key, src);
	tn_put32(key + 4, dst);
	tn_put16(key + 8, id);
	key[10] = proto;
	struct tn_reasm *r = stack->reasm;
	return &r->buckets[tn_siphash(stack->hash_key, key, sizeof(key)) & r->mask];
}

int tn_reasm_init(struct tn_stack *stack)
{
	stack->reasm = calloc(1, sizeof(*stack->reasm));
	if (!stack->reasm)
		return -1;
	uint32_t n = 16;
	while (n < stack->cfg.reasm_max_datagrams && n < (1u << 20))
		n <<= 1;
	stack->reasm->buckets = calloc(n, sizeof(*stack->reasm->buckets));
	stack->reasm->mask = n - 1;
	return stack->reasm->buckets ? 0 : -1;
}

static void reasm_unlink(struct tn_stack *stack, struct reasm_datagram *d)
{
	struct tn_reasm *r = stack->reasm;

	if (d->prev)
		d->prev->next = d->next;
	else
		r->oldest = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		r->newest = d->prev;
	struct reasm_datagram **link = reasm_bucket(stack, d->src, d->dst, d->id, d->proto);
	while (*link != d)
		link = &(*link)->hnext;
	*link = d->hnext;
	tn_timer_cancel(stack, &d->timer);
	r->count--;
	r->bytes -= d->cap;
}

static void reasm_destroy(struct tn_stack *stack, struct reasm_datagram *d)
{
	reasm_unlink(stack, d);
	free(d->buf);
	free(d);
}

static void reasm_fail(struct tn_stack *stack, struct reasm_datagram *d)
{
	TN_COUNT(stack, IpReasmFails);
	reasm_destroy(stack, d);
}

void tn_reasm_free(struct tn_stack *stack)
{
	if (!stack->reasm)
		return;
	while (stack->reasm->oldest)
		reasm_destroy(stack, stack->reasm->oldest);
	free(stack->reasm->buckets);
	free(stack->reasm);
	stack->reasm = NULL;
}

static void reasm_timeout(struct tn_stack *stack, struct tn_timer *t)
{
	struct reasm_datagram *d =
		(struct reasm_datagram *)((char *)t - offsetof(struct reasm_datagram, timer));
	TN_COUNT(stack, IpReasmTimeout);
	reasm_fail(stack, d);
}

static struct reasm_datagram *reasm_find(struct tn_stack *stack, const struct tn_ip4_rx *ip,
					 uint16_t id)
{
	for (struct reasm_datagram *d = *reasm_bucket(stack, ip->src, ip->dst, id, ip->proto); d;
	     d = d->hnext)
		if (d->id == id && d->src == ip->src && d->dst == ip->dst && d->proto == ip->proto)
			return d;
	return NULL;
}

static struct reasm_datagram *reasm_create(struct tn_stack *stack, const struct tn_ip4_rx *ip,
					   uint16_t id)
{
	struct tn_reasm *r = stack->reasm;

	if (r->count >= stack->cfg.reasm_max_datagrams)
		reasm_fail(stack, r->oldest);
	struct reasm_datagram *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->src = ip->src;
	d->dst = ip->dst;
	d->id = id;
	d->proto = ip->proto;
	tn_timer_init(&d->timer, reasm_timeout);
	if (tn_timer_arm(stack, &d->timer,
			 tn_now(stack) + stack->cfg.reasm_timeout_ms * TN_NSEC_PER_MSEC) < 0) {
		free(d);
		return NULL;
	}
	struct reasm_datagram **head = reasm_bucket(stack, d->src, d->dst, d->id, d->proto);
	d->hnext = *head;
	*head = d;
	d->prev = r->newest;
	if (r->newest)
		r->newest->next = d;
	else
		r->oldest = d;
	r->newest = d;
	r->count++;
	return d;
}

/* Grows the payload buffer to hold end bytes, within the global budget. */
static bool reasm_reserve(struct tn_stack *stack, struct reasm_datagram *d, uint32_t end)
{
	struct tn_reasm *r = stack->reasm;

	if (end <= d->cap)
		return true;
	uint32_t cap = d->cap ? d->cap : 2048;
	while (cap < end)
		cap *= 2;
	if (cap > TN_IP_MAXPACKET)
		cap = TN_IP_MAXPACKET;
	/* Make room by dropping the oldest other datagrams, as Linux's frag evictor does. */
	while (r->bytes + (cap - d->cap) > stack->cfg.reasm_max_bytes && r->oldest != d)
		reasm_fail(stack, r->oldest);
	if (r->bytes + (cap - d->cap) > stack->cfg.reasm_max_bytes)
		return false;
	uint8_t *buf = realloc(d->buf, REASM_MAX_HDR + (size_t)cap);
	if (!buf)
		return false;
	r->bytes += cap - d->cap;
	d->buf = buf;
	d->cap = cap;
	return true;
}

/*
 * Records the fragment [start, end). Fragments are kept unmerged, sorted, so
 * an exact duplicate can be told from an overlap. Returns 1 if new, 0 for an
 * exact duplicate, -1 for an overlap or too many fragments.
 */
static int reasm_add_range(struct reasm_datagram *d, uint32_t start, uint32_t end)
{
	uint32_t lo = 0, hi = d->nranges;
	while (lo < hi) { /* first fragment ending after start */
		uint32_t mid = (lo + hi) / 2;
		if (d->ranges[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < d->nranges && d->ranges[lo].start < end)
		return d->ranges[lo].start == start && d->ranges[lo].end == end ? 0 : -1;
	if (d->nranges == REASM_MAX_RANGES)
		return -1;
	memmove(&d->ranges[lo + 1], &d->ranges[lo], (d->nranges - lo) * sizeof(d->ranges[0]));
	d->ranges[lo] = (struct reasm_range){start, end};
	d->nranges++;
	d->received += end - start;
	return 1;
}

static void reasm_complete(struct tn_stack *stack, struct reasm_datagram *d)
{
	/* Rebuild one unfragmented header in front of the payload, then deliver. */
	uint8_t *hdr = d->buf + REASM_MAX_HDR - d->hdr_len;
	memcpy(hdr, d->hdr, d->hdr_len);
	tn_put16(hdr + 2, (uint16_t)(d->hdr_len + d->total));
	tn_put16(hdr + 6, 0);
	struct tn_ip4_rx ip = {
		.src = d->src,
		.dst = d->dst,
		.proto = d->proto,
		.ttl = hdr[8],
		.tos = hdr[1],
		.hdr = hdr,
		.hdr_len = d->hdr_len,
		.total_len = d->hdr_len + d->total,
	};
	TN_COUNT(stack, IpReasmOKs);
	/* Unlink first so that nothing the delivery does can find it. */
	reasm_unlink(stack, d);
	tn_ipv4_deliver(stack, &ip, d->buf + REASM_MAX_HDR, d->total);
	free(d->buf);
	free(d);
}

void tn_reasm_input(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *payload,
		    size_t payload_len, uint16_t frag)
{
	uint32_t start = (uint32_t)(frag & IP_OFFSET_MASK) * 8;
	uint32_t end = start + (uint32_t)payload_len;
	bool more = frag & IP_FLAG_MF;

	TN_COUNT(stack, IpReasmReqds);
	struct reasm_datagram *d = reasm_find(stack, ip, tn_get16(ip->hdr + 4));
	/* Every fragment but the last carries a multiple of 8 bytes; none is empty. */
	bool bad = payload_len == 0 || (more && (payload_len & 7)) ||
		   ip->hdr_len + end > TN_IP_MAXPACKET;
	if (bad) {
		TN_COUNT(stack, IpInHdrErrors);
		if (d)
			reasm_fail(stack, d);
		else
			TN_COUNT(stack, IpReasmFails);
		return;
	}
	if (!d) {
		d = reasm_create(stack, ip, tn_get16(ip->hdr + 4));
		if (!d) {
			TN_COUNT(stack, IpReasmFails);
			return;
		}
	}
	if (!more) {
		if (d->have_last ? end != d->total : (d->nranges && d->ranges[d->nranges - 1].end > end)) {
			reasm_fail(stack, d); /* two different ends, or data past the end */
			return;
		}
		d->have_last = true;
		d->total = end;
	} else if (d->have_last && end > d->total) {
		reasm_fail(stack, d);
		return;
	}
	/*
	 * The datagram is rebuilt behind the first fragment's header, which may
	 * be longer than this fragment's: a 60-byte first header and a last
	 * fragment that ends at 65515 would make 65575 bytes (Linux's
	 * ip_frag_reasm refuses it the same way).
	 */
	size_t first_hdr_len = start == 0 ? ip->hdr_len : d->have_first ? d->hdr_len : 0;
	if (d->have_last && first_hdr_len + d->total > TN_IP_MAXPACKET) {
		TN_COUNT(stack, IpInHdrErrors);
		reasm_fail(stack, d);
		return;
	}
	int added = reasm_add_range(d, start, end);
	if (added < 0) {
		reasm_fail(stack, d);
		return;
	}
	if (added == 0)
		return; /* exact duplicate: ignore it */
	if (!reasm_reserve(stack, d, end)) {
		reasm_fail(stack, d);
		return;
	}
	memcpy(d->buf + REASM_MAX_HDR + start, payload, payload_len);
	if (start == 0) {
		d->have_first = true;
		d->hdr_len = (uint8_t)ip->hdr_len;
		memcpy(d->hdr, ip->hdr, ip->hdr_len);
	}
	if (d->have_first && d->have_last && d->received == d->total)
		reasm_complete(stack, d);
}
