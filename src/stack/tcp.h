/*
 * tcp.h - what the TCP modules of src/stack/ share: the connection block
 * (struct tn_sock, which is also the socket handle), sequence arithmetic,
 * parsed segments and options, and the functions each tcp_*.c offers.
 *
 *   tcp.c          connection table (keyed hash), ISNs, ports, lifecycle, events,
 *                  the move into TIME_WAIT
 *   tcp_timewait.c the TIME_WAIT table (compact entries sharing the connection hash)
 *   tcp_syncookie.c SYN cookies: the stateless SYN-ACK of a listener whose SYN queue is full
 *   tcp_opt.c      option parse/emit (the only place that reads or writes options)
 *   tcp_in.c       segment arrival (RFC 9293 3.10.7)
 *   tcp_ofo.c      out-of-order ranges of the receive buffer, SACK blocks we send
 *   tcp_sack.c     the send-side scoreboard: SACKed ranges, transmit times,
 *                  RACK loss detection (RFC 8985), pipe and NextSeg (RFC 6675)
 *   tcp_out.c      segment building and the send engine (Nagle, SWS, windows)
 *   tcp_timer.c    RTO (RFC 6298), delayed ACK, persist, keepalive, FIN_WAIT_2 lifetime
 *   tcp_cc*.c      congestion control behind struct tcp_cc_ops
 *   buf.c          byte rings for send and receive buffers
 *   tcp_buf.c      buffer auto-tuning: receive right-sizing, send growth with cwnd
 *   sock.c         the public socket API (stack.h)
 */
#ifndef TAPNET_TCP_H
#define TAPNET_TCP_H

#include "stack_internal.h"
#include "tcp_timewait.h"

#include <stddef.h>
#include <stdlib.h>

#define TCP_HLEN 20
#define TCP_MAX_OPTLEN 40
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

#define TCP_DEFAULT_MSS 536   /* RFC 9293 3.7.1, when the peer sends none */
#define TCP_MIN_MSS 88        /* Linux's floor against tiny-MSS attacks */
#define TCP_PMTU_MIN 552      /* lowest path MTU believed (Linux's min_pmtu) */
#define TCP_MAX_WSCALE 14
#define TCP_TS_OPTLEN 12      /* NOP NOP TS(10): what timestamps take from every segment */
#define TCP_INIT_CWND 10      /* segments, RFC 6928 */
#define TCP_QUICKACKS 16      /* segments ACKed at once in quick ACK mode (Linux TCP_MAX_QUICKACKS) */
/*
 * Ranges of holes a connection keeps track of, each way: out-of-order
 * ranges received (tcp_ofo.c), and on the send side SACKed ranges and
 * retransmissions not yet delivered (tcp_sack.c). Each array has room for
 * a whole buffer of holes, every other full-sized segment missing, and at
 * least TCP_HOLES_MIN; it grows as holes come, doubling from
 * TCP_HOLES_FIRST entries (8 to 12 bytes each). A segment counts as at
 * least TCP_DEFAULT_MSS bytes and there are at most TCP_HOLES_MAX ranges:
 * a peer that asks for tiny segments and SACKs every other one must not
 * make every ACK walk tens of thousands of ranges.
 */
#define TCP_HOLES_MIN 128
#define TCP_HOLES_MAX 4096
#define TCP_HOLES_FIRST 16
/*
 * Transmit-time checkpoints of original data: one per burst, up to one per
 * full-sized segment of the send buffer (at least TCP_TXLOG_MIN); past
 * that, neighbours merge (tcp_sack.c).
 */
#define TCP_TXLOG_MIN 256
#define TCP_SACK_BLOCKS_MAX 4
#define TCP_LISTEN_BUCKETS 256

/* ---- sequence arithmetic (RFC 9293 3.4: modulo 2^32) */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_gt(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return seq_lt(a, b) ? a : b; }
static inline uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* ---- byte ring (buf.c) */
struct tn_ring {
	uint8_t *data;
	uint32_t size;
	uint32_t head; /* offset of the first byte */
	uint32_t len;  /* committed bytes */
};
int tn_ring_init(struct tn_ring *r, uint32_t size);
void tn_ring_free(struct tn_ring *r);
/* Enlarges the ring to size bytes keeping every byte's offset from head; -1: no memory. */
int tn_ring_grow(struct tn_ring *r, uint32_t size);
static inline uint32_t tn_ring_space(const struct tn_ring *r) { return r->size - r->len; }
/* The free space after the committed end, in at most two pieces; returns how many. */
int tn_ring_free_iov(const struct tn_ring *r, struct tn_iov iov[2]);
/* Appends up to n bytes, returns how many fit. */
uint32_t tn_ring_write(struct tn_ring *r, const void *src, uint32_t n);
/* Writes n bytes at off bytes past the committed end, without committing (off + n <= space). */
void tn_ring_write_beyond(struct tn_ring *r, uint32_t off, const void *src, uint32_t n);
void tn_ring_commit(struct tn_ring *r, uint32_t n);
uint32_t tn_ring_read(struct tn_ring *r, void *dst, uint32_t n);
void tn_ring_discard(struct tn_ring *r, uint32_t n);
/*
 * An empty ring starts again at its first byte, so that a connection
 * whose reader keeps up reuses the same few cache-hot KiB instead of
 * walking through megabytes. Only for a ring with nothing parked beyond
 * its committed end (no out-of-order bytes), and no pieces handed out.
 */
static inline void tn_ring_rewind_empty(struct tn_ring *r)
{
	if (r->len == 0)
		r->head = 0;
}
/* Points iov (2 entries) at n committed bytes starting at off; returns the iov count. */
int tn_ring_peek(const struct tn_ring *r, uint32_t off, uint32_t n, struct tn_iov iov[2]);

/*
 * Ring memory that closed connections gave back, for the next ones: a
 * connection per request would otherwise make malloc grow and trim its
 * heap (brk) and fault the first page of each ring in again, every time.
 * At most TN_RING_POOL_MAX buffers wait, so at most TN_RING_POOL_MAX times
 * the larger of [tcp] rcvbuf and sndbuf is held beyond the live sockets.
 */
#define TN_RING_POOL_MAX 16
struct tn_ring_pool {
	uint8_t *data[TN_RING_POOL_MAX];
	uint32_t size[TN_RING_POOL_MAX];
	unsigned n;
};
/* As tn_ring_init, with a buffer of that size from the pool if one waits there. */
int tn_ring_init_pooled(struct tn_ring_pool *p, struct tn_ring *r, uint32_t size);
/* As tn_ring_free; the buffer waits in the pool if it has room (the oldest goes if not). */
void tn_ring_free_pooled(struct tn_ring_pool *p, struct tn_ring *r);
/* Frees every buffer in the pool. */
void tn_ring_pool_drain(struct tn_ring_pool *p);

/* ---- options (tcp_opt.c) */
struct tcp_sack_block {
	uint32_t start, end;
};

struct tcp_opts {
	bool mss_ok, ws_ok, sack_ok, ts_ok;
	uint16_t mss;
	uint8_t wscale;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	struct tcp_sack_block sack[TCP_SACK_BLOCKS_MAX];
};
/* Parses options; malformed ones end parsing, never a read past len. */
void tcp_opt_parse(const uint8_t *opt, size_t len, bool syn, struct tcp_opts *o);
/* Writes options (padded to 4 bytes) into out (TCP_MAX_OPTLEN); returns the length. */
size_t tcp_opt_emit(uint8_t *out, const struct tcp_opts *o, bool syn);

/* ---- one parsed incoming segment */
struct tcp_seg {
	uint32_t seq, ack;
	uint32_t wnd;        /* unscaled */
	uint8_t flags;
	const uint8_t *data; /* payload */
	uint32_t len;        /* payload bytes */
	struct tcp_opts opt;
	tn_ip4 src, dst;
	uint16_t sport, dport;
};
static inline uint32_t tcp_seg_seqlen(const struct tcp_seg *g)
{
	return g->len + !!(g->flags & TCP_SYN) + !!(g->flags & TCP_FIN);
}

/* ---- congestion control (tcp_cc.c) */
struct tn_sock;
struct tcp_cc_ops {
	const char *name;
	void (*init)(struct tn_sock *s);
	/* acked bytes newly acknowledged outside recovery; rtt_us 0 when none measured */
	void (*on_ack)(struct tn_sock *s, uint32_t acked, uint32_t rtt_us);
	/* the new ssthresh (bytes) on a loss: fast retransmit or RTO */
	uint32_t (*ssthresh)(struct tn_sock *s);
	/* recovery ended with a full ACK / an RTO fired */
	void (*on_recovery_end)(struct tn_sock *s);
	void (*on_timeout)(struct tn_sock *s);
};
extern const struct tcp_cc_ops tcp_cc_newreno;
extern const struct tcp_cc_ops tcp_cc_cubic;
/* The algorithm of that name (len bytes), or NULL. */
const struct tcp_cc_ops *tcp_cc_by_name(const char *name, size_t len);
const struct tcp_cc_ops *tcp_cc_get(uint8_t which);
/* RFC 5681 slow start / congestion avoidance growth, shared by the algorithms. */
uint32_t tcp_cc_slow_start(struct tn_sock *s, uint32_t acked);
void tcp_cc_cong_avoid_reno(struct tn_sock *s, uint32_t acked);

/* HyStart++ (RFC 9406): leave the first slow start when the RTT grows, before a loss. */
struct tcp_hystart {
	uint32_t window_end;       /* the round ends when this is acknowledged */
	uint32_t last_round_min_rtt, cur_round_min_rtt, css_baseline_min_rtt; /* us, UINT32_MAX: none */
	uint8_t samples;           /* RTT samples this round */
	uint8_t css_rounds;        /* rounds in conservative slow start */
	bool in_css, started;
};
/* Per ACK of new data in slow start, with the ACK's RTT sample (0: none). */
void tcp_hystart_on_ack(struct tn_sock *s, uint32_t ack, uint32_t rtt_us);

struct tcp_cubic {
	uint32_t w_max;          /* bytes, window before the last reduction */
	uint32_t w_last_max;
	uint64_t epoch_start_ns; /* 0: no epoch */
	uint32_t origin;         /* bytes */
	uint64_t k_us;           /* time to reach origin */
	uint32_t w_est;          /* RFC 9438 Reno-friendly estimate, bytes */
	uint32_t ack_cnt;
	uint32_t min_rtt_us;
};

/*
 * A retransmitted range not yet acknowledged: when it went (RACK needs
 * per-segment transmit times) and whether RACK found it lost again.
 */
struct tcp_rxt {
	uint32_t start, end;
	uint32_t t_us;   /* the stack clock in microseconds, modulo 2^32 */
	bool lost;
};

/* Original data from seq on (up to the next checkpoint) first went at t_us. */
struct tcp_txmark {
	uint32_t seq;
	/*
	 * When the bytes from seq went: one burst, or after checkpoints merged
	 * (tcp_sack.c) the first and the last of several. Delivered bytes
	 * count as sent at the first, bytes RACK may call lost at the last.
	 */
	uint32_t t_us, t_last_us;
};

/* What the retransmission timer is running for (Linux's icsk_pending). */
enum tcp_rtx_kind { TCP_RTX_RTO, TCP_RTX_PTO, TCP_RTX_REO };

/*
 * A half-open passive connection (SYN received, SYN-ACK sent), as Linux's
 * request_sock: what the handshake needs and nothing more, no socket and
 * no buffers. The final ACK turns it into a connection (tcp_in.c).
 */
struct tcp_req {
	struct tn_hnode hn;             /* in the connection hash (kind TN_HNODE_REQ); first member */
	struct tn_timer timer;          /* SYN-ACK retransmission */
	struct tn_sock *listener;
	struct tcp_req *prev, *next;    /* the listener's SYN queue */
	uint64_t sent_ns;               /* the first SYN-ACK (RTT without timestamps) */
	uint32_t iss, irs;
	uint32_t ts_recent, ts_offset;
	uint16_t peer_mss;
	uint8_t snd_wscale;
	uint8_t retries;
	bool ws_ok : 1, sack_ok : 1, ts_ok : 1;
	bool established : 1;           /* freed because it became a connection (tracing) */
};
_Static_assert(sizeof(struct tcp_req) <= 128, "a half-open connection costs at most 128 bytes");
_Static_assert(offsetof(struct tcp_req, hn) == 0, "the hash node comes first");

/* ---- the connection block, which is also the public socket handle */
struct tcp_listen {
	struct tn_sock *aq_head, *aq_tail; /* established, waiting for accept */
	uint32_t aq_len;
	struct tcp_req *req_head;          /* half-open connections (the SYN queue) */
	uint32_t syn_len;
	uint32_t backlog;
	uint64_t last_overflow_ns;         /* last SYN answered with a cookie (0: never) */
};

struct tn_sock {
	struct tn_stack *stack;
	struct tn_hnode hn;               /* in the connection hash while hashed (copy of the 4-tuple) */
	struct tn_sock *bprev, *bnext;    /* bound-port chain */
	struct tn_sock *all_prev, *all_next;
	struct tn_sock *ev_next;          /* pending-event list */
	struct tn_sock *ack_prev, *ack_next; /* ACKs owed on the way out of the core or at the batch's end */
	struct tn_sock *parent;           /* listener, until accepted */
	struct tn_sock *aq_prev, *aq_next;
	struct tn_sock *orph_prev, *orph_next; /* closed by its owner, still closing: oldest first */
	struct tn_sock *lprev, *lnext;    /* listener chain of its port (tcp_listen_hash) */

	tn_ip4 laddr, raddr;
	uint16_t lport, rport;
	uint8_t state;                    /* enum tn_tcp_state */

	bool hashed : 1, bound : 1, orphan : 1, dead : 1, ev_queued : 1;
	bool nodelay : 1, keepalive : 1, reuseaddr : 1, linger : 1;
	bool ts_ok : 1, sack_ok : 1, ws_ok : 1;
	bool fin_queued : 1, fin_rcvd : 1, shut_rd : 1, active_open : 1;
	bool in_recovery : 1, rtt_timing : 1, ofo_fin : 1, ack_now : 1;
	bool to_entry : 1;                /* leaving for a compact entry: its CLOSED is no news */
	/* bind() named a port, an address (Linux's SOCK_BINDPORT_LOCK, SOCK_BINDADDR_LOCK) */
	bool port_locked : 1, addr_locked : 1;
	bool was_established : 1, zero_wnd_adv : 1, in_orphans : 1, listed : 1;
	/* ack_deferred: an ACK owed at the end of the input batch (tn_stack_batch_end);
	 * ack_listed: on tcp->ack_head's list (for that or for ack_now at the way out) */
	bool ack_deferred : 1, ack_listed : 1;
	bool reuseport : 1;               /* SO_REUSEPORT: shares with reuse_owner's sockets */
	/* TCP_CORK: partial segments wait for uncork or cork_timer; cork_push lets them go once */
	bool cork : 1, cork_push : 1;
	uint32_t reuse_owner;             /* who set it (the daemon passes the client's uid) */
	void *mem_owner;                  /* who pays for its buffers (tn_sock_set_owner) */
	uint64_t charged;                 /* buffer bytes charged to mem_owner, given back at free */
	unsigned events;                  /* pending TN_SOCK_EV_* */
	int err;                          /* pending error (negative errno) */
	int soft_err;                     /* last ICMP error, reported on timeout */
	tn_sock_cb cb;
	void *cb_arg;
	tn_sock_deliver_fn deliver;       /* in-order bytes past an empty rcvbuf (tn_sock_set_deliver) */
	struct tcp_listen *listen;

	/* send side */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, max_snd_wnd, snd_wl1, snd_wl2;
	uint32_t fin_seq;                 /* valid when fin_queued */
	uint32_t mss;                     /* payload per full segment, without options */
	uint32_t peer_mss;
	uint8_t snd_wscale, rcv_wscale;
	struct tn_ring sndbuf;
	uint32_t sndbuf_size, rcvbuf_size;
	/* auto-tuning ceilings (tcp_buf.c): equal to the size when pinned or fixed */
	uint32_t sndbuf_max, rcvbuf_max;
	bool snd_nospace;                 /* a writer found the send buffer full */
	/* receive-space estimate (Linux rcvq_space): bytes read per round trip */
	uint32_t rcvq_space, rcvq_seq;
	uint64_t rcvq_time_ns;

	/* receive side */
	uint32_t irs, rcv_nxt, rcv_adv;   /* rcv_adv: right edge last advertised */
	uint32_t rcv_acked;               /* rcv_nxt in the last ACK we sent */
	uint32_t rcv_mss;                 /* estimate of the peer's full segment size */
	uint8_t quickack;                 /* segments still ACKed at once (TCP_QUICKACKS) */
	/*
	 * In-order bytes received in this socket's current input batch and in
	 * its previous one: the larger is tcp_ack_later's estimate of the
	 * sender's flight, which a batch's ACKs are spaced by.
	 */
	uint32_t batch_rx_gen, batch_rx_bytes, batch_rx_prev;
	uint64_t last_data_ns;            /* when data last arrived (quick ACKs after a gap) */
	struct tn_ring rcvbuf;
	uint32_t ofo_fin_seq;
	uint16_t ofo_n, ofo_cap;           /* ranges in ofo, entries allocated */
	uint8_t sack_recent_n;            /* ranges reported most recently, newest first */
	uint32_t sack_recent[TCP_SACK_BLOCKS_MAX];   /* a byte of each (ranges merge and move) */
	/*
	 * ofo, sb, rxt and txlog are arrays allocated at their first use,
	 * growing from TCP_HOLES_FIRST entries (tcp_holes_room), and given
	 * back when they hold nothing
	 * (ofo: no hole left; the others: everything sent is acknowledged): an
	 * idle connection, or one that never sees a hole or a loss, does
	 * without them.
	 */
	struct tcp_sack_block *ofo;       /* out-of-order ranges held beyond rcv_nxt */
	struct tcp_sack_block dsack;      /* RFC 2883: a duplicate to report once */
	bool dsack_pending;

	/* timestamps (RFC 7323) */
	uint32_t ts_recent, ts_offset;

	/* RTT and RTO (RFC 6298), microseconds */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t rtt_seq;                 /* timed segment without timestamps (Karn) */
	uint64_t rtt_start_ns;
	uint8_t backoff, retries;
	uint32_t probes;                  /* keepalive/persist probes unanswered */
	uint8_t persist_backoff;          /* zero-window probes sent since the window closed */

	/* congestion control */
	const struct tcp_cc_ops *cc;
	uint32_t cwnd, ssthresh, cwnd_cnt;
	uint32_t recover, dupacks;
	uint32_t prior_cwnd;
	/*
	 * Undo (RFC 2883 / RFC 3708, Linux's undo_marker): the ssthresh before
	 * the last recovery cut it, and how many of that recovery's
	 * retransmissions (at or above undo_marker) have not come back as
	 * D-SACK duplicates. When all have, the loss was not one.
	 */
	uint32_t prior_ssthresh, undo_marker;
	int32_t undo_retrans;
	bool undo_armed;
	/*
	 * Eifel for fast recovery (RFC 3522, Linux's tcp_packet_delayed): the
	 * TSval of the recovery's first retransmission. An ACK of new data
	 * that echoes an older one was sent for an original transmission: the
	 * hole was filled by a segment the network delayed, not by the repair.
	 */
	bool undo_rxt_ts_set;
	uint32_t undo_rxt_ts;
	/*
	 * RTO undo (Linux's tcp_try_undo_loss): after a fresh timeout cut cwnd,
	 * an ACK may show the timeout was spurious: F-RTO (RFC 5682 3.1, the
	 * SACK-enhanced form) when it (S)ACKs original data sent before the
	 * timeout (below frto_high) and never retransmitted (SACK connections
 * only; after the first ACK, new data goes first and frto_high moves to
 * what was sent then: step 2b); Eifel (RFC 3522)
	 * when it echoes a timestamp older than the first retransmission
	 * (rto_ts, our TS clock). Then cwnd and ssthresh come back.
	 */
	bool rto_undo : 1, frto : 1, frto_new_data : 1; /* frto_new_data: RFC 5682 step 2b (tcp_output) */
	uint32_t frto_high, rto_ts;
	uint16_t sb_n, sb_cap;
	struct tcp_sack_block *sb;        /* SACKed ranges above snd_una */
	uint32_t sacked_bytes;
	/*
	 * Loss detection (tcp_sack.c). Unsacked original data below lost_end
	 * and the rxt ranges marked lost are what recovery retransmits;
	 * lost_bytes is their total (not yet retransmitted again).
	 */
	uint32_t lost_end, lost_bytes;
	uint16_t rxt_n, rxt_cap, txlog_n, txlog_cap, txlog_head;
	struct tcp_rxt *rxt;
	struct tcp_txmark *txlog;         /* a ring, oldest at txlog_head */
	/* RACK (RFC 8985): the most recently sent segment known delivered */
	uint32_t rack_xmit_us, rack_end_seq, rack_rtt_us, min_rtt_us;
	uint32_t ack_rtt_us;              /* RTT of the newest byte the last ACK covered, 0: none (Karn) */
	uint8_t reo_wnd_steps;
	bool rack_valid : 1, reord_seen : 1, in_loss : 1;
	/* TLP (RFC 8985 7): one probe outstanding at most, until the ACK passes tlp_high_seq */
	bool tlp_out : 1, tlp_rxt : 1;
	uint32_t tlp_high_seq;
	uint32_t tlp_xmit_us;             /* when the probe went (tcp_clock_us): RACK takes its delivery */
	/* PRR (RFC 6937) */
	uint32_t prr_delivered, prr_out;
	uint8_t rtx_kind;                 /* enum tcp_rtx_kind, while rtx_timer runs and !persist */
	struct tcp_cubic cubic;
	struct tcp_hystart hystart;

	/* timers */
	struct tn_timer rtx_timer;        /* retransmission, SYN, persist */
	struct tn_timer delack_timer;
	struct tn_timer ka_timer;         /* keepalive, FIN_WAIT_2 and TIME_WAIT lifetime */
	struct tn_timer cork_timer;       /* the ceiling on how long TCP_CORK holds a partial segment */
	struct tn_timer wnd_timer;        /* repeats an update that reopened the window */
	uint32_t wnd_reopen_seq;          /* rcv_nxt when that update went */
	uint32_t wnd_reopen_snd;          /* snd_nxt then: data sent since carries the window too */
	uint8_t wnd_repeats;              /* repeats left */
	bool persist : 1;
	uint64_t last_rx_ns;
	uint64_t last_oow_ack_ns;

	/* per-socket settings */
	uint32_t ka_idle_s, ka_intvl_s, ka_probes;
	uint32_t linger_s;
	uint32_t user_timeout_ms;         /* TCP_USER_TIMEOUT, 0: off (tcp_timer.c) */
	uint8_t tos, ttl;                 /* IP_TOS, IP_TTL of its segments (ttl 0: the default) */
	uint16_t user_mss;                /* TCP_MAXSEG, 0: none */
	uint8_t syn_retries;              /* TCP_SYNCNT, 0: the stack's */
	int32_t linger2_s;                /* TCP_LINGER2, < 0: no FIN_WAIT_2 for an orphan */
	int64_t *kept;                    /* TN_KEPT_N options only kept (stack.h), NULL: defaults */
	uint64_t rtx_since_ns;            /* data unacknowledged since (valid while retries > 0) */
	uint64_t probe_since_ns;          /* zero window since (valid while persist_backoff > 0) */

	/* statistics */
	uint64_t total_retrans, bytes_acked, bytes_received;
};

/* The MSS s's SYN (a listener's SYN-ACKs) offers: the link's, or TCP_MAXSEG's if smaller. */
static inline uint16_t tcp_offered_mss(const struct tn_sock *s)
{
	uint32_t mss = s->stack->cfg.mtu - TN_IP_HLEN - TCP_HLEN;
	if (s->user_mss && s->user_mss < mss)
		mss = s->user_mss;
	return (uint16_t)(mss > 65535 ? 65535 : mss);
}

/* The most s may send per segment: the peer's MSS, or TCP_MAXSEG's if smaller (mss_clamp). */
static inline uint32_t tcp_mss_clamp(const struct tn_sock *s, uint32_t peer_mss)
{
	return s->user_mss && s->user_mss < peer_mss ? s->user_mss : peer_mss;
}

/* The stack's TCP state. */
struct tn_tcp {
	struct tn_ehash ehash;     /* by 4-tuple: live connections and TIME_WAIT entries */
	struct tn_tw_table tw;     /* the TIME_WAIT entries (hashed in ehash) */
	struct tn_tw_table fw2;    /* orphans in FIN_WAIT_2, compact (hashed in ehash) */
	struct tn_sock **bound;    /* by local port */
	struct tn_sock *listeners[TCP_LISTEN_BUCKETS]; /* listeners only, by port: a SYN walks no bound socket */
	uint32_t nbound_buckets;
	struct tn_sock *all;       /* every socket, for tn_sock_list */
	uint32_t nsocks;
	struct tn_sock *ev_head, *ev_tail;
	struct tn_sock *dead;      /* freed at the end of the current entry */
	struct tn_ring_pool ring_pool; /* ring buffers of freed sockets, for the next ones */
	struct tn_sock *ack_head;  /* sockets owing an ACK (tcp_ack_on_leave, tcp_defer_ack) */
	bool batch;                /* between tn_stack_batch_begin and _end */
	uint32_t batch_gen;        /* counts input batches (a socket's batch_rx_gen) */
	tn_charge_fn charge;       /* who pays for buffers (tn_stack_set_charge), or NULL */
	void *charge_ctx;
	struct tn_sock *orph_head, *orph_tail; /* orphans that still hold a socket (max_orphans) */
	uint32_t norphans;
	int depth;                 /* nesting of core entry points */
	uint8_t isn_key[16], port_key[16], ts_key[16];
	uint16_t port_table[256];  /* RFC 6056 algorithm 4 perturbation */
	uint8_t cookie_key[2][16]; /* SYN cookies: H0 and H1 of tcp_syncookie.c */
	uint64_t chal_window_ns;   /* challenge ACK limiter: 1 s windows */
	uint32_t chal_budget;      /* challenge ACKs left in this window (randomised) */
	uint64_t clock_base_ns;
};

static inline struct tn_tcp *tcp_of(const struct tn_stack *stack) { return stack->tcp; }

static inline struct tn_sock *tcp_sock_of_node(struct tn_hnode *n)
{
	return (struct tn_sock *)((char *)n - offsetof(struct tn_sock, hn));
}

/* A reuse delay like Linux's tcp_tw_reuse_delay (ms): see tn_tw_reusable(). */
#define TCP_TW_REUSE_DELAY_MS 1000

/*
 * An orphan whose peer keeps its window under one segment while data waits
 * (a byte at a time, say): it sends no such sliver and its persist backoff
 * goes on growing, so the orphan limit of CONFORMANCE 26 ends it as it ends
 * one facing a zero window (Linux bounds orphans' probes by
 * tcp_orphan_retries likewise).
 */
static inline bool tcp_orphan_window_starved(const struct tn_sock *s)
{
	uint32_t unsent = s->snd_una + s->sndbuf.len - s->snd_nxt;
	return s->orphan && unsent > s->snd_wnd && s->snd_wnd < s->mss;
}

/* ---- tcp.c */
struct tn_sock *tcp_sock_new(struct tn_stack *stack);
/* Options and owners, as Linux's sk_clone copies them (tcp_in.c). */
void tcp_copy_settings(struct tn_sock *c, const struct tn_sock *l);
/*
 * s owes the peer an ACK (ack_now): sent when the outermost entry into the
 * core ends, after the owners of the sockets heard of their events, so that
 * what they send or close in answer (an echo, a response, the FIN after
 * the peer's) carries it and no segment goes for the ACK alone; it goes
 * alone only if it is still owed then. Outside an entry it goes at once.
 */
void tcp_ack_on_leave(struct tn_sock *s);
/* Puts s on the list of sockets owing an ACK (flushed in tcp_leave / tn_stack_batch_end). */
void tcp_ack_list(struct tn_tcp *tcp, struct tn_sock *s);
/* The live connection of a 4-tuple (NULL if none, or if only a TIME_WAIT entry holds it). */
struct tn_sock *tcp_lookup(struct tn_stack *stack, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
			   uint16_t rport);
/* The listener a SYN from raddr:rport to laddr:lport goes to (see tcp.c); NULL if none. */
struct tn_sock *tcp_lookup_listener(struct tn_stack *stack, tn_ip4 laddr, uint16_t lport,
				    tn_ip4 raddr, uint16_t rport);
/* s starts listening: findable by tcp_lookup_listener until released. */
void tcp_listen_hash(struct tn_sock *s);
int tcp_hash(struct tn_sock *s);
void tcp_unhash(struct tn_sock *s);
int tcp_bind_port(struct tn_sock *s, uint16_t port);
int tcp_listen_conflict(const struct tn_sock *s); /* -EADDRINUSE or 0: see tcp.c */
void tcp_unbind(struct tn_sock *s);
/*
 * RFC 6056, for connect: a local port whose 4-tuple is free. A TIME_WAIT
 * entry makes a 4-tuple busy unless tw_reuse lets it go (then *isn gets the
 * ISN to use, else 0).
 */
int tcp_pick_port(struct tn_sock *s, uint32_t *isn);
/* connect() on a bound socket: may its 4-tuple be used? (0, or -EADDRNOTAVAIL; *isn as above) */
int tcp_check_established(struct tn_sock *s, uint32_t *isn);
uint32_t tcp_new_isn(struct tn_stack *stack, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
		     uint16_t rport);
uint32_t tcp_ts_now(const struct tn_sock *s);
/* The timestamp clock with a given offset (a connection's, before it has a socket). */
uint32_t tcp_ts_clock(const struct tn_stack *stack, uint32_t offset);
/* What that clock read at time ns (tn_now's clock). */
uint32_t tcp_ts_clock_at(const struct tn_stack *stack, uint32_t offset, uint64_t ns);
/* Timestamp clock offset of an address pair (keyed: one clock per peer, like Linux's). */
uint32_t tcp_ts_offset(struct tn_stack *stack, tn_ip4 laddr, tn_ip4 raddr);
void tcp_set_state(struct tn_sock *s, enum tn_tcp_state st);
/* Tells the owner (callback) about events; delivered when the core entry returns. */
void tcp_notify(struct tn_sock *s, unsigned events);
/* The connection is over: unhash, stop timers, report err (0: normal close); free if orphaned. */
void tcp_done(struct tn_sock *s, int err);
void tcp_release(struct tn_sock *s); /* queue for freeing (not referenced anymore) */
void tcp_enter(struct tn_stack *stack);
void tcp_leave(struct tn_stack *stack);
int tcp_alloc_buffers(struct tn_sock *s);
int tcp_kept_alloc(struct tn_sock *s); /* room for the kept options, defaults in it (sock.c) */

/* ---- buffer auto-tuning (tcp_buf.c) */
void tcp_rcv_space_init(struct tn_sock *s);
/* After the reader took data: grow the receive buffer to twice what it reads per RTT. */
void tcp_rcv_space_adjust(struct tn_sock *s);
/* A writer found the send buffer full: grow it towards twice the congestion window. */
void tcp_sndbuf_expand(struct tn_sock *s);
/*
 * SO_RCVBUF/SO_SNDBUF on a connection that has its rings (0: unchanged):
 * a larger size is taken now if the charge allows, a smaller one keeps the
 * rings as they are (they never shrink); either way auto-tuning stops.
 */
void tcp_buf_pin(struct tn_sock *s, uint32_t rcvbuf, uint32_t sndbuf);
void tcp_init_rcv_wscale(struct tn_sock *s);
uint8_t tcp_wscale_for(uint32_t rcvbuf_size);
/* A listener's child: joins the SYN queue, moves to the accept queue, leaves. */
/* An established child joins l's accept queue (l is told), waits for accept, or leaves. */
void tcp_child_queue(struct tn_sock *listener, struct tn_sock *child);
struct tn_sock *tcp_child_accept(struct tn_sock *listener);
/* A half-open connection of l for the SYN's 4-tuple, hashed and queued; NULL if memory is short. */
struct tcp_req *tcp_req_new(struct tn_sock *l, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
			    uint16_t rport);
void tcp_req_free(struct tcp_req *r);
static inline struct tcp_req *tcp_req_of_node(struct tn_hnode *n) { return (struct tcp_req *)n; }
void tcp_child_unlink(struct tn_sock *child);
/* Rate limit for ACKs to out-of-window segments (RFC 5961, invalid_ratelimit). */
bool tcp_oow_rate_limited(struct tn_sock *s);
/* May s send a challenge ACK now (per connection, then stack-wide; RFC 5961 7)? */
bool tcp_challenge_allowed(struct tn_sock *s);
/* Leaves the connection as a TIME_WAIT entry (or nothing if the table overflows) and ends s. */
void tcp_enter_time_wait(struct tn_sock *s);
/* An orphan in FIN_WAIT_2 leaves a compact entry (the orphan table) and ends s. */
void tcp_enter_fin_wait2(struct tn_sock *s, bool closing); /* closing: from close(), else input */
/* s was just closed by its owner and goes on closing: counted against max_orphans. */
void tcp_orphan_add(struct tn_sock *s);

/* ---- tcp_in.c */
/*
 * RACK's verdict (SACK connections): starts recovery when something is
 * lost, sets cwnd by PRR for the delivered bytes, and (rearm, or a
 * reordering wait) arms the loss timer.
 */
void tcp_detect_loss(struct tn_sock *s, uint32_t delivered, bool rearm);
void tcp_send_req_synack(struct tn_stack *stack, const struct tcp_req *r); /* (re)sends its SYN-ACK */
void tcp_apply_syn_options(struct tn_sock *s, const struct tcp_seg *g);
/* A segment for a TIME_WAIT entry (CONFORMANCE 13-17). */
void tcp_tw_input(struct tn_stack *stack, struct tn_tw_entry *e, const struct tcp_seg *g);

/* ---- tcp_syncookie.c */
struct tcp_cookie_opts {
	bool ts_ok, ws_ok, sack_ok;
	uint8_t snd_wscale;
};
uint32_t tcp_cookie_minute(const struct tn_stack *stack);
/* The entry of the MSS table a cookie carries for a peer MSS, and back. */
uint8_t tcp_cookie_mss_index(uint32_t mss);
uint16_t tcp_cookie_mss(uint8_t index);
/* Our ISN for a SYN answered with a cookie. */
uint32_t tcp_cookie_make(const struct tn_stack *stack, const struct tcp_seg *syn, uint8_t mss_index);
/* The MSS index of a valid cookie in an ACK (ack - 1), or -1 (forged or too old). */
int tcp_cookie_check(const struct tn_stack *stack, const struct tcp_seg *ack);
/* Our TSval in a cookie SYN-ACK, carrying window scale and SACK-permitted. */
uint32_t tcp_cookie_tsval(uint32_t ts_now, bool ws_ok, uint8_t wscale, bool sack_ok);
/* What the TSecr of a cookie ACK says was agreed; false: no cookie of ours. */
bool tcp_cookie_ts_decode(const struct tn_config *cfg, const struct tcp_opts *o,
			  struct tcp_cookie_opts *out);

/* ---- tcp_ofo.c */
/* Stores an in-window segment in the receive buffer; returns bytes delivered in order. */
uint32_t tcp_ofo_store(struct tn_sock *s, uint32_t seq, const uint8_t *data, uint32_t len,
		       bool *out_of_order);
/*
 * The SACK blocks to send: a pending D-SACK first (RFC 2883), then the
 * range of the latest segment and the ones reported most recently
 * (RFC 2018 4), then the highest others.
 */
uint8_t tcp_ofo_sack_blocks(const struct tn_sock *s, struct tcp_sack_block *out, uint8_t max);
/* A duplicate arrived: report [start, end) once in the next ACK. */
void tcp_ofo_dsack(struct tn_sock *s, uint32_t start, uint32_t end, bool out_of_order);

/* ---- tcp_sack.c */
/*
 * Arrays of holes (TCP_HOLES_MIN): the entries one may have for a buffer
 * of bufsize bytes and segments of mss bytes.
 */
uint32_t tcp_holes_limit(uint32_t bufsize, uint32_t mss);
/*
 * Room for entry n of the array p of *cap entries of size bytes: it grows
 * (doubling from TCP_HOLES_FIRST) up to limit entries. Returns the array,
 * perhaps moved, or NULL when it is at its limit or memory ran out
 * (counted: TcpExtTCPMemoryPressures); p stays valid then.
 */
void *tcp_holes_room(struct tn_sock *s, void *p, uint16_t n, uint16_t *cap, size_t size, uint32_t limit);
/*
 * Sorted, disjoint ranges b[0..n) (out-of-order data received, SACKed data
 * sent). The first that ends after seq (n if none):
 */
uint32_t tcp_blocks_first_ending_after(const struct tcp_sack_block *b, uint32_t n, uint32_t seq);
/*
 * [start, end) widens the range it overlaps or touches, which swallows
 * those it then reaches (true); or, overlapping none, it would go in at
 * index *at (false: tcp_blocks_insert, once there is room).
 */
bool tcp_blocks_merge(struct tcp_sack_block *b, uint16_t *n, uint32_t start, uint32_t end,
		      uint32_t *at);
void tcp_blocks_insert(struct tcp_sack_block *b, uint16_t *n, uint32_t at, uint32_t start,
		       uint32_t end);
/* Forgets the first k ranges (all the data below a new left edge). */
void tcp_blocks_drop_first(struct tcp_sack_block *b, uint16_t *n, uint32_t k);
static inline uint32_t tcp_clock_us(const struct tn_sock *s) { return (uint32_t)(tn_now(s->stack) / 1000); }
/*
 * An ACK's SACK blocks and cumulative ACK: the scoreboard takes them in,
 * RACK learns from what was newly delivered. Returns the bytes newly
 * delivered (acked or SACKed), for PRR. Call before snd_una moves.
 */
uint32_t tcp_sack_on_ack(struct tn_sock *s, const struct tcp_opts *o, uint32_t ack);
/* After snd_una moved: forget what lies below it. */
void tcp_sack_trim(struct tn_sock *s);
/* RACK: marks what is lost by now; returns the ns until more may be (0: nothing pending). */
uint64_t tcp_rack_detect(struct tn_sock *s);
/* An RTO: everything not SACKed is lost (Linux's tcp_timeout_mark_lost). */
void tcp_sack_mark_all_lost(struct tn_sock *s);
/*
 * A timeout found spurious (Eifel, F-RTO: frto; or every retransmission
 * D-SACKed): cwnd and ssthresh as before it, loss state left.
 */
void tcp_undo_rto(struct tn_sock *s, bool frto);
/* An undone timeout: nothing is lost any more (what RACK finds again will be). */
void tcp_sack_unmark_lost(struct tn_sock *s);
/* Is a retransmitted byte neither acknowledged nor SACKed yet? */
bool tcp_sack_rxt_outstanding(const struct tn_sock *s);
/* A recovery's cut proved needless: cwnd and ssthresh come back, recovery ends if nothing is lost. */
void tcp_undo_recovery(struct tn_sock *s);
/* Bytes of [start, end) neither SACKed nor retransmitted: still original transmissions. */
uint32_t tcp_sack_orig_bytes(const struct tn_sock *s, uint32_t start, uint32_t end);
/* RFC 6675 NextSeg() rules 1-2: the lowest range presumed lost and not retransmitted since. */
bool tcp_sack_next_lost(const struct tn_sock *s, uint32_t *seq, uint32_t *len);
/* How much of [seq, seq + len) the peer has not SACKed from seq on: up to its first SACKed byte. */
uint32_t tcp_sack_unsacked_run(const struct tn_sock *s, uint32_t seq, uint32_t len);
/* The lowest byte still counted in flight (neither SACKed nor marked lost); false: none. */
bool tcp_sack_first_in_flight(const struct tn_sock *s, uint32_t *seq);
/* Records a retransmission of [seq, seq + len); false when the record is full (do not send). */
bool tcp_sack_note_rxt(struct tn_sock *s, uint32_t seq, uint32_t len);
/* Records when original data from seq went. */
void tcp_sack_note_tx(struct tn_sock *s, uint32_t seq);
/* Bytes in the network (RFC 6675 pipe with RACK's idea of lost, as Linux's in_flight). */
uint32_t tcp_in_flight(const struct tn_sock *s);

/* ---- tcp_out.c */
/* Sends what the windows, Nagle and SWS avoidance allow, plus a pending ACK. */
void tcp_output(struct tn_sock *s);
void tcp_send_ack(struct tn_sock *s);
void tcp_send_syn(struct tn_sock *s);  /* SYN or SYN-ACK by state */
void tcp_send_rst(struct tn_sock *s);  /* RST for a synchronized connection (abort) */
/* Retransmits one segment starting at seq (<= mss bytes, or the FIN). Returns bytes sent. */
uint32_t tcp_retransmit(struct tn_sock *s, uint32_t seq, uint32_t max_len);
void tcp_send_probe(struct tn_sock *s); /* zero-window / keepalive probe: seq snd_una - 1 */
/* RFC 8985 7.3: a tail loss probe, the last segment again. */
void tcp_send_loss_probe(struct tn_sock *s);
/* Persist: new data up to a window too small for SWS avoidance (Linux's tcp_write_wakeup). */
uint32_t tcp_fill_window(struct tn_sock *s);
/* RST answering a segment no connection takes (RFC 9293 3.10.7.1). */
void tcp_reset_reply(struct tn_stack *stack, const struct tcp_seg *g);
/*
 * A SYN-ACK of listener l answering syn without a connection socket (a
 * half-open request, SYN cookies): seq iss, options o, window wnd.
 */
void tcp_send_synack_stateless(const struct tn_sock *l, const struct tcp_seg *syn, uint32_t iss,
			       const struct tcp_opts *o, uint16_t wnd);
uint32_t tcp_rcv_window(struct tn_sock *s); /* the window to advertise now (unscaled bytes) */
uint32_t tcp_send_mss(const struct tn_sock *s); /* payload per full segment incl. option room */
void tcp_ack_later(struct tn_sock *s);
/*
 * Inside an input batch, an ACK of in-order data (the caller says which
 * may wait) or a window update may wait for the batch's end: true when it
 * will (s is listed), false when the caller must send it now (no batch, or
 * holes to report).
 */
bool tcp_defer_ack(struct tn_sock *s);

/*
 * RACK's minimum RTT (RFC 8985) takes every microsecond RTT sample of
 * original data, the handshake's included, as Linux's tcp_min_rtt does.
 */
static inline void tcp_min_rtt_sample(struct tn_sock *s, uint32_t rtt_us)
{
	rtt_us = rtt_us ? rtt_us : 1;
	if (!s->min_rtt_us || rtt_us < s->min_rtt_us)
		s->min_rtt_us = rtt_us;
}

/* ---- tcp_timer.c */
void tcp_timers_init(struct tn_sock *s);
void tcp_timers_stop(struct tn_sock *s);
void tcp_rtt_sample(struct tn_sock *s, uint32_t rtt_us);
void tcp_rearm_rtx(struct tn_sock *s);  /* restart RTO (unacked data) or stop it */
void tcp_arm_rtx_if_idle(struct tn_sock *s);
void tcp_arm_persist(struct tn_sock *s);
/* After an ACK or a send: the RACK reordering timer, a tail loss probe or the RTO. */
void tcp_arm_loss_timer(struct tn_sock *s, uint64_t reo_ns);
/* After new data went: the probe timeout counts from the last transmission (Linux). */
void tcp_schedule_loss_probe(struct tn_sock *s);
void tcp_arm_delack(struct tn_sock *s);
/* A window update just reopened a closed or small window: repeat it while no data comes (tcp_timer.c). */
void tcp_wnd_reopened(struct tn_sock *s);
void tcp_arm_cork(struct tn_sock *s);
void tcp_arm_keepalive(struct tn_sock *s);
void tcp_arm_lifetime(struct tn_sock *s, uint64_t ms); /* FIN_WAIT_2 / TIME_WAIT */
uint32_t tcp_rto_min_us(const struct tn_sock *s);

#define TCP_CTR(s, name) TN_COUNT((s)->stack, name)

#endif
