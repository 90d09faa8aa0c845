/*
 * check_sockets.c - the accounting of tapnetd's client sockets
 * (src/daemon/sockets*.c) against a real core and a real event loop:
 * limits are per user (uid), not per control connection; sockets stay
 * counted after their connection closed, until they are gone; connection
 * buffers are charged to their user through the core's charge hook and
 * given back when the core frees them. And the pump between a pair and
 * its connection, against a peer played by tcp_peer.c: where an option
 * sent without waiting applies in the byte stream, and how many reads of
 * the pair that costs.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "daemon/closer.h"
#include "daemon/control.h"
#include "daemon/daemon.h"
#include "daemon/sockets.h"
#include "daemon/sockets_internal.h"
#include "rpc/rpc.h"
#include "tcp_peer.h"

/* loop.c's, which the test does not link: the stack's timer is not needed here */
void daemon_rearm_timer(struct tapnetd *d)
{
	(void)d;
}

/*
 * control.c's, which the test does not link: a reset watcher for every
 * process while watcher_present, the notices noted.
 */
static bool watcher_present;
static unsigned notices;
static uint64_t notice_cookie;
bool control_reset_notice(struct control *ctl, pid_t pid, uid_t uid, uint64_t cookie)
{
	(void)ctl;
	(void)pid;
	(void)uid;
	if (!watcher_present)
		return false;
	notices++;
	notice_cookie = cookie;
	return true;
}

static struct tapnetd *d;
static struct sockets *ss;
static uint64_t now_ns = 1000000000ull;

static uint64_t fake_now(void *ctx)
{
	(void)ctx;
	return now_ns;
}

/* Moves the clock on by seconds, running the core's timers a second at a time. */
static void advance(unsigned seconds)
{
	for (unsigned i = 0; i < seconds; i++) {
		now_ns += 1000000000ull;
		tn_stack_run_timers(d->stack, now_ns);
	}
}

static void fake_random(void *ctx, void *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0x5a, len);
}

static void no_output(void *ctx, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	(void)ctx, (void)meta, (void)frame, (void)len;
}

static uint8_t reply_buf[TN_RPC_MAX_MSG];

static void setup(void)
{
	static const struct tn_env env = { .now_ns = fake_now, .random = fake_random,
					   .output = no_output };
	d = calloc(1, sizeof(*d));
	ck_assert_ptr_nonnull(d);
	d->loop = ev_loop_new(EVFLAG_AUTO);
	tn_config_defaults(&d->cfg.core);
	d->cfg.core.addr = 0x0a000002u;
	d->cfg.core.prefix_len = 24;
	d->cfg.core.tcp_rcvbuf = d->cfg.core.tcp_sndbuf = 32768;
	d->cfg.max_sockets = 100;
	d->cfg.max_sockets_per_client = 2;
	d->cfg.max_clients_per_user = 2;
	d->cfg.max_buffer_bytes = 4 * 65536;
	d->cfg.max_buffer_bytes_per_client = 65536; /* one connection */
	d->stack = tn_stack_new(&d->cfg.core, &env);
	ck_assert_ptr_nonnull(d->stack);
	ss = sockets_new(d);
	ck_assert_ptr_nonnull(ss);
}

static void teardown(void)
{
	sockets_free(ss);
	tn_stack_free(d->stack);
	ev_loop_destroy(d->loop);
	free(d);
}

static struct sockets_owner owner_of(uid_t uid, unsigned serial)
{
	struct sockets_owner o = { .cred = { .pid = 1, .uid = uid, .gid = uid }, .serial = serial,
				   .ctl_fd = -1 };
	return o;
}

/* A request of type with fd (or -1); its reply's fd in *fd_out if asked. Returns the handler's rc. */
static int request(struct sockets_owner *o, uint16_t type, int fd, uint32_t addr, uint32_t port,
		   int *fd_out)
{
	uint8_t msg[256];
	struct tn_rpc_writer w, reply;
	tn_rpc_begin(&w, msg, sizeof(msg), type, 1);
	if (type == TN_RPC_CONNECT || type == TN_RPC_BIND) {
		tn_rpc_put_u32(&w, TN_ATTR_ADDR, addr);
		tn_rpc_put_u32(&w, TN_ATTR_PORT, port);
	}
	if (type == TN_RPC_LISTEN)
		tn_rpc_put_u32(&w, TN_ATTR_BACKLOG, 16);
	long len = tn_rpc_end(&w);
	ck_assert_int_gt(len, 0);
	tn_rpc_begin(&reply, reply_buf, sizeof(reply_buf), type | TN_RPC_REPLY, 1);
	int fds[1] = { fd >= 0 ? dup(fd) : -1 };
	int out = -1;
	int rc = sockets_request(ss, o, type, msg, (size_t)len, fds, fd >= 0 ? 1 : 0, &reply, &out);
	if (fds[0] >= 0)
		close(fds[0]);
	if (fd_out)
		*fd_out = out;
	else if (out >= 0)
		close(out);
	return rc;
}

/* setsockopt (type SETSOCKOPT or SETSOCKOPT_NOWAIT) on the socket of fd: the handler's rc */
static int setopt_type(struct sockets_owner *o, uint16_t type, int fd, int level, int name,
		       const void *val, size_t len)
{
	uint8_t msg[512];
	struct tn_rpc_writer w, reply;
	tn_rpc_begin(&w, msg, sizeof(msg), type, 1);
	if (type == TN_RPC_SETSOCKOPT_NOWAIT) {
		uint64_t cookie;
		socklen_t clen = sizeof(cookie);
		ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &clen), 0);
		tn_rpc_put_u64(&w, TN_ATTR_COOKIE, cookie);
	}
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, (uint32_t)level);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, (uint32_t)name);
	tn_rpc_put_bytes(&w, TN_ATTR_OPTVAL, val, len);
	long n = tn_rpc_end(&w);
	tn_rpc_begin(&reply, reply_buf, sizeof(reply_buf), type | TN_RPC_REPLY, 1);
	int out = -1;
	if (type == TN_RPC_SETSOCKOPT_NOWAIT) { /* named by cookie, no fd */
		ck_assert_int_eq(sockets_request(ss, o, type, msg, (size_t)n, NULL, 1, &reply, &out),
				 -EINVAL);
		int rc = sockets_request(ss, o, type, msg, (size_t)n, NULL, 0, &reply, &out);
		ck_assert_uint_eq(tn_rpc_end(&reply), TN_RPC_HDR_LEN); /* nothing to say back */
		return rc;
	}
	int fds[1] = { dup(fd) };
	int rc = sockets_request(ss, o, type, msg, (size_t)n, fds, 1, &reply, &out);
	if (fds[0] >= 0)
		close(fds[0]);
	return rc;
}

static int setopt(struct sockets_owner *o, int fd, int level, int name, const void *val, size_t len)
{
	return setopt_type(o, TN_RPC_SETSOCKOPT, fd, level, name, val, len);
}

/* getsockopt on the socket of fd into val (len bytes expected): the handler's rc */
static int getopt_(struct sockets_owner *o, int fd, int level, int name, void *val, size_t len)
{
	uint8_t msg[512];
	struct tn_rpc_writer w, reply;
	tn_rpc_begin(&w, msg, sizeof(msg), TN_RPC_GETSOCKOPT, 1);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, (uint32_t)level);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, (uint32_t)name);
	tn_rpc_put_u32(&w, TN_ATTR_OPTLEN, (uint32_t)len);
	long n = tn_rpc_end(&w);
	tn_rpc_begin(&reply, reply_buf, sizeof(reply_buf), TN_RPC_GETSOCKOPT | TN_RPC_REPLY, 1);
	int fds[1] = { dup(fd) }, out = -1;
	int rc = sockets_request(ss, o, TN_RPC_GETSOCKOPT, msg, (size_t)n, fds, 1, &reply, &out);
	if (fds[0] >= 0)
		close(fds[0]);
	if (rc < 0)
		return rc;
	long rlen = tn_rpc_end(&reply);
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	tn_rpc_iter_msg(&it, reply_buf, (size_t)rlen);
	while (tn_rpc_next(&it, &a))
		if (a.type == TN_ATTR_OPTVAL) {
			ck_assert_uint_eq(a.len, len);
			memcpy(val, a.value, len);
			return 0;
		}
	return -ENODATA;
}

/* Lets the loop see what happened to the pairs (hang-ups). */
static void run_loop(void)
{
	for (int i = 0; i < 10; i++)
		ev_run(d->loop, EVRUN_NOWAIT);
}

/* The closer's threads close what was handed over once the loop flushes it, all of it. */
START_TEST(closer_closes_on_flush)
{
	enum { N = 20 };
	int rd[N];
	for (int i = 0; i < N; i++) {
		int p[2];
		ck_assert_int_eq(pipe(p), 0);
		rd[i] = p[0];
		closer_close(p[1]);
	}
	closer_close(-1); /* ignored */
	ck_assert_uint_ge(closer_busy(), N); /* queued: no thread was woken for them yet */
	closer_flush();
	for (int i = 0; i < N; i++) {
		struct pollfd pfd = { .fd = rd[i], .events = POLLIN };
		ck_assert_int_eq(poll(&pfd, 1, 10000), 1); /* the write end is gone: EOF */
		char c;
		ck_assert_int_eq(read(rd[i], &c, 1), 0);
		close(rd[i]);
	}
	for (int i = 0; i < 1000 && closer_busy() > 0; i++)
		usleep(1000);
	ck_assert_uint_eq(closer_busy(), 0);
	ck_assert_uint_ge(closer_threads(), 1);
	ck_assert_uint_le(closer_threads(), 8);
}
END_TEST

START_TEST(connections_per_user)
{
	struct sockets_owner a1 = owner_of(1000, 1), a2 = owner_of(1000, 2), a3 = owner_of(1000, 3);
	struct sockets_owner b1 = owner_of(1001, 4);

	ck_assert_int_eq(sockets_owner_attach(ss, &a1), 0);
	ck_assert_int_eq(sockets_owner_attach(ss, &a2), 0);
	ck_assert_int_eq(sockets_owner_attach(ss, &a3), -EMFILE);
	ck_assert_int_eq(sockets_owner_attach(ss, &b1), 0);
	sockets_owner_gone(ss, &a2);
	ck_assert_int_eq(sockets_owner_attach(ss, &a3), 0); /* the slot is free again */
	sockets_owner_gone(ss, &a1);
	sockets_owner_gone(ss, &a3);
	sockets_owner_gone(ss, &b1);
}
END_TEST

START_TEST(sockets_per_user_outlive_the_connection)
{
	struct sockets_owner a1 = owner_of(1000, 1), a2 = owner_of(1000, 2), b1 = owner_of(1001, 3);
	int s1, s2, s3;

	ck_assert_int_eq(sockets_owner_attach(ss, &a1), 0);
	ck_assert_int_eq(sockets_owner_attach(ss, &b1), 0);
	ck_assert_int_eq(request(&a1, TN_RPC_SOCKET, -1, 0, 0, &s1), 0);
	ck_assert_int_eq(request(&a1, TN_RPC_SOCKET, -1, 0, 0, &s2), 0);
	ck_assert_int_ge(s1, 0);
	ck_assert_int_ge(s2, 0);
	ck_assert_int_eq(request(&a1, TN_RPC_SOCKET, -1, 0, 0, NULL), -EMFILE);
	ck_assert_int_eq(request(&b1, TN_RPC_SOCKET, -1, 0, 0, &s3), 0); /* another user */
	ck_assert_uint_eq(sockets_count(ss), 3);

	/* a1 reconnects as a2: its sockets still count */
	sockets_owner_gone(ss, &a1);
	ck_assert_int_eq(sockets_owner_attach(ss, &a2), 0);
	ck_assert_int_eq(request(&a2, TN_RPC_SOCKET, -1, 0, 0, NULL), -EMFILE);
	/* until one is gone */
	close(s1);
	run_loop();
	ck_assert_uint_eq(sockets_count(ss), 2);
	int s4;
	ck_assert_int_eq(request(&a2, TN_RPC_SOCKET, -1, 0, 0, &s4), 0);
	close(s2);
	close(s3);
	close(s4);
	run_loop();
	ck_assert_uint_eq(sockets_count(ss), 0);
	sockets_owner_gone(ss, &a2);
	sockets_owner_gone(ss, &b1);
}
END_TEST

START_TEST(buffers_charged_to_the_user_until_freed)
{
	struct sockets_owner a1 = owner_of(1000, 1), b1 = owner_of(1001, 2);
	int s1, s2, s3;

	ck_assert_int_eq(sockets_owner_attach(ss, &a1), 0);
	ck_assert_int_eq(sockets_owner_attach(ss, &b1), 0);
	ck_assert_int_eq(request(&a1, TN_RPC_SOCKET, -1, 0, 0, &s1), 0);
	ck_assert_int_eq(request(&a1, TN_RPC_SOCKET, -1, 0, 0, &s2), 0);
	ck_assert_int_eq(request(&b1, TN_RPC_SOCKET, -1, 0, 0, &s3), 0);
	ck_assert_uint_eq(sockets_buffer_bytes(ss), 0); /* no connection yet */
	ck_assert_int_eq(request(&a1, TN_RPC_CONNECT, s1, 0x0a000001u, 80, NULL), 0);
	ck_assert_uint_eq(sockets_buffer_bytes(ss), 65536);
	ck_assert_uint_eq(a1.acct->buf_bytes, 65536);
	/* the user's limit, not the connection's: a second one is refused */
	ck_assert_int_eq(request(&a1, TN_RPC_CONNECT, s2, 0x0a000001u, 80, NULL), -ENOBUFS);
	ck_assert_uint_eq(d->counters[DCTR_SockBufferRefusals], 1);
	/* another user has its own */
	ck_assert_int_eq(request(&b1, TN_RPC_CONNECT, s3, 0x0a000001u, 80, NULL), 0);
	ck_assert_uint_eq(sockets_buffer_bytes(ss), 2 * 65536);
	/* closed, it is still the user's while the core holds it (its SYNs go on) */
	close(s1);
	run_loop();
	ck_assert_uint_eq(a1.acct->buf_bytes, 65536);
	ck_assert_int_eq(request(&a1, TN_RPC_CONNECT, s2, 0x0a000001u, 80, NULL), -ENOBUFS);
	/* given back once the core gave up on it and freed it (no peer answers either SYN) */
	advance(600);
	run_loop();
	ck_assert_uint_eq(sockets_count(ss), 1);
	ck_assert_uint_eq(a1.acct->buf_bytes, 0);
	ck_assert_uint_eq(sockets_buffer_bytes(ss), 0);
	ck_assert_int_eq(request(&a1, TN_RPC_CONNECT, s2, 0x0a000001u, 80, NULL), 0);
	ck_assert_uint_eq(a1.acct->buf_bytes, 65536);
	close(s2);
	close(s3);
	advance(600);
	run_loop();
	ck_assert_uint_eq(sockets_buffer_bytes(ss), 0);
	ck_assert_uint_eq(sockets_count(ss), 0);
	sockets_owner_gone(ss, &a1);
	sockets_owner_gone(ss, &b1);
}
END_TEST

/* What setsockopt set, getsockopt reads back, from the core (one owner of the options). */
START_TEST(options_read_back)
{
	struct sockets_owner a1 = owner_of(1000, 1);
	int fd, v;
	struct linger l = { 1, 7 }, got;

	ck_assert_int_eq(sockets_owner_attach(ss, &a1), 0);
	ck_assert_int_eq(request(&a1, TN_RPC_SOCKET, -1, 0, 0, &fd), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, (int)d->cfg.core.tcp_keepalive_time_s);
	ck_assert_int_eq(getopt_(&a1, fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 32768);
	v = 1;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	ck_assert_int_eq(setopt(&a1, fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)), 0);
	ck_assert_int_eq(setopt(&a1, fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), 0);
	ck_assert_int_eq(setopt(&a1, fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)), 0);
	v = 42;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)), 0);
	v = 10000;
	ck_assert_int_eq(setopt(&a1, fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(getopt_(&a1, fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(getopt_(&a1, fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(getopt_(&a1, fd, SOL_SOCKET, SO_REUSEPORT, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(getopt_(&a1, fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 20000); /* doubled, as Linux */
	ck_assert_int_eq(getopt_(&a1, fd, SOL_SOCKET, SO_LINGER, &got, sizeof(got)), 0);
	ck_assert_int_eq(got.l_onoff, 1);
	ck_assert_int_eq(got.l_linger, 7);
	/* TCP_USER_TIMEOUT: kept and read back; negative is EINVAL, as on Linux */
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 0);
	v = 30000;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v)), 0);
	v = -1;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v)), -EINVAL);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 30000);
	/* TCP_CONGESTION: a name, up to a NUL; one tapnet has not is ENOENT */
	char cc[16];
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_TCP, TCP_CONGESTION, "reno", 4), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_CONGESTION, cc, sizeof(cc)), 0);
	ck_assert_str_eq(cc, "reno");
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_TCP, TCP_CONGESTION, "bbr", 3), -ENOENT);
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_TCP, TCP_CONGESTION, "cubic\0junk", 10), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_CONGESTION, cc, sizeof(cc)), 0);
	ck_assert_str_eq(cc, "cubic");
	/* IP_TOS without its ECN bits; IP_TTL 1..255, -1 the default again */
	v = 0x2b;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_IP, IP_TOS, &v, sizeof(v)), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_IP, IP_TOS, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 0x28);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, d->cfg.core.ip_default_ttl);
	v = 7;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 7);
	v = 0;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)), -EINVAL);
	v = 256;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)), -EINVAL);
	v = -1;
	ck_assert_int_eq(setopt(&a1, fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_IP, IP_TTL, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, d->cfg.core.ip_default_ttl);
	close(fd);
	run_loop();
	sockets_owner_gone(ss, &a1);
}
END_TEST

/*
 * Options sent without a reply: applied (getsockopt reads them back, TCP_CORK
 * included); one that fails is counted, not lost; a value longer than any
 * such option is refused.
 */
START_TEST(options_without_reply)
{
	struct sockets_owner a1 = owner_of(1000, 1);
	int fd, v = 1;
	uint8_t big[16] = { 0 };

	ck_assert_int_eq(sockets_owner_attach(ss, &a1), 0);
	ck_assert_int_eq(request(&a1, TN_RPC_SOCKET, -1, 0, 0, &fd), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 0);
	v = 1;
	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, fd, IPPROTO_TCP, TCP_CORK, &v,
				     sizeof(v)), 0);
	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, fd, IPPROTO_TCP, TCP_NODELAY,
				     &v, sizeof(v)), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 1);
	ck_assert_uint_eq(d->counters[DCTR_SockOptNowaitErrors], 0);
	/* an option tapnet does not have: nobody waits for the error, the counter says it */
	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, fd, IPPROTO_TCP, 9999, &v,
				     sizeof(v)), 0);
	ck_assert_uint_eq(d->counters[DCTR_SockOptNowaitErrors], 1);
	/* a short value, as Linux refuses it */
	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, fd, IPPROTO_TCP, TCP_NODELAY,
				     &v, 2), 0);
	ck_assert_uint_eq(d->counters[DCTR_SockOptNowaitErrors], 2);
	/* longer than any option sent without a reply: the request itself is bad */
	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, fd, IPPROTO_TCP, TCP_NODELAY,
				     big, sizeof(big)), -EINVAL);
	/* another user cannot name it by its cookie */
	struct sockets_owner b1 = owner_of(1001, 2);
	ck_assert_int_eq(sockets_owner_attach(ss, &b1), 0);
	v = 0;
	ck_assert_int_eq(setopt_type(&b1, TN_RPC_SETSOCKOPT_NOWAIT, fd, IPPROTO_TCP, TCP_CORK, &v,
				     sizeof(v)), -ENOTSOCK);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 1);
	sockets_owner_gone(ss, &b1);
	v = 0;
	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, fd, IPPROTO_TCP, TCP_CORK, &v,
				     sizeof(v)), 0);
	ck_assert_int_eq(getopt_(&a1, fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 0);
	close(fd);
	run_loop();
	sockets_owner_gone(ss, &a1);
}
END_TEST

/* ------------------------------------------------------------------ the pump, with a peer */

static struct harness *h;

static void setup_peer(void)
{
	d = calloc(1, sizeof(*d));
	ck_assert_ptr_nonnull(d);
	d->loop = ev_loop_new(EVFLAG_AUTO);
	peer_config(&d->cfg.core);
	d->cfg.max_sockets = 100;
	d->cfg.max_sockets_per_client = 100;
	d->cfg.max_clients_per_user = 2;
	d->cfg.max_buffer_bytes = d->cfg.max_buffer_bytes_per_client = 64u << 20;
	h = new_harness_cfg(&d->cfg.core);
	d->stack = h->stack;
	ss = sockets_new(d);
	ck_assert_ptr_nonnull(ss);
}

static void teardown_peer(void)
{
	sockets_free(ss);
	h_free(h);
	ev_loop_destroy(d->loop);
	free(d);
}

/*
 * The peer's handshake from rport to the listener whose B is listener_b,
 * and the accepted connection's B as the client gets it; c gets the
 * peer's sequence numbers.
 */
static int accept_from_port(int listener_b, uint16_t rport, struct conn *c)
{
	*c = (struct conn){ .h = h };
	peer_send(h, &(struct pseg){ .seq = PEER_ISN, .flags = TCP_SYN, .sport = rport });
	struct oseg synack = last_only(h);
	ck_assert_uint_eq(synack.flags, TCP_SYN | TCP_ACK);
	c->iss = synack.seq;
	c->snd = PEER_ISN + 1;
	c->rcv = c->iss + 1;
	h_clear(h);
	peer_send(h, &(struct pseg){ .seq = c->snd, .ack = c->rcv, .flags = TCP_ACK,
				    .sport = rport });
	run_loop();
	struct tn_accept_rec rec;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct iovec iov = { &rec, sizeof(rec) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf) };
	ck_assert_int_eq(recvmsg(listener_b, &msg, MSG_DONTWAIT), sizeof(rec));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ck_assert_ptr_nonnull(cm);
	ck_assert_int_eq(cm->cmsg_type, SCM_RIGHTS);
	int b;
	memcpy(&b, CMSG_DATA(cm), sizeof(b));
	ck_assert_uint_eq(ntohs(rec.peer_port), rport);
	return b;
}

/* The pump tests' client: uid 1000, allowed to bind LPORT (below 1024), attached. */
static struct sockets_owner pump_owner(void)
{
	struct sockets_owner o = owner_of(1000, 1);

	o.may_bind_low = true;
	ck_assert_int_eq(sockets_owner_attach(ss, &o), 0);
	return o;
}

/* The end of a pump test: its listener's B closed, the loop run, the client gone. */
static void pump_done(struct sockets_owner *o, int listener_b)
{
	close(listener_b);
	run_loop();
	sockets_owner_gone(ss, o);
}

/* A listener on LPORT through the requests, and accept_from_port(RPORT). */
static int accepted_b(struct sockets_owner *o, struct conn *c, int *listener_b)
{
	ck_assert_int_eq(request(o, TN_RPC_SOCKET, -1, 0, 0, listener_b), 0);
	ck_assert_int_eq(request(o, TN_RPC_BIND, *listener_b, 0, LPORT, NULL), 0);
	ck_assert_int_eq(request(o, TN_RPC_LISTEN, *listener_b, 0, 0, NULL), 0);
	return accept_from_port(*listener_b, RPORT, c);
}

/* The flags of the segments sent since the last h_clear(), ORed. */
static uint8_t sent_flags(void)
{
	uint8_t flags = 0;
	for (size_t i = 0; i < h->nout; i++) {
		struct oseg o;
		if (out_seg(h, i, &o))
			flags |= o.flags;
	}
	return flags;
}

/* The data segments the stack sent since the last h_clear(): their lengths summed, *n of them. */
static uint32_t sent_data(size_t *n)
{
	uint32_t bytes = 0;
	*n = 0;
	for (size_t i = 0; i < h->nout; i++) {
		struct oseg o;
		if (out_seg(h, i, &o) && o.len) {
			bytes += o.len;
			++*n;
		}
	}
	return bytes;
}

/*
 * nginx's response: TCP_CORK on, two writes, TCP_CORK off, each option
 * sent without waiting. The two writes leave as one segment when the
 * cork comes off, and A is read once: no read finds it empty, because
 * the request that uncorks measured where A ended. What the client
 * writes after that is read at the loop's next wakeup.
 */
START_TEST(corked_writes_leave_together_with_one_read)
{
	struct sockets_owner a1 = pump_owner();
	struct conn c;
	int lb, on = 1, off = 0;
	char head[100], body[200], more[50];

	memset(head, 'h', sizeof(head));
	memset(body, 'b', sizeof(body));
	memset(more, 'm', sizeof(more));
	int b = accepted_b(&a1, &c, &lb);
	h_clear(h);
	uint64_t reads0 = d->counters[DCTR_SockPairReads];
	uint64_t empty0 = d->counters[DCTR_SockPairEmptyReads];

	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, b, IPPROTO_TCP, TCP_CORK, &on,
				     sizeof(on)), 0);
	ck_assert_int_eq(write(b, head, sizeof(head)), sizeof(head));
	ck_assert_int_eq(write(b, body, sizeof(body)), sizeof(body));
	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, b, IPPROTO_TCP, TCP_CORK, &off,
				     sizeof(off)), 0);
	size_t n;
	ck_assert_uint_eq(sent_data(&n), sizeof(head) + sizeof(body));
	ck_assert_uint_eq(n, 1);
	run_loop(); /* the EV_READ of the two writes finds them taken */
	ck_assert_uint_eq(d->counters[DCTR_SockPairReads] - reads0, 1);
	ck_assert_uint_eq(d->counters[DCTR_SockPairEmptyReads] - empty0, 0);
	ck_assert_uint_eq(d->counters[DCTR_SockOptNowaitErrors], 0);

	/* acknowledged, so that Nagle lets the next small write go at once */
	peer_send(h, &(struct pseg){ .seq = c.snd, .ack = c.rcv + sizeof(head) + sizeof(body),
				    .flags = TCP_ACK });
	h_clear(h);
	ck_assert_int_eq(write(b, more, sizeof(more)), sizeof(more));
	run_loop();
	ck_assert_uint_eq(sent_data(&n), sizeof(more));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(d->counters[DCTR_SockPairReads] - reads0, 2);

	close(b);
	pump_done(&a1, lb);
}
END_TEST

/* TCP_CORK on (1) or off (0) on B's socket, sent without waiting. */
static void cork_nowait(struct sockets_owner *o, int b, int on)
{
	ck_assert_int_eq(setopt_type(o, TN_RPC_SETSOCKOPT_NOWAIT, b, IPPROTO_TCP, TCP_CORK, &on,
				     sizeof(on)), 0);
}

/* Writes len bytes to B and lets the loop take them: corked, the core holds them. */
static void write_held_by_cork(int b, const void *buf, size_t len)
{
	size_t n;

	ck_assert_int_eq(write(b, buf, len), (ssize_t)len);
	run_loop();
	ck_assert_uint_eq(sent_data(&n), 0);
}

/*
 * An uncork (a pushing option: no SIOCOUTQ in the client, no FIONREAD
 * here) waits for the bytes written before it that are still in A: the
 * core holds the first write, corked, and A the second when the request
 * is read. Applied at once, it would send the first apart from the
 * second; applied when the pump finds A empty, both leave as one segment.
 */
START_TEST(an_uncork_takes_the_bytes_still_in_a_first)
{
	struct sockets_owner a1 = pump_owner();
	struct conn c;
	int lb;
	char first[100], second[200];

	memset(first, 'f', sizeof(first));
	memset(second, 's', sizeof(second));
	int b = accepted_b(&a1, &c, &lb);
	cork_nowait(&a1, b, 1);
	h_clear(h);
	write_held_by_cork(b, first, sizeof(first));
	ck_assert_int_eq(write(b, second, sizeof(second)), sizeof(second));
	cork_nowait(&a1, b, 0);
	size_t n;
	ck_assert_uint_eq(sent_data(&n), sizeof(first) + sizeof(second));
	ck_assert_uint_eq(n, 1);
	int v = -1;
	ck_assert_int_eq(getopt_(&a1, b, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_uint_eq(d->counters[DCTR_SockOptNowaitErrors], 0);

	close(b);
	pump_done(&a1, lb);
}
END_TEST

/*
 * The same uncork while the control connection holds a request not read
 * yet: the pump does not read A then (that request may be an option the
 * bytes in A come after). An empty A would wake nobody, so the uncork,
 * waiting for A to be found empty, asks whether it is: the corked bytes
 * leave at once, not at the client's next write.
 */
START_TEST(an_uncork_behind_an_unread_request_does_not_wait_for_a_write)
{
	struct sockets_owner a1 = pump_owner();
	struct conn c;
	int lb, ctl[2];
	char data[100];

	memset(data, 'd', sizeof(data));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, ctl), 0);
	a1.ctl_fd = ctl[0];
	int b = accepted_b(&a1, &c, &lb);
	cork_nowait(&a1, b, 1);
	h_clear(h);
	write_held_by_cork(b, data, sizeof(data));
	ck_assert_int_eq(write(ctl[1], "r", 1), 1); /* a request the daemon has not read */
	cork_nowait(&a1, b, 0);
	size_t n;
	ck_assert_uint_eq(sent_data(&n), sizeof(data));
	ck_assert_uint_eq(n, 1);

	close(b);
	pump_done(&a1, lb);
	close(ctl[0]);
	close(ctl[1]);
}
END_TEST

/* A request read from a control connection in the loop, as control.c does (EV_MAXPRI). */
struct uncork_later {
	ev_io io;
	struct sockets_owner *owner;
	int b;
};

static void uncork_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct uncork_later *u = (struct uncork_later *)w;
	int off = 0;
	char byte;

	(void)revents;
	ck_assert_int_eq(read(w->fd, &byte, 1), 1);
	ev_io_stop(loop, w);
	ck_assert_int_eq(setopt_type(u->owner, TN_RPC_SETSOCKOPT_NOWAIT, u->b, IPPROTO_TCP,
				     TCP_CORK, &off, sizeof(off)), 0);
}

/*
 * The uncorking request comes in the same epoll_wait batch as A's
 * EV_READ for the bytes before it, and goes first (control connections
 * have the highest priority): it takes those bytes, and the EV_READ
 * that follows is stale. It costs no read.
 */
START_TEST(an_answered_ev_read_costs_no_read)
{
	struct sockets_owner a1 = pump_owner();
	struct conn c;
	int lb, on = 1, p[2];
	char data[300];

	memset(data, 'd', sizeof(data));
	int b = accepted_b(&a1, &c, &lb);
	h_clear(h);
	ck_assert_int_eq(pipe(p), 0);
	struct uncork_later u = { .owner = &a1, .b = b };
	ev_io_init(&u.io, uncork_cb, p[0], EV_READ);
	ev_set_priority(&u.io, EV_MAXPRI);
	ev_io_start(d->loop, &u.io);
	uint64_t reads0 = d->counters[DCTR_SockPairReads];
	uint64_t empty0 = d->counters[DCTR_SockPairEmptyReads];

	ck_assert_int_eq(setopt_type(&a1, TN_RPC_SETSOCKOPT_NOWAIT, b, IPPROTO_TCP, TCP_CORK, &on,
				     sizeof(on)), 0);
	ck_assert_int_eq(write(b, data, sizeof(data)), sizeof(data));
	ck_assert_int_eq(write(p[1], "u", 1), 1);
	ev_run(d->loop, EVRUN_NOWAIT); /* one epoll_wait: the pipe and A */
	size_t n;
	ck_assert_uint_eq(sent_data(&n), sizeof(data));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(d->counters[DCTR_SockPairReads] - reads0, 1);
	ck_assert_uint_eq(d->counters[DCTR_SockPairEmptyReads] - empty0, 0);
	run_loop();
	ck_assert_uint_eq(d->counters[DCTR_SockPairEmptyReads] - empty0, 0);

	close(p[0]);
	close(p[1]);
	close(b);
	pump_done(&a1, lb);
}
END_TEST

/*
 * The client's close of B is heard once (the hang-up registration is
 * one-shot) and ends the connection with a FIN. A connection that ends
 * first (the peer's RST) leaves no registration naming it: the client's
 * later close is heard by nobody (under ASan, a freed socket named by an
 * event would show).
 */
START_TEST(hang_ups_heard_once_and_not_after_the_end)
{
	struct sockets_owner a1 = pump_owner();
	struct conn c1, c2;
	int lb;

	int b1 = accepted_b(&a1, &c1, &lb);
	int b2 = accept_from_port(lb, RPORT + 1, &c2);
	ck_assert_uint_eq(d->counters[DCTR_SockOpen], 3);
	h_clear(h);

	close(b1);
	run_loop();
	ck_assert(sent_flags() & TCP_FIN);
	ck_assert_uint_eq(d->counters[DCTR_SockOpen], 2); /* the core finishes the first alone */
	h_clear(h);

	peer_send(h, &(struct pseg){ .seq = c2.snd, .flags = TCP_RST, .sport = RPORT + 1 });
	run_loop();
	ck_assert_uint_eq(d->counters[DCTR_SockOpen], 1); /* the listener */
	close(b2);
	run_loop();
	ck_assert_uint_eq(h->nout, 0);

	pump_done(&a1, lb);
}
END_TEST

/*
 * A large segment goes to A as it comes, behind the bytes of a small one
 * still in the ring (the pump passes those on only after the batch): one
 * send of both, in order, none of it copied into the ring first.
 */
START_TEST(a_large_segment_goes_to_a_behind_the_rings_bytes)
{
	struct sockets_owner a1 = pump_owner();
	struct conn c;
	int lb;
	static uint8_t data[20100], got[sizeof(data) + 1];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	int b = accepted_b(&a1, &c, &lb);
	uint64_t deliveries0 = d->counters[DCTR_SockPairDeliveries];

	peer_send(h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = data,
				    .len = 100, .sport = RPORT });
	ck_assert_int_eq(recv(b, got, sizeof(got), MSG_DONTWAIT), -1); /* in the ring, for the pump */
	peer_send(h, &(struct pseg){ .seq = c.snd + 100, .ack = c.rcv, .flags = TCP_ACK,
				    .data = data + 100, .len = sizeof(data) - 100, .sport = RPORT });
	ck_assert_uint_eq(d->counters[DCTR_SockPairDeliveries] - deliveries0, 1);
	size_t n = 0;
	for (ssize_t r; n < sizeof(got) && (r = recv(b, got + n, sizeof(got) - n, MSG_DONTWAIT)) > 0;)
		n += (size_t)r;
	ck_assert_uint_eq(n, sizeof(data));
	ck_assert_int_eq(memcmp(got, data, sizeof(data)), 0);

	close(b);
	pump_done(&a1, lb);
}
END_TEST


/*
 * A, the pair's end that takes the peer's bytes for the program, is left
 * with the send buffer socketpair() gives it (no system call for it per
 * connection) until the connection's receive buffer asks for more; then it
 * is set as a_sndbuf_follow says (a quarter of that buffer, which the
 * kernel doubles, up to net.core.wmem_max), as any socket of ours would be.
 */
START_TEST(a_keeps_its_first_send_buffer_until_the_window_asks_more)
{
	struct sockets_owner a1 = pump_owner();
	struct conn c;
	int lb, fresh[2], first = 0, now = 0, expected = 0;
	socklen_t len = sizeof(int);
	static uint8_t data[DELIVER_MIN + 100];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fresh), 0);
	ck_assert_int_eq(getsockopt(fresh[0], SOL_SOCKET, SO_SNDBUF, &first, &len), 0);
	int b = accepted_b(&a1, &c, &lb);
	uint64_t cookie;
	ck_assert_int_eq(socket_cookie(b, &cookie), 0);
	struct tsock *t = find_sock(ss, cookie);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(getsockopt(t->own_end, SOL_SOCKET, SO_SNDBUF, &now, &len), 0);
	ck_assert_int_eq(now, first);
	ck_assert_uint_eq(t->a_sndbuf, (uint32_t)first / 2);

	int v = 4 << 20;
	ck_assert_int_eq(setopt(&a1, b, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
	uint32_t want = tn_sock_rcvbuf_size(t->sk) / 4;
	ck_assert_uint_gt(want, (uint32_t)first / 2);
	peer_send(h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK, .data = data,
				    .len = sizeof(data), .sport = RPORT });
	run_loop();
	v = (int)want;
	ck_assert_int_eq(setsockopt(fresh[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
	ck_assert_int_eq(getsockopt(fresh[0], SOL_SOCKET, SO_SNDBUF, &expected, &len), 0);
	ck_assert_int_eq(getsockopt(t->own_end, SOL_SOCKET, SO_SNDBUF, &now, &len), 0);
	ck_assert_int_eq(now, expected);
	ck_assert_uint_eq(t->a_sndbuf, want);

	close(fresh[0]);
	close(fresh[1]);
	close(b);
	pump_done(&a1, lb);
}
END_TEST

/*
 * Tombstones are found by cookie, one per cookie, and hold the last
 * TOMBSTONES finished sockets (cookies come from a counter, with gaps where
 * other programs' sockets took theirs).
 */
/* A read of B that waits up to ms for an answer: its result, errno kept. */
static ssize_t read_b(int b, char *buf, size_t len, int ms)
{
	struct pollfd pfd = { .fd = b, .events = POLLIN };
	poll(&pfd, 1, ms);
	return recv(b, buf, len, MSG_DONTWAIT);
}

/*
 * The peer's reset, for a client that reads B itself (a static or Go
 * program): with a reset watcher (the seccomp supervisor) told, A waits
 * for its byte and then closes, and B reads the data, ECONNRESET, then
 * end-of-file, as a kernel socket; without one, or when the byte does not
 * come, end-of-file as before.
 */
START_TEST(a_reset_reaches_b_through_the_watcher)
{
	struct sockets_owner a1 = pump_owner();
	char buf[16];

	for (int variant = 0; variant < 3; variant++) { /* byte sent, no watcher, no byte */
		struct conn c;
		int lb;
		watcher_present = variant != 1;
		notices = 0;
		int b = accepted_b(&a1, &c, &lb);
		uint64_t cookie = 0;
		socklen_t clen = sizeof(cookie);
		ck_assert_int_eq(getsockopt(b, SOL_SOCKET, SO_COOKIE, &cookie, &clen), 0);
		peer_send(h, &(struct pseg){ .seq = c.snd, .ack = c.rcv, .flags = TCP_ACK | TCP_PSH,
					    .data = "d", .len = 1 });
		peer_send(h, &(struct pseg){ .seq = c.snd + 1, .flags = TCP_RST });
		run_loop();
		ck_assert_int_eq(read_b(b, buf, sizeof(buf), 1000), 1);
		ck_assert_int_eq(buf[0], 'd');
		if (variant == 1) {
			ck_assert_uint_eq(notices, 0);
			closer_flush(); /* A's close */
			ck_assert_int_eq(read_b(b, buf, sizeof(buf), 1000), 0);
		} else {
			ck_assert_uint_eq(notices, 1);
			ck_assert_uint_eq(notice_cookie, cookie);
			errno = 0;
			ck_assert_int_eq(read_b(b, buf, sizeof(buf), 0), -1);
			ck_assert_int_eq(errno, EAGAIN); /* A waits, open */
			if (variant == 0) {
				ck_assert_int_eq(write(b, "", 1), 1); /* as the watcher does */
				run_loop();
			} else {
				usleep(2 * RESET_WAIT_MS * 1000 + 50000);
				run_loop();
			}
			closer_flush();
			errno = 0;
			ssize_t n = read_b(b, buf, sizeof(buf), 5000);
			if (variant == 0) {
				ck_assert_int_eq(n, -1);
				ck_assert_int_eq(errno, ECONNRESET);
				n = read_b(b, buf, sizeof(buf), 1000);
			}
			ck_assert_int_eq(n, 0);
		}
		close(b);
		close(lb);
		run_loop();
	}
	ck_assert_uint_eq(ss->resets_waiting, 0);
	watcher_present = false;
	pump_done(&a1, -1);
}
END_TEST

START_TEST(tombstones_keep_the_latest)
{
	struct tombstone *tb = tomb_for(ss, 77);

	tb->err = ECONNRESET;
	ck_assert_ptr_eq(find_tomb(ss, 77), tb);
	ck_assert_int_eq(find_tomb(ss, 77)->err, ECONNRESET);
	ck_assert_ptr_eq(tomb_for(ss, 77), tb); /* its own slot again, cleared */
	ck_assert_int_eq(tb->err, 0);
	ck_assert_ptr_null(find_tomb(ss, 78));
	ck_assert_ptr_null(find_tomb(ss, 0));

	enum { N = 5 * TOMBSTONES };
	static uint64_t buried[N];
	uint64_t cookie = 1000;
	srand(1);
	for (unsigned i = 0; i < N; i++) {
		cookie += 1 + (unsigned)rand() % 16;
		buried[i] = cookie;
		tomb_for(ss, cookie)->err = (int)(i % 100);
		if (i % 7 == 0) /* one buried twice keeps its place */
			ck_assert_ptr_eq(tomb_for(ss, cookie), find_tomb(ss, cookie));
		find_tomb(ss, cookie)->err = (int)(i % 100);
	}
	for (unsigned i = 0; i < N; i++) {
		tb = find_tomb(ss, buried[i]);
		if (i < N - TOMBSTONES) {
			ck_assert_msg(!tb, "cookie %u of %u kept, older than the latest %u", i, N,
				      TOMBSTONES);
		} else {
			ck_assert_msg(tb, "cookie %u of %u, among the latest %u, lost", i, N,
				      TOMBSTONES);
			ck_assert_int_eq(tb->err, (int)(i % 100));
		}
	}
}
END_TEST

static Suite *sockets_suite(void)
{
	Suite *s = suite_create("sockets");
	TCase *tc = tcase_create("accounting");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, connections_per_user);
	tcase_add_test(tc, sockets_per_user_outlive_the_connection);
	tcase_add_test(tc, buffers_charged_to_the_user_until_freed);
	tcase_add_test(tc, options_read_back);
	tcase_add_test(tc, options_without_reply);
	tcase_add_test(tc, closer_closes_on_flush);
	tcase_add_test(tc, tombstones_keep_the_latest);
	suite_add_tcase(s, tc);
	TCase *pump = tcase_create("pump");
	tcase_add_checked_fixture(pump, setup_peer, teardown_peer);
	tcase_add_test(pump, corked_writes_leave_together_with_one_read);
	tcase_add_test(pump, an_answered_ev_read_costs_no_read);
	tcase_add_test(pump, an_uncork_takes_the_bytes_still_in_a_first);
	tcase_add_test(pump, an_uncork_behind_an_unread_request_does_not_wait_for_a_write);
	tcase_add_test(pump, hang_ups_heard_once_and_not_after_the_end);
	tcase_add_test(pump, a_large_segment_goes_to_a_behind_the_rings_bytes);
	tcase_add_test(pump, a_keeps_its_first_send_buffer_until_the_window_asks_more);
	tcase_add_test(pump, a_reset_reaches_b_through_the_watcher);
	suite_add_tcase(s, pump);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sockets_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
