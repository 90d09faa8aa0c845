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

/* The same with data_len bytes of echo data (a reply of 28 + data_len bytes). */
static void ping_from_len(struct harness *h, tn_ip4 src, uint16_t seq, size_t data_len)
{
	static uint8_t icmp[2048], f[2100];
	size_t n = h_icmp_echo(icmp, 1, seq, data_len);
	n = h_ipv4(f, &(struct h_ip_opts){.src = src, .proto = TN_IP_PROTO_ICMP}, icmp, n);
	memcpy(f + 6, other_mac, 6);
	h_input(h, f, n);
}

/* Packets queued in all entries, as `tapnet arp` shows them. */
static uint32_t queued_in_list(struct harness *h, size_t *entries)
{
	static struct tn_arp_info info[1024];
	size_t n = tn_stack_arp_list(h->stack, info, 1024);
	uint32_t q = 0;
	for (size_t i = 0; i < n && i < 1024; i++)
		q += info[i].queued;
	if (entries)
		*entries = n;
	return q;
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

/*
 * A full cache gives up the oldest entry still resolving before any
 * neighbour that answered: addresses that never answer cannot push out
 * the ones that do.
 */
START_TEST(full_cache_evicts_unresolved_first)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.arp_cache_size = 4;
	struct harness *h = h_new(&cfg);
	h_learn_peer(h);
	for (tn_ip4 i = 0; i < 10; i++) {
		h->now += TN_NSEC_PER_MSEC;
		ping_from(h, 0x0a000010 + i, other_mac, (uint16_t)i);
	}
	ck_assert_uint_eq(H_CTR(h, ArpCacheFull), 7);
	ck_assert_uint_eq(H_CTR(h, ArpUnresolvedEvictions), 7);
	ck_assert_uint_eq(H_CTR(h, ArpQueueDrops), 7); /* each evicted entry held one reply */
	bool found;
	struct tn_arp_info e = arp_entry(h, H_PEER_IP, &found);
	ck_assert(found);
	ck_assert_int_eq(e.state, TN_ARP_REACHABLE);
	for (tn_ip4 i = 0; i < 10; i++) {
		e = arp_entry(h, 0x0a000010 + i, &found);
		ck_assert(found == (i >= 7));
		if (found)
			ck_assert_int_eq(e.state, TN_ARP_INCOMPLETE);
	}
	/* the peer is still answered at once */
	h_clear(h);
	ping_from(h, H_PEER_IP, h_peer_mac, 99);
	ck_assert_uint_eq(h->nout, 1);
	ck_assert_ptr_nonnull(h_out_ip(h, 0, NULL));

	/* failed entries go before those still resolving */
	h_advance(h, 3 * TN_NSEC_PER_SEC); /* 10.0.0.23..25 fail */
	h_clear(h);
	ping_from(h, 0x0a000030, other_mac, 1);
	e = arp_entry(h, 0x0a000030, &found);
	ck_assert(found);
	ck_assert_uint_eq(H_CTR(h, ArpUnresolvedEvictions), 7); /* a FAILED one made room */
	e = arp_entry(h, H_PEER_IP, &found);
	ck_assert(found);
	h_free(h);
}
END_TEST

START_TEST(per_entry_queue_bytes_are_bounded)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.arp_queue_bytes = 2500; /* two replies of 1028 bytes and their bookkeeping */
	struct harness *h = h_new(&cfg);
	/* larger than the whole per-entry budget: never queued */
	cfg.arp_queue_bytes = 1000;
	struct harness *small = h_new(&cfg);
	ping_from_len(small, 0x0a000006, 1, 1000);
	ck_assert_uint_eq(H_CTR(small, ArpQueueDrops), 1);
	ck_assert_uint_eq(queued_in_list(small, NULL), 0);
	h_free(small);
	for (uint16_t i = 0; i < 5; i++)
		ping_from_len(h, 0x0a000005, i, 1000);
	ck_assert_uint_eq(queued_in_list(h, NULL), 2);
	ck_assert_uint_eq(H_CTR(h, ArpQueueDrops), 3);
	uint8_t f[64];
	h_clear(h);
	h_input(h, f, h_arp(f, 2, other_mac, 0x0a000005, h_stack_mac, H_STACK_IP));
	ck_assert_uint_eq(h->nout, 2); /* the newest two: 3 and 4 */
	ck_assert_uint_eq(tn_get16(h_out_ip(h, 0, NULL) + 26), 3);
	ck_assert_uint_eq(tn_get16(h_out_ip(h, 1, NULL) + 26), 4);
	ck_assert_uint_eq(h->stack->arp.queued, 0);
	ck_assert_uint_eq(h->stack->arp.queued_bytes, 0);
	h_free(h);
}
END_TEST

START_TEST(total_queue_is_bounded_in_packets_and_bytes)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.arp_queue_total_len = 8;
	struct harness *h = h_new(&cfg);
	/* three replies to each of five neighbours: the oldest neighbours' go first */
	for (tn_ip4 a = 0; a < 5; a++)
		for (uint16_t i = 0; i < 3; i++)
			ping_from(h, 0x0a000010 + a, other_mac, i);
	ck_assert_uint_eq(queued_in_list(h, NULL), 8);
	ck_assert_uint_eq(H_CTR(h, ArpQueueDrops), 7);
	bool found;
	ck_assert_uint_eq(arp_entry(h, 0x0a000010, &found).queued, 0);
	ck_assert_uint_eq(arp_entry(h, 0x0a000011, &found).queued, 0);
	ck_assert_uint_eq(arp_entry(h, 0x0a000012, &found).queued, 2);
	ck_assert_uint_eq(arp_entry(h, 0x0a000013, &found).queued, 3);
	ck_assert_uint_eq(arp_entry(h, 0x0a000014, &found).queued, 3);
	h_free(h);

	tn_config_defaults(&cfg);
	cfg.arp_queue_total_bytes = 5000; /* four replies of 1028 bytes and their bookkeeping */
	h = h_new(&cfg);
	for (tn_ip4 a = 0; a < 6; a++)
		ping_from_len(h, 0x0a000010 + a, 1, 1000);
	ck_assert_uint_eq(queued_in_list(h, NULL), 4);
	ck_assert_uint_le(h->stack->arp.queued_bytes, 5000);
	ck_assert_uint_eq(H_CTR(h, ArpQueueDrops), 2);
	ck_assert_uint_eq(arp_entry(h, 0x0a000010, &found).queued, 0);
	ck_assert_uint_eq(arp_entry(h, 0x0a000015, &found).queued, 1);
	h_free(h);
}
END_TEST

/*
 * Spoofed sources all over a /8: every reply needs an address that never
 * resolves. Memory stays within the cache and the queue bounds all along,
 * and the neighbour that answered keeps being answered.
 */
START_TEST(flood_of_unresolved_addresses_is_bounded)
{
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.prefix_len = 8;
	struct harness *h = h_new(&cfg);
	h_learn_peer(h);
	uint32_t max_queued = 0;
	size_t max_bytes = 0;
	for (uint32_t i = 0; i < 20000; i++) {
		if (i % 1000 == 0)
			h_advance(h, 100 * TN_NSEC_PER_MSEC);
		ping_from_len(h, 0x0a010000 + i, (uint16_t)i, i % 3 ? 16 : 1400);
		h_clear(h);
		if (h->stack->arp.queued > max_queued)
			max_queued = h->stack->arp.queued;
		if (h->stack->arp.queued_bytes > max_bytes)
			max_bytes = h->stack->arp.queued_bytes;
		ck_assert_uint_le(h->stack->arp.used, cfg.arp_cache_size);
	}
	ck_assert_uint_le(max_queued, cfg.arp_queue_total_len);
	ck_assert_uint_le(max_bytes, cfg.arp_queue_total_bytes);
	ck_assert_uint_ge(H_CTR(h, ArpUnresolvedEvictions), 20000 - 256);
	size_t entries;
	ck_assert_uint_eq(queued_in_list(h, &entries), h->stack->arp.queued);
	ck_assert_uint_le(entries, 256);
	ping_from(h, H_PEER_IP, h_peer_mac, 1);
	ck_assert_uint_eq(h->nout, 1);
	ck_assert_ptr_nonnull(h_out_ip(h, 0, NULL));
	/* everything unresolved fails and goes; nothing stays queued */
	h_advance(h, 10 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(h->stack->arp.queued, 0);
	ck_assert_uint_eq(h->stack->arp.queued_bytes, 0);
	ck_assert_uint_eq(h->stack->arp.unres_head, UINT32_MAX);
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
	tcase_add_test(tc, full_cache_evicts_unresolved_first);
	tcase_add_test(tc, per_entry_queue_bytes_are_bounded);
	tcase_add_test(tc, total_queue_is_bounded_in_packets_and_bytes);
	tcase_add_test(tc, flood_of_unresolved_addresses_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}
