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

	/* SOCK, buffers (`tapnet ss -i`: Linux's skmem rb/tb and rcv_space) */
	TN_ATTR_SOCK_RCVBUF = 150,     /* u32, receive buffer size now, bytes */
	TN_ATTR_SOCK_SNDBUF = 151,     /* u32, send buffer size now, bytes */
	TN_ATTR_SOCK_RCV_SPACE = 152,  /* u32, bytes read in the last measured round trip */
};

#define TN_RPC_OPTVAL_MAX 256

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
