/*
 * closer.c - closes client-touched fds on threads of their own (closer.h).
 *
 * A queue under one mutex. closer_close only queues; closer_flush, which
 * the loop calls before it waits, wakes a thread for each fd queued (up to
 * the threads that wait) and starts threads while fewer wait than fds are
 * queued, up to CLOSER_THREADS_MAX, so that one close that hangs (a FUSE
 * server that never answers) leaves the others a thread to run on. The
 * fds of one loop pass (a connection's two ends, the many of a busy pass)
 * cost one wakeup, not one each. Threads live as long as the process and block every signal:
 * signals are the loop's business. If a thread cannot be started while
 * none exists, the fd waits in the queue for the next attempt; the loop
 * is never the one to close it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "closer.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define CLOSER_THREADS_MAX 8
#define CLOSER_QUEUE_MIN 64

static pthread_mutex_t closer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t closer_work = PTHREAD_COND_INITIALIZER;
static int *queue;                /* ring of fds to close */
static size_t queue_cap, queue_head, queue_len;
static unsigned threads, idle;
static uint64_t busy;             /* queued + being closed */

static void *closer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&closer_lock);
	for (;;) {
		while (queue_len == 0) {
			idle++;
			pthread_cond_wait(&closer_work, &closer_lock);
			idle--;
		}
		int fd = queue[queue_head];
		queue_head = (queue_head + 1) % queue_cap;
		queue_len--;
		pthread_mutex_unlock(&closer_lock);
		close(fd);
		pthread_mutex_lock(&closer_lock);
		busy--;
	}
	return NULL;
}

/* With the lock held: room for one more fd. false: out of memory. */
static bool queue_grow(void)
{
	if (queue_len < queue_cap)
		return true;
	size_t cap = queue_cap ? queue_cap * 2 : CLOSER_QUEUE_MIN;
	int *q = malloc(cap * sizeof(*q));
	if (!q)
		return false;
	for (size_t i = 0; i < queue_len; i++)
		q[i] = queue[(queue_head + i) % queue_cap];
	free(queue);
	queue = q;
	queue_cap = cap;
	queue_head = 0;
	return true;
}

/* With the lock held. */
static void start_thread(void)
{
	pthread_attr_t attr;
	pthread_t tid;
	sigset_t all, old;

	if (pthread_attr_init(&attr) != 0)
		return;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024); /* it only ever calls close() */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&tid, &attr, closer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc == 0)
		threads++;
	else
		log_warning("cannot start a thread to close descriptors: %s", strerror(rc));
}

void closer_close(int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&closer_lock);
	if (!queue_grow()) {
		/*
		 * Out of memory: keeping the fd open forever is better than a
		 * close that may stall every client; it is one fd.
		 */
		pthread_mutex_unlock(&closer_lock);
		log_warning("out of memory for the close queue; fd %d left open", fd);
		return;
	}
	queue[(queue_head + queue_len) % queue_cap] = fd;
	queue_len++;
	busy++;
	pthread_mutex_unlock(&closer_lock);
}

void closer_flush(void)
{
	pthread_mutex_lock(&closer_lock);
	/* fds a thread has not taken yet: each needs a thread, those waiting first */
	for (unsigned started = 0; idle + started < queue_len && threads < CLOSER_THREADS_MAX; started++) {
		unsigned before = threads;
		start_thread();
		if (threads == before)
			break; /* cannot start one now: the next flush tries again */
	}
	for (size_t n = queue_len < idle ? queue_len : idle; n > 0; n--)
		pthread_cond_signal(&closer_work);
	pthread_mutex_unlock(&closer_lock);
}

uint64_t closer_busy(void)
{
	pthread_mutex_lock(&closer_lock);
	uint64_t n = busy;
	pthread_mutex_unlock(&closer_lock);
	return n;
}

unsigned closer_threads(void)
{
	pthread_mutex_lock(&closer_lock);
	unsigned n = threads;
	pthread_mutex_unlock(&closer_lock);
	return n;
}
