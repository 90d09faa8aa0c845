/*
 * check_trace.c - the pieces of `tapnet trace` and `tapnet capture` that
 * need no daemon: tcpdump-style filters, the ladder diagram (text and JSON
 * lines, relative sequence numbers, state and TIME-WAIT notes, the
 * countdown) and the pcap writer.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stack/stack.h"
#include "tools/ladder.h"
#include "tools/pcap.h"
#include "tools/trace_filter.h"

#define KADDR 0x0a000001u /* 10.0.0.1 */
#define TADDR 0x0a000002u /* 10.0.0.2 */

static struct trace_filter parse_ok(const char *words)
{
	char buf[256], *argv[32], err[128];
	int argc = 0;
	struct trace_filter f;

	snprintf(buf, sizeof(buf), "%s", words);
	for (char *w = strtok(buf, " "); w && argc < 32; w = strtok(NULL, " "))
		argv[argc++] = w;
	ck_assert_msg(trace_filter_parse(&f, argc, argv, err, sizeof(err)) == 0, "%s: %s", words, err);
	return f;
}

static const char *parse_err(const char *words)
{
	static char err[128];
	char buf[256], *argv[32];
	int argc = 0;
	struct trace_filter f;

	snprintf(buf, sizeof(buf), "%s", words);
	for (char *w = strtok(buf, " "); w && argc < 32; w = strtok(NULL, " "))
		argv[argc++] = w;
	ck_assert_int_eq(trace_filter_parse(&f, argc, argv, err, sizeof(err)), -1);
	return err;
}

START_TEST(filters_take_tcpdump_words)
{
	struct trace_filter f = parse_ok("");
	ck_assert(trace_filter_match(&f, KADDR, 1000, TADDR, 13));

	f = parse_ok("port 13");
	ck_assert(trace_filter_match(&f, KADDR, 1000, TADDR, 13));
	ck_assert(trace_filter_match(&f, TADDR, 13, KADDR, 1000));
	ck_assert(!trace_filter_match(&f, KADDR, 1000, TADDR, 7));

	f = parse_ok("host 10.0.0.1 and port 13");
	ck_assert(trace_filter_match(&f, KADDR, 1000, TADDR, 13));
	ck_assert(!trace_filter_match(&f, 0x0a000003u, 1000, TADDR, 13));

	f = parse_ok("src port 1000 and dst host 10.0.0.2");
	ck_assert(trace_filter_match(&f, KADDR, 1000, TADDR, 13));
	ck_assert(!trace_filter_match(&f, TADDR, 13, KADDR, 1000));

	f = parse_ok("port 7 or port 13 and not host 10.0.0.9");
	ck_assert(trace_filter_match(&f, KADDR, 1, TADDR, 7));
	ck_assert(trace_filter_match(&f, KADDR, 1, TADDR, 13));
	ck_assert(!trace_filter_match(&f, 0x0a000009u, 1, TADDR, 13));
	ck_assert(!trace_filter_match(&f, KADDR, 1, TADDR, 9));
}
END_TEST

START_TEST(bad_filters_say_why)
{
	ck_assert_ptr_nonnull(strstr(parse_err("port"), "needs a value"));
	ck_assert_ptr_nonnull(strstr(parse_err("port 70000"), "not a port"));
	ck_assert_ptr_nonnull(strstr(parse_err("host 10.0.0"), "not an IPv4 address"));
	ck_assert_ptr_nonnull(strstr(parse_err("net 10.0.0.0"), "unknown word 'net'"));
	ck_assert_ptr_nonnull(strstr(parse_err("port 1 port 2"), "expected 'and' or 'or'"));
	ck_assert_ptr_nonnull(strstr(parse_err("port 1 and"), "at the end"));
}
END_TEST

/* An Ethernet/IPv4/TCP frame from src to dst. */
static size_t frame(uint8_t *f, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		    uint32_t seq, uint32_t ack, uint8_t flags, uint16_t win, size_t payload)
{
	size_t len = 14 + 20 + 20 + payload;
	memset(f, 0, len);
	f[12] = 0x08;
	uint8_t *ip = f + 14, *t = ip + 20;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((20 + 20 + payload) >> 8);
	ip[3] = (uint8_t)(20 + 20 + payload);
	ip[8] = 64;
	ip[9] = 6;
	for (int i = 0; i < 4; i++) {
		ip[12 + i] = (uint8_t)(src >> (24 - 8 * i));
		ip[16 + i] = (uint8_t)(dst >> (24 - 8 * i));
		t[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		t[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	t[0] = (uint8_t)(sport >> 8), t[1] = (uint8_t)sport;
	t[2] = (uint8_t)(dport >> 8), t[3] = (uint8_t)dport;
	t[12] = 5 << 4;
	t[13] = flags;
	t[14] = (uint8_t)(win >> 8), t[15] = (uint8_t)win;
	return len;
}

#define MS 1000000ull

/* Each of want[] is in text, one after the other. */
static void expect_in_order(const char *text, const char *const want[], size_t n)
{
	const char *p = text;
	for (size_t i = 0; i < n; i++) {
		const char *q = strstr(p, want[i]);
		ck_assert_msg(q, "missing, in order: '%s' in:\n%s", want[i], text);
		p = q + strlen(want[i]);
	}
}

START_TEST(a_connection_as_a_ladder)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	struct trace_filter all = parse_ok("");
	struct ladder *l = ladder_new(out, false, &all);
	struct ladder_tuple t = { KADDR, TADDR, 40512, 13 };
	uint8_t f[256];
	size_t n;

	ladder_state(l, 0, &t, TN_TCP_LISTEN, TN_TCP_SYN_RECEIVED);
	n = frame(f, KADDR, 40512, TADDR, 13, 1000, 0, 0x02, 64240, 0);
	ladder_segment(l, 1 * MS, false, f, n);
	n = frame(f, TADDR, 13, KADDR, 40512, 5000, 1001, 0x12, 65535, 0);
	ladder_segment(l, 2 * MS, true, f, n);
	n = frame(f, TADDR, 13, KADDR, 40512, 5001, 1001, 0x19, 65535, 26);
	ladder_segment(l, 3 * MS, true, f, n);
	ladder_state(l, 3 * MS, &t, TN_TCP_ESTABLISHED, TN_TCP_FIN_WAIT_1);
	n = frame(f, KADDR, 40512, TADDR, 13, 1001, 5028, 0x11, 64240, 0);
	ladder_segment(l, 4 * MS, false, f, n);
	ladder_state(l, 4 * MS, &t, TN_TCP_FIN_WAIT_1, TN_TCP_TIME_WAIT);
	ladder_timewait(l, 4 * MS, &t, LADDER_TW_ENTER, 60000);
	ladder_tick(l, 5000 * MS, 10);  /* not yet 10 s: nothing */
	ladder_tick(l, 10004 * MS, 10); /* 10 s on: 50 s left */
	ladder_timewait(l, 20000 * MS, &t, LADDER_TW_FIN_REACKED, 60000);
	ladder_timewait(l, 80000 * MS, &t, LADDER_TW_EXPIRED, 0);
	ladder_lost(l, 80001 * MS, 7);
	ladder_free(l);
	fclose(out);

	const char *want[] = {
		"10.0.0.1:40512", "(kernel side)",
		"  0.000000  |", "| LISTEN -> SYN-RECV",
		"  0.001000  |--- SYN seq 0 win 64240 ----",
		"  0.002000  |<-- SYN,ACK seq 0 ack 1 win 65535 ---",
		"  0.003000  |<-- FIN,PSH,ACK seq 1 ack 1 len 26 win 65535 ---",
		"| ESTAB -> FIN-WAIT-1",
		"  0.004000  |--- FIN,ACK seq 1 ack 28 win 64240 ---",
		"| FIN-WAIT-1 -> TIME-WAIT",
		"| TIME-WAIT entry (60.0 s left)",
		" 10.004000  |", "| TIME-WAIT: 50 s left",
		" 20.000000  |", "| late FIN: ACKed again, timer restarted (60.0 s left)",
		" 80.000000  |", "| 2*MSL over: CLOSED",
		" 80.001000  ... 7 events lost",
	};
	expect_in_order(text, want, sizeof(want) / sizeof(want[0]));
	ck_assert_msg(!strstr(text, "TIME-WAIT: 55 s left"), "a countdown line too early:\n%s", text);
	/* arrows end at tapnet's bar, whichever way they point */
	ck_assert_ptr_nonnull(strstr(text, "------>|\n"));
	free(text);
}
END_TEST

/* A connection on tapnet's own loopback: both ends are tapnet's, and the heads say so. */
START_TEST(a_loopback_peer_is_not_the_kernel)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	struct trace_filter all = parse_ok("");
	struct ladder *l = ladder_new(out, false, &all);
	struct ladder_tuple lo = { 0x7f000001, 0x7f000001, 40000, 8080 };
	struct ladder_tuple own = { TADDR, TADDR, 40001, 8080 };
	struct ladder_tuple far = { KADDR, TADDR, 40002, 8080 };

	ladder_state(l, 0, &lo, TN_TCP_CLOSED, TN_TCP_SYN_SENT);
	ladder_state(l, 1 * MS, &own, TN_TCP_CLOSED, TN_TCP_SYN_SENT);
	ladder_state(l, 2 * MS, &far, TN_TCP_CLOSED, TN_TCP_SYN_SENT);
	ladder_free(l);
	fclose(out);
	const char *want[] = {
		"127.0.0.1:40000", "(tapnet, loopback)", "10.0.0.2:40001", "(tapnet, loopback)",
		"10.0.0.1:40002", "(kernel side)",
	};
	expect_in_order(text, want, sizeof(want) / sizeof(want[0]));
	free(text);
}
END_TEST

START_TEST(json_lines_and_the_filter)
{
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	struct trace_filter port13 = parse_ok("port 13");
	struct ladder *l = ladder_new(out, true, &port13);
	struct ladder_tuple t7 = { KADDR, TADDR, 40000, 7 };
	uint8_t f[256];
	size_t n;

	n = frame(f, KADDR, 40512, TADDR, 13, 77, 0, 0x02, 64240, 0);
	ladder_segment(l, 0, false, f, n);
	n = frame(f, KADDR, 40000, TADDR, 7, 77, 0, 0x02, 64240, 0); /* filtered out */
	ladder_segment(l, MS, false, f, n);
	ladder_state(l, MS, &t7, TN_TCP_LISTEN, TN_TCP_SYN_RECEIVED); /* filtered out */
	ladder_free(l);
	fclose(out);
	ck_assert_str_eq(text, "{\"t\":0.000000,\"type\":\"segment\",\"dir\":\"to_tapnet\",\"kernel\":"
			       "\"10.0.0.1:40512\",\"tapnet\":\"10.0.0.2:13\",\"flags\":\"SYN\",\"seq\":0,"
			       "\"ack\":0,\"len\":0,\"win\":64240}\n");
	free(text);
}
END_TEST

START_TEST(pcap_files_are_what_readers_expect)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&buf, &size);
	uint8_t f[256];
	size_t n = frame(f, KADDR, 1, TADDR, 2, 0, 0, 0x02, 1000, 0);

	ck_assert_int_eq(pcap_write_header(out), 0);
	ck_assert_int_eq(pcap_write_frame(out, 1700000000123456789ull, f, n), 0);
	fclose(out);
	ck_assert_uint_eq(size, 24 + 16 + n);
	uint32_t w[6];
	memcpy(w, buf, sizeof(w));
	ck_assert_uint_eq(w[0], 0xa1b23c4du); /* nanosecond timestamps */
	ck_assert_uint_eq(w[5], 1);           /* Ethernet */
	uint32_t r[4];
	memcpy(r, buf + 24, sizeof(r));
	ck_assert_uint_eq(r[0], 1700000000u);
	ck_assert_uint_eq(r[1], 123456789u);
	ck_assert_uint_eq(r[2], n);
	ck_assert_uint_eq(r[3], n);
	ck_assert_int_eq(memcmp(buf + 40, f, n), 0);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace");
	TCase *tc = tcase_create("trace");
	tcase_add_test(tc, filters_take_tcpdump_words);
	tcase_add_test(tc, bad_filters_say_why);
	tcase_add_test(tc, a_connection_as_a_ladder);
	tcase_add_test(tc, a_loopback_peer_is_not_the_kernel);
	tcase_add_test(tc, json_lines_and_the_filter);
	tcase_add_test(tc, pcap_files_are_what_readers_expect);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
