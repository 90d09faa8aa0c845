/*
 * sockets.h - tapnet sockets for client processes: one Unix socketpair per
 * TCP socket, bridged to the core's tn_sock by tapnetd (see sockets.c).
 */
#ifndef TAPNETD_SOCKETS_H
#define TAPNETD_SOCKETS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

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
	uint64_t buf_bytes;   /* buffer space its connections hold (see sockets.c) */
};

/* Who asked: one per control connection, embedded in it. */
struct sockets_owner {
	struct ucred cred;    /* SO_PEERCRED at connect time */
	unsigned serial;      /* "client #N" in the log */
	unsigned nsockets;    /* sockets made through this connection still open */
	struct sockets_account *acct; /* its user's; set by sockets_owner_attach */
	bool may_bind_low;    /* ports < 1024: decided once, at connect time (see control.c) */
};

struct sockets *sockets_new(struct tapnetd *d);
/* Resets every connection (as a dying daemon must) and frees everything. */
void sockets_free(struct sockets *ss);

/* How many fds a request of this type carries: -1 when it is not a socket request. */
int sockets_request_fds(uint16_t type);

/*
 * Handles one well-formed socket request. fds holds the nfds descriptors
 * that came with it (nfds == sockets_request_fds(type)); the handler sets
 * the entries it keeps to -1 and the caller hands the rest to closer.c.
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
