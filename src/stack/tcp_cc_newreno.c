/*
 * tcp_cc_newreno.c - Reno window growth (RFC 5681); the recovery itself
 * (RFC 6582 NewReno / RFC 6675 SACK) lives in tcp_in.c for every algorithm.
 */
#include "tcp.h"

static void reno_init(struct tn_sock *s)
{
	s->cwnd_cnt = 0;
}

static void reno_on_ack(struct tn_sock *s, uint32_t acked, uint32_t rtt_us)
{
	if (s->cwnd < s->ssthresh) {
		acked = tcp_cc_slow_start(s, acked);
		if (!acked)
			return;
	}
	tcp_cc_cong_avoid_reno(s, acked);
}

/* RFC 5681 (4): half the flight, at least two segments. */
static uint32_t reno_ssthresh(struct tn_sock *s)
{
	uint32_t flight = s->snd_max - s->snd_una;
	return max_u32(flight / 2, 2 * s->mss);
}

static void reno_nothing(struct tn_sock *s)
{
}

const struct tcp_cc_ops tcp_cc_newreno = {
	.name = "reno",
	.init = reno_init,
	.on_ack = reno_on_ack,
	.ssthresh = reno_ssthresh,
	.on_recovery_end = reno_nothing,
	.on_timeout = reno_nothing,
};
