/*
 * tcp_ofo.c - the receive side's out-of-order data (RFC 9293 3.10.7.4
 * "segment text", RFC 2018 SACK blocks).
 *
 * Out-of-order bytes are written straight into the free part of the
 * receive ring at their distance from rcv_nxt; a small sorted array of
 * ranges remembers which parts are there. When the gap before them fills,
 * the ranges are committed in one step. The array of ranges exists while
 * there is a hole (tcp_lazy_array), and it keeps at most TCP_OFO_MAX
 * ranges (a segment that would need more is dropped and counted,
 * TcpExtTCPOFODrop); the bytes are bounded by the receive buffer they
 * sit in.
 */
#include "tcp.h"

static void ofo_remove(struct tn_sock *s, uint8_t i)
{
	memmove(&s->ofo[i], &s->ofo[i + 1], (size_t)(s->ofo_n - i - 1) * sizeof(s->ofo[0]));
	s->ofo_n--;
}

/* The range holding seq, or -1. */
static int ofo_find(const struct tn_sock *s, uint32_t seq)
{
	for (uint8_t i = 0; i < s->ofo_n; i++)
		if (seq_le(s->ofo[i].start, seq) && seq_lt(seq, s->ofo[i].end))
			return i;
	return -1;
}

/* The range holding seq was just reported first: to the front of the recency list. */
static void sack_recent_push(struct tn_sock *s, uint32_t seq)
{
	int range = ofo_find(s, seq);
	uint8_t n = 0;
	uint32_t keep[TCP_SACK_BLOCKS_MAX];
	keep[n++] = seq;
	for (uint8_t k = 0; k < s->sack_recent_n && n < TCP_SACK_BLOCKS_MAX; k++) {
		int r = ofo_find(s, s->sack_recent[k]);
		if (r >= 0 && r != range)
			keep[n++] = s->sack_recent[k];
	}
	memcpy(s->sack_recent, keep, n * sizeof(keep[0]));
	s->sack_recent_n = n;
}

/* Adds [start, end) to the sorted, disjoint ranges; returns false if no room. */
static bool ofo_insert(struct tn_sock *s, uint32_t start, uint32_t end)
{
	uint8_t i = 0;
	while (i < s->ofo_n && seq_lt(s->ofo[i].end, start))
		i++;
	if (i < s->ofo_n && seq_le(s->ofo[i].start, end)) {
		/* Overlaps or touches range i: widen it, then swallow the ones it reaches. */
		s->ofo[i].start = seq_min(s->ofo[i].start, start);
		s->ofo[i].end = seq_max(s->ofo[i].end, end);
		while (i + 1 < s->ofo_n && seq_le(s->ofo[i + 1].start, s->ofo[i].end)) {
			s->ofo[i].end = seq_max(s->ofo[i].end, s->ofo[i + 1].end);
			ofo_remove(s, (uint8_t)(i + 1));
		}
		return true;
	}
	if (s->ofo_n == TCP_OFO_MAX)
		return false;
	if (!tcp_lazy_array(s, s->ofo, TCP_OFO_MAX))
		return false;
	memmove(&s->ofo[i + 1], &s->ofo[i], (size_t)(s->ofo_n - i) * sizeof(s->ofo[0]));
	s->ofo[i].start = start;
	s->ofo[i].end = end;
	s->ofo_n++;
	return true;
}

uint32_t tcp_ofo_store(struct tn_sock *s, uint32_t seq, const uint8_t *data, uint32_t len,
		       bool *out_of_order)
{
	uint32_t off = seq - s->rcv_nxt;
	*out_of_order = off != 0;
	if (off) {
		int held = ofo_find(s, seq);
		if (held >= 0 && seq_le(seq + len, s->ofo[held].end)) {
			tcp_ofo_dsack(s, seq, seq + len, true); /* all of it is here already */
			sack_recent_push(s, seq);
			return 0;
		}
		if (!ofo_insert(s, seq, seq + len)) {
			TCP_CTR(s, TcpExtTCPOFODrop);
			return 0;
		}
		tn_ring_write_beyond(&s->rcvbuf, off, data, len);
		sack_recent_push(s, seq);
		TCP_CTR(s, TcpExtTCPOFOQueue);
		return 0;
	}
	if (!s->ofo_n)
		tn_ring_rewind_empty(&s->rcvbuf);
	tn_ring_write_beyond(&s->rcvbuf, 0, data, len);
	uint32_t nxt = seq + len;
	while (s->ofo_n && seq_le(s->ofo[0].start, nxt)) {
		nxt = seq_max(nxt, s->ofo[0].end);
		ofo_remove(s, 0);
	}
	if (!s->ofo_n)
		tcp_lazy_array_release(s->ofo); /* no hole left */
	uint32_t delivered = nxt - s->rcv_nxt;
	tn_ring_commit(&s->rcvbuf, delivered);
	s->rcv_nxt = nxt;
	return delivered;
}

void tcp_ofo_dsack(struct tn_sock *s, uint32_t start, uint32_t end, bool out_of_order)
{
	if (!s->sack_ok)
		return;
	s->dsack.start = start;
	s->dsack.end = end;
	s->dsack_pending = true;
	if (out_of_order)
		TCP_CTR(s, TcpExtTCPDSACKOfoSent);
	else
		TCP_CTR(s, TcpExtTCPDSACKOldSent);
}

uint8_t tcp_ofo_sack_blocks(const struct tn_sock *s, struct tcp_sack_block *out, uint8_t max)
{
	uint8_t n = 0;
	bool used[TCP_OFO_MAX] = {false};
	if (!max)
		return 0;
	if (s->dsack_pending)
		out[n++] = s->dsack;
	for (uint8_t k = 0; k < s->sack_recent_n && n < max; k++) {
		int r = ofo_find(s, s->sack_recent[k]);
		if (r >= 0 && !used[r]) {
			used[r] = true;
			out[n++] = s->ofo[r];
		}
	}
	for (uint8_t i = s->ofo_n; i-- > 0 && n < max;)
		if (!used[i])
			out[n++] = s->ofo[i];
	return n;
}
