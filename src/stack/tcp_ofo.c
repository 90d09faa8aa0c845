/*
 * tcp_ofo.c - the receive side's out-of-order data (RFC 9293 3.10.7.4
 * "segment text", RFC 2018 SACK blocks).
 *
 * Out-of-order bytes are written straight into the free part of the
 * receive ring at their distance from rcv_nxt; a sorted array of ranges
 * remembers which parts are there. When the gap before them fills, the
 * ranges are committed in one step. The array exists while there is a
 * hole, and grows (tcp_holes_room) up to tcp_holes_limit: a
 * receive buffer's worth of holes one full-sized segment apart, so that a
 * window with every other segment lost is held whole. A segment that
 * would need more is dropped and counted (TcpExtTCPOFODrop): tiny
 * segments cannot make the array outgrow the buffer it describes. The
 * bytes are bounded by the receive buffer they sit in.
 */
#include "tcp.h"

#include <stdlib.h>

/* Room for one more range; false when at the limit or out of memory (counted). */
static bool ofo_room(struct tn_sock *s)
{
	struct tcp_sack_block *a = tcp_holes_room(s, s->ofo, s->ofo_n, &s->ofo_cap, sizeof(*a),
						  tcp_holes_limit(s->rcvbuf.size, tcp_offered_mss(s)));
	if (!a)
		return false;
	s->ofo = a;
	return true;
}

static void ofo_release(struct tn_sock *s)
{
	free(s->ofo);
	s->ofo = NULL;
	s->ofo_cap = 0;
}

static uint32_t ofo_first_ending_after(const struct tn_sock *s, uint32_t seq)
{
	return tcp_blocks_first_ending_after(s->ofo, s->ofo_n, seq);
}

/* The range holding seq, or -1. */
static int ofo_find(const struct tn_sock *s, uint32_t seq)
{
	uint32_t i = ofo_first_ending_after(s, seq);
	return i < s->ofo_n && seq_le(s->ofo[i].start, seq) ? (int)i : -1;
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
	uint32_t at;
	if (tcp_blocks_merge(s->ofo, &s->ofo_n, start, end, &at))
		return true;
	if (!ofo_room(s))
		return false;
	tcp_blocks_insert(s->ofo, &s->ofo_n, at, start, end);
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
	uint32_t nxt = seq + len, filled = 0;
	while (filled < s->ofo_n && seq_le(s->ofo[filled].start, nxt))
		nxt = seq_max(nxt, s->ofo[filled++].end);
	tcp_blocks_drop_first(s->ofo, &s->ofo_n, filled);
	if (!s->ofo_n)
		ofo_release(s); /* no hole left */
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

/* Is range r among the first n of used? */
static bool listed(const int *used, uint8_t n, int r)
{
	for (uint8_t k = 0; k < n; k++)
		if (used[k] == r)
			return true;
	return false;
}

uint8_t tcp_ofo_sack_blocks(const struct tn_sock *s, struct tcp_sack_block *out, uint8_t max)
{
	uint8_t n = 0, nused = 0;
	int used[TCP_SACK_BLOCKS_MAX];
	if (!max)
		return 0;
	if (s->dsack_pending)
		out[n++] = s->dsack;
	for (uint8_t k = 0; k < s->sack_recent_n && n < max; k++) {
		int r = ofo_find(s, s->sack_recent[k]);
		if (r >= 0 && !listed(used, nused, r)) {
			used[nused++] = r;
			out[n++] = s->ofo[r];
		}
	}
	for (uint32_t i = s->ofo_n; i-- > 0 && n < max;)
		if (!listed(used, nused, (int)i))
			out[n++] = s->ofo[i];
	return n;
}
