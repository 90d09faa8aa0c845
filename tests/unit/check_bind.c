/*
 * check_bind.c - who may share a port, as Linux decides it
 * (inet_bind_conflict, inet_csk_listen_start): no socket takes another's
 * port or its connections; listeners that share one with SO_REUSEPORT
 * share its connections (reuseport_select_sock).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "stack/stack.h"
#include "stack_harness.h"
#include "tcp_peer.h"

#define PORT 8088
#define UID_A 1000
#define UID_B 1001

static struct tn_sock *sock_with(struct harness *h, bool reuseaddr, bool reuseport, uint32_t owner)
{
	struct tn_sock *s = tn_sock_open(h->stack);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(tn_sock_set_reuseaddr(s, reuseaddr), 0);
	ck_assert_int_eq(tn_sock_set_reuseport(s, reuseport, owner), 0);
	return s;
}

/* A binds 0.0.0.0:8088, B 10.0.0.2:8088, both SO_REUSEADDR: both binds work, one listen only. */
START_TEST(specific_cannot_intercept_wildcard_listener)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *a = sock_with(h, true, false, UID_A);
	struct tn_sock *b = sock_with(h, true, false, UID_B);

	ck_assert_int_eq(tn_sock_bind(a, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_bind(b, H_STACK_IP, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(a, 4), 0);
	ck_assert_int_eq(tn_sock_listen(b, 4), -EADDRINUSE);
	/* the same the other way round */
	tn_sock_close(a);
	tn_sock_close(b);
	a = sock_with(h, true, false, UID_A);
	b = sock_with(h, true, false, UID_B);
	ck_assert_int_eq(tn_sock_bind(a, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_bind(b, H_STACK_IP, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(b, 4), 0);
	ck_assert_int_eq(tn_sock_listen(a, 4), -EADDRINUSE);
	tn_sock_close(a);
	tn_sock_close(b);
	h_free(h);
}
END_TEST

START_TEST(no_bind_over_a_listener)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *a = sock_with(h, true, false, UID_A);
	struct tn_sock *b = sock_with(h, true, false, UID_B);
	struct tn_sock *c = sock_with(h, false, false, UID_B);

	ck_assert_int_eq(tn_sock_bind(a, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(a, 4), 0);
	ck_assert_int_eq(tn_sock_bind(b, 0, PORT), -EADDRINUSE);
	ck_assert_int_eq(tn_sock_bind(b, H_STACK_IP, PORT), -EADDRINUSE);
	ck_assert_int_eq(tn_sock_bind(c, H_STACK_IP, PORT), -EADDRINUSE);
	/* without SO_REUSEADDR on both, bound alone is enough to keep the port */
	ck_assert_int_eq(tn_sock_bind(c, 0, PORT + 1), 0);
	ck_assert_int_eq(tn_sock_bind(b, H_STACK_IP, PORT + 1), -EADDRINUSE);
	tn_sock_close(a);
	tn_sock_close(b);
	tn_sock_close(c);
	h_free(h);
}
END_TEST

START_TEST(reuseport_only_for_the_same_owner)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *a = sock_with(h, false, true, UID_A);
	struct tn_sock *a2 = sock_with(h, false, true, UID_A);
	struct tn_sock *b = sock_with(h, false, true, UID_B);
	struct tn_sock *a3 = sock_with(h, false, false, UID_A);

	ck_assert_int_eq(tn_sock_bind(a, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(a, 4), 0);
	ck_assert_int_eq(tn_sock_bind(a2, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(a2, 4), 0);
	ck_assert_int_eq(tn_sock_bind(b, 0, PORT), -EADDRINUSE);
	ck_assert_int_eq(tn_sock_bind(b, H_STACK_IP, PORT), -EADDRINUSE);
	ck_assert_int_eq(tn_sock_bind(a3, 0, PORT), -EADDRINUSE); /* both must set it */
	tn_sock_close(a);
	tn_sock_close(a2);
	tn_sock_close(b);
	tn_sock_close(a3);
	h_free(h);
}
END_TEST

/*
 * A failed connect's socket as Linux keeps it for a connect again: its
 * options, and the port and address bind() named, but not a port bind()
 * chose; the settings held apart count as no socket and hold no port.
 */
START_TEST(settings_kept_for_a_connect_again)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *a = sock_with(h, true, false, UID_A);
	struct tn_sock_opts o;
	struct tn_sock_info info;
	int err = 0;

	ck_assert_int_eq(tn_sock_set_nodelay(a, true), 0);
	ck_assert_int_eq(tn_sock_set_bufsize(a, 8192, 16384), 0);
	ck_assert_int_eq(tn_sock_set_kept(a, TN_KEPT_PRIORITY, 5), 0);
	ck_assert_int_eq(tn_sock_bind(a, H_STACK_IP, PORT), 0);
	struct tn_sock_settings *set = tn_sock_settings_save(a);
	ck_assert_ptr_nonnull(set);
	tn_sock_close(a);
	struct tn_sock *b = tn_sock_open_with(h->stack, set, &err); /* the port is free again */
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(tn_sock_info(b, &info), 0);
	ck_assert_uint_eq(info.local_addr, H_STACK_IP);
	ck_assert_uint_eq(info.local_port, PORT);
	tn_sock_get_opts(b, &o);
	ck_assert(o.nodelay && o.reuseaddr);
	ck_assert_uint_eq(o.rcvbuf, 8192);
	ck_assert_uint_eq(o.sndbuf, 16384);
	ck_assert_int_eq(tn_sock_get_kept(b, TN_KEPT_PRIORITY), 5);
	tn_sock_close(b);
	tn_sock_settings_free(set);

	struct tn_sock *c = sock_with(h, false, false, UID_A);
	ck_assert_int_eq(tn_sock_bind(c, 0, 0), 0);
	set = tn_sock_settings_save(c);
	ck_assert_ptr_nonnull(set);
	struct tn_sock *d = tn_sock_open_with(h->stack, set, &err);
	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(tn_sock_info(d, &info), 0);
	ck_assert_uint_eq(info.local_addr, 0); /* a port bind() chose is not kept */
	ck_assert_uint_eq(info.local_port, 0);
	tn_sock_close(d);
	tn_sock_close(c);
	tn_sock_settings_free(set);
	h_free(h);
}
END_TEST

START_TEST(bound_sockets_share_with_reuseaddr)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *a = sock_with(h, true, false, UID_A);
	struct tn_sock *b = sock_with(h, true, false, UID_B);

	ck_assert_int_eq(tn_sock_bind(a, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_bind(b, 0, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(a, 4), 0);
	ck_assert_int_eq(tn_sock_listen(b, 4), -EADDRINUSE);
	tn_sock_close(a);
	/* the listener gone, the other may listen */
	ck_assert_int_eq(tn_sock_listen(b, 4), 0);
	tn_sock_close(b);
	h_free(h);
}
END_TEST

/*
 * A handshake from rport to PORT: which of the listeners ls[0..n-1] has
 * the connection in its accept queue (its index), the connection closed.
 */
static int accepted_by(struct harness *h, struct tn_sock **ls, int n, uint16_t rport)
{
	h_clear(h);
	peer_send(h, &(struct pseg){ .seq = PEER_ISN, .flags = TCP_SYN, .sport = rport, .dport = PORT });
	struct oseg synack = last_only(h);
	ck_assert_uint_eq(synack.flags, TCP_SYN | TCP_ACK);
	/* a retransmitted SYN finds the same listener's half-open connection */
	h_clear(h);
	peer_send(h, &(struct pseg){ .seq = PEER_ISN, .flags = TCP_SYN, .sport = rport, .dport = PORT });
	ck_assert_uint_eq(last_only(h).seq, synack.seq);
	peer_send(h, &(struct pseg){ .seq = PEER_ISN + 1, .ack = synack.seq + 1, .flags = TCP_ACK,
				     .sport = rport, .dport = PORT });
	int by = -1;
	for (int i = 0; i < n; i++) {
		struct tn_sock *c = tn_sock_accept(ls[i], NULL);
		if (c) {
			ck_assert_int_eq(by, -1);
			by = i;
			tn_sock_abort(c);
		}
	}
	ck_assert_int_ge(by, 0);
	return by;
}

/*
 * Three listeners of one owner on 0.0.0.0:8088 with SO_REUSEPORT: 60
 * connections from as many ports are spread over all three, each always to
 * the same one for its 4-tuple; closing one gives its share to the others.
 */
START_TEST(reuseport_listeners_share_the_connections)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct harness *h = new_harness_cfg(&cfg);
	struct tn_sock *ls[3];
	int count[3] = { 0 }, first_by[60];

	for (int i = 0; i < 3; i++) {
		ls[i] = sock_with(h, false, true, UID_A);
		ck_assert_int_eq(tn_sock_bind(ls[i], 0, PORT), 0);
		ck_assert_int_eq(tn_sock_listen(ls[i], 64), 0);
	}
	for (int k = 0; k < 60; k++) {
		first_by[k] = accepted_by(h, ls, 3, (uint16_t)(41000 + k));
		count[first_by[k]]++;
	}
	for (int i = 0; i < 3; i++)
		ck_assert_msg(count[i] >= 5, "listener %d got %d of 60 connections", i, count[i]);
	/* the same 4-tuple again (its TIME_WAIT-free reuse after an abort): the same listener */
	for (int k = 0; k < 10; k++)
		ck_assert_int_eq(accepted_by(h, ls, 3, (uint16_t)(41000 + k)), first_by[k]);
	tn_sock_close(ls[1]);
	ls[1] = ls[2];
	int after[2] = { 0 };
	for (int k = 0; k < 40; k++)
		after[accepted_by(h, ls, 2, (uint16_t)(42000 + k))]++;
	ck_assert_msg(after[0] > 0 && after[1] > 0, "after a close: %d and %d", after[0], after[1]);
	tn_sock_close(ls[0]);
	tn_sock_close(ls[1]);
	h_free(h);
}
END_TEST

/* A listener bound to the address itself takes its connections before wildcard ones. */
START_TEST(reuseport_group_at_the_address_before_the_wildcard)
{
	struct tn_config cfg;
	peer_config(&cfg);
	struct harness *h = new_harness_cfg(&cfg);
	struct tn_sock *ls[3];

	for (int i = 0; i < 3; i++) {
		ls[i] = sock_with(h, false, true, UID_A);
		ck_assert_int_eq(tn_sock_bind(ls[i], i == 2 ? H_STACK_IP : 0, PORT), 0);
		ck_assert_int_eq(tn_sock_listen(ls[i], 64), 0);
	}
	for (int k = 0; k < 20; k++)
		ck_assert_int_eq(accepted_by(h, ls, 3, (uint16_t)(43000 + k)), 2);
	for (int i = 0; i < 3; i++)
		tn_sock_close(ls[i]);
	h_free(h);
}
END_TEST

static Suite *bind_suite(void)
{
	Suite *s = suite_create("bind");
	TCase *tc = tcase_create("conflicts");

	tcase_add_test(tc, specific_cannot_intercept_wildcard_listener);
	tcase_add_test(tc, no_bind_over_a_listener);
	tcase_add_test(tc, reuseport_only_for_the_same_owner);
	tcase_add_test(tc, bound_sockets_share_with_reuseaddr);
	tcase_add_test(tc, settings_kept_for_a_connect_again);
	tcase_add_test(tc, reuseport_listeners_share_the_connections);
	tcase_add_test(tc, reuseport_group_at_the_address_before_the_wildcard);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(bind_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
