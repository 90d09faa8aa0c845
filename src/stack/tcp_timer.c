/*
 * tcp_timer.c - the timers of a connection and the RTO estimator.
 *
 *   rtx_timer     retransmission (RFC 6298, Karn, exponential backoff),
 *                 SYN/SYN-ACK retries, and the persist timer (zero window)
 *   delack_timer  delayed ACK (RFC 1122 4.2.3.2, 40 ms like Linux)
 *   ka_timer      keepalive (RFC 1122 4.2.3.6); lifetime of an orphaned
 *                 FIN_WAIT_2 (fin_timeout). TIME_WAIT has no socket and no
 *                 timer of its own: the table keeps one for all entries.
 *   cork_timer    TCP_CORK's ceiling: a partial segment corked for 200 ms
 *                 goes out (tcp(7): "a 200 millisecond ceiling").
 *   wnd_timer     repeats the window update that reopened a closed or small
 *                 window while no data comes (see tcp_wnd_reopened).
 */
#include "tcp.h"

#include <errno.h>
#include <stddef.h>

#define sock_of(t, member) ((struct tn_sock *)((char *)(t) - offsetof(struct tn_sock, member)))

static uint64_t us_to_ns(uint64_t us) { return us * 1000; }

uint32_t tcp_rto_min_us(const struct tn_sock *s)
{
	return s->stack->cfg.tcp_rto_min_ms * 1000;
}

static uint32_t rto_max_us(const struct tn_sock *s)
{
	return s->stack->cfg.tcp_rto_max_ms * 1000;
}

/*
 * RFC 6298 2.2/2.3 with Linux's floor: RTO = SRTT + max(4*RTTVAR, rto_min),
 * so a steady, tiny RTT still leaves room for a delayed ACK.
 */
void tcp_rtt_sample(struct tn_sock *s, uint32_t rtt_us)
{
	if (rtt_us == 0)
		rtt_us = 1;
	if (s->srtt_us == 0) {
		s->srtt_us = rtt_us;
		s->rttvar_us = rtt_us / 2;
	} else {
		uint32_t diff = s->srtt_us > rtt_us ? s->srtt_us - rtt_us : rtt_us - s->srtt_us;
		s->rttvar_us = (3 * s->rttvar_us + diff) / 4;
		s->srtt_us = (7 * (uint64_t)s->srtt_us + rtt_us) / 8;
	}
	uint64_t rto = (uint64_t)s->srtt_us + max_u32(4 * s->rttvar_us, tcp_rto_min_us(s));
	s->rto_us = (uint32_t)(rto > rto_max_us(s) ? rto_max_us(s) : rto);
	s->backoff = 0;
}

static uint64_t backed_off_rto_ns(const struct tn_sock *s)
{
	uint64_t rto = (uint64_t)s->rto_us << (s->backoff > 20 ? 20 : s->backoff);
	if (rto > rto_max_us(s))
		rto = rto_max_us(s);
	return us_to_ns(rto);
}

static void arm(struct tn_sock *s, struct tn_timer *t, uint64_t delay_ns)
{
	/* Out of memory for the heap: the next segment or API call re-arms it. */
	(void)tn_timer_arm(s->stack, t, tn_now(s->stack) + delay_ns);
}

void tcp_rearm_rtx(struct tn_sock *s)
{
	s->persist = false;
	s->rtx_kind = TCP_RTX_RTO;
	if (s->snd_una == s->snd_max) {
		tn_timer_cancel(s->stack, &s->rtx_timer);
		return;
	}
	arm(s, &s->rtx_timer, backed_off_rto_ns(s));
}

void tcp_arm_rtx_if_idle(struct tn_sock *s)
{
	if (tn_timer_armed(&s->rtx_timer) && !s->persist)
		return;
	tcp_arm_loss_timer(s, 0);
}

/*
 * RFC 8985 7.2: one probe at a time, once the RTT is known. Unlike Linux,
 * also in fast recovery and after a timeout once an ACK has come (retries
 * back to 0): when a retransmission and what followed it are lost, nothing
 * else would tell before the RTO, and on a link with a 50 us RTT the
 * 200 ms RTO costs thousands of round trips (tcp_send_loss_probe).
 */
static bool tlp_allowed(const struct tn_sock *s)
{
	return s->sack_ok && s->srtt_us && !(s->in_loss && s->retries) && !s->tlp_out &&
	       s->state != TN_TCP_SYN_SENT && s->state != TN_TCP_SYN_RECEIVED;
}

/*
 * RFC 8985 7.2: PTO = 2 SRTT, plus the peer's worst delayed ACK when a
 * single segment is out (its ACK may be held back), never past the RTO.
 * Linux adds 2 ms with more in flight (TCP_TIMEOUT_MIN_US, a jiffy-era
 * floor); on tap0, where an SRTT is tens of microseconds, that is 2 ms
 * more for every lost tail (bench/loss with offloads, 1 % loss: 7.2-9.0
 * Gbit/s with it against 10.1-10.4 without, two rounds each). A probe
 * for an ACK that was only late costs a segment and no window
 * (tlp_episode_ack).
 */
static uint64_t pto_ns(const struct tn_sock *s)
{
	uint64_t pto = 2 * (uint64_t)s->srtt_us;
	if (s->snd_max - s->snd_una <= s->mss)
		pto += tcp_rto_min_us(s);
	if (pto < 1000)
		pto = 1000; /* a timer finer than this is noise */
	if (pto > s->rto_us)
		pto = s->rto_us;
	return us_to_ns(pto);
}

void tcp_schedule_loss_probe(struct tn_sock *s)
{
	if (!s->persist && s->rtx_kind != TCP_RTX_REO && tlp_allowed(s))
		tcp_arm_loss_timer(s, 0);
}

void tcp_arm_loss_timer(struct tn_sock *s, uint64_t reo_ns)
{
	s->persist = false;
	if (s->snd_una == s->snd_max) {
		tn_timer_cancel(s->stack, &s->rtx_timer);
		return;
	}
	if (reo_ns) {
		s->rtx_kind = TCP_RTX_REO;
		arm(s, &s->rtx_timer, reo_ns);
	} else if (tlp_allowed(s)) {
			s->rtx_kind = TCP_RTX_PTO;
		arm(s, &s->rtx_timer, pto_ns(s));
	} else {
		s->rtx_kind = TCP_RTX_RTO;
		arm(s, &s->rtx_timer, backed_off_rto_ns(s));
	}
}

void tcp_arm_persist(struct tn_sock *s)
{
	if (tn_timer_armed(&s->rtx_timer))
		return;
	s->persist = true;
	uint64_t rto = (uint64_t)max_u32(s->rto_us, tcp_rto_min_us(s)) << min_u32(s->persist_backoff, 20);
	arm(s, &s->rtx_timer, us_to_ns(rto > rto_max_us(s) ? rto_max_us(s) : rto));
}

void tcp_arm_delack(struct tn_sock *s)
{
	if (!tn_timer_armed(&s->delack_timer))
		arm(s, &s->delack_timer, s->stack->cfg.tcp_delack_ms * TN_NSEC_PER_MSEC);
}

void tcp_arm_lifetime(struct tn_sock *s, uint64_t ms)
{
	arm(s, &s->ka_timer, ms * TN_NSEC_PER_MSEC);
}

static bool keepalive_state(const struct tn_sock *s)
{
	return s->state == TN_TCP_ESTABLISHED || s->state == TN_TCP_CLOSE_WAIT ||
	       s->state == TN_TCP_FIN_WAIT_1 || (s->state == TN_TCP_FIN_WAIT_2 && !s->orphan);
}

void tcp_arm_keepalive(struct tn_sock *s)
{
	if (!s->keepalive || !keepalive_state(s)) {
		if (!(s->state == TN_TCP_FIN_WAIT_2 && s->orphan))
			tn_timer_cancel(s->stack, &s->ka_timer);
		return;
	}
	s->probes = 0;
	uint64_t deadline = s->last_rx_ns + (uint64_t)s->ka_idle_s * TN_NSEC_PER_SEC;
	(void)tn_timer_arm(s->stack, &s->ka_timer, deadline);
}

static uint64_t user_timeout_ns(const struct tn_sock *s)
{
	return (uint64_t)s->user_timeout_ms * TN_NSEC_PER_MSEC;
}

/*
 * Whether the user's timeout (TCP_USER_TIMEOUT, RFC 5482) has run out
 * since since_ns; never when none is set.
 */
static bool user_timed_out(const struct tn_sock *s, uint64_t since_ns)
{
	return s->user_timeout_ms && tn_now(s->stack) - since_ns >= user_timeout_ns(s);
}

/*
 * The next retransmission timeout, cut to fire when the user's timeout
 * ends (Linux's tcp_clamp_rto_to_user_timeout), at least 1 ms ahead.
 */
static uint64_t rto_within_user_timeout_ns(const struct tn_sock *s)
{
	uint64_t rto = backed_off_rto_ns(s);
	if (!s->user_timeout_ms)
		return rto;
	uint64_t end = s->rtx_since_ns + user_timeout_ns(s);
	uint64_t now = tn_now(s->stack);
	uint64_t left = end > now ? end - now : 0;
	if (left < TN_NSEC_PER_MSEC)
		left = TN_NSEC_PER_MSEC;
	return left < rto ? left : rto;
}

/* ---- retransmission timer */
static void syn_timeout(struct tn_sock *s)
{
	uint32_t limit = s->syn_retries ? s->syn_retries /* TCP_SYNCNT */
		       : s->state == TN_TCP_SYN_SENT ? s->stack->cfg.tcp_syn_retries
						     : s->stack->cfg.tcp_synack_retries;
	if (s->retries >= limit) {
		tcp_done(s, -ETIMEDOUT);
		return;
	}
	s->retries++;
	s->backoff++;
	s->rtt_timing = false;
	TCP_CTR(s, TcpExtTCPSynRetrans);
	TCP_CTR(s, TcpRetransSegs);
	s->total_retrans++;
	tcp_send_syn(s);
	arm(s, &s->rtx_timer, backed_off_rto_ns(s));
}

static void data_timeout(struct tn_sock *s)
{
	if (s->snd_una == s->snd_max)
		return;
	/*
	 * The user's timeout, when set, replaces tcp_retries: it counts from
	 * when the timer that fired first was armed (the oldest data's send,
	 * or the last ACK that moved snd_una), and it is checked only once a
	 * retransmission went unanswered, as Linux's retransmits_timed_out.
	 */
	if (s->retries == 0) {
		uint64_t now = tn_now(s->stack), rto = backed_off_rto_ns(s);
		s->rtx_since_ns = now > rto ? now - rto : 0;
	}
	if (s->user_timeout_ms ? s->retries > 0 && user_timed_out(s, s->rtx_since_ns)
			       : s->retries >= s->stack->cfg.tcp_retries) {
		TCP_CTR(s, TcpExtTCPAbortOnTimeout);
		tcp_done(s, -ETIMEDOUT);
		return;
	}
	TCP_CTR(s, TcpExtTCPTimeouts);
	if (s->in_recovery)
		TCP_CTR(s, TcpExtTCPLossFailures);
	if (s->retries == 0 && !s->in_recovery && !s->in_loss) {
		/* A fresh timeout, which the ACKs to come may prove spurious (tcp_in.c). */
		s->prior_ssthresh = max_u32(s->ssthresh, s->cwnd / 2 + s->cwnd / 4);
		s->rto_undo = true;
		/* without SACK a jump of the cumulative ACK may be data held out of order: Eifel only */
		s->frto = s->sack_ok;
		s->frto_high = s->snd_max;
		s->rto_ts = tcp_ts_now(s);
		/*
		 * Linux's tcp_init_undo at a fresh timeout: when every segment it
		 * sends again comes back as a D-SACK duplicate, the originals had
		 * arrived and the timeout was spurious (tcp_sack.c), as Eifel or
		 * F-RTO would have said had they had a timestamp or an original
		 * segment to go by (a lone tail segment without timestamps).
		 */
		s->undo_marker = s->snd_una;
		s->undo_retrans = 0;
		s->undo_armed = true;
		s->undo_rxt_ts_set = false;
	} else if (s->in_recovery) {
		s->rto_undo = false; /* the recovery's own reduction stands (Linux: no undo either) */
		s->frto = false;
		s->undo_armed = false;
	}
	/* RFC 5681 (4): a segment lost again keeps the ssthresh of the first loss. */
	if (s->retries == 0 || s->in_recovery) {
		s->ssthresh = s->cc->ssthresh(s);
		s->prior_cwnd = s->cwnd;
	}
	s->cc->on_timeout(s);
	s->cwnd = s->mss;
	s->cwnd_cnt = 0;
	s->in_recovery = false;
	s->in_loss = true;
	s->tlp_out = false;
	s->dupacks = 0;
	s->recover = s->snd_max; /* RFC 6582 4.1: no fast retransmit for what was sent before */
	/*
	 * Everything not SACKed is lost and goes again in slow start, lowest
	 * first (Linux's tcp_timeout_mark_lost); SACK information the peer
	 * reneged on is forgotten (RFC 6675 5.1).
	 */
	tcp_sack_mark_all_lost(s);
	s->rtt_timing = false;
	s->retries++;
	s->backoff++;
	s->rtx_kind = TCP_RTX_RTO;
	arm(s, &s->rtx_timer, rto_within_user_timeout_ns(s));
	tcp_output(s);
}

static void pto_timeout(struct tn_sock *s)
{
	if (!tlp_allowed(s)) {
		tcp_rearm_rtx(s);
		return;
	}
	TCP_CTR(s, TcpExtTCPLossProbes);
	tcp_send_loss_probe(s);
	tcp_rearm_rtx(s);
}

/* RFC 8985 6.3: the reordering window of a suspect segment ran out. */
static void reo_timeout(struct tn_sock *s)
{
	s->rtx_kind = TCP_RTX_RTO;
	tcp_detect_loss(s, 0, true);
	tcp_output(s);
}

/*
 * Zero-window probes (RFC 9293 3.8.6.1). probes counts the unanswered ones
 * (any ACK resets it) and ends the connection at tcp_retries; while the
 * peer answers, RFC 1122 4.2.2.17 says to keep probing, at intervals backed
 * off by persist_backoff (reset only when the window opens). An orphan has
 * nobody waiting for the outcome: like Linux (tcp_probe_timer with
 * tcp_orphan_retries on the backoff) it gives up after tcp_retries probes
 * even if they are answered, so a close into a zero window cannot hang
 * forever (CONFORMANCE 26).
 */
static void persist_timeout(struct tn_sock *s)
{
	s->persist = false;
	uint32_t unsent = s->snd_una + s->sndbuf.len - s->snd_nxt;
	if ((s->snd_wnd > 0 && !tcp_orphan_window_starved(s)) || (!unsent && !s->fin_queued)) {
		s->probes = 0;
		s->persist_backoff = 0;
		tcp_output(s);
		if (s->snd_una == s->snd_max && s->snd_wnd > 0 && unsent)
			tcp_fill_window(s); /* the window is open, but too little to use */
		if (s->snd_una == s->snd_max && unsent)
			tcp_arm_persist(s);
		return;
	}
	uint32_t limit = s->stack->cfg.tcp_retries;
	/* the user's timeout also ends a zero window the peer keeps answering for (Linux) */
	if (s->probes >= limit || (s->orphan && s->persist_backoff >= limit) ||
	    (s->persist_backoff && user_timed_out(s, s->probe_since_ns))) {
		TCP_CTR(s, TcpExtTCPAbortOnTimeout);
		tcp_done(s, -ETIMEDOUT);
		return;
	}
	s->probes++;
	if (!s->persist_backoff)
		s->probe_since_ns = tn_now(s->stack); /* the first probe of this zero window */
	if (s->persist_backoff < 255)
		s->persist_backoff++;
	TCP_CTR(s, TcpExtTCPWinProbe);
	tcp_send_probe(s);
	tcp_arm_persist(s);
}

static void rtx_fire(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_sock *s = sock_of(t, rtx_timer);
	tcp_enter(stack);
	switch (s->state) {
	case TN_TCP_SYN_SENT:
	case TN_TCP_SYN_RECEIVED:
		syn_timeout(s);
		break;
	case TN_TCP_CLOSED:
	case TN_TCP_LISTEN:
		break;
	default:
		if (s->persist)
			persist_timeout(s);
		else if (s->rtx_kind == TCP_RTX_PTO)
			pto_timeout(s);
		else if (s->rtx_kind == TCP_RTX_REO)
			reo_timeout(s);
		else
			data_timeout(s);
		break;
	}
	tcp_leave(stack);
}

static void delack_fire(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_sock *s = sock_of(t, delack_timer);
	tcp_enter(stack);
	if (s->rcv_acked != s->rcv_nxt || s->ack_now) {
		TCP_CTR(s, TcpExtDelayedACKs);
		tcp_send_ack(s);
	}
	tcp_leave(stack);
}

/* As Linux: corked output waits at most this long (tcp(7), TCP_CORK). */
#define TCP_CORK_CEILING_NS (200 * TN_NSEC_PER_MSEC)

void tcp_arm_cork(struct tn_sock *s)
{
	if (!tn_timer_armed(&s->cork_timer))
		arm(s, &s->cork_timer, TCP_CORK_CEILING_NS);
}

static void cork_fire(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_sock *s = sock_of(t, cork_timer);
	tcp_enter(stack);
	s->cork_push = true; /* what waits goes now; what comes later waits again */
	tcp_output(s);
	s->cork_push = false;
	tcp_leave(stack);
}

static void keepalive_timeout(struct tn_sock *s)
{
	uint64_t now = tn_now(s->stack);
	uint64_t idle_ns = (uint64_t)s->ka_idle_s * TN_NSEC_PER_SEC;
	/* Outstanding data has its own timer; keepalive is only for silence. */
	if (s->snd_una != s->snd_max || s->sndbuf.len > 0) {
		arm(s, &s->ka_timer, idle_ns);
		return;
	}
	if (now - s->last_rx_ns < idle_ns && s->probes == 0) {
		(void)tn_timer_arm(s->stack, &s->ka_timer, s->last_rx_ns + idle_ns);
		return;
	}
	/* with the user's timeout, silence for that long ends it, not a count of probes */
	if (s->user_timeout_ms ? s->probes > 0 && user_timed_out(s, s->last_rx_ns)
			       : s->probes >= s->ka_probes) {
		tcp_send_rst(s);
		tcp_done(s, -ETIMEDOUT);
		return;
	}
	s->probes++;
	TCP_CTR(s, TcpExtTCPKeepAlive);
	tcp_send_probe(s);
	arm(s, &s->ka_timer, (uint64_t)s->ka_intvl_s * TN_NSEC_PER_SEC);
}

static void ka_fire(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_sock *s = sock_of(t, ka_timer);
	tcp_enter(stack);
	switch (s->state) {
	case TN_TCP_FIN_WAIT_2:
		if (s->orphan) {
			tcp_done(s, 0);
			break;
		}
		/* fall through */
	default:
		if (s->keepalive && keepalive_state(s))
			keepalive_timeout(s);
		break;
	}
	tcp_leave(stack);
}

/*
 * A read sends a window update when the window the sender has left is less
 * than half the buffer (maybe_window_update, the only place a window
 * reopens). After a zero window that update is all that restarts the
 * sender; if it is lost, the sender waits for its persist timer (Linux's is
 * the RTO, 200 ms at least, then doubling). After a small one, once the
 * reader has emptied the buffer no later read sends another, and a sender
 * that used up the old window waits for a tail loss probe or its RTO. A receiver slower than its sender
 * closes and reopens its window all the time, and a link that loses a few
 * percent then stalls the connection again and again. So while no data has
 * come since (and none of ours carried the window), the update goes again:
 * after two round trips (5 ms while no RTT is known; within 1 to 200 ms),
 * then after twice that. An update the sender did get costs it a pure ACK
 * it ignores (no data in flight: not a duplicate ACK; with data in flight
 * the sender's segments cancel the repeat).
 */
#define TCP_WND_REPEATS 2
#define TCP_WND_REPEAT_NO_RTT_NS (5 * TN_NSEC_PER_MSEC)

static void arm_wnd_repeat(struct tn_sock *s)
{
	uint64_t ns = s->srtt_us ? 2 * (uint64_t)s->srtt_us * 1000 : TCP_WND_REPEAT_NO_RTT_NS;
	if (ns < TN_NSEC_PER_MSEC)
		ns = TN_NSEC_PER_MSEC;
	if (ns > 200 * TN_NSEC_PER_MSEC)
		ns = 200 * TN_NSEC_PER_MSEC;
	arm(s, &s->wnd_timer, ns << (TCP_WND_REPEATS - s->wnd_repeats));
}

void tcp_wnd_reopened(struct tn_sock *s)
{
	s->wnd_repeats = TCP_WND_REPEATS;
	s->wnd_reopen_seq = s->rcv_nxt;
	s->wnd_reopen_snd = s->snd_nxt;
	arm_wnd_repeat(s);
}

static void wnd_fire(struct tn_stack *stack, struct tn_timer *t)
{
	struct tn_sock *s = sock_of(t, wnd_timer);
	tcp_enter(stack);
	bool open_state = s->state == TN_TCP_ESTABLISHED || s->state == TN_TCP_FIN_WAIT_1 ||
			  s->state == TN_TCP_FIN_WAIT_2;
	if (s->wnd_repeats && s->rcv_nxt == s->wnd_reopen_seq && s->snd_nxt == s->wnd_reopen_snd &&
	    !s->zero_wnd_adv && open_state && !s->fin_rcvd) {
		TCP_CTR(s, TcpWindowUpdateRepeats);
		tcp_send_ack(s);
		if (--s->wnd_repeats)
			arm_wnd_repeat(s);
	}
	tcp_leave(stack);
}

void tcp_timers_init(struct tn_sock *s)
{
	tn_timer_init(&s->rtx_timer, rtx_fire);
	tn_timer_init(&s->delack_timer, delack_fire);
	tn_timer_init(&s->ka_timer, ka_fire);
	tn_timer_init(&s->cork_timer, cork_fire);
	tn_timer_init(&s->wnd_timer, wnd_fire);
}

void tcp_timers_stop(struct tn_sock *s)
{
	tn_timer_cancel(s->stack, &s->rtx_timer);
	tn_timer_cancel(s->stack, &s->delack_timer);
	tn_timer_cancel(s->stack, &s->ka_timer);
	tn_timer_cancel(s->stack, &s->cork_timer);
	tn_timer_cancel(s->stack, &s->wnd_timer);
	s->persist = false;
}
