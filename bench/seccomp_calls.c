/*
 * seccomp_calls.c - what a socket call costs, for bench/seccomp: built
 * twice, dynamic (under `tapnet run` the shim serves it) and static (the
 * seccomp supervisor does), run against a kernel-side echo server.
 *
 *   seccomp_calls ADDR PORT N
 *
 * Prints one line per measurement, "NAME ns_per_op", median of 5 batches:
 *   getsockopt  getsockopt(SO_ERROR) on a connected socket (a round trip to tapnetd)
 *   setsockopt  setsockopt(TCP_NODELAY) (the shim sends it without waiting)
 *   getsockname getsockname
 *   conn        socket, connect, 1 byte out and back, close (N / 100 of them)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCHES 5

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct sockaddr_in peer;

static int connect_one(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char c = 'x';

	if (fd < 0 || connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0 ||
	    write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static void op(const char *name, int fd, long n)
{
	double t[BATCHES];

	for (int b = 0; b < BATCHES; b++) {
		double t0 = now_ns();
		for (long i = 0; i < n; i++) {
			int v = 1;
			socklen_t len = sizeof(v);
			struct sockaddr_in a;
			socklen_t alen = sizeof(a);
			int r;
			if (name[0] == 'g' && name[3] == 's' && name[7] == 'o')
				r = getsockopt(fd, SOL_SOCKET, SO_ERROR, &v, &len);
			else if (name[0] == 's')
				r = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof(v));
			else if (name[0] == 'g')
				r = getsockname(fd, (struct sockaddr *)&a, &alen);
			else
				r = close(connect_one());
			if (r < 0) {
				perror(name);
				exit(1);
			}
		}
		t[b] = (now_ns() - t0) / (double)n;
	}
	qsort(t, BATCHES, sizeof(t[0]), cmp);
	printf("%s %.0f\n", name, t[BATCHES / 2]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: seccomp_calls ADDR PORT N\n");
		return 2;
	}
	peer.sin_family = AF_INET;
	peer.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &peer.sin_addr) != 1)
		return 2;
	long n = atol(argv[3]);
	int fd = connect_one();
	op("getsockopt", fd, n);
	op("setsockopt", fd, n);
	op("getsockname", fd, n);
	op("conn", -1, n / 100 > 0 ? n / 100 : 1); /* each leaves a TIME_WAIT entry */
	close(fd);
	return 0;
}
