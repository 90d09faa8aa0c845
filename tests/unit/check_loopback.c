/*
 * check_loopback.c - the host's loopback (loopback.c): connections to
 * 127.0.0.0/8 and to the host's own address stay in the host and never
 * touch the link; a port nobody listens on is refused at once; the link
 * cannot reach 127.0.0.0/8.
 */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "stack/stack.h"
#include "stack_harness.h"

#define LO 0x7f000001u
#define PORT 8080

/* The loopback queue drains from timers due now: run them until it is empty. */
static void settle(struct harness *h)
{
	h_advance(h, 0);
}

static struct tn_sock *listener(struct harness *h, tn_ip4 addr)
{
	struct tn_sock *l = tn_sock_open(h->stack);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(tn_sock_bind(l, addr, PORT), 0);
	ck_assert_int_eq(tn_sock_listen(l, 4), 0);
	return l;
}

/* A connection from an unbound socket to dst:PORT, accepted; both ends returned. */
static void connect_pair(struct harness *h, struct tn_sock *l, tn_ip4 dst, struct tn_sock **client,
			 struct tn_sock **server)
{
	int err = 0;
	*client = tn_sock_open(h->stack);
	ck_assert_ptr_nonnull(*client);
	ck_assert_int_eq(tn_sock_connect(*client, dst, PORT), -EINPROGRESS);
	settle(h);
	ck_assert_int_eq(tn_sock_state(*client), TN_TCP_ESTABLISHED);
	*server = tn_sock_accept(l, &err);
	ck_assert_ptr_nonnull(*server);
	ck_assert_int_eq(tn_sock_state(*server), TN_TCP_ESTABLISHED);
}

static void exchange(struct harness *h, struct tn_sock *from, struct tn_sock *to, size_t len)
{
	static uint8_t out[200000], in[sizeof(out)];
	size_t sent = 0, got = 0;
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 7 + 3);
	while (got < len) {
		if (sent < len) {
			long n = tn_sock_send(from, out + sent, len - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		h_advance(h, 1000000); /* a delayed ACK may be due (Nagle holds a last small segment) */
		long n = tn_sock_recv(to, in + got, len - got);
		ck_assert(n > 0 || n == -EAGAIN);
		if (n > 0)
			got += (size_t)n;
	}
	ck_assert(memcmp(in, out, len) == 0);
}

START_TEST(a_connection_to_127_0_0_1_stays_in_the_host)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *l = listener(h, 0), *c, *s;
	connect_pair(h, l, LO, &c, &s);
	struct tn_sock_info ci, si;
	ck_assert_int_eq(tn_sock_info(c, &ci), 0);
	ck_assert_int_eq(tn_sock_info(s, &si), 0);
	ck_assert_uint_eq(ci.local_addr, LO);
	ck_assert_uint_eq(ci.remote_addr, LO);
	ck_assert_uint_eq(si.local_addr, LO);
	ck_assert_uint_eq(si.remote_port, ci.local_port);
	exchange(h, c, s, 150000);
	exchange(h, s, c, 3000);
	/* the close, both ways: the active closer's end in TIME_WAIT, the other gone */
	tn_sock_close(c);
	settle(h);
	ck_assert_int_eq(tn_sock_recv(s, (char[1]){0}, 1), 0);
	tn_sock_close(s);
	settle(h);
	ck_assert_uint_eq(H_CTR(h, TcpTimeWaitCurrent), 1);
	ck_assert_uint_eq(h->nout, 0); /* not one frame on the link, not even an ARP request */
	ck_assert_uint_eq(H_CTR(h, IpOutDiscards), 0);
	tn_sock_close(l);
	h_free(h);
}
END_TEST

START_TEST(a_connection_to_its_own_address_stays_in_the_host)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *l = listener(h, H_STACK_IP), *c, *s;
	connect_pair(h, l, H_STACK_IP, &c, &s);
	struct tn_sock_info ci;
	ck_assert_int_eq(tn_sock_info(c, &ci), 0);
	ck_assert_uint_eq(ci.local_addr, H_STACK_IP);
	exchange(h, c, s, 5000);
	ck_assert_uint_eq(h->nout, 0);
	tn_sock_abort(c);
	settle(h);
	ck_assert_int_eq(tn_sock_error(s), -ECONNRESET);
	tn_sock_close(s);
	tn_sock_close(l);
	h_free(h);
}
END_TEST

/* Linux: a connect to 0.0.0.0 reaches this host, at 127.0.0.1 (or the bound address). */
START_TEST(a_connect_to_0_0_0_0_is_to_this_host)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *l = listener(h, 0), *c, *s;
	connect_pair(h, l, 0, &c, &s);
	struct tn_sock_info ci;
	ck_assert_int_eq(tn_sock_info(c, &ci), 0);
	ck_assert_uint_eq(ci.remote_addr, LO);
	ck_assert_uint_eq(ci.local_addr, LO);
	struct tn_sock *b = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_bind(b, H_STACK_IP, 0), 0);
	ck_assert_int_eq(tn_sock_connect(b, 0, PORT), -EINPROGRESS);
	settle(h);
	ck_assert_int_eq(tn_sock_state(b), TN_TCP_ESTABLISHED);
	ck_assert_int_eq(tn_sock_info(b, &ci), 0);
	ck_assert_uint_eq(ci.remote_addr, H_STACK_IP);
	ck_assert_uint_eq(h->nout, 0);
	tn_sock_abort(b);
	tn_sock_abort(c);
	tn_sock_close(s);
	tn_sock_close(l);
	settle(h);
	h_free(h);
}
END_TEST

/* Linux: a listener on tapnet's address alone takes nothing sent to 127.0.0.1. */
START_TEST(nobody_listening_is_refused_at_once)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *l = listener(h, H_STACK_IP);
	struct tn_sock *c = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_connect(c, LO, PORT), -EINPROGRESS);
	settle(h);
	ck_assert_int_eq(tn_sock_state(c), TN_TCP_CLOSED);
	ck_assert_int_eq(tn_sock_error(c), -ECONNREFUSED);
	ck_assert_uint_eq(H_CTR(h, TcpOutRsts), 1);
	ck_assert_uint_eq(h->nout, 0);
	tn_sock_close(c);
	tn_sock_close(l);
	h_free(h);
}
END_TEST

START_TEST(loopback_addresses_are_the_hosts)
{
	struct harness *h = h_new(NULL);
	struct tn_sock *a = tn_sock_open(h->stack), *b = tn_sock_open(h->stack);
	struct tn_sock *c = tn_sock_open(h->stack), *d = tn_sock_open(h->stack);
	ck_assert_int_eq(tn_sock_bind(a, LO, PORT), 0);
	ck_assert_int_eq(tn_sock_bind(b, 0x7f010203, PORT), 0); /* all of 127.0.0.0/8 */
	ck_assert_int_eq(tn_sock_bind(c, 0x0a000003, PORT), -EADDRNOTAVAIL);
	/* bound to loopback, a socket cannot reach beyond the host */
	ck_assert_int_eq(tn_sock_connect(a, H_PEER_IP, 80), -EINVAL);
	ck_assert_int_eq(tn_sock_listen(b, 4), 0);
	/* bound to the host's address, it may reach 127.0.0.0/8 (as on Linux) */
	ck_assert_int_eq(tn_sock_bind(d, H_STACK_IP, 0), 0);
	ck_assert_int_eq(tn_sock_connect(d, 0x7f010203, PORT), -EINPROGRESS);
	settle(h);
	ck_assert_int_eq(tn_sock_state(d), TN_TCP_ESTABLISHED);
	ck_assert_uint_eq(h->nout, 0);
	tn_sock_abort(d);
	tn_sock_close(a);
	tn_sock_close(b);
	tn_sock_close(c);
	settle(h);
	h_free(h);
}
END_TEST

/* A SYN from the link to 127.0.0.1 reaches no listener, even one on 0.0.0.0. */
START_TEST(the_link_cannot_reach_loopback)
{
	struct harness *h = h_new(NULL);
	h_learn_peer(h);
	struct tn_sock *l = listener(h, 0);
	uint8_t syn[20] = {0};
	uint8_t frame[128];
	tn_put16(syn, 40000);
	tn_put16(syn + 2, PORT);
	tn_put32(syn + 4, 1000);
	syn[12] = 5 << 4;
	syn[13] = 0x02;
	tn_put16(syn + 14, 65535);
	uint64_t addr_errors = H_CTR(h, IpInAddrErrors);
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.dst = LO, .proto = 6}, syn, sizeof(syn)));
	h_input(h, frame, h_ipv4(frame, &(struct h_ip_opts){.src = LO, .proto = 6}, syn, sizeof(syn)));
	settle(h);
	ck_assert_uint_eq(H_CTR(h, IpInAddrErrors), addr_errors + 2);
	ck_assert_uint_eq(H_CTR(h, TcpInSegs), 0);
	ck_assert_uint_eq(h->nout, 0);
	tn_sock_close(l);
	h_free(h);
}
END_TEST

/* Beyond the queue's bound (2048 datagrams) a datagram is dropped and counted, as a full backlog. */
START_TEST(a_full_queue_drops_and_counts)
{
	struct harness *h = h_new(NULL);
	uint8_t payload[100] = {0};
	const struct tn_iov iov = {payload, sizeof(payload)};
	for (int i = 0; i < 3000; i++)
		ck_assert_int_eq(tn_ipv4_output(h->stack, 0, LO, 253, 0, &iov, 1, 0), 0);
	ck_assert_uint_eq(H_CTR(h, IpOutDiscards), 3000 - 2048);
	settle(h);
	ck_assert_uint_eq(H_CTR(h, IpInUnknownProtos), 2048); /* all that was queued came in */
	ck_assert_uint_eq(h->nout, 0);
	h_free(h);
}
END_TEST

Suite *loopback_suite(void);
Suite *loopback_suite(void)
{
	Suite *s = suite_create("loopback");
	TCase *tc = tcase_create("loopback");
	tcase_add_test(tc, a_connection_to_127_0_0_1_stays_in_the_host);
	tcase_add_test(tc, a_connection_to_its_own_address_stays_in_the_host);
	tcase_add_test(tc, a_connect_to_0_0_0_0_is_to_this_host);
	tcase_add_test(tc, nobody_listening_is_refused_at_once);
	tcase_add_test(tc, loopback_addresses_are_the_hosts);
	tcase_add_test(tc, the_link_cannot_reach_loopback);
	tcase_add_test(tc, a_full_queue_drops_and_counts);
	suite_add_tcase(s, tc);
	return s;
}
