/*
 * tapnet.c - libtapnet: the socket API on tapnet (see <tapnet.h>).
 *
 * A socket is one end B of a Unix socketpair; tapnetd holds the other end
 * A (src/daemon/sockets.h has the whole story). Control operations are
 * messages on this process's control connection, each carrying B itself
 * (SCM_RIGHTS) so the daemon knows which socket is meant, whatever fd
 * number, process or program holds it now.
 *
 * The control connection is per process: opened on first use, opened
 * again after fork (the pid changed), close-on-exec. One mutex serialises
 * its use, so every request has its reply before the next goes out.
 *
 * Calls that the LD_PRELOAD shim interposes are made here with syscall()
 * or while tn_lib_busy is set (the shim then passes them to libc), so
 * that this file can be linked into the shim too.
 *
 * Thread-safe: every call holds one mutex across its request and reply
 * (ENTER/LEAVE below).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lib/tapnet.h"
#include "lib/tapnet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "rpc/rpc.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

#define CALL_TIMEOUT_MS 60000 /* a daemon that does not answer in this long is broken */
#define CACHE_SIZE 256        /* sockets (by SO_COOKIE) known to be, or not be, tapnet's */

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

__thread int tn_lib_busy;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ctl_fd = -1;
static pid_t ctl_pid;       /* the process that opened ctl_fd */
static uint32_t next_id = 1;
static uint8_t reply_buf[TN_RPC_MAX_MSG];
static uint8_t req_buf[1024];

static struct cache_entry {
	uint64_t cookie;       /* never reused while the system runs, unlike an inode */
	int8_t is_tapnet;
} cache[CACHE_SIZE];
static unsigned cache_next;

/* ------------------------------------------------------------------ raw system calls */

static ssize_t sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return syscall(SYS_sendmsg, fd, m, flags);
}

static ssize_t sys_recvmsg(int fd, struct msghdr *m, int flags)
{
	return syscall(SYS_recvmsg, fd, m, flags);
}

static int sys_setsockopt(int fd, int l, int o, const void *v, socklen_t n)
{
	return (int)syscall(SYS_setsockopt, fd, l, o, v, n);
}

static int sys_getsockopt(int fd, int l, int o, void *v, socklen_t *n)
{
	return (int)syscall(SYS_getsockopt, fd, l, o, v, n);
}

static int sys_shutdown(int fd, int how)
{
	return (int)syscall(SYS_shutdown, fd, how);
}

/* ------------------------------------------------------------------ the control connection */

const char *tapnet_default_socket_path(void)
{
	return RUNSTATEDIR "/tapnet/tapnetd.sock";
}

static const char *socket_path(void)
{
	const char *p = getenv("TAPNET_SOCKET");

	return p && *p ? p : tapnet_default_socket_path();
}

static void close_keep_errno(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
}

/* With the lock held: the control connection of this process, or -1. */
static int conn_get(void)
{
	pid_t pid = getpid();

	if (ctl_fd >= 0 && ctl_pid == pid) {
		/*
		 * Between calls the daemon sends nothing: anything to read is its
		 * goodbye (an idle connection closed, see client_idle_timeout), and
		 * a new connection serves as well.
		 */
		struct pollfd p = { .fd = ctl_fd, .events = POLLIN };
		if (poll(&p, 1, 0) == 0)
			return ctl_fd;
	}
	if (ctl_fd >= 0) /* the daemon's goodbye, or inherited over fork (the parent's) */
		close(ctl_fd);
	ctl_fd = -1;
	int fd = tn_rpc_connect(socket_path(), CALL_TIMEOUT_MS);
	if (fd < 0)
		return -1;
	/* HELLO: our name for the daemon's log */
	struct tn_rpc_writer w;
	char name[64] = "libtapnet";
	FILE *f = fopen("/proc/self/comm", "re");
	if (f) {
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
	}
	uint8_t hello[128]; /* not req_buf: the request waiting for us is there */
	tn_rpc_begin(&w, hello, sizeof(hello), TN_RPC_HELLO, next_id++);
	tn_rpc_put_str(&w, TN_ATTR_CLIENT_NAME, name);
	long len = tn_rpc_end(&w);
	long r = len < 0 ? -1 : tn_rpc_call(fd, hello, (size_t)len, reply_buf, sizeof(reply_buf),
					    CALL_TIMEOUT_MS);
	struct tn_rpc_header hdr;
	if (r < 0 || tn_rpc_parse_header(reply_buf, (size_t)r, &hdr) != TN_RPC_OK ||
	    hdr.type != (TN_RPC_HELLO | TN_RPC_REPLY)) {
		if (r >= 0)
			errno = ECONNREFUSED;
		close_keep_errno(fd);
		return -1;
	}
	ctl_fd = fd;
	ctl_pid = pid;
	return fd;
}

static void conn_drop(void)
{
	if (ctl_fd >= 0)
		close(ctl_fd);
	ctl_fd = -1;
}

/*
 * With the lock held: sends the request in w (fds attached to its bytes)
 * and waits for its reply in reply_buf. Returns the reply's length, or -1
 * with errno: the daemon's error for this request, or what went wrong.
 * With passed, the fd that came with a successful reply is left there
 * (-1 if none).
 */
static long call_fd(struct tn_rpc_writer *w, const int *fds, unsigned nfds, int *passed)
{
	struct tn_rpc_header hdr;
	long len = tn_rpc_end(w);
	int fd = conn_get();

	if (len < 0) {
		errno = EINVAL;
		return -1;
	}
	if (fd < 0)
		return -1;
	tn_rpc_parse_header(w->buf, (size_t)len, &hdr);

	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} cbuf;
	struct iovec iov = { w->buf, (size_t)len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sys_sendmsg(fd, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		int e = errno;
		conn_drop();
		errno = (e == EPIPE) ? ECONNRESET : e;
		return -1;
	}
	if (n < len && tn_rpc_send_msg(fd, w->buf + n, (size_t)(len - n), CALL_TIMEOUT_MS) < 0) {
		conn_drop();
		return -1;
	}
	int got_fd = -1;
	long r = tn_rpc_recv_msg_fd(fd, reply_buf, sizeof(reply_buf), CALL_TIMEOUT_MS, &got_fd);
	if (r < 0) {
		conn_drop();
		return -1;
	}
	if (passed)
		*passed = got_fd;
	else if (got_fd >= 0)
		close(got_fd);
	struct tn_rpc_header rh;
	tn_rpc_parse_header(reply_buf, (size_t)r, &rh);
	if (passed && *passed >= 0 &&
	    ((rh.type & ~TN_RPC_REPLY) == TN_RPC_ERROR || rh.id != hdr.id)) {
		close(*passed);
		*passed = -1;
	}
	if ((rh.type & ~TN_RPC_REPLY) == TN_RPC_ERROR) {
		int err;
		char text[128];
		if (!tn_rpc_decode_error(reply_buf, (size_t)r, &err, text, sizeof(text)))
			err = EPROTO;
		if (rh.id == TN_RPC_CONNECTION_ID)
			conn_drop();
		errno = err;
		return -1;
	}
	if (rh.id != hdr.id || rh.type != (hdr.type | TN_RPC_REPLY)) {
		conn_drop();
		errno = EPROTO;
		return -1;
	}
	return r;
}

static long call(struct tn_rpc_writer *w, const int *fds, unsigned nfds)
{
	return call_fd(w, fds, nfds, NULL);
}

static void begin(struct tn_rpc_writer *w, uint16_t type)
{
	tn_rpc_begin(w, req_buf, sizeof(req_buf), type, next_id++);
	if (next_id == TN_RPC_CONNECTION_ID)
		next_id++;
}

/* ------------------------------------------------------------------ which fds are ours */

/* The socket's cookie; -1 (ENOTSOCK) for anything but a socket. */
static int fd_ident(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (sys_getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0)
		return -1;
	return 0;
}

static void cache_put(uint64_t cookie, bool yes)
{
	for (unsigned i = 0; i < CACHE_SIZE; i++)
		if (cache[i].cookie == cookie) {
			cache[i].is_tapnet = yes;
			return;
		}
	cache[cache_next] = (struct cache_entry){ cookie, yes };
	cache_next = (cache_next + 1) % CACHE_SIZE;
}

static void cache_put_fd(int fd, bool yes)
{
	uint64_t cookie;

	if (fd_ident(fd, &cookie) == 0)
		cache_put(cookie, yes);
}

static int cache_get(uint64_t cookie)
{
	for (unsigned i = 0; i < CACHE_SIZE; i++)
		if (cache[i].cookie == cookie && cookie)
			return cache[i].is_tapnet;
	return -1;
}

/* With the lock held. */
static int is_socket_locked(int fd)
{
	uint64_t cookie;
	int v;
	socklen_t len = sizeof(v);

	if (fd_ident(fd, &cookie) < 0)
		return 0;
	if (sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX)
		return 0;
	len = sizeof(v);
	if (sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
		return 0;
	int known = cache_get(cookie);
	if (known >= 0)
		return known;
	struct ucred cred;
	len = sizeof(cred);
	if (sys_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid == 0)
		return 0; /* not connected: no pair end of ours */
	/* ask the daemon: SO_TYPE works on every socket it knows */
	struct tn_rpc_writer w;
	int saved = errno;
	begin(&w, TN_RPC_GETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, SOL_SOCKET);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, SO_TYPE);
	tn_rpc_put_u32(&w, TN_ATTR_OPTLEN, sizeof(int));
	long r = call(&w, &fd, 1);
	int yes = r >= 0;
	if (r >= 0 || errno == ENOTSOCK)
		cache_put(cookie, yes);
	errno = saved;
	return yes;
}

int tapnet_is_socket(int fd)
{
	tn_lib_busy++;
	pthread_mutex_lock(&lock);
	int r = is_socket_locked(fd);
	pthread_mutex_unlock(&lock);
	tn_lib_busy--;
	return r;
}

/* ------------------------------------------------------------------ the calls */

/*
 * Every call holds the lock from ENTER() to LEAVE(rv); rv is evaluated
 * before the lock is released, so LEAVE(call(...)) is one locked step
 * (req_buf and reply_buf are shared by every thread).
 */
#define ENTER()                             \
	do {                                \
		tn_lib_busy++;              \
		pthread_mutex_lock(&lock);  \
	} while (0)
#define LEAVE(rv)                                  \
	do {                                       \
		int r_ = (rv);                     \
		int e_ = errno;                    \
		pthread_mutex_unlock(&lock);       \
		tn_lib_busy--;                     \
		errno = e_;                        \
		return r_;                         \
	} while (0)

int tapnet_socket(int domain, int type, int protocol)
{
	int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (domain != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if ((type & ~flags) != SOCK_STREAM) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	if (protocol != 0 && protocol != IPPROTO_TCP) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	ENTER();
	/* the daemon makes the pair; its reply brings our end, not yet writable */
	struct tn_rpc_writer w;
	int b = -1;
	begin(&w, TN_RPC_SOCKET);
	if (call_fd(&w, NULL, 0, &b) < 0)
		LEAVE(-1);
	if (b < 0) {
		errno = EPROTO;
		LEAVE(-1);
	}
	if (!(flags & SOCK_CLOEXEC))
		fcntl(b, F_SETFD, 0);
	if (flags & SOCK_NONBLOCK)
		fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
	cache_put_fd(b, true);
	LEAVE(b);
}

static int get_sin(const struct sockaddr *addr, socklen_t len, uint32_t *ip, uint32_t *port)
{
	struct sockaddr_in sin;

	if (!addr || len < (socklen_t)sizeof(sin)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(&sin, addr, sizeof(sin));
	if (sin.sin_family != AF_INET) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	*ip = ntohl(sin.sin_addr.s_addr);
	*port = ntohs(sin.sin_port);
	return 0;
}

int tapnet_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	uint32_t ip, port;
	struct tn_rpc_writer w;

	if (get_sin(addr, len, &ip, &port) < 0)
		return -1;
	ENTER();
	begin(&w, TN_RPC_BIND);
	tn_rpc_put_u32(&w, TN_ATTR_ADDR, ip);
	tn_rpc_put_u32(&w, TN_ATTR_PORT, port);
	LEAVE(call(&w, &fd, 1) < 0 ? -1 : 0);
}

int tapnet_listen(int fd, int backlog)
{
	struct tn_rpc_writer w;

	ENTER();
	begin(&w, TN_RPC_LISTEN);
	tn_rpc_put_u32(&w, TN_ATTR_BACKLOG, backlog < 0 ? 0u : (uint32_t)backlog);
	LEAVE(call(&w, &fd, 1) < 0 ? -1 : 0);
}

static void put_sin(struct sockaddr *addr, socklen_t *len, uint32_t ip_net, uint16_t port_net)
{
	struct sockaddr_in sin;

	if (!addr || !len)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = ip_net;
	sin.sin_port = port_net;
	memcpy(addr, &sin, *len < sizeof(sin) ? *len : sizeof(sin));
	*len = sizeof(sin);
}

/*
 * The daemon closed its end of a listener: tapnetd stopped (or the
 * listener is over). Like a kernel listener whose network went away, the
 * fd stays open and simply never becomes readable again, instead of
 * reporting end-of-file to every poll and making the program spin: it
 * becomes one end of a socketpair whose other end is kept (and never
 * written), with the same file status flags.
 */
static void quiet_listener(int fd)
{
	static bool said;
	int sv[2];
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (dup3(sv[0], fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		close(sv[1]);
	} else {
		fcntl(fd, F_SETFL, fl & O_NONBLOCK);
		tn_lib_busy++;
		pthread_mutex_lock(&lock);
		cache_put_fd(fd, true); /* still a tapnet listener to the program: accept waits */
		pthread_mutex_unlock(&lock);
		tn_lib_busy--;
	}
	close(sv[0]); /* sv[1] stays open for good: one fd per listener that outlived tapnetd */
	if (!said) {
		said = true;
		static const char msg[] = "tapnet: a listening socket lost tapnetd (stopped?); "
					  "it will accept nothing more\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)w;
	}
}

int tapnet_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	struct tn_accept_rec rec;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		errno = EINVAL;
		return -1;
	}
	/* no lock: this may wait as long as the listener's fd says */
	for (;;) {
		struct iovec iov = { &rec, sizeof(rec) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t n = sys_recvmsg(fd, &msg, (flags & SOCK_CLOEXEC) ? MSG_CMSG_CLOEXEC : 0);
		if (n < 0 && errno == ECONNRESET)
			n = 0; /* the daemon's end closed with our filler unread: gone all the same */
		else if (n < 0)
			return -1; /* EAGAIN, EINTR, ENOTSOCK... as accept() */
		int nfd = -1;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int x;
				memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (nfd < 0)
					nfd = x;
				else
					close(x);
			}
		}
		if (n == 0 && nfd < 0) {
			quiet_listener(fd);
			errno = ECONNABORTED; /* what accept says of a connection that went: try again */
			return -1;
		}
		if (nfd < 0 || n != (ssize_t)sizeof(rec) || rec.version != TN_ACCEPT_REC_VERSION) {
			if (nfd >= 0)
				close(nfd);
			errno = EPROTO;
			return -1;
		}
		if (flags & SOCK_NONBLOCK)
			fcntl(nfd, F_SETFL, fcntl(nfd, F_GETFL) | O_NONBLOCK);
		put_sin(addr, len, rec.peer_addr, rec.peer_port);
		tn_lib_busy++;
		pthread_mutex_lock(&lock);
		cache_put_fd(nfd, true);
		pthread_mutex_unlock(&lock);
		tn_lib_busy--;
		return nfd;
	}
}

int tapnet_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return tapnet_accept4(fd, addr, len, 0);
}

static int so_error(int fd)
{
	struct tn_rpc_writer w;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	int v = 0;

	begin(&w, TN_RPC_GETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, SOL_SOCKET);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, SO_ERROR);
	tn_rpc_put_u32(&w, TN_ATTR_OPTLEN, sizeof(int));
	long r = call(&w, &fd, 1);
	if (r < 0)
		return -1;
	tn_rpc_iter_msg(&it, reply_buf, (size_t)r);
	while (tn_rpc_next(&it, &a))
		if (a.type == TN_ATTR_OPTVAL && a.len == sizeof(int))
			memcpy(&v, a.value, sizeof(int));
	return v;
}

int tapnet_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	uint32_t ip, port;
	struct tn_rpc_writer w;

	if (get_sin(addr, len, &ip, &port) < 0)
		return -1;
	ENTER();
	begin(&w, TN_RPC_CONNECT);
	tn_rpc_put_u32(&w, TN_ATTR_ADDR, ip);
	tn_rpc_put_u32(&w, TN_ATTR_PORT, port);
	if (call(&w, &fd, 1) < 0)
		LEAVE(-1);
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK)) {
		errno = EINPROGRESS;
		LEAVE(-1);
	}
	pthread_mutex_unlock(&lock);
	/* blocking: B turns writable when the handshake is over, either way */
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int n = poll(&p, 1, -1);
	pthread_mutex_lock(&lock);
	if (n < 0)
		LEAVE(-1); /* EINTR: the connect goes on, as on Linux */
	int err = so_error(fd);
	if (err < 0)
		LEAVE(-1);
	if (err) {
		errno = err;
		LEAVE(-1);
	}
	LEAVE(0);
}

int tapnet_shutdown(int fd, int how)
{
	struct tn_rpc_writer w;

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
		errno = EINVAL;
		return -1;
	}
	ENTER();
	begin(&w, TN_RPC_SHUTDOWN);
	tn_rpc_put_u32(&w, TN_ATTR_HOW, (uint32_t)how); /* SHUT_* == TN_SHUT_* */
	if (call(&w, &fd, 1) < 0)
		LEAVE(-1);
	/* the write side is B's own: its EOF reaches the daemon after the data */
	if (how != SHUT_RD && sys_shutdown(fd, SHUT_WR) < 0)
		LEAVE(-1);
	LEAVE(0);
}

static int getname(int fd, struct sockaddr *addr, socklen_t *len, bool peer)
{
	struct tn_rpc_writer w;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	uint32_t ip = 0, port = 0;

	if (!addr || !len) {
		errno = EFAULT;
		return -1;
	}
	ENTER();
	begin(&w, TN_RPC_GETNAME);
	tn_rpc_put_u32(&w, TN_ATTR_PEER, peer);
	long r = call(&w, &fd, 1);
	if (r < 0)
		LEAVE(-1);
	tn_rpc_iter_msg(&it, reply_buf, (size_t)r);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_ADDR)
			tn_rpc_get_u32(&a, &ip);
		else if (a.type == TN_ATTR_PORT)
			tn_rpc_get_u32(&a, &port);
	}
	put_sin(addr, len, htonl(ip), htons((uint16_t)port));
	LEAVE(0);
}

int tapnet_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, false);
}

int tapnet_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, true);
}

/* Options of the descriptor itself rather than of the TCP connection. */
static bool fd_option(int level, int optname)
{
	return level == SOL_SOCKET && (optname == SO_RCVTIMEO || optname == SO_SNDTIMEO);
}

int tapnet_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	struct tn_rpc_writer w;

	if (fd_option(level, optname))
		return sys_setsockopt(fd, level, optname, optval, optlen);
	if (optlen > TN_RPC_OPTVAL_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (optlen && !optval) {
		errno = EFAULT;
		return -1;
	}
	ENTER();
	begin(&w, TN_RPC_SETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, (uint32_t)level);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, (uint32_t)optname);
	tn_rpc_put_bytes(&w, TN_ATTR_OPTVAL, optval, optlen);
	LEAVE(call(&w, &fd, 1) < 0 ? -1 : 0);
}

int tapnet_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	struct tn_rpc_writer w;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	if (fd_option(level, optname))
		return sys_getsockopt(fd, level, optname, optval, optlen);
	if (!optlen || (*optlen && !optval)) {
		errno = EFAULT;
		return -1;
	}
	ENTER();
	begin(&w, TN_RPC_GETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, (uint32_t)level);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, (uint32_t)optname);
	tn_rpc_put_u32(&w, TN_ATTR_OPTLEN, *optlen);
	long r = call(&w, &fd, 1);
	if (r < 0)
		LEAVE(-1);
	socklen_t got = 0;
	tn_rpc_iter_msg(&it, reply_buf, (size_t)r);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_OPTVAL)
			continue;
		got = a.len < *optlen ? a.len : *optlen;
		memcpy(optval, a.value, got);
	}
	*optlen = got;
	LEAVE(0);
}
