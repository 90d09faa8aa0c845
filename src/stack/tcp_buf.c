/*
 * tcp_buf.c - buffers that grow with the path, as Linux's do.
 *
 * A connection starts with the default sizes ([tcp] rcvbuf/sndbuf) and
 * grows each ring up to its ceiling (rcvbuf_max/sndbuf_max, the size itself
 * when SO_RCVBUF/SO_SNDBUF pinned it):
 * - receive: dynamic right-sizing (Linux tcp_rcv_space_adjust): once per
 *   round trip, what the reader took in that round trip is measured; a
 *   sender limited by our window can send at most a window per RTT, so the
 *   buffer becomes twice that plus room for sixteen segments, more when
 *   the amount read is still growing (slow start doubles it every RTT).
 *   Growth follows reads, so a connection whose reader is idle or slow
 *   keeps its buffer.
 * - send: when a writer finds the buffer full, it grows to twice the
 *   congestion window (Linux tcp_sndbuf_expand): one window in flight,
 *   one queued behind it; by half its size at least, as growing copies
 *   the ring.
 * Every growth is charged first (tn_stack_set_charge); a refusal leaves
 * the size as it is and counts TcpExtTCPMemoryPressures. Rings never
 * shrink; sock_free gives the whole charge back.
 */
#include "tcp.h"

/* Grows ring r (its size field *size) to want bytes, charged; true when it grew. */
static bool buf_grow(struct tn_sock *s, struct tn_ring *r, uint32_t *size, uint32_t want)
{
	struct tn_stack *stack = s->stack;
	struct tn_tcp *tcp = tcp_of(stack);
	if (want <= *size || !r->data)
		return false;
	uint32_t more = want - *size;
	if (tcp->charge && !tcp->charge(tcp->charge_ctx, s->mem_owner, (int64_t)more)) {
		TN_COUNT(stack, TcpExtTCPMemoryPressures);
		return false;
	}
	if (tn_ring_grow(r, want) < 0) {
		if (tcp->charge)
			tcp->charge(tcp->charge_ctx, s->mem_owner, -(int64_t)more);
		TN_COUNT(stack, TcpExtTCPMemoryPressures);
		return false;
	}
	if (tcp->charge)
		s->charged += more;
	*size = want;
	return true;
}

/* Bytes the reader has taken so far, as a sequence number (Linux copied_seq). */
static uint32_t copied_seq(const struct tn_sock *s)
{
	return s->rcv_nxt - s->rcvbuf.len;
}

void tcp_rcv_space_init(struct tn_sock *s)
{
	/* Linux tcp_init_buffer_space: what an initial window would bring */
	s->rcvq_space = min_u32(s->rcvbuf_size, TCP_INIT_CWND * s->rcv_mss);
	s->rcvq_seq = copied_seq(s);
	s->rcvq_time_ns = tn_now(s->stack);
}

void tcp_rcv_space_adjust(struct tn_sock *s)
{
	if (s->rcvbuf_max <= s->rcvbuf_size || !s->rcvq_space) /* not established yet */
		return;
	uint64_t now = tn_now(s->stack);
	/*
	 * The round trip: our own estimate, or the initial RTO before any
	 * sample (a late first adjustment, never a premature one).
	 */
	uint64_t rtt_ns = s->srtt_us ? (uint64_t)s->srtt_us * 1000
				     : (uint64_t)s->stack->cfg.tcp_rto_initial_ms * 1000000;
	if (now - s->rcvq_time_ns < rtt_ns)
		return;
	uint32_t copied = copied_seq(s) - s->rcvq_seq;
	if (copied > s->rcvq_space) {
		uint64_t win = 2 * (uint64_t)copied + 16 * (uint64_t)s->rcv_mss;
		/* still growing (slow start): leave room for the next round's growth */
		win += 2 * win * (copied - s->rcvq_space) / s->rcvq_space;
		uint32_t want = (uint32_t)(win < s->rcvbuf_max ? win : s->rcvbuf_max);
		buf_grow(s, &s->rcvbuf, &s->rcvbuf_size, want);
		s->rcvq_space = copied;
	}
	s->rcvq_seq = copied_seq(s);
	s->rcvq_time_ns = now;
}

void tcp_buf_pin(struct tn_sock *s, uint32_t rcvbuf, uint32_t sndbuf)
{
	if (rcvbuf) {
		buf_grow(s, &s->rcvbuf, &s->rcvbuf_size, rcvbuf);
		s->rcvbuf_max = s->rcvbuf_size;
	}
	if (sndbuf) {
		buf_grow(s, &s->sndbuf, &s->sndbuf_size, sndbuf);
		s->sndbuf_max = s->sndbuf_size;
	}
}

void tcp_sndbuf_expand(struct tn_sock *s)
{
	if (s->sndbuf_max <= s->sndbuf_size)
		return;
	uint64_t want = 2 * (uint64_t)max_u32(s->cwnd, TCP_INIT_CWND * s->mss);
	if (want <= s->sndbuf_size)
		return;
	/*
	 * Linux's sk_sndbuf is a number; this is a ring that is copied to
	 * grow. The window grows a little with every ACK, so each step is at
	 * least half the size again: a few copies per connection, not one of
	 * megabytes per ACK.
	 */
	uint64_t step = (uint64_t)s->sndbuf_size + s->sndbuf_size / 2;
	if (want < step)
		want = step;
	if (want > s->sndbuf_max)
		want = s->sndbuf_max;
	buf_grow(s, &s->sndbuf, &s->sndbuf_size, (uint32_t)want);
}
