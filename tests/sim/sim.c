/* sim.c - see sim.h */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#include "stack/stack_internal.h"

struct sim_pkt {
	uint64_t at;
	uint64_t order;
	int to;
	struct tn_frame_meta meta; /* only with link.gso_whole */
	size_t len;
	uint8_t data[];
};

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64: small, fast, good enough for fault injection */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) / 9007199254740992.0;
}

static bool pkt_before(const struct sim_pkt *a, const struct sim_pkt *b)
{
	return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void heap_push(struct sim *sim, struct sim_pkt *p)
{
	if (sim->nheap == sim->capheap) {
		sim->capheap = sim->capheap ? sim->capheap * 2 : 256;
		sim->heap = realloc(sim->heap, sim->capheap * sizeof(*sim->heap));
	}
	size_t i = sim->nheap++;
	while (i > 0 && pkt_before(p, sim->heap[(i - 1) / 2])) {
		sim->heap[i] = sim->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	sim->heap[i] = p;
}

static struct sim_pkt *heap_pop(struct sim *sim)
{
	struct sim_pkt *top = sim->heap[0];
	struct sim_pkt *last = sim->heap[--sim->nheap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= sim->nheap)
			break;
		if (c + 1 < sim->nheap && pkt_before(sim->heap[c + 1], sim->heap[c]))
			c++;
		if (!pkt_before(sim->heap[c], last))
			break;
		sim->heap[i] = sim->heap[c];
		i = c;
	}
	if (sim->nheap)
		sim->heap[i] = last;
	return top;
}

static struct sim_pkt *pkt_new(struct sim *sim, int to, const void *frame, size_t len, uint64_t at)
{
	struct sim_pkt *p = malloc(sizeof(*p) + len);
	p->at = at;
	p->order = sim->seq++;
	p->to = to;
	memset(&p->meta, 0, sizeof(p->meta));
	p->len = len;
	memcpy(p->data, frame, len);
	return p;
}

static void enqueue(struct sim *sim, int to, const void *frame, size_t len, uint64_t at)
{
	heap_push(sim, pkt_new(sim, to, frame, len, at));
}

static bool is_arp(const uint8_t *frame, size_t len)
{
	return len >= 14 && frame[12] == 0x08 && frame[13] == 0x06;
}

static void wire_output(struct sim_node *n, const struct tn_frame_meta *meta, const void *frame,
			size_t len);

static const struct tn_frame_meta plain_meta; /* a frame with nothing left to do */

struct wire_ctx {
	struct sim_node *node;
};

static void wire_plain(void *ctx, const uint8_t *frame, size_t len)
{
	wire_output(((struct wire_ctx *)ctx)->node, &plain_meta, frame, len);
}

static void node_output(void *ctx, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	struct sim_node *n = ctx;

	/* the link does what a NIC does, unless the test wants GSO frames whole */
	if (!n->sim->link.gso_whole &&
	    (meta->gso_type == TN_GSO_TCPV4 || (meta->flags & TN_FRAME_CSUM_PARTIAL))) {
		struct wire_ctx w = { n };
		tn_frame_finish(meta, frame, len, wire_plain, &w);
		return;
	}
	wire_output(n, meta, frame, len);
}

/*
 * Large frames in pieces (tn_env.output_iov) are joined and go out as any
 * other, as tapnetd takes them (its writev); small ones are declined, so
 * the core builds them in one piece: both ways run in every simulation.
 */
static bool node_output_iov(void *ctx, const struct tn_frame_meta *meta, const struct tn_iov *piece,
			    int n, size_t len)
{
	static uint8_t frame[65536 + 64];
	size_t at = 0;

	if (len <= 1536 || len > sizeof(frame))
		return false;
	for (int i = 0; i < n; i++) {
		if (at + piece[i].len > len)
			abort();
		memcpy(frame + at, piece[i].base, piece[i].len);
		at += piece[i].len;
	}
	if (at != len)
		abort();
	node_output(ctx, meta, frame, len);
	return true;
}

static void wire_output(struct sim_node *n, const struct tn_frame_meta *meta, const void *frame,
			size_t len)
{
	struct sim *sim = n->sim;
	const struct sim_link *l = &sim->link;
	int to = 1 - n->idx;
	uint64_t at = sim->now;

	sim->frames++;
	if (sim->filter && sim->filter(sim->filter_arg, n->idx, frame, len)) {
		sim->dropped++;
		return;
	}
	if (l->rate_bps) {
		uint64_t start = n->busy_until > sim->now ? n->busy_until : sim->now;
		if (start - sim->now > l->queue_ns) {
			sim->dropped++; /* drop-tail at the bottleneck */
			return;
		}
		n->busy_until = start + (uint64_t)len * 8 * 1000000000ull / l->rate_bps;
		at = n->busy_until;
	}
	at += l->delay_ns;
	/* ARP is left alone: the faults are for the transport to cope with. */
	if (is_arp(frame, len)) {
		enqueue(sim, to, frame, len, at);
		return;
	}
	if (l->stall_every_ns) {
		uint64_t phase = sim->now % l->stall_every_ns;
		if (phase < l->stall_ns) {
			uint64_t end = sim->now - phase + l->stall_ns + l->delay_ns;
			if (end > at)
				at = end;
			sim->stalled++;
		}
	}
	if (rng_unit(&sim->rng) < l->loss) {
		sim->dropped++;
		return;
	}
	if (l->reorder > 0 && rng_unit(&sim->rng) < l->reorder) {
		sim->reordered++;
		at += rng_next(&sim->rng) % (l->reorder_ns + 1);
	}
	struct sim_pkt *p = pkt_new(sim, to, frame, len, at);
	p->meta = *meta;
	if (l->corrupt > 0 && rng_unit(&sim->rng) < l->corrupt && len > 14) {
		size_t off = 14 + rng_next(&sim->rng) % (len - 14);
		p->data[off] ^= (uint8_t)(1 + rng_next(&sim->rng) % 255);
		sim->corrupted++;
	}
	heap_push(sim, p);
	if (l->dup > 0 && rng_unit(&sim->rng) < l->dup) {
		sim->duplicated++;
		struct sim_pkt *d = pkt_new(sim, to, frame, len, at + 1000 + rng_next(&sim->rng) % 100000);
		d->meta = *meta;
		heap_push(sim, d);
	}
}

static uint64_t node_now(void *ctx)
{
	return ((struct sim_node *)ctx)->sim->now;
}

static void node_random(void *ctx, void *buf, size_t len)
{
	struct sim_node *n = ctx;
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rng_next(&n->rng);
}

struct sim *sim_new(const struct sim_link *link, uint64_t seed, const struct tn_config *cfg)
{
	struct sim *sim = calloc(1, sizeof(*sim));
	sim->now = 1000 * TN_NSEC_PER_SEC;
	sim->rng = seed;
	sim->link = *link;
	for (int i = 0; i < 2; i++) {
		struct sim_node *n = &sim->node[i];
		struct tn_config c;
		if (cfg)
			c = *cfg;
		else
			tn_config_defaults(&c);
		c.addr = i == 0 ? SIM_ADDR_A : SIM_ADDR_B;
		memset(c.mac, 0, sizeof(c.mac));
		n->sim = sim;
		n->idx = i;
		n->rng = seed * 31 + (uint64_t)i + 1;
		struct tn_env env = {node_now, node_random, node_output, n, node_output_iov};
		n->stack = tn_stack_new(&c, &env);
		if (!n->stack) {
			sim_free(sim);
			return NULL;
		}
	}
	return sim;
}

void sim_free(struct sim *sim)
{
	if (!sim)
		return;
	for (int i = 0; i < 2; i++)
		tn_stack_free(sim->node[i].stack);
	while (sim->nheap)
		free(heap_pop(sim));
	free(sim->heap);
	free(sim);
}

uint64_t sim_next_event(const struct sim *sim)
{
	uint64_t t = sim->nheap ? sim->heap[0]->at : TN_TIME_NEVER;
	for (int i = 0; i < 2; i++) {
		uint64_t d = tn_stack_next_deadline(sim->node[i].stack);
		if (d < t)
			t = d;
	}
	return t;
}

bool sim_step(struct sim *sim, uint64_t until)
{
	uint64_t t = sim_next_event(sim);
	if (t > until)
		return false;
	if (t > sim->now)
		sim->now = t;
	bool batch = sim->link.rx_batch_ns && sim->nheap && sim->heap[0]->at <= sim->now;
	if (batch) {
		sim->now += sim->link.rx_batch_ns;
		for (int i = 0; i < 2; i++)
			tn_stack_batch_begin(sim->node[i].stack);
	}
	while (sim->nheap && sim->heap[0]->at <= sim->now) {
		struct sim_pkt *p = heap_pop(sim);
		tn_stack_input(sim->node[p->to].stack, &p->meta, p->data, p->len);
		free(p);
	}
	for (int i = 0; batch && i < 2; i++)
		tn_stack_batch_end(sim->node[i].stack);
	for (int i = 0; i < 2; i++)
		tn_stack_run_timers(sim->node[i].stack, sim->now);
	return true;
}

void sim_run_for(struct sim *sim, uint64_t ns)
{
	uint64_t end = sim->now + ns;
	while (sim_step(sim, end))
		;
	sim->now = end;
}
