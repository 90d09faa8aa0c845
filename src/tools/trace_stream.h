/*
 * trace_stream.h - the client side of a TRACE subscription (rpc/rpc.h):
 * asks tapnetd for the event stream with a filter and hands each event,
 * decoded and checked, to a callback, until a signal, the callback or the
 * daemon ends it. Shared by `tapnet trace` and `tapnet capture`.
 */
#ifndef TAPNET_TRACE_STREAM_H
#define TAPNET_TRACE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "stack/stack.h"
#include "tools/cli.h"

struct trace_ev {
	uint32_t kind;      /* enum tn_trace_kind (never FRAME_CONT: frames come whole) */
	uint64_t time_ns;   /* CLOCK_REALTIME */
	/* FRAME_IN, FRAME_OUT */
	struct tn_frame_meta meta;
	const uint8_t *frame;
	size_t len;
	/* STATE, TIMEWAIT */
	uint32_t laddr, lport, raddr, rport;
	uint32_t from, to;
	uint32_t tw_event, remaining_ms;
	/* LOST */
	uint64_t lost;
};

/* Returns false to stop. */
typedef bool (*trace_ev_fn)(void *ctx, const struct trace_ev *ev);
/* Called about every second with CLOCK_REALTIME now (may be NULL). */
typedef void (*trace_tick_fn)(void *ctx, uint64_t now_ns);

/*
 * Subscribes with the filter words (already checked by trace_filter_parse)
 * and runs until SIGINT/SIGTERM (EXIT_SUCCESS), fn returning false
 * (EXIT_SUCCESS), or an error (reported). *lost gets the events the daemon
 * dropped for us.
 */
int trace_stream_run(struct cli *cli, int argc, char **argv, trace_ev_fn fn, trace_tick_fn tick,
		     void *ctx, uint64_t *lost);

#endif
