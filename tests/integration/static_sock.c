/*
 * static_sock.c - a statically linked program that makes its socket calls
 * itself (no shim can be preloaded into it), for rpc_seccomp.sh. Every
 * check prints one line; a failed one exits non-zero with what it saw.
 *
 *   static_sock client ADDR PORT     blocking connect, "hello" out, its echo back,
 *                                    getsockname/getpeername, SO_ERROR, shutdown
 *   static_sock nbclient ADDR PORT CLOSED_PORT
 *                                    non-blocking connect as Go does it: EINPROGRESS,
 *                                    poll for POLLOUT, SO_ERROR (0; ECONNREFUSED to
 *                                    CLOSED_PORT), then an echo
 *   static_sock server ADDR PORT N   listens, accepts N connections (blocking accept,
 *                                    then accept4 non-blocking with poll), echoes each
 *                                    line in upper case; prints each peer. The first
 *                                    blocking accept is interrupted by a SIGALRM after
 *                                    1 s (SA_RESTART: it goes on waiting)
 *   static_sock other                UDP and AF_UNIX sockets stay the kernel's and work
 *   static_sock gone ADDR PORT FILE  listens; once FILE exists (tapnetd stopped), polls
 *                                    the listener 3 times for 1 s, accepting when it is
 *                                    readable: prints "aborted", "accepted", "quiet"...
 *   static_sock connect6 ADDR6 PORT  an AF_INET6 socket connects (blocking); prints
 *                                    "got TEXT" (what the server sent) or the errno name
 *   static_sock fastopen ADDR PORT CLOSED_PORT
 *                                    sendto and sendmsg with MSG_FASTOPEN and an address,
 *                                    blocking and not, one line per answer
 *   static_sock oob ADDR PORT        send(MSG_OOB) on a connected socket, then a line:
 *                                    prints the send's errno name and the line's echo
 *   static_sock again ADDR PORT CLOSED_PORT
 *                                    connect again after a failed connect, blocking and
 *                                    not, one line per answer, then an echo through it
 *   static_sock unconnected ADDR PORT
 *                                    a socket never connected: poll, send, write, recv,
 *                                    read (blocking, SIGPIPE ignored), one line each;
 *                                    then made non-blocking and close-on-exec with fcntl,
 *                                    it connects (EINPROGRESS) and echoes. A call that
 *                                    waits for ever ends the program by SIGALRM (10 s)
 *   static_sock epollfirst ADDR PORT a socket made non-blocking with ioctl(FIONBIO) and
 *                                    added to an epoll set before its connect, as nginx
 *                                    does an upstream's: the connect (EINPROGRESS), then
 *                                    epoll_wait's answer (EPOLLOUT), SO_ERROR, an echo
 *   static_sock many ADDR PORT N     N connections one after another, blocking, an echo
 *                                    each; prints "N echoes"
 *   static_sock reset ADDR PORT      blocking connect; reads a byte, sends one, then reads
 *                                    until an error or end-of-file (the server resets):
 *                                    prints "read ERRNO then N" (N: the next read's result)
 *   static_sock resetchild ADDR PORT the same, but a forked child reads, the socket moved
 *                                    to fd 10 (as an inetd-style server's worker does);
 *                                    the parent closes its copy and waits for the child
 *   static_sock timeout ADDR PORT FILE
 *                                    blocking connect, TCP_USER_TIMEOUT 1 s, reads the
 *                                    server's byte; once FILE exists (the peer silenced)
 *                                    sends and reads: "read ETIMEDOUT after 1.x s then 0"
 *                                    on Linux
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	printf("FAIL %s: %s\n", what, strerror(errno));
	exit(1);
}

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("FAIL %s\n", what);
		exit(1);
	}
	printf("ok %s\n", what);
}

static struct sockaddr_in addr_of(const char *ip, const char *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };

	if (inet_pton(AF_INET, ip, &sin.sin_addr) != 1) {
		printf("FAIL bad address %s\n", ip);
		exit(2);
	}
	return sin;
}

/* "hello N" out, the same back (the kernel-side peer echoes). */
static void echo(int fd, int n)
{
	char msg[32], got[32];
	int len = snprintf(msg, sizeof(msg), "hello %d\n", n);

	if (write(fd, msg, (size_t)len) != len)
		die("write");
	int have = 0;
	while (have < len) {
		ssize_t r = read(fd, got + have, (size_t)(len - have));
		if (r <= 0)
			die("read the echo");
		have += (int)r;
	}
	check(memcmp(msg, got, (size_t)len) == 0, "echo came back");
}

static void names(int fd, const struct sockaddr_in *peer)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);

	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("getsockname");
	printf("local %s:%u\n", inet_ntoa(a.sin_addr), ntohs(a.sin_port));
	len = sizeof(a);
	if (getpeername(fd, (struct sockaddr *)&a, &len) < 0)
		die("getpeername");
	check(len == sizeof(a) && a.sin_addr.s_addr == peer->sin_addr.s_addr &&
		      a.sin_port == peer->sin_port,
	      "getpeername is the server");
}

static int client(const char *ip, const char *port)
{
	struct sockaddr_in sin = addr_of(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, v = -1;
	socklen_t len = sizeof(v);

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		die("setsockopt TCP_NODELAY");
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len) < 0)
		die("getsockopt TCP_NODELAY");
	check(v == 1 && len == sizeof(v), "TCP_NODELAY set and read back");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect");
	check(1, "blocking connect");
	names(fd, &sin);
	echo(fd, 1);
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len) < 0)
		die("getsockopt SO_ERROR");
	check(v == 0, "SO_ERROR 0");
	if (shutdown(fd, SHUT_WR) < 0)
		die("shutdown");
	char c;
	check(read(fd, &c, 1) == 0, "end of file after our FIN");
	close(fd);
	return 0;
}

/* A non-blocking connect as Go makes it: 0, or the SO_ERROR it ended with. */
static int nb_connect(const struct sockaddr_in *sin, int *fdp)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
	int err = -1;
	socklen_t len = sizeof(err);

	if (fd < 0)
		die("socket");
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == 0) {
		*fdp = fd;
		return 0;
	}
	if (errno != EINPROGRESS)
		die("non-blocking connect: not EINPROGRESS");
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, 10000) != 1)
		die("poll for POLLOUT");
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		die("getsockopt SO_ERROR");
	*fdp = fd;
	return err;
}

static int nbclient(const char *ip, const char *port, const char *closed)
{
	struct sockaddr_in sin = addr_of(ip, closed);
	int fd;
	int err = nb_connect(&sin, &fd);

	printf("closed port: SO_ERROR %d (%s)\n", err, strerror(err));
	check(err == ECONNREFUSED, "non-blocking connect to a closed port: ECONNREFUSED");
	close(fd);
	sin = addr_of(ip, port);
	err = nb_connect(&sin, &fd);
	check(err == 0, "non-blocking connect: EINPROGRESS, POLLOUT, SO_ERROR 0");
	names(fd, &sin);
	int fl = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	/* the socket stays non-blocking: a read with nothing there says EAGAIN */
	check(read(fd, &fl, 1) < 0 && errno == EAGAIN, "non-blocking read: EAGAIN");
	char msg[] = "hello 2\n", got[sizeof(msg)];
	if (write(fd, msg, sizeof(msg) - 1) != (ssize_t)sizeof(msg) - 1)
		die("write");
	size_t have = 0;
	while (have < sizeof(msg) - 1) {
		if (poll(&p, 1, 10000) != 1)
			die("poll for the echo");
		ssize_t r = read(fd, got + have, sizeof(msg) - 1 - have);
		if (r <= 0)
			die("read the echo");
		have += (size_t)r;
	}
	check(memcmp(msg, got, sizeof(msg) - 1) == 0, "echo came back");
	close(fd);
	return 0;
}

static void serve_one(int c, const struct sockaddr_in *peer)
{
	char line[256];
	size_t have = 0;

	printf("peer %s\n", inet_ntoa(peer->sin_addr));
	while (have < sizeof(line) && (have == 0 || line[have - 1] != '\n')) {
		ssize_t r = read(c, line + have, sizeof(line) - have);
		if (r <= 0)
			die("read from the client");
		have += (size_t)r;
	}
	for (size_t k = 0; k < have; k++)
		line[k] = (char)toupper((unsigned char)line[k]);
	if (write(c, line, have) != (ssize_t)have)
		die("write to the client");
	close(c);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static int server(const char *ip, const char *port, int n)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct sockaddr_in sin = addr_of(ip, port), a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	socklen_t len = sizeof(a);

	if (fd < 0)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		die("setsockopt SO_REUSEADDR");
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("bind");
	if (listen(fd, 8) < 0)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		die("getsockname");
	check(a.sin_port == sin.sin_port, "getsockname of the listener");
	printf("listening\n");
	fflush(stdout);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	for (int k = 0; k < n; k++) {
		len = sizeof(a);
		int c;
		if (k % 2 == 0) {
			c = accept(fd, (struct sockaddr *)&a, &len); /* blocks in the supervisor */
		} else {
			/* as Go does: accept4 non-blocking, poll while EAGAIN */
			int fl = SOCK_NONBLOCK | SOCK_CLOEXEC;
			struct pollfd p = { .fd = fd, .events = POLLIN };
			while ((c = accept4(fd, (struct sockaddr *)&a, &len, fl)) < 0 && errno == EAGAIN)
				if (poll(&p, 1, 10000) != 1)
					die("poll the listener");
			if (c >= 0) {
				/* the accepted socket is non-blocking, as asked: wait for the line */
				struct pollfd q = { .fd = c, .events = POLLIN };
				poll(&q, 1, 10000);
				int f = 0;
				socklen_t l = sizeof(f);
				check(getsockopt(c, SOL_SOCKET, SO_ERROR, &f, &l) == 0 && f == 0,
				      "accept4: SO_ERROR 0");
			}
		}
		if (c < 0)
			die("accept");
		if (k == 0)
			printf("alarms during the first accept: %d\n", (int)alarms);
		check(len == sizeof(a), "accept: the peer's address");
		serve_one(c, &a);
		fflush(stdout);
	}
	close(fd);
	return 0;
}

static int other(void)
{
	/* UDP to itself on lo */
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	char buf[16];

	if (u < 0)
		die("UDP socket");
	if (bind(u, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(u, (struct sockaddr *)&sin, &len) < 0)
		die("UDP bind");
	if (connect(u, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("UDP connect");
	if (send(u, "udp", 3, 0) != 3 || recv(u, buf, sizeof(buf), 0) != 3 || memcmp(buf, "udp", 3))
		die("UDP to itself");
	int type = 0;
	len = sizeof(type);
	check(getsockopt(u, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM,
	      "UDP socket: the kernel's, works");
	close(u);

	/* AF_UNIX stream: a listener, a connect, an accept */
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "static_sock-%d", (int)getpid());
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sun.sun_path + 1));
	int l = socket(AF_UNIX, SOCK_STREAM, 0), c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&sun, sl) < 0 || listen(l, 1) < 0)
		die("AF_UNIX listener");
	if (connect(c, (struct sockaddr *)&sun, sl) < 0)
		die("AF_UNIX connect");
	int a = accept(l, NULL, NULL);
	if (a < 0 || write(c, "unix", 4) != 4 || read(a, buf, sizeof(buf)) != 4 || memcmp(buf, "unix", 4))
		die("AF_UNIX exchange");
	int dom = 0;
	len = sizeof(dom);
	check(getsockopt(a, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 && dom == AF_UNIX,
	      "AF_UNIX sockets: the kernel's, work");
	close(a);
	close(c);
	close(l);
	return 0;
}

static int gone(const char *ip, const char *port, const char *file)
{
	struct sockaddr_in sin = addr_of(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 4) < 0)
		die("listen");
	printf("listening\n");
	while (access(file, F_OK) < 0)
		usleep(50000);
	for (int i = 0; i < 3; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 1000) == 0) {
			printf("quiet\n");
			continue;
		}
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK);
		printf("%s\n", c >= 0 ? "accepted" : errno == ECONNABORTED ? "aborted" : strerror(errno));
	}
	return 0;
}

static int connect6(const char *ip, const char *port)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
				     .sin6_port = htons((uint16_t)atoi(port)) };
	char buf[128];

	if (inet_pton(AF_INET6, ip, &sin6.sin6_addr) != 1)
		return 2;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0) {
		printf("%s\n", errno == ENETUNREACH ? "ENETUNREACH" : strerror(errno));
		return 0;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		die("read");
	buf[n] = '\0';
	printf("got %s\n", buf);
	return 0;
}

static const char *errno_name(int e)
{
	switch (e) {
	case 0: return "ok";
	case EISCONN: return "EISCONN";
	case EINPROGRESS: return "EINPROGRESS";
	case ECONNREFUSED: return "ECONNREFUSED";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case ECONNABORTED: return "ECONNABORTED";
	case EALREADY: return "EALREADY";
	case EINVAL: return "EINVAL";
	case EPIPE: return "EPIPE";
	case ENOTCONN: return "ENOTCONN";
	case ECONNRESET: return "ECONNRESET";
	case ETIMEDOUT: return "ETIMEDOUT";
	default: return strerror(e);
	}
}

/* Read exactly len bytes (the echo of what was sent) into buf, NUL-terminated. */
static void read_echo(int fd, char *buf, size_t len)
{
	size_t have = 0;

	while (have < len) {
		ssize_t r = read(fd, buf + have, len - have);
		if (r <= 0)
			die("read the echo");
		have += (size_t)r;
	}
	buf[len] = '\0';
	if (len && buf[len - 1] == '\n')
		buf[len - 1] = '\0';
}

/*
 * TCP Fast Open's connect-and-send, sendto and sendmsg with MSG_FASTOPEN
 * and an address, as TFO clients make it: one line per answer, the same
 * from a kernel socket and (through the supervisor) a tapnet one.
 */
static int fastopen(const char *ip, const char *port, const char *closed)
{
	struct sockaddr_in sin = addr_of(ip, port), shut = addr_of(ip, closed);
	char got[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	ssize_t n = sendto(fd, "hello\n", 6, MSG_FASTOPEN, (struct sockaddr *)&sin, sizeof(sin));
	if (n < 0)
		die("blocking sendto MSG_FASTOPEN");
	read_echo(fd, got, 6);
	printf("blocking sendto %zd %s\n", n, got);
	n = sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&sin, sizeof(sin));
	printf("again on it %s\n", errno_name(n < 0 ? errno : 0));
	close(fd);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	struct iovec iov[2] = { { "msg", 3 }, { "parts\n", 6 } };
	struct msghdr mh = { .msg_name = &sin, .msg_namelen = sizeof(sin), .msg_iov = iov,
			     .msg_iovlen = 2 };
	n = sendmsg(fd, &mh, MSG_FASTOPEN);
	if (n < 0)
		die("blocking sendmsg MSG_FASTOPEN");
	read_echo(fd, got, 9);
	printf("blocking sendmsg %zd %s\n", n, got);
	close(fd);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	n = sendto(fd, "lost", 4, MSG_FASTOPEN, (struct sockaddr *)&sin, sizeof(sin));
	printf("non-blocking sendto %s\n", errno_name(n < 0 ? errno : 0));
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	if (poll(&p, 1, 10000) != 1)
		die("poll for POLLOUT");
	if (write(fd, "later\n", 6) != 6)
		die("write once connected");
	p.events = POLLIN;
	if (poll(&p, 1, 10000) != 1)
		die("poll for the echo");
	read_echo(fd, got, 6);
	printf("then %s\n", got);
	close(fd);

	fd = socket(AF_INET, SOCK_STREAM, 0);
	n = sendto(fd, "x", 1, MSG_FASTOPEN, (struct sockaddr *)&shut, sizeof(shut));
	printf("closed port %s\n", errno_name(n < 0 ? errno : 0));
	close(fd);
	return 0;
}

/* send(MSG_OOB) on a connected socket, then a line: "oob ERRNO" and the line's echo. */
static int oob(const char *ip, const char *port)
{
	struct sockaddr_in sin = addr_of(ip, port);
	char got[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect");
	ssize_t n = sendto(fd, "!", 1, MSG_OOB, NULL, 0);
	printf("oob %s\n", errno_name(n < 0 ? errno : 0));
	if (write(fd, "after\n", 6) != 6)
		die("write");
	read_echo(fd, got, 6);
	printf("echo %s\n", got);
	close(fd);
	return 0;
}

static int so_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		die("SO_ERROR");
	return err;
}

static void wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, 10000) != 1)
		die("poll");
}

/* An echo of what through connected fd: "echo WHAT" (blocking or not). */
static void echo_through(int fd, const char *what)
{
	char line[64], got[64];
	size_t n = (size_t)snprintf(line, sizeof(line), "%s\n", what);

	wait_for(fd, POLLOUT);
	if (write(fd, line, n) != (ssize_t)n)
		die("write");
	wait_for(fd, POLLIN);
	read_echo(fd, got, n);
	printf("echo %s\n", got);
}

/*
 * A socket whose connect failed, connected again, as programs that wait
 * for a server to come up do: one line per answer, the same from a kernel
 * socket and (through the supervisor) a tapnet one.
 */
static int again(const char *ip, const char *port, const char *closed)
{
	struct sockaddr_in sin = addr_of(ip, port), shut = addr_of(ip, closed);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	int r = connect(fd, (struct sockaddr *)&shut, sizeof(shut));
	printf("blocking to the closed port %s\n", errno_name(r < 0 ? errno : 0));
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	printf("then to the open one %s\n", errno_name(r < 0 ? errno : 0));
	if (r == 0)
		echo_through(fd, "blocking");
	close(fd);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket");
	r = connect(fd, (struct sockaddr *)&shut, sizeof(shut));
	printf("non-blocking to the closed port %s\n", errno_name(r < 0 ? errno : 0));
	wait_for(fd, POLLOUT);
	printf("its SO_ERROR %s\n", errno_name(so_error(fd)));
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	printf("then to the open one %s\n", errno_name(r < 0 ? errno : 0));
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	printf("and again %s\n", errno_name(r < 0 ? errno : 0));
	wait_for(fd, POLLOUT);
	printf("its SO_ERROR %s\n", errno_name(so_error(fd)));
	echo_through(fd, "non-blocking");
	close(fd);
	return 0;
}

static const char *poll_names(short revents)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s%s%s%s", revents & POLLIN ? " in" : "",
		 revents & POLLOUT ? " out" : "", revents & POLLHUP ? " hup" : "",
		 revents & POLLERR ? " err" : "");
	return buf[0] ? buf + 1 : "none";
}

/*
 * A socket never connected answers at once, as Linux's: every call says so
 * (EPIPE, ENOTCONN), and poll says it is hung up and writable. A socket
 * pair kept unwritable until a connect made each of them wait for ever.
 */
static int unconnected(const char *ip, const char *port)
{
	struct sockaddr_in sin = addr_of(ip, port);
	char c = 'x';
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	signal(SIGPIPE, SIG_IGN);
	alarm(10); /* default action: a call that waits for ever fails the test */
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	int r = poll(&p, 1, 2000);
	printf("poll %d %s\n", r, poll_names(p.revents));
	r = (int)send(fd, &c, 1, 0);
	printf("send %s\n", errno_name(r < 0 ? errno : 0));
	r = (int)write(fd, &c, 1);
	printf("write %s\n", errno_name(r < 0 ? errno : 0));
	r = (int)recv(fd, &c, 1, 0);
	printf("recv %s\n", errno_name(r < 0 ? errno : 0));
	r = (int)read(fd, &c, 1);
	printf("read %s\n", errno_name(r < 0 ? errno : 0));
	check(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0, "fcntl O_NONBLOCK");
	check(fcntl(fd, F_SETFD, FD_CLOEXEC) == 0, "fcntl FD_CLOEXEC");
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	printf("then connect %s\n", errno_name(r < 0 ? errno : 0));
	wait_for(fd, POLLOUT);
	printf("its SO_ERROR %s, close-on-exec %d\n", errno_name(so_error(fd)),
	       (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	echo_through(fd, "unconnected");
	alarm(0);
	close(fd);
	return 0;
}

static int epollfirst(const char *ip, const char *port)
{
	struct sockaddr_in sin = addr_of(ip, port);
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = 42 }, got;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;

	if (ep < 0 || fd < 0)
		die("epoll_create1/socket");
	check(ioctl(fd, FIONBIO, &on) == 0, "ioctl FIONBIO");
	check(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0, "epoll_ctl ADD before connect");
	int r = connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	printf("connect %s\n", errno_name(r < 0 ? errno : 0));
	int n = epoll_wait(ep, &got, 1, 5000);
	printf("epoll_wait %d%s data %llu\n", n, n == 1 && (got.events & EPOLLOUT) ? " out" : "",
	       n == 1 ? (unsigned long long)got.data.u64 : 0ULL);
	printf("its SO_ERROR %s\n", errno_name(so_error(fd)));
	ev.events = EPOLLIN;
	check(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0, "epoll_ctl MOD");
	echo_through(fd, "epoll first");
	check(epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0, "epoll_ctl DEL");
	close(fd);
	close(ep);
	return 0;
}

static int many(const char *ip, const char *port, int n)
{
	struct sockaddr_in sin = addr_of(ip, port);
	char got[8];
	int echoes = 0;

	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			die("socket/connect");
		if (write(fd, "many\n", 5) != 5)
			die("write");
		read_echo(fd, got, 5);
		echoes += strcmp(got, "many") == 0;
		close(fd);
	}
	printf("%d echoes\n", echoes);
	return echoes == n ? 0 : 1;
}

/*
 * The peer resets after a byte each way: the reads that follow, as Linux
 * answers them; in_child: in a child, the socket moved to fd 10.
 */
static int reset(const char *ip, const char *port, bool in_child)
{
	struct sockaddr_in sin = addr_of(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char c;

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect");
	if (read(fd, &c, 1) != 1 || c != 'x')
		die("the server's byte");
	if (in_child) {
		pid_t child = fork();
		if (child < 0)
			die("fork");
		if (child > 0) {
			int status;
			close(fd);
			if (waitpid(child, &status, 0) != child)
				die("waitpid");
			return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
		}
		if (dup2(fd, 10) != 10)
			die("dup2");
		close(fd);
		fd = 10;
	}
	if (write(fd, "k", 1) != 1)
		die("write");
	alarm(10);
	ssize_t n = read(fd, &c, 1);
	int err = n < 0 ? errno : 0;
	ssize_t next = read(fd, &c, 1);
	printf("read %s then %zd\n", n < 0 ? errno_name(err) : n == 0 ? "EOF" : "DATA", next);
	close(fd);
	return 0;
}

/*
 * The peer goes silent (FILE appears once the test drops what it sends):
 * what was sent stays unacknowledged, and after TCP_USER_TIMEOUT the read
 * fails rather than ending as if the data were whole.
 */
static int timeout(const char *ip, const char *port, const char *file)
{
	struct sockaddr_in sin = addr_of(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ms = 1000;
	char c;

	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect");
	if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) < 0)
		die("setsockopt TCP_USER_TIMEOUT");
	if (read(fd, &c, 1) != 1 || c != 'x')
		die("the server's byte");
	printf("connected\n");
	alarm(30);
	while (access(file, F_OK) < 0)
		usleep(50000);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (write(fd, "unanswered", 10) != 10)
		die("write");
	ssize_t n = read(fd, &c, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int err = n < 0 ? errno : 0;
	ssize_t next = read(fd, &c, 1);
	int so_error = -1;
	socklen_t len = sizeof(so_error);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) < 0)
		die("getsockopt SO_ERROR");
	printf("read %s after %.1f s then %zd, SO_ERROR %s\n",
	       n < 0 ? errno_name(err) : n == 0 ? "EOF" : "DATA",
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, next,
	       so_error ? errno_name(so_error) : "0");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return client(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "nbclient") == 0)
		return nbclient(argv[2], argv[3], argv[4]);
	if (argc == 5 && strcmp(argv[1], "server") == 0)
		return server(argv[2], argv[3], atoi(argv[4]));
	if (argc == 2 && strcmp(argv[1], "other") == 0)
		return other();
	if (argc == 5 && strcmp(argv[1], "gone") == 0)
		return gone(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "connect6") == 0)
		return connect6(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "fastopen") == 0)
		return fastopen(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "oob") == 0)
		return oob(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "again") == 0)
		return again(argv[2], argv[3], argv[4]);
	if (argc == 4 && strcmp(argv[1], "unconnected") == 0)
		return unconnected(argv[2], argv[3]);
	if (argc == 4 && strcmp(argv[1], "epollfirst") == 0)
		return epollfirst(argv[2], argv[3]);
	if (argc == 5 && strcmp(argv[1], "many") == 0)
		return many(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && strcmp(argv[1], "reset") == 0)
		return reset(argv[2], argv[3], false);
	if (argc == 4 && strcmp(argv[1], "resetchild") == 0)
		return reset(argv[2], argv[3], true);
	if (argc == 5 && strcmp(argv[1], "timeout") == 0)
		return timeout(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: static_sock client|nbclient|server|other|gone|connect6|fastopen|oob|again|"
			"unconnected|epollfirst|many|reset|resetchild|timeout ...\n");
	return 2;
}
