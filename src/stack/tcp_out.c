/*
 * tcp_out.c - building and sending segments: the send engine that decides
 * what may go now (send window, congestion window, Nagle, sender-side
 * silly-window avoidance), the receive window we advertise (never shrunk,
 * receiver-side SWS avoidance, RFC 9293 3.8.6), ACKs, SYNs, RSTs, probes
 * and retransmissions. Payload goes straight from the send ring into the
 * IP layer (no copy, no allocation).
 */
#include "tcp.h"

/* Frames one call of tcp_output sends at most (see there) */
#define TCP_OUTPUT_ROUNDS_MAX 1024

/* One's-complement sum over pieces of any length, as if they were contiguous. */
static uint32_t csum_pieces(uint32_t sum, const struct tn_iov *iov, int n)
{
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		uint32_t part = tn_csum_add(0, iov[i].base, iov[i].len);
		if (off & 1) {
			/* A piece that starts at an odd offset has its bytes swapped. */
			while (part >> 16)
				part = (part & 0xffff) + (part >> 16);
			part = ((part & 0xff) << 8) | (part >> 8);
		}
		sum += part;
		if (sum < part)
			sum++; /* end-around carry */
		off += iov[i].len;
	}
	return sum;
}

struct tcp_hdr_args {
	tn_ip4 src, dst;
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	const uint8_t *opt;
	size_t optlen;
	uint8_t tos, ttl; /* IP_TOS, IP_TTL (0: the default) */
};

/*
 * Emits one segment: header + options + up to two payload pieces. With
 * gso_size, the payload is a run of gso_size-byte segments sent as one
 * GSO frame (cfg.offload has TSO4); with checksum offload the link
 * completes the checksum (the field holds the pseudo-header sum).
 */
static int tcp_emit(struct tn_stack *stack, const struct tcp_hdr_args *a, const struct tn_iov *data,
		    int ndata, uint32_t gso_size)
{
	uint8_t hdr[TCP_HLEN + TCP_MAX_OPTLEN];
	size_t hlen = TCP_HLEN + a->optlen;
	size_t plen = 0;
	for (int i = 0; i < ndata; i++)
		plen += data[i].len;

	tn_put16(hdr, a->sport);
	tn_put16(hdr + 2, a->dport);
	tn_put32(hdr + 4, a->seq);
	tn_put32(hdr + 8, a->ack);
	hdr[12] = (uint8_t)((hlen / 4) << 4);
	hdr[13] = a->flags;
	tn_put16(hdr + 14, a->wnd);
	tn_put16(hdr + 16, 0);
	tn_put16(hdr + 18, 0);
	if (a->optlen)
		memcpy(hdr + TCP_HLEN, a->opt, a->optlen);

	struct tn_iov iov[3] = {{hdr, hlen}};
	for (int i = 0; i < ndata; i++)
		iov[1 + i] = data[i];
	uint32_t sum = tn_csum_pseudo(a->src, a->dst, TN_IP_PROTO_TCP, (uint16_t)(hlen + plen));
	bool offload = stack->cfg.offload & TN_OFFLOAD_CSUM;
	struct tn_frame_meta meta = { .flags = TN_FRAME_CSUM_PARTIAL, .csum_offset = 16 };
	uint32_t segs = 1;
	if (offload) {
		tn_put16(hdr + 16, (uint16_t)~tn_csum_fold(sum)); /* the sum itself, not its complement */
		if (gso_size && plen > gso_size) {
			meta.gso_type = TN_GSO_TCPV4;
			meta.gso_size = (uint16_t)gso_size;
			segs = (uint32_t)((plen + gso_size - 1) / gso_size);
		}
	} else {
		tn_put16(hdr + 16, tn_csum_fold(csum_pieces(sum, iov, 1 + ndata)));
	}

	TN_COUNT_N(stack, TcpOutSegs, segs);
	if (a->flags & TCP_RST)
		TN_COUNT(stack, TcpOutRsts);
	return tn_ipv4_output_meta(stack, a->src, a->dst, TN_IP_PROTO_TCP, a->tos, iov, (size_t)(1 + ndata),
				   TN_IP_OUT_DF | TN_IP_OUT_TTL(a->ttl), offload ? &meta : NULL);
}

/* RFC 9293 3.10.7.1: the reply to a segment nobody owns. Never answers a RST. */
void tcp_reset_reply(struct tn_stack *stack, const struct tcp_seg *g)
{
	if (g->flags & TCP_RST)
		return;
	struct tcp_hdr_args a = {
		.src = g->dst, .dst = g->src, .sport = g->dport, .dport = g->sport,
	};
	if (g->flags & TCP_ACK) {
		a.seq = g->ack;
		a.flags = TCP_RST;
	} else {
		a.ack = g->seq + tcp_seg_seqlen(g);
		a.flags = TCP_RST | TCP_ACK;
	}
	tcp_emit(stack, &a, NULL, 0, 0);
}

void tcp_send_synack_stateless(const struct tn_sock *l, const struct tcp_seg *syn, uint32_t iss,
			       const struct tcp_opts *o, uint16_t wnd)
{
	uint8_t opt[TCP_MAX_OPTLEN];
	struct tcp_hdr_args a = {
		.src = syn->dst, .dst = syn->src, .sport = syn->dport, .dport = syn->sport,
		.seq = iss, .ack = syn->seq + 1, .flags = TCP_SYN | TCP_ACK, .wnd = wnd, .opt = opt,
		.tos = l->tos, .ttl = l->ttl, /* the listener's, as Linux's SYN-ACK */
	};
	a.optlen = tcp_opt_emit(opt, o, true);
	tcp_emit(l->stack, &a, NULL, 0, 0);
}

/* Payload of a full segment now: s->mss less the room SACK blocks take (RFC 6691). */
uint32_t tcp_send_mss(const struct tn_sock *s)
{
	if (!s->sack_ok || (!s->ofo_n && !s->dsack_pending))
		return s->mss;
	uint32_t blocks = min_u32(s->ofo_n + s->dsack_pending, s->ts_ok ? 3 : 4);
	return s->mss - (4 + 8 * blocks);
}

/*
 * The window to advertise. The right edge never moves left (RFC 9293
 * 3.8.6.2.2 / RFC 7323 2.4) and only moves right by at least
 * min(buffer/2, MSS), so a slow reader does not invite tiny segments.
 */
uint32_t tcp_rcv_window(struct tn_sock *s)
{
	uint32_t cur = seq_gt(s->rcv_adv, s->rcv_nxt) ? s->rcv_adv - s->rcv_nxt : 0;
	/*
	 * A scaled window is advertised in units of 1 << rcv_wscale, and a
	 * held edge is rounded up (window_field): keep that much of the ring
	 * out of the offer, so what the peer may send always fits (Linux
	 * leaves its bookkeeping share for it; tapnet's ring is all payload).
	 */
	uint32_t slack = ((uint32_t)1 << s->rcv_wscale) - 1;
	uint32_t ring_free = tn_ring_space(&s->rcvbuf);
	uint32_t free_space = s->shut_rd ? s->rcvbuf_size : ring_free > slack ? ring_free - slack : 0;
	uint32_t max = (uint32_t)65535 << s->rcv_wscale;
	if (free_space > max)
		free_space = max;
	uint32_t step = min_u32(s->rcvbuf_size / 2, s->rcv_mss);
	if (free_space <= cur || free_space - cur < step)
		return cur;
	return free_space;
}

static uint16_t window_field(struct tn_sock *s, bool syn)
{
	if (syn) {
		uint32_t w = tcp_rcv_window(s);
		w = w > 65535 ? 65535 : w;
		s->rcv_adv = s->rcv_nxt + w;
		return (uint16_t)w;
	}
	/*
	 * Rounded down to the scale: rounding up would offer up to
	 * 2^wscale - 1 bytes the buffer does not have, again at every ACK
	 * while the window stays put, and the peer's segments beyond the
	 * buffer are lost to it. The edge a rounded-down field seems to pull
	 * back (RFC 7323 2.4) stays open in rcv_adv: data sent to it is
	 * still taken.
	 */
	uint32_t field = tcp_rcv_window(s) >> s->rcv_wscale;
	if (field > 65535)
		field = 65535;
	uint32_t adv = field << s->rcv_wscale;
	if (adv == 0 && !s->zero_wnd_adv) {
		s->zero_wnd_adv = true;
		TCP_CTR(s, TcpExtTCPToZeroWindowAdv);
	} else if (adv && s->zero_wnd_adv) {
		s->zero_wnd_adv = false;
		TCP_CTR(s, TcpExtTCPFromZeroWindowAdv);
	}
	if (seq_gt(s->rcv_nxt + adv, s->rcv_adv) || adv == 0)
		s->rcv_adv = seq_max(s->rcv_adv, s->rcv_nxt + adv);
	return (uint16_t)field;
}

/* Options for a segment; SACK blocks only as many as fit next to data_len bytes. */
static size_t build_options(struct tn_sock *s, uint8_t *out, bool syn, uint32_t data_len)
{
	struct tcp_opts o = {0};
	if (syn) {
		o.mss_ok = true;
		o.mss = tcp_offered_mss(s);
		o.ws_ok = s->ws_ok;
		o.wscale = s->rcv_wscale;
		o.sack_ok = s->sack_ok;
	}
	if (s->ts_ok) {
		o.ts_ok = true;
		o.tsval = tcp_ts_now(s);
		o.tsecr = s->ts_recent;
	}
	if (!syn && s->sack_ok && (s->ofo_n || s->dsack_pending)) {
		uint32_t room = s->mss; /* min(peer MSS, MTU - 40) less the timestamps */
		room = room > data_len ? room - data_len : 0;
		uint8_t max = room >= 4 + 8 ? (uint8_t)min_u32((room - 4) / 8, TCP_SACK_BLOCKS_MAX) : 0;
		o.nsack = tcp_ofo_sack_blocks(s, o.sack, max);
	}
	return tcp_opt_emit(out, &o, syn);
}

/* Sends one segment of the connection; data_len bytes from the send ring at seq. */
static int xmit(struct tn_sock *s, uint32_t seq, uint8_t flags, uint32_t data_len)
{
	uint8_t opt[TCP_MAX_OPTLEN];
	bool syn = flags & TCP_SYN;
	struct tcp_hdr_args a = {
		.src = s->laddr, .dst = s->raddr, .sport = s->lport, .dport = s->rport,
		.seq = seq, .flags = flags, .opt = opt, .tos = s->tos, .ttl = s->ttl,
	};
	a.optlen = build_options(s, opt, syn, data_len);
	if (flags & TCP_ACK)
		a.ack = s->rcv_nxt;
	a.wnd = window_field(s, syn);

	struct tn_iov iov[2];
	int n = tn_ring_peek(&s->sndbuf, seq - s->snd_una, data_len, iov);
	uint32_t mss = tcp_send_mss(s);
	int rc = tcp_emit(s->stack, &a, iov, n, data_len > mss ? mss : 0);
	if (flags & TCP_ACK) {
		s->dsack_pending = false; /* reported once (RFC 2883 4) */
		s->rcv_acked = s->rcv_nxt;
		s->ack_now = false;
		s->ack_deferred = false; /* this one covers it */
		tn_timer_cancel(s->stack, &s->delack_timer);
	}
	return rc;
}

void tcp_send_ack(struct tn_sock *s)
{
	if (s->state == TN_TCP_CLOSED || s->state == TN_TCP_LISTEN || s->state == TN_TCP_SYN_SENT)
		return;
	/*
	 * Like Linux's tcp_acceptable_seq(): the highest sequence sent, not a
	 * rewound snd_nxt, or after a timeout the peer (which may hold that
	 * data already) would find our ACK out of window and ignore it.
	 */
	xmit(s, s->snd_max, TCP_ACK, 0);
}

void tcp_send_probe(struct tn_sock *s)
{
	/* Linux's probe: an old sequence number the peer must answer with an ACK. */
	xmit(s, s->snd_una - 1, TCP_ACK, 0);
}

void tcp_send_syn(struct tn_sock *s)
{
	if (s->state == TN_TCP_SYN_SENT)
		xmit(s, s->iss, TCP_SYN, 0);
	else
		xmit(s, s->iss, TCP_SYN | TCP_ACK, 0);
}

void tcp_send_rst(struct tn_sock *s)
{
	if (s->state == TN_TCP_SYN_SENT || s->state == TN_TCP_CLOSED || s->state == TN_TCP_LISTEN)
		return;
	xmit(s, s->snd_max, TCP_RST | TCP_ACK, 0);
}

static uint32_t data_end(const struct tn_sock *s)
{
	return s->snd_una + s->sndbuf.len;
}

static bool fin_unsent(const struct tn_sock *s)
{
	return s->fin_queued && seq_le(s->snd_nxt, s->fin_seq);
}

/* Karn: a retransmitted segment's RTT is ambiguous, stop timing it. */
static void karn(struct tn_sock *s, uint32_t seq, uint32_t len)
{
	if (s->rtt_timing && seq_le(seq, s->rtt_seq) && seq_gt(seq + len + 1, s->rtt_seq))
		s->rtt_timing = false;
}

static bool sending_state(const struct tn_sock *s)
{
	switch (s->state) {
	case TN_TCP_ESTABLISHED:
	case TN_TCP_CLOSE_WAIT:
	case TN_TCP_FIN_WAIT_1:
	case TN_TCP_CLOSING:
	case TN_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/*
 * The most one frame may carry: one segment, or with TSO a run of
 * segments (new or retransmitted) as large as the congestion window
 * allows and an IP datagram holds.
 */
static uint32_t tso_max(const struct tn_sock *s, uint32_t mss, uint32_t flight)
{
	if (!(s->stack->cfg.offload & TN_OFFLOAD_TSO4))
		return mss;
	uint32_t room = s->cwnd > flight ? s->cwnd - flight : 0;
	uint32_t segs = min_u32(room / mss, (TN_IP_MAXPACKET - TN_IP_HLEN - TCP_HLEN - TCP_MAX_OPTLEN) / mss);
	return segs > 1 ? segs * mss : mss;
}

static void count_retrans(struct tn_sock *s, uint32_t len, uint32_t mss)
{
	uint32_t segs = len > mss ? (len + mss - 1) / mss : 1;
	TN_COUNT_N(s->stack, TcpRetransSegs, segs);
	s->total_retrans += segs;
	if (s->undo_armed) {
		s->undo_retrans += (int32_t)segs;
		if (!s->undo_rxt_ts_set) { /* now, before it goes: never after the TSval it carries */
			s->undo_rxt_ts = tcp_ts_now(s);
			s->undo_rxt_ts_set = true;
		}
	}
	if (s->in_recovery)
		TN_COUNT_N(s->stack, TcpExtTCPFastRetrans, segs);
	else if (s->in_loss)
		TN_COUNT_N(s->stack, TcpExtTCPSlowStartRetrans, segs);
}

uint32_t tcp_retransmit(struct tn_sock *s, uint32_t seq, uint32_t max_len)
{
	uint32_t end = seq_min(data_end(s), s->snd_max);
	uint32_t len = seq_lt(seq, end) ? min_u32(end - seq, max_len) : 0;
	/*
	 * Never into what the peer SACKed (a FIN included): a retransmission
	 * that overlaps a SACK block counts as delivered at once (its bytes
	 * then lost again), and was sent again at once, up to tcp_output's
	 * bound per call. Seen with a short answer lost ahead of its FIN,
	 * SACKed: 1024 copies of the answer per ACK. Only a probe may ask for
	 * a SACKed byte first (the last segment, SACKed already): as asked.
	 */
	uint32_t unsacked = tcp_sack_unsacked_run(s, seq, len + 1);
	if (unsacked)
		len = min_u32(len, unsacked);
	uint8_t flags = TCP_ACK;
	if (s->fin_queued && seq + len == s->fin_seq && seq_lt(s->fin_seq, s->snd_max) &&
	    (!unsacked || unsacked > len))
		flags |= TCP_FIN;
	if (!len && !(flags & TCP_FIN))
		return 0;
	if (len && seq + len == end)
		flags |= TCP_PSH;
	uint32_t n = len + !!(flags & TCP_FIN);
	if (!tcp_sack_note_rxt(s, seq, n))
		return 0; /* no room to remember it: wait for ACKs to free some */
	karn(s, seq, len);
	count_retrans(s, len, tcp_send_mss(s));
	if (s->in_recovery)
		s->prr_out += n;
	xmit(s, seq, flags, len);
	return n;
}

/*
 * RFC 6675 5 (C) with RACK's idea of lost: retransmit the lowest lost
 * range the window allows, a run of segments in one frame with TSO.
 */
static bool retransmit_lost(struct tn_sock *s)
{
	uint32_t seq, len;
	uint32_t mss = tcp_send_mss(s);
	uint32_t flight = tcp_in_flight(s);
	if (flight + mss > s->cwnd && flight > 0)
		return false;
	if (!tcp_sack_next_lost(s, &seq, &len))
		return false;
	len = min_u32(len, tso_max(s, mss, flight));
	if (len > mss)
		len -= len % mss;
	uint32_t n = tcp_retransmit(s, seq, len);
	if (n)
		tcp_arm_rtx_if_idle(s);
	return n != 0;
}

/*
 * RFC 8985 7.3 prefers new data for the probe; tapnet sends the last
 * segment again instead. A receiver answers a duplicate at once (RFC 5681
 * 4.2; Linux also enters quick ACK mode), while new data in order may wait
 * for its delayed-ACK timer: Linux holds the ACK up to 40 ms when its
 * reader lags, and that wait, not the loss, was what a probe of new data
 * cost on tap0. The ACK of the duplicate carries the SACK (or D-SACK) that
 * shows what, if anything, was lost.
 *
 * In recovery, or slow-starting after a timeout, the last segment is
 * usually SACKed already and the silence means a retransmission went
 * missing with nothing sent after it for RACK to time it by: the probe is
 * the oldest segment still in flight, and its ACK moves snd_una or shows
 * (by RACK) what was lost with it.
 */
void tcp_send_loss_probe(struct tn_sock *s)
{
	uint32_t mss = tcp_send_mss(s);
	uint32_t seq = s->snd_max - min_u32(s->snd_max - s->snd_una, mss);
	bool repairing = (s->in_recovery || s->in_loss) && tcp_sack_first_in_flight(s, &seq);
	bool held = tn_clock_hold(s->stack); /* the time tcp_sack_note_rxt gives it is tlp_xmit_us */
	uint32_t n = tcp_retransmit(s, seq, mss);
	if (n) {
		s->tlp_out = true;
		s->tlp_rxt = true;
		s->tlp_high_seq = repairing ? seq + n : s->snd_max;
		s->tlp_xmit_us = tcp_clock_us(s);
	}
	if (held)
		tn_clock_release(s->stack);
}

/*
 * The persist timer found a window too small for sender SWS avoidance to
 * use: fill it (Linux's tcp_write_wakeup), so that it closes and is then
 * probed, rather than staying a few bytes open for ever. Returns bytes sent.
 */
uint32_t tcp_fill_window(struct tn_sock *s)
{
	uint32_t end = data_end(s);
	uint32_t wnd_end = s->snd_una + s->snd_wnd;
	if (!sending_state(s) || !seq_lt(s->snd_nxt, end) || !seq_lt(s->snd_nxt, wnd_end))
		return 0;
	uint32_t seq = s->snd_nxt;
	uint32_t len = min_u32(min_u32(end - seq, wnd_end - seq), tcp_send_mss(s));
	uint8_t flags = TCP_ACK | TCP_PSH;
	if (s->fin_queued && seq + len == s->fin_seq)
		flags |= TCP_FIN;
	TCP_CTR(s, TcpExtTCPOrigDataSent);
	tcp_sack_note_tx(s, seq);
	xmit(s, seq, flags, len);
	s->snd_nxt = seq + len + !!(flags & TCP_FIN);
	s->snd_max = seq_max(s->snd_max, s->snd_nxt);
	tcp_arm_loss_timer(s, 0);
	return len;
}

/*
 * TCP_CORK holds the last partial segment: until uncork, the FIN (close
 * pushes it, as Linux) or the cork timer. It wins over TCP_NODELAY, as on
 * Linux since 2.5.71.
 */
static bool corked(const struct tn_sock *s)
{
	return s->cork && !s->cork_push && !s->fin_queued;
}

/* May a segment of len bytes (len < mss) go now? Nagle (RFC 896) and sender SWS. */
static bool small_segment_ok(const struct tn_sock *s, uint32_t len, uint32_t unsent)
{
	if (len < unsent) /* window-limited: worth it only if it is a good part of the window */
		return !s->orphan && len >= s->max_snd_wnd / 2 && s->max_snd_wnd / 2 > 0; /* orphan: tcp.h */
	if (corked(s))
		return false;
	if (s->fin_queued)
		return true; /* the last data before FIN: push it */
	return s->nodelay || s->cork_push || s->snd_nxt == s->snd_una;
}

static void output_now(struct tn_sock *s);

void tcp_output(struct tn_sock *s)
{
	bool held = tn_clock_hold(s->stack);
	output_now(s);
	if (held)
		tn_clock_release(s->stack);
}

static void output_now(struct tn_sock *s)
{
	if (!sending_state(s)) {
		if (s->ack_now)
			tcp_send_ack(s);
		return;
	}
	/*
	 * Every round sends a frame or stops; the bound only keeps one call
	 * from holding the loop for too long (the next ACK or timer goes on):
	 * TCP_OUTPUT_ROUNDS_MAX frames are 64 MiB with TSO and 1.4 MiB
	 * without, so reaching it means a window that large opened at once
	 * or, the case it is there for, a round that sends without changing
	 * what the next finds (a retransmission that overlapped a SACK block
	 * did: see tcp_retransmit). Counted: TcpOutputBoundHits.
	 */
	bool sent_new = false;
	/* F-RTO step 2b (tcp_in.c): new data this once, no retransmission before it */
	bool frto_new_data = s->frto_new_data;
	s->frto_new_data = false;
	bool resent = false;
	int round;
	for (round = 0; round < TCP_OUTPUT_ROUNDS_MAX; round++) {
		if (!frto_new_data && retransmit_lost(s)) {
			resent = true;
			continue;
		}
		uint32_t end = data_end(s);
		uint32_t unsent = seq_lt(s->snd_nxt, end) ? end - s->snd_nxt : 0;
		if (!unsent) {
			if (fin_unsent(s) && s->snd_nxt == s->fin_seq) {
				tcp_sack_note_tx(s, s->snd_nxt);
				xmit(s, s->snd_nxt, TCP_FIN | TCP_ACK, 0);
				s->snd_nxt++;
				s->snd_max = seq_max(s->snd_max, s->snd_nxt);
				tcp_arm_rtx_if_idle(s);
			}
			break;
		}
		uint32_t flight = tcp_in_flight(s);
		uint32_t wnd_end = s->snd_una + s->snd_wnd;
		uint32_t wnd_room = seq_lt(s->snd_nxt, wnd_end) ? wnd_end - s->snd_nxt : 0;
		uint32_t mss = tcp_send_mss(s);
		uint32_t len = min_u32(min_u32(unsent, tso_max(s, mss, flight)), wnd_room);
		if (len > mss) {
			/* a GSO run: its last segment may be short only where a lone one could go */
			uint32_t tail = len % mss;
			if (tail && !(len == unsent && !corked(s) &&
				      (s->nodelay || s->cork_push || s->fin_queued)))
				len -= tail;
		}
		if (len == 0) {
			if (flight == 0 && !tn_timer_armed(&s->rtx_timer))
				tcp_arm_persist(s);
			break;
		}
		if (flight + len > s->cwnd && flight > 0)
			break;
		if (len < mss && !small_segment_ok(s, len, unsent)) {
			if (len == unsent && corked(s))
				tcp_arm_cork(s);
			else if (flight == 0 && !tn_timer_armed(&s->rtx_timer))
				tcp_arm_persist(s); /* window too small to be worth it: probe it */
			break;
		}
		uint8_t flags = TCP_ACK;
		uint32_t seq = s->snd_nxt;
		if (seq + len == end)
			flags |= TCP_PSH;
		if (s->fin_queued && seq + len == s->fin_seq)
			flags |= TCP_FIN;
		TCP_CTR(s, TcpExtTCPOrigDataSent);
		if (!s->ts_ok && !s->rtt_timing) {
			s->rtt_timing = true;
			s->rtt_seq = seq;
			s->rtt_start_ns = tn_now(s->stack);
		}
		tcp_sack_note_tx(s, seq);
		if (s->in_recovery)
			s->prr_out += len;
		sent_new = true;
		xmit(s, seq, flags, len);
		s->snd_nxt = seq + len + !!(flags & TCP_FIN);
		s->snd_max = seq_max(s->snd_max, s->snd_nxt);
		tcp_arm_rtx_if_idle(s);
	}
	if (round == TCP_OUTPUT_ROUNDS_MAX)
		TCP_CTR(s, TcpOutputBoundHits);
	if (frto_new_data && !sent_new) {
		/*
		 * No new data to send, or no window for it: the presumed-lost
		 * segments go again now. RFC 5682 would end F-RTO here; an ACK
		 * of original data not sent again still shows that not all was
		 * lost, so tcp_in.c keeps watching for one.
		 */
		output_now(s);
		return;
	}
	/* a retransmission in recovery may be lost too: a probe, not the RTO, finds out (tcp_timer.c) */
	if (sent_new || (resent && (s->in_recovery || s->in_loss)))
		tcp_schedule_loss_probe(s);
	if (s->ack_now)
		tcp_ack_on_leave(s);
}

/* In an input batch, at most this much in-order data waits for one ACK (see tcp_ack_later). */
#define TCP_BATCH_ACK_SEGS 16
#define TCP_BATCH_ACK_BYTES (256 * 1024)

/*
 * Called after data arrived: ACK at once when asked to (out of order, FIN,
 * window news), or when two full segments are unacknowledged (RFC 5681 4.2),
 * else within the delayed-ACK timeout.
 */
void tcp_ack_later(struct tn_sock *s)
{
	if (s->ack_now)
		return;
	bool two = s->rcv_nxt - s->rcv_acked >= 2 * s->rcv_mss;
	if (!two && !(s->quickack && s->rcv_nxt != s->rcv_acked)) {
		if (s->rcv_nxt != s->rcv_acked)
			tcp_arm_delack(s);
		return;
	}
	/*
	 * Due now. In an input batch, the ACK of a run of segments the link
	 * merged (a TSO/GRO frame) may wait for the batch's end and cover all
	 * of it, as Linux ACKs a GRO packet: the frames of a batch arrived
	 * together, and ACKing them one by one only makes the sender wake more
	 * often. Not beyond TCP_BATCH_ACK_BYTES, though: a batch of 64 KB
	 * frames could otherwise be answered by one ACK per half megabyte and
	 * more, and where ACKs are lost (5 %) the sender then waits for its
	 * probe timeout; the cap took iperf3 into tapnet there from 7 to 11-13
	 * Gbit/s, and costs nothing without loss. Segments that came one by
	 * one (no offloads) are merged the same way up to TCP_BATCH_ACK_SEGS
	 * of them, as GRO would have: an ACK for every sixteenth, not every
	 * second, which took tapnetd from 3.4 to 6.2 Gbit/s receiving iperf3
	 * without offloads (each ACK written to the tap also runs the kernel
	 * sender's ACK processing in tapnetd's write). Quick ACK mode (after a
	 * hole) ACKs at once.
	 */
	const struct tn_frame_meta *m = s->stack->rx_meta;
	uint32_t merge_max = (m && m->gso_type != TN_GSO_NONE) ? TCP_BATCH_ACK_BYTES
							       : TCP_BATCH_ACK_SEGS * s->rcv_mss;
	/*
	 * And at least four ACKs per flight of the sender's, estimated as what
	 * this batch or the previous one brought. With one ACK per batch, a
	 * sender whose window had shrunk (after a loss) got one ACK per
	 * flight: when that ACK was lost it waited for its probe or
	 * retransmission timer (200 ms), and as it covered everything in
	 * flight, nothing was left in flight to clock the sender on. (Linux's
	 * receiver ACKs every GRO packet.)
	 */
	merge_max = min_u32(merge_max, max_u32(s->batch_rx_prev, s->batch_rx_bytes) / 4);
	if (two && !s->quickack && s->rcv_nxt - s->rcv_acked < merge_max && tcp_defer_ack(s))
		return;
	if (!two)
		s->quickack--;
	s->ack_now = true;
}

/*
 * Out-of-order data and holes never wait (RFC 5681 4.2: a duplicate ACK
 * at once, with SACK blocks as current as the data; Linux's GRO does not
 * merge such segments either): only in-order data and window updates.
 */
bool tcp_defer_ack(struct tn_sock *s)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (!tcp->batch || s->ofo_n || s->ofo_fin || s->dsack_pending)
		return false;
	s->ack_deferred = true;
	tcp_ack_list(tcp, s);
	return true;
}
