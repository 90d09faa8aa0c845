/*
 * sock.c - the TCP socket API of the core (stack.h, "TCP sockets").
 *
 * Each call is a core entry point: events it causes are delivered, and
 * sockets it ends are freed, when it returns (tcp_enter/tcp_leave).
 */
#include "tcp.h"

#include <errno.h>
#include <stdlib.h>

static const char *const state_names[] = {
	[TN_TCP_CLOSED] = "UNCONN",          [TN_TCP_LISTEN] = "LISTEN",
	[TN_TCP_SYN_SENT] = "SYN-SENT",      [TN_TCP_SYN_RECEIVED] = "SYN-RECV",
	[TN_TCP_ESTABLISHED] = "ESTAB",      [TN_TCP_FIN_WAIT_1] = "FIN-WAIT-1",
	[TN_TCP_FIN_WAIT_2] = "FIN-WAIT-2",  [TN_TCP_CLOSE_WAIT] = "CLOSE-WAIT",
	[TN_TCP_CLOSING] = "CLOSING",        [TN_TCP_LAST_ACK] = "LAST-ACK",
	[TN_TCP_TIME_WAIT] = "TIME-WAIT",
};

const char *tn_tcp_state_name(enum tn_tcp_state s)
{
	return (unsigned)s < TN_ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

struct tn_sock *tn_sock_open(struct tn_stack *stack)
{
	tcp_enter(stack);
	struct tn_sock *s = tcp_sock_new(stack);
	tcp_leave(stack);
	return s;
}

/*
 * A socket's settings held in a socket that no table knows (no port, no
 * buffers, no count); its laddr and lport are what bind() named (the
 * locks say which), as Linux keeps them after a failed connect.
 */
struct tn_sock_settings {
	struct tn_sock held;
};

struct tn_sock_settings *tn_sock_settings_save(const struct tn_sock *s)
{
	struct tn_sock_settings *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	set->held.stack = s->stack;
	tcp_copy_settings(&set->held, s);
	set->held.addr_locked = s->addr_locked;
	set->held.port_locked = s->port_locked;
	set->held.laddr = s->addr_locked ? s->laddr : 0;
	set->held.lport = s->port_locked ? s->lport : 0;
	return set;
}

struct tn_sock *tn_sock_open_with(struct tn_stack *stack, const struct tn_sock_settings *set,
				  int *err)
{
	const struct tn_sock *held = &set->held;

	tcp_enter(stack);
	struct tn_sock *s = tcp_sock_new(stack);
	if (s)
		tcp_copy_settings(s, held);
	tcp_leave(stack);
	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	if (held->addr_locked || held->port_locked) {
		int rc = tn_sock_bind(s, held->laddr, held->lport);
		if (rc < 0) {
			tn_sock_close(s);
			*err = rc;
			return NULL;
		}
	}
	return s;
}

void tn_sock_settings_free(struct tn_sock_settings *set)
{
	if (set)
		free(set->held.kept);
	free(set);
}

int tn_sock_bind(struct tn_sock *s, tn_ip4 addr, uint16_t port)
{
	if (s->state != TN_TCP_CLOSED || s->bound || s->lport)
		return -EINVAL;
	if (addr && !tn_ipv4_is_local(s->stack, addr))
		return -EADDRNOTAVAIL;
	s->laddr = addr;
	int rc = tcp_bind_port(s, port);
	if (rc < 0) {
		s->laddr = 0;
		return rc;
	}
	s->port_locked = port != 0;
	s->addr_locked = addr != 0;
	return 0;
}

int tn_sock_listen(struct tn_sock *s, int backlog)
{
	uint32_t max = s->stack->cfg.tcp_somaxconn;
	uint32_t b = backlog <= 0 ? 1 : (uint32_t)backlog > max ? max : (uint32_t)backlog;
	if (s->state == TN_TCP_LISTEN) {
		s->listen->backlog = b;
		return 0;
	}
	if (s->state != TN_TCP_CLOSED || s->was_established || s->hashed)
		return -EINVAL;
	if (!s->bound) {
		int rc = tcp_bind_port(s, 0);
		if (rc < 0)
			return rc;
	} else {
		int rc = tcp_listen_conflict(s);
		if (rc < 0)
			return rc;
	}
	s->listen = calloc(1, sizeof(*s->listen));
	if (!s->listen)
		return -ENOMEM;
	s->listen->backlog = b;
	tcp_set_state(s, TN_TCP_LISTEN);
	tcp_listen_hash(s);
	return 0;
}

struct tn_sock *tn_sock_accept(struct tn_sock *s, int *err)
{
	if (s->state != TN_TCP_LISTEN) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	tcp_enter(s->stack);
	struct tn_sock *c = tcp_child_accept(s);
	if (c) {
		/* Whatever happened before accept() is news for the new owner. */
		unsigned ev = TN_SOCK_EV_WRITABLE;
		if (c->rcvbuf.len || c->fin_rcvd)
			ev |= TN_SOCK_EV_READABLE;
		if (c->state == TN_TCP_CLOSED)
			ev |= TN_SOCK_EV_CLOSED;
		tcp_notify(c, ev);
	}
	if (s->listen->aq_head)
		tcp_notify(s, TN_SOCK_EV_ACCEPT);
	tcp_leave(s->stack);
	if (!c && err)
		*err = -EAGAIN;
	return c;
}

int tn_sock_connect(struct tn_sock *s, tn_ip4 addr, uint16_t port)
{
	struct tn_stack *stack = s->stack;
	switch (s->state) {
	case TN_TCP_CLOSED:
		break;
	case TN_TCP_SYN_SENT:
	case TN_TCP_SYN_RECEIVED:
		return -EALREADY;
	default: /* a listener too, as Linux's __inet_stream_connect */
		return -EISCONN;
	}
	if (s->was_established || s->hashed)
		return -EISCONN;
	/* 0.0.0.0 is this host, as Linux's ip_route_connect makes it: the bound address or 127.0.0.1 */
	if (addr == 0)
		addr = s->addr_locked ? s->laddr : TN_IP4_LOOPBACK;
	if (port == 0 || tn_ip4_is_broadcast(stack, addr) || (addr >> 28) == 14)
		return -EINVAL;
	/* a socket bound to 127.0.0.0/8 talks to this host only (Linux: EINVAL) */
	if (s->addr_locked && tn_ip4_is_loopback(s->laddr) && !tn_ipv4_to_self(stack, addr))
		return -EINVAL;
	tcp_enter(stack);
	if (!s->addr_locked)
		s->laddr = tn_ipv4_source_for(stack, addr);
	s->raddr = addr;
	s->rport = port;
	uint32_t tw_isn = 0; /* set when the 4-tuple was taken over from TIME_WAIT (tw_reuse) */
	int rc = s->bound ? tcp_check_established(s, &tw_isn) : tcp_pick_port(s, &tw_isn);
	if (rc == 0)
		rc = tcp_alloc_buffers(s);
	if (rc == 0)
		rc = tcp_hash(s);
	if (rc < 0) {
		if (!s->bound)
			s->lport = 0;
		s->raddr = 0;
		s->rport = 0;
		tcp_leave(stack);
		return rc;
	}
	const struct tn_config *c = &stack->cfg;
	s->ws_ok = c->tcp_window_scaling;
	s->sack_ok = c->tcp_sack;
	s->ts_ok = c->tcp_timestamps;
	tcp_init_rcv_wscale(s);
	if (!s->ws_ok)
		s->rcv_wscale = 0;
	s->ts_offset = tcp_ts_offset(stack, s->laddr, s->raddr);
	s->iss = tw_isn ? tw_isn : tcp_new_isn(stack, s->laddr, s->lport, s->raddr, s->rport);
	s->snd_una = s->iss;
	s->snd_nxt = s->snd_max = s->iss + 1;
	s->active_open = true;
	s->last_rx_ns = tn_now(stack);
	tcp_set_state(s, TN_TCP_SYN_SENT);
	TCP_CTR(s, TcpActiveOpens);
	s->rtt_timing = true;
	s->rtt_seq = s->iss;
	s->rtt_start_ns = tn_now(stack);
	tcp_send_syn(s);
	tcp_arm_rtx_if_idle(s);
	tcp_leave(stack);
	return -EINPROGRESS;
}

static int take_error(struct tn_sock *s)
{
	int e = s->err;
	s->err = 0;
	return e;
}

/* 0 when the connection may take data now, else what tn_sock_send returns; the error is left pending. */
static long send_refusal_peek(const struct tn_sock *s)
{
	if (s->err)
		return s->err;
	switch (s->state) {
	case TN_TCP_ESTABLISHED:
	case TN_TCP_CLOSE_WAIT:
		break;
	case TN_TCP_SYN_SENT:
	case TN_TCP_SYN_RECEIVED:
		return -EAGAIN; /* writable once connected */
	case TN_TCP_CLOSED:
	case TN_TCP_LISTEN:
		return s->was_established ? -EPIPE : -ENOTCONN;
	default:
		return -EPIPE;
	}
	return s->fin_queued ? -EPIPE : 0;
}

/* As send_refusal_peek, the error taken (a send reports it, as Linux's does). */
static long send_refusal(struct tn_sock *s)
{
	if (s->err)
		return take_error(s);
	return send_refusal_peek(s);
}

/* n bytes were queued in the send buffer: send what the windows allow now. */
static long queued(struct tn_sock *s, uint32_t n)
{
	tcp_enter(s->stack);
	tcp_output(s);
	tcp_leave(s->stack);
	return n;
}

long tn_sock_send_space(struct tn_sock *s, struct tn_sock_wpiece piece[2], int *npieces)
{
	*npieces = 0;
	long r = send_refusal_peek(s); /* an error stays for the reader */
	if (r < 0)
		return r;
	struct tn_iov iov[2];
	if (tn_ring_space(&s->sndbuf) == 0)
		tcp_sndbuf_expand(s);
	tn_ring_rewind_empty(&s->sndbuf);
	int n = tn_ring_free_iov(&s->sndbuf, iov);
	if (n == 0) {
		s->snd_nospace = true;
		return -EAGAIN;
	}
	for (int i = 0; i < n; i++) {
		piece[i].base = (uint8_t *)iov[i].base;
		piece[i].len = iov[i].len;
	}
	*npieces = n;
	return tn_ring_space(&s->sndbuf);
}

long tn_sock_send_commit(struct tn_sock *s, size_t n)
{
	long r = send_refusal(s);
	if (r < 0)
		return r;
	uint32_t space = tn_ring_space(&s->sndbuf);
	uint32_t k = n > space ? space : (uint32_t)n;
	if (k == 0)
		return n ? -EAGAIN : 0;
	tn_ring_commit(&s->sndbuf, k);
	return queued(s, k);
}

long tn_sock_send(struct tn_sock *s, const void *buf, size_t len)
{
	long r = send_refusal(s);
	if (r < 0)
		return r;
	if (len == 0)
		return 0;
	if (len > tn_ring_space(&s->sndbuf))
		tcp_sndbuf_expand(s);
	tn_ring_rewind_empty(&s->sndbuf);
	uint32_t n = tn_ring_write(&s->sndbuf, buf, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	if (n < len)
		s->snd_nospace = true;
	if (n == 0)
		return -EAGAIN;
	return queued(s, n);
}

/*
 * After the reader made room: tell the peer when the window it can use has
 * at least doubled (Linux tcp_cleanup_rbuf), so a stalled sender restarts.
 * Every reopening of a closed window comes through here (0 doubles to
 * anything), so the update is repeated from here too.
 */
static void maybe_window_update(struct tn_sock *s)
{
	if (s->state == TN_TCP_CLOSED || s->state == TN_TCP_SYN_SENT || s->fin_rcvd)
		return;
	uint32_t cur = seq_gt(s->rcv_adv, s->rcv_nxt) ? s->rcv_adv - s->rcv_nxt : 0;
	if (2 * (uint64_t)cur > s->rcvbuf_size)
		return;
	uint32_t w = tcp_rcv_window(s);
	if (w < 2 * cur || w <= cur)
		return;
	if (!tcp_defer_ack(s))
		tcp_send_ack(s);
	tcp_wnd_reopened(s); /* the sender may be waiting for this one: see tcp_timer.c */
}

/* What a read returns when the receive buffer is empty. */
static long recv_empty(struct tn_sock *s)
{
	if (s->err)
		return take_error(s);
	if (s->fin_rcvd)
		return 0;
	switch (s->state) {
	case TN_TCP_CLOSED:
		return s->was_established ? 0 : -ENOTCONN;
	case TN_TCP_LISTEN:
		return -ENOTCONN;
	default:
		return -EAGAIN;
	}
}

long tn_sock_recv(struct tn_sock *s, void *buf, size_t len)
{
	if (s->shut_rd)
		return 0;
	if (s->rcvbuf.len) {
		tcp_enter(s->stack);
		uint32_t n = tn_ring_read(&s->rcvbuf, buf, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
		tcp_rcv_space_adjust(s);
		maybe_window_update(s);
		tcp_leave(s->stack);
		return n;
	}
	return recv_empty(s);
}

long tn_sock_recv_peek(struct tn_sock *s, struct tn_sock_piece piece[2], int *npieces)
{
	*npieces = 0;
	if (s->shut_rd)
		return 0;
	if (s->rcvbuf.len) {
		struct tn_iov iov[2];
		int n = tn_ring_peek(&s->rcvbuf, 0, s->rcvbuf.len, iov);
		for (int i = 0; i < n; i++) {
			piece[i].base = iov[i].base;
			piece[i].len = iov[i].len;
		}
		*npieces = n;
		return s->rcvbuf.len;
	}
	return recv_empty(s);
}

void tn_sock_recv_consume(struct tn_sock *s, size_t n)
{
	if (s->shut_rd || n == 0 || !s->rcvbuf.len)
		return;
	tcp_enter(s->stack);
	tn_ring_discard(&s->rcvbuf, n > s->rcvbuf.len ? s->rcvbuf.len : (uint32_t)n);
	tcp_rcv_space_adjust(s);
	maybe_window_update(s);
	tcp_leave(s->stack);
}

static void queue_fin(struct tn_sock *s)
{
	if (s->fin_queued)
		return;
	s->fin_queued = true;
	s->fin_seq = s->snd_una + s->sndbuf.len;
	if (s->state == TN_TCP_CLOSE_WAIT)
		tcp_set_state(s, TN_TCP_LAST_ACK);
	else
		tcp_set_state(s, TN_TCP_FIN_WAIT_1);
	tcp_output(s);
}

int tn_sock_shutdown(struct tn_sock *s, int how)
{
	if (how < TN_SHUT_RD || how > TN_SHUT_RDWR)
		return -EINVAL;
	switch (s->state) {
	case TN_TCP_ESTABLISHED:
	case TN_TCP_CLOSE_WAIT:
	case TN_TCP_FIN_WAIT_1:
	case TN_TCP_FIN_WAIT_2:
	case TN_TCP_CLOSING:
	case TN_TCP_LAST_ACK:
	case TN_TCP_TIME_WAIT:
		break;
	default:
		return -ENOTCONN;
	}
	tcp_enter(s->stack);
	if (how != TN_SHUT_WR)
		s->shut_rd = true;
	if (how != TN_SHUT_RD && (s->state == TN_TCP_ESTABLISHED || s->state == TN_TCP_CLOSE_WAIT))
		queue_fin(s);
	tcp_leave(s->stack);
	return 0;
}

/* A closing listener: unaccepted connections are reset, half-open ones dropped. */
static void close_listener(struct tn_sock *s)
{
	struct tcp_listen *q = s->listen;
	while (q->req_head)
		tcp_req_free(q->req_head);
	while (q->aq_head) {
		struct tn_sock *c = q->aq_head;
		tcp_send_rst(c);
		tcp_done(c, 0);
	}
	tcp_set_state(s, TN_TCP_CLOSED);
	tcp_release(s);
}

/* RFC 1122 4.2.2.13 / SO_LINGER 0: end with a RST instead of a FIN. */
static bool close_with_reset(const struct tn_sock *s)
{
	return s->rcvbuf.len > 0 || (s->linger && s->linger_s == 0);
}

void tn_sock_close(struct tn_sock *s)
{
	struct tn_stack *stack = s->stack;
	tcp_enter(stack);
	s->cb = NULL;
	s->events = 0;
	switch (s->state) {
	case TN_TCP_LISTEN:
		close_listener(s);
		break;
	case TN_TCP_CLOSED:
	case TN_TCP_SYN_SENT:
		tcp_set_state(s, TN_TCP_CLOSED);
		tcp_release(s);
		break;
	default:
		if (close_with_reset(s) && s->state != TN_TCP_TIME_WAIT) {
			if (s->rcvbuf.len)
				TCP_CTR(s, TcpExtTCPAbortOnClose);
			else
				TCP_CTR(s, TcpExtTCPAbortOnLinger);
			tcp_send_rst(s);
			tcp_set_state(s, TN_TCP_CLOSED);
			tcp_release(s);
			break;
		}
		s->orphan = true;
		s->shut_rd = true;
		if (s->state == TN_TCP_ESTABLISHED || s->state == TN_TCP_CLOSE_WAIT ||
		    s->state == TN_TCP_SYN_RECEIVED)
			queue_fin(s);
		if (s->state == TN_TCP_FIN_WAIT_2)
			tcp_enter_fin_wait2(s, true); /* s is gone: a compact entry waits for the FIN */
		else if (!s->dead && s->state != TN_TCP_CLOSED)
			tcp_orphan_add(s);
		break;
	}
	tcp_leave(stack);
}

void tn_sock_abort(struct tn_sock *s)
{
	s->linger = true;
	s->linger_s = 0;
	tn_sock_close(s);
}

void tn_sock_set_callback(struct tn_sock *s, tn_sock_cb cb, void *arg)
{
	tcp_enter(s->stack);
	s->cb = cb;
	s->cb_arg = arg;
	if (!cb)
		s->deliver = NULL;
	tcp_notify(s, 0); /* events that waited for a callback */
	tcp_leave(s->stack);
}

void tn_sock_set_deliver(struct tn_sock *s, tn_sock_deliver_fn fn)
{
	s->deliver = fn;
}

int tn_sock_set_nodelay(struct tn_sock *s, bool on)
{
	s->nodelay = on;
	if (on && s->sndbuf.data) {
		tcp_enter(s->stack);
		tcp_output(s);
		tcp_leave(s->stack);
	}
	return 0;
}

int tn_sock_set_cork(struct tn_sock *s, bool on)
{
	s->cork = on;
	if (!on) {
		/* uncork sends what waited at once, whatever Nagle would say (tcp(7)) */
		tn_timer_cancel(s->stack, &s->cork_timer);
		if (s->sndbuf.data) {
			tcp_enter(s->stack);
			s->cork_push = true;
			tcp_output(s);
			s->cork_push = false;
			tcp_leave(s->stack);
		}
	}
	return 0;
}

int tn_sock_set_keepalive(struct tn_sock *s, bool on, uint32_t idle_s, uint32_t intvl_s,
			  uint32_t probes)
{
	if (idle_s > 32767 || intvl_s > 32767 || probes > 127)
		return -EINVAL;
	if (idle_s)
		s->ka_idle_s = idle_s;
	if (intvl_s)
		s->ka_intvl_s = intvl_s;
	if (probes)
		s->ka_probes = probes;
	s->keepalive = on;
	tcp_arm_keepalive(s);
	return 0;
}

int tn_sock_set_bufsize(struct tn_sock *s, uint32_t rcvbuf, uint32_t sndbuf)
{
	if ((rcvbuf && (rcvbuf < 2048 || rcvbuf > (64u << 20))) ||
	    (sndbuf && (sndbuf < 2048 || sndbuf > (64u << 20))))
		return -EINVAL;
	if (s->rcvbuf.data || s->sndbuf.data) {
		tcp_buf_pin(s, rcvbuf, sndbuf);
		return 0;
	}
	if (s->state != TN_TCP_CLOSED && s->state != TN_TCP_LISTEN)
		return -EISCONN; /* closing, its rings gone */
	/* as Linux's SOCK_RCVBUF_LOCK: a size the program chose is kept, never tuned */
	if (rcvbuf)
		s->rcvbuf_size = s->rcvbuf_max = max_u32(rcvbuf, s->stack->cfg.tcp_rcvbuf_min);
	if (sndbuf)
		s->sndbuf_size = s->sndbuf_max = max_u32(sndbuf, s->stack->cfg.tcp_sndbuf_min);
	return 0;
}

int tn_sock_set_linger(struct tn_sock *s, bool on, uint32_t seconds)
{
	s->linger = on;
	s->linger_s = seconds;
	return 0;
}

int tn_sock_set_user_timeout(struct tn_sock *s, uint32_t ms)
{
	s->user_timeout_ms = ms;
	return 0;
}

int tn_sock_set_congestion(struct tn_sock *s, const char *name, size_t len)
{
	const struct tcp_cc_ops *cc = tcp_cc_by_name(name, len);

	if (!cc)
		return -ENOENT;
	if (cc == s->cc)
		return 0;
	s->cc = cc;
	if (s->cwnd) /* a connection under way: the new one starts from where it is */
		s->cc->init(s);
	return 0;
}

void tn_sock_set_tos(struct tn_sock *s, uint8_t tos)
{
	s->tos = tos & (uint8_t)~TN_IP_TOS_ECN_MASK;
}

void tn_sock_set_ttl(struct tn_sock *s, uint8_t ttl)
{
	s->ttl = ttl;
}

void tn_sock_set_user_mss(struct tn_sock *s, uint16_t mss)
{
	s->user_mss = mss;
}

void tn_sock_set_syn_retries(struct tn_sock *s, uint8_t retries)
{
	s->syn_retries = retries;
}

void tn_sock_set_linger2(struct tn_sock *s, int32_t seconds)
{
	s->linger2_s = seconds;
}

static int64_t kept_default(enum tn_sock_kept k)
{
	switch (k) {
	case TN_KEPT_PACING_RATE: return -1;  /* none */
	case TN_KEPT_QUICKACK: return 1;
	case TN_KEPT_MTU_DISCOVER: return 1;  /* Linux's IP_PMTUDISC_WANT */
	default: return 0;
	}
}

/* Most sockets never set one of these: their room is taken at the first. */
int tcp_kept_alloc(struct tn_sock *s)
{
	if (s->kept)
		return 0;
	s->kept = malloc(TN_KEPT_N * sizeof(*s->kept));
	if (!s->kept)
		return -ENOMEM;
	for (unsigned k = 0; k < TN_KEPT_N; k++)
		s->kept[k] = kept_default((enum tn_sock_kept)k);
	return 0;
}

int tn_sock_set_kept(struct tn_sock *s, enum tn_sock_kept k, int64_t v)
{
	if ((unsigned)k >= TN_KEPT_N)
		return -EINVAL;
	if (tcp_kept_alloc(s) < 0)
		return -ENOMEM;
	s->kept[k] = v;
	return 0;
}

int64_t tn_sock_get_kept(const struct tn_sock *s, enum tn_sock_kept k)
{
	if ((unsigned)k >= TN_KEPT_N)
		return 0;
	return s->kept ? s->kept[k] : kept_default(k);
}

int tn_sock_set_reuseaddr(struct tn_sock *s, bool on)
{
	s->reuseaddr = on;
	return 0;
}

void tn_sock_get_opts(const struct tn_sock *s, struct tn_sock_opts *o)
{
	*o = (struct tn_sock_opts){
		.nodelay = s->nodelay, .cork = s->cork, .keepalive = s->keepalive, .linger = s->linger,
		.reuseaddr = s->reuseaddr, .reuseport = s->reuseport, .linger_s = s->linger_s,
		.ka_idle_s = s->ka_idle_s, .ka_intvl_s = s->ka_intvl_s, .ka_probes = s->ka_probes,
		.user_timeout_ms = s->user_timeout_ms, .tos = s->tos,
		.ttl = s->ttl ? s->ttl : s->stack->cfg.ip_default_ttl,
		.rcvbuf = s->rcvbuf_size, .sndbuf = s->sndbuf_size, .user_mss = s->user_mss,
		.syn_retries = s->syn_retries ? s->syn_retries : (uint8_t)s->stack->cfg.tcp_syn_retries,
		.linger2_s = s->linger2_s ? s->linger2_s
					  : (int32_t)(s->stack->cfg.tcp_fin_timeout_ms / 1000),
	};
}

int tn_sock_set_reuseport(struct tn_sock *s, bool on, uint32_t owner)
{
	s->reuseport = on;
	s->reuse_owner = owner;
	return 0;
}

int tn_sock_error(struct tn_sock *s)
{
	return take_error(s);
}

enum tn_tcp_state tn_sock_state(const struct tn_sock *s)
{
	return (enum tn_tcp_state)s->state;
}

size_t tn_sock_readable(const struct tn_sock *s)
{
	return s->rcvbuf.len;
}

uint32_t tn_sock_rcvbuf_size(const struct tn_sock *s)
{
	return s->rcvbuf_size;
}

size_t tn_sock_writable(const struct tn_sock *s)
{
	if (s->state != TN_TCP_ESTABLISHED && s->state != TN_TCP_CLOSE_WAIT)
		return 0;
	return s->fin_queued ? 0 : tn_ring_space(&s->sndbuf);
}

int tn_sock_info(const struct tn_sock *s, struct tn_sock_info *i)
{
	memset(i, 0, sizeof(*i));
	i->state = (enum tn_tcp_state)s->state;
	i->local_addr = s->laddr;
	i->local_port = s->lport;
	i->remote_addr = s->raddr;
	i->remote_port = s->rport;
	if (s->state == TN_TCP_LISTEN) {
		i->recv_q = s->listen->aq_len;
		i->send_q = s->listen->backlog;
	} else {
		i->recv_q = s->rcvbuf.len;
		i->send_q = s->sndbuf.len; /* unacknowledged + unsent bytes */
	}
	i->rtt_us = s->srtt_us;
	i->rttvar_us = s->rttvar_us;
	i->rto_ms = s->rto_us / 1000;
	i->mss = s->mss;
	i->rcv_mss = s->rcv_mss;
	i->cwnd = s->mss ? s->cwnd / s->mss : 0;
	i->ssthresh = s->ssthresh == UINT32_MAX || !s->mss ? UINT32_MAX : s->ssthresh / s->mss;
	i->snd_wnd = s->snd_wnd;
	i->rcv_wnd = seq_gt(s->rcv_adv, s->rcv_nxt) ? s->rcv_adv - s->rcv_nxt : 0;
	i->snd_wscale = s->snd_wscale;
	i->rcv_wscale = s->rcv_wscale;
	i->ts = s->ts_ok;
	i->sack = s->sack_ok;
	i->nodelay = s->nodelay;
	i->keepalive = s->keepalive;
	i->orphan = s->orphan;
	i->retransmits = s->retries;
	i->total_retrans = s->total_retrans;
	i->bytes_acked = s->bytes_acked;
	i->bytes_received = s->bytes_received;
	i->cc = s->cc->name;
	i->ca_state = s->in_recovery ? "recovery" : s->in_loss ? "loss" : "open";
	i->lost = s->mss ? (s->lost_bytes + s->mss - 1) / s->mss : 0;
	i->sacked = s->mss ? (s->sacked_bytes + s->mss - 1) / s->mss : 0;
	i->min_rtt_us = s->min_rtt_us;
	i->reord_seen = s->reord_seen;
	i->rcvbuf = s->rcvbuf_size;
	i->sndbuf = s->sndbuf_size;
	i->rcv_space = s->rcvq_space;
	return 0;
}

/*
 * Half-open connections (struct tcp_req) and orphans in FIN_WAIT_2 (compact
 * entries) have no socket, but listings show them, as ss shows SYN-RECV
 * and FIN-WAIT-2: as the newest, half-open ones by listener first. f is
 * called with each entry's number (0..) and its info.
 */
static size_t list_entries(const struct tn_stack *stack,
			   void (*f)(size_t k, const struct tn_sock_info *info, void *arg), void *arg)
{
	const struct tn_tcp *tcp = tcp_of(stack);
	const char *cc = tcp_cc_get(stack->cfg.tcp_congestion)->name;
	size_t k = 0;
	for (size_t b = 0; b < TCP_LISTEN_BUCKETS; b++) {
		for (const struct tn_sock *l = tcp->listeners[b]; l; l = l->lnext) {
			for (const struct tcp_req *r = l->listen->req_head; r; r = r->next, k++) {
				if (!f)
					continue;
				const struct tn_sock_info i = {
					.state = TN_TCP_SYN_RECEIVED, .orphan = true, .cc = cc,
					.local_addr = r->hn.laddr, .local_port = r->hn.lport,
					.remote_addr = r->hn.raddr, .remote_port = r->hn.rport,
					.ts = r->ts_ok, .sack = r->sack_ok, .snd_wscale = r->snd_wscale,
					.retransmits = r->retries, .mss = r->peer_mss,
					.ssthresh = UINT32_MAX,
				};
				f(k, &i, arg);
			}
		}
	}
	const struct tn_tw_table *fw2 = &tcp->fw2;
	for (uint32_t e = fw2->fifo_head; e != TN_TW_NONE; e = fw2->entries[e].fifo_next, k++) {
		if (!f)
			continue;
		const struct tn_tw_entry *t = &fw2->entries[e];
		const struct tn_sock_info i = {
			.state = TN_TCP_FIN_WAIT_2, .orphan = true, .cc = cc,
			.local_addr = t->hn.laddr, .local_port = t->hn.lport,
			.remote_addr = t->hn.raddr, .remote_port = t->hn.rport,
			.ts = (t->flags & TN_TW_TS) != 0, .rcv_wscale = t->rcv_wscale,
			.rcv_wnd = (uint32_t)t->rcv_wnd << t->rcv_wscale, .ssthresh = UINT32_MAX,
		};
		f(k, &i, arg);
	}
	return k;
}

struct list_window {
	struct tn_sock_info *out;
	size_t first, max; /* out[0] is entry number first */
};

static void list_window_put(size_t k, const struct tn_sock_info *info, void *arg)
{
	struct list_window *w = arg;
	if (k >= w->first && k - w->first < w->max)
		w->out[k - w->first] = *info;
}

size_t tn_sock_list(const struct tn_stack *stack, struct tn_sock_info *out, size_t max)
{
	/* newest first: the entries, then the sockets */
	struct list_window w = {.out = out, .first = 0, .max = max};
	size_t n = list_entries(stack, out ? list_window_put : NULL, &w);
	for (const struct tn_sock *s = tcp_of(stack)->all; s; s = s->all_next, n++)
		if (n < max)
			tn_sock_info(s, &out[n]);
	return n;
}

size_t tn_sock_list_from(const struct tn_stack *stack, size_t start, struct tn_sock_info *out,
			 size_t max)
{
	const struct tn_tcp *tcp = tcp_of(stack);
	size_t nsocks = tcp->nsocks, pos = 0;

	/* The list is newest first: the socket at pos is the (nsocks-1-pos)-th oldest. */
	for (const struct tn_sock *s = tcp->all; s && pos < nsocks; s = s->all_next, pos++) {
		size_t idx = nsocks - 1 - pos;
		if (idx >= start && idx - start < max)
			tn_sock_info(s, &out[idx - start]);
	}
	/* then the entries, the newest */
	struct list_window w = {.out = out, .max = out ? max : 0};
	if (start > nsocks) {
		w.first = start - nsocks;
	} else if (w.max > nsocks - start) {
		w.out = out + (nsocks - start);
		w.max -= nsocks - start;
	} else {
		w.max = 0;
	}
	return nsocks + list_entries(stack, w.max ? list_window_put : NULL, &w);
}
