/* check_fault.c - the tap path's fault injector (src/daemon/fault.c) on a fake clock. */
#include <check.h>
#include <stdlib.h>

#include "daemon/fault.h"
#include "stack/stack_internal.h"

#define MAX_OUT 4096
#define MS TN_NSEC_PER_MSEC

struct out {
	enum fault_dir dir;
	struct tn_frame_meta meta;
	size_t len;
	uint8_t data[128];
};

static struct out outs[MAX_OUT];
static size_t nout;
static uint64_t counters[FAULT_CTR__COUNT];

static void deliver(void *ctx, enum fault_dir dir, const struct tn_frame_meta *meta,
		    const void *frame, size_t len)
{
	ck_assert_uint_lt(nout, MAX_OUT);
	ck_assert_uint_le(len, sizeof(outs[0].data));
	outs[nout].dir = dir;
	outs[nout].meta = *meta;
	outs[nout].len = len;
	memcpy(outs[nout].data, frame, len);
	nout++;
}

static struct fault *make(const struct fault_config *cfg)
{
	nout = 0;
	memset(counters, 0, sizeof(counters));
	struct fault *f = fault_new(cfg, deliver, NULL, counters);
	ck_assert_ptr_nonnull(f);
	return f;
}

static struct fault_config config(uint64_t seed)
{
	struct fault_config cfg = { .seed = seed, .delay_ms = 20, .max_held = 1024 };
	return cfg;
}

/* Frame number n: 64 bytes whose first four say n. */
static void send(struct fault *f, enum fault_dir dir, uint64_t now, uint32_t n)
{
	static const struct tn_frame_meta plain;
	uint8_t frame[64];
	memset(frame, 0xa5, sizeof(frame));
	tn_put32(frame, n);
	fault_frame(f, dir, now, &plain, frame, sizeof(frame));
}

static uint32_t seq_of(size_t i)
{
	return tn_get32(outs[i].data);
}

START_TEST(nothing_configured_is_inactive)
{
	struct fault_config cfg = config(1);
	ck_assert(!fault_config_active(&cfg));
	cfg.dir[FAULT_TX].delay = 1;
	ck_assert(fault_config_active(&cfg));
	char text[512];
	cfg.dir[FAULT_RX].drop = 5000; /* 0.5 % */
	fault_describe(&cfg, text, sizeof(text));
	ck_assert_ptr_nonnull(strstr(text, "rx drop 0.5000%"));
	ck_assert_ptr_nonnull(strstr(text, "tx drop 0.0000%"));
	ck_assert_ptr_nonnull(strstr(text, "seed 1"));
}
END_TEST

/* Without faults for a direction, every frame passes at once, in order. */
START_TEST(untouched_direction_passes_everything)
{
	struct fault_config cfg = config(7);
	cfg.dir[FAULT_RX].drop = FAULT_PPM;
	struct fault *f = make(&cfg);
	for (uint32_t i = 0; i < 100; i++)
		send(f, FAULT_TX, 0, i);
	ck_assert_uint_eq(nout, 100);
	for (size_t i = 0; i < nout; i++) {
		ck_assert_uint_eq(seq_of(i), i);
		ck_assert_int_eq(outs[i].dir, FAULT_TX);
	}
	for (uint32_t i = 0; i < 100; i++)
		send(f, FAULT_RX, 0, i);
	ck_assert_uint_eq(nout, 100);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultRxDrops], 100);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultTxDrops], 0);
	ck_assert_uint_eq(fault_next_deadline(f), TN_TIME_NEVER);
	fault_free(f);
}
END_TEST

/* The share dropped is about the rate, and the same seed drops the same frames. */
static void drop_run(uint64_t seed, uint32_t ppm, uint8_t *passed, size_t n)
{
	struct fault_config cfg = config(seed);
	cfg.dir[FAULT_RX].drop = ppm;
	struct fault *f = make(&cfg);
	memset(passed, 0, n);
	for (uint32_t i = 0; i < n; i++)
		send(f, FAULT_RX, 0, i);
	for (size_t i = 0; i < nout; i++)
		passed[seq_of(i)] = 1;
	ck_assert_uint_eq(counters[FAULT_CTR_FaultRxDrops] + nout, n);
	fault_free(f);
}

START_TEST(drops_are_seeded)
{
	static uint8_t a[4000], b[4000], c[4000];
	drop_run(42, 50000, a, sizeof(a)); /* 5 % */
	size_t dropped = counters[FAULT_CTR_FaultRxDrops];
	ck_assert_uint_gt(dropped, 4000 * 3 / 100);
	ck_assert_uint_lt(dropped, 4000 * 7 / 100);
	drop_run(42, 50000, b, sizeof(b));
	ck_assert_mem_eq(a, b, sizeof(a));
	drop_run(43, 50000, c, sizeof(c));
	ck_assert(memcmp(a, c, sizeof(a)) != 0);
	/* fractions of a percent: 0.5 % */
	drop_run(42, 5000, a, sizeof(a));
	ck_assert_uint_gt(counters[FAULT_CTR_FaultRxDrops], 4);
	ck_assert_uint_lt(counters[FAULT_CTR_FaultRxDrops], 4000 * 15 / 1000);
}
END_TEST

START_TEST(duplicates_come_twice_in_a_row)
{
	struct fault_config cfg = config(3);
	cfg.dir[FAULT_TX].duplicate = 100000; /* 10 % */
	struct fault *f = make(&cfg);
	for (uint32_t i = 0; i < 1000; i++)
		send(f, FAULT_TX, 0, i);
	uint64_t dups = counters[FAULT_CTR_FaultTxDups];
	ck_assert_uint_gt(dups, 50);
	ck_assert_uint_eq(nout, 1000 + dups);
	uint32_t expect = 0;
	size_t twice = 0;
	for (size_t i = 0; i < nout; i++) {
		if (i > 0 && seq_of(i) == seq_of(i - 1)) {
			twice++;
			continue;
		}
		ck_assert_uint_eq(seq_of(i), expect++);
	}
	ck_assert_uint_eq(twice, dups);
	fault_free(f);
}
END_TEST

START_TEST(delayed_frames_wait_then_go_in_order)
{
	struct fault_config cfg = config(5);
	cfg.dir[FAULT_RX].delay = FAULT_PPM;
	cfg.delay_ms = 30;
	struct fault *f = make(&cfg);
	uint64_t t0 = 1000 * MS;
	for (uint32_t i = 0; i < 10; i++)
		send(f, FAULT_RX, t0 + i * MS, i);
	ck_assert_uint_eq(nout, 0);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultRxDelays], 10);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultHeld], 10);
	ck_assert_uint_eq(fault_next_deadline(f), t0 + 30 * MS);
	fault_run(f, t0 + 30 * MS - 1);
	ck_assert_uint_eq(nout, 0);
	fault_run(f, t0 + 34 * MS);
	ck_assert_uint_eq(nout, 5);
	ck_assert_uint_eq(fault_next_deadline(f), t0 + 35 * MS);
	fault_run(f, t0 + 100 * MS);
	ck_assert_uint_eq(nout, 10);
	for (size_t i = 0; i < nout; i++)
		ck_assert_uint_eq(seq_of(i), i);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultHeld], 0);
	ck_assert_uint_eq(fault_next_deadline(f), TN_TIME_NEVER);
	fault_free(f);
}
END_TEST

/* A reordered frame goes right after the next one: every frame once, some swapped. */
START_TEST(reordered_frames_follow_the_next)
{
	struct fault_config cfg = config(11);
	cfg.dir[FAULT_TX].reorder = 200000; /* 20 % */
	struct fault *f = make(&cfg);
	for (uint32_t i = 0; i < 1000; i++)
		send(f, FAULT_TX, 0, i);
	uint64_t reorders = counters[FAULT_CTR_FaultTxReorders];
	ck_assert_uint_gt(reorders, 100);
	/* the last frames may still be held: the timer lets them go */
	fault_run(f, fault_next_deadline(f) == TN_TIME_NEVER ? 0 : fault_next_deadline(f));
	ck_assert_uint_eq(nout, 1000);
	static uint8_t seen[1000];
	memset(seen, 0, sizeof(seen));
	size_t inversions = 0;
	for (size_t i = 0; i < nout; i++) {
		ck_assert_uint_lt(seq_of(i), 1000);
		ck_assert(!seen[seq_of(i)]);
		seen[seq_of(i)] = 1;
		if (i > 0 && seq_of(i) < seq_of(i - 1))
			inversions++;
	}
	ck_assert_uint_gt(inversions, 0);
	ck_assert_uint_le(inversions, reorders);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultHeld], 0);
	fault_free(f);
}
END_TEST

/* Memory is bounded: beyond max_held, frames that were to wait pass at once. */
START_TEST(held_frames_are_bounded)
{
	struct fault_config cfg = config(13);
	cfg.dir[FAULT_RX].delay = FAULT_PPM;
	cfg.max_held = 8;
	struct fault *f = make(&cfg);
	for (uint32_t i = 0; i < 20; i++)
		send(f, FAULT_RX, 0, i);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultHeld], 8);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultRxDelays], 8);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultHeldOverflows], 12);
	ck_assert_uint_eq(nout, 12);
	ck_assert_uint_eq(seq_of(0), 8);
	/* freeing with frames held leaks nothing (ASan builds check) */
	fault_free(f);
}
END_TEST

/* An Ethernet + IPv4 + TCP frame with 20 bytes of data, its TCP checksum PARTIAL. */
static size_t tcp_frame(uint8_t *f, struct tn_frame_meta *meta)
{
	memset(f, 0, 74);
	tn_put16(f + 12, TN_ETH_P_IP);
	uint8_t *ip = f + TN_ETH_HLEN;
	ip[0] = 0x45;
	tn_put16(ip + 2, 60);
	ip[8] = 64;
	ip[9] = TN_IP_PROTO_TCP;
	tn_put32(ip + 12, 0x0a000001);
	tn_put32(ip + 16, 0x0a000002);
	tn_put16(ip + 10, tn_csum_fold(tn_csum_add(0, ip, 20)));
	uint8_t *tcp = ip + 20;
	tn_put16(tcp, 1234);
	tn_put16(tcp + 2, 7);
	tcp[12] = 5 << 4;
	tcp[13] = 0x18;
	memset(tcp + 20, 'x', 20);
	/* what a local sender leaves: the pseudo-header sum, not complemented */
	tn_put16(tcp + 16, (uint16_t)~tn_csum_fold(tn_csum_pseudo(0x0a000001, 0x0a000002, 6, 40)));
	*meta = (struct tn_frame_meta){ .flags = TN_FRAME_CSUM_PARTIAL, .csum_start = 34,
					.csum_offset = 16 };
	return 74;
}

static bool tcp_csum_ok(const uint8_t *f)
{
	const uint8_t *ip = f + TN_ETH_HLEN;
	if (tn_csum_fold(tn_csum_add(0, ip, 20)) != 0)
		return false;
	uint32_t sum = tn_csum_pseudo(tn_get32(ip + 12), tn_get32(ip + 16), 6, 40);
	return tn_csum_fold(tn_csum_add(sum, ip + 20, 40)) == 0;
}

/*
 * One bit differs, and whoever receives the frame can tell: the PARTIAL
 * checksum was filled in before the damage, no checksum is vouched for.
 */
START_TEST(corruption_flips_one_bit_the_checksums_can_see)
{
	struct fault_config cfg = config(17);
	cfg.dir[FAULT_RX].corrupt = FAULT_PPM;
	cfg.dir[FAULT_TX].corrupt = FAULT_PPM;
	struct fault *f = make(&cfg);
	uint8_t frame[74], good[74];
	struct tn_frame_meta meta, good_meta;
	size_t len = tcp_frame(frame, &meta);
	memcpy(good, frame, len);
	good_meta = meta;
	ck_assert(tn_frame_csum_complete(&good_meta, good, len));
	ck_assert(tcp_csum_ok(good));

	for (int i = 0; i < 200; i++) {
		enum fault_dir dir = i % 2 ? FAULT_TX : FAULT_RX;
		struct tn_frame_meta m = meta;
		m.flags |= dir == FAULT_RX ? TN_FRAME_CSUM_VALID : 0;
		fault_frame(f, dir, 0, &m, frame, len);
		ck_assert_uint_eq(nout, (size_t)i + 1);
		struct out *o = &outs[i];
		ck_assert_uint_eq(o->len, len);
		ck_assert_uint_eq(o->meta.flags, 0);
		unsigned bits = 0;
		size_t where = 0;
		for (size_t k = 0; k < len; k++) {
			bits += (unsigned)__builtin_popcount(o->data[k] ^ good[k]);
			where = o->data[k] != good[k] ? k : where;
		}
		ck_assert_uint_eq(bits, 1);
		/* in the Ethernet header a receiver drops it by address or type; further on the checksums show it */
		ck_assert(where < TN_ETH_HLEN || !tcp_csum_ok(o->data));
	}
	ck_assert_uint_eq(counters[FAULT_CTR_FaultRxCorrupts], 100);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultTxCorrupts], 100);
	/* the caller's frame is left alone */
	ck_assert_uint_eq(meta.flags, TN_FRAME_CSUM_PARTIAL);

	/* a TSO frame out is dropped: the kernel would checksum the damage away */
	struct tn_frame_meta gso = meta;
	gso.gso_type = TN_GSO_TCPV4;
	gso.gso_size = 10;
	fault_frame(f, FAULT_TX, 0, &gso, frame, len);
	ck_assert_uint_eq(nout, 200);
	ck_assert_uint_eq(counters[FAULT_CTR_FaultTxCorrupts], 101);
	/* one in, with its checksum filled in over the whole run, can be checked */
	fault_frame(f, FAULT_RX, 0, &gso, frame, len);
	ck_assert_uint_eq(nout, 201);
	ck_assert_uint_eq(outs[200].meta.gso_type, TN_GSO_TCPV4);
	ck_assert_uint_eq(outs[200].meta.flags, 0);
	fault_free(f);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("fault");
	tcase_add_test(tc, nothing_configured_is_inactive);
	tcase_add_test(tc, untouched_direction_passes_everything);
	tcase_add_test(tc, drops_are_seeded);
	tcase_add_test(tc, duplicates_come_twice_in_a_row);
	tcase_add_test(tc, delayed_frames_wait_then_go_in_order);
	tcase_add_test(tc, reordered_frames_follow_the_next);
	tcase_add_test(tc, held_frames_are_bounded);
	tcase_add_test(tc, corruption_flips_one_bit_the_checksums_can_see);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
