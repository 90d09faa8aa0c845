/*
 * check_tcp_sim.c - TCP between two cores on a simulated wire: megabytes
 * each way through loss, reordering, duplication, corruption and a slow
 * (zero-window) reader. Every byte is checked against a position-dependent
 * pattern. Each run has a bound on the simulated time it may take and on
 * the retransmission timeouts it may use (a stack that repairs losses only
 * by RTO must fail), and the tests check that the mechanism meant to work
 * (SACK recovery, RACK, tail loss probes, NewReno, ...) did run.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define PORT 5001
#define MB (1024 * 1024)

/* Byte i of the stream with this seed; a misplaced segment breaks it. */
static uint8_t pattern(uint32_t seed, uint64_t i)
{
	uint64_t x = i ^ ((uint64_t)seed << 40);
	x ^= x >> 13;
	return (uint8_t)(x * 0x9e3779b1u >> 24) ^ (uint8_t)(i >> 8) ^ (uint8_t)(i >> 20);
}

struct end {
	struct tn_sock *s;
	uint32_t tx_seed, rx_seed;
	uint64_t total;        /* bytes to send */
	uint64_t sent, rcvd;
	uint64_t expect;       /* bytes to receive */
	bool shut, eof;
	int err;
	/* slow reader: reads only during the first read_on_ns of every period_ns */
	uint64_t period_ns, read_on_ns;
};

static uint8_t chunk[65536];

static void pump_send(struct end *e)
{
	while (e->sent < e->total) {
		size_t room = tn_sock_writable(e->s);
		if (!room)
			break;
		size_t n = sizeof(chunk);
		if (n > room)
			n = room;
		if (n > e->total - e->sent)
			n = (size_t)(e->total - e->sent);
		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(e->tx_seed, e->sent + i);
		long r = tn_sock_send(e->s, chunk, n);
		if (r <= 0) {
			if (r != -EAGAIN)
				e->err = (int)r;
			break;
		}
		e->sent += (uint64_t)r;
	}
	if (e->sent == e->total && !e->shut) {
		ck_assert_int_eq(tn_sock_shutdown(e->s, TN_SHUT_WR), 0);
		e->shut = true;
	}
}

static void pump_recv(struct end *e, uint64_t now)
{
	if (e->period_ns && now % e->period_ns >= e->read_on_ns)
		return;
	for (;;) {
		long r = tn_sock_recv(e->s, chunk, sizeof(chunk));
		if (r == -EAGAIN)
			break;
		if (r < 0) {
			e->err = (int)r;
			break;
		}
		if (r == 0) {
			e->eof = true;
			break;
		}
		for (long i = 0; i < r; i++) {
			if (chunk[i] != pattern(e->rx_seed, e->rcvd + (uint64_t)i))
				ck_abort_msg("byte %llu differs", (unsigned long long)(e->rcvd + (uint64_t)i));
		}
		e->rcvd += (uint64_t)r;
	}
}

struct run {
	struct sim_link link;
	uint64_t seed;
	uint64_t bytes_ab, bytes_ba; /* client->server, server->client */
	uint64_t limit_s;            /* simulated seconds the transfer may take */
	uint64_t max_rtos;           /* TcpExtTCPTimeouts of both sides together */
	struct tn_config cfg;
	bool have_cfg;
	uint64_t slow_period_ns, slow_on_ns; /* server reads slowly */
	sim_filter filter;
	void *filter_arg;
	bool via_cookie; /* the server's connection came from a SYN cookie, options and all */
};

/* Counters of both cores after a run (a: client, b: server). */
struct result {
	uint64_t a[TN_CTR__COUNT], b[TN_CTR__COUNT];
};

static void print_stats(const char *name, struct sim *sim, uint64_t t0)
{
	struct tn_stack *a = sim->node[0].stack, *b = sim->node[1].stack;
	fprintf(stderr,
		"%s: %.1f s simulated, frames %llu dropped %llu dup %llu corrupt %llu reorder %llu; "
		"retrans a=%llu b=%llu timeouts a=%llu b=%llu fastretrans a=%llu b=%llu "
		"sackrecovery a=%llu b=%llu probes a=%llu b=%llu lostretrans a=%llu b=%llu "
		"delayedacks a=%llu b=%llu hystart a=%llu\n",
		name, (double)(sim->now - t0) / 1e9, (unsigned long long)sim->frames,
		(unsigned long long)sim->dropped, (unsigned long long)sim->duplicated,
		(unsigned long long)sim->corrupted, (unsigned long long)sim->reordered,
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpRetransSegs),
		(unsigned long long)tn_stack_counter(b, TN_CTR_TcpRetransSegs),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPTimeouts),
		(unsigned long long)tn_stack_counter(b, TN_CTR_TcpExtTCPTimeouts),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPFastRetrans),
		(unsigned long long)tn_stack_counter(b, TN_CTR_TcpExtTCPFastRetrans),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPSackRecovery),
		(unsigned long long)tn_stack_counter(b, TN_CTR_TcpExtTCPSackRecovery),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPLossProbes),
		(unsigned long long)tn_stack_counter(b, TN_CTR_TcpExtTCPLossProbes),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPLostRetransmit),
		(unsigned long long)tn_stack_counter(b, TN_CTR_TcpExtTCPLostRetransmit),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtDelayedACKs),
		(unsigned long long)tn_stack_counter(b, TN_CTR_TcpExtDelayedACKs),
		(unsigned long long)tn_stack_counter(a, TN_CTR_TcpExtTCPHystartDelayDetect));
}

static void run_transfer_result(const char *name, const struct run *r, struct result *res)
{
	struct sim *sim = sim_new(&r->link, r->seed, r->have_cfg ? &r->cfg : NULL);
	ck_assert_ptr_nonnull(sim);
	sim->filter = r->filter;
	sim->filter_arg = r->filter_arg;
	struct tn_stack *a = sim->node[0].stack, *b = sim->node[1].stack;
	uint64_t t0 = sim->now;

	struct tn_sock *l = tn_sock_open(b);
	ck_assert_int_eq(tn_sock_bind(l, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(l, 16), 0);

	struct end cl = {.tx_seed = 1, .rx_seed = 2, .total = r->bytes_ab, .expect = r->bytes_ba};
	struct end sv = {.tx_seed = 2, .rx_seed = 1, .total = r->bytes_ba, .expect = r->bytes_ab,
			 .period_ns = r->slow_period_ns, .read_on_ns = r->slow_on_ns};
	cl.s = tn_sock_open(a);
	ck_assert_int_eq(tn_sock_connect(cl.s, SIM_ADDR_B, PORT), -EINPROGRESS);

	uint64_t limit = sim->now + r->limit_s * TN_NSEC_PER_SEC;
	uint64_t slow_tick = 0;
	while (!(cl.eof && sv.eof && cl.shut && sv.shut)) {
		uint64_t until = limit;
		if (sv.period_ns) {
			/* Wake the slow reader at the start of each read period. */
			slow_tick = (sim->now / sv.period_ns + 1) * sv.period_ns;
			if (slow_tick < until)
				until = slow_tick;
		}
		if (!sim_step(sim, until)) {
			if (until == limit)
				break;
			sim->now = until;
		}
		if (sim->now >= limit)
			break;
		if (!sv.s)
			sv.s = tn_sock_accept(l, NULL);
		if (tn_sock_state(cl.s) == TN_TCP_ESTABLISHED || tn_sock_state(cl.s) == TN_TCP_CLOSE_WAIT)
			pump_send(&cl);
		pump_recv(&cl, sim->now);
		if (sv.s) {
			pump_send(&sv);
			pump_recv(&sv, sim->now);
		}
		ck_assert_msg(cl.err == 0 && sv.err == 0, "%s: socket error %d/%d", name, cl.err, sv.err);
	}
	print_stats(name, sim, t0);
	ck_assert_msg(cl.eof && sv.eof, "%s: stalled: client got %llu/%llu, server %llu/%llu", name,
		      (unsigned long long)cl.rcvd, (unsigned long long)cl.expect,
		      (unsigned long long)sv.rcvd, (unsigned long long)sv.expect);
	ck_assert_uint_eq(cl.rcvd, r->bytes_ba);
	ck_assert_uint_eq(sv.rcvd, r->bytes_ab);
	uint64_t rtos = tn_stack_counter(a, TN_CTR_TcpExtTCPTimeouts) +
			tn_stack_counter(b, TN_CTR_TcpExtTCPTimeouts);
	ck_assert_msg(rtos <= r->max_rtos, "%s: %llu RTOs, at most %llu allowed", name,
		      (unsigned long long)rtos, (unsigned long long)r->max_rtos);
	for (int c = 0; c < TN_CTR__COUNT; c++) {
		res->a[c] = tn_stack_counter(a, (enum tn_counter)c);
		res->b[c] = tn_stack_counter(b, (enum tn_counter)c);
	}

	if (r->via_cookie) {
		struct tn_sock_info info;
		tn_sock_info(sv.s, &info);
		ck_assert_uint_ge(tn_stack_counter(b, TN_CTR_TcpExtSyncookiesRecv), 1);
		ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpPassiveOpens), 1);
		ck_assert(info.ts && info.sack && info.snd_wscale > 0 && info.rcv_wscale > 0);
	}
		/* Both sides sent FIN and read the other's: everything must wind down. */
	tn_sock_close(cl.s);
	tn_sock_close(sv.s);
	tn_sock_close(l);
	struct tn_config def;
	tn_config_defaults(&def);
	sim_run_for(sim, (uint64_t)(r->have_cfg ? r->cfg.tcp_time_wait_ms : def.tcp_time_wait_ms) *
				 TN_NSEC_PER_MSEC * 2 + 300 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tn_sock_list(a, NULL, 0), 0);
	ck_assert_uint_eq(tn_sock_list(b, NULL, 0), 0);
	ck_assert_uint_eq(tn_stack_counter(a, TN_CTR_TcpCurrEstab), 0);
	ck_assert_uint_eq(tn_stack_counter(b, TN_CTR_TcpCurrEstab), 0);
	sim_free(sim);
}

static void run_transfer(const char *name, const struct run *r)
{
	struct result res;
	run_transfer_result(name, r, &res);
}

static struct run base_run(void)
{
	struct run r = {
		.link = {.delay_ns = 5 * TN_NSEC_PER_MSEC, .rate_bps = 200000000ull,
			 .queue_ns = 20 * TN_NSEC_PER_MSEC},
		.seed = 42,
		.bytes_ab = 10 * MB,
		.bytes_ba = 10 * MB,
		.limit_s = 60,
		.max_rtos = 4,
	};
	return r;
}

/* base_run with a configuration of its own (the defaults), for a test to change. */
static struct run configured_run(void)
{
	struct run r = base_run();
	tn_config_defaults(&r.cfg);
	r.have_cfg = true;
	return r;
}

START_TEST(clean_link)
{
	struct run r = base_run();
	struct result res;
	r.limit_s = 2;
	r.max_rtos = 0;
	/*
	 * A queue that holds what the largest buffers (6 MiB) can put in
	 * flight: nothing is dropped, so nothing may be retransmitted.
	 */
	r.link.queue_ns = 300 * TN_NSEC_PER_MSEC;
	run_transfer_result("clean", &r, &res);
	ck_assert_uint_eq(res.a[TN_CTR_TcpRetransSegs] + res.b[TN_CTR_TcpRetransSegs], 0);
}
END_TEST

/* Random loss is repaired by SACK recovery (RACK finds the holes), not by timeouts. */
START_TEST(loss_1pct)
{
	struct run r = base_run();
	struct result res;
	r.link.loss = 0.01;
	r.limit_s = 15;
	r.max_rtos = 1;
	run_transfer_result("loss 1%", &r, &res);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPSackRecovery], 0);
	ck_assert_uint_gt(res.b[TN_CTR_TcpExtTCPSackRecovery], 0);
}
END_TEST

START_TEST(loss_5pct)
{
	struct run r = base_run();
	struct result res;
	r.link.loss = 0.05;
	r.limit_s = 40;
	r.max_rtos = 4;
	run_transfer_result("loss 5%", &r, &res);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPSackRecovery], 0);
	/* at 5 % some retransmissions are lost too: RACK finds them without an RTO */
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPLostRetransmit] + res.b[TN_CTR_TcpExtTCPLostRetransmit], 0);
}
END_TEST

/* A fast, short link like tap0: RTT 50 us, 10 Gbit/s, where every RTO costs thousands of RTTs. */
static struct run fast_run(double loss)
{
	struct run r = configured_run();
	r.link.delay_ns = 25 * 1000;
	r.link.rate_bps = 10000000000ull;
	r.link.queue_ns = 1 * TN_NSEC_PER_MSEC;
	r.link.loss = loss;
	r.bytes_ab = 20 * MB;
	r.bytes_ba = 0;
	return r;
}

/* 20 MB: 0.3 s with one RTO before RACK and PRR, the clean link takes 0.02 s. */
START_TEST(fast_loss_1pct)
{
	struct run r = fast_run(0.01);
	struct result res;
	r.limit_s = 1;
	r.max_rtos = 1;
	run_transfer_result("fast 1%", &r, &res);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPSackRecovery], 0);
}
END_TEST

/* 10.7 s and 45 RTOs before RACK, TLP, PRR and quick ACKs; 0.2 s and no RTO after. */
START_TEST(fast_loss_5pct)
{
	struct run r = fast_run(0.05);
	struct result res;
	r.limit_s = 1;
	r.max_rtos = 3;
	run_transfer_result("fast 5%", &r, &res);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPSackRecovery], 0);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPLostRetransmit], 0);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPLossProbes], 0);
}
END_TEST

/*
 * The client's FIN rides on its last data segment; losing that frame is a
 * tail loss no ACK reports. A probe after 2 SRTT repairs it, not the RTO.
 */
struct tail_drop {
	bool done;
};

static bool drop_first_fin_from_client(void *arg, int from, const uint8_t *f, size_t len)
{
	struct tail_drop *d = arg;
	if (d->done || from != 0 || len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 ||
	    f[14 + 9] != 6)
		return false;
	const uint8_t *t = f + 14 + (size_t)(f[14] & 0x0f) * 4;
	if (!(t[13] & 0x01))
		return false;
	d->done = true;
	return true;
}

START_TEST(tail_loss_probe)
{
	struct run r = base_run();
	struct tail_drop d = {0};
	struct result res;
	r.bytes_ab = 256 * 1024;
	r.bytes_ba = 0;
	r.filter = drop_first_fin_from_client;
	r.filter_arg = &d;
	r.limit_s = 1;
	r.max_rtos = 0;
	run_transfer_result("tail loss", &r, &res);
	ck_assert(d.done);
	/* no RTO, one retransmission: the probe was it */
	ck_assert_uint_ge(res.a[TN_CTR_TcpExtTCPLossProbes], 1);
	ck_assert_uint_eq(res.a[TN_CTR_TcpRetransSegs], res.a[TN_CTR_TcpExtTCPLossProbes]);
}
END_TEST

/*
 * Spurious timeouts: every second the link stalls for 400 ms (what is sent
 * then arrives when the stall ends, nothing is lost). The sender's RTO
 * fires in the stall; then the ACKs of its original segments arrive, and
 * F-RTO (RFC 5682) and Eifel (RFC 3522, timestamps) find the timeout
 * spurious: cwnd and ssthresh come back (TcpExtTCPLossUndo; by F-RTO,
 * TcpExtTCPSpuriousRTOs, when there are no timestamps for Eifel).
 */
START_TEST(spurious_rto_undone)
{
	for (int ts = 0; ts <= 1; ts++) {
		struct run r = configured_run();
		r.link.stall_every_ns = TN_NSEC_PER_SEC;
		r.link.stall_ns = 400 * TN_NSEC_PER_MSEC;
		r.cfg.tcp_timestamps = ts;
		r.bytes_ab = 40 * MB;
		r.bytes_ba = 0;
		r.limit_s = 10;
		r.max_rtos = 10;
		struct result res;
		run_transfer_result(ts ? "stalls, timestamps" : "stalls, no timestamps", &r, &res);
		fprintf(stderr, "  timeouts %llu, undone %llu, by F-RTO %llu\n",
			(unsigned long long)res.a[TN_CTR_TcpExtTCPTimeouts],
			(unsigned long long)res.a[TN_CTR_TcpExtTCPLossUndo],
			(unsigned long long)res.a[TN_CTR_TcpExtTCPSpuriousRTOs]);
		ck_assert_uint_ge(res.a[TN_CTR_TcpExtTCPTimeouts], 1);
		/* one timeout per stall, each spurious, each undone; without timestamps by F-RTO */
		ck_assert_uint_eq(res.a[TN_CTR_TcpExtTCPLossUndo], res.a[TN_CTR_TcpExtTCPTimeouts]);
		if (!ts)
			ck_assert_uint_eq(res.a[TN_CTR_TcpExtTCPSpuriousRTOs], res.a[TN_CTR_TcpExtTCPTimeouts]);
	}
}
END_TEST

/*
 * HyStart++ (RFC 9406): 4 MB one way through a 100 Mbit/s bottleneck
 * whose queue holds 80 ms. With 4 MB buffers slow start alone overflows
 * it (709 frames lost when HyStart++ is off); the RTT grows first, so
 * conservative slow start and then congestion avoidance begin in time and
 * nothing is lost.
 */
START_TEST(hystart_leaves_slow_start_on_delay)
{
	struct run r = configured_run();
	struct result res;
	r.cfg.tcp_sndbuf = r.cfg.tcp_rcvbuf = 4u << 20;
	r.link.rate_bps = 100000000ull;
	r.link.queue_ns = 80 * TN_NSEC_PER_MSEC;
	r.bytes_ab = 4 * MB;
	r.bytes_ba = 0;
	r.limit_s = 10;
	r.max_rtos = 0;
	run_transfer_result("hystart", &r, &res);
	ck_assert_uint_ge(res.a[TN_CTR_TcpExtTCPHystartDelayDetect], 1);
	ck_assert_uint_eq(res.a[TN_CTR_TcpRetransSegs], 0);
}
END_TEST

/*
 * Slow start overshoots a shallow queue on a long path (1 Gbit/s, 50 ms
 * RTT, 5 ms of queue, 4 MiB of send buffer): the last flight loses
 * hundreds of segments spread through a window of thousands. Each must go
 * again once, in the one recovery. Before the scoreboard grew with the
 * send buffer, its 128 SACKed ranges, 128 retransmissions and 256
 * transmit-time checkpoints made 1159 retransmissions of 793 losses (366
 * D-SACKed: every segment sent after the 256th checkpoint counted as sent
 * before the recovery's first retransmission, and all were called lost
 * when it was delivered) and 2.0 s; now 625 of 625, 1.4 s.
 */
START_TEST(a_window_of_holes_repaired_once)
{
	struct run r = configured_run();
	struct result res;
	r.link.delay_ns = 25 * TN_NSEC_PER_MSEC;
	r.link.rate_bps = 1000000000ull;
	r.link.queue_ns = 5 * TN_NSEC_PER_MSEC;
	r.bytes_ab = 40 * MB;
	r.bytes_ba = 0;
	r.limit_s = 2;
	r.max_rtos = 0;
	run_transfer_result("window of holes", &r, &res);
	ck_assert_uint_gt(res.a[TN_CTR_TcpRetransSegs], 256); /* twice the ranges the arrays once had */
	ck_assert_uint_eq(res.a[TN_CTR_TcpExtTCPSackRecovery], 1);
	ck_assert_uint_eq(res.a[TN_CTR_TcpExtTCPDSACKRecv], 0);
	ck_assert_uint_eq(res.b[TN_CTR_TcpExtTCPDSACKOldSent] + res.b[TN_CTR_TcpExtTCPDSACKOfoSent], 0);
}
END_TEST

START_TEST(reordering)
{
	struct run r = base_run();
	r.link.reorder = 0.1;
	r.link.reorder_ns = 8 * TN_NSEC_PER_MSEC;
	r.max_rtos = 0;
	r.limit_s = 5;
	/* as clean_link: a queue that holds what growing buffers put in flight, no drops */
	r.link.queue_ns = 300 * TN_NSEC_PER_MSEC;
	struct result res;
	run_transfer_result("reorder 10%", &r, &res);
	/*
	 * RACK saw the reordering and waits a reordering window before it
	 * calls a hole lost: few retransmissions, none of them needed (19 s
	 * and 1 000 retransmissions when every hole below a SACK was lost).
	 */
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPSACKReorder], 0);
	ck_assert_uint_gt(res.b[TN_CTR_TcpExtTCPSACKReorder], 0);
	ck_assert_uint_lt(res.a[TN_CTR_TcpRetransSegs] + res.b[TN_CTR_TcpRetransSegs], 100);
}
END_TEST

START_TEST(duplication)
{
	struct run r = base_run();
	r.link.dup = 0.05;
	r.limit_s = 2;
	r.max_rtos = 0;
	run_transfer("dup 5%", &r);
}
END_TEST

START_TEST(corruption)
{
	struct run r = base_run();
	struct result res;
	r.link.corrupt = 0.03;
	r.max_rtos = 2;
	run_transfer_result("corrupt 3%", &r, &res);
	/* the corrupt frames were caught by the checksum, and their loss repaired */
	ck_assert_uint_gt(res.a[TN_CTR_TcpInCsumErrors], 0);
	ck_assert_uint_gt(res.b[TN_CTR_TcpInCsumErrors], 0);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPSackRecovery], 0);
}
END_TEST

START_TEST(everything_at_once)
{
	struct run r = base_run();
	r.link.loss = 0.02;
	r.link.dup = 0.02;
	r.link.corrupt = 0.02;
	r.link.reorder = 0.05;
	r.link.reorder_ns = 5 * TN_NSEC_PER_MSEC;
	r.seed = 7;
	run_transfer("all faults", &r);
}
END_TEST

START_TEST(zero_window_reader)
{
	/*
	 * Fixed 256 KiB buffers, what the RTO bound below was measured with.
	 * With growing buffers (the defaults) the same transfer ends in 11 s
	 * instead of 20 but uses 10 RTOs (likely losses among the last
	 * segments before the window closes, which no later data reveals).
	 */
	struct run r = configured_run();
	r.cfg.tcp_rcvbuf = r.cfg.tcp_rcvbuf_max = 256u << 10;
	r.cfg.tcp_sndbuf = r.cfg.tcp_sndbuf_max = 256u << 10;
	r.bytes_ab = 4 * MB;
	r.bytes_ba = 1 * MB;
	r.slow_period_ns = 3 * TN_NSEC_PER_SEC; /* reads during 0.2 s of every 3 s */
	r.slow_on_ns = 200 * TN_NSEC_PER_MSEC;
	struct result res;
	r.link.loss = 0.01;
	r.limit_s = 120;
	/*
	 * The window is rounded down to the scale, so what the sender may send
	 * always fits: a shut window costs probes, not RTOs (1 % loss can
	 * still take a retransmission now and then).
	 */
	r.max_rtos = 2;
	run_transfer_result("zero-window reader", &r, &res);
	/* the window closed and the sender probed it until it opened again */
	ck_assert_uint_gt(res.b[TN_CTR_TcpExtTCPToZeroWindowAdv], 0);
	ck_assert_uint_gt(res.b[TN_CTR_TcpExtTCPFromZeroWindowAdv], 0);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPWinProbe], 0);
	ck_assert_uint_eq(res.a[TN_CTR_TcpExtTCPAbortOnTimeout], 0);
}
END_TEST

START_TEST(newreno_without_sack)
{
	struct run r = configured_run();
	r.cfg.tcp_sack = false;
	r.cfg.tcp_congestion = TN_TCP_CC_NEWRENO;
	r.link.loss = 0.05;
	struct result res;
	r.bytes_ab = r.bytes_ba = 4 * MB;
	r.limit_s = 60;
	r.max_rtos = 200; /* without SACK a lost retransmission costs an RTO, as on Linux */
	run_transfer_result("newreno no-sack 5%", &r, &res);
	ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPRenoRecovery], 0);
	ck_assert_uint_gt(res.b[TN_CTR_TcpExtTCPRenoRecovery], 0);
	ck_assert_uint_eq(res.a[TN_CTR_TcpExtTCPSackRecovery] + res.b[TN_CTR_TcpExtTCPSackRecovery], 0);
}
END_TEST

START_TEST(no_timestamps_no_wscale)
{
	struct run r = configured_run();
	r.cfg.tcp_timestamps = false;
	r.cfg.tcp_window_scaling = false;
	r.link.loss = 0.01;
	r.link.reorder = 0.02;
	r.link.reorder_ns = 3 * TN_NSEC_PER_MSEC;
	r.bytes_ab = r.bytes_ba = 4 * MB;
	run_transfer("no ts/wscale 1%", &r);
}
END_TEST

/*
 * Every SYN answered with a SYN cookie (syncookies = always): the
 * connection the final ACK makes carries the options restored from the
 * cookie and the timestamp, through loss and reordering.
 */
START_TEST(syn_cookie_connection)
{
	struct run r = configured_run();
	r.cfg.tcp_syncookies = TN_TCP_SYNCOOKIES_ALWAYS;
	r.link.loss = 0.02;
	r.link.reorder = 0.02;
	r.link.reorder_ns = 3 * TN_NSEC_PER_MSEC;
	r.bytes_ab = r.bytes_ba = 4 * MB;
	r.seed = 11;
	r.via_cookie = true;
	run_transfer("syn cookies 2%", &r);
}
END_TEST

/* TSO on both cores, the wire cutting GSO frames into segments before the faults. */
START_TEST(tso_segmented_with_faults)
{
	struct run r = configured_run();
	r.cfg.offload = TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4;
	r.link.loss = 0.02;
	r.link.corrupt = 0.01;
	r.link.reorder = 0.05;
	r.link.reorder_ns = 5 * TN_NSEC_PER_MSEC;
	run_transfer("tso, segmented, faults", &r);
}
END_TEST

/* TSO frames delivered whole with their meta (a tap to a local receiver), lost whole. */
START_TEST(tso_whole_frames_with_loss)
{
	struct run r = configured_run();
	r.cfg.offload = TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4;
	r.link.gso_whole = true;
	r.link.loss = 0.02;
	r.link.dup = 0.01;
	r.link.reorder = 0.05;
	r.link.reorder_ns = 5 * TN_NSEC_PER_MSEC;
	run_transfer("tso, whole frames, loss", &r);
}
END_TEST

/*
 * A receiver that takes frames in batches, as tapnetd reads the tap
 * (tn_stack_batch_begin/end; frames wait 20 us to be taken together), on
 * the fast link: whole TSO frames at 0 and 1 % loss, frames cut into
 * segments at 1 and 5 %. The data is exact, losses are still repaired by
 * SACK recovery within the bounds of the unbatched runs (out-of-order data
 * and quick ACK mode are answered at once in a batch too), and with whole
 * frames the receiver sends fewer ACKs than without batches.
 */
START_TEST(batched_receiver)
{
	static const struct {
		double loss;
		bool whole;
	} cases[] = {{0, true}, {0.01, true}, {0.01, false}, {0.05, false}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t acks[2];
		for (int batched = 0; batched <= 1; batched++) {
			struct run r = fast_run(cases[i].loss);
			r.cfg.offload = TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4;
			r.link.gso_whole = cases[i].whole;
			r.link.rx_batch_ns = batched ? 20 * 1000 : 0;
			r.limit_s = 1;
			r.max_rtos = 3;
			struct result res;
			char name[64];
			snprintf(name, sizeof(name), "%s receiver, %s frames, loss %.0f%%",
				 batched ? "batched" : "plain", cases[i].whole ? "whole" : "cut",
				 cases[i].loss * 100);
			run_transfer_result(name, &r, &res);
			acks[batched] = res.b[TN_CTR_TcpOutSegs];
			fprintf(stderr, "  receiver segments out %llu\n", (unsigned long long)acks[batched]);
			if (cases[i].loss > 0)
				ck_assert_uint_gt(res.a[TN_CTR_TcpExtTCPSackRecovery], 0);
		}
		if (cases[i].whole) /* (single segments keep their ACKs) */
			ck_assert_uint_lt(acks[1], acks[0]);
	}
}
END_TEST

/*
 * As tcp_loss.sh with offloads: a fast link that loses 5 % of the frames
 * whole, TSO frames and the ACKs. A lost frame is a run of segments, often
 * the whole flight, which only a probe can find; in recovery a lost
 * repair with nothing sent after it is found by a probe of the oldest
 * segment in flight, not by the RTO (tcp_send_loss_probe). Eight seeds,
 * 5 s each at most: the RTO stays the last resort, rarely in recovery.
 */
START_TEST(fast_whole_frames_5pct)
{
	uint64_t rtos = 0, recoveries = 0, probes = 0, failures = 0;
	for (unsigned seed = 1; seed <= 8; seed++) {
		struct run r = fast_run(0.05);
		r.cfg.offload = TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4;
		r.link.gso_whole = true;
		r.seed = seed;
		r.limit_s = 5; /* 0.0 to 2.1 s simulated each (1.5 s were 4.6 with the RTOs of before) */
		r.max_rtos = 20;
		struct result res;
		run_transfer_result("fast, whole frames, 5%", &r, &res);
		rtos += res.a[TN_CTR_TcpExtTCPTimeouts];
		recoveries += res.a[TN_CTR_TcpExtTCPSackRecovery];
		probes += res.a[TN_CTR_TcpExtTCPLossProbes];
		failures += res.a[TN_CTR_TcpExtTCPLossFailures];
	}
	fprintf(stderr, "  fast, whole frames, 5%%: %llu RTOs (%llu in recovery), %llu recoveries, %llu probes\n",
		(unsigned long long)rtos, (unsigned long long)failures, (unsigned long long)recoveries,
		(unsigned long long)probes);
	ck_assert_uint_gt(recoveries, 0);
	ck_assert_uint_le(12 * rtos, recoveries + probes);
	ck_assert_uint_le(40 * failures, recoveries);
}
END_TEST

static Suite *tcp_sim_suite(void)
{
	Suite *s = suite_create("tcp_sim");
	TCase *tc = tcase_create("transfer");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, clean_link);
	tcase_add_test(tc, loss_1pct);
	tcase_add_test(tc, loss_5pct);
	tcase_add_test(tc, fast_loss_1pct);
	tcase_add_test(tc, fast_loss_5pct);
	tcase_add_test(tc, tail_loss_probe);
	tcase_add_test(tc, spurious_rto_undone);
	tcase_add_test(tc, batched_receiver);
	tcase_add_test(tc, hystart_leaves_slow_start_on_delay);
	tcase_add_test(tc, a_window_of_holes_repaired_once);
	tcase_add_test(tc, reordering);
	tcase_add_test(tc, duplication);
	tcase_add_test(tc, corruption);
	tcase_add_test(tc, everything_at_once);
	tcase_add_test(tc, zero_window_reader);
	tcase_add_test(tc, newreno_without_sack);
	tcase_add_test(tc, no_timestamps_no_wscale);
	tcase_add_test(tc, syn_cookie_connection);
	tcase_add_test(tc, tso_segmented_with_faults);
	tcase_add_test(tc, tso_whole_frames_with_loss);
	tcase_add_test(tc, fast_whole_frames_5pct);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tcp_sim_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
