/*
 * check_close_sim.c - connection teardown and TIME_WAIT between two cores
 * on a simulated wire (sim.h), with the fake clock: who ends in TIME_WAIT,
 * a lost last ACK, a new incarnation of a 4-tuple still in TIME_WAIT
 * (RFC 6191, with and without timestamps), and a churn of short connections
 * against a small table. The map from CONFORMANCE.md items to tests is at
 * the top of tests/unit/check_close.c.
 *
 * Node 0 (10.0.0.1) is the client, node 1 (10.0.0.2) the server.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define PORT 13
#define MS TN_NSEC_PER_MSEC
#define SEC TN_NSEC_PER_SEC

static struct sim_link clean_link(void)
{
	return (struct sim_link){.delay_ns = 5 * MS};
}

/* Steps the simulation until done(arg) or limit ns pass; returns done(arg). */
static bool run_until(struct sim *sim, bool (*done)(void *), void *arg, uint64_t limit)
{
	uint64_t end = sim->now + limit;
	while (!done(arg)) {
		if (!sim_step(sim, end))
			return done(arg);
	}
	return true;
}

static bool established_both(void *arg)
{
	struct tn_sock **s = arg;
	if (!s[1])
		s[1] = tn_sock_accept(s[2], NULL);
	return s[1] && tn_sock_state(s[0]) == TN_TCP_ESTABLISHED &&
	       tn_sock_state(s[1]) == TN_TCP_ESTABLISHED;
}

/* Client socket (bound to cport with SO_REUSEADDR unless 0) connected to the server's listener. */
static void connect_pair(struct sim *sim, struct tn_sock *l, uint16_t cport, struct tn_sock **c,
			 struct tn_sock **s)
{
	struct tn_sock *v[3] = {tn_sock_open(sim->node[0].stack), NULL, l};
	if (cport) {
		ck_assert_int_eq(tn_sock_set_reuseaddr(v[0], true), 0);
		ck_assert_int_eq(tn_sock_bind(v[0], 0, cport), 0);
	}
	ck_assert_int_eq(tn_sock_connect(v[0], SIM_ADDR_B, PORT), -EINPROGRESS);
	ck_assert(run_until(sim, established_both, v, 60 * SEC));
	*c = v[0];
	*s = v[1];
}

static struct tn_sock *listen_on(struct sim *sim, int node)
{
	struct tn_sock *l = tn_sock_open(sim->node[node].stack);
	ck_assert_int_eq(tn_sock_set_reuseaddr(l, true), 0);
	ck_assert_int_eq(tn_sock_bind(l, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(l, 64), 0);
	return l;
}

static bool readable_eof(void *arg)
{
	char b[256];
	long n;
	while ((n = tn_sock_recv(arg, b, sizeof(b))) > 0)
		;
	return n == 0;
}

/* daytime: the server writes a line and closes first; the client reads to EOF and closes. */
static void daytime_exchange(struct sim *sim, struct tn_sock *l, uint16_t cport)
{
	struct tn_sock *c, *s;
	connect_pair(sim, l, cport, &c, &s);
	ck_assert_int_eq(tn_sock_send(s, "Tue Jan  1 00:00:00 2030\r\n", 26), 26);
	tn_sock_close(s);
	ck_assert(run_until(sim, readable_eof, c, 600 * SEC));
	tn_sock_close(c);
}

static size_t sock_count(struct sim *sim, int node)
{
	return tn_sock_list(sim->node[node].stack, NULL, 0);
}

static bool nothing_but_listener(void *arg)
{
	struct sim *sim = arg;
	return sock_count(sim, 0) == 0 && sock_count(sim, 1) == 1;
}

/* ---- CONFORMANCE 1, 3, 12: the side that closes first, and only it, waits */

START_TEST(passive_side_keeps_no_time_wait)
{
	struct sim_link link = clean_link();
	link.loss = 0.05;
	link.dup = 0.02;
	link.reorder = 0.05;
	link.reorder_ns = 3 * MS;
	struct sim *sim = sim_new(&link, 11, NULL);
	struct tn_sock *l = listen_on(sim, 1);
	for (int i = 0; i < 50; i++)
		daytime_exchange(sim, l, 0);
	ck_assert(run_until(sim, nothing_but_listener, sim, 600 * SEC));
	struct tn_stack *a = sim->node[0].stack, *b = sim->node[1].stack;
	ck_assert_uint_eq(tn_timewait_count(a), 0);
	ck_assert_uint_gt(tn_timewait_count(b), 0);
	ck_assert_uint_le(tn_timewait_count(b), 50);
	sim_run_for(sim, 61 * SEC);
	ck_assert_uint_eq(tn_timewait_count(b), 0);
	ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpExtTW) + tn_stack_counter(b, TN_CTR_TcpExtTWKilled) +
				  tn_stack_counter(b, TN_CTR_TcpExtTWRecycled),
			  50);
	ck_assert_uint_eq(tn_stack_counter(a, TN_CTR_TcpExtTW), 0);
	sim_free(sim);
}
END_TEST

/* ---- CONFORMANCE 4 */

static bool both_in_time_wait(void *arg)
{
	struct sim *sim = arg;
	return tn_timewait_count(sim->node[0].stack) == 1 && tn_timewait_count(sim->node[1].stack) == 1;
}

START_TEST(simultaneous_close_both_time_wait)
{
	struct sim_link link = clean_link();
	struct sim *sim = sim_new(&link, 3, NULL);
	struct tn_sock *l = listen_on(sim, 1);
	struct tn_sock *c, *s;
	connect_pair(sim, l, 0, &c, &s);
	/* Both FINs leave before either arrives (5 ms one way). */
	tn_sock_close(c);
	tn_sock_close(s);
	ck_assert(run_until(sim, both_in_time_wait, sim, 60 * SEC));
	ck_assert_uint_eq(sock_count(sim, 0), 0);
	ck_assert_uint_eq(sock_count(sim, 1), 1);
	ck_assert_uint_eq(tn_stack_counter(sim->node[0].stack, TN_CTR_TcpOutRsts), 0);
	ck_assert_uint_eq(tn_stack_counter(sim->node[1].stack, TN_CTR_TcpOutRsts), 0);
	sim_run_for(sim, 60 * SEC);
	ck_assert_uint_eq(tn_timewait_count(sim->node[0].stack), 0);
	ck_assert_uint_eq(tn_timewait_count(sim->node[1].stack), 0);
	sim_free(sim);
}
END_TEST

/* ---- CONFORMANCE 13: the server's last ACK is lost */

struct drop_last_ack {
	bool armed;
	unsigned dropped;
};

static bool is_pure_ack_from(int from, int node, const uint8_t *f, size_t len)
{
	if (from != node || len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 || f[14 + 9] != 6)
		return false;
	const uint8_t *t = f + 14 + (size_t)(f[14] & 0x0f) * 4;
	size_t ip_len = (size_t)(f[16] << 8 | f[17]);
	size_t payload = ip_len - (size_t)(f[14] & 0x0f) * 4 - (size_t)(t[12] >> 4) * 4;
	return t[13] == 0x10 && payload == 0;
}

static bool drop_first_pure_ack(void *arg, int from, const uint8_t *f, size_t len)
{
	struct drop_last_ack *d = arg;
	if (!d->armed || !is_pure_ack_from(from, 1, f, len))
		return false;
	d->armed = false;
	d->dropped++;
	return true;
}

static bool client_gone(void *arg)
{
	struct sim *sim = arg;
	return sock_count(sim, 0) == 0;
}

START_TEST(lost_last_ack)
{
	struct sim_link link = clean_link();
	struct sim *sim = sim_new(&link, 5, NULL);
	struct drop_last_ack d = {0};
	sim->filter = drop_first_pure_ack;
	sim->filter_arg = &d;
	struct tn_sock *l = listen_on(sim, 1);
	struct tn_sock *c, *s;
	connect_pair(sim, l, 0, &c, &s);
	tn_sock_close(s); /* the server's FIN; the client's FIN comes back when it has read EOF */
	ck_assert(run_until(sim, readable_eof, c, 10 * SEC));
	/* From here on the server's next pure ACK is its last one: drop it. */
	d.armed = true;
	tn_sock_close(c);
	ck_assert(run_until(sim, client_gone, sim, 60 * SEC));
	ck_assert_uint_eq(d.dropped, 1);
	struct tn_stack *a = sim->node[0].stack, *b = sim->node[1].stack;
	/* The client retransmitted its FIN, the TIME_WAIT entry ACKed it: both ended cleanly. */
	ck_assert_uint_ge(tn_stack_counter(a, TN_CTR_TcpRetransSegs), 1);
	ck_assert_uint_eq(tn_stack_counter(a, TN_CTR_TcpOutRsts), 0);
	ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpOutRsts), 0);
	ck_assert_uint_eq(tn_timewait_count(b), 1);
	struct tn_tw_info e;
	tn_timewait_list(b, &e, 1);
	ck_assert_uint_gt(e.remaining_ms, 59000); /* restarted by the retransmitted FIN */
	sim_free(sim);
}
END_TEST

/* ---- CONFORMANCE 16 through two stacks */

struct synack_seen {
	uint32_t seq;
	unsigned n;
};

static bool record_synack(void *arg, int from, const uint8_t *f, size_t len)
{
	struct synack_seen *w = arg;
	if (from == 1 && len >= 14 + 40 && f[12] == 0x08 && f[14 + 9] == 6) {
		const uint8_t *t = f + 14 + (size_t)(f[14] & 0x0f) * 4;
		if (t[13] == 0x12) {
			w->seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
			w->n++;
		}
	}
	return false;
}

static void syn_reuse(bool timestamps)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.tcp_timestamps = timestamps;
	struct sim_link link = clean_link();
	struct sim *sim = sim_new(&link, 9, &cfg);
	struct synack_seen w = {0};
	sim->filter = record_synack;
	sim->filter_arg = &w;
	struct tn_stack *b = sim->node[1].stack;
	struct tn_sock *l = listen_on(sim, 1);

	daytime_exchange(sim, l, 40000);
	ck_assert(run_until(sim, nothing_but_listener, sim, 60 * SEC));
	ck_assert_uint_eq(tn_timewait_count(b), 1);
	struct tn_tw_info e;
	tn_timewait_list(b, &e, 1);
	ck_assert_uint_eq(e.remote_port, 40000);
	ck_assert(e.ts == timestamps);

	/* A second later the client comes back from the same port: same 4-tuple. */
	sim_run_for(sim, SEC);
	daytime_exchange(sim, l, 40000);
	ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpExtTWRecycled), 1);
	ck_assert_uint_eq(w.n, 2);
	ck_assert_uint_eq(w.seq, e.snd_nxt + 65537); /* the new ISN clears the old sequence space */
	ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpPassiveOpens), 2);
	ck_assert_uint_eq(tn_stack_counter(sim->node[0].stack, TN_CTR_TcpAttemptFails), 0);
	ck_assert(run_until(sim, nothing_but_listener, sim, 60 * SEC));
	ck_assert_uint_eq(tn_timewait_count(b), 1); /* the second incarnation's */
	sim_free(sim);
}

START_TEST(syn_reuse_no_timestamps)
{
	syn_reuse(false);
}
END_TEST

START_TEST(syn_reuse_timestamps)
{
	syn_reuse(true);
}
END_TEST

/* ---- CONFORMANCE 20: many short connections against a small table */

static void churn(enum tn_tcp_tw_overflow policy)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.tcp_tw_max_buckets = 64;
	cfg.tcp_tw_overflow = (uint8_t)policy;
	struct sim_link link = clean_link();
	link.delay_ns = 100 * 1000; /* 0.1 ms: 1000 connections well within one time_wait */
	struct sim *sim = sim_new(&link, 21, &cfg);
	struct tn_stack *b = sim->node[1].stack;
	struct tn_sock *l = listen_on(sim, 1);
	const int n = 1000;
	uint64_t t0 = sim->now;
	for (int i = 0; i < n; i++) {
		daytime_exchange(sim, l, 0);
		ck_assert_uint_le(tn_timewait_count(b), 64);
	}
	ck_assert(run_until(sim, nothing_but_listener, sim, 60 * SEC));
	ck_assert_uint_lt(sim->now - t0, 60 * SEC);
	ck_assert_uint_eq(tn_timewait_count(b), 64);
	ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpExtTCPTimeWaitOverflow), n - 64);
	struct tn_tw_info e[64];
	ck_assert_uint_eq(tn_timewait_list(b, e, 64), 64);
	if (policy == TN_TCP_TW_DROP)
		ck_assert_uint_gt(e[63].remaining_ms, e[0].remaining_ms); /* the first 64 stayed */
	/* the server still answers */
	daytime_exchange(sim, l, 0);
	sim_run_for(sim, 61 * SEC);
	ck_assert_uint_eq(tn_timewait_count(b), 0);
	sim_free(sim);
}

START_TEST(churn_keeps_table_bounded)
{
	churn(TN_TCP_TW_DROP);
	churn(TN_TCP_TW_EVICT_OLDEST);
}
END_TEST

static Suite *close_sim_suite(void)
{
	Suite *s = suite_create("close_sim");
	TCase *tc = tcase_create("teardown");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, passive_side_keeps_no_time_wait);
	tcase_add_test(tc, simultaneous_close_both_time_wait);
	tcase_add_test(tc, lost_last_ack);
	tcase_add_test(tc, syn_reuse_no_timestamps);
	tcase_add_test(tc, syn_reuse_timestamps);
	tcase_add_test(tc, churn_keeps_table_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(close_sim_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
