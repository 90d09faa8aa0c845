/*
 * trace_stream.c - reads a TRACE subscription's event stream: see
 * trace_stream.h.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/trace_stream.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 1000
#define FRAME_MAX 65600 /* an Ethernet header and the largest IPv4 datagram, with room */

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

/* arg: the filter words, one string */
static void trace_attrs(struct tn_rpc_writer *w, const void *arg)
{
	const char *filter_words = arg;

	if (filter_words[0])
		tn_rpc_put_str(w, TN_ATTR_TRACE_FILTER, filter_words);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct reader {
	trace_ev_fn fn;
	void *ctx;
	uint64_t *lost;
	/* a frame longer than one message: its first part, waiting for FRAME_CONT */
	struct trace_ev pending;
	size_t have;
	uint8_t frame[FRAME_MAX];
};

static bool get_u32(const struct tn_rpc_attr_view *a, uint32_t *v, bool *ok)
{
	*ok &= tn_rpc_get_u32(a, v);
	return *ok;
}

/* One TRACE_EVENT message. -1: malformed; 0: stop; 1: go on. */
static int handle_event(struct reader *r, const uint8_t *msg, size_t len)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	struct trace_ev ev = { 0 };
	uint32_t v = 0, frame_len = 0;
	bool ok = true;
	const uint8_t *part = NULL;
	size_t part_len = 0;

	tn_rpc_iter_msg(&it, msg, len);
	while (tn_rpc_next(&it, &a)) {
		switch (a.type) {
		case TN_ATTR_TRACE_KIND: get_u32(&a, &ev.kind, &ok); break;
		case TN_ATTR_TRACE_TIME_NS: ok &= tn_rpc_get_u64(&a, &ev.time_ns); break;
		case TN_ATTR_TRACE_FRAME: part = a.value; part_len = a.len; break;
		case TN_ATTR_TRACE_FRAME_LEN: get_u32(&a, &frame_len, &ok); break;
		case TN_ATTR_TRACE_GSO_TYPE: if (get_u32(&a, &v, &ok)) ev.meta.gso_type = (uint16_t)v; break;
		case TN_ATTR_TRACE_GSO_SIZE: if (get_u32(&a, &v, &ok)) ev.meta.gso_size = (uint16_t)v; break;
		case TN_ATTR_TRACE_CSUM_START: if (get_u32(&a, &v, &ok)) ev.meta.csum_start = (uint16_t)v; break;
		case TN_ATTR_TRACE_CSUM_OFFSET: if (get_u32(&a, &v, &ok)) ev.meta.csum_offset = (uint16_t)v; break;
		case TN_ATTR_TRACE_META_FLAGS: if (get_u32(&a, &v, &ok)) ev.meta.flags = (uint8_t)v; break;
		case TN_ATTR_SOCK_LADDR: get_u32(&a, &ev.laddr, &ok); break;
		case TN_ATTR_SOCK_LPORT: get_u32(&a, &ev.lport, &ok); break;
		case TN_ATTR_SOCK_RADDR: get_u32(&a, &ev.raddr, &ok); break;
		case TN_ATTR_SOCK_RPORT: get_u32(&a, &ev.rport, &ok); break;
		case TN_ATTR_TRACE_FROM: get_u32(&a, &ev.from, &ok); break;
		case TN_ATTR_TRACE_TO: get_u32(&a, &ev.to, &ok); break;
		case TN_ATTR_TRACE_TW_EVENT: get_u32(&a, &ev.tw_event, &ok); break;
		case TN_ATTR_TRACE_REMAINING_MS: get_u32(&a, &ev.remaining_ms, &ok); break;
		case TN_ATTR_TRACE_LOST: ok &= tn_rpc_get_u64(&a, &ev.lost); break;
		default: break; /* a newer daemon's */
		}
	}
	if (it.bad || !ok || ev.lport > 65535 || ev.rport > 65535)
		return -1;
	switch (ev.kind) {
	case TN_TRACE_FRAME_IN:
	case TN_TRACE_FRAME_OUT:
		if (!part || frame_len > sizeof(r->frame) || part_len > frame_len)
			return -1;
		memcpy(r->frame, part, part_len);
		r->have = part_len;
		r->pending = ev;
		if (r->have < frame_len) {
			r->pending.len = frame_len; /* the rest follows */
			return 1;
		}
		ev.frame = r->frame;
		ev.len = frame_len;
		r->pending.kind = 0;
		break;
	case TN_TRACE_FRAME_CONT:
		if (!part || !r->pending.kind || part_len > r->pending.len - r->have)
			return -1;
		memcpy(r->frame + r->have, part, part_len);
		r->have += part_len;
		if (r->have < r->pending.len)
			return 1;
		ev = r->pending;
		ev.frame = r->frame;
		r->pending.kind = 0;
		break;
	case TN_TRACE_KIND_LOST:
		*r->lost += ev.lost;
		break;
	case TN_TRACE_KIND_STATE:
	case TN_TRACE_KIND_TIMEWAIT:
		break;
	default:
		return 1; /* a newer daemon's kind */
	}
	return r->fn(r->ctx, &ev) ? 1 : 0;
}

int trace_stream_run(struct cli *cli, int argc, char **argv, trace_ev_fn fn, trace_tick_fn tick,
		     void *ctx, uint64_t *lost)
{
	char filter_words[1024] = "";
	size_t used = 0;
	for (int i = 0; i < argc; i++) {
		int n = snprintf(filter_words + used, sizeof(filter_words) - used, "%s%s",
				 i ? " " : "", argv[i]);
		if (n < 0 || (size_t)n >= sizeof(filter_words) - used)
			return fail("filter: too long");
		used += (size_t)n;
	}
	int rc = cli_connect(cli);
	if (rc != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_TRACE, trace_attrs, filter_words)) != EXIT_SUCCESS)
		return rc;

	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: poll() returns */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct reader *r = calloc(1, sizeof(*r));
	uint8_t *buf = malloc(2 * TN_RPC_MAX_MSG);
	size_t len = 0;
	if (!r || !buf) {
		free(r);
		free(buf);
		return fail("out of memory");
	}
	r->fn = fn;
	r->ctx = ctx;
	r->lost = lost;
	*lost = 0;
	rc = EXIT_SUCCESS;
	uint64_t next_tick = realtime_ns() + TICK_MS * 1000000ull;
	while (!stop_signal) {
		struct pollfd p = { .fd = cli->fd, .events = POLLIN };
		int n = poll(&p, 1, TICK_MS);
		uint64_t now = realtime_ns();
		if (tick && now >= next_tick) {
			tick(ctx, now);
			next_tick = now + TICK_MS * 1000000ull;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail("poll: %s", strerror(errno));
			break;
		}
		if (n == 0)
			continue;
		ssize_t got = read(cli->fd, buf + len, 2 * TN_RPC_MAX_MSG - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			rc = got == 0 ? fail("tapnetd closed the connection")
				      : fail("reading from tapnetd: %s", strerror(errno));
			break;
		}
		len += (size_t)got;
		size_t off = 0;
		int go = 1;
		while (go > 0 && off < len) {
			struct tn_rpc_header hdr;
			enum tn_rpc_parse pr = tn_rpc_parse_header(buf + off, len - off, &hdr);
			if (pr == TN_RPC_NEED_MORE || (pr == TN_RPC_OK && len - off < hdr.length))
				break;
			if (pr != TN_RPC_OK || hdr.type != (TN_RPC_TRACE_EVENT | TN_RPC_REPLY) ||
			    !tn_rpc_validate(buf + off, hdr.length)) {
				go = -1;
				break;
			}
			go = handle_event(r, buf + off, hdr.length);
			off += hdr.length;
		}
		if (go < 0) {
			rc = malformed("bad TRACE_EVENT");
			break;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
		if (go == 0)
			break;
	}
	free(r);
	free(buf);
	return rc;
}
