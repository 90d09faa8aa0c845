/*
 * check_charge.c - the core tells who pays for connection buffers
 * (tn_stack_set_charge): before it allocates them, which may refuse them,
 * and when it frees them; a listener's connections are charged to the
 * listener's owner while they wait in its accept queue.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "stack/tcp.h"
#include "stack_harness.h"
#include "tcp_peer.h"

struct ledger {
	int64_t balance;      /* bytes charged and not given back */
	unsigned charges, refusals;
	void *last_owner;
	bool refuse;
};

static bool ledger_cb(void *ctx, void *owner, int64_t bytes)
{
	struct ledger *l = ctx;

	if (bytes > 0 && l->refuse) {
		l->refusals++;
		return false;
	}
	l->balance += bytes;
	l->charges++;
	l->last_owner = owner;
	return true;
}

static int owner_tag;

START_TEST(connect_charges_until_freed)
{
	struct ledger led = { 0 };
	struct harness *h = new_harness();
	tn_stack_set_charge(h->stack, ledger_cb, &led);
	struct tn_sock *s = tn_sock_open(h->stack);
	tn_sock_set_owner(s, &owner_tag);
	int rc = tn_sock_connect(s, H_PEER_IP, 7);
	ck_assert(rc == -EINPROGRESS || rc == 0);
	ck_assert_int_eq(led.balance, (int64_t)h->stack->cfg.tcp_rcvbuf + h->stack->cfg.tcp_sndbuf);
	ck_assert_ptr_eq(led.last_owner, &owner_tag);
	tn_sock_abort(s);
	ck_assert_int_eq(led.balance, 0);
	h_free(h);
}
END_TEST

START_TEST(refused_connect_is_enobufs)
{
	struct ledger led = { .refuse = true };
	struct harness *h = new_harness();
	tn_stack_set_charge(h->stack, ledger_cb, &led);
	struct tn_sock *s = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_connect(s, H_PEER_IP, 7), -ENOBUFS);
	ck_assert_uint_eq(led.refusals, 1);
	ck_assert_int_eq(led.balance, 0);
	/* with the space there, the same socket connects */
	led.refuse = false;
	int rc = tn_sock_connect(s, H_PEER_IP, 7);
	ck_assert(rc == -EINPROGRESS || rc == 0);
	tn_sock_close(s);
	h_free(h);
	ck_assert_int_eq(led.balance, 0); /* the stack gave everything back as it went */
}
END_TEST

/* The peer opens a connection from sport; it completes the handshake if the stack answers. */
static void peer_opens(struct harness *h, uint16_t sport)
{
	h_clear(h);
	peer_send(h, &(struct pseg){ .seq = PEER_ISN, .flags = TCP_SYN, .sport = sport });
	struct oseg o;
	if (tcp_out_count(h) == 1 && out_seg(h, 0, &o) && o.flags == (TCP_SYN | TCP_ACK))
		peer_send(h, &(struct pseg){ .seq = PEER_ISN + 1, .ack = o.seq + 1,
					     .flags = TCP_ACK, .sport = sport });
	h_clear(h);
}

START_TEST(accept_queue_is_the_listeners_owners)
{
	struct ledger led = { 0 };
	struct harness *h = new_harness();
	int64_t conn = (int64_t)h->stack->cfg.tcp_rcvbuf + h->stack->cfg.tcp_sndbuf;
	tn_stack_set_charge(h->stack, ledger_cb, &led);
	struct tn_sock *l = tn_sock_open(h->stack);
	tn_sock_set_owner(l, &owner_tag);
	ck_assert_int_eq(tn_sock_bind(l, 0, LPORT), 0);
	ck_assert_int_eq(tn_sock_listen(l, 8), 0);
	ck_assert_int_eq(led.balance, 0); /* a listener holds no buffers */

	peer_opens(h, RPORT);
	struct tn_sock_info info;
	ck_assert_int_eq(tn_sock_info(l, &info), 0);
	ck_assert_uint_eq(info.recv_q, 1); /* waiting to be accepted, and paid for */
	ck_assert_int_eq(led.balance, conn);
	ck_assert_ptr_eq(led.last_owner, &owner_tag);

	/* its owner has no more: the next connection does not get in */
	led.refuse = true;
	uint64_t drops = H_CTR(h, TcpExtListenDrops);
	peer_opens(h, RPORT + 1);
	ck_assert_uint_gt(H_CTR(h, TcpExtListenDrops), drops);
	ck_assert_int_eq(tn_sock_info(l, &info), 0);
	ck_assert_uint_eq(info.recv_q, 1);
	ck_assert_int_eq(led.balance, conn);

	h_free(h);
	ck_assert_int_eq(led.balance, 0);
}
END_TEST

static Suite *charge_suite(void)
{
	Suite *s = suite_create("charge");
	TCase *tc = tcase_create("buffers");

	tcase_add_test(tc, connect_charges_until_freed);
	tcase_add_test(tc, refused_connect_is_enobufs);
	tcase_add_test(tc, accept_queue_is_the_listeners_owners);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(charge_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
