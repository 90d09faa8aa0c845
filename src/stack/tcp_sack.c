/*
 * tcp_sack.c - the send side's SACK scoreboard (RFC 2018, RFC 6675).
 *
 * A sorted array of the ranges above snd_una the peer reported as
 * received. Loss recovery asks it for the next hole to retransmit and for
 * the pipe (bytes still in the network). Bounded: TCP_SACK_SB_MAX ranges;
 * when full the highest range is dropped (recovery works bottom up).
 */
#include "tcp.h"

static void sb_recount(struct tn_sock *s)
{
	uint32_t n = 0;
	for (uint8_t i = 0; i < s->sb_n; i++)
		n += s->sb[i].end - s->sb[i].start;
	s->sacked_bytes = n;
}

static void sb_remove(struct tn_sock *s, uint8_t i)
{
	memmove(&s->sb[i], &s->sb[i + 1], (size_t)(s->sb_n - i - 1) * sizeof(s->sb[0]));
	s->sb_n--;
}

static void sb_insert(struct tn_sock *s, uint32_t start, uint32_t end)
{
	uint8_t i = 0;
	while (i < s->sb_n && seq_lt(s->sb[i].end, start))
		i++;
	if (i < s->sb_n && seq_le(s->sb[i].start, end)) {
		s->sb[i].start = seq_min(s->sb[i].start, start);
		s->sb[i].end = seq_max(s->sb[i].end, end);
		while (i + 1 < s->sb_n && seq_le(s->sb[i + 1].start, s->sb[i].end)) {
			s->sb[i].end = seq_max(s->sb[i].end, s->sb[i + 1].end);
			sb_remove(s, (uint8_t)(i + 1));
		}
		return;
	}
	if (s->sb_n == TCP_SACK_SB_MAX) {
		if (i == s->sb_n)
			return;
		s->sb_n--; /* forget the highest range */
	}
	memmove(&s->sb[i + 1], &s->sb[i], (size_t)(s->sb_n - i) * sizeof(s->sb[0]));
	s->sb[i].start = start;
	s->sb[i].end = end;
	s->sb_n++;
}

void tcp_sack_update(struct tn_sock *s, const struct tcp_opts *o)
{
	for (uint8_t k = 0; k < o->nsack; k++) {
		uint32_t start = o->sack[k].start, end = o->sack[k].end;
		/* Invalid or for data never sent: ignore (RFC 2883 D-SACKs fall here too). */
		if (!seq_lt(start, end) || seq_gt(end, s->snd_max)) {
			TCP_CTR(s, TcpExtTCPSACKDiscard);
			continue;
		}
		if (seq_le(end, s->snd_una))
			continue;
		sb_insert(s, seq_max(start, s->snd_una), end);
	}
	sb_recount(s);
}

void tcp_sack_trim(struct tn_sock *s)
{
	while (s->sb_n && seq_le(s->sb[0].end, s->snd_una))
		sb_remove(s, 0);
	if (s->sb_n && seq_lt(s->sb[0].start, s->snd_una))
		s->sb[0].start = s->snd_una;
	sb_recount(s);
}

void tcp_sack_clear(struct tn_sock *s)
{
	s->sb_n = 0;
	s->sacked_bytes = 0;
}

bool tcp_sack_is_sacked(const struct tn_sock *s, uint32_t seq, uint32_t *end)
{
	for (uint8_t i = 0; i < s->sb_n; i++) {
		if (seq_lt(seq, s->sb[i].start))
			return false;
		if (seq_lt(seq, s->sb[i].end)) {
			*end = s->sb[i].end;
			return true;
		}
	}
	return false;
}

uint32_t tcp_sack_highest(const struct tn_sock *s)
{
	return s->sb_n ? s->sb[s->sb_n - 1].end : s->snd_una;
}

bool tcp_sack_next_hole(const struct tn_sock *s, uint32_t from, uint32_t *seq, uint32_t *len)
{
	uint32_t cur = seq_max(from, s->snd_una);
	for (uint8_t i = 0; i < s->sb_n; i++) {
		if (seq_lt(cur, s->sb[i].start)) {
			*seq = cur;
			*len = s->sb[i].start - cur;
			return true;
		}
		cur = seq_max(cur, s->sb[i].end);
	}
	return false;
}

/*
 * RFC 6675 SetPipe(), with every hole below the highest SACKed byte taken
 * as lost: what was sent above the highest SACK, plus the holes already
 * retransmitted (below HighRxt).
 */
uint32_t tcp_sack_pipe(const struct tn_sock *s)
{
	uint32_t high = tcp_sack_highest(s);
	uint32_t pipe = seq_gt(s->snd_nxt, high) ? s->snd_nxt - high : 0;
	uint32_t rxt_end = seq_min(s->high_rxt, high);
	uint32_t cur = s->snd_una;
	for (uint8_t i = 0; i < s->sb_n && seq_lt(cur, rxt_end); i++) {
		uint32_t hole_end = seq_min(s->sb[i].start, rxt_end);
		if (seq_lt(cur, hole_end))
			pipe += hole_end - cur;
		cur = seq_max(cur, s->sb[i].end);
	}
	return pipe;
}
