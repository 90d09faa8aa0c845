/*
 * control.c - the control socket server.
 *
 * Per client: an input buffer that holds one whole message (TN_RPC_MAX_MSG),
 * a bounded output queue, and its peer credentials for the log. Bytes are
 * read with recvmsg() so that file descriptors passed with SCM_RIGHTS are
 * seen. The fds of one recvmsg() belong to the message holding the last
 * byte it returned (the kernel ends a read after the data an fd came with),
 * so each queued fd carries that byte's stream offset; socket requests
 * (sockets_req.c) take the fds that came with them, and an fd that came with
 * any other message, or a wrong number of them, costs the client its
 * connection. Every fd a client passed, and the connection itself (fds may
 * wait in its queue), is closed by closer.c, never here: such a close can
 * block as long as the client likes.
 *
 * A reply may carry one fd (SOCKET's: the client's end of the new pair).
 * It goes with the reply's first byte, so the output queue keeps, next to
 * the bytes, the stream offset each queued fd belongs at.
 *
 * A request is answered through requests[], a table by message type; a
 * well-formed request of a type not in it gets an EOPNOTSUPP error reply.
 *
 * A client may also write its SETSOCKOPT_NOWAIT requests into an option
 * ring (optring.h) instead of sending them. They are read as if they had
 * come first on the connection: before any request of its own, after
 * every wait or poll of the loop before any pair is read, and before the
 * loop sleeps (control_rings_sleep, which also tells each client to wake
 * it after writing). A ring that breaks its rules costs the connection,
 * as a malformed message does.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "closer.h"
#include "optring.h"
#include "daemon.h"
#include "rpc/rpc.h"
#include "sockets.h"
#include "trace.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define CTL_OUT_MAX (4 * TN_RPC_MAX_MSG) /* replies queued for one client */
#define CTL_ACCEPT_BATCH 16              /* connections accepted per wakeup */
/*
 * Room for every fd one recvmsg() can return (the kernel's SCM_MAX_FD):
 * those that do not fit would be released by the kernel in our own
 * context, which may block (see closer.h).
 */
#define CTL_FDS_MAX 253
#define CTL_FDQ_MAX 8                    /* fds received, waiting for their message */
#define CTL_OFD_MAX 64                   /* fds of replies not yet sent */
#define CTL_ACCEPT_PAUSE 1.0             /* s without accepting when out of fds */
#define CTL_NAME_MAX 64                  /* of a client's HELLO name, kept for logs */

/* An ARP_ENTRY nest at its largest: ADDR, MAC, STATE (<= 12 chars), EXPIRES_MS, QUEUED. */
#define CTL_ARP_ENTRY_MAX (4 + 8 + 12 + 16 + 12 + 8)

/*
 * A TW_ENTRY nest: four u32 and one u64 attribute. A TIMEWAIT reply lists
 * the oldest entries that fit next to TW_TOTAL and TW_TRUNCATED (the table
 * may hold far more than one message can carry).
 */
#define CTL_TW_ENTRY_MAX (4 + 4 * 8 + 12)
#define CTL_TW_PER_REPLY ((TN_RPC_MAX_MSG - TN_RPC_HDR_LEN - 2 * 8) / CTL_TW_ENTRY_MAX)

/*
 * A SOCK nest at its largest: every attribute of TN_RPC_SOCK_ATTRS present,
 * strings (STATE, CC, CA_STATE) of at most 15 bytes; counted from the list
 * itself, so an attribute added there is room taken here. A SOCKETS reply
 * holds as many as fit next to SS_TOTAL and SS_TRUNCATED; `tapnet ss` asks
 * for the rest page by page.
 */
#define CTL_SOCK_STR_MAX 15
#define CTL_SOCK_ATTR_u32 8
#define CTL_SOCK_ATTR_u64 12
#define CTL_SOCK_ATTR_str (4 + CTL_SOCK_STR_MAX + 1)
#define CTL_SOCK_ATTR_SIZE(attr, kind, name) +CTL_SOCK_ATTR_##kind
#define CTL_SOCK_ENTRY_MAX (4 TN_RPC_SOCK_ATTRS(CTL_SOCK_ATTR_SIZE))
#define CTL_SOCKS_PER_REPLY ((TN_RPC_MAX_MSG - TN_RPC_HDR_LEN - 2 * 8) / CTL_SOCK_ENTRY_MAX)

struct ctl_client {
	struct control *ctl;
	struct ctl_client *prev, *next;
	int fd;
	ev_io io;
	ev_timer idle;             /* client_idle_timeout: see idle_cb */
	bool idle_expired;         /* idle that long: its slot may be taken (reclaim_idle) */
	unsigned serial;           /* "client #N" in the log */
	struct ucred cred;         /* pid/uid/gid at connect time */
	char name[CTL_NAME_MAX];   /* from HELLO; "" until then */
	uint8_t *in;               /* TN_RPC_MAX_MSG bytes */
	size_t in_len;
	uint8_t *out;              /* queued reply bytes, out_off..out_len unsent */
	size_t out_off, out_len, out_cap;
	uint64_t out_sent;         /* stream offset of out[out_off] */
	int ofd[CTL_OFD_MAX];      /* fds of queued replies, oldest first */
	uint64_t ofd_pos[CTL_OFD_MAX]; /* stream offset of the byte each goes with */
	unsigned ofd_len;
	uint64_t in_base;          /* stream offset of in[0] */
	int fdq[CTL_FDQ_MAX];      /* received fds, oldest first */
	uint64_t fdq_pos[CTL_FDQ_MAX]; /* stream offset of the byte each came with */
	unsigned fdq_len;
	struct sockets_owner owner; /* its tapnet sockets */
	struct trace_sub *sub;      /* after TRACE: its event stream (trace.c); it asks nothing more */
	bool reset_watch;           /* after RESETS: notices of its process's resets; it asks nothing more */
};

struct control {
	struct tapnetd *d;
	int fd;
	char path[CONFIG_SOCKET_PATH_MAX];
	bool bound;                /* we created path: remove it at close */
	ev_io accept_io;
	ev_timer accept_pause;     /* out of fds: retry accepting later */
	struct ctl_client *clients;
	unsigned n_rings;          /* clients with an option ring: read in every pass when any */
	bool rings_sleeping;       /* their rings say the daemon may sleep (control_rings_sleep) */
	ev_check ring_check;
	unsigned n_clients;
	unsigned next_serial;
	struct tn_arp_info *arp;   /* room for the whole cache, for ARP replies */
	size_t arp_cap;
	struct tn_tw_info tw[CTL_TW_PER_REPLY]; /* one TIMEWAIT reply's worth */
	struct tn_sock_info socks[CTL_SOCKS_PER_REPLY]; /* one SOCKETS reply's worth */
	struct log_ratelimit reject_log, bad_log, accept_log;
	uint8_t reply[TN_RPC_MAX_MSG]; /* every reply is built here */
};

/* A handler's result besides 0 (reply built) and -errno (error reply). */
#define CTL_DROP 1
#define CTL_SENT 2 /* the handler sent its reply itself */

typedef int (*ctl_handler)(struct ctl_client *c, const struct tn_rpc_header *hdr,
			   const uint8_t *msg, struct tn_rpc_writer *reply);

static int handle_hello(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			struct tn_rpc_writer *);
static int handle_status(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			 struct tn_rpc_writer *);
static int handle_stats(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			struct tn_rpc_writer *);
static int handle_arp(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
		      struct tn_rpc_writer *);
static int handle_timewait(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			   struct tn_rpc_writer *);
static int handle_trace(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			struct tn_rpc_writer *);
static int handle_sockets(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			  struct tn_rpc_writer *);
static int handle_resets(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			 struct tn_rpc_writer *);
static int handle_ring_wake(struct ctl_client *, const struct tn_rpc_header *, const uint8_t *,
			    struct tn_rpc_writer *);

static const struct ctl_request {
	uint16_t type;
	ctl_handler handle;
} requests[] = {
	{ TN_RPC_HELLO, handle_hello },
	{ TN_RPC_STATUS, handle_status },
	{ TN_RPC_STATS, handle_stats },
	{ TN_RPC_ARP, handle_arp },
	{ TN_RPC_TIMEWAIT, handle_timewait },
	{ TN_RPC_SOCKETS, handle_sockets },
	{ TN_RPC_TRACE, handle_trace },
	{ TN_RPC_RESETS, handle_resets },
	{ TN_RPC_OPTION_RING_WAKE, handle_ring_wake },
};

/* ------------------------------------------------------------------ clients */

/* "client #3 (pid 1234 uid 1000 'tapnet')": who did it, for every client log line. */
static const char *client_desc(const struct ctl_client *c, char *buf, size_t cap)
{
	snprintf(buf, cap, "client #%u (pid %ld uid %ld%s%s%s)", c->serial, (long)c->cred.pid,
		 (long)c->cred.uid, c->name[0] ? " '" : "", c->name, c->name[0] ? "'" : "");
	return buf;
}

/* Unmaps c's option ring, if it has one, unread. */
static void ring_forget(struct ctl_client *c)
{
	if (!c->owner.ring.shared)
		return;
	/* a process still writing there wakes us, finds the connection gone, and sends anew */
	optring_set_sleeping(&c->owner.ring, true);
	optring_unmap(&c->owner.ring);
	c->ctl->n_rings--;
}

static void client_free(struct ctl_client *c)
{
	struct control *ctl = c->ctl;

	ev_io_stop(ctl->d->loop, &c->io);
	ev_timer_stop(ctl->d->loop, &c->idle);
	closer_close(c->fd);
	for (unsigned i = 0; i < c->fdq_len; i++)
		closer_close(c->fdq[i]);
	for (unsigned i = 0; i < c->ofd_len; i++)
		close(c->ofd[i]); /* ours, never out of our hands: nothing in flight in it */
	ring_forget(c);
	sockets_owner_gone(ctl->d->sockets, &c->owner);
	if (c->sub)
		trace_unsubscribe(c->sub);
	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->n_clients--;
	ctl->d->counters[DCTR_CtlClients] = ctl->n_clients;
	free(c->in);
	free(c->out);
	free(c);
}

static bool ring_read(struct ctl_client *c);

static void client_close(struct ctl_client *c, const char *why)
{
	char desc[160];

	/* what the process wrote into its ring before it hung up applies, as a request sent would */
	if (!ring_read(c))
		return;

	log_debug("%s: closed (%s)", client_desc(c, desc, sizeof(desc)), why);
	client_free(c);
}

/* Hostile or broken input: log who (rate-limited, a client can repeat it at will), then hang up. */
static void client_drop_bad(struct ctl_client *c, const char *what)
{
	char desc[160];
	uint64_t suppressed;
	char note[64];

	DAEMON_COUNT(c->ctl->d, CtlBadMessages, 1);
	if (log_ratelimit_ok(&c->ctl->bad_log, &suppressed))
		log_warning("%s: %s; connection closed%s", client_desc(c, desc, sizeof(desc)), what,
			    log_suppressed_note(suppressed, note));
	client_free(c);
}

static void client_set_events(struct ctl_client *c, int events)
{
	if ((c->io.events & (EV_READ | EV_WRITE)) == events)
		return;
	ev_io_stop(c->ctl->d->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->ctl->d->loop, &c->io);
}

/* Appends to the output queue, fd (or -1) with its first byte. false: the client was dropped. */
static bool client_queue(struct ctl_client *c, const uint8_t *buf, size_t len, int fd)
{
	size_t pending = c->out_len - c->out_off;

	if (pending + len > CTL_OUT_MAX || (fd >= 0 && c->ofd_len == CTL_OFD_MAX)) {
		char desc[160];
		DAEMON_COUNT(c->ctl->d, CtlSlowClients, 1);
		log_warning("%s: does not read its replies (%zu bytes queued); connection closed",
			    client_desc(c, desc, sizeof(desc)), pending);
		if (fd >= 0)
			close(fd);
		client_free(c);
		return false;
	}
	if (c->out_off) { /* keep the unsent bytes at the front */
		memmove(c->out, c->out + c->out_off, pending);
		c->out_off = 0;
		c->out_len = pending;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_len + len;
		uint8_t *p = realloc(c->out, cap);
		if (!p) {
			if (fd >= 0)
				close(fd);
			client_close(c, "out of memory for its replies");
			return false;
		}
		c->out = p;
		c->out_cap = cap;
	}
	if (fd >= 0) {
		c->ofd[c->ofd_len] = fd;
		c->ofd_pos[c->ofd_len++] = c->out_sent + pending;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	return true;
}

/*
 * Sends what the socket takes now: each queued fd with the byte it belongs
 * to, so one sendmsg() never goes past the next fd's byte. false: the
 * client is gone.
 */
static bool client_flush(struct ctl_client *c)
{
	while (c->out_off < c->out_len) {
		size_t len = c->out_len - c->out_off;
		int fd = -1;
		if (c->ofd_len && c->ofd_pos[0] == c->out_sent) {
			fd = c->ofd[0];
			if (c->ofd_len > 1)
				len = (size_t)(c->ofd_pos[1] - c->out_sent);
		} else if (c->ofd_len) {
			len = (size_t)(c->ofd_pos[0] - c->out_sent);
		}
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} cbuf;
		struct iovec iov = { c->out + c->out_off, len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (fd >= 0) {
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = sizeof(cbuf.buf);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &fd, sizeof(int));
		}
		ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				client_close(c, strerror(errno));
				return false;
			}
			client_set_events(c, EV_READ | EV_WRITE);
			return true;
		}
		if (fd >= 0) { /* the client has its copy now */
			close(fd);
			c->ofd_len--;
			memmove(c->ofd, c->ofd + 1, c->ofd_len * sizeof(int));
			memmove(c->ofd_pos, c->ofd_pos + 1, c->ofd_len * sizeof(uint64_t));
		}
		c->out_off += (size_t)n;
		c->out_sent += (uint64_t)n;
	}
	c->out_off = c->out_len = 0;
	/* a subscriber's events go after its replies, never between two messages */
	int sent = c->sub ? trace_sub_flush(c->sub) : 1;
	if (sent < 0) {
		client_close(c, strerror(errno));
		return false;
	}
	client_set_events(c, sent ? EV_READ : EV_READ | EV_WRITE);
	return true;
}

/* trace.c has events for c: send them when the socket is writable (never here: we may be deep in the stack). */
static void client_trace_wake(void *ctx)
{
	struct ctl_client *c = ctx;

	client_set_events(c, EV_READ | EV_WRITE);
}

/* Queues a reply (with fd, or -1) and sends what the socket takes. false: the client is gone. */
static bool client_send(struct ctl_client *c, const uint8_t *buf, size_t len, int fd)
{
	return client_queue(c, buf, len, fd) && client_flush(c);
}

static bool client_send_error(struct ctl_client *c, uint32_t id, int err, const char *message)
{
	struct control *ctl = c->ctl;
	long len = tn_rpc_encode_error(ctl->reply, sizeof(ctl->reply), id, err, message);

	if (len < 0) { /* cannot happen with our own short messages */
		client_close(c, "cannot encode an error reply");
		return false;
	}
	return client_send(c, ctl->reply, (size_t)len, -1);
}

/* ------------------------------------------------------------------ requests */

static const struct ctl_request *find_request(uint16_t type)
{
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		if (requests[i].type == type)
			return &requests[i];
	return NULL;
}

/*
 * The client's name as the log shows it: printable ASCII as is, anything
 * else (a newline that would forge a log line, a terminal escape) and
 * the quote and backslash as \xNN; cut to fit cap.
 */
static void escape_name(char *dst, size_t cap, const char *src)
{
	size_t len = 0;

	for (; *src; src++) {
		unsigned char ch = (unsigned char)*src;
		bool plain = ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'';
		size_t need = plain ? 1 : 4;
		if (len + need >= cap)
			break;
		if (plain)
			dst[len++] = (char)ch;
		else
			len += (size_t)snprintf(dst + len, cap - len, "\\x%02x", ch);
	}
	dst[len] = '\0';
}

static int handle_hello(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
			struct tn_rpc_writer *reply)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	char name[256];

	tn_rpc_iter_msg(&it, msg, hdr->length);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_CLIENT_NAME)
			continue; /* unknown attributes are a newer client's business */
		if (!tn_rpc_get_str(&a, name, sizeof(name))) {
			client_drop_bad(c, "sent a HELLO with a bad CLIENT_NAME");
			return CTL_DROP;
		}
		escape_name(c->name, sizeof(c->name), name);
	}
	tn_rpc_put_str(reply, TN_ATTR_VERSION_STR, PACKAGE_VERSION);
	tn_rpc_put_u32(reply, TN_ATTR_PID, (uint32_t)getpid());
	return 0;
}

static int handle_status(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
			 struct tn_rpc_writer *reply)
{
	const struct tapnetd *d = c->ctl->d;
	const struct tn_config *core = &d->cfg.core;
	uint8_t mac[TN_ETH_ALEN];

	tn_stack_get_mac(d->stack, mac);
	tn_rpc_put_u64(reply, TN_ATTR_UPTIME_MS, (daemon_now_ns() - d->started_ns) / TN_NSEC_PER_MSEC);
	tn_rpc_put_str(reply, TN_ATTR_IFNAME, d->tap.name);
	tn_rpc_put_u32(reply, TN_ATTR_IFINDEX, d->tap.ifindex);
	tn_rpc_put_bytes(reply, TN_ATTR_MAC, mac, sizeof(mac));
	tn_rpc_put_u32(reply, TN_ATTR_ADDR, core->addr);
	tn_rpc_put_u32(reply, TN_ATTR_PREFIX_LEN, core->prefix_len);
	if (core->gateway)
		tn_rpc_put_u32(reply, TN_ATTR_GATEWAY, core->gateway);
	tn_rpc_put_u32(reply, TN_ATTR_MTU, core->mtu);
	tn_rpc_put_u32(reply, TN_ATTR_CLIENTS, c->ctl->n_clients);
	tn_rpc_put_str(reply, TN_ATTR_LOG_LEVEL, log_level_name(log_get_level()));
	tn_rpc_put_u32(reply, TN_ATTR_SOCKETS, sockets_count(c->ctl->d->sockets));
	tn_rpc_put_u64(reply, TN_ATTR_BUFFER_BYTES, sockets_buffer_bytes(c->ctl->d->sockets));
	tn_rpc_put_u64(reply, TN_ATTR_BUFFER_LIMIT, sockets_buffer_limit(c->ctl->d->sockets));
	tn_rpc_put_str(reply, TN_ATTR_VERSION_STR, PACKAGE_VERSION);
	tn_rpc_put_u32(reply, TN_ATTR_PID, (uint32_t)getpid());
	return 0;
}

static void put_counter(struct tn_rpc_writer *reply, const char *name, uint64_t value)
{
	tn_rpc_nest_begin(reply, TN_ATTR_COUNTER);
	tn_rpc_put_str(reply, TN_ATTR_NAME, name);
	tn_rpc_put_u64(reply, TN_ATTR_VALUE, value);
	tn_rpc_nest_end(reply);
}

static int handle_stats(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
			struct tn_rpc_writer *reply)
{
	struct tapnetd *d = c->ctl->d;

	d->counters[DCTR_CloserBusy] = closer_busy();
	for (int i = 0; i < TN_CTR__COUNT; i++)
		put_counter(reply, tn_counter_name((enum tn_counter)i),
			    tn_stack_counter(d->stack, (enum tn_counter)i));
	for (int i = 0; i < DCTR__COUNT; i++)
		put_counter(reply, daemon_counter_name((enum daemon_counter)i), d->counters[i]);
	return 0;
}

static int handle_arp(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
		      struct tn_rpc_writer *reply)
{
	struct control *ctl = c->ctl;
	size_t total = tn_stack_arp_list(ctl->d->stack, ctl->arp, ctl->arp_cap);
	size_t n = total < ctl->arp_cap ? total : ctl->arp_cap;
	uint64_t now = daemon_now_ns();

	for (size_t i = 0; i < n; i++) {
		const struct tn_arp_info *e = &ctl->arp[i];
		if (reply->cap - reply->len < CTL_ARP_ENTRY_MAX) {
			/* [arp] cache_size is capped so that this does not happen. */
			log_warning("ARP reply truncated to %zu of %zu entries", i, total);
			break;
		}
		tn_rpc_nest_begin(reply, TN_ATTR_ARP_ENTRY);
		tn_rpc_put_u32(reply, TN_ATTR_ADDR, e->addr);
		tn_rpc_put_bytes(reply, TN_ATTR_MAC, e->mac, TN_ETH_ALEN);
		tn_rpc_put_str(reply, TN_ATTR_STATE, tn_arp_state_name(e->state));
		if (e->expires_ns != TN_TIME_NEVER)
			tn_rpc_put_u64(reply, TN_ATTR_EXPIRES_MS,
				       e->expires_ns > now ? (e->expires_ns - now) / TN_NSEC_PER_MSEC : 0);
		tn_rpc_put_u32(reply, TN_ATTR_QUEUED, e->queued);
		tn_rpc_nest_end(reply);
	}
	return 0;
}

static void put_sock(struct tn_rpc_writer *reply, const struct tn_sock_info *si)
{
	char cc[CTL_SOCK_STR_MAX + 1];
	uint32_t flags = (si->ts ? TN_SOCK_F_TS : 0) | (si->sack ? TN_SOCK_F_SACK : 0) |
			 (si->nodelay ? TN_SOCK_F_NODELAY : 0) |
			 (si->keepalive ? TN_SOCK_F_KEEPALIVE : 0) |
			 (si->orphan ? TN_SOCK_F_ORPHAN : 0) |
			 (si->reord_seen ? TN_SOCK_F_REORD : 0);

	char state[CTL_SOCK_STR_MAX + 1], ca_state[CTL_SOCK_STR_MAX + 1];

	/* strings cut to CTL_SOCK_STR_MAX: an entry fits CTL_SOCK_ENTRY_MAX */
	snprintf(state, sizeof(state), "%s", tn_tcp_state_name(si->state));
	snprintf(cc, sizeof(cc), "%s", si->cc ? si->cc : "");
	snprintf(ca_state, sizeof(ca_state), "%s", si->ca_state ? si->ca_state : "");
	struct tn_rpc_sock s = {
		.state = state, .has_state = true,
		.laddr = si->local_addr, .has_laddr = true,
		.lport = si->local_port, .has_lport = true,
		.raddr = si->remote_addr, .has_raddr = true,
		.rport = si->remote_port, .has_rport = true,
		.recv_q = si->recv_q, .has_recv_q = true,
		.send_q = si->send_q, .has_send_q = true,
		.rtt_us = si->rtt_us, .has_rtt_us = true,
		.rttvar_us = si->rttvar_us, .has_rttvar_us = true,
		.rto_ms = si->rto_ms, .has_rto_ms = true,
		.mss = si->mss, .has_mss = true,
		.rcv_mss = si->rcv_mss, .has_rcv_mss = true,
		.cwnd = si->cwnd, .has_cwnd = true,
		.ssthresh = si->ssthresh, .has_ssthresh = si->ssthresh != UINT32_MAX,
		.snd_wnd = si->snd_wnd, .has_snd_wnd = true,
		.rcv_wnd = si->rcv_wnd, .has_rcv_wnd = true,
		.wscale = (uint32_t)si->snd_wscale << 8 | si->rcv_wscale, .has_wscale = true,
		.flags = flags, .has_flags = true,
		.retrans = si->retransmits, .has_retrans = true,
		.total_retrans = si->total_retrans, .has_total_retrans = true,
		.bytes_acked = si->bytes_acked, .has_bytes_acked = true,
		.bytes_received = si->bytes_received, .has_bytes_received = true,
		.cc = cc, .has_cc = true,
		.ca_state = ca_state, .has_ca_state = si->ca_state != NULL,
		.lost = si->lost, .has_lost = true,
		.sacked = si->sacked, .has_sacked = true,
		.min_rtt_us = si->min_rtt_us, .has_min_rtt_us = si->min_rtt_us != 0,
		.rcvbuf = si->rcvbuf, .has_rcvbuf = true,
		.sndbuf = si->sndbuf, .has_sndbuf = true,
		.rcv_space = si->rcv_space, .has_rcv_space = true,
	};
	tn_rpc_put_sock(reply, &s);
}

/*
 * As many sockets as fit, from SS_START on. The reply is bounded by
 * TN_RPC_MAX_MSG whatever the number of sockets: SS_TRUNCATED says where
 * the next request should start.
 */
static int handle_sockets(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
			  struct tn_rpc_writer *reply)
{
	struct control *ctl = c->ctl;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	uint32_t start = 0;
	size_t i = 0;

	tn_rpc_iter_msg(&it, msg, hdr->length);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_SS_START && !tn_rpc_get_u32(&a, &start)) {
			client_drop_bad(c, "sent a SOCKETS request with a bad SS_START");
			return CTL_DROP;
		}
	}
	size_t total = tn_sock_list_from(ctl->d->stack, start, ctl->socks, CTL_SOCKS_PER_REPLY);
	size_t n = total > start ? total - start : 0;
	if (n > CTL_SOCKS_PER_REPLY)
		n = CTL_SOCKS_PER_REPLY;
	tn_rpc_put_u32(reply, TN_ATTR_SS_TOTAL, (uint32_t)total);
	for (; i < n && reply->cap - reply->len >= CTL_SOCK_ENTRY_MAX + 8; i++)
		put_sock(reply, &ctl->socks[i]);
	if (start + i < total)
		tn_rpc_put_u32(reply, TN_ATTR_SS_TRUNCATED, (uint32_t)(start + i));
	return 0;
}

/* The TIME_WAIT entries, oldest first, as many as one message holds. */
/*
 * TRACE: from the reply on, c receives the event stream (trace.c). A bad
 * filter is an error reply saying what is wrong with it.
 */
static int handle_trace(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
			struct tn_rpc_writer *reply)
{
	struct control *ctl = c->ctl;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	char filter[1024] = "";
	char err[160];

	(void)reply;
	tn_rpc_iter_msg(&it, msg, hdr->length);
	while (tn_rpc_next(&it, &a))
		if (a.type == TN_ATTR_TRACE_FILTER && !tn_rpc_get_str(&a, filter, sizeof(filter)))
			return client_send_error(c, hdr->id, EINVAL, "filter: too long") ? CTL_SENT
											    : CTL_DROP;
	struct trace_sub *sub = trace_subscribe(ctl->d->trace, c->fd, filter, client_trace_wake, c,
						err, sizeof(err));
	if (!sub)
		return client_send_error(c, hdr->id, EINVAL, err) ? CTL_SENT : CTL_DROP;
	/* the reply first, then the events (client_flush) */
	long len = tn_rpc_end(reply);
	if (len < 0 || !client_queue(c, ctl->reply, (size_t)len, -1)) {
		trace_unsubscribe(sub);
		return CTL_DROP;
	}
	c->sub = sub;
	ring_forget(c); /* read before this request; it asks nothing more (see handle_resets) */
	return client_flush(c) ? CTL_SENT : CTL_DROP;
}

/* The reset watcher of a process (pid and uid both), or NULL. */
static struct ctl_client *reset_watcher(struct control *ctl, pid_t pid, uid_t uid)
{
	for (struct ctl_client *c = ctl->clients; c; c = c->next)
		if (c->reset_watch && c->cred.pid == pid && c->cred.uid == uid)
			return c;
	return NULL;
}

/* RESETS: from the reply on, c receives its process's RESET_NOTICEs (rpc.h). */
static int handle_resets(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
			 struct tn_rpc_writer *reply)
{
	(void)hdr;
	(void)msg;
	(void)reply;
	if (reset_watcher(c->ctl, c->cred.pid, c->cred.uid))
		return -EBUSY;
	c->reset_watch = true;
	/*
	 * Its ring was read before this request, and it asks nothing more:
	 * without one, its close (client_queue may close it from inside a
	 * socket's pump, control_reset_notice) applies no options there.
	 */
	ring_forget(c);
	return 0;
}

bool control_reset_notice(struct control *ctl, pid_t pid, uid_t uid, uint64_t cookie)
{
	struct ctl_client *c = ctl ? reset_watcher(ctl, pid, uid) : NULL;
	uint8_t msg[TN_RPC_HDR_LEN + 16];
	struct tn_rpc_writer w;

	if (!c)
		return false;
	tn_rpc_begin(&w, msg, sizeof(msg), TN_RPC_RESET_NOTICE | TN_RPC_REPLY, TN_RPC_CONNECTION_ID);
	tn_rpc_put_u64(&w, TN_ATTR_COOKIE, cookie);
	long len = tn_rpc_end(&w);
	/*
	 * Queued, sent when the socket is writable: the caller is in a
	 * socket's pump, where a watcher that does not read (dropped by
	 * client_queue) must not free sockets under it.
	 */
	if (len < 0 || c->out_len - c->out_off + (size_t)len > CTL_OUT_MAX ||
	    !client_queue(c, msg, (size_t)len, -1))
		return false;
	client_set_events(c, EV_READ | EV_WRITE);
	return true;
}

static int handle_timewait(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg,
			   struct tn_rpc_writer *reply)
{
	struct control *ctl = c->ctl;
	size_t total = tn_timewait_list(ctl->d->stack, ctl->tw, CTL_TW_PER_REPLY);
	size_t n = total < CTL_TW_PER_REPLY ? total : CTL_TW_PER_REPLY;

	tn_rpc_put_u32(reply, TN_ATTR_TW_TOTAL, (uint32_t)total);
	if (n < total)
		tn_rpc_put_u32(reply, TN_ATTR_TW_TRUNCATED, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		const struct tn_tw_info *e = &ctl->tw[i];
		tn_rpc_nest_begin(reply, TN_ATTR_TW_ENTRY);
		tn_rpc_put_u32(reply, TN_ATTR_TW_LADDR, e->local_addr);
		tn_rpc_put_u32(reply, TN_ATTR_TW_LPORT, e->local_port);
		tn_rpc_put_u32(reply, TN_ATTR_TW_RADDR, e->remote_addr);
		tn_rpc_put_u32(reply, TN_ATTR_TW_RPORT, e->remote_port);
		tn_rpc_put_u64(reply, TN_ATTR_EXPIRES_MS, e->remaining_ms);
		tn_rpc_nest_end(reply);
	}
	return 0;
}

/*
 * A SETSOCKOPT_NOWAIT, sent or read from the ring: no reply, even to a
 * failure (sockets_opt.c counted and logged one on a socket).
 */
static void option_nowait(struct ctl_client *c, const uint8_t *msg, size_t len)
{
	struct tn_rpc_writer reply;
	int reply_fd = -1;
	static struct log_ratelimit nowait_log = LOG_RATELIMIT_INIT(5, 5);
	uint64_t suppressed;
	char note[64];

	tn_rpc_begin(&reply, c->ctl->reply, sizeof(c->ctl->reply), TN_RPC_SETSOCKOPT_NOWAIT, 0);
	int r = sockets_request(c->ctl->d->sockets, &c->owner, TN_RPC_SETSOCKOPT_NOWAIT, msg, len,
				NULL, 0, &reply, &reply_fd);
	if (r < 0) {
		DAEMON_COUNT(c->ctl->d, SockOptNowaitErrors, 1);
		if (log_ratelimit_ok(&nowait_log, &suppressed))
			log_warning("client pid %ld: setsockopt sent without waiting failed: %s%s",
				    (long)c->cred.pid, strerror(-r), log_suppressed_note(suppressed, note));
	}
}

static bool ring_take(void *ctx, const struct tn_rpc_header *hdr, const uint8_t *msg)
{
	struct ctl_client *c = ctx;

	if (!tn_rpc_validate(msg, hdr->length)) {
		client_drop_bad(c, "wrote a message with malformed attributes into its option ring");
		return false;
	}
	DAEMON_COUNT(c->ctl->d, CtlRingRequests, 1);
	option_nowait(c, msg, hdr->length);
	return true;
}

/* Applies what c wrote into its option ring. false: c was dropped (broke the ring's rules). */
static bool ring_read(struct ctl_client *c)
{
	const char *why = NULL;

	if (!optring_pending(&c->owner.ring))
		return true;
	enum optring_result r = optring_read(&c->owner.ring, ring_take, c, &why);
	if (r == OPTRING_BAD)
		client_drop_bad(c, why);
	return r == OPTRING_READ;
}

/* OPTION_RING: fd becomes c's ring, after what its last one holds. */
static int option_ring(struct ctl_client *c, int fd)
{
	ring_forget(c); /* read already: every request reads it first */
	int r = optring_map(&c->owner.ring, fd);
	if (r < 0)
		return r;
	c->ctl->n_rings++;
	optring_set_sleeping(&c->owner.ring, c->ctl->rings_sleeping);
	return 0;
}

/* OPTION_RING_WAKE: the ring was read before any request (client_handle); no reply. */
static int handle_ring_wake(struct ctl_client *c, const struct tn_rpc_header *hdr,
			    const uint8_t *msg, struct tn_rpc_writer *reply)
{
	(void)hdr, (void)msg, (void)reply;
	DAEMON_COUNT(c->ctl->d, CtlRingWakeups, 1);
	return CTL_SENT;
}

/* Reads every ring with requests in it. */
static void rings_read(struct control *ctl)
{
	bool read = false;

	for (struct ctl_client *c = ctl->clients, *next; c; c = next) {
		next = c->next; /* c may be dropped */
		if (optring_pending(&c->owner.ring)) {
			ring_read(c);
			read = true;
		}
	}
	if (read)
		daemon_rearm_timer(ctl->d); /* options may have armed timers */
}

/*
 * After every wait or poll, before any socket's pair is read (EV_MAXPRI,
 * as the control connections): what a client wrote into its ring before
 * it wrote to a pair applies first, as a request it sent would. What it
 * writes after this is read by the next pass (see owner_has_unread_request
 * in sockets_pump.c). Awake now: nobody need wake us.
 */
static void ring_check_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct control *ctl = w->data;

	(void)loop, (void)revents;
	if (ctl->rings_sleeping) {
		ctl->rings_sleeping = false;
		for (struct ctl_client *c = ctl->clients; c; c = c->next)
			optring_set_sleeping(&c->owner.ring, false);
	}
	if (ctl->n_rings)
		rings_read(ctl);
}

void control_rings_sleep(struct control *ctl)
{
	if (!ctl || !ctl->n_rings)
		return;
	ctl->rings_sleeping = true;
	for (struct ctl_client *c = ctl->clients; c; c = c->next)
		optring_set_sleeping(&c->owner.ring, true);
	/*
	 * Against each client's store of its tail then load of sleeping (both
	 * sequentially consistent, see ring_put in libtapnet): either it sees
	 * 1 and sends OPTION_RING_WAKE, or the read below sees its request.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rings_read(ctl);
}

/* The fds a request of type takes, or -1 for none (any is a protocol error). */
static int request_fds(uint16_t type)
{
	return type == TN_RPC_OPTION_RING ? 1 : sockets_request_fds(type);
}

/* One whole message from c. false: the client is gone. */
static bool client_handle(struct ctl_client *c, const struct tn_rpc_header *hdr, const uint8_t *msg)
{
	struct control *ctl = c->ctl;
	struct tn_rpc_writer reply;
	char text[80];

	/* requests written into the ring before this one was sent go first */
	if (!ring_read(c))
		return false;
	if (!tn_rpc_validate(msg, hdr->length)) {
		client_drop_bad(c, "sent a message with malformed attributes");
		return false;
	}
	if ((hdr->type & TN_RPC_REPLY) || hdr->type == TN_RPC_ERROR) {
		client_drop_bad(c, "sent a reply where a request was due");
		return false;
	}
	if (c->sub || c->reset_watch) { /* its replies would cut into the event stream */
		client_drop_bad(c, c->sub ? "sent a request after TRACE" : "sent a request after RESETS");
		return false;
	}
	DAEMON_COUNT(ctl->d, CtlRequests, 1);
	c->idle_expired = false;
	if (c->idle.repeat > 0.)
		ev_timer_again(ctl->d->loop, &c->idle);

	/* fds that came with this message: those whose byte lies in it */
	uint64_t end = c->in_base + (uint64_t)(msg - c->in) + hdr->length;
	unsigned nfds = 0;
	while (nfds < c->fdq_len && c->fdq_pos[nfds] < end)
		nfds++;
	int want = request_fds(hdr->type);
	if (nfds != (want < 0 ? 0u : (unsigned)want)) {
		snprintf(text, sizeof(text), "sent %u file descriptors with a %s request", nfds,
			 tn_rpc_type_name(hdr->type));
		client_drop_bad(c, text);
		return false;
	}
	if (want >= 0) {
		int fds[CTL_FDQ_MAX];
		memcpy(fds, c->fdq, nfds * sizeof(int));
		c->fdq_len -= nfds;
		memmove(c->fdq, c->fdq + nfds, c->fdq_len * sizeof(int));
		memmove(c->fdq_pos, c->fdq_pos + nfds, c->fdq_len * sizeof(uint64_t));
		if (hdr->type == TN_RPC_SETSOCKOPT_NOWAIT) {
			option_nowait(c, msg, hdr->length);
			return true;
		}
		tn_rpc_begin(&reply, ctl->reply, sizeof(ctl->reply), hdr->type | TN_RPC_REPLY, hdr->id);
		int reply_fd = -1;
		int r;
		if (hdr->type == TN_RPC_OPTION_RING)
			r = option_ring(c, fds[0]);
		else
			r = sockets_request(ctl->d->sockets, &c->owner, hdr->type, msg, hdr->length,
					    fds, nfds, &reply, &reply_fd);
		for (unsigned i = 0; i < nfds; i++)
			closer_close(fds[i]); /* the client's: see closer.h */
		if (r == -ENOTSOCK)
			DAEMON_COUNT(ctl->d, CtlFdsRefused, nfds);
		if (r < 0)
			return client_send_error(c, hdr->id, -r, strerror(-r));
		long len = tn_rpc_end(&reply);
		if (len < 0) {
			if (reply_fd >= 0)
				close(reply_fd);
			return client_send_error(c, hdr->id, EMSGSIZE, "reply does not fit");
		}
		return client_send(c, ctl->reply, (size_t)len, reply_fd);
	}

	const struct ctl_request *req = find_request(hdr->type);
	if (!req) {
		snprintf(text, sizeof(text), "unknown request type %u", hdr->type);
		return client_send_error(c, hdr->id, EOPNOTSUPP, text);
	}
	tn_rpc_begin(&reply, ctl->reply, sizeof(ctl->reply), hdr->type | TN_RPC_REPLY, hdr->id);
	int r = req->handle(c, hdr, msg, &reply);
	if (r == CTL_DROP)
		return false;
	if (r == CTL_SENT)
		return true;
	if (r < 0)
		return client_send_error(c, hdr->id, -r, strerror(-r));
	long len = tn_rpc_end(&reply);
	if (len < 0) {
		snprintf(text, sizeof(text), "%s reply does not fit in one message",
			 tn_rpc_type_name(hdr->type));
		return client_send_error(c, hdr->id, EMSGSIZE, text);
	}
	return client_send(c, ctl->reply, (size_t)len, -1);
}

/* Handles every whole message in c->in; keeps a partial one. false: the client is gone. */
static bool client_process_input(struct ctl_client *c)
{
	size_t off = 0;

	while (off < c->in_len) {
		struct tn_rpc_header hdr;
		enum tn_rpc_parse r = tn_rpc_parse_header(c->in + off, c->in_len - off, &hdr);
		if (r == TN_RPC_NEED_MORE)
			break;
		if (r != TN_RPC_OK) {
			client_drop_bad(c, "sent a malformed message header");
			return false;
		}
		if (c->in_len - off < hdr.length)
			break;
		if (!client_handle(c, &hdr, c->in + off))
			return false;
		off += hdr.length;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	c->in_base += off;
	return true;
}

/*
 * Queues every fd in msg's control data as belonging to stream offset pos;
 * those that do not fit are closed. Returns how many did not fit.
 */
static unsigned queue_passed_fds(struct ctl_client *c, struct msghdr *msg, uint64_t pos)
{
	unsigned dropped = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (c->fdq_len < CTL_FDQ_MAX) {
				c->fdq[c->fdq_len] = fd;
				c->fdq_pos[c->fdq_len++] = pos;
			} else {
				closer_close(fd);
				dropped++;
			}
		}
	}
	return dropped;
}

static void client_readable(struct ctl_client *c)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CTL_FDS_MAX)];
	} control;
	struct iovec iov = { c->in + c->in_len, TN_RPC_MAX_MSG - c->in_len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};

	if (iov.iov_len == 0) { /* cannot happen: a message is at most the buffer */
		client_drop_bad(c, "overflowed its input buffer");
		return;
	}
	ssize_t n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c, strerror(errno));
		return;
	}
	if (n > 0 && queue_passed_fds(c, &msg, c->in_base + c->in_len + (size_t)n - 1)) {
		client_drop_bad(c, "passed more file descriptors than any request takes");
		return;
	}
	if (n == 0 && queue_passed_fds(c, &msg, 0)) {
		client_drop_bad(c, "passed file descriptors without data");
		return;
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		client_drop_bad(c, "passed more file descriptors than any request takes");
		return;
	}
	if (n == 0) {
		client_close(c, c->in_len ? "hung up in the middle of a message" : "hung up");
		return;
	}
	/*
	 * A short read that brought no descriptors took all the connection
	 * held (a Unix stream read stops early only at a message carrying
	 * descriptors, or from another process, and each process has its
	 * own connection): its sockets' pumps need not ask again in this
	 * iteration (sockets_pump.c).
	 */
	if ((size_t)n < iov.iov_len && msg.msg_controllen == 0)
		sockets_owner_read_all(&c->owner, ev_iteration(c->ctl->d->loop));
	c->in_len += (size_t)n;
	if (client_process_input(c))
		daemon_rearm_timer(c->ctl->d); /* requests may touch the stack */
}

static void client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ctl_client *c = w->data;

	daemon_note_io(c->ctl->d);
	if (revents & EV_WRITE) {
		client_flush(c);
		return; /* c may be gone; a pending read is seen at the next wakeup */
	}
	if (revents & EV_READ)
		client_readable(c);
}

/*
 * Without a socket of its own (a spare for the next socket() is not one of
 * them yet) and without a request for client_idle_timeout,
 * a connection only holds one of max_clients(_per_user): its slot may then
 * be given to a new connection that would otherwise be refused
 * (reclaim_idle). It is not closed before that: a process under `tapnet
 * run` made it before it dropped its privileges (a server's worker) and
 * could not make another one.
 */
static void idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct ctl_client *c = w->data;

	(void)loop;
	(void)revents;
	/* a trace reader, or a reset watcher, asks nothing and is not idle */
	c->idle_expired = c->sub == NULL && !c->reset_watch;
}

/*
 * A slot for a new connection of uid (any uid: (uid_t)-1): closes the
 * connection idle longest of those that expired, if there is one.
 */
static bool reclaim_idle(struct control *ctl, uid_t uid)
{
	struct ctl_client *victim = NULL;

	for (struct ctl_client *c = ctl->clients; c; c = c->next) {
		if (!c->idle_expired || c->owner.nsockets > c->owner.nspares || c->out_len > c->out_off ||
		    (uid != (uid_t)-1 && c->cred.uid != uid))
			continue;
		if (!victim || c->serial < victim->serial)
			victim = c;
	}
	if (!victim)
		return false;
	DAEMON_COUNT(ctl->d, CtlIdleCloses, 1);
	client_close(victim, "idle, its slot taken by a new connection");
	return true;
}

/* Over max_clients(_per_user): say why (best effort, never blocking), then hang up. */
static void client_reject(struct control *ctl, int fd, const struct ucred *cred, const char *text)
{
	uint64_t suppressed;
	char note[64];

	DAEMON_COUNT(ctl->d, CtlRejects, 1);
	long len = tn_rpc_encode_error(ctl->reply, sizeof(ctl->reply), 0, EMFILE, text);
	if (len > 0 && send(fd, ctl->reply, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("cannot tell a rejected client why: %s", strerror(errno));
	closer_close(fd); /* it may have passed fds already */
	if (log_ratelimit_ok(&ctl->reject_log, &suppressed))
		log_warning("control connection from pid %ld uid %ld refused: %s%s", (long)cred->pid,
			    (long)cred->uid, text, log_suppressed_note(suppressed, note));
}

/*
 * May the client on fd bind ports below 1024, as Linux asks: uid 0, or
 * CAP_NET_BIND_SERVICE in its effective set. Decided once, from what held
 * when it connected, never again: a process that gains privileges later
 * (an exec of a set-uid program that inherited the connection) keeps the
 * connection's answer. The peer's pidfd (SO_PEERPIDFD: the very process
 * that connected) pins it while its capabilities are read with capget(2)
 * (by pid: no /proc needed, so ProtectProc=invisible does not matter),
 * and must still show it alive afterwards, so that a pid another process
 * took over is never the one asked. Kernels before 6.5 have no
 * SO_PEERPIDFD: pidfd_open() of SO_PEERCRED's pid then, which leaves a
 * pid reused between the connect and this moment undetected.
 */
static bool peer_may_bind_low(int fd, const struct ucred *cred)
{
	if (cred->uid == 0)
		return true;
	if (cred->pid <= 0)
		return false;
	int pidfd = -1;
	socklen_t len = sizeof(pidfd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		pidfd = (int)syscall(SYS_pidfd_open, cred->pid, 0);
	if (pidfd < 0)
		return false;
	bool ok = false;
	cap_t caps = cap_get_pid(cred->pid);
	if (caps) {
		cap_flag_value_t v = CAP_CLEAR;
		ok = cap_get_flag(caps, CAP_NET_BIND_SERVICE, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
		cap_free(caps);
	}
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	if (poll(&p, 1, 0) != 0)
		ok = false; /* it exited: the pid may be another process's now */
	close(pidfd);
	return ok;
}

static void client_new(struct control *ctl, int fd, const struct ucred *cred)
{
	struct ctl_client *c = calloc(1, sizeof(*c));
	char desc[160];

	if (c)
		c->in = malloc(TN_RPC_MAX_MSG);
	if (!c || !c->in) {
		log_warning("out of memory for a control connection; closed");
		if (c)
			free(c->in);
		free(c);
		closer_close(fd);
		return;
	}
	c->owner.cred = *cred;
	c->owner.may_bind_low = peer_may_bind_low(fd, cred);
	int rc = sockets_owner_attach(ctl->d->sockets, &c->owner);
	if (rc == -EMFILE && reclaim_idle(ctl, cred->uid))
		rc = sockets_owner_attach(ctl->d->sockets, &c->owner);
	if (rc < 0) {
		char text[96];
		if (rc == -EMFILE)
			snprintf(text, sizeof(text), "too many connections of uid %ld "
				 "(max_clients_per_user = %u)", (long)cred->uid,
				 ctl->d->cfg.max_clients_per_user);
		else
			snprintf(text, sizeof(text), "%s", strerror(-rc));
		free(c->in);
		free(c);
		client_reject(ctl, fd, cred, text);
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	c->cred = *cred;
	c->serial = ++ctl->next_serial;
	c->owner.serial = c->serial;
	c->owner.ctl_fd = fd;
	c->next = ctl->clients;
	if (c->next)
		c->next->prev = c;
	ctl->clients = c;
	ctl->n_clients++;
	ctl->d->counters[DCTR_CtlClients] = ctl->n_clients;
	DAEMON_COUNT(ctl->d, CtlAccepts, 1);

	ev_io_init(&c->io, client_io_cb, fd, EV_READ);
	/* requests before pair data in one wakeup: a setsockopt sent without waiting
	 * keeps its place before the bytes written after it (sockets_opt.c) */
	ev_set_priority(&c->io, EV_MAXPRI);
	c->io.data = c;
	ev_io_start(ctl->d->loop, &c->io);
	ev_init(&c->idle, idle_cb);
	c->idle.data = c;
	c->idle.repeat = ctl->d->cfg.client_idle_timeout_ms / 1000.;
	if (c->idle.repeat > 0.)
		ev_timer_again(ctl->d->loop, &c->idle);
	log_debug("%s: connected", client_desc(c, desc, sizeof(desc)));
}

/* ------------------------------------------------------------------ accepting */

static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control *ctl = w->data;

	ev_io_start(loop, &ctl->accept_io);
}

/* Out of fds: the listening socket stays readable, so stop looking at it for a while. */
static void accept_pause(struct control *ctl, int err)
{
	uint64_t suppressed;
	char note[64];

	if (log_ratelimit_ok(&ctl->accept_log, &suppressed))
		log_warning("cannot accept control connections: %s; pausing%s", strerror(err),
			    log_suppressed_note(suppressed, note));
	ev_io_stop(ctl->d->loop, &ctl->accept_io);
	ev_timer_set(&ctl->accept_pause, CTL_ACCEPT_PAUSE, 0.);
	ev_timer_start(ctl->d->loop, &ctl->accept_pause);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control *ctl = w->data;

	for (int i = 0; i < CTL_ACCEPT_BATCH; i++) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				accept_pause(ctl, errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warning("cannot accept a control connection: %s", strerror(errno));
			return;
		}
		struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
			log_debug("cannot read a client's credentials: %s", strerror(errno));
		if (ctl->n_clients >= ctl->d->cfg.max_clients && !reclaim_idle(ctl, (uid_t)-1)) {
			char text[80];
			snprintf(text, sizeof(text), "too many clients (max_clients = %u)",
				 ctl->d->cfg.max_clients);
			client_reject(ctl, fd, &cred, text);
		} else {
			client_new(ctl, fd, &cred);
		}
	}
}

/* ------------------------------------------------------------------ the socket file */

/*
 * Creates the socket's directory if missing (only that one level), or
 * checks the one that is there: a directory (not a symlink to one), owned
 * by root or by the user tapnetd runs as, and not open to writing by
 * others unless sticky; otherwise someone else could swap the socket for
 * something of theirs. Owner and mode are set through an fd of the
 * directory itself, never by a path that a symlink could redirect.
 */
static int make_parent_dir(const char *path, const struct privs *privs)
{
	char dir[CONFIG_SOCKET_PATH_MAX];
	struct stat st;
	bool created = false;
	uid_t runs_as = privs->started_as_root ? privs->uid : geteuid();

	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0; /* in "/" */
	*slash = '\0';

	if (mkdir(dir, 0755) == 0) {
		created = true;
	} else if (errno != EEXIST) {
		log_error("cannot create directory %s for the control socket: %s", dir, strerror(errno));
		return -1;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_error("%s: %s", dir, errno == ELOOP || errno == ENOTDIR ?
			  "not a directory (a symlink is not accepted)" : strerror(errno));
		return -1;
	}
	int rc = 0;
	if (created) {
		/* umask may have narrowed it; others need to reach the socket inside */
		if (fchmod(fd, 0755) < 0 ||
		    (privs->started_as_root && fchown(fd, privs->uid, privs->gid) < 0)) {
			log_error("cannot set owner and mode of %s: %s", dir, strerror(errno));
			rc = -1;
		} else {
			log_info("created directory %s for the control socket", dir);
		}
	} else if (fstat(fd, &st) < 0) {
		log_error("cannot check %s: %s", dir, strerror(errno));
		rc = -1;
	} else if (st.st_uid != 0 && st.st_uid != runs_as) {
		log_error("%s belongs to uid %ld, neither root nor tapnetd's user; not using it", dir,
			  (long)st.st_uid);
		rc = -1;
	} else if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		log_error("%s may be written by others (mode %04o) and is not sticky; not using it",
			  dir, (unsigned)(st.st_mode & 07777));
		rc = -1;
	}
	close(fd);
	return rc;
}

static void fill_address(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);
}

/*
 * A socket file left at path: if something answers on it, another tapnetd
 * runs and we must not steal its socket; if nothing does, it is stale.
 */
static int remove_stale_socket(const char *path)
{
	struct stat st;
	struct sockaddr_un sun;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		log_error("cannot check control socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_error("%s exists and is not a socket; not replacing it", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("cannot create a socket: %s", strerror(errno));
		return -1;
	}
	fill_address(&sun, path);
	int r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	int err = errno;
	close(fd);
	if (r == 0) {
		log_error("another tapnetd is already listening on %s", path);
		return -1;
	}
	if (err != ECONNREFUSED) {
		log_error("cannot check control socket %s: %s", path, strerror(err));
		return -1;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("cannot remove stale control socket %s: %s", path, strerror(errno));
		return -1;
	}
	log_notice("removed stale control socket %s", path);
	return 0;
}

static int bind_socket(struct control *ctl, const struct daemon_config *cfg, const struct privs *privs)
{
	struct sockaddr_un sun;

	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0) {
		log_error("cannot create the control socket: %s", strerror(errno));
		return -1;
	}
	fill_address(&sun, ctl->path);
	/* main() set umask 077: nobody else can connect before the chmod below */
	if (bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		log_error("cannot bind control socket %s: %s", ctl->path, strerror(errno));
		return -1;
	}
	ctl->bound = true;
	/* never through a symlink someone put in the socket's place */
	if (fchmodat(AT_FDCWD, ctl->path, cfg->control_socket_mode, AT_SYMLINK_NOFOLLOW) < 0) {
		log_error("cannot set mode %04o on %s: %s", (unsigned)cfg->control_socket_mode,
			  ctl->path, strerror(errno));
		return -1;
	}
	uid_t owner = privs->started_as_root ? privs->uid : (uid_t)-1;
	if (lchown(ctl->path, owner, privs->gid) < 0) {
		if (privs->started_as_root) {
			log_error("cannot set owner of %s: %s", ctl->path, strerror(errno));
			return -1;
		}
		/* unprivileged and not in that group: the socket keeps our own group */
		log_warning("cannot give %s to group %s: %s", ctl->path, cfg->group, strerror(errno));
	}
	if (listen(ctl->fd, SOMAXCONN) < 0) {
		log_error("cannot listen on control socket %s: %s", ctl->path, strerror(errno));
		return -1;
	}
	return 0;
}

struct control *control_open(struct tapnetd *d)
{
	struct control *ctl = calloc(1, sizeof(*ctl));

	if (!ctl) {
		log_error("out of memory for the control socket");
		return NULL;
	}
	ctl->d = d;
	ctl->fd = -1;
	snprintf(ctl->path, sizeof(ctl->path), "%s", d->cfg.control_socket);
	ctl->reject_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 5);
	ctl->bad_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(5, 5);
	ctl->accept_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(10, 3);
	ctl->arp_cap = d->cfg.core.arp_cache_size;
	ctl->arp = calloc(ctl->arp_cap, sizeof(*ctl->arp));
	d->trace = trace_new(d);
	ev_io_init(&ctl->accept_io, accept_cb, -1, EV_READ);
	ev_timer_init(&ctl->accept_pause, accept_pause_cb, CTL_ACCEPT_PAUSE, 0.);
	ctl->accept_io.data = ctl->accept_pause.data = ctl;

	if (!ctl->arp || !d->trace) {
		log_error("out of memory for the control socket");
		goto fail;
	}
	if (make_parent_dir(ctl->path, &d->privs) < 0 || remove_stale_socket(ctl->path) < 0 ||
	    bind_socket(ctl, &d->cfg, &d->privs) < 0)
		goto fail;

	ev_io_set(&ctl->accept_io, ctl->fd, EV_READ);
	ev_io_start(d->loop, &ctl->accept_io);
	ev_check_init(&ctl->ring_check, ring_check_cb);
	ctl->ring_check.data = ctl;
	ev_set_priority(&ctl->ring_check, EV_MAXPRI);
	ev_check_start(d->loop, &ctl->ring_check);
	log_info("control socket %s listening (mode %04o)", ctl->path,
		 (unsigned)d->cfg.control_socket_mode);
	return ctl;
fail:
	control_close(ctl);
	return NULL;
}

unsigned control_client_count(const struct control *ctl)
{
	return ctl ? ctl->n_clients : 0;
}

void control_apply_limits(struct control *ctl)
{
	if (ctl)
		sockets_apply_limits(ctl->d->sockets);
}

void control_close(struct control *ctl)
{
	if (!ctl)
		return;
	while (ctl->clients)
		client_free(ctl->clients);
	trace_free(ctl->d->trace); /* its subscribers were clients */
	ctl->d->trace = NULL;
	ev_io_stop(ctl->d->loop, &ctl->accept_io);
	ev_timer_stop(ctl->d->loop, &ctl->accept_pause);
	ev_check_stop(ctl->d->loop, &ctl->ring_check);
	if (ctl->fd >= 0)
		close(ctl->fd);
	/* After the privilege drop this needs write access to the directory. */
	if (ctl->bound && unlink(ctl->path) < 0 && errno != ENOENT)
		log_warning("cannot remove control socket %s: %s", ctl->path, strerror(errno));
	free(ctl->arp);
	free(ctl);
}
