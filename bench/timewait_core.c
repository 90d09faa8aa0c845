/*
 * timewait_core.c - the TIME_WAIT table alone, no I/O: insert N entries,
 * look each up, then expire them all. Prints bytes per entry, inserts per
 * second, lookups per second and expiries per second.
 *
 *   bench/timewait_core [N]        (default 1000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "stack/tcp_timewait.h"

static uint64_t fake_now = 1000000000ull;

static uint64_t now_ns(void *ctx) { return fake_now; }
static void random_bytes(void *ctx, void *buf, size_t len)
{
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rand();
}
static void discard(void *ctx, const struct tn_frame_meta *m, const void *f, size_t len) {}

static double wall(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1000000;
	if (n == 0 || n > 16000000) {
		fprintf(stderr, "usage: %s [entries, 1..16000000]\n", argv[0]);
		return 2;
	}
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	struct tn_env env = {now_ns, random_bytes, discard, NULL};
	struct tn_stack *stack = tn_stack_new(&cfg, &env);
	struct tn_tw_table tw;
	struct tn_tw_config twc = {.max_entries = n, .lifetime_ms = 60000};
	if (!stack || tn_tw_init(stack, &tw, &twc) < 0) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}

	double t0 = wall();
	for (uint32_t i = 0; i < n; i++) {
		struct tn_tw_entry e = {.hn = {.laddr = 0x0a000002, .lport = 80,
					       .raddr = 0x0a010000 + i / 28232,
					       .rport = (uint16_t)(32768 + i % 28232)},
					.snd_nxt = i, .rcv_nxt = i};
		if (!tn_tw_insert(stack, &tw, &e)) {
			fprintf(stderr, "insert %u failed\n", i);
			return 1;
		}
	}
	double t1 = wall();
	uint32_t found = 0;
	for (uint32_t i = 0; i < n; i++)
		found += tn_tw_lookup(stack, &tw, 0x0a000002, 80, 0x0a010000 + i / 28232,
				      (uint16_t)(32768 + i % 28232)) != NULL;
	double t2 = wall();
	fake_now += 61ull * 1000000000ull;
	tn_stack_run_timers(stack, fake_now);
	double t3 = wall();
	if (found != n || tw.count != 0 || tn_stack_counter(stack, TN_CTR_TcpExtTW) != n) {
		fprintf(stderr, "inconsistent table: found %u of %u, %u left\n", found, n, tw.count);
		return 1;
	}

	size_t bytes = tn_tw_memory(&tw);
	printf("entries            %u\n", n);
	printf("entry size         %zu bytes\n", sizeof(struct tn_tw_entry));
	printf("table bytes/entry  %.1f (entries + hash buckets + port counts)\n", (double)bytes / n);
	printf("inserts/s          %.0f\n", n / (t1 - t0));
	printf("lookups/s          %.0f\n", n / (t2 - t1));
	printf("expiries/s         %.0f\n", n / (t3 - t2));
	tn_tw_free(stack, &tw);
	tn_stack_free(stack);
	return 0;
}
