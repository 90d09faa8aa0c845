/*
 * sockets_req.c - the socket requests of the control protocol (SOCKET,
 * BIND, LISTEN, CONNECT, SHUTDOWN, GETNAME, SETSOCKOPT, SETSOCKOPT_NOWAIT,
 * GETSOCKOPT).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sockets_internal.h"

/* ------------------------------------------------------------------ requests */

static int parse_req(const uint8_t *msg, size_t len, struct req *r)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	bool ok = true;

	memset(r, 0, sizeof(*r));
	tn_rpc_iter_msg(&it, msg, len);
	while (tn_rpc_next(&it, &a)) {
		switch (a.type) {
		case TN_ATTR_ADDR: ok = tn_rpc_get_u32(&a, &r->addr); r->has_addr = true; break;
		case TN_ATTR_PORT: ok = tn_rpc_get_u32(&a, &r->port) && r->port <= 65535; r->has_port = true; break;
		case TN_ATTR_BACKLOG: ok = tn_rpc_get_u32(&a, &r->backlog); break;
		case TN_ATTR_HOW: ok = tn_rpc_get_u32(&a, &r->how); r->has_how = true; break;
		case TN_ATTR_PEER: ok = tn_rpc_get_u32(&a, &r->peer); break;
		case TN_ATTR_LEVEL: ok = tn_rpc_get_u32(&a, &r->level); r->has_level = true; break;
		case TN_ATTR_OPTNAME: ok = tn_rpc_get_u32(&a, &r->optname); r->has_optname = true; break;
		case TN_ATTR_OPTLEN: ok = tn_rpc_get_u32(&a, &r->optlen); break;
		case TN_ATTR_COOKIE: ok = tn_rpc_get_u64(&a, &r->cookie); r->has_cookie = true; break;
		case TN_ATTR_RENEW: ok = tn_rpc_get_u32(&a, &r->renew); break;
		case TN_ATTR_SPARE: {
			uint32_t v = 0;
			ok = tn_rpc_get_u32(&a, &v);
			r->want_spare = v != 0;
			break;
		}
		case TN_ATTR_PAIR_EMPTY: {
			uint32_t v = 0;
			ok = tn_rpc_get_u32(&a, &v);
			r->pair_empty = v != 0;
			break;
		}
		case TN_ATTR_OPTVAL:
			ok = a.len <= TN_RPC_OPTVAL_MAX;
			r->optval = a.value;
			r->optval_len = a.len;
			break;
		default:
			break;
		}
		if (!ok)
			return -EINVAL;
	}
	return it.bad ? -EINVAL : 0;
}

int sockets_request_fds(uint16_t type)
{
	switch (type) {
	case TN_RPC_SOCKET:
	case TN_RPC_SETSOCKOPT_NOWAIT:
		return 0;
	case TN_RPC_BIND:
	case TN_RPC_LISTEN:
	case TN_RPC_CONNECT:
	case TN_RPC_SHUTDOWN:
	case TN_RPC_GETNAME:
	case TN_RPC_SETSOCKOPT:
	case TN_RPC_GETSOCKOPT:
		return 1;
	default:
		return -1;
	}
}

/*
 * The client's socket for core socket sk (closed on failure): a new pair,
 * B in *b, not writable until a connect ends. NULL with *err.
 */
static struct tsock *socket_for(struct sockets *ss, struct sockets_owner *owner,
				struct tn_sock *sk, int *b, int *err)
{
	int a;
	uint64_t cookie;
	uint32_t filler;
	int rc = make_pair(ss, &a, b, &cookie, &filler);
	if (rc < 0) {
		tn_sock_close(sk);
		*err = rc;
		return NULL;
	}
	struct tsock *t = tsock_new(ss, owner, owner->acct, sk, a, cookie);
	if (!t) {
		tn_sock_close(sk);
		close(a);
		close(*b);
		*err = -ENOMEM;
		return NULL;
	}
	tn_sock_set_owner(sk, owner->acct);
	t->filler = filler;
	tn_sock_set_deliver(sk, deliver_to_client);
	tn_sock_set_callback(sk, sock_cb, t);
	return t;
}

/* A new socket (in *made if made is not NULL): its pair is made here, and B goes back with the reply. */
static int req_socket(struct sockets *ss, struct sockets_owner *owner, int *reply_fd,
		      struct tsock **made)
{
	int rc = limit_check(ss, owner->acct);
	if (rc < 0)
		return rc;
	struct tn_sock *sk = tn_sock_open(ss->d->stack);
	if (!sk)
		return -ENOMEM;
	int b;
	struct tsock *t = socket_for(ss, owner, sk, &b, &rc);
	if (!t)
		return rc;
	*reply_fd = b;
	if (made)
		*made = t;
	return 0;
}

static int req_bind(struct sockets *ss, struct sockets_owner *owner, struct tsock *t,
		    const struct req *r)
{
	if (!r->has_port)
		return -EINVAL;
	if (r->port > 0 && r->port < 1024 && !owner->may_bind_low)
		return -EACCES;
	int rc = tn_sock_bind(t->sk, r->addr, (uint16_t)r->port);
	/*
	 * The port may be held by a socket the program closed just before
	 * (bind port 0, close, bind that port: how test suites find a free
	 * port): a close reaches us as a hang-up of its pair, maybe not yet
	 * taken when this request comes. Linux's close is over before the
	 * next call: so it is here, and the bind tries once more.
	 */
	if (rc == -EADDRINUSE && take_hangups(ss) > 0 && t->sk)
		rc = tn_sock_bind(t->sk, r->addr, (uint16_t)r->port);
	return rc;
}

static int req_listen(struct tsock *t, const struct req *r)
{
	if (t->connecting || t->connected)
		return -EINVAL;
	int rc = tn_sock_listen(t->sk, r->backlog > INT32_MAX ? INT32_MAX : (int)r->backlog);
	if (rc == 0)
		t->listening = true;
	return rc;
}

/* The reply names the connection's local end (so getsockname needs no request). */
static int req_connect(struct tsock *t, const struct req *r, int *fds, struct tn_rpc_writer *reply)
{
	if (!r->has_addr || !r->has_port)
		return -EINVAL;
	if (t->listening)
		return -EISCONN; /* as Linux answers for a listener */
	if (t->connecting)
		return -EALREADY;
	if (t->connected)
		return -EISCONN;
	/* the core asks charge_cb for the buffers: ENOBUFS over a limit */
	int rc = tn_sock_connect(t->sk, r->addr, (uint16_t)r->port);
	if (rc != -EINPROGRESS && rc != 0)
		return rc;
	t->connecting = true;
	t->client_end_held = fds[0]; /* until the handshake ends: see sockets.h */
	fds[0] = -1;
	struct tn_sock_info info;
	if (tn_sock_info(t->sk, &info) == 0) {
		tn_rpc_put_u32(reply, TN_ATTR_ADDR, info.local_addr);
		tn_rpc_put_u32(reply, TN_ATTR_PORT, info.local_port);
	}
	return 0;
}

/*
 * CONNECT with RENEW on a socket whose last connect failed: Linux lets a
 * program connect such a socket again, and programs do (a loop that waits
 * for a server to come up). Its pair is over (B hung up to say the connect
 * failed), so a new socket with the old one's settings (failed_keep), and
 * bound where it was, connects instead; its B goes back with the reply,
 * for the shim to put at the old one's fd number (TN_RENEW_* says when).
 * EINVAL, as before, when it is kept no more.
 */
static int req_connect_again(struct sockets *ss, struct sockets_owner *owner, uint64_t cookie,
			     const struct req *r, struct tn_rpc_writer *reply, int *reply_fd)
{
	struct failed_connect *f = NULL;
	for (unsigned i = 0; i < FAILED_KEEP && !f; i++)
		if (ss->failed[i].set && ss->failed[i].cookie == cookie)
			f = &ss->failed[i];
	if (!f)
		return -EINVAL;
	if (r->renew == TN_RENEW_AFTER_REPORT && !f->reported) {
		struct tombstone *tb = find_tomb(ss, cookie);
		int err = tb && tb->err ? tb->err : ECONNABORTED;
		if (tb)
			tb->err = 0;
		f->reported = true;
		return -err;
	}
	int rc = limit_check(ss, owner->acct);
	if (rc < 0)
		return rc;
	struct tn_sock *sk = tn_sock_open_with(ss->d->stack, f->set, &rc);
	if (!sk && rc == -ENOMEM)
		return rc; /* kept for the next try */
	tn_sock_settings_free(f->set);
	*f = (struct failed_connect){ 0 };
	if (!sk)
		return rc; /* its port or address is taken now */
	int b;
	struct tsock *t = socket_for(ss, owner, sk, &b, &rc);
	if (!t)
		return rc;
	int held = fcntl(b, F_DUPFD_CLOEXEC, 0); /* req_connect keeps it (client_end_held) */
	rc = held < 0 ? -errno : req_connect(t, r, &held, reply);
	if (rc < 0) {
		if (held >= 0)
			close(held);
		close(b);
		tsock_free(t);
		return rc;
	}
	*reply_fd = b;
	return 0;
}

static int req_shutdown(struct tsock *t, const struct req *r)
{
	if (!r->has_how || r->how > TN_SHUT_RDWR)
		return -EINVAL;
	if (t->listening && t->sk) {
		/*
		 * As Linux's inet_shutdown: SHUT_WR leaves a listener as it is;
		 * with SHUT_RD it stops listening (queued connections reset),
		 * which is how threaded servers wake a thread blocked in accept.
		 * A closes, so that accept finds EOF and learns from the
		 * tombstone that the socket is over (EINVAL).
		 */
		if (r->how == TN_SHUT_WR)
			return 0;
		tsock_stop_listening(t);
		return 0;
	}
	if (!t->connected || !t->sk)
		return -ENOTCONN;
	if (r->how == TN_SHUT_WR)
		return 0; /* the client shuts B; A's EOF becomes the FIN, after the data */
	int rc = tn_sock_shutdown(t->sk, TN_SHUT_RD);
	if (rc < 0)
		return rc;
	/* reads return EOF from now on; what the peer sends is dropped */
	if (!t->wr_shut) {
		shutdown(t->own_end, SHUT_WR);
		t->wr_shut = true;
	}
	return 0;
}

static int req_getname(struct tsock *t, struct tombstone *tb, const struct req *r,
		       struct tn_rpc_writer *reply)
{
	struct tn_sock_info info;

	if (!t) { /* the connection is over */
		if (r->peer)
			return -ENOTCONN;
		tn_rpc_put_u32(reply, TN_ATTR_ADDR, tb->laddr);
		tn_rpc_put_u32(reply, TN_ATTR_PORT, tb->lport);
		return 0;
	}
	if (!t->sk || tn_sock_info(t->sk, &info) < 0)
		return -EINVAL;
	if (r->peer) {
		if (!t->connected || info.remote_port == 0)
			return -ENOTCONN;
		tn_rpc_put_u32(reply, TN_ATTR_ADDR, info.remote_addr);
		tn_rpc_put_u32(reply, TN_ATTR_PORT, info.remote_port);
	} else {
		tn_rpc_put_u32(reply, TN_ATTR_ADDR, info.local_addr);
		tn_rpc_put_u32(reply, TN_ATTR_PORT, info.local_port);
	}
	return 0;
}

static int request_on(struct sockets *ss, struct sockets_owner *owner, uint16_t type,
		      const struct req *rq, struct tsock *t, struct tombstone *tb, uint64_t cookie,
		      int *fds, struct tn_rpc_writer *reply, int *reply_fd);

int sockets_request(struct sockets *ss, struct sockets_owner *owner, uint16_t type,
		    const uint8_t *msg, size_t len, int *fds, unsigned nfds,
		    struct tn_rpc_writer *reply, int *reply_fd)
{
	struct req r;
	int rc = parse_req(msg, len, &r);

	if (rc < 0)
		return rc;
	if (sockets_request_fds(type) != (int)nfds)
		return -EINVAL;
	if (type == TN_RPC_SOCKET)
		return req_socket(ss, owner, reply_fd, NULL);
	if (type == TN_RPC_SETSOCKOPT_NOWAIT) {
		/* named by cookie: the user's own sockets only; a finished one has nothing to tune */
		struct tsock *t = r.has_cookie ? find_sock(ss, r.cookie) : NULL;
		if (t && (!t->acct || !owner->acct || t->acct->uid != owner->acct->uid))
			t = NULL;
		if (!t)
			return r.has_cookie && find_tomb(ss, r.cookie) ? 0 : -ENOTSOCK;
		spare_taken(t);
		return req_setsockopt_nowait(t->sk ? t : NULL, owner, &r);
	}

	uint64_t cookie;
	if (socket_cookie(fds[0], &cookie) < 0)
		return -ENOTSOCK;
	struct tsock *t = find_sock(ss, cookie);
	struct tombstone *tb = t ? NULL : find_tomb(ss, cookie);
	if (!t && !tb)
		return -ENOTSOCK; /* a socket, but none of ours */
	if (t)
		spare_taken(t);
	rc = request_on(ss, owner, type, &r, t, tb, cookie, fds, reply, reply_fd);
	/*
	 * The copy of B the request carried is closed now, not by closer.c:
	 * only A sends into B, never a client's descriptor (a listener's
	 * accept records carry new Bs of ours), so the close cannot block. A
	 * program's close of B is then over before its next request is read,
	 * as Linux's close is: bind port 0, close, bind that port works.
	 */
	if (fds[0] >= 0) {
		close(fds[0]);
		fds[0] = -1;
	}
	return rc;
}

/* A request on the socket whose B came with it (t), or on its tombstone (tb). */
static int request_on(struct sockets *ss, struct sockets_owner *owner, uint16_t type,
		      const struct req *rq, struct tsock *t, struct tombstone *tb, uint64_t cookie,
		      int *fds, struct tn_rpc_writer *reply, int *reply_fd)
{
	int rc;

	if (!t && type == TN_RPC_CONNECT && rq->renew)
		return req_connect_again(ss, owner, cookie, rq, reply, reply_fd);
	if (!t || !t->sk) {
		/* a socket whose core half is gone but not yet buried answers as its tombstone */
		struct tombstone now = { .cookie = cookie, .err = t ? t->done_err : 0 };
		if (!tb)
			tb = &now;
		switch (type) {
		case TN_RPC_GETNAME:
			return req_getname(NULL, tb, rq, reply);
		case TN_RPC_GETSOCKOPT:
			return req_getsockopt(NULL, tb, rq, reply);
		case TN_RPC_SETSOCKOPT:
			return req_setsockopt(NULL, rq);
		case TN_RPC_SHUTDOWN:
			return -ENOTCONN;
		default:
			return -EINVAL;
		}
	}
	switch (type) {
	case TN_RPC_BIND:
		return req_bind(ss, owner, t, rq);
	case TN_RPC_LISTEN:
		rc = req_listen(t, rq);
		if (rc == 0)
			tsock_pump(t);
		return rc;
	case TN_RPC_CONNECT:
		rc = req_connect(t, rq, fds, reply);
		struct tsock *spare;
		if (rc == 0 && rq->want_spare && req_socket(ss, owner, reply_fd, &spare) == 0) {
			tn_rpc_put_u32(reply, TN_ATTR_SPARE, 1);
			spare->spare = true;
			owner->nspares++;
		}
		/* else none: over a limit the client's next socket() asks, and hears why */
		return rc;
	case TN_RPC_SHUTDOWN:
		rc = req_shutdown(t, rq);
		if (rc == 0)
			tsock_pump(t);
		return rc;
	case TN_RPC_GETNAME:
		return req_getname(t, NULL, rq, reply);
	case TN_RPC_SETSOCKOPT:
		return req_setsockopt(t, rq);
	case TN_RPC_GETSOCKOPT:
		return req_getsockopt(t, NULL, rq, reply);
	default:
		return -EOPNOTSUPP;
	}
}
