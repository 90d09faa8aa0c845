/*
 * ladder.h - `tapnet trace`'s view: a ladder diagram of TCP connections,
 * the kernel's side on the left and tapnet on the right, one arrow per
 * segment (flags, relative seq/ack, length, window) and tapnet's state
 * changes and TIME-WAIT events between them; or the same as JSON lines.
 */
#ifndef TAPNET_LADDER_H
#define TAPNET_LADDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "tools/trace_filter.h"

/* What happens to a TIME-WAIT entry (the daemon's trace events say which). */
enum ladder_tw_event {
	LADDER_TW_ENTER,       /* the connection became an entry: remaining_ms to live */
	LADDER_TW_FIN_REACKED, /* a retransmitted FIN, ACKed again; timer restarted */
	LADDER_TW_ACKED,       /* another segment, answered with an ACK */
	LADDER_TW_RECYCLED,    /* a new SYN took the 4-tuple over (RFC 6191) */
	LADDER_TW_SYN_REFUSED, /* an old SYN: ACKed, the entry stays */
	LADDER_TW_RST_KILLED,  /* a RST ended it early (rfc1337 = 0) */
	LADDER_TW_RST_IGNORED, /* a RST, ignored (rfc1337 = 1) */
	LADDER_TW_EXPIRED,     /* 2*MSL passed: gone */
	LADDER_TW_EVENTS
};

struct ladder_tuple {
	uint32_t kernel_addr, tapnet_addr; /* host order */
	uint16_t kernel_port, tapnet_port;
};

#define LADDER_CONNS 64 /* connections whose sequence bases are remembered */

struct ladder;

/* out: where lines go; json: JSON lines instead of the diagram; f: what to show (kept). */
struct ladder *ladder_new(FILE *out, bool json, const struct trace_filter *f);
void ladder_free(struct ladder *l);
/* One segment on the wire (an Ethernet frame, a GSO frame already cut): from_tapnet or to it. */
void ladder_segment(struct ladder *l, uint64_t ts_ns, bool from_tapnet, const uint8_t *frame,
		    size_t len);
/* tapnet's socket for t went from state to state (enum tn_tcp_state values). */
void ladder_state(struct ladder *l, uint64_t ts_ns, const struct ladder_tuple *t, int from, int to);
void ladder_timewait(struct ladder *l, uint64_t ts_ns, const struct ladder_tuple *t,
		     enum ladder_tw_event ev, uint32_t remaining_ms);
/* The daemon dropped n events for this reader (it was too slow). */
void ladder_lost(struct ladder *l, uint64_t ts_ns, uint64_t n);
/* Called now and then: the countdown of TIME-WAIT entries, every countdown_s seconds. */
void ladder_tick(struct ladder *l, uint64_t ts_ns, unsigned countdown_s);

#endif
