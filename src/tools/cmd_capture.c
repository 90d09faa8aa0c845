/*
 * cmd_capture.c - `tapnet capture -w FILE [-c COUNT] [FILTER]`: what
 * crosses the tap, as a pcap file tshark and wireshark read cleanly: GSO
 * frames are written as the segments they stand for, and checksums left
 * to the link are filled in (tn_frame_finish).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"
#include "tools/pcap.h"
#include "tools/trace_filter.h"
#include "tools/trace_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct capture {
	FILE *f;
	uint64_t ts_ns;
	uint64_t written, max; /* max 0: no limit */
	int err;               /* errno of the first failed write */
};

static void segment_cb(void *ctx, const uint8_t *frame, size_t len)
{
	struct capture *c = ctx;
	if (c->err || (c->max && c->written >= c->max))
		return;
	if (pcap_write_frame(c->f, c->ts_ns, frame, len) < 0)
		c->err = errno ? errno : EIO;
	else
		c->written++;
}

static bool event_cb(void *ctx, const struct trace_ev *ev)
{
	struct capture *c = ctx;

	if (ev->kind == TN_TRACE_FRAME_IN || ev->kind == TN_TRACE_FRAME_OUT) {
		c->ts_ns = ev->time_ns;
		tn_frame_finish(&ev->meta, ev->frame, ev->len, segment_cb, c);
	}
	return !c->err && (!c->max || c->written < c->max);
}

int cmd_capture(struct cli *cli, const struct cmd_options *opt)
{
	struct trace_filter filter;
	struct capture c = { .max = opt->count };
	char err[160];
	uint64_t lost = 0;

	if (!opt->write_file) {
		fprintf(stderr, "tapnet: capture: which file? (-w FILE)\n");
		return EXIT_USAGE;
	}
	if (trace_filter_parse(&filter, opt->argc, opt->argv, err, sizeof(err)) < 0) {
		fprintf(stderr, "tapnet: capture: %s\n", err);
		return EXIT_USAGE;
	}
	bool to_stdout = strcmp(opt->write_file, "-") == 0;
	c.f = to_stdout ? stdout : fopen(opt->write_file, "wb");
	if (!c.f)
		return fail("capture: %s: %s", opt->write_file, strerror(errno));
	if (pcap_write_header(c.f) < 0 || fflush(c.f) != 0) {
		int e = errno;
		if (!to_stdout)
			fclose(c.f);
		return fail("capture: %s: %s", opt->write_file, strerror(e));
	}
	int rc = trace_stream_run(cli, opt->argc, opt->argv, event_cb, NULL, &c, &lost);
	if (c.err)
		rc = fail("capture: %s: %s", opt->write_file, strerror(c.err));
	if ((to_stdout ? fflush(c.f) : fclose(c.f)) != 0 && rc == EXIT_SUCCESS)
		rc = fail("capture: %s: %s", opt->write_file, strerror(errno));
	fprintf(stderr, "tapnet: capture: %" PRIu64 " frames written to %s", c.written,
		opt->write_file);
	if (lost)
		fprintf(stderr, "; %" PRIu64 " events lost (this reader was too slow)", lost);
	fputc('\n', stderr);
	return rc;
}
