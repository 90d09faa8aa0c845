/*
 * rpc.c - encoding and decoding of tapnet control messages (see rpc.h).
 *
 * The decoder trusts nothing: every length is checked against the bytes
 * that are really there before anything is read, so a hostile client can
 * only earn itself a TN_RPC_BAD. Integers are assembled byte by byte, which
 * makes the code independent of host endianness and of buffer alignment.
 */
#include "rpc/rpc.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define ATTR_ALIGN 4
#define ATTR_MAX_VALUE 0xffffu /* the attribute length field is a u16 */

/* header field offsets */
#define HDR_OFF_LENGTH 0
#define HDR_OFF_VERSION 4
#define HDR_OFF_TYPE 6
#define HDR_OFF_ID 8
#define HDR_OFF_FLAGS 12

static size_t align4(size_t n)
{
	return (n + ATTR_ALIGN - 1) & ~(size_t)(ATTR_ALIGN - 1);
}

/* ---------------------------------------------------------------- byte order */

static void store_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void store_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void store_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t load_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t load_le64(const uint8_t *p)
{
	return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

/* ---------------------------------------------------------------- writer */

void tn_rpc_begin(struct tn_rpc_writer *w, void *buf, size_t cap, uint16_t type, uint32_t id)
{
	memset(w, 0, sizeof(*w));
	w->buf = buf;
	/* The limit is part of the protocol, so a bigger buffer does not lift it. */
	w->cap = cap < TN_RPC_MAX_MSG ? cap : TN_RPC_MAX_MSG;
	if (buf == NULL || w->cap < TN_RPC_HDR_LEN) {
		w->overflow = true;
		return;
	}
	store_le32(w->buf + HDR_OFF_LENGTH, 0); /* patched by tn_rpc_end */
	store_le16(w->buf + HDR_OFF_VERSION, TN_RPC_VERSION);
	store_le16(w->buf + HDR_OFF_TYPE, type);
	store_le32(w->buf + HDR_OFF_ID, id);
	store_le32(w->buf + HDR_OFF_FLAGS, 0);
	w->len = TN_RPC_HDR_LEN;
}

/*
 * Reserves an attribute header plus n value bytes plus padding, writes the
 * header and zeroes the padding. Returns where the value goes, or NULL
 * (and sets the sticky overflow) when it does not fit.
 */
static uint8_t *attr_reserve(struct tn_rpc_writer *w, uint16_t attr, size_t n)
{
	if (w->overflow)
		return NULL;
	if (n > ATTR_MAX_VALUE ||
	    align4(TN_RPC_ATTR_HDR_LEN + n) > w->cap - w->len) {
		w->overflow = true;
		return NULL;
	}
	uint8_t *hdr = w->buf + w->len;
	size_t padded = align4(TN_RPC_ATTR_HDR_LEN + n);

	store_le16(hdr, attr);
	store_le16(hdr + 2, (uint16_t)n);
	memset(hdr + TN_RPC_ATTR_HDR_LEN + n, 0, padded - TN_RPC_ATTR_HDR_LEN - n);
	w->len += padded;
	return hdr + TN_RPC_ATTR_HDR_LEN;
}

void tn_rpc_put_u32(struct tn_rpc_writer *w, uint16_t attr, uint32_t v)
{
	uint8_t *p = attr_reserve(w, attr, sizeof(v));

	if (p)
		store_le32(p, v);
}

void tn_rpc_put_u64(struct tn_rpc_writer *w, uint16_t attr, uint64_t v)
{
	uint8_t *p = attr_reserve(w, attr, sizeof(v));

	if (p)
		store_le64(p, v);
}

void tn_rpc_put_bytes(struct tn_rpc_writer *w, uint16_t attr, const void *p, size_t n)
{
	uint8_t *value = attr_reserve(w, attr, n);

	if (value && n > 0)
		memcpy(value, p, n);
}

/* A NULL string is sent as the empty string rather than failing the message. */
void tn_rpc_put_str(struct tn_rpc_writer *w, uint16_t attr, const char *s)
{
	if (s == NULL)
		s = "";
	tn_rpc_put_bytes(w, attr, s, strlen(s));
}

#define PUT_SOCK_u32(w, attr, v) tn_rpc_put_u32(w, attr, v)
#define PUT_SOCK_u64(w, attr, v) tn_rpc_put_u64(w, attr, v)
#define PUT_SOCK_str(w, attr, v) \
	do {                     \
		if (v)           \
			tn_rpc_put_str(w, attr, v); \
	} while (0)

void tn_rpc_put_sock(struct tn_rpc_writer *w, const struct tn_rpc_sock *s)
{
	tn_rpc_nest_begin(w, TN_ATTR_SOCK);
#define PUT_SOCK(attr, kind, name)                   \
	if (s->has_##name)                           \
		PUT_SOCK_##kind(w, attr, s->name);
	TN_RPC_SOCK_ATTRS(PUT_SOCK)
#undef PUT_SOCK
	tn_rpc_nest_end(w);
}

void tn_rpc_nest_begin(struct tn_rpc_writer *w, uint16_t attr)
{
	if (w->overflow)
		return;
	if (w->depth >= TN_RPC_MAX_DEPTH) {
		/* the decoder would reject it: fail here, where the bug is */
		w->overflow = true;
		return;
	}
	size_t start = w->len;

	if (attr_reserve(w, attr, 0) == NULL)
		return;
	w->nest[w->depth++] = start;
}

void tn_rpc_nest_end(struct tn_rpc_writer *w)
{
	if (w->overflow)
		return;
	if (w->depth <= 0) {
		w->overflow = true; /* unbalanced: a bug in the caller */
		return;
	}
	size_t start = w->nest[--w->depth];
	/* Everything after the nest's header is its value; it is padded already. */
	size_t value_len = w->len - start - TN_RPC_ATTR_HDR_LEN;

	if (value_len > ATTR_MAX_VALUE) {
		w->overflow = true;
		return;
	}
	store_le16(w->buf + start + 2, (uint16_t)value_len);
}

long tn_rpc_end(struct tn_rpc_writer *w)
{
	if (w->overflow || w->depth != 0)
		return -1;
	store_le32(w->buf + HDR_OFF_LENGTH, (uint32_t)w->len);
	return (long)w->len;
}

long tn_rpc_encode_error(void *buf, size_t cap, uint32_t id, int err, const char *message)
{
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, buf, cap, TN_RPC_ERROR | TN_RPC_REPLY, id);
	/* callers may hold -errno or errno; the wire carries it positive */
	tn_rpc_put_u32(&w, TN_ATTR_ERRNO, err < 0 ? 0u - (uint32_t)err : (uint32_t)err);
	if (message)
		tn_rpc_put_str(&w, TN_ATTR_MESSAGE, message);
	return tn_rpc_end(&w);
}

/* ---------------------------------------------------------------- decoder */

enum tn_rpc_parse tn_rpc_parse_header(const void *buf, size_t len, struct tn_rpc_header *hdr)
{
	const uint8_t *p = buf;

	if (len < TN_RPC_HDR_LEN)
		return TN_RPC_NEED_MORE;

	struct tn_rpc_header h = {
		.length = load_le32(p + HDR_OFF_LENGTH),
		.version = load_le16(p + HDR_OFF_VERSION),
		.type = load_le16(p + HDR_OFF_TYPE),
		.id = load_le32(p + HDR_OFF_ID),
		.flags = load_le32(p + HDR_OFF_FLAGS),
	};

	if (h.version != TN_RPC_VERSION || h.flags != 0 ||
	    h.length < TN_RPC_HDR_LEN || h.length > TN_RPC_MAX_MSG)
		return TN_RPC_BAD;
	*hdr = h;
	return TN_RPC_OK;
}

void tn_rpc_iter_msg(struct tn_rpc_iter *it, const void *msg, size_t len)
{
	const uint8_t *p = msg;

	if (msg == NULL || len < TN_RPC_HDR_LEN) {
		it->pos = it->end = NULL;
		it->bad = true;
		return;
	}
	it->pos = p + TN_RPC_HDR_LEN;
	it->end = p + len;
	it->bad = false;
}

void tn_rpc_iter_nest(struct tn_rpc_iter *it, const struct tn_rpc_attr_view *nest)
{
	it->pos = nest->value;
	it->end = nest->value + nest->len;
	it->bad = false;
}

bool tn_rpc_next(struct tn_rpc_iter *it, struct tn_rpc_attr_view *a)
{
	if (it->bad || it->pos == it->end)
		return false;

	size_t left = (size_t)(it->end - it->pos);

	if (left < TN_RPC_ATTR_HDR_LEN)
		goto bad;
	uint16_t type = load_le16(it->pos);
	uint16_t len = load_le16(it->pos + 2);
	/* The padding must be there too: only a whole attribute is one. */
	size_t padded = align4(TN_RPC_ATTR_HDR_LEN + (size_t)len);

	if (padded > left)
		goto bad;
	a->type = type;
	a->len = len;
	a->value = it->pos + TN_RPC_ATTR_HDR_LEN;
	it->pos += padded;
	return true;
bad:
	it->bad = true;
	return false;
}

bool tn_rpc_get_u32(const struct tn_rpc_attr_view *a, uint32_t *v)
{
	if (a->len != sizeof(*v))
		return false;
	*v = load_le32(a->value);
	return true;
}

bool tn_rpc_get_u64(const struct tn_rpc_attr_view *a, uint64_t *v)
{
	if (a->len != sizeof(*v))
		return false;
	*v = load_le64(a->value);
	return true;
}

bool tn_rpc_get_str(const struct tn_rpc_attr_view *a, char *buf, size_t cap)
{
	if (cap > 0)
		buf[0] = '\0';
	if ((size_t)a->len >= cap || memchr(a->value, '\0', a->len) != NULL)
		return false;
	memcpy(buf, a->value, a->len);
	buf[a->len] = '\0';
	return true;
}

bool tn_rpc_get_bytes(const struct tn_rpc_attr_view *a, void *buf, size_t n)
{
	if (a->len != n)
		return false;
	memcpy(buf, a->value, n);
	return true;
}

bool tn_rpc_attr_is_nest(uint16_t attr)
{
	switch (attr) {
	case TN_ATTR_COUNTER:
	case TN_ATTR_ARP_ENTRY:
	case TN_ATTR_SOCK:
	case TN_ATTR_TW_ENTRY:
		return true;
	default:
		return false;
	}
}

/* depth: how many nests enclose the attributes the iterator walks. */
static bool validate_run(struct tn_rpc_iter *it, int depth)
{
	struct tn_rpc_attr_view a;

	while (tn_rpc_next(it, &a)) {
		if (!tn_rpc_attr_is_nest(a.type))
			continue;
		if (depth >= TN_RPC_MAX_DEPTH)
			return false;

		struct tn_rpc_iter inner;

		tn_rpc_iter_nest(&inner, &a);
		if (!validate_run(&inner, depth + 1))
			return false;
	}
	return !it->bad;
}

bool tn_rpc_validate(const void *msg, size_t len)
{
	struct tn_rpc_header hdr;

	if (msg == NULL || tn_rpc_parse_header(msg, len, &hdr) != TN_RPC_OK)
		return false;
	/* exactly one message: trailing bytes would be a framing bug */
	if (hdr.length != len)
		return false;
	if ((hdr.type & ~TN_RPC_REPLY) == 0)
		return false;

	struct tn_rpc_iter it;

	tn_rpc_iter_msg(&it, msg, len);
	return validate_run(&it, 0);
}

/* A long message is cut to fit: the errno matters more than its last words. */
static bool get_message(const struct tn_rpc_attr_view *a, char *buf, size_t cap)
{
	if (cap == 0)
		return true;
	size_t n = a->len < cap - 1 ? a->len : cap - 1;

	if (memchr(a->value, '\0', a->len) != NULL)
		return false;
	memcpy(buf, a->value, n);
	buf[n] = '\0';
	return true;
}

bool tn_rpc_decode_error(const void *msg, size_t len, int *err, char *message, size_t cap)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	uint32_t errno_value = 0;

	if (cap > 0)
		message[0] = '\0';
	tn_rpc_iter_msg(&it, msg, len);
	while (tn_rpc_next(&it, &a)) {
		switch (a.type) {
		case TN_ATTR_ERRNO:
			if (!tn_rpc_get_u32(&a, &errno_value) || errno_value > INT32_MAX)
				return false;
			break;
		case TN_ATTR_MESSAGE:
			if (!get_message(&a, message, cap))
				return false;
			break;
		default:
			break; /* newer daemons may say more */
		}
	}
	/* An error without a cause is still an error. */
	*err = errno_value != 0 ? (int)errno_value : EIO;
	return !it.bad;
}

bool tn_rpc_option_pushes(uint32_t level, uint32_t optname, const void *val, size_t len)
{
	int v;

	if (level != IPPROTO_TCP || (optname != TCP_CORK && optname != TCP_NODELAY) ||
	    len < sizeof(v))
		return false;
	memcpy(&v, val, sizeof(v));
	return optname == TCP_CORK ? v == 0 : v != 0;
}

const char *tn_rpc_type_name(uint16_t type)
{
	switch (type & ~TN_RPC_REPLY) {
	case TN_RPC_HELLO:
		return "HELLO";
	case TN_RPC_STATUS:
		return "STATUS";
	case TN_RPC_STATS:
		return "STATS";
	case TN_RPC_ARP:
		return "ARP";
	case TN_RPC_SOCKETS:
		return "SOCKETS";
	case TN_RPC_TIMEWAIT:
		return "TIMEWAIT";
	case TN_RPC_TRACE:
		return "TRACE";
	case TN_RPC_TRACE_EVENT:
		return "TRACE_EVENT";
	case TN_RPC_SOCKET:
		return "SOCKET";
	case TN_RPC_BIND:
		return "BIND";
	case TN_RPC_LISTEN:
		return "LISTEN";
	case TN_RPC_CONNECT:
		return "CONNECT";
	case TN_RPC_SHUTDOWN:
		return "SHUTDOWN";
	case TN_RPC_GETNAME:
		return "GETNAME";
	case TN_RPC_SETSOCKOPT:
		return "SETSOCKOPT";
	case TN_RPC_SETSOCKOPT_NOWAIT:
		return "SETSOCKOPT_NOWAIT";
	case TN_RPC_RESETS:
		return "RESETS";
	case TN_RPC_RESET_NOTICE:
		return "RESET_NOTICE";
	case TN_RPC_OPTION_RING:
		return "OPTION_RING";
	case TN_RPC_OPTION_RING_WAKE:
		return "OPTION_RING_WAKE";
	case TN_RPC_GETSOCKOPT:
		return "GETSOCKOPT";
	case TN_RPC_ERROR:
		return "ERROR";
	default:
		return "UNKNOWN";
	}
}
