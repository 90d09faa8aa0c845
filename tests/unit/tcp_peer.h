/*
 * tcp_peer.h - plays the TCP peer (10.0.0.1) against one core in a unit
 * test: crafts the segments it sends and parses the segments the core sends
 * back, and sets up what the TCP tests start from (a listener, a passive
 * open). Shared by the check_* programs that test TCP.
 */
#ifndef TAPNET_TCP_PEER_H
#define TAPNET_TCP_PEER_H

#include "stack/tcp.h"
#include "stack_harness.h"

#define LPORT 80
#define RPORT 40000
#define PEER_ISN 1000u

/* What the peer sends. */
struct pseg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	const uint8_t *opt;
	size_t optlen;
	const void *data;
	size_t len;
	uint16_t sport, dport; /* 0: RPORT / LPORT */
	bool bad_csum;
	bool zero_wnd; /* wnd 0 means 65535 unless this is set */
};
void peer_send(struct harness *h, const struct pseg *p);

/* What the stack sent. */
struct oseg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	uint16_t sport, dport;
	uint32_t len;
	const uint8_t *data;
	struct tcp_opts opt;
	uint8_t ip_tos, ip_ttl; /* of the datagram that carried it */
};
/* Frame i of the output as a TCP segment (checksum checked); false if it is not one. */
bool out_seg(struct harness *h, size_t i, struct oseg *o);
/* TCP segments sent since the last h_clear() (ARP traffic is not counted). */
size_t tcp_out_count(struct harness *h);
/* The only TCP segment sent since the last h_clear(). */
struct oseg last_only(struct harness *h);

/* MSS 1460, SACK permitted, TS 1/0, WS 7. */
extern const uint8_t syn_opts[20];
/* NOP NOP TS(tsval, tsecr): 12 bytes into out. */
void ts_opt(uint8_t out[12], uint32_t tsval, uint32_t tsecr);

struct conn {
	struct harness *h;
	struct tn_sock *l, *s;
	uint32_t iss;     /* the stack's */
	uint32_t snd;     /* peer's next seq */
	uint32_t rcv;     /* next seq expected from the stack */
};

/* Defaults without timestamps (plain segments unless a test asks), the peer's MAC learnt. */
void peer_config(struct tn_config *cfg);
struct harness *new_harness(void);
struct harness *new_harness_cfg(const struct tn_config *cfg);
/* A listener on LPORT of h's stack (bind and listen asserted). */
struct tn_sock *peer_listener(struct harness *h, int backlog);
/* new_harness_cfg(cfg) (NULL: peer_config) with a listener on LPORT in *l. */
struct harness *new_server(const struct tn_config *cfg, int backlog, struct tn_sock **l);
/*
 * The peer's handshake from port rport with ISN peer_isn, no options, at
 * listener l; returns the accepted socket, *iss gets the stack's ISN. The
 * output is cleared after the SYN-ACK.
 */
struct tn_sock *accept_from(struct harness *h, struct tn_sock *l, uint16_t rport,
			    uint32_t peer_isn, uint32_t *iss);
/* Passive open through the three-way handshake; leaves the output cleared. */
struct conn open_passive(void);
/*
 * The same with cfg (NULL: peer_config) and the peer's SYN options; with
 * timestamps the peer's TSval is 1 in the SYN and 2 in the ACK.
 */
struct conn open_passive_cfg(const struct tn_config *cfg, const uint8_t *opt, size_t optlen);
/* The same on a path of round-trip time rtt_ns: the peer's ACK comes that long after the SYN-ACK. */
struct conn open_passive_rtt(const struct tn_config *cfg, const uint8_t *opt, size_t optlen,
			     uint64_t rtt_ns);
/*
 * open_passive_cfg's two steps, for a test that looks in between, on c->h
 * with the listener c->l: the peer's SYN (the SYN-ACK checked and returned,
 * c->iss, snd and rcv set, the output cleared), then its ACK (nothing sent
 * back; c->s accepted, ESTABLISHED).
 */
struct oseg passive_syn(struct conn *c, const uint8_t *opt, size_t optlen);
void passive_ack(struct conn *c, const struct oseg *synack);
void close_conn(struct conn *c);

#endif
