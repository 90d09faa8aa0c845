/*
 * tcp_in.c - segment arrival, RFC 9293 3.10.7, in the order the RFC gives:
 * LISTEN, SYN-SENT, then the synchronized states (sequence check, RST,
 * SYN, ACK, text, FIN), with RFC 5961 (challenge ACKs), RFC 7323 (PAWS,
 * RTT from timestamps), RFC 5681/6582/6675 (dup ACKs, fast retransmit,
 * recovery) folded in where they belong. Where the RFCs leave a choice,
 * Linux's tcp_input.c is the model.
 */
#include "tcp.h"

#include <errno.h>

/* ---- parsing */
static bool parse_segment(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *seg,
			  size_t len, struct tcp_seg *g)
{
	if (len < TCP_HLEN) {
		TN_COUNT(stack, TcpInErrs);
		return false;
	}
	size_t hlen = (size_t)(seg[12] >> 4) * 4;
	if (hlen < TCP_HLEN || hlen > len) {
		TN_COUNT(stack, TcpInErrs);
		return false;
	}
	/* a local sender's (PARTIAL) or one the link checked (VALID): nothing to verify */
	const struct tn_frame_meta *m = stack->rx_meta;
	bool csum_known = m && (m->flags & (TN_FRAME_CSUM_PARTIAL | TN_FRAME_CSUM_VALID));
	if (!csum_known &&
	    tn_csum_fold(tn_csum_add(tn_csum_pseudo(ip->src, ip->dst, TN_IP_PROTO_TCP, (uint16_t)len),
				     seg, len)) != 0) {
		TN_COUNT(stack, TcpInCsumErrors);
		TN_COUNT(stack, TcpInErrs);
		return false;
	}
	g->src = ip->src;
	g->dst = ip->dst;
	g->sport = tn_get16(seg);
	g->dport = tn_get16(seg + 2);
	g->seq = tn_get32(seg + 4);
	g->ack = tn_get32(seg + 8);
	g->flags = seg[13] & 0x3f;
	g->wnd = tn_get16(seg + 14);
	g->data = seg + hlen;
	g->len = (uint32_t)(len - hlen);
	tcp_opt_parse(seg + TCP_HLEN, hlen - TCP_HLEN, g->flags & TCP_SYN, &g->opt);
	if (g->sport == 0 || g->dport == 0) {
		TN_COUNT(stack, TcpInErrs);
		return false;
	}
	return true;
}

/*
 * Payload per full segment on a path of this IP MTU: the peer's MSS or
 * what the path holds, never below TCP_MIN_MSS, less the timestamps every
 * segment carries when they are on (RFC 6691).
 */
static uint32_t mss_for_mtu(const struct tn_sock *s, uint32_t mtu)
{
	uint32_t mss = min_u32(s->peer_mss, mtu - TN_IP_HLEN - TCP_HLEN);
	if (mss < TCP_MIN_MSS)
		mss = TCP_MIN_MSS;
	return s->ts_ok ? mss - TCP_TS_OPTLEN : mss;
}

/* ---- options negotiated by the SYN exchange */
void tcp_apply_syn_options(struct tn_sock *s, const struct tcp_seg *g)
{
	const struct tcp_opts *o = &g->opt;

	s->peer_mss = tcp_mss_clamp(s, o->mss_ok ? o->mss : TCP_DEFAULT_MSS);
	s->ws_ok = s->ws_ok && o->ws_ok;
	s->snd_wscale = s->ws_ok ? o->wscale : 0;
	if (!s->ws_ok)
		s->rcv_wscale = 0;
	s->sack_ok = s->sack_ok && o->sack_ok;
	s->ts_ok = s->ts_ok && o->ts_ok;
	if (s->ts_ok)
		s->ts_recent = o->tsval;
	s->mss = mss_for_mtu(s, s->stack->cfg.mtu);
	s->rcv_mss = s->mss;
}

static void init_congestion(struct tn_sock *s)
{
	/* RFC 6928 / RFC 5681 3.1: 10 segments, 1 if the SYN had to be repeated. */
	s->cwnd = (s->retries ? 1 : TCP_INIT_CWND) * s->mss;
	s->ssthresh = UINT32_MAX;
	s->lost_end = s->snd_una; /* nothing lost yet: the scoreboard starts at the ISN */
	s->recover = s->snd_una;
	s->cc->init(s);
}

static void rtt_from_ack(struct tn_sock *s, const struct tcp_seg *g, uint32_t ack)
{
	uint32_t timed_us = 0; /* the timed segment's RTT, to the microsecond */
	if (s->rtt_timing && seq_gt(ack, s->rtt_seq)) {
		s->rtt_timing = false;
		timed_us = (uint32_t)((tn_now(s->stack) - s->rtt_start_ns) / 1000);
		timed_us = timed_us ? timed_us : 1;
		/*
		 * RACK's minimum RTT takes this sample too, the handshake's
		 * included: without it, it had none before the first data was
		 * ACKed, so the first flight had no reordering window and no
		 * way to tell a retransmission's ACK from the original's (RFC
		 * 8985 6.2).
		 */
		tcp_min_rtt_sample(s, timed_us);
	}
	if (s->ack_rtt_us) {
		tcp_rtt_sample(s, s->ack_rtt_us);
		s->ack_rtt_us = 0;
		return;
	}
	if (s->ts_ok && g->opt.ts_ok && g->opt.tsecr) {
		uint32_t ms = tcp_ts_now(s) - g->opt.tsecr;
		if (ms < 3600u * 1000)
			tcp_rtt_sample(s, ms ? ms * 1000 : 500);
		return;
	}
	if (timed_us)
		tcp_rtt_sample(s, timed_us);
}

static void send_challenge_ack(struct tn_sock *s)
{
	if (!tcp_challenge_allowed(s))
		return;
	TCP_CTR(s, TcpExtTCPChallengeACK);
	tcp_send_ack(s);
}

/* Answer to an unacceptable segment: an ACK, rate-limited when it is a pure ACK (loop risk). */
static void send_dupack(struct tn_sock *s, const struct tcp_seg *g)
{
	/* Data we hold already: its ACK reports it as a duplicate (RFC 2883, Linux's tcp_send_dupack). */
	if (g->len && seq_lt(g->seq, s->rcv_nxt))
		tcp_ofo_dsack(s, g->seq, seq_min(g->seq + g->len, s->rcv_nxt), false);
	if (g->len == 0 && tcp_oow_rate_limited(s)) {
		TCP_CTR(s, TcpExtTCPACKSkippedSeq);
		return;
	}
	tcp_send_ack(s);
}

/* ---- LISTEN */
static void synchronized_input(struct tn_sock *s, const struct tcp_seg *g);
static void established(struct tn_sock *s);

static uint32_t syn_queue_limit(const struct tn_sock *l)
{
	return min_u32(l->stack->cfg.tcp_max_syn_backlog, max_u32(l->listen->backlog, 8));
}

/* Linux's TCP_SYNCOOKIE_VALID: a cookie ACK counts only this long after the last overflow. */
#define COOKIE_LISTEN_VALID_NS (120 * TN_NSEC_PER_SEC)

/*
 * A child of listener l for the 4-tuple of g, with the listener's settings
 * (as Linux's sk_clone), made when the handshake is complete: a SYN alone
 * gets a half-open entry (struct tcp_req) or a cookie, never a socket.
 */
static struct tn_sock *child_new(struct tn_stack *stack, struct tn_sock *l, const struct tcp_seg *g)
{
	struct tn_sock *c = tcp_sock_new(stack);
	if (!c)
		return NULL;
	tcp_copy_settings(c, l);
	c->laddr = g->dst;
	c->lport = g->dport;
	c->raddr = g->src;
	c->rport = g->sport;
	c->orphan = true; /* nobody holds it until accept() */
	if (tcp_hash(c) < 0) {
		tcp_release(c);
		return NULL;
	}
	c->ts_offset = tcp_ts_offset(stack, c->laddr, c->raddr);
	return c;
}

/*
 * What a socket's user set, from l to the new c: a listener's to its
 * child, or a failed connect's to the socket that tries again.
 */
void tcp_copy_settings(struct tn_sock *c, const struct tn_sock *l)
{
	c->rcvbuf_size = l->rcvbuf_size;
	c->sndbuf_size = l->sndbuf_size;
	c->rcvbuf_max = l->rcvbuf_max; /* a listener's SO_RCVBUF pins its children too */
	c->sndbuf_max = l->sndbuf_max;
	c->nodelay = l->nodelay;
	c->cork = l->cork;
	c->keepalive = l->keepalive;
	c->ka_idle_s = l->ka_idle_s;
	c->ka_intvl_s = l->ka_intvl_s;
	c->ka_probes = l->ka_probes;
	c->user_timeout_ms = l->user_timeout_ms;
	c->cc = l->cc; /* as Linux: the listener's TCP_CONGESTION */
	c->tos = l->tos;
	c->ttl = l->ttl;
	c->user_mss = l->user_mss;
	c->syn_retries = l->syn_retries;
	c->linger2_s = l->linger2_s;
	/* without room for them the connection has the defaults */
	if (l->kept && tcp_kept_alloc(c) == 0)
		memcpy(c->kept, l->kept, TN_KEPT_INHERITED * sizeof(c->kept[0]));
	c->linger = l->linger;
	c->linger_s = l->linger_s;
	c->reuseaddr = l->reuseaddr; /* as Linux's sk_clone: its TIME_WAIT entry remembers it */
	c->mem_owner = l->mem_owner; /* its buffers are the listener's owner's to pay */
	c->reuseport = l->reuseport;
	c->reuse_owner = l->reuse_owner;
}

/*
 * May a connection of l have its buffers now (the charge hook, as
 * tcp_alloc_buffers will ask it)? Asked before a half-open entry gives up
 * its 4-tuple: refused, the entry stays and its SYN-ACK retransmission
 * invites the ACK again, as with a full accept queue.
 */
static bool listener_can_pay(struct tn_stack *stack, const struct tn_sock *l)
{
	struct tn_tcp *tcp = tcp_of(stack);
	int64_t bytes = (int64_t)l->rcvbuf_size + l->sndbuf_size;

	if (!tcp->charge)
		return true;
	if (!tcp->charge(tcp->charge_ctx, l->mem_owner, bytes)) {
		TN_COUNT(stack, TcpExtListenDrops);
		return false;
	}
	tcp->charge(tcp->charge_ctx, l->mem_owner, -bytes);
	return true;
}

/* What a completed handshake agreed: from a half-open entry or from a cookie. */
struct handshake {
	uint32_t iss, irs, ts_recent;
	uint16_t peer_mss;
	uint8_t snd_wscale;
	bool ws_ok, sack_ok, ts_ok;
	bool rtt_timing;       /* the SYN-ACK went once: an RTT sample */
	uint64_t rtt_start_ns;
};

/* The window of every SYN-ACK of l: the buffer the connection will get, unscaled. */
static uint16_t synack_window(const struct tn_sock *l)
{
	return (uint16_t)min_u32(l->rcvbuf_size, 65535);
}

/*
 * The third segment g completed a handshake with l: the connection is
 * established, gets its buffers and joins the accept queue (the caller
 * checked there is room); the rest of g (data, FIN) is then processed on
 * it.
 */
static void child_established(struct tn_stack *stack, struct tn_sock *l, const struct tcp_seg *g,
			      const struct handshake *hs)
{
	const struct tn_config *cfg = &stack->cfg;
	struct tn_sock *c = child_new(stack, l, g);
	if (!c) {
		TN_COUNT(stack, TcpExtListenDrops);
		return;
	}
	c->ws_ok = cfg->tcp_window_scaling && hs->ws_ok;
	c->snd_wscale = c->ws_ok ? hs->snd_wscale : 0;
	c->rcv_wscale = c->ws_ok ? tcp_wscale_for(c->rcvbuf_max) : 0;
	c->sack_ok = cfg->tcp_sack && hs->sack_ok;
	c->ts_ok = cfg->tcp_timestamps && hs->ts_ok;
	if (c->ts_ok)
		c->ts_recent = hs->ts_recent;
	c->peer_mss = tcp_mss_clamp(c, hs->peer_mss);
	c->mss = mss_for_mtu(c, cfg->mtu);
	c->rcv_mss = c->mss;
	c->irs = hs->irs;
	c->rcv_nxt = hs->irs + 1;
	c->rcv_acked = c->rcv_nxt;
	c->rcv_adv = c->rcv_nxt + synack_window(l);
	c->iss = hs->iss;
	c->snd_una = c->snd_nxt = c->snd_max = hs->iss + 1;
	c->snd_wnd = g->wnd << c->snd_wscale;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = g->seq;
	c->snd_wl2 = g->ack;
	c->last_rx_ns = tn_now(stack);
	if (tcp_alloc_buffers(c) < 0) {
		TN_COUNT(stack, TcpExtListenDrops);
		tcp_release(c);
		return;
	}
	if (hs->rtt_timing) {
		c->rtt_timing = true;
		c->rtt_seq = c->iss;
		c->rtt_start_ns = hs->rtt_start_ns;
		rtt_from_ack(c, g, g->ack);
	}
	init_congestion(c);
	c->state = TN_TCP_SYN_RECEIVED; /* what the half-open entry (or the cookie) stood for */
	established(c);
	TN_COUNT(stack, TcpPassiveOpens);
	tcp_child_queue(l, c);
	synchronized_input(c, g);
}

/* Our SYN-ACK options, as agreed with the SYN; the caller adds the timestamps. */
static struct tcp_opts synack_options(const struct tn_sock *l, bool ws_ok,
				      bool sack_ok, bool ts_ok)
{
	return (struct tcp_opts){
		.mss_ok = true,
		.mss = tcp_offered_mss(l),
		.ws_ok = ws_ok,
		.wscale = ws_ok ? tcp_wscale_for(l->rcvbuf_max) : 0,
		.sack_ok = sack_ok,
		.ts_ok = ts_ok,
	};
}

void tcp_send_req_synack(struct tn_stack *stack, const struct tcp_req *r)
{
	const struct tn_sock *l = r->listener;
	struct tcp_opts o = synack_options(l, r->ws_ok, r->sack_ok, r->ts_ok);
	if (r->ts_ok) {
		o.tsval = tcp_ts_clock(stack, r->ts_offset);
		o.tsecr = r->ts_recent;
	}
	const struct tcp_seg syn = {
		.src = r->hn.raddr, .dst = r->hn.laddr, .sport = r->hn.rport, .dport = r->hn.lport,
		.seq = r->irs,
	};
	tcp_send_synack_stateless(l, &syn, r->iss, &o, synack_window(l));
}

/*
 * The SYN-ACK of a full SYN queue (Linux tcp_conn_request with want_cookie):
 * our ISN is the cookie, and without timestamps to carry them, window
 * scaling and SACK are not offered.
 */
static void send_cookie_synack(struct tn_stack *stack, struct tn_sock *l, const struct tcp_seg *g)
{
	const struct tn_config *cfg = &stack->cfg;
	const struct tcp_opts *in = &g->opt;
	uint32_t peer_mss = in->mss_ok ? in->mss : TCP_DEFAULT_MSS;
	uint8_t idx = tcp_cookie_mss_index(min_u32(peer_mss, tcp_offered_mss(l)));
	bool ts_ok = cfg->tcp_timestamps && in->ts_ok;
	struct tcp_opts o = synack_options(l, ts_ok && cfg->tcp_window_scaling && in->ws_ok,
					   ts_ok && cfg->tcp_sack && in->sack_ok, ts_ok);
	if (ts_ok) {
		uint32_t now = tcp_ts_clock(stack, tcp_ts_offset(stack, g->dst, g->src));
		/* the peer's scale: ours follows from the listener's buffer again */
		o.tsval = tcp_cookie_tsval(now, o.ws_ok, in->wscale, o.sack_ok);
		o.tsecr = in->tsval;
	}
	uint32_t iss = tcp_cookie_make(stack, g, idx);
	tcp_send_synack_stateless(l, g, iss, &o, synack_window(l));
	TN_COUNT(stack, TcpExtSyncookiesSent);
}

/* Linux's accept-queue check on the final ACK: full, the ACK is dropped (a retransmission may fit). */
static bool accept_queue_full(struct tn_stack *stack, const struct tn_sock *l)
{
	if (l->listen->aq_len < l->listen->backlog)
		return false;
	TN_COUNT(stack, TcpExtListenOverflows);
	TN_COUNT(stack, TcpExtListenDrops);
	return true;
}

/*
 * An ACK for a listener: the end of a cookie handshake, or nothing of ours
 * (RST). A valid cookie becomes an established child in the accept queue
 * (Linux cookie_v4_check). Returns false when the ACK is no cookie of ours.
 */
static bool cookie_ack(struct tn_stack *stack, struct tn_sock *l, const struct tcp_seg *g)
{
	const struct tn_config *cfg = &stack->cfg;
	struct tcp_listen *q = l->listen;
	if ((g->flags & (TCP_SYN | TCP_RST)) || cfg->tcp_syncookies == TN_TCP_SYNCOOKIES_NO)
		return false;
	/* Linux's tcp_synq_no_recent_overflow: no cookies sent lately, none to check. */
	if (cfg->tcp_syncookies != TN_TCP_SYNCOOKIES_ALWAYS &&
	    (!q->last_overflow_ns || tn_now(stack) - q->last_overflow_ns > COOKIE_LISTEN_VALID_NS))
		return false;
	struct tcp_cookie_opts co;
	int idx = tcp_cookie_check(stack, g);
	if (idx < 0 || !tcp_cookie_ts_decode(cfg, &g->opt, &co)) {
		TN_COUNT(stack, TcpExtSyncookiesFailed);
		return false;
	}
	TN_COUNT(stack, TcpExtSyncookiesRecv);
	if (accept_queue_full(stack, l))
		return true;
	const struct handshake hs = {
		.iss = g->ack - 1, .irs = g->seq - 1, .ts_recent = g->opt.tsval,
		.peer_mss = tcp_cookie_mss((uint8_t)idx), .snd_wscale = co.snd_wscale,
		.ws_ok = co.ws_ok, .sack_ok = co.sack_ok, .ts_ok = co.ts_ok,
	};
	child_established(stack, l, g, &hs);
	return true;
}

/* Linux's tcp_in_window(): the segment overlaps [s_win, e_win), or is empty at the edge. */
static bool in_window(uint32_t seq, uint32_t end_seq, uint32_t s_win, uint32_t e_win)
{
	if (seq == s_win)
		return true;
	if (seq_gt(end_seq, s_win) && seq_lt(seq, e_win))
		return true;
	return seq == e_win && seq == end_seq;
}

/*
 * SYN-RECEIVED (Linux's tcp_check_req): a segment for a half-open entry.
 * A repeated SYN gets the SYN-ACK again; an exact RST ends it, a new SYN
 * in the window too (with a RST); an ACK of our SYN completes it.
 */
static void req_input(struct tn_stack *stack, struct tcp_req *r, const struct tcp_seg *g)
{
	struct tn_sock *l = r->listener;
	uint32_t rcv_nxt = r->irs + 1;
	uint32_t end_seq = g->seq + tcp_seg_seqlen(g);

	if ((g->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN && g->seq == r->irs) {
		tcp_send_req_synack(stack, r);
		return;
	}
	bool paws = r->ts_ok && g->opt.ts_ok && !(g->flags & TCP_RST) &&
		    (int32_t)(g->opt.tsval - r->ts_recent) < 0;
	if (paws || !in_window(g->seq, end_seq, rcv_nxt, rcv_nxt + synack_window(l))) {
		if (paws)
			TN_COUNT(stack, TcpExtPAWSEstab);
		return;
	}
	if (g->flags & TCP_RST) {
		if (g->seq == rcv_nxt) /* RFC 5961 3.2: only the exact sequence number */
			tcp_req_free(r);
		return;
	}
	if (g->flags & TCP_SYN) {
		tcp_reset_reply(stack, g);
		tcp_req_free(r);
		return;
	}
	if (!(g->flags & TCP_ACK))
		return;
	if (g->ack != r->iss + 1) {
		tcp_reset_reply(stack, g);
		return;
	}
	if (accept_queue_full(stack, l) || !listener_can_pay(stack, l))
		return; /* the entry stays; its SYN-ACK retransmission invites the ACK again */
	const struct handshake hs = {
		.iss = r->iss, .irs = r->irs, .ts_recent = g->opt.tsval,
		.peer_mss = r->peer_mss, .snd_wscale = r->snd_wscale,
		.ws_ok = r->ws_ok, .sack_ok = r->sack_ok, .ts_ok = r->ts_ok && g->opt.ts_ok,
		.rtt_timing = r->retries == 0, .rtt_start_ns = r->sent_ns,
	};
	r->established = true;
	tcp_req_free(r); /* its 4-tuple goes to the connection */
	child_established(stack, l, g, &hs);
}

/* A segment for listener l; isn != 0 when a SYN recycled a TIME_WAIT entry (RFC 6191). */
static void listen_input(struct tn_stack *stack, struct tn_sock *l, const struct tcp_seg *g,
			 uint32_t isn)
{
	if (g->flags & TCP_RST)
		return;
	if (g->flags & TCP_ACK) {
		if (!cookie_ack(stack, l, g))
			tcp_reset_reply(stack, g);
		return;
	}
	if (!(g->flags & TCP_SYN) || (g->flags & TCP_FIN))
		return;
	const struct tn_config *cfg = &stack->cfg;
	struct tcp_listen *q = l->listen;
	if (q->aq_len >= q->backlog) {
		/* Linux drops it even with cookies: the connection would find no room either. */
		TN_COUNT(stack, TcpExtListenOverflows);
		TN_COUNT(stack, TcpExtListenDrops);
		return;
	}
	bool full = q->syn_len >= syn_queue_limit(l);
	if (cfg->tcp_syncookies == TN_TCP_SYNCOOKIES_ALWAYS ||
	    (full && cfg->tcp_syncookies == TN_TCP_SYNCOOKIES_YES)) {
		if (full)
			TN_COUNT(stack, TcpExtTCPReqQFullDoCookies);
		q->last_overflow_ns = tn_now(stack) ? tn_now(stack) : 1;
		send_cookie_synack(stack, l, g);
		return;
	}
	if (full) {
		TN_COUNT(stack, TcpExtTCPReqQFullDrop);
		TN_COUNT(stack, TcpExtListenDrops);
		return;
	}
	struct tcp_req *r = tcp_req_new(l, g->dst, g->dport, g->src, g->sport);
	if (!r) {
		TN_COUNT(stack, TcpExtListenDrops);
		return;
	}
	const struct tcp_opts *o = &g->opt;
	r->irs = g->seq;
	r->iss = isn ? isn : tcp_new_isn(stack, g->dst, g->dport, g->src, g->sport);
	r->peer_mss = o->mss_ok ? o->mss : TCP_DEFAULT_MSS;
	r->ws_ok = cfg->tcp_window_scaling && o->ws_ok;
	r->snd_wscale = r->ws_ok ? o->wscale : 0;
	r->sack_ok = cfg->tcp_sack && o->sack_ok;
	r->ts_ok = cfg->tcp_timestamps && o->ts_ok;
	r->ts_recent = r->ts_ok ? o->tsval : 0;
	r->ts_offset = tcp_ts_offset(stack, g->dst, g->src);
	r->sent_ns = tn_now(stack);
	tcp_send_req_synack(stack, r);
}

/* ---- SYN-SENT */
static void established(struct tn_sock *s)
{
	tcp_set_state(s, TN_TCP_ESTABLISHED);
	tcp_rcv_space_init(s);
	s->retries = 0;
	s->backoff = 0;
	tcp_arm_keepalive(s);
}

static void syn_sent_input(struct tn_sock *s, const struct tcp_seg *g)
{
	bool ack = g->flags & TCP_ACK;
	if (ack && (seq_le(g->ack, s->iss) || seq_gt(g->ack, s->snd_max))) {
		tcp_reset_reply(s->stack, g);
		return;
	}
	if (g->flags & TCP_RST) {
		if (ack)
			tcp_done(s, -ECONNREFUSED);
		return;
	}
	if (!(g->flags & TCP_SYN))
		return;
	tcp_apply_syn_options(s, g);
	s->irs = g->seq;
	s->rcv_nxt = g->seq + 1;
	s->rcv_acked = s->rcv_nxt;
	s->rcv_adv = s->rcv_nxt;
	s->snd_wnd = g->wnd;
	s->max_snd_wnd = s->snd_wnd;
	s->snd_wl1 = g->seq;
	s->snd_wl2 = g->ack;
	if (!ack) {
		/* Simultaneous open (RFC 9293 3.5, figure 8). */
		tcp_set_state(s, TN_TCP_SYN_RECEIVED);
		tcp_send_syn(s);
		tcp_rearm_rtx(s);
		return;
	}
	if (s->retries == 0)
		rtt_from_ack(s, g, g->ack);
	s->snd_una = g->ack;
	init_congestion(s);
	established(s);
	tcp_rearm_rtx(s);
	tcp_notify(s, TN_SOCK_EV_CONNECTED | TN_SOCK_EV_WRITABLE);
	/* Data or FIN in the SYN-ACK: the peer sends them again once we ACK. */
	s->ack_now = true;
	tcp_output(s);
}

/* ---- synchronized states */

/* Linux's tcp_sequence(): the segment overlaps [last ACKed rcv_nxt, right edge]. */
static bool seq_acceptable(const struct tn_sock *s, const struct tcp_seg *g)
{
	uint32_t end = g->seq + tcp_seg_seqlen(g);
	uint32_t right = seq_max(s->rcv_adv, s->rcv_nxt);
	return seq_ge(end, s->rcv_acked) && seq_le(g->seq, right);
}

static void reset_connection(struct tn_sock *s)
{
	switch (s->state) {
	case TN_TCP_SYN_RECEIVED:
		tcp_done(s, -ECONNREFUSED); /* a simultaneous open refused */
		break;
	case TN_TCP_ESTABLISHED:
	case TN_TCP_CLOSE_WAIT:
		TCP_CTR(s, TcpEstabResets);
		tcp_done(s, s->state == TN_TCP_CLOSE_WAIT ? -EPIPE : -ECONNRESET);
		break;
	case TN_TCP_FIN_WAIT_1:
	case TN_TCP_FIN_WAIT_2:
		tcp_done(s, -ECONNRESET);
		break;
	default:
		tcp_done(s, 0);
		break;
	}
}

static bool fin_acked(const struct tn_sock *s)
{
	return s->fin_queued && seq_gt(s->snd_una, s->fin_seq);
}

/*
 * Fast recovery begins: RFC 6675 with SACK (RACK found something lost),
 * RFC 6582 NewReno without (three duplicate ACKs).
 */
static void enter_recovery(struct tn_sock *s)
{
	/* Linux's tcp_init_undo and tcp_current_ssthresh. */
	s->prior_ssthresh = max_u32(s->ssthresh, s->cwnd / 2 + s->cwnd / 4);
	s->undo_marker = s->snd_una;
	s->undo_retrans = 0;
	s->undo_armed = true;
	s->undo_rxt_ts_set = false;
	s->ssthresh = s->cc->ssthresh(s);
	s->prior_cwnd = s->cwnd;
	s->recover = s->snd_max;
	s->in_recovery = true;
	s->tlp_out = false;
	s->prr_delivered = 0;
	s->prr_out = 0;
	if (s->sack_ok) {
		TCP_CTR(s, TcpExtTCPSackRecovery);
		return; /* PRR sets cwnd on every ACK; tcp_output retransmits what is lost */
	}
	TCP_CTR(s, TcpExtTCPRenoRecovery);
	tcp_retransmit(s, s->snd_una, s->mss);
	s->cwnd = s->ssthresh + 3 * s->mss;
	tcp_rearm_rtx(s);
}

/*
 * RFC 6937 Proportional Rate Reduction: while the pipe is above ssthresh,
 * send in proportion to what is delivered (ssthresh / the window before
 * the loss); below it, slow start back up to ssthresh (PRR-SSRB). cwnd is
 * set so that tcp_output sends exactly that much (as Linux's
 * tcp_cwnd_reduction).
 */
static void prr_update(struct tn_sock *s, uint32_t delivered)
{
	s->prr_delivered += delivered;
	uint32_t pipe = tcp_in_flight(s);
	int64_t sndcnt;
	if (pipe > s->ssthresh) {
		uint64_t fs = max_u32(s->prior_cwnd, 1);
		sndcnt = (int64_t)(((uint64_t)s->prr_delivered * s->ssthresh + fs - 1) / fs) - s->prr_out;
	} else {
		int64_t limit = (int64_t)s->prr_delivered - s->prr_out;
		if (limit < (int64_t)delivered)
			limit = delivered;
		limit += s->mss;
		sndcnt = (int64_t)(s->ssthresh - pipe);
		if (sndcnt > limit)
			sndcnt = limit;
	}
	if (sndcnt < 0)
		sndcnt = 0;
	if (!s->prr_out && sndcnt < s->mss)
		sndcnt = s->mss; /* the first retransmission goes at once */
	s->cwnd = pipe + (uint32_t)sndcnt;
}

static void exit_recovery(struct tn_sock *s)
{
	if (s->sack_ok) {
		s->cwnd = s->ssthresh; /* RFC 6937: the reduction ends at ssthresh */
	} else {
		uint32_t flight = s->snd_max - s->snd_una;
		/* RFC 6582 3.2 (3): deflate, but never into a burst. */
		s->cwnd = min_u32(s->ssthresh, max_u32(flight, s->mss) + s->mss);
	}
	s->in_recovery = false;
	s->dupacks = 0;
	s->cc->on_recovery_end(s);
}

/* RFC 6582 3.2 (5): a partial ACK repairs the next hole at once (NewReno without SACK). */
static void partial_ack(struct tn_sock *s, uint32_t acked)
{
	tcp_retransmit(s, s->snd_una, s->mss);
	s->cwnd = s->cwnd > acked ? s->cwnd - acked : s->mss;
	if (acked >= s->mss)
		s->cwnd += s->mss;
}

/* An ACK that repeats the last: no data, no window change, nothing newly acknowledged. */
static bool same_as_last_ack(const struct tn_sock *s, const struct tcp_seg *g, uint32_t old_wnd)
{
	return g->ack == s->snd_una && g->len == 0 && !(g->flags & (TCP_SYN | TCP_FIN)) &&
	       (g->wnd << s->snd_wscale) == old_wnd;
}

/* NewReno (no SACK): duplicate ACKs are the only loss signal. */
static void on_dupack(struct tn_sock *s)
{
	s->dupacks++;
	if (s->in_recovery) {
		s->cwnd += s->mss; /* RFC 6582 3.2 (4): inflate */
		return;
	}
	/* RFC 6582 4.1: not for losses of what was sent before the last recovery/RTO. */
	if (s->dupacks >= 3 && !s->in_loss && seq_ge(s->snd_una, s->recover))
		enter_recovery(s);
}

/*
 * RFC 8985 7.4, as Linux's tcp_process_tlp_ack: how the episode of a tail
 * loss probe ends, on an ACK at or beyond tlp_high_seq. The probe repeats
 * the last segment sent, and a probe that was not needed (the ACK was
 * late, not lost) reaches the peer as a duplicate: so an ACK that reaches
 * tlp_high_seq says nothing yet, and the peer's next word does. A D-SACK of
 * the probe (tcp_sack.c clears tlp_rxt), or a duplicate ACK at
 * tlp_high_seq from a peer without D-SACK, means both copies arrived: no
 * loss. An ACK beyond tlp_high_seq without either means the probe repaired
 * a loss, and congestion control hears of it. Ending the episode at the
 * first ACK that reached tlp_high_seq, as this did before, took every late
 * ACK for a loss: with iperf3 --bidir the kernel's ACKs come behind its
 * own data, later than two round trips, and each probe then cut the
 * window (tapnet -> kernel 4.9-5.3 Gbit/s beside 8.6-8.7 the other way,
 * and 0.7-0.8 with a third program busy, where two kernels made 6.6-6.9
 * beside 7.8-8.1).
 */
static void tlp_episode_ack(struct tn_sock *s, uint32_t ack, bool pure_dupack)
{
	if (seq_lt(ack, s->tlp_high_seq))
		return;
	if (!s->tlp_rxt || pure_dupack) {
		s->tlp_out = false;
		return;
	}
	if (!seq_gt(ack, s->tlp_high_seq))
		return; /* the ACK of the original, or of the probe: the next says which */
	s->tlp_out = false;
	TCP_CTR(s, TcpExtTCPLossProbeRecovery);
	if (!s->in_recovery && !s->in_loss) {
		s->ssthresh = s->cc->ssthresh(s);
		s->cwnd = max_u32(s->ssthresh, 2 * s->mss);
		s->cc->on_recovery_end(s);
	}
}

/* New data acknowledged: free it, measure, grow cwnd, move the recovery. */
static void on_new_ack(struct tn_sock *s, const struct tcp_seg *g, uint32_t prior_flight)
{
	uint32_t acked = g->ack - s->snd_una;
	if (s->snd_una == s->iss) { /* our SYN */
		s->snd_una++;
		acked--;
	}
	uint32_t data = min_u32(acked, s->sndbuf.len);
	/* a writer that filled the buffer (it waits for room): growth may help it */
	if (tn_ring_space(&s->sndbuf) < s->mss)
		s->snd_nospace = true;
	tn_ring_discard(&s->sndbuf, data);
	s->snd_una = g->ack;
	if (seq_lt(s->snd_nxt, s->snd_una))
		s->snd_nxt = s->snd_una;
	s->bytes_acked += data;
	uint32_t rtt_sample_us = s->ack_rtt_us;
	rtt_from_ack(s, g, g->ack);
	s->retries = 0;
	s->backoff = 0;
	tcp_sack_trim(s);
	if (s->tlp_out)
		tlp_episode_ack(s, s->snd_una, false);
	if (s->in_loss && seq_ge(s->snd_una, s->recover)) {
		s->in_loss = false;
		s->rto_undo = false;
		s->frto = false;
	}

	if (s->in_recovery) {
		if (seq_ge(s->snd_una, s->recover))
			exit_recovery(s);
		else if (!s->sack_ok)
			partial_ack(s, acked);
	} else {
		s->dupacks = 0;
		/* Grow only when the window was what limited us (RFC 7661 in spirit). */
		if (prior_flight + 2 * s->mss >= s->cwnd || s->cwnd < s->ssthresh) {
			tcp_hystart_on_ack(s, g->ack, rtt_sample_us);
			s->cc->on_ack(s, acked, s->srtt_us);
		}
	}
	if (s->snd_nospace && data) {
		s->snd_nospace = false;
		tcp_sndbuf_expand(s);
	}
	if (data)
		tcp_notify(s, TN_SOCK_EV_WRITABLE);
}

/*
 * With SACK: RACK decides what is lost (RFC 8985), recovery starts when
 * something is, PRR paces it; then the timer that fits: the reordering
 * timer, a tail loss probe, or the RTO.
 */
void tcp_detect_loss(struct tn_sock *s, uint32_t delivered, bool acked_new)
{
	uint64_t reo_ns = tcp_rack_detect(s);
	if (s->lost_bytes && !s->in_recovery && !s->in_loss)
		enter_recovery(s);
	if (s->in_recovery)
		prr_update(s, delivered);
	if (acked_new || reo_ns || s->rtx_kind == TCP_RTX_REO)
		tcp_arm_loss_timer(s, reo_ns);
}

static void update_window(struct tn_sock *s, const struct tcp_seg *g)
{
	/* RFC 9293 3.10.7.4: only a newer segment may change the window. */
	if (seq_lt(s->snd_wl1, g->seq) || (s->snd_wl1 == g->seq && seq_le(s->snd_wl2, g->ack))) {
		s->snd_wnd = g->wnd << s->snd_wscale;
		s->max_snd_wnd = max_u32(s->max_snd_wnd, s->snd_wnd);
		s->snd_wl1 = g->seq;
		s->snd_wl2 = g->ack;
	}
}

/* What is left of a segment after its connection became a compact entry goes to that entry. */
static void redeliver(struct tn_stack *stack, const struct tcp_seg *g)
{
	struct tn_hnode *n = tn_ehash_lookup(stack, &tcp_of(stack)->ehash, g->dst, g->dport, g->src, g->sport);
	if (n && n->kind == TN_HNODE_TW)
		tcp_tw_input(stack, tn_tw_of_node(n), g);
}

/*
 * RFC 7323 4.3: remember the timestamp of the segment our last ACK asked
 * for, and only once its ACK was found acceptable (Linux's tcp_ack with
 * FLAG_UPDATE_TS_RECENT): a segment we drop, say one acking data never
 * sent, must not move ts_recent, or a forged TSval far ahead would make
 * PAWS throw away the peer's real segments.
 */
static void update_ts_recent(struct tn_sock *s, const struct tcp_seg *g)
{
	if (s->ts_ok && g->opt.ts_ok && seq_le(g->seq, s->rcv_acked) &&
	    (int32_t)(g->opt.tsval - s->ts_recent) >= 0)
		s->ts_recent = g->opt.tsval;
}

/*
 * After a fresh RTO (tcp_timer.c), is this ACK the sign that it was
 * spurious, the segments delayed rather than lost? Eifel (RFC 3522): it
 * acknowledges new data and echoes a timestamp older than our first
 * retransmission, so an original transmission got there. F-RTO (RFC 5682
 * 3.1 with SACK, as Linux's tcp_process_loss): it (S)ACKs original data
 * sent before the timeout and never retransmitted, so not everything was
 * lost; a duplicate ACK without such news first says the loss was real.
 */
static bool rto_spurious(struct tn_sock *s, const struct tcp_seg *g, bool acked_new, bool *frto)
{
	*frto = false;
	if (acked_new && s->ts_ok && g->opt.ts_ok && g->opt.tsecr && seq_lt(g->opt.tsecr, s->rto_ts))
		return true;
	if (!s->frto)
		return false;
	uint32_t high = s->frto_high;
	if (acked_new && tcp_sack_orig_bytes(s, s->snd_una, seq_min(g->ack, high)))
		return *frto = true;
	for (uint8_t i = 0; s->sack_ok && i < g->opt.nsack; i++) {
		const struct tcp_sack_block *b = &g->opt.sack[i];
		uint32_t start = seq_max(b->start, s->snd_una), end = seq_min(b->end, high);
		if (seq_lt(start, end) && seq_le(b->end, s->snd_max) && tcp_sack_orig_bytes(s, start, end))
			return *frto = true;
	}
	if (!acked_new) {
		s->frto = false;
	} else if (seq_gt(s->snd_nxt, high)) {
		/* step 3a: after step 2b's new data, a SACK says the loss was real */
		if (g->opt.nsack)
			s->frto = false;
	} else if (seq_lt(g->ack, high)) {
		/*
		 * Step 2b: the first ACK after the timeout covers only what it
		 * sent again. Send new data rather than the next presumed-lost
		 * segments (tcp_output): whether the ACKs that follow cover
		 * original data sent before the timeout tells which it was.
		 * What was sent before then counts as original (frto_high);
		 * new data then sent, SACKed, says the loss was real (3a).
		 */
		s->frto_high = s->snd_nxt;
		s->frto_new_data = true;
	}
	return false;
}

/* Linux's tcp_undo_cwnd_reduction after a spurious timeout: back to the window before it. */
void tcp_undo_rto(struct tn_sock *s, bool frto)
{
	TCP_CTR(s, TcpExtTCPLossUndo);
	if (frto)
		TCP_CTR(s, TcpExtTCPSpuriousRTOs);
	s->cwnd = max_u32(s->cwnd, s->prior_cwnd);
	s->ssthresh = max_u32(s->ssthresh, s->prior_ssthresh);
	s->in_loss = false;
	s->rto_undo = false;
	s->frto = false;
	s->undo_armed = false;
	s->retries = 0;
	s->backoff = 0;
	tcp_sack_unmark_lost(s); /* RACK marks again what the SACKs show lost */
}

/*
 * Eifel for fast recovery (RFC 3522; Linux's tcp_packet_delayed): during
 * a recovery, an ACK of new data that echoes a timestamp older than the
 * recovery's first retransmission was sent for an original segment: the
 * hole was filled by a segment the network held back. (Timestamps tick
 * in milliseconds: the same tick proves nothing. With SACK only: RACK
 * is what the reordering window below serves.)
 */
static bool packet_delayed(const struct tn_sock *s, const struct tcp_seg *g)
{
	return s->in_recovery && s->sack_ok && s->undo_armed && s->undo_rxt_ts_set && s->ts_ok &&
	       g->opt.ts_ok && g->opt.tsecr && (int32_t)(g->opt.tsecr - s->undo_rxt_ts) < 0;
}

/*
 * After such an ACK: the network reorders, and RACK waits a reordering
 * window from now on (reord_seen; Linux's tcp_check_sack_reordering with
 * the timestamp's word, TcpExtTCPTSReorder). Without that, every segment
 * held back longer than three others overtake is "lost" again, each
 * recovery cuts a window that D-SACKs may not give back in time, and a
 * connection on a long path that reorders crawls. Once no retransmission
 * is left out, the cut is undone as Linux's tcp_try_undo_partial and
 * tcp_try_undo_recovery do (TcpExtTCPPartialUndo, TcpExtTCPFullUndo);
 * what RACK had called lost is judged again with the window.
 */
static void undo_delayed(struct tn_sock *s)
{
	TCP_CTR(s, TcpExtTCPTSReorder);
	s->reord_seen = true;
	if (tcp_sack_rxt_outstanding(s))
		return;
	if (s->in_recovery)
		TCP_CTR(s, TcpExtTCPPartialUndo);
	else
		TCP_CTR(s, TcpExtTCPFullUndo);
	tcp_sack_unmark_lost(s);
	tcp_undo_recovery(s);
}

/* Returns false when the segment must be dropped (or the connection ended). */
static bool process_ack(struct tn_sock *s, const struct tcp_seg *g)
{
	if (s->state == TN_TCP_SYN_RECEIVED) {
		if (!seq_gt(g->ack, s->snd_una) || seq_gt(g->ack, s->snd_max)) {
			tcp_reset_reply(s->stack, g);
			return false;
		}
		/* (a simultaneous open: a listener's half-open connections are struct tcp_req) */
		if (s->retries == 0)
			rtt_from_ack(s, g, g->ack);
		init_congestion(s);
		established(s);
		s->snd_wnd = g->wnd << s->snd_wscale;
		s->max_snd_wnd = s->snd_wnd;
		s->snd_wl1 = g->seq;
		s->snd_wl2 = g->ack;
		tcp_notify(s, TN_SOCK_EV_CONNECTED | TN_SOCK_EV_WRITABLE);
	}
	if (seq_gt(g->ack, s->snd_max)) {
		send_dupack(s, g);
		return false;
	}
	if (seq_lt(g->ack, s->snd_una - s->max_snd_wnd)) {
		send_challenge_ack(s); /* RFC 5961 5.2 */
		return false;
	}
	update_ts_recent(s, g);
	s->probes = 0;
	uint32_t old_wnd = s->snd_wnd;
	uint32_t prior_flight = s->snd_nxt - s->snd_una;
	bool acked_new = seq_gt(g->ack, s->snd_una);
	bool frto;
	if (s->rto_undo && s->in_loss && rto_spurious(s, g, acked_new, &frto))
		tcp_undo_rto(s, frto);
	/*
	 * An ACK that moves nothing, with nothing in flight, no SACK block and
	 * no loss being repaired (what every data segment of a transfer
	 * towards us carries): there is no scoreboard to update and nothing to
	 * find lost, as Linux's fast path skips tcp_ack when the ACK does not
	 * move.
	 */
	bool scoreboard = s->sack_ok &&
			  (acked_new || s->snd_una != s->snd_max || g->opt.nsack || s->in_recovery ||
			   s->in_loss || s->lost_bytes || s->rtx_kind == TCP_RTX_REO);
	uint32_t delivered = 0;
	if (scoreboard)
		delivered = tcp_sack_on_ack(s, &g->opt, g->ack);
	if (acked_new) {
		bool delayed = packet_delayed(s, g);
		update_window(s, g);
		on_new_ack(s, g, prior_flight);
		if (delayed)
			undo_delayed(s);
		if (!s->sack_ok)
			tcp_rearm_rtx(s);
	} else {
		bool repeat = same_as_last_ack(s, g, old_wnd);
		bool dup = repeat && s->snd_max != s->snd_una; /* RFC 5681's duplicate ACK: data in flight */
		if (s->tlp_out)
			tlp_episode_ack(s, g->ack, repeat && !delivered);
		update_window(s, g);
		if (dup && !s->sack_ok)
			on_dupack(s);
		else if (dup && ++s->dupacks >= 3 && !s->sacked_bytes && seq_ge(s->snd_una, s->recover))
			/*
			 * SACK agreed but no block came (a middlebox may strip them):
			 * RFC 6675's DupThresh rule, the first segment is lost.
			 */
			s->lost_end = seq_max(s->lost_end, s->snd_una + min_u32(s->mss, s->snd_max - s->snd_una));
		else if (!dup && g->len == 0)
			TCP_CTR(s, TcpExtTCPPureAcks);
	}
	if (scoreboard)
		tcp_detect_loss(s, delivered, acked_new);
	bool starved = tcp_orphan_window_starved(s);
	if (s->snd_wnd && s->persist && !starved) {
		tn_timer_cancel(s->stack, &s->rtx_timer);
		s->persist = false;
	}
	if (s->snd_wnd && !starved)
		s->persist_backoff = 0;

	switch (s->state) {
	case TN_TCP_FIN_WAIT_1:
		if (fin_acked(s)) {
			tcp_set_state(s, TN_TCP_FIN_WAIT_2);
			if (s->orphan) {
				/* the rest of the segment (data, FIN) goes to the entry */
				bool more = g->len || (g->flags & TCP_FIN);
				struct tn_stack *stack = s->stack;
				tcp_enter_fin_wait2(s, false);
				if (more)
					redeliver(stack, g);
				return false;
			}
		}
		break;
	case TN_TCP_CLOSING:
		if (fin_acked(s)) {
			tcp_enter_time_wait(s);
			return false;
		}
		break;
	case TN_TCP_LAST_ACK:
		if (fin_acked(s)) {
			tcp_done(s, 0);
			return false;
		}
		break;
	default:
		break;
	}
	return true;
}

static void process_fin(struct tn_sock *s)
{
	s->rcv_nxt++;
	s->fin_rcvd = true;
	s->ofo_fin = false;
	s->ack_now = true;
	tcp_notify(s, TN_SOCK_EV_READABLE);
	switch (s->state) {
	case TN_TCP_SYN_RECEIVED:
	case TN_TCP_ESTABLISHED:
		tcp_set_state(s, TN_TCP_CLOSE_WAIT);
		break;
	case TN_TCP_FIN_WAIT_1:
		tcp_set_state(s, TN_TCP_CLOSING);
		break;
	case TN_TCP_FIN_WAIT_2:
		tcp_enter_time_wait(s); /* ACKs the FIN at once; s is CLOSED from here on */
		break;
	default:
		break;
	}
}

static bool receiving_state(const struct tn_sock *s)
{
	return s->state == TN_TCP_ESTABLISHED || s->state == TN_TCP_FIN_WAIT_1 ||
	       s->state == TN_TCP_FIN_WAIT_2;
}

/* In-order bytes of this input batch, and of the previous one (tcp_ack_later). */
static void note_batch_rx(struct tn_sock *s, uint32_t delivered)
{
	struct tn_tcp *tcp = tcp_of(s->stack);
	if (!tcp->batch)
		return;
	if (s->batch_rx_gen != tcp->batch_gen) {
		s->batch_rx_prev = s->batch_rx_bytes;
		s->batch_rx_bytes = 0;
		s->batch_rx_gen = tcp->batch_gen;
	}
	s->batch_rx_bytes += delivered;
}

/*
 * Data after a silence longer than the RTO: the sender has probably just
 * recovered from a timeout (its window collapsed) or restarted an idle
 * window, and sends a segment or two and waits. Delayed ACKs would add up
 * to 40 ms per round trip while it grows again; ACK the next segments at
 * once, as Linux does (tcp_event_data_recv's quick ACK mode).
 */
static void note_data_gap(struct tn_sock *s)
{
	uint64_t now = tn_now(s->stack);
	if (s->last_data_ns && now - s->last_data_ns > (uint64_t)s->rto_us * 1000)
		s->quickack = TCP_QUICKACKS;
	s->last_data_ns = now;
}

/*
 * tn_sock_set_deliver: in-order bytes go to the owner's deliver function
 * first, behind what the receive buffer holds unread. What it takes is
 * read already: the buffer's bytes leave it, the new ones move rcv_nxt,
 * and receive-buffer tuning counts both as copied. Returns how many of the
 * new bytes it took.
 */
static uint32_t deliver_past_rcvbuf(struct tn_sock *s, uint32_t seq, const uint8_t *data,
				    uint32_t len)
{
	if (!s->deliver || !s->cb || seq != s->rcv_nxt || s->ofo_n || s->shut_rd)
		return 0;
	struct tn_sock_piece piece[3];
	struct tn_iov iov[2];
	uint32_t unread = s->rcvbuf.len;
	int n = unread ? tn_ring_peek(&s->rcvbuf, 0, unread, iov) : 0;
	for (int i = 0; i < n; i++)
		piece[i] = (struct tn_sock_piece){ .base = iov[i].base, .len = iov[i].len };
	piece[n++] = (struct tn_sock_piece){ .base = data, .len = len };
	size_t took = s->deliver(s->cb_arg, piece, n);
	if (!took)
		return 0;
	uint32_t from_buf = took < unread ? (uint32_t)took : unread;
	uint32_t from_new = took > unread ? min_u32((uint32_t)(took - unread), len) : 0;
	tn_ring_discard(&s->rcvbuf, from_buf);
	s->rcv_nxt += from_new;
	tcp_rcv_space_adjust(s);
	return from_new;
}

/* Steps 7 and 8: the text and the FIN. Returns false when the connection was reset. */
static bool process_text(struct tn_sock *s, const struct tcp_seg *g)
{
	uint32_t seq = g->seq, len = g->len;
	const uint8_t *data = g->data;
	uint32_t fin_at = g->seq + g->len;
	bool fin = g->flags & TCP_FIN;

	if (!receiving_state(s))
		return true; /* CLOSE_WAIT, CLOSING, LAST_ACK: the peer already sent its FIN */
	if (len && (s->orphan || s->shut_rd) && s->state != TN_TCP_ESTABLISHED &&
	    seq_gt(seq + len, s->rcv_nxt)) {
		/* Nobody will read it (CONFORMANCE 6, Linux TCPAbortOnData). */
		TCP_CTR(s, TcpExtTCPAbortOnData);
		tcp_send_rst(s);
		tcp_done(s, -ECONNRESET);
		return false;
	}
	if (len && seq_lt(seq, s->rcv_nxt)) {
		uint32_t d = s->rcv_nxt - seq;
		tcp_ofo_dsack(s, seq, seq + min_u32(d, len), false);
		if (d >= len) {
			len = 0; /* all old: a retransmission, our ACK got lost */
			s->ack_now = true;
		} else {
			seq += d, data += d, len -= d;
		}
	}
	if (len) {
		uint32_t room = tn_ring_space(&s->rcvbuf);
		uint32_t off = seq - s->rcv_nxt;
		if (off >= room) {
			len = 0;
			fin = false;
			s->ack_now = true;
		} else if (len > room - off) {
			len = room - off;
			fin = false;
			s->ack_now = true;
		}
	}
	if (len) {
		bool had_ofo = s->ofo_n != 0, ooo = false;
		uint32_t passed = deliver_past_rcvbuf(s, seq, data, len), delivered = 0;
		if (passed < len)
			delivered = tcp_ofo_store(s, seq + passed, data + passed, len - passed, &ooo);
		if (ooo || had_ofo) {
			s->ack_now = true; /* RFC 5681 4.2: dup ACK now / hole filled */
			/*
			 * The sender is recovering from a loss with a small window:
			 * a delayed ACK now would cost it a delack timeout per round
			 * trip (Linux's quick ACK mode after out-of-order data).
			 */
			s->quickack = TCP_QUICKACKS;
		}
		/* Linux's tcp_measure_rcv_mss(): the largest segment seen, up to our MSS. */
		if (g->len > s->rcv_mss)
			s->rcv_mss = min_u32(g->len, s->stack->cfg.mtu - TN_IP_HLEN - TCP_HLEN);
		if (delivered + passed) {
			s->bytes_received += delivered + passed;
			note_batch_rx(s, delivered + passed);
		}
		if (delivered)
			tcp_notify(s, TN_SOCK_EV_READABLE);
		note_data_gap(s);
		tcp_ack_later(s);
	}
	if (fin) {
		if (fin_at == s->rcv_nxt) {
			process_fin(s);
		} else if (seq_gt(fin_at, s->rcv_nxt)) {
			s->ofo_fin = true;
			s->ofo_fin_seq = fin_at;
			s->ack_now = true;
		}
	}
	if (s->ofo_fin && s->ofo_fin_seq == s->rcv_nxt && receiving_state(s))
		process_fin(s);
	return true;
}

/*
 * An orphan in FIN_WAIT_2, as a compact entry (Linux's
 * tcp_timewait_state_process, substate FIN_WAIT2): its FIN moves it to
 * TIME_WAIT, new data or a SYN reset it (nobody reads, CONFORMANCE 6),
 * anything out of window gets the rate-limited ACK.
 */
static void fw2_input(struct tn_stack *stack, struct tn_tw_entry *e, const struct tcp_seg *g)
{
	struct tn_tcp *tcp = tcp_of(stack);
	uint32_t end_seq = g->seq + tcp_seg_seqlen(g);
	uint32_t wnd = (uint32_t)e->rcv_wnd << e->rcv_wscale;
	bool paws_reject = (e->flags & TN_TW_TS) && g->opt.ts_ok && !(g->flags & TCP_RST) &&
			   (int32_t)(g->opt.tsval - e->ts_recent) < 0;

	if (paws_reject || !in_window(g->seq, end_seq, e->rcv_nxt, e->rcv_nxt + wnd)) {
		uint32_t now = tn_tw_now_ms(stack);
		if (g->flags & TCP_RST)
			return;
		if ((uint32_t)(now - e->last_ack_ms) < stack->cfg.tcp_invalid_ratelimit_ms)
			return;
		e->last_ack_ms = now;
		tn_tw_send_ack(stack, e);
		return;
	}
	if (g->flags & TCP_RST) {
		if (TN_TRACING(stack))
			tn_trace_state(stack, &e->hn, TN_TCP_FIN_WAIT_2, TN_TCP_CLOSED);
		tn_tw_remove(stack, &tcp->fw2, e, TN_TW_KILLED);
		return;
	}
	bool syn = (g->flags & TCP_SYN) && !seq_lt(g->seq, e->rcv_nxt);
	if (!syn && (!(g->flags & TCP_ACK) || !seq_gt(end_seq, e->rcv_nxt) || end_seq == g->seq))
		return; /* a duplicate: nothing new */
	if (syn || !(g->flags & TCP_FIN) || end_seq != e->rcv_nxt + 1) {
		if (!syn)
			TN_COUNT(stack, TcpExtTCPAbortOnData);
		tn_tw_send(stack, e, TCP_RST | TCP_ACK); /* from our state, as the socket would */
		if (TN_TRACING(stack))
			tn_trace_state(stack, &e->hn, TN_TCP_FIN_WAIT_2, TN_TCP_CLOSED);
		tn_tw_remove(stack, &tcp->fw2, e, TN_TW_MOVED);
		return;
	}
	/* The peer's FIN: TIME_WAIT proper, which ACKs it (CONFORMANCE 1). */
	struct tn_tw_entry t = *e;
	t.rcv_nxt = end_seq;
	t.flags &= (uint8_t)~(TN_TW_FIN_WAIT2 | TN_TW_IN_USE);
	if ((t.flags & TN_TW_TS) && g->opt.ts_ok)
		t.ts_recent = g->opt.tsval;
	tn_tw_remove(stack, &tcp->fw2, e, TN_TW_MOVED);
	if (TN_TRACING(stack))
		tn_trace_state(stack, &t.hn, TN_TCP_FIN_WAIT_2, TN_TCP_TIME_WAIT);
	struct tn_tw_entry *n = tn_tw_insert(stack, &tcp->tw, &t);
	tn_tw_send_ack(stack, n ? n : &t);
}

/*
 * TIME_WAIT: the connection is an entry of the table (tcp_timewait.c
 * decides, CONFORMANCE 13-17). A SYN that may open a new incarnation goes
 * to the listener with the ISN the entry chose (Linux tcp_v4_rcv,
 * TCP_TW_SYN with tcp_tw_isn); without a listener it is ACKed and the
 * entry stays.
 */
void tcp_tw_input(struct tn_stack *stack, struct tn_tw_entry *e, const struct tcp_seg *g)
{
	struct tn_tw_table *tw = &tcp_of(stack)->tw;
	const struct tn_config *c = &stack->cfg;
	const struct tn_tw_seg seg = {
		.seq = g->seq, .ack = g->ack, .len = g->len, .flags = g->flags,
		.has_ts = g->opt.ts_ok, .tsval = g->opt.tsval, .tsecr = g->opt.tsecr,
	};
	const struct tn_tw_policy policy = {
		.rfc1337 = c->tcp_rfc1337, .ack_ratelimit_ms = c->tcp_invalid_ratelimit_ms,
	};
	uint32_t isn = 0;
	struct tn_sock *l;

	if (e->flags & TN_TW_FIN_WAIT2) {
		fw2_input(stack, e, g);
		return;
	}
	switch (tn_tw_process(stack, tw, e, &seg, &policy, &isn)) {
	case TN_TW_ACCEPT_SYN:
		l = tcp_lookup_listener(stack, g->dst, g->dport, g->src, g->sport);
		if (l) {
			tn_tw_remove(stack, tw, e, TN_TW_RECYCLED);
			listen_input(stack, l, g, isn);
			break;
		}
		if (TN_TRACING(stack))
			tn_trace_tw(stack, &e->hn, TN_TRACE_TW_SYN_REFUSED, tn_tw_remaining_ms(stack, e));
		tn_tw_send_ack(stack, e);
		break;
	case TN_TW_SEND_ACK:
		tn_tw_send_ack(stack, e);
		break;
	case TN_TW_DROP:
		break;
	}
}

static void synchronized_input(struct tn_sock *s, const struct tcp_seg *g)
{
	/* A retransmitted SYN while we wait for the handshake's ACK: repeat the SYN-ACK. */
	if (s->state == TN_TCP_SYN_RECEIVED && (g->flags & (TCP_SYN | TCP_ACK)) == TCP_SYN &&
	    g->seq == s->irs) {
		tcp_send_syn(s);
		return;
	}
	/* RFC 7323 5.3: PAWS. */
	if (s->ts_ok && g->opt.ts_ok && !(g->flags & TCP_RST) &&
	    (int32_t)(g->opt.tsval - s->ts_recent) < 0) {
		TCP_CTR(s, TcpExtPAWSEstab);
		send_dupack(s, g);
		return;
	}
	if (!seq_acceptable(s, g)) {
		if (g->flags & TCP_RST)
			return;
		if (g->flags & TCP_SYN) {
			TCP_CTR(s, TcpExtTCPSYNChallenge);
			send_challenge_ack(s);
			return;
		}
		send_dupack(s, g);
		return;
	}
	if (g->flags & TCP_RST) {
		/* RFC 5961 3.2: only the exact sequence number resets. */
		if (g->seq == s->rcv_nxt)
			reset_connection(s);
		else
			send_challenge_ack(s);
		return;
	}
	if (g->flags & TCP_SYN) {
		/* RFC 5961 4.2: a SYN in a synchronized state gets a challenge ACK. */
		TCP_CTR(s, TcpExtTCPSYNChallenge);
		send_challenge_ack(s);
		return;
	}
	if (!(g->flags & TCP_ACK))
		return;
	s->last_rx_ns = tn_now(s->stack);
	if (!process_ack(s, g))
		return;
	if (!process_text(s, g))
		return;
	tcp_output(s);
}

void tn_tcp_input(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *seg, size_t len)
{
	struct tcp_seg g;
	/* a GSO run counts as the segments it stands for, as Linux counts gso_segs */
	const struct tn_frame_meta *m = stack->rx_meta;
	uint32_t segs = 1;
	if (m && m->gso_type == TN_GSO_TCPV4 && m->gso_size && len > TCP_HLEN) {
		size_t hlen = (size_t)(seg[12] >> 4) * 4;
		if (hlen < len)
			segs = (uint32_t)((len - hlen + m->gso_size - 1) / m->gso_size);
	}
	TN_COUNT_N(stack, TcpInSegs, segs);
	if (!parse_segment(stack, ip, seg, len, &g))
		return;
	tcp_enter(stack);
	/*
	 * One lookup in the connection hash finds a live connection or a
	 * TIME_WAIT entry (never both: a 4-tuple is hashed once); only then
	 * the listeners.
	 */
	struct tn_hnode *n = tn_ehash_lookup(stack, &tcp_of(stack)->ehash, g.dst, g.dport, g.src, g.sport);
	if (!n) {
		struct tn_sock *l = tcp_lookup_listener(stack, g.dst, g.dport, g.src, g.sport);
		if (l)
			listen_input(stack, l, &g, 0);
		else
			tcp_reset_reply(stack, &g);
	} else if (n->kind == TN_HNODE_TW) {
		tcp_tw_input(stack, tn_tw_of_node(n), &g);
	} else if (n->kind == TN_HNODE_REQ) {
		req_input(stack, tcp_req_of_node(n), &g);
	} else {
		struct tn_sock *s = tcp_sock_of_node(n);
		if (s->state == TN_TCP_SYN_SENT)
			syn_sent_input(s, &g);
		else
			synchronized_input(s, &g);
	}
	tcp_leave(stack);
}

/* ---- ICMP errors about our segments (RFC 5927, RFC 1122 4.2.3.9) */
static int icmp_unreach_errno(uint8_t code)
{
	switch (code) {
	case TN_ICMP_UNREACH_NET:
		return -ENETUNREACH;
	case TN_ICMP_UNREACH_PROTOCOL:
		return -ENOPROTOOPT;
	case TN_ICMP_UNREACH_PORT:
		return -ECONNREFUSED;
	case TN_ICMP_UNREACH_NEEDFRAG:
		return -EMSGSIZE;
	default:
		return -EHOSTUNREACH;
	}
}

/*
 * Path MTU discovery (RFC 1191): a router on the way said our DF segment
 * was too big. An old router leaves the MTU out: then the next plateau
 * below the quoted datagram's size (RFC 1191 7) is the guess.
 */
static uint32_t pmtu_from_icmp(uint16_t next_hop_mtu, const uint8_t *orig_ip)
{
	static const uint16_t plateaus[] = { 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68 };
	uint32_t sent = tn_get16(orig_ip + 2);

	if (next_hop_mtu)
		return next_hop_mtu < sent ? next_hop_mtu : 0; /* not smaller: nonsense */
	for (size_t i = 0; i < sizeof(plateaus) / sizeof(plateaus[0]); i++)
		if (plateaus[i] < sent)
			return plateaus[i];
	return 0;
}

/*
 * Segments of the new size from now on; what is in flight was too big to
 * arrive, so it goes again at once in smaller segments, without counting
 * as congestion (Linux's tcp_simple_retransmit).
 */
static void pmtu_lower(struct tn_sock *s, uint32_t mtu)
{
	if (mtu < TCP_PMTU_MIN)
		mtu = TCP_PMTU_MIN; /* like Linux's min_pmtu: never below 552 */
	uint32_t mss = mss_for_mtu(s, mtu);
	if (mss >= s->mss)
		return;
	s->mss = mss;
	TCP_CTR(s, TcpExtTCPPMTUDecreases);
	if (seq_lt(s->snd_una, s->snd_max)) {
		tcp_sack_mark_all_lost(s);
		tcp_output(s);
	}
}

void tn_tcp_icmp_error(struct tn_stack *stack, uint8_t type, uint8_t code, uint16_t next_hop_mtu,
		       const uint8_t *orig_ip, size_t len)
{
	size_t hl = (size_t)(orig_ip[0] & 0x0f) * 4;
	if (type != TN_ICMP_DEST_UNREACH || len < hl + 8)
		return;
	const uint8_t *th = orig_ip + hl;
	struct tn_sock *s = tcp_lookup(stack, tn_get32(orig_ip + 12), tn_get16(th), tn_get32(orig_ip + 16),
				       tn_get16(th + 2));
	if (!s)
		return;
	uint32_t seq = tn_get32(th + 4);
	/* Only errors quoting data in flight are believable (RFC 5927 4.1). */
	if (seq_lt(seq, s->snd_una) || seq_gt(seq, s->snd_max))
		return;
	tcp_enter(stack);
	int err = icmp_unreach_errno(code);
	if (s->state == TN_TCP_SYN_SENT && code != TN_ICMP_UNREACH_NEEDFRAG) {
		tcp_done(s, err); /* like Linux: the handshake fails at once */
	} else if (code != TN_ICMP_UNREACH_NEEDFRAG) {
		s->soft_err = err; /* reported only if the connection then times out */
	} else {
		uint32_t mtu = pmtu_from_icmp(next_hop_mtu, orig_ip);
		if (mtu)
			pmtu_lower(s, mtu);
	}
	tcp_leave(stack);
}
