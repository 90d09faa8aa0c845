/*
 * stack.h - the tapnet protocol core: the only header other folders include.
 *
 * The core is a library without I/O: time, randomness and frame output come
 * in through struct tn_env, frames go in through tn_stack_input(). The owner
 * (tapnetd, a test, a fuzzer) arms one timer for tn_stack_next_deadline() and
 * calls tn_stack_run_timers() when it fires.
 *
 * Addresses (tn_ip4) are in host byte order everywhere in this API.
 */
#ifndef TAPNET_STACK_H
#define TAPNET_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint32_t tn_ip4;

/* 127.0.0.0/8: the loopback's, never on a link (RFC 1122 3.2.1.3) */
static inline bool tn_ip4_is_loopback(tn_ip4 addr)
{
	return (addr >> 24) == 127;
}

#define TN_ETH_ALEN 6
#define TN_NSEC_PER_MSEC 1000000ULL
#define TN_NSEC_PER_SEC 1000000000ULL
#define TN_TIME_NEVER UINT64_MAX

/*
 * Per-frame metadata: the TAP virtio-net header (GSO/TSO and checksum
 * offload). Frames in: the link may say their TCP checksum is valid or not
 * yet filled in (a local sender's), and may be one TCP segment larger than
 * the MTU (gso_size tells its sender's segment size). Frames out: only what
 * cfg.offload allows; a TCPV4 frame is a run of gso_size segments that the
 * link cuts up (or delivers whole), with the checksum PARTIAL: the TCP
 * checksum field holds the pseudo-header sum, the link completes it over
 * the bytes from csum_start and stores it at csum_start + csum_offset.
 */
enum tn_gso_type { TN_GSO_NONE = 0, TN_GSO_TCPV4 = 1 };
#define TN_OFFLOAD_CSUM 0x01 /* frames out may leave the TCP checksum PARTIAL */
#define TN_OFFLOAD_TSO4 0x02 /* frames out may be TCPV4 GSO frames (needs CSUM) */
#define TN_FRAME_CSUM_PARTIAL 0x01 /* L4 checksum still to be filled in */
#define TN_FRAME_CSUM_VALID 0x02   /* L4 checksum already verified */

struct tn_frame_meta {
	uint16_t gso_type; /* enum tn_gso_type */
	uint16_t gso_size; /* segment payload size when gso_type != NONE */
	uint16_t csum_start;
	uint16_t csum_offset;
	uint8_t flags; /* TN_FRAME_CSUM_* */
};

/*
 * Does the link's part of a PARTIAL checksum (the sum from csum_start on,
 * the field holding the pseudo-header sum) and clears the flag, so the
 * frame carries a checksum anyone can check. false, frame untouched, when
 * the offsets do not fit in len; true when there was nothing to do.
 */
bool tn_frame_csum_complete(struct tn_frame_meta *meta, uint8_t *frame, size_t len);

/*
 * What a NIC does with a frame the core left work in (or the kernel handed
 * over with offloads): a PARTIAL TCP checksum completed, a TCPV4 GSO frame
 * cut into its gso_size segments with their own headers and checksums.
 * Calls emit once per wire frame (the buffer is reused after it returns);
 * returns how many. meta NULL: a plain frame, emitted as it is.
 */
size_t tn_frame_finish(const struct tn_frame_meta *meta, const uint8_t *frame, size_t len,
		       void (*emit)(void *ctx, const uint8_t *frame, size_t len), void *ctx);

/* A piece of a frame or payload: len bytes at base. */
#define TN_OUTPUT_PIECES_MAX 3
struct tn_iov {
	const void *base;
	size_t len;
};

struct tn_env {
	uint64_t (*now_ns)(void *ctx);                     /* monotonic */
	void (*random)(void *ctx, void *buf, size_t len);  /* unpredictable bytes */
	void (*output)(void *ctx, const struct tn_frame_meta *meta,
		       const void *frame, size_t len);     /* one Ethernet frame */
	void *ctx;
	/*
	 * Optional (NULL: output only): one Ethernet frame of len bytes in n
	 * pieces, the first holding every header (Ethernet, IP, TCP with its
	 * options), the others the payload where it lies (a socket's send
	 * buffer), so that it is not first copied into one piece. The pieces
	 * are valid only during the call. Returns false to have the same
	 * frame given to output instead, in one piece.
	 */
	bool (*output_iov)(void *ctx, const struct tn_frame_meta *meta, const struct tn_iov *piece,
			   int n, size_t len); /* n: 2..TN_OUTPUT_PIECES_MAX */
};

/* Everything the core can be told; tn_config_defaults() fills the defaults. */
struct tn_config {
	uint8_t mac[TN_ETH_ALEN]; /* all zero: derive 02:54:4e:xx:xx:xx from addr */
	tn_ip4 addr;              /* our IPv4 address */
	uint8_t prefix_len;       /* on-link prefix, default 24 */
	tn_ip4 gateway;           /* 0: none (off-link destinations unreachable) */
	uint16_t mtu;             /* IP MTU of the link, default 1500 (68..65535) */
	uint8_t offload;          /* TN_OFFLOAD_*: what frames out may ask of the link, default 0 */

	/* ARP / neighbour cache */
	uint32_t arp_cache_size;     /* entries, default 256 */
	uint32_t arp_reachable_ms;   /* an answered entry is used this long, default 60000 */
	uint32_t arp_retry_ms;       /* between requests while resolving, default 1000 */
	uint32_t arp_max_retries;    /* requests before giving up, default 3 */
	uint32_t arp_queue_len;      /* frames held per unresolved neighbour, default 16 */
	uint32_t arp_queue_bytes;    /* bytes held per unresolved neighbour, default 212992 */
	uint32_t arp_queue_total_len;   /* frames held for all unresolved neighbours, default 1024 */
	uint32_t arp_queue_total_bytes; /* bytes held for all of them, default 1048576 */

	/* IPv4 */
	uint8_t ip_default_ttl;      /* default 64 */
	uint32_t reasm_timeout_ms;   /* default 30000 */
	uint32_t reasm_max_datagrams;/* in progress at once, default 64 */
	uint32_t reasm_max_bytes;    /* all fragments held, default 4 MiB */

	/* ICMP */
	uint32_t icmp_ratelimit_ms;  /* min gap between rate-limited errors, default 1000 */
	uint32_t icmp_ratelimit_burst; /* default 6, like Linux's icmp_msgs_burst scaled down */

	/* TCP (defaults set in tn_config_defaults, checked by tn_tcp_config_check) */
	/*
	 * Buffers per connection, bytes, as Linux's tcp_rmem/tcp_wmem: a
	 * connection starts with tcp_rcvbuf/tcp_sndbuf and grows up to _max
	 * with its path (receive: what the reader takes per round trip; send:
	 * twice the congestion window); _min is the least SO_RCVBUF/SO_SNDBUF
	 * pins. min == default == max: fixed sizes, no auto-tuning.
	 */
	uint32_t tcp_rcvbuf_min, tcp_rcvbuf, tcp_rcvbuf_max;   /* default 4 KiB, 64 KiB, 6 MiB */
	uint32_t tcp_sndbuf_min, tcp_sndbuf, tcp_sndbuf_max;   /* default 4 KiB, 16 KiB, 4 MiB */
	uint32_t tcp_syn_retries;       /* SYN retransmissions before giving up, default 6 */
	uint32_t tcp_synack_retries;    /* SYN-ACK retransmissions, default 5 */
	uint32_t tcp_retries;           /* data retransmissions before giving up, default 15 */
	uint32_t tcp_rto_min_ms;        /* default 200 */
	uint32_t tcp_rto_initial_ms;    /* default 1000 */
	uint32_t tcp_rto_max_ms;        /* default 120000 */
	uint32_t tcp_delack_ms;         /* delayed ACK timeout, default 40 */
	uint32_t tcp_keepalive_time_s;  /* idle before the first probe, default 7200 */
	uint32_t tcp_keepalive_intvl_s; /* between probes, default 75 */
	uint32_t tcp_keepalive_probes;  /* unanswered probes before reset, default 9 */
	uint16_t tcp_port_min;          /* ephemeral port range, default 32768 */
	uint16_t tcp_port_max;          /* default 60999 */
	uint32_t tcp_time_wait_ms;      /* 2*MSL, default 60000 (1..3600000) */
	uint32_t tcp_fin_timeout_ms;    /* orphaned FIN_WAIT_2 lifetime, default 60000 */
	uint32_t tcp_tw_max_buckets;    /* TIME_WAIT entries at most, default 262144 (0..2^24) */
	uint8_t tcp_tw_overflow;        /* enum tn_tcp_tw_overflow: when the table is full, default drop */
	uint8_t tcp_tw_reuse;           /* 1: connect() may take a TIME_WAIT 4-tuple (timestamps), default 0 */
	uint32_t tcp_max_syn_backlog;   /* SYN queue bound per listener, default 256 */
	uint32_t tcp_somaxconn;         /* accept queue bound (caps listen backlog), default 4096 */
	uint32_t tcp_invalid_ratelimit_ms; /* min gap between out-of-window ACKs, default 500 */
	uint32_t tcp_challenge_ack_limit;  /* challenge ACKs per second, whole stack, default 1000 */
	uint32_t tcp_max_conns;         /* live connections (incl. listeners), default 65536 */
	bool tcp_sack;                  /* offer/accept SACK, default true */
	bool tcp_timestamps;            /* default true */
	bool tcp_window_scaling;        /* default true */
	bool tcp_rfc1337;               /* ignore RST in TIME_WAIT, default false */
	uint8_t tcp_congestion;         /* enum tn_tcp_cc, default CUBIC */
	uint8_t tcp_syncookies;         /* enum tn_tcp_syncookies, default YES */
	uint32_t tcp_max_orphans;       /* orphaned connections at most, default 65536 */
};

enum tn_tcp_cc { TN_TCP_CC_CUBIC = 0, TN_TCP_CC_NEWRENO = 1 };
/* SYN cookies: never, when a listener's SYN queue is full (Linux tcp_syncookies=1), or for every SYN. */
enum tn_tcp_syncookies { TN_TCP_SYNCOOKIES_NO = 0, TN_TCP_SYNCOOKIES_YES = 1, TN_TCP_SYNCOOKIES_ALWAYS = 2 };
/* A full TIME_WAIT table: the closing connection gets no entry (Linux), or the oldest entry goes. */
enum tn_tcp_tw_overflow { TN_TCP_TW_DROP = 0, TN_TCP_TW_EVICT_OLDEST = 1 };

void tn_config_defaults(struct tn_config *cfg);

struct tn_stack;

/* Returns NULL when cfg is invalid (see tn_config_check) or memory is short. */
struct tn_stack *tn_stack_new(const struct tn_config *cfg, const struct tn_env *env);
void tn_stack_free(struct tn_stack *stack);

/* NULL when cfg is usable, else a message naming the bad field. */
const char *tn_config_check(const struct tn_config *cfg);

/*
 * A reload (SIGHUP): applies what may change while the stack runs — timers
 * and timeouts, limits and rate limits, TCP options and policies (for
 * connections made from now on; a shorter time_wait or fin_timeout also
 * shortens the entries already there) — and keeps what is fixed at
 * creation: address, prefix, MAC, MTU, offloads, and the sizes of tables
 * allocated then (arp cache_size, reasm_max_datagrams; tw_max_buckets and
 * max_orphans may go down but not above their first value). running gets
 * the configuration in force afterwards (what was kept shows there).
 * Returns NULL, or why fresh is unusable (then nothing changed).
 */
const char *tn_stack_reconfigure(struct tn_stack *stack, const struct tn_config *fresh,
				 struct tn_config *running);

/* Announce ourselves (gratuitous ARP). Call once the link is up. */
void tn_stack_start(struct tn_stack *stack);

/* One received Ethernet frame (without FCS). meta may be NULL. */
void tn_stack_input(struct tn_stack *stack, const struct tn_frame_meta *meta,
		    const void *frame, size_t len);

/*
 * A batch of frames read together (a poll of the link): between begin and
 * end, a connection's ACK of in-order data that came as merged runs (TSO/GRO
 * frames, meta->gso_type), and a window update, wait for the end and cover
 * the whole batch, as Linux ACKs a GRO packet. Segments that come one by
 * one keep every-second-segment ACKs; out-of-order data, holes, quick ACK
 * mode after a hole, FINs and duplicates are answered at once. The owner
 * may call the socket API inside the batch (a reader that drains the
 * receive buffer before the end makes the ACK carry the larger window).
 * Every begin needs its end.
 */
void tn_stack_batch_begin(struct tn_stack *stack);
void tn_stack_batch_end(struct tn_stack *stack);

/* Absolute time (ns, the env's clock) of the next timer, TN_TIME_NEVER if none. */
uint64_t tn_stack_next_deadline(const struct tn_stack *stack);
/* Run every timer due at or before now_ns. */
void tn_stack_run_timers(struct tn_stack *stack, uint64_t now_ns);

/* The MAC the stack uses: the configured one, or the one derived from its address. */
void tn_stack_get_mac(const struct tn_stack *stack, uint8_t mac[TN_ETH_ALEN]);

/* TCP counters (nstat names); TcpCurrEstab is a gauge. */
#define TN_TCP_COUNTERS(X)                                                     \
	X(TcpActiveOpens)                                                      \
	X(TcpPassiveOpens)                                                     \
	X(TcpAttemptFails)                                                     \
	X(TcpEstabResets)                                                      \
	X(TcpCurrEstab)                                                        \
	X(TcpInSegs)                                                           \
	X(TcpOutSegs)                                                          \
	X(TcpRetransSegs)                                                      \
	X(TcpInErrs)                                                           \
	X(TcpInCsumErrors)                                                     \
	X(TcpOutRsts)                                                          \
	X(TcpExtListenOverflows)                                               \
	X(TcpExtListenDrops)                                                   \
	X(TcpExtTCPSackRecovery)                                               \
	X(TcpExtTCPPMTUDecreases) /* ICMP "fragmentation needed" lowered the MSS */ \
	X(TcpExtTCPRenoRecovery)                                               \
	X(TcpExtTCPFastRetrans)                                                \
	X(TcpExtTCPSlowStartRetrans)                                           \
	X(TcpExtTCPTimeouts)                                                   \
	X(TcpExtTCPSynRetrans)                                                 \
	X(TcpExtTCPChallengeACK)                                               \
	X(TcpExtTCPSYNChallenge)                                               \
	X(TcpExtTCPSACKReorder)                                                \
	X(TcpExtTCPOFOQueue)                                                   \
	X(TcpExtTCPOFODrop)                                                    \
	X(TcpExtTCPSACKDiscard)                                                \
	X(TcpExtPAWSEstab)                                                     \
	X(TcpExtTCPACKSkippedSeq)                                              \
	X(TcpExtTCPAbortOnData)                                                \
	X(TcpExtTCPAbortOnClose)                                               \
	X(TcpExtTCPAbortOnTimeout)                                             \
	X(TcpExtTCPAbortOnLinger)                                              \
	X(TcpExtTCPKeepAlive)                                                  \
	X(TcpExtDelayedACKs)                                                   \
	X(TcpExtTCPPureAcks)                                                   \
	X(TcpExtTCPHPAcks)                                                     \
	X(TcpExtTCPWinProbe)                                                   \
	X(TcpExtTCPToZeroWindowAdv)                                            \
	X(TcpExtTCPFromZeroWindowAdv)                                          \
	X(TcpWindowUpdateRepeats)  /* an update reopening a zero window, again */ \
	X(TcpExtTCPOrigDataSent)                                               \
	/* loss recovery (RFC 6675, RFC 6937, RFC 8985), as Linux counts it */ \
	X(TcpExtTCPLossProbes)     /* tail loss probes sent */                 \
	X(TcpExtTCPLossProbeRecovery) /* a probe repaired a tail loss */       \
	X(TcpExtTCPLostRetransmit) /* a retransmission found lost again */     \
	X(TcpExtTCPDSACKRecv)                                                  \
	X(TcpExtTCPDSACKOldSent)   /* D-SACK for data below rcv_nxt */         \
	X(TcpExtTCPDSACKOfoSent)   /* D-SACK for data already held out of order */ \
	X(TcpExtTCPSACKReneging)                                               \
	X(TcpExtTCPLossFailures)   /* an RTO during recovery */                \
	X(TcpExtTCPDSACKUndo)      /* D-SACKs showed a recovery was spurious: undone */ \
	X(TcpExtTCPTSReorder)      /* an ACK's timestamp: a hole filled by its delayed original */ \
	X(TcpExtTCPPartialUndo)    /* ... and the recovery's cut undone before its end */ \
	X(TcpExtTCPFullUndo)       /* ... and undone as the recovery ended */ \
	X(TcpExtTCPLossUndo)       /* an RTO proved spurious: cwnd, ssthresh undone */ \
	X(TcpExtTCPSpuriousRTOs)   /* of those, found by F-RTO (RFC 5682) */   \
	X(TcpExtTCPHystartDelayDetect) /* HyStart++ saw the RTT grow: slow start ends */ \
	X(TcpExtSyncookiesSent)                                                \
	X(TcpExtSyncookiesRecv)                                                \
	X(TcpExtSyncookiesFailed)                                              \
	X(TcpExtTCPReqQFullDoCookies)                                          \
	X(TcpExtTCPReqQFullDrop)                                               \
	/* a buffer growth the buffer limits refused (Linux: memory pressure stops growth) */ \
	X(TcpExtTCPMemoryPressures)                                            \
	X(TcpExtTCPAbortOnMemory)                                              \
	X(TcpExtTCPACKSkippedChallenge)                                        \
	/* tcp_output stopped at its bound of frames per call (tcp_out.c): a runaway? */ \
	X(TcpOutputBoundHits)

/*
 * Counters, nstat names. One list, expanded where needed (X-macro), so a
 * new counter is one line here and shows up in `tapnet stats` by itself.
 */
#define TN_COUNTERS(X)                                                         \
	X(EthInFrames)                                                         \
	X(EthInTruncated)                                                      \
	X(EthInNotForUs)                                                       \
	X(EthInUnknownType)                                                    \
	X(EthOutFrames)                                                        \
	X(ArpInRequests)                                                       \
	X(ArpInReplies)                                                        \
	X(ArpInErrors)                                                         \
	X(ArpOutRequests)                                                      \
	X(ArpOutReplies)                                                       \
	X(ArpResolveFails)                                                     \
	X(ArpQueueDrops)                                                       \
	X(ArpCacheFull)                                                        \
	X(ArpUnresolvedEvictions) /* entries still resolving given up for room */ \
	X(IpInReceives)                                                        \
	X(IpInHdrErrors)                                                       \
	X(IpInAddrErrors)                                                      \
	X(IpInUnknownProtos)                                                   \
	X(IpInDiscards)                                                        \
	X(IpInDelivers)                                                        \
	X(IpOutRequests)                                                       \
	X(IpOutNoRoutes)                                                       \
	X(IpOutDiscards)                                                       \
	X(IpReasmReqds)                                                        \
	X(IpReasmOKs)                                                          \
	X(IpReasmFails)                                                        \
	X(IpReasmTimeout)                                                      \
	X(IpFragOKs)                                                           \
	X(IpFragFails)                                                         \
	X(IpFragCreates)                                                       \
	X(IcmpInMsgs)                                                          \
	X(IcmpInErrors)                                                        \
	X(IcmpInCsumErrors)                                                    \
	X(IcmpInEchos)                                                         \
	X(IcmpInEchoReps)                                                      \
	X(IcmpInDestUnreachs)                                                  \
	X(IcmpOutMsgs)                                                         \
	X(IcmpOutEchoReps)                                                     \
	X(IcmpOutDestUnreachs)                                                 \
	X(IcmpOutRateLimited)                                                  \
	X(TcpExtTW)                                                            \
	X(TcpExtTWRecycled)                                                    \
	X(TcpExtTWKilled)                                                      \
	X(TcpExtTCPTimeWaitOverflow)                                           \
	X(TcpTimeWaitCurrent)                                                  \
	TN_TCP_COUNTERS(X)

enum tn_counter {
#define TN_COUNTER_ENUM(name) TN_CTR_##name,
	TN_COUNTERS(TN_COUNTER_ENUM)
#undef TN_COUNTER_ENUM
	TN_CTR__COUNT
};

const char *tn_counter_name(enum tn_counter c);
uint64_t tn_stack_counter(const struct tn_stack *stack, enum tn_counter c);

/* Neighbour cache, for `tapnet arp`. */
enum tn_arp_state { TN_ARP_INCOMPLETE, TN_ARP_REACHABLE, TN_ARP_STALE, TN_ARP_FAILED };
const char *tn_arp_state_name(enum tn_arp_state s);

struct tn_arp_info {
	tn_ip4 addr;
	uint8_t mac[TN_ETH_ALEN];
	enum tn_arp_state state;
	uint64_t expires_ns; /* absolute; TN_TIME_NEVER if none */
	uint32_t queued;     /* frames waiting for resolution */
};

/* Fills up to max entries, returns how many entries exist (may be > max). */
size_t tn_stack_arp_list(const struct tn_stack *stack, struct tn_arp_info *out, size_t max);

/* Helpers for printing (buf >= 16 / 18 bytes). */
const char *tn_ip4_str(tn_ip4 addr, char buf[16]);
const char *tn_mac_str(const uint8_t mac[TN_ETH_ALEN], char buf[18]);

/* ---- TCP sockets
 *
 * A struct tn_sock is one TCP endpoint inside the core. Every call returns
 * 0 (or a byte count) on success and a negative errno like the kernel's on
 * failure. Events are reported through one callback per socket, always
 * from the top of a core entry point (never in the middle of processing a
 * segment), so the callback may call any tn_sock_* function, including
 * tn_sock_close() on itself.
 *
 * After tn_sock_close() the handle is gone; the core finishes the
 * connection on its own (FIN, retransmissions, TIME_WAIT) and frees it.
 */
struct tn_sock;

enum tn_tcp_state {
	TN_TCP_CLOSED,
	TN_TCP_LISTEN,
	TN_TCP_SYN_SENT,
	TN_TCP_SYN_RECEIVED,
	TN_TCP_ESTABLISHED,
	TN_TCP_FIN_WAIT_1,
	TN_TCP_FIN_WAIT_2,
	TN_TCP_CLOSE_WAIT,
	TN_TCP_CLOSING,
	TN_TCP_LAST_ACK,
	TN_TCP_TIME_WAIT,
};
const char *tn_tcp_state_name(enum tn_tcp_state s); /* "ESTAB", "SYN-SENT", ... like ss */

#define TN_SOCK_EV_READABLE 0x01   /* data or EOF can be read */
#define TN_SOCK_EV_WRITABLE 0x02   /* send buffer has room again */
#define TN_SOCK_EV_CONNECTED 0x04  /* active open completed */
#define TN_SOCK_EV_ACCEPT 0x08     /* a listener has a connection to accept */
#define TN_SOCK_EV_ERROR 0x10      /* reset, refused, timed out: see tn_sock_error() */
#define TN_SOCK_EV_CLOSED 0x20     /* the connection reached CLOSED */

typedef void (*tn_sock_cb)(struct tn_sock *s, unsigned events, void *arg);

struct tn_sock *tn_sock_open(struct tn_stack *stack); /* NULL when out of memory */
/*
 * A socket's settings (its options, what an accepted socket has of its
 * listener's, and the address and port bind() named), kept apart from it,
 * for a connect after its connect failed: Linux connects the same socket
 * again, tapnet a new one with those settings, bound where the old one was
 * (tn_sock_open_with: NULL with -errno in *err, -ENOMEM or the bind's).
 * tn_sock_settings_save: NULL when out of memory.
 */
struct tn_sock_settings;
struct tn_sock_settings *tn_sock_settings_save(const struct tn_sock *s);
struct tn_sock *tn_sock_open_with(struct tn_stack *stack, const struct tn_sock_settings *set,
				  int *err);
void tn_sock_settings_free(struct tn_sock_settings *set);
int tn_sock_bind(struct tn_sock *s, tn_ip4 addr, uint16_t port);  /* addr 0: any; port 0: ephemeral */
int tn_sock_listen(struct tn_sock *s, int backlog);
/* Next established connection, or NULL (-EAGAIN/-EINVAL in *err if err != NULL). */
struct tn_sock *tn_sock_accept(struct tn_sock *s, int *err);
/* Starts an active open; completion is TN_SOCK_EV_CONNECTED or _ERROR. Returns -EINPROGRESS. */
int tn_sock_connect(struct tn_sock *s, tn_ip4 addr, uint16_t port);
long tn_sock_send(struct tn_sock *s, const void *buf, size_t len); /* -EAGAIN when full */
long tn_sock_recv(struct tn_sock *s, void *buf, size_t len);       /* 0 at EOF, -EAGAIN if none */
/*
 * Reading in place: the readable bytes as they sit in the receive buffer, in
 * at most two pieces (it is a ring), for a caller that hands them on without
 * a copy of its own. Returns the bytes the pieces hold (> 0, *npieces 1 or
 * 2), or, with *npieces 0, what tn_sock_recv returns when nothing is left to
 * read: 0 at EOF, -EAGAIN, or a pending error. Nothing is taken until
 * tn_sock_recv_consume() drops the first n bytes, which then works as
 * tn_sock_recv would have (window update included). The pieces stay valid
 * until the next call into the stack.
 */
struct tn_sock_piece {
	const uint8_t *base;
	size_t len;
};
long tn_sock_recv_peek(struct tn_sock *s, struct tn_sock_piece piece[2], int *npieces);
void tn_sock_recv_consume(struct tn_sock *s, size_t n); /* n <= the bytes peeked */
/*
 * Writing in place, the other way: the free space of the send buffer in at
 * most two pieces, for a caller that reads its data straight into them.
 * Returns the bytes free (> 0), or what tn_sock_send would return when it
 * cannot take data (-EAGAIN when full, -EPIPE, -ENOTCONN, an error). An
 * error is not taken: it stays pending for tn_sock_recv (or tn_sock_error)
 * to report after the data before it.
 * tn_sock_send_commit() then queues the first n bytes written there and
 * sends what it may, as tn_sock_send would. The pieces stay valid until
 * the next call into the stack.
 */
struct tn_sock_wpiece {
	uint8_t *base;
	size_t len;
};
long tn_sock_send_space(struct tn_sock *s, struct tn_sock_wpiece piece[2], int *npieces);
long tn_sock_send_commit(struct tn_sock *s, size_t n);
#define TN_SHUT_RD 0
#define TN_SHUT_WR 1
#define TN_SHUT_RDWR 2
int tn_sock_shutdown(struct tn_sock *s, int how);
void tn_sock_close(struct tn_sock *s); /* FIN (or RST with unread data / linger 0) */
void tn_sock_abort(struct tn_sock *s); /* RST now, then close */
void tn_sock_set_callback(struct tn_sock *s, tn_sock_cb cb, void *arg);
/*
 * Delivery past the receive buffer: in-order peer bytes (nothing out of
 * order held) are first offered to fn(arg, piece, npieces) with the
 * callback's arg, in the middle of tn_stack_input: the buffer's unread
 * bytes, if any, in one or two pieces, then the new bytes as the last
 * piece, in stream order. fn hands on what it can without blocking and
 * returns how many bytes it took from the front (0 up to the pieces'
 * total); those count as read, and the new bytes it did not take go to
 * the buffer as usual. It saves a copy for a caller that would otherwise
 * read them from the buffer right away, and the unread bytes in front let
 * it do so behind a few bytes the buffer already holds. fn must not call
 * into the stack. Used only while a callback is set; cleared with it
 * (tn_sock_set_callback(s, NULL, NULL)), so set it before the callback.
 */
typedef size_t (*tn_sock_deliver_fn)(void *arg, const struct tn_sock_piece *piece, int npieces);
void tn_sock_set_deliver(struct tn_sock *s, tn_sock_deliver_fn fn);

/*
 * Socket options. Buffer sizes (SO_RCVBUF/SO_SNDBUF) pin the socket's
 * buffers: no auto-tuning; a listener's connections inherit them; on a
 * connection they only grow (tcp_buf_pin).
 */
int tn_sock_set_nodelay(struct tn_sock *s, bool on);
/* TCP_CORK (TCP_NOPUSH): full segments only, for at most 200 ms; off sends the rest at once. */
int tn_sock_set_cork(struct tn_sock *s, bool on);
int tn_sock_set_keepalive(struct tn_sock *s, bool on, uint32_t idle_s, uint32_t intvl_s,
			  uint32_t probes); /* 0: keep the current value */
int tn_sock_set_bufsize(struct tn_sock *s, uint32_t rcvbuf, uint32_t sndbuf); /* 0: unchanged */
int tn_sock_set_linger(struct tn_sock *s, bool on, uint32_t seconds);
/*
 * TCP_USER_TIMEOUT (RFC 5482, as Linux): how long sent data may stay
 * unacknowledged, or a zero window last, or keepalive probes go
 * unanswered, before the connection ends with ETIMEDOUT; it replaces the
 * retry counts (tcp_retries, keepalive probes) where it applies. 0: off.
 */
int tn_sock_set_user_timeout(struct tn_sock *s, uint32_t ms);
/*
 * TCP_CONGESTION: "cubic" or "reno" (len bytes, no NUL needed); -ENOENT for
 * any other, as Linux for an algorithm it does not have. A connection
 * switches at once, starting the new one afresh from its cwnd and
 * ssthresh (Linux's tcp_reinit_congestion_control).
 */
int tn_sock_set_congestion(struct tn_sock *s, const char *name, size_t len);
/*
 * IP_TOS and IP_TTL of the socket's segments (and of a listener's SYN-ACKs
 * and connections). The TOS keeps its ECN bits clear, as Linux's TCP
 * leaves them to itself; TTL 0 is the stack's default (ip_default_ttl).
 */
#define TN_IP_TOS_ECN_MASK 0x03 /* the TOS bits a TCP socket's IP_TOS leaves alone */
void tn_sock_set_tos(struct tn_sock *s, uint8_t tos);
void tn_sock_set_ttl(struct tn_sock *s, uint8_t ttl);
/*
 * TCP_MAXSEG (user_mss, 0: none): the MSS the socket's SYN or a listener's
 * SYN-ACKs offer and the most its connection sends, whatever the peer
 * offers (Linux's mss_clamp). It counts at the handshake only.
 */
void tn_sock_set_user_mss(struct tn_sock *s, uint16_t mss);
/* TCP_SYNCNT: SYN (a listener's: SYN-ACK) retransmissions before giving up; 0: the stack's. */
void tn_sock_set_syn_retries(struct tn_sock *s, uint8_t retries);
/*
 * TCP_LINGER2: < 0, an orphan whose FIN the peer acknowledged goes at once
 * instead of waiting in FIN_WAIT_2 (Linux: TcpExtTCPAbortOnData); >= 0 is
 * kept for getsockopt, the wait being the stack's fin_timeout either way.
 */
void tn_sock_set_linger2(struct tn_sock *s, int32_t seconds);
/*
 * Options Linux keeps and reports that change nothing tapnet does (the
 * daemon checks and converts the values as Linux does, sockets_opt.c).
 * The core only keeps them, so that a listener's connections inherit the
 * first TN_KEPT_INHERITED, as Linux's sk_clone copies them; the rest are
 * a listener's own (its accept queue's, which Linux does not copy).
 */
enum tn_sock_kept {
	TN_KEPT_OOBINLINE,      /* SO_OOBINLINE */
	TN_KEPT_PRIORITY,       /* SO_PRIORITY (no qdisc behind tap0) */
	TN_KEPT_PACING_RATE,    /* SO_MAX_PACING_RATE, -1: none (tapnet does not pace) */
	TN_KEPT_BUSY_POLL,      /* SO_BUSY_POLL */
	TN_KEPT_DONTROUTE,      /* SO_DONTROUTE (tapnet's one link has no gateway to skip) */
	TN_KEPT_BROADCAST,      /* SO_BROADCAST (no meaning for TCP) */
	TN_KEPT_QUICKACK,       /* TCP_QUICKACK, 1 by default */
	TN_KEPT_THIN_LINEAR,    /* TCP_THIN_LINEAR_TIMEOUTS */
	TN_KEPT_NOTSENT_LOWAT,  /* TCP_NOTSENT_LOWAT (the socketpair decides when a write waits) */
	TN_KEPT_WINDOW_CLAMP,   /* TCP_WINDOW_CLAMP */
	TN_KEPT_BIND_NO_PORT,   /* IP_BIND_ADDRESS_NO_PORT */
	TN_KEPT_FREEBIND,       /* IP_FREEBIND */
	TN_KEPT_MTU_DISCOVER,   /* IP_MTU_DISCOVER, 1 (IP_PMTUDISC_WANT) by default */
	TN_KEPT_RECVERR,        /* IP_RECVERR */
	TN_KEPT_FASTOPEN_CONNECT, /* TCP_FASTOPEN_CONNECT (connect as Linux without a cookie) */
	TN_KEPT_INHERITED,
	TN_KEPT_DEFER_ACCEPT = TN_KEPT_INHERITED, /* TCP_DEFER_ACCEPT, as SYN-ACK retransmissions */
	TN_KEPT_FASTOPEN,       /* TCP_FASTOPEN's queue length (tapnet answers no Fast Open SYN) */
	TN_KEPT_N
};
int tn_sock_set_kept(struct tn_sock *s, enum tn_sock_kept k, int64_t v); /* 0 or -ENOMEM */
int64_t tn_sock_get_kept(const struct tn_sock *s, enum tn_sock_kept k);
int tn_sock_set_reuseaddr(struct tn_sock *s, bool on);
/* SO_REUSEPORT: shares a port with sockets that set it with the same owner (a uid). */
int tn_sock_set_reuseport(struct tn_sock *s, bool on, uint32_t owner);

/*
 * Who pays for a connection's buffers. The core calls charge(ctx, owner,
 * bytes) before it allocates a connection's send and receive buffers
 * (bytes > 0; false refuses them: connect fails with ENOBUFS, a listener's
 * new connection is dropped, TcpExtListenDrops) and charge(ctx, owner,
 * -bytes) when it frees them: for a closed connection, only once its FIN
 * exchange is over, since it holds them until then. owner is what
 * tn_sock_set_owner gave the socket; a listener's connections get the
 * listener's. NULL fn: nobody counts.
 */
typedef bool (*tn_charge_fn)(void *ctx, void *owner, int64_t bytes);
void tn_stack_set_charge(struct tn_stack *stack, tn_charge_fn fn, void *ctx);
void tn_sock_set_owner(struct tn_sock *s, void *owner);

/* The options set above, as they are now (an accepted socket's come from its listener). */
struct tn_sock_opts {
	bool nodelay, cork, keepalive, linger, reuseaddr, reuseport;
	uint32_t linger_s, ka_idle_s, ka_intvl_s, ka_probes;
	uint32_t rcvbuf, sndbuf;
	uint32_t user_timeout_ms;
	uint8_t tos, ttl; /* ttl: the one its segments carry, the default when none was set */
	uint16_t user_mss;   /* 0: none */
	uint8_t syn_retries; /* the one that counts: the stack's when none was set */
	int32_t linger2_s;   /* as getsockopt reads it: as set, else fin_timeout; -1: no wait */
};
void tn_sock_get_opts(const struct tn_sock *s, struct tn_sock_opts *o);

/* Pending error (SO_ERROR semantics: read and cleared), 0 if none. */
int tn_sock_error(struct tn_sock *s);
enum tn_tcp_state tn_sock_state(const struct tn_sock *s);
size_t tn_sock_readable(const struct tn_sock *s); /* bytes ready for tn_sock_recv */
size_t tn_sock_writable(const struct tn_sock *s); /* room in the send buffer */
uint32_t tn_sock_rcvbuf_size(const struct tn_sock *s); /* the receive buffer now (it grows) */

struct tn_sock_info {
	enum tn_tcp_state state;
	tn_ip4 local_addr, remote_addr;
	uint16_t local_port, remote_port;
	uint32_t recv_q;       /* received, not read (listener: accept queue length) */
	uint32_t send_q;       /* sent or queued, not acknowledged (listener: backlog) */
	uint32_t rtt_us, rttvar_us, rto_ms;
	uint32_t mss;          /* payload bytes per full segment we send */
	uint32_t rcv_mss;
	uint32_t cwnd;         /* segments */
	uint32_t ssthresh;     /* segments, UINT32_MAX when unset */
	uint32_t snd_wnd, rcv_wnd;
	uint8_t snd_wscale, rcv_wscale;
	bool ts, sack, nodelay, keepalive, orphan;
	uint32_t retransmits;  /* consecutive timeouts now */
	uint64_t total_retrans;
	uint64_t bytes_acked, bytes_received;
	const char *cc;        /* "cubic", "reno" */
	/* loss recovery */
	const char *ca_state;  /* "open", "recovery" (fast recovery), "loss" (after an RTO) */
	uint32_t lost, sacked; /* segments presumed lost (not yet resent), SACKed */
	uint32_t min_rtt_us;   /* 0 before a sample */
	bool reord_seen;
	/* buffers (auto-tuning), as Linux's ss shows skmem rb/tb and rcv_space */
	uint32_t rcvbuf, sndbuf;  /* current sizes, bytes */
	uint32_t rcv_space;       /* bytes the reader took in its last measured round trip */
};
int tn_sock_info(const struct tn_sock *s, struct tn_sock_info *info);
/* Every connection and listener, for `tapnet ss`: fills up to max, returns how many exist. */
size_t tn_sock_list(const struct tn_stack *stack, struct tn_sock_info *out, size_t max);

/*
 * TIME_WAIT. A connection that closed first (or closed simultaneously) has
 * no socket anymore: it is an entry of the TIME_WAIT table for time_wait
 * (2*MSL). These list them, like `ss -tan state time-wait`.
 * (Counters: TcpExtTW expired, TcpExtTWRecycled reused, TcpExtTWKilled ended
 * by RST, TcpExtTCPTimeWaitOverflow table full, TcpTimeWaitCurrent a gauge.)
 */
struct tn_tw_info {
	tn_ip4 local_addr, remote_addr;
	uint16_t local_port, remote_port;
	uint32_t remaining_ms; /* until the entry expires */
	uint32_t snd_nxt, rcv_nxt;
	bool ts;               /* timestamps were in use */
};
/* Fills up to max entries, oldest first; returns how many exist (may be > max). */
size_t tn_timewait_list(const struct tn_stack *stack, struct tn_tw_info *out, size_t max);
size_t tn_timewait_count(const struct tn_stack *stack);

/*
 * Tracing: what TCP does, as it happens, for `tapnet trace`. The tracer is
 * called synchronously from inside the core with one compact event; it
 * must not call back into the stack. Without a tracer (the default) an
 * event costs one predictable branch and nothing is built.
 */
enum tn_trace_type {
	TN_TRACE_STATE = 1, /* a connection of ours changed state: from -> to */
	TN_TRACE_TIMEWAIT,  /* something happened to a TIME-WAIT entry: tw_event */
};
/* What happens to a TIME-WAIT entry. */
enum tn_trace_tw {
	TN_TRACE_TW_ENTER,       /* the connection became an entry: remaining_ms to live */
	TN_TRACE_TW_FIN_REACKED, /* a retransmitted FIN, ACKed again; timer restarted */
	TN_TRACE_TW_ACKED,       /* another segment, answered with an ACK */
	TN_TRACE_TW_RECYCLED,    /* a new SYN took the 4-tuple over (RFC 6191) */
	TN_TRACE_TW_SYN_REFUSED, /* an old SYN (or no listener): ACKed, the entry stays */
	TN_TRACE_TW_RST_KILLED,  /* a RST ended it early (rfc1337 = 0) */
	TN_TRACE_TW_RST_IGNORED, /* a RST, ignored (rfc1337, or not the exact sequence number) */
	TN_TRACE_TW_EXPIRED,     /* 2*MSL passed: gone */
	TN_TRACE_TW__COUNT
};
struct tn_trace_event {
	uint8_t type;          /* enum tn_trace_type */
	uint8_t from, to;      /* STATE: enum tn_tcp_state */
	uint8_t tw_event;      /* TIMEWAIT: enum tn_trace_tw */
	uint32_t remaining_ms; /* TIMEWAIT: the entry's time left */
	tn_ip4 local_addr, remote_addr;
	uint16_t local_port, remote_port;
};
typedef void (*tn_trace_fn)(void *ctx, const struct tn_trace_event *ev);
/* fn NULL: no tracing. */
void tn_stack_set_tracer(struct tn_stack *stack, tn_trace_fn fn, void *ctx);
/*
 * The same oldest first, from the start-th socket on (0: the oldest), for
 * listings in pages: sockets opened meanwhile do not move the ones already
 * listed (closed ones do). Fills up to max, returns how many exist in all.
 */
size_t tn_sock_list_from(const struct tn_stack *stack, size_t start, struct tn_sock_info *out,
			 size_t max);

#endif
