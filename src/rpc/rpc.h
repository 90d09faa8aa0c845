/*
 * rpc.h - the tapnet control protocol between tapnetd and its clients
 * (the `tapnet` CLI, libtapnet and the LD_PRELOAD shim), over a Unix
 * stream socket.
 *
 * Every message is a 16-byte header followed by attributes:
 *
 *   header:    u32 length   whole message, header included, <= TN_RPC_MAX_MSG
 *              u16 version  TN_RPC_VERSION
 *              u16 type     enum tn_rpc_type; replies set TN_RPC_REPLY
 *              u32 id       chosen by the requester, echoed in the reply
 *              u32 flags    must be 0 (reserved)
 *   attribute: u16 type, u16 length (of the value), value, zero padding to 4
 *
 * All integers are little-endian on the wire. Nested attributes (a list
 * entry) are an attribute whose value is itself a run of attributes.
 * A peer that sends a malformed message loses its connection; nothing else.
 */
#ifndef TAPNET_RPC_H
#define TAPNET_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#define TN_RPC_VERSION 1
#define TN_RPC_HDR_LEN 16
#define TN_RPC_MAX_MSG 65536 /* hard limit, both directions */
#define TN_RPC_ATTR_HDR_LEN 4
#define TN_RPC_MAX_DEPTH 4   /* nesting depth a decoder accepts */
/* An ERROR with this id is about the connection, not one request (a refused client). */
#define TN_RPC_CONNECTION_ID 0

enum tn_rpc_type {
	TN_RPC_HELLO = 1,  /* req: CLIENT_NAME; reply: VERSION_STR, PID */
	TN_RPC_STATUS = 2, /* reply: see tn_rpc_attr STATUS_* */
	TN_RPC_STATS = 3,  /* reply: COUNTER nests of {NAME, VALUE} */
	TN_RPC_ARP = 4,    /* reply: ARP_ENTRY nests */
	TN_RPC_SOCKETS = 5, /* req: [SS_START]; reply: SS_TOTAL, SOCK nests, [SS_TRUNCATED] */
	TN_RPC_TIMEWAIT = 6, /* reply: TW_TOTAL, TW_ENTRY nests (oldest first), [TW_TRUNCATED] */
	/*
	 * TRACE (`tapnet trace`, `tapnet capture`): req [TRACE_FILTER]; reply
	 * empty. From then on the connection only receives TRACE_EVENT
	 * messages (type TRACE_EVENT | REPLY, id TN_RPC_CONNECTION_ID), one per
	 * event (a frame longer than TN_RPC_TRACE_CHUNK goes on in FRAME_CONT
	 * messages right after it); any further request costs the connection.
	 * A reader too slow for the stream loses events: the next message it
	 * gets is a LOST event saying how many. See src/daemon/trace.c.
	 */
	TN_RPC_TRACE = 7,
	TN_RPC_TRACE_EVENT = 8, /* TRACE_KIND, TRACE_TIME_NS and what the kind carries */
	/*
	 * Socket operations (libtapnet). Every one but SOCKET carries, with
	 * SCM_RIGHTS on the same sendmsg() as the message's bytes, exactly one
	 * fd: the client's end B of the socket's pair, which names the socket
	 * (the daemon finds it by B's SO_COOKIE and closes the copy it
	 * received). SOCKET carries none: the daemon makes the pair and its
	 * reply carries B. A client has at most one request with fds
	 * outstanding; fds with any other message cost it the connection. See
	 * src/daemon/sockets_req.c for what each does.
	 */
	TN_RPC_SOCKET = 16,     /* reply: empty, with fd B (not writable until connected) */
	TN_RPC_BIND = 17,       /* fd B; ADDR, PORT */
	TN_RPC_LISTEN = 18,     /* fd B; BACKLOG */
	TN_RPC_CONNECT = 19,    /* fd B; ADDR, PORT; reply empty = started (EINPROGRESS) */
	TN_RPC_SHUTDOWN = 20,   /* fd B; HOW (TN_SHUT_*); the client shuts B's write side itself */
	TN_RPC_GETNAME = 21,    /* fd B; PEER (0 local, 1 peer); reply: ADDR, PORT */
	TN_RPC_SETSOCKOPT = 22, /* fd B; LEVEL, OPTNAME, OPTVAL */
	TN_RPC_GETSOCKOPT = 23, /* fd B; LEVEL, OPTNAME, OPTLEN; reply: OPTVAL */
	/*
	 * COOKIE, LEVEL, OPTNAME, OPTVAL (at most 8 bytes), [PAIR_EMPTY]; no
	 * fd, NO reply, not even an error: for options whose outcome the
	 * client knows (it validated the value as Linux would). The socket is
	 * named by B's cookie rather than by B itself, which would cost the
	 * daemon an fd to receive and close per call; only the socket's own
	 * user (uid) may name it so. Applies after the bytes the program wrote
	 * to B before the call (src/daemon/sockets_opt.c); a failure is
	 * counted (SockOptNowaitErrors) and logged by the daemon.
	 */
	TN_RPC_SETSOCKOPT_NOWAIT = 24,
	/*
	 * RESETS (the seccomp supervisor of `tapnet run`): req empty; reply
	 * empty. From then on the connection only receives RESET_NOTICE
	 * messages (type RESET_NOTICE | REPLY, id TN_RPC_CONNECTION_ID), each
	 * with the COOKIE of a socket made through any connection of the same
	 * process (pid and uid) that the peer reset while nothing the program
	 * wrote waited in the pair: a program that reads its socket with
	 * system calls of its own reads end-of-file there unless one byte
	 * comes into A from B before tapnetd closes A (then B's next read,
	 * after the data, fails with ECONNRESET, as a kernel socket's does).
	 * The watcher sends that byte through its copy of the program's fd;
	 * tapnetd closes A once it is there, or after RESET_WAIT_MS (then the
	 * program reads end-of-file, as it would without a watcher). One
	 * watcher per process; any further request costs the connection.
	 */
	TN_RPC_RESETS = 25,
	TN_RPC_RESET_NOTICE = 26, /* COOKIE */
	/*
	 * OPTION_RING: fd, a memfd of TN_OPTRING_SIZE bytes sealed against
	 * shrinking and growing (struct tn_optring); reply empty. From then on
	 * the client writes its SETSOCKOPT_NOWAIT requests into that memory
	 * instead of sending them, and the daemon reads them there: before
	 * any request of this connection, after every wait or poll of its loop
	 * before it reads any pair, and before it sleeps. A second OPTION_RING
	 * (after exec, the same connection) replaces the first, whose
	 * requests are read first. See src/daemon/optring.c.
	 */
	TN_RPC_OPTION_RING = 27,
	/*
	 * OPTION_RING_WAKE: empty, NO reply. The ring has requests and the
	 * daemon said it may be asleep (tn_optring.sleeping).
	 */
	TN_RPC_OPTION_RING_WAKE = 28,
	TN_RPC_TYPE__MAX,

	TN_RPC_ERROR = 0x7fff, /* reply to any request: ERRNO, MESSAGE */
	TN_RPC_REPLY = 0x8000, /* flag or'ed into the request's type */
};

enum tn_rpc_attr {
	TN_ATTR_ERRNO = 1,       /* u32, positive errno value */
	TN_ATTR_MESSAGE = 2,     /* string */
	TN_ATTR_CLIENT_NAME = 3, /* string */
	TN_ATTR_VERSION_STR = 4, /* string, package version */
	TN_ATTR_PID = 5,         /* u32 */

	TN_ATTR_UPTIME_MS = 10,  /* u64 */
	TN_ATTR_IFNAME = 11,     /* string */
	TN_ATTR_IFINDEX = 12,    /* u32 */
	TN_ATTR_MAC = 13,        /* 6 bytes */
	TN_ATTR_ADDR = 14,       /* u32 IPv4, host order value */
	TN_ATTR_PREFIX_LEN = 15, /* u32 */
	TN_ATTR_GATEWAY = 16,    /* u32 IPv4 */
	TN_ATTR_MTU = 17,        /* u32 */
	TN_ATTR_CLIENTS = 18,    /* u32, control connections open */
	TN_ATTR_LOG_LEVEL = 19,  /* string */
	TN_ATTR_SOCKETS = 20,    /* u32, tapnet sockets of clients open */
	TN_ATTR_BUFFER_BYTES = 21, /* u64, buffer space their connections reserve */
	TN_ATTR_BUFFER_LIMIT = 22, /* u64, max_buffer_bytes */

	TN_ATTR_COUNTER = 30,    /* nest: NAME, VALUE */
	TN_ATTR_NAME = 31,       /* string */
	TN_ATTR_VALUE = 32,      /* u64 */

	TN_ATTR_ARP_ENTRY = 40,  /* nest: ADDR, MAC, STATE, EXPIRES_MS, QUEUED */
	TN_ATTR_STATE = 41,      /* string */
	TN_ATTR_EXPIRES_MS = 42, /* u64, relative; absent when it never expires */
	TN_ATTR_QUEUED = 43,     /* u32 */

	/* socket operations */
	TN_ATTR_FILLER = 60,     /* unused: the daemon fills B itself now */
	TN_ATTR_PORT = 61,       /* u32, TCP port, host order value */
	TN_ATTR_BACKLOG = 62,    /* u32 */
	TN_ATTR_HOW = 63,        /* u32, TN_SHUT_RD/WR/RDWR */
	TN_ATTR_PEER = 64,       /* u32, 0: getsockname, 1: getpeername */
	TN_ATTR_LEVEL = 65,      /* u32, Linux SOL_SOCKET / IPPROTO_TCP / IPPROTO_IP */
	TN_ATTR_OPTNAME = 66,    /* u32, Linux option number */
	TN_ATTR_OPTVAL = 67,     /* bytes, at most TN_RPC_OPTVAL_MAX */
	TN_ATTR_OPTLEN = 68,     /* u32, room the caller has for the value */
	TN_ATTR_PAIR_EMPTY = 69, /* u32 1, SETSOCKOPT_NOWAIT: the daemon had taken every byte
				  * written to B before the call (B's SIOCOUTQ was 0; it counts
				  * buffer memory, not bytes, so 0 is all it can say); not
				  * looked for with a pushing option (tn_rpc_option_pushes) */
	TN_ATTR_COOKIE = 70,     /* u64, SETSOCKOPT_NOWAIT: B's SO_COOKIE, naming the socket */
	TN_ATTR_RENEW = 71,      /* u32 TN_RENEW_*, CONNECT: if the socket's last connect
				  * failed, a new socket with its settings connects, and its
				  * B comes back with the reply for the client to put in the
				  * old one's place (the shim, or the seccomp supervisor in
				  * the program's) */
	TN_ATTR_SPARE = 72,      /* u32 1, CONNECT: a new socket for the client's next
				  * socket() comes with the reply if limits allow (its B is
				  * the reply's fd, and the reply says SPARE), as the next
				  * call after a connect is often a socket() for another */

	/*
	 * SOCKETS (`tapnet ss`): the core's sockets, oldest first, as many as
	 * fit in one message from index SS_START (default 0) on. SS_TOTAL is
	 * how many exist; SS_TRUNCATED, present when the reply stops short of
	 * the end, is the index to ask for next.
	 */
	TN_ATTR_SS_START = 100,    /* u32, request */
	TN_ATTR_SS_TOTAL = 101,    /* u32 */
	TN_ATTR_SS_TRUNCATED = 102, /* u32, index of the first socket not in this reply */
	TN_ATTR_SOCK = 103,        /* nest: STATE and the SOCK_* below; absent ones are unknown */
	TN_ATTR_SOCK_LADDR = 104,  /* u32 IPv4 */
	TN_ATTR_SOCK_LPORT = 105,  /* u32 */
	TN_ATTR_SOCK_RADDR = 106,  /* u32 IPv4 */
	TN_ATTR_SOCK_RPORT = 107,  /* u32 */
	TN_ATTR_SOCK_RECV_Q = 108, /* u32, bytes not read (listener: accept queue) */
	TN_ATTR_SOCK_SEND_Q = 109, /* u32, bytes not acknowledged (listener: backlog) */
	TN_ATTR_SOCK_RTT_US = 110, /* u32, smoothed RTT */
	TN_ATTR_SOCK_RTTVAR_US = 111, /* u32 */
	TN_ATTR_SOCK_RTO_MS = 112, /* u32 */
	TN_ATTR_SOCK_MSS = 113,    /* u32, payload per full segment sent */
	TN_ATTR_SOCK_RCV_MSS = 114, /* u32, largest segment received, estimated */
	TN_ATTR_SOCK_CWND = 115,   /* u32, segments */
	TN_ATTR_SOCK_SSTHRESH = 116, /* u32, segments; absent while unset */
	TN_ATTR_SOCK_SND_WND = 117, /* u32, bytes */
	TN_ATTR_SOCK_RCV_WND = 118, /* u32, bytes */
	TN_ATTR_SOCK_WSCALE = 119, /* u32, send scale << 8 | receive scale */
	TN_ATTR_SOCK_FLAGS = 120,  /* u32, TN_SOCK_F_* */
	TN_ATTR_SOCK_RETRANS = 121, /* u32, consecutive timeouts now */
	TN_ATTR_SOCK_TOTAL_RETRANS = 122, /* u64 */
	TN_ATTR_SOCK_BYTES_ACKED = 123,    /* u64 */
	TN_ATTR_SOCK_BYTES_RECEIVED = 124, /* u64 */
	TN_ATTR_SOCK_CC = 125,     /* string, congestion control ("cubic", "reno") */

	/*
	 * TIMEWAIT (`tapnet timewait`): the TIME_WAIT entries, oldest first, as
	 * many as fit in one message. TW_TOTAL is how many exist; TW_TRUNCATED,
	 * present when the reply lists fewer, is how many it lists.
	 */
	TN_ATTR_TW_TOTAL = 130,     /* u32 */
	TN_ATTR_TW_TRUNCATED = 131, /* u32, entries in this reply */
	TN_ATTR_TW_ENTRY = 132,     /* nest: TW_LADDR, TW_LPORT, TW_RADDR, TW_RPORT, EXPIRES_MS */
	TN_ATTR_TW_LADDR = 133,     /* u32 IPv4 */
	TN_ATTR_TW_LPORT = 134,     /* u32 */
	TN_ATTR_TW_RADDR = 135,     /* u32 IPv4 */
	TN_ATTR_TW_RPORT = 136,     /* u32 */

	/* SOCK, loss recovery (`tapnet ss -i`, as Linux's ss -i shows it) */
	TN_ATTR_SOCK_CA_STATE = 140, /* string: "open", "recovery" (fast), "loss" (after an RTO) */
	TN_ATTR_SOCK_LOST = 141,     /* u32, segments presumed lost, not yet retransmitted */
	TN_ATTR_SOCK_SACKED = 142,   /* u32, segments SACKed above snd_una */
	TN_ATTR_SOCK_MIN_RTT_US = 143, /* u32, RACK's minimum RTT; absent before a sample */

	/* TRACE and TRACE_EVENT */
	TN_ATTR_TRACE_FILTER = 150,   /* string, request: tcpdump-like words (tools/trace_filter.h) */
	TN_ATTR_TRACE_KIND = 151,     /* u32, enum tn_trace_kind */
	TN_ATTR_TRACE_TIME_NS = 152,  /* u64, CLOCK_REALTIME */
	TN_ATTR_TRACE_FRAME = 153,    /* bytes: the frame (its first TN_RPC_TRACE_CHUNK, or the rest) */
	TN_ATTR_TRACE_FRAME_LEN = 154, /* u32, the whole frame's length */
	TN_ATTR_TRACE_GSO_TYPE = 155, /* u32, the frame's struct tn_frame_meta, */
	TN_ATTR_TRACE_GSO_SIZE = 156, /* u32   from or for the virtio-net header */
	TN_ATTR_TRACE_CSUM_START = 157,  /* u32 */
	TN_ATTR_TRACE_CSUM_OFFSET = 158, /* u32 */
	TN_ATTR_TRACE_META_FLAGS = 159,  /* u32 */
	TN_ATTR_TRACE_FROM = 160,     /* u32, STATE: enum tn_tcp_state */
	TN_ATTR_TRACE_TO = 161,       /* u32 */
	TN_ATTR_TRACE_TW_EVENT = 162, /* u32, TIMEWAIT: enum tn_trace_tw */
	TN_ATTR_TRACE_REMAINING_MS = 163, /* u32 */
	TN_ATTR_TRACE_LOST = 164,     /* u64, LOST: events dropped since the last LOST */
	/* STATE and TIMEWAIT carry the connection as SOCK_LADDR, SOCK_LPORT, SOCK_RADDR, SOCK_RPORT */
	/* SOCK, buffers (`tapnet ss -i`: Linux's skmem rb/tb and rcv_space) */
	TN_ATTR_SOCK_RCVBUF = 170,     /* u32, receive buffer size now, bytes */
	TN_ATTR_SOCK_SNDBUF = 171,     /* u32, send buffer size now, bytes */
	TN_ATTR_SOCK_RCV_SPACE = 172,  /* u32, bytes read in the last measured round trip */
};

/*
 * TN_ATTR_RENEW: when a connect again after a failed one starts anew. As
 * Linux: at once where a connect reported the failure (a blocking one);
 * after a non-blocking one's failure the next connect reports it (its
 * pending error, or ECONNABORTED once read), and the one after starts anew.
 */
enum { TN_RENEW_NOW = 1, TN_RENEW_AFTER_REPORT = 2 };

/* TN_ATTR_TRACE_KIND */
enum tn_trace_kind {
	TN_TRACE_FRAME_IN = 1,  /* read from the tap: to tapnet */
	TN_TRACE_FRAME_OUT = 2, /* written to the tap: from tapnet */
	TN_TRACE_FRAME_CONT = 3, /* the rest of the previous message's frame */
	TN_TRACE_KIND_STATE = 4,
	TN_TRACE_KIND_TIMEWAIT = 5,
	TN_TRACE_KIND_LOST = 6,
};
#define TN_RPC_TRACE_CHUNK 32768 /* frame bytes per TRACE_EVENT message at most */

#define TN_RPC_OPTVAL_MAX 256

/*
 * The attributes of a SOCK nest, one table for the daemon's encoder
 * (control.c) and the CLI's decoder (`tapnet ss`): X(attribute, kind,
 * name), kind one of u32, u64, str. An encoder leaves out what it does not
 * have (struct tn_rpc_sock's has_NAME); a decoder takes what comes.
 */
#define TN_RPC_SOCK_ATTRS(X)                                \
	X(TN_ATTR_STATE, str, state)                        \
	X(TN_ATTR_SOCK_LADDR, u32, laddr)                   \
	X(TN_ATTR_SOCK_LPORT, u32, lport)                   \
	X(TN_ATTR_SOCK_RADDR, u32, raddr)                   \
	X(TN_ATTR_SOCK_RPORT, u32, rport)                   \
	X(TN_ATTR_SOCK_RECV_Q, u32, recv_q)                 \
	X(TN_ATTR_SOCK_SEND_Q, u32, send_q)                 \
	X(TN_ATTR_SOCK_RTT_US, u32, rtt_us)                 \
	X(TN_ATTR_SOCK_RTTVAR_US, u32, rttvar_us)           \
	X(TN_ATTR_SOCK_RTO_MS, u32, rto_ms)                 \
	X(TN_ATTR_SOCK_MSS, u32, mss)                       \
	X(TN_ATTR_SOCK_RCV_MSS, u32, rcv_mss)               \
	X(TN_ATTR_SOCK_CWND, u32, cwnd)                     \
	X(TN_ATTR_SOCK_SSTHRESH, u32, ssthresh)             \
	X(TN_ATTR_SOCK_SND_WND, u32, snd_wnd)               \
	X(TN_ATTR_SOCK_RCV_WND, u32, rcv_wnd)               \
	X(TN_ATTR_SOCK_WSCALE, u32, wscale)                 \
	X(TN_ATTR_SOCK_FLAGS, u32, flags)                   \
	X(TN_ATTR_SOCK_RETRANS, u32, retrans)               \
	X(TN_ATTR_SOCK_TOTAL_RETRANS, u64, total_retrans)   \
	X(TN_ATTR_SOCK_BYTES_ACKED, u64, bytes_acked)       \
	X(TN_ATTR_SOCK_BYTES_RECEIVED, u64, bytes_received) \
	X(TN_ATTR_SOCK_CC, str, cc)                         \
	X(TN_ATTR_SOCK_CA_STATE, str, ca_state)             \
	X(TN_ATTR_SOCK_LOST, u32, lost)                     \
	X(TN_ATTR_SOCK_SACKED, u32, sacked)                 \
	X(TN_ATTR_SOCK_MIN_RTT_US, u32, min_rtt_us)         \
	X(TN_ATTR_SOCK_RCVBUF, u32, rcvbuf)                 \
	X(TN_ATTR_SOCK_SNDBUF, u32, sndbuf)                 \
	X(TN_ATTR_SOCK_RCV_SPACE, u32, rcv_space)

typedef uint32_t tn_rpc_sock_u32;
typedef uint64_t tn_rpc_sock_u64;
typedef const char *tn_rpc_sock_str;

struct tn_rpc_writer;

/* One socket as the encoder has it: a value and whether to send it, per attribute. */
struct tn_rpc_sock {
#define TN_RPC_SOCK_FIELD(attr, kind, name) tn_rpc_sock_##kind name; bool has_##name;
	TN_RPC_SOCK_ATTRS(TN_RPC_SOCK_FIELD)
#undef TN_RPC_SOCK_FIELD
};
/* A SOCK nest with every attribute s has (a NULL string counts as absent). */
void tn_rpc_put_sock(struct tn_rpc_writer *w, const struct tn_rpc_sock *s);

/*
 * Decoding, into any struct with the table's names (char arrays for str):
 * TN_RPC_GET_SOCK_ATTR(a, e) is a statement that returns from the caller
 * what the typed accessor said when a is one of the table's attributes.
 */
#define TN_RPC_GET_u32(a, field) tn_rpc_get_u32(a, &(field))
#define TN_RPC_GET_u64(a, field) tn_rpc_get_u64(a, &(field))
#define TN_RPC_GET_str(a, field) tn_rpc_get_str(a, field, sizeof(field))
#define TN_RPC_SOCK_CASE(attr, kind, name) \
	case attr:                         \
		return TN_RPC_GET_##kind(a_, e_->name);
#define TN_RPC_GET_SOCK_ATTR(a, e)                           \
	do {                                                 \
		const struct tn_rpc_attr_view *a_ = (a);     \
		__typeof__(e) e_ = (e);                      \
		switch (a_->type) {                          \
			TN_RPC_SOCK_ATTRS(TN_RPC_SOCK_CASE)  \
		default:                                     \
			break;                               \
		}                                            \
	} while (0)

/* TN_ATTR_SOCK_FLAGS */
#define TN_SOCK_F_TS 0x01        /* timestamps in use */
#define TN_SOCK_F_SACK 0x02      /* SACK in use */
#define TN_SOCK_F_NODELAY 0x04
#define TN_SOCK_F_KEEPALIVE 0x08
#define TN_SOCK_F_ORPHAN 0x10    /* closed by its owner; the core finishes it */
#define TN_SOCK_F_REORD 0x20     /* RACK saw the network reorder */

/*
 * What a listening socket's fd carries for each accepted connection: this
 * record, with the connection's fd (SCM_RIGHTS) on the same sendmsg().
 * Addresses and ports in network byte order, as in a sockaddr_in.
 */
#define TN_ACCEPT_REC_LEN 16
#define TN_ACCEPT_REC_VERSION 1
struct tn_accept_rec {
	uint8_t version;     /* TN_ACCEPT_REC_VERSION */
	uint8_t reserved[3];
	uint32_t peer_addr;  /* network order */
	uint16_t peer_port;  /* network order */
	uint16_t local_port; /* network order */
	uint32_t local_addr; /* network order */
};
/* 16 bytes with no padding: both ends read it as bytes. */
_Static_assert(sizeof(struct tn_accept_rec) == TN_ACCEPT_REC_LEN, "accept record size");
_Static_assert(offsetof(struct tn_accept_rec, peer_addr) == 4, "accept record layout");
_Static_assert(offsetof(struct tn_accept_rec, peer_port) == 8, "accept record layout");
_Static_assert(offsetof(struct tn_accept_rec, local_port) == 10, "accept record layout");
_Static_assert(offsetof(struct tn_accept_rec, local_addr) == 12, "accept record layout");

struct tn_rpc_header {
	uint32_t length;
	uint16_t version;
	uint16_t type;
	uint32_t id;
	uint32_t flags;
};

/*
 * --- encoding: into a caller's buffer; errors are sticky, checked at the end.
 * Overflow is: the buffer or TN_RPC_MAX_MSG exceeded, a value over 65535
 * bytes, nests deeper than TN_RPC_MAX_DEPTH or left unbalanced. A NULL
 * string is sent as "".
 */
struct tn_rpc_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool overflow;
	size_t nest[TN_RPC_MAX_DEPTH]; /* offsets of open nests */
	int depth;
};

void tn_rpc_begin(struct tn_rpc_writer *w, void *buf, size_t cap, uint16_t type, uint32_t id);
void tn_rpc_put_u32(struct tn_rpc_writer *w, uint16_t attr, uint32_t v);
void tn_rpc_put_u64(struct tn_rpc_writer *w, uint16_t attr, uint64_t v);
void tn_rpc_put_str(struct tn_rpc_writer *w, uint16_t attr, const char *s);
void tn_rpc_put_bytes(struct tn_rpc_writer *w, uint16_t attr, const void *p, size_t n);
void tn_rpc_nest_begin(struct tn_rpc_writer *w, uint16_t attr);
void tn_rpc_nest_end(struct tn_rpc_writer *w);
/* Finishes the header; returns the message length, or -1 if anything overflowed. */
long tn_rpc_end(struct tn_rpc_writer *w);

/* Convenience: a whole TN_RPC_ERROR reply. Returns length or -1. */
long tn_rpc_encode_error(void *buf, size_t cap, uint32_t id, int err, const char *message);

/* --- decoding */
enum tn_rpc_parse {
	TN_RPC_NEED_MORE = 0, /* not a whole header yet */
	TN_RPC_OK = 1,
	TN_RPC_BAD = -1,      /* malformed: drop the connection */
};

/*
 * Validates the header at buf (len bytes available). On TN_RPC_OK, *hdr is
 * filled and hdr->length bytes are the message once that many are available.
 * A wrong version, flags, or length outside [HDR_LEN, MAX_MSG] is TN_RPC_BAD.
 */
enum tn_rpc_parse tn_rpc_parse_header(const void *buf, size_t len, struct tn_rpc_header *hdr);

struct tn_rpc_attr_view {
	uint16_t type;
	uint16_t len;
	const uint8_t *value;
};

struct tn_rpc_iter {
	const uint8_t *pos;
	const uint8_t *end;
	bool bad; /* set when the run of attributes is malformed */
};

/* Iterate the attributes of a whole message (msg, len = hdr.length). */
void tn_rpc_iter_msg(struct tn_rpc_iter *it, const void *msg, size_t len);
/* Iterate the attributes inside a nest attribute. */
void tn_rpc_iter_nest(struct tn_rpc_iter *it, const struct tn_rpc_attr_view *nest);
/* true and *a filled while attributes remain; false at the end or on error (it->bad). */
bool tn_rpc_next(struct tn_rpc_iter *it, struct tn_rpc_attr_view *a);

/* Typed accessors: false when the attribute's length is wrong. */
bool tn_rpc_get_u32(const struct tn_rpc_attr_view *a, uint32_t *v);
bool tn_rpc_get_u64(const struct tn_rpc_attr_view *a, uint64_t *v);
/* Copies a string (no NUL on the wire) into buf; false if it has a NUL or does not fit. */
bool tn_rpc_get_str(const struct tn_rpc_attr_view *a, char *buf, size_t cap);
/* Copies exactly n bytes (e.g. a MAC); false when the length is not n. */
bool tn_rpc_get_bytes(const struct tn_rpc_attr_view *a, void *buf, size_t n);

/* true for attribute types whose value is a run of attributes (a nest). */
bool tn_rpc_attr_is_nest(uint16_t attr);

/*
 * Checks a whole message: every attribute well formed, every nest well
 * formed down to TN_RPC_MAX_DEPTH. Servers call it before acting on one.
 * len must be exactly the header's length, and the type (without
 * TN_RPC_REPLY) must not be 0. Attribute padding must be present; its
 * content is not checked.
 */
bool tn_rpc_validate(const void *msg, size_t len);

/*
 * Reads a TN_RPC_ERROR reply (msg, len = hdr.length): *err gets ERRNO (EIO
 * when absent or 0), message gets MESSAGE ("" when absent, cut to fit cap).
 * false if malformed.
 */
bool tn_rpc_decode_error(const void *msg, size_t len, int *err, char *message, size_t cap);

/* The type's name ("STATUS"), ignoring TN_RPC_REPLY; "UNKNOWN" if none. */
const char *tn_rpc_type_name(uint16_t type);

/*
 * The option ring (OPTION_RING): memory shared by one client process and
 * the daemon, in which the client writes whole SETSOCKOPT_NOWAIT messages
 * one after the other (a byte ring of TN_OPTRING_DATA bytes at
 * TN_OPTRING_DATA_OFF; a message may wrap around its end), then moves
 * tail past them. Positions are free-running byte counts (mod 2^32). The
 * daemon trusts nothing in it: it copies each message out before it
 * looks at it, a tail more than TN_OPTRING_DATA ahead of what it has
 * read, a message longer than TN_OPTRING_MSG_MAX or of another type cost
 * the client its connection. head and sleeping are the daemon's, for the
 * client to read; the daemon never reads them back.
 */
#define TN_OPTRING_SIZE 8192
#define TN_OPTRING_DATA_OFF 4096
#define TN_OPTRING_DATA 4096 /* a power of two */
#define TN_OPTRING_MSG_MAX 128
struct tn_optring {
	_Alignas(64) uint32_t tail;     /* client: bytes written */
	_Alignas(64) uint32_t head;     /* daemon: bytes read */
	_Alignas(64) uint32_t sleeping; /* daemon: 1 while it may sleep without reading the ring */
};
_Static_assert(sizeof(struct tn_optring) <= TN_OPTRING_DATA_OFF, "the ring's words fit before its data");

/*
 * Where n bytes at position pos (free-running, see above) lie in the ring's
 * data: from *at, the first return value of them up to the data's end, the
 * rest from its start. Used by the client to write (tn_optring_write) and
 * by the daemon to copy out (tn_optring_read).
 */
static inline size_t tn_optring_split(uint32_t pos, size_t n, size_t *at)
{
	*at = pos & (TN_OPTRING_DATA - 1);
	return n < TN_OPTRING_DATA - *at ? n : TN_OPTRING_DATA - *at;
}

static inline void tn_optring_write(struct tn_optring *r, uint32_t pos, const void *src, size_t n)
{
	uint8_t *data = (uint8_t *)r + TN_OPTRING_DATA_OFF;
	size_t at, first = tn_optring_split(pos, n, &at);

	memcpy(data + at, src, first);
	memcpy(data, (const uint8_t *)src + first, n - first);
}

static inline void tn_optring_read(const struct tn_optring *r, uint32_t pos, void *dst, size_t n)
{
	const uint8_t *data = (const uint8_t *)r + TN_OPTRING_DATA_OFF;
	size_t at, first = tn_optring_split(pos, n, &at);

	memcpy(dst, data + at, first);
	memcpy((uint8_t *)dst + first, data, n - first);
}

/*
 * A SETSOCKOPT_NOWAIT whose only effect on the bytes before it is to send
 * them now: TCP_CORK off, TCP_NODELAY on (as Linux, which pushes what it
 * holds when either is set so). Applied when its request is read, it
 * treats the bytes written before it as their place in the stream would,
 * so neither side measures where that place is (no PAIR_EMPTY needed).
 */
bool tn_rpc_option_pushes(uint32_t level, uint32_t optname, const void *val, size_t len);

/*
 * --- client side (rpc_client.c): one request, one whole reply, every wait
 * bounded by timeout_ms. Functions return -1 with errno set on failure;
 * ETIMEDOUT when the daemon is too slow, ECONNRESET when it hung up, EPROTO
 * when its reply is malformed or does not answer the request. A negative
 * timeout_ms waits without limit.
 */

/* Connects to the daemon's control socket; returns the fd (close-on-exec). */
int tn_rpc_connect(const char *path, int timeout_ms);

/*
 * A program's own control connection (libtapnet's, or the one `tapnet run`
 * hands to the program it starts): its client end is bound to the abstract
 * name TN_RPC_PROGRAM_NAME_PREFIX "PID/...", so that a process can tell a
 * connection it made from one it merely inherited, and HELLO has told the
 * daemon the program's name. Returns the fd (close-on-exec) or -1.
 */
#define TN_RPC_PROGRAM_NAME_PREFIX "tapnet-ctl/"
int tn_rpc_connect_program(const char *path, const char *name, int timeout_ms);
/* The PID in fd's name if fd is such a connection's client end, else 0. */
int tn_rpc_program_conn_pid(int fd);
/* Writes all len bytes of msg. Returns 0. */
int tn_rpc_send_msg(int fd, const void *msg, size_t len, int timeout_ms);
/*
 * Reads exactly one message (never a byte of the next) into buf, which
 * should hold TN_RPC_MAX_MSG (EMSGSIZE if the message does not fit).
 * Validates it (EPROTO); returns its length.
 */
long tn_rpc_recv_msg(int fd, void *buf, size_t cap, int timeout_ms);
/*
 * The same, keeping the one fd that may come with the message (SCM_RIGHTS,
 * close-on-exec) in *passed, -1 if none; any other fd is closed. On
 * failure no fd is left open.
 */
long tn_rpc_recv_msg_fd(int fd, void *buf, size_t cap, int timeout_ms, int *passed);
/* Of the fds passed in msg (SCM_RIGHTS), keeps the first in *passed if it is -1 there; closes the rest. */
struct msghdr;
void tn_rpc_take_fds(struct msghdr *msg, int *passed);
/*
 * Sends the request req (whole message, as built by tn_rpc_end) and receives
 * its reply: same id, and the request's type with TN_RPC_REPLY or an error
 * reply (an error with TN_RPC_CONNECTION_ID answers any request, and is
 * still read when the daemon hung up before the request went out).
 * Returns the reply's length; callers check its type for an error.
 */
long tn_rpc_call(int fd, const void *req, size_t req_len, void *reply, size_t cap,
		 int timeout_ms);

#endif
