/*
 * check_trace_events.c - the core's trace events (tn_stack_set_tracer):
 * state changes and TIME-WAIT events come in the order TCP goes through
 * them, with the connection's 4-tuple, driven by crafted segments from the
 * peer (tcp_peer.h) on the fake clock.
 */
#include <check.h>
#include <stdlib.h>

#include "stack/tcp.h"
#include "stack_harness.h"
#include "tcp_peer.h"

#define MS TN_NSEC_PER_MSEC
#define SEC TN_NSEC_PER_SEC
#define MAX_EVENTS 32

struct recorder {
	size_t n;
	struct tn_trace_event ev[MAX_EVENTS];
};

static void record(void *ctx, const struct tn_trace_event *ev)
{
	struct recorder *r = ctx;
	ck_assert_uint_lt(r->n, MAX_EVENTS);
	r->ev[r->n++] = *ev;
}

static void expect_state(const struct recorder *r, size_t i, enum tn_tcp_state from,
			 enum tn_tcp_state to)
{
	ck_assert_uint_gt(r->n, i);
	ck_assert_uint_eq(r->ev[i].type, TN_TRACE_STATE);
	ck_assert_str_eq(tn_tcp_state_name(r->ev[i].from), tn_tcp_state_name(from));
	ck_assert_str_eq(tn_tcp_state_name(r->ev[i].to), tn_tcp_state_name(to));
}

static void expect_tw(const struct recorder *r, size_t i, enum tn_trace_tw ev, uint32_t remaining_ms)
{
	ck_assert_uint_gt(r->n, i);
	ck_assert_uint_eq(r->ev[i].type, TN_TRACE_TIMEWAIT);
	ck_assert_uint_eq(r->ev[i].tw_event, ev);
	ck_assert_uint_eq(r->ev[i].remaining_ms, remaining_ms);
}

/* Every event of the connection is about LPORT <- peer:RPORT. */
static void expect_tuples(const struct recorder *r, size_t from)
{
	for (size_t i = from; i < r->n; i++) {
		ck_assert_uint_eq(r->ev[i].local_addr, H_STACK_IP);
		ck_assert_uint_eq(r->ev[i].local_port, LPORT);
		ck_assert_uint_eq(r->ev[i].remote_addr, H_PEER_IP);
		ck_assert_uint_eq(r->ev[i].remote_port, RPORT);
	}
}

/* A listener on LPORT with the recorder set, the peer's SYN and ACK: the handshake traced. */
static struct conn open_traced(struct recorder *r, const struct tn_config *cfg)
{
	struct conn c = {.h = new_harness_cfg(cfg)};
	tn_stack_set_tracer(c.h->stack, record, r);
	c.l = peer_listener(c.h, 4);
	/* the listener's own change: no peer */
	expect_state(r, 0, TN_TCP_CLOSED, TN_TCP_LISTEN);
	ck_assert_uint_eq(r->ev[0].remote_port, 0);
	r->n = 0;
	struct oseg synack = passive_syn(&c, NULL, 0);
	expect_state(r, 0, TN_TCP_LISTEN, TN_TCP_SYN_RECEIVED);
	ck_assert_uint_eq(r->n, 1);
	passive_ack(&c, &synack);
	expect_state(r, 1, TN_TCP_SYN_RECEIVED, TN_TCP_ESTABLISHED);
	ck_assert_uint_eq(r->n, 2);
	expect_tuples(r, 0);
	return c;
}

/*
 * The owner closes; the peer's FIN with the ACK of ours puts the connection
 * in TIME_WAIT at once. Returns how many events there were by then.
 */
static size_t close_into_time_wait(struct conn *c, const struct recorder *r)
{
	tn_sock_close(c->s);
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv + 1, .flags = TCP_FIN | TCP_ACK});
	h_clear(c->h);
	expect_tw(r, r->n - 1, TN_TRACE_TW_ENTER, c->h->stack->cfg.tcp_time_wait_ms);
	return r->n;
}

START_TEST(active_close_into_time_wait)
{
	struct recorder r = {0};
	struct tn_config cfg;
	peer_config(&cfg);
	cfg.tcp_time_wait_ms = 5000;
	struct conn c = open_traced(&r, &cfg);

	tn_sock_close(c.s);
	h_clear(c.h);
	expect_state(&r, 2, TN_TCP_ESTABLISHED, TN_TCP_FIN_WAIT_1);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_ACK});
	/* an orphan in FIN_WAIT_2 becomes an entry: no CLOSED for the socket that goes */
	expect_state(&r, 3, TN_TCP_FIN_WAIT_1, TN_TCP_FIN_WAIT_2);
	ck_assert_uint_eq(r.n, 4);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_FIN | TCP_ACK});
	ck_assert_uint_eq(last_only(c.h).flags, TCP_ACK);
	expect_state(&r, 4, TN_TCP_FIN_WAIT_2, TN_TCP_TIME_WAIT);
	expect_tw(&r, 5, TN_TRACE_TW_ENTER, 5000);
	ck_assert_uint_eq(r.n, 6);
	h_advance(c.h, 4999 * MS);
	ck_assert_uint_eq(r.n, 6);
	h_advance(c.h, 1 * MS);
	expect_tw(&r, 6, TN_TRACE_TW_EXPIRED, 0);
	ck_assert_uint_eq(r.n, 7);
	expect_tuples(&r, 0);
	close_conn(&c);
}
END_TEST

/* The owner keeps the socket (no orphan): FIN_WAIT_2 and TIME_WAIT the same. */
START_TEST(shutdown_owned_into_time_wait)
{
	struct recorder r = {0};
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_traced(&r, &cfg);

	ck_assert_int_eq(tn_sock_shutdown(c.s, TN_SHUT_WR), 0);
	expect_state(&r, 2, TN_TCP_ESTABLISHED, TN_TCP_FIN_WAIT_1);
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_FIN | TCP_ACK});
	/* FIN and ACK in one segment: straight on, and the socket's CLOSED is no news */
	expect_state(&r, 3, TN_TCP_FIN_WAIT_1, TN_TCP_FIN_WAIT_2);
	expect_state(&r, 4, TN_TCP_FIN_WAIT_2, TN_TCP_TIME_WAIT);
	expect_tw(&r, 5, TN_TRACE_TW_ENTER, 60000);
	ck_assert_uint_eq(r.n, 6);
	expect_tuples(&r, 0);
	tn_sock_close(c.s);
	close_conn(&c);
}
END_TEST

START_TEST(late_fin_in_time_wait)
{
	struct recorder r = {0};
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_traced(&r, &cfg);

	size_t entered = close_into_time_wait(&c, &r);
	h_advance(c.h, 20 * SEC);
	/* our last ACK was lost: the FIN again, ACKed, the timer restarted */
	peer_send(c.h, &(struct pseg){.seq = c.snd, .ack = c.rcv + 1, .flags = TCP_FIN | TCP_ACK});
	ck_assert_uint_eq(last_only(c.h).flags, TCP_ACK);
	h_clear(c.h);
	expect_tw(&r, entered, TN_TRACE_TW_FIN_REACKED, 60000);
	/* a stray ACK later: answered, nothing restarted */
	h_advance(c.h, 10 * SEC);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1, .ack = c.rcv + 1, .flags = TCP_ACK});
	expect_tw(&r, entered + 1, TN_TRACE_TW_ACKED, 50000);
	/* an old SYN (below rcv_nxt), past the ACK rate limit: ACKed, the entry stays */
	h_advance(c.h, 1 * SEC);
	peer_send(c.h, &(struct pseg){.seq = PEER_ISN, .flags = TCP_SYN});
	expect_tw(&r, entered + 2, TN_TRACE_TW_SYN_REFUSED, 49000);
	/* a RST off the exact sequence number is ignored */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 100, .flags = TCP_RST});
	expect_tw(&r, entered + 3, TN_TRACE_TW_RST_IGNORED, 49000);
	/* the exact one ends it */
	peer_send(c.h, &(struct pseg){.seq = c.snd + 1, .flags = TCP_RST});
	expect_tw(&r, entered + 4, TN_TRACE_TW_RST_KILLED, 0);
	ck_assert_uint_eq(r.n, entered + 5);
	ck_assert_uint_eq(tn_timewait_count(c.h->stack), 0);
	expect_tuples(&r, 0);
	close_conn(&c);
}
END_TEST

START_TEST(new_syn_recycles_time_wait)
{
	struct recorder r = {0};
	struct tn_config cfg;
	peer_config(&cfg);
	struct conn c = open_traced(&r, &cfg);

	size_t entered = close_into_time_wait(&c, &r);
	peer_send(c.h, &(struct pseg){.seq = c.snd + 100000, .flags = TCP_SYN});
	expect_tw(&r, entered, TN_TRACE_TW_RECYCLED, 0);
	expect_state(&r, entered + 1, TN_TCP_LISTEN, TN_TCP_SYN_RECEIVED);
	ck_assert_uint_eq(r.n, entered + 2);
	expect_tuples(&r, 0);
	close_conn(&c);
}
END_TEST

/* A half-open connection that never completes: SYN-RECV, then CLOSED when the SYN-ACKs give up. */
START_TEST(half_open_gives_up)
{
	struct recorder r = {0};
	struct tn_config cfg;
	peer_config(&cfg);
	struct harness *h = new_harness_cfg(&cfg);
	tn_stack_set_tracer(h->stack, record, &r);
	peer_listener(h, 4);
	r.n = 0;
	peer_send(h, &(struct pseg){.seq = PEER_ISN, .flags = TCP_SYN});
	expect_state(&r, 0, TN_TCP_LISTEN, TN_TCP_SYN_RECEIVED);
	h_advance(h, 600 * SEC);
	expect_state(&r, 1, TN_TCP_SYN_RECEIVED, TN_TCP_CLOSED);
	ck_assert_uint_eq(r.n, 2);
	expect_tuples(&r, 0);
	h_free(h);
}
END_TEST

Suite *trace_events_suite(void);
Suite *trace_events_suite(void)
{
	Suite *s = suite_create("trace_events");
	TCase *tc = tcase_create("events");
	tcase_add_test(tc, active_close_into_time_wait);
	tcase_add_test(tc, shutdown_owned_into_time_wait);
	tcase_add_test(tc, late_fin_in_time_wait);
	tcase_add_test(tc, new_syn_recycles_time_wait);
	tcase_add_test(tc, half_open_gives_up);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(trace_events_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
