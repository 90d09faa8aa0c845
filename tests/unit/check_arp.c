/* check_arp.c - ARP answers, the neighbour cache and its pending queue. */
#include <check.h>

#include "stack_harness.h"

Suite *arp_suite(void);

static const uint8_t other_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};

static struct tn_arp_info arp_entry(struct harness *h, tn_ip4 addr, bool *found)
{
	struct tn_arp_info info[64];
	size_t n = tn_stack_arp_list(h->stack, info, 64);
	*found = false;
	for (size_t i = 0; i < n && i < 64; i++)
		if (info[i].addr == addr) {
			*found = true;
			return info[i];
		}
	return (struct tn_arp_info){0};
}

/* A ping from src (with Ethernet source mac) whose reply needs ARP. */
static void ping_from(struct harness *h, tn_ip4 src, const uint8_t *mac, uint16_t seq)
{
	uint8_t icmp[64], f[128];
	size_t n = h_icmp_echo(icmp, 1, seq, 16);
	n = h_ipv4(f, &(struct h_ip_opts){.src = src, .proto = TN_IP_PROTO_ICMP}, icmp, n);
	memcpy(f + 6, mac, 6);
	h_input(h, f, n);
}

START_TEST(request_for_us_is_answered_and_learned)
{
	struct harness *h = h_new(NULL);
	uint8_t f[64];
	h_input(h, f, h_arp(f, 1, h_peer_mac, H_PEER_IP, NULL, H_STACK_IP));
	ck_assert_uint_eq(h->nout, 1);
	const uint8_t *a = h_out_arp(h, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_mem_eq(h->out[0].data, h_peer_mac, 6); /* unicast back */
	ck_assert_uint_eq(tn_get16(a + 6), 2);
	ck_assert_mem_eq(a + 8, h_stack_mac, 6);
	ck_assert_uint_eq(tn_get32(a + 14), H_STACK_IP);
	ck_assert_mem_eq(a + 18, h_peer_mac, 6);
	ck_assert_uint_eq(tn_get32(a + 24), H_PEER_IP);
	bool found;
	struct tn_arp_info e = arp_entry(h, H_PEER_IP, &found);
	ck_assert(found);
	ck_assert_int_eq(e.state, TN_ARP_REACHABLE);
	ck_assert_mem_eq(e.mac, h_peer_mac, 6);
	ck_assert_uint_eq(H_CTR(h, ArpInRequests), 1);
	ck_assert_uint_eq(H_CTR(h, ArpOutReplies), 1);
	h_free(h);
}
END_TEST

START_TEST(request_for_others_is_ignored)
{
	struct harness *h = h_new(NULL);
	uint8_t f[64];
	h_input(h, f, h_arp(f, 1, h_peer_mac, H_PEER_IP, NULL, 0x0a000063));
	ck_assert_uint_eq(h->nout, 0);
	bool found;
	arp_entry(h, H_PEER_IP, &found);
	ck_assert(!found);
	h_free(h);
}
END_TEST

START_TEST(malformed_arp_is_counted)
{
	struct harness *h = h_new(NULL);
	uint8_t f[64];
	size_t n = h_arp(f, 1, h_peer_mac, H_PEER_IP, NULL, H_STACK_IP);
	h_input(h, f, n - 1); /* truncated */
	f[TN_ETH_HLEN + 1] = 6; /* htype 6 */
	h_input(h, f, n);
	n = h_arp(f, 1, h_peer_mac, H_PEER_IP, NULL, H_STACK_IP);
	f[TN_ETH_HLEN + 4] = 8; /* hlen 8 */
	h_input(h, f, n);
	n = h_arp(f, 3, h_peer_mac, H_PEER_IP, NULL, H_STACK_IP); /* op 3 */
	h_input(h, f, n);
	static const uint8_t mcast[6] = {0x01, 0, 0x5e, 0, 0, 1};
	n = h_arp(f, 1, mcast, H_PEER_IP, NULL, H_STACK_IP);
	h_input(h, f, n);
	ck_assert_uint_eq(H_CTR(h, ArpInErrors), 5);
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

START_TEST(gratuitous_arp_at_start)
{
	struct harness *h = h_new(NULL);
	tn_stack_start(h->stack);
	ck_assert_uint_eq(h->nout, 1);
	const uint8_t *a = h_out_arp(h, 0);
	ck_assert_ptr_nonnull(a);
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	ck_assert_mem_eq(h->out[0].data, bcast, 6);
	ck_assert_uint_eq(tn_get32(a + 14), H_STACK_IP);
	ck_assert_uint_eq(tn_get32(a + 24), H_STACK_IP);
	h_free(h);
}
END_TEST

START_TEST(first_packet_waits_for_resolution)
{
	struct harness *h = h_new(NULL);
	ping_from(h, 0x0a000005, other_mac, 1);
	/* no reply yet: an ARP request for 10.0.0.5 instead */
	ck_assert_uint_eq(h->nout, 1);
	const uint8_t *a = h_out_arp(h, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(tn_get16(a + 6), 1);
	ck_assert_uint_eq(tn_get32(a + 24), 0x0a000005);
	bool found;
	struct tn_arp_info e = arp_entry(h, 0x0a000005, &found);
	ck_assert(found);
	ck_assert_int_eq(e.state, TN_ARP_INCOMPLETE);
	ck_assert_uint_eq(e.queued, 1);
	h_clear(h);

	uint8_t f[64];
	h_input(h, f, h_arp(f, 2, other_mac, 0x0a000005, h_stack_mac, H_STACK_IP));
	ck_assert_uint_eq(h->nout, 1); /* the queued echo reply */
	size_t len;
	const uint8_t *ip = h_out_ip(h, 0, &len);
	ck_assert_ptr_nonnull(ip);
	ck_assert_mem_eq(h->out[0].data, other_mac, 6);
	ck_assert_uint_eq(tn_get32(ip + 16), 0x0a000005);
	ck_assert_uint_eq(ip[20], 0); /* echo reply */
	h_free(h);
}
END_TEST

START_TEST(resolution_retries_then_fails)
{
	struct harness *h = h_new(NULL);
	ping_from(h, 0x0a000005, other_mac, 1);
	ping_from(h, 0x0a000005, other_mac, 2);
	ck_assert_uint_eq(h->nout, 1); /* one request for both */
	h_advance(h, 1000 * TN_NSEC_PER_MSEC);
	h_advance(h, 1000 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(h, ArpOutRequests), 3);
	h_advance(h, 1000 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(H_CTR(h, ArpOutRequests), 3);
	ck_assert_uint_eq(H_CTR(h, ArpResolveFails), 1);
	ck_assert_uint_eq(H_CTR(h, IpOutDiscards), 2);
	bool found;
	struct tn_arp_info e = arp_entry(h, 0x0a000005, &found);
	ck_assert(found);
	ck_assert_int_eq(e.state, TN_ARP_FAILED);
	ck_assert_uint_eq(e.queued, 0);
	/* later the failed entry is forgotten and a new attempt starts */
	h_advance(h, 2000 * TN_NSEC_PER_MSEC);
	arp_entry(h, 0x0a000005, &found);
	ck_assert(!found);
	h_free(h);
}
END_TEST

START_TEST(pending_queue_is_bounded)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.arp_queue_len = 4;
	struct harness *h = h_new(&cfg);
	for (int i = 0; i < 10; i++)
		ping_from(h, 0x0a000005, other_mac, (uint16_t)i);
	ck_assert_uint_eq(H_CTR(h, ArpQueueDrops), 6);
	h_clear(h);
	uint8_t f[64];
	h_input(h, f, h_arp(f, 2, other_mac, 0x0a000005, h_stack_mac, H_STACK_IP));
	ck_assert_uint_eq(h->nout, 4);
	/* the newest four survive: sequence numbers 6..9 */
	for (size_t i = 0; i < 4; i++) {
		const uint8_t *ip = h_out_ip(h, i, NULL);
		ck_assert_uint_eq(tn_get16(ip + 26), 6 + i);
	}
	h_free(h);
}
END_TEST

START_TEST(reachable_goes_stale_and_refreshes_unicast)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	h_advance(h, 61 * TN_NSEC_PER_SEC);
	bool found;
	struct tn_arp_info e = arp_entry(h, H_PEER_IP, &found);
	ck_assert_int_eq(e.state, TN_ARP_STALE);
	ping_from(h, H_PEER_IP, h_peer_mac, 1);
	/* the reply goes out at once, followed by a unicast refresh request */
	ck_assert_uint_eq(h->nout, 2);
	ck_assert_ptr_nonnull(h_out_ip(h, 0, NULL));
	ck_assert_ptr_nonnull(h_out_arp(h, 1));
	ck_assert_mem_eq(h->out[1].data, h_peer_mac, 6);
	h_clear(h);
	/* no answer: the entry goes after the retries */
	h_advance(h, 5 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(h->nout, 2);
	arp_entry(h, H_PEER_IP, &found);
	ck_assert(!found);
	h_free(h);
}
END_TEST

START_TEST(full_cache_evicts_least_recently_used)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.arp_cache_size = 2;
	struct harness *h = h_new(&cfg);
	uint8_t f[64];
	uint8_t mac[6] = {0x52, 0, 0, 0, 0, 0};
	for (int i = 1; i <= 3; i++) {
		mac[5] = (uint8_t)i;
		h->now += TN_NSEC_PER_SEC;
		h_input(h, f, h_arp(f, 1, mac, 0x0a000010 + (tn_ip4)i, NULL, H_STACK_IP));
	}
	ck_assert_uint_eq(H_CTR(h, ArpCacheFull), 1);
	bool found;
	arp_entry(h, 0x0a000011, &found);
	ck_assert(!found);
	arp_entry(h, 0x0a000013, &found);
	ck_assert(found);
	ck_assert_uint_eq(H_CTR(h, ArpOutReplies), 3);
	h_free(h);
}
END_TEST

START_TEST(off_link_goes_via_gateway)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.gateway = 0x0a0000fe;
	struct harness *h = h_new(&cfg);
	ping_from(h, 0xc0a80105, other_mac, 1);
	ck_assert_uint_eq(h->nout, 1);
	const uint8_t *a = h_out_arp(h, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(tn_get32(a + 24), 0x0a0000fe);
	h_free(h);

	/* without a gateway, off-link replies have no route */
	h = h_new(NULL);
	ping_from(h, 0xc0a80105, other_mac, 1);
	ck_assert_uint_eq(h->nout, 0);
	ck_assert_uint_eq(H_CTR(h, IpOutNoRoutes), 1);
	h_free(h);
}
END_TEST

Suite *arp_suite(void)
{
	Suite *s = suite_create("arp");
	TCase *tc = tcase_create("arp");
	tcase_add_test(tc, request_for_us_is_answered_and_learned);
	tcase_add_test(tc, request_for_others_is_ignored);
	tcase_add_test(tc, malformed_arp_is_counted);
	tcase_add_test(tc, gratuitous_arp_at_start);
	tcase_add_test(tc, first_packet_waits_for_resolution);
	tcase_add_test(tc, resolution_retries_then_fails);
	tcase_add_test(tc, pending_queue_is_bounded);
	tcase_add_test(tc, reachable_goes_stale_and_refreshes_unicast);
	tcase_add_test(tc, full_cache_evicts_least_recently_used);
	tcase_add_test(tc, off_link_goes_via_gateway);
	suite_add_tcase(s, tc);
	return s;
}
