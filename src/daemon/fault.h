/*
 * fault.h - fault injection on the tap path, for tests: a wrapper around
 * the frames tapnetd reads from the tap (rx) and writes to it (tx), like
 * smoltcp's FaultInjector around a device. Off unless [debug] asks for it.
 *
 * Each frame, in each direction on its own, is in this order and with the
 * configured chance (parts per million):
 *   dropped;
 *   corrupted: one bit flipped at a random place. A checksum the link was
 *     to fill in (PARTIAL) is filled in first and one the link vouched for
 *     (VALID) is no longer vouched for, so the receiver can see the damage,
 *     as it would behind a wire. A TSO frame out is dropped instead: the
 *     kernel checksums the segments it cuts it into, so the damage could
 *     not be seen (a receiver's FCS check would drop such a frame);
 *   duplicated: passed on twice;
 *   reordered: held back until the next frame of its direction has passed
 *     (or the delay is over, if none comes);
 *   delayed: held back for the delay.
 * With the tap's offloads on, a GSO frame (up to 64 KiB of TCP segments)
 * is one frame here, so one drop loses every segment it holds.
 *
 * Held frames are copies, at most max_held per direction; when that is
 * full a frame that was to be held passes at once (counted). Nothing here
 * blocks or reads a clock: the caller passes the time and arms one timer
 * for fault_next_deadline(). The random choices come from fault_seed, so a
 * run with the same seed and the same frames makes the same choices.
 */
#ifndef TAPNETD_FAULT_H
#define TAPNETD_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stack/stack.h"

#define FAULT_PPM 1000000u /* 100 % */

enum fault_dir { FAULT_RX = 0, FAULT_TX = 1 };

struct fault_rates {
	uint32_t drop, corrupt, duplicate, reorder, delay; /* parts per million of frames */
};

struct fault_config {
	struct fault_rates dir[2]; /* enum fault_dir */
	uint64_t seed;             /* 0: the caller picks one (and logs it) */
	uint32_t delay_ms;         /* how long a delayed frame is held */
	uint32_t max_held;         /* frames held at once per direction */
};

/*
 * Its counters, a block of the daemon's (daemon.h). FaultHeld is a gauge:
 * frames held now, both directions.
 */
#define FAULT_COUNTERS(X)                                                      \
	X(FaultRxDrops)                                                        \
	X(FaultRxCorrupts)                                                     \
	X(FaultRxDups)                                                         \
	X(FaultRxReorders)                                                     \
	X(FaultRxDelays)                                                       \
	X(FaultTxDrops)                                                        \
	X(FaultTxCorrupts)                                                     \
	X(FaultTxDups)                                                         \
	X(FaultTxReorders)                                                     \
	X(FaultTxDelays)                                                       \
	X(FaultHeldOverflows) /* frames that were to be held, passed at once */ \
	X(FaultHeld)

enum fault_counter {
#define FAULT_COUNTER_ENUM(name) FAULT_CTR_##name,
	FAULT_COUNTERS(FAULT_COUNTER_ENUM)
#undef FAULT_COUNTER_ENUM
	FAULT_CTR__COUNT
};

/* Where frames go once the faults let them: rx into the stack, tx to the tap. */
typedef void (*fault_deliver_fn)(void *ctx, enum fault_dir dir, const struct tn_frame_meta *meta,
				 const void *frame, size_t len);

/* Whether cfg asks for any fault at all. */
bool fault_config_active(const struct fault_config *cfg);

/* One line saying what cfg does, for the log. */
void fault_describe(const struct fault_config *cfg, char *buf, size_t cap);

/* counters: FAULT_CTR__COUNT of them, owned by the caller. NULL if memory is short. */
struct fault *fault_new(const struct fault_config *cfg, fault_deliver_fn deliver, void *ctx,
			uint64_t *counters);
/* Frees what is held without passing it on. */
void fault_free(struct fault *f);

/* One frame in direction dir at now_ns: passed to deliver zero, one or more times, now or later. */
void fault_frame(struct fault *f, enum fault_dir dir, uint64_t now_ns,
		 const struct tn_frame_meta *meta, const void *frame, size_t len);

/* When fault_run() has frames to pass on, TN_TIME_NEVER if none is held. */
uint64_t fault_next_deadline(const struct fault *f);

/* Passes on the held frames whose time has come. */
void fault_run(struct fault *f, uint64_t now_ns);

#endif
