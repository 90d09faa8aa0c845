/*
 * check_close.c - connection teardown and TIME_WAIT, one or more tests per
 * item of CONFORMANCE.md, driven by crafted segments from the peer
 * (10.0.0.1, tcp_peer.h) with the fake clock. Two cores on a simulated wire
 * are in tests/sim/check_close_sim.c; the table alone in check_timewait.c.
 *
 * CONFORMANCE item -> the tests that prove it
 *  1 active close, last ACK at once   check_close: active_close_sequence
 *                                     check_tcp: active_close_to_time_wait
 *  2 FIN+ACK in one segment -> TW     check_close: fin_and_ack_together
 *                                     check_tcp: fin_ack_in_one_segment
 *  3 passive close, no TIME_WAIT      check_close: passive_close_leaves_no_time_wait
 *                                     check_tcp: passive_close
 *                                     check_close_sim: passive_side_keeps_no_time_wait
 *  4 simultaneous close               check_tcp: simultaneous_close
 *                                     check_close_sim: simultaneous_close_both_time_wait
 *  5 half-close                       check_close: half_close_still_receives
 *  6 data for an orphan -> RST        check_tcp: orphan_data_and_unread_close_reset
 *                                     check_close: orphan_fin_wait_2_data_resets
 *  7 unread data / linger 0 -> RST    check_tcp: orphan_data_and_unread_close_reset
 *                                     check_close: linger_zero_resets_without_time_wait
 *  8 data before FIN, FIN backs off   check_close: queued_data_goes_before_fin
 *                                     check_close: fin_retransmitted_with_backoff
 *  9 FIN_WAIT_2 orphan timeout        check_close: fin_wait_2_orphan_times_out
 * 10 LAST_ACK/FIN_WAIT_1/CLOSING      check_close: last_ack_gives_up, fin_wait_1_gives_up,
 *    give up                                       closing_gives_up
 * 11 RST for no socket                check_tcp: rst_for_closed_port
 *                                     check_close: time_wait_expires_then_rst
 * 12 duration, configurable           check_close: time_wait_lasts_2msl,
 *                                                  time_wait_expires_then_rst (short value)
 * 13 retransmitted FIN re-ACKed,      check_close: lost_last_ack_fin_reacked_and_restarts,
 *    timer restarts                                lost_last_ack_with_timestamps
 *                                     check_close_sim: lost_last_ack
 *                                     check_timewait: retransmitted_fin_is_acked_and_restarts
 * 14 other segments: rate-limited ACK check_close: time_wait_other_segments_ratelimited
 *                                     check_timewait: other_segments_get_ratelimited_acks...
 * 15 RST in TIME_WAIT, rfc1337 0/1    check_close: rst_in_time_wait_kills, rst_in_time_wait_rfc1337
 *                                     check_timewait: rst_kills_unless_rfc1337
 * 16 SYN reuse (RFC 6191)             check_close: syn_reuse_without_timestamps,
 *                                                  syn_reuse_with_timestamps,
 *                                                  old_syn_in_time_wait_is_acked,
 *                                                  syn_in_time_wait_without_listener,
 *                                                  old_duplicate_rejected_by_new_incarnation,
 *                                                  old_duplicate_paws_rejected_by_new_incarnation
 *                                     check_close_sim: syn_reuse_no_timestamps, syn_reuse_timestamps
 *                                     check_timewait: new_syn_reuses_per_rfc6191
 * 17 PAWS                             check_close: paws_in_time_wait, paws_established
 * 18 ephemeral ports skip TW          check_close: ephemeral_port_skips_time_wait,
 *                                                  tw_reuse_takes_tuple_with_timestamps,
 *                                                  tw_reuse_needs_timestamps
 * 19 bind() and SO_REUSEADDR          check_close: bind_over_time_wait,
 *                                                  bind_over_time_wait_needs_reuse_on_both
 * 20 overflow policies                check_close: overflow_drop, overflow_evict_oldest
 *                                     check_close_sim: churn_keeps_table_bounded
 *                                     check_timewait: overflow_drop_keeps_old_entries,
 *                                                     overflow_evict_oldest_makes_room
 * 21 64 bytes, O(1), O(N) expiry      tcp_timewait.h: _Static_assert of the entry's size
 *                                     check_close: entry_is_compact_and_socket_is_freed,
 *                                                  stack_free_with_live_and_time_wait
 *                                     check_timewait: expiry_follows_insertion_order,
 *                                                     many_entries_expire_in_one_pass
 * 22 counters, listing                check_close: counters_and_listing
 * 23 RFC 5961 challenge ACKs          check_tcp: challenge_acks
 *                                     check_close: challenge_acks_are_rate_limited
 * 24 out-of-window -> ACK, dropped    check_close: out_of_window_acked_and_dropped
 * 25 keepalive                        check_close: keepalive_detects_dead_peer,
 *                                                  keepalive_answered_keeps_connection
 * 26 zero-window close                check_close: zero_window_close_gives_up,
 *                                                  zero_window_owner_keeps_probing
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "stack/tcp.h"
#include "stack_harness.h"
#include "tcp_peer.h"

#define MS TN_NSEC_PER_MSEC
#define SEC TN_NSEC_PER_SEC

/* ---- helpers */

static struct tn_tw_info tw_entry(struct harness *h, size_t i)
{
	struct tn_tw_info info[8];
	size_t n = tn_timewait_list(h->stack, info, 8);
	ck_assert_uint_gt(n, i);
	return info[i];
}

/* State of the one connection besides listeners (TN_TCP_CLOSED if none). */
static enum tn_tcp_state conn_state(struct harness *h)
{
	struct tn_sock_info info[8];
	size_t n = tn_sock_list(h->stack, info, 8);
	for (size_t i = 0; i < n && i < 8; i++)
		if (info[i].state != TN_TCP_LISTEN)
			return info[i].state;
	return TN_TCP_CLOSED;
}

static size_t conns(struct harness *h)
{
	struct tn_sock_info info[8];
	size_t n = tn_sock_list(h->stack, info, 8), c = 0;
	for (size_t i = 0; i < n && i < 8; i++)
		c += info[i].state != TN_TCP_LISTEN;
	return c;
}

/*
 * The stack closes first: its FIN, the peer's FIN+ACK (with opt), the
 * stack's last ACK. Afterwards c->rcv is the entry's snd_nxt and c->snd its
 * rcv_nxt; the output is cleared.
 */
static void close_to_time_wait(struct conn *c, const uint8_t *opt, size_t optlen)
{
	tn_sock_close(c->s);
	struct oseg o = last_only(c->h);
	ck_assert_uint_eq(o.flags, TCP_FIN | TCP_ACK);
	h_clear(c->h);
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv + 1, .flags = TCP_FIN | TCP_ACK,
				       .opt = opt, .optlen = optlen});
	o = last_only(c->h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c->snd + 1);
	c->rcv++;
	c->snd++;
	h_clear(c->h);
	ck_assert_uint_eq(tn_timewait_count(c->h->stack), 1);
}

/* Advances until the stack sends a TCP segment (at most limit); returns the time waited. */
static uint64_t wait_segment(struct harness *h, uint64_t limit, struct oseg *o)
{
	uint64_t start = h->now;
	while (tcp_out_count(h) == 0 && h->now - start < limit) {
		uint64_t next = tn_stack_next_deadline(h->stack);
		if (next != TN_TIME_NEVER && next < h->now)
			next = h->now; /* already due */
		if (next == TN_TIME_NEVER || next - start > limit) {
			h_advance(h, start + limit - h->now);
			break;
		}
		h_advance(h, next > h->now ? next - h->now : 0);
	}
	if (tcp_out_count(h))
		*o = last_only(h);
	return h->now - start;
}

/* The stack closes the connection from rport first, through to TIME_WAIT. */
static void close_first(struct harness *h, struct tn_sock *s, uint16_t rport, uint32_t peer_seq,
			uint32_t our_seq)
{
	tn_sock_close(s);
	h_clear(h);
	peer_send(h, &(struct pseg){.seq = peer_seq, .ack = our_seq + 1, .flags = TCP_FIN | TCP_ACK,
				    .sport = rport});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	h_clear(h);
}

static struct tn_config ts_config(void)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_timestamps = true;
	return cfg;
}

/* ---- 1-8: the close paths */

START_TEST(active_close_sequence)
{
	struct conn c = open_passive();
	tn_sock_close(c.s);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_FIN | TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_int_eq(conn_state(c.h), TN_TCP_FIN_WAIT_1);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_int_eq(conn_state(c.h), TN_TCP_FIN_WAIT_2);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_FIN | TCP_ACK});
	/* The last ACK goes at once, not after the delayed-ACK timeout. */
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv + 1);
	ck_assert_uint_eq(o.ack, c.snd + 1);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	struct tn_tw_info e = tw_entry(c.h, 0);
	ck_assert_uint_eq(e.local_addr, H_STACK_IP);
	ck_assert_uint_eq(e.local_port, LPORT);
	ck_assert_uint_eq(e.remote_addr, H_PEER_IP);
	ck_assert_uint_eq(e.remote_port, RPORT);
	ck_assert_uint_eq(e.remaining_ms, 60000);
	ck_assert_uint_eq(e.snd_nxt, c.rcv + 1);
	ck_assert_uint_eq(e.rcv_nxt, c.snd + 1);
	close_conn(&c);
}
END_TEST

START_TEST(fin_and_ack_together)
{
	struct conn c = open_passive();
	tn_sock_close(c.s);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_FIN | TCP_ACK});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd + 1);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	close_conn(&c);
}
END_TEST

START_TEST(passive_close_leaves_no_time_wait)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK});
	c.snd++;
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSE_WAIT);
	char b[4];
	ck_assert_int_eq(tn_sock_recv(c.s, b, sizeof(b)), 0); /* EOF */
	h_clear(c.h);
	tn_sock_close(c.s);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_FIN | TCP_ACK);
	ck_assert_int_eq(conn_state(c.h), TN_TCP_LAST_ACK);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	close_conn(&c);
}
END_TEST

START_TEST(half_close_still_receives)
{
	struct conn c = open_passive();
	ck_assert_int_eq(tn_sock_shutdown(c.s, TN_SHUT_WR), 0);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_FIN | TCP_ACK);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_FIN_WAIT_2);
	ck_assert_int_eq(tn_sock_send(c.s, "x", 1), -EPIPE);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK | TCP_PSH,
				      .data = "still", .len = 5});
	c.snd += 5;
	char b[16];
	ck_assert_int_eq(tn_sock_recv(c.s, b, sizeof(b)), 5);
	ck_assert_int_eq(memcmp(b, "still", 5), 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK | TCP_FIN,
				      .data = "open", .len = 4});
	ck_assert_int_eq(tn_sock_recv(c.s, b, sizeof(b)), 4);
	ck_assert_int_eq(memcmp(b, "open", 4), 0);
	ck_assert_int_eq(tn_sock_recv(c.s, b, sizeof(b)), 0); /* the peer's FIN */
	/* We closed first: TIME_WAIT is in the table, the handle sees CLOSED. */
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSED);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	tn_sock_close(c.s);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	close_conn(&c);
}
END_TEST

START_TEST(orphan_fin_wait_2_data_resets)
{
	struct conn c = open_passive();
	tn_sock_close(c.s);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_int_eq(conn_state(c.h), TN_TCP_FIN_WAIT_2);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK, .data = "x", .len = 1});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv + 1);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnData), 1);
	close_conn(&c);
}
END_TEST

START_TEST(linger_zero_resets_without_time_wait)
{
	struct conn c = open_passive();
	ck_assert_int_eq(tn_sock_set_linger(c.s, true, 0), 0);
	tn_sock_close(c.s);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnLinger), 1);
	h_clear(c.h);
	/* The 4-tuple is free at once: the peer's next segment finds no socket. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_RST);
	close_conn(&c);
}
END_TEST

START_TEST(queued_data_goes_before_fin)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .zero_wnd = true});
	ck_assert_int_eq(tn_sock_send(c.s, "queued", 6), 6);
	tn_sock_close(c.s);
	ck_assert_uint_eq(tcp_out_count(c.h), 0); /* neither the data nor the FIN passes the window */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK}); /* window opens */
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.len, 6);
	ck_assert_int_eq(memcmp(o.data, "queued", 6), 0);
	ck_assert_uint_eq(o.flags & TCP_FIN, TCP_FIN); /* the FIN rides on the last data */
	close_conn(&c);
}
END_TEST

START_TEST(fin_retransmitted_with_backoff)
{
	struct conn c = open_passive();
	tn_sock_close(c.s);
	h_clear(c.h);
	/* RTO after the handshake: ~0 RTT -> rto_min 200 ms, then doubling. */
	uint64_t expect_ms[] = {200, 400, 800, 1600};
	for (size_t i = 0; i < TN_ARRAY_SIZE(expect_ms); i++) {
		struct oseg o;
		uint64_t waited = wait_segment(c.h, 10 * SEC, &o);
		ck_assert_uint_eq(o.flags, TCP_FIN | TCP_ACK);
		ck_assert_uint_eq(o.seq, c.rcv);
		ck_assert_uint_ge(waited, expect_ms[i] * MS);
		ck_assert_uint_le(waited, expect_ms[i] * MS + MS);
		h_clear(c.h);
	}
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 4);
	close_conn(&c);
}
END_TEST

/* ---- 9, 10: orphans do not live forever */

START_TEST(fin_wait_2_orphan_times_out)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_fin_timeout_ms = 5000;
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	tn_sock_close(c.s);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_int_eq(conn_state(c.h), TN_TCP_FIN_WAIT_2);
	h_advance(c.h, 4999 * MS);
	ck_assert_int_eq(conn_state(c.h), TN_TCP_FIN_WAIT_2);
	h_advance(c.h, 1 * MS);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(tcp_out_count(c.h), 0); /* freed quietly (Linux too) */
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	close_conn(&c);

	/* The default is 60 s; an owner still holding the socket waits as long as it likes. */
	c = open_passive();
	tn_sock_close(c.s);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	h_advance(c.h, 59999 * MS);
	ck_assert_int_eq(conn_state(c.h), TN_TCP_FIN_WAIT_2);
	h_advance(c.h, 1 * MS);
	ck_assert_uint_eq(conns(c.h), 0);
	close_conn(&c);

	c = open_passive();
	tn_sock_shutdown(c.s, TN_SHUT_WR);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	h_advance(c.h, 3600 * SEC);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_FIN_WAIT_2);
	tn_sock_close(c.s); /* now an orphan: fin_timeout starts */
	h_advance(c.h, 60 * SEC);
	ck_assert_uint_eq(conns(c.h), 0);
	close_conn(&c);
}
END_TEST

/* Advances until nothing is left to send; returns how many segments with FIN went out. */
static unsigned count_fins_until_quiet(struct harness *h, uint64_t limit)
{
	unsigned fins = 0;
	uint64_t end = h->now + limit;
	while (h->now < end) {
		uint64_t next = tn_stack_next_deadline(h->stack);
		if (next == TN_TIME_NEVER || next > end)
			break;
		h_advance(h, next > h->now ? next - h->now : 0);
		struct oseg o;
		for (size_t i = 0; i < h->nout; i++)
			if (out_seg(h, i, &o) && (o.flags & TCP_FIN))
				fins++;
		h_clear(h);
	}
	return fins;
}

START_TEST(last_ack_gives_up)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK});
	h_clear(c.h);
	tn_sock_close(c.s);
	ck_assert_int_eq(conn_state(c.h), TN_TCP_LAST_ACK);
	h_clear(c.h);
	/* 15 retransmissions (tcp_retries) backed off to rto_max, then the connection is freed. */
	ck_assert_uint_eq(count_fins_until_quiet(c.h, 7200 * SEC), 15);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnTimeout), 1);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	close_conn(&c);
}
END_TEST

START_TEST(fin_wait_1_gives_up)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_retries = 4;
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	tn_sock_close(c.s);
	h_clear(c.h);
	ck_assert_uint_eq(count_fins_until_quiet(c.h, 7200 * SEC), 4);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnTimeout), 1);
	close_conn(&c);
}
END_TEST

START_TEST(closing_gives_up)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_retries = 6;
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	tn_sock_close(c.s);
	h_clear(c.h);
	/* The peer's FIN crosses ours and never acknowledges it. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK});
	ck_assert_int_eq(conn_state(c.h), TN_TCP_CLOSING);
	h_clear(c.h);
	ck_assert_uint_eq(count_fins_until_quiet(c.h, 7200 * SEC), 6);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	close_conn(&c);
}
END_TEST

/* ---- 12-17: TIME_WAIT through the whole input path */

START_TEST(time_wait_lasts_2msl)
{
	struct conn c = open_passive();
	close_to_time_wait(&c, NULL, 0);
	h_advance(c.h, 59999 * MS);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	ck_assert_uint_eq(tw_entry(c.h, 0).remaining_ms, 1);
	h_advance(c.h, 1 * MS);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTW), 1);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	close_conn(&c);
}
END_TEST

START_TEST(time_wait_expires_then_rst)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_time_wait_ms = 500;
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	close_to_time_wait(&c, NULL, 0);
	ck_assert_uint_eq(tw_entry(c.h, 0).remaining_ms, 500);
	h_advance(c.h, 500 * MS);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	/* Nothing holds the 4-tuple now: a late FIN is answered with RST (item 11). */
	peer_send(c.h, &(struct pseg){.seq = c.snd - 1, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_RST);
	ck_assert_uint_eq(o.seq, c.rcv);
	close_conn(&c);
}
END_TEST

START_TEST(lost_last_ack_fin_reacked_and_restarts)
{
	struct conn c = open_passive();
	close_to_time_wait(&c, NULL, 0);
	h_advance(c.h, 30 * SEC);
	ck_assert_uint_eq(tw_entry(c.h, 0).remaining_ms, 30000);
	/* Our last ACK was lost: the peer sends its FIN again. */
	peer_send(c.h, &(struct pseg){.seq = c.snd - 1, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(tw_entry(c.h, 0).remaining_ms, 60000);
	h_clear(c.h);
	/*
	 * A copy within invalid_ratelimit (500 ms) restarts the timer but is
	 * not ACKed (Linux too); the peer's next backed-off one is.
	 */
	h_advance(c.h, 100 * MS);
	peer_send(c.h, &(struct pseg){.seq = c.snd - 1, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_uint_eq(tw_entry(c.h, 0).remaining_ms, 60000);
	h_advance(c.h, 800 * MS);
	peer_send(c.h, &(struct pseg){.seq = c.snd - 1, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	h_clear(c.h);
	h_advance(c.h, 59999 * MS);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	h_advance(c.h, 1 * MS);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	close_conn(&c);
}
END_TEST

START_TEST(lost_last_ack_with_timestamps)
{
	struct tn_config cfg = ts_config();
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	uint8_t ts[12];
	ts_opt(ts, 100, 0);
	tn_sock_close(c.s);
	struct oseg fin = last_only(c.h);
	ck_assert(fin.opt.ts_ok);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_FIN | TCP_ACK,
				      .opt = ts, .optlen = sizeof(ts)});
	struct oseg last = last_only(c.h);
	ck_assert(last.opt.ts_ok);
	ck_assert_uint_eq(last.opt.tsecr, 100);
	uint32_t last_tsval = last.opt.tsval;
	c.snd++;
	c.rcv++;
	h_clear(c.h);
	h_advance(c.h, 30 * SEC);
	ts_opt(ts, 300, 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd - 1, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK,
				      .opt = ts, .optlen = sizeof(ts)});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert(o.opt.ts_ok);
	ck_assert_uint_eq(o.opt.tsecr, 300);
	/* Our timestamp clock goes on from the connection's: 30 s later is 30000 more. */
	ck_assert_uint_eq(o.opt.tsval - last_tsval, 30000);
	ck_assert_uint_eq(tw_entry(c.h, 0).remaining_ms, 60000);
	close_conn(&c);
}
END_TEST

START_TEST(time_wait_other_segments_ratelimited)
{
	struct conn c = open_passive();
	close_to_time_wait(&c, NULL, 0);
	h_advance(c.h, 10 * SEC);
	/* Data at rcv_nxt: a duplicate ACK. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = "late", .len = 4});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.ack, c.snd);
	h_clear(c.h);
	/* Out of window, within invalid_ratelimit (500 ms): nothing. */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 100000, .ack = c.rcv, .flags = TCP_ACK});
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 500 * MS);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 100000, .ack = c.rcv, .flags = TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd); /* the same state */
	h_clear(c.h);
	h_advance(c.h, 500 * MS);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	/* None of it changed the entry or restarted its timer. */
	struct tn_tw_info e = tw_entry(c.h, 0);
	ck_assert_uint_eq(e.rcv_nxt, c.snd);
	ck_assert_uint_eq(e.snd_nxt, c.rcv);
	ck_assert_uint_eq(e.remaining_ms, 60000 - 11000);
	close_conn(&c);
}
END_TEST

START_TEST(rst_in_time_wait_kills)
{
	struct conn c = open_passive();
	close_to_time_wait(&c, NULL, 0);
	/* Not exactly rcv_nxt: ignored, never answered. */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1, .flags = TCP_RST});
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .flags = TCP_RST});
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTWKilled), 1);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	close_conn(&c);
}
END_TEST

START_TEST(rst_in_time_wait_rfc1337)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_rfc1337 = true;
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	close_to_time_wait(&c, NULL, 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .flags = TCP_RST});
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_RST | TCP_ACK});
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTWKilled), 0);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 60 * SEC);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTW), 1);
	close_conn(&c);
}
END_TEST

/* The new incarnation's handshake after a recycled SYN; returns the accepted socket. */
static struct tn_sock *finish_reuse(struct conn *c, uint32_t isn, uint32_t peer_isn, const uint8_t *opt,
				    size_t optlen)
{
	struct oseg o = last_only(c->h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(o.seq, isn);
	ck_assert_uint_eq(o.ack, peer_isn + 1);
	h_clear(c->h);
	ck_assert_uint_eq(tn_timewait_count(c->h->stack), 0);
	ck_assert_uint_eq(H_CTR(c->h, TcpExtTWRecycled), 1);
	peer_send(c->h, &(struct pseg){.seq = peer_isn + 1, .ack = isn + 1, .flags = TCP_ACK,
				       .opt = opt, .optlen = optlen});
	struct tn_sock *s = tn_sock_accept(c->l, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_ESTABLISHED);
	return s;
}

START_TEST(syn_reuse_without_timestamps)
{
	struct conn c = open_passive();
	close_to_time_wait(&c, NULL, 0);
	h_advance(c.h, 5 * SEC);
	/* A SYN above the old rcv_nxt: a new incarnation, ISN = old snd_nxt + 65537. */
	uint32_t peer_isn = c.snd + 100000;
	peer_send(c.h, &(struct pseg){.seq = peer_isn, .flags = TCP_SYN});
	struct tn_sock *s = finish_reuse(&c, c.rcv + 65537, peer_isn, NULL, 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpPassiveOpens), 2);
	(void)s;
	close_conn(&c);
}
END_TEST

START_TEST(old_syn_in_time_wait_is_acked)
{
	struct conn c = open_passive();
	close_to_time_wait(&c, NULL, 0);
	/* A SYN at or below rcv_nxt may be an old duplicate: the TIME_WAIT ACK, entry kept. */
	peer_send(c.h, &(struct pseg){.seq = c.snd - 500, .flags = TCP_SYN});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTWRecycled), 0);
	/* A SYN+ACK is never a new connection either. */
	h_clear(c.h);
	h_advance(c.h, SEC);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 5000, .ack = 1, .flags = TCP_SYN | TCP_ACK});
	ck_assert_uint_eq(last_only(c.h).flags, TCP_ACK);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	close_conn(&c);
}
END_TEST

START_TEST(syn_in_time_wait_without_listener)
{
	struct conn c = open_passive();
	close_to_time_wait(&c, NULL, 0);
	tn_sock_close(c.l);
	c.l = NULL;
	peer_send(c.h, &(struct pseg){.seq = c.snd + 100000, .flags = TCP_SYN});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK); /* Linux: the TIME_WAIT ACK, not a RST */
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	close_conn(&c);
}
END_TEST

START_TEST(syn_reuse_with_timestamps)
{
	struct tn_config cfg = ts_config();
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	uint8_t ts[12];
	ts_opt(ts, 5000, 0);
	close_to_time_wait(&c, ts, sizeof(ts));
	h_advance(c.h, 2 * SEC);
	/* Sequence number below rcv_nxt but an older TSval: PAWS, the TIME_WAIT ACK. */
	uint8_t syn_old[20], syn_new[20];
	memcpy(syn_old, syn_opts, sizeof(syn_old));
	memcpy(syn_new, syn_opts, sizeof(syn_new));
	tn_put32(syn_old + 8, 4000);
	tn_put32(syn_new + 8, 7000);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 100000, .flags = TCP_SYN, .opt = syn_old,
				      .optlen = sizeof(syn_old)});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.opt.tsecr, 5000);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	h_clear(c.h);
	/* A newer TSval is enough, even with a sequence number below rcv_nxt (RFC 6191). */
	uint32_t peer_isn = c.snd - 10;
	peer_send(c.h, &(struct pseg){.seq = peer_isn, .flags = TCP_SYN, .opt = syn_new,
				      .optlen = sizeof(syn_new)});
	o = last_only(c.h);
	ck_assert(o.opt.ts_ok);
	ck_assert_uint_eq(o.opt.tsecr, 7000);
	ts_opt(ts, 7001, o.opt.tsval);
	finish_reuse(&c, c.rcv + 65537, peer_isn, ts, sizeof(ts));
	close_conn(&c);
}
END_TEST

START_TEST(old_duplicate_rejected_by_new_incarnation)
{
	struct conn c = open_passive();
	uint32_t old_snd = c.snd, old_rcv = c.rcv;
	close_to_time_wait(&c, NULL, 0);
	uint32_t peer_isn = c.snd + 100000;
	peer_send(c.h, &(struct pseg){.seq = peer_isn, .flags = TCP_SYN});
	struct tn_sock *s = finish_reuse(&c, c.rcv + 65537, peer_isn, NULL, 0);
	h_clear(c.h);
	/* A segment of the old incarnation, delayed in the network, arrives now. */
	peer_send(c.h, &(struct pseg){.seq = old_snd, .ack = old_rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = "stale", .len = 5});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK); /* a duplicate ACK of the new state */
	ck_assert_uint_eq(o.ack, peer_isn + 1);
	ck_assert_uint_eq(o.seq, c.rcv + 65537 + 1);
	ck_assert_uint_eq(tn_sock_readable(s), 0);
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_ESTABLISHED);
	/* The new incarnation's own data is fine. */
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = peer_isn + 1, .ack = c.rcv + 65537 + 1,
				      .flags = TCP_ACK | TCP_PSH, .data = "fresh", .len = 5});
	char b[8];
	ck_assert_int_eq(tn_sock_recv(s, b, sizeof(b)), 5);
	ck_assert_int_eq(memcmp(b, "fresh", 5), 0);
	close_conn(&c);
}
END_TEST

START_TEST(old_duplicate_paws_rejected_by_new_incarnation)
{
	struct tn_config cfg = ts_config();
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	uint32_t old_snd = c.snd;
	uint8_t ts[12];
	ts_opt(ts, 5000, 0);
	close_to_time_wait(&c, ts, sizeof(ts));
	uint8_t syn_new[20];
	memcpy(syn_new, syn_opts, sizeof(syn_new));
	tn_put32(syn_new + 8, 9000);
	uint32_t peer_isn = c.snd + 100000;
	peer_send(c.h, &(struct pseg){.seq = peer_isn, .flags = TCP_SYN, .opt = syn_new,
				      .optlen = sizeof(syn_new)});
	struct oseg o = last_only(c.h);
	uint32_t our_ts = o.opt.tsval;
	ts_opt(ts, 9001, our_ts);
	struct tn_sock *s = finish_reuse(&c, c.rcv + 65537, peer_isn, ts, sizeof(ts));
	h_clear(c.h);
	/*
	 * An old segment that happens to fall in the new window: its TSval
	 * (from the old incarnation) is older, PAWS drops it.
	 */
	ts_opt(ts, 4990, 0);
	peer_send(c.h, &(struct pseg){.seq = peer_isn + 1, .ack = c.rcv + 65537 + 1,
				      .flags = TCP_ACK | TCP_PSH, .data = "stale", .len = 5,
				      .opt = ts, .optlen = sizeof(ts)});
	ck_assert_uint_eq(tn_sock_readable(s), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtPAWSEstab), 1);
	ck_assert_uint_eq(last_only(c.h).flags, TCP_ACK);
	(void)old_snd;
	close_conn(&c);
}
END_TEST

START_TEST(paws_in_time_wait)
{
	struct tn_config cfg = ts_config();
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	uint8_t ts[12];
	ts_opt(ts, 5000, 0);
	close_to_time_wait(&c, ts, sizeof(ts));
	/* A retransmitted FIN with an older TSval is an old duplicate: ACK, no restart. */
	h_advance(c.h, 10 * SEC);
	ts_opt(ts, 10, 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd - 1, .ack = c.rcv, .flags = TCP_FIN | TCP_ACK,
				      .opt = ts, .optlen = sizeof(ts)});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.opt.tsecr, 5000); /* ts_recent unchanged */
	ck_assert_uint_eq(tw_entry(c.h, 0).remaining_ms, 50000);
	close_conn(&c);
}
END_TEST

START_TEST(paws_established)
{
	struct tn_config cfg = ts_config();
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	uint8_t ts[12];
	ts_opt(ts, 50, 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = "new", .len = 3, .opt = ts, .optlen = sizeof(ts)});
	c.snd += 3;
	ck_assert_uint_eq(tn_sock_readable(c.s), 3);
	h_advance(c.h, SEC);
	h_clear(c.h);
	ts_opt(ts, 40, 0); /* older than 50 */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = "old", .len = 3, .opt = ts, .optlen = sizeof(ts)});
	ck_assert_uint_eq(tn_sock_readable(c.s), 3);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtPAWSEstab), 1);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(o.opt.tsecr, 50);
	close_conn(&c);
}
END_TEST

/* ---- 18, 19: ports */

/*
 * Active open from the stack to the peer's port 7 (from bind_port with
 * SO_REUSEADDR unless 0); returns the socket, fills our port and ISS.
 */
static struct tn_sock *active_open_from(struct harness *h, uint16_t bind_port, uint16_t *port,
					uint32_t *iss, const uint8_t *opt, size_t optlen)
{
	struct tn_sock *s = tn_sock_open(h->stack);
	if (bind_port) {
		ck_assert_int_eq(tn_sock_set_reuseaddr(s, true), 0);
		ck_assert_int_eq(tn_sock_bind(s, 0, bind_port), 0);
	}
	int rc = tn_sock_connect(s, H_PEER_IP, 7);
	if (rc != -EINPROGRESS) {
		tn_sock_close(s);
		return NULL;
	}
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN);
	*port = o.dport == 7 ? o.sport : 0;
	*iss = o.seq;
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 7, .dport = *port, .seq = 70000, .ack = o.seq + 1,
				    .flags = TCP_SYN | TCP_ACK, .opt = opt, .optlen = optlen});
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_ESTABLISHED);
	h_clear(h);
	return s;
}

static struct tn_sock *active_open(struct harness *h, uint16_t *port, uint32_t *iss, const uint8_t *opt,
				   size_t optlen)
{
	return active_open_from(h, 0, port, iss, opt, optlen);
}

/* The stack closes its active connection first, into TIME_WAIT (peer seq 70001). */
static void active_close_first(struct harness *h, struct tn_sock *s, uint16_t port, uint32_t iss,
			       const uint8_t *opt, size_t optlen)
{
	tn_sock_close(s);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 7, .dport = port, .seq = 70001, .ack = iss + 2,
				    .flags = TCP_FIN | TCP_ACK, .opt = opt, .optlen = optlen});
	ck_assert_uint_eq(last_only(h).flags, TCP_ACK);
	h_clear(h);
}

START_TEST(ephemeral_port_skips_time_wait)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_port_min = cfg.tcp_port_max = 40000; /* one ephemeral port */
	struct harness *h = new_harness_cfg(&cfg);
	uint16_t port;
	uint32_t iss;
	struct tn_sock *s = active_open(h, &port, &iss, NULL, 0);
	ck_assert_uint_eq(port, 40000);
	active_close_first(h, s, port, iss, NULL, 0);
	ck_assert_uint_eq(tn_timewait_count(h->stack), 1);
	/* The only port's 4-tuple to 10.0.0.1:7 is in TIME_WAIT: no port. */
	s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EADDRNOTAVAIL);
	ck_assert_uint_eq(tcp_out_count(h), 0);
	/* Another destination port is another 4-tuple: fine. */
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 9), -EINPROGRESS);
	tn_sock_close(s);
	h_clear(h);
	h_advance(h, 60 * SEC);
	s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EINPROGRESS);
	tn_sock_close(s);
	h_free(h);

	/* With a wide range, 1000 connections in TIME_WAIT and a new one never collides. */
	peer_config(&cfg);
	cfg.tcp_port_min = 40000;
	cfg.tcp_port_max = 41999;
	h = new_harness_cfg(&cfg);
	for (int i = 0; i < 1000; i++) {
		s = active_open(h, &port, &iss, NULL, 0);
		ck_assert_ptr_nonnull(s);
		ck_assert_ptr_null(tn_tw_lookup(h->stack, &tcp_of(h->stack)->tw, H_STACK_IP, port,
						H_PEER_IP, 7));
		active_close_first(h, s, port, iss, NULL, 0);
	}
	ck_assert_uint_eq(tn_timewait_count(h->stack), 1000);
	h_free(h);
}
END_TEST

START_TEST(tw_reuse_takes_tuple_with_timestamps)
{
	struct tn_config cfg = ts_config();
	cfg.tcp_port_min = cfg.tcp_port_max = 40000;
	cfg.tcp_tw_reuse = 1;
	struct harness *h = new_harness_cfg(&cfg);
	uint16_t port;
	uint32_t iss;
	uint8_t synack_opts[20];
	memcpy(synack_opts, syn_opts, sizeof(synack_opts));
	struct tn_sock *s = active_open(h, &port, &iss, synack_opts, sizeof(synack_opts));
	uint8_t ts[12];
	ts_opt(ts, 500, 0);
	tn_sock_close(s);
	struct oseg fin = last_only(h);
	ck_assert(fin.opt.ts_ok);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 7, .dport = port, .seq = 70001, .ack = iss + 2,
				    .flags = TCP_FIN | TCP_ACK, .opt = ts, .optlen = sizeof(ts)});
	uint32_t last_tsval = last_only(h).opt.tsval;
	h_clear(h);
	/* Too soon (tw_reuse waits 1 s after the last segment we sent). */
	s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EADDRNOTAVAIL);
	h_advance(h, 1000 * MS);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EINPROGRESS);
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.sport, 40000);
	ck_assert_uint_eq(o.seq, iss + 2 + 65537); /* beyond the old sequence space */
	ck_assert(o.opt.ts_ok);
	ck_assert_int_gt((int32_t)(o.opt.tsval - last_tsval), 0); /* newer than the old incarnation's */
	ck_assert_uint_eq(tn_timewait_count(h->stack), 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTWRecycled), 1);
	tn_sock_close(s);
	h_free(h);
}
END_TEST

START_TEST(tw_reuse_needs_timestamps)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_port_min = cfg.tcp_port_max = 40000;
	cfg.tcp_tw_reuse = 1;
	struct harness *h = new_harness_cfg(&cfg);
	uint16_t port;
	uint32_t iss;
	struct tn_sock *s = active_open_from(h, 40000, &port, &iss, NULL, 0);
	active_close_first(h, s, port, iss, NULL, 0);
	h_advance(h, 10 * SEC);
	s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EADDRNOTAVAIL);
	tn_sock_close(s);
	/* A bound socket's connect() sees the same rule (bind itself is fine: SO_REUSEADDR on both). */
	s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_set_reuseaddr(s, true), 0);
	ck_assert_int_eq(tn_sock_bind(s, 0, 40000), 0);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EADDRNOTAVAIL);
	tn_sock_close(s);
	h_free(h);
}
END_TEST

/* A server on port 80 (reuse: SO_REUSEADDR) that closes one connection first, then stops. */
static struct harness *server_leaves_time_wait(bool reuse)
{
	struct harness *h = new_harness();
	struct tn_sock *l = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_set_reuseaddr(l, reuse), 0);
	ck_assert_int_eq(tn_sock_bind(l, 0, LPORT), 0);
	ck_assert_int_eq(tn_sock_listen(l, 4), 0);
	uint32_t iss;
	struct tn_sock *s = accept_from(h, l, RPORT, PEER_ISN, &iss);
	close_first(h, s, RPORT, PEER_ISN + 1, iss + 1);
	tn_sock_close(l);
	ck_assert_uint_eq(tn_timewait_count(h->stack), 1);
	return h;
}

START_TEST(bind_over_time_wait)
{
	struct harness *h = server_leaves_time_wait(true);
	struct tn_sock *s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_bind(s, 0, LPORT), -EADDRINUSE);
	ck_assert_int_eq(tn_sock_bind(s, H_STACK_IP, LPORT), -EADDRINUSE);
	ck_assert_int_eq(tn_sock_set_reuseaddr(s, true), 0);
	ck_assert_int_eq(tn_sock_bind(s, 0, LPORT), 0);
	ck_assert_int_eq(tn_sock_listen(s, 4), 0);
	/* The entry is still there and still answers for its 4-tuple. */
	ck_assert_uint_eq(tn_timewait_count(h->stack), 1);
	tn_sock_close(s);
	/* Once it expired, no SO_REUSEADDR is needed. */
	h_advance(h, 60 * SEC);
	s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_bind(s, 0, LPORT), 0);
	tn_sock_close(s);
	h_free(h);
}
END_TEST

START_TEST(bind_over_time_wait_needs_reuse_on_both)
{
	/* As Linux (the entry keeps the socket's SO_REUSEADDR): a server that did not set it blocks. */
	struct harness *h = server_leaves_time_wait(false);
	struct tn_sock *s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_set_reuseaddr(s, true), 0);
	ck_assert_int_eq(tn_sock_bind(s, 0, LPORT), -EADDRINUSE);
	/* Other ports are not affected. */
	ck_assert_int_eq(tn_sock_bind(s, 0, LPORT + 1), 0);
	tn_sock_close(s);
	h_free(h);
}
END_TEST

/* ---- 20-22: the table */

START_TEST(overflow_drop)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_tw_max_buckets = 2;
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 16, &l);
	for (uint16_t p = 1; p <= 3; p++) {
		uint32_t iss;
		struct tn_sock *s = accept_from(h, l, (uint16_t)(50000 + p), 1000, &iss);
		close_first(h, s, (uint16_t)(50000 + p), 1001, iss + 1);
	}
	ck_assert_uint_eq(tn_timewait_count(h->stack), 2);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPTimeWaitOverflow), 1);
	ck_assert_uint_eq(conns(h), 0); /* the third connection simply closed */
	/* The newest is the one without TIME_WAIT: its 4-tuple gets RST, the others the ACK. */
	peer_send(h, &(struct pseg){.sport = 50003, .seq = 1001, .ack = 1, .flags = TCP_FIN | TCP_ACK});
	ck_assert_uint_eq(last_only(h).flags, TCP_RST);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 50001, .seq = 1001, .ack = 1, .flags = TCP_FIN | TCP_ACK});
	ck_assert_uint_eq(last_only(h).flags, TCP_ACK);
	h_free(h);
}
END_TEST

START_TEST(overflow_evict_oldest)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_tw_max_buckets = 2;
	cfg.tcp_tw_overflow = TN_TCP_TW_EVICT_OLDEST;
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 16, &l);
	for (uint16_t p = 1; p <= 3; p++) {
		uint32_t iss;
		struct tn_sock *s = accept_from(h, l, (uint16_t)(50000 + p), 1000, &iss);
		close_first(h, s, (uint16_t)(50000 + p), 1001, iss + 1);
		h_advance(h, SEC);
	}
	ck_assert_uint_eq(tn_timewait_count(h->stack), 2);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPTimeWaitOverflow), 1);
	ck_assert_uint_eq(tw_entry(h, 0).remote_port, 50002); /* oldest first */
	ck_assert_uint_eq(tw_entry(h, 1).remote_port, 50003);
	/* The evicted 4-tuple is free: RST. */
	peer_send(h, &(struct pseg){.sport = 50001, .seq = 1001, .ack = 1, .flags = TCP_FIN | TCP_ACK});
	ck_assert_uint_eq(last_only(h).flags, TCP_RST);
	/* The table's timer follows the new oldest entry. */
	ck_assert_uint_eq(tw_entry(h, 0).remaining_ms, 58000);
	h_advance(h, 59 * SEC);
	ck_assert_uint_eq(tn_timewait_count(h->stack), 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 2);
	h_free(h);
}
END_TEST

START_TEST(entry_is_compact_and_socket_is_freed)
{
	struct conn c = open_passive();
	size_t before = tn_sock_list(c.h->stack, NULL, 0);
	close_to_time_wait(&c, NULL, 0);
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), before - 1); /* the block is gone */
	/* The entry is found through the connection hash, like a live connection. */
	struct tn_hnode *n = tn_ehash_lookup(c.h->stack, &tcp_of(c.h->stack)->ehash, H_STACK_IP, LPORT,
					     H_PEER_IP, RPORT);
	ck_assert_ptr_nonnull(n);
	ck_assert_int_eq(n->kind, TN_HNODE_TW);
	close_conn(&c);
}
END_TEST

/* Freeing a stack whose hash chains mix live connections and entries (ASan checks it). */
START_TEST(stack_free_with_live_and_time_wait)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_tw_max_buckets = 512; /* a small hash: long mixed chains */
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 16, &l);
	for (uint16_t p = 1; p <= 1500; p++) {
		uint32_t iss;
		struct tn_sock *s = accept_from(h, l, (uint16_t)(20000 + p), 1000, &iss);
		if (p % 3)
			close_first(h, s, (uint16_t)(20000 + p), 1001, iss + 1);
		h_clear(h);
	}
	ck_assert_uint_eq(tn_timewait_count(h->stack), 512);
	ck_assert_uint_eq(conns(h), 8); /* conns() looks at the first 8 only */
	ck_assert_uint_eq(tn_sock_list(h->stack, NULL, 0), 1 + 500);
	h_free(h);
}
END_TEST

START_TEST(counters_and_listing)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_time_wait_ms = 10000;
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 16, &l);
	for (uint16_t p = 1; p <= 4; p++) {
		uint32_t iss;
		struct tn_sock *s = accept_from(h, l, (uint16_t)(50000 + p), 1000, &iss);
		close_first(h, s, (uint16_t)(50000 + p), 1001, iss + 1);
		h_advance(h, SEC);
	}
	ck_assert_uint_eq(H_CTR(h, TcpTimeWaitCurrent), 4);
	struct tn_tw_info info[2];
	ck_assert_uint_eq(tn_timewait_list(h->stack, info, 2), 4); /* all of them counted, 2 filled */
	ck_assert_uint_eq(info[0].remote_port, 50001);
	ck_assert_uint_eq(info[0].remaining_ms, 6000);
	ck_assert_uint_eq(info[1].remote_port, 50002);
	ck_assert_uint_eq(info[1].remaining_ms, 7000);
	/* killed by RST, recycled by a SYN, expired */
	peer_send(h, &(struct pseg){.sport = 50001, .seq = 1002, .flags = TCP_RST});
	peer_send(h, &(struct pseg){.sport = 50002, .seq = 90000, .flags = TCP_SYN});
	h_clear(h);
	ck_assert_uint_eq(H_CTR(h, TcpExtTWKilled), 1);
	ck_assert_uint_eq(H_CTR(h, TcpExtTWRecycled), 1);
	ck_assert_uint_eq(H_CTR(h, TcpTimeWaitCurrent), 2);
	h_advance(h, 10 * SEC);
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 2);
	ck_assert_uint_eq(H_CTR(h, TcpTimeWaitCurrent), 0);
	ck_assert_str_eq(tn_counter_name(TN_CTR_TcpTimeWaitCurrent), "TcpTimeWaitCurrent");
	h_free(h);
}
END_TEST

/* ---- 23-26: robustness around close */

START_TEST(challenge_acks_are_rate_limited)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd + 10, .flags = TCP_RST});
	peer_send(c.h, &(struct pseg){.seq = c.snd + 20, .flags = TCP_RST});
	peer_send(c.h, &(struct pseg){.seq = c.snd + 5, .flags = TCP_SYN});
	ck_assert_uint_eq(tcp_out_count(c.h), 1); /* one per invalid_ratelimit */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPChallengeACK), 1);
	h_clear(c.h);
	h_advance(c.h, 500 * MS);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 5, .flags = TCP_SYN});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_ESTABLISHED);
	close_conn(&c);

	/* The stack-wide budget (challenge_ack_limit per second) caps them across connections. */
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_challenge_ack_limit = 1;
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 16, &l);
	uint32_t iss;
	accept_from(h, l, 50001, 1000, &iss);
	accept_from(h, l, 50002, 1000, &iss);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 50001, .seq = 1010, .flags = TCP_RST});
	peer_send(h, &(struct pseg){.sport = 50002, .seq = 1010, .flags = TCP_RST});
	ck_assert_uint_eq(tcp_out_count(h), 1);
	h_free(h);
}
END_TEST

START_TEST(out_of_window_acked_and_dropped)
{
	struct conn c = open_passive();
	/* Pure ACKs out of window: answered, rate-limited (an ACK loop would need them). */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1000000, .ack = c.rcv, .flags = TCP_ACK});
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1000000, .ack = c.rcv, .flags = TCP_ACK});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPACKSkippedSeq), 1);
	h_clear(c.h);
	/* Data out of window (old or beyond the right edge): ACKed, never delivered. */
	peer_send(c.h, &(struct pseg){.seq = c.snd - 100, .ack = c.rcv, .flags = TCP_ACK, .data = "oldold",
				      .len = 6});
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1000000, .ack = c.rcv, .flags = TCP_ACK,
				      .data = "far", .len = 3});
	ck_assert_uint_eq(tcp_out_count(c.h), 2);
	ck_assert_uint_eq(tn_sock_readable(c.s), 0);
	/* The same in a closing state (FIN_WAIT_2). */
	tn_sock_shutdown(c.s, TN_SHUT_WR);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	h_clear(c.h);
	h_advance(c.h, SEC);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1000000, .ack = c.rcv + 1, .flags = TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_FIN_WAIT_2);
	close_conn(&c);
}
END_TEST

START_TEST(keepalive_detects_dead_peer)
{
	struct conn c = open_passive();
	ck_assert_int_eq(tn_sock_set_keepalive(c.s, true, 10, 5, 3), 0);
	struct oseg o;
	ck_assert_uint_eq(wait_segment(c.h, 20 * SEC, &o), 10 * SEC); /* idle 10 s */
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.seq, c.rcv - 1); /* an old sequence number forces an answer */
	ck_assert_uint_eq(o.len, 0);
	h_clear(c.h);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(wait_segment(c.h, 20 * SEC, &o), 5 * SEC);
		ck_assert_uint_eq(o.seq, c.rcv - 1);
		h_clear(c.h);
	}
	ck_assert_uint_eq(wait_segment(c.h, 20 * SEC, &o), 5 * SEC);
	ck_assert_uint_eq(o.flags & TCP_RST, TCP_RST);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSED);
	ck_assert_int_eq(tn_sock_error(c.s), -ETIMEDOUT);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPKeepAlive), 3);
	close_conn(&c);
}
END_TEST

START_TEST(keepalive_answered_keeps_connection)
{
	struct conn c = open_passive();
	/* Off by default: an hour of silence sends nothing. */
	h_advance(c.h, 3600 * SEC);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_int_eq(tn_sock_set_keepalive(c.s, true, 10, 5, 3), 0);
	for (int i = 0; i < 5; i++) {
		struct oseg o;
		wait_segment(c.h, 20 * SEC, &o);
		ck_assert_uint_eq(o.seq, c.rcv - 1);
		h_clear(c.h);
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK});
	}
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_ESTABLISHED);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPKeepAlive), 5);
	close_conn(&c);
}
END_TEST

/* The peer answers every zero-window probe with a zero window; returns probes seen in limit. */
static unsigned answer_probes(struct conn *c, uint64_t limit, uint64_t *last_gap)
{
	unsigned probes = 0;
	uint64_t end = c->h->now + limit;
	while (c->h->now < end) {
		struct oseg o;
		h_clear(c->h);
		uint64_t gap = wait_segment(c->h, end - c->h->now, &o);
		if (!tcp_out_count(c->h))
			break;
		if (o.flags & TCP_RST)
			break;
		ck_assert_uint_eq(o.len, 0);
		ck_assert_uint_eq(o.seq, c->rcv - 1);
		if (probes > 0)
			ck_assert_uint_ge(gap, *last_gap); /* backed off, never faster */
		*last_gap = gap;
		probes++;
		peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv, .flags = TCP_ACK,
					       .zero_wnd = true});
	}
	h_clear(c->h);
	return probes;
}

START_TEST(zero_window_close_gives_up)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .zero_wnd = true});
	ck_assert_int_eq(tn_sock_send(c.s, "stuck", 5), 5);
	tn_sock_close(c.s); /* FIN_WAIT_1 behind data the peer never takes */
	ck_assert_int_eq(conn_state(c.h), TN_TCP_FIN_WAIT_1);
	uint64_t gap = 0;
	/* The orphan probes, backed off up to rto_max, and gives up after tcp_retries (15). */
	ck_assert_uint_eq(answer_probes(&c, 7200 * SEC, &gap), 15);
	ck_assert_uint_eq(gap, 120 * SEC);
	ck_assert_uint_eq(conns(c.h), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnTimeout), 1);
	close_conn(&c);
}
END_TEST

START_TEST(zero_window_owner_keeps_probing)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .zero_wnd = true});
	ck_assert_int_eq(tn_sock_send(c.s, "stuck", 5), 5);
	uint64_t gap = 0;
	/* RFC 1122 4.2.2.17: while the peer answers, an owned connection keeps probing. */
	ck_assert_uint_gt(answer_probes(&c, 3600 * SEC, &gap), 30);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_ESTABLISHED);
	/* ... and its owner may then close it: the orphan limit applies from there. */
	tn_sock_close(c.s);
	ck_assert_uint_le(answer_probes(&c, 7200 * SEC, &gap), 15);
	ck_assert_uint_eq(conns(c.h), 0);
	close_conn(&c);
}
END_TEST

Suite *close_suite(void);
Suite *close_suite(void)
{
	Suite *s = suite_create("close");
	TCase *tc = tcase_create("paths");
	tcase_add_test(tc, active_close_sequence);
	tcase_add_test(tc, fin_and_ack_together);
	tcase_add_test(tc, passive_close_leaves_no_time_wait);
	tcase_add_test(tc, half_close_still_receives);
	tcase_add_test(tc, orphan_fin_wait_2_data_resets);
	tcase_add_test(tc, linger_zero_resets_without_time_wait);
	tcase_add_test(tc, queued_data_goes_before_fin);
	tcase_add_test(tc, fin_retransmitted_with_backoff);
	tcase_add_test(tc, fin_wait_2_orphan_times_out);
	tcase_add_test(tc, last_ack_gives_up);
	tcase_add_test(tc, fin_wait_1_gives_up);
	tcase_add_test(tc, closing_gives_up);
	suite_add_tcase(s, tc);

	tc = tcase_create("time_wait");
	tcase_add_test(tc, time_wait_lasts_2msl);
	tcase_add_test(tc, time_wait_expires_then_rst);
	tcase_add_test(tc, lost_last_ack_fin_reacked_and_restarts);
	tcase_add_test(tc, lost_last_ack_with_timestamps);
	tcase_add_test(tc, time_wait_other_segments_ratelimited);
	tcase_add_test(tc, rst_in_time_wait_kills);
	tcase_add_test(tc, rst_in_time_wait_rfc1337);
	tcase_add_test(tc, syn_reuse_without_timestamps);
	tcase_add_test(tc, old_syn_in_time_wait_is_acked);
	tcase_add_test(tc, syn_in_time_wait_without_listener);
	tcase_add_test(tc, syn_reuse_with_timestamps);
	tcase_add_test(tc, old_duplicate_rejected_by_new_incarnation);
	tcase_add_test(tc, old_duplicate_paws_rejected_by_new_incarnation);
	tcase_add_test(tc, paws_in_time_wait);
	tcase_add_test(tc, paws_established);
	suite_add_tcase(s, tc);

	tc = tcase_create("ports_and_table");
	tcase_add_test(tc, ephemeral_port_skips_time_wait);
	tcase_add_test(tc, tw_reuse_takes_tuple_with_timestamps);
	tcase_add_test(tc, tw_reuse_needs_timestamps);
	tcase_add_test(tc, bind_over_time_wait);
	tcase_add_test(tc, bind_over_time_wait_needs_reuse_on_both);
	tcase_add_test(tc, overflow_drop);
	tcase_add_test(tc, overflow_evict_oldest);
	tcase_add_test(tc, entry_is_compact_and_socket_is_freed);
	tcase_add_test(tc, counters_and_listing);
	tcase_add_test(tc, stack_free_with_live_and_time_wait);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_test(tc, challenge_acks_are_rate_limited);
	tcase_add_test(tc, out_of_window_acked_and_dropped);
	tcase_add_test(tc, keepalive_detects_dead_peer);
	tcase_add_test(tc, keepalive_answered_keeps_connection);
	tcase_add_test(tc, zero_window_close_gives_up);
	tcase_add_test(tc, zero_window_owner_keeps_probing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(close_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
