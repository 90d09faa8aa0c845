/*
 * sockets_pump.c - moves bytes, accepted connections and ends between each
 * socket pair and its core socket (see sockets.h).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sockets_internal.h"

#include <limits.h>
#include <linux/sockios.h>

#include "control.h"

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
	ssize_t n = recvmsg(t->own_end, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
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

/* ------------------------------------------------------------------ the data path */

void a_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tsock *t = w->data;
	struct tapnetd *d = t->ss->d;

	daemon_note_io(d);
	/*
	 * An EV_READ comes from this iteration's epoll_wait. When a read
	 * since then (a request or the tap in the same batch pumped A) found
	 * A empty, it is stale: A stays watched, and the next epoll_wait
	 * reports whatever the client writes from now on.
	 */
	if ((revents & EV_READ) && !(t->a_idle && t->a_idle_iter == ev_iteration(loop)))
		t->a_idle = false;
	tsock_pump(t);
	daemon_rearm_timer(d);
}

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

/* shutdown(SHUT_RD) of a listener: the core's listener closes, the next pump frees t. */
void tsock_stop_listening(struct tsock *t)
{
	close_core(t, false);
	t->listening = false;
	set_done(t, 0);
}

/* Ends the TCP connection as a close() would: RST when abort, else FIN (or RST per the core). */
void close_core(struct tsock *t, bool abort)
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
	struct pollfd p = { .fd = t->own_end, .events = 0 };

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* Peer data the client has not taken yet (and would lose with a close). */
static bool unread(const struct tsock *t)
{
	return t->sk && !t->wr_shut && tn_sock_readable(t->sk) > 0;
}

static size_t pieces_to_iov(const struct tn_sock_piece *piece, int n, struct iovec *iov)
{
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = (void *)piece[i].base;
		iov[i].iov_len = piece[i].len;
	}
	return (size_t)n;
}

/*
 * A's send buffer grows with the core's receive buffer (tcp_buf.c): bytes
 * in A are bytes the program has not read, as a kernel socket's receive
 * queue holds them. A pair that holds a small part of the window fills
 * whenever the program is off the CPU, and every segment that comes then
 * goes through the ring, one more copy: with A at its first 212992 bytes
 * half of bench/rpc's bytes into tapnet did, and with A grown none
 * (SockPairDeliveries doubled; 11.9 -> 13.8 Gbit/s, alternating runs).
 * A holds about half the receive buffer, which is charged against
 * max_buffer_bytes; the kernel caps it at net.core.wmem_max (212992
 * unless raised), where this changes nothing.
 */
static void a_sndbuf_follow(struct tsock *t)
{
	/* a quarter: the kernel doubles it for its bookkeeping, so A holds about half */
	uint32_t want = tn_sock_rcvbuf_size(t->sk) / 4;

	if (want <= t->a_sndbuf)
		return;
	int sz = want > INT_MAX / 2 ? INT_MAX / 2 : (int)want;
	if (setsockopt(t->own_end, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
		log_debug("cannot grow a pair's send buffer: %s", strerror(errno));
	t->a_sndbuf = want;
}

/*
 * The peer reset the connection (or it timed out), and the client reads B
 * itself: closed as it is, A gives it end-of-file (the shim asks SO_ERROR at
 * a hang-up; a static or Go program does not), which a program takes for
 * the end of a whole reply. A Unix socket closed with bytes unread
 * makes its peer's next read, after the data, fail with ECONNRESET, but
 * only B can put bytes into A, and tapnetd has no copy of B (it would hide
 * the program's close). A reset watcher of the client's process (the
 * seccomp supervisor, which has ptrace rights over the program) can: told
 * the socket's cookie, it sends one byte through its own copy of the
 * program's fd, and A closes once the byte is there (reset_wait_over).
 * Not needed when A still holds what the program wrote: then its close
 * says ECONNRESET already.
 */
static bool reset_through_watcher(struct tsock *t, int err)
{
	struct sockets *ss = t->ss;
	int queued = 0;

	if (!t->conn || ioctl(t->own_end, SIOCINQ, &queued) < 0 || queued > 0 ||
	    !control_reset_notice(ss->d->control, t->conn->cred.pid, t->conn->cred.uid, t->cookie))
		return false;
	t->reset_wait = true;
	t->reset_err = err;
	t->reset_until = ev_now(ss->d->loop) + RESET_WAIT_MS / 1000.;
	if (ss->resets_waiting++ == 0) {
		ss->reset_timer.repeat = RESET_WAIT_MS / 1000.;
		ev_timer_again(ss->d->loop, &ss->reset_timer);
	}
	return true;
}

/* Is the watcher's byte in A, or the wait over (the program closed B, time ran out)? */
static bool reset_wait_over(struct tsock *t)
{
	int queued = 0;

	return ioctl(t->own_end, SIOCINQ, &queued) < 0 || queued > 0 || t->client_closed ||
	       ev_now(t->ss->d->loop) >= t->reset_until;
}

void reset_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct sockets *ss = w->data;

	(void)loop;
	(void)revents;
	for (struct tsock *t = ss->all, *next; t; t = next) {
		next = t->next;
		if (t->reset_wait)
			tsock_pump(t); /* finishes those whose wait is over */
	}
	if (!ss->resets_waiting)
		ev_timer_stop(loop, w);
}

/* The connection failed (reset, timed out): the client reads end-of-file or ECONNRESET. */
static void peer_failed(struct tsock *t, long err)
{
	close_core(t, false);
	/*
	 * A timeout too: the pair can say only ECONNRESET, but an error, not
	 * an end-of-file that passes for the end of the data (SO_ERROR still
	 * says ETIMEDOUT).
	 */
	if ((err != -ECONNRESET && err != -ETIMEDOUT) || !reset_through_watcher(t, (int)-err))
		set_done(t, (int)-err);
}

/*
 * The peer's FIN has been passed on (A shut for writing): what can still
 * happen to the connection is its end, a reset (the peer closed, and the
 * client kept writing) or a timeout, with the client's bytes in A that
 * nobody will take now. Without this the socket stayed, its send buffer
 * full, until tapnetd stopped, and a client still writing blocked.
 */
static void pump_after_fin(struct tsock *t)
{
	int err = tn_sock_error(t->sk); /* nothing is left to read: only an error */

	if (err) {
		peer_failed(t, err);
	} else if (tn_sock_state(t->sk) == TN_TCP_CLOSED) {
		close_core(t, false); /* its error already taken (the client asked SO_ERROR) */
		set_done(t, 0);
	}
}

/* Peer -> client: from the core's receive buffer into A while A takes it. */
static void pump_to_client(struct tsock *t)
{
	if (!t->sk)
		return;
	if (t->wr_shut) {
		pump_after_fin(t);
		return;
	}
	a_sndbuf_follow(t);
	for (;;) {
		struct tn_sock_piece piece[2];
		int np;
		long n = tn_sock_recv_peek(t->sk, piece, &np);
		if (n == -EAGAIN)
			return;
		if (n == 0) { /* peer FIN, everything before it delivered */
			shutdown(t->own_end, SHUT_WR);
			t->wr_shut = true;
			/* a closed client may still have bytes in A for the peer: not yet */
			if (t->rd_eof) {
				close_core(t, false);
				set_done(t, 0);
			}
			return;
		}
		if (n < 0) { /* reset, timed out: the client reads EOF, SO_ERROR says why */
			peer_failed(t, n);
			return;
		}
		struct iovec iov[2];
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = pieces_to_iov(piece, np, iov) };
		ssize_t w = sendmsg(t->own_end, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return; /* A is full: EV_WRITE resumes */
			/* B is gone with our data unread: a close with unread data */
			close_core(t, true);
			set_done(t, 0);
			return;
		}
		DAEMON_COUNT(t->ss->d, SockPairOutOctets, (uint64_t)w);
		tn_sock_recv_consume(t->sk, (size_t)w);
		if (w < n)
			return; /* A is full: EV_WRITE resumes */
	}
}

/*
 * The core's tn_sock_set_deliver: a large in-order segment goes to A at
 * once, behind what the ring holds unread, in one sendmsg (a small segment
 * a batch began with would otherwise send every large one behind it
 * through the ring). Whatever A does not take (full, or B gone: the next
 * pump_to_client finds out) stays with the core, in the ring. A full A is
 * tried again with the next large segment rather than left alone until
 * EV_WRITE: a Unix socket reports room only once three quarters of its
 * buffer are free, and waiting for that sent a third fewer segments
 * straight to A (iperf3 into tapnet: 13-15 Gbit/s against 19-21).
 */
size_t deliver_to_client(void *arg, const struct tn_sock_piece *piece, int npieces)
{
	struct tsock *t = arg;
	struct iovec iov[3];

	if (npieces < 1 || npieces > (int)(sizeof(iov) / sizeof(iov[0])) ||
	    piece[npieces - 1].len < DELIVER_MIN || !t->connected || t->wr_shut || t->done ||
	    t->in_pump)
		return 0;
	a_sndbuf_follow(t);
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = pieces_to_iov(piece, npieces, iov) };
	ssize_t w = sendmsg(t->own_end, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w <= 0)
		return 0;
	/* the pieces before the last are the ring's unread bytes; the last, the frame's */
	size_t from_ring = 0;
	for (int i = 0; i < npieces - 1; i++)
		from_ring += piece[i].len;
	DAEMON_COUNT(t->ss->d, SockPairDeliveries, 1);
	DAEMON_COUNT(t->ss->d, SockPairOutOctets, (uint64_t)w);
	DAEMON_COUNT(t->ss->d, SockPairDeliveredOctets, (size_t)w > from_ring ? (uint64_t)w - from_ring : 0);
	return (size_t)w;
}

static bool opts_wait_for_a_end(const struct tsock *t)
{
	return t->n_opts_later && t->opts_later[t->n_opts_later - 1].at == OPT_AT_A_EMPTY;
}

/*
 * A is empty, or ended (EOF): the options that wait for that
 * (OPT_AT_A_EMPTY, see req_setsockopt_nowait) have reached their place. An
 * option behind one of them waits as long, never less.
 */
static void opts_at_a_end_apply(struct tsock *t)
{
	bool reached = false;

	for (unsigned i = 0; i < t->n_opts_later; i++)
		if (t->opts_later[i].at == OPT_AT_A_EMPTY) {
			t->opts_later[i].at = t->a_taken;
			reached = true;
		}
	if (reached)
		opts_later_apply(t);
}

/*
 * A was found empty in the loop's iteration iter, after its epoll_wait:
 * a_io_cb tells a stale EV_READ from a new one by the iteration.
 */
static void a_found_empty_in(struct tsock *t, unsigned iter)
{
	t->a_idle = true;
	t->a_idle_iter = iter;
	opts_at_a_end_apply(t);
}

static void a_found_empty(struct tsock *t)
{
	a_found_empty_in(t, ev_iteration(t->ss->d->loop));
}

/*
 * An option sent without waiting may be on its way (or written into the
 * connection's option ring), and bytes after it in A: its request goes
 * first. Control connections are read before A in
 * every wakeup (highest priority), so only a request that came since this
 * iteration's epoll_wait can be unread here. One FIONREAD per client and
 * iteration answers for all its sockets' pumps, and none is needed after
 * a read of the connection that took all it held (control.c): a request
 * that comes later in the same iteration is as late as one that comes
 * between the FIONREAD and the read of A, which no check can exclude, and
 * it costs no more than an option applied a few bytes late (a segment not
 * coalesced).
 */
static bool owner_has_unread_request(struct sockets_owner *owner, unsigned iter)
{
	int unread_req = 0;

	/*
	 * A client with an option ring writes such requests there (it sends
	 * one only when the ring is full), and the ring is read after every
	 * wait or poll, before any pair (control.c): A was readable then, so
	 * what the ring held before A's bytes came has been applied. What a
	 * client wrote since is as late as a request that comes between the
	 * FIONREAD below and the read of A. Waiting for the next pass instead
	 * would hold up every socket of a busy client (nginx's worker writes
	 * two per response): its ring is seldom empty.
	 */
	if (owner->ring.shared)
		return false;
	if (owner->unread_none && owner->unread_none_iter == iter)
		return false;
	if (ioctl(owner->ctl_fd, FIONREAD, &unread_req) == 0 && unread_req > 0)
		return true;
	sockets_owner_read_all(owner, iter);
	return false;
}

/* Client -> peer: read A only as far as the TCP send buffer has room. */
static void pump_from_client(struct tsock *t)
{
	struct sockets *ss = t->ss;

	while (!t->rd_eof && t->sk) {
		if (t->n_opts_later) {
			opts_later_apply(t); /* those whose place in the stream is reached */
			if (!t->sk)
				return;
		}
		if (t->opt_conn && owner_has_unread_request(t->opt_conn, ev_iteration(ss->d->loop))) {
			/*
			 * A, if it holds bytes, stays readable: the next wakeup reads
			 * the request first. An empty A would not wake us, and an
			 * option waiting for A to be empty would wait for the next
			 * write: ask.
			 */
			int inq;
			if (opts_wait_for_a_end(t) && !t->filler &&
			    ioctl(t->own_end, FIONREAD, &inq) == 0 && inq == 0)
				a_found_empty(t);
			return;
		}
		/* client data goes straight into the TCP send buffer; filler into scratch */
		struct iovec iov[2];
		struct msghdr msg = { .msg_iov = iov };
		size_t asked = 0;
		if (t->filler) {
			iov[0].iov_base = ss->scratch;
			iov[0].iov_len = t->filler < CHUNK ? t->filler : CHUNK;
			msg.msg_iovlen = 1;
		} else {
			struct tn_sock_wpiece piece[2];
			int np;
			/* a failed connection's error stays for pump_to_client */
			if (tn_sock_send_space(t->sk, piece, &np) <= 0)
				return; /* full (TN_SOCK_EV_WRITABLE resumes), or over: events follow */
			/* an option waiting for its place: read no further than that */
			uint64_t room = t->n_opts_later ? t->opts_later[0].at - t->a_taken : UINT64_MAX;
			msg.msg_iovlen = 0;
			for (int i = 0; i < np && room; i++) {
				size_t len = piece[i].len < room ? piece[i].len : (size_t)room;
				iov[i].iov_base = piece[i].base;
				iov[i].iov_len = len;
				room -= len;
				asked += len;
				msg.msg_iovlen++;
			}
		}
		ssize_t n = recv_a(t, &msg);
		DAEMON_COUNT(ss->d, SockPairReads, n > 0);
		if (n < 0) {
			int err = errno;
			DAEMON_COUNT(ss->d, SockPairEmptyReads, err == EAGAIN);
			if (err == EAGAIN)
				a_found_empty(t); /* until EV_READ or news from the core */
			if (err == EAGAIN || err == EINTR)
				return;
			/* ECONNRESET: B was closed with data we sent it unread */
			close_core(t, true);
			set_done(t, 0);
			return;
		}
		if (n == 0) {
			t->rd_eof = true;
			opts_at_a_end_apply(t);
			if (!t->sk)
				return;
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
		t->a_taken += (uint64_t)n;
		bool option_at_a_end = t->n_opts_later && t->opts_later[0].at == t->a_taken &&
				       t->opts_later[0].a_ended_there;
		unsigned option_iter = option_at_a_end ? t->opts_later[0].read_iter : 0;
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
		if ((size_t)n < asked) {
			/*
			 * A stream socket's read takes all there is up to the room
			 * given: A is empty now. What the client writes next makes
			 * it readable (EV_READ); no read to learn that it is empty.
			 */
			a_found_empty(t);
			return;
		}
		if (option_at_a_end) {
			/*
			 * Up to an option that A ended at when its request was
			 * read (FIONREAD): A was empty then, after that
			 * iteration's epoll_wait, so no read is needed to learn
			 * it; what came since makes A readable again.
			 */
			opts_later_apply(t);
			if (t->sk)
				a_found_empty_in(t, option_iter);
			return;
		}
	}
}

/*
 * A new pair: A, ours; B, the client's, and its cookie. A stays a blocking
 * socket: every read and write of it passes MSG_DONTWAIT, which spares a
 * connection an fcntl. A keeps the send buffer it is made with until its
 * connection needs more (a_sndbuf_follow); B, which carries what the
 * program sends, gets PAIR_SNDBUF at once. With
 * filler, B's send buffer is shrunk and filled (the count in *filler), so
 * that B is not writable until a connect ends (see sockets.h).
 * Returns 0 or -errno.
 */
int make_pair(struct sockets *ss, int *a, int *b, uint64_t *cookie, uint32_t *filler)
{
	int sv[2];
	int sz = PAIR_SNDBUF, one = 1;
	socklen_t len = sizeof(*cookie);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, filler ? &one : &sz, sizeof(sz)) < 0 ||
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

/*
 * A connect failed: A is shut both ways, then emptied of B's filler (and
 * of anything behind it) before it closes. A Unix socket closed with bytes
 * unread makes its peer's next read fail with ECONNRESET, which would tell
 * the client of a reset where there was no connection; emptied, B reads
 * end-of-file, and the shim reads the connect's own error (SO_ERROR, the
 * tombstone's) in its place, as Linux reports a pending error to the next
 * receive or send.
 */
static void a_discard(struct tsock *t)
{
	/*
	 * First: B hangs up at once, as at A's close (a B turned writable by
	 * the drain with A still open would pass for connected, and take a
	 * send); what is queued in A can still be read.
	 */
	shutdown(t->own_end, SHUT_RDWR);
	t->wr_shut = true;
	for (;;) {
		struct iovec iov = { t->ss->scratch, CHUNK };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (recv_a(t, &msg) <= 0)
			break;
	}
	t->filler = 0;
}

/* Listener: hand accepted connections to the client while its fd takes them. */
static void pump_accept(struct tsock *t)
{
	struct sockets *ss = t->ss;

	for (int i = 0; i < ACCEPT_BATCH && t->sk; i++) {
		if (t->accepted_end >= 0) {
			union {
				struct cmsghdr align;
				char buf[CMSG_SPACE(sizeof(int))];
			} cbuf;
			struct iovec iov = { &t->accepted_rec, sizeof(t->accepted_rec) };
			struct msghdr msg = {
				.msg_iov = &iov, .msg_iovlen = 1,
				.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
			};
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &t->accepted_end, sizeof(int));
			ssize_t n = sendmsg(t->own_end, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return; /* the client does not accept: EV_WRITE */
			if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
				/* the program closed its listener: an event, not a fault; the connection ends with it */
				log_debug("listener closed with a connection on its way to accept()");
			else if (n != (ssize_t)sizeof(t->accepted_rec))
				log_warning("cannot pass an accepted connection: %s",
					    n < 0 ? strerror(errno) : "short write");
			close(t->accepted_end); /* its A sees the hang-up if it never arrived */
			t->accepted_end = -1;
		}
		int err = 0;
		struct tn_sock_info li;
		if (tn_sock_info(t->sk, &li) < 0 || li.recv_q == 0)
			return; /* nothing to accept */
		/* over a socket limit the connection waits in the accept queue, as on Linux */
		if (limit_check(ss, t->acct) < 0) {
			accept_wait(t);
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
		struct tsock *conn = tsock_new(ss, t->conn, t->acct, c, a, cookie);
		if (!conn) {
			log_warning("cannot register an accepted connection: %s", strerror(errno));
			tn_sock_abort(c);
			close(a);
			close(b);
			return;
		}
		conn->connected = true;
		a_found_empty(conn); /* nobody has its B yet */
		struct tn_sock_info info;
		memset(&t->accepted_rec, 0, sizeof(t->accepted_rec));
		t->accepted_rec.version = TN_ACCEPT_REC_VERSION;
		if (tn_sock_info(c, &info) == 0) {
			t->accepted_rec.peer_addr = htonl(info.remote_addr);
			t->accepted_rec.peer_port = htons(info.remote_port);
			t->accepted_rec.local_addr = htonl(info.local_addr);
			t->accepted_rec.local_port = htons(info.local_port);
		}
		t->accepted_end = b;
		tn_sock_set_deliver(c, deliver_to_client); /* used once the callback is set */
		/* last: it delivers what happened before accept, may even end (free) conn */
		tn_sock_set_callback(c, sock_cb, conn);
	}
}

static void tsock_update_io(struct tsock *t)
{
	int ev = 0;

	if (t->listening) {
		if (t->accepted_end >= 0)
			ev |= EV_WRITE;
	} else if (t->reset_wait) {
		ev |= EV_READ; /* the watcher's byte */
	} else if (t->connected && t->sk) {
		if (!t->rd_eof && (t->filler || tn_sock_writable(t->sk) > 0))
			ev |= EV_READ;
		if (unread(t))
			ev |= EV_WRITE; /* A was full */
	}
	io_set(t, ev);
}

void tsock_pump(struct tsock *t)
{
	if (t->in_pump) {
		t->again = true;
		return;
	}
	t->in_pump = true;
	if (t->reset_wait && reset_wait_over(t)) {
		log_debug("socket %llx: the peer's reset closes A%s", (unsigned long long)t->cookie,
			  t->client_closed || ev_now(t->ss->d->loop) < t->reset_until
				  ? ""
				  : " without the watcher's byte: B reads end-of-file");
		set_done(t, t->reset_err);
	}
	do {
		t->again = false;
		if (t->reset_wait)
			break; /* A is not read: the byte must stay unread */
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
		tsock_finish(t);
	else
		tsock_update_io(t);
}

/* The handshake ended well: drop the filler, make B writable. */
static void connect_done(struct tsock *t)
{
	struct sockets *ss = t->ss;

	t->connecting = false;
	t->connected = true;
	t->a_idle = false;
	/*
	 * B's send buffer grows before the filler goes: drained first, B
	 * would wake the client with its shrunk buffer, and a non-blocking
	 * write would take a few KiB and then fail with EAGAIN. What the
	 * client writes from now on lands behind the filler, whose length
	 * we know, so the order does not matter to the stream.
	 */
	if (t->client_end_held >= 0) {
		int sz = PAIR_SNDBUF;
		if (setsockopt(t->client_end_held, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
			log_debug("cannot restore a connected socket's send buffer: %s",
				  strerror(errno));
		close_client_end_held(t);
	}
	while (t->filler) {
		struct iovec iov = { ss->scratch, t->filler < CHUNK ? t->filler : CHUNK };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recv_a(t, &msg);
		if (n <= 0)
			break; /* a client that lied about it: pump_from_client drops the rest */
		t->filler -= (uint32_t)n;
	}
}

int pos_err(int e)
{
	return e < 0 ? -e : e;
}

void sockets_pass_pending(struct sockets *ss)
{
	while (ss->pending) {
		struct tsock *t = ss->pending;
		ss->pending = t->pend_next;
		t->pending = false;
		tsock_pump(t);
	}
}

/* Before the loop waits: pass on the peer data that came in since it last did. */
void pend_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct sockets *ss = w->data;

	if (!ss->pending)
		return;
	sockets_pass_pending(ss);
	daemon_rearm_timer(ss->d);
}

void sock_cb(struct tn_sock *s, unsigned events, void *arg)
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
	if (events == TN_SOCK_EV_WRITABLE && t->connected && t->a_idle && !t->in_pump) {
		/*
		 * Room in the send buffer (an ACK): news only for a pump that
		 * stopped for want of it, and this one stopped because A was
		 * empty. EV_READ is watched again if it was not (a full buffer).
		 */
		tsock_update_io(t);
		return;
	}
	if (events & ~(unsigned)(TN_SOCK_EV_READABLE | TN_SOCK_EV_WRITABLE))
		t->a_idle = false;
	if (t->connecting) {
		if (events & TN_SOCK_EV_CONNECTED) {
			connect_done(t);
		} else if (events & (TN_SOCK_EV_ERROR | TN_SOCK_EV_CLOSED)) {
			int err = pos_err(tn_sock_error(s));
			t->connecting = false;
			a_discard(t);
			failed_keep(t);
			close_core(t, false);
			set_done(t, err ? err : ECONNREFUSED);
			if (!t->in_pump)
				tsock_finish(t);
			return;
		} else {
			return;
		}
	}
	tsock_pump(t);
}

/* ------------------------------------------------------------------ hang-ups */

/*
 * The pointers of one epoll_wait() batch stay valid while tsock_pump()
 * runs for one of them only because the core raises events for other
 * sockets from segment input alone, never from a call on a socket (the
 * events of a call are its own socket's): no pump here frees another
 * socket of the batch. Keep it so, or re-check each pointer.
 */
int take_hangups(struct sockets *ss)
{
	struct epoll_event evs[HUP_BATCH];
	int n = epoll_wait(ss->hup_ep, evs, HUP_BATCH, 0);

	for (int i = 0; i < n; i++) {
		struct tsock *t = evs[i].data.ptr;
		t->in_hup = false; /* EPOLLONESHOT: reported once, the registration is disabled */
		t->client_closed = true;
		t->a_idle = false;
		if (!t->connected || t->rd_eof) {
			/* not connected, or nothing more to read: close as close() does */
			close_core(t, unread(t));
			set_done(t, 0);
			tsock_finish(t);
			continue;
		}
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		getsockopt(t->own_end, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (soerr == ECONNRESET || unread(t)) {
			/* the client closed with data it never read: RST (RFC 1122 4.2.2.13) */
			close_core(t, true);
			set_done(t, 0);
			tsock_finish(t);
			continue;
		}
		tsock_pump(t); /* what it wrote before closing still goes out, then FIN */
	}
	return n > 0 ? n : 0;
}

void hup_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sockets *ss = w->data;

	(void)loop;
	(void)revents;
	take_hangups(ss);
	daemon_rearm_timer(ss->d);
}
