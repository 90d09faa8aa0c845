/*
 * cmd_trace.c - `tapnet trace [-j] [FILTER]`: a live ladder diagram of the
 * connections that match FILTER (ladder.h), or JSON lines with -j, from
 * tapnetd's TRACE stream. GSO frames are shown as the segments they stand
 * for; the TIME-WAIT countdown comes with the ticks.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"
#include "tools/ladder.h"
#include "tools/trace_filter.h"
#include "tools/trace_stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNTDOWN_S 5 /* a TIME-WAIT countdown line this often */

_Static_assert((int)LADDER_TW_EVENTS == (int)TN_TRACE_TW__COUNT &&
		       (int)LADDER_TW_EXPIRED == (int)TN_TRACE_TW_EXPIRED &&
		       (int)LADDER_TW_RST_KILLED == (int)TN_TRACE_TW_RST_KILLED,
	       "the ladder's TIME-WAIT events are the core's");

struct trace_view {
	struct ladder *ladder;
	uint64_t ts_ns;
	bool from_tapnet;
};

static void segment_cb(void *ctx, const uint8_t *frame, size_t len)
{
	struct trace_view *v = ctx;
	ladder_segment(v->ladder, v->ts_ns, v->from_tapnet, frame, len);
}

static bool event_cb(void *ctx, const struct trace_ev *ev)
{
	struct trace_view *v = ctx;
	const struct ladder_tuple t = {
		.kernel_addr = ev->raddr, .tapnet_addr = ev->laddr,
		.kernel_port = (uint16_t)ev->rport, .tapnet_port = (uint16_t)ev->lport,
	};

	switch (ev->kind) {
	case TN_TRACE_FRAME_IN:
	case TN_TRACE_FRAME_OUT:
		v->ts_ns = ev->time_ns;
		v->from_tapnet = ev->kind == TN_TRACE_FRAME_OUT;
		tn_frame_finish(&ev->meta, ev->frame, ev->len, segment_cb, v);
		break;
	case TN_TRACE_KIND_STATE:
		ladder_state(v->ladder, ev->time_ns, &t, (int)ev->from, (int)ev->to);
		break;
	case TN_TRACE_KIND_TIMEWAIT:
		ladder_timewait(v->ladder, ev->time_ns, &t, (enum ladder_tw_event)ev->tw_event,
				ev->remaining_ms);
		break;
	case TN_TRACE_KIND_LOST:
		ladder_lost(v->ladder, ev->time_ns, ev->lost);
		break;
	}
	return !ferror(stdout);
}

static void tick_cb(void *ctx, uint64_t now_ns)
{
	struct trace_view *v = ctx;
	ladder_tick(v->ladder, now_ns, COUNTDOWN_S);
}

int cmd_trace(struct cli *cli, const struct cmd_options *opt)
{
	struct trace_filter filter;
	char err[160];
	uint64_t lost = 0;

	if (trace_filter_parse(&filter, opt->argc, opt->argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "tapnet: trace: %s\n", err);
		return EXIT_USAGE;
	}
	/* a line as soon as it happens, on a terminal or through a pipe */
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct trace_view v = { .ladder = ladder_new(stdout, opt->json, &filter) };
	if (!v.ladder)
		return fail("out of memory");
	int rc = trace_stream_run(cli, opt->argc, opt->argv, event_cb, tick_cb, &v, &lost);
	ladder_free(v.ladder);
	if (lost)
		fprintf(stderr, "tapnet: trace: %" PRIu64 " events lost (this reader was too slow)\n",
			lost);
	return rc;
}
