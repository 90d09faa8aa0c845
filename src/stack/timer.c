/*
 * timer.c - the core's timers: a binary min-heap of intrusive timers.
 *
 * Arm, re-arm and cancel are O(log n); the next deadline is O(1). Timers
 * whose entries all share one fixed timeout (TIME_WAIT) keep their own FIFO
 * and put only its head here.
 */
#include "stack_internal.h"

#include <stdlib.h>

void tn_timer_init(struct tn_timer *t, tn_timer_fn fn)
{
	t->deadline = TN_TIME_NEVER;
	t->heap_index = 0;
	t->fn = fn;
}

static void heap_place(struct tn_timer_heap *h, uint32_t i, struct tn_timer *t)
{
	h->slots[i] = t;
	t->heap_index = i;
}

static void sift_up(struct tn_timer_heap *h, uint32_t i)
{
	struct tn_timer *t = h->slots[i];

	while (i > 1 && h->slots[i / 2]->deadline > t->deadline) {
		heap_place(h, i, h->slots[i / 2]);
		i /= 2;
	}
	heap_place(h, i, t);
}

static void sift_down(struct tn_timer_heap *h, uint32_t i)
{
	struct tn_timer *t = h->slots[i];

	for (;;) {
		uint32_t child = 2 * i;
		if (child > h->count)
			break;
		if (child < h->count && h->slots[child + 1]->deadline < h->slots[child]->deadline)
			child++;
		if (h->slots[child]->deadline >= t->deadline)
			break;
		heap_place(h, i, h->slots[child]);
		i = child;
	}
	heap_place(h, i, t);
}

static int heap_reserve(struct tn_timer_heap *h)
{
	if (h->count + 1 < h->cap)
		return 0;
	uint32_t cap = h->cap ? h->cap * 2 : 64;
	struct tn_timer **slots = realloc(h->slots, cap * sizeof(*slots));
	if (!slots)
		return -1;
	h->slots = slots;
	h->cap = cap;
	return 0;
}

int tn_timer_arm(struct tn_stack *stack, struct tn_timer *t, uint64_t deadline)
{
	struct tn_timer_heap *h = &stack->timers;

	if (tn_timer_armed(t)) {
		uint64_t old = t->deadline;
		t->deadline = deadline;
		if (deadline < old)
			sift_up(h, t->heap_index);
		else
			sift_down(h, t->heap_index);
		return 0;
	}
	if (heap_reserve(h) < 0)
		return -1;
	t->deadline = deadline;
	h->count++;
	heap_place(h, h->count, t);
	sift_up(h, h->count);
	return 0;
}

void tn_timer_cancel(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_timer_heap *h = &stack->timers;
	uint32_t i = t->heap_index;

	if (!i)
		return;
	struct tn_timer *last = h->slots[h->count--];
	t->heap_index = 0;
	if (last == t)
		return;
	heap_place(h, i, last);
	if (i > 1 && h->slots[i / 2]->deadline > last->deadline)
		sift_up(h, i);
	else
		sift_down(h, i);
}

uint64_t tn_stack_next_deadline(const struct tn_stack *stack)
{
	return stack->timers.count ? stack->timers.slots[1]->deadline : TN_TIME_NEVER;
}

void tn_stack_run_timers(struct tn_stack *stack, uint64_t now_ns)
{
	struct tn_timer_heap *h = &stack->timers;

	/* A callback may re-arm its own timer for "now": it then runs next call. */
	uint32_t budget = h->count;
	while (h->count && h->slots[1]->deadline <= now_ns && budget--) {
		struct tn_timer *t = h->slots[1];
		tn_timer_cancel(stack, t);
		t->fn(stack, t);
	}
}

void tn_timers_free(struct tn_timer_heap *h)
{
	free(h->slots);
	h->slots = NULL;
	h->count = h->cap = 0;
}
