/*
 * sim.h - two tapnet cores on a simulated Ethernet wire, driven by one fake
 * clock. The wire is a fault-injecting wrapper around each core's frame
 * output: loss, duplication, corruption, reordering (extra delay), a fixed
 * propagation delay and an optional bottleneck rate with a drop-tail queue,
 * all from a seeded RNG so every run is reproducible.
 */
#ifndef TAPNET_SIM_H
#define TAPNET_SIM_H

#include "stack/stack.h"

#include <stdbool.h>
#include <stdint.h>

struct sim_link {
	double loss;            /* probability a frame is dropped */
	double dup;             /* probability a frame is delivered twice */
	double corrupt;         /* probability one byte of a frame is flipped */
	double reorder;         /* probability a frame gets extra delay */
	uint64_t delay_ns;      /* one-way propagation delay */
	uint64_t reorder_ns;    /* maximum extra delay of a reordered frame */
	uint64_t rate_bps;      /* bottleneck rate, 0: unlimited */
	uint64_t queue_ns;      /* drop-tail when the queue holds more than this */
	/*
	 * Stalls: for stall_ns at the start of every stall_every_ns the link
	 * holds what is sent and delivers it, in order, when the stall ends
	 * (a radio link's pause, a path change): the delay spike that makes
	 * an RTO spurious.
	 */
	uint64_t stall_every_ns, stall_ns;
	/*
	 * Receive batches: a frame that becomes due waits rx_batch_ns (a NIC's
	 * interrupt coalescing), then every frame due by then goes in as one
	 * batch (tn_stack_batch_begin/end, as tapnetd reads the tap). 0: each
	 * frame on its own, no batch.
	 */
	uint64_t rx_batch_ns;
	/*
	 * Frames a core sends with offloads (cfg.offload): by default the wire
	 * completes PARTIAL checksums and cuts GSO frames into segments, as a
	 * NIC would, before any fault. gso_whole: it passes them whole, meta
	 * and all, as a tap to a local receiver (corruption then goes unseen:
	 * do not combine the two).
	 */
	bool gso_whole;
};

struct sim_pkt;

struct sim_node {
	struct sim *sim;
	int idx;
	struct tn_stack *stack;
	uint64_t rng;
	uint64_t busy_until; /* bottleneck serialization of this node's output */
};

/*
 * Sees every frame a node emits (from: its index) before the link does;
 * returning true drops it. For tests that lose one particular segment.
 */
typedef bool (*sim_filter)(void *arg, int from, const uint8_t *frame, size_t len);

struct sim {
	uint64_t now;
	uint64_t rng;
	struct sim_link link;
	struct sim_node node[2];
	struct sim_pkt **heap; /* pending deliveries, by time */
	size_t nheap, capheap;
	uint64_t seq;          /* FIFO order among equal times */
	uint64_t frames, dropped, duplicated, corrupted, reordered, stalled;
	sim_filter filter;     /* NULL: none */
	void *filter_arg;
};

#define SIM_ADDR_A 0x0a000001u /* 10.0.0.1 */
#define SIM_ADDR_B 0x0a000002u /* 10.0.0.2 */

/* cfg may be NULL (defaults); node 0 gets 10.0.0.1, node 1 10.0.0.2. */
struct sim *sim_new(const struct sim_link *link, uint64_t seed, const struct tn_config *cfg);
void sim_free(struct sim *sim);
/* Next event time (delivery or timer), TN_TIME_NEVER if none. */
uint64_t sim_next_event(const struct sim *sim);
/* Advances to the next event no later than until; returns false if none was due. */
bool sim_step(struct sim *sim, uint64_t until);
/* Runs all events up to now + ns. */
void sim_run_for(struct sim *sim, uint64_t ns);

#endif
