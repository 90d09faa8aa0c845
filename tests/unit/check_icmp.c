/* check_icmp.c - echo replies and ICMP input validation. */
#include <check.h>

#include "stack_harness.h"

Suite *icmp_suite(void);

static uint8_t frame[2048];

START_TEST(echo_is_answered_exactly)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	uint8_t icmp[256];
	size_t ilen = h_icmp_echo(icmp, 0x1234, 77, 56);
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.proto = 1}, icmp, ilen));
	ck_assert_uint_eq(h->nout, 1);
	ck_assert_mem_eq(h->out[0].data, h_peer_mac, 6);
	size_t len;
	const uint8_t *ip = h_out_ip(h, 0, &len);
	ck_assert_uint_eq(len, 20 + ilen);
	ck_assert_uint_eq(tn_get32(ip + 12), H_STACK_IP);
	ck_assert_uint_eq(tn_get32(ip + 16), H_PEER_IP);
	ck_assert_uint_eq(ip[8], 64);
	ck_assert_uint_eq(tn_csum_fold(tn_csum_add(0, ip, 20)), 0);
	const uint8_t *reply = ip + 20;
	ck_assert_uint_eq(reply[0], 0);
	ck_assert_uint_eq(tn_get16(reply + 4), 0x1234);
	ck_assert_uint_eq(tn_get16(reply + 6), 77);
	ck_assert_mem_eq(reply + 8, icmp + 8, 56);
	ck_assert_uint_eq(tn_csum_fold(tn_csum_add(0, reply, ilen)), 0);
	ck_assert_uint_eq(H_CTR(h, IcmpInEchos), 1);
	ck_assert_uint_eq(H_CTR(h, IcmpOutEchoReps), 1);
	ck_assert_uint_eq(H_CTR(h, IpInDelivers), 1);
	h_free(h);
}
END_TEST

START_TEST(bad_icmp_is_counted)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	uint8_t icmp[256];
	size_t ilen = h_icmp_echo(icmp, 1, 1, 16);
	icmp[10] ^= 0xff; /* data changed after the checksum */
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.proto = 1}, icmp, ilen));
	ck_assert_uint_eq(H_CTR(h, IcmpInCsumErrors), 1);
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.proto = 1}, icmp, 5)); /* short */
	ck_assert_uint_eq(H_CTR(h, IcmpInErrors), 2);
	ck_assert_uint_eq(H_CTR(h, IcmpInMsgs), 2);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

START_TEST(broadcast_echo_is_ignored)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	uint8_t icmp[64];
	size_t ilen = h_icmp_echo(icmp, 1, 1, 8);
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.dst = 0x0a0000ff, .proto = 1}, icmp, ilen));
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.dst = 0xffffffff, .proto = 1}, icmp, ilen));
	ck_assert_uint_eq(H_CTR(h, IcmpInEchos), 2);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

START_TEST(errors_are_never_answered_with_errors)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	/* an ICMP unreachable quoting a datagram that is not ours: counted, nothing sent */
	uint8_t icmp[64] = {3, 3};
	uint8_t *quoted = icmp + 8;
	quoted[0] = 0x45;
	tn_put32(quoted + 12, 0x0a000009);
	tn_put16(icmp + 2, tn_csum_fold(tn_csum_add(0, icmp, 36)));
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.proto = 1}, icmp, 36));
	ck_assert_uint_eq(H_CTR(h, IcmpInDestUnreachs), 1);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

Suite *icmp_suite(void)
{
	Suite *s = suite_create("icmp");
	TCase *tc = tcase_create("icmp");
	tcase_add_test(tc, echo_is_answered_exactly);
	tcase_add_test(tc, bad_icmp_is_counted);
	tcase_add_test(tc, broadcast_echo_is_ignored);
	tcase_add_test(tc, errors_are_never_answered_with_errors);
	suite_add_tcase(s, tc);
	return s;
}
