/*
 * check_synflood.c - what a remote peer may make the core hold: SYN
 * cookies (encode/decode, expiry, forged ones, options through the
 * timestamp), half-open connections without buffers, PAWS ordering and the
 * challenge-ACK budget (RFC 5961, CVE-2016-5696).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "stack/tcp.h"
#include "stack_harness.h"
#include "tcp_peer.h"

#define MS TN_NSEC_PER_MSEC
#define SEC TN_NSEC_PER_SEC

/* The segment as tcp_in.c parses it, from the peer to the stack. */
static struct tcp_seg seg_from_peer(uint16_t sport, uint32_t seq, uint32_t ack, uint8_t flags)
{
	return (struct tcp_seg){
		.seq = seq, .ack = ack, .flags = flags,
		.src = H_PEER_IP, .dst = H_STACK_IP, .sport = sport, .dport = LPORT,
	};
}

START_TEST(cookie_round_trip_and_expiry)
{
	struct harness *h = new_harness();
	h_advance(h, 60 * SEC - h->now % (60 * SEC) + 30 * SEC); /* half a minute into one */
	for (uint8_t idx = 0; idx < 4; idx++) {
		struct tcp_seg syn = seg_from_peer((uint16_t)(1000 + idx), 7777u * idx, 0, TCP_SYN);
		uint32_t cookie = tcp_cookie_make(h->stack, &syn, idx);
		struct tcp_seg ack = seg_from_peer(syn.sport, syn.seq + 1, cookie + 1, TCP_ACK);
		ck_assert_int_eq(tcp_cookie_check(h->stack, &ack), idx);
		/* another 4-tuple, another peer ISN, a forged cookie: refused */
		struct tcp_seg other = ack;
		other.sport++;
		ck_assert_int_eq(tcp_cookie_check(h->stack, &other), -1);
		other = ack;
		other.seq += 1000;
		ck_assert_int_eq(tcp_cookie_check(h->stack, &other), -1);
		other = ack;
		other.ack ^= 0x00a5a500;
		ck_assert_int_eq(tcp_cookie_check(h->stack, &other), -1);
	}
	/* Made 30 s into minute m: good through minute m + 1, refused from m + 2. */
	struct tcp_seg syn = seg_from_peer(2000, 123456, 0, TCP_SYN);
	uint32_t cookie = tcp_cookie_make(h->stack, &syn, 3);
	struct tcp_seg ack = seg_from_peer(2000, 123457, cookie + 1, TCP_ACK);
	h_advance(h, 89 * SEC); /* 59 s into m + 1 */
	ck_assert_int_eq(tcp_cookie_check(h->stack, &ack), 3);
	h_advance(h, 1 * SEC);  /* m + 2 */
	ck_assert_int_eq(tcp_cookie_check(h->stack, &ack), -1);
	h_free(h);
}
END_TEST

START_TEST(cookie_mss_table_and_timestamp_options)
{
	ck_assert_uint_eq(tcp_cookie_mss(tcp_cookie_mss_index(1460)), 1460);
	ck_assert_uint_eq(tcp_cookie_mss(tcp_cookie_mss_index(9000)), 1460);
	ck_assert_uint_eq(tcp_cookie_mss(tcp_cookie_mss_index(1400)), 1300);
	ck_assert_uint_eq(tcp_cookie_mss(tcp_cookie_mss_index(1440)), 1440);
	ck_assert_uint_eq(tcp_cookie_mss(tcp_cookie_mss_index(100)), 536);

	struct tn_config cfg;
	tn_config_defaults(&cfg);
	struct tcp_cookie_opts co;
	uint32_t now = 1000000;
	uint32_t ts = tcp_cookie_tsval(now, true, 7, true);
	ck_assert(seq_le(ts, now) && now - ts < 64); /* never ahead of the clock */
	struct tcp_opts o = {.ts_ok = true, .tsecr = ts};
	ck_assert(tcp_cookie_ts_decode(&cfg, &o, &co));
	ck_assert(co.ts_ok && co.ws_ok && co.sack_ok);
	ck_assert_uint_eq(co.snd_wscale, 7);
	o.tsecr = tcp_cookie_tsval(now + 5, false, 0, false);
	ck_assert(tcp_cookie_ts_decode(&cfg, &o, &co));
	ck_assert(co.ts_ok && !co.ws_ok && !co.sack_ok);
	/* no timestamps: nothing beyond the MSS was agreed */
	o.ts_ok = false;
	ck_assert(tcp_cookie_ts_decode(&cfg, &o, &co));
	ck_assert(!co.ts_ok && !co.ws_ok && !co.sack_ok);
	/* a claim this stack never offers: not a cookie of ours */
	o = (struct tcp_opts){.ts_ok = true, .tsecr = tcp_cookie_tsval(now, true, 2, true)};
	cfg.tcp_sack = false;
	ck_assert(!tcp_cookie_ts_decode(&cfg, &o, &co));
	cfg.tcp_sack = true;
	cfg.tcp_window_scaling = false;
	ck_assert(!tcp_cookie_ts_decode(&cfg, &o, &co));
}
END_TEST

/* A listener on LPORT with a SYN queue of one. */
static struct harness *flood_server(struct tn_config *cfg, struct tn_sock **l, int backlog)
{
	cfg->tcp_max_syn_backlog = 1;
	return new_server(cfg, backlog, l);
}

/* Sockets (listeners, connections): half-open and FIN_WAIT_2 entries are none. */
static size_t nsocks(struct harness *h)
{
	return tcp_of(h->stack)->nsocks;
}

/* Half-open connections of listener l. */
static uint32_t half_open(const struct tn_sock *l)
{
	return l->listen->syn_len;
}

START_TEST(full_syn_queue_answers_with_cookies)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_timestamps = true;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 4);
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 10, .flags = TCP_SYN});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(nsocks(h), 1); /* the listener: a half-open connection is no socket */
	ck_assert_uint_eq(half_open(l), 1);
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesSent), 0);
	h_clear(h);

	/* The queue is full: a cookie, and nothing kept. */
	uint8_t opts[20];
	memcpy(opts, syn_opts, sizeof(opts));
	tn_put32(opts + 8, 5000); /* the peer's TSval */
	peer_send(h, &(struct pseg){.sport = 1002, .seq = 20000, .flags = TCP_SYN, .opt = opts,
				    .optlen = sizeof(opts)});
	o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(o.ack, 20001);
	ck_assert(o.opt.mss_ok && o.opt.mss == 1460);
	ck_assert(o.opt.ws_ok && o.opt.wscale == 7);
	ck_assert(o.opt.sack_ok);
	ck_assert(o.opt.ts_ok && o.opt.tsecr == 5000);
	ck_assert_uint_eq(o.opt.tsval & 0x3f, 0x10 | 7); /* SACK + the peer's window scale */
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesSent), 1);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPReqQFullDoCookies), 1);
	ck_assert_uint_eq(half_open(l), 1);
	ck_assert_uint_eq(nsocks(h), 1);
	uint32_t cookie = o.seq, tsval = o.opt.tsval;
	h_clear(h);

	/* The ACK comes back with data: the connection exists, established, with its options. */
	uint8_t ts[12];
	ts_opt(ts, 5001, tsval);
	peer_send(h, &(struct pseg){.sport = 1002, .seq = 20001, .ack = cookie + 1,
				    .flags = TCP_ACK | TCP_PSH, .opt = ts, .optlen = sizeof(ts),
				    .wnd = 100, .data = "hello", .len = 5});
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesRecv), 1);
	ck_assert_uint_eq(H_CTR(h, TcpPassiveOpens), 1);
	struct tn_sock *s = tn_sock_accept(l, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_ESTABLISHED);
	struct tn_sock_info info;
	tn_sock_info(s, &info);
	ck_assert(info.ts && info.sack);
	ck_assert_uint_eq(info.mss, 1460 - 12);
	ck_assert_uint_eq(info.snd_wscale, 7);
	ck_assert_uint_eq(info.rcv_wscale, 7);
	ck_assert_uint_eq(info.snd_wnd, 100u << 7);
	char buf[8];
	ck_assert_int_eq(tn_sock_recv(s, buf, sizeof(buf)), 5);
	ck_assert(memcmp(buf, "hello", 5) == 0);
	/* and it talks: our data carries the right seq, ack and timestamps */
	h_clear(h);
	ck_assert_int_eq(tn_sock_send(s, "back", 4), 4);
	o = last_only(h);
	ck_assert_uint_eq(o.seq, cookie + 1);
	ck_assert_uint_eq(o.ack, 20006);
	ck_assert(o.opt.ts_ok && o.opt.tsecr == 5001 && seq_ge(o.opt.tsval, tsval));
	h_free(h);
}
END_TEST

START_TEST(cookie_without_timestamps_keeps_only_the_mss)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_syncookies = TN_TCP_SYNCOOKIES_ALWAYS;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 4);
	static const uint8_t mss1400_ws[] = {2, 4, 0x05, 0x78, 4, 2, 1, 3, 3, 7, 1, 1};
	peer_send(h, &(struct pseg){.sport = 1003, .seq = 30000, .flags = TCP_SYN, .opt = mss1400_ws,
				    .optlen = sizeof(mss1400_ws)});
	struct oseg o = last_only(h);
	ck_assert(o.opt.mss_ok && !o.opt.ws_ok && !o.opt.sack_ok && !o.opt.ts_ok);
	ck_assert_uint_eq(nsocks(h), 1); /* always: not even a free SYN queue is used */
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 1003, .seq = 30001, .ack = o.seq + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(h), 0);
	struct tn_sock *s = tn_sock_accept(l, NULL);
	ck_assert_ptr_nonnull(s);
	struct tn_sock_info info;
	tn_sock_info(s, &info);
	ck_assert(!info.ts && !info.sack);
	ck_assert_uint_eq(info.mss, 1300); /* the table's entry below the peer's 1400 */
	ck_assert_uint_eq(info.snd_wscale, 0);
	ck_assert_uint_eq(info.rcv_wscale, 0);
	h_free(h);
}
END_TEST

START_TEST(bad_or_unexpected_cookie_acks_get_a_reset)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 4);
	/* No overflow yet: an ACK is nobody's, and no cookie is checked. */
	peer_send(h, &(struct pseg){.sport = 1004, .seq = 1, .ack = 12345, .flags = TCP_ACK});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_RST);
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesFailed), 0);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 1005, .seq = 1, .flags = TCP_SYN});
	peer_send(h, &(struct pseg){.sport = 1006, .seq = 1, .flags = TCP_SYN});
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesSent), 1);
	h_clear(h);
	/* A guessed cookie: counted, reset, nothing created. */
	peer_send(h, &(struct pseg){.sport = 1007, .seq = 2, .ack = 12345, .flags = TCP_ACK});
	o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_RST);
	ck_assert_uint_eq(o.seq, 12345);
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesFailed), 1);
	ck_assert_uint_eq(nsocks(h), 1);
	ck_assert_uint_eq(half_open(l), 1);
	ck_assert_ptr_null(tn_sock_accept(l, NULL));
	/* Two minutes without overflow: cookie ACKs are no longer even looked at. */
	h_advance(h, 121 * SEC);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 1007, .seq = 2, .ack = 12345, .flags = TCP_ACK});
	ck_assert_uint_eq(last_only(h).flags, TCP_RST);
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesFailed), 1);
	h_free(h);
}
END_TEST

START_TEST(full_queue_without_cookies_drops)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_syncookies = TN_TCP_SYNCOOKIES_NO;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 4);
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 1, .flags = TCP_SYN});
	h_clear(h);
	for (uint16_t p = 0; p < 10; p++)
		peer_send(h, &(struct pseg){.sport = (uint16_t)(2000 + p), .seq = 1, .flags = TCP_SYN});
	ck_assert_uint_eq(tcp_out_count(h), 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtListenDrops), 10);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPReqQFullDrop), 10);
	ck_assert_uint_eq(H_CTR(h, TcpExtSyncookiesSent), 0);
	ck_assert_uint_eq(half_open(l), 1);
	h_free(h);
}
END_TEST

START_TEST(full_accept_queue_drops_the_cookie_ack)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_syncookies = TN_TCP_SYNCOOKIES_ALWAYS;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 1);
	uint32_t cookies[2];
	for (int i = 0; i < 2; i++) {
		peer_send(h, &(struct pseg){.sport = (uint16_t)(3000 + i), .seq = 1, .flags = TCP_SYN});
		cookies[i] = last_only(h).seq;
		h_clear(h);
	}
	peer_send(h, &(struct pseg){.sport = 3000, .seq = 2, .ack = cookies[0] + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(H_CTR(h, TcpPassiveOpens), 1);
	/* The accept queue (backlog 1) is full: the ACK is ignored, as Linux does; no RST. */
	peer_send(h, &(struct pseg){.sport = 3001, .seq = 2, .ack = cookies[1] + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(h), 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtListenOverflows), 1);
	ck_assert_uint_eq(H_CTR(h, TcpPassiveOpens), 1);
	/* accepted: the peer's retransmitted ACK now gets in */
	ck_assert_ptr_nonnull(tn_sock_accept(l, NULL));
	peer_send(h, &(struct pseg){.sport = 3001, .seq = 2, .ack = cookies[1] + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(H_CTR(h, TcpPassiveOpens), 2);
	ck_assert_ptr_nonnull(tn_sock_accept(l, NULL));
	h_free(h);
}
END_TEST

/*
 * A half-open connection is a compact entry (struct tcp_req, at most 128
 * bytes, checked at compile time in tcp.h), not a socket: no rings, no
 * socket block. The connection and its buffers exist from the final ACK.
 */
START_TEST(half_open_is_compact_and_holds_no_buffers)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_timestamps = true;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 4);
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 10, .flags = TCP_SYN, .opt = syn_opts,
				    .optlen = sizeof(syn_opts)});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(o.wnd, 65535); /* the window is the buffer it will get */
	ck_assert(o.opt.ws_ok && o.opt.wscale == 7 && o.opt.sack_ok && o.opt.ts_ok && o.opt.tsecr == 1);
	ck_assert_uint_eq(nsocks(h), 1);
	ck_assert_uint_eq(half_open(l), 1);
	h_clear(h);
	h_advance(h, 7 * MS);
	uint8_t ts[12];
	ts_opt(ts, 2, o.opt.tsval);
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 11, .ack = o.seq + 1, .flags = TCP_ACK,
				    .opt = ts, .optlen = sizeof(ts), .wnd = 1000});
	ck_assert_uint_eq(tcp_out_count(h), 0);
	ck_assert_uint_eq(half_open(l), 0);
	struct tn_sock *s = tn_sock_accept(l, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(s->rcvbuf.data);
	ck_assert_ptr_nonnull(s->sndbuf.data);
	struct tn_sock_info info;
	tn_sock_info(s, &info);
	ck_assert(info.ts && info.sack);
	ck_assert_uint_eq(info.snd_wscale, 7);
	ck_assert_uint_eq(info.snd_wnd, 1000u << 7);
	ck_assert_uint_eq(info.mss, 1448);
	ck_assert_uint_eq(info.rtt_us, 7000); /* the SYN-ACK's round trip, from the timestamp */
	ck_assert_uint_eq(H_CTR(h, TcpPassiveOpens), 1);
	h_free(h);
}
END_TEST

START_TEST(half_open_retransmits_then_goes)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_synack_retries = 2;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 4);
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 10, .flags = TCP_SYN});
	uint32_t iss = last_only(h).seq;
	h_clear(h);
	/* the peer repeats its SYN: the same SYN-ACK */
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 10, .flags = TCP_SYN});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(o.seq, iss);
	h_clear(h);
	/* 1 s, then 2 s later: SYN-ACK again; after the last, 4 s of silence and it is gone */
	h_advance(h, 999 * MS);
	ck_assert_uint_eq(tcp_out_count(h), 0);
	h_advance(h, 1 * MS);
	ck_assert_uint_eq(last_only(h).seq, iss);
	h_clear(h);
	h_advance(h, 2 * SEC);
	ck_assert_uint_eq(last_only(h).seq, iss);
	h_clear(h);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPSynRetrans), 2);
	h_advance(h, 4 * SEC);
	ck_assert_uint_eq(tcp_out_count(h), 0);
	ck_assert_uint_eq(half_open(l), 0);
	/* its ACK now finds nothing: RST */
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 11, .ack = iss + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(last_only(h).flags, TCP_RST);
	h_free(h);
}
END_TEST

START_TEST(half_open_rst_syn_and_bad_ack)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_max_syn_backlog = 8;
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 8, &l);
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 10, .flags = TCP_SYN});
	uint32_t iss = last_only(h).seq;
	h_clear(h);
	/* an ACK of something else: RST, the entry stays */
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 11, .ack = iss + 5, .flags = TCP_ACK});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_RST);
	ck_assert_uint_eq(o.seq, iss + 5);
	ck_assert_uint_eq(half_open(l), 1);
	h_clear(h);
	/* a RST not at the exact sequence number: ignored; at it: the entry goes */
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 12, .flags = TCP_RST});
	ck_assert_uint_eq(half_open(l), 1);
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 11, .flags = TCP_RST});
	ck_assert_uint_eq(half_open(l), 0);
	ck_assert_uint_eq(tcp_out_count(h), 0);
	/* a different SYN inside the window: RST, and the entry goes */
	peer_send(h, &(struct pseg){.sport = 1002, .seq = 10, .flags = TCP_SYN});
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 1002, .seq = 500, .flags = TCP_SYN});
	ck_assert_uint_eq(last_only(h).flags & TCP_RST, TCP_RST);
	ck_assert_uint_eq(half_open(l), 0);
	h_free(h);
}
END_TEST

START_TEST(half_open_waits_for_room_in_the_accept_queue)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_max_syn_backlog = 8;
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 1, &l);
	uint32_t iss[2];
	for (int i = 0; i < 2; i++) {
		peer_send(h, &(struct pseg){.sport = (uint16_t)(1001 + i), .seq = 10, .flags = TCP_SYN});
		iss[i] = last_only(h).seq;
		h_clear(h);
	}
	peer_send(h, &(struct pseg){.sport = 1001, .seq = 11, .ack = iss[0] + 1, .flags = TCP_ACK});
	peer_send(h, &(struct pseg){.sport = 1002, .seq = 11, .ack = iss[1] + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(h), 0); /* dropped, as Linux does: no RST */
	ck_assert_uint_eq(H_CTR(h, TcpExtListenOverflows), 1);
	ck_assert_uint_eq(half_open(l), 1);
	ck_assert_ptr_nonnull(tn_sock_accept(l, NULL));
	peer_send(h, &(struct pseg){.sport = 1002, .seq = 11, .ack = iss[1] + 1, .flags = TCP_ACK});
	ck_assert_ptr_nonnull(tn_sock_accept(l, NULL));
	ck_assert_uint_eq(half_open(l), 0);
	h_free(h);
}
END_TEST

/*
 * RFC 7323 with Linux's order: a segment whose ACK is unacceptable (here:
 * acking what was never sent) must not move ts_recent, or its forged TSval
 * would make PAWS drop the peer's real segments afterwards.
 */
START_TEST(ts_recent_moves_only_with_an_acceptable_ack)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_timestamps = true;
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	uint8_t ts[12];
	ts_opt(ts, 0x70000000, 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 100000, .flags = TCP_ACK,
				      .opt = ts, .optlen = sizeof(ts)});
	ck_assert_uint_eq(tcp_out_count(c.h), 1); /* answered with an ACK, and dropped */
	h_clear(c.h);
	ts_opt(ts, 3, 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .opt = ts, .optlen = sizeof(ts), .data = "data", .len = 4});
	ck_assert_uint_eq(H_CTR(c.h, TcpExtPAWSEstab), 0);
	ck_assert_uint_eq(tn_sock_readable(c.s), 4);
	/* and a real older TSval is still refused */
	ts_opt(ts, 2, 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 4, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .opt = ts, .optlen = sizeof(ts), .data = "more", .len = 4});
	ck_assert_uint_eq(H_CTR(c.h, TcpExtPAWSEstab), 1);
	ck_assert_uint_eq(tn_sock_readable(c.s), 4);
	close_conn(&c);
}
END_TEST

/* One connection's limited attempts do not spend the budget others need. */
START_TEST(challenge_acks_limited_per_connection_first)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_challenge_ack_limit = 3; /* a budget of 2..4 per second */
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 8, &l);
	uint32_t iss[2];
	for (int i = 0; i < 2; i++)
		accept_from(h, l, (uint16_t)(50001 + i), 1000, &iss[i]);
	h_clear(h);
	for (int i = 0; i < 20; i++)
		peer_send(h, &(struct pseg){.sport = 50001, .seq = 1010, .flags = TCP_RST});
	ck_assert_uint_eq(tcp_out_count(h), 1);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPACKSkippedChallenge), 19);
	peer_send(h, &(struct pseg){.sport = 50002, .seq = 1010, .flags = TCP_RST});
	ck_assert_uint_eq(tcp_out_count(h), 2);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPChallengeACK), 2);
	h_free(h);
}
END_TEST

/* The stack-wide budget is drawn anew each second in [limit/2, limit*3/2). */
START_TEST(challenge_ack_budget_is_randomised)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_invalid_ratelimit_ms = 0; /* the per-connection limit out of the way */
	cfg.tcp_challenge_ack_limit = 100;
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	uint32_t lo = UINT32_MAX, hi = 0;
	for (int sec = 0; sec < 20; sec++) {
		uint32_t n = 0;
		while (tcp_challenge_allowed(c.s) && n < 1000)
			n++;
		ck_assert_uint_ge(n, 50);
		ck_assert_uint_le(n, 149);
		lo = n < lo ? n : lo;
		hi = n > hi ? n : hi;
		h_advance(c.h, SEC);
	}
	ck_assert_uint_lt(lo, hi); /* not a fixed number an attacker could subtract */
	close_conn(&c);
}
END_TEST


/* Closes an accepted connection on port sport and lets the peer ACK our FIN: an orphan in FIN_WAIT_2. */
static void orphan_on(struct harness *h, struct tn_sock *l, uint16_t sport, uint32_t *our_seq)
{
	uint32_t iss;
	tn_sock_close(accept_from(h, l, sport, 1000, &iss));
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = sport, .seq = 1001, .ack = iss + 2, .flags = TCP_ACK});
	*our_seq = iss + 2;
}

START_TEST(orphan_fin_wait_2_is_compact)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 8);
	uint32_t seq;
	orphan_on(h, l, 4000, &seq);
	ck_assert_uint_eq(nsocks(h), 1); /* only the listener: no socket, no rings */
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 1);
	/* a pure ACK changes nothing */
	peer_send(h, &(struct pseg){.sport = 4000, .seq = 1001, .ack = seq, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(h), 0);
	/* its FIN: TIME_WAIT, ACKed at once */
	peer_send(h, &(struct pseg){.sport = 4000, .seq = 1001, .ack = seq, .flags = TCP_ACK | TCP_FIN});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.seq, seq);
	ck_assert_uint_eq(o.ack, 1002);
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 0);
	ck_assert_uint_eq(tn_timewait_count(h->stack), 1);
	h_clear(h);
	/* a SYN at an orphan resets it */
	orphan_on(h, l, 4001, &seq);
	peer_send(h, &(struct pseg){.sport = 4001, .seq = 5000, .flags = TCP_SYN});
	o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 0);
	h_free(h);
}
END_TEST

START_TEST(max_orphans_resets_the_oldest)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_max_orphans = 2;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 8);
	uint32_t seq[2];
	for (int i = 0; i < 2; i++)
		orphan_on(h, l, (uint16_t)(4100 + i), &seq[i]);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPAbortOnMemory), 0);
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 2);
	/* a third close: the oldest orphan gets a RST from the state it had */
	uint32_t iss;
	struct tn_sock *third = accept_from(h, l, 4102, 1000, &iss);
	h_clear(h);
	tn_sock_close(third);
	bool reset = false, fin = false;
	struct oseg o;
	for (size_t i = 0; i < h->nout; i++) {
		if (!out_seg(h, i, &o))
			continue;
		if (o.dport == 4100 && o.flags == (TCP_RST | TCP_ACK) && o.seq == seq[0])
			reset = true;
		if (o.dport == 4102 && (o.flags & TCP_FIN))
			fin = true;
	}
	ck_assert(reset && fin);
	ck_assert_uint_eq(tcp_out_count(h), 2);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPAbortOnMemory), 1);
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 1);
	peer_send(h, &(struct pseg){.sport = 4102, .seq = 1001, .ack = iss + 2, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 2);
	/* the others wait out fin_timeout, then go quietly */
	h_clear(h);
	h_advance(h, 60 * SEC);
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 0);
	ck_assert_uint_eq(tcp_out_count(h), 0);
	h_free(h);
}
END_TEST

/*
 * CONFORMANCE 26 against a peer that opens its window a byte at a time
 * and says so ten times a second: the orphan sends it no slivers, its
 * probes back off as against a zero window, and it ends after tcp_retries
 * of them instead of holding its buffers forever.
 */
START_TEST(orphan_facing_a_one_byte_window_gives_up)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .wnd = 1});
	char data[100];
	memset(data, 'x', sizeof(data));
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), 100);
	tn_sock_close(c.s);
	h_clear(c.h);
	uint64_t ended = 0;
	for (uint64_t t = 0; t < 7200 * SEC && !ended; t += 100 * MS) {
		h_advance(c.h, 100 * MS);
		struct oseg o;
		for (size_t i = 0; i < c.h->nout; i++) {
			if (!out_seg(c.h, i, &o))
				continue;
			ck_assert_uint_eq(o.len, 0); /* probes only, never a byte of data */
			if (o.flags & TCP_RST)
				ended = t;
		}
		h_clear(c.h);
		if (nsocks(c.h) == 1)
			ended = ended ? ended : t;
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .wnd = 1});
	}
	ck_assert_uint_gt(ended, 0);
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1); /* only the listener left, no entry */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnTimeout), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPWinProbe), 15);
	close_conn(&c);
}
END_TEST

/* Orphans that still hold a socket count too, and are the first to go. */
START_TEST(max_orphans_counts_closing_sockets)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_max_orphans = 2;
	struct tn_sock *l;
	struct harness *h = flood_server(&cfg, &l, 8);
	uint32_t fw2_seq;
	orphan_on(h, l, 4200, &fw2_seq); /* a compact one, the oldest */
	uint32_t iss[2];
	for (int i = 0; i < 2; i++) {
		uint16_t port = (uint16_t)(4300 + i);
		peer_send(h, &(struct pseg){.sport = port, .seq = 1000, .flags = TCP_SYN});
		iss[i] = last_only(h).seq;
		h_clear(h);
		/* the peer's window is shut: the FIN waits behind data, the socket stays */
		peer_send(h, &(struct pseg){.sport = port, .seq = 1001, .ack = iss[i] + 1, .flags = TCP_ACK,
					    .zero_wnd = true});
		struct tn_sock *s = tn_sock_accept(l, NULL);
		ck_assert_int_eq(tn_sock_send(s, "stuck", 5), 5);
		h_clear(h);
		tn_sock_close(s);
	}
	/* three orphans for two places: the oldest that holds a socket was reset */
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPAbortOnMemory), 1);
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(o.dport, 4300);
	ck_assert_uint_eq(tcp_of(h->stack)->fw2.count, 1);
	ck_assert_uint_eq(tcp_of(h->stack)->norphans, 1);
	h_free(h);
}
END_TEST

/* `tapnet ss` still sees them: half-open as SYN-RECV, orphans as FIN-WAIT-2, in pages too. */
START_TEST(entries_are_listed_like_sockets)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_max_syn_backlog = 8;
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 8, &l);
	uint32_t seq;
	orphan_on(h, l, 5000, &seq);
	peer_send(h, &(struct pseg){.sport = 5001, .seq = 10, .flags = TCP_SYN});
	peer_send(h, &(struct pseg){.sport = 5002, .seq = 10, .flags = TCP_SYN});
	struct tn_sock_info all[8];
	ck_assert_uint_eq(tn_sock_list(h->stack, all, 8), 4);
	unsigned synrecv = 0, fw2 = 0, listen = 0;
	for (int i = 0; i < 4; i++) {
		synrecv += all[i].state == TN_TCP_SYN_RECEIVED && all[i].remote_port >= 5001;
		fw2 += all[i].state == TN_TCP_FIN_WAIT_2 && all[i].remote_port == 5000 && all[i].orphan;
		listen += all[i].state == TN_TCP_LISTEN;
		ck_assert_ptr_nonnull(all[i].cc);
	}
	ck_assert_uint_eq(synrecv, 2);
	ck_assert_uint_eq(fw2, 1);
	ck_assert_uint_eq(listen, 1);
	/* oldest first in pages of one: the listener, then the entries */
	struct tn_sock_info one;
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 0, &one, 1), 4);
	ck_assert_int_eq(one.state, TN_TCP_LISTEN);
	unsigned seen = 0;
	for (size_t start = 1; start < 4; start++) {
		memset(&one, 0, sizeof(one));
		ck_assert_uint_eq(tn_sock_list_from(h->stack, start, &one, 1), 4);
		ck_assert(one.state == TN_TCP_SYN_RECEIVED || one.state == TN_TCP_FIN_WAIT_2);
		seen |= 1u << (one.remote_port - 5000);
	}
	ck_assert_uint_eq(seen, 7);
	h_free(h);
}
END_TEST

static Suite *synflood_suite(void)
{
	Suite *s = suite_create("synflood");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, cookie_round_trip_and_expiry);
	tcase_add_test(tc, cookie_mss_table_and_timestamp_options);
	tcase_add_test(tc, full_syn_queue_answers_with_cookies);
	tcase_add_test(tc, cookie_without_timestamps_keeps_only_the_mss);
	tcase_add_test(tc, bad_or_unexpected_cookie_acks_get_a_reset);
	tcase_add_test(tc, full_queue_without_cookies_drops);
	tcase_add_test(tc, full_accept_queue_drops_the_cookie_ack);
	tcase_add_test(tc, half_open_is_compact_and_holds_no_buffers);
	tcase_add_test(tc, half_open_retransmits_then_goes);
	tcase_add_test(tc, half_open_rst_syn_and_bad_ack);
	tcase_add_test(tc, half_open_waits_for_room_in_the_accept_queue);
	tcase_add_test(tc, ts_recent_moves_only_with_an_acceptable_ack);
	tcase_add_test(tc, challenge_acks_limited_per_connection_first);
	tcase_add_test(tc, challenge_ack_budget_is_randomised);
	tcase_add_test(tc, orphan_fin_wait_2_is_compact);
	tcase_add_test(tc, max_orphans_resets_the_oldest);
	tcase_add_test(tc, orphan_facing_a_one_byte_window_gives_up);
	tcase_add_test(tc, max_orphans_counts_closing_sockets);
	tcase_add_test(tc, entries_are_listed_like_sockets);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(synflood_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
