/*
 * loopback.c - the host's loopback interface (RFC 1122 3.2.1.3: 127.0.0.0/8
 * never leaves the host). A datagram to 127.0.0.0/8 or to the host's own
 * address does not go to the link: it waits in a queue and comes back in
 * as input, as Linux's lo passes it through its backlog, so that two
 * programs on tapnet reach each other at 127.0.0.1 or at tapnet's address,
 * and a connect to a port nobody listens on is refused at once instead of
 * ARPing for itself until it times out.
 *
 * Input is never handled inside the output that made it (TCP would meet a
 * segment for another connection, or its own, half-way through sending):
 * the queue drains from a timer armed for "now", so from the owner's next
 * turn of its loop. What is queued then is handled; what that sends waits
 * for the next turn. The datagram keeps what its sender said of it (a GSO
 * run stays one datagram, its checksum is not computed: nobody checks a
 * checksum on lo), and the queue is bounded: beyond it a datagram is
 * dropped and counted (IpOutDiscards), as a full backlog drops on Linux.
 */
#include "stack_internal.h"

#include <stdlib.h>
#include <string.h>

#define LOOP_MAX_PACKETS 2048
#define LOOP_MAX_BYTES (8u << 20)

struct tn_loop_packet {
	struct tn_loop_packet *next;
	struct tn_frame_meta meta;
	size_t len;
	uint8_t data[]; /* the IPv4 datagram */
};

struct tn_loopback {
	struct tn_timer timer; /* first: the timer callback finds the queue from it */
	struct tn_loop_packet *head, **tail;
	uint32_t packets;
	size_t bytes;
};

bool tn_ipv4_to_self(const struct tn_stack *stack, tn_ip4 dst)
{
	return tn_ip4_is_loopback(dst) || dst == stack->cfg.addr;
}

tn_ip4 tn_ipv4_source_for(const struct tn_stack *stack, tn_ip4 dst)
{
	return tn_ip4_is_loopback(dst) ? TN_IP4_LOOPBACK : stack->cfg.addr;
}

static void drain(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_loopback *lo = (struct tn_loopback *)t;

	/* what is queued now; what these send comes back next turn */
	for (uint32_t budget = lo->packets; budget && lo->head; budget--) {
		struct tn_loop_packet *p = lo->head;
		lo->head = p->next;
		if (!lo->head)
			lo->tail = &lo->head;
		lo->packets--;
		lo->bytes -= p->len;
		tn_ipv4_loop_input(stack, &p->meta, p->data, p->len);
		free(p);
	}
	if (lo->head)
		tn_timer_arm(stack, &lo->timer, tn_now(stack));
}

int tn_loopback_init(struct tn_stack *stack)
{
	struct tn_loopback *lo = calloc(1, sizeof(*lo));
	if (!lo)
		return -1;
	tn_timer_init(&lo->timer, drain);
	lo->tail = &lo->head;
	stack->loopback = lo;
	return 0;
}

void tn_loopback_free(struct tn_stack *stack)
{
	struct tn_loopback *lo = stack->loopback;
	if (!lo)
		return;
	while (lo->head) {
		struct tn_loop_packet *p = lo->head;
		lo->head = p->next;
		free(p);
	}
	free(lo);
	stack->loopback = NULL;
}

struct tn_loop_packet *tn_loopback_reserve(struct tn_stack *stack, size_t len)
{
	struct tn_loopback *lo = stack->loopback;
	if (lo->packets >= LOOP_MAX_PACKETS || lo->bytes + len > LOOP_MAX_BYTES)
		return NULL;
	struct tn_loop_packet *p = malloc(sizeof(*p) + len);
	if (!p)
		return NULL;
	p->next = NULL;
	p->len = len;
	return p;
}

uint8_t *tn_loopback_data(struct tn_loop_packet *p)
{
	return p->data;
}

void tn_loopback_queue(struct tn_stack *stack, struct tn_loop_packet *p,
		       const struct tn_frame_meta *meta)
{
	struct tn_loopback *lo = stack->loopback;

	/* a checksum left to the link is as good as checked: it never crossed one */
	p->meta = meta ? *meta : (struct tn_frame_meta){ 0 };
	p->meta.flags = TN_FRAME_CSUM_VALID;
	p->meta.csum_start = 0;
	p->meta.csum_offset = 0;
	*lo->tail = p;
	lo->tail = &p->next;
	lo->packets++;
	lo->bytes += p->len;
	if (!tn_timer_armed(&lo->timer))
		tn_timer_arm(stack, &lo->timer, tn_now(stack));
}
