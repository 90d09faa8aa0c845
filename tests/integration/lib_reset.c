/*
 * lib_reset.c - a program on libtapnet learns how a connection ended as on
 * a kernel socket: tapnet_read, tapnet_recv, tapnet_send and the rest say
 * ECONNRESET or ETIMEDOUT where the socket pair alone says end-of-file or
 * EPIPE. Run as `lib_reset API MODE ...`, API one of
 *   kernel  libc's calls on a kernel socket (what the others must print)
 *   tapnet  libtapnet's calls (tapnet_socket, tapnet_read, tapnet_send...)
 *   plain   tapnet_socket and tapnet_connect, then libc's read and send on
 *           the pair (what libtapnet gave before: shows the test can tell)
 * and MODE one of
 *   reset ADDR PORT     a server that sends "x", reads a byte and resets:
 *                       read, recv, recvmsg and send after the reset
 *   unconnected         a socket never connected: recv, read, send, write
 *   timeout ADDR PORT FILE
 *                       a server that goes silent (tests/integration's
 *                       silenced_client): prints "connected", waits for
 *                       FILE, sends with TCP_USER_TIMEOUT 1 s and reads
 *   oob ADDR PORT       MSG_OOB to an echo server, then an ordinary send
 * Each outcome is one line on stdout.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/tapnet.h"

struct api {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*send)(int, const void *, size_t, int);
};

static const struct api kernel_api = { socket, connect, setsockopt, read, recv, recvmsg, write, send };
static const struct api tapnet_api = { tapnet_socket, tapnet_connect, tapnet_setsockopt, tapnet_read,
				       tapnet_recv,   tapnet_recvmsg, tapnet_write,      tapnet_send };
static const struct api plain_api = { tapnet_socket, tapnet_connect, tapnet_setsockopt, read, recv,
				      recvmsg,       write,          send };
static const struct api *api;

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void die(const char *what)
{
	printf("%s: %s\n", what, strerror(errno));
	exit(1);
}

/* "what N" or "what ENAME" for a call's result */
static void say(const char *what, ssize_t n, int err)
{
	if (n >= 0)
		printf("%s %zd\n", what, n);
	else
		printf("%s %s\n", what, strerrorname_np(err) ? strerrorname_np(err) : "?");
	fflush(stdout);
}

static int connected_to(const char *addr, const char *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	int fd = api->socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		die("socket");
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		printf("bad address %s\n", addr);
		exit(2);
	}
	if (api->connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect");
	return fd;
}

/* the server's "x", read with read() of the API */
static void read_hello(int fd)
{
	char c;
	ssize_t n = api->read(fd, &c, 1);
	if (n != 1 || c != 'x')
		die("no x from the server");
}

static void do_reset(const char *addr, const char *port)
{
	char buf[16];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	/* three connections: the error comes to whichever call reads first */
	for (int round = 0; round < 3; round++) {
		int fd = connected_to(addr, port);
		read_hello(fd);
		if (api->write(fd, "y", 1) != 1)
			die("write");
		const char *what = round == 0 ? "read" : round == 1 ? "recv" : "recvmsg";
		n = round == 0	 ? api->read(fd, buf, sizeof(buf))
		    : round == 1 ? api->recv(fd, buf, sizeof(buf), 0)
				 : api->recvmsg(fd, &msg, 0);
		say(what, n, errno);
		n = api->recv(fd, buf, sizeof(buf), 0); /* reported once: then end-of-file */
		say("then recv", n, errno);
		if (round == 2) { /* and a send after it all */
			n = api->send(fd, "z", 1, MSG_NOSIGNAL);
			say("then send", n, errno);
		}
		close(fd);
	}
	/* a send is what finds the reset first: ECONNRESET, no SIGPIPE */
	int fd = connected_to(addr, port);
	read_hello(fd);
	if (api->send(fd, "y", 1, 0) != 1)
		die("send");
	usleep(300 * 1000); /* the reset arrives */
	n = api->send(fd, "z", 1, 0);
	say("send after the reset", n, errno);
	n = api->send(fd, "z", 1, 0);
	say("then send", n, errno);
	printf("SIGPIPE %d\n", (int)sigpipes);
	close(fd);
}

static void do_unconnected(void)
{
	char buf[4];
	int fd = api->socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n;

	if (fd < 0)
		die("socket");
	n = api->recv(fd, buf, sizeof(buf), 0);
	say("recv", n, errno);
	n = api->read(fd, buf, sizeof(buf));
	say("read", n, errno);
	n = api->send(fd, "a", 1, MSG_NOSIGNAL);
	say("send MSG_NOSIGNAL", n, errno);
	printf("SIGPIPE %d\n", (int)sigpipes);
	n = api->write(fd, "a", 1);
	say("write", n, errno);
	printf("SIGPIPE %d\n", (int)sigpipes);
	close(fd);
}

static void do_timeout(const char *addr, const char *port, const char *file)
{
	unsigned ms = 1000;
	char buf[4];
	struct stat st;
	int fd = connected_to(addr, port);

	read_hello(fd);
	if (api->setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) < 0)
		die("TCP_USER_TIMEOUT");
	printf("connected\n");
	fflush(stdout);
	while (stat(file, &st) < 0)
		usleep(50 * 1000);
	if (api->write(fd, "y", 1) != 1)
		die("write");
	ssize_t n = api->read(fd, buf, sizeof(buf));
	int err = errno;
	ssize_t then = api->read(fd, buf, sizeof(buf));
	printf("read %s then %zd\n", n < 0 ? strerrorname_np(err) : n == 0 ? "EOF" : "data", then);
	close(fd);
}

static void do_oob(const char *addr, const char *port)
{
	char buf[8];
	int fd = connected_to(addr, port);
	ssize_t n = api->send(fd, "!", 1, MSG_OOB);

	say("send MSG_OOB", n, errno);
	n = api->send(fd, "ok\n", 3, 0);
	say("then send", n, errno);
	n = api->recv(fd, buf, sizeof(buf), 0);
	say("echo", n, errno);
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		goto usage;
	api = !strcmp(argv[1], "kernel")   ? &kernel_api
	      : !strcmp(argv[1], "tapnet") ? &tapnet_api
	      : !strcmp(argv[1], "plain")  ? &plain_api
					   : NULL;
	if (!api)
		goto usage;
	signal(SIGPIPE, on_sigpipe);
	if (!strcmp(argv[2], "reset") && argc == 5)
		do_reset(argv[3], argv[4]);
	else if (!strcmp(argv[2], "unconnected") && argc == 3)
		do_unconnected();
	else if (!strcmp(argv[2], "timeout") && argc == 6)
		do_timeout(argv[3], argv[4], argv[5]);
	else if (!strcmp(argv[2], "oob") && argc == 5)
		do_oob(argv[3], argv[4]);
	else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: lib_reset kernel|tapnet|plain reset ADDR PORT | unconnected | "
			"timeout ADDR PORT FILE | oob ADDR PORT\n");
	return 2;
}
