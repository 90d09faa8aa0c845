/*
 * closer.h - closes file descriptors a client may have had a hand in, off
 * the event loop.
 *
 * A close() can block for as long as whoever holds the other side likes:
 * the last reference to a Unix socket drops the descriptors still in
 * flight in its receive queue, and one of those may be a TCP socket with
 * SO_LINGER and unsent data, or a file on a FUSE mount whose server never
 * answers FLUSH; the kernel runs that release in the task that closed.
 * Every fd that came from a client, or that a client could have sent
 * descriptors into (the daemon's end of every socket pair, every control
 * connection), is closed here, by a small pool of threads, never by the
 * loop; unless the loop knows that no client fd can be in its queue (a
 * pair's A after EOF, the copy of B a request carried: only A sends into
 * B; see sockets.c and sockets_req.c).
 */
#ifndef TAPNETD_CLOSER_H
#define TAPNETD_CLOSER_H

#include <stdint.h>

/* Hands fd over to be closed (by the next closer_flush); never blocks. fd < 0 is ignored. */
void closer_close(int fd);

/* Sets the threads to work on what was handed over; the loop calls it before it waits. */
void closer_flush(void);

/* Closes that were handed over and have not returned yet (queued or running). */
uint64_t closer_busy(void);

/* Threads started so far (at most CLOSER_THREADS_MAX). */
unsigned closer_threads(void);

#endif
