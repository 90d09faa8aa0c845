/*
 * tcp_opt.c - TCP options: parse and emit, the only code that touches them.
 *
 * MSS (RFC 9293 3.7.1), window scale and timestamps (RFC 7323), SACK-permitted
 * and SACK blocks (RFC 2018). Parsing follows Linux's tcp_parse_options(): an
 * option whose length is below 2 or runs past the header ends parsing; a known
 * option with the wrong length is skipped; options meant for SYNs are ignored
 * on other segments.
 */
#include "tcp.h"

#define OPT_EOL 0
#define OPT_NOP 1
#define OPT_MSS 2
#define OPT_WSCALE 3
#define OPT_SACK_PERM 4
#define OPT_SACK 5
#define OPT_TS 8

#define OPTLEN_MSS 4
#define OPTLEN_WSCALE 3
#define OPTLEN_SACK_PERM 2
#define OPTLEN_TS 10

static void parse_sack(const uint8_t *p, size_t olen, struct tcp_opts *o)
{
	size_t n = (olen - 2) / 8;
	if (olen < 10 || (olen - 2) % 8 || n > TCP_SACK_BLOCKS_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		o->sack[i].start = tn_get32(p + 2 + 8 * i);
		o->sack[i].end = tn_get32(p + 6 + 8 * i);
	}
	o->nsack = (uint8_t)n;
}

void tcp_opt_parse(const uint8_t *opt, size_t len, bool syn, struct tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	size_t i = 0;
	while (i < len) {
		uint8_t kind = opt[i];
		if (kind == OPT_EOL)
			return;
		if (kind == OPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len)
			return;
		size_t olen = opt[i + 1];
		if (olen < 2 || olen > len - i)
			return; /* malformed: stop, like Linux, never read past the header */
		const uint8_t *p = opt + i;
		switch (kind) {
		case OPT_MSS:
			if (olen == OPTLEN_MSS && syn) {
				o->mss = tn_get16(p + 2);
				o->mss_ok = o->mss != 0;
			}
			break;
		case OPT_WSCALE:
			if (olen == OPTLEN_WSCALE && syn) {
				/* RFC 7323 2.3: values above 14 are used as 14 */
				o->wscale = p[2] > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : p[2];
				o->ws_ok = true;
			}
			break;
		case OPT_SACK_PERM:
			if (olen == OPTLEN_SACK_PERM && syn)
				o->sack_ok = true;
			break;
		case OPT_SACK:
			if (!syn)
				parse_sack(p, olen, o);
			break;
		case OPT_TS:
			if (olen == OPTLEN_TS) {
				o->tsval = tn_get32(p + 2);
				o->tsecr = tn_get32(p + 6);
				o->ts_ok = true;
			}
			break;
		default:
			break;
		}
		i += olen;
	}
}

/*
 * Layout like Linux so middleboxes and captures look familiar:
 * SYN: MSS, SACK_PERM+TS (or NOP NOP TS / NOP NOP SACK_PERM), NOP WSCALE.
 * Other segments: NOP NOP TS, NOP NOP SACK blocks.
 */
size_t tcp_opt_emit(uint8_t *out, const struct tcp_opts *o, bool syn)
{
	size_t n = 0;
	if (syn && o->mss_ok) {
		out[n++] = OPT_MSS;
		out[n++] = OPTLEN_MSS;
		tn_put16(out + n, o->mss);
		n += 2;
	}
	if (syn && o->sack_ok) {
		if (o->ts_ok) {
			out[n++] = OPT_SACK_PERM;
			out[n++] = OPTLEN_SACK_PERM;
		} else {
			out[n++] = OPT_NOP;
			out[n++] = OPT_NOP;
			out[n++] = OPT_SACK_PERM;
			out[n++] = OPTLEN_SACK_PERM;
		}
	} else if (o->ts_ok) {
		out[n++] = OPT_NOP;
		out[n++] = OPT_NOP;
	}
	if (o->ts_ok) {
		out[n++] = OPT_TS;
		out[n++] = OPTLEN_TS;
		tn_put32(out + n, o->tsval);
		tn_put32(out + n + 4, o->tsecr);
		n += 8;
	}
	if (syn && o->ws_ok) {
		out[n++] = OPT_NOP;
		out[n++] = OPT_WSCALE;
		out[n++] = OPTLEN_WSCALE;
		out[n++] = o->wscale;
	}
	if (!syn && o->nsack) {
		size_t room = (TCP_MAX_OPTLEN - n - 4) / 8;
		size_t nb = o->nsack < room ? o->nsack : room;
		if (nb) {
			out[n++] = OPT_NOP;
			out[n++] = OPT_NOP;
			out[n++] = OPT_SACK;
			out[n++] = (uint8_t)(2 + 8 * nb);
			for (size_t i = 0; i < nb; i++) {
				tn_put32(out + n, o->sack[i].start);
				tn_put32(out + n + 4, o->sack[i].end);
				n += 8;
			}
		}
	}
	while (n % 4)
		out[n++] = OPT_EOL;
	return n;
}
