/*
 * optring.c - reading a client's option ring (see optring.h, rpc.h).
 *
 * The ring is a byte stream of whole RPC messages in memory the client
 * may change at any moment, from any thread, even mid-copy. So: the tail
 * is loaded once per call and checked against the ring's size, each
 * message is copied out before its header is believed, and a header is
 * checked again in the copy (a client that rewrites the bytes while they
 * are copied gets what it wrote, checked). The head the client reads is
 * stored from the daemon's own count.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "optring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

int optring_map(struct optring *r, int fd)
{
	struct stat st;

	/*
	 * A mapping of a file that can shrink would fault (SIGBUS) here at
	 * the client's will: only a memfd sealed against that (F_GET_SEALS
	 * fails for anything but shmem and hugetlbfs) of the ring's size.
	 */
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -EINVAL;
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EPERM;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != TN_OPTRING_SIZE)
		return -EINVAL;
	void *p = mmap(NULL, TN_OPTRING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r->shared = p;
	/* where the client starts: the daemon's count begins at the client's */
	r->head = __atomic_load_n(&r->shared->tail, __ATOMIC_ACQUIRE);
	__atomic_store_n(&r->shared->head, r->head, __ATOMIC_RELEASE);
	__atomic_store_n(&r->shared->sleeping, 0u, __ATOMIC_RELAXED);
	return 0;
}

void optring_unmap(struct optring *r)
{
	if (r->shared)
		munmap(r->shared, TN_OPTRING_SIZE);
	r->shared = NULL;
}

enum optring_result optring_read(struct optring *r,
				 bool (*take)(void *ctx, const struct tn_rpc_header *hdr,
					      const uint8_t *msg),
				 void *ctx, const char **why)
{
	uint8_t msg[TN_OPTRING_MSG_MAX];

	if (!r->shared)
		return OPTRING_READ;
	uint32_t tail = __atomic_load_n(&r->shared->tail, __ATOMIC_ACQUIRE);
	uint32_t avail = tail - r->head;
	if (avail > TN_OPTRING_DATA) {
		*why = "moved its option ring's tail past the ring";
		return OPTRING_BAD;
	}
	while (avail) {
		struct tn_rpc_header hdr;
		if (avail < TN_RPC_HDR_LEN) {
			*why = "wrote part of a message into its option ring";
			return OPTRING_BAD;
		}
		tn_optring_read(r->shared, r->head, msg, TN_RPC_HDR_LEN);
		if (tn_rpc_parse_header(msg, TN_RPC_HDR_LEN, &hdr) != TN_RPC_OK ||
		    hdr.length > TN_OPTRING_MSG_MAX || hdr.length > avail) {
			*why = "wrote a malformed message into its option ring";
			return OPTRING_BAD;
		}
		tn_optring_read(r->shared, r->head, msg, hdr.length);
		/* the header again, from the copy the request is read from */
		struct tn_rpc_header again;
		if (tn_rpc_parse_header(msg, hdr.length, &again) != TN_RPC_OK ||
		    again.length != hdr.length || again.type != TN_RPC_SETSOCKOPT_NOWAIT) {
			*why = "wrote a message other than SETSOCKOPT_NOWAIT into its option ring";
			return OPTRING_BAD;
		}
		r->head += hdr.length;
		avail -= hdr.length;
		__atomic_store_n(&r->shared->head, r->head, __ATOMIC_RELEASE);
		if (!take(ctx, &again, msg))
			return OPTRING_STOPPED;
	}
	return OPTRING_READ;
}
