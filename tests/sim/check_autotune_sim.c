/*
 * check_autotune_sim.c - buffers that grow with the path, between two cores
 * on a simulated link with a propagation delay and a bottleneck rate: the
 * receive buffer grows to about the bandwidth-delay product and the
 * transfer then runs near the link rate (simulated time, so the figures are
 * exact); fixed or pinned (SO_RCVBUF) buffers do not grow; a refused charge
 * keeps the size; idle connections keep their initial buffers; every byte
 * is checked and every charge is given back.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "sim.h"

#define PORT 5001
#define MB (1024 * 1024)

/* 50 ms round trip at 100 Mbit/s: a bandwidth-delay product of 625 000 bytes */
#define RATE_BPS 100000000ull
#define ONE_WAY_NS (25 * TN_NSEC_PER_MSEC)
#define BDP_BYTES (RATE_BPS / 8 * 2 * ONE_WAY_NS / TN_NSEC_PER_SEC)

static uint8_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull;
	return (uint8_t)(x >> 56) ^ (uint8_t)(i >> 10);
}

struct ledger {
	int64_t balance;   /* bytes charged and not given back */
	int64_t budget;    /* refuse a charge that would go beyond (0: no limit) */
	unsigned refusals;
};

static bool ledger_cb(void *ctx, void *owner, int64_t bytes)
{
	struct ledger *l = ctx;
	(void)owner;
	if (bytes > 0 && l->budget && l->balance + bytes > l->budget) {
		l->refusals++;
		return false;
	}
	l->balance += bytes;
	return true;
}

struct xfer {
	struct sim *sim;
	struct tn_sock *listener, *client, *server;
	uint64_t total, sent, rcvd;
	uint64_t t_half, t_end;       /* simulated times the reader had half, all */
	bool eof;
	struct tn_sock_info client_info, server_info; /* just before the end */
	unsigned sndbuf_steps;        /* times the client's send buffer was seen to grow */
};

static uint8_t chunk[65536];

static void pump(struct xfer *x)
{
	while (x->sent < x->total) {
		size_t n = sizeof(chunk);
		if (n > x->total - x->sent)
			n = (size_t)(x->total - x->sent);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(x->sent + i);
		long r = tn_sock_send(x->client, chunk, n);
		if (r == -EAGAIN)
			break;
		ck_assert_int_gt(r, 0);
		x->sent += (uint64_t)r;
		if (x->sent == x->total)
			ck_assert_int_eq(tn_sock_shutdown(x->client, TN_SHUT_WR), 0);
	}
	if (!x->server)
		return;
	for (;;) {
		long r = tn_sock_recv(x->server, chunk, sizeof(chunk));
		if (r == -EAGAIN)
			break;
		ck_assert_int_ge(r, 0);
		if (r == 0) {
			x->eof = true;
			break;
		}
		for (long i = 0; i < r; i++)
			if (chunk[i] != pattern(x->rcvd + (uint64_t)i))
				ck_abort_msg("byte %llu differs", (unsigned long long)(x->rcvd + (uint64_t)i));
		x->rcvd += (uint64_t)r;
		if (!x->t_half && x->rcvd >= x->total / 2)
			x->t_half = x->sim->now;
	}
}

/* A sim with the delay line, both cores charged to their ledgers. */
static struct sim *new_sim(const struct tn_config *cfg, struct ledger *la, struct ledger *lb)
{
	/*
	 * The bottleneck queue holds what 4 MiB of send buffer can put in
	 * flight beyond the path: nothing is lost, so what limits the rate is
	 * the windows (what this tests), not loss recovery.
	 */
	struct sim_link link = { .delay_ns = ONE_WAY_NS, .rate_bps = RATE_BPS,
				 .queue_ns = 300 * TN_NSEC_PER_MSEC };
	struct sim *sim = sim_new(&link, 7, cfg);
	ck_assert_ptr_nonnull(sim);
	tn_stack_set_charge(sim->node[0].stack, ledger_cb, la);
	tn_stack_set_charge(sim->node[1].stack, ledger_cb, lb);
	return sim;
}

/*
 * total bytes client -> server; server_rcvbuf: SO_RCVBUF on the listener
 * once it listens (0: none); client_sndbuf: SO_SNDBUF on the client once
 * it is connecting (0: none).
 */
static void transfer_pinned(struct xfer *x, struct sim *sim, uint64_t total, uint32_t server_rcvbuf,
			    uint32_t client_sndbuf)
{
	*x = (struct xfer){ .sim = sim, .total = total };
	x->listener = tn_sock_open(sim->node[1].stack);
	ck_assert_int_eq(tn_sock_bind(x->listener, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(x->listener, 4), 0);
	if (server_rcvbuf)
		ck_assert_int_eq(tn_sock_set_bufsize(x->listener, server_rcvbuf, 0), 0);
	x->client = tn_sock_open(sim->node[0].stack);
	ck_assert_int_eq(tn_sock_connect(x->client, SIM_ADDR_B, PORT), -EINPROGRESS);
	if (client_sndbuf)
		ck_assert_int_eq(tn_sock_set_bufsize(x->client, 0, client_sndbuf), 0);
	uint64_t limit = sim->now + 120 * TN_NSEC_PER_SEC;
	while (!x->eof && sim->now < limit) {
		if (!sim_step(sim, limit))
			break;
		if (!x->server)
			x->server = tn_sock_accept(x->listener, NULL);
		if (tn_sock_state(x->client) == TN_TCP_ESTABLISHED) {
			uint32_t before = x->client_info.sndbuf;
			tn_sock_info(x->client, &x->client_info);
			if (before && x->client_info.sndbuf != before)
				x->sndbuf_steps++;
			if (x->server)
				tn_sock_info(x->server, &x->server_info);
		}
		pump(x);
	}
	x->t_end = sim->now;
	struct tn_stack *a = sim->node[0].stack;
	fprintf(stderr, "sender: retrans %llu timeouts %llu sack recoveries %llu; link drops %llu; srtt %u us\n",
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpRetransSegs),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPTimeouts),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPSackRecovery),
		(unsigned long long)sim->dropped, x->client_info.rtt_us);
	ck_assert_msg(x->eof, "stalled at %llu of %llu bytes", (unsigned long long)x->rcvd,
		      (unsigned long long)total);
	ck_assert_uint_eq(x->rcvd, total);
}

static void transfer(struct xfer *x, struct sim *sim, uint64_t total, uint32_t server_rcvbuf)
{
	transfer_pinned(x, sim, total, server_rcvbuf, 0);
}

/* Closes everything, lets the cores wind down, checks every byte was given back. */
static void finish(struct xfer *x, struct ledger *la, struct ledger *lb)
{
	tn_sock_close(x->client);
	tn_sock_close(x->server);
	tn_sock_close(x->listener);
	sim_run_for(x->sim, 300 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tn_sock_list(x->sim->node[0].stack, NULL, 0), 0);
	ck_assert_uint_eq(tn_sock_list(x->sim->node[1].stack, NULL, 0), 0);
	ck_assert_int_eq(la->balance, 0);
	ck_assert_int_eq(lb->balance, 0);
	sim_free(x->sim);
}

/* Payload bits per second from half the transfer to its end. */
static double second_half_rate(const struct xfer *x)
{
	return (double)(x->total - x->total / 2) * 8 * TN_NSEC_PER_SEC / (double)(x->t_end - x->t_half);
}

START_TEST(buffers_grow_to_the_path)
{
	struct ledger la = { 0 }, lb = { 0 };
	struct xfer x;
	transfer(&x, new_sim(NULL, &la, &lb), 40 * MB, 0);
	double rate = second_half_rate(&x);
	fprintf(stderr, "auto-tuned: rcvbuf %u sndbuf %u rcv_space %u, %.1f Mbit/s of %.0f\n",
		x.server_info.rcvbuf, x.client_info.sndbuf, x.server_info.rcv_space, rate / 1e6,
		RATE_BPS / 1e6);
	/* the receiver reads at once: the window must cover the path, and did */
	ck_assert_uint_ge(x.server_info.rcvbuf, BDP_BYTES);
	ck_assert_uint_le(x.server_info.rcvbuf, 6u << 20);
	ck_assert_uint_ge(x.server_info.rcv_space, BDP_BYTES / 2);
	ck_assert_uint_ge(x.client_info.sndbuf, BDP_BYTES);
	ck_assert_uint_le(x.client_info.sndbuf, 4u << 20);
	/*
	 * growing copies the ring: by half at least each time, so from 16 KiB
	 * to 4 MiB in at most 14 steps, not a copy with every ACK of slow start
	 */
	fprintf(stderr, "send buffer: %u steps to %u\n", x.sndbuf_steps, x.client_info.sndbuf);
	ck_assert_uint_ge(x.sndbuf_steps, 1);
	ck_assert_uint_le(x.sndbuf_steps, 14);
	/* the rate of the payload (1448 of 1514 bytes on the wire), less 10 % */
	ck_assert_msg(rate >= 0.9 * RATE_BPS * 1448 / 1514, "%.1f Mbit/s", rate / 1e6);
	/* what grew was charged: the ledgers hold exactly the rings that exist */
	ck_assert_int_eq(lb.balance, (int64_t)x.server_info.rcvbuf + x.server_info.sndbuf);
	ck_assert_int_eq(la.balance, (int64_t)x.client_info.rcvbuf + x.client_info.sndbuf);
	/* nothing flowed the other way: the client's receive buffer did not grow */
	ck_assert_uint_eq(x.client_info.rcvbuf, 65536);
	ck_assert_uint_eq(x.server_info.sndbuf, 16384);
	finish(&x, &la, &lb);
}
END_TEST

START_TEST(fixed_buffers_do_not_grow)
{
	/* one size in the configuration (min = default = max): what tapnet did before */
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.tcp_rcvbuf_min = cfg.tcp_rcvbuf = cfg.tcp_rcvbuf_max = 65536;
	cfg.tcp_sndbuf_min = cfg.tcp_sndbuf = cfg.tcp_sndbuf_max = 65536;
	struct ledger la = { 0 }, lb = { 0 };
	struct xfer x;
	transfer(&x, new_sim(&cfg, &la, &lb), 4 * MB, 0);
	double rate = second_half_rate(&x);
	fprintf(stderr, "fixed 64 KiB: %.1f Mbit/s\n", rate / 1e6);
	ck_assert_uint_eq(x.server_info.rcvbuf, 65536);
	ck_assert_uint_eq(x.client_info.sndbuf, 65536);
	ck_assert_uint_eq(x.server_info.rcv_wscale, 1); /* 65536 needs a scale of 1, no more */
	/* a window per round trip: 64 KiB / 50 ms, about 10.5 Mbit/s */
	ck_assert_msg(rate < 0.15 * RATE_BPS, "%.1f Mbit/s", rate / 1e6);
	finish(&x, &la, &lb);
}
END_TEST

START_TEST(pinned_rcvbuf_does_not_grow)
{
	struct ledger la = { 0 }, lb = { 0 };
	struct xfer x;
	/* SO_RCVBUF on the listener: its connections inherit the size and the pin */
	transfer(&x, new_sim(NULL, &la, &lb), 4 * MB, 131072);
	ck_assert_uint_eq(x.server_info.rcvbuf, 131072);
	ck_assert_uint_eq(x.server_info.rcv_wscale, 2); /* for 131072, not for the 6 MiB ceiling */
	ck_assert_uint_eq(x.client_info.rcv_wscale, 7); /* unpinned: room for 6 MiB */
	ck_assert_uint_gt(x.client_info.sndbuf, 16384); /* the sender still grows */
	struct tn_sock_opts o;
	tn_sock_get_opts(x.server, &o);
	ck_assert_uint_eq(o.rcvbuf, 131072);
	/* SO_RCVBUF below the minimum gets the minimum ([tcp] rcvbuf MIN) */
	struct tn_sock *s = tn_sock_open(x.sim->node[0].stack);
	ck_assert_int_eq(tn_sock_set_bufsize(s, 2048, 2048), 0);
	tn_sock_get_opts(s, &o);
	ck_assert_uint_eq(o.rcvbuf, 4096);
	ck_assert_uint_eq(o.sndbuf, 4096);
	tn_sock_close(s);
	finish(&x, &la, &lb);
}
END_TEST

START_TEST(pinned_sndbuf_on_a_connection)
{
	struct ledger la = { 0 }, lb = { 0 };
	struct xfer x;
	/* set while connecting (the rings exist): taken at once, charged, then kept */
	transfer_pinned(&x, new_sim(NULL, &la, &lb), 4 * MB, 0, 40000);
	ck_assert_uint_eq(x.client_info.sndbuf, 40000);
	ck_assert_int_eq(la.balance, 65536 + 40000);
	ck_assert_uint_gt(x.server_info.rcvbuf, 65536); /* the unpinned side still grows */
	/* smaller than the rings: they stay (they never shrink), still pinned */
	ck_assert_int_eq(tn_sock_set_bufsize(x.client, 8192, 0), 0);
	struct tn_sock_opts o;
	tn_sock_get_opts(x.client, &o);
	ck_assert_uint_eq(o.rcvbuf, 65536);
	ck_assert_uint_eq(o.sndbuf, 40000);
	finish(&x, &la, &lb);
}
END_TEST

START_TEST(refused_charge_keeps_the_size)
{
	struct ledger la = { 0 }, lb = { .budget = 65536 + 16384 }; /* the initial buffers, no more */
	struct xfer x;
	transfer(&x, new_sim(NULL, &la, &lb), 4 * MB, 0);
	struct tn_stack *b = x.sim->node[1].stack;
	ck_assert_uint_eq(x.server_info.rcvbuf, 65536);
	ck_assert_uint_gt(lb.refusals, 0);
	ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpExtTCPMemoryPressures), lb.refusals);
	ck_assert_int_eq(lb.balance, 65536 + 16384);
	finish(&x, &la, &lb);
}
END_TEST

START_TEST(idle_connections_keep_their_buffers)
{
	enum { CONNS = 1000 };
	struct ledger la = { 0 }, lb = { 0 };
	struct sim *sim = new_sim(NULL, &la, &lb);
	struct tn_stack *a = sim->node[0].stack, *b = sim->node[1].stack;
	struct tn_sock *l = tn_sock_open(b);
	ck_assert_int_eq(tn_sock_bind(l, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(l, 4096), 0);
	static struct tn_sock *cl[CONNS], *sv[CONNS];
	for (int i = 0; i < CONNS; i++) {
		cl[i] = tn_sock_open(a);
		ck_assert_int_eq(tn_sock_connect(cl[i], SIM_ADDR_B, PORT), -EINPROGRESS);
	}
	sim_run_for(sim, 2 * TN_NSEC_PER_SEC);
	for (int i = 0; i < CONNS; i++) {
		sv[i] = tn_sock_accept(l, NULL);
		ck_assert_ptr_nonnull(sv[i]);
	}
	/* a little request and answer on each, then a long quiet time */
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < CONNS; i++)
			ck_assert_int_eq(tn_sock_send(cl[i], "request", 7), 7);
		sim_run_for(sim, TN_NSEC_PER_SEC);
		for (int i = 0; i < CONNS; i++) {
			char buf[16];
			ck_assert_int_eq(tn_sock_recv(sv[i], buf, sizeof(buf)), 7);
			ck_assert_int_eq(tn_sock_send(sv[i], "answer", 6), 6);
		}
		sim_run_for(sim, TN_NSEC_PER_SEC);
		for (int i = 0; i < CONNS; i++) {
			char buf[16];
			ck_assert_int_eq(tn_sock_recv(cl[i], buf, sizeof(buf)), 6);
		}
	}
	sim_run_for(sim, 60 * TN_NSEC_PER_SEC);
	for (int i = 0; i < CONNS; i++) {
		struct tn_sock_info ic, is;
		tn_sock_info(cl[i], &ic);
		tn_sock_info(sv[i], &is);
		ck_assert_uint_eq(ic.rcvbuf, 65536);
		ck_assert_uint_eq(ic.sndbuf, 16384);
		ck_assert_uint_eq(is.rcvbuf, 65536);
		ck_assert_uint_eq(is.sndbuf, 16384);
	}
	ck_assert_int_eq(la.balance, (int64_t)CONNS * (65536 + 16384));
	ck_assert_int_eq(lb.balance, (int64_t)CONNS * (65536 + 16384));
	for (int i = 0; i < CONNS; i++) {
		tn_sock_close(cl[i]);
		tn_sock_close(sv[i]);
	}
	tn_sock_close(l);
	sim_run_for(sim, 300 * TN_NSEC_PER_SEC);
	ck_assert_int_eq(la.balance, 0);
	ck_assert_int_eq(lb.balance, 0);
	sim_free(sim);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("autotune");
	TCase *tc = tcase_create("sim");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, buffers_grow_to_the_path);
	tcase_add_test(tc, fixed_buffers_do_not_grow);
	tcase_add_test(tc, pinned_rcvbuf_does_not_grow);
	tcase_add_test(tc, pinned_sndbuf_on_a_connection);
	tcase_add_test(tc, refused_charge_keeps_the_size);
	tcase_add_test(tc, idle_connections_keep_their_buffers);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
