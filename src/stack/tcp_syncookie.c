/*
 * tcp_syncookie.c - SYN cookies (RFC 4987 3.6), as Linux's
 * net/ipv4/syncookies.c makes them.
 *
 * When a listener's SYN queue is full, the SYN-ACK's sequence number carries
 * what the handshake must remember, and nothing is kept:
 *
 *   cookie = H0(4-tuple) + peer ISN + (minute << 24)
 *            + ((H1(4-tuple, minute) + mss index) mod 2^24)
 *
 * H0 and H1 are SipHash under two keys from the injected RNG. The minute
 * counter in the top 8 bits lets the check recompute H1 for the minute the
 * cookie was made and refuse cookies older than COOKIE_MAX_AGE minutes:
 * the hash input changes every minute, so an observed cookie is worthless
 * two minutes later (the rotation). The MSS goes as an index into a table
 * of common values; window scale and SACK-permitted ride in the low 6 bits
 * of our TSval, which the peer echoes in every ACK (so they survive only
 * when the peer uses timestamps, as on Linux).
 */
#include "tcp.h"

#define COOKIE_BITS 24
#define COOKIE_MASK ((1u << COOKIE_BITS) - 1)
#define COOKIE_MAX_AGE 2 /* minutes, Linux's MAX_SYNCOOKIE_AGE */

#define COOKIE_TS_BITS 6
#define COOKIE_TS_MASK ((1u << COOKIE_TS_BITS) - 1)
#define COOKIE_TS_WSCALE_NONE 0x0f /* 4 bits of window scale; 15: not offered */
#define COOKIE_TS_SACK 0x10

/* Linux's msstab: the sizes most peers send; a cookie keeps the largest one not above theirs. */
static const uint16_t cookie_mss_table[] = {536, 1300, 1440, 1460};

uint32_t tcp_cookie_minute(const struct tn_stack *stack)
{
	return (uint32_t)(tn_now(stack) / (60 * TN_NSEC_PER_SEC));
}

static uint32_t cookie_hash(const struct tn_stack *stack, const struct tcp_seg *g, uint32_t minute,
			    int which)
{
	uint8_t t[16];
	/* the peer's view: its address and port first, as the segment carries them */
	tn_put32(t, g->src);
	tn_put32(t + 4, g->dst);
	tn_put16(t + 8, g->sport);
	tn_put16(t + 10, g->dport);
	tn_put32(t + 12, minute);
	return (uint32_t)tn_siphash(tcp_of(stack)->cookie_key[which], t, sizeof(t));
}

uint8_t tcp_cookie_mss_index(uint32_t mss)
{
	uint8_t i = TN_ARRAY_SIZE(cookie_mss_table) - 1;
	while (i && mss < cookie_mss_table[i])
		i--;
	return i;
}

uint16_t tcp_cookie_mss(uint8_t index)
{
	return cookie_mss_table[index < TN_ARRAY_SIZE(cookie_mss_table) ? index : 0];
}

uint32_t tcp_cookie_make(const struct tn_stack *stack, const struct tcp_seg *syn, uint8_t mss_index)
{
	uint32_t minute = tcp_cookie_minute(stack);
	return cookie_hash(stack, syn, 0, 0) + syn->seq + (minute << COOKIE_BITS) +
	       ((cookie_hash(stack, syn, minute, 1) + mss_index) & COOKIE_MASK);
}

int tcp_cookie_check(const struct tn_stack *stack, const struct tcp_seg *ack)
{
	uint32_t cookie = ack->ack - 1, peer_isn = ack->seq - 1;
	uint32_t minute = tcp_cookie_minute(stack);
	/* The seq and ack of the returning ACK are the SYN's ISN + 1 and the cookie + 1. */
	cookie -= cookie_hash(stack, ack, 0, 0) + peer_isn;
	uint32_t age = (minute - (cookie >> COOKIE_BITS)) & (UINT32_MAX >> COOKIE_BITS);
	if (age >= COOKIE_MAX_AGE)
		return -1;
	uint32_t index = (cookie - cookie_hash(stack, ack, minute - age, 1)) & COOKIE_MASK;
	return index < TN_ARRAY_SIZE(cookie_mss_table) ? (int)index : -1;
}

/*
 * Linux's cookie_init_timestamp(): our clock with its low bits replaced by
 * the options, moved back one step if that put it in the future, so TSvals
 * never run backwards once the connection exists.
 */
uint32_t tcp_cookie_tsval(uint32_t ts_now, bool ws_ok, uint8_t wscale, bool sack_ok)
{
	uint32_t opts = ws_ok ? wscale & COOKIE_TS_WSCALE_NONE : COOKIE_TS_WSCALE_NONE;
	if (sack_ok)
		opts |= COOKIE_TS_SACK;
	uint32_t ts = (ts_now & ~COOKIE_TS_MASK) | opts;
	if (seq_gt(ts, ts_now))
		ts -= COOKIE_TS_MASK + 1;
	return ts;
}

/*
 * Linux's cookie_timestamp_decode(): what the echoed TSval says was
 * agreed. Without timestamps nothing beyond the MSS was (our SYN-ACK
 * offered nothing else). A cookie that claims an option this stack does
 * not offer was not made here.
 */
bool tcp_cookie_ts_decode(const struct tn_config *cfg, const struct tcp_opts *o,
			  struct tcp_cookie_opts *out)
{
	*out = (struct tcp_cookie_opts){0};
	if (!o->ts_ok)
		return true;
	if (!cfg->tcp_timestamps)
		return false;
	out->ts_ok = true;
	out->sack_ok = o->tsecr & COOKIE_TS_SACK;
	if (out->sack_ok && !cfg->tcp_sack)
		return false;
	uint8_t ws = o->tsecr & COOKIE_TS_WSCALE_NONE;
	if (ws == COOKIE_TS_WSCALE_NONE)
		return true;
	if (ws > TCP_MAX_WSCALE || !cfg->tcp_window_scaling)
		return false;
	out->ws_ok = true;
	out->snd_wscale = ws;
	return true;
}
