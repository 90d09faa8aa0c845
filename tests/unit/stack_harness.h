/*
 * stack_harness.h - drive one tapnet core in a test: a fake clock, captured
 * output frames, deterministic randomness and builders for crafted frames.
 */
#ifndef TAPNET_STACK_HARNESS_H
#define TAPNET_STACK_HARNESS_H

#include "stack/stack_internal.h"

#define H_MAX_FRAMES 4096

struct h_frame {
	size_t len;
	uint8_t *data;         /* a PARTIAL checksum completed, as the link would */
	struct tn_frame_meta meta;
	uint16_t partial_sum;  /* with PARTIAL: what the checksum field held */
};

struct harness {
	struct tn_stack *stack;
	uint64_t now;        /* ns */
	uint64_t rng;        /* xorshift state */
	struct h_frame out[H_MAX_FRAMES];
	size_t nout;
	size_t dropped_out;  /* frames beyond H_MAX_FRAMES */
	size_t out_in_pieces; /* frames the stack gave in pieces (tn_env.output_iov) */
	int out_pieces_max;   /* the most pieces of one of them */
	const struct tn_frame_meta *in_meta; /* what h_input says of its frames (NULL: nothing) */
};

/* The peer every test talks as: 10.0.0.1 with this MAC; the stack is 10.0.0.2/24. */
#define H_PEER_IP 0x0a000001u
#define H_STACK_IP 0x0a000002u
extern const uint8_t h_peer_mac[TN_ETH_ALEN];
extern const uint8_t h_stack_mac[TN_ETH_ALEN]; /* the derived default 02:54:4e:00:00:02 */

/* cfg NULL: defaults. */
struct harness *h_new(const struct tn_config *cfg);
void h_free(struct harness *h);
void h_input(struct harness *h, const void *frame, size_t len);
void h_clear(struct harness *h);
/* Moves the clock by ns and runs the timers that became due. */
void h_advance(struct harness *h, uint64_t ns);
uint64_t h_counter(struct harness *h, enum tn_counter c);
#define H_CTR(h, name) h_counter((h), TN_CTR_##name)

/* Teaches the stack the peer's MAC (an ARP request for us from the peer). */
void h_learn_peer(struct harness *h);

/* ---- frame builders: each returns the frame length written into buf */
size_t h_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type,
	     const void *payload, size_t len);
size_t h_arp(uint8_t *buf, uint16_t op, const uint8_t *sha, tn_ip4 spa, const uint8_t *tha,
	     tn_ip4 tpa);
/* An IPv4 datagram from the peer to the stack, inside an Ethernet frame. */
struct h_ip_opts {
	tn_ip4 src, dst;   /* 0: peer / stack */
	uint8_t proto;
	uint8_t ttl;       /* 0: 64 */
	uint16_t id;
	uint16_t frag;     /* flags + offset field */
	bool bad_csum;
	bool zero_ttl;
};
size_t h_ipv4(uint8_t *buf, const struct h_ip_opts *o, const void *payload, size_t len);
/* An ICMP echo request with len bytes of patterned data. */
size_t h_icmp_echo(uint8_t *buf, uint16_t id, uint16_t seq, size_t len);

/* ---- reading what the stack sent */
const uint8_t *h_out_ip(struct harness *h, size_t i, size_t *len); /* NULL if not IPv4 */
const uint8_t *h_out_arp(struct harness *h, size_t i);             /* NULL if not ARP */

#endif
