/*
 * stack_internal.h - what the protocol modules of src/stack/ share with
 * each other. Nothing outside src/stack/ (and its unit tests) includes it.
 *
 * A frame's way in:  tn_stack_input -> eth_input -> arp_input | ipv4_input
 *                    ipv4_input -> (reassembly) -> icmp_input | tcp_input
 * and out:           icmp/tcp -> ipv4_output -> (fragmentation)
 *                    -> arp_output (resolve or queue) -> eth_output -> env.output
 * or, to this host:  ipv4_output -> loopback queue -> (a timer) -> ipv4_loop_input
 */
#ifndef TAPNET_STACK_INTERNAL_H
#define TAPNET_STACK_INTERNAL_H

#include "stack.h"

#include <string.h>

#define TN_ETH_HLEN 14
#define TN_ETH_P_IP 0x0800
#define TN_ETH_P_ARP 0x0806
#define TN_IP_HLEN 20
#define TN_IP_MAXPACKET 65535
#define TN_IP_PROTO_ICMP 1
#define TN_IP_PROTO_TCP 6
#define TN_IP_PROTO_UDP 17
/* Largest frame the core emits or accepts, a GSO frame included: Ethernet + the largest datagram. */
#define TN_FRAME_MAX (TN_ETH_HLEN + 65535)

#define TN_UNUSED __attribute__((unused))
#define TN_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * ---- intrusive doubly linked lists, in the manner of BSD <sys/queue.h>
 * The links are fields of the element, named by the caller, so that one
 * element can be on several lists (a socket on its port's listener chain,
 * an accept queue, the orphan list). A list is a head pointer, and for a
 * FIFO a tail pointer too; an element has prev (NULL at the head) and next
 * (NULL at the end). Removal is O(1), with no walk. The arguments are
 * evaluated more than once: pass plain lvalues.
 */
#define TN_LIST_INSERT_HEAD(head, elm, prev, next) \
	do {                                       \
		(elm)->prev = NULL;                \
		(elm)->next = (head);              \
		if ((head) != NULL)                \
			(head)->prev = (elm);      \
		(head) = (elm);                    \
	} while (0)
#define TN_FIFO_APPEND(head, tail, elm, prev, next) \
	do {                                        \
		(elm)->next = NULL;                 \
		(elm)->prev = (tail);               \
		if ((tail) != NULL)                 \
			(tail)->next = (elm);       \
		else                                \
			(head) = (elm);             \
		(tail) = (elm);                     \
	} while (0)
#define TN_LIST_REMOVE(head, elm, prev, next)            \
	do {                                             \
		if ((elm)->prev != NULL)                 \
			(elm)->prev->next = (elm)->next; \
		else                                     \
			(head) = (elm)->next;            \
		if ((elm)->next != NULL)                 \
			(elm)->next->prev = (elm)->prev; \
		(elm)->prev = (elm)->next = NULL;        \
	} while (0)
#define TN_FIFO_REMOVE(head, tail, elm, prev, next)    \
	do {                                           \
		if ((elm)->next == NULL)               \
			(tail) = (elm)->prev;          \
		TN_LIST_REMOVE(head, elm, prev, next); \
	} while (0)

/* ---- byte order helpers: the wire is big-endian, we read bytes explicitly */
static inline uint16_t tn_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t tn_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void tn_put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }
static inline void tn_put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = (v >> 16) & 0xff; p[2] = (v >> 8) & 0xff; p[3] = v & 0xff;
}

/* ---- Internet checksum (checksum.c) */
uint32_t tn_csum_add(uint32_t sum, const void *data, size_t len);
uint16_t tn_csum_fold(uint32_t sum); /* returns the complemented 16-bit checksum */
uint32_t tn_csum_pseudo(tn_ip4 src, tn_ip4 dst, uint8_t proto, uint16_t len);

/* ---- keyed hashing (hash.c) */
uint64_t tn_siphash(const uint8_t key[16], const void *data, size_t len);
/* SipHash of a 4-tuple under key (the connection hash, ISNs). */
uint64_t tn_tuple_siphash(const uint8_t key[16], tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
			  uint16_t rport);
/* The connection hash of a 4-tuple, keyed by stack->hash_key. */
uint32_t tn_tuple_hash(const struct tn_stack *stack, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
		       uint16_t rport);

/*
 * The connection hash (hash.c): ONE table of chains by 4-tuple holding both
 * live connections (struct tn_sock) and TIME_WAIT entries (struct
 * tn_tw_entry), like Linux's ehash holding sockets and timewait socks. Each
 * of them embeds a tn_hnode (chain link + 4-tuple + kind), so a segment
 * costs one keyed hash and one chain walk whatever it finds. A 4-tuple is
 * never in the table twice (the owners keep that invariant).
 */
enum tn_hnode_kind { TN_HNODE_SOCK = 1, TN_HNODE_TW = 2, TN_HNODE_REQ = 3 /* half-open, tcp.h */ };

struct tn_hnode {
	struct tn_hnode *next;
	tn_ip4 laddr, raddr;
	uint16_t lport, rport;
	uint8_t kind; /* enum tn_hnode_kind */
};

struct tn_ehash {
	struct tn_hnode **buckets;
	uint32_t mask;        /* buckets - 1, a power of two minus one */
	uint32_t count;       /* nodes of both kinds */
	uint32_t max_buckets; /* growth stops here (chains get longer, still correct) */
	/*
	 * The node the last look-up found: a run of segments of one connection
	 * (a bulk transfer, a batch) skips the keyed hash. Compared on the
	 * whole 4-tuple, so it can only save work, never find another node.
	 */
	struct tn_hnode *last;
};

/* Preallocates min_buckets (rounded up to a power of two). Returns -1 if memory is short. */
int tn_ehash_init(struct tn_ehash *h, uint32_t min_buckets, uint32_t max_buckets);
void tn_ehash_free(struct tn_ehash *h);
struct tn_hnode *tn_ehash_lookup(const struct tn_stack *stack, struct tn_ehash *h, tn_ip4 laddr,
				 uint16_t lport, tn_ip4 raddr, uint16_t rport);
/* Adds n (its 4-tuple and kind set); doubles the buckets when there are more nodes than buckets. */
void tn_ehash_insert(const struct tn_stack *stack, struct tn_ehash *h, struct tn_hnode *n);
void tn_ehash_remove(const struct tn_stack *stack, struct tn_ehash *h, struct tn_hnode *n);

/* ---- timers (timer.c): a binary min-heap of intrusive timers */
struct tn_stack;
struct tn_timer;
typedef void (*tn_timer_fn)(struct tn_stack *stack, struct tn_timer *t);

struct tn_timer {
	uint64_t deadline;
	uint32_t heap_index; /* 0 = not armed; heap positions are 1-based */
	tn_timer_fn fn;
};

struct tn_timer_heap {
	struct tn_timer **slots; /* slots[1..count] */
	uint32_t count;
	uint32_t cap;
};

void tn_timer_init(struct tn_timer *t, tn_timer_fn fn);
/* (Re)arms t at an absolute deadline. Returns -1 only if memory is short. */
int tn_timer_arm(struct tn_stack *stack, struct tn_timer *t, uint64_t deadline);
void tn_timer_cancel(struct tn_stack *stack, struct tn_timer *t);
static inline bool tn_timer_armed(const struct tn_timer *t) { return t->heap_index != 0; }
void tn_timers_free(struct tn_timer_heap *h);

/* ---- ARP / neighbour cache (arp.c) */
struct tn_arp_entry;
struct tn_arp_cache {
	struct tn_arp_entry *entries; /* cfg.arp_cache_size slots */
	uint32_t used;
	uint32_t free_head;                /* entries not in use, chained */
	uint32_t unres_head, unres_tail;   /* entries still resolving or failed, oldest first */
	uint32_t queued;                   /* packets waiting in all entries */
	size_t queued_bytes;               /* what they are charged */
};
int tn_arp_init(struct tn_stack *stack);
void tn_arp_free(struct tn_stack *stack);
void tn_arp_input(struct tn_stack *stack, const uint8_t *pkt, size_t len);
/* Sends an IP packet (ip points at its header, len bytes) to the on-link next hop. */
void tn_arp_output(struct tn_stack *stack, tn_ip4 next_hop, const struct tn_frame_meta *meta,
		   const uint8_t *ip, size_t len);
/*
 * The next hop's MAC when tn_arp_output would send to it at once and do
 * nothing else (a resolved entry, not one due for a refresh): the entry
 * counts as used. NULL otherwise: tn_arp_output decides.
 */
const uint8_t *tn_arp_ready_mac(struct tn_stack *stack, tn_ip4 next_hop);
void tn_arp_announce(struct tn_stack *stack);

/* ---- Ethernet (eth.c) */
void tn_eth_input(struct tn_stack *stack, const uint8_t *frame, size_t len);
/* The 14-byte header at frame: to dst (NULL: broadcast), from us, type. */
void tn_eth_header(const struct tn_stack *stack, uint8_t *frame, const uint8_t dst[TN_ETH_ALEN],
		   uint16_t type);
/*
 * Adds the header (dst NULL: broadcast) and emits with meta (NULL: a plain
 * frame); payload may already sit at stack->tx + TN_ETH_HLEN.
 */
void tn_eth_output(struct tn_stack *stack, const uint8_t dst[TN_ETH_ALEN], uint16_t type,
		   const struct tn_frame_meta *meta, const uint8_t *payload, size_t len);

/* ---- IPv4 (ipv4.c) */
struct tn_ip4_rx {
	tn_ip4 src;
	tn_ip4 dst;
	uint8_t proto;
	uint8_t ttl;
	uint8_t tos;
	const uint8_t *hdr; /* the IP header as received (for ICMP errors) */
	size_t hdr_len;
	size_t total_len;   /* header + payload */
};

#define TN_IP_OUT_DF 0x01 /* set Don't Fragment: fail rather than fragment */
/* a TTL of the datagram's own in the flags (0: cfg.ip_default_ttl), as IP_TTL sets it */
#define TN_IP_OUT_TTL(ttl) (((unsigned)(ttl) & 0xffu) << 8)

void tn_ipv4_input(struct tn_stack *stack, const uint8_t *pkt, size_t len);
/* The datagram itself, once whole (reassembled or never fragmented). */
void tn_ipv4_deliver(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *payload,
		     size_t payload_len);
bool tn_ip4_is_broadcast(const struct tn_stack *stack, tn_ip4 addr);
/*
 * Sends one datagram from src (0: the address the route gives, see
 * tn_ipv4_source_for): IP header + the payload pieces, fragmented when
 * larger than the MTU unless TN_IP_OUT_DF; to this host, round the
 * loopback (a full queue drops it as a link would: 0, IpOutDiscards).
 * Returns 0, or a negative errno (-EHOSTUNREACH no route, -EINVAL from
 * 127.0.0.0/8 beyond the host, -EMSGSIZE too big with DF, -ENOBUFS
 * dropped). The payload must not live in stack->tx: the datagram is built
 * there.
 */
int tn_ipv4_output(struct tn_stack *stack, tn_ip4 src, tn_ip4 dst, uint8_t proto, uint8_t tos,
		   const struct tn_iov *iov, size_t iovcnt, unsigned flags);
/*
 * The same with offloads for the link (stack->cfg.offload allows them): a
 * GSO datagram may exceed the MTU (never fragmented); csum_start is filled
 * in here, the rest of meta is the caller's.
 */
int tn_ipv4_output_meta(struct tn_stack *stack, tn_ip4 src, tn_ip4 dst, uint8_t proto, uint8_t tos,
			const struct tn_iov *iov, size_t iovcnt, unsigned flags,
			const struct tn_frame_meta *meta);
int tn_ipv4_init(struct tn_stack *stack);
void tn_ipv4_free(struct tn_stack *stack);
/* An address of this host: its own, or any of 127.0.0.0/8. */
bool tn_ipv4_is_local(const struct tn_stack *stack, tn_ip4 addr);
/* A datagram from the loopback queue (its meta: what its sender said of it). */
void tn_ipv4_loop_input(struct tn_stack *stack, const struct tn_frame_meta *meta,
			const uint8_t *pkt, size_t len);

/* ---- the loopback interface (loopback.c) */
#define TN_IP4_LOOPBACK 0x7f000001u /* 127.0.0.1 */
struct tn_loopback;
struct tn_loop_packet;
int tn_loopback_init(struct tn_stack *stack);
void tn_loopback_free(struct tn_stack *stack);
/* dst is this host (127.0.0.0/8 or its own address): the datagram goes round the loopback. */
bool tn_ipv4_to_self(const struct tn_stack *stack, tn_ip4 dst);
/* The source address a socket not bound to one uses towards dst (127.0.0.1 on loopback). */
tn_ip4 tn_ipv4_source_for(const struct tn_stack *stack, tn_ip4 dst);
/* Room for a datagram of len bytes in the queue; NULL when full (the caller counts the drop). */
struct tn_loop_packet *tn_loopback_reserve(struct tn_stack *stack, size_t len);
uint8_t *tn_loopback_data(struct tn_loop_packet *p);
/* Queues p, written in full; it comes back in from a timer due at once. */
void tn_loopback_queue(struct tn_stack *stack, struct tn_loop_packet *p,
		       const struct tn_frame_meta *meta);

/* ---- IPv4 reassembly (ipv4_reasm.c) */
int tn_reasm_init(struct tn_stack *stack);
void tn_reasm_free(struct tn_stack *stack);
/* One fragment; frag is the header's flags+offset field. */
void tn_reasm_input(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *payload,
		    size_t payload_len, uint16_t frag);

/* ---- ICMP (icmp.c) */
void tn_icmp_input(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *msg, size_t len);
/* A rate-limited Destination Unreachable about the datagram in ip. */
void tn_icmp_send_unreach(struct tn_stack *stack, const struct tn_ip4_rx *ip, uint8_t code);
#define TN_ICMP_DEST_UNREACH 3 /* the type */
#define TN_ICMP_UNREACH_NET 0
#define TN_ICMP_UNREACH_PROTOCOL 2
#define TN_ICMP_UNREACH_PORT 3
#define TN_ICMP_UNREACH_NEEDFRAG 4

/* ---- TCP (tcp_*.c); owned by the TCP modules */
struct tn_tcp;
int tn_tcp_init(struct tn_stack *stack);
/* A reload: the TIME_WAIT and orphan tables take next's limits (clamped there) and lifetimes. */
void tn_tcp_reconfigure(struct tn_stack *stack, struct tn_config *next);
void tn_tcp_free(struct tn_stack *stack);
void tn_tcp_input(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *seg, size_t len);
/* NULL when the TCP fields of cfg are usable, else a message (called by tn_config_check). */
const char *tn_tcp_config_check(const struct tn_config *cfg);
/*
 * ICMP errors about a segment we sent (unreachable, frag needed);
 * next_hop_mtu is the ICMP header's field (RFC 1191), 0 when absent.
 */
void tn_tcp_icmp_error(struct tn_stack *stack, uint8_t type, uint8_t code, uint16_t next_hop_mtu,
		       const uint8_t *orig_ip, size_t len);

struct tn_reasm; /* ipv4_reasm.c */
struct tn_ip_idents;

/* ---- the stack object */
struct tn_stack {
	struct tn_config cfg;
	struct tn_env env;
	bool clock_held;          /* tn_now answers clock_held_ns (tn_clock_hold) */
	uint64_t clock_held_ns;
	uint64_t counters[TN_CTR__COUNT];
	struct tn_timer_heap timers;

	tn_ip4 netmask; /* from cfg.prefix_len */
	struct tn_ip_idents *idents; /* IP IDs of datagrams without DF (ipv4.c) */

	struct tn_arp_cache arp;
	struct tn_reasm *reasm;
	struct tn_loopback *loopback;

	/* ICMP error rate limiter: a token bucket */
	uint64_t icmp_tokens_at;
	uint32_t icmp_tokens;

	struct tn_tcp *tcp;

	uint8_t hash_key[16]; /* SipHash key for connection lookup, from env.random */

	/* What the link said of the frame being handled (NULL outside tn_stack_input). */
	const struct tn_frame_meta *rx_meta;

	/* tn_stack_set_tracer's; NULL (nearly always): tracing costs one branch */
	tn_trace_fn tracer;
	void *tracer_ctx;

	/* Scratch buffer for building one outgoing frame (no allocation per frame). */
	uint8_t tx[TN_FRAME_MAX];
};

/* Tracing (stack.c): callers test TN_TRACING first, so an untraced stack builds no event. */
#define TN_TRACING(stack) __builtin_expect((stack)->tracer != NULL, 0)
void tn_trace_state(struct tn_stack *stack, const struct tn_hnode *tuple, int from, int to);
void tn_trace_tw(struct tn_stack *stack, const struct tn_hnode *tuple, enum tn_trace_tw ev,
		 uint32_t remaining_ms);

#define TN_COUNT(stack, name) ((stack)->counters[TN_CTR_##name]++)
#define TN_COUNT_N(stack, name, n) ((stack)->counters[TN_CTR_##name] += (n))

static inline uint64_t tn_now(const struct tn_stack *stack)
{
	return stack->clock_held ? stack->clock_held_ns : stack->env.now_ns(stack->env.ctx);
}

/*
 * One clock reading for a whole call that sends (as Linux stamps every
 * segment of one tcp_write_xmit with one tcp_mstamp_refresh): the segments
 * of one burst share their send time, and the clock is not read a few
 * times per segment. false: already held by a caller, which releases it.
 */
static inline bool tn_clock_hold(struct tn_stack *stack)
{
	if (stack->clock_held)
		return false;
	stack->clock_held_ns = stack->env.now_ns(stack->env.ctx);
	stack->clock_held = true;
	return true;
}

static inline void tn_clock_release(struct tn_stack *stack)
{
	stack->clock_held = false;
}

static inline void tn_random(const struct tn_stack *stack, void *buf, size_t len)
{
	stack->env.random(stack->env.ctx, buf, len);
}

/* Emits a finished frame to the wire; meta NULL: a plain frame. */
static inline void tn_emit(struct tn_stack *stack, const struct tn_frame_meta *meta,
			   const void *frame, size_t len)
{
	static const struct tn_frame_meta none;
	TN_COUNT(stack, EthOutFrames);
	stack->env.output(stack->env.ctx, meta ? meta : &none, frame, len);
}

/* The same for a frame in pieces (env.output_iov, which must be set); false: declined, not counted. */
static inline bool tn_emit_pieces(struct tn_stack *stack, const struct tn_frame_meta *meta,
				  const struct tn_iov *piece, int n, size_t len)
{
	static const struct tn_frame_meta none;
	if (!stack->env.output_iov(stack->env.ctx, meta ? meta : &none, piece, n, len))
		return false;
	TN_COUNT(stack, EthOutFrames);
	return true;
}

#endif
