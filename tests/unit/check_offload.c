/*
 * check_offload.c - the core's side of the tap offloads (struct
 * tn_frame_meta): with TN_OFFLOAD_TSO4 new data, and runs of lost segments
 * sent again, leave as runs of segments in one GSO frame whose PARTIAL
 * checksum the link completes; frames in that
 * the link vouches for (PARTIAL, VALID) skip checksum verification, and a
 * GSO frame in counts as the segments it stands for.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack/tcp.h"
#include "stack_harness.h"
#include "tcp_peer.h"

#define MSS 1460
static const uint8_t mss_opt[4] = { 2, 4, MSS >> 8, MSS & 0xff };

static struct conn open_offloaded(uint8_t offload)
{
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.offload = offload;
	return open_passive_cfg(&cfg, mss_opt, sizeof(mss_opt));
}

static uint8_t data[65536];

static void fill_data(void)
{
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
}

/* The only frame sent since the last h_clear(), as a segment; its meta in *m. */
static struct oseg only_frame(struct conn *c, struct tn_frame_meta *m)
{
	ck_assert_uint_eq(c->h->nout, 1);
	struct oseg o;
	ck_assert(out_seg(c->h, 0, &o)); /* checksum checked after the link completed it */
	*m = c->h->out[0].meta;
	return o;
}

static void peer_ack(struct conn *c, uint32_t ack)
{
	peer_send(c->h, &(struct pseg){ .seq = c->snd, .ack = ack, .flags = TCP_ACK });
}

START_TEST(tso_sends_the_congestion_window_as_one_frame)
{
	fill_data();
	struct conn c = open_offloaded(TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4);
	uint64_t segs0 = H_CTR(c.h, TcpOutSegs);

	ck_assert_int_eq(tn_sock_send(c.s, data, 20000), 20000);
	struct tn_frame_meta m;
	struct oseg o = only_frame(&c, &m);
	/* the initial window, 10 segments, in one frame */
	ck_assert_uint_eq(o.len, 10 * MSS);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_mem_eq(o.data, data, o.len);
	ck_assert_uint_eq(m.gso_type, TN_GSO_TCPV4);
	ck_assert_uint_eq(m.gso_size, MSS);
	ck_assert_uint_eq(m.flags, TN_FRAME_CSUM_PARTIAL);
	ck_assert_uint_eq(m.csum_start, TN_ETH_HLEN + TN_IP_HLEN);
	ck_assert_uint_eq(m.csum_offset, 16);
	/* the field held the pseudo-header sum (not complemented) for the whole run */
	uint32_t pseudo = tn_csum_pseudo(H_STACK_IP, H_PEER_IP, TN_IP_PROTO_TCP,
					 (uint16_t)(TCP_HLEN + 10 * MSS));
	ck_assert_uint_eq(c.h->out[0].partial_sum, (uint16_t)~tn_csum_fold(pseudo));
	ck_assert_uint_eq(H_CTR(c.h, TcpOutSegs) - segs0, 10);

	/* acked: slow start doubles the window; 5400 bytes are left, the short
	 * tail waits for the run before it (Nagle) */
	h_clear(c.h);
	peer_ack(&c, c.rcv + 10 * MSS);
	o = only_frame(&c, &m);
	ck_assert_uint_eq(o.len, 3 * MSS);
	ck_assert_uint_eq(m.gso_type, TN_GSO_TCPV4);
	ck_assert_mem_eq(o.data, data + 10 * MSS, o.len);
	h_clear(c.h);
	peer_ack(&c, c.rcv + 13 * MSS);
	o = only_frame(&c, &m);
	ck_assert_uint_eq(o.len, 20000 - 13 * MSS);
	ck_assert_uint_eq(m.gso_type, TN_GSO_NONE); /* one segment: a plain frame */
	ck_assert_uint_eq(m.flags, TN_FRAME_CSUM_PARTIAL);
	close_conn(&c);
}
END_TEST

/* After an RTO the window is one segment: so is each retransmission. */
START_TEST(after_a_timeout_one_segment_at_a_time)
{
	fill_data();
	struct conn c = open_offloaded(TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4);
	ck_assert_int_eq(tn_sock_send(c.s, data, 4 * MSS), 4 * MSS);
	struct tn_frame_meta m;
	struct oseg o = only_frame(&c, &m);
	ck_assert_uint_eq(o.len, 4 * MSS);
	h_clear(c.h);
	h_advance(c.h, 2 * TN_NSEC_PER_SEC); /* a few timeouts (the RTO backs off) */
	ck_assert_uint_ge(c.h->nout, 1);
	for (size_t i = 0; i < c.h->nout; i++) {
		ck_assert(out_seg(c.h, i, &o));
		ck_assert_uint_eq(o.seq, c.rcv);
		ck_assert_uint_eq(o.len, MSS);
		m = c.h->out[i].meta;
		ck_assert_uint_eq(m.gso_type, TN_GSO_NONE);
	}
	close_conn(&c);
}
END_TEST

/*
 * Six segments lost at the head, the four after them SACKed: the lost run
 * goes again as one GSO frame, as large as PRR lets the window be.
 */
START_TEST(a_lost_run_goes_again_as_one_gso_frame)
{
	fill_data();
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.offload = TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4;
	struct conn c = open_passive_cfg(&cfg, syn_opts, sizeof(syn_opts));
	h_advance(c.h, TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_sock_send(c.s, data, 10 * MSS), 10 * MSS);
	struct tn_frame_meta m;
	struct oseg o = only_frame(&c, &m);
	ck_assert_uint_eq(o.len, 10 * MSS);
	h_clear(c.h);
	h_advance(c.h, 200 * 1000);
	uint8_t opt[12] = { 1, 1, 5, 10 };
	tn_put32(opt + 4, c.rcv + 6 * MSS);
	tn_put32(opt + 8, c.rcv + 10 * MSS);
	peer_send(c.h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .opt = opt,
				       .optlen = sizeof(opt) });
	o = only_frame(&c, &m);
	ck_assert_uint_eq(o.seq, c.rcv);
	ck_assert_uint_eq(m.gso_type, TN_GSO_TCPV4);
	ck_assert_uint_eq(m.gso_size, MSS);
	ck_assert_uint_gt(o.len, MSS);
	ck_assert_uint_le(o.len, 6 * MSS);
	ck_assert_uint_eq(o.len % MSS, 0);
	ck_assert_mem_eq(o.data, data, o.len);
	ck_assert_uint_eq(H_CTR(c.h, TcpRetransSegs), o.len / MSS);
	ck_assert_uint_eq(H_CTR(c.h, TcpExtTCPSackRecovery), 1);
	close_conn(&c);
}
END_TEST

START_TEST(checksum_offload_alone_sends_plain_segments)
{
	fill_data();
	struct conn c = open_offloaded(TN_OFFLOAD_CSUM);
	ck_assert_int_eq(tn_sock_send(c.s, data, 3 * MSS), 3 * MSS);
	ck_assert_uint_eq(c.h->nout, 3);
	for (size_t i = 0; i < 3; i++) {
		struct oseg o;
		ck_assert(out_seg(c.h, i, &o));
		ck_assert_uint_eq(o.len, MSS);
		ck_assert_uint_eq(c.h->out[i].meta.gso_type, TN_GSO_NONE);
		ck_assert_uint_eq(c.h->out[i].meta.flags, TN_FRAME_CSUM_PARTIAL);
	}
	close_conn(&c);
}
END_TEST

START_TEST(without_offload_every_frame_is_plain)
{
	fill_data();
	struct conn c = open_offloaded(0);
	ck_assert_int_eq(tn_sock_send(c.s, data, 3 * MSS), 3 * MSS);
	ck_assert_uint_eq(c.h->nout, 3);
	for (size_t i = 0; i < 3; i++) {
		struct oseg o;
		ck_assert(out_seg(c.h, i, &o));
		ck_assert_uint_eq(c.h->out[i].meta.flags, 0);
		ck_assert_uint_eq(c.h->out[i].meta.gso_type, TN_GSO_NONE);
	}
	close_conn(&c);
}
END_TEST

START_TEST(checksums_the_link_vouches_for_are_not_verified)
{
	struct conn c = open_offloaded(0);
	uint8_t buf[16];

	/* a bad checksum on a plain frame: dropped */
	peer_send(c.h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
				       .data = "abcd", .len = 4, .bad_csum = true });
	ck_assert_uint_eq(H_CTR(c.h, TcpInCsumErrors), 1);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), -EAGAIN);

	/* the same bytes, the link saying the checksum is a local sender's to fill in */
	struct tn_frame_meta partial = { .flags = TN_FRAME_CSUM_PARTIAL,
					 .csum_start = TN_ETH_HLEN + TN_IP_HLEN, .csum_offset = 16 };
	c.h->in_meta = &partial;
	peer_send(c.h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
				       .data = "abcd", .len = 4, .bad_csum = true });
	c.snd += 4;
	/* or that it checked it */
	struct tn_frame_meta valid = { .flags = TN_FRAME_CSUM_VALID };
	c.h->in_meta = &valid;
	peer_send(c.h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK,
				       .data = "efgh", .len = 4, .bad_csum = true });
	c.h->in_meta = NULL;
	ck_assert_uint_eq(H_CTR(c.h, TcpInCsumErrors), 1);
	ck_assert_int_eq(tn_sock_recv(c.s, buf, sizeof(buf)), 8);
	ck_assert_mem_eq(buf, "abcdefgh", 8);
	close_conn(&c);
}
END_TEST

START_TEST(a_gso_frame_in_counts_its_segments_and_is_acked_at_once)
{
	fill_data();
	struct conn c = open_offloaded(0);
	uint64_t segs0 = H_CTR(c.h, TcpInSegs);
	struct tn_frame_meta gso = { .gso_type = TN_GSO_TCPV4, .gso_size = 1000,
				     .flags = TN_FRAME_CSUM_PARTIAL,
				     .csum_start = TN_ETH_HLEN + TN_IP_HLEN, .csum_offset = 16 };
	c.h->in_meta = &gso;
	peer_send(c.h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
				       .data = data, .len = 4500 });
	c.h->in_meta = NULL;
	ck_assert_uint_eq(H_CTR(c.h, TcpInSegs) - segs0, 5);
	/* more than two segments' worth: ACKed now, not after the delayed-ACK timeout */
	struct oseg o = last_only(c.h);
	ck_assert_uint_eq(o.ack, c.snd + 4500);
	static uint8_t got[8192];
	ck_assert_int_eq(tn_sock_recv(c.s, got, sizeof(got)), 4500);
	ck_assert_mem_eq(got, data, 4500);
	close_conn(&c);
}
END_TEST

/* tn_frame_finish(): what the link or a capture makes of a frame. */
struct finished {
	size_t n;
	uint32_t seq[64];
	size_t payload[64];
	uint8_t flags[64];
	uint16_t id[64];
	bool checksums_ok;
};

static void collect_segment(void *ctx, const uint8_t *f, size_t len)
{
	struct finished *fin = ctx;
	size_t ip = TN_ETH_HLEN, ihl = (size_t)(f[ip] & 0x0f) * 4, tcp = ip + ihl;
	size_t thl = (size_t)(f[tcp + 12] >> 4) * 4;

	ck_assert_uint_lt(fin->n, 64);
	ck_assert_uint_eq(tn_get16(f + ip + 2), len - ip);
	uint32_t pseudo = tn_csum_pseudo(tn_get32(f + ip + 12), tn_get32(f + ip + 16), TN_IP_PROTO_TCP,
					 (uint16_t)(len - tcp));
	if (tn_csum_fold(tn_csum_add(0, f + ip, ihl)) != 0 ||
	    tn_csum_fold(tn_csum_add(pseudo, f + tcp, len - tcp)) != 0)
		fin->checksums_ok = false;
	fin->seq[fin->n] = tn_get32(f + tcp + 4);
	fin->payload[fin->n] = len - tcp - thl;
	fin->flags[fin->n] = f[tcp + 13];
	fin->id[fin->n] = tn_get16(f + ip + 4);
	fin->n++;
}

START_TEST(a_gso_frame_finishes_as_its_segments_with_their_own_checksums)
{
	fill_data();
	struct conn c = open_offloaded(TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4);

	ck_assert_int_eq(tn_sock_send(c.s, data, 10 * MSS - 100), 10 * MSS - 100);
	tn_sock_shutdown(c.s, TN_SHUT_WR); /* a FIN on the last segment */
	ck_assert_uint_ge(c.h->nout, 1);
	const struct h_frame *fr = &c.h->out[0];
	ck_assert_uint_eq(fr->meta.gso_type, TN_GSO_TCPV4);

	size_t tcp = fr->meta.csum_start, frame_payload = fr->len - tcp - (size_t)(fr->data[tcp + 12] >> 4) * 4;
	ck_assert_uint_gt(frame_payload, 2u * fr->meta.gso_size);
	struct finished fin = { .checksums_ok = true };
	size_t n = tn_frame_finish(&fr->meta, fr->data, fr->len, collect_segment, &fin);
	ck_assert_uint_eq(n, fin.n);
	ck_assert_uint_eq(n, (frame_payload + fr->meta.gso_size - 1) / fr->meta.gso_size);
	ck_assert(fin.checksums_ok);
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(fin.seq[i], fin.seq[0] + (uint32_t)total);
		ck_assert_uint_eq(fin.id[i], (uint16_t)(fin.id[0] + i));
		total += fin.payload[i];
		if (i + 1 < n) {
			ck_assert_uint_eq(fin.payload[i], fr->meta.gso_size);
			ck_assert(!(fin.flags[i] & (TCP_FIN | TCP_PSH)));
		}
	}
	ck_assert_uint_eq(total, frame_payload);
	ck_assert(fin.flags[n - 1] & TCP_ACK);
	close_conn(&c);
}
END_TEST

START_TEST(a_partial_checksum_is_completed_and_a_plain_frame_passes_as_it_is)
{
	fill_data();
	struct conn c = open_offloaded(TN_OFFLOAD_CSUM);

	ck_assert_int_eq(tn_sock_send(c.s, data, 500), 500);
	ck_assert_uint_eq(c.h->nout, 1);
	struct h_frame fr = c.h->out[0];
	ck_assert(fr.meta.flags & TN_FRAME_CSUM_PARTIAL);
	uint8_t copy[2048];
	memcpy(copy, fr.data, fr.len);
	/* the checksum field as the core left it: the pseudo-header sum */
	tn_put16(copy + fr.meta.csum_start + fr.meta.csum_offset, fr.partial_sum);
	struct finished fin = { .checksums_ok = true };
	ck_assert_uint_eq(tn_frame_finish(&fr.meta, copy, fr.len, collect_segment, &fin), 1);
	ck_assert(fin.checksums_ok);
	ck_assert_uint_eq(fin.payload[0], 500);

	/* a plain frame with a wrong checksum stays wrong: nothing is left to do */
	copy[fr.len - 1] ^= 0xff;
	struct finished plain = { .checksums_ok = true };
	ck_assert_uint_eq(tn_frame_finish(NULL, copy, fr.len, collect_segment, &plain), 1);
	ck_assert(!plain.checksums_ok);
	close_conn(&c);
}
END_TEST

static Suite *offload_suite(void)
{
	Suite *s = suite_create("offload");
	TCase *tc = tcase_create("tso and checksums");
	tcase_add_test(tc, tso_sends_the_congestion_window_as_one_frame);
	tcase_add_test(tc, after_a_timeout_one_segment_at_a_time);
	tcase_add_test(tc, a_lost_run_goes_again_as_one_gso_frame);
	tcase_add_test(tc, checksum_offload_alone_sends_plain_segments);
	tcase_add_test(tc, without_offload_every_frame_is_plain);
	tcase_add_test(tc, checksums_the_link_vouches_for_are_not_verified);
	tcase_add_test(tc, a_gso_frame_in_counts_its_segments_and_is_acked_at_once);
	tcase_add_test(tc, a_gso_frame_finishes_as_its_segments_with_their_own_checksums);
	tcase_add_test(tc, a_partial_checksum_is_completed_and_a_plain_frame_passes_as_it_is);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(offload_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
