/*
 * sockets_opt.c - setsockopt/getsockopt as Linux answers them, on top of
 * the core's socket options.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sockets_internal.h"

/* The kernel's TCP_* state numbers, for TCP_INFO. */
static uint8_t tcp_state_linux(enum tn_tcp_state s)
{
	switch (s) {
	case TN_TCP_ESTABLISHED: return 1;
	case TN_TCP_SYN_SENT: return 2;
	case TN_TCP_SYN_RECEIVED: return 3;
	case TN_TCP_FIN_WAIT_1: return 4;
	case TN_TCP_FIN_WAIT_2: return 5;
	case TN_TCP_TIME_WAIT: return 6;
	case TN_TCP_CLOSE_WAIT: return 8;
	case TN_TCP_LAST_ACK: return 9;
	case TN_TCP_LISTEN: return 10;
	case TN_TCP_CLOSING: return 11;
	default: return 7; /* CLOSE */
	}
}

/*
 * TCP_DEFER_ACCEPT's seconds as Linux keeps them: a count of SYN-ACK
 * retransmissions (1 s, doubling, at most 120 s apart), so that 30 reads
 * back as 31 (secs_to_retrans, retrans_to_secs in net/ipv4/tcp.c).
 * seconds: the time retrans retransmissions take.
 */
static int defer_accept_seconds(int retrans)
{
	int timeout = 1, period = 0;
	for (int i = 0; i < retrans; i++) {
		period += timeout;
		timeout = timeout * 2 > 120 ? 120 : timeout * 2;
	}
	return period;
}

/* retrans: the fewest (at most 255) that take at least seconds. */
static int defer_accept_retrans(int seconds)
{
	int retrans = 0;
	while (retrans < 255 && defer_accept_seconds(retrans) < seconds)
		retrans++;
	return retrans;
}

/* Linux lets CAP_NET_ADMIN (here: root) past some limits; tapnetd knows the client's uid. */
static bool client_is_root(const struct tsock *t)
{
	return t->acct && t->acct->uid == 0;
}

/* A socket neither connected nor listening, as Linux's TCP_CLOSE state. */
static bool sock_unused(const struct tsock *t)
{
	return !t->listening && tn_sock_state(t->sk) == TN_TCP_CLOSED;
}

/*
 * Options only kept (stack.h's tn_sock_kept) that read back as the int
 * kept; a flag (boolean) is kept as 0 or 1 whatever int was set, the rest
 * are checked where they are set.
 */
static const struct kept_int {
	int level, optname;
	enum tn_sock_kept slot;
	bool flag;
} kept_ints[] = {
	{ SOL_SOCKET, SO_OOBINLINE, TN_KEPT_OOBINLINE, true },
	{ SOL_SOCKET, SO_PRIORITY, TN_KEPT_PRIORITY, false },
	{ SOL_SOCKET, SO_BUSY_POLL, TN_KEPT_BUSY_POLL, false },
	{ SOL_SOCKET, SO_DONTROUTE, TN_KEPT_DONTROUTE, true },
	{ SOL_SOCKET, SO_BROADCAST, TN_KEPT_BROADCAST, true },
	{ IPPROTO_TCP, TCP_WINDOW_CLAMP, TN_KEPT_WINDOW_CLAMP, false },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT, TN_KEPT_NOTSENT_LOWAT, false },
	{ IPPROTO_TCP, TCP_QUICKACK, TN_KEPT_QUICKACK, true },
	{ IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, TN_KEPT_THIN_LINEAR, false },
	{ IPPROTO_TCP, TCP_FASTOPEN, TN_KEPT_FASTOPEN, false },
	{ IPPROTO_TCP, TCP_FASTOPEN_CONNECT, TN_KEPT_FASTOPEN_CONNECT, false },
	{ IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, TN_KEPT_BIND_NO_PORT, true },
	{ IPPROTO_IP, IP_FREEBIND, TN_KEPT_FREEBIND, true },
	{ IPPROTO_IP, IP_RECVERR, TN_KEPT_RECVERR, true },
	{ IPPROTO_IP, IP_MTU_DISCOVER, TN_KEPT_MTU_DISCOVER, false },
};

static const struct kept_int *kept_int_find(uint32_t level, uint32_t optname)
{
	for (size_t i = 0; i < sizeof(kept_ints) / sizeof(kept_ints[0]); i++)
		if ((uint32_t)kept_ints[i].level == level && (uint32_t)kept_ints[i].optname == optname)
			return &kept_ints[i];
	return NULL;
}

static int opt_int(const struct req *r, int *v)
{
	if (r->optval_len < sizeof(int))
		return -EINVAL;
	memcpy(v, r->optval, sizeof(int));
	return 0;
}

int req_setsockopt(struct tsock *t, const struct req *r)
{
	int v = 0, rc;
	struct tn_sock_opts o;

	if (!r->has_level || !r->has_optname)
		return -EINVAL;
	if (!t || !t->sk)
		return 0; /* the connection is over: nothing left to tune */
	const struct kept_int *kept = kept_int_find(r->level, r->optname);
	if (kept && kept->flag) {
		if ((rc = opt_int(r, &v)) < 0)
			return rc;
		return tn_sock_set_kept(t->sk, kept->slot, v != 0);
	}
	if (r->level == SOL_SOCKET) {
		switch (r->optname) {
		case SO_REUSEADDR:
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			return tn_sock_set_reuseaddr(t->sk, v != 0);
		case SO_REUSEPORT:
			/* shared only with sockets of the same user, as Linux */
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			return tn_sock_set_reuseport(t->sk, v != 0, t->acct ? (uint32_t)t->acct->uid
									    : UINT32_MAX);
		case SO_KEEPALIVE:
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			return tn_sock_set_keepalive(t->sk, v != 0, 0, 0, 0);
		case SO_LINGER: {
			struct linger l;
			if (r->optval_len < sizeof(l))
				return -EINVAL;
			memcpy(&l, r->optval, sizeof(l));
			return tn_sock_set_linger(t->sk, l.l_onoff != 0,
						  l.l_linger < 0 ? 0 : (uint32_t)l.l_linger);
		}
		case SO_RCVBUF:
		case SO_SNDBUF: {
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			/* like Linux: doubled for bookkeeping, clamped, never an error */
			long b = (long)v * 2;
			if (b < 4096)
				b = 4096;
			if (b > (32l << 20))
				b = 32l << 20;
			/* stops auto-tuning; once connected the rings only grow (see tcp_buf_pin) */
			(void)tn_sock_set_bufsize(t->sk, r->optname == SO_RCVBUF ? (uint32_t)b : 0,
						  r->optname == SO_SNDBUF ? (uint32_t)b : 0);
			return 0;
		}
		case SO_MAX_PACING_RATE: {
			/* a u64 when there is room for one, else a u32 whose ~0U is "none" */
			uint64_t rate;
			uint32_t rate32;
			if (r->optval_len >= sizeof(rate)) {
				memcpy(&rate, r->optval, sizeof(rate));
			} else if (r->optval_len >= sizeof(rate32)) {
				memcpy(&rate32, r->optval, sizeof(rate32));
				rate = rate32 == UINT32_MAX ? UINT64_MAX : rate32;
			} else {
				return -EINVAL;
			}
			return tn_sock_set_kept(t->sk, TN_KEPT_PACING_RATE, (int64_t)rate);
		}
		case SO_RCVLOWAT:
		case SO_RCVTIMEO:
		case SO_SNDTIMEO:
			return 0; /* the program's end of the pair takes them (libtapnet) */
		}
		if ((rc = opt_int(r, &v)) < 0)
			return rc;
		switch (r->optname) {
		case SO_PRIORITY:
			if ((v < 0 || v > 6) && !client_is_root(t))
				return -EPERM; /* beyond 6 takes CAP_NET_ADMIN */
			return tn_sock_set_kept(t->sk, TN_KEPT_PRIORITY, v);
		case SO_BUSY_POLL:
			if (v < 0)
				return -EINVAL; /* anyone may raise it: Linux checks no capability */
			return tn_sock_set_kept(t->sk, TN_KEPT_BUSY_POLL, v);
		default:
			return -ENOPROTOOPT; /* SO_SNDLOWAT too, as Linux */
		}
	}
	if (r->level == IPPROTO_TCP && r->optname == TCP_CONGESTION) {
		/* a name, as Linux reads it: up to the first NUL, at most 15 bytes */
		const char *name = (const char *)r->optval;
		size_t len = r->optval_len < 15 ? r->optval_len : 15;
		if (!len)
			return -ENOENT; /* "", as Linux finds no algorithm of that name */
		const char *nul = memchr(name, '\0', len);
		return tn_sock_set_congestion(t->sk, name, nul ? (size_t)(nul - name) : len);
	}
	if (r->level == IPPROTO_TCP) {
		if ((rc = opt_int(r, &v)) < 0)
			return rc;
		switch (r->optname) {
		case TCP_NODELAY:
			return tn_sock_set_nodelay(t->sk, v != 0);
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
			if (v < 1 || v > (r->optname == TCP_KEEPCNT ? 127 : 32767))
				return -EINVAL;
			tn_sock_get_opts(t->sk, &o);
			return tn_sock_set_keepalive(t->sk, o.keepalive,
						     r->optname == TCP_KEEPIDLE ? (uint32_t)v : 0,
						     r->optname == TCP_KEEPINTVL ? (uint32_t)v : 0,
						     r->optname == TCP_KEEPCNT ? (uint32_t)v : 0);
		case TCP_CORK: /* BSD's TCP_NOPUSH, as nginx's tcp_nopush uses it on Linux */
			return tn_sock_set_cork(t->sk, v != 0);
		case TCP_USER_TIMEOUT:
			if (v < 0)
				return -EINVAL;
			return tn_sock_set_user_timeout(t->sk, (uint32_t)v);
		case TCP_MAXSEG:
			if (v && (v < 88 || v > 32767))
				return -EINVAL; /* TCP_MIN_MSS, MAX_TCP_WINDOW */
			tn_sock_set_user_mss(t->sk, (uint16_t)v);
			return 0;
		case TCP_SYNCNT:
			if (v < 1 || v > 127)
				return -EINVAL; /* MAX_TCP_SYNCNT */
			tn_sock_set_syn_retries(t->sk, (uint8_t)v);
			return 0;
		case TCP_LINGER2:
			/* at most TCP_FIN_TIMEOUT_MAX */
			tn_sock_set_linger2(t->sk, v < 0 ? -1 : v > 120 ? 120 : v);
			return 0;
		case TCP_DEFER_ACCEPT:
			return tn_sock_set_kept(t->sk, TN_KEPT_DEFER_ACCEPT, defer_accept_retrans(v));
		case TCP_WINDOW_CLAMP:
			if (!v && !sock_unused(t))
				return -EINVAL;
			/* at least SOCK_MIN_RCVBUF / 2, as Linux's tcp_set_window_clamp */
			return tn_sock_set_kept(t->sk, TN_KEPT_WINDOW_CLAMP,
						v ? (v < 2304 ? 2304 : v) : 0);
		case TCP_NOTSENT_LOWAT:
			return tn_sock_set_kept(t->sk, TN_KEPT_NOTSENT_LOWAT, (uint32_t)v);
		case TCP_THIN_LINEAR_TIMEOUTS:
			if (v < 0 || v > 1)
				return -EINVAL;
			return tn_sock_set_kept(t->sk, TN_KEPT_THIN_LINEAR, v);
		case TCP_FASTOPEN:
			if (v < 0 || !(t->listening || sock_unused(t)))
				return -EINVAL;
			return tn_sock_set_kept(t->sk, TN_KEPT_FASTOPEN, v);
		case TCP_FASTOPEN_CONNECT:
			/* connect() then does what Linux does without a cookie: a handshake */
			if (v < 0 || v > 1 || !sock_unused(t))
				return -EINVAL;
			return tn_sock_set_kept(t->sk, TN_KEPT_FASTOPEN_CONNECT, v);
		default:
			return -ENOPROTOOPT;
		}
	}
	if (r->level == IPPROTO_IP) {
		switch (r->optname) {
		case IP_TOS:
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			tn_sock_set_tos(t->sk, (uint8_t)v);
			return 0;
		case IP_TTL:
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			if (v != -1 && (v < 1 || v > 255))
				return -EINVAL;
			tn_sock_set_ttl(t->sk, v == -1 ? 0 : (uint8_t)v); /* -1: the default, as Linux */
			return 0;
		}
		if ((rc = opt_int(r, &v)) < 0)
			return rc;
		switch (r->optname) {
		case IP_MTU_DISCOVER:
			if (v < IP_PMTUDISC_DONT || v > IP_PMTUDISC_OMIT)
				return -EINVAL;
			return tn_sock_set_kept(t->sk, TN_KEPT_MTU_DISCOVER, v);
		default:
			return -ENOPROTOOPT;
		}
	}
	return -ENOPROTOOPT;
}

/* A setsockopt the client did not wait for failed: nobody else will know. */
static void nowait_failed(struct tsock *t, uint32_t level, uint32_t optname, int rc)
{
	struct sockets *ss = t->ss;
	uint64_t suppressed;
	char note[64];

	DAEMON_COUNT(ss->d, SockOptNowaitErrors, 1);
	if (log_ratelimit_ok(&ss->err_log, &suppressed))
		log_warning("socket %llx: setsockopt(level %u, option %u) sent without waiting "
			 "failed: %s%s", (unsigned long long)t->cookie, level, optname, strerror(-rc),
			 log_suppressed_note(suppressed, note));
}

static void opt_later_apply_one(struct tsock *t, const struct opt_later *o)
{
	struct req r = {
		.has_level = true, .has_optname = true, .level = o->level, .optname = o->optname,
		.optval = o->val, .optval_len = o->len,
	};
	int rc = req_setsockopt(t, &r);
	if (rc < 0)
		nowait_failed(t, o->level, o->optname, rc);
}

void opts_later_apply(struct tsock *t)
{
	unsigned n = 0;

	while (n < t->n_opts_later && t->opts_later[n].at <= t->a_taken && t->sk)
		opt_later_apply_one(t, &t->opts_later[n++]);
	if (!t->sk)
		n = t->n_opts_later; /* the connection is over: nothing left to tune */
	if (!n)
		return;
	t->n_opts_later -= n;
	memmove(t->opts_later, t->opts_later + n, t->n_opts_later * sizeof(t->opts_later[0]));
}

/*
 * SETSOCKOPT_NOWAIT: the client did not wait for an answer, so the option
 * takes a place in the byte stream, after every byte the program wrote
 * before the call (its write() returned before the request was sent):
 * - where the stream was at the call when the client saw the pair empty
 *   (PAIR_EMPTY: B's SIOCOUTQ was 0, every byte written before had been
 *   taken): it applies at once;
 * - an option that only pushes what came before it (tn_rpc_option_pushes:
 *   TCP_CORK off, TCP_NODELAY on) applies when A is next found empty
 *   (OPT_AT_A_EMPTY): the pump reads A, which it would do anyway, and
 *   the bytes read after the call are pushed with the rest, as they would
 *   be right after it;
 * - any other, at the end of what A holds when the request is read
 *   (FIONREAD).
 * Bytes written after the call could also be in A by then, but A is not
 * read while the connection that sent the option has requests the daemon
 * has not read (pump_from_client), and control connections have the
 * loop's highest priority: a request is read before the pair data that
 * follows it. The bytes up to that place are moved into the core's send
 * buffer first; when it cannot take them all, the option waits
 * (t->opts_later, which getsockopt answers from) and the pump stops at its
 * place. An error is counted (SockOptNowaitErrors) and logged.
 */
int req_setsockopt_nowait(struct tsock *t, struct sockets_owner *owner, const struct req *r)
{
	if (!r->has_level || !r->has_optname || r->optval_len > OPT_LATER_VAL_MAX)
		return -EINVAL;
	if (t)
		t->opt_conn = owner; /* its next requests go before A's next bytes (sockets_pump.c) */
	bool streaming = t && t->sk && t->connected && !t->rd_eof;
	bool at_a_empty = streaming && !r->pair_empty &&
			  tn_rpc_option_pushes(r->level, r->optname, r->optval, r->optval_len);
	int inq = 0;
	bool measured = streaming && !r->pair_empty && !at_a_empty &&
			ioctl(t->own_end, FIONREAD, &inq) == 0;
	if (!measured)
		inq = 0;
	uint64_t held = t && (uint64_t)inq > t->filler ? (uint64_t)inq - t->filler : 0;
	if (!held && !at_a_empty && (!t || !t->n_opts_later)) {
		int rc = req_setsockopt(t, r);
		if (rc < 0 && t) {
			nowait_failed(t, r->level, r->optname, rc);
			return 0; /* counted and logged once */
		}
		return rc;
	}
	if (t->n_opts_later == OPTS_LATER_MAX) {
		/* a client that outruns its own data: the oldest applies early, not never */
		opt_later_apply_one(t, &t->opts_later[0]);
		memmove(t->opts_later, t->opts_later + 1,
			--t->n_opts_later * sizeof(t->opts_later[0]));
	}
	uint64_t at = at_a_empty ? OPT_AT_A_EMPTY : t->a_taken + held;
	bool a_ended_there = measured;
	if (t->n_opts_later && at < t->opts_later[t->n_opts_later - 1].at) {
		at = t->opts_later[t->n_opts_later - 1].at; /* never before an earlier option */
		a_ended_there = false;
	}
	struct opt_later *o = &t->opts_later[t->n_opts_later++];
	*o = (struct opt_later){ .at = at, .level = r->level, .optname = r->optname,
				 .len = (uint8_t)r->optval_len, .a_ended_there = a_ended_there,
				 .read_iter = ev_iteration(t->ss->d->loop) };
	memcpy(o->val, r->optval, r->optval_len);
	t->a_idle = false; /* A has the bytes: read them now, not at the next EV_READ */
	tsock_pump(t); /* may finish t */
	return 0;
}

/* What getsockopt says of a waiting change, for the options it answers by value. */
static bool opt_later_value(const struct opt_later *p, int *v)
{
	memcpy(v, p->val, sizeof(*v));
	if ((p->level == SOL_SOCKET && (p->optname == SO_KEEPALIVE || p->optname == SO_REUSEADDR)) ||
	    (p->level == IPPROTO_TCP && (p->optname == TCP_NODELAY || p->optname == TCP_CORK))) {
		*v = *v != 0;
		return true;
	}
	if (p->level == IPPROTO_IP && p->optname == IP_TOS) {
		*v &= ~TN_IP_TOS_ECN_MASK & 0xff; /* as tn_sock_set_tos keeps it */
		return true;
	}
	return p->level == IPPROTO_TCP &&
	       (p->optname == TCP_KEEPIDLE || p->optname == TCP_KEEPINTVL ||
		p->optname == TCP_KEEPCNT || p->optname == TCP_USER_TIMEOUT);
}

int req_getsockopt(struct tsock *t, struct tombstone *tb, const struct req *r,
			  struct tn_rpc_writer *reply)
{
	int v;
	struct tn_sock_info info;
	struct tn_sock_opts o;

	if (!r->has_level || !r->has_optname)
		return -EINVAL;
	if (!t) { /* over: its tombstone answers (sockets_request passes no t without a core socket) */
		if (r->level == SOL_SOCKET && r->optname == SO_ERROR) {
			v = tb->err;
			tb->err = 0;
			goto put_int;
		}
		if (r->level == SOL_SOCKET && r->optname == SO_TYPE) {
			v = SOCK_STREAM;
			goto put_int;
		}
		if (r->level == IPPROTO_TCP && r->optname == TCP_INFO) {
			/* as Linux answers for a closed socket: state CLOSE, nothing else */
			struct tcp_info ti;
			memset(&ti, 0, sizeof(ti));
			ti.tcpi_state = tcp_state_linux(TN_TCP_CLOSED);
			size_t n = r->optlen < sizeof(ti) ? r->optlen : sizeof(ti);
			tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, &ti, n);
			return 0;
		}
		return -ENOPROTOOPT;
	}
	/* a value still waiting for its place in the stream is already the answer, as on Linux */
	for (unsigned i = t->n_opts_later; i-- > 0;) {
		const struct opt_later *p = &t->opts_later[i];
		if (p->level == r->level && p->optname == r->optname && p->len >= sizeof(int)) {
			if (opt_later_value(p, &v))
				goto put_int;
			break;
		}
	}
	tn_sock_get_opts(t->sk, &o); /* the core keeps every option: one owner */
	const struct kept_int *kept = kept_int_find(r->level, r->optname);
	if (kept) {
		v = (int)tn_sock_get_kept(t->sk, kept->slot);
		goto put_int;
	}
	if (r->level == SOL_SOCKET) {
		switch (r->optname) {
		case SO_ERROR:
			v = t->err;
			t->err = 0;
			if (!v && t->sk)
				v = pos_err(tn_sock_error(t->sk));
			goto put_int;
		case SO_TYPE: v = SOCK_STREAM; goto put_int;
		case SO_DOMAIN: v = AF_INET; goto put_int;
		case SO_PROTOCOL: v = IPPROTO_TCP; goto put_int;
		case SO_ACCEPTCONN: v = t->listening; goto put_int;
		case SO_REUSEADDR: v = o.reuseaddr; goto put_int;
		case SO_REUSEPORT: v = o.reuseport; goto put_int;
		case SO_KEEPALIVE: v = o.keepalive; goto put_int;
		case SO_RCVBUF: v = (int)o.rcvbuf; goto put_int;
		case SO_SNDBUF: v = (int)o.sndbuf; goto put_int;
		case SO_LINGER: {
			struct linger l = { .l_onoff = o.linger, .l_linger = (int)o.linger_s };
			tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, &l, sizeof(l));
			return 0;
		}
		case SO_BINDTODEVICE:
			/* bound to no device: Linux answers with nothing (length 0), and sshd asks */
			tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, "", 0);
			return 0;
		case SO_MAX_PACING_RATE: {
			uint64_t rate = (uint64_t)tn_sock_get_kept(t->sk, TN_KEPT_PACING_RATE);
			if (r->optlen >= sizeof(rate)) {
				tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, &rate, sizeof(rate));
				return 0;
			}
			v = (int)(uint32_t)(rate > UINT32_MAX ? UINT32_MAX : rate);
			goto put_int;
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	if (r->level == IPPROTO_TCP) {
		switch (r->optname) {
		case TCP_NODELAY: v = o.nodelay; goto put_int;
		case TCP_CORK: v = o.cork; goto put_int;
		case TCP_KEEPIDLE: v = (int)o.ka_idle_s; goto put_int;
		case TCP_KEEPINTVL: v = (int)o.ka_intvl_s; goto put_int;
		case TCP_KEEPCNT: v = (int)o.ka_probes; goto put_int;
		case TCP_USER_TIMEOUT: v = (int)o.user_timeout_ms; goto put_int;
		case TCP_MAXSEG:
			/* what was asked for until there is a connection, as Linux */
			if (o.user_mss && (t->listening || sock_unused(t)))
				v = o.user_mss;
			else
				v = (tn_sock_info(t->sk, &info) == 0 && info.mss) ? (int)info.mss : 536;
			goto put_int;
		case TCP_SYNCNT: v = o.syn_retries; goto put_int;
		case TCP_LINGER2: v = o.linger2_s; goto put_int;
		case TCP_DEFER_ACCEPT:
			v = defer_accept_seconds((int)tn_sock_get_kept(t->sk, TN_KEPT_DEFER_ACCEPT));
			goto put_int;
		case TCP_INFO: {
			struct tcp_info ti;
			memset(&ti, 0, sizeof(ti));
			if (t->sk && tn_sock_info(t->sk, &info) == 0) {
				ti.tcpi_state = tcp_state_linux(info.state);
				ti.tcpi_rto = info.rto_ms * 1000;
				ti.tcpi_snd_mss = info.mss;
				ti.tcpi_rcv_mss = info.rcv_mss;
				ti.tcpi_rtt = info.rtt_us;
				ti.tcpi_rttvar = info.rttvar_us;
				ti.tcpi_snd_cwnd = info.cwnd;
				ti.tcpi_snd_ssthresh = info.ssthresh;
				ti.tcpi_retransmits = (uint8_t)info.retransmits;
				ti.tcpi_total_retrans = (uint32_t)info.total_retrans;
				ti.tcpi_unacked = info.send_q;
				ti.tcpi_snd_wscale = info.snd_wscale;
				ti.tcpi_rcv_wscale = info.rcv_wscale;
				ti.tcpi_rcv_space = info.rcv_wnd;
			}
			size_t n = r->optlen < sizeof(ti) ? r->optlen : sizeof(ti);
			tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, &ti, n);
			return 0;
		}
		case TCP_CONGESTION: {
			char name[16] = "";
			if (t->sk && tn_sock_info(t->sk, &info) == 0 && info.cc)
				snprintf(name, sizeof(name), "%s", info.cc);
			size_t n = r->optlen < sizeof(name) ? r->optlen : sizeof(name);
			tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, name, n);
			return 0;
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	if (r->level == IPPROTO_IP) {
		switch (r->optname) {
		case IP_TOS: v = o.tos; goto put_int;
		case IP_TTL: v = o.ttl; goto put_int;
		default:
			return -ENOPROTOOPT;
		}
	}
	return -ENOPROTOOPT;
put_int:
	tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, &v, sizeof(v));
	return 0;
}
