/*
 * tcp_cc_cubic.c - CUBIC (RFC 9438): after a loss the window follows
 * W(t) = C*(t-K)^3 + W_max, concave up to the old maximum and convex past
 * it, never below what Reno would have (the "Reno-friendly" estimate).
 * Windows are in bytes here, the formula works in segments and seconds.
 */
#include "tcp.h"

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7

static double cube_root(double x)
{
	if (x <= 0)
		return 0;
	double r = x > 1 ? x / 3 : 1;
	for (int i = 0; i < 60; i++) {
		double next = (2 * r + x / (r * r)) / 3;
		if (next == r)
			break;
		r = next;
	}
	return r;
}

static void cubic_init(struct tn_sock *s)
{
	memset(&s->cubic, 0, sizeof(s->cubic));
	s->cwnd_cnt = 0;
}

static void cubic_reset_epoch(struct tn_sock *s)
{
	s->cubic.epoch_start_ns = 0;
}

static void cubic_start_epoch(struct tn_sock *s, uint64_t now)
{
	struct tcp_cubic *c = &s->cubic;
	c->epoch_start_ns = now;
	c->w_est = s->cwnd;
	if (s->cwnd < c->w_max) {
		double diff = (double)(c->w_max - s->cwnd) / s->mss;
		c->k_us = (uint64_t)(cube_root(diff / CUBIC_C) * 1e6);
		c->origin = c->w_max;
	} else {
		c->k_us = 0;
		c->origin = s->cwnd;
	}
}

static void cubic_on_ack(struct tn_sock *s, uint32_t acked, uint32_t rtt_us)
{
	struct tcp_cubic *c = &s->cubic;
	if (rtt_us && (!c->min_rtt_us || rtt_us < c->min_rtt_us))
		c->min_rtt_us = rtt_us;
	if (s->cwnd < s->ssthresh) {
		acked = tcp_cc_slow_start(s, acked);
		if (!acked)
			return;
	}
	uint64_t now = tn_now(s->stack);
	if (!c->epoch_start_ns)
		cubic_start_epoch(s, now);

	/* RFC 9438 4.2: the target one RTT ahead, in segments. */
	double t = (double)(now - c->epoch_start_ns) / 1e9 + (double)c->min_rtt_us / 1e6 -
		   (double)c->k_us / 1e6;
	double w_cubic = CUBIC_C * t * t * t + (double)c->origin / s->mss;
	double cwnd_seg = (double)s->cwnd / s->mss;
	double target = w_cubic;
	if (target < cwnd_seg)
		target = cwnd_seg;
	if (target > 1.5 * cwnd_seg)
		target = 1.5 * cwnd_seg;

	/*
	 * RFC 9438 4.3: the Reno-friendly estimate grows alpha segments per
	 * RTT, alpha = 3(1 - beta)/(1 + beta) until it reaches the window of
	 * the last reduction, then 1 like Reno's.
	 */
	double alpha = c->w_est >= c->w_max ? 1.0 : 3.0 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
	c->w_est += (uint32_t)(alpha * s->mss * acked / s->cwnd);

	if (w_cubic * s->mss < c->w_est) {
		if (c->w_est > s->cwnd)
			s->cwnd = c->w_est;
		return;
	}
	/*
	 * (target - cwnd) / cwnd segments per segment acked: one MSS each time
	 * cwnd / (target - cwnd) bytes are acked (Linux's bic_cnt, in bytes).
	 */
	double need = target > cwnd_seg ? (double)s->cwnd / (target - cwnd_seg) : 100.0 * s->cwnd;
	s->cwnd_cnt += acked;
	if (s->cwnd_cnt >= need) {
		uint32_t n = (uint32_t)(s->cwnd_cnt / need);
		s->cwnd += n * s->mss;
		s->cwnd_cnt -= (uint32_t)(n * need);
	}
}

/* RFC 9438 4.6 and 4.7: multiplicative decrease with fast convergence. */
static uint32_t cubic_ssthresh(struct tn_sock *s)
{
	struct tcp_cubic *c = &s->cubic;
	uint32_t cwnd = s->cwnd;
	if (cwnd < c->w_last_max)
		c->w_max = (uint32_t)(cwnd * (1 + CUBIC_BETA) / 2);
	else
		c->w_max = cwnd;
	c->w_last_max = cwnd;
	cubic_reset_epoch(s);
	return max_u32((uint32_t)(cwnd * CUBIC_BETA), 2 * s->mss);
}

static void cubic_on_recovery_end(struct tn_sock *s)
{
	cubic_reset_epoch(s);
}

static void cubic_on_timeout(struct tn_sock *s)
{
	cubic_reset_epoch(s);
}

const struct tcp_cc_ops tcp_cc_cubic = {
	.name = "cubic",
	.init = cubic_init,
	.on_ack = cubic_on_ack,
	.ssthresh = cubic_ssthresh,
	.on_recovery_end = cubic_on_recovery_end,
	.on_timeout = cubic_on_timeout,
};
