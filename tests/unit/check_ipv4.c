/* check_ipv4.c - header validation, delivery, reassembly and fragmentation. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "stack_harness.h"

Suite *ipv4_suite(void);

static uint8_t frame[70000];

/* Sends payload [off, off+len) of an echo request datagram as one fragment. */
static void send_fragment(struct harness *h, const uint8_t *payload, size_t off, size_t len,
			  bool more, uint16_t id)
{
	uint16_t frag = (uint16_t)(off / 8) | (more ? 0x2000 : 0);
	size_t n = h_ipv4(frame, &(struct h_ip_opts){.proto = TN_IP_PROTO_ICMP, .id = id, .frag = frag},
			  payload + off, len);
	h_input(h, frame, n);
}

/* Reassembles the stack's output fragments (all of one datagram) into buf; returns its payload length. */
static size_t collect_reply(struct harness *h, uint8_t *buf, size_t *fragments)
{
	size_t total = 0;
	*fragments = 0;
	for (size_t i = 0; i < h->nout; i++) {
		size_t len;
		const uint8_t *ip = h_out_ip(h, i, &len);
		if (!ip)
			continue;
		ck_assert_uint_eq(tn_csum_fold(tn_csum_add(0, ip, 20)), 0);
		uint16_t frag = tn_get16(ip + 6);
		size_t off = (size_t)(frag & 0x1fff) * 8, plen = tn_get16(ip + 2) - 20u;
		ck_assert_uint_le(tn_get16(ip + 2), 1500);
		memcpy(buf + off, ip + 20, plen);
		if (!(frag & 0x2000))
			total = off + plen;
		(*fragments)++;
	}
	return total;
}

START_TEST(malformed_headers_are_counted)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	uint8_t icmp[64];
	size_t ilen = h_icmp_echo(icmp, 1, 1, 8);
	struct h_ip_opts o = {.proto = TN_IP_PROTO_ICMP};
	size_t n;
	uint64_t expect = 0;

	n = h_ipv4(frame, &o, icmp, ilen);
	h_input(h, frame, TN_ETH_HLEN + 19); /* shorter than a header */
	expect++;
	frame[TN_ETH_HLEN] = 0x65; /* version 6 */
	h_input(h, frame, n);
	expect++;
	n = h_ipv4(frame, &o, icmp, ilen);
	frame[TN_ETH_HLEN] = 0x44; /* IHL 4 */
	h_input(h, frame, n);
	expect++;
	n = h_ipv4(frame, &o, icmp, ilen);
	frame[TN_ETH_HLEN] = 0x4f; /* IHL 15: past the datagram */
	h_input(h, frame, TN_ETH_HLEN + 40);
	expect++;
	n = h_ipv4(frame, &o, icmp, ilen);
	h_input(h, frame, n - 1); /* total length beyond the frame */
	expect++;
	n = h_ipv4(frame, &o, icmp, ilen);
	tn_put16(frame + TN_ETH_HLEN + 2, 12); /* total length below the header */
	h_input(h, frame, n);
	expect++;
	n = h_ipv4(frame, &(struct h_ip_opts){.proto = TN_IP_PROTO_ICMP, .bad_csum = true}, icmp, ilen);
	h_input(h, frame, n);
	expect++;
	n = h_ipv4(frame, &(struct h_ip_opts){.proto = TN_IP_PROTO_ICMP, .zero_ttl = true}, icmp, ilen);
	h_input(h, frame, n);
	expect++;

	ck_assert_uint_eq(H_CTR(h, IpInHdrErrors), expect);
	ck_assert_uint_eq(H_CTR(h, IpInDelivers), 0);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

START_TEST(wrong_addresses_are_counted)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	uint8_t icmp[64];
	size_t ilen = h_icmp_echo(icmp, 1, 1, 8);
	const tn_ip4 bad_src[] = {0x7f000001, 0xe0000001, 0x0a0000ff, H_STACK_IP};
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.dst = 0x0a000009, .proto = 1}, icmp, ilen));
	for (size_t i = 0; i < TN_ARRAY_SIZE(bad_src); i++)
		h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.src = bad_src[i], .proto = 1}, icmp, ilen));
	ck_assert_uint_eq(H_CTR(h, IpInAddrErrors), 5);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

START_TEST(options_and_padding_are_tolerated)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	uint8_t icmp[64];
	size_t ilen = h_icmp_echo(icmp, 1, 1, 8);
	/* a header with one word of options (NOPs + EOL) in front of the payload */
	uint8_t *ip = frame + TN_ETH_HLEN;
	size_t n = h_ipv4(frame, &(struct h_ip_opts){.proto = 1}, icmp, ilen);
	memmove(ip + 24, ip + 20, ilen);
	memcpy(ip + 20, "\x01\x01\x01\x00", 4);
	ip[0] = 0x46;
	tn_put16(ip + 2, (uint16_t)(24 + ilen));
	tn_put16(ip + 10, 0);
	tn_put16(ip + 10, tn_csum_fold(tn_csum_add(0, ip, 24)));
	n += 4;
	memset(frame + n, 0xee, 10); /* Ethernet padding */
	h_input(h, frame, n + 10);
	ck_assert_uint_eq(H_CTR(h, IcmpOutEchoReps), 1);
	size_t len;
	const uint8_t *out = h_out_ip(h, 0, &len);
	ck_assert_uint_eq(tn_get16(out + 2), 20 + ilen); /* the padding was not echoed */
	h_free(h);
}
END_TEST

START_TEST(unknown_protocol_gets_rate_limited_unreachable)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	uint8_t udp[16] = {0};
	for (int i = 0; i < 10; i++)
		h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.proto = TN_IP_PROTO_UDP}, udp, 16));
	ck_assert_uint_eq(H_CTR(h, IpInUnknownProtos), 10);
	ck_assert_uint_eq(h->nout, 6); /* the burst */
	ck_assert_uint_eq(H_CTR(h, IcmpOutRateLimited), 4);
	size_t len;
	const uint8_t *ip = h_out_ip(h, 0, &len);
	ck_assert_uint_eq(ip[9], TN_IP_PROTO_ICMP);
	ck_assert_uint_eq(ip[20], 3);
	ck_assert_uint_eq(ip[21], 2); /* protocol unreachable */
	ck_assert_uint_eq(tn_get32(ip + 28 + 12), H_PEER_IP); /* quotes the original header */
	h_clear(h);
	h_advance(h, 1000 * TN_NSEC_PER_MSEC);
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.proto = TN_IP_PROTO_UDP}, udp, 16));
	ck_assert_uint_eq(h->nout, 1); /* one token back after a second */
	h_free(h);
}
END_TEST

static void make_echo(uint8_t *payload, size_t *len, size_t data)
{
	*len = h_icmp_echo(payload, 7, 9, data);
}

START_TEST(reassembly_in_any_order)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	static uint8_t payload[66000], reply[66000];
	size_t plen, nfrag;
	make_echo(payload, &plen, 4000 - 8);
	/* fragments of 1480: send the last first, then the middle, then the first */
	send_fragment(h, payload, 2960, plen - 2960, false, 42);
	send_fragment(h, payload, 1480, 1480, true, 42);
	send_fragment(h, payload, 1480, 1480, true, 42); /* an exact duplicate is ignored */
	ck_assert_uint_eq(h->nout, 0);
	send_fragment(h, payload, 0, 1480, true, 42);
	ck_assert_uint_eq(H_CTR(h, IpReasmOKs), 1);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 0);
	ck_assert_uint_eq(H_CTR(h, IcmpOutEchoReps), 1);
	size_t rlen = collect_reply(h, reply, &nfrag);
	ck_assert_uint_eq(rlen, plen);
	ck_assert_uint_eq(nfrag, 3);
	ck_assert_uint_eq(H_CTR(h, IpFragCreates), 3);
	ck_assert_mem_eq(reply + 8, payload + 8, plen - 8);
	h_free(h);
}
END_TEST

START_TEST(largest_datagram_round_trips)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	static uint8_t payload[66000], reply[66000];
	size_t plen, nfrag;
	make_echo(payload, &plen, 65535 - 20 - 8);
	for (size_t off = 0; off < plen; off += 1480)
		send_fragment(h, payload, off, plen - off < 1480 ? plen - off : 1480, off + 1480 < plen, 7);
	ck_assert_uint_eq(H_CTR(h, IpReasmOKs), 1);
	size_t rlen = collect_reply(h, reply, &nfrag);
	ck_assert_uint_eq(rlen, plen);
	ck_assert_uint_eq(nfrag, 45);
	ck_assert_mem_eq(reply + 8, payload + 8, plen - 8);
	h_free(h);
}
END_TEST

START_TEST(overlap_drops_the_datagram)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	static uint8_t payload[8000];
	size_t plen;
	make_echo(payload, &plen, 3000);
	send_fragment(h, payload, 0, 1480, true, 5);
	send_fragment(h, payload, 1472, 1480, true, 5); /* overlaps the first by 8 bytes */
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 1);
	send_fragment(h, payload, 2952, plen - 2952, false, 5);
	ck_assert_uint_eq(H_CTR(h, IpReasmOKs), 0);
	ck_assert_uint_eq(h->nout, 0);
	/* a fragment inside another one is an overlap too */
	send_fragment(h, payload, 0, 1480, true, 6);
	send_fragment(h, payload, 8, 16, true, 6);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 2);
	h_free(h);
}
END_TEST

START_TEST(oversize_and_odd_fragments_are_refused)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	static uint8_t payload[70000];
	/* offset 65528 + 16 bytes is past the largest datagram */
	send_fragment(h, payload, 65528, 16, false, 9);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 1);
	/* a middle fragment whose length is not a multiple of 8 */
	send_fragment(h, payload, 0, 100, true, 10);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 2);
	/* two different ends */
	send_fragment(h, payload, 2960, 100, false, 11);
	send_fragment(h, payload, 2960, 200, false, 11);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 3);
	ck_assert_uint_eq(H_CTR(h, IpReasmOKs), 0);
	h_free(h);
}
END_TEST

/* The same as send_fragment with a header of 20 + opt_len bytes (NOP options). */
static void send_fragment_opts(struct harness *h, const uint8_t *payload, size_t off, size_t len,
			       bool more, uint16_t id, size_t opt_len)
{
	uint16_t frag = (uint16_t)(off / 8) | (more ? 0x2000 : 0);
	size_t n = h_ipv4(frame, &(struct h_ip_opts){.proto = TN_IP_PROTO_ICMP, .id = id, .frag = frag},
			  payload + off, len);
	uint8_t *ip = frame + TN_ETH_HLEN;
	memmove(ip + 20 + opt_len, ip + 20, len);
	memset(ip + 20, 1, opt_len);
	ip[0] = (uint8_t)(0x40 | (20 + opt_len) / 4);
	tn_put16(ip + 2, (uint16_t)(20 + opt_len + len));
	tn_put16(ip + 10, 0);
	tn_put16(ip + 10, tn_csum_fold(tn_csum_add(0, ip, 20 + opt_len)));
	h_input(h, frame, n + opt_len);
}

/*
 * Every fragment fits in 65535 bytes with its own header, but the datagram
 * rebuilt behind the first fragment's 60-byte header would be 65575 bytes.
 */
START_TEST(reassembled_length_counts_the_first_header)
{
	static uint8_t payload[70000];
	size_t last_off = 44 * 1480; /* the last fragment: 395 bytes, ending at 65515 */
	for (int first_last = 0; first_last < 2; first_last++) {
		struct harness *h = h_new(NULL);
		h_learn_peer(h);
		if (first_last)
			send_fragment_opts(h, payload, 0, 1480, true, 3, 40);
		for (size_t off = 1480; off < last_off; off += 1480)
			send_fragment(h, payload, off, 1480, true, 3);
		send_fragment(h, payload, last_off, 65515 - last_off, false, 3);
		if (!first_last)
			send_fragment_opts(h, payload, 0, 1480, true, 3, 40);
		ck_assert_uint_eq(H_CTR(h, IpReasmOKs), 0);
		ck_assert_uint_eq(H_CTR(h, IpReasmFails), 1);
		ck_assert_uint_eq(H_CTR(h, IpInDelivers), 0);
		ck_assert_uint_eq(h->nout, 0);
		h_free(h);
	}

	/* 20 bytes less of payload, and the same datagram is whole: 65535 exactly */
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	size_t plen;
	make_echo(payload, &plen, 65535 - 60 - 8);
	ck_assert_uint_eq(plen, 65475);
	send_fragment_opts(h, payload, 0, 1480, true, 4, 40);
	for (size_t off = 1480; off < plen; off += 1480)
		send_fragment(h, payload, off, plen - off < 1480 ? plen - off : 1480, off + 1480 < plen, 4);
	ck_assert_uint_eq(H_CTR(h, IpReasmOKs), 1);
	ck_assert_uint_eq(H_CTR(h, IcmpOutEchoReps), 1);
	h_free(h);
}
END_TEST

START_TEST(incomplete_datagram_times_out)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	static uint8_t payload[8000];
	send_fragment(h, payload, 0, 1480, true, 12);
	ck_assert_uint_ne(tn_stack_next_deadline(h->stack), TN_TIME_NEVER);
	h_advance(h, 29 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(H_CTR(h, IpReasmTimeout), 0);
	h_advance(h, 2 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(H_CTR(h, IpReasmTimeout), 1);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 1);
	h_free(h);
}
END_TEST

START_TEST(memory_limits_evict_oldest)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.reasm_max_datagrams = 4;
	struct harness *h = h_new(&cfg);
	h_learn_peer(h);
	static uint8_t payload[70000];
	for (uint16_t id = 0; id < 10; id++)
		send_fragment(h, payload, 0, 1480, true, id);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 6);
	h_free(h);

	/* a byte budget: many big partial datagrams evict each other */
	tn_config_defaults(&cfg);
	cfg.reasm_max_bytes = 70000;
	h = h_new(&cfg);
	h_learn_peer(h);
	for (uint16_t id = 0; id < 4; id++)
		send_fragment(h, payload, 60000, 1480, true, id);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 3);
	h_free(h);
}
END_TEST

/* Many datagrams at once, their fragments interleaved: each finds its own. */
START_TEST(many_datagrams_at_once)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.reasm_max_datagrams = 2000;
	cfg.reasm_max_bytes = 2000 * 4096;
	struct harness *h = h_new(&cfg);
	h_learn_peer(h);
	static uint8_t payload[3000];
	size_t plen;
	make_echo(payload, &plen, 2000);
	for (uint16_t id = 0; id < 2000; id++)
		send_fragment(h, payload, 1480, plen - 1480, false, id);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 0);
	for (uint16_t id = 2000; id-- > 0;) {
		send_fragment(h, payload, 0, 1480, true, id);
		h_clear(h);
	}
	ck_assert_uint_eq(H_CTR(h, IpReasmOKs), 2000);
	ck_assert_uint_eq(H_CTR(h, IpReasmFails), 0);
	ck_assert_uint_eq(H_CTR(h, IcmpOutEchoReps), 2000);
	h_free(h);
}
END_TEST

START_TEST(output_fragmentation_and_df)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	static uint8_t data[5000];
	struct tn_iov iov = {data, sizeof(data)};
	ck_assert_int_eq(tn_ipv4_output(h->stack, 0, H_PEER_IP, 253, 0, &iov, 1, TN_IP_OUT_DF), -EMSGSIZE);
	ck_assert_uint_eq(H_CTR(h, IpFragFails), 1);
	ck_assert_int_eq(tn_ipv4_output(h->stack, 0, H_PEER_IP, 253, 0, &iov, 1, 0), 0);
	ck_assert_uint_eq(h->nout, 4);
	ck_assert_uint_eq(H_CTR(h, IpFragCreates), 4);
	for (size_t i = 0; i < 4; i++) {
		const uint8_t *ip = h_out_ip(h, i, NULL);
		ck_assert_uint_eq(tn_get16(ip + 6) & 0x1fff, i * 185);
		ck_assert_uint_eq(!!(tn_get16(ip + 6) & 0x2000), i < 3);
	}
	h_free(h);
}
END_TEST

/* The ID of a datagram without DF that tapnet sends to dst now (via the gateway). */
static uint16_t ident_to(struct harness *h, tn_ip4 dst)
{
	static const uint8_t data[8];
	struct tn_iov iov = {data, sizeof(data)};
	h_clear(h);
	ck_assert_int_eq(tn_ipv4_output(h->stack, 0, dst, 253, 0, &iov, 1, 0), 0);
	ck_assert_uint_eq(h->nout, 1);
	const uint8_t *ip = h_out_ip(h, 0, NULL);
	ck_assert_ptr_nonnull(ip);
	ck_assert_uint_eq(tn_get32(ip + 16), dst);
	return tn_get16(ip + 4);
}

/*
 * What one destination sees of the IDs does not move with traffic to
 * others (a global counter would show it every datagram sent elsewhere).
 */
START_TEST(ip_id_is_per_destination)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.gateway = H_PEER_IP;
	struct harness *h = h_new(&cfg);
	h_learn_peer(h);
	const tn_ip4 a = 0xc0a80001;
	uint16_t a1 = ident_to(h, a), a2 = ident_to(h, a);
	ck_assert_uint_eq((uint16_t)(a2 - a1), 1); /* the clock stood still: consecutive */

	/* 200 datagrams to 200 other destinations: the IDs they got are not a sequence */
	unsigned consecutive = 0, moved = 0;
	uint16_t prev = ident_to(h, 0xc0a90000);
	for (tn_ip4 d = 1; d < 200; d++) {
		uint16_t id = ident_to(h, 0xc0a90000 + d);
		consecutive += id == (uint16_t)(prev + 1);
		prev = id;
	}
	ck_assert_uint_lt(consecutive, 10);
	uint16_t a3 = ident_to(h, a);
	/* shared with a only if one of them hashed to a's counter (a few of 256 may) */
	moved = (uint16_t)(a3 - a2 - 1);
	ck_assert_uint_lt(moved, 10);

	/* after a pause the counter jumps by a random amount within the idle time */
	h_advance(h, 5 * TN_NSEC_PER_SEC);
	uint16_t a4 = ident_to(h, a), a5 = ident_to(h, a);
	ck_assert_uint_eq((uint16_t)(a5 - a4), 1);
	ck_assert_uint_ne((uint16_t)(a4 - a3), 1);

	/* DF datagrams carry 0, fragments of one datagram share their ID */
	static uint8_t big[3000];
	struct tn_iov iov = {big, sizeof(big)};
	h_clear(h);
	ck_assert_int_eq(tn_ipv4_output(h->stack, 0, a, 253, 0, &iov, 1, TN_IP_OUT_DF), -EMSGSIZE);
	iov.len = 100;
	ck_assert_int_eq(tn_ipv4_output(h->stack, 0, a, 253, 0, &iov, 1, TN_IP_OUT_DF), 0);
	ck_assert_uint_eq(tn_get16(h_out_ip(h, 0, NULL) + 4), 0);
	h_clear(h);
	iov.len = sizeof(big);
	ck_assert_int_eq(tn_ipv4_output(h->stack, 0, a, 253, 0, &iov, 1, 0), 0);
	ck_assert_uint_eq(h->nout, 3);
	ck_assert_uint_eq(tn_get16(h_out_ip(h, 0, NULL) + 4), (uint16_t)(a5 + 1));
	for (size_t i = 1; i < 3; i++)
		ck_assert_uint_eq(tn_get16(h_out_ip(h, i, NULL) + 4), (uint16_t)(a5 + 1));
	h_free(h);
}
END_TEST

/* RFC 1071's sum, a 16-bit big-endian word at a time: what tn_csum_add must equal. */
static uint16_t reference_csum(uint32_t start, const uint8_t *p, size_t len)
{
	uint64_t acc = start;
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

/* Bytes from a linear congruential generator: the same for a seed, every run. */
static void fill_pseudo_random(uint8_t *buf, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
}

START_TEST(checksum_matches_rfc1071_at_any_length_and_alignment)
{
	static uint8_t buf[300];
	fill_pseudo_random(buf, sizeof(buf), 12345);
	memset(buf + 200, 0xff, 64); /* runs of 0xffff words make carries */
	const uint32_t starts[] = {0, 1, 0xffff, 0x1fffe, 0xffffffffu};
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len++)
			for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++)
				ck_assert_uint_eq(tn_csum_fold(tn_csum_add(starts[k], buf + off, len)),
						  reference_csum(starts[k], buf + off, len));
	/* a run summed in even pieces is the run summed whole */
	uint32_t pieces = tn_csum_add(tn_csum_add(tn_csum_add(0, buf + 1, 14), buf + 15, 100), buf + 115, 77);
	ck_assert_uint_eq(tn_csum_fold(pieces), reference_csum(0, buf + 1, 191));
}
END_TEST

/*
 * Long runs (a 64 KB GSO frame; past the 4096 rounds of 64 bytes after
 * which the vector sum folds its 32-bit lanes, and past 2 MiB, where
 * 0xffff words would carry out of a lane never folded), of random bytes
 * and of 0xffff words, whose sums carry the most.
 */
START_TEST(checksum_of_long_runs_matches_rfc1071)
{
	static uint8_t buf[2200000];
	fill_pseudo_random(buf, sizeof(buf), 777);
	const size_t lens[] = {1448, 1449, 4096 * 64 - 1, 4096 * 64, 4096 * 64 + 130, 65535, 2199990};
	for (int fill = 0; fill < 2; fill++) {
		if (fill)
			memset(buf, 0xff, sizeof(buf));
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++)
			for (size_t off = 0; off < 3; off++)
				ck_assert_uint_eq(tn_csum_fold(tn_csum_add(0xfffe, buf + off, lens[k])),
						  reference_csum(0xfffe, buf + off, lens[k]));
	}
}
END_TEST

Suite *ipv4_suite(void)
{
	Suite *s = suite_create("ipv4");
	TCase *tc = tcase_create("ipv4");
	tcase_add_test(tc, malformed_headers_are_counted);
	tcase_add_test(tc, wrong_addresses_are_counted);
	tcase_add_test(tc, options_and_padding_are_tolerated);
	tcase_add_test(tc, unknown_protocol_gets_rate_limited_unreachable);
	tcase_add_test(tc, reassembly_in_any_order);
	tcase_add_test(tc, largest_datagram_round_trips);
	tcase_add_test(tc, overlap_drops_the_datagram);
	tcase_add_test(tc, oversize_and_odd_fragments_are_refused);
	tcase_add_test(tc, reassembled_length_counts_the_first_header);
	tcase_add_test(tc, incomplete_datagram_times_out);
	tcase_add_test(tc, memory_limits_evict_oldest);
	tcase_add_test(tc, many_datagrams_at_once);
	tcase_add_test(tc, output_fragmentation_and_df);
	tcase_add_test(tc, ip_id_is_per_destination);
	tcase_add_test(tc, checksum_matches_rfc1071_at_any_length_and_alignment);
	tcase_add_test(tc, checksum_of_long_runs_matches_rfc1071);
	suite_add_tcase(s, tc);
	return s;
}
