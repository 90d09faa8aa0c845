/* check_eth.c - Ethernet: what is ours, what is dropped and counted. */
#include <check.h>

#include "stack_harness.h"

Suite *eth_suite(void);

START_TEST(short_frames_are_counted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[16] = {0};
	for (size_t len = 0; len < TN_ETH_HLEN; len++)
		h_input(h, f, len);
	ck_assert_uint_eq(H_CTR(h, EthInTruncated), TN_ETH_HLEN);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

START_TEST(other_destinations_are_dropped)
{
	struct harness *h = h_new(NULL);
	uint8_t f[128], payload[28] = {0};
	static const uint8_t other[6] = {0x02, 0, 0, 0, 0, 9};
	static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
	h_input(h, f, h_eth(f, other, h_peer_mac, TN_ETH_P_ARP, payload, sizeof(payload)));
	h_input(h, f, h_eth(f, mcast, h_peer_mac, TN_ETH_P_ARP, payload, sizeof(payload)));
	ck_assert_uint_eq(H_CTR(h, EthInNotForUs), 2);
	h_input(h, f, h_eth(f, h_stack_mac, h_peer_mac, 0x86dd, payload, sizeof(payload)));
	h_input(h, f, h_eth(f, h_stack_mac, h_peer_mac, 0x8100, payload, sizeof(payload)));
	ck_assert_uint_eq(H_CTR(h, EthInUnknownType), 2);
	ck_assert_uint_eq(H_CTR(h, EthInFrames), 4);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

START_TEST(default_mac_is_stable_and_local)
{
	struct harness *h = h_new(NULL);
	uint8_t mac[6];
	tn_stack_get_mac(h->stack, mac);
	ck_assert_mem_eq(mac, h_stack_mac, 6);
	ck_assert(mac[0] & 2);     /* locally administered */
	ck_assert(!(mac[0] & 1));  /* unicast */
	h_free(h);

	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.mac[0] = 0x01; /* multicast */
	ck_assert_ptr_nonnull(tn_config_check(&cfg));
}
END_TEST

START_TEST(address_strings)
{
	char ip[16], mac[18];
	ck_assert_str_eq(tn_ip4_str(0x0a000002u, ip), "10.0.0.2");
	ck_assert_str_eq(tn_ip4_str(0, ip), "0.0.0.0");
	ck_assert_str_eq(tn_ip4_str(0xffffffffu, ip), "255.255.255.255");
	ck_assert_str_eq(tn_ip4_str(0xc0a8640au, ip), "192.168.100.10");
	ck_assert_str_eq(tn_ip4_str(0x01097f63u, ip), "1.9.127.99");
	static const uint8_t m1[6] = {0x02, 0x54, 0x4e, 0x00, 0x00, 0x02};
	static const uint8_t m2[6] = {0xff, 0xab, 0x0f, 0xf0, 0x10, 0x9c};
	ck_assert_str_eq(tn_mac_str(m1, mac), "02:54:4e:00:00:02");
	ck_assert_str_eq(tn_mac_str(m2, mac), "ff:ab:0f:f0:10:9c");
}
END_TEST

Suite *eth_suite(void)
{
	Suite *s = suite_create("eth");
	TCase *tc = tcase_create("input");
	tcase_add_test(tc, short_frames_are_counted);
	tcase_add_test(tc, other_destinations_are_dropped);
	tcase_add_test(tc, default_mac_is_stable_and_local);
	tcase_add_test(tc, address_strings);
	suite_add_tcase(s, tc);
	return s;
}
