/*
 * sockets.c - the registry of tapnet's client sockets: lookup by cookie,
 * tombstones, users' accounts and limits, the buffer charges the core
 * reports, and each socket's life from tsock_new to tsock_free.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sockets_internal.h"

/* ------------------------------------------------------------------ lookup */

static unsigned hash_cookie(uint64_t cookie)
{
	return (unsigned)((cookie * 0x9e3779b97f4a7c15ull) >> 40) % HASH_BUCKETS;
}

struct tsock *find_sock(struct sockets *ss, uint64_t cookie)
{
	for (struct tsock *t = ss->hash[hash_cookie(cookie)]; t; t = t->hnext)
		if (t->cookie == cookie)
			return t;
	return NULL;
}

/*
 * Tombstones are found by a hash of their cookie (a scan of all 4096, 96
 * KiB, for every socket that ended was most of what tapnetd spent in user
 * space on a connection per request); the oldest is replaced first.
 */
static unsigned tomb_hash(uint64_t cookie)
{
	_Static_assert((TOMBSTONES & (TOMBSTONES - 1)) == 0 && TOMBSTONES <= 65535,
		       "TOMBSTONES is a power of two, and its indexes + 1 fit 16 bits");
	return (unsigned)((cookie * 0x9e3779b97f4a7c15ull) >> 32) & (TOMBSTONES - 1);
}

struct tombstone *find_tomb(struct sockets *ss, uint64_t cookie)
{
	if (!cookie)
		return NULL;
	for (unsigned i = ss->tomb_bucket[tomb_hash(cookie)]; i; i = ss->tomb_chain[i - 1])
		if (ss->tomb[i - 1].cookie == cookie)
			return &ss->tomb[i - 1];
	return NULL;
}

/* Takes tombstone idx (in use) out of its chain. */
static void tomb_unlink(struct sockets *ss, unsigned idx)
{
	uint16_t *link = &ss->tomb_bucket[tomb_hash(ss->tomb[idx].cookie)];

	while (*link && *link != idx + 1)
		link = &ss->tomb_chain[*link - 1];
	if (*link)
		*link = ss->tomb_chain[idx];
}

/* A cleared tombstone for cookie: its own if it has one, else the oldest's. */
struct tombstone *tomb_for(struct sockets *ss, uint64_t cookie)
{
	struct tombstone *tb = find_tomb(ss, cookie);

	if (!tb) {
		unsigned idx = ss->tomb_next;
		ss->tomb_next = (idx + 1) % TOMBSTONES;
		tb = &ss->tomb[idx];
		if (tb->cookie)
			tomb_unlink(ss, idx);
		uint16_t *bucket = &ss->tomb_bucket[tomb_hash(cookie)];
		ss->tomb_chain[idx] = *bucket;
		*bucket = (uint16_t)(idx + 1);
	}
	memset(tb, 0, sizeof(*tb));
	tb->cookie = cookie;
	return tb;
}

/*
 * The cookie of socket fd. A client's fd names one of our sockets only if
 * its cookie is one we gave a B (a socket's, or a tombstone's): Linux
 * numbers every socket of the machine, of any family and type, from one
 * counter, so a match is that very socket and nothing else needs checking
 * (a request costs one system call here, not three). Socket options only:
 * getsockopt() on anything but a socket fails with ENOTSOCK at once, where
 * fstat() of a file on a FUSE mount could wait for its server.
 */
int socket_cookie(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0 || len != sizeof(*cookie) ||
	    *cookie == 0)
		return -ENOTSOCK;
	return 0;
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

/*
 * A socket is gone: every listener whose accept waited tries again, once.
 * The waiting list is taken whole (a listener that must wait again joins
 * the new one); tsock_free takes a listener out of either.
 */
static void wake_idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct sockets *ss = w->data;

	ev_idle_stop(loop, w);
	ss->waking = ss->waiting;
	ss->waiting = NULL;
	while (ss->waking) {
		struct tsock *t = ss->waking;
		ss->waking = t->wait_next;
		t->accept_waits = false;
		tsock_pump(t);
	}
	daemon_rearm_timer(ss->d);
}

static bool wait_unlink(struct tsock **q, struct tsock *t)
{
	while (*q && *q != t)
		q = &(*q)->wait_next;
	if (!*q)
		return false;
	*q = t->wait_next;
	return true;
}

void accept_wait(struct tsock *t)
{
	if (t->accept_waits)
		return;
	t->accept_waits = true;
	t->wait_next = t->ss->waiting;
	t->ss->waiting = t;
	DAEMON_COUNT(t->ss->d, SockAcceptWaits, 1);
}

/* ------------------------------------------------------------------ life and death */

static void bury(struct sockets *ss, const struct tsock *t, int err)
{
	struct tombstone *tb = tomb_for(ss, t->cookie);
	struct tn_sock_info info;

	tb->err = err;
	if (t->sk && tn_sock_info(t->sk, &info) == 0) {
		tb->laddr = info.local_addr;
		tb->lport = info.local_port;
	}
}

void io_set(struct tsock *t, int events)
{
	struct ev_loop *loop = t->ss->d->loop;

	if (t->io_events == events)
		return;
	ev_io_stop(loop, &t->io);
	t->io_events = events;
	if (events) {
		ev_io_set(&t->io, t->own_end, events);
		ev_io_start(loop, &t->io);
	}
}

/* Frees t; the core socket is closed (FIN) unless already gone. */
void tsock_free(struct tsock *t)
{
	struct sockets *ss = t->ss;
	/*
	 * A client may have sent fds into A, and the close that drops them
	 * may block (closer.h). After EOF on A none can be there: the read
	 * that saw it found the queue empty, and B's sending side is shut for
	 * good, so nothing can enter it. Such a close is quick, and the loop
	 * makes it, sparing a closer thread's wakeup per connection.
	 */
	bool close_here = t->rd_eof;

	io_set(t, 0);
	if (t->reset_wait)
		ss->resets_waiting--;
	/*
	 * A hang-up not yet reported would name a freed t, unless A is closed
	 * here: its last reference takes it out of every epoll set.
	 */
	if (t->in_hup && !close_here)
		epoll_ctl(ss->hup_ep, EPOLL_CTL_DEL, t->own_end, NULL);
	if (t->sk) {
		tn_sock_set_callback(t->sk, NULL, NULL);
		tn_sock_close(t->sk);
		t->sk = NULL;
	}
	if (close_here)
		close(t->own_end);
	else
		closer_close(t->own_end);
	close_client_end_held(t);
	if (t->accepted_end >= 0)
		close(t->accepted_end); /* ours, never in a client's hands */
	if (t->accept_waits) {
		if (!wait_unlink(&ss->waiting, t))
			wait_unlink(&ss->waking, t);
		t->accept_waits = false;
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
	spare_taken(t);
	if (t->conn)
		t->conn->nsockets--;
	if (t->acct)
		t->acct->nsockets--;
	ss->count--;
	ss->d->counters[DCTR_SockOpen] = ss->count;
	if (ss->waiting)
		ev_idle_start(ss->d->loop, &ss->wake_idle); /* not now: we may be deep in a pump */
	free(t);
}

/* The socket is over for the client: remember how it ended, free it. */
void tsock_finish(struct tsock *t)
{
	bury(t->ss, t, t->done_err);
	tsock_free(t);
}

void sock_cb(struct tn_sock *s, unsigned events, void *arg);

/*
 * The copy of B a connect request carried (its cookie named this socket,
 * so it is B itself) goes. Only A sends into B, and the A of a socket that
 * connects never sends descriptors: the close cannot drop a client's fd,
 * nor block, and the loop makes it.
 */
void close_client_end_held(struct tsock *t)
{
	if (t->client_end_held >= 0)
		close(t->client_end_held);
	t->client_end_held = -1;
}

/* A new socket for the pair end a (ours) whose other end has this cookie. */
struct tsock *tsock_new(struct sockets *ss, struct sockets_owner *conn,
			    struct sockets_account *acct, struct tn_sock *sk, int a, uint64_t cookie)
{
	struct tsock *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ss = ss;
	t->conn = conn;
	t->acct = acct;
	t->sk = sk;
	t->own_end = a;
	t->a_sndbuf = ss->a_sndbuf_default;
	t->client_end_held = -1;
	t->accepted_end = -1;
	t->cookie = cookie;
	ev_io_init(&t->io, a_io_cb, a, 0);
	t->io.data = t;

	/* one hang-up is all we need to hear: reported once, then disabled, no DEL */
	struct epoll_event ev = { .events = EPOLLONESHOT, .data.ptr = t };
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

void spare_taken(struct tsock *t)
{
	if (!t->spare)
		return;
	t->spare = false;
	if (t->conn)
		t->conn->nspares--;
}

int limit_check(struct sockets *ss, const struct sockets_account *acct)
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

/* ------------------------------------------------------------------ owners, set-up */

void sockets_owner_gone(struct sockets *ss, struct sockets_owner *owner)
{
	if (!ss)
		return;
	for (struct tsock *t = ss->all; t; t = t->next) {
		if (t->opt_conn == owner)
			t->opt_conn = NULL;
		if (t->conn != owner)
			continue;
		spare_taken(t);
		t->conn = NULL; /* its user's account keeps it, and its buffers, counted */
		owner->nsockets--;
		if (t->client_end_held < 0)
			continue;
		/*
		 * A connect in progress whose B may live on in another process
		 * (fork, exec): B keeps its filler, now at full size, so that it
		 * stays unwritable without our copy; then the copy goes, and the
		 * hang-up of a B that nobody else holds closes the socket.
		 */
		int sz = PAIR_SNDBUF;
		if (setsockopt(t->client_end_held, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)) < 0)
			log_debug("cannot grow a connecting socket's send buffer: %s", strerror(errno));
		memset(ss->scratch, 0, 4096);
		for (;;) {
			ssize_t n = send(t->client_end_held, ss->scratch, 4096, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n <= 0)
				break;
			t->filler += (uint32_t)n;
		}
		close_client_end_held(t);
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
	if (ss->waiting)
		ev_idle_start(ss->d->loop, &ss->wake_idle);
}

/*
 * What a new pair's end A has for a send buffer, as SO_SNDBUF would ask for
 * it (half what the kernel reports: it doubles what it grants, not its
 * default, net.core.wmem_default): A keeps it until its connection's
 * receive buffer asks for more (a_sndbuf_follow), which saves a system call
 * per connection that never does. Then, once: a program's socket pair
 * grows with its receive buffer only as far as net.core.wmem_max lets it:
 * said where that cap is below what the largest receive buffer would ask,
 * with the remedy. Both are read off a socket, which works where /proc/sys
 * is hidden, as in the systemd unit.
 */
static void pair_defaults(struct sockets *ss, const struct tapnetd *d)
{
	int want = (int)(d->cfg.core.tcp_rcvbuf_max / 4), got = 0;
	socklen_t len = sizeof(got);
	int sv[2];

	ss->a_sndbuf_default = 0; /* unknown: every pair's A asks (a_sndbuf_follow) */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &got, &len) == 0 && got > 0)
		ss->a_sndbuf_default = (uint32_t)got / 2;
	got = 0;
	len = sizeof(got);
	if (setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) == 0 &&
	    getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &got, &len) == 0 && got / 2 < want)
		log_info("net.core.wmem_max (%d) caps each program's socket pair below the %d "
			 "bytes a full receive buffer would ask: bulk transfers into programs "
			 "run faster with it raised (sysctl -w net.core.wmem_max=%d)",
			 got / 2, want, want);
	close(sv[0]);
	close(sv[1]);
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
	ev_init(&ss->reset_timer, reset_timer_cb);
	ss->reset_timer.data = ss;
	tn_stack_set_charge(d->stack, charge_cb, ss);
	pair_defaults(ss, d);
	return ss;
}

void failed_keep(struct tsock *t)
{
	struct sockets *ss = t->ss;

	if (!t->sk)
		return;
	struct tn_sock_settings *set = tn_sock_settings_save(t->sk);
	if (!set)
		return; /* out of memory: a connect again is EINVAL, as before */
	struct failed_connect *f = &ss->failed[ss->failed_next++ % FAILED_KEEP];
	tn_sock_settings_free(f->set);
	*f = (struct failed_connect){ .cookie = t->cookie, .set = set };
}

void sockets_free(struct sockets *ss)
{
	if (!ss)
		return;
	while (ss->all) {
		struct tsock *t = ss->all;
		close_core(t, true);
		tsock_free(t);
	}
	for (unsigned i = 0; i < FAILED_KEEP; i++)
		tn_sock_settings_free(ss->failed[i].set);
	ev_io_stop(ss->d->loop, &ss->hup_io);
	ev_idle_stop(ss->d->loop, &ss->wake_idle);
	ev_prepare_stop(ss->d->loop, &ss->pend_watcher);
	ev_timer_stop(ss->d->loop, &ss->reset_timer);
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
