/*
 * check_optring.c - tapnetd's reading of a client's option ring
 * (src/daemon/optring.c) with the client playing every trick the shared
 * memory allows: the wrong kind of fd, a memfd it could still shrink,
 * a tail past the ring, half a message, a header that lies about its
 * length or type. Every one is refused, without a fault and without the
 * daemon reading a byte beyond what it checked; honest requests come out
 * whole and in order, also across the ring's end.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/optring.h"
#include "rpc/rpc.h"

/* ---- the client's side, as libtapnet writes it */

static int ring_fd(off_t size, unsigned seals)
{
	int fd = memfd_create("check-optring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, size), 0);
	if (seals)
		ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, seals), 0);
	return fd;
}

struct client {
	int fd;
	struct tn_optring *shared; /* the client's own mapping */
	uint32_t tail;
};

static void client_open(struct client *c, struct optring *r)
{
	c->fd = ring_fd(TN_OPTRING_SIZE, F_SEAL_SHRINK | F_SEAL_GROW);
	c->shared = mmap(NULL, TN_OPTRING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	ck_assert_ptr_ne(c->shared, MAP_FAILED);
	c->tail = 0;
	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(optring_map(r, c->fd), 0);
}

static void client_close(struct client *c, struct optring *r)
{
	optring_unmap(r);
	munmap(c->shared, TN_OPTRING_SIZE);
	close(c->fd);
}

static void raw_put(struct client *c, const void *bytes, size_t len)
{
	uint8_t *data = (uint8_t *)c->shared + TN_OPTRING_DATA_OFF;
	for (size_t i = 0; i < len; i++)
		data[(c->tail + i) & (TN_OPTRING_DATA - 1)] = ((const uint8_t *)bytes)[i];
	c->tail += (uint32_t)len;
}

static void publish(struct client *c)
{
	__atomic_store_n(&c->shared->tail, c->tail, __ATOMIC_SEQ_CST);
}

/* A SETSOCKOPT_NOWAIT for TCP_CORK = value, id id; its length */
static size_t nowait_msg(uint8_t *buf, size_t cap, uint16_t type, uint32_t id, int value)
{
	struct tn_rpc_writer w;
	tn_rpc_begin(&w, buf, cap, type, id);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, 6);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, 3);
	tn_rpc_put_bytes(&w, TN_ATTR_OPTVAL, &value, sizeof(value));
	tn_rpc_put_u64(&w, TN_ATTR_COOKIE, 0x1234);
	long len = tn_rpc_end(&w);
	ck_assert_int_gt(len, 0);
	return (size_t)len;
}

static void put_request(struct client *c, uint32_t id)
{
	uint8_t buf[TN_OPTRING_MSG_MAX];
	raw_put(c, buf, nowait_msg(buf, sizeof(buf), TN_RPC_SETSOCKOPT_NOWAIT, id, (int)id));
}

/* ---- the daemon's side: what take was handed */

struct taken {
	unsigned n, stop_after;
	uint32_t ids[256];
	bool whole; /* every message valid as the daemon will check it */
};

static bool take(void *ctx, const struct tn_rpc_header *hdr, const uint8_t *msg)
{
	struct taken *t = ctx;
	ck_assert_uint_lt(t->n, 256);
	t->ids[t->n++] = hdr->id;
	t->whole = t->whole && tn_rpc_validate(msg, hdr->length);
	return !t->stop_after || t->n < t->stop_after;
}

static enum optring_result read_ring(struct optring *r, struct taken *t)
{
	const char *why = NULL;
	enum optring_result res = optring_read(r, take, t, &why);
	ck_assert(res != OPTRING_BAD || (why && *why));
	return res;
}

START_TEST(test_map_refuses_what_could_fault)
{
	struct optring r = { 0 };
	int p[2];

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(optring_map(&r, p[0]), -EINVAL); /* not a memfd */
	close(p[0]);
	close(p[1]);
	int fd = ring_fd(TN_OPTRING_SIZE, 0);
	ck_assert_int_eq(optring_map(&r, fd), -EPERM); /* could shrink: a fault at the client's will */
	close(fd);
	fd = ring_fd(TN_OPTRING_SIZE, F_SEAL_SHRINK);
	ck_assert_int_eq(optring_map(&r, fd), -EPERM); /* could still grow */
	close(fd);
	fd = ring_fd(TN_OPTRING_SIZE / 2, F_SEAL_SHRINK | F_SEAL_GROW);
	ck_assert_int_eq(optring_map(&r, fd), -EINVAL); /* smaller than the ring */
	close(fd);
	fd = ring_fd(TN_OPTRING_SIZE * 2, F_SEAL_SHRINK | F_SEAL_GROW);
	ck_assert_int_eq(optring_map(&r, fd), -EINVAL);
	close(fd);
	fd = ring_fd(TN_OPTRING_SIZE, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE);
	ck_assert_int_lt(optring_map(&r, fd), 0); /* the daemon could not write its words */
	close(fd);
	ck_assert_ptr_null(r.shared);
}
END_TEST

START_TEST(test_requests_in_order_across_the_end)
{
	struct client c;
	struct optring r;
	struct taken t = { .whole = true };

	client_open(&c, &r);
	ck_assert(!optring_pending(&r));
	ck_assert_int_eq(read_ring(&r, &t), OPTRING_READ);
	ck_assert_uint_eq(t.n, 0);
	/* far more than the ring holds, read as it goes: messages wrap its end */
	uint32_t next = 1;
	for (int round = 0; round < 40; round++) {
		for (int i = 0; i < 7; i++)
			put_request(&c, next++);
		publish(&c);
		ck_assert(optring_pending(&r));
		t.n = 0;
		ck_assert_int_eq(read_ring(&r, &t), OPTRING_READ);
		ck_assert_uint_eq(t.n, 7);
		for (unsigned i = 0; i < 7; i++)
			ck_assert_uint_eq(t.ids[i], next - 7 + i);
		ck_assert(t.whole);
		ck_assert(!optring_pending(&r));
		ck_assert_uint_eq(__atomic_load_n(&c.shared->head, __ATOMIC_ACQUIRE), c.tail);
	}
	ck_assert_uint_gt(c.tail, 2 * TN_OPTRING_DATA);
	optring_set_sleeping(&r, true);
	ck_assert_uint_eq(c.shared->sleeping, 1);
	client_close(&c, &r);
}
END_TEST

START_TEST(test_take_may_stop)
{
	struct client c;
	struct optring r;
	struct taken t = { .whole = true, .stop_after = 2 };

	client_open(&c, &r);
	for (uint32_t id = 1; id <= 4; id++)
		put_request(&c, id);
	publish(&c);
	ck_assert_int_eq(read_ring(&r, &t), OPTRING_STOPPED);
	ck_assert_uint_eq(t.n, 2);
	t.stop_after = 0;
	t.n = 0;
	ck_assert_int_eq(read_ring(&r, &t), OPTRING_READ); /* the rest, where it stopped */
	ck_assert_uint_eq(t.n, 2);
	ck_assert_uint_eq(t.ids[0], 3);
	client_close(&c, &r);
}
END_TEST

/* One kind of lie per case: the ring is refused, and nothing past the lie reaches take. */
START_TEST(test_lies_refused)
{
	struct client c;
	struct optring r;
	struct taken t = { .whole = true };
	uint8_t buf[512];
	size_t len;

	client_open(&c, &r);
	put_request(&c, 1);
	switch (_i) {
	case 0: /* a tail beyond the ring's size */
		c.tail = TN_OPTRING_DATA + 1;
		break;
	case 1: /* half a header */
		raw_put(&c, buf, TN_RPC_HDR_LEN / 2);
		break;
	case 2: /* a header that promises more than was written */
		len = nowait_msg(buf, sizeof(buf), TN_RPC_SETSOCKOPT_NOWAIT, 2, 1);
		raw_put(&c, buf, len - 4);
		break;
	case 3: /* longer than any such request */
		{
			struct tn_rpc_writer w;
			tn_rpc_begin(&w, buf, sizeof(buf), TN_RPC_SETSOCKOPT_NOWAIT, 2);
			uint8_t big[200] = { 0 };
			tn_rpc_put_bytes(&w, TN_ATTR_OPTVAL, big, sizeof(big));
			len = (size_t)tn_rpc_end(&w);
		}
		ck_assert_uint_gt(len, TN_OPTRING_MSG_MAX);
		raw_put(&c, buf, len);
		break;
	case 4: /* another request than SETSOCKOPT_NOWAIT */
		len = nowait_msg(buf, sizeof(buf), TN_RPC_SETSOCKOPT, 2, 1);
		raw_put(&c, buf, len);
		break;
	case 5: /* a header that is not one */
		memset(buf, 0xff, TN_RPC_HDR_LEN);
		raw_put(&c, buf, TN_RPC_HDR_LEN);
		break;
	case 6: /* a tail behind the head (the ring "more than full") */
		c.tail = (uint32_t)-8;
		break;
	}
	publish(&c);
	ck_assert_int_eq(read_ring(&r, &t), OPTRING_BAD);
	/* the honest first request went through (cases 1-5), nothing after the lie */
	ck_assert_uint_le(t.n, 1);
	for (unsigned i = 0; i < t.n; i++)
		ck_assert_uint_eq(t.ids[i], 1);
	client_close(&c, &r);
}
END_TEST

/* A client that rewrites a request while the daemon reads it gets a checked copy, or refusal. */
START_TEST(test_header_checked_in_the_copy)
{
	struct client c;
	struct optring r;
	struct taken t = { .whole = true };

	client_open(&c, &r);
	for (uint32_t id = 1; id <= 50; id++)
		put_request(&c, id);
	publish(&c);
	/* garbage over the data after publishing: each message is refused or whole */
	uint8_t *data = (uint8_t *)c.shared + TN_OPTRING_DATA_OFF;
	for (unsigned i = 0; i < TN_OPTRING_DATA; i += 97)
		data[i] ^= 0x5a;
	enum optring_result res = read_ring(&r, &t);
	ck_assert(res == OPTRING_READ || res == OPTRING_BAD);
	ck_assert_uint_le(t.n, 50);
	client_close(&c, &r);
}
END_TEST

static Suite *optring_suite(void)
{
	Suite *s = suite_create("optring");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, test_map_refuses_what_could_fault);
	tcase_add_test(tc, test_requests_in_order_across_the_end);
	tcase_add_test(tc, test_take_may_stop);
	tcase_add_loop_test(tc, test_lies_refused, 0, 7);
	tcase_add_test(tc, test_header_checked_in_the_copy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(optring_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);

	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
