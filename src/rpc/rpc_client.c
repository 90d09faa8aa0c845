/*
 * rpc_client.c - the requesting side of the control protocol: connect to
 * tapnetd, send one message, receive one whole reply.
 *
 * Every wait goes through poll() against one deadline, so a daemon that is
 * stuck, or a peer that is not tapnetd at all, costs the caller at most
 * timeout_ms and never a hang. The fd stays in blocking mode for whoever
 * owns it; our own calls use MSG_DONTWAIT and wait in poll() instead.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "rpc/rpc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NO_DEADLINE INT64_MAX
#define HELLO_REPLY_MAX 1024 /* a HELLO reply holds a version string and a pid */
#define CONNECT_RETRY_MS 10 /* pause while the daemon's listen backlog is full */

static int connect_from(const char *path, const struct sockaddr_un *local, socklen_t local_len,
			int timeout_ms);

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A negative timeout means wait as long as it takes. */
static int64_t deadline_after(int timeout_ms)
{
	return timeout_ms < 0 ? NO_DEADLINE : now_ms() + timeout_ms;
}

/* Milliseconds left as a poll() timeout: -1 for no deadline, 0 when past. */
static int poll_timeout(int64_t deadline)
{
	if (deadline == NO_DEADLINE)
		return -1;
	int64_t left = deadline - now_ms();

	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Waits until fd is ready for events; -1 with ETIMEDOUT at the deadline. */
static int wait_ready(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, poll_timeout(deadline));

		/* POLLHUP/POLLERR count as ready: the next send/recv says what happened */
		if (n > 0)
			return 0;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

static void close_keep_errno(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

static int fill_unix_address(struct sockaddr_un *sun, const char *path)
{
	size_t n = strlen(path);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (n == 0) {
		errno = ENOENT;
		return -1;
	}
	if (n >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, n + 1);
	return 0;
}

static void pause_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/*
 * A Unix stream connect never waits for a handshake; it can only find the
 * listen backlog full (EAGAIN when non-blocking). Retrying briefly instead
 * of blocking keeps that case under the deadline too.
 */
static int connect_until(int fd, const struct sockaddr_un *sun, int64_t deadline)
{
	for (;;) {
		if (connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0)
			return 0;
		if (errno == EISCONN)
			return 0; /* an interrupted attempt completed after all */
		if (errno != EAGAIN && errno != EINTR && errno != EINPROGRESS)
			return -1;
		int left = poll_timeout(deadline);

		if (left == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		pause_ms(left < 0 || left > CONNECT_RETRY_MS ? CONNECT_RETRY_MS : left);
	}
}

int tn_rpc_connect(const char *path, int timeout_ms)
{
	return connect_from(path, NULL, 0, timeout_ms);
}

static int connect_from(const char *path, const struct sockaddr_un *local, socklen_t local_len,
			int timeout_ms)
{
	struct sockaddr_un sun;
	int64_t deadline = deadline_after(timeout_ms);

	if (fill_unix_address(&sun, path) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (local && bind(fd, (const struct sockaddr *)local, local_len) < 0)
		goto fail;
	if (connect_until(fd, &sun, deadline) < 0)
		goto fail;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		goto fail;
	return fd;
fail:
	close_keep_errno(fd);
	return -1;
}

static int send_until(int fd, const void *msg, size_t len, int64_t deadline)
{
	const uint8_t *p = msg;

	while (len > 0) {
		/* MSG_NOSIGNAL: a daemon that went away is an error, not a SIGPIPE */
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_ready(fd, POLLOUT, deadline) < 0)
				return -1;
		} else {
			if (n == 0 || errno == EPIPE)
				errno = ECONNRESET;
			return -1;
		}
	}
	return 0;
}

int tn_rpc_send_msg(int fd, const void *msg, size_t len, int timeout_ms)
{
	return send_until(fd, msg, len, deadline_after(timeout_ms));
}

void tn_rpc_take_fds(struct msghdr *msg, int *passed)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int x;
			memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (passed && *passed < 0)
				*passed = x;
			else
				close(x);
		}
	}
}

/*
 * Reads exactly len bytes; the peer closing early is ECONNRESET. fds that
 * come along go to tn_rpc_take_fds().
 */
static int recv_exact(int fd, uint8_t *buf, size_t len, int64_t deadline, int *passed)
{
	size_t got = 0;

	while (got < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 4)];
		} cbuf;
		struct iovec iov = { buf + got, len - got };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n >= 0)
			tn_rpc_take_fds(&msg, passed);

		if (n > 0) {
			got += (size_t)n;
		} else if (n == 0) {
			errno = ECONNRESET;
			return -1;
		} else if (errno == EINTR) {
			continue;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			if (wait_ready(fd, POLLIN, deadline) < 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

/*
 * The header first, then exactly the length it announces: reading no more
 * than one message keeps the stream in step for the next one.
 */
static long recv_until(int fd, void *buf, size_t cap, int64_t deadline, int *passed)
{
	struct tn_rpc_header hdr;

	if (cap < TN_RPC_HDR_LEN) {
		errno = EMSGSIZE;
		return -1;
	}
	if (recv_exact(fd, buf, TN_RPC_HDR_LEN, deadline, passed) < 0)
		return -1;
	if (tn_rpc_parse_header(buf, TN_RPC_HDR_LEN, &hdr) != TN_RPC_OK) {
		errno = EPROTO;
		return -1;
	}
	if (hdr.length > cap) {
		errno = EMSGSIZE;
		return -1;
	}
	if (recv_exact(fd, (uint8_t *)buf + TN_RPC_HDR_LEN, hdr.length - TN_RPC_HDR_LEN,
		       deadline, passed) < 0)
		return -1;
	if (!tn_rpc_validate(buf, hdr.length)) {
		errno = EPROTO;
		return -1;
	}
	return (long)hdr.length;
}

long tn_rpc_recv_msg(int fd, void *buf, size_t cap, int timeout_ms)
{
	return recv_until(fd, buf, cap, deadline_after(timeout_ms), NULL);
}

long tn_rpc_recv_msg_fd(int fd, void *buf, size_t cap, int timeout_ms, int *passed)
{
	*passed = -1;
	long len = recv_until(fd, buf, cap, deadline_after(timeout_ms), passed);
	if (len < 0 && *passed >= 0) {
		int e = errno;
		close(*passed);
		*passed = -1;
		errno = e;
	}
	return len;
}

static bool answers(const struct tn_rpc_header *req, const struct tn_rpc_header *reply)
{
	/* errors are accepted with or without the reply bit: either is clear */
	if ((reply->type & ~TN_RPC_REPLY) == TN_RPC_ERROR)
		return reply->id == req->id || reply->id == TN_RPC_CONNECTION_ID;
	return reply->id == req->id && reply->type == (req->type | TN_RPC_REPLY);
}

long tn_rpc_call(int fd, const void *req, size_t req_len, void *reply, size_t cap,
		 int timeout_ms)
{
	int64_t deadline = deadline_after(timeout_ms);
	struct tn_rpc_header req_hdr, reply_hdr;
	bool send_failed = false;

	if (tn_rpc_parse_header(req, req_len, &req_hdr) != TN_RPC_OK ||
	    req_hdr.length != req_len) {
		errno = EINVAL;
		return -1;
	}
	if (send_until(fd, req, req_len, deadline) < 0) {
		if (errno != ECONNRESET)
			return -1;
		/* A daemon that refuses us says why before it hangs up: read that. */
		send_failed = true;
	}
	long len = recv_until(fd, reply, cap, deadline, NULL);

	if (len < 0) {
		if (send_failed)
			errno = ECONNRESET;
		return -1;
	}
	tn_rpc_parse_header(reply, (size_t)len, &reply_hdr);
	if (!answers(&req_hdr, &reply_hdr)) {
		errno = EPROTO;
		return -1;
	}
	return len;
}

int tn_rpc_connect_program(const char *path, const char *name, int timeout_ms)
{
	struct sockaddr_un local = { .sun_family = AF_UNIX };
	struct timespec ts;
	static unsigned serial; /* racing threads at worst retry unnamed */

	/* abstract (leading NUL): nothing in the file system, gone with the socket */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int n = snprintf(local.sun_path + 1, sizeof(local.sun_path) - 1,
			 TN_RPC_PROGRAM_NAME_PREFIX "%ld/%lx.%u", (long)getpid(),
			 (unsigned long)ts.tv_nsec, serial++);
	socklen_t llen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	int fd = connect_from(path, &local, llen, timeout_ms);
	if (fd < 0 && errno == EADDRINUSE)
		fd = connect_from(path, NULL, 0, timeout_ms);
	if (fd < 0)
		return -1;

	uint8_t req[256], reply[HELLO_REPLY_MAX];
	struct tn_rpc_writer w;
	struct tn_rpc_header hdr;
	tn_rpc_begin(&w, req, sizeof(req), TN_RPC_HELLO, 1);
	tn_rpc_put_str(&w, TN_ATTR_CLIENT_NAME, name && *name ? name : "libtapnet");
	long len = tn_rpc_end(&w);
	long r = len < 0 ? -1 : tn_rpc_call(fd, req, (size_t)len, reply, sizeof(reply), timeout_ms);
	if (r < 0 || tn_rpc_parse_header(reply, (size_t)r, &hdr) != TN_RPC_OK ||
	    hdr.type != (TN_RPC_HELLO | TN_RPC_REPLY)) {
		if (r >= 0) {
			int err;
			char text[128];
			errno = tn_rpc_decode_error(reply, (size_t)r, &err, text, sizeof(text)) ? err
												   : ECONNREFUSED;
		}
		close_keep_errno(fd);
		return -1;
	}
	return fd;
}

int tn_rpc_program_conn_pid(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	const size_t prefix = sizeof(TN_RPC_PROGRAM_NAME_PREFIX) - 1;
	const size_t base = offsetof(struct sockaddr_un, sun_path);

	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0 || sun.sun_family != AF_UNIX ||
	    len <= base + 1 + prefix || len > sizeof(sun) || sun.sun_path[0] != '\0' ||
	    memcmp(sun.sun_path + 1, TN_RPC_PROGRAM_NAME_PREFIX, prefix) != 0)
		return 0;
	const char *p = sun.sun_path + 1 + prefix, *end = (const char *)&sun + len;
	long pid = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		pid = pid * 10 + (*p - '0');
		if (pid > INT32_MAX)
			return 0;
	}
	return p < end && *p == '/' ? (int)pid : 0;
}
