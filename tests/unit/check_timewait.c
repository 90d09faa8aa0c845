/* check_timewait.c - the TIME_WAIT table: O(1) operations, FIFO expiry, overflow policies. */
#include <check.h>

#include "stack_harness.h"
#include "stack/tcp_timewait.h"

Suite *timewait_suite(void);

static struct tn_tw_entry tuple(uint16_t rport)
{
	return (struct tn_tw_entry){.hn = {.laddr = H_STACK_IP, .lport = 13, .raddr = H_PEER_IP,
					   .rport = rport},
				    .snd_nxt = 1000, .rcv_nxt = 2000};
}

static struct harness *h;
static struct tn_tw_table tw;

static void setup_table(uint32_t max, enum tn_tw_overflow policy)
{
	h = h_new(NULL);
	struct tn_tw_config cfg = {.max_entries = max, .lifetime_ms = 60000, .overflow = policy};
	ck_assert_int_eq(tn_tw_init(h->stack, &tw, &cfg), 0);
}

static void teardown_table(void)
{
	tn_tw_free(h->stack, &tw);
	h_free(h);
}

START_TEST(insert_lookup_and_expire)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry t = tuple(40000);
	struct tn_tw_entry *e = tn_tw_insert(h->stack, &tw, &t);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_eq(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 40000), e);
	ck_assert_ptr_null(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 40001));
	ck_assert_ptr_null(tn_tw_insert(h->stack, &tw, &t)); /* same 4-tuple twice */
	ck_assert_uint_eq(tn_tw_port_refs(&tw, 13), 1);
	ck_assert_uint_eq(tn_tw_remaining_ms(h->stack, e), 60000);
	h_advance(h, 59999 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(tw.count, 1);
	h_advance(h, 1 * TN_NSEC_PER_MSEC);
	ck_assert_uint_eq(tw.count, 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 1);
	ck_assert_uint_eq(tn_tw_port_refs(&tw, 13), 0);
	ck_assert_ptr_null(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 40000));
	ck_assert_uint_eq(tn_stack_next_deadline(h->stack), TN_TIME_NEVER);
	teardown_table();
}
END_TEST

START_TEST(restart_moves_to_the_back)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry a = tuple(1), b = tuple(2);
	struct tn_tw_entry *ea = tn_tw_insert(h->stack, &tw, &a);
	h_advance(h, 10 * TN_NSEC_PER_SEC);
	tn_tw_insert(h->stack, &tw, &b);
	h_advance(h, 10 * TN_NSEC_PER_SEC);
	tn_tw_restart(h->stack, &tw, ea); /* a now expires at 80 s, b at 70 s */
	h_advance(h, 45 * TN_NSEC_PER_SEC); /* t = 65 s */
	ck_assert_uint_eq(tw.count, 2);
	h_advance(h, 5 * TN_NSEC_PER_SEC); /* t = 70 s */
	ck_assert_uint_eq(tw.count, 1);
	ck_assert_ptr_nonnull(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 1));
	h_advance(h, 10 * TN_NSEC_PER_SEC); /* t = 80 s */
	ck_assert_uint_eq(tw.count, 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 2);
	teardown_table();
}
END_TEST

START_TEST(overflow_drop_keeps_old_entries)
{
	setup_table(4, TN_TW_OVERFLOW_DROP);
	for (uint16_t p = 1; p <= 6; p++) {
		struct tn_tw_entry t = tuple(p);
		struct tn_tw_entry *e = tn_tw_insert(h->stack, &tw, &t);
		ck_assert(p <= 4 ? e != NULL : e == NULL);
	}
	ck_assert_uint_eq(tw.count, 4);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPTimeWaitOverflow), 2);
	ck_assert_ptr_nonnull(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 1));
	teardown_table();
}
END_TEST

START_TEST(overflow_evict_oldest_makes_room)
{
	setup_table(4, TN_TW_OVERFLOW_EVICT_OLDEST);
	for (uint16_t p = 1; p <= 6; p++) {
		struct tn_tw_entry t = tuple(p);
		h->now += TN_NSEC_PER_MSEC;
		ck_assert_ptr_nonnull(tn_tw_insert(h->stack, &tw, &t));
	}
	ck_assert_uint_eq(tw.count, 4);
	ck_assert_uint_eq(H_CTR(h, TcpExtTCPTimeWaitOverflow), 2);
	ck_assert_ptr_null(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 1));
	ck_assert_ptr_null(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 2));
	ck_assert_ptr_nonnull(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 6));
	/* the timer now follows the new oldest entry */
	h_advance(h, 60 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tw.count, 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 4);
	teardown_table();
}
END_TEST

START_TEST(removal_reasons_are_counted)
{
	setup_table(8, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry a = tuple(1), b = tuple(2), c = tuple(3);
	struct tn_tw_entry *ea = tn_tw_insert(h->stack, &tw, &a);
	struct tn_tw_entry *eb = tn_tw_insert(h->stack, &tw, &b);
	tn_tw_insert(h->stack, &tw, &c);
	tn_tw_remove(h->stack, &tw, eb, TN_TW_RECYCLED);
	tn_tw_remove(h->stack, &tw, ea, TN_TW_KILLED);
	ck_assert_uint_eq(H_CTR(h, TcpExtTWRecycled), 1);
	ck_assert_uint_eq(H_CTR(h, TcpExtTWKilled), 1);
	ck_assert_uint_eq(tw.count, 1);
	ck_assert_uint_eq(tn_tw_port_refs(&tw, 13), 1);
	/* freed slots are reused */
	ck_assert_ptr_nonnull(tn_tw_insert(h->stack, &tw, &a));
	ck_assert_ptr_nonnull(tn_tw_insert(h->stack, &tw, &b));
	h_advance(h, 61 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tw.count, 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 3);
	teardown_table();
}
END_TEST

static bool count_entry(const struct tn_tw_entry *e, void *arg)
{
	(*(int *)arg)++;
	return true;
}

START_TEST(many_entries_expire_in_one_pass)
{
	setup_table(100000, TN_TW_OVERFLOW_DROP);
	for (uint32_t i = 0; i < 100000; i++) {
		struct tn_tw_entry t = tuple((uint16_t)(i % 50000 + 1));
		t.hn.raddr = H_PEER_IP + i / 50000;
		ck_assert_ptr_nonnull(tn_tw_insert(h->stack, &tw, &t));
	}
	int n = 0;
	tn_tw_foreach(&tw, count_entry, &n);
	ck_assert_int_eq(n, 100000);
	ck_assert_uint_eq(tn_tw_port_refs(&tw, 13), 100000);
	h_advance(h, 60 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tw.count, 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 100000);
	teardown_table();
}
END_TEST

/*
 * CONFORMANCE 21: entries leave in the order they came, each tick takes
 * exactly the ones due (the FIFO head), never a walk over the others.
 */
START_TEST(expiry_follows_insertion_order)
{
	setup_table(1000, TN_TW_OVERFLOW_DROP);
	for (uint16_t p = 1; p <= 1000; p++) {
		struct tn_tw_entry t = tuple(p);
		ck_assert_ptr_nonnull(tn_tw_insert(h->stack, &tw, &t));
		h->now += TN_NSEC_PER_MSEC;
	}
	/* One timer for the whole table, at the oldest entry's expiry. */
	ck_assert_uint_eq(tn_stack_next_deadline(h->stack), 1000 * TN_NSEC_PER_SEC + 60000 * TN_NSEC_PER_MSEC);
	h_advance(h, 60000 * TN_NSEC_PER_MSEC - 1000 * TN_NSEC_PER_MSEC); /* first entry's expiry */
	for (uint16_t p = 1; p <= 1000; p++) {
		ck_assert_uint_eq(tw.count, 1000u - p);
		ck_assert_ptr_null(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, p));
		if (p < 1000)
			ck_assert_ptr_nonnull(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, p + 1));
		h_advance(h, TN_NSEC_PER_MSEC);
	}
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 1000);
	teardown_table();
}
END_TEST

START_TEST(reconfigure_lowers_the_limit_and_shortens_entries)
{
	setup_table(4, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry t1 = tuple(1), t2 = tuple(2), t3 = tuple(3), t4 = tuple(4);
	ck_assert_ptr_nonnull(tn_tw_insert(h->stack, &tw, &t1));
	h_advance(h, 50 * TN_NSEC_PER_SEC); /* t1 has 10 s left */
	struct tn_tw_entry *e2 = tn_tw_insert(h->stack, &tw, &t2); /* 60 s left */
	ck_assert_ptr_nonnull(e2);

	/* above the capacity it was made with: kept at 4 */
	ck_assert_uint_eq(tn_tw_reconfigure(h->stack, &tw, 100, 60000, TN_TW_OVERFLOW_DROP), 4);
	/* a limit under the count: no new entry until the count falls under it */
	ck_assert_uint_eq(tn_tw_reconfigure(h->stack, &tw, 1, 20000, TN_TW_OVERFLOW_DROP), 1);
	ck_assert_ptr_null(tn_tw_insert(h->stack, &tw, &t3));
	/* the shorter lifetime: t2 shortened to 20 s, t1 keeps its 10 s */
	ck_assert_uint_eq(tn_tw_remaining_ms(h->stack, e2), 20000);
	h_advance(h, 10 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tw.count, 1); /* t1 expired on time */
	ck_assert_ptr_null(tn_tw_insert(h->stack, &tw, &t3)); /* still at the limit of 1 */
	h_advance(h, 10 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tw.count, 0); /* t2 went at its shortened expiry */
	struct tn_tw_entry *e4 = tn_tw_insert(h->stack, &tw, &t4);
	ck_assert_ptr_nonnull(e4);
	ck_assert_uint_eq(tn_tw_remaining_ms(h->stack, e4), 20000); /* new entries: the new lifetime */
	ck_assert_uint_eq(H_CTR(h, TcpExtTW), 2);
	teardown_table();
}
END_TEST

START_TEST(bind_conflict_follows_reuseaddr)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry a = tuple(1), b = tuple(2);
	b.flags = TN_TW_REUSEADDR;
	ck_assert(!tn_tw_bind_conflict(&tw, 13, false));
	struct tn_tw_entry *eb = tn_tw_insert(h->stack, &tw, &b);
	ck_assert(tn_tw_bind_conflict(&tw, 13, false));
	ck_assert(!tn_tw_bind_conflict(&tw, 13, true));
	struct tn_tw_entry *ea = tn_tw_insert(h->stack, &tw, &a);
	ck_assert(tn_tw_bind_conflict(&tw, 13, true));
	tn_tw_remove(h->stack, &tw, ea, TN_TW_KILLED);
	ck_assert(!tn_tw_bind_conflict(&tw, 13, true));
	tn_tw_remove(h->stack, &tw, eb, TN_TW_KILLED);
	ck_assert(!tn_tw_bind_conflict(&tw, 13, false));
	ck_assert(!tn_tw_bind_conflict(&tw, 14, false));
	teardown_table();
}
END_TEST

/* A live connection's node for the tuple H_STACK_IP:13 - H_PEER_IP:rport. */
static struct tn_hnode live_node(uint16_t rport)
{
	return (struct tn_hnode){ .laddr = H_STACK_IP, .lport = 13, .raddr = H_PEER_IP, .rport = rport,
				  .kind = TN_HNODE_SOCK };
}

START_TEST(shared_hash_holds_both_kinds)
{
	/* The table can live in a hash it shares (as with TCP's live connections). */
	h = h_new(NULL);
	struct tn_ehash eh;
	ck_assert_int_eq(tn_ehash_init(&eh, 4, 1024), 0);
	struct tn_hnode live = live_node(7);
	tn_ehash_insert(h->stack, &eh, &live);
	struct tn_tw_config cfg = {.max_entries = 64, .lifetime_ms = 1000, .ehash = &eh};
	ck_assert_int_eq(tn_tw_init(h->stack, &tw, &cfg), 0);
	struct tn_tw_entry t = tuple(7);
	ck_assert_ptr_null(tn_tw_insert(h->stack, &tw, &t)); /* a live connection holds it */
	ck_assert_ptr_null(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 7));
	for (uint16_t p = 100; p < 164; p++) { /* grows the shared buckets past 4 */
		struct tn_tw_entry x = tuple(p);
		ck_assert_ptr_nonnull(tn_tw_insert(h->stack, &tw, &x));
	}
	ck_assert_uint_eq(eh.count, 65);
	ck_assert_uint_ge(eh.mask + 1, 64);
	ck_assert_ptr_eq(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 7), &live);
	ck_assert_ptr_nonnull(tn_tw_lookup(h->stack, &tw, H_STACK_IP, 13, H_PEER_IP, 150));
	h_advance(h, TN_NSEC_PER_SEC);
	ck_assert_uint_eq(eh.count, 1);
	tn_tw_free(h->stack, &tw);
	tn_ehash_free(&eh);
	h_free(h);
}
END_TEST

START_TEST(last_found_node_never_outlives_its_removal)
{
	/*
	 * The hash remembers the node its last look-up found: a look-up after
	 * that node's removal must not find it, and a new node with the same
	 * 4-tuple (the next incarnation of a connection) must be found instead.
	 */
	h = h_new(NULL);
	struct tn_ehash eh;
	ck_assert_int_eq(tn_ehash_init(&eh, 4, 1024), 0);
	struct tn_hnode a = live_node(7), b = live_node(7), other = live_node(8);
	b.kind = TN_HNODE_TW;
	tn_ehash_insert(h->stack, &eh, &a);
	tn_ehash_insert(h->stack, &eh, &other);
	ck_assert_ptr_eq(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 7), &a);
	ck_assert_ptr_eq(eh.last, &a);
	/* a look-up of another tuple is not answered with the remembered node */
	ck_assert_ptr_eq(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 8), &other);
	ck_assert_ptr_null(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 9));
	ck_assert_ptr_eq(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 7), &a);
	tn_ehash_remove(h->stack, &eh, &a);
	ck_assert_ptr_null(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 7));
	tn_ehash_insert(h->stack, &eh, &b);
	ck_assert_ptr_eq(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 7), &b);
	tn_ehash_remove(h->stack, &eh, &other); /* not the remembered one: b stays it */
	ck_assert_ptr_eq(eh.last, &b);
	tn_ehash_remove(h->stack, &eh, &b);
	ck_assert_ptr_null(tn_ehash_lookup(h->stack, &eh, H_STACK_IP, 13, H_PEER_IP, 7));
	ck_assert_uint_eq(eh.count, 0);
	tn_ehash_free(&eh);
	h_free(h);
}
END_TEST

/* ---- segments in TIME_WAIT (CONFORMANCE 13-17) */

static const struct tn_tw_policy linux_policy = {.rfc1337 = false, .ack_ratelimit_ms = 500};

static struct tn_tw_entry *tw_with_ts(void)
{
	struct tn_tw_entry t = tuple(40000);
	t.flags = TN_TW_TS;
	t.ts_recent = 5000;
	t.rcv_wnd = 29200;
	return tn_tw_insert(h->stack, &tw, &t);
}

START_TEST(retransmitted_fin_is_acked_and_restarts)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry *e = tw_with_ts();
	uint32_t isn;
	h_advance(h, 30 * TN_NSEC_PER_SEC);
	ck_assert_uint_eq(tn_tw_remaining_ms(h->stack, e), 30000);
	/* the peer's FIN again: seq = rcv_nxt - 1 */
	struct tn_tw_seg fin = {.seq = 1999, .ack = 1000, .flags = 0x11, .has_ts = true, .tsval = 5100};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &fin, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert_uint_eq(tn_tw_remaining_ms(h->stack, e), 60000);
	ck_assert_uint_eq(e->ts_recent, 5100);
	/* the ACK on the wire */
	h_learn_peer(h);
	tn_tw_send_ack(h->stack, e);
	size_t len;
	const uint8_t *ip = h_out_ip(h, 0, &len);
	ck_assert_ptr_nonnull(ip);
	const uint8_t *tcp = ip + 20;
	ck_assert_uint_eq(tn_get16(tcp), 13);
	ck_assert_uint_eq(tn_get16(tcp + 2), 40000);
	ck_assert_uint_eq(tn_get32(tcp + 4), 1000);
	ck_assert_uint_eq(tn_get32(tcp + 8), 2000);
	ck_assert_uint_eq(tcp[13], 0x10);
	ck_assert_uint_eq(tcp[12] >> 4, 8);
	ck_assert_uint_eq(tn_get32(tcp + 20 + 8), 5100); /* TSecr echoes the FIN's TSval */
	uint32_t sum = tn_csum_pseudo(H_STACK_IP, H_PEER_IP, 6, (uint16_t)(len - 20));
	ck_assert_uint_eq(tn_csum_fold(tn_csum_add(sum, tcp, len - 20)), 0);
	/* a second copy within invalid_ratelimit restarts the timer but is not ACKed */
	h_advance(h, 100 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &fin, &linux_policy, &isn), TN_TW_DROP);
	ck_assert_uint_eq(tn_tw_remaining_ms(h->stack, e), 60000);
	h_advance(h, 500 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &fin, &linux_policy, &isn), TN_TW_SEND_ACK);
	teardown_table();
}
END_TEST

START_TEST(rst_kills_unless_rfc1337)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry *e = tw_with_ts();
	uint32_t isn;
	struct tn_tw_seg rst = {.seq = 2000, .flags = 0x04};
	struct tn_tw_policy rfc1337 = {.rfc1337 = true, .ack_ratelimit_ms = 500};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &rst, &rfc1337, &isn), TN_TW_DROP);
	ck_assert_uint_eq(tw.count, 1);
	struct tn_tw_seg stray = {.seq = 2500, .flags = 0x04};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &stray, &linux_policy, &isn), TN_TW_DROP);
	ck_assert_uint_eq(tw.count, 1);
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &rst, &linux_policy, &isn), TN_TW_DROP);
	ck_assert_uint_eq(tw.count, 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTWKilled), 1);
	teardown_table();
}
END_TEST

START_TEST(new_syn_reuses_per_rfc6191)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	uint32_t isn = 0;
	/* without timestamps: only a sequence number above rcv_nxt */
	struct tn_tw_entry t = tuple(40000);
	struct tn_tw_entry *e = tn_tw_insert(h->stack, &tw, &t);
	struct tn_tw_seg old_syn = {.seq = 1500, .flags = 0x02};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &old_syn, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert_uint_eq(tw.count, 1);
	struct tn_tw_seg syn_fin = {.seq = 2001, .flags = 0x03};
	h_advance(h, 600 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &syn_fin, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert_uint_eq(tw.count, 1);
	h_advance(h, 600 * TN_NSEC_PER_MSEC); /* past invalid_ratelimit */
	struct tn_tw_seg new_syn = {.seq = 2001, .flags = 0x02};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &new_syn, &linux_policy, &isn), TN_TW_ACCEPT_SYN);
	ck_assert_uint_eq(isn, 1000 + 65537);
	/* the verdict alone changes nothing: the entry goes when a listener takes the SYN */
	ck_assert_uint_eq(tw.count, 1);
	tn_tw_remove(h->stack, &tw, e, TN_TW_RECYCLED);
	ck_assert_uint_eq(tw.count, 0);
	ck_assert_uint_eq(H_CTR(h, TcpExtTWRecycled), 1);

	/* with timestamps: a newer TSval is enough, even with an old sequence number */
	e = tw_with_ts();
	struct tn_tw_seg paws_old = {.seq = 1500, .flags = 0x02, .has_ts = true, .tsval = 4000};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &paws_old, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert_uint_eq(tw.count, 1);
	struct tn_tw_seg ts_newer = {.seq = 1500, .flags = 0x02, .has_ts = true, .tsval = 6000};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &ts_newer, &linux_policy, &isn), TN_TW_ACCEPT_SYN);
	tn_tw_remove(h->stack, &tw, e, TN_TW_RECYCLED);
	ck_assert_uint_eq(tw.count, 0);
	/* a SYN with a high sequence number but an old TSval is a PAWS reject */
	e = tw_with_ts();
	struct tn_tw_seg high_but_old = {.seq = 9000, .flags = 0x02, .has_ts = true, .tsval = 10};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &high_but_old, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert_uint_eq(tw.count, 1);
	teardown_table();
}
END_TEST

START_TEST(other_segments_get_ratelimited_acks_and_change_nothing)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry *e = tw_with_ts();
	uint32_t isn;
	h_advance(h, 10 * TN_NSEC_PER_SEC);
	struct tn_tw_seg data = {.seq = 2000, .ack = 1000, .len = 100, .flags = 0x18, .has_ts = true, .tsval = 5200};
	struct tn_tw_seg oow = {.seq = 90000, .ack = 1000, .len = 10, .flags = 0x10, .has_ts = true, .tsval = 5200};
	struct tn_tw_seg paws = {.seq = 2000, .ack = 1000, .flags = 0x10, .has_ts = true, .tsval = 1};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &data, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &oow, &linux_policy, &isn), TN_TW_DROP);
	h_advance(h, 600 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &oow, &linux_policy, &isn), TN_TW_SEND_ACK);
	h_advance(h, 600 * TN_NSEC_PER_MSEC);
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &paws, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert_uint_eq(e->rcv_nxt, 2000);
	ck_assert_uint_eq(e->ts_recent, 5000);
	ck_assert_uint_eq(tn_tw_remaining_ms(h->stack, e), 60000 - 11200);
	teardown_table();
}
END_TEST

START_TEST(reuse_needs_timestamps_and_quiet)
{
	setup_table(16, TN_TW_OVERFLOW_DROP);
	struct tn_tw_entry t = tuple(1);
	struct tn_tw_entry *plain = tn_tw_insert(h->stack, &tw, &t);
	struct tn_tw_entry *e = tw_with_ts();
	ck_assert_uint_eq(tn_tw_reuse_isn(e), 1000 + 65537);
	ck_assert(!tn_tw_reusable(h->stack, &tw, e, 1000));
	h_advance(h, 999 * TN_NSEC_PER_MSEC);
	ck_assert(!tn_tw_reusable(h->stack, &tw, e, 1000));
	h_advance(h, 1 * TN_NSEC_PER_MSEC);
	ck_assert(tn_tw_reusable(h->stack, &tw, e, 1000));
	ck_assert(!tn_tw_reusable(h->stack, &tw, plain, 1000)); /* no timestamps, never */
	/* Sending an ACK from TIME_WAIT starts the quiet period again. */
	uint32_t isn;
	struct tn_tw_seg data = {.seq = 2000, .ack = 1000, .len = 1, .flags = 0x10};
	ck_assert_int_eq(tn_tw_process(h->stack, &tw, e, &data, &linux_policy, &isn), TN_TW_SEND_ACK);
	ck_assert(!tn_tw_reusable(h->stack, &tw, e, 1000));
	h_advance(h, 1000 * TN_NSEC_PER_MSEC);
	ck_assert(tn_tw_reusable(h->stack, &tw, e, 1000));
	teardown_table();
}
END_TEST

Suite *timewait_suite(void)
{
	Suite *s = suite_create("timewait");
	TCase *tc = tcase_create("table");
	tcase_add_test(tc, insert_lookup_and_expire);
	tcase_add_test(tc, restart_moves_to_the_back);
	tcase_add_test(tc, overflow_drop_keeps_old_entries);
	tcase_add_test(tc, overflow_evict_oldest_makes_room);
	tcase_add_test(tc, removal_reasons_are_counted);
	tcase_add_test(tc, many_entries_expire_in_one_pass);
	tcase_add_test(tc, expiry_follows_insertion_order);
	tcase_add_test(tc, bind_conflict_follows_reuseaddr);
	tcase_add_test(tc, reconfigure_lowers_the_limit_and_shortens_entries);
	tcase_add_test(tc, shared_hash_holds_both_kinds);
	tcase_add_test(tc, last_found_node_never_outlives_its_removal);
	suite_add_tcase(s, tc);
	tc = tcase_create("segments");
	tcase_add_test(tc, retransmitted_fin_is_acked_and_restarts);
	tcase_add_test(tc, rst_kills_unless_rfc1337);
	tcase_add_test(tc, new_syn_reuses_per_rfc6191);
	tcase_add_test(tc, other_segments_get_ratelimited_acks_and_change_nothing);
	tcase_add_test(tc, reuse_needs_timestamps_and_quiet);
	suite_add_tcase(s, tc);
	return s;
}
