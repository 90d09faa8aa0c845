/*
 * tcp_timewait.h - the TIME_WAIT table: what is left of a connection after
 * its socket is gone, kept 2*MSL so old duplicates cannot reach a new
 * incarnation of the same 4-tuple (RFC 9293 3.6.1, RFC 1337, RFC 6191).
 *
 * Entries are compact (at most 64 bytes) and live in one preallocated array;
 * they are found through the connection hash (struct tn_ehash) that TCP
 * shares with its live connections, so a segment costs one lookup whatever
 * it finds. Every entry has the same lifetime, so expiry order is insertion
 * order: one FIFO, one core timer at its head. Insert, lookup, restart,
 * removal and expiry of one entry are O(1); expiring N entries is O(N).
 *
 * The table can also stand alone (its own hash) for tests and benchmarks.
 */
#ifndef TAPNET_TCP_TIMEWAIT_H
#define TAPNET_TCP_TIMEWAIT_H

#include "stack_internal.h"

#define TN_TW_NONE UINT32_MAX
#define TN_TW_MAX_ENTRIES (1u << 24) /* indices stay far below TN_TW_NONE */

enum tn_tw_overflow { TN_TW_OVERFLOW_DROP = 0, TN_TW_OVERFLOW_EVICT_OLDEST = 1 };

/* Why an entry leaves the table early (it is counted accordingly). */
enum tn_tw_removal {
	TN_TW_KILLED,   /* RST in TIME_WAIT (rfc1337 = 0): TcpExtTWKilled */
	TN_TW_RECYCLED, /* a new SYN or connect() took the 4-tuple: TcpExtTWRecycled */
	TN_TW_EVICTED,  /* made room for a newer entry: TcpExtTCPTimeWaitOverflow */
	TN_TW_MOVED,    /* the caller counted it (moved to another table, or its evict hook) */
};

struct tn_tw_entry {
	struct tn_hnode hn;    /* hash chain + 4-tuple (hn.laddr, hn.lport, ...); first member */
	uint32_t snd_nxt;      /* our next sequence number (after our FIN) */
	uint32_t rcv_nxt;      /* after the peer's FIN */
	uint32_t ts_recent;    /* last TSval from the peer, valid if TN_TW_TS */
	uint32_t ts_offset;    /* our TSval = tn_tw_now_ms() + ts_offset: the connection's clock goes on */
	uint32_t expires_ms;   /* on the core's clock, in ms (wraps after 49 days: compared mod 2^32) */
	uint32_t last_ack_ms;  /* last ACK we sent (rate limit; tw_reuse) */
	uint32_t fifo_prev, fifo_next; /* expiry order; fifo_next also links the free list */
	uint16_t rcv_wnd;      /* window field of our re-ACKs (already scaled down) */
	uint8_t flags;         /* TN_TW_* */
	uint8_t rcv_wscale;    /* for listings; the window above is already scaled */
};
/* Compact (a table holds up to hundreds of thousands): one 64-byte cache line at most. */
_Static_assert(sizeof(struct tn_tw_entry) <= 64, "a TIME-WAIT entry fits 64 bytes");
#define TN_TW_IN_USE 0x01
#define TN_TW_TS 0x02       /* timestamps were negotiated */
#define TN_TW_REUSEADDR 0x04 /* the socket had SO_REUSEADDR (bind() conflicts, as Linux's tw_reuse) */
/*
 * An orphan in FIN_WAIT_2 (Linux's tw_substate FIN_WAIT2): our FIN is
 * acknowledged, the peer's has not come. It lives in a table of its own
 * (lifetime fin_timeout, max_orphans entries) sharing the same hash.
 */
#define TN_TW_FIN_WAIT2 0x08

_Static_assert(sizeof(struct tn_tw_entry) <= 64, "a TIME_WAIT entry must fit in 64 bytes");
_Static_assert(offsetof(struct tn_tw_entry, hn) == 0, "the hash node comes first");

struct tn_tw_config {
	uint32_t max_entries;  /* tw_max_buckets (0: no TIME_WAIT at all, every entry overflows) */
	uint32_t lifetime_ms;  /* time_wait, 2*MSL */
	enum tn_tw_overflow overflow;
	struct tn_ehash *ehash; /* the connection hash to share; NULL: the table's own */
	/* Under TN_TW_OVERFLOW_EVICT_OLDEST: called for the entry evicted (NULL: TcpExtTCPTimeWaitOverflow). */
	void (*evict)(struct tn_stack *stack, const struct tn_tw_entry *e);
};

struct tn_tw_table {
	struct tn_tw_config cfg;
	struct tn_ehash *ehash;      /* shared, or &own */
	struct tn_ehash own;
	struct tn_tw_entry *entries; /* capacity of them, preallocated (pages touched only when used) */
	uint32_t capacity;           /* max_entries at creation: a reload may lower the limit, not pass this */
	uint32_t unused;             /* entries[unused..] were never used */
	uint32_t free_head;          /* released entries, through fifo_next */
	uint32_t fifo_head, fifo_tail; /* oldest, newest */
	uint32_t count;
	uint32_t *port_refs;         /* entries per local port (bind() checks); NULL until the first */
	uint32_t *port_noreuse;      /* of those, entries without TN_TW_REUSEADDR */
	struct tn_timer timer;       /* at the FIFO head's expiry */
};

int tn_tw_init(struct tn_stack *stack, struct tn_tw_table *tw, const struct tn_tw_config *cfg);
void tn_tw_free(struct tn_stack *stack, struct tn_tw_table *tw);
/*
 * A reload: a new limit (at most the capacity it was made with; returns the
 * limit kept), lifetime and overflow policy. A shorter lifetime shortens
 * the entries already there, so that none outlives it; a longer one is for
 * the entries made from now on.
 */
uint32_t tn_tw_reconfigure(struct tn_stack *stack, struct tn_tw_table *tw, uint32_t max_entries,
			   uint32_t lifetime_ms, enum tn_tw_overflow overflow);
/* Bytes the table may use when full: entries, the hash buckets (if its own), port counts. */
size_t tn_tw_memory(const struct tn_tw_table *tw);

struct tn_tw_entry *tn_tw_lookup(const struct tn_stack *stack, const struct tn_tw_table *tw,
				 tn_ip4 laddr, uint16_t lport, tn_ip4 raddr, uint16_t rport);
/* The entry of a hash node of kind TN_HNODE_TW. */
static inline struct tn_tw_entry *tn_tw_of_node(struct tn_hnode *n)
{
	return (struct tn_tw_entry *)n;
}
/*
 * Adds an entry (fields from tmpl; expiry set here). Returns it, or NULL when
 * the table is full under TN_TW_OVERFLOW_DROP (counted: the connection then
 * closes without TIME_WAIT, as Linux does) or the 4-tuple is already in the
 * hash (as an entry or a live connection).
 */
struct tn_tw_entry *tn_tw_insert(struct tn_stack *stack, struct tn_tw_table *tw,
				 const struct tn_tw_entry *tmpl);
/* Starts the full lifetime again (a retransmitted FIN arrived). */
void tn_tw_restart(struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e);
void tn_tw_remove(struct tn_stack *stack, struct tn_tw_table *tw, struct tn_tw_entry *e,
		  enum tn_tw_removal why);
/* Entries still holding local port lport (for bind()). */
static inline uint32_t tn_tw_port_refs(const struct tn_tw_table *tw, uint16_t lport)
{
	return tw->port_refs ? tw->port_refs[lport] : 0;
}
/*
 * Does a TIME_WAIT entry stop bind(lport)? As Linux (inet_bind_conflict with
 * tw_reuse): unless both the binding socket and the connection that left the
 * entry had SO_REUSEADDR.
 */
static inline bool tn_tw_bind_conflict(const struct tn_tw_table *tw, uint16_t lport, bool reuseaddr)
{
	if (!tw->port_refs)
		return false;
	return reuseaddr ? tw->port_noreuse[lport] > 0 : tw->port_refs[lport] > 0;
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
	/*
	 * A new incarnation may start: if a listener takes the SYN, the caller
	 * removes the entry (TN_TW_RECYCLED) and opens the connection with
	 * *isn; without a listener the SYN is answered with tn_tw_send_ack()
	 * and the entry stays (Linux tcp_v4_rcv, TCP_TW_SYN).
	 */
	TN_TW_ACCEPT_SYN,
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
/* A segment from the entry's state with these flags (a RST: no window, no options). */
void tn_tw_send(struct tn_stack *stack, const struct tn_tw_entry *e, uint8_t flags);

/*
 * May connect() take e's 4-tuple now (tw_reuse, Linux tcp_twsk_unique)?
 * Only when the old connection used timestamps and we have sent nothing on
 * it for delay_ms: the new connection's TSvals (the same clock per address
 * pair) are then newer than any of the old one, so PAWS keeps its
 * duplicates out. The caller removes e (TN_TW_RECYCLED) and starts at
 * tn_tw_reuse_isn(e).
 */
bool tn_tw_reusable(const struct tn_stack *stack, const struct tn_tw_table *tw,
		    const struct tn_tw_entry *e, uint32_t delay_ms);
/* RFC 1122 4.2.2.13 / RFC 6191: an ISN beyond anything the old incarnation used. */
static inline uint32_t tn_tw_reuse_isn(const struct tn_tw_entry *e)
{
	uint32_t isn = e->snd_nxt + 65535 + 2;
	return isn ? isn : 1;
}

/* Calls fn for each entry, oldest first; stops when fn returns false. */
void tn_tw_foreach(const struct tn_tw_table *tw, bool (*fn)(const struct tn_tw_entry *, void *),
		   void *arg);

#endif
