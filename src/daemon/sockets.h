/*
 * sockets.h - tapnet sockets for client processes.
 *
 * Every tapnet socket is, in the client, one end B of a Unix SOCK_STREAM
 * socketpair; tapnetd holds the other end A and bridges it to a tn_sock:
 *
 *   client --write--> B ==pair==> A --recvmsg--> send buffer    --> peer
 *   client <--read--- B <==pair== A <--sendmsg-- receive buffer <-- peer
 *
 * Nothing is buffered without bound: A is read straight into the free
 * space of the core's send buffer (tn_sock_send_space, then
 * tn_sock_send_commit), so a full TCP send buffer stops reading A, the
 * pair fills, the client's write blocks; and peer data is sent to A
 * straight from the core's receive buffer (tn_sock_recv_peek), which drops
 * only what A took (tn_sock_recv_consume): nothing waits here, and a client
 * that does not read closes the TCP window.
 *
 * Peer data that arrives in a batch of frames is passed on once, after the
 * batch (the tap reader calls sockets_pass_pending before the stack sends
 * the batch's deferred ACKs, and an ev_prepare watcher passes on whatever
 * else came before the loop waits again), rather than once per segment:
 * one send to A instead of dozens. A segment of DELIVER_MIN bytes or more
 * (the kernel's 64 KB offload frames) is sent to A at once, from the tap's
 * frame, behind what the receive buffer holds unread (tn_sock_set_deliver):
 * one copy less, and what A does not take goes to the buffer as before.
 *
 * The client's side of the story, as A sees it:
 *   read EOF on A, no hang-up       client shutdown(SHUT_WR)   -> FIN
 *   hang-up on A (B's last close)   close()                    -> FIN, or RST
 *                                   when data the client never read is left
 *                                   (B's queue, the core's receive buffer)
 * and the peer's, as the client sees it:
 *   peer FIN       shutdown(A, SHUT_WR): the client reads EOF after the data
 *   peer RST       A is closed: the client reads the data, then EOF (or
 *                  ECONNRESET if it had written bytes not yet taken); writes
 *                  fail with EPIPE; getsockopt(SO_ERROR) says ECONNRESET.
 *
 * tapnetd creates every pair itself and hands B to the client (with the
 * SOCKET reply, or an accepted connection's record), so A is never a
 * client's fd, and the only fds a client passes are B's copies naming
 * their socket. Whatever a client passes or sends into A (SCM_RIGHTS on
 * B) is closed by closer.c, never on the loop: see closer.h. The loop
 * closes A itself after EOF (nothing can be queued in it), and the copy
 * of B a connect carried (only A writes into B, and sends it no fds).
 *
 * Writability tells the truth about a connect in progress: tapnetd
 * shrinks B's send buffer and fills it with filler bytes before handing B
 * over, so B is not writable. A connect request carries B; the daemon keeps that
 * copy until the handshake ends. Success: the filler is read and dropped,
 * B's send buffer restored, the copy closed (POLLOUT). Failure: A is
 * closed, which frees the filler too (POLLOUT|POLLHUP) and SO_ERROR
 * reports the cause. A listening socket keeps its filler: like a kernel
 * listener its fd is never writable. It is readable when an accepted
 * connection waits: each comes as a struct tn_accept_rec with the new
 * connection's B attached (SCM_RIGHTS).
 *
 * Buffer space is reserved, not counted as it fills: a connection holds
 * its TCP receive and send buffers (the core allocates them whole, and
 * nothing of it waits here). The core asks charge_cb before it allocates
 * them and tells it when it frees them, so that whoever holds them pays:
 * a client's connection its user's account (a listener's connections the
 * listener's, from the moment the core gives them buffers, while they
 * wait in the accept queue too), the built-in services' and everyone's
 * the total, and a closed connection until its FIN exchange is over.
 * Over max_buffer_bytes(_per_client) a connect fails with ENOBUFS and a
 * listener's new connection is dropped (the peer's SYN is retransmitted):
 * what the core holds never exceeds the limits. Over max_sockets(_per_
 * client), an accept waits (the connection stays in the core's accept
 * queue, the listening fd is not readable) until a socket is gone.
 *
 * Requests name a socket by passing B; it is found by B's socket cookie
 * (SO_COOKIE), the same in every process holding it (dup, fork, exec,
 * SCM_RIGHTS) and, being 64 bits from a counter, never given to another
 * socket, unlike an inode number. When a connection is over and A is
 * closed, a small tombstone keeps the cookie's last error and local
 * address for SO_ERROR and getsockname.
 */
#ifndef TAPNETD_SOCKETS_H
#define TAPNETD_SOCKETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "optring.h"
#include "rpc/rpc.h"

struct tapnetd;
struct sockets;

/*
 * What one user (uid) holds. Limits are per user, not per control
 * connection: reconnecting or opening more connections gains nothing, and
 * sockets stay counted after their connection closed, until they are gone.
 */
struct sockets_account {
	struct sockets_account *next;
	uid_t uid;
	unsigned nclients;    /* control connections open */
	unsigned nsockets;    /* sockets open */
	uint64_t buf_bytes;   /* buffer space its connections hold (see above) */
};

/* Who asked: one per control connection, embedded in it. */
struct sockets_owner {
	struct ucred cred;    /* SO_PEERCRED at connect time */
	unsigned serial;      /* "client #N" in the log */
	unsigned nsockets;    /* sockets made through this connection still open */
	unsigned nspares;     /* of those, spares for the client's next socket() never named
			       * by a request: no reason to keep an idle connection */
	struct sockets_account *acct; /* its user's; set by sockets_owner_attach */
	bool may_bind_low;    /* ports < 1024: decided once, at connect time (see control.c) */
	int ctl_fd;           /* the control connection: what it has not read yet goes first */
	/* it had no unread request when last asked, in the loop's iteration unread_none_iter */
	bool unread_none;
	unsigned unread_none_iter;
	struct optring ring;  /* its SETSOCKOPT_NOWAIT requests in shared memory (control.c) */
};

/* Everything the control connection held was read, in the loop's iteration iter. */
static inline void sockets_owner_read_all(struct sockets_owner *o, unsigned iter)
{
	o->unread_none = true;
	o->unread_none_iter = iter;
}

struct sockets *sockets_new(struct tapnetd *d);
/* Resets every connection (as a dying daemon must) and frees everything. */
void sockets_free(struct sockets *ss);
/*
 * Passes the peer data that came in since the last call on to the clients
 * (otherwise done before the loop waits): the tap reader calls it before
 * it ends its batch, so the batch's ACKs offer the window the clients'
 * reads opened.
 */
void sockets_pass_pending(struct sockets *ss);

/* How many fds a request of this type carries: -1 when it is not a socket request. */
int sockets_request_fds(uint16_t type);

/*
 * Handles one well-formed socket request. fds holds the nfds descriptors
 * that came with it (nfds == sockets_request_fds(type)); the handler sets
 * the entries it keeps or closes (a B of ours) to -1 and the caller hands
 * the rest to closer.c.
 * Returns 0 (reply built; *reply_fd, if set >= 0, goes with the reply and
 * is then closed by the caller) or -errno (error reply; -ENOTSOCK: the fd
 * names no socket of tapnetd's).
 */
int sockets_request(struct sockets *ss, struct sockets_owner *owner, uint16_t type,
		    const uint8_t *msg, size_t len, int *fds, unsigned nfds,
		    struct tn_rpc_writer *reply, int *reply_fd);

/*
 * A new control connection: attaches owner to its user's account.
 * -EMFILE when that user has max_clients_per_user connections open.
 */
int sockets_owner_attach(struct sockets *ss, struct sockets_owner *owner);

/* The control connection closed: its sockets go on, still its user's. */
void sockets_owner_gone(struct sockets *ss, struct sockets_owner *owner);

/*
 * (Re)reads max_sockets(_per_client) and max_buffer_bytes(_per_client) from
 * the daemon's configuration. Lowered limits refuse new sockets and
 * connections; nothing open is closed.
 */
void sockets_apply_limits(struct sockets *ss);

/* Sockets open now (for status and limits). */
unsigned sockets_count(const struct sockets *ss);
/* Buffer space the connections of every client hold now, and its limit. */
uint64_t sockets_buffer_bytes(const struct sockets *ss);
uint64_t sockets_buffer_limit(const struct sockets *ss);

#endif
