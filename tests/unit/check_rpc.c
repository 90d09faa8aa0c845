/*
 * check_rpc.c - the control protocol codec (src/rpc/rpc.c) and the client
 * helper (src/rpc/rpc_client.c).
 *
 * Malformed input is built by hand, byte by byte, so the tests say exactly
 * which rule of the wire format each message breaks.
 */
#include "rpc/rpc.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FUZZ_SEED 0x7a9e7u
#define FUZZ_ROUNDS 5000

/* ---------------------------------------------------------------- raw message building */

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	le16(p, (uint16_t)v);
	le16(p + 2, (uint16_t)(v >> 16));
}

static void raw_header(uint8_t *p, uint32_t length, uint16_t version, uint16_t type,
		       uint32_t id, uint32_t flags)
{
	le32(p, length);
	le16(p + 4, version);
	le16(p + 6, type);
	le32(p + 8, id);
	le32(p + 12, flags);
}

/* An attribute header at p; returns the offset just past its padded value. */
static size_t raw_attr(uint8_t *msg, size_t off, uint16_t type, uint16_t len)
{
	le16(msg + off, type);
	le16(msg + off + 2, len);
	return off + ((TN_RPC_ATTR_HDR_LEN + len + 3u) & ~3u);
}

/* A valid STATS request header for a message of len bytes. */
static void ok_header(uint8_t *msg, size_t len)
{
	raw_header(msg, (uint32_t)len, TN_RPC_VERSION, TN_RPC_STATS, 7, 0);
}

/* The single top-level attribute of msg, which must be valid. */
static struct tn_rpc_attr_view first_attr(const void *msg, size_t len)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a = { 0 };

	tn_rpc_iter_msg(&it, msg, len);
	ck_assert(tn_rpc_next(&it, &a));
	return a;
}

/* ---------------------------------------------------------------- writer and reader */

START_TEST(test_roundtrip_every_type)
{
	uint8_t buf[512];
	struct tn_rpc_writer w;
	const uint8_t mac[6] = { 0x02, 0x54, 0x4e, 0x00, 0x00, 0x02 };

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATUS | TN_RPC_REPLY, 0xdeadbeef);
	tn_rpc_put_u32(&w, TN_ATTR_PID, 0x01020304);
	tn_rpc_put_u64(&w, TN_ATTR_UPTIME_MS, 0x1122334455667788ULL);
	tn_rpc_put_str(&w, TN_ATTR_IFNAME, "tap0");
	tn_rpc_put_str(&w, TN_ATTR_LOG_LEVEL, "");
	tn_rpc_put_bytes(&w, TN_ATTR_MAC, mac, sizeof(mac));
	tn_rpc_put_bytes(&w, 99, NULL, 0);
	long len = tn_rpc_end(&w);

	/* header 16, PID 8, UPTIME 12, "tap0" 8, "" 4, MAC 12 (padded), empty 4 */
	ck_assert_int_eq(len, 64);
	ck_assert(tn_rpc_validate(buf, (size_t)len));

	struct tn_rpc_header hdr;

	ck_assert_int_eq(tn_rpc_parse_header(buf, (size_t)len, &hdr), TN_RPC_OK);
	ck_assert_uint_eq(hdr.length, 64);
	ck_assert_uint_eq(hdr.version, TN_RPC_VERSION);
	ck_assert_uint_eq(hdr.type, TN_RPC_STATUS | TN_RPC_REPLY);
	ck_assert_uint_eq(hdr.id, 0xdeadbeef);
	ck_assert_uint_eq(hdr.flags, 0);
	/* little-endian on the wire, whatever the host */
	ck_assert_uint_eq(buf[0], 64);
	ck_assert_uint_eq(buf[8], 0xef);

	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	uint32_t u32;
	uint64_t u64;
	char s[16];
	uint8_t got_mac[6];

	tn_rpc_iter_msg(&it, buf, (size_t)len);
	ck_assert(tn_rpc_next(&it, &a));
	ck_assert_uint_eq(a.type, TN_ATTR_PID);
	ck_assert(tn_rpc_get_u32(&a, &u32));
	ck_assert_uint_eq(u32, 0x01020304);
	ck_assert(tn_rpc_next(&it, &a));
	ck_assert_uint_eq(a.type, TN_ATTR_UPTIME_MS);
	ck_assert(tn_rpc_get_u64(&a, &u64));
	ck_assert(u64 == 0x1122334455667788ULL);
	ck_assert(tn_rpc_next(&it, &a));
	ck_assert_uint_eq(a.len, 4); /* no NUL on the wire */
	ck_assert(tn_rpc_get_str(&a, s, sizeof(s)));
	ck_assert_str_eq(s, "tap0");
	ck_assert(tn_rpc_next(&it, &a));
	ck_assert_uint_eq(a.len, 0);
	ck_assert(tn_rpc_get_str(&a, s, sizeof(s)));
	ck_assert_str_eq(s, "");
	ck_assert(tn_rpc_next(&it, &a));
	ck_assert(tn_rpc_get_bytes(&a, got_mac, sizeof(got_mac)));
	ck_assert_mem_eq(got_mac, mac, sizeof(mac));
	ck_assert(tn_rpc_next(&it, &a));
	ck_assert_uint_eq(a.type, 99);
	ck_assert_uint_eq(a.len, 0);
	ck_assert(!tn_rpc_next(&it, &a));
	ck_assert(!it.bad);
}
END_TEST

START_TEST(test_writer_zeroes_padding)
{
	uint8_t buf[64];
	struct tn_rpc_writer w;

	memset(buf, 0xa5, sizeof(buf));
	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_HELLO, 1);
	tn_rpc_put_str(&w, TN_ATTR_CLIENT_NAME, "x");
	ck_assert_int_eq(tn_rpc_end(&w), 24);
	ck_assert_uint_eq(buf[21], 0);
	ck_assert_uint_eq(buf[22], 0);
	ck_assert_uint_eq(buf[23], 0);
}
END_TEST

START_TEST(test_put_str_null_is_empty)
{
	uint8_t buf[64];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_HELLO, 1);
	tn_rpc_put_str(&w, TN_ATTR_CLIENT_NAME, NULL);
	long len = tn_rpc_end(&w);

	ck_assert_int_eq(len, 20);
	ck_assert_uint_eq(first_attr(buf, (size_t)len).len, 0);
}
END_TEST

START_TEST(test_nest_roundtrip)
{
	uint8_t buf[512];
	struct tn_rpc_writer w;
	static const char *const names[] = { "IpInReceives", "TcpExtTW", "Ab" };

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS | TN_RPC_REPLY, 3);
	for (int i = 0; i < 3; i++) {
		tn_rpc_nest_begin(&w, TN_ATTR_COUNTER);
		tn_rpc_put_str(&w, TN_ATTR_NAME, names[i]);
		tn_rpc_put_u64(&w, TN_ATTR_VALUE, 1000u * (unsigned)i);
		tn_rpc_nest_end(&w);
	}
	tn_rpc_put_u32(&w, TN_ATTR_CLIENTS, 5); /* after the nests, at the top again */
	long len = tn_rpc_end(&w);

	ck_assert_int_gt(len, 0);
	ck_assert(tn_rpc_validate(buf, (size_t)len));

	struct tn_rpc_iter it, inner;
	struct tn_rpc_attr_view a, b;
	char s[32];
	uint64_t v;
	uint32_t u32;

	tn_rpc_iter_msg(&it, buf, (size_t)len);
	for (int i = 0; i < 3; i++) {
		ck_assert(tn_rpc_next(&it, &a));
		ck_assert_uint_eq(a.type, TN_ATTR_COUNTER);
		ck_assert(tn_rpc_attr_is_nest(a.type));
		tn_rpc_iter_nest(&inner, &a);
		ck_assert(tn_rpc_next(&inner, &b));
		ck_assert_uint_eq(b.type, TN_ATTR_NAME);
		ck_assert(tn_rpc_get_str(&b, s, sizeof(s)));
		ck_assert_str_eq(s, names[i]);
		ck_assert(tn_rpc_next(&inner, &b));
		ck_assert_uint_eq(b.type, TN_ATTR_VALUE);
		ck_assert(tn_rpc_get_u64(&b, &v));
		ck_assert(v == 1000u * (unsigned)i);
		ck_assert(!tn_rpc_next(&inner, &b));
		ck_assert(!inner.bad);
	}
	ck_assert(tn_rpc_next(&it, &a));
	ck_assert(tn_rpc_get_u32(&a, &u32));
	ck_assert_uint_eq(u32, 5);
	ck_assert(!tn_rpc_next(&it, &a));
	ck_assert(!it.bad);
}
END_TEST

START_TEST(test_nest_max_depth_roundtrip)
{
	uint8_t buf[256];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_ARP | TN_RPC_REPLY, 1);
	for (int i = 0; i < TN_RPC_MAX_DEPTH; i++)
		tn_rpc_nest_begin(&w, TN_ATTR_ARP_ENTRY);
	tn_rpc_put_u32(&w, TN_ATTR_QUEUED, 9);
	for (int i = 0; i < TN_RPC_MAX_DEPTH; i++)
		tn_rpc_nest_end(&w);
	long len = tn_rpc_end(&w);

	ck_assert_int_eq(len, 16 + 4 * TN_RPC_MAX_DEPTH + 8);
	ck_assert(tn_rpc_validate(buf, (size_t)len));

	/* each nest's length covers exactly what is inside it */
	struct tn_rpc_attr_view a = first_attr(buf, (size_t)len);
	struct tn_rpc_iter it;

	for (int i = 0; i < TN_RPC_MAX_DEPTH; i++) {
		ck_assert_uint_eq(a.len, 4 * (TN_RPC_MAX_DEPTH - 1 - i) + 8);
		tn_rpc_iter_nest(&it, &a);
		ck_assert(tn_rpc_next(&it, &a));
	}
	uint32_t q;

	ck_assert(tn_rpc_get_u32(&a, &q));
	ck_assert_uint_eq(q, 9);
}
END_TEST

START_TEST(test_empty_message)
{
	uint8_t buf[TN_RPC_HDR_LEN];
	struct tn_rpc_writer w;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATUS, 1);
	ck_assert_int_eq(tn_rpc_end(&w), TN_RPC_HDR_LEN);
	ck_assert(tn_rpc_validate(buf, sizeof(buf)));
	tn_rpc_iter_msg(&it, buf, sizeof(buf));
	ck_assert(!tn_rpc_next(&it, &a));
	ck_assert(!it.bad);
}
END_TEST

/* ---------------------------------------------------------------- header */

START_TEST(test_header_short_needs_more)
{
	uint8_t msg[TN_RPC_HDR_LEN];
	struct tn_rpc_header hdr;

	ok_header(msg, sizeof(msg));
	for (size_t n = 0; n < TN_RPC_HDR_LEN; n++) {
		ck_assert_int_eq(tn_rpc_parse_header(msg, n, &hdr), TN_RPC_NEED_MORE);
		ck_assert(!tn_rpc_validate(msg, n));
	}
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_OK);
}
END_TEST

START_TEST(test_header_rejects)
{
	uint8_t msg[TN_RPC_HDR_LEN];
	struct tn_rpc_header hdr;

	raw_header(msg, 16, TN_RPC_VERSION + 1, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
	raw_header(msg, 16, 0, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
	raw_header(msg, 16, TN_RPC_VERSION, TN_RPC_STATS, 1, 1);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
	raw_header(msg, 16, TN_RPC_VERSION, TN_RPC_STATS, 1, 0x80000000u);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
	raw_header(msg, 15, TN_RPC_VERSION, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
	raw_header(msg, 0, TN_RPC_VERSION, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
	raw_header(msg, TN_RPC_MAX_MSG + 1, TN_RPC_VERSION, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
	raw_header(msg, 0xffffffffu, TN_RPC_VERSION, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_BAD);
}
END_TEST

START_TEST(test_header_limits_accepted)
{
	uint8_t msg[TN_RPC_HDR_LEN];
	struct tn_rpc_header hdr;

	/* the header alone is enough to learn a big message's length */
	raw_header(msg, TN_RPC_MAX_MSG, TN_RPC_VERSION, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_OK);
	ck_assert_uint_eq(hdr.length, TN_RPC_MAX_MSG);
	raw_header(msg, TN_RPC_HDR_LEN, TN_RPC_VERSION, TN_RPC_STATS, 1, 0);
	ck_assert_int_eq(tn_rpc_parse_header(msg, sizeof(msg), &hdr), TN_RPC_OK);
}
END_TEST

START_TEST(test_validate_rejects_type_zero)
{
	uint8_t msg[TN_RPC_HDR_LEN];

	raw_header(msg, 16, TN_RPC_VERSION, 0, 1, 0);
	ck_assert(!tn_rpc_validate(msg, sizeof(msg)));
	raw_header(msg, 16, TN_RPC_VERSION, TN_RPC_REPLY, 1, 0);
	ck_assert(!tn_rpc_validate(msg, sizeof(msg)));
	raw_header(msg, 16, TN_RPC_VERSION, TN_RPC_HELLO | TN_RPC_REPLY, 1, 0);
	ck_assert(tn_rpc_validate(msg, sizeof(msg)));
}
END_TEST

START_TEST(test_validate_length_must_match)
{
	uint8_t msg[24] = { 0 };

	ok_header(msg, 20);
	ck_assert(!tn_rpc_validate(msg, 24)); /* bytes beyond the message */
	ck_assert(!tn_rpc_validate(msg, 16)); /* fewer than it claims */
	raw_attr(msg, 16, 99, 0);
	ck_assert(tn_rpc_validate(msg, 20));
}
END_TEST

/* ---------------------------------------------------------------- attributes */

START_TEST(test_truncated_attribute_header)
{
	uint8_t msg[32] = { 0 };
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	/* 1..3 bytes after the header: not even an attribute header */
	for (size_t extra = 1; extra < TN_RPC_ATTR_HDR_LEN; extra++) {
		ok_header(msg, 16 + extra);
		ck_assert(!tn_rpc_validate(msg, 16 + extra));
		tn_rpc_iter_msg(&it, msg, 16 + extra);
		ck_assert(!tn_rpc_next(&it, &a));
		ck_assert(it.bad);
	}
}
END_TEST

START_TEST(test_attribute_length_past_end)
{
	uint8_t msg[32] = { 0 };
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	ok_header(msg, 24);
	raw_attr(msg, 16, TN_ATTR_PID, 5); /* claims 5 value bytes, 4 are there */
	ck_assert(!tn_rpc_validate(msg, 24));
	tn_rpc_iter_msg(&it, msg, 24);
	ck_assert(!tn_rpc_next(&it, &a));
	ck_assert(it.bad);
	/* once bad, always bad */
	ck_assert(!tn_rpc_next(&it, &a));

	raw_attr(msg, 16, TN_ATTR_PID, 0xffff);
	ck_assert(!tn_rpc_validate(msg, 24));
}
END_TEST

START_TEST(test_attribute_padding_must_be_there)
{
	uint8_t msg[32] = { 0 };

	/* value of 1 byte fits, its 3 padding bytes do not */
	ok_header(msg, 21);
	raw_attr(msg, 16, TN_ATTR_NAME, 1);
	msg[20] = 'x';
	ck_assert(!tn_rpc_validate(msg, 21));
	ok_header(msg, 24);
	ck_assert(tn_rpc_validate(msg, 24));
}
END_TEST

START_TEST(test_padding_content_is_ignored)
{
	uint8_t msg[24] = { 0 };
	char s[8];

	ok_header(msg, 24);
	raw_attr(msg, 16, TN_ATTR_NAME, 1);
	msg[20] = 'x';
	msg[21] = 0xff;
	msg[22] = 0x00;
	msg[23] = 0x7f;
	ck_assert(tn_rpc_validate(msg, 24));
	struct tn_rpc_attr_view a = first_attr(msg, 24);

	ck_assert(tn_rpc_get_str(&a, s, sizeof(s)));
	ck_assert_str_eq(s, "x");
}
END_TEST

START_TEST(test_nest_too_deep)
{
	uint8_t msg[64] = { 0 };
	const int levels = TN_RPC_MAX_DEPTH + 1;
	size_t len = 16 + 4 * (size_t)levels;

	/* MAX_DEPTH + 1 nests, one inside the other, innermost empty */
	ok_header(msg, len);
	for (int i = 0; i < levels; i++)
		raw_attr(msg, 16 + 4 * (size_t)i, TN_ATTR_COUNTER,
			 (uint16_t)(4 * (levels - 1 - i)));
	ck_assert(!tn_rpc_validate(msg, len));

	/* one level less is fine */
	memset(msg, 0, sizeof(msg));
	len -= 4;
	ok_header(msg, len);
	for (int i = 0; i < levels - 1; i++)
		raw_attr(msg, 16 + 4 * (size_t)i, TN_ATTR_COUNTER,
			 (uint16_t)(4 * (levels - 2 - i)));
	ck_assert(tn_rpc_validate(msg, len));
}
END_TEST

START_TEST(test_bad_attribute_inside_nest)
{
	uint8_t msg[32] = { 0 };

	/* the nest itself is well formed at the top, its inside is not */
	ok_header(msg, 28);
	raw_attr(msg, 16, TN_ATTR_ARP_ENTRY, 8);
	raw_attr(msg, 20, TN_ATTR_ADDR, 6); /* 6 > the 4 bytes left in the nest */
	ck_assert(!tn_rpc_validate(msg, 28));

	/* a nest type is a nest wherever it appears */
	memset(msg, 0, sizeof(msg));
	ok_header(msg, 24);
	raw_attr(msg, 16, TN_ATTR_COUNTER, 2);
	ck_assert(!tn_rpc_validate(msg, 24));
	raw_attr(msg, 16, TN_ATTR_NAME, 2); /* same bytes, not a nest: fine */
	ck_assert(tn_rpc_validate(msg, 24));
}
END_TEST

START_TEST(test_string_rules)
{
	uint8_t msg[32] = { 0 };
	char s[8];

	ok_header(msg, 24);
	raw_attr(msg, 16, TN_ATTR_NAME, 3);
	memcpy(msg + 20, "a\0b", 3);
	struct tn_rpc_attr_view a = first_attr(msg, 24);

	ck_assert(!tn_rpc_get_str(&a, s, sizeof(s)));
	ck_assert_str_eq(s, ""); /* never left half written */

	memcpy(msg + 20, "abc", 3);
	a = first_attr(msg, 24);
	ck_assert(tn_rpc_get_str(&a, s, 4)); /* exactly fits with its NUL */
	ck_assert_str_eq(s, "abc");
	ck_assert(!tn_rpc_get_str(&a, s, 3));
	ck_assert(!tn_rpc_get_str(&a, s, 0));
}
END_TEST

START_TEST(test_integer_lengths)
{
	uint8_t msg[32] = { 0 };
	uint32_t u32 = 42;
	uint64_t u64 = 42;
	uint8_t mac[6];
	static const uint16_t wrong_u32[] = { 0, 3, 5, 8 };

	for (size_t i = 0; i < sizeof(wrong_u32) / sizeof(wrong_u32[0]); i++) {
		size_t end = raw_attr(msg, 16, TN_ATTR_PID, wrong_u32[i]);

		ok_header(msg, end);
		struct tn_rpc_attr_view a = first_attr(msg, end);

		ck_assert(!tn_rpc_get_u32(&a, &u32));
	}
	ck_assert_uint_eq(u32, 42); /* untouched on failure */

	size_t end = raw_attr(msg, 16, TN_ATTR_UPTIME_MS, 4);

	ok_header(msg, end);
	struct tn_rpc_attr_view a = first_attr(msg, end);

	ck_assert(!tn_rpc_get_u64(&a, &u64));
	ck_assert(u64 == 42);
	ck_assert(!tn_rpc_get_bytes(&a, mac, sizeof(mac)));
}
END_TEST

START_TEST(test_iter_msg_too_short)
{
	uint8_t msg[8] = { 0 };
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_iter_msg(&it, msg, sizeof(msg));
	ck_assert(it.bad);
	ck_assert(!tn_rpc_next(&it, &a));
}
END_TEST

/* ---------------------------------------------------------------- writer errors */

START_TEST(test_writer_overflow_sticky)
{
	uint8_t buf[32];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_put_u64(&w, TN_ATTR_VALUE, 1); /* 16 + 12 = 28 */
	ck_assert(!w.overflow);
	tn_rpc_put_u64(&w, TN_ATTR_VALUE, 2); /* would be 40 */
	ck_assert(w.overflow);
	tn_rpc_put_bytes(&w, 99, NULL, 0); /* would fit, but the message is lost */
	ck_assert_uint_eq(w.len, 28);
	ck_assert_int_eq(tn_rpc_end(&w), -1);
}
END_TEST

START_TEST(test_writer_exact_fit)
{
	uint8_t buf[28];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_put_u64(&w, TN_ATTR_VALUE, 1);
	ck_assert_int_eq(tn_rpc_end(&w), 28);
}
END_TEST

START_TEST(test_writer_value_too_long)
{
	static uint8_t buf[TN_RPC_MAX_MSG + 1024];
	static uint8_t big[70000];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_put_bytes(&w, 99, big, 65536); /* does not fit the u16 length */
	ck_assert(w.overflow);
	ck_assert_int_eq(tn_rpc_end(&w), -1);

	/* the protocol limit holds however big the buffer is */
	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_put_bytes(&w, 99, big, 65535 - 16);
	ck_assert(w.overflow);
	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_put_bytes(&w, 99, big, TN_RPC_MAX_MSG - 16 - 4);
	ck_assert_int_eq(tn_rpc_end(&w), TN_RPC_MAX_MSG);
	ck_assert(tn_rpc_validate(buf, TN_RPC_MAX_MSG));
}
END_TEST

START_TEST(test_writer_buffer_too_small_for_header)
{
	uint8_t buf[TN_RPC_HDR_LEN - 1];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_put_u32(&w, TN_ATTR_PID, 1);
	ck_assert_int_eq(tn_rpc_end(&w), -1);
	tn_rpc_begin(&w, NULL, 100, TN_RPC_STATS, 1);
	ck_assert_int_eq(tn_rpc_end(&w), -1);
}
END_TEST

START_TEST(test_writer_unbalanced_nests)
{
	uint8_t buf[128];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_nest_begin(&w, TN_ATTR_COUNTER);
	ck_assert_int_eq(tn_rpc_end(&w), -1); /* left open */

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_nest_end(&w); /* never opened */
	ck_assert_int_eq(tn_rpc_end(&w), -1);

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	for (int i = 0; i <= TN_RPC_MAX_DEPTH; i++)
		tn_rpc_nest_begin(&w, TN_ATTR_COUNTER);
	for (int i = 0; i <= TN_RPC_MAX_DEPTH; i++)
		tn_rpc_nest_end(&w);
	ck_assert_int_eq(tn_rpc_end(&w), -1); /* deeper than a decoder accepts */
}
END_TEST

START_TEST(test_writer_nest_overflow)
{
	uint8_t buf[40];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_STATS, 1);
	tn_rpc_nest_begin(&w, TN_ATTR_COUNTER);
	tn_rpc_put_str(&w, TN_ATTR_NAME, "IpInReceives");
	tn_rpc_put_u64(&w, TN_ATTR_VALUE, 1); /* does not fit */
	tn_rpc_nest_end(&w);
	ck_assert_int_eq(tn_rpc_end(&w), -1);
}
END_TEST

/* ---------------------------------------------------------------- errors, names */

START_TEST(test_error_roundtrip)
{
	uint8_t buf[256];
	struct tn_rpc_header hdr;
	char message[64];
	int err = 0;
	long len = tn_rpc_encode_error(buf, sizeof(buf), 77, ENOENT, "no such socket");

	ck_assert_int_gt(len, 0);
	ck_assert(tn_rpc_validate(buf, (size_t)len));
	ck_assert_int_eq(tn_rpc_parse_header(buf, (size_t)len, &hdr), TN_RPC_OK);
	ck_assert_uint_eq(hdr.type, TN_RPC_ERROR | TN_RPC_REPLY);
	ck_assert_uint_eq(hdr.id, 77);
	ck_assert(tn_rpc_decode_error(buf, (size_t)len, &err, message, sizeof(message)));
	ck_assert_int_eq(err, ENOENT);
	ck_assert_str_eq(message, "no such socket");

	/* -errno is accepted, and the message is optional */
	len = tn_rpc_encode_error(buf, sizeof(buf), 78, -EINVAL, NULL);
	ck_assert_int_gt(len, 0);
	ck_assert(tn_rpc_decode_error(buf, (size_t)len, &err, message, sizeof(message)));
	ck_assert_int_eq(err, EINVAL);
	ck_assert_str_eq(message, "");

	/* a long message is cut, not refused */
	len = tn_rpc_encode_error(buf, sizeof(buf), 79, EPERM, "0123456789");
	ck_assert(tn_rpc_decode_error(buf, (size_t)len, &err, message, 5));
	ck_assert_str_eq(message, "0123");

	ck_assert_int_eq(tn_rpc_encode_error(buf, 20, 1, EPERM, "too long for 20 bytes"), -1);
}
END_TEST

START_TEST(test_decode_error_malformed)
{
	uint8_t msg[32] = { 0 };
	char message[16];
	int err = 0;

	/* ERRNO of the wrong size */
	size_t end = raw_attr(msg, 16, TN_ATTR_ERRNO, 2);

	raw_header(msg, (uint32_t)end, TN_RPC_VERSION, TN_RPC_ERROR | TN_RPC_REPLY, 1, 0);
	ck_assert(!tn_rpc_decode_error(msg, end, &err, message, sizeof(message)));

	/* no ERRNO at all: still an error, a generic one */
	raw_header(msg, 16, TN_RPC_VERSION, TN_RPC_ERROR | TN_RPC_REPLY, 1, 0);
	ck_assert(tn_rpc_decode_error(msg, 16, &err, message, sizeof(message)));
	ck_assert_int_eq(err, EIO);
}
END_TEST

/* Only TCP_CORK off and TCP_NODELAY on push; short values and other options do not. */
START_TEST(test_pushing_options)
{
	int off = 0, on = 1, two = 2;
	char one_byte = 0;

	ck_assert(tn_rpc_option_pushes(IPPROTO_TCP, TCP_CORK, &off, sizeof(off)));
	ck_assert(!tn_rpc_option_pushes(IPPROTO_TCP, TCP_CORK, &on, sizeof(on)));
	ck_assert(tn_rpc_option_pushes(IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)));
	ck_assert(tn_rpc_option_pushes(IPPROTO_TCP, TCP_NODELAY, &two, sizeof(two)));
	ck_assert(!tn_rpc_option_pushes(IPPROTO_TCP, TCP_NODELAY, &off, sizeof(off)));
	ck_assert(!tn_rpc_option_pushes(IPPROTO_TCP, TCP_CORK, &one_byte, sizeof(one_byte)));
	ck_assert(!tn_rpc_option_pushes(IPPROTO_TCP, TCP_KEEPIDLE, &on, sizeof(on)));
	ck_assert(!tn_rpc_option_pushes(SOL_SOCKET, TCP_NODELAY, &on, sizeof(on)));
	ck_assert(!tn_rpc_option_pushes(IPPROTO_IP, TCP_CORK, &off, sizeof(off)));
}
END_TEST

START_TEST(test_type_names_and_nests)
{
	ck_assert_str_eq(tn_rpc_type_name(TN_RPC_HELLO), "HELLO");
	ck_assert_str_eq(tn_rpc_type_name(TN_RPC_STATUS | TN_RPC_REPLY), "STATUS");
	ck_assert_str_eq(tn_rpc_type_name(TN_RPC_STATS), "STATS");
	ck_assert_str_eq(tn_rpc_type_name(TN_RPC_ARP), "ARP");
	ck_assert_str_eq(tn_rpc_type_name(TN_RPC_SOCKETS | TN_RPC_REPLY), "SOCKETS");
	ck_assert_str_eq(tn_rpc_type_name(TN_RPC_TIMEWAIT | TN_RPC_REPLY), "TIMEWAIT");
	ck_assert_str_eq(tn_rpc_type_name(TN_RPC_ERROR | TN_RPC_REPLY), "ERROR");
	ck_assert_str_eq(tn_rpc_type_name(0), "UNKNOWN");
	ck_assert_str_eq(tn_rpc_type_name(0x1234), "UNKNOWN");

	ck_assert(tn_rpc_attr_is_nest(TN_ATTR_COUNTER));
	ck_assert(tn_rpc_attr_is_nest(TN_ATTR_ARP_ENTRY));
	ck_assert(tn_rpc_attr_is_nest(TN_ATTR_SOCK));
	ck_assert(tn_rpc_attr_is_nest(TN_ATTR_TW_ENTRY));
	ck_assert(!tn_rpc_attr_is_nest(TN_ATTR_TW_LADDR));
	ck_assert(!tn_rpc_attr_is_nest(TN_ATTR_SOCK_LADDR));
	ck_assert(!tn_rpc_attr_is_nest(TN_ATTR_NAME));
	ck_assert(!tn_rpc_attr_is_nest(0));
}
END_TEST

/* ---------------------------------------------------------------- random input */

/*
 * The wire format's rules restated by byte offsets, independently of the
 * codec's iterator: the random tests compare the codec's verdicts with
 * these.
 */
static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static bool model_is_nest(uint16_t type)
{
	return type == TN_ATTR_COUNTER || type == TN_ATTR_ARP_ENTRY || type == TN_ATTR_SOCK ||
	       type == TN_ATTR_TW_ENTRY;
}

/*
 * The attribute at msg[off] in a run ending at end: true and *next past
 * its padding when it is whole (header, value and padding).
 */
static bool model_attr(const uint8_t *msg, size_t off, size_t end, size_t *next)
{
	if (end - off < TN_RPC_ATTR_HDR_LEN)
		return false;
	size_t padded = (TN_RPC_ATTR_HDR_LEN + (size_t)get16(msg + off + 2) + 3) & ~(size_t)3;
	if (padded > end - off)
		return false;
	*next = off + padded;
	return true;
}

/* The run [off, end) well formed, nests included, with depth nests around it. */
static bool model_run(const uint8_t *msg, size_t off, size_t end, int depth)
{
	size_t next;

	for (; off < end; off = next) {
		if (!model_attr(msg, off, end, &next))
			return false;
		if (model_is_nest(get16(msg + off)) &&
		    (depth >= TN_RPC_MAX_DEPTH ||
		     !model_run(msg, off + TN_RPC_ATTR_HDR_LEN,
				off + TN_RPC_ATTR_HDR_LEN + get16(msg + off + 2), depth + 1)))
			return false;
	}
	return true;
}

static enum tn_rpc_parse model_header(const uint8_t *msg, size_t len)
{
	if (len < TN_RPC_HDR_LEN)
		return TN_RPC_NEED_MORE;
	uint32_t length = get32(msg);
	if (get16(msg + 4) != TN_RPC_VERSION || get32(msg + 12) != 0 ||
	    length < TN_RPC_HDR_LEN || length > TN_RPC_MAX_MSG)
		return TN_RPC_BAD;
	return TN_RPC_OK;
}

static bool model_valid(const uint8_t *msg, size_t len)
{
	return model_header(msg, len) == TN_RPC_OK && get32(msg) == len &&
	       (get16(msg + 6) & ~TN_RPC_REPLY) != 0 && model_run(msg, TN_RPC_HDR_LEN, len, 0);
}

/* What tn_rpc_decode_error should make of msg (len = its header's length). */
static bool model_error(const uint8_t *msg, size_t len, int *err, char *message, size_t cap)
{
	uint32_t errno_value = 0;
	size_t next;

	message[0] = '\0';
	for (size_t off = TN_RPC_HDR_LEN; off < len; off = next) {
		if (!model_attr(msg, off, len, &next))
			return false;
		uint16_t type = get16(msg + off), n = get16(msg + off + 2);
		const uint8_t *v = msg + off + TN_RPC_ATTR_HDR_LEN;
		if (type == TN_ATTR_ERRNO) {
			if (n != 4 || get32(v) > INT32_MAX)
				return false;
			errno_value = get32(v);
		} else if (type == TN_ATTR_MESSAGE) {
			if (memchr(v, '\0', n))
				return false;
			size_t keep = n < cap - 1 ? n : cap - 1; /* cut to fit */
			memcpy(message, v, keep);
			message[keep] = '\0';
		}
	}
	*err = errno_value ? (int)errno_value : EIO;
	return true;
}

/*
 * Each attribute of the run [off, end) as the iterator gives it, and what
 * every accessor says of it, against the offsets; nests walked down to
 * depth 8 (past what validate accepts: the iterator alone must hold).
 * Returns whether the run is whole at its own level.
 */
static bool check_run(struct tn_rpc_iter *it, const uint8_t *msg, size_t off, size_t end,
		      int depth)
{
	struct tn_rpc_attr_view a;
	size_t next;

	for (; off < end; off = next) {
		bool whole = model_attr(msg, off, end, &next);

		ck_assert_int_eq(tn_rpc_next(it, &a), whole);
		if (!whole)
			break;
		uint16_t n = get16(msg + off + 2);
		const uint8_t *v = msg + off + TN_RPC_ATTR_HDR_LEN;
		ck_assert_uint_eq(a.type, get16(msg + off));
		ck_assert_uint_eq(a.len, n);
		ck_assert_ptr_eq(a.value, v);

		uint32_t u32 = 0;
		uint64_t u64 = 0;
		uint8_t bytes[8];
		char s[16];
		ck_assert_int_eq(tn_rpc_get_u32(&a, &u32), n == 4);
		ck_assert(n != 4 || u32 == get32(v));
		ck_assert_int_eq(tn_rpc_get_u64(&a, &u64), n == 8);
		ck_assert(n != 8 || u64 == get64(v));
		ck_assert_int_eq(tn_rpc_get_bytes(&a, bytes, sizeof(bytes)), n == 8);
		ck_assert(n != 8 || memcmp(bytes, v, 8) == 0);
		/* strings: room for the n bytes and a NUL, one byte short, a fixed buffer */
		bool has_nul = memchr(v, '\0', n) != NULL;
		const size_t caps[] = { (size_t)n + 1, n, sizeof(s) };
		for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
			if (caps[i] == 0 || caps[i] > sizeof(s))
				continue;
			bool str_ok = n < caps[i] && !has_nul;
			ck_assert_int_eq(tn_rpc_get_str(&a, s, caps[i]), str_ok);
			ck_assert(str_ok ? strlen(s) == n && memcmp(s, v, n) == 0 : s[0] == '\0');
		}
		if (depth < 8) {
			struct tn_rpc_iter inner;

			tn_rpc_iter_nest(&inner, &a);
			check_run(&inner, msg, off + TN_RPC_ATTR_HDR_LEN,
				  off + TN_RPC_ATTR_HDR_LEN + n, depth + 1);
		}
	}
	bool ok = off >= end;
	if (ok)
		ck_assert(!tn_rpc_next(it, &a)); /* the end is the end */
	ck_assert_int_eq(it->bad, !ok);
	return ok;
}

struct verdicts {
	unsigned valid, invalid; /* of tn_rpc_validate on whole messages */
};

/* Every decoder entry point on msg, each verdict against the model's. */
static void exercise(const uint8_t *msg, size_t len, struct verdicts *v)
{
	struct tn_rpc_header hdr;
	enum tn_rpc_parse parsed = tn_rpc_parse_header(msg, len, &hdr);

	ck_assert_int_eq(parsed, model_header(msg, len));
	ck_assert_int_eq(tn_rpc_validate(msg, len), model_valid(msg, len));
	if (parsed != TN_RPC_OK)
		return;
	ck_assert_uint_eq(hdr.length, get32(msg));
	ck_assert_uint_eq(hdr.version, TN_RPC_VERSION);
	ck_assert_uint_eq(hdr.type, get16(msg + 6));
	ck_assert_uint_eq(hdr.id, get32(msg + 8));
	ck_assert_uint_eq(hdr.flags, 0);
	if (hdr.length > len)
		return;

	bool valid = tn_rpc_validate(msg, hdr.length);
	ck_assert_int_eq(valid, model_valid(msg, hdr.length));
	if (valid)
		v->valid++;
	else
		v->invalid++;

	char message[16], want_message[16];
	int err = 0, want_err = 0;
	bool decoded = tn_rpc_decode_error(msg, hdr.length, &err, message, sizeof(message));
	ck_assert_int_eq(decoded,
			 model_error(msg, hdr.length, &want_err, want_message, sizeof(want_message)));
	if (decoded) {
		ck_assert_int_eq(err, want_err);
		ck_assert_str_eq(message, want_message);
	}

	struct tn_rpc_iter it;

	tn_rpc_iter_msg(&it, msg, hdr.length);
	bool whole = check_run(&it, msg, TN_RPC_HDR_LEN, hdr.length, 0);
	ck_assert(!valid || whole); /* a valid message is whole at its top level */
}

/* Attribute types the decoders treat apart, and one they do not know. */
static const uint16_t fuzz_types[] = { TN_ATTR_COUNTER, TN_ATTR_ARP_ENTRY, TN_ATTR_SOCK,
				       TN_ATTR_TW_ENTRY, TN_ATTR_ERRNO,	 TN_ATTR_MESSAGE,
				       TN_ATTR_ADDR,	 0x7ffe };

static uint16_t fuzz_type(unsigned *seed)
{
	return fuzz_types[(size_t)rand_r(seed) % (sizeof(fuzz_types) / sizeof(fuzz_types[0]))];
}

/*
 * At p (room bytes, a multiple of 4, at least 4): nests `depth` deep around
 * one attribute of up to 8 random bytes, or less deep when room is short.
 * Returns the bytes written.
 */
static size_t raw_chain(uint8_t *p, size_t room, int depth, unsigned *seed)
{
	size_t inner_len = (size_t)rand_r(seed) % 9;

	while (depth > 0 && TN_RPC_ATTR_HDR_LEN * (size_t)depth + 12 > room)
		depth--;
	if (TN_RPC_ATTR_HDR_LEN * (size_t)depth + ((TN_RPC_ATTR_HDR_LEN + inner_len + 3) & ~3u) >
	    room)
		inner_len = room - TN_RPC_ATTR_HDR_LEN * (size_t)depth - TN_RPC_ATTR_HDR_LEN;
	size_t inner = (TN_RPC_ATTR_HDR_LEN + inner_len + 3) & ~(size_t)3;
	for (int i = 0; i < depth; i++) {
		size_t nest_len = TN_RPC_ATTR_HDR_LEN * (size_t)(depth - 1 - i) + inner;
		le16(p + 4 * (size_t)i, rand_r(seed) % 2 ? TN_ATTR_COUNTER : TN_ATTR_SOCK);
		le16(p + 4 * (size_t)i + 2, (uint16_t)nest_len);
	}
	uint8_t *q = p + TN_RPC_ATTR_HDR_LEN * (size_t)depth;
	le16(q, fuzz_type(seed));
	le16(q + 2, (uint16_t)inner_len);
	for (size_t i = TN_RPC_ATTR_HDR_LEN; i < inner; i++)
		q[i] = (uint8_t)(rand_r(seed) % 4 ? rand_r(seed) : 0); /* some NULs in strings */
	return TN_RPC_ATTR_HDR_LEN * (size_t)depth + inner;
}

/*
 * One message of the random test, by kind (round % 4): 0 random bytes;
 * 1 a plausible header and random attributes, nest types sprinkled in;
 * 2 attributes of 0, 4 or 8 bytes filling a 4n-byte message, types and
 * message types from short lists (so that many messages are valid, and
 * type 0, ERRNO and MESSAGE come up); 3 chains of nests up to 6 deep
 * (TN_RPC_MAX_DEPTH is 4), one byte in two such messages flipped.
 * Returns an exact-size heap block, so that valgrind/ASan see any overread.
 */
static uint8_t *random_message(unsigned *seed, int round, size_t *lenp)
{
	uint8_t buf[256];
	size_t len = (size_t)rand_r(seed) % 200;
	int kind = round % 4;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rand_r(seed);
	if (kind >= 2)
		len &= ~(size_t)3;
	if (len >= TN_RPC_HDR_LEN && kind != 0) {
		static const uint16_t types[] = { 0, TN_RPC_REPLY, TN_RPC_ERROR | TN_RPC_REPLY,
						  TN_RPC_STATS };
		uint16_t type = kind == 1 ? (uint16_t)rand_r(seed) : types[rand_r(seed) % 4];
		raw_header(buf, (uint32_t)len, TN_RPC_VERSION, type, 1, 0);
	}
	if (len >= TN_RPC_HDR_LEN && kind == 1)
		for (size_t off = TN_RPC_HDR_LEN; off + 2 <= len; off += 4)
			if (rand_r(seed) % 2)
				le16(buf + off,
				     rand_r(seed) % 2 ? TN_ATTR_COUNTER : TN_ATTR_ARP_ENTRY);
	if (len >= TN_RPC_HDR_LEN && kind == 2)
		for (size_t off = TN_RPC_HDR_LEN; off + 4 <= len; off += 4) {
			if (rand_r(seed) % 4 == 0)
				le16(buf + off, fuzz_type(seed));
			le16(buf + off + 2, (uint16_t)(rand_r(seed) % 3 * 4));
		}
	if (len >= TN_RPC_HDR_LEN && kind == 3) {
		for (size_t off = TN_RPC_HDR_LEN; off < len;)
			off += raw_chain(buf + off, len - off, rand_r(seed) % 7, seed);
		if (len > TN_RPC_HDR_LEN && rand_r(seed) % 2)
			buf[TN_RPC_HDR_LEN + (size_t)rand_r(seed) % (len - TN_RPC_HDR_LEN)] =
				(uint8_t)rand_r(seed);
	}
	uint8_t *msg = malloc(len ? len : 1);
	ck_assert_ptr_nonnull(msg);
	memcpy(msg, buf, len);
	*lenp = len;
	return msg;
}

START_TEST(test_random_bytes_verdicts)
{
	unsigned seed = FUZZ_SEED;
	struct verdicts v = { 0 };

	for (int round = 0; round < FUZZ_ROUNDS; round++) {
		size_t len;
		uint8_t *msg = random_message(&seed, round, &len);

		exercise(msg, len, &v);
		free(msg);
	}
	/* both verdicts reached often enough for the comparison to mean something */
	ck_assert_uint_ge(v.valid, FUZZ_ROUNDS / 50);
	ck_assert_uint_ge(v.invalid, FUZZ_ROUNDS / 50);
}
END_TEST

START_TEST(test_mutated_messages_verdicts)
{
	unsigned seed = FUZZ_SEED;
	uint8_t good[256];
	struct tn_rpc_writer w;
	struct verdicts v = { 0 };

	tn_rpc_begin(&w, good, sizeof(good), TN_RPC_ARP | TN_RPC_REPLY, 5);
	for (int i = 0; i < 3; i++) {
		tn_rpc_nest_begin(&w, TN_ATTR_ARP_ENTRY);
		tn_rpc_put_u32(&w, TN_ATTR_ADDR, 0x0a000001u + (unsigned)i);
		tn_rpc_put_str(&w, TN_ATTR_STATE, "REACHABLE");
		tn_rpc_nest_begin(&w, TN_ATTR_COUNTER);
		tn_rpc_put_u64(&w, TN_ATTR_VALUE, 1);
		tn_rpc_nest_end(&w);
		tn_rpc_nest_end(&w);
	}
	long len = tn_rpc_end(&w);

	ck_assert_int_gt(len, 0);
	ck_assert(tn_rpc_validate(good, (size_t)len));
	for (int round = 0; round < FUZZ_ROUNDS; round++) {
		uint8_t *msg = malloc((size_t)len);

		ck_assert_ptr_nonnull(msg);
		memcpy(msg, good, (size_t)len);
		/* flip a few bytes after the header: lengths and types get hit */
		for (int flips = 1 + rand_r(&seed) % 3; flips > 0; flips--)
			msg[TN_RPC_HDR_LEN + (size_t)rand_r(&seed) % ((size_t)len - TN_RPC_HDR_LEN)] =
				(uint8_t)rand_r(&seed);
		exercise(msg, (size_t)len, &v);
		free(msg);
	}
	ck_assert_uint_eq(v.valid + v.invalid, FUZZ_ROUNDS); /* the header stays good */
	ck_assert_uint_ge(v.valid, FUZZ_ROUNDS / 50);
	ck_assert_uint_ge(v.invalid, FUZZ_ROUNDS / 50);
}
END_TEST

/* ---------------------------------------------------------------- client helper */

struct pair {
	int client, daemon;
};

static struct pair socket_pair(void)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	return (struct pair){ sv[0], sv[1] };
}

static void close_pair(struct pair p)
{
	close(p.client);
	if (p.daemon >= 0)
		close(p.daemon);
}

static long build_request(uint8_t *buf, size_t cap, uint16_t type, uint32_t id)
{
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, cap, type, id);
	return tn_rpc_end(&w);
}

/* The daemon's side answers before it is asked: the socket buffers it. */
static void daemon_says(struct pair p, uint16_t type, uint32_t id)
{
	uint8_t buf[64];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, sizeof(buf), type, id);
	tn_rpc_put_u32(&w, TN_ATTR_PID, id);
	long len = tn_rpc_end(&w);

	ck_assert_int_eq(write(p.daemon, buf, (size_t)len), len);
}

START_TEST(test_client_call_roundtrip)
{
	struct pair p = socket_pair();
	uint8_t req[32], reply[TN_RPC_MAX_MSG], seen[32];
	long req_len = build_request(req, sizeof(req), TN_RPC_STATUS, 11);

	daemon_says(p, TN_RPC_STATUS | TN_RPC_REPLY, 11);
	daemon_says(p, TN_RPC_STATS | TN_RPC_REPLY, 12);
	long len = tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000);

	ck_assert_int_eq(len, 24);
	/* the request went out whole */
	ck_assert_int_eq(read(p.daemon, seen, sizeof(seen)), req_len);
	ck_assert_mem_eq(seen, req, (size_t)req_len);
	/* and exactly one reply was consumed: the next is intact */
	ck_assert_int_eq(tn_rpc_recv_msg(p.client, reply, sizeof(reply), 1000), 24);
	ck_assert_uint_eq(first_attr(reply, 24).value[0], 12);
	close_pair(p);
}
END_TEST

START_TEST(test_client_error_reply_accepted)
{
	struct pair p = socket_pair();
	uint8_t req[32], reply[256];
	long req_len = build_request(req, sizeof(req), TN_RPC_ARP, 3);
	long err_len = tn_rpc_encode_error(reply, sizeof(reply), 3, EPERM, "nope");

	ck_assert_int_eq(write(p.daemon, reply, (size_t)err_len), err_len);
	memset(reply, 0, sizeof(reply));
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000),
			 err_len);
	close_pair(p);
}
END_TEST

START_TEST(test_client_rejects_wrong_answer)
{
	struct pair p = socket_pair();
	uint8_t req[32], reply[256];
	long req_len = build_request(req, sizeof(req), TN_RPC_ARP, 3);

	daemon_says(p, TN_RPC_ARP | TN_RPC_REPLY, 4); /* another id */
	errno = 0;
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, EPROTO);

	daemon_says(p, TN_RPC_STATS | TN_RPC_REPLY, 3); /* another type */
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, EPROTO);

	daemon_says(p, TN_RPC_ARP, 3); /* no reply bit */
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, EPROTO);
	close_pair(p);
}
END_TEST

START_TEST(test_client_refused_connection)
{
	struct pair p = socket_pair();
	uint8_t req[32], reply[256];
	struct tn_rpc_header hdr;
	long req_len = build_request(req, sizeof(req), TN_RPC_HELLO, 1);
	long err_len = tn_rpc_encode_error(reply, sizeof(reply), TN_RPC_CONNECTION_ID, EMFILE,
					   "too many clients");

	/* the daemon says why and hangs up before the request is even sent */
	ck_assert_int_eq(write(p.daemon, reply, (size_t)err_len), err_len);
	close(p.daemon);
	p.daemon = -1;
	memset(reply, 0, sizeof(reply));
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000),
			 err_len);
	ck_assert_int_eq(tn_rpc_parse_header(reply, (size_t)err_len, &hdr), TN_RPC_OK);
	ck_assert_uint_eq(hdr.type, TN_RPC_ERROR | TN_RPC_REPLY);
	ck_assert_uint_eq(hdr.id, TN_RPC_CONNECTION_ID);
	close_pair(p);
}
END_TEST

START_TEST(test_client_rejects_malformed_reply)
{
	struct pair p = socket_pair();
	uint8_t req[32], reply[256], bad[24] = { 0 };
	long req_len = build_request(req, sizeof(req), TN_RPC_STATUS, 1);

	raw_header(bad, sizeof(bad), TN_RPC_VERSION, TN_RPC_STATUS | TN_RPC_REPLY, 1, 0);
	raw_attr(bad, 16, TN_ATTR_PID, 200); /* past the end */
	ck_assert_int_eq(write(p.daemon, bad, sizeof(bad)), (long)sizeof(bad));
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, EPROTO);

	raw_header(bad, 16, TN_RPC_VERSION + 1, TN_RPC_STATUS | TN_RPC_REPLY, 1, 0);
	ck_assert_int_eq(write(p.daemon, bad, 16), 16);
	ck_assert_int_eq(tn_rpc_recv_msg(p.client, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, EPROTO);
	close_pair(p);
}
END_TEST

START_TEST(test_client_reply_too_big_for_buffer)
{
	struct pair p = socket_pair();
	uint8_t reply[20];

	daemon_says(p, TN_RPC_STATUS | TN_RPC_REPLY, 1); /* 24 bytes */
	ck_assert_int_eq(tn_rpc_recv_msg(p.client, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, EMSGSIZE);
	close_pair(p);
}
END_TEST

START_TEST(test_client_timeout)
{
	struct pair p = socket_pair();
	uint8_t req[32], reply[256];
	long req_len = build_request(req, sizeof(req), TN_RPC_STATUS, 1);

	/* a daemon that never answers costs the timeout, not a hang */
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 50), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);

	/* half a reply, then silence */
	ck_assert_int_eq(write(p.daemon, req, 10), 10);
	ck_assert_int_eq(tn_rpc_recv_msg(p.client, reply, sizeof(reply), 50), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	close_pair(p);
}
END_TEST

START_TEST(test_client_daemon_hangs_up)
{
	struct pair p = socket_pair();
	uint8_t req[32], reply[256];
	long req_len = build_request(req, sizeof(req), TN_RPC_STATUS, 1);

	ck_assert_int_eq(write(p.daemon, req, 10), 10); /* a partial message */
	close(p.daemon);
	p.daemon = -1;
	ck_assert_int_eq(tn_rpc_recv_msg(p.client, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	/* sending to a closed peer is an error, not a SIGPIPE */
	ck_assert_int_eq(tn_rpc_call(p.client, req, (size_t)req_len, reply, sizeof(reply), 1000), -1);
	ck_assert_int_eq(errno, ECONNRESET);
	close_pair(p);
}
END_TEST

START_TEST(test_client_connect_missing_socket)
{
	char path[] = "/tmp/check_rpc.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(path);
	ck_assert_int_eq(tn_rpc_connect(path, 100), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(tn_rpc_connect("", 100), -1);
	ck_assert_int_eq(errno, ENOENT);

	char longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(tn_rpc_connect(longpath, 100), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
}
END_TEST

/* ---------------------------------------------------------------- suite */

/* ---- socket requests (libtapnet <-> sockets.c) */

START_TEST(test_socket_types_named)
{
	static const struct { uint16_t type; const char *name; } names[] = {
		{ TN_RPC_SOCKET, "SOCKET" }, { TN_RPC_BIND, "BIND" }, { TN_RPC_LISTEN, "LISTEN" },
		{ TN_RPC_CONNECT, "CONNECT" }, { TN_RPC_SHUTDOWN, "SHUTDOWN" },
		{ TN_RPC_GETNAME, "GETNAME" }, { TN_RPC_SETSOCKOPT, "SETSOCKOPT" },
		{ TN_RPC_GETSOCKOPT, "GETSOCKOPT" }, { TN_RPC_RESETS, "RESETS" },
		{ TN_RPC_RESET_NOTICE, "RESET_NOTICE" },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ck_assert_str_eq(tn_rpc_type_name(names[i].type), names[i].name);
		ck_assert_str_eq(tn_rpc_type_name(names[i].type | TN_RPC_REPLY), names[i].name);
	}
}
END_TEST

/* A CONNECT as libtapnet builds it: exact bytes, and back through the decoder. */
START_TEST(test_connect_request_bytes)
{
	uint8_t buf[128];
	struct tn_rpc_writer w;
	static const uint8_t want[] = {
		32, 0, 0, 0, 1, 0, 19, 0, 7, 0, 0, 0, 0, 0, 0, 0, /* header: 32 bytes, CONNECT, id 7 */
		14, 0, 4, 0, 0x01, 0x00, 0x00, 0x0a,                 /* ADDR 10.0.0.1 (host order value) */
		61, 0, 4, 0, 0x40, 0x1f, 0, 0,                       /* PORT 8000 */
	};

	tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_CONNECT, 7);
	tn_rpc_put_u32(&w, TN_ATTR_ADDR, 0x0a000001);
	tn_rpc_put_u32(&w, TN_ATTR_PORT, 8000);
	ck_assert_int_eq(tn_rpc_end(&w), (long)sizeof(want));
	ck_assert_mem_eq(buf, want, sizeof(want));
	ck_assert(tn_rpc_validate(buf, sizeof(want)));

	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	uint32_t addr = 0, port = 0;
	tn_rpc_iter_msg(&it, buf, sizeof(want));
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_ADDR)
			ck_assert(tn_rpc_get_u32(&a, &addr));
		if (a.type == TN_ATTR_PORT)
			ck_assert(tn_rpc_get_u32(&a, &port));
	}
	ck_assert(!it.bad);
	ck_assert_uint_eq(addr, 0x0a000001);
	ck_assert_uint_eq(port, 8000);
}
END_TEST

/* SETSOCKOPT carries the option's bytes as they are, padded on the wire. */
START_TEST(test_sockopt_value_roundtrip)
{
	uint8_t buf[TN_RPC_HDR_LEN + 3 * 8 + 4 + TN_RPC_OPTVAL_MAX];
	uint8_t val[TN_RPC_OPTVAL_MAX];
	struct tn_rpc_writer w;

	for (size_t n = 0; n <= sizeof(val); n += 7) {
		for (size_t i = 0; i < n; i++)
			val[i] = (uint8_t)(i * 13 + n);
		tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_SETSOCKOPT, 1);
		tn_rpc_put_u32(&w, TN_ATTR_LEVEL, SOL_SOCKET);
		tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, SO_LINGER);
		tn_rpc_put_bytes(&w, TN_ATTR_OPTVAL, val, n);
		long len = tn_rpc_end(&w);
		ck_assert_int_gt(len, 0);
		ck_assert_int_eq(len % 4, 0);
		ck_assert(tn_rpc_validate(buf, (size_t)len));

		struct tn_rpc_iter it;
		struct tn_rpc_attr_view a;
		bool seen = false;
		tn_rpc_iter_msg(&it, buf, (size_t)len);
		while (tn_rpc_next(&it, &a)) {
			if (a.type != TN_ATTR_OPTVAL)
				continue;
			ck_assert_uint_eq(a.len, n);
			ck_assert(n == 0 || memcmp(a.value, val, n) == 0);
			seen = true;
		}
		ck_assert(seen && !it.bad);
	}
}
END_TEST

static Suite *rpc_suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *codec = tcase_create("codec");
	TCase *reject = tcase_create("reject");
	TCase *writer = tcase_create("writer");
	TCase *noise = tcase_create("random");
	TCase *client = tcase_create("client");

	tcase_add_test(codec, test_roundtrip_every_type);
	tcase_add_test(codec, test_socket_types_named);
	tcase_add_test(codec, test_connect_request_bytes);
	tcase_add_test(codec, test_sockopt_value_roundtrip);
	tcase_add_test(codec, test_writer_zeroes_padding);
	tcase_add_test(codec, test_put_str_null_is_empty);
	tcase_add_test(codec, test_nest_roundtrip);
	tcase_add_test(codec, test_nest_max_depth_roundtrip);
	tcase_add_test(codec, test_empty_message);
	tcase_add_test(codec, test_padding_content_is_ignored);
	tcase_add_test(codec, test_error_roundtrip);
	tcase_add_test(codec, test_type_names_and_nests);
	tcase_add_test(codec, test_pushing_options);
	suite_add_tcase(s, codec);

	tcase_add_test(reject, test_header_short_needs_more);
	tcase_add_test(reject, test_header_rejects);
	tcase_add_test(reject, test_header_limits_accepted);
	tcase_add_test(reject, test_validate_rejects_type_zero);
	tcase_add_test(reject, test_validate_length_must_match);
	tcase_add_test(reject, test_truncated_attribute_header);
	tcase_add_test(reject, test_attribute_length_past_end);
	tcase_add_test(reject, test_attribute_padding_must_be_there);
	tcase_add_test(reject, test_nest_too_deep);
	tcase_add_test(reject, test_bad_attribute_inside_nest);
	tcase_add_test(reject, test_string_rules);
	tcase_add_test(reject, test_integer_lengths);
	tcase_add_test(reject, test_iter_msg_too_short);
	tcase_add_test(reject, test_decode_error_malformed);
	suite_add_tcase(s, reject);

	tcase_add_test(writer, test_writer_overflow_sticky);
	tcase_add_test(writer, test_writer_exact_fit);
	tcase_add_test(writer, test_writer_value_too_long);
	tcase_add_test(writer, test_writer_buffer_too_small_for_header);
	tcase_add_test(writer, test_writer_unbalanced_nests);
	tcase_add_test(writer, test_writer_nest_overflow);
	suite_add_tcase(s, writer);

	tcase_add_test(noise, test_random_bytes_verdicts);
	tcase_add_test(noise, test_mutated_messages_verdicts);
	tcase_set_timeout(noise, 60); /* valgrind is slow */
	suite_add_tcase(s, noise);

	tcase_add_test(client, test_client_call_roundtrip);
	tcase_add_test(client, test_client_error_reply_accepted);
	tcase_add_test(client, test_client_rejects_wrong_answer);
	tcase_add_test(client, test_client_refused_connection);
	tcase_add_test(client, test_client_rejects_malformed_reply);
	tcase_add_test(client, test_client_reply_too_big_for_buffer);
	tcase_add_test(client, test_client_timeout);
	tcase_add_test(client, test_client_daemon_hangs_up);
	tcase_add_test(client, test_client_connect_missing_socket);
	suite_add_tcase(s, client);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(rpc_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);

	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
