/*
 * check_tcp.c - TCP state transitions, driven by crafted segments from the
 * peer (10.0.0.1) and checked on the segments the core sends back.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack/tcp.h"
#include "stack_harness.h"
#include "tcp_peer.h"

START_TEST(rst_for_closed_port)
{
	struct harness *h = new_harness();
	peer_send(h, &(struct pseg){.seq = 5, .flags = TCP_SYN, .data = "abc", .len = 3});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_RST | TCP_ACK);
	ck_assert_uint_eq(o.seq, 0);
	ck_assert_uint_eq(o.ack, 5 + 1 + 3);
	h_clear(h);
	peer_send(h, &(struct pseg){.seq = 5, .ack = 777, .flags = TCP_ACK});
	o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_RST);
	ck_assert_uint_eq(o.seq, 777);
	h_clear(h);
	peer_send(h, &(struct pseg){.seq = 5, .flags = TCP_RST});
	ck_assert_uint_eq(tcp_out_count(h), 0);
	ck_assert_uint_eq(H_CTR(h, TcpOutRsts), 2);
	peer_send(h, &(struct pseg){.seq = 5, .flags = TCP_SYN, .bad_csum = true});
	ck_assert_uint_eq(tcp_out_count(h), 0);
	ck_assert_uint_eq(H_CTR(h, TcpInCsumErrors), 1);
	h_free(h);
}
END_TEST

START_TEST(handshake_negotiates_options)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	struct tn_sock *l;
	struct harness *h = new_server(&cfg, 4, &l);
	peer_send(h, &(struct pseg){.seq = PEER_ISN, .flags = TCP_SYN, .opt = syn_opts,
				    .optlen = sizeof(syn_opts)});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert(o.opt.mss_ok && o.opt.mss == 1460);
	ck_assert(o.opt.ws_ok && o.opt.wscale == 7); /* the receive buffer may grow to 6 MiB */
	ck_assert(o.opt.sack_ok);
	ck_assert(o.opt.ts_ok && o.opt.tsecr == 1);
	uint32_t iss = o.seq, tsval = o.opt.tsval;
	h_clear(h);
	uint8_t ts[12] = {1, 1, 8, 10, 0, 0, 0, 2};
	tn_put32(ts + 8, tsval);
	peer_send(h, &(struct pseg){.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .opt = ts,
				    .optlen = sizeof(ts), .wnd = 1000});
	struct tn_sock *s = tn_sock_accept(l, NULL);
	ck_assert_ptr_nonnull(s);
	struct tn_sock_info info;
	tn_sock_info(s, &info);
	ck_assert(info.ts && info.sack);
	ck_assert_uint_eq(info.mss, 1448);
	ck_assert_uint_eq(info.snd_wnd, 1000u << 7);
	ck_assert_uint_eq(info.rcv_wscale, 7);
	ck_assert_uint_eq(H_CTR(h, TcpPassiveOpens), 1);
	ck_assert_uint_eq(H_CTR(h, TcpCurrEstab), 1);
	ck_assert_uint_eq(tn_sock_list(h->stack, NULL, 0), 2);
	h_free(h);
}
END_TEST

START_TEST(malformed_options_are_ignored)
{
	struct tn_sock *l;
	struct harness *h = new_server(NULL, 4, &l);
	/* A zero-length option stops parsing: the MSS after it is not seen. */
	static const uint8_t zero_len[] = {3, 0, 1, 1, 2, 4, 0x01, 0x00};
	peer_send(h, &(struct pseg){.seq = 1, .flags = TCP_SYN, .opt = zero_len, .optlen = 8,
				    .sport = 1001});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert(!o.opt.ws_ok); /* we only offer what the peer offered */
	h_clear(h);
	/* An option running past the header. */
	static const uint8_t overlong[] = {1, 1, 2, 40, 0, 0, 0, 0};
	peer_send(h, &(struct pseg){.seq = 1, .flags = TCP_SYN, .opt = overlong, .optlen = 8,
				    .sport = 1002});
	o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	h_clear(h);
	h_free(h);

	/* The parser itself, on buffers that end exactly where the options do. */
	struct tcp_opts opt;
	static const struct {
		uint8_t b[12];
		size_t len;
	} cases[] = {
		{{2}, 1},                 /* kind without length */
		{{2, 4, 5}, 3},           /* MSS cut short */
		{{8, 10, 1, 2, 3, 4}, 6}, /* TS cut short */
		{{5, 1, 0}, 3},           /* length 1 */
		{{5, 255, 0}, 3},         /* length past the end */
		{{1, 1, 1, 2, 3}, 5},     /* NOPs then a truncated MSS */
		{{4, 3, 0}, 3},           /* SACK_PERM with the wrong length */
	};
	for (size_t i = 0; i < TN_ARRAY_SIZE(cases); i++) {
		uint8_t *b = malloc(cases[i].len); /* ASan catches a read past it */
		memcpy(b, cases[i].b, cases[i].len);
		tcp_opt_parse(b, cases[i].len, true, &opt);
		ck_assert(!opt.mss_ok && !opt.ts_ok && !opt.sack_ok);
		free(b);
	}
	static const uint8_t sack[] = {5, 10, 0, 0, 0, 1, 0, 0, 0, 9};
	tcp_opt_parse(sack, sizeof(sack), false, &opt);
	ck_assert_uint_eq(opt.nsack, 1);
	ck_assert_uint_eq(opt.sack[0].end, 9);
	tcp_opt_parse(sack, sizeof(sack), true, &opt); /* SACK blocks on a SYN: ignored */
	ck_assert_uint_eq(opt.nsack, 0);
}
END_TEST

START_TEST(data_is_acked_late_then_every_second_segment)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = "hello", .len = 5});
	c.snd += 5;
	ck_assert_uint_eq(tcp_out_count(c.h), 0); /* delayed */
	h_advance(c.h, 40 * TN_NSEC_PER_MSEC);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	h_clear(c.h);
	char buf[16];
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), -EAGAIN);

	static uint8_t big[1460];
	for (int i = 0; i < 2; i++) {
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
					      .data = big, .len = sizeof(big)});
		c.snd += sizeof(big);
	}
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	close_conn(&c);
}
END_TEST

/* Peer data in order, n full segments of 1460 bytes. */
static void send_full(struct conn *c, int n)
{
	static uint8_t big[1460];
	for (int i = 0; i < n; i++) {
		peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv, .flags = TCP_ACK,
					       .data = big, .len = sizeof(big)});
		c->snd += sizeof(big);
	}
}

/* Peer data in order, n frames of two segments each, merged as the tap's TSO/GRO frames are. */
static void send_gso(struct conn *c, int n)
{
	static uint8_t run[2 * 1460];
	struct tn_frame_meta gso = {.gso_type = TN_GSO_TCPV4, .gso_size = 1460,
				    .flags = TN_FRAME_CSUM_VALID};
	c->h->in_meta = &gso;
	for (int i = 0; i < n; i++) {
		peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv, .flags = TCP_ACK,
					       .data = run, .len = sizeof(run)});
		c->snd += sizeof(run);
	}
	c->h->in_meta = NULL;
}

/* The application reads everything received so far. */
static void read_all(struct conn *c)
{
	static char drain[65536];
	while (tn_sock_recv(c->s, drain, sizeof(drain)) > 0)
		;
}

/*
 * A batch of n merged runs, read by the application: the sender's flight
 * as the next batch estimates it (tcp_ack_later ACKs a batch at least four
 * times per flight).
 */
static void batch_of_flight(struct conn *c, int n)
{
	tn_stack_batch_begin(c->h->stack);
	send_gso(c, n);
	tn_stack_batch_end(c->h->stack);
	read_all(c);
	h_clear(c->h);
}

/*
 * An input batch (tn_stack_batch_begin/end): merged runs of in-order data
 * (TSO/GRO frames) of less than a quarter of the sender's flight are ACKed
 * once, at the batch's end; segments that came one by one keep
 * every-second-segment ACKs; a lone small segment keeps its delayed ACK;
 * without a batch every run is ACKed at once; a FIN is ACKed at once.
 */
START_TEST(batch_acks_in_order_data_once_at_its_end)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_rcvbuf = cfg.tcp_rcvbuf_max = 1 << 20;
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	batch_of_flight(&c, 40); /* 116 800 bytes: ACKs at least every 29 200 */
	tn_stack_batch_begin(c.h->stack);
	send_gso(&c, 5);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	tn_stack_batch_end(c.h->stack);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert(o.flags == TCP_ACK);
	h_clear(c.h);
	h_advance(c.h, 100 * TN_NSEC_PER_MSEC); /* no delayed ACK left behind */
	ck_assert_uint_eq(tcp_out_count(c.h), 0);

	/* single segments in a batch: every sixteenth, the rest at the batch's end */
	batch_of_flight(&c, 40);
	tn_stack_batch_begin(c.h->stack);
	send_full(&c, 18);
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd - 2 * 1460);
	h_clear(c.h);
	tn_stack_batch_end(c.h->stack);
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	/* room for what follows (its window update, repeated, is no concern here) */
	static char drain[65536];
	ck_assert_int_gt(tn_sock_recv(c.s, drain, sizeof(drain)), 0);
	h_advance(c.h, 10 * TN_NSEC_PER_MSEC);
	h_clear(c.h);
	/* without a batch: every second one */
	send_full(&c, 10);
	ck_assert_uint_eq(tcp_out_count(c.h), 5);
	h_clear(c.h);

	/* an empty batch, and a batch of one small segment: the delayed ACK as before */
	tn_stack_batch_begin(c.h->stack);
	tn_stack_batch_end(c.h->stack);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	tn_stack_batch_begin(c.h->stack);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = "hello", .len = 5});
	c.snd += 5;
	tn_stack_batch_end(c.h->stack);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 40 * TN_NSEC_PER_MSEC);
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	h_clear(c.h);

	/* no batch: each run at once */
	send_gso(&c, 5);
	ck_assert_uint_eq(tcp_out_count(c.h), 5);
	h_clear(c.h);

	/* a FIN in a batch is ACKed at once, with the data before it */
	batch_of_flight(&c, 40);
	tn_stack_batch_begin(c.h->stack);
	send_gso(&c, 3);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN});
	c.snd++;
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	h_clear(c.h);
	tn_stack_batch_end(c.h->stack);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	close_conn(&c);
}
END_TEST

/*
 * Out-of-order data in a batch is answered at once with its SACK block
 * (RFC 5681 4.2, RFC 2018), covering the in-order data deferred before it;
 * the segment that fills the hole is ACKed at once too; then quick ACK
 * mode ACKs each run at once, and the batch's end owes nothing.
 */
/* A batch of merged runs is ACKed at least every 256 KB, not only at its end. */
START_TEST(batch_acks_merged_runs_every_256k)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_rcvbuf = cfg.tcp_rcvbuf_max = 4 << 20;
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	batch_of_flight(&c, 400); /* 1 168 000 bytes: a quarter is more than 256 KB */
	const uint32_t first = c.snd;
	tn_stack_batch_begin(c.h->stack);
	send_gso(&c, 100); /* 292 000 bytes */
	struct oseg o = last_only(c.h);
	ck_assert_uint_ge(o.ack - first, 256 * 1024);
	ck_assert_uint_lt(o.ack - first, 256 * 1024 + 2 * 1460);
	h_clear(c.h);
	tn_stack_batch_end(c.h->stack);
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	close_conn(&c);
}
END_TEST

/*
 * A batch is ACKed at least four times per flight of the sender's (the
 * larger of this batch and the previous one), so that one lost ACK, or
 * one ACK of everything in flight, does not leave the sender waiting for
 * a timer; a connection's first batch is ACKed from its first frame on.
 */
START_TEST(batch_acks_four_times_a_flight)
{
	struct conn c = open_passive();
	tn_stack_batch_begin(c.h->stack);
	send_gso(&c, 1); /* no flight known: a quarter of this one */
	ck_assert_uint_eq(tcp_out_count(c.h), 1);
	tn_stack_batch_end(c.h->stack);
	read_all(&c);
	batch_of_flight(&c, 20); /* 58 400 bytes */
	const uint32_t first = c.snd;
	tn_stack_batch_begin(c.h->stack);
	send_gso(&c, 20);
	ck_assert_uint_eq(tcp_out_count(c.h), 4);
	for (size_t i = 0; i < 4; i++) {
		struct oseg o;
		ck_assert(out_seg(c.h, i, &o));
		ck_assert_uint_eq(o.ack, first + (uint32_t)(i + 1) * 5 * 2920);
	}
	h_clear(c.h);
	tn_stack_batch_end(c.h->stack);
	ck_assert_uint_eq(tcp_out_count(c.h), 0); /* nothing left owed */
	close_conn(&c);
}
END_TEST

/* A small segment of the peer's, in order, with PSH. */
/* The peer's next len bytes of data, in order. */
static void send_bytes(struct conn *c, const void *data, size_t len)
{
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv, .flags = TCP_ACK | TCP_PSH,
				       .data = data, .len = len});
	c->snd += (uint32_t)len;
}

static void send_text(struct conn *c, const char *text)
{
	send_bytes(c, text, strlen(text));
}

/*
 * Data after a silence longer than the RTO is ACKed at once, as Linux's
 * quick ACK mode does: the sender is likely starting again from a small
 * window (after a timeout) and waits for each ACK.
 */
START_TEST(data_after_a_silence_is_acked_at_once)
{
	struct conn c = open_passive();
	send_text(&c, "hello");
	ck_assert_uint_eq(tcp_out_count(c.h), 0); /* delayed */
	h_advance(c.h, 40 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(last_only(c.h).ack, c.snd);
	h_clear(c.h);
	send_text(&c, "hello");
	ck_assert_uint_eq(tcp_out_count(c.h), 0); /* no silence: delayed */
	h_advance(c.h, 40 * TN_NSEC_PER_MSEC);
	h_clear(c.h);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	h_advance(c.h, ((uint64_t)info.rto_ms + 1) * TN_NSEC_PER_MSEC);
	h_clear(c.h);
	send_text(&c, "hello");
	ck_assert_uint_eq(last_only(c.h).ack, c.snd);
	close_conn(&c);
}
END_TEST

START_TEST(batch_answers_holes_at_once)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	static uint8_t big[1460];
	batch_of_flight(&c, 20);
	tn_stack_batch_begin(c.h->stack);
	send_gso(&c, 2); /* deferred */
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	uint32_t hole = c.snd;
	peer_send(c.h, &(struct pseg){.seq = hole + 1460, .ack = c.rcv, .flags = TCP_ACK,
				      .data = big, .len = sizeof(big)});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.ack, hole);
	ck_assert_uint_eq(o.opt.nsack, 1);
	ck_assert_uint_eq(o.opt.sack[0].start, hole + 1460);
	ck_assert_uint_eq(o.opt.sack[0].end, hole + 2920);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = hole + 2920, .ack = c.rcv, .flags = TCP_ACK,
				      .data = big, .len = sizeof(big)});
	o = last_only(c.h); /* each out-of-order segment: its own duplicate ACK */
	ck_assert_uint_eq(o.ack, hole);
	ck_assert_uint_eq(o.opt.sack[0].end, hole + 3 * 1460);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = hole, .ack = c.rcv, .flags = TCP_ACK,
				      .data = big, .len = sizeof(big)});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, hole + 3 * 1460);
	ck_assert_uint_eq(o.opt.nsack, 0);
	c.snd = hole + 3 * 1460;
	h_clear(c.h);
	send_gso(&c, 2); /* quick ACK mode after the hole: at once */
	ck_assert_uint_eq(tcp_out_count(c.h), 2);
	h_clear(c.h);
	tn_stack_batch_end(c.h->stack);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	close_conn(&c);
}
END_TEST

/* A connection with a fixed 16 KiB receive buffer: no growth, no window scale. */
static struct conn open_fixed_16k(void)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_rcvbuf = cfg.tcp_rcvbuf_max = 16384;
	return open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
}

/*
 * A reader draining the buffer inside a batch: its window update waits for
 * the batch's end and goes as the one ACK of the batch's data; outside a
 * batch it goes at once (Linux's tcp_cleanup_rbuf: the window doubled).
 */
START_TEST(batch_merges_window_update_with_its_ack)
{
	struct conn c = open_fixed_16k();
	static char buf[16384];
	tn_stack_batch_begin(c.h->stack);
	send_full(&c, 10); /* 14600 of 16384: the window is almost closed */
	tn_stack_batch_end(c.h->stack); /* a flight of 14 600 bytes (batch_of_flight) */
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 14600);
	struct oseg o = last_only(c.h); /* the window update */
	ck_assert_uint_eq(o.ack, c.snd);
	h_clear(c.h);

	send_full(&c, 10);
	h_clear(c.h);
	tn_stack_batch_begin(c.h->stack);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 14600);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	send_gso(&c, 1);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	tn_stack_batch_end(c.h->stack);
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_ge((uint32_t)o.wnd << info.rcv_wscale, 16384 - 2 * 1460 - (1u << info.rcv_wscale));
	close_conn(&c);
}
END_TEST

/* Fills open_fixed_16k's buffer to the last byte; the delayed ACK (a zero window) has gone. */
static void fill_16k(struct conn *c)
{
	static uint8_t rest[16384 - 11 * 1460];
	send_full(c, 11);
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv, .flags = TCP_ACK, .data = rest,
				       .len = sizeof(rest)});
	c->snd += sizeof(rest);
	h_advance(c->h, 50 * TN_NSEC_PER_MSEC);
}

/*
 * A reader that empties a full buffer reopens the window; when that update
 * is lost the sender would wait for its persist timer. The update goes
 * again while no data comes: after two RTTs (1 ms at least: the harness's
 * handshake took no time), then after twice that, then no more; data in
 * between stops the repeats.
 */
START_TEST(window_update_after_zero_window_is_repeated)
{
	struct conn c = open_fixed_16k();
	static char buf[16384];
	fill_16k(&c);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPToZeroWindowAdv), 1);
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 16384);
	struct oseg o = last_only(c.h); /* the update */
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_gt(o.wnd, 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPFromZeroWindowAdv), 1);
	h_clear(c.h);
	h_advance(c.h, TN_NSEC_PER_MSEC / 2);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, TN_NSEC_PER_MSEC / 2);
	o = last_only(c.h); /* again, the same */
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_gt(o.wnd, 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpWindowUpdateRepeats), 1);
	h_clear(c.h);
	h_advance(c.h, TN_NSEC_PER_MSEC + TN_NSEC_PER_MSEC / 2);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, TN_NSEC_PER_MSEC / 2);
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(H_CTR(c.h, TcpWindowUpdateRepeats), 2);
	h_clear(c.h);
	h_advance(c.h, 1000 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(tcp_out_count(c.h), 0); /* twice at most */

	/* closed and reopened again, and the sender's data comes: no repeat */
	fill_16k(&c);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPToZeroWindowAdv), 2);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 16384);
	send_full(&c, 1);
	h_clear(c.h);
	h_advance(c.h, 1000 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(c.h, TcpWindowUpdateRepeats), 2);
	close_conn(&c);
}
END_TEST

/*
 * The update a read sends when less than half the buffer was left open to
 * the sender (no zero window) is repeated the same way: once the buffer is
 * empty no later read would send another.
 */
START_TEST(window_update_of_a_small_window_is_repeated)
{
	struct conn c = open_fixed_16k();
	static char buf[16384];
	send_full(&c, 10); /* 14600 of 16384: 1784 left */
	h_advance(c.h, 50 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPToZeroWindowAdv), 0);
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 14600);
	struct oseg o = last_only(c.h); /* the update */
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_ge(o.wnd, 16384 - 1460);
	h_clear(c.h);
	h_advance(c.h, TN_NSEC_PER_MSEC);
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_ge(o.wnd, 16384 - 1460);
	ck_assert_uint_eq(H_CTR(c.h, TcpWindowUpdateRepeats), 1);
	/* the sender's data comes: no second repeat */
	send_full(&c, 1);
	h_clear(c.h);
	h_advance(c.h, 1000 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(c.h, TcpWindowUpdateRepeats), 1);
	close_conn(&c);
}
END_TEST

START_TEST(out_of_order_data_gets_sack_and_fills)
{
	static const uint8_t sackperm[] = {4, 2, 1, 1};
	struct conn c = open_passive_cfg(NULL, sackperm, sizeof(sackperm));
	struct oseg o;

	peer_send(c.h, &(struct pseg){.seq = c.snd + 3, .ack = c.rcv, .flags = TCP_ACK, .data = "def",
				      .len = 3});
	o = last_only(c.h); /* immediate duplicate ACK with a SACK block */
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(o.opt.nsack, 1);
	ck_assert_uint_eq(o.opt.sack[0].start, c.snd + 3);
	ck_assert_uint_eq(o.opt.sack[0].end, c.snd + 6);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = "abc",
				      .len = 3});
	o = last_only(c.h); /* the hole filled: ACK at once, no SACK left */
	ck_assert_uint_eq(o.ack, c.snd + 6);
	ck_assert_uint_eq(o.opt.nsack, 0);
	char buf[16];
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 6);
	ck_assert_int_eq(memcmp(buf, "abcdef", 6), 0);
	close_conn(&c);
}
END_TEST

/*
 * A receive buffer's worth of holes is held (a full window of them): with
 * a 2 MiB buffer, 400 full segments each one past a hole are all kept,
 * none dropped, each answered at once with its own block first; the holes
 * filled, the data is exact. A small buffer keeps at least 128 ranges;
 * tiny segments cannot take more (the 129th hole's segment is dropped and
 * counted, and comes again once there is room).
 */
START_TEST(out_of_order_holds_a_buffer_of_holes)
{
	enum { MSS = 1460, HOLES = 400 };
	static uint8_t data[2 * HOLES * MSS], back[2 * HOLES * MSS];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 7);
	for (int big = 1; big >= 0; big--) {
		struct tn_config cfg;
		peer_config(&cfg);
		if (big)
			cfg.tcp_rcvbuf = cfg.tcp_rcvbuf_max = 2 * 1024 * 1024;
		struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
		uint32_t holes = big ? HOLES : TCP_HOLES_MIN + 2, seg = big ? MSS : 100;
		for (uint32_t k = 1; k < 2 * holes; k += 2) {
			h_clear(c.h);
			peer_send(c.h, &(struct pseg){.seq = c.snd + k * seg, .ack = c.rcv, .flags = TCP_ACK,
						      .data = data + k * seg, .len = seg});
			struct oseg o = last_only(c.h);
			ck_assert_uint_eq(o.ack, c.snd);
			if (k / 2 >= TCP_HOLES_MIN && !big)
				continue; /* dropped: the ACK repeats what is held */
			ck_assert_uint_ge(o.opt.nsack, 1);
			ck_assert_uint_eq(o.opt.sack[0].start, c.snd + k * seg);
			ck_assert_uint_eq(o.opt.sack[0].end, c.snd + (k + 1) * seg);
		}
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPOFOQueue), big ? HOLES : TCP_HOLES_MIN);
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPOFODrop), big ? 0 : holes - TCP_HOLES_MIN);
		size_t got = 0;
		for (uint32_t k = 0; k < 2 * holes; k++) {
			if (k % 2 && (big || k / 2 < TCP_HOLES_MIN))
				continue; /* held already */
			peer_send(c.h, &(struct pseg){.seq = c.snd + k * seg, .ack = c.rcv, .flags = TCP_ACK,
						      .data = data + k * seg, .len = seg});
			long n;
			while ((n = tn_sock_recv(c.s, back + got, sizeof(back) - got)) > 0)
				got += (size_t)n;
		}
		ck_assert_uint_eq(got, (size_t)2 * holes * seg);
		ck_assert_int_eq(memcmp(back, data, got), 0);
		close_conn(&c);
	}
}
END_TEST

/*
 * RFC 2018 4: the block of the segment that triggered the ACK first, then
 * the most recently reported; RFC 2883: a duplicate is reported once, as
 * the first block, whether it was already held out of order or below
 * rcv_nxt.
 */
START_TEST(sack_blocks_most_recent_first_and_dsack)
{
	static const uint8_t sackperm[] = {4, 2, 1, 1};
	struct conn c = open_passive_cfg(NULL, sackperm, sizeof(sackperm));
	struct oseg o;

	peer_send(c.h, &(struct pseg){.seq = c.snd + 9, .ack = c.rcv, .flags = TCP_ACK, .data = "jkl", .len = 3});
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 3, .ack = c.rcv, .flags = TCP_ACK, .data = "def", .len = 3});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(o.opt.nsack, 2);
	ck_assert_uint_eq(o.opt.sack[0].start, c.snd + 3); /* the newest first */
	ck_assert_uint_eq(o.opt.sack[1].start, c.snd + 9);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 9, .ack = c.rcv, .flags = TCP_ACK, .data = "jkl", .len = 3});
	o = last_only(c.h); /* a duplicate of held data: D-SACK, then its range, then the other */
	ck_assert_uint_eq(o.opt.nsack, 3);
	ck_assert_uint_eq(o.opt.sack[0].start, c.snd + 9);
	ck_assert_uint_eq(o.opt.sack[0].end, c.snd + 12);
	ck_assert_uint_eq(o.opt.sack[1].start, c.snd + 9);
	ck_assert_uint_eq(o.opt.sack[2].start, c.snd + 3);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKOfoSent), 1);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = "abc", .len = 3});
	o = last_only(c.h); /* the first hole filled: [9, 12) is left */
	ck_assert_uint_eq(o.ack, c.snd + 6);
	ck_assert_uint_eq(o.opt.nsack, 1);
	ck_assert_uint_eq(o.opt.sack[0].start, c.snd + 9);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = "abc", .len = 3});
	o = last_only(c.h); /* old data again: D-SACK below the ACK, reported once */
	ck_assert_uint_eq(o.ack, c.snd + 6);
	ck_assert_uint_eq(o.opt.nsack, 2);
	ck_assert_uint_eq(o.opt.sack[0].start, c.snd);
	ck_assert_uint_eq(o.opt.sack[0].end, c.snd + 3);
	ck_assert_uint_eq(o.opt.sack[1].start, c.snd + 9);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKOldSent), 1);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 6, .ack = c.rcv, .flags = TCP_ACK, .data = "ghi", .len = 3});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd + 12);
	ck_assert_uint_eq(o.opt.nsack, 0);
	close_conn(&c);
}
END_TEST

/* The peer's ACK of ack with SACK blocks (start, end pairs relative to base). */
static void peer_sack(struct conn *c, uint32_t ack, uint32_t base, const uint32_t *blocks, int n)
{
	uint8_t opt[40] = {1, 1, 5, (uint8_t)(2 + 8 * n)};
	for (int i = 0; i < 2 * n; i++)
		tn_put32(opt + 4 + 4 * i, base + blocks[i]);
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = ack, .flags = TCP_ACK, .opt = opt,
				       .optlen = (size_t)(4 + 8 * n)});
}

/*
 * RFC 6675 with RACK: one ACK whose SACK blocks show two holes below three
 * or more SACKed segments marks both lost at once (no reordering seen: no
 * reordering window), and both go again in the same round, paced by PRR.
 */
START_TEST(sack_recovery_repairs_every_hole_at_once)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[SEGS * MSS];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	h_advance(c.h, TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
	ck_assert_uint_eq(tcp_out_count(c.h), SEGS); /* the initial window */
	h_clear(c.h);
	h_advance(c.h, 200 * 1000); /* an RTT, less than the 1 ms probe timeout */
	/* segments 1 and 4 (from 0) lost: SACK 2-3 and 5-9 */
	const uint32_t blocks[] = {5 * MSS, 10 * MSS, 2 * MSS, 4 * MSS};
	peer_sack(&c, c.rcv + MSS, c.rcv, blocks, 2);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSackRecovery), 1);
	size_t n = tcp_out_count(c.h);
	bool again[SEGS] = {false};
	for (size_t i = 0; i < n; i++) {
		struct oseg o;
		ck_assert(out_seg(c.h, i, &o));
		uint32_t k = (o.seq - c.rcv) / MSS;
		ck_assert_uint_lt(k, SEGS);
		ck_assert_uint_eq(o.len, MSS);
		ck_assert_int_eq(memcmp(o.data, data + k * MSS, MSS), 0);
		again[k] = true;
	}
	ck_assert_msg(again[1] && again[4] && n == 2, "retransmitted %zu segments", n);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPFastRetrans), 2);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_str_eq(info.ca_state, "recovery");
	ck_assert_uint_eq(info.sacked, 7);
	ck_assert_uint_eq(info.lost, 0); /* both sent again */
	/* The repairs arrive: everything acknowledged, recovery over at ssthresh. */
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + SEGS * MSS, .flags = TCP_ACK});
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_str_eq(info.ca_state, "open");
	ck_assert_uint_eq(info.cwnd, info.ssthresh);
	ck_assert_uint_eq(info.ssthresh, 7); /* CUBIC: 0.7 of the 10 segments */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
	close_conn(&c);
}
END_TEST

/*
 * A short answer and then the close, as a line server under `tapnet run`
 * makes them: the data goes out, then the FIN alone. The data is lost and
 * the FIN arrives: the peer ACKs the data's start and SACKs the FIN. The
 * repair is the data alone, once. It used to carry the FIN again, so it
 * overlapped a SACK block, left the scoreboard at once (a retransmission
 * SACKed counts as delivered) and was lost again: tcp_output sent it 1024
 * times in a row, on every ACK (soak_servers.sh: 16 000 retransmissions
 * in 15 s of a Go server's short connections at 1 % loss).
 */
START_TEST(a_lost_answer_before_a_sacked_fin_goes_again_once)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	static const uint8_t answer[7] = "LINE 1\n";
	h_advance(c.h, TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, answer, sizeof(answer)), (long)sizeof(answer));
	ck_assert_uint_eq(tcp_out_count(c.h), 1);
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_shutdown(c.s, TN_SHUT_WR), 0);
	struct oseg fin = last_only(c.h);
	ck_assert_uint_eq(fin.seq, c.rcv + sizeof(answer));
	ck_assert_uint_eq(fin.len, 0);
	ck_assert(fin.flags & TCP_FIN);
	h_clear(c.h);
	h_advance(c.h, 200 * 1000); /* an RTT */
	const uint32_t blocks[] = {sizeof(answer), sizeof(answer) + 1};
	peer_sack(&c, c.rcv, c.rcv, blocks, 1);
	ck_assert_uint_eq(tcp_out_count(c.h), 1);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.len, sizeof(answer));
	ck_assert(!(o.flags & TCP_FIN)); /* the peer has it */
	ck_assert_int_eq(memcmp(o.data, answer, sizeof(answer)), 0);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpOutputBoundHits), 0);
	/* the repair arrives: everything, the FIN too, acknowledged; nothing more goes */
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + sizeof(answer) + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_FIN_WAIT_2);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 1);
	close_conn(&c);
}
END_TEST

/*
 * RFC 2883 / Linux's tcp_try_undo_dsack: both "lost" segments were only
 * late; the peer reports each retransmission as a duplicate. The first
 * D-SACK alone proves nothing; with the second, every retransmission of
 * the recovery was spurious and CUBIC's cut is taken back.
 */
START_TEST(dsack_for_every_retransmission_undoes_the_cut)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[SEGS * MSS];
	h_advance(c.h, TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
	h_clear(c.h);
	h_advance(c.h, 200 * 1000);
	const uint32_t blocks[] = {5 * MSS, 10 * MSS, 2 * MSS, 4 * MSS};
	peer_sack(&c, c.rcv + MSS, c.rcv, blocks, 2);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSackRecovery), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 2);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_eq(info.ssthresh, 7);
	/* The originals arrive; the ACK of all reports the first repair as a duplicate. */
	const uint32_t dup1[] = {1 * MSS, 2 * MSS};
	peer_sack(&c, c.rcv + SEGS * MSS, c.rcv, dup1, 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKRecv), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKUndo), 0);
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_str_eq(info.ca_state, "open");
	ck_assert_uint_eq(info.cwnd, 7); /* recovery ended at ssthresh */
	/* The second repair comes back as a duplicate too: nothing was lost. */
	const uint32_t dup4[] = {4 * MSS, 5 * MSS};
	peer_sack(&c, c.rcv + SEGS * MSS, c.rcv, dup4, 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKRecv), 2);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKUndo), 1);
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_eq(info.cwnd, SEGS + 1); /* as before the cut: slow start had grown it by the first ACK */
	ck_assert_uint_gt(info.ssthresh, 7);
	/* Once undone, a later duplicate undoes nothing more. */
	peer_sack(&c, c.rcv + SEGS * MSS, c.rcv, dup4, 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKUndo), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
	close_conn(&c);
}
END_TEST

/*
 * Slow start counts every byte an ACK acknowledges (Linux's
 * tcp_slow_start): one ACK for a whole flight of ten segments, as a
 * receiver with GRO sends, or the ACK that fills a reordered hole, doubles
 * cwnd, where RFC 3465's limit (two segments per ACK) would add two.
 */
START_TEST(slow_start_counts_a_stretch_ack_whole)
{
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[2 * SEGS * MSS];
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_rtt(&cfg, syn_opts, sizeof(syn_opts), 20 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
	ck_assert_uint_eq(tcp_out_count(c.h), SEGS); /* the initial window */
	h_clear(c.h);
	h_advance(c.h, 20 * TN_NSEC_PER_MSEC);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + SEGS * MSS, .flags = TCP_ACK});
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_eq(info.cwnd, 2 * SEGS);
	ck_assert_uint_eq(info.ssthresh, UINT32_MAX);
	ck_assert_uint_eq(tcp_out_count(c.h), SEGS); /* the rest of the data, at once */
	close_conn(&c);
}
END_TEST

/* An ACK with SACK blocks (n <= 3) and a timestamp echoing tsecr. */
static void peer_sack_ts(struct conn *c, uint32_t ack, uint32_t base, const uint32_t *blocks, int n,
			 uint32_t tsecr)
{
	uint8_t opt[40];
	ts_opt(opt, 7, tsecr);
	uint8_t *sack = opt + 12;
	sack[0] = 1, sack[1] = 1, sack[2] = 5, sack[3] = (uint8_t)(2 + 8 * n);
	for (int i = 0; i < 2 * n; i++)
		tn_put32(sack + 4 + 4 * i, base + blocks[i]);
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = ack, .flags = TCP_ACK, .opt = opt,
				       .optlen = (size_t)(16 + 8 * n)});
}

/*
 * Eifel for fast recovery (RFC 3522, Linux's tcp_packet_delayed): holes
 * below SACKed data start a recovery at once (no reordering seen yet);
 * then the ACKs that fill them echo the originals' timestamp, older than
 * the repairs': the network held those segments back. Reordering is
 * noted (RACK waits a window from now on) and, once no repair is left out,
 * CUBIC's cut is undone. Echoing the repairs' timestamp is a real loss:
 * nothing undone. Two holes: the first filled by its original says
 * reordering but undoes nothing while the second repair is out.
 */
START_TEST(timestamps_show_a_recovery_was_reordering)
{
	enum { MSS = 1448, SEGS = 10 }; /* 1460 less the timestamps */
	static uint8_t data[SEGS * MSS];
	for (int variant = 0; variant < 3; variant++) {
		bool real = variant == 1, two_holes = variant == 2;
		struct tn_config cfg;
		peer_config(&cfg);
		cfg.tcp_timestamps = true;
		/* a 20 ms path: no tail loss probe in the few milliseconds below */
		struct conn c = open_passive_rtt(&cfg, syn_opts, sizeof(syn_opts), 20 * TN_NSEC_PER_MSEC);
		h_advance(c.h, TN_NSEC_PER_MSEC);
		ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
		struct oseg o;
		ck_assert(out_seg(c.h, 0, &o));
		ck_assert(o.opt.ts_ok);
		ck_assert_uint_eq(o.len, MSS);
		uint32_t ts_orig = o.opt.tsval;
		h_clear(c.h);
		h_advance(c.h, 2 * TN_NSEC_PER_MSEC); /* a timestamp tick or two, before any probe */
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbes), 0);
		const uint32_t one_hole[] = {1 * MSS, 10 * MSS};
		const uint32_t holes[] = {5 * MSS, 10 * MSS, 1 * MSS, 4 * MSS};
		peer_sack_ts(&c, c.rcv, c.rcv, two_holes ? holes : one_hole, two_holes ? 2 : 1, ts_orig);
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSackRecovery), 1);
		ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), two_holes ? 2u : 1u);
		ck_assert(out_seg(c.h, 0, &o));
		uint32_t ts_rxt = o.opt.tsval;
		ck_assert_uint_gt(ts_rxt, ts_orig);
		struct tn_sock_info info;
		ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
		ck_assert_uint_eq(info.ssthresh, 7); /* CUBIC: 0.7 of the 10 segments */
		ck_assert(!info.reord_seen);
		h_advance(c.h, 20 * TN_NSEC_PER_MSEC);
		if (two_holes) {
			/* the first hole's original: reordering, but the second repair is still out */
			const uint32_t rest[] = {5 * MSS, 10 * MSS};
			peer_sack_ts(&c, c.rcv + 4 * MSS, c.rcv, rest, 1, ts_orig);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTSReorder), 1);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPPartialUndo) + H_CTR(c.h, TcpExtTCPFullUndo), 0);
			ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
			ck_assert(info.reord_seen);
			ck_assert_uint_eq(info.ssthresh, 7);
		}
		peer_sack_ts(&c, c.rcv + SEGS * MSS, c.rcv, NULL, 0, real ? ts_rxt : ts_orig);
		ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
		ck_assert_str_eq(info.ca_state, "open");
		if (real) {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTSReorder), 0);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPFullUndo), 0);
			ck_assert(!info.reord_seen);
			ck_assert_uint_eq(info.ssthresh, 7);
			ck_assert_uint_le(info.cwnd, 8);
		} else {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTSReorder), two_holes ? 2u : 1u);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPFullUndo), 1);
			ck_assert(info.reord_seen);
			ck_assert_uint_eq(info.ssthresh, UINT32_MAX); /* slow start goes on */
			ck_assert_uint_ge(info.cwnd, SEGS);
		}
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKUndo), 0);
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
		close_conn(&c);
	}
}
END_TEST

/*
 * A lost retransmission (RFC 8985): once a segment sent after it is
 * SACKed and an RTT has passed, RACK sends it again without an RTO.
 */
/*
 * An established connection (SACK, no timestamps) that has sent len bytes
 * of data (the initial window of them), a 200 us RTT later, output cleared.
 */
static struct conn open_sent(const uint8_t *data, size_t len)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	h_advance(c.h, TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, data, len), (long)len);
	h_clear(c.h);
	h_advance(c.h, 200 * 1000);
	return c;
}

START_TEST(rack_finds_a_lost_retransmission)
{
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[2 * SEGS * MSS];
	struct conn c = open_sent(data, sizeof(data));
	const uint32_t b1[] = {1 * MSS, 10 * MSS};
	peer_sack(&c, c.rcv, c.rcv, b1, 1); /* segment 0 lost */
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 1);
	ck_assert_uint_ge(tcp_out_count(c.h), 2); /* the repair and new data (PRR) */
	h_clear(c.h);
	/* The repair is lost too; new data sent after it arrives, an RTT later. */
	h_advance(c.h, 200 * 1000);
	const uint32_t b2[] = {1 * MSS, 11 * MSS};
	peer_sack(&c, c.rcv, c.rcv, b2, 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLostRetransmit), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 2);
	struct oseg o;
	ck_assert(out_seg(c.h, 0, &o));
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
	close_conn(&c);
}
END_TEST

/*
 * A lost retransmission with nothing sent after it: RACK has nothing to
 * time it by. A probe (tapnet's TLP in recovery) sends the oldest segment
 * still in flight, the lost repair, two RTTs later instead of waiting for
 * the RTO (200 ms, thousands of RTTs on tap0); its ACK ends the recovery.
 */
START_TEST(a_probe_finds_a_lost_retransmission_nothing_followed)
{
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[SEGS * MSS];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	struct conn c = open_sent(data, sizeof(data));
	const uint32_t b[] = {1 * MSS, SEGS * MSS};
	peer_sack(&c, c.rcv, c.rcv, b, 1); /* segment 0 lost, nothing new to send */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSackRecovery), 1);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	h_clear(c.h);
	/* The repair is lost and no ACK comes: a few RTTs later, the probe. */
	h_advance(c.h, 5 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbes), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
	o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.len, MSS);
	ck_assert_int_eq(memcmp(o.data, data, MSS), 0);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_str_eq(info.ca_state, "recovery");
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + SEGS * MSS, .flags = TCP_ACK});
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_str_eq(info.ca_state, "open");
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbeRecovery), 1);
	h_advance(c.h, 400 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	close_conn(&c);
}
END_TEST

/* A connection whose handshake took 1 ms (its SRTT), with len bytes sent at once. */
static struct conn open_flight_1ms(const uint8_t *data, size_t len)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_rtt(&cfg, syn_opts, sizeof(syn_opts), TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, data, len), (long)len);
	return c;
}

/*
 * A whole flight lost: the tail loss probe (the last segment again) is
 * the only thing that arrives, and its SACK comes back sooner than the
 * minimum RTT (set here by a slow handshake; on tap0, by ACKs of full
 * flights). RACK's rule for retransmissions (an answer sooner than the
 * minimum RTT is the original's) does not hold for a probe sent after two
 * SRTTs of silence: the SACK starts recovery at once, no RTO.
 */
START_TEST(a_probe_sacked_sooner_than_min_rtt_starts_recovery)
{
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[SEGS * MSS];
	struct conn c = open_flight_1ms(data, sizeof(data));
	h_clear(c.h);
	h_advance(c.h, 2 * TN_NSEC_PER_MSEC); /* no answer: the probe after 2 SRTT (2 ms) */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbes), 1);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv + (SEGS - 1) * MSS);
	h_clear(c.h);
	h_advance(c.h, 50 * 1000); /* its SACK, 50 us after it: a twentieth of the minimum RTT */
	const uint32_t b[] = {(SEGS - 1) * MSS, SEGS * MSS};
	peer_sack(&c, c.rcv, c.rcv, b, 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSackRecovery), 1);
	ck_assert_uint_ge(tcp_out_count(c.h), 1);
	ck_assert(out_seg(c.h, 0, &o));
	ck_assert_uint_eq(o.seq, c.rcv); /* the first lost segment goes again at once */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
	close_conn(&c);
}
END_TEST

/*
 * A tail loss probe sent for an ACK that was late, not lost (RFC 8985
 * 7.4): the ACK of the original reaches tlp_high_seq first, then the
 * peer's D-SACK of the probe, or, from a peer without D-SACK, a duplicate
 * ACK. Neither is a loss: cwnd and ssthresh stay, and the episode is over
 * (a later silence gets its own probe). With the first ACK taken for the
 * probe's repair, every late ACK cut the window: iperf3 --bidir, whose
 * ACKs wait behind the kernel's own data, sent 0.7 Gbit/s from tapnet.
 */
START_TEST(a_probe_for_a_late_ack_is_no_loss)
{
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[SEGS * MSS];
	for (int dsack = 0; dsack <= 1; dsack++) {
		struct conn c = open_flight_1ms(data, sizeof(data));
		struct tn_sock_info before, after;
		ck_assert_int_eq(tn_sock_info(c.s, &before), 0);
		h_clear(c.h);
		h_advance(c.h, 4 * TN_NSEC_PER_MSEC);
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbes), 1);
		struct oseg o = last_only(c.h);
		ck_assert_uint_eq(o.seq, c.rcv + (SEGS - 1) * MSS);
		/* the late ACK of the whole flight: the probe's fate is not known yet */
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + SEGS * MSS, .flags = TCP_ACK});
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbeRecovery), 0);
		/* the probe arrived as a duplicate: D-SACKed, or a duplicate ACK */
		if (dsack) {
			const uint32_t b[] = {(SEGS - 1) * MSS, SEGS * MSS};
			peer_sack(&c, c.rcv + SEGS * MSS, c.rcv, b, 1);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKRecv), 1);
		} else {
			peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + SEGS * MSS, .flags = TCP_ACK});
		}
		/* more data, ACKed beyond the probe: still no loss */
		ck_assert_int_eq(tn_sock_send(c.s, data, MSS), MSS);
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + (SEGS + 1) * MSS, .flags = TCP_ACK});
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbeRecovery), 0);
		ck_assert_int_eq(tn_sock_info(c.s, &after), 0);
		ck_assert_uint_eq(after.ssthresh, before.ssthresh);
		ck_assert_uint_ge(after.cwnd, before.cwnd);
		ck_assert_str_eq(after.ca_state, "open");
		/* the episode is over: the next silence is probed */
		ck_assert_int_eq(tn_sock_send(c.s, data, 3 * MSS), 3 * MSS);
		h_advance(c.h, 10 * TN_NSEC_PER_MSEC);
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbes), 2);
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
		close_conn(&c);
	}
}
END_TEST

/*
 * The last segment lost and repaired by the probe: the ACK that reaches
 * tlp_high_seq carries no D-SACK, and the next one, beyond it, makes it a
 * loss (RFC 8985 7.4): congestion control hears of it, once.
 */
START_TEST(a_probe_that_repairs_a_lost_tail_is_a_loss)
{
	enum { MSS = 1460, SEGS = 10 };
	static uint8_t data[SEGS * MSS];
	struct conn c = open_flight_1ms(data, sizeof(data));
	struct tn_sock_info before, after;
	ck_assert_int_eq(tn_sock_info(c.s, &before), 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + (SEGS - 1) * MSS, .flags = TCP_ACK});
	h_clear(c.h);
	h_advance(c.h, 230 * 1000 * 1000); /* one segment out: 2 SRTT + the peer's delayed ACK */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbes), 1);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv + (SEGS - 1) * MSS);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + SEGS * MSS, .flags = TCP_ACK});
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbeRecovery), 0);
	ck_assert_int_eq(tn_sock_send(c.s, data, MSS), MSS);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + (SEGS + 1) * MSS, .flags = TCP_ACK});
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossProbeRecovery), 1);
	ck_assert_int_eq(tn_sock_info(c.s, &after), 0);
	ck_assert_uint_lt(after.ssthresh, before.ssthresh);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 0);
	close_conn(&c);
}
END_TEST

/*
 * More bursts in flight than transmit-time checkpoints: neighbours merge
 * and count as sent at the later time, so that no segment looks older
 * than it is. 300 small segments (one checkpoint each, 256 at first), the
 * first lost and repaired, 20 new ones sent after the repair; the ACK of
 * the repair must not make them lost. When the bursts past the 256th
 * counted as sent with it, before the repair, they all went again at once.
 */
/*
 * The arrays of holes grow with the buffer, but a peer choosing tiny
 * segments (MSS 88, Linux's floor) cannot make them hold tens of thousands
 * of ranges, each walked per ACK: a segment counts as at least 536 bytes,
 * and no array passes TCP_HOLES_MAX.
 */
START_TEST(hole_arrays_bounded_whatever_the_peer_asks)
{
	ck_assert_uint_eq(tcp_holes_limit(64 << 10, 1460), TCP_HOLES_MIN);
	ck_assert_uint_eq(tcp_holes_limit(4 << 20, 1448), (4u << 20) / 2896 + 1); /* 1449 */
	ck_assert_uint_eq(tcp_holes_limit(4 << 20, TCP_MIN_MSS), (4u << 20) / 1072 + 1);
	ck_assert_uint_eq(tcp_holes_limit(4 << 20, TCP_MIN_MSS), tcp_holes_limit(4 << 20, 536));
	ck_assert_uint_eq(tcp_holes_limit(1u << 30, 1460), TCP_HOLES_MAX);
}
END_TEST

START_TEST(merged_transmit_times_never_make_a_later_segment_lost)
{
	enum { SEG = 40, FIRST = 300, MORE = 20 };
	static uint8_t data[SEG];
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_rtt(&cfg, syn_opts, sizeof(syn_opts), TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_set_nodelay(c.s, true), 0);
	for (int i = 0; i < FIRST; i++) {
		ck_assert_int_eq(tn_sock_send(c.s, data, SEG), SEG);
		h_advance(c.h, 1000);
	}
	ck_assert_uint_eq(tcp_out_count(c.h), FIRST);
	ck_assert_uint_lt(c.s->txlog_n, FIRST); /* merged */
	h_clear(c.h);
	h_advance(c.h, 700 * 1000);
	const uint32_t b[] = {SEG, FIRST * SEG};
	peer_sack(&c, c.rcv, c.rcv, b, 1); /* segment 0 lost */
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 1);
	struct oseg o;
	ck_assert(out_seg(c.h, 0, &o));
	ck_assert_uint_eq(o.seq, c.rcv);
	for (int i = 0; i < MORE; i++) {
		h_advance(c.h, 1000);
		ck_assert_int_eq(tn_sock_send(c.s, data, SEG), SEG);
	}
	ck_assert_uint_eq(tcp_out_count(c.h), 1 + MORE);
	h_clear(c.h);
	h_advance(c.h, 1100 * 1000); /* the repair's ACK, a little more than the minimum RTT later */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + FIRST * SEG, .flags = TCP_ACK});
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLostRetransmit), 0);
	for (size_t i = 0; out_seg(c.h, i, &o); i++)
		ck_assert_uint_ge(o.seq, c.rcv + (FIRST + MORE) * SEG); /* nothing sent again */
	close_conn(&c);
}
END_TEST

/* SACK agreed, but the peer's duplicate ACKs carry no blocks: three of them still repair the hole. */
START_TEST(sack_peer_without_blocks_three_dupacks)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	static uint8_t data[10 * 1460];
	h_advance(c.h, TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
	h_clear(c.h);
	h_advance(c.h, 200 * 1000);
	for (int i = 0; i < 2; i++)
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.len, 1460);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSackRecovery), 1);
	close_conn(&c);
}
END_TEST

/* A router's "fragmentation needed" about frame i of the output, next-hop MTU mtu. */
static void frag_needed(struct harness *h, size_t i, uint16_t mtu)
{
	size_t len;
	const uint8_t *ip = h_out_ip(h, i, &len);
	ck_assert_ptr_nonnull(ip);
	uint8_t icmp[8 + TN_IP_HLEN + 8] = { 3, 4 };
	tn_put16(icmp + 6, mtu);
	memcpy(icmp + 8, ip, TN_IP_HLEN + 8);
	tn_put16(icmp + 2, tn_csum_fold(tn_csum_add(0, icmp, sizeof(icmp))));
	static uint8_t f[256];
	size_t n = h_ipv4(f, &(struct h_ip_opts){ .src = 0x0a0000feu, .proto = TN_IP_PROTO_ICMP },
			  icmp, sizeof(icmp));
	h_input(h, f, n);
}

START_TEST(path_mtu_discovery)
{
	static const uint8_t mss1460[4] = { 2, 4, 1460 >> 8, 1460 & 0xff };
	struct conn c = open_passive_cfg(NULL, mss1460, sizeof(mss1460));
	static uint8_t data[3 * 1460];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5 + 1);
	struct tn_sock_info info;

	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
	ck_assert_uint_eq(tcp_out_count(c.h), 3);
	struct oseg o;
	ck_assert(out_seg(c.h, 0, &o));
	ck_assert_uint_eq(o.len, 1460);

	/* nonsense first: an MTU not below what was sent */
	frag_needed(c.h, 0, 1500);
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_eq(info.mss, 1460);

	/* 1000 on the path: what is in flight goes again at once, 960 bytes a segment */
	struct harness *h = c.h;
	frag_needed(h, 0, 1000);
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_eq(info.mss, 1000 - 40);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPPMTUDecreases), 1);
	size_t first = 3; /* the three sent before, then the ICMP's effect */
	ck_assert_uint_gt(h->nout, first);
	uint32_t seq = c.rcv;
	for (size_t i = first; i < h->nout; i++) {
		if (!out_seg(h, i, &o) || !o.len)
			continue;
		ck_assert_uint_eq(o.seq, seq);
		ck_assert_uint_le(o.len, 960);
		ck_assert_int_eq(memcmp(o.data, data + (seq - c.rcv), o.len), 0);
		seq += o.len;
	}
	ck_assert_uint_gt(seq - c.rcv, 960);

	/* all acknowledged; a lower MTU than Linux believes (552) is taken as 552 */
	peer_send(h, &(struct pseg){ .seq = c.snd, .ack = c.rcv + sizeof(data), .flags = TCP_ACK });
	c.rcv += sizeof(data);
	h_clear(h);
	ck_assert_int_eq(tn_sock_send(c.s, data, 2000), 2000);
	ck_assert(out_seg(h, 0, &o));
	ck_assert_uint_eq(o.len, 960);
	frag_needed(h, 0, 300);
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_eq(info.mss, 552 - 40);
	close_conn(&c);
}
END_TEST

START_TEST(send_in_place_then_commit)
{
	/* a 4096-byte send buffer; the peer's window (65535) is not the limit */
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_sndbuf = cfg.tcp_sndbuf_max = 4096; /* fixed: no growth */
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	static uint8_t data[6000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + i / 253);
	struct tn_sock_wpiece p[2];
	int np = -1;

	/* the whole buffer, in one piece; nothing is sent until committed */
	ck_assert_int_eq(tn_sock_send_space(c.s, p, &np), 4096);
	ck_assert_int_eq(np, 1);
	ck_assert_uint_eq(p[0].len, 4096);
	memcpy(p[0].base, data, 3000);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	size_t in_pieces = c.h->out_in_pieces;
	ck_assert_int_eq(tn_sock_send_commit(c.s, 3000), 3000);
	/* MSS 536 (no options): five full segments; the 320-byte tail waits (Nagle) */
	ck_assert_uint_eq(tcp_out_count(c.h), 5);
	/* each given to the link in pieces, its data where the send buffer holds it */
	ck_assert_uint_eq(c.h->out_in_pieces - in_pieces, 5);
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_send_space(c.s, p, &np), 4096 - 3000);

	/* the full segments acknowledged (the tail goes now): the free space wraps around */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 5 * 536, .flags = TCP_ACK});
	c.rcv += 5 * 536;
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_send_space(c.s, p, &np), 4096 - 320);
	ck_assert_int_eq(np, 2);
	ck_assert_uint_eq(p[0].len, 4096 - 3000);
	ck_assert_uint_eq(p[1].len, 5 * 536);
	memcpy(p[0].base, data + 3000, p[0].len);
	memcpy(p[1].base, data + 3000 + p[0].len, 3000 - p[0].len);
	c.h->out_pieces_max = 0;
	ck_assert_int_eq(tn_sock_send_commit(c.s, 3000), 3000);
	/* what goes out once the tail is acknowledged is what was written, in order, across the wrap */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 320, .flags = TCP_ACK});
	c.rcv += 320;
	size_t got = 0;
	for (size_t i = 0; i < c.h->nout; i++) {
		struct oseg o;
		if (!out_seg(c.h, i, &o) || !o.len)
			continue;
		ck_assert_uint_eq(o.seq, c.rcv + got);
		ck_assert_int_eq(memcmp(o.data, data + 3000 + got, o.len), 0);
		got += o.len;
	}
	ck_assert_uint_gt(got, 0);
	/* the segment across the wrap went to the link as its header and the ring's two pieces */
	ck_assert_int_eq(c.h->out_pieces_max, 3);
	h_clear(c.h);

	/* everything acknowledged: an empty ring starts again at its first byte, in one piece */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 5 * 536, .flags = TCP_ACK});
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 3000, .flags = TCP_ACK});
	c.rcv += 3000;
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_send_space(c.s, p, &np), 4096);
	ck_assert_int_eq(np, 1);
	ck_assert_ptr_eq(p[0].base, c.s->sndbuf.data);
	memcpy(p[0].base, data, 3000);
	ck_assert_int_eq(tn_sock_send_commit(c.s, 3000), 3000);

	/* more than there is room for is clamped; after shutdown it is refused */
	ck_assert_int_eq(tn_sock_send_commit(c.s, 5000), 4096 - 3000);
	ck_assert_int_eq(tn_sock_send_space(c.s, p, &np), -EAGAIN);
	ck_assert_int_eq(np, 0);
	ck_assert_int_eq(tn_sock_shutdown(c.s, TN_SHUT_WR), 0);
	ck_assert_int_eq(tn_sock_send_space(c.s, p, &np), -EPIPE);
	ck_assert_int_eq(tn_sock_send_commit(c.s, 1), -EPIPE);
	close_conn(&c);
}
END_TEST

START_TEST(recv_peek_then_consume)
{
	/* A 4096-byte receive buffer, no window scaling: the window field is in bytes. */
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_rcvbuf = cfg.tcp_rcvbuf_max = 4096; /* fixed: no growth */
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	static uint8_t data[5000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	struct tn_sock_piece p[2];
	int np = -1;

	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), -EAGAIN);
	ck_assert_int_eq(np, 0);
	for (size_t off = 0; off < 3000; off += 1000) {
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
					      .data = data + off, .len = 1000});
		c.snd += 1000;
	}
	h_clear(c.h);

	/* In place, and nothing taken until consumed. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), 3000);
		ck_assert_int_eq(np, 1);
		ck_assert_uint_eq(p[0].len, 3000);
		ck_assert_int_eq(memcmp(p[0].base, data, 3000), 0);
	}
	ck_assert_uint_eq(tn_sock_readable(c.s), 3000);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);

	/* Consuming opens the window as tn_sock_recv does: an update goes out. */
	tn_sock_recv_consume(c.s, 2500);
	ck_assert_uint_eq(tn_sock_readable(c.s), 500);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.len, 0);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(o.wnd, 4096 - 500);
	h_clear(c.h);

	/* Bytes that wrap around the end of the ring come as two pieces. */
	for (size_t off = 3000; off < 5000; off += 1000) {
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
					      .data = data + off, .len = 1000});
		c.snd += 1000;
	}
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), 2500);
	ck_assert_int_eq(np, 2);
	ck_assert_uint_eq(p[0].len, 4096 - 2500);
	ck_assert_uint_eq(p[0].len + p[1].len, 2500);
	ck_assert_int_eq(memcmp(p[0].base, data + 2500, p[0].len), 0);
	ck_assert_int_eq(memcmp(p[1].base, data + 2500 + p[0].len, p[1].len), 0);

	/* Part of it, then tn_sock_recv reads on from there; more than is there is clamped. */
	tn_sock_recv_consume(c.s, 100);
	uint8_t buf[64];
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), (long)sizeof(buf));
	ck_assert_int_eq(memcmp(buf, data + 2600, sizeof(buf)), 0);
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), 2500 - 100 - (long)sizeof(buf));
	ck_assert_int_eq(memcmp(p[0].base, data + 2600 + sizeof(buf), p[0].len), 0);
	tn_sock_recv_consume(c.s, 100000);
	ck_assert_uint_eq(tn_sock_readable(c.s), 0);
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), -EAGAIN);
	ck_assert_int_eq(np, 0);
	tn_sock_recv_consume(c.s, 10); /* nothing there: no effect */
	ck_assert_uint_eq(tn_sock_readable(c.s), 0);

	/* The peer's FIN: EOF, as tn_sock_recv says. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN});
	c.snd++;
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), 0);
	ck_assert_int_eq(np, 0);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 0);
	close_conn(&c);
}
END_TEST

/*
 * A receive ring that a reader emptied starts again at its first byte (the
 * same cache-hot bytes for the next data), but not while out-of-order bytes
 * are parked beyond the committed end: they keep their place.
 */
START_TEST(empty_receive_ring_starts_again_at_its_first_byte)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_rcvbuf = cfg.tcp_rcvbuf_max = 4096;
	struct conn c = open_passive_cfg(&cfg, NULL, 0);
	static uint8_t data[1500];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 11 + i / 257);
	struct tn_sock_piece p[2];
	int np;
	uint8_t buf[2000];

	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = data,
				      .len = 1000});
	c.snd += 1000;
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 1000);
	/* a hole, then the bytes after it, then the hole filled: all in their place */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 500, .ack = c.rcv, .flags = TCP_ACK,
				      .data = data + 500, .len = 1000});
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = data,
				      .len = 500});
	c.snd += 1500;
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), 1500);
	ck_assert_int_eq(np, 1);
	ck_assert_ptr_eq(p[0].base, c.s->rcvbuf.data + 1000);
	ck_assert_int_eq(memcmp(p[0].base, data, 1500), 0);
	tn_sock_recv_consume(c.s, 1500);
	/* empty, nothing parked: the next bytes land at the start */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = data,
				      .len = 100});
	c.snd += 100;
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), 100);
	ck_assert_int_eq(np, 1);
	ck_assert_ptr_eq(p[0].base, c.s->rcvbuf.data);
	ck_assert_int_eq(memcmp(p[0].base, data, 100), 0);
	close_conn(&c);
}
END_TEST

/*
 * A deliver function (tn_sock_set_deliver) that takes up to deliver_room
 * bytes from the front of its pieces into deliver_buf.
 */
static uint8_t deliver_buf[8192];
static size_t deliver_len, deliver_room, deliver_calls;
static int deliver_npieces;
static size_t deliver_some(void *arg, const struct tn_sock_piece *piece, int npieces)
{
	(void)arg;
	deliver_calls++;
	deliver_npieces = npieces;
	size_t took = 0;
	for (int i = 0; i < npieces && deliver_room; i++) {
		size_t n = piece[i].len < deliver_room ? piece[i].len : deliver_room;
		ck_assert_uint_le(deliver_len + n, sizeof(deliver_buf));
		memcpy(deliver_buf + deliver_len, piece[i].base, n);
		deliver_len += n;
		deliver_room -= n;
		took += n;
	}
	return took;
}
static void ignore_events(struct tn_sock *s, unsigned events, void *arg)
{
	(void)s, (void)events, (void)arg;
}

/*
 * In-order bytes go to the deliver function first, behind the bytes the
 * receive buffer holds unread: what it takes is read (ACKed, gone from the
 * buffer), the rest is buffered in order behind it; with bytes out of
 * order it is not asked.
 */
START_TEST(deliver_takes_in_order_bytes_behind_the_unread_ones)
{
	struct conn c = open_passive();
	static uint8_t data[4000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 5 + i / 263);
	uint8_t buf[4000];
	deliver_len = deliver_calls = 0;
	deliver_room = 1000 + 300;
	tn_sock_set_callback(c.s, ignore_events, NULL);
	tn_sock_set_deliver(c.s, deliver_some);

	/* all of it taken: nothing to read, and the ACK covers it */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = data, .len = 1000});
	c.snd += 1000;
	ck_assert_uint_eq(deliver_len, 1000);
	ck_assert_int_eq(deliver_npieces, 1);
	ck_assert_uint_eq(tn_sock_readable(c.s), 0);
	h_advance(c.h, TN_NSEC_PER_SEC); /* the delayed ACK */
	ck_assert_uint_eq(last_only(c.h).ack, c.snd);
	h_clear(c.h);
	/* part of it taken: the rest is buffered, in order behind it */
	send_bytes(&c, data + 1000, 500);
	ck_assert_uint_eq(deliver_len, 1300);
	ck_assert_uint_eq(tn_sock_readable(c.s), 200);
	/* bytes unread: offered first; part of them taken, the new ones buffered behind the rest */
	deliver_room = 100;
	send_bytes(&c, data + 1500, 500);
	ck_assert_int_eq(deliver_npieces, 2);
	ck_assert_uint_eq(deliver_len, 1400);
	ck_assert_uint_eq(tn_sock_readable(c.s), 600);
	/* all of the unread ones and the new ones taken at once */
	deliver_room = 5000;
	send_bytes(&c, data + 2000, 500);
	ck_assert_uint_eq(deliver_len, 2500);
	ck_assert_uint_eq(tn_sock_readable(c.s), 0);
	ck_assert_int_eq(memcmp(deliver_buf, data, 2500), 0);
	/* out of order: buffered; the hole filled with bytes parked: buffered too */
	size_t calls = deliver_calls;
	peer_send(c.h, &(struct pseg){.seq = c.snd + 500, .ack = c.rcv, .flags = TCP_ACK,
				      .data = data + 3000, .len = 500});
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
				      .data = data + 2500, .len = 500});
	c.snd += 1000;
	ck_assert_uint_eq(deliver_calls, calls);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 1000);
	ck_assert_int_eq(memcmp(buf, data + 2500, 1000), 0);
	/* empty again: taken; then the peer's FIN reads as EOF */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN,
				      .data = data + 3500, .len = 100});
	c.snd += 101;
	ck_assert_uint_eq(deliver_len, 2600);
	ck_assert_int_eq(memcmp(deliver_buf + 2500, data + 3500, 100), 0);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 0);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_eq(info.bytes_received, 3600);
	/* cleared with the callback */
	tn_sock_set_callback(c.s, NULL, NULL);
	ck_assert_ptr_null(c.s->deliver);
	close_conn(&c);
}
END_TEST

/*
 * A connection's loss and reordering state (out-of-order ranges, SACK
 * scoreboard, retransmitted ranges, transmit-time checkpoints: 6 KiB) is
 * allocated when first needed, so an idle connection is under 1 KiB.
 */
START_TEST(loss_state_is_allocated_at_first_need_and_given_back)
{
	static const uint8_t sackperm[] = {4, 2, 1, 1};
	struct conn c = open_passive_cfg(NULL, sackperm, sizeof(sackperm));
	ck_assert_uint_lt(sizeof(struct tn_sock), 1024);
	ck_assert_ptr_null(c.s->ofo);
	ck_assert_ptr_null(c.s->sb);
	ck_assert_ptr_null(c.s->rxt);
	ck_assert_ptr_null(c.s->txlog);
	/* in-order data both ways: transmit times only */
	send_text(&c, "hello");
	ck_assert_int_eq(tn_sock_send(c.s, "world", 5), 5);
	ck_assert_ptr_null(c.s->ofo);
	ck_assert_ptr_nonnull(c.s->txlog);
	ck_assert_ptr_null(c.s->sb);
	ck_assert_ptr_null(c.s->rxt);
	/* a hole: out-of-order ranges; a SACK block: the scoreboard */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 10, .ack = c.rcv, .flags = TCP_ACK,
				      .data = "later", .len = 5});
	ck_assert_ptr_nonnull(c.s->ofo);
	ck_assert_uint_eq(c.s->ofo_n, 1);
	ck_assert_int_eq(tn_sock_set_nodelay(c.s, true), 0);
	ck_assert_int_eq(tn_sock_send(c.s, "again", 5), 5);
	const uint32_t sacked[] = {5, 10};
	peer_sack(&c, c.rcv, c.rcv, sacked, 1);
	ck_assert_ptr_nonnull(c.s->sb);
	ck_assert_uint_eq(c.s->sb_n, 1);
	/* everything acknowledged and the hole filled: all four given back */
	c.rcv += 10;
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
				      .data = "0123456789", .len = 10});
	c.snd += 15;
	ck_assert_uint_eq(tn_sock_readable(c.s), 20);
	ck_assert_ptr_null(c.s->ofo);
	ck_assert_ptr_null(c.s->sb);
	ck_assert_ptr_null(c.s->rxt);
	ck_assert_ptr_null(c.s->txlog);
	/* and the next flight takes what it needs again */
	ck_assert_int_eq(tn_sock_send(c.s, "more", 4), 4);
	ck_assert_ptr_nonnull(c.s->txlog);
	close_conn(&c);
}
END_TEST

START_TEST(recv_peek_reports_a_reset_after_the_data)
{
	struct conn c = open_passive();
	struct tn_sock_piece p[2];
	int np;

	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
				      .data = "abc", .len = 3});
	c.snd += 3;
	struct tn_sock_wpiece w[2];
	int nw;
	ck_assert_int_gt(tn_sock_send_space(c.s, w, &nw), 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_RST});
	/* no more data will be taken; asking leaves the error for the reader */
	ck_assert_int_eq(tn_sock_send_space(c.s, w, &nw), -ECONNRESET);
	ck_assert_int_eq(tn_sock_send_space(c.s, w, &nw), -ECONNRESET);
	ck_assert_int_eq(nw, 0);
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), 3);
	ck_assert_int_eq(memcmp(p[0].base, "abc", 3), 0);
	tn_sock_recv_consume(c.s, 3);
	ck_assert_int_eq(tn_sock_recv_peek(c.s, p, &np), -ECONNRESET);
	ck_assert_int_eq(np, 0);
	/* taken: still refused, now as a send to a closed connection is */
	ck_assert_int_eq(tn_sock_send_space(c.s, w, &nw), -EPIPE);
	ck_assert_int_eq(tn_sock_send(c.s, "x", 1), -EPIPE);
	close_conn(&c);
}
END_TEST

START_TEST(passive_close)
{
	struct conn c = open_passive();
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN});
	c.snd++;
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSE_WAIT);
	char buf[4];
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 0);
	h_clear(c.h);
	/* Half-close: we may still send. */
	ck_assert_int_eq(tn_sock_send(c.s, "xy", 2), 2);
	o = last_only(c.h);
	ck_assert_uint_eq(o.len, 2);
	c.rcv += 2;
	h_clear(c.h);
	tn_sock_close(c.s);
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK | TCP_FIN);
	ck_assert_uint_eq(o.seq, c.rcv);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1); /* only the listener */
	ck_assert_uint_eq(H_CTR(c.h, TcpCurrEstab), 0);
	close_conn(&c);
}
END_TEST

/* A closed connection's rings wait in the pool for the next one (no malloc, no fault-in). */
START_TEST(ring_pool_reuses_buffers)
{
	struct tn_ring_pool p = { .n = 0 };
	struct tn_ring a, b, c;
	ck_assert_int_eq(tn_ring_init_pooled(&p, &a, 4096), 0);
	ck_assert_int_eq(tn_ring_write(&a, "abc", 3), 3);
	uint8_t *was = a.data;
	tn_ring_free_pooled(&p, &a);
	ck_assert_ptr_null(a.data);
	ck_assert_uint_eq(p.n, 1);
	/* another size does not take it */
	ck_assert_int_eq(tn_ring_init_pooled(&p, &b, 8192), 0);
	ck_assert_ptr_ne(b.data, was);
	ck_assert_uint_eq(p.n, 1);
	/* the same size does, and starts empty */
	ck_assert_int_eq(tn_ring_init_pooled(&p, &c, 4096), 0);
	ck_assert_ptr_eq(c.data, was);
	ck_assert_uint_eq(c.len, 0);
	ck_assert_uint_eq(c.head, 0);
	ck_assert_uint_eq(tn_ring_space(&c), 4096);
	ck_assert_uint_eq(p.n, 0);
	tn_ring_free_pooled(&p, &b);
	tn_ring_free_pooled(&p, &c);
	/* bounded: the oldest leaves for the newest */
	struct tn_ring r[TN_RING_POOL_MAX + 3];
	for (unsigned i = 0; i < TN_RING_POOL_MAX + 3; i++)
		ck_assert_int_eq(tn_ring_init(&r[i], 2048), 0);
	uint8_t *last = r[TN_RING_POOL_MAX + 2].data;
	for (unsigned i = 0; i < TN_RING_POOL_MAX + 3; i++)
		tn_ring_free_pooled(&p, &r[i]);
	ck_assert_uint_eq(p.n, TN_RING_POOL_MAX);
	ck_assert_uint_eq(p.size[0], 2048); /* 8192 and 4096 were the oldest */
	ck_assert_int_eq(tn_ring_init_pooled(&p, &a, 2048), 0);
	ck_assert_ptr_eq(a.data, last); /* the newest first */
	tn_ring_free(&a);
	tn_ring_free_pooled(&p, &a); /* nothing to give: no entry */
	ck_assert_uint_eq(p.n, TN_RING_POOL_MAX - 1);
	tn_ring_pool_drain(&p);
	ck_assert_uint_eq(p.n, 0);
}
END_TEST

/* The stack gives a freed socket's rings to the pool and the next connection takes them. */
START_TEST(closed_connection_rings_go_to_the_next)
{
	struct conn c = open_passive();
	uint8_t *rcv = c.s->rcvbuf.data, *snd = c.s->sndbuf.data;
	ck_assert_ptr_nonnull(rcv);
	ck_assert_ptr_nonnull(snd);
	struct tn_ring_pool *pool = &c.h->stack->tcp->ring_pool;
	unsigned before = pool->n;
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN});
	tn_sock_close(c.s);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1); /* only the listener */
	ck_assert_uint_eq(pool->n, before + 2);
	bool rcv_in = false, snd_in = false;
	for (unsigned i = 0; i < pool->n; i++) {
		rcv_in |= pool->data[i] == rcv;
		snd_in |= pool->data[i] == snd;
	}
	ck_assert(rcv_in && snd_in);
	close_conn(&c);
}
END_TEST

START_TEST(active_close_to_time_wait)
{
	struct conn c = open_passive();
	tn_sock_close(c.s);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK | TCP_FIN);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	struct tn_sock_info info;
	tn_sock_list(c.h->stack, &info, 1);
	ck_assert_int_eq(info.state, TN_TCP_FIN_WAIT_2);
	/* Data for an orphan is not read by anyone: RST (CONFORMANCE 6)? Not yet, FIN first. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK | TCP_FIN});
	c.snd++;
	o = last_only(c.h); /* the last ACK, at once */
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	/* The socket is gone; TIME_WAIT is an entry of the table. */
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1); /* the listener */
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	h_clear(c.h);
	/* A retransmitted FIN is ACKed again. */
	peer_send(c.h, &(struct pseg){.seq = c.snd - 1, .ack = c.rcv + 1, .flags = TCP_ACK | TCP_FIN});
	o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	h_advance(c.h, 61 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	close_conn(&c);
}
END_TEST

START_TEST(fin_ack_in_one_segment)
{
	struct conn c = open_passive();
	tn_sock_close(c.s);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK | TCP_FIN});
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1); /* the listener */
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	close_conn(&c);
}
END_TEST

START_TEST(simultaneous_close)
{
	struct conn c = open_passive();
	tn_sock_shutdown(c.s, TN_SHUT_WR);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_FIN_WAIT_1);
	h_clear(c.h);
	/* The peer's FIN crosses ours: it does not ACK our FIN. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN});
	c.snd++;
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSING);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	/* The handle still held sees CLOSED (as Linux); TIME_WAIT is in the table. */
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSED);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 1);
	close_conn(&c);
}
END_TEST

START_TEST(orphan_data_and_unread_close_reset)
{
	struct conn c = open_passive();
	send_text(&c, "unread");
	h_clear(c.h);
	tn_sock_close(c.s); /* unread data: RST, not FIN (RFC 1122 4.2.2.13) */
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags & TCP_RST, TCP_RST);
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1);
	close_conn(&c);

	c = open_passive();
	tn_sock_close(c.s);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK,
				      .data = "late", .len = 4});
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags & TCP_RST, TCP_RST);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnData), 1);
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1);
	close_conn(&c);
}
END_TEST

START_TEST(challenge_acks)
{
	struct conn c = open_passive();
	/* In-window RST that is not exactly rcv_nxt: challenge ACK, nothing else. */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 100, .flags = TCP_RST});
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_ESTABLISHED);
	h_clear(c.h);
	/* Out-of-window RST: silently dropped. */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 10000000, .flags = TCP_RST});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	/* SYN in ESTABLISHED: challenge ACK (rate limit per socket 500 ms). */
	h_advance(c.h, TN_NSEC_PER_SEC);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 5, .flags = TCP_SYN});
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_ESTABLISHED);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPChallengeACK), 2);
	h_clear(c.h);
	/* The exact RST resets. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .flags = TCP_RST});
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSED);
	ck_assert_int_eq(tn_sock_error(c.s), -ECONNRESET);
	ck_assert_uint_eq(H_CTR(c.h, TcpEstabResets), 1);
	tn_sock_close(c.s);
	close_conn(&c);
}
END_TEST

static unsigned last_events;
static void record_events(struct tn_sock *s, unsigned ev, void *arg)
{
	last_events |= ev;
}

/* An owner that answers at once: echo what it reads, close on EOF (the built-in echo service). */
static void echo_and_close(struct tn_sock *s, unsigned events, void *arg)
{
	char buf[64];
	if (!(events & TN_SOCK_EV_READABLE))
		return;
	long n = tn_sock_recv(s, buf, sizeof(buf));
	if (n > 0)
		ck_assert_int_eq(tn_sock_send(s, buf, (size_t)n), n);
	else if (n == 0)
		tn_sock_close(s);
}

/*
 * The ACK a segment is owed waits for the owner's answer in the same pass:
 * echoed data carries it, and so does the FIN of a close in answer to the
 * peer's FIN; no segment goes for the ACK alone (as Linux's delayed ACK in
 * ping-pong mode lets the answer carry it, without the delay).
 */
START_TEST(answer_in_the_same_pass_carries_the_ack)
{
	struct conn c = open_passive();
	tn_sock_set_callback(c.s, echo_and_close, NULL);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				      .data = "x", .len = 1});
	c.snd += 1;
	struct oseg o = last_only(c.h); /* the echo, acking the byte: one segment */
	ck_assert_uint_eq(o.len, 1);
	ck_assert_uint_eq(o.flags & TCP_ACK, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	c.rcv += 1;
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN});
	c.snd += 1;
	o = last_only(c.h); /* the owner's FIN acks the peer's: one segment */
	ck_assert_uint_eq(o.flags, TCP_ACK | TCP_FIN);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert_uint_eq(o.seq, c.rcv);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_uint_eq(tn_sock_list(c.h->stack, NULL, 0), 1); /* only the listener */
	close_conn(&c);
}
END_TEST

/* An owner that does not answer: the ACK still goes, alone, before the core returns. */
START_TEST(ack_goes_alone_without_an_answer)
{
	struct conn c = open_passive();
	last_events = 0;
	tn_sock_set_callback(c.s, record_events, NULL);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_FIN});
	c.snd += 1;
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_ACK);
	ck_assert_uint_eq(o.ack, c.snd);
	ck_assert(last_events & TN_SOCK_EV_READABLE);
	close_conn(&c);
}
END_TEST

START_TEST(active_open_and_syn_retries)
{
	struct harness *h = new_harness();
	struct tn_sock *s = tn_sock_open(h->stack);
	last_events = 0;
	tn_sock_set_callback(s, record_events, NULL);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EINPROGRESS);
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN);
	ck_assert_uint_ge(o.sport, 32768);
	ck_assert_uint_le(o.sport, 60999);
	ck_assert(o.opt.mss_ok && o.opt.sack_ok && o.opt.ws_ok);
	uint32_t iss = o.seq;
	h_clear(h);
	/* 6 retransmissions at 1, 2, 4, 8, 16, 32 s, then give up at 64 s. */
	uint64_t waits[] = {1, 2, 4, 8, 16, 32};
	for (size_t i = 0; i < TN_ARRAY_SIZE(waits); i++) {
		h_advance(h, waits[i] * TN_NSEC_PER_SEC - 1);
		ck_assert_uint_eq(tcp_out_count(h), 0);
		h_advance(h, 1);
		o = last_only(h);
		ck_assert_uint_eq(o.flags, TCP_SYN);
		ck_assert_uint_eq(o.seq, iss);
		h_clear(h);
	}
	h_advance(h, 64 * TN_NSEC_PER_SEC);
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_CLOSED);
	ck_assert(last_events & TN_SOCK_EV_ERROR);
	ck_assert_int_eq(tn_sock_error(s), -ETIMEDOUT);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPSynRetrans), 6);
	ck_assert_uint_eq(H_CTR(h, TcpAttemptFails), 1);
	tn_sock_close(s);

	/* Now a peer that answers; then one that refuses. */
	s = tn_sock_open(h->stack);
	last_events = 0;
	tn_sock_set_callback(s, record_events, NULL);
	tn_sock_connect(s, H_PEER_IP, 7);
	o = last_only(h);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 7, .dport = o.sport, .seq = 5000, .ack = o.seq + 1,
				    .flags = TCP_SYN | TCP_ACK});
	struct oseg a = last_only(h);
	ck_assert_uint_eq(a.flags, TCP_ACK);
	ck_assert_uint_eq(a.ack, 5001);
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_ESTABLISHED);
	ck_assert(last_events & TN_SOCK_EV_CONNECTED);
	h_clear(h);
	tn_sock_abort(s);
	ck_assert_uint_eq(last_only(h).flags & TCP_RST, TCP_RST);
	h_clear(h);

	s = tn_sock_open(h->stack);
	tn_sock_connect(s, H_PEER_IP, 7);
	o = last_only(h);
	h_clear(h);
	peer_send(h, &(struct pseg){.sport = 7, .dport = o.sport, .seq = 0, .ack = o.seq + 1,
				    .flags = TCP_RST | TCP_ACK});
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_CLOSED);
	ck_assert_int_eq(tn_sock_error(s), -ECONNREFUSED);
	tn_sock_close(s);
	h_free(h);
}
END_TEST

/* Bytes of data the stack sent since the last h_clear(), checking each frame is whole segments of mss. */
static uint32_t sent_full_segments(struct harness *h, uint32_t mss, uint32_t *seq)
{
	uint32_t total = 0;
	struct oseg o;
	for (size_t i = 0; i < h->nout; i++) {
		if (!out_seg(h, i, &o) || !o.len)
			continue;
		ck_assert_uint_eq(o.seq, *seq);
		ck_assert_uint_eq(o.len % mss, 0);
		*seq += o.len;
		total += o.len;
	}
	return total;
}

/* TCP_CORK: a partial segment waits for uncork, which sends it at once. */
START_TEST(cork_holds_partial_segment_until_uncork)
{
	struct conn c = open_passive_cfg(NULL, syn_opts, sizeof(syn_opts));
	uint8_t data[100];
	memset(data, 'h', sizeof(data));
	ck_assert_int_eq(tn_sock_set_cork(c.s, true), 0);
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (long)sizeof(data));
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	/* TCP_NODELAY does not uncork (Linux: cork wins) */
	ck_assert_int_eq(tn_sock_set_nodelay(c.s, true), 0);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	struct tn_sock_opts o;
	tn_sock_get_opts(c.s, &o);
	ck_assert(o.cork);
	ck_assert_int_eq(tn_sock_set_cork(c.s, false), 0);
	struct oseg seg = last_only(c.h);
	ck_assert_uint_eq(seg.seq, c.rcv);
	ck_assert_uint_eq(seg.len, 200);
	ck_assert(seg.flags & TCP_PSH);
	tn_sock_get_opts(c.s, &o);
	ck_assert(!o.cork);
	close_conn(&c);
}
END_TEST

/* Corked, full segments go as soon as they are whole; only the tail waits. */
START_TEST(cork_sends_full_segments)
{
	struct conn c = open_passive_cfg(NULL, syn_opts, sizeof(syn_opts));
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	uint32_t mss = info.mss;
	ck_assert_uint_gt(mss, 100);
	static uint8_t data[4 * 1460];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	ck_assert_int_eq(tn_sock_set_cork(c.s, true), 0);
	ck_assert_int_eq(tn_sock_send(c.s, data, 100), 100);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	long more = (long)(2 * mss);
	ck_assert_int_eq(tn_sock_send(c.s, data + 100, (size_t)more), more);
	uint32_t seq = c.rcv;
	ck_assert_uint_eq(sent_full_segments(c.h, mss, &seq), 2 * mss);
	/* the peer acknowledges all: the 100 left still wait */
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){ .seq = c.snd, .ack = seq, .flags = TCP_ACK });
	h_advance(c.h, 10 * TN_NSEC_PER_MSEC);
	struct oseg o;
	for (size_t i = 0; i < c.h->nout; i++)
		ck_assert(!out_seg(c.h, i, &o) || o.len == 0);
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_set_cork(c.s, false), 0);
	o = last_only(c.h);
	ck_assert_uint_eq(o.seq, seq);
	ck_assert_uint_eq(o.len, 100);
	ck_assert_int_eq(memcmp(o.data, data + 2 * mss, 100), 0);
	close_conn(&c);
}
END_TEST

/* Corked output waits at most 200 ms, as Linux's ceiling; then it goes by itself. */
START_TEST(cork_ceiling_200ms)
{
	struct conn c = open_passive_cfg(NULL, syn_opts, sizeof(syn_opts));
	ck_assert_int_eq(tn_sock_set_cork(c.s, true), 0);
	ck_assert_int_eq(tn_sock_send(c.s, "corked", 6), 6);
	h_advance(c.h, 199 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 1 * TN_NSEC_PER_MSEC);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.len, 6);
	/* still corked: the next write waits again */
	peer_send(c.h, &(struct pseg){ .seq = c.snd, .ack = c.rcv + 6, .flags = TCP_ACK });
	h_clear(c.h);
	ck_assert_int_eq(tn_sock_send(c.s, "again", 5), 5);
	h_advance(c.h, 100 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 100 * TN_NSEC_PER_MSEC);
	o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv + 6);
	ck_assert_uint_eq(o.len, 5);
	close_conn(&c);
}
END_TEST

/* close() pushes what cork holds, with the FIN (as Linux's tcp_close). */
START_TEST(cork_close_pushes)
{
	struct conn c = open_passive_cfg(NULL, syn_opts, sizeof(syn_opts));
	ck_assert_int_eq(tn_sock_set_cork(c.s, true), 0);
	ck_assert_int_eq(tn_sock_send(c.s, "bye", 3), 3);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	ck_assert_int_eq(tn_sock_shutdown(c.s, TN_SHUT_WR), 0);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.len, 3);
	ck_assert(o.flags & TCP_FIN);
	close_conn(&c);
}
END_TEST

START_TEST(retransmission_after_rto)
{
	struct conn c = open_passive();
	ck_assert_int_eq(tn_sock_send(c.s, "data", 4), 4);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	h_clear(c.h);
	/* The handshake measured a ~0 RTT: RTO = srtt + max(4 rttvar, rto_min) = 200 ms. */
	h_advance(c.h, 199 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 2 * TN_NSEC_PER_MSEC);
	o = last_only(c.h);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(o.len, 4);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 1);
	h_clear(c.h);
	h_advance(c.h, 398 * TN_NSEC_PER_MSEC); /* backed off: 400 ms */
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 2 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(tcp_out_count(c.h), 1);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 4, .flags = TCP_ACK});
	h_clear(c.h);
	h_advance(c.h, 10 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	close_conn(&c);
}
END_TEST

/*
 * One segment ACKed after 20 ms (an RTT measured), then ten full segments
 * go out and nothing comes back until the retransmission timer fires (a
 * tail loss probe first, then the RTO). Returns the segment size and the
 * TSval of the first original segment and of the RTO's retransmission.
 */
#define FLIGHT_RTT_NS (20 * TN_NSEC_PER_MSEC) /* the path of flight_until_rto, handshake included */
static uint32_t flight_until_rto(struct conn *c, uint32_t *ts_orig, uint32_t *ts_rxt)
{
	static uint8_t data[10 * 1460];
	ck_assert_int_eq(tn_sock_send(c->s, data, 100), 100);
	struct oseg o = last_only(c->h);
	h_clear(c->h);
	h_advance(c->h, FLIGHT_RTT_NS);
	uint8_t ts[12];
	ts_opt(ts, 3, o.opt.tsval);
	c->rcv += 100;
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv, .flags = TCP_ACK,
				       .opt = o.opt.ts_ok ? ts : NULL, .optlen = o.opt.ts_ok ? 12 : 0});
	ck_assert_uint_eq(tcp_out_count(c->h), 0);
	ck_assert_int_eq(tn_sock_send(c->s, data, sizeof(data)), sizeof(data));
	ck_assert_uint_ge(tcp_out_count(c->h), 10);
	ck_assert(out_seg(c->h, 0, &o));
	ck_assert_uint_eq(o.seq, c->rcv);
	uint32_t seg = o.len;
	*ts_orig = o.opt.tsval;
	h_clear(c->h);
	for (int i = 0; i < 2000 && H_CTR(c->h, TcpExtTCPTimeouts) == 0; i++) {
		h_clear(c->h);
		h_advance(c->h, TN_NSEC_PER_MSEC);
	}
	ck_assert_uint_eq(H_CTR(c->h, TcpExtTCPTimeouts), 1);
	o = last_only(c->h); /* the head again, cwnd one segment */
	ck_assert_uint_eq(o.seq, c->rcv);
	*ts_rxt = o.opt.tsval;
	h_clear(c->h);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c->s, &info), 0);
	ck_assert_uint_eq(info.cwnd, 1);
	return seg;
}

static uint32_t cwnd_of(struct conn *c, uint32_t *ssthresh)
{
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c->s, &info), 0);
	*ssthresh = info.ssthresh;
	return info.cwnd;
}

/*
 * Eifel (RFC 3522): the ACK after the timeout echoes the TSval of an
 * original transmission, so the originals got there (delayed, not lost):
 * cwnd and ssthresh come back (TcpExtTCPLossUndo). An ACK echoing the
 * retransmission's TSval is a real loss: no undo. Also on a path whose
 * handshake was much faster than its data (a queue built since): the
 * minimum RTT cannot tell that the ACK is the original's, but its echo
 * can (RFC 8985 6.2 step 2), so RACK does not take the retransmission as
 * delivered and call everything sent before it lost.
 */
START_TEST(eifel_undoes_a_spurious_rto)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_timestamps = true;
	for (int i = 0; i < 4; i++) {
		int real = i & 1;
		uint64_t handshake_rtt = i < 2 ? FLIGHT_RTT_NS : 0;
		struct conn c = open_passive_rtt(&cfg, syn_opts, sizeof(syn_opts), handshake_rtt);
		uint32_t ts_orig, ts_rxt, ssthresh;
		uint32_t seg = flight_until_rto(&c, &ts_orig, &ts_rxt);
		ck_assert_uint_gt(ts_rxt, ts_orig);
		uint8_t ts[12];
		ts_opt(ts, 4, real ? ts_rxt : ts_orig);
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + seg, .flags = TCP_ACK,
					      .opt = ts, .optlen = sizeof(ts)});
		uint32_t cwnd = cwnd_of(&c, &ssthresh);
		if (real) {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 0);
			ck_assert_uint_le(cwnd, 2);
			ck_assert_uint_eq(ssthresh, 7); /* CUBIC (the default): 0.7 x 10 */
		} else {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 1);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSpuriousRTOs), 0); /* Eifel, not F-RTO */
			ck_assert_uint_ge(cwnd, 10);
			ck_assert_uint_eq(ssthresh, UINT32_MAX); /* slow start goes on */
		}
		close_conn(&c);
	}
}
END_TEST

/*
 * F-RTO (RFC 5682 3.1, SACK-enhanced; no timestamps here): the first ACK
 * after the timeout covers segments that were never retransmitted, so not
 * all was lost (TcpExtTCPSpuriousRTOs). An ACK of the retransmission alone
 * says nothing yet; a duplicate ACK first says the loss was real, and a
 * later ACK of original data no longer undoes.
 */
/* A SACK connection without timestamps whose flight of ten segments timed out; *seg: their size. */
static struct conn frto_conn(uint32_t *seg)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_passive_rtt(&cfg, syn_opts, sizeof(syn_opts), FLIGHT_RTT_NS);
	uint32_t ts_orig, ts_rxt;
	*seg = flight_until_rto(&c, &ts_orig, &ts_rxt);
	return c;
}

START_TEST(frto_undoes_a_spurious_rto)
{
	for (int real = 0; real <= 1; real++) {
		uint32_t seg, ssthresh;
		struct conn c = frto_conn(&seg);
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + seg, .flags = TCP_ACK});
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 0); /* the retransmission's ACK, maybe */
		if (real)
			peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + seg, .flags = TCP_ACK});
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 5 * seg, .flags = TCP_ACK});
		uint32_t cwnd = cwnd_of(&c, &ssthresh);
		if (real) {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 0);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSpuriousRTOs), 0);
			ck_assert_uint_le(cwnd, 6); /* slow start from one: + 1 + 4 acknowledged */
		} else {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 1);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSpuriousRTOs), 1);
			ck_assert_uint_ge(cwnd, 10);
			ck_assert_uint_eq(ssthresh, UINT32_MAX);
		}
		close_conn(&c);
	}
}
END_TEST

/*
 * F-RTO step 2b (RFC 5682 3.1): when the first ACK after the timeout
 * covers only the retransmission and data waits unsent, that new data goes
 * out instead of the next presumed-lost segments. Then an ACK of original
 * data from before the timeout undoes it (step 3b); a SACK of the new data
 * says the loss was real (3a): the lost segments go again, no undo.
 */
START_TEST(frto_sends_new_data_after_the_first_ack)
{
	for (int real = 0; real <= 1; real++) {
		uint32_t seg, ssthresh;
		struct conn c = frto_conn(&seg);
		uint32_t high = c.rcv + 10 * seg; /* all sent before the timeout */
		static uint8_t more[3 * 1460];
		ck_assert_int_eq(tn_sock_send(c.s, more, sizeof(more)), sizeof(more));
		ck_assert_uint_eq(tcp_out_count(c.h), 0); /* cwnd 1, the retransmission out */
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + seg, .flags = TCP_ACK});
		/* new data, not the second segment again */
		ck_assert_uint_ge(tcp_out_count(c.h), 1);
		for (size_t i = 0; i < c.h->nout; i++) {
			struct oseg o;
			if (out_seg(c.h, i, &o) && o.len)
				ck_assert_uint_ge(o.seq - c.rcv, high - c.rcv);
		}
		h_clear(c.h);
		if (real) {
			const uint32_t sacked[] = {10 * seg, 11 * seg};
			peer_sack(&c, c.rcv + seg, c.rcv, sacked, 1);
			struct oseg o;
			ck_assert(out_seg(c.h, 0, &o));
			ck_assert_uint_eq(o.seq, c.rcv + seg); /* the lost ones go again */
			peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 5 * seg, .flags = TCP_ACK});
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 0);
			ck_assert_uint_le(cwnd_of(&c, &ssthresh), 6); /* slow start from one, not undone */
		} else {
			peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 5 * seg, .flags = TCP_ACK});
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 1);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSpuriousRTOs), 1);
			ck_assert_uint_ge(cwnd_of(&c, &ssthresh), 10);
		}
		close_conn(&c);
	}
}
END_TEST

/*
 * RACK's minimum RTT (RFC 8985 6.2; minrtt in `tapnet ss -i`) starts with
 * the handshake's, to the microsecond, timestamps or not, as Linux's
 * tcp_min_rtt does: before, it had none until the first data was ACKed.
 */
START_TEST(min_rtt_starts_with_the_handshake)
{
	for (int ts = 0; ts <= 1; ts++) {
		struct tn_config cfg;
		peer_config(&cfg);
		cfg.tcp_timestamps = ts;
		static const uint8_t ts_syn[] = {8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1};
		struct conn c = open_passive_rtt(&cfg, ts ? ts_syn : NULL, ts ? sizeof(ts_syn) : 0,
						 3 * TN_NSEC_PER_MSEC + 250 * 1000);
		struct tn_sock_info info;
		ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
		ck_assert(info.ts == (bool)ts);
		ck_assert_uint_eq(info.min_rtt_us, 3250);
		close_conn(&c);
	}
}
END_TEST

/*
 * A lone tail segment, no timestamps: after its timeout neither Eifel nor
 * F-RTO has anything to go by. When the retransmission comes back as a
 * D-SACK duplicate (RFC 2883), the original had arrived: the timeout is
 * undone as Linux's tcp_try_undo_loss does (TcpExtTCPLossUndo). A plain
 * ACK of it is a real loss: no undo.
 */
START_TEST(dsack_of_every_retransmission_undoes_a_timeout)
{
	for (int real = 0; real <= 1; real++) {
		struct tn_config cfg;
		peer_config(&cfg);
		struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
		uint32_t ssthresh, cwnd0 = cwnd_of(&c, &ssthresh);
		ck_assert_int_eq(tn_sock_send(c.s, "tail", 4), 4);
		h_clear(c.h);
		for (int i = 0; i < 5000 && H_CTR(c.h, TcpExtTCPTimeouts) == 0; i++)
			h_advance(c.h, TN_NSEC_PER_MSEC);
		ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPTimeouts), 1);
		ck_assert_uint_eq(cwnd_of(&c, &ssthresh), 1);
		if (real) {
			peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 4, .flags = TCP_ACK});
		} else {
			const uint32_t dup[] = {0, 4};
			peer_sack(&c, c.rcv + 4, c.rcv, dup, 1);
		}
		uint32_t cwnd = cwnd_of(&c, &ssthresh);
		if (real) {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 0);
			ck_assert_uint_le(cwnd, 2);
		} else {
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPDSACKRecv), 1);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPLossUndo), 1);
			ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSpuriousRTOs), 0); /* not F-RTO */
			ck_assert_uint_ge(cwnd, cwnd0);
			ck_assert_uint_eq(ssthresh, UINT32_MAX);
		}
		close_conn(&c);
	}
}
END_TEST

/*
 * The receive window is rounded down to the window scale: the right edge
 * an ACK offers never lies beyond what the buffer can hold, whatever
 * amounts arrive (rounding up offered up to 2^wscale - 1 bytes more, again
 * at every ACK while nobody reads).
 */
START_TEST(receive_window_never_offers_more_than_the_buffer)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_rcvbuf = 1 << 20;
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(c.s, &info), 0);
	ck_assert_uint_gt(info.rcv_wscale, 2); /* rounding matters */
	const uint32_t first = c.snd, buf_end = first + (1u << 20);
	static uint8_t chunk[1000];
	size_t acks = 0;
	/* nobody reads: odd-sized segments fill the buffer to its end */
	for (uint32_t sent = 0; sent < (1u << 20) + 10000; sent += sizeof(chunk)) {
		h_clear(c.h);
		peer_send(c.h, &(struct pseg){.seq = first + sent, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
					      .data = chunk, .len = sizeof(chunk)});
		h_advance(c.h, 50 * TN_NSEC_PER_MSEC); /* the delayed ACK, if any */
		for (size_t i = 0; i < c.h->nout; i++) {
			struct oseg o;
			if (!out_seg(c.h, i, &o))
				continue;
			uint64_t edge = (uint64_t)(o.ack - first) + ((uint64_t)o.wnd << info.rcv_wscale);
			ck_assert_msg(edge <= (uint64_t)(buf_end - first), "offered %llu bytes past the buffer",
				      (unsigned long long)(edge - (buf_end - first)));
			acks++;
		}
	}
	ck_assert_uint_gt(acks, 100);
	ck_assert_uint_gt(H_CTR(c.h, TcpExtTCPToZeroWindowAdv), 0);
	close_conn(&c);
}
END_TEST

START_TEST(zero_window_is_probed)
{
	struct conn c = open_passive();
	/* The peer closes its window: data waits, a probe goes out after the RTO. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .zero_wnd = true});
	ck_assert_int_eq(tn_sock_send(c.s, "waiting", 7), 7);
	ck_assert_uint_eq(tcp_out_count(c.h), 0);
	h_advance(c.h, 201 * TN_NSEC_PER_MSEC);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.len, 0);
	ck_assert_uint_eq(o.seq, c.rcv - 1); /* an old sequence number forces an ACK */
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPWinProbe), 1);
	h_clear(c.h);
	/* The window opens: the data goes. */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.len, 7);
	ck_assert_uint_eq(o.seq, c.rcv);
	close_conn(&c);
}
END_TEST

/*
 * TCP_USER_TIMEOUT (RFC 5482, as Linux): data unacknowledged for 1 s ends
 * the connection with ETIMEDOUT at the first retransmission timeout after
 * that second, the last timeout cut to end there (200 ms, then 400 ms,
 * then the 400 ms left of the 800 ms backoff), not after tcp_retries.
 */
START_TEST(user_timeout_ends_unacknowledged_data)
{
	struct conn c = open_passive();
	struct tn_sock_opts o;
	ck_assert_int_eq(tn_sock_set_user_timeout(c.s, 1000), 0);
	tn_sock_get_opts(c.s, &o);
	ck_assert_uint_eq(o.user_timeout_ms, 1000);
	ck_assert_int_eq(tn_sock_send(c.s, "data", 4), 4);
	h_clear(c.h);
	h_advance(c.h, 999 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 2); /* at 200 and 600 ms */
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_ESTABLISHED);
	h_advance(c.h, 2 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSED);
	ck_assert_int_eq(tn_sock_error(c.s), -ETIMEDOUT);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnTimeout), 1);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), 2);
	tn_sock_close(c.s);
	close_conn(&c);
}
END_TEST

/*
 * A zero window the peer keeps answering probes for lasts forever (RFC
 * 1122 4.2.2.17), unless the user's timeout says otherwise: with 2 s, the
 * connection ends at the first probe due 2 s or more after the first one.
 */
static bool zero_window_outlasts(uint32_t user_timeout_ms, uint64_t secs)
{
	struct conn c = open_passive();
	ck_assert_int_eq(tn_sock_set_user_timeout(c.s, user_timeout_ms), 0);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .zero_wnd = true});
	ck_assert_int_eq(tn_sock_send(c.s, "waiting", 7), 7);
	uint64_t probes = 0;
	for (uint64_t ms = 0; ms < secs * 1000 && tn_sock_state(c.s) == TN_TCP_ESTABLISHED; ms++) {
		h_clear(c.h);
		h_advance(c.h, TN_NSEC_PER_MSEC);
		if (H_CTR(c.h, TcpExtTCPWinProbe) == probes)
			continue;
		probes = H_CTR(c.h, TcpExtTCPWinProbe); /* answered, the window still shut */
		peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
					      .zero_wnd = true});
	}
	bool open = tn_sock_state(c.s) == TN_TCP_ESTABLISHED;
	if (!open) {
		ck_assert_int_eq(tn_sock_error(c.s), -ETIMEDOUT);
		ck_assert_uint_ge(probes, 2);
	}
	tn_sock_close(c.s);
	close_conn(&c);
	return open;
}

START_TEST(user_timeout_ends_an_answered_zero_window)
{
	ck_assert(zero_window_outlasts(0, 120));
	ck_assert(!zero_window_outlasts(2000, 120));
	ck_assert(zero_window_outlasts(2000, 2));
}
END_TEST

/*
 * Keepalive with the user's timeout: silence for that long ends the
 * connection (a RST, then ETIMEDOUT) at the probe due then, not after
 * TCP_KEEPCNT unanswered probes: idle 1 s, probes every 1 s, 9 of them,
 * user timeout 2.5 s: probes at 1 and 2 s, the end at 3 s.
 */
START_TEST(user_timeout_ends_keepalive_probing)
{
	struct conn c = open_passive();
	ck_assert_int_eq(tn_sock_set_keepalive(c.s, true, 1, 1, 9), 0);
	ck_assert_int_eq(tn_sock_set_user_timeout(c.s, 2500), 0);
	h_advance(c.h, 2999 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPKeepAlive), 2);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_ESTABLISHED);
	h_clear(c.h);
	h_advance(c.h, 2 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_state(c.s), TN_TCP_CLOSED);
	ck_assert_int_eq(tn_sock_error(c.s), -ETIMEDOUT);
	ck_assert(last_only(c.h).flags & TCP_RST);
	tn_sock_close(c.s);
	close_conn(&c);
}
END_TEST

/*
 * TCP_CONGESTION: cubic by default, reno on request, at once on a
 * connection; a name tapnet has no algorithm for is ENOENT and changes
 * nothing; a listener's choice goes to its connections.
 */
static const char *cc_of(struct tn_sock *s)
{
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(s, &info), 0);
	return info.cc;
}

START_TEST(congestion_control_chosen_per_socket)
{
	struct conn c = open_passive();
	ck_assert_str_eq(cc_of(c.s), "cubic");
	ck_assert_int_eq(tn_sock_set_congestion(c.s, "reno", 4), 0);
	ck_assert_str_eq(cc_of(c.s), "reno");
	ck_assert_int_eq(tn_sock_set_congestion(c.s, "bbr", 3), -ENOENT);
	ck_assert_int_eq(tn_sock_set_congestion(c.s, "cubic2", 6), -ENOENT);
	ck_assert_int_eq(tn_sock_set_congestion(c.s, "", 0), -ENOENT);
	ck_assert_str_eq(cc_of(c.s), "reno");
	/* still moving data under the new one */
	ck_assert_int_eq(tn_sock_send(c.s, "data", 4), 4);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.len, 4);
	ck_assert_int_eq(tn_sock_set_congestion(c.s, "cubic", 5), 0);
	ck_assert_str_eq(cc_of(c.s), "cubic");

	ck_assert_int_eq(tn_sock_set_congestion(c.l, "reno", 4), 0);
	h_clear(c.h);
	uint32_t iss;
	struct tn_sock *a = accept_from(c.h, c.l, 4000, 5000, &iss);
	ck_assert_str_eq(cc_of(a), "reno");
	tn_sock_close(a);
	close_conn(&c);
}
END_TEST

/*
 * IP_TOS and IP_TTL: a connection's segments carry them (the TOS without
 * its ECN bits); a listener's SYN-ACKs and connections carry the
 * listener's; TTL 0 is the default again.
 */
START_TEST(tos_and_ttl_on_the_wire)
{
	struct conn c = open_passive();
	struct tn_sock_opts opts;
	tn_sock_get_opts(c.s, &opts);
	ck_assert_uint_eq(opts.tos, 0);
	ck_assert_uint_eq(opts.ttl, 64);
	tn_sock_set_tos(c.s, 0x2b);
	tn_sock_set_ttl(c.s, 9);
	tn_sock_get_opts(c.s, &opts);
	ck_assert_uint_eq(opts.tos, 0x28);
	ck_assert_uint_eq(opts.ttl, 9);
	ck_assert_int_eq(tn_sock_send(c.s, "data", 4), 4);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.ip_tos, 0x28);
	ck_assert_uint_eq(o.ip_ttl, 9);
	h_clear(c.h);
	tn_sock_set_ttl(c.s, 0);
	ck_assert_int_eq(tn_sock_send(c.s, "more", 4), 4);
	h_advance(c.h, 300 * TN_NSEC_PER_MSEC); /* Nagle held it; the RTO sends all */
	ck_assert(out_seg(c.h, 0, &o));
	ck_assert_uint_eq(o.ip_ttl, 64);

	tn_sock_set_tos(c.l, 0x10);
	tn_sock_set_ttl(c.l, 33);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = 7000, .flags = TCP_SYN, .sport = 4001});
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(o.ip_tos, 0x10);
	ck_assert_uint_eq(o.ip_ttl, 33);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = 7001, .ack = o.seq + 1, .flags = TCP_ACK, .sport = 4001});
	struct tn_sock *a = tn_sock_accept(c.l, NULL);
	ck_assert_ptr_nonnull(a);
	tn_sock_get_opts(a, &opts);
	ck_assert_uint_eq(opts.tos, 0x10);
	ck_assert_uint_eq(opts.ttl, 33);
	tn_sock_close(a);
	close_conn(&c);
}
END_TEST

/*
 * TCP_MAXSEG: a listener's SYN-ACK offers it and its connection sends no
 * more per segment, whatever the peer offered; a connecting socket's SYN
 * offers it and it clamps the peer's larger MSS (Linux's mss_clamp).
 */
START_TEST(user_mss_offered_and_clamped)
{
	struct conn c = {0};
	c.h = new_server(NULL, 4, &c.l);
	tn_sock_set_user_mss(c.l, 1000);
	struct oseg synack = passive_syn(&c, syn_opts, sizeof(syn_opts)); /* the peer offers 1460 */
	ck_assert(synack.opt.mss_ok);
	ck_assert_uint_eq(synack.opt.mss, 1000);
	passive_ack(&c, &synack);
	struct tn_sock_opts opts;
	tn_sock_get_opts(c.s, &opts);
	ck_assert_uint_eq(opts.user_mss, 1000); /* inherited */
	tn_sock_set_nodelay(c.s, true);
	static const char data[2500];
	ck_assert_int_eq(tn_sock_send(c.s, data, sizeof(data)), (int)sizeof(data));
	ck_assert_uint_eq(tcp_out_count(c.h), 3);
	struct oseg o;
	for (size_t i = 0; i < 3; i++) {
		ck_assert(out_seg(c.h, i, &o));
		ck_assert_uint_le(o.len, 1000);
	}
	ck_assert_uint_eq(o.len, 500);
	close_conn(&c);

	struct harness *h = new_harness();
	struct tn_sock *s = tn_sock_open(h->stack);
	tn_sock_set_user_mss(s, 536);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EINPROGRESS);
	o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN);
	ck_assert_uint_eq(o.opt.mss, 536);
	h_clear(h);
	peer_send(h, &(struct pseg){.seq = 900, .ack = o.seq + 1, .flags = TCP_SYN | TCP_ACK,
				    .opt = syn_opts, .optlen = sizeof(syn_opts), .sport = 7,
				    .dport = o.sport});
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_ESTABLISHED);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(s, &info), 0);
	ck_assert_uint_eq(info.mss, 536); /* not the 1460 it offered (no timestamps here) */
	tn_sock_abort(s);
	h_free(h);
}
END_TEST

/* TCP_SYNCNT: a connecting socket's SYN retransmissions, and a listener's SYN-ACK ones. */
START_TEST(syn_retries_per_socket)
{
	struct harness *h = new_harness();
	struct tn_sock *s = tn_sock_open(h->stack);
	tn_sock_set_syn_retries(s, 2);
	struct tn_sock_opts opts;
	tn_sock_get_opts(s, &opts);
	ck_assert_uint_eq(opts.syn_retries, 2);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -EINPROGRESS);
	h_clear(h);
	/* retransmissions 1 and 3 s after the SYN, the end 4 s after the last */
	h_advance(h, 3 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPSynRetrans), 2);
	h_advance(h, 4 * TN_NSEC_PER_SEC - 1);
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_SYN_SENT);
	h_advance(h, 1);
	ck_assert_int_eq(tn_sock_state(s), TN_TCP_CLOSED);
	ck_assert_int_eq(tn_sock_error(s), -ETIMEDOUT);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPSynRetrans), 2);
	tn_sock_close(s);
	h_free(h);

	struct tn_sock *l;
	h = new_server(NULL, 4, &l);
	tn_sock_set_syn_retries(l, 1);
	peer_send(h, &(struct pseg){.seq = 100, .flags = TCP_SYN});
	ck_assert_uint_eq(tcp_out_count(h), 1);
	h_advance(h, 60 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPSynRetrans), 1); /* 5 without it */
	tn_sock_close(l);
	h_free(h);
}
END_TEST

/* TCP_LINGER2 -1: an orphan whose FIN the peer acknowledged resets instead of waiting. */
START_TEST(linger2_negative_skips_fin_wait2)
{
	struct conn c = open_passive();
	tn_sock_set_linger2(c.s, -1);
	struct tn_sock_opts opts;
	tn_sock_get_opts(c.s, &opts);
	ck_assert_int_eq(opts.linger2_s, -1);
	tn_sock_close(c.s);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags & TCP_FIN, TCP_FIN);
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags & TCP_RST, TCP_RST);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPAbortOnData), 1);
	/* no FIN_WAIT_2 entry: the peer's FIN finds nothing to turn into TIME_WAIT */
	h_clear(c.h);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_FIN | TCP_ACK});
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags & TCP_RST, TCP_RST);
	struct tn_tw_info tw[2];
	ck_assert_uint_eq(tn_timewait_list(c.h->stack, tw, 2), 0);
	c.s = NULL;
	close_conn(&c);

	/* 0 is the stack's fin_timeout, read back in seconds */
	c = open_passive();
	tn_sock_get_opts(c.s, &opts);
	ck_assert_int_eq(opts.linger2_s, 60);
	close_conn(&c);
}
END_TEST

/* Options only kept: a listener's connections inherit them, but not its accept queue's. */
START_TEST(kept_options_inherited_as_linux)
{
	struct conn c = {0};
	c.h = new_server(NULL, 4, &c.l);
	ck_assert_int_eq(tn_sock_get_kept(c.l, TN_KEPT_QUICKACK), 1);
	ck_assert_int_eq(tn_sock_get_kept(c.l, TN_KEPT_PACING_RATE), -1);
	tn_sock_set_kept(c.l, TN_KEPT_PRIORITY, 5);
	tn_sock_set_kept(c.l, TN_KEPT_NOTSENT_LOWAT, 8192);
	tn_sock_set_kept(c.l, TN_KEPT_DEFER_ACCEPT, 3);
	tn_sock_set_kept(c.l, TN_KEPT_FASTOPEN, 16);
	struct oseg synack = passive_syn(&c, NULL, 0);
	passive_ack(&c, &synack);
	ck_assert_int_eq(tn_sock_get_kept(c.s, TN_KEPT_PRIORITY), 5);
	ck_assert_int_eq(tn_sock_get_kept(c.s, TN_KEPT_NOTSENT_LOWAT), 8192);
	ck_assert_int_eq(tn_sock_get_kept(c.s, TN_KEPT_QUICKACK), 1);
	ck_assert_int_eq(tn_sock_get_kept(c.s, TN_KEPT_DEFER_ACCEPT), 0);
	ck_assert_int_eq(tn_sock_get_kept(c.s, TN_KEPT_FASTOPEN), 0);
	ck_assert_int_eq(tn_sock_get_kept(c.l, TN_KEPT_FASTOPEN), 16);
	close_conn(&c);
}
END_TEST

START_TEST(fin_retransmitted_until_acked)
{
	struct conn c = open_passive();
	tn_sock_close(c.s);
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.flags & TCP_FIN, TCP_FIN);
	h_clear(c.h);
	h_advance(c.h, 201 * TN_NSEC_PER_MSEC);
	o = last_only(c.h);
	ck_assert_uint_eq(o.flags & TCP_FIN, TCP_FIN);
	ck_assert_uint_eq(o.seq, c.rcv);
	close_conn(&c);
}
END_TEST

/* tn_sock_list_from: oldest first, any window of the list, the total always. */
START_TEST(sock_list_in_pages)
{
	struct harness *h = new_harness();
	struct tn_sock *s[5];
	struct tn_sock_info info[5];

	for (int i = 0; i < 5; i++) {
		s[i] = tn_sock_open(h->stack);
		ck_assert_int_eq(tn_sock_bind(s[i], 0, (uint16_t)(LPORT + i)), 0);
	}
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 0, info, 5), 5);
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(info[i].local_port, LPORT + i);
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 3, info, 1), 5);
	ck_assert_uint_eq(info[0].local_port, LPORT + 3);
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 4, info, 5), 5); /* only the last one filled */
	ck_assert_uint_eq(info[0].local_port, LPORT + 4);
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 9, NULL, 5), 5);
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 0, NULL, 0), 5);

	/* a newer socket goes to the end; a closed one leaves the others in order */
	tn_sock_close(s[1]);
	s[1] = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_bind(s[1], 0, LPORT + 9), 0);
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 0, info, 5), 5);
	ck_assert_uint_eq(info[0].local_port, LPORT);
	ck_assert_uint_eq(info[1].local_port, LPORT + 2);
	ck_assert_uint_eq(info[4].local_port, LPORT + 9);
	for (int i = 0; i < 5; i++)
		tn_sock_close(s[i]);
	ck_assert_uint_eq(tn_sock_list_from(h->stack, 0, info, 5), 0);
	h_free(h);
}
END_TEST

Suite *tcp_suite(void);
Suite *tcp_suite(void)
{
	Suite *s = suite_create("tcp");
	TCase *tc = tcase_create("states");
	tcase_add_test(tc, rst_for_closed_port);
	tcase_add_test(tc, handshake_negotiates_options);
	tcase_add_test(tc, malformed_options_are_ignored);
	tcase_add_test(tc, data_is_acked_late_then_every_second_segment);
	tcase_add_test(tc, batch_acks_in_order_data_once_at_its_end);
	tcase_add_test(tc, batch_answers_holes_at_once);
	tcase_add_test(tc, batch_acks_merged_runs_every_256k);
	tcase_add_test(tc, batch_acks_four_times_a_flight);
	tcase_add_test(tc, data_after_a_silence_is_acked_at_once);
	tcase_add_test(tc, batch_merges_window_update_with_its_ack);
	tcase_add_test(tc, window_update_after_zero_window_is_repeated);
	tcase_add_test(tc, window_update_of_a_small_window_is_repeated);
	tcase_add_test(tc, out_of_order_data_gets_sack_and_fills);
	tcase_add_test(tc, sack_blocks_most_recent_first_and_dsack);
	tcase_add_test(tc, out_of_order_holds_a_buffer_of_holes);
	tcase_add_test(tc, sack_recovery_repairs_every_hole_at_once);
	tcase_add_test(tc, a_lost_answer_before_a_sacked_fin_goes_again_once);
	tcase_add_test(tc, dsack_for_every_retransmission_undoes_the_cut);
	tcase_add_test(tc, timestamps_show_a_recovery_was_reordering);
	tcase_add_test(tc, slow_start_counts_a_stretch_ack_whole);
	tcase_add_test(tc, rack_finds_a_lost_retransmission);
	tcase_add_test(tc, a_probe_finds_a_lost_retransmission_nothing_followed);
	tcase_add_test(tc, a_probe_sacked_sooner_than_min_rtt_starts_recovery);
	tcase_add_test(tc, a_probe_for_a_late_ack_is_no_loss);
	tcase_add_test(tc, a_probe_that_repairs_a_lost_tail_is_a_loss);
	tcase_add_test(tc, hole_arrays_bounded_whatever_the_peer_asks);
	tcase_add_test(tc, merged_transmit_times_never_make_a_later_segment_lost);
	tcase_add_test(tc, sack_peer_without_blocks_three_dupacks);
	tcase_add_test(tc, recv_peek_then_consume);
	tcase_add_test(tc, empty_receive_ring_starts_again_at_its_first_byte);
	tcase_add_test(tc, deliver_takes_in_order_bytes_behind_the_unread_ones);
	tcase_add_test(tc, loss_state_is_allocated_at_first_need_and_given_back);
	tcase_add_test(tc, send_in_place_then_commit);
	tcase_add_test(tc, path_mtu_discovery);
	tcase_add_test(tc, recv_peek_reports_a_reset_after_the_data);
	tcase_add_test(tc, passive_close);
	tcase_add_test(tc, ring_pool_reuses_buffers);
	tcase_add_test(tc, closed_connection_rings_go_to_the_next);
	tcase_add_test(tc, answer_in_the_same_pass_carries_the_ack);
	tcase_add_test(tc, ack_goes_alone_without_an_answer);
	tcase_add_test(tc, active_close_to_time_wait);
	tcase_add_test(tc, fin_ack_in_one_segment);
	tcase_add_test(tc, simultaneous_close);
	tcase_add_test(tc, orphan_data_and_unread_close_reset);
	tcase_add_test(tc, challenge_acks);
	tcase_add_test(tc, active_open_and_syn_retries);
	tcase_add_test(tc, retransmission_after_rto);
	tcase_add_test(tc, eifel_undoes_a_spurious_rto);
	tcase_add_test(tc, frto_undoes_a_spurious_rto);
	tcase_add_test(tc, dsack_of_every_retransmission_undoes_a_timeout);
	tcase_add_test(tc, min_rtt_starts_with_the_handshake);
	tcase_add_test(tc, frto_sends_new_data_after_the_first_ack);
	tcase_add_test(tc, zero_window_is_probed);
	tcase_add_test(tc, user_timeout_ends_unacknowledged_data);
	tcase_add_test(tc, user_timeout_ends_an_answered_zero_window);
	tcase_add_test(tc, user_timeout_ends_keepalive_probing);
	tcase_add_test(tc, congestion_control_chosen_per_socket);
	tcase_add_test(tc, tos_and_ttl_on_the_wire);
	tcase_add_test(tc, user_mss_offered_and_clamped);
	tcase_add_test(tc, syn_retries_per_socket);
	tcase_add_test(tc, linger2_negative_skips_fin_wait2);
	tcase_add_test(tc, kept_options_inherited_as_linux);
	tcase_add_test(tc, receive_window_never_offers_more_than_the_buffer);
	tcase_add_test(tc, fin_retransmitted_until_acked);
	tcase_add_test(tc, sock_list_in_pages);
	tcase_add_test(tc, cork_holds_partial_segment_until_uncork);
	tcase_add_test(tc, cork_sends_full_segments);
	tcase_add_test(tc, cork_ceiling_200ms);
	tcase_add_test(tc, cork_close_pushes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tcp_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
