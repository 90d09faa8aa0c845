/*
 * tcp_cc.c - the congestion control interface and what every algorithm
 * shares: RFC 5681 slow start with appropriate byte counting (RFC 3465,
 * L = 2) and Reno's additive increase.
 */
#include "tcp.h"

const struct tcp_cc_ops *tcp_cc_get(uint8_t which)
{
	return which == TN_TCP_CC_NEWRENO ? &tcp_cc_newreno : &tcp_cc_cubic;
}

/* Returns the acked bytes left over once cwnd reached ssthresh. */
uint32_t tcp_cc_slow_start(struct tn_sock *s, uint32_t acked)
{
	uint32_t inc = min_u32(acked, 2 * s->mss);
	uint32_t room = s->ssthresh > s->cwnd ? s->ssthresh - s->cwnd : 0;
	if (inc > room) {
		s->cwnd += room;
		return acked > room ? acked - room : 0;
	}
	s->cwnd += inc;
	return 0;
}

/* RFC 5681 3.1: about one MSS per RTT, counted in bytes. */
void tcp_cc_cong_avoid_reno(struct tn_sock *s, uint32_t acked)
{
	s->cwnd_cnt += acked;
	if (s->cwnd_cnt >= s->cwnd) {
		s->cwnd_cnt -= s->cwnd;
		s->cwnd += s->mss;
	}
}
