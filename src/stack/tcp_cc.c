/*
 * tcp_cc.c - the congestion control interface and what every algorithm
 * shares: RFC 5681 slow start counting the bytes each ACK acknowledges
 * (RFC 3465 without its per-ACK limit, as Linux's tcp_slow_start),
 * HyStart++ (RFC 9406) in the first slow start, and Reno's additive
 * increase.
 */
#include "tcp.h"

const struct tcp_cc_ops *tcp_cc_get(uint8_t which)
{
	return which == TN_TCP_CC_NEWRENO ? &tcp_cc_newreno : &tcp_cc_cubic;
}

const struct tcp_cc_ops *tcp_cc_by_name(const char *name, size_t len)
{
	const struct tcp_cc_ops *all[] = { &tcp_cc_cubic, &tcp_cc_newreno };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strlen(all[i]->name) == len && memcmp(all[i]->name, name, len) == 0)
			return all[i];
	return NULL;
}

/* RFC 9406 4.3's constants */
#define HYSTART_MIN_RTT_THRESH_US 4000
#define HYSTART_MAX_RTT_THRESH_US 16000
#define HYSTART_MIN_RTT_DIVISOR 8
#define HYSTART_N_RTT_SAMPLE 8
#define HYSTART_CSS_GROWTH_DIVISOR 4
#define HYSTART_CSS_ROUNDS 5

static void hystart_new_round(struct tn_sock *s)
{
	struct tcp_hystart *h = &s->hystart;
	h->window_end = s->snd_nxt;
	h->last_round_min_rtt = h->cur_round_min_rtt;
	h->cur_round_min_rtt = UINT32_MAX;
	h->samples = 0;
}

void tcp_hystart_on_ack(struct tn_sock *s, uint32_t ack, uint32_t rtt_us)
{
	struct tcp_hystart *h = &s->hystart;
	/* only the first slow start: after a loss ssthresh says where to stop */
	if (s->ssthresh != UINT32_MAX || s->cwnd >= s->ssthresh)
		return;
	if (!h->started) {
		h->started = true;
		h->cur_round_min_rtt = UINT32_MAX;
		h->css_baseline_min_rtt = UINT32_MAX;
		hystart_new_round(s);
	} else if (seq_ge(ack, h->window_end)) {
		if (h->in_css && ++h->css_rounds >= HYSTART_CSS_ROUNDS) {
			/* RFC 9406 4.2: the RTT stayed up for CSS_ROUNDS: congestion avoidance */
			s->ssthresh = s->cwnd;
			h->in_css = false;
			return;
		}
		hystart_new_round(s);
	}
	if (!rtt_us)
		return;
	if (rtt_us < h->cur_round_min_rtt)
		h->cur_round_min_rtt = rtt_us;
	if (h->samples < 255)
		h->samples++;
	if (h->samples < HYSTART_N_RTT_SAMPLE || h->last_round_min_rtt == UINT32_MAX)
		return;
	if (!h->in_css) {
		uint32_t thresh = h->last_round_min_rtt / HYSTART_MIN_RTT_DIVISOR;
		thresh = max_u32(HYSTART_MIN_RTT_THRESH_US, min_u32(thresh, HYSTART_MAX_RTT_THRESH_US));
		if (h->cur_round_min_rtt >= h->last_round_min_rtt + thresh) {
			TCP_CTR(s, TcpExtTCPHystartDelayDetect);
			h->in_css = true;
			h->css_rounds = 0;
			h->css_baseline_min_rtt = h->cur_round_min_rtt;
		}
	} else if (h->cur_round_min_rtt < h->css_baseline_min_rtt) {
		/* the RTT came back down: the rise was noise, slow start again */
		h->in_css = false;
		h->css_baseline_min_rtt = UINT32_MAX;
	}
}

/*
 * Every byte an ACK acknowledges counts, as in Linux's tcp_slow_start: no
 * RFC 3465 limit of L = 2 segments per ACK. An ACK that acknowledges
 * many segments at once is common here: a receiver with GRO acknowledges
 * a TSO frame's worth, and the ACK that fills a hole the network
 * reordered covers everything SACKed above it, which no ACK counted
 * before. With L = 2, slow start on a 100 ms path with 5 % of the frames
 * 1 ms late grew by half or less per round trip and sent at 0.6 of the
 * kernel's rate in 4 s (bench/longpath -r 5 -x 1000 4 100); RFC 9406 asks
 * L = 8 of an unpaced sender, which would still lose the reordered
 * path's growth, and Linux, unpaced with CUBIC too, takes no limit.
 * Returns the acked bytes left over once cwnd reached ssthresh.
 */
uint32_t tcp_cc_slow_start(struct tn_sock *s, uint32_t acked)
{
	uint32_t inc = acked;
	if (s->hystart.in_css)
		inc /= HYSTART_CSS_GROWTH_DIVISOR; /* conservative slow start */
	uint32_t room = s->ssthresh > s->cwnd ? s->ssthresh - s->cwnd : 0;
	if (inc > room) {
		s->cwnd += room;
		return acked > room ? acked - room : 0;
	}
	s->cwnd += inc;
	return 0;
}

/* RFC 5681 3.1: about one MSS per RTT, counted in bytes. */
void tcp_cc_cong_avoid_reno(struct tn_sock *s, uint32_t acked)
{
	s->cwnd_cnt += acked;
	if (s->cwnd_cnt >= s->cwnd) {
		s->cwnd_cnt -= s->cwnd;
		s->cwnd += s->mss;
	}
}
