/*
 * sockets_internal.h - what the files of tapnet's client sockets share
 * (sockets.h tells the story): the registry and its accounting
 * (sockets.c), the data pump between the socket pairs and the core
 * (sockets_pump.c), the request handlers (sockets_req.c) and the Linux
 * socket-option ABI (sockets_opt.c).
 */
#ifndef TAPNETD_SOCKETS_INTERNAL_H
#define TAPNETD_SOCKETS_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "closer.h"
#include "daemon.h"
#include "sockets.h"

#define CHUNK 65536            /* bytes moved per read/recv */
#define HASH_BUCKETS 4096      /* by B's cookie */
#define TOMBSTONES 4096        /* finished sockets remembered (a power of two, at most 65535) */
#define HUP_BATCH 64
#define PAIR_SNDBUF 212992     /* asked for B's send buffer (the kernel caps it); A's: a_sndbuf_follow */
#define ACCEPT_BATCH 64        /* connections handed to one listener per wakeup */
#define FILLER_CHUNK 4096
#define RESET_WAIT_MS 250      /* how long A waits for a reset watcher's byte (rpc.h, RESETS) */
#define PASSED_FDS_MAX 253     /* the kernel's SCM_MAX_FD: all one recvmsg() can bring */

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

/*
 * A SETSOCKOPT_NOWAIT waiting for its place in the stream: it applies once
 * every byte that was in A when it arrived has gone into the core (at).
 */
#define OPTS_LATER_MAX 8
#define OPT_LATER_VAL_MAX 8 /* an int or a struct linger: what the client sends without waiting */
/* opt_later.at of an option that applies when A is next found empty */
#define OPT_AT_A_EMPTY UINT64_MAX

struct opt_later {
	uint64_t at;                  /* a_taken at which it applies, or OPT_AT_A_EMPTY */
	bool a_ended_there;           /* A held no more than that when the request was read */
	unsigned read_iter;           /* the loop iteration (ev_iteration) it was read in */
	uint32_t level, optname;
	uint8_t len;
	uint8_t val[OPT_LATER_VAL_MAX];
};

struct tsock {
	struct sockets *ss;
	struct tsock *hnext;          /* cookie hash chain */
	struct tsock *prev, *next;    /* every socket */
	struct sockets_owner *conn;   /* the connection that made it; NULL once closed */
	struct sockets_account *acct; /* its user's, charged until it is freed */
	struct tn_sock *sk;           /* NULL once closed in the core */
	int own_end;                  /* A: our end of the pair (see sockets.h) */
	int client_end_held;          /* B, the client's end, held while connecting */
	uint64_t cookie;              /* B's SO_COOKIE: the socket's name in requests */
	bool spare;                   /* made for a client's next socket(), not named by it yet */
	ev_io io;
	int io_events;
	uint32_t filler;              /* filler bytes still to drop from A */
	struct tsock *pend_next;      /* in ss->pending: peer data to pass on */
	bool pending;
	bool a_idle;                  /* the last read of A found nothing */
	unsigned a_idle_iter;         /* the loop iteration (ev_iteration) of that read */
	int accepted_end;             /* listener: an accepted connection's B not yet sent */
	struct tn_accept_rec accepted_rec; /* and the record that goes with it */
	bool listening, connecting, connected;
	bool rd_eof;                  /* client shut its write side: FIN sent */
	bool wr_shut;                 /* peer FIN passed on: A's write side shut */
	bool client_closed;           /* B's last close seen */
	bool in_hup;                  /* in the hang-up epoll, its hang-up not yet reported */
	bool in_pump, again, done;
	bool accept_waits;            /* listener: an accept waits for a socket slot */
	struct tsock *wait_next;      /* in ss->waiting (or ss->waking) while it waits */
	int done_err;                 /* positive errno for SO_ERROR, 0 for none */
	int err;                      /* pending SO_ERROR kept here */
	uint64_t a_taken;             /* client bytes moved from A into the core so far */
	uint32_t a_sndbuf;            /* asked for A's send buffer (see a_sndbuf_follow) */
	struct opt_later opts_later[OPTS_LATER_MAX]; /* oldest first */
	unsigned n_opts_later;
	struct sockets_owner *opt_conn; /* sent the last option without waiting; NULL once gone */
	/*
	 * reset by the peer, or timed out: A stays open until the reset
	 * watcher's byte is in it (reset_wait_over)
	 */
	bool reset_wait;
	int reset_err; /* what ended the connection: ECONNRESET, or ETIMEDOUT */
	ev_tstamp reset_until;
};

struct tombstone {
	uint64_t cookie;              /* 0: free */
	int err;
	tn_ip4 laddr;
	uint16_t lport;
};

/*
 * A socket whose connect failed, by its B's cookie: its settings, for a
 * connect again (Linux connects the same socket again; tapnet gives the
 * client a new pair and a new core socket with those settings, see
 * req_connect_again). The last FAILED_KEEP are kept.
 */
#define FAILED_KEEP 64
struct failed_connect {
	uint64_t cookie; /* 0: free */
	struct tn_sock_settings *set;
	bool reported; /* a connect has said that it failed (TN_RENEW_AFTER_REPORT) */
};

struct sockets {
	struct tapnetd *d;
	struct tsock *hash[HASH_BUCKETS];
	struct tsock *all;
	unsigned count;
	unsigned max_total, max_per_client;
	unsigned max_clients_per_user;
	uint64_t buf_bytes, buf_max, buf_max_per_client;
	struct sockets_account *accounts; /* users with connections or sockets */
	struct tsock *waiting;        /* listeners whose accept waits for a socket slot */
	struct tsock *waking;         /* those wake_idle_cb is trying again */
	ev_idle wake_idle;            /* hands space given back to waiting listeners */
	int hup_ep;                   /* every A, events 0: hang-ups only */
	ev_io hup_io;
	struct tombstone tomb[TOMBSTONES]; /* the oldest is replaced first */
	unsigned tomb_next;
	/* chains by cookie hash, of tomb indexes + 1 (0 ends a chain) */
	uint16_t tomb_bucket[TOMBSTONES], tomb_chain[TOMBSTONES];
	struct log_ratelimit limit_log, err_log, buf_log;
	struct tsock *pending;        /* sockets with peer data for the client */
	ev_prepare pend_watcher;
	struct failed_connect failed[FAILED_KEEP]; /* the oldest is replaced first */
	unsigned failed_next;
	ev_timer reset_timer;         /* runs while sockets wait for a reset watcher's byte */
	unsigned resets_waiting;
	uint32_t a_sndbuf_default;    /* a new pair's A, as SO_SNDBUF asks it (pair_defaults) */
	uint8_t scratch[CHUNK];
};

/* A request's attributes (sockets_req.c) */
struct req {
	bool has_addr, has_port;
	uint32_t addr, port;
	uint32_t backlog, how, peer, level, optname, optlen;
	bool has_how, has_level, has_optname;
	bool pair_empty, has_cookie;
	uint32_t renew; /* CONNECT: TN_RENEW_*, a socket whose connect failed may come back */
	bool want_spare; /* CONNECT: a new socket with the reply (TN_ATTR_SPARE) */
	uint64_t cookie;
	const uint8_t *optval;
	size_t optval_len;
};

/* ---- the data path (sockets_pump.c) */
void reset_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- the registry (sockets.c) */
struct tsock *find_sock(struct sockets *ss, uint64_t cookie);
struct tombstone *find_tomb(struct sockets *ss, uint64_t cookie);
struct tombstone *tomb_for(struct sockets *ss, uint64_t cookie);
int socket_cookie(int fd, uint64_t *cookie);
/* A request names spare t: it is the client's socket now, like any other. */
void spare_taken(struct tsock *t);
struct tsock *tsock_new(struct sockets *ss, struct sockets_owner *conn,
			struct sockets_account *acct, struct tn_sock *sk, int a, uint64_t cookie);
/* Frees t; the core socket is closed (FIN) unless already gone. */
void tsock_free(struct tsock *t);
/* t's connect failed: its settings are kept for a connect again (FAILED_KEEP). */
void failed_keep(struct tsock *t);
/* The socket is over for the client: remember how it ended, free it. */
void tsock_finish(struct tsock *t);
int limit_check(struct sockets *ss, const struct sockets_account *acct);
/* Listener t has a connection to hand over but no socket slot: try again when one is freed. */
void accept_wait(struct tsock *t);
void io_set(struct tsock *t, int events);
/* Closes the copy of B a connect carried, if t still holds it. */
void close_client_end_held(struct tsock *t);

/* ---- the data pump (sockets_pump.c) */
int make_pair(struct sockets *ss, int *a, int *b, uint64_t *cookie, uint32_t *filler);
void tsock_pump(struct tsock *t);
void close_core(struct tsock *t, bool abort);
void tsock_stop_listening(struct tsock *t); /* shutdown(SHUT_RD) of a listener */
int pos_err(int e);
void sock_cb(struct tn_sock *s, unsigned events, void *arg);
size_t deliver_to_client(void *arg, const struct tn_sock_piece *piece, int npieces);
/*
 * Peer segments at least this long go straight from the tap's frame to A,
 * behind what the receive ring holds unread (tn_sock_set_deliver): one
 * sendmsg() instead of a copy into the ring and a later one from it.
 * Shorter ones are cheaper to gather in the ring and send once per batch.
 */
#define DELIVER_MIN 16384
void a_io_cb(struct ev_loop *loop, ev_io *w, int revents);
void pend_cb(struct ev_loop *loop, ev_prepare *w, int revents);
void hup_cb(struct ev_loop *loop, ev_io *w, int revents);
/*
 * The hang-ups already reported (sockets their clients closed): each taken
 * as hup_cb takes it, at once. How many. Not from within a pump or a
 * hang-up (see hup_cb).
 */
int take_hangups(struct sockets *ss);

/* ---- the Linux socket options (sockets_opt.c); tb: the tombstone when t is gone */
int req_setsockopt(struct tsock *t, const struct req *r);
/* SETSOCKOPT_NOWAIT: r applies after the bytes A holds now (see sockets_opt.c). */
int req_setsockopt_nowait(struct tsock *t, struct sockets_owner *owner, const struct req *r);
/* Applies the options waiting for t's stream to reach them; each error is counted and logged. */
void opts_later_apply(struct tsock *t);
int req_getsockopt(struct tsock *t, struct tombstone *tb, const struct req *r,
		   struct tn_rpc_writer *reply);

#endif
