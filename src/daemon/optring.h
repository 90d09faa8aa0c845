/*
 * optring.h - the daemon's side of a client's option ring (rpc.h,
 * TN_RPC_OPTION_RING): setsockopt changes a process makes without waiting
 * for an answer, written into memory it shares with tapnetd rather than
 * sent, so that a program that corks and uncorks around every response
 * (nginx's tcp_nopush) pays no system call and no wakeup of tapnetd for
 * them while tapnetd is awake.
 *
 * The memory is the client's (a memfd it made and sealed), mapped here;
 * every byte of it is hostile. What the daemon relies on is checked
 * before the mapping is made (a memfd that can neither shrink nor grow,
 * so no access here can fault) and at every read (see optring_read).
 */
#ifndef TAPNETD_OPTRING_H
#define TAPNETD_OPTRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/rpc.h"

struct optring {
	struct tn_optring *shared; /* the client's memory; NULL: no ring */
	uint32_t head;             /* what the daemon has read: its own count, never read back */
};

/* Maps the client's memfd fd as r's ring (r must have none). 0, or -errno. */
int optring_map(struct optring *r, int fd);
void optring_unmap(struct optring *r);

/* The client has written requests the daemon has not read. */
static inline bool optring_pending(const struct optring *r)
{
	return r->shared && __atomic_load_n(&r->shared->tail, __ATOMIC_RELAXED) != r->head;
}

/* Tells the client whether to wake the daemon (OPTION_RING_WAKE) after it writes. */
static inline void optring_set_sleeping(struct optring *r, bool sleeping)
{
	if (r->shared)
		__atomic_store_n(&r->shared->sleeping, sleeping ? 1u : 0u, __ATOMIC_RELAXED);
}

enum optring_result {
	OPTRING_READ = 0,     /* every request written so far, handed to take */
	OPTRING_STOPPED = 1,  /* take returned false: r may be gone, touch nothing */
	OPTRING_BAD = -1,     /* the client broke the ring's rules: drop it (*why says how) */
};

/*
 * Hands take each whole request the client has written since the last
 * call, copied out of the shared memory (len <= TN_RPC_MAX_MSG, the
 * header parsed and of type SETSOCKOPT_NOWAIT; its attributes are the
 * caller's to validate), in order. What the client writes meanwhile waits
 * for the next call: one call reads at most the ring's size.
 */
enum optring_result optring_read(struct optring *r,
				 bool (*take)(void *ctx, const struct tn_rpc_header *hdr,
					      const uint8_t *msg),
				 void *ctx, const char **why);

#endif
