/*
 * rpc.h - the tapnet control protocol between tapnetd and its clients
 * (the `tapnet` CLI today, libtapnet later), over a Unix stream socket.
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
	/* later: SOCKET, BIND, LISTEN, ... take the next numbers */
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

	TN_ATTR_COUNTER = 30,    /* nest: NAME, VALUE */
	TN_ATTR_NAME = 31,       /* string */
	TN_ATTR_VALUE = 32,      /* u64 */

	TN_ATTR_ARP_ENTRY = 40,  /* nest: ADDR, MAC, STATE, EXPIRES_MS, QUEUED */
	TN_ATTR_STATE = 41,      /* string */
	TN_ATTR_EXPIRES_MS = 42, /* u64, relative; absent when it never expires */
	TN_ATTR_QUEUED = 43,     /* u32 */
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
/* Writes all len bytes of msg. Returns 0. */
int tn_rpc_send_msg(int fd, const void *msg, size_t len, int timeout_ms);
/*
 * Reads exactly one message (never a byte of the next) into buf, which
 * should hold TN_RPC_MAX_MSG (EMSGSIZE if the message does not fit).
 * Validates it (EPROTO); returns its length.
 */
long tn_rpc_recv_msg(int fd, void *buf, size_t cap, int timeout_ms);
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
