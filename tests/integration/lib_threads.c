/*
 * lib_threads.c - libtapnet from many threads at once: each of THREADS
 * threads opens its own tapnet socket and sets and reads back TCP_NODELAY
 * ROUNDS times, alternating the value, so that a reply meant for another
 * thread (shared request or reply buffers) shows as an error or a wrong
 * value. Exits 0 when every call succeeded and every value read back is
 * the one that thread set. The control socket is $TAPNET_SOCKET.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/tapnet.h"

#define THREADS 8
#define ROUNDS 3000

struct worker {
	pthread_t tid;
	int index;
	unsigned errors, wrong;
	int first_errno;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	int fd = tapnet_socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0) {
		w->errors++;
		w->first_errno = errno;
		return NULL;
	}
	for (int i = 0; i < ROUNDS; i++) {
		int set = (i + w->index) & 1, got = -1;
		socklen_t len = sizeof(got);
		if (tapnet_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &set, sizeof(set)) < 0 ||
		    tapnet_getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &got, &len) < 0) {
			if (!w->errors++)
				w->first_errno = errno;
			continue;
		}
		if (len != sizeof(got) || got != set)
			w->wrong++;
	}
	close(fd);
	return NULL;
}

int main(void)
{
	struct worker w[THREADS];
	int failed = 0;

	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		w[i].index = i;
		if (pthread_create(&w[i].tid, NULL, hammer, &w[i]) != 0) {
			fprintf(stderr, "lib_threads: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].errors || w[i].wrong) {
			failed = 1;
			fprintf(stderr, "lib_threads: thread %d: %u calls failed (first: %s), %u wrong values\n",
				i, w[i].errors, strerror(w[i].first_errno), w[i].wrong);
		}
	}
	printf("lib_threads: %d threads x %d setsockopt+getsockopt: %s\n", THREADS, ROUNDS,
	       failed ? "FAILED" : "all answered, each its own");
	return failed;
}
