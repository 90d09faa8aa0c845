/*
 * tcp_timewait.h - the TIME_WAIT table: what is left of a connection after
 * its socket is gone, kept 2*MSL so old duplicates cannot reach a new
 * incarnation of the same 4-tuple (RFC 9293 3.6.1, RFC 1337, RFC 6191).
 *
 * Entries are compact (at most 64 bytes), live in one preallocated array and
 * are found by a keyed hash of the 4-tuple. Every entry has the same lifetime,
 * so expiry order is insertion order: one FIFO, one core timer at its head.
 * Insert, lookup, restart, removal and expiry of one entry are O(1).
 */
#ifndef TAPNET_TCP_TIMEWAIT_H
#define TAPNET_TCP_TIMEWAIT_H

#include "stack_internal.h"

#define TN_TW_NONE UINT32_MAX

enum tn_tw_overflow { TN_TW_OVERFLOW_DROP = 0, TN_TW_OVERFLOW_EVICT_OLDEST = 1 };

/* Why an entry leaves the table early (it is counted accordingly). */
enum tn_tw_removal {
	TN_TW_KILLED,   /* RST in TIME_WAIT (rfc1337 = 0): TcpExtTWKilled */
	TN_TW_RECYCLED, /* a new SYN took the 4-tuple: TcpExtTWRecycled */
	TN_TW_EVICTED,  /* made room for a newer entry: TcpExtTCPTimeWaitOverflow */
};

struct tn_tw_entry {
	tn_ip4 laddr, raddr;
	uint16_t lport, rport;
	uint32_t snd_nxt;      /* our next sequence number (after our FIN) */
	uint32_t rcv_nxt;      /* after the peer's FIN */
	uint32_t ts_recent;    /* last TSval from the peer, valid if TN_TW_TS */
	uint32_t ts_offset;    /* our TSval = clock + ts_offset, for the ACKs we send */
	uint32_t rcv_wnd;      /* window we advertise in re-ACKs (already scaled down) */
	uint32_t expires_ms;   /* on the core's clock, in ms (wraps after 49 days: compared mod 2^32) */
	uint32_t last_ack_ms;  /* last rate-limited ACK we sent */
	uint32_t hash_next;    /* chain in the hash, or the free list */
	uint32_t fifo_prev, fifo_next;
	uint8_t flags;         /* TN_TW_* */
	uint8_t snd_wscale;
};
#define TN_TW_IN_USE 0x01
#define TN_TW_TS 0x02 /* timestamps were negotiated */

_Static_assert(sizeof(struct tn_tw_entry) <= 64, "a TIME_WAIT entry must fit in 64 bytes");

struct tn_tw_config {
	uint32_t max_entries;  /* tw_max_buckets */
	uint32_t lifetime_ms;  /* time_wait, 2*MSL */
	enum tn_tw_overflow overflow;
};

struct tn_tw_table {
	struct tn_tw_config cfg;
	struct tn_tw_entry *entries; /* cfg.max_entries, preallocated */
	uint32_t *buckets;           /* hash heads; bucket_mask + 1 of them */
	uint32_t bucket_mask;
	uint32_t free_head;
	uint32_t fifo_head, fifo_tail; /* oldest, newest */
	uint32_t count;
	uint32_t *port_refs;         /* TIME_WAIT entries per local port (bind checks) */
	struct tn_timer timer;       /* at the FIFO head's expiry */
};

int tn_tw_init(struct tn_stack *stack, struct tn_tw_table *tw, const struct tn_tw_config *cfg);
void tn_tw_free(struct tn_stack *stack, struct tn_tw_table *tw);

struct tn_tw_entry *tn_tw_lookup(const struct tn_stack *stack, const struct tn_tw_table *tw,
				 tn_ip4 laddr, uint16_t lport, tn_ip4 raddr, uint16_t rport);
/*
 * Adds an entry (fields from tmpl; expiry set here). Returns it, or NULL when
 * the table is full under TN_TW_OVERFLOW_DROP (counted: the connection then
 * closes without TIME_WAIT, as Linux does) or the 4-tuple is already present.
 */
struct tn_tw_entry *tn_tw_insert(struct tn_stack *stack, struct tn_tw_table *tw,
				 const struct tn_tw_entry *tmpl);
/* Starts the full lifetime again (a retransmitted FIN arrived). */
void tn_tw_restart(struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e);
void tn_tw_remove(struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e,
		  enum tn_tw_removal why);
/* Entries still holding local port lport (for bind() without SO_REUSEADDR). */
static inline uint32_t tn_tw_port_refs(const struct tn_tw_table *tw, uint16_t lport)
{
	return tw->port_refs[lport];
}
/* ms until e expires (0 if due). */
uint32_t tn_tw_remaining_ms(const struct tn_stack *stack, const struct tn_tw_entry *e);
uint32_t tn_tw_now_ms(const struct tn_stack *stack);
/* What the TIME_WAIT logic needs of an arriving segment (already checksummed). */
struct tn_tw_seg {
	uint32_t seq, ack;
	uint32_t len;      /* payload bytes, without SYN/FIN */
	uint8_t flags;     /* TCP header flags */
	bool has_ts;
	uint32_t tsval, tsecr;
};

enum tn_tw_verdict {
	TN_TW_DROP,       /* nothing to send (entry may have been killed) */
	TN_TW_SEND_ACK,   /* caller sends tn_tw_send_ack(): the state we keep */
	TN_TW_ACCEPT_SYN, /* the entry was recycled: open a new connection with *isn */
};

struct tn_tw_policy {
	bool rfc1337;               /* ignore RST in TIME_WAIT */
	uint32_t ack_ratelimit_ms;  /* invalid_ratelimit */
};

/* CONFORMANCE items 13-17: what a segment for entry e does. */
enum tn_tw_verdict tn_tw_process(struct tn_stack *stack, struct tn_tw_table *tw,
				 struct tn_tw_entry *e, const struct tn_tw_seg *seg,
				 const struct tn_tw_policy *policy, uint32_t *isn);
/* The ACK a TIME_WAIT entry answers with: seq snd_nxt, ack rcv_nxt, timestamps if used. */
void tn_tw_send_ack(struct tn_stack *stack, const struct tn_tw_entry *e);

/* Calls fn for each entry, oldest first; stops when fn returns false. */
void tn_tw_foreach(const struct tn_tw_table *tw, bool (*fn)(const struct tn_tw_entry *, void *),
		   void *arg);

#endif
