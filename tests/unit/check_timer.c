/* check_timer.c - the timer heap: order, re-arm, cancel, next deadline. */
#include <check.h>

#include "stack_harness.h"

Suite *timer_suite(void);

static int fired_order[64];
static int nfired;

struct numbered_timer {
	struct tn_timer t;
	int n;
};

static void record(struct tn_stack *stack, struct tn_timer *t)
{
	fired_order[nfired++] = ((struct numbered_timer *)t)->n;
}

START_TEST(timers_fire_in_deadline_order)
{
	struct harness *h = h_new(NULL);
	struct numbered_timer ts[40];
	nfired = 0;
	uint64_t base = h->now;
	for (int i = 0; i < 40; i++) {
		ts[i].n = i;
		tn_timer_init(&ts[i].t, record);
		/* a scrambled order of deadlines: (i * 17) % 40 */
		ck_assert_int_eq(tn_timer_arm(h->stack, &ts[i].t, base + (uint64_t)((i * 17) % 40 + 1) * 1000), 0);
	}
	ck_assert_uint_eq(tn_stack_next_deadline(h->stack), base + 1000);
	h_advance(h, 100000);
	ck_assert_int_eq(nfired, 40);
	for (int k = 0; k < 40; k++)
		ck_assert_int_eq((fired_order[k] * 17) % 40, k);
	ck_assert_uint_eq(tn_stack_next_deadline(h->stack), TN_TIME_NEVER);
	h_free(h);
}
END_TEST

START_TEST(cancel_and_rearm)
{
	struct harness *h = h_new(NULL);
	struct numbered_timer a = {.n = 1}, b = {.n = 2}, c = {.n = 3};
	nfired = 0;
	tn_timer_init(&a.t, record);
	tn_timer_init(&b.t, record);
	tn_timer_init(&c.t, record);
	tn_timer_arm(h->stack, &a.t, h->now + 100);
	tn_timer_arm(h->stack, &b.t, h->now + 200);
	tn_timer_arm(h->stack, &c.t, h->now + 300);
	tn_timer_cancel(h->stack, &a.t);
	ck_assert(!tn_timer_armed(&a.t));
	tn_timer_cancel(h->stack, &a.t); /* twice is harmless */
	tn_timer_arm(h->stack, &c.t, h->now + 50); /* earlier */
	tn_timer_arm(h->stack, &b.t, h->now + 500); /* later */
	ck_assert_uint_eq(tn_stack_next_deadline(h->stack), h->now + 50);
	h_advance(h, 1000);
	ck_assert_int_eq(nfired, 2);
	ck_assert_int_eq(fired_order[0], 3);
	ck_assert_int_eq(fired_order[1], 2);
	h_free(h);
}
END_TEST

Suite *timer_suite(void)
{
	Suite *s = suite_create("timer");
	TCase *tc = tcase_create("heap");
	tcase_add_test(tc, timers_fire_in_deadline_order);
	tcase_add_test(tc, cancel_and_rearm);
	suite_add_tcase(s, tc);
	return s;
}
