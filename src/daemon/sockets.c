/*
 * sockets.c - tapnet sockets for client processes.
 *
 * Every tapnet socket is, in the client, one end B of a Unix SOCK_STREAM
 * socketpair; tapnetd holds the other end A and bridges it to a tn_sock:
 *
 *   client --write--> B ==pair==> A --recvmsg--> send buffer    --> peer
 *   client <--read--- B <==pair== A <--sendmsg-- receive buffer <-- peer
 *
 * Nothing is buffered without bound: A is read straight into the free
 * space of the core's send buffer (tn_sock_send_space, then
 * tn_sock_send_commit), so a full TCP send buffer stops reading A, the
 * pair fills, the client's write blocks; and peer data is sent to A
 * straight from the core's receive buffer (tn_sock_recv_peek), which drops
 * only what A took (tn_sock_recv_consume): nothing waits here, and a client
 * that does not read closes the TCP window.
 *
 * Peer data that arrives in a batch of frames is passed on once, after the
 * batch (an ev_prepare watcher runs before the loop waits again), rather
 * than once per segment: one send to A instead of dozens.
 *
 * The client's side of the story, as A sees it:
 *   read EOF on A, no hang-up       client shutdown(SHUT_WR)   -> FIN
 *   hang-up on A (B's last close)   close()                    -> FIN, or RST
 *                                   when data the client never read is left
 *                                   (B's queue, the core's receive buffer)
 * and the peer's, as the client sees it:
 *   peer FIN       shutdown(A, SHUT_WR): the client reads EOF after the data
 *   peer RST       A is closed: the client reads the data, then EOF (or
 *                  ECONNRESET if it had written bytes not yet taken); writes
 *                  fail with EPIPE; getsockopt(SO_ERROR) says ECONNRESET.
 *
 * tapnetd creates every pair itself and hands B to the client (with the
 * SOCKET reply, or an accepted connection's record), so A is never a
 * client's fd, and the only fds a client passes are B's copies naming
 * their socket. Whatever a client passes or sends into A (SCM_RIGHTS on
 * B) is closed by closer.c, never on the loop: see closer.h.
 *
 * Writability tells the truth about a connect in progress: tapnetd
 * shrinks B's send buffer and fills it with filler bytes before handing B
 * over, so B is not writable. A connect request carries B; the daemon keeps that
 * copy until the handshake ends. Success: the filler is read and dropped,
 * B's send buffer restored, the copy closed (POLLOUT). Failure: A is
 * closed, which frees the filler too (POLLOUT|POLLHUP) and SO_ERROR
 * reports the cause. A listening socket keeps its filler: like a kernel
 * listener its fd is never writable. It is readable when an accepted
 * connection waits: each comes as a struct tn_accept_rec with the new
 * connection's B attached (SCM_RIGHTS).
 *
 * Buffer space is reserved, not counted as it fills: a connection holds
 * its TCP receive and send buffers (the core allocates them whole, and
 * nothing of it waits here). The core asks charge_cb before it allocates
 * them and tells it when it frees them, so that whoever holds them pays:
 * a client's connection its user's account (a listener's connections the
 * listener's, from the moment the core gives them buffers, while they
 * wait in the accept queue too), the built-in services' and everyone's
 * the total, and a closed connection until its FIN exchange is over.
 * Over max_buffer_bytes(_per_client) a connect fails with ENOBUFS and a
 * listener's new connection is dropped (the peer's SYN is retransmitted):
 * what the core holds never exceeds the limits. Over max_sockets(_per_
 * client), an accept waits (the connection stays in the core's accept
 * queue, the listening fd is not readable) until a socket is gone.
 *
 * Requests name a socket by passing B; it is found by B's socket cookie
 * (SO_COOKIE), the same in every process holding it (dup, fork, exec,
 * SCM_RIGHTS) and, being 64 bits from a counter, never given to another
 * socket, unlike an inode number. When a connection is over and A is
 * closed, a small tombstone keeps the cookie's last error and local
 * address for SO_ERROR and getsockname.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sockets.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "closer.h"
#include "daemon.h"

#define CHUNK 65536            /* bytes moved per read/recv */
#define HASH_BUCKETS 4096      /* by B's cookie */
#define TOMBSTONES 4096        /* finished sockets remembered */
#define HUP_BATCH 64
#define PAIR_SNDBUF 212992     /* asked for each end's send buffer (the kernel caps it) */
#define ACCEPT_BATCH 64        /* connections handed to one listener per wakeup */
#define FILLER_CHUNK 4096
#define PASSED_FDS_MAX 253     /* the kernel's SCM_MAX_FD: all one recvmsg() can bring */

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

struct tsock {
	struct sockets *ss;
	struct tsock *hnext;          /* cookie hash chain */
	struct tsock *prev, *next;    /* every socket */
	struct sockets_owner *conn;   /* the connection that made it; NULL once closed */
	struct sockets_account *acct; /* its user's, charged until it is freed */
	struct tn_sock *sk;           /* NULL once closed in the core */
	int a;                        /* our end of the pair */
	int b_hold;                   /* the client's end, held while connecting */
	uint64_t cookie;              /* B's SO_COOKIE: the socket's name in requests */
	ev_io io;
	int io_events;
	uint32_t filler;              /* filler bytes still to drop from A */
	struct tsock *pend_next;      /* in ss->pending: peer data to pass on */
	bool pending;
	bool a_idle;                  /* the last read of A found nothing */
	int pend_b;                   /* listener: accepted B not yet sent */
	struct tn_accept_rec pend_rec;
	bool listening, connecting, connected;
	bool rd_eof;                  /* client shut its write side: FIN sent */
	bool wr_shut;                 /* peer FIN passed on: A's write side shut */
	bool client_closed;           /* B's last close seen */
	bool in_hup;                  /* registered in the hang-up epoll */
	bool in_pump, again, done;
	bool accept_waits;            /* listener: an accept waits for a socket slot */
	unsigned wake_gen;
	int done_err;                 /* positive errno for SO_ERROR, 0 for none */
	int err;                      /* pending SO_ERROR kept here */
	/* option values reported by getsockopt */
	bool reuseaddr, reuseport, keepalive, nodelay, linger_on;
	int linger_s;
	int rcvbuf, sndbuf;
	int ka_idle, ka_intvl, ka_cnt;
};

struct tombstone {
	uint64_t cookie;              /* 0: free */
	int err;
	tn_ip4 laddr;
	uint16_t lport;
};

struct sockets {
	struct tapnetd *d;
	struct tsock *hash[HASH_BUCKETS];
	struct tsock *all;
	unsigned count;
	unsigned max_total, max_per_client;
	unsigned max_clients_per_user;
	uint64_t buf_bytes, buf_max, buf_max_per_client;
	struct sockets_account *accounts; /* users with connections or sockets */
	unsigned accepts_waiting;     /* listeners with accept_waits set */
	unsigned wake_gen;
	ev_idle wake_idle;            /* hands space given back to waiting listeners */
	int hup_ep;                   /* every A, events 0: hang-ups only */
	ev_io hup_io;
	struct tombstone tomb[TOMBSTONES];
	unsigned tomb_next;
	struct log_ratelimit limit_log, err_log, buf_log;
	struct tsock *pending;        /* sockets with peer data for the client */
	ev_prepare pend_watcher;
	uint8_t scratch[CHUNK];
};

static void ts_pump(struct tsock *t);

/* ------------------------------------------------------------------ lookup */

static unsigned hash_cookie(uint64_t cookie)
{
	return (unsigned)((cookie * 0x9e3779b97f4a7c15ull) >> 40) % HASH_BUCKETS;
}

static struct tsock *find_sock(struct sockets *ss, uint64_t cookie)
{
	for (struct tsock *t = ss->hash[hash_cookie(cookie)]; t; t = t->hnext)
		if (t->cookie == cookie)
			return t;
	return NULL;
}

static struct tombstone *find_tomb(struct sockets *ss, uint64_t cookie)
{
	for (unsigned i = 0; i < TOMBSTONES; i++)
		if (ss->tomb[i].cookie == cookie && cookie != 0)
			return &ss->tomb[i];
	return NULL;
}

/*
 * The cookie of fd, which must be a Unix stream socket. Socket options
 * only: getsockopt() on anything but a socket fails with ENOTSOCK at
 * once, where fstat() of a file on a FUSE mount could wait for its server.
 */
static int unix_stream_cookie(int fd, uint64_t *cookie)
{
	int v;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX)
		return -ENOTSOCK;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
		return -ENOTSOCK;
	len = sizeof(*cookie);
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0 || *cookie == 0)
		return -ENOTSOCK;
	return 0;
}

/*
 * recvmsg() on A, always with room for passed fds: a client may send
 * some on B, and the kernel would release those it cannot hand over in
 * our context. They go to closer.c.
 */
static ssize_t recv_a(struct tsock *t, struct msghdr *msg)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * PASSED_FDS_MAX)];
	} cbuf;

	msg->msg_control = cbuf.buf;
	msg->msg_controllen = sizeof(cbuf.buf);
	ssize_t n = recvmsg(t->a, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 || msg->msg_controllen == 0)
		return n;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			closer_close(fd);
			DAEMON_COUNT(t->ss->d, CtlFdsRefused, 1);
		}
	}
	return n;
}

/* ------------------------------------------------------------------ buffer space */

/* Reserves bytes for a connection of acct (NULL: nobody's); -ENOBUFS over a limit. */
static int charge_take(struct sockets *ss, struct sockets_account *acct, uint64_t bytes,
		       const char *what)
{
	const char *key = NULL;
	uint64_t limit = 0, suppressed;
	char note[64];

	if (ss->buf_bytes + bytes > ss->buf_max) {
		key = "max_buffer_bytes";
		limit = ss->buf_max;
	} else if (acct && acct->buf_bytes + bytes > ss->buf_max_per_client) {
		key = "max_buffer_bytes_per_client";
		limit = ss->buf_max_per_client;
	}
	if (key) {
		if (log_ratelimit_ok(&ss->buf_log, &suppressed)) {
			if (acct)
				log_warning("uid %ld: %s: %s (%llu) reached%s", (long)acct->uid, what, key,
					    (unsigned long long)limit, log_suppressed_note(suppressed, note));
			else
				log_warning("%s: %s (%llu) reached%s", what, key,
					    (unsigned long long)limit, log_suppressed_note(suppressed, note));
		}
		return -ENOBUFS;
	}
	ss->buf_bytes += bytes;
	if (acct)
		acct->buf_bytes += bytes;
	ss->d->counters[DCTR_SockBufferBytes] = ss->buf_bytes;
	return 0;
}

static void charge_give_back(struct sockets *ss, struct sockets_account *acct, uint64_t bytes)
{
	if (!bytes)
		return;
	ss->buf_bytes -= bytes;
	if (acct)
		acct->buf_bytes -= bytes;
	ss->d->counters[DCTR_SockBufferBytes] = ss->buf_bytes;
}

/*
 * The core's question before it allocates a connection's buffers (bytes >
 * 0), and its news when it freed them (see tn_stack_set_charge). owner is
 * the user's account, or NULL (built-in services).
 */
static bool charge_cb(void *ctx, void *owner, int64_t bytes)
{
	struct sockets *ss = ctx;
	struct sockets_account *acct = owner;

	if (bytes < 0) {
		charge_give_back(ss, acct, (uint64_t)-bytes);
		return true;
	}
	if (charge_take(ss, acct, (uint64_t)bytes, "connection refused") < 0) {
		DAEMON_COUNT(ss->d, SockBufferRefusals, 1);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------ accounts */

static struct sockets_account *account_find(struct sockets *ss, uid_t uid)
{
	for (struct sockets_account *a = ss->accounts; a; a = a->next)
		if (a->uid == uid)
			return a;
	return NULL;
}

int sockets_owner_attach(struct sockets *ss, struct sockets_owner *owner)
{
	struct sockets_account *acct = account_find(ss, owner->cred.uid);

	if (acct && acct->nclients >= ss->max_clients_per_user)
		return -EMFILE;
	if (!acct) {
		acct = calloc(1, sizeof(*acct));
		if (!acct)
			return -ENOMEM;
		acct->uid = owner->cred.uid;
		acct->next = ss->accounts;
		ss->accounts = acct;
	}
	acct->nclients++;
	owner->acct = acct;
	return 0;
}

/* A socket is gone: every listener whose accept waited tries again, once. */
static void wake_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct sockets *ss = w->data;
	unsigned gen = ++ss->wake_gen;

	ev_idle_stop(loop, w);
	for (;;) {
		struct tsock *t = ss->all;
		while (t && !(t->accept_waits && t->wake_gen != gen))
			t = t->next;
		if (!t)
			break;
		t->wake_gen = gen;
		t->accept_waits = false;
		ss->accepts_waiting--;
		ts_pump(t); /* may wait again, may free sockets: start over from the head */
	}
	daemon_rearm_timer(ss->d);
}

/* ------------------------------------------------------------------ life and death */

static void bury(struct sockets *ss, const struct tsock *t, int err)
{
	struct tombstone *tb = find_tomb(ss, t->cookie);
	struct tn_sock_info info;

	if (!tb) {
		tb = &ss->tomb[ss->tomb_next];
		ss->tomb_next = (ss->tomb_next + 1) % TOMBSTONES;
	}
	memset(tb, 0, sizeof(*tb));
	tb->cookie = t->cookie;
	tb->err = err;
	if (t->sk && tn_sock_info(t->sk, &info) == 0) {
		tb->laddr = info.local_addr;
		tb->lport = info.local_port;
	}
}

static void io_set(struct tsock *t, int events)
{
	struct ev_loop *loop = t->ss->d->loop;

	if (t->io_events == events)
		return;
	ev_io_stop(loop, &t->io);
	t->io_events = events;
	if (events) {
		ev_io_set(&t->io, t->a, events);
		ev_io_start(loop, &t->io);
	}
}

static void hup_del(struct tsock *t)
{
	if (t->in_hup)
		epoll_ctl(t->ss->hup_ep, EPOLL_CTL_DEL, t->a, NULL);
	t->in_hup = false;
}

/* Frees t; the core socket is closed (FIN) unless already gone. */
static void ts_free(struct tsock *t)
{
	struct sockets *ss = t->ss;

	io_set(t, 0);
	hup_del(t);
	if (t->sk) {
		tn_sock_set_callback(t->sk, NULL, NULL);
		tn_sock_close(t->sk);
		t->sk = NULL;
	}
	closer_close(t->a); /* a client may have sent fds into it: see closer.h */
	closer_close(t->b_hold);
	if (t->pend_b >= 0)
		close(t->pend_b); /* ours, never in a client's hands */
	if (t->accept_waits) {
		t->accept_waits = false;
		ss->accepts_waiting--;
	}
	if (t->pending) {
		struct tsock **q = &ss->pending;
		while (*q && *q != t)
			q = &(*q)->pend_next;
		if (*q)
			*q = t->pend_next;
	}
	struct tsock **pp = &ss->hash[hash_cookie(t->cookie)];
	while (*pp && *pp != t)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = t->hnext;
	if (t->prev)
		t->prev->next = t->next;
	else
		ss->all = t->next;
	if (t->next)
		t->next->prev = t->prev;
	if (t->conn)
		t->conn->nsockets--;
	if (t->acct)
		t->acct->nsockets--;
	ss->count--;
	ss->d->counters[DCTR_SockOpen] = ss->count;
	if (ss->accepts_waiting)
		ev_idle_start(ss->d->loop, &ss->wake_idle); /* not now: we may be deep in a pump */
	free(t);
}

/* The socket is over for the client: remember how it ended, free it. */
static void ts_finish(struct tsock *t)
{
	bury(t->ss, t, t->done_err);
	ts_free(t);
}

static void sock_cb(struct tn_sock *s, unsigned events, void *arg);

static void a_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tsock *t = w->data;
	struct tapnetd *d = t->ss->d;

	if (revents & EV_READ)
		t->a_idle = false;
	ts_pump(t);
	daemon_rearm_timer(d);
}

/* A new socket for the pair end a (ours) whose other end has this cookie. */
static struct tsock *ts_new(struct sockets *ss, struct sockets_owner *conn,
			    struct sockets_account *acct, struct tn_sock *sk, int a, uint64_t cookie)
{
	struct tsock *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ss = ss;
	t->conn = conn;
	t->acct = acct;
	t->sk = sk;
	t->a = a;
	t->b_hold = -1;
	t->pend_b = -1;
	t->cookie = cookie;
	ev_io_init(&t->io, a_io_cb, a, 0);
	t->io.data = t;

	struct epoll_event ev = { .events = 0, .data.ptr = t };
	if (epoll_ctl(ss->hup_ep, EPOLL_CTL_ADD, a, &ev) < 0) {
		free(t);
		return NULL;
	}
	t->in_hup = true;
	unsigned h = hash_cookie(cookie);
	t->hnext = ss->hash[h];
	ss->hash[h] = t;
	t->next = ss->all;
	if (t->next)
		t->next->prev = t;
	ss->all = t;
	ss->count++;
	ss->d->counters[DCTR_SockOpen] = ss->count;
	if (conn)
		conn->nsockets++;
	if (acct)
		acct->nsockets++;
	return t;
}

static int limit_check(struct sockets *ss, const struct sockets_account *acct)
{
	uint64_t suppressed;
	char note[64];

	if (ss->count >= ss->max_total) {
		DAEMON_COUNT(ss->d, SockRefusals, 1);
		if (log_ratelimit_ok(&ss->limit_log, &suppressed))
			log_warning("socket refused: max_sockets (%u) reached%s", ss->max_total,
				    log_suppressed_note(suppressed, note));
		return -ENFILE;
	}
	if (acct && acct->nsockets >= ss->max_per_client) {
		DAEMON_COUNT(ss->d, SockRefusals, 1);
		if (log_ratelimit_ok(&ss->limit_log, &suppressed))
			log_warning("uid %ld: socket refused: max_sockets_per_client (%u) reached%s",
				    (long)acct->uid, ss->max_per_client,
				    log_suppressed_note(suppressed, note));
		return -EMFILE;
	}
	return 0;
}

/* ------------------------------------------------------------------ the data path */

#define set_done(t, err) set_done_at(t, err, __LINE__)
static void set_done_at(struct tsock *t, int err, int line)
{
	log_debug("socket %llx done at line %d (err %d, rd_eof %d wr_shut %d closed %d unread %zu filler %u)",
		  (unsigned long long)t->cookie, line, err, t->rd_eof, t->wr_shut, t->client_closed,
		  t->sk ? tn_sock_readable(t->sk) : 0, t->filler);
	t->done = true;
	if (err && !t->done_err)
		t->done_err = err;
}

/* Ends the TCP connection as a close() would: RST when abort, else FIN (or RST per the core). */
static void close_core(struct tsock *t, bool abort)
{
	if (!t->sk)
		return;
	tn_sock_set_callback(t->sk, NULL, NULL);
	if (abort)
		tn_sock_abort(t->sk);
	else
		tn_sock_close(t->sk);
	t->sk = NULL;
}

/* Did the client's last close happen (as opposed to shutdown(SHUT_WR))? */
static bool a_hung_up(const struct tsock *t)
{
	struct pollfd p = { .fd = t->a, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* Peer data the client has not taken yet (and would lose with a close). */
static bool unread(const struct tsock *t)
{
	return t->sk && !t->wr_shut && tn_sock_readable(t->sk) > 0;
}

/* Peer -> client: from the core's receive buffer into A while A takes it. */
static void pump_to_client(struct tsock *t)
{
	if (t->wr_shut || !t->sk)
		return;
	for (;;) {
		struct tn_sock_piece piece[2];
		int np;
		long n = tn_sock_recv_peek(t->sk, piece, &np);
		if (n == -EAGAIN)
			return;
		if (n == 0) { /* peer FIN, everything before it delivered */
			shutdown(t->a, SHUT_WR);
			t->wr_shut = true;
			/* a closed client may still have bytes in A for the peer: not yet */
			if (t->rd_eof) {
				close_core(t, false);
				set_done(t, 0);
			}
			return;
		}
		if (n < 0) { /* reset, timed out: the client reads EOF, SO_ERROR says why */
			close_core(t, false);
			set_done(t, (int)-n);
			return;
		}
		struct iovec iov[2];
		for (int i = 0; i < np; i++) {
			iov[i].iov_base = (void *)piece[i].base;
			iov[i].iov_len = piece[i].len;
		}
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)np };
		ssize_t w = sendmsg(t->a, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return; /* A is full: EV_WRITE resumes */
			/* B is gone with our data unread: a close with unread data */
			close_core(t, true);
			set_done(t, 0);
			return;
		}
		tn_sock_recv_consume(t->sk, (size_t)w);
		if (w < n)
			return; /* A is full: EV_WRITE resumes */
	}
}

/* Client -> peer: read A only as far as the TCP send buffer has room. */
static void pump_from_client(struct tsock *t)
{
	struct sockets *ss = t->ss;

	while (!t->rd_eof && t->sk) {
		/* client data goes straight into the TCP send buffer; filler into scratch */
		struct iovec iov[2];
		struct msghdr msg = { .msg_iov = iov };
		if (t->filler) {
			iov[0].iov_base = ss->scratch;
			iov[0].iov_len = t->filler < CHUNK ? t->filler : CHUNK;
			msg.msg_iovlen = 1;
		} else {
			struct tn_sock_wpiece piece[2];
			int np;
			if (tn_sock_send_space(t->sk, piece, &np) <= 0)
				return; /* full (TN_SOCK_EV_WRITABLE resumes), or over: events follow */
			for (int i = 0; i < np; i++) {
				iov[i].iov_base = piece[i].base;
				iov[i].iov_len = piece[i].len;
			}
			msg.msg_iovlen = (size_t)np;
		}
		ssize_t n = recv_a(t, &msg);
		if (n < 0) {
			if (errno == EAGAIN)
				t->a_idle = true; /* until EV_READ or news from the core */
			if (errno == EAGAIN || errno == EINTR)
				return;
			/* ECONNRESET: B was closed with data we sent it unread */
			close_core(t, true);
			set_done(t, 0);
			return;
		}
		if (n == 0) {
			t->rd_eof = true;
			if (t->client_closed || a_hung_up(t)) {
				t->client_closed = true;
				close_core(t, unread(t));
				set_done(t, 0);
				return;
			}
			int r = tn_sock_shutdown(t->sk, TN_SHUT_WR);
			if (r < 0 && r != -ENOTCONN)
				log_debug("shutdown after the client's SHUT_WR: %s", strerror(-r));
			if (t->wr_shut) {
				close_core(t, false);
				set_done(t, 0);
			}
			return;
		}
		if (t->filler) {
			t->filler -= (uint32_t)n;
			continue;
		}
		long s = tn_sock_send_commit(t->sk, (size_t)n);
		if (s != n) {
			/* the space was there: only a connection that just died says otherwise */
			uint64_t suppressed;
			char note[64];
			if (log_ratelimit_ok(&ss->err_log, &suppressed))
				log_debug("tn_sock_send_commit took %ld of %zd bytes%s", s, n,
					  log_suppressed_note(suppressed, note));
			return;
		}
	}
}

/*
 * A new pair: A, ours, non-blocking; B, the client's, and its cookie. With
 * filler, B's send buffer is shrunk and filled (the count in *filler), so
 * that B is not writable until a connect ends (see the top of the file).
 * Returns 0 or -errno.
 */
static int make_pair(struct sockets *ss, int *a, int *b, uint64_t *cookie, uint32_t *filler)
{
	int sv[2];
	int sz = PAIR_SNDBUF, one = 1;
	socklen_t len = sizeof(*cookie);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	int fl = fcntl(sv[0], F_GETFL);
	if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0 ||
	    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0 ||
	    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, filler ? &one : &sz, sizeof(sz)) < 0 ||
	    getsockopt(sv[1], SOL_SOCKET, SO_COOKIE, cookie, &len) < 0) {
		int err = errno;
		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	if (filler) {
		*filler = 0;
		for (;;) {
			ssize_t n = send(sv[1], ss->scratch, FILLER_CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				break;
			*filler += (uint32_t)n;
		}
	}
	*a = sv[0];
	*b = sv[1];
	return 0;
}

/* Listener: hand accepted connections to the client while its fd takes them. */
static void pump_accept(struct tsock *t)
{
	struct sockets *ss = t->ss;

	for (int i = 0; i < ACCEPT_BATCH && t->sk; i++) {
		if (t->pend_b >= 0) {
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(int))];
			} cbuf;
			struct iovec iov = { &t->pend_rec, sizeof(t->pend_rec) };
			struct msghdr msg = {
				.msg_iov = &iov, .msg_iovlen = 1,
				.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
			};
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &t->pend_b, sizeof(int));
			ssize_t n = sendmsg(t->a, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return; /* the client does not accept: EV_WRITE */
			if (n != (ssize_t)sizeof(t->pend_rec))
				log_warning("cannot pass an accepted connection: %s",
					    n < 0 ? strerror(errno) : "short write");
			close(t->pend_b); /* its A sees the hang-up if it never arrived */
			t->pend_b = -1;
		}
		int err = 0;
		struct tn_sock_info li;
		if (tn_sock_info(t->sk, &li) < 0 || li.recv_q == 0)
			return; /* nothing to accept */
		/* over a socket limit the connection waits in the accept queue, as on Linux */
		if (limit_check(ss, t->acct) < 0) {
			if (!t->accept_waits) {
				t->accept_waits = true;
				ss->accepts_waiting++;
				DAEMON_COUNT(ss->d, SockAcceptWaits, 1);
			}
			return;
		}
		/* its buffers are charged already: see charge_cb */
		struct tn_sock *c = tn_sock_accept(t->sk, &err);
		if (!c)
			return;
		int a, b;
		uint64_t cookie;
		int rc = make_pair(ss, &a, &b, &cookie, NULL);
		if (rc < 0) {
			log_warning("cannot create a socketpair for an accepted connection: %s",
				    strerror(-rc));
			tn_sock_abort(c);
			return;
		}
		struct tsock *n = ts_new(ss, t->conn, t->acct, c, a, cookie);
		if (!n) {
			log_warning("cannot register an accepted connection: %s", strerror(errno));
			tn_sock_abort(c);
			close(a);
			close(b);
			return;
		}
		n->connected = true;
		/* what the core copied from the listener, for getsockopt */
		n->nodelay = t->nodelay;
		n->keepalive = t->keepalive;
		n->ka_idle = t->ka_idle;
		n->ka_intvl = t->ka_intvl;
		n->ka_cnt = t->ka_cnt;
		n->linger_on = t->linger_on;
		n->linger_s = t->linger_s;
		n->rcvbuf = t->rcvbuf;
		n->sndbuf = t->sndbuf;
		n->reuseaddr = t->reuseaddr;
		n->reuseport = t->reuseport;
		struct tn_sock_info info;
		memset(&t->pend_rec, 0, sizeof(t->pend_rec));
		t->pend_rec.version = TN_ACCEPT_REC_VERSION;
		if (tn_sock_info(c, &info) == 0) {
			t->pend_rec.peer_addr = htonl(info.remote_addr);
			t->pend_rec.peer_port = htons(info.remote_port);
			t->pend_rec.local_addr = htonl(info.local_addr);
			t->pend_rec.local_port = htons(info.local_port);
		}
		t->pend_b = b;
		/* last: it delivers what happened before accept, may even end n */
		tn_sock_set_callback(c, sock_cb, n);
	}
}

static void ts_update_io(struct tsock *t)
{
	int ev = 0;

	if (t->listening) {
		if (t->pend_b >= 0)
			ev |= EV_WRITE;
	} else if (t->connected && t->sk) {
		if (!t->rd_eof && (t->filler || tn_sock_writable(t->sk) > 0))
			ev |= EV_READ;
		if (unread(t))
			ev |= EV_WRITE; /* A was full */
	}
	io_set(t, ev);
}

static void ts_pump(struct tsock *t)
{
	if (t->in_pump) {
		t->again = true;
		return;
	}
	t->in_pump = true;
	do {
		t->again = false;
		if (t->listening)
			pump_accept(t);
		else if (t->connected) {
			pump_to_client(t);
			if (!t->done && !t->a_idle)
				pump_from_client(t);
		}
	} while (t->again && !t->done);
	t->in_pump = false;
	if (t->done)
		ts_finish(t);
	else
		ts_update_io(t);
}

/* The handshake ended well: drop the filler, make B writable. */
static void connect_done(struct tsock *t)
{
	struct sockets *ss = t->ss;

	t->connecting = false;
	t->connected = true;
	t->a_idle = false;
	while (t->filler) {
		struct iovec iov = { ss->scratch, t->filler < CHUNK ? t->filler : CHUNK };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recv_a(t, &msg);
		if (n <= 0)
			break; /* a client that lied about it: pump_from_client drops the rest */
		t->filler -= (uint32_t)n;
	}
	if (t->b_hold >= 0) {
		int sz = PAIR_SNDBUF;
		if (setsockopt(t->b_hold, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
			log_debug("cannot restore a connected socket's send buffer: %s",
				  strerror(errno));
		closer_close(t->b_hold);
		t->b_hold = -1;
	}
}

static int pos_err(int e)
{
	return e < 0 ? -e : e;
}

/* Before the loop waits: pass on the peer data that came in since it last did. */
static void pend_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct sockets *ss = w->data;

	if (!ss->pending)
		return;
	while (ss->pending) {
		struct tsock *t = ss->pending;
		ss->pending = t->pend_next;
		t->pending = false;
		ts_pump(t);
	}
	daemon_rearm_timer(ss->d);
}

static void sock_cb(struct tn_sock *s, unsigned events, void *arg)
{
	struct tsock *t = arg;

	if (!t)
		return;
	if (events == TN_SOCK_EV_READABLE && t->connected && !t->in_pump) {
		/* more may come in the same batch of frames: pend_cb passes it all on */
		if (!t->pending) {
			t->pending = true;
			t->pend_next = t->ss->pending;
			t->ss->pending = t;
		}
		return;
	}
	if (events & ~(unsigned)TN_SOCK_EV_READABLE)
		t->a_idle = false;
	if (t->connecting) {
		if (events & TN_SOCK_EV_CONNECTED) {
			connect_done(t);
		} else if (events & (TN_SOCK_EV_ERROR | TN_SOCK_EV_CLOSED)) {
			int err = pos_err(tn_sock_error(s));
			t->connecting = false;
			close_core(t, false);
			set_done(t, err ? err : ECONNREFUSED);
			if (!t->in_pump)
				ts_finish(t);
			return;
		} else {
			return;
		}
	}
	ts_pump(t);
}

/* ------------------------------------------------------------------ hang-ups */

static void hup_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sockets *ss = w->data;
	struct epoll_event evs[HUP_BATCH];
	int n = epoll_wait(ss->hup_ep, evs, HUP_BATCH, 0);

	for (int i = 0; i < n; i++) {
		struct tsock *t = evs[i].data.ptr;
		hup_del(t); /* level-triggered: once is enough */
		t->client_closed = true;
		t->a_idle = false;
		if (!t->connected || t->rd_eof) {
			/* not connected, or nothing more to read: close as close() does */
			close_core(t, unread(t));
			set_done(t, 0);
			ts_finish(t);
			continue;
		}
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		getsockopt(t->a, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr == ECONNRESET || unread(t)) {
			/* the client closed with data it never read: RST (RFC 1122 4.2.2.13) */
			close_core(t, true);
			set_done(t, 0);
			ts_finish(t);
			continue;
		}
		ts_pump(t); /* what it wrote before closing still goes out, then FIN */
	}
	daemon_rearm_timer(ss->d);
}

/* ------------------------------------------------------------------ requests */

struct req {
	bool has_addr, has_port;
	uint32_t addr, port;
	uint32_t backlog, how, peer, level, optname, optlen;
	bool has_how, has_level, has_optname;
	const uint8_t *optval;
	size_t optval_len;
};

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

/* A new socket: its pair is made here, and B goes back with the reply. */
static int req_socket(struct sockets *ss, struct sockets_owner *owner, int *reply_fd)
{
	int rc = limit_check(ss, owner->acct);
	if (rc < 0)
		return rc;
	struct tn_sock *sk = tn_sock_open(ss->d->stack);
	if (!sk)
		return -ENOMEM;
	int a, b;
	uint64_t cookie;
	uint32_t filler;
	rc = make_pair(ss, &a, &b, &cookie, &filler);
	if (rc < 0) {
		tn_sock_close(sk);
		return rc;
	}
	struct tsock *t = ts_new(ss, owner, owner->acct, sk, a, cookie);
	if (!t) {
		tn_sock_close(sk);
		close(a);
		close(b);
		return -ENOMEM;
	}
	tn_sock_set_owner(sk, owner->acct);
	t->filler = filler;
	t->rcvbuf = (int)ss->d->cfg.core.tcp_rcvbuf;
	t->sndbuf = (int)ss->d->cfg.core.tcp_sndbuf;
	tn_sock_set_callback(sk, sock_cb, t);
	*reply_fd = b;
	return 0;
}

static int req_bind(struct sockets *ss, struct sockets_owner *owner, struct tsock *t,
		    const struct req *r)
{
	if (!r->has_port)
		return -EINVAL;
	if (r->port > 0 && r->port < 1024 && !owner->may_bind_low)
		return -EACCES;
	return tn_sock_bind(t->sk, r->addr, (uint16_t)r->port);
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

static int req_connect(struct tsock *t, const struct req *r, int *fds)
{
	if (!r->has_addr || !r->has_port)
		return -EINVAL;
	if (t->listening)
		return -EINVAL;
	if (t->connecting)
		return -EALREADY;
	if (t->connected)
		return -EISCONN;
	/* the core asks charge_cb for the buffers: ENOBUFS over a limit */
	int rc = tn_sock_connect(t->sk, r->addr, (uint16_t)r->port);
	if (rc != -EINPROGRESS && rc != 0)
		return rc;
	t->connecting = true;
	t->b_hold = fds[0]; /* until the handshake ends: see the top of the file */
	fds[0] = -1;
	return 0;
}

static int req_shutdown(struct tsock *t, const struct req *r)
{
	if (!r->has_how || r->how > TN_SHUT_RDWR)
		return -EINVAL;
	if (!t->connected || !t->sk)
		return -ENOTCONN;
	if (r->how == TN_SHUT_WR)
		return 0; /* the client shuts B; A's EOF becomes the FIN, after the data */
	int rc = tn_sock_shutdown(t->sk, TN_SHUT_RD);
	if (rc < 0)
		return rc;
	/* reads return EOF from now on; what the peer sends is dropped */
	if (!t->wr_shut) {
		shutdown(t->a, SHUT_WR);
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

static int opt_int(const struct req *r, int *v)
{
	if (r->optval_len < sizeof(int))
		return -EINVAL;
	memcpy(v, r->optval, sizeof(int));
	return 0;
}

static int req_setsockopt(struct tsock *t, const struct req *r)
{
	int v = 0, rc;

	if (!r->has_level || !r->has_optname)
		return -EINVAL;
	if (!t || !t->sk)
		return 0; /* the connection is over: nothing left to tune */
	if (r->level == SOL_SOCKET) {
		switch (r->optname) {
		case SO_REUSEADDR:
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			t->reuseaddr = v != 0;
			return tn_sock_set_reuseaddr(t->sk, v != 0);
		case SO_REUSEPORT:
			/* shared only with sockets of the same user, as Linux */
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			t->reuseport = v != 0;
			return tn_sock_set_reuseport(t->sk, v != 0, t->acct ? (uint32_t)t->acct->uid
									    : UINT32_MAX);
		case SO_KEEPALIVE:
			if ((rc = opt_int(r, &v)) < 0)
				return rc;
			t->keepalive = v != 0;
			return tn_sock_set_keepalive(t->sk, v != 0, 0, 0, 0);
		case SO_LINGER: {
			struct linger l;
			if (r->optval_len < sizeof(l))
				return -EINVAL;
			memcpy(&l, r->optval, sizeof(l));
			t->linger_on = l.l_onoff != 0;
			t->linger_s = l.l_linger < 0 ? 0 : l.l_linger;
			return tn_sock_set_linger(t->sk, l.l_onoff != 0, (uint32_t)t->linger_s);
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
			if (tn_sock_set_bufsize(t->sk, r->optname == SO_RCVBUF ? (uint32_t)b : 0,
						r->optname == SO_SNDBUF ? (uint32_t)b : 0) == 0) {
				if (r->optname == SO_RCVBUF)
					t->rcvbuf = (int)b;
				else
					t->sndbuf = (int)b;
			}
			return 0;
		}
		case SO_OOBINLINE:
		case SO_PRIORITY:
		case SO_RCVLOWAT:
		case SO_SNDLOWAT:
		case SO_RCVTIMEO:
		case SO_SNDTIMEO:
			return 0; /* accepted, without effect */
		default:
			return -ENOPROTOOPT;
		}
	}
	if (r->level == IPPROTO_TCP) {
		if ((rc = opt_int(r, &v)) < 0)
			return rc;
		switch (r->optname) {
		case TCP_NODELAY:
			t->nodelay = v != 0;
			return tn_sock_set_nodelay(t->sk, v != 0);
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
			if (v < 1 || v > (r->optname == TCP_KEEPCNT ? 127 : 32767))
				return -EINVAL;
			if (r->optname == TCP_KEEPIDLE)
				t->ka_idle = v;
			else if (r->optname == TCP_KEEPINTVL)
				t->ka_intvl = v;
			else
				t->ka_cnt = v;
			return tn_sock_set_keepalive(t->sk, t->keepalive,
						     r->optname == TCP_KEEPIDLE ? (uint32_t)v : 0,
						     r->optname == TCP_KEEPINTVL ? (uint32_t)v : 0,
						     r->optname == TCP_KEEPCNT ? (uint32_t)v : 0);
		case TCP_QUICKACK:
		case TCP_USER_TIMEOUT:
		case TCP_CORK:
			return 0; /* accepted, without effect */
		default:
			return -ENOPROTOOPT;
		}
	}
	if (r->level == IPPROTO_IP) {
		switch (r->optname) {
		case IP_TOS:
		case IP_TTL:
			return 0; /* accepted, without effect */
		default:
			return -ENOPROTOOPT;
		}
	}
	return -ENOPROTOOPT;
}

static int req_getsockopt(struct tsock *t, struct tombstone *tb, const struct req *r,
			  struct tn_rpc_writer *reply)
{
	int v;
	struct tn_sock_info info;

	if (!r->has_level || !r->has_optname)
		return -EINVAL;
	if (!t) {
		if (r->level == SOL_SOCKET && r->optname == SO_ERROR) {
			v = tb->err;
			tb->err = 0;
			goto put_int;
		}
		if (r->level == SOL_SOCKET && r->optname == SO_TYPE) {
			v = SOCK_STREAM;
			goto put_int;
		}
		return -ENOPROTOOPT;
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
		case SO_REUSEADDR: v = t->reuseaddr; goto put_int;
		case SO_REUSEPORT: v = t->reuseport; goto put_int;
		case SO_KEEPALIVE: v = t->keepalive; goto put_int;
		case SO_RCVBUF: v = t->rcvbuf; goto put_int;
		case SO_SNDBUF: v = t->sndbuf; goto put_int;
		case SO_LINGER: {
			struct linger l = { .l_onoff = t->linger_on, .l_linger = t->linger_s };
			tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, &l, sizeof(l));
			return 0;
		}
		default:
			return -ENOPROTOOPT;
		}
	}
	if (r->level == IPPROTO_TCP) {
		switch (r->optname) {
		case TCP_NODELAY: v = t->nodelay; goto put_int;
		case TCP_KEEPIDLE: v = t->ka_idle ? t->ka_idle : (int)t->ss->d->cfg.core.tcp_keepalive_time_s; goto put_int;
		case TCP_KEEPINTVL: v = t->ka_intvl ? t->ka_intvl : (int)t->ss->d->cfg.core.tcp_keepalive_intvl_s; goto put_int;
		case TCP_KEEPCNT: v = t->ka_cnt ? t->ka_cnt : (int)t->ss->d->cfg.core.tcp_keepalive_probes; goto put_int;
		case TCP_MAXSEG:
			v = (t->sk && tn_sock_info(t->sk, &info) == 0 && info.mss) ? (int)info.mss : 536;
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
	return -ENOPROTOOPT;
put_int:
	tn_rpc_put_bytes(reply, TN_ATTR_OPTVAL, &v, sizeof(v));
	return 0;
}

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
		return req_socket(ss, owner, reply_fd);

	uint64_t cookie;
	if (unix_stream_cookie(fds[0], &cookie) < 0)
		return -ENOTSOCK;
	struct tsock *t = find_sock(ss, cookie);
	struct tombstone *tb = t ? NULL : find_tomb(ss, cookie);
	if (!t && !tb)
		return -ENOTSOCK; /* a Unix socket, but none of ours */
	if (!t || !t->sk) {
		switch (type) {
		case TN_RPC_GETNAME:
			return req_getname(NULL, tb, &r, reply);
		case TN_RPC_GETSOCKOPT:
			return req_getsockopt(NULL, tb, &r, reply);
		case TN_RPC_SETSOCKOPT:
			return req_setsockopt(NULL, &r);
		case TN_RPC_SHUTDOWN:
			return -ENOTCONN;
		default:
			return -EINVAL;
		}
	}
	switch (type) {
	case TN_RPC_BIND:
		return req_bind(ss, owner, t, &r);
	case TN_RPC_LISTEN:
		rc = req_listen(t, &r);
		if (rc == 0)
			ts_pump(t);
		return rc;
	case TN_RPC_CONNECT:
		rc = req_connect(t, &r, fds);
		return rc;
	case TN_RPC_SHUTDOWN:
		rc = req_shutdown(t, &r);
		if (rc == 0)
			ts_pump(t);
		return rc;
	case TN_RPC_GETNAME:
		return req_getname(t, NULL, &r, reply);
	case TN_RPC_SETSOCKOPT:
		return req_setsockopt(t, &r);
	case TN_RPC_GETSOCKOPT:
		return req_getsockopt(t, NULL, &r, reply);
	default:
		return -EOPNOTSUPP;
	}
}

/* ------------------------------------------------------------------ owners, set-up */

void sockets_owner_gone(struct sockets *ss, struct sockets_owner *owner)
{
	if (!ss)
		return;
	for (struct tsock *t = ss->all; t; t = t->next) {
		if (t->conn != owner)
			continue;
		t->conn = NULL; /* its user's account keeps it, and its buffers, counted */
		owner->nsockets--;
		if (t->b_hold < 0)
			continue;
		/*
		 * A connect in progress whose B may live on in another process
		 * (fork, exec): B keeps its filler, now at full size, so that it
		 * stays unwritable without our copy; then the copy goes, and the
		 * hang-up of a B that nobody else holds closes the socket.
		 */
		int sz = PAIR_SNDBUF;
		if (setsockopt(t->b_hold, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
			log_debug("cannot grow a connecting socket's send buffer: %s", strerror(errno));
		memset(ss->scratch, 0, 4096);
		for (;;) {
			ssize_t n = send(t->b_hold, ss->scratch, 4096, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				break;
			t->filler += (uint32_t)n;
		}
		closer_close(t->b_hold);
		t->b_hold = -1;
	}
	if (owner->acct) {
		/* kept, as every account, until tapnetd exits: core sockets name it */
		owner->acct->nclients--;
		owner->acct = NULL;
	}
}

unsigned sockets_count(const struct sockets *ss)
{
	return ss ? ss->count : 0;
}

uint64_t sockets_buffer_bytes(const struct sockets *ss)
{
	return ss ? ss->buf_bytes : 0;
}

uint64_t sockets_buffer_limit(const struct sockets *ss)
{
	return ss ? ss->buf_max : 0;
}

void sockets_apply_limits(struct sockets *ss)
{
	const struct daemon_config *cfg = &ss->d->cfg;
	struct rlimit rl;

	ss->max_total = cfg->max_sockets;
	ss->max_per_client = cfg->max_sockets_per_client;
	ss->max_clients_per_user = cfg->max_clients_per_user;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)ss->max_total + 64) {
		unsigned cap = rl.rlim_cur > 128 ? (unsigned)rl.rlim_cur - 64 : 64;
		log_warning("max_sockets = %u needs more fds than RLIMIT_NOFILE (%llu) gives; "
			    "using %u", ss->max_total, (unsigned long long)rl.rlim_cur, cap);
		ss->max_total = cap;
	}
	ss->buf_max = cfg->max_buffer_bytes;
	ss->buf_max_per_client = cfg->max_buffer_bytes_per_client;
	/* a raised limit may let an accept that waits go on */
	if (ss->accepts_waiting)
		ev_idle_start(ss->d->loop, &ss->wake_idle);
}

struct sockets *sockets_new(struct tapnetd *d)
{
	struct sockets *ss = calloc(1, sizeof(*ss));
	struct rlimit rl;

	if (!ss) {
		log_error("out of memory for the sockets table");
		return NULL;
	}
	ss->d = d;
	ss->hup_ep = epoll_create1(EPOLL_CLOEXEC);
	if (ss->hup_ep < 0) {
		log_error("epoll_create1: %s", strerror(errno));
		free(ss);
		return NULL;
	}
	/* every socket costs one fd here: take what the hard limit allows */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_debug("cannot raise RLIMIT_NOFILE: %s", strerror(errno));
	}
	sockets_apply_limits(ss);
	ss->limit_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 5);
	ss->err_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 5);
	ss->buf_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 5);
	ev_idle_init(&ss->wake_idle, wake_idle_cb);
	ss->wake_idle.data = ss;
	ev_io_init(&ss->hup_io, hup_cb, ss->hup_ep, EV_READ);
	ss->hup_io.data = ss;
	ev_io_start(d->loop, &ss->hup_io);
	ev_prepare_init(&ss->pend_watcher, pend_cb);
	ss->pend_watcher.data = ss;
	ev_prepare_start(d->loop, &ss->pend_watcher);
	tn_stack_set_charge(d->stack, charge_cb, ss);
	return ss;
}

void sockets_free(struct sockets *ss)
{
	if (!ss)
		return;
	while (ss->all) {
		struct tsock *t = ss->all;
		close_core(t, true);
		ts_free(t);
	}
	ev_io_stop(ss->d->loop, &ss->hup_io);
	ev_idle_stop(ss->d->loop, &ss->wake_idle);
	ev_prepare_stop(ss->d->loop, &ss->pend_watcher);
	/* the core frees what is left later, with nobody to tell */
	tn_stack_set_charge(ss->d->stack, NULL, NULL);
	close(ss->hup_ep);
	while (ss->accounts) { /* those of clients still connected */
		struct sockets_account *a = ss->accounts;
		ss->accounts = a->next;
		free(a);
	}
	free(ss);
}
