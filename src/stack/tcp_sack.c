/*
 * tcp_sack.c - the send side's scoreboard: which bytes above snd_una the
 * peer SACKed (RFC 2018), when each byte last went, and which ones are
 * lost (RACK, RFC 8985), so that recovery (RFC 6675) can retransmit every
 * lost segment in one round trip and count the pipe right.
 *
 * Three arrays, allocated when first needed and growing as holes come
 * (tcp_holes_room) up to a send buffer's worth of holes, a full-sized
 * segment apart:
 *   sb[]    the SACKed ranges, sorted. When full the highest is dropped
 *           (recovery works bottom up; the peer reports it again).
 *   rxt[]   the retransmitted ranges not yet delivered, sorted, each with
 *           its transmit time and a lost mark.
 *   txlog[] checkpoints (seq, time) of original transmissions, a ring in
 *           sequence order: original data goes out in order, so one
 *           checkpoint per burst gives every byte its first transmit time.
 *           When full, neighbours merge (txlog_halve).
 * A peer SACKing every other segment makes the per-ACK passes over them
 * (recount, RACK) as long as the arrays, which the buffer bounds.
 * Original data below lost_end that is neither SACKed nor retransmitted is
 * lost; so is every rxt range marked lost. lost_bytes is their sum.
 */
#include "tcp.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static bool t_before(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static void recount(struct tn_sock *s);

/* ---- arrays of holes */
uint32_t tcp_holes_limit(uint32_t bufsize, uint32_t mss)
{
	uint32_t n = bufsize / (2 * max_u32(mss, TCP_DEFAULT_MSS)) + 1;
	return min_u32(max_u32(n, TCP_HOLES_MIN), TCP_HOLES_MAX);
}

void *tcp_holes_room(struct tn_sock *s, void *p, uint16_t n, uint16_t *cap, size_t size, uint32_t limit)
{
	if (p && n < *cap)
		return p;
	if (n >= limit)
		return NULL;
	uint32_t c = min_u32(*cap ? 2 * (uint32_t)*cap : TCP_HOLES_FIRST, limit);
	void *a = realloc(p, c * size);
	if (!a) {
		TN_COUNT(s->stack, TcpExtTCPMemoryPressures);
		return NULL;
	}
	*cap = (uint16_t)c;
	return a;
}

/* Binary search of sorted, disjoint ranges of any layout that has an end field. */
static uint32_t first_ending_after(const void *ranges, size_t size, size_t end_offset, uint32_t n,
				   uint32_t seq)
{
	const unsigned char *b = ranges;
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2, end;
		memcpy(&end, b + mid * size + end_offset, sizeof(end));
		if (seq_lt(seq, end))
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}
#define FIRST_ENDING_AFTER(a, n, seq) \
	first_ending_after((a), sizeof(*(a)), offsetof(__typeof__(*(a)), end), (n), (seq))

uint32_t tcp_blocks_first_ending_after(const struct tcp_sack_block *b, uint32_t n, uint32_t seq)
{
	return FIRST_ENDING_AFTER(b, n, seq);
}

bool tcp_blocks_merge(struct tcp_sack_block *b, uint16_t *n, uint32_t start, uint32_t end,
		      uint32_t *at)
{
	uint32_t i = tcp_blocks_first_ending_after(b, *n, start - 1); /* the first that reaches start */
	*at = i;
	if (i == *n || seq_gt(b[i].start, end))
		return false;
	/* Overlaps or touches range i: widen it, then swallow the ones it reaches. */
	b[i].start = seq_min(b[i].start, start);
	b[i].end = seq_max(b[i].end, end);
	uint32_t j = i + 1;
	while (j < *n && seq_le(b[j].start, b[i].end))
		b[i].end = seq_max(b[i].end, b[j++].end);
	memmove(&b[i + 1], &b[j], (size_t)(*n - j) * sizeof(b[0]));
	*n = (uint16_t)(*n - (j - i - 1));
	return true;
}

void tcp_blocks_insert(struct tcp_sack_block *b, uint16_t *n, uint32_t at, uint32_t start,
		       uint32_t end)
{
	memmove(&b[at + 1], &b[at], (size_t)(*n - at) * sizeof(b[0]));
	b[at] = (struct tcp_sack_block){ .start = start, .end = end };
	(*n)++;
}

void tcp_blocks_drop_first(struct tcp_sack_block *b, uint16_t *n, uint32_t k)
{
	if (!k)
		return;
	memmove(b, b + k, (size_t)(*n - k) * sizeof(b[0]));
	*n = (uint16_t)(*n - k);
}

/* The send side's arrays: holes in what the send buffer holds. */
static uint32_t send_holes_limit(const struct tn_sock *s)
{
	return tcp_holes_limit(s->sndbuf.size, tcp_send_mss(s));
}

/* ---- SACKed ranges */
/* The first SACKed range ending above seq (sb_n if none). */
static uint16_t sb_find(const struct tn_sock *s, uint32_t seq)
{
	return (uint16_t)FIRST_ENDING_AFTER(s->sb, s->sb_n, seq);
}

/* Bytes of [start, end) that are SACKed. */
static uint32_t sb_covered(const struct tn_sock *s, uint32_t start, uint32_t end)
{
	uint32_t n = 0;
	for (uint16_t i = sb_find(s, start); i < s->sb_n && seq_lt(s->sb[i].start, end); i++)
		n += seq_min(s->sb[i].end, end) - seq_max(s->sb[i].start, start);
	return n;
}

static void sb_insert(struct tn_sock *s, uint32_t start, uint32_t end)
{
	uint32_t at;
	if (tcp_blocks_merge(s->sb, &s->sb_n, start, end, &at))
		return;
	struct tcp_sack_block *a = tcp_holes_room(s, s->sb, s->sb_n, &s->sb_cap, sizeof(*a),
						  send_holes_limit(s));
	if (a) {
		s->sb = a;
	} else {
		if (at == s->sb_n)
			return; /* it would be the highest: forgotten */
		s->sb_n--; /* forget the highest range */
	}
	tcp_blocks_insert(s->sb, &s->sb_n, at, start, end);
}

/* ---- retransmitted ranges */
static void rxt_remove(struct tn_sock *s, uint16_t i)
{
	memmove(&s->rxt[i], &s->rxt[i + 1], (size_t)(s->rxt_n - i - 1) * sizeof(s->rxt[0]));
	s->rxt_n--;
}

/* The first rxt range ending above seq (rxt_n if none). */
static uint16_t rxt_find(const struct tn_sock *s, uint32_t seq)
{
	return (uint16_t)FIRST_ENDING_AFTER(s->rxt, s->rxt_n, seq);
}

static bool rxt_room(struct tn_sock *s)
{
	struct tcp_rxt *a = tcp_holes_room(s, s->rxt, s->rxt_n, &s->rxt_cap, sizeof(*a),
					   send_holes_limit(s));
	if (!a)
		return false;
	s->rxt = a;
	return true;
}

bool tcp_sack_note_rxt(struct tn_sock *s, uint32_t seq, uint32_t len)
{
	uint32_t end = seq + len;
	uint16_t i = rxt_find(s, seq);
	/* Cut what the new range covers out of the old ones. */
	while (i < s->rxt_n && seq_lt(s->rxt[i].start, end)) {
		struct tcp_rxt *r = &s->rxt[i];
		if (seq_lt(r->start, seq) && seq_gt(r->end, end)) {
			if (!rxt_room(s))
				return false;
			r = &s->rxt[i];
			memmove(&s->rxt[i + 1], r, (size_t)(s->rxt_n - i) * sizeof(*r));
			s->rxt_n++;
			s->rxt[i].end = seq;
			s->rxt[i + 1].start = end;
			i++;
			break;
		}
		if (seq_lt(r->start, seq)) {
			r->end = seq;
			i++;
		} else if (seq_gt(r->end, end)) {
			r->start = end;
			break;
		} else {
			rxt_remove(s, i);
		}
	}
	if (!rxt_room(s)) {
		/* The head must always be retransmittable (RTO): forget the highest range. */
		if (seq != s->snd_una || !s->rxt_n)
			return false;
		s->rxt_n--;
		if (i > s->rxt_n)
			i = s->rxt_n;
	}
	memmove(&s->rxt[i + 1], &s->rxt[i], (size_t)(s->rxt_n - i) * sizeof(s->rxt[0]));
	s->rxt[i] = (struct tcp_rxt){ .start = seq, .end = end, .t_us = tcp_clock_us(s) };
	s->rxt_n++;
	recount(s);
	return true;
}

/* ---- first transmit times */
static uint16_t txlog_slot(const struct tn_sock *s, uint16_t k)
{
	uint32_t i = (uint32_t)s->txlog_head + k;
	return (uint16_t)(i >= s->txlog_cap ? i - s->txlog_cap : i);
}

static struct tcp_txmark *txlog_at(struct tn_sock *s, uint16_t k)
{
	return &s->txlog[txlog_slot(s, k)];
}

static const struct tcp_txmark *txlog_at_c(const struct tn_sock *s, uint16_t k)
{
	return &s->txlog[txlog_slot(s, k)];
}

/*
 * Neighbours merge two by two, each keeping the first time of the pair
 * (t_us) and the last (t_last_us): delivered bytes count as sent at the
 * first, so a delivery never vouches for bytes sent after it, and RACK
 * judges bytes by the last, so it may find a loss later than it could but
 * never calls a segment lost that went after the one delivered; a merged
 * checkpoint gives no RTT sample (sent_at). (When the checkpoints were
 * fixed at 256 and the bursts after the last one counted as sent with it, a
 * window of more than 256 bursts made every segment sent after the last
 * checkpoint older than the recovery's first retransmission: its delivery
 * called them all lost, and they all went twice.)
 */
static void txlog_halve(struct tn_sock *s)
{
	uint16_t n = s->txlog_n, out = 0;
	for (uint16_t k = 0; k < n; k += 2) {
		struct tcp_txmark m = *txlog_at(s, k);
		if (k + 1 < n)
			m.t_last_us = txlog_at(s, (uint16_t)(k + 1))->t_last_us;
		*txlog_at(s, out++) = m;
	}
	s->txlog_n = out;
}

/* One checkpoint per full-sized segment the send buffer holds, at least TCP_TXLOG_MIN. */
static bool txlog_room(struct tn_sock *s)
{
	uint16_t old = s->txlog_cap;
	uint32_t limit = max_u32(2 * send_holes_limit(s), TCP_TXLOG_MIN);
	struct tcp_txmark *a = tcp_holes_room(s, s->txlog, s->txlog_n, &s->txlog_cap, sizeof(*a), limit);
	if (!a) {
		if (!s->txlog_n)
			return false; /* no memory: no transmit times, RACK waits for the RTO */
		txlog_halve(s);
		return true;
	}
	s->txlog = a;
	if (s->txlog_cap != old && s->txlog_head) {
		/* it grew full, so wrapped: its older part moves to the new end */
		uint16_t older = (uint16_t)(old - s->txlog_head);
		uint16_t head = (uint16_t)(s->txlog_cap - older);
		memmove(&a[head], &a[s->txlog_head], older * sizeof(*a));
		s->txlog_head = head;
	}
	return true;
}

void tcp_sack_note_tx(struct tn_sock *s, uint32_t seq)
{
	uint32_t now = tcp_clock_us(s);
	if (s->txlog_n && txlog_at(s, (uint16_t)(s->txlog_n - 1))->t_last_us == now)
		return;
	if (!txlog_room(s))
		return;
	*txlog_at(s, s->txlog_n) = (struct tcp_txmark){ .seq = seq, .t_us = now, .t_last_us = now };
	s->txlog_n++;
}

/* The checkpoint index covering seq (the last one at or below it); 0 if none is. */
static uint16_t txlog_find(const struct tn_sock *s, uint32_t seq)
{
	uint16_t lo = 0, hi = s->txlog_n; /* the answer is in [lo, hi) */
	while (hi - lo > 1) {
		uint16_t mid = (uint16_t)((lo + hi) / 2);
		if (seq_le(txlog_at_c(s, mid)->seq, seq))
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/*
 * When the byte at seq last went: its retransmission, or its first
 * transmission (the earliest it can have been, *merged when checkpoints
 * merged made that a range of times: no RTT sample then).
 */
static uint32_t sent_at(const struct tn_sock *s, uint32_t seq, bool *retransmitted, bool *merged)
{
	uint16_t i = rxt_find(s, seq);
	*merged = false;
	if (i < s->rxt_n && seq_ge(seq, s->rxt[i].start)) {
		*retransmitted = true;
		return s->rxt[i].t_us;
	}
	*retransmitted = false;
	if (!s->txlog_n)
		return tcp_clock_us(s);
	const struct tcp_txmark *m = txlog_at_c(s, txlog_find(s, seq));
	*merged = m->t_us != m->t_last_us;
	return m->t_us;
}

/* ---- counting */

/* A retransmission SACKed is delivered: it leaves the record (what is left counts as original). */
static void rxt_drop_sacked(struct tn_sock *s)
{
	uint16_t si = 0, out = 0;
	for (uint16_t i = 0; i < s->rxt_n; i++) {
		const struct tcp_rxt *r = &s->rxt[i];
		while (si < s->sb_n && seq_le(s->sb[si].end, r->start))
			si++;
		if (si < s->sb_n && seq_lt(s->sb[si].start, r->end))
			continue;
		s->rxt[out++] = *r;
	}
	s->rxt_n = out;
}

/* sacked_bytes and lost_bytes, in one pass over the sorted arrays. */
static void recount(struct tn_sock *s)
{
	uint32_t sacked = 0, lost = 0;
	rxt_drop_sacked(s);
	for (uint16_t i = 0; i < s->sb_n; i++)
		sacked += s->sb[i].end - s->sb[i].start;
	/* original data below lost_end: not SACKed, not retransmitted */
	if (seq_gt(s->lost_end, s->snd_una)) {
		lost = s->lost_end - s->snd_una - sb_covered(s, s->snd_una, s->lost_end);
		for (uint16_t i = 0; i < s->rxt_n && seq_lt(s->rxt[i].start, s->lost_end); i++)
			lost -= seq_min(s->rxt[i].end, s->lost_end) - s->rxt[i].start;
	}
	for (uint16_t i = 0; i < s->rxt_n; i++)
		if (s->rxt[i].lost)
			lost += s->rxt[i].end - s->rxt[i].start;
	s->sacked_bytes = sacked;
	s->lost_bytes = lost;
}

uint32_t tcp_in_flight(const struct tn_sock *s)
{
	uint32_t out = s->snd_nxt - s->snd_una;
	uint32_t gone = s->sacked_bytes + s->lost_bytes;
	return out > gone ? out - gone : 0;
}

/*
 * Does the ACK echo a timestamp older than the one a transmission at t_us
 * (our microsecond clock) carried? Then it answers an earlier copy. Only
 * for what an ACK acknowledges cumulatively (o NULL otherwise): a receiver
 * echoes the segment that moved its left edge (RFC 7323 4.3), so a SACK
 * block's echo is older than the segment it reports, whichever copy came.
 */
static bool echoes_before(const struct tn_sock *s, const struct tcp_opts *o, uint32_t t_us)
{
	if (!o || !s->ts_ok || !o->ts_ok || !o->tsecr)
		return false;
	uint64_t now_ns = tn_now(s->stack);
	uint64_t ago_ns = (uint64_t)(uint32_t)(tcp_clock_us(s) - t_us) * 1000;
	if (ago_ns > now_ns)
		return false;
	uint32_t tsval = tcp_ts_clock_at(s->stack, s->ts_offset, now_ns - ago_ns);
	return (int32_t)(o->tsecr - tsval) < 0;
}

/* ---- RACK: what the newly delivered bytes teach */
static void rack_update(struct tn_sock *s, const struct tcp_opts *o, uint32_t start, uint32_t end)
{
	/* the SYN (or anything else sent before the first checkpoint) has no transmit time here */
	if (!s->txlog_n || seq_lt(end - 1, txlog_at(s, 0)->seq))
		return;
	bool rxt, merged;
	uint32_t t = sent_at(s, end - 1, &rxt, &merged);
	uint32_t now = tcp_clock_us(s);
	uint32_t rtt = now - t;
	/*
	 * RFC 8985 6.2 step 2: for a retransmitted segment, an ACK that echoes
	 * a timestamp from before the retransmission, or that comes sooner
	 * than the minimum RTT, was the original arriving: its time says
	 * nothing. (The timestamp test holds when queues make the RTT far
	 * longer than its minimum; o is NULL for SACK blocks, see above.)
	 * Not for the tail loss probe: it went after two SRTTs of silence,
	 * when the original's answer would long have come, and on tap0 the
	 * peer answers a lone segment sooner than the minimum RTT its ACKs of
	 * full flights set. Ignored, the probe's SACK (a whole flight lost but
	 * the probe) started no recovery, and the RTO followed.
	 */
	bool probe = rxt && s->tlp_out && t == s->tlp_xmit_us;
	if (rxt && !probe && ((s->min_rtt_us && rtt < s->min_rtt_us) || echoes_before(s, o, t)))
		return;
	if (!rxt && !merged)
		tcp_min_rtt_sample(s, rtt);
	/* Step 3: delivered below what was delivered before without a retransmission: reordering. */
	if (s->rack_valid && !rxt && seq_lt(end, s->rack_end_seq) && !t_before(s->rack_xmit_us, t)) {
		TCP_CTR(s, TcpExtTCPSACKReorder);
		s->reord_seen = true;
	}
	if (!s->rack_valid || t_before(s->rack_xmit_us, t) ||
	    (t == s->rack_xmit_us && seq_gt(end, s->rack_end_seq))) {
		s->rack_valid = true;
		s->rack_xmit_us = t;
		s->rack_end_seq = end;
		s->rack_rtt_us = rtt;
	}
}

/*
 * The cut of cwnd and ssthresh is taken back (Linux's
 * tcp_undo_cwnd_reduction). With nothing left marked lost, recovery ends
 * without the usual drop to ssthresh (tcp_try_keep_open).
 */
void tcp_undo_recovery(struct tn_sock *s)
{
	s->undo_armed = false;
	s->cwnd = max_u32(s->cwnd, s->prior_cwnd);
	s->ssthresh = max_u32(s->ssthresh, s->prior_ssthresh);
	if (s->in_recovery && !s->lost_bytes) {
		s->in_recovery = false;
		s->dupacks = 0;
		s->cc->on_recovery_end(s);
	}
}

/*
 * Every retransmission of the last recovery came back as a duplicate: the
 * network reordered or delayed, nothing was lost (Linux's
 * tcp_try_undo_dsack).
 */
static void undo_dsack(struct tn_sock *s)
{
	if (s->in_loss) {
		if (s->rto_undo)
			tcp_undo_rto(s, false); /* a timeout's retransmissions, all duplicates */
		return;
	}
	TCP_CTR(s, TcpExtTCPDSACKUndo);
	tcp_undo_recovery(s);
}

uint32_t tcp_sack_on_ack(struct tn_sock *s, const struct tcp_opts *o, uint32_t ack)
{
	uint32_t delivered = 0;
	bool undo = false;
	uint32_t before = s->sacked_bytes;
	/*
	 * What the cumulative ACK delivers first, with RACK's state from
	 * before this ACK: SACK blocks of the same ACK are no reordering.
	 */
	s->ack_rtt_us = 0;
	if (seq_gt(ack, s->snd_una)) {
		uint32_t newly = ack - s->snd_una - sb_covered(s, s->snd_una, ack);
		delivered += newly;
		/*
		 * The bytes this ACK delivers first are the hole at snd_una: if
		 * it was never retransmitted and data above it arrived before,
		 * the network reordered (RFC 8985 6.2 step 3).
		 */
		uint16_t first = sb_find(s, s->snd_una);
		uint32_t hole_end = ack;
		if (first < s->sb_n && seq_gt(s->sb[first].start, s->snd_una) &&
		    seq_lt(s->sb[first].start, ack))
			hole_end = s->sb[first].start;
		if (newly)
			rack_update(s, o, s->snd_una, hole_end);
		/*
		 * An RTT sample in microseconds from our own transmit times, as
		 * Linux takes it from its skb timestamps: the millisecond TSecr
		 * cannot tell 30 us from 1 ms. Never from a retransmission (Karn).
		 */
		bool rxt, merged;
		uint32_t t = sent_at(s, ack - 1, &rxt, &merged);
		if (!rxt && !merged && s->txlog_n && seq_ge(ack - 1, txlog_at(s, 0)->seq) && seq_le(ack, s->snd_max))
			s->ack_rtt_us = max_u32(tcp_clock_us(s) - t, 1);
	}
	/*
	 * Blocks in sequence order, as Linux sorts them: the order the peer
	 * listed them in (most recent first) says nothing about reordering.
	 */
	uint8_t order[TCP_SACK_BLOCKS_MAX];
	for (uint8_t k = 0; k < o->nsack; k++) {
		uint8_t j = k;
		while (j > 0 && seq_lt(o->sack[k].start, o->sack[order[j - 1]].start)) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = k;
	}
	for (uint8_t n = 0; n < o->nsack; n++) {
		uint8_t k = order[n];
		uint32_t start = o->sack[k].start, end = o->sack[k].end;
		if (!seq_lt(start, end) || seq_gt(end, s->snd_max) ||
		    seq_lt(start, s->snd_una - s->max_snd_wnd)) {
			TCP_CTR(s, TcpExtTCPSACKDiscard);
			continue;
		}
		/* RFC 2883: the first block below the ACK or inside another one reports a duplicate. */
		bool dsack = k == 0 && (seq_le(end, ack) ||
					(o->nsack > 1 && seq_ge(start, o->sack[1].start) &&
					 seq_le(end, o->sack[1].end)));
		if (dsack) {
			TCP_CTR(s, TcpExtTCPDSACKRecv);
			if (s->tlp_out) {
				s->tlp_rxt = false; /* the probe was a duplicate: nothing to repair */
				continue;
			}
			/*
			 * A retransmission was not needed: once reordering was seen,
			 * wait longer before calling a hole lost (Linux's reo_wnd_steps).
			 */
			if (s->reo_wnd_steps < 16)
				s->reo_wnd_steps++;
			/* Linux's tcp_check_dsack: one of the recovery's retransmissions was spurious. */
			if (s->undo_armed && s->undo_retrans > 0 && seq_le(end, ack) &&
			    seq_gt(end, s->undo_marker)) {
				uint32_t segs = (end - start + s->mss - 1) / max_u32(s->mss, 1);
				s->undo_retrans = segs >= (uint32_t)s->undo_retrans ? 0 : s->undo_retrans - (int32_t)segs;
				undo = s->undo_retrans == 0;
			}
			continue;
		}
		if (seq_le(end, ack))
			continue;
		start = seq_max(start, ack);
		uint32_t news = end - start - sb_covered(s, start, end);
		if (!news)
			continue;
		rack_update(s, NULL, start, end);
		sb_insert(s, start, end);
	}
	recount(s);
	if (undo)
		undo_dsack(s);
	if (s->sacked_bytes > before)
		delivered += s->sacked_bytes - before;
	return delivered;
}

void tcp_sack_trim(struct tn_sock *s)
{
	tcp_blocks_drop_first(s->sb, &s->sb_n, sb_find(s, s->snd_una));
	if (s->sb_n && seq_lt(s->sb[0].start, s->snd_una)) {
		/*
		 * The peer acknowledged up to a byte it had SACKed beyond: fine.
		 * But a SACKed range starting right at the new snd_una means the
		 * peer dropped what it SACKed, or it would have acknowledged it
		 * (Linux's tcp_check_sack_reneging).
		 */
		s->sb[0].start = s->snd_una;
	} else if (s->sb_n && s->sb[0].start == s->snd_una) {
		TCP_CTR(s, TcpExtTCPSACKReneging);
		s->sb_n = 0;
	}
	uint16_t below = rxt_find(s, s->snd_una);
	if (below) {
		memmove(s->rxt, s->rxt + below, (size_t)(s->rxt_n - below) * sizeof(s->rxt[0]));
		s->rxt_n = (uint16_t)(s->rxt_n - below);
	}
	if (s->rxt_n && seq_lt(s->rxt[0].start, s->snd_una))
		s->rxt[0].start = s->snd_una;
	while (s->txlog_n > 1 && seq_le(txlog_at(s, 1)->seq, s->snd_una)) {
		s->txlog_head = txlog_slot(s, 1);
		s->txlog_n--;
	}
	if (seq_lt(s->lost_end, s->snd_una))
		s->lost_end = s->snd_una;
	if (s->snd_una == s->snd_max) {
		/*
		 * Everything sent is acknowledged: no SACKed range, retransmission
		 * or transmit time is of use any more. An idle keep-alive
		 * connection gives the arrays back; its next flight allocates
		 * what it needs again.
		 */
		s->sb_n = s->rxt_n = s->txlog_n = s->txlog_head = 0;
		s->sb_cap = s->rxt_cap = s->txlog_cap = 0;
		free(s->sb);
		free(s->rxt);
		free(s->txlog);
		s->sb = NULL;
		s->rxt = NULL;
		s->txlog = NULL;
	}
	recount(s);
}

void tcp_sack_mark_all_lost(struct tn_sock *s)
{
	if (s->sb_n && s->sb[0].start == s->snd_una) {
		TCP_CTR(s, TcpExtTCPSACKReneging);
		s->sb_n = 0;
	}
	s->lost_end = s->snd_max;
	for (uint16_t i = 0; i < s->rxt_n; i++)
		s->rxt[i].lost = true;
	recount(s);
}

void tcp_sack_unmark_lost(struct tn_sock *s)
{
	s->lost_end = s->snd_una;
	for (uint16_t i = 0; i < s->rxt_n; i++)
		s->rxt[i].lost = false;
	recount(s);
}

bool tcp_sack_rxt_outstanding(const struct tn_sock *s)
{
	for (uint16_t i = 0; i < s->rxt_n; i++)
		if (sb_covered(s, s->rxt[i].start, s->rxt[i].end) < s->rxt[i].end - s->rxt[i].start)
			return true;
	return false;
}

uint32_t tcp_sack_orig_bytes(const struct tn_sock *s, uint32_t start, uint32_t end)
{
	if (!seq_lt(start, end))
		return 0;
	uint32_t n = end - start - sb_covered(s, start, end);
	for (uint16_t i = rxt_find(s, start); i < s->rxt_n && seq_lt(s->rxt[i].start, end); i++) {
		uint32_t a = seq_max(s->rxt[i].start, start), b = seq_min(s->rxt[i].end, end);
		n -= b - a - sb_covered(s, a, b); /* (SACKed bytes were taken off already) */
	}
	return n;
}

/* RFC 8985 6.2 step 4, with Linux's choice: no reordering seen, no waiting in recovery. */
static uint32_t reo_wnd_us(const struct tn_sock *s)
{
	if (!s->reord_seen && (s->in_recovery || s->in_loss || s->sacked_bytes >= 3 * s->mss))
		return 0;
	uint32_t w = (s->min_rtt_us / 4) * max_u32(s->reo_wnd_steps, 1);
	return min_u32(w, s->srtt_us);
}

/* Was a byte sent at t ending at end sent before the RACK segment? */
static bool rack_sent_before(const struct tn_sock *s, uint32_t t, uint32_t end)
{
	return t_before(t, s->rack_xmit_us) || (t == s->rack_xmit_us && seq_le(end, s->rack_end_seq));
}

uint64_t tcp_rack_detect(struct tn_sock *s)
{
	if (!s->sack_ok || !s->rack_valid || s->snd_una == s->snd_max) {
		recount(s); /* lost_end may have moved by the DupThresh rule */
		return 0;
	}
	uint32_t now = tcp_clock_us(s);
	uint32_t wait = s->rack_rtt_us + reo_wnd_us(s);
	int64_t remaining_max = 0;

	/* Original data: first transmit times grow with the sequence, so the lost part is a prefix. */
	for (uint16_t k = txlog_find(s, s->lost_end); k < s->txlog_n; k++) {
		const struct tcp_txmark *m = txlog_at(s, k);
		uint32_t from = seq_max(m->seq, s->lost_end);
		uint32_t end = k + 1 < s->txlog_n ? txlog_at(s, (uint16_t)(k + 1))->seq : s->snd_max;
		if (m->t_last_us == s->rack_xmit_us)
			end = seq_min(end, s->rack_end_seq);
		if (!seq_lt(from, end) || !rack_sent_before(s, m->t_last_us, end))
			break;
		int64_t remaining = (int64_t)(int32_t)(m->t_last_us + wait - now);
		if (remaining > 0) {
			remaining_max = remaining;
			break;
		}
		s->lost_end = end;
	}
	for (uint16_t i = 0; i < s->rxt_n; i++) {
		struct tcp_rxt *r = &s->rxt[i];
		if (r->lost || !rack_sent_before(s, r->t_us, r->end))
			continue;
		int64_t remaining = (int64_t)(int32_t)(r->t_us + wait - now);
		if (remaining > 0) {
			if (remaining > remaining_max)
				remaining_max = remaining;
			continue;
		}
		r->lost = true;
		TCP_CTR(s, TcpExtTCPLostRetransmit);
	}
	recount(s);
	return (uint64_t)remaining_max * 1000;
}

/* ---- walking the scoreboard */
enum sb_run { RUN_SACKED, RUN_LOST, RUN_IN_FLIGHT };

struct sb_walk {
	uint32_t cur;   /* the next byte */
	uint16_t si, ri; /* the first sb and rxt ranges ending above it */
};

/*
 * What the bytes from w->cur are, up to *end: SACKed, lost (original data
 * below lost_end neither SACKed nor sent again, or a retransmission marked
 * lost) or in flight (the rest). rxt ranges never overlap SACKed ones
 * (rxt_drop_sacked).
 */
static enum sb_run walk_run(const struct tn_sock *s, struct sb_walk *w, uint32_t *end)
{
	while (w->si < s->sb_n && seq_le(s->sb[w->si].end, w->cur))
		w->si++;
	if (w->si < s->sb_n && seq_ge(w->cur, s->sb[w->si].start)) {
		*end = s->sb[w->si].end;
		return RUN_SACKED;
	}
	uint32_t stop = w->si < s->sb_n ? s->sb[w->si].start : s->snd_max;
	while (w->ri < s->rxt_n && seq_le(s->rxt[w->ri].end, w->cur))
		w->ri++;
	if (w->ri < s->rxt_n && seq_ge(w->cur, s->rxt[w->ri].start)) {
		*end = seq_min(s->rxt[w->ri].end, stop);
		return s->rxt[w->ri].lost ? RUN_LOST : RUN_IN_FLIGHT;
	}
	if (w->ri < s->rxt_n)
		stop = seq_min(stop, s->rxt[w->ri].start);
	if (seq_lt(w->cur, s->lost_end)) {
		*end = seq_min(stop, s->lost_end);
		return RUN_LOST;
	}
	*end = stop;
	return RUN_IN_FLIGHT;
}

/* The lowest run of that kind above snd_una. */
static bool first_run(const struct tn_sock *s, enum sb_run want, uint32_t *seq, uint32_t *len)
{
	struct sb_walk w = {.cur = s->snd_una};
	while (seq_lt(w.cur, s->snd_max)) {
		uint32_t end;
		if (walk_run(s, &w, &end) == want) {
			*seq = w.cur;
			*len = end - w.cur;
			return true;
		}
		w.cur = end;
	}
	return false;
}

/*
 * The lowest byte tcp_in_flight counts. In recovery or after a timeout it
 * is the oldest transmission whose fate is still unknown, often a
 * retransmission.
 */
bool tcp_sack_first_in_flight(const struct tn_sock *s, uint32_t *seq)
{
	uint32_t len;
	return first_run(s, RUN_IN_FLIGHT, seq, &len);
}

uint32_t tcp_sack_unsacked_run(const struct tn_sock *s, uint32_t seq, uint32_t len)
{
	uint16_t i = sb_find(s, seq);
	if (i == s->sb_n || !seq_lt(s->sb[i].start, seq + len))
		return len;
	return seq_lt(seq, s->sb[i].start) ? s->sb[i].start - seq : 0;
}

bool tcp_sack_next_lost(const struct tn_sock *s, uint32_t *seq, uint32_t *len)
{
	return s->lost_bytes && first_run(s, RUN_LOST, seq, len);
}
