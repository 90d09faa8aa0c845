/*
 * trace.c - TRACE subscribers: see trace.h.
 *
 * An event is encoded once into a scratch message and copied into the
 * buffer of each subscriber whose filter it matches; the buffers are
 * flushed when their connections are writable (libev), so one write
 * carries many events and the frame path never waits for a reader.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon.h"
#include "rpc/rpc.h"
#include "tools/trace_filter.h"

#define TRACE_LOST_MAX 64 /* bytes of a LOST event */
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17

struct trace_sub {
	struct trace *t;
	struct trace_sub *prev, *next;
	int fd;
	void (*wake)(void *ctx);
	void *ctx;
	bool filtered; /* false: everything matches */
	struct trace_filter filter;
	uint8_t *buf;  /* TRACE_SUB_BUFFER bytes; head..tail unsent */
	size_t head, tail;
	uint64_t lost; /* events dropped since the last LOST event queued */
};

struct trace {
	struct tapnetd *d;
	struct trace_sub *subs;
	/* one event's messages, encoded once for every subscriber */
	uint8_t msg[TN_RPC_MAX_MSG];
	uint8_t cont[TN_RPC_MAX_MSG];
};

static uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct trace *trace_new(struct tapnetd *d)
{
	struct trace *t = calloc(1, sizeof(*t));
	if (t)
		t->d = d;
	return t;
}

void trace_free(struct trace *t)
{
	while (t && t->subs)
		trace_unsubscribe(t->subs);
	free(t);
}

bool trace_active(const struct trace *t)
{
	return t && __builtin_expect(t->subs != NULL, 0);
}

/* Room for len more bytes at the tail, moving the unsent ones to the front if that makes it. */
static bool sub_room(struct trace_sub *s, size_t len)
{
	if (TRACE_SUB_BUFFER - s->tail >= len)
		return true;
	if (s->head == 0 || TRACE_SUB_BUFFER - (s->tail - s->head) < len)
		return false;
	memmove(s->buf, s->buf + s->head, s->tail - s->head);
	s->tail -= s->head;
	s->head = 0;
	return true;
}

/*
 * Can s take an event of len bytes (with the LOST event it owes)? If not,
 * the event is lost, counted, before anything is encoded: a stopped
 * reader costs the frame path no copy.
 */
static bool sub_takes(struct trace_sub *s, size_t len)
{
	if (sub_room(s, len + (s->lost ? TRACE_LOST_MAX : 0)))
		return true;
	s->lost++;
	DAEMON_COUNT(s->t->d, TraceEventsLost, 1);
	return false;
}

/* Bytes of a message with attributes of these value lengths (rpc.h: 4-byte headers, padding to 4). */
static size_t msg_size(const size_t *values, size_t n)
{
	size_t len = TN_RPC_HDR_LEN;
	for (size_t i = 0; i < n; i++)
		len += TN_RPC_ATTR_HDR_LEN + ((values[i] + 3) & ~(size_t)3);
	return len;
}

/* The LOST event s owes, queued if it fits with room more bytes behind it. */
static bool sub_queue_lost(struct trace_sub *s, size_t room)
{
	uint8_t lost[TRACE_LOST_MAX];
	struct tn_rpc_writer w;

	tn_rpc_begin(&w, lost, sizeof(lost), TN_RPC_TRACE_EVENT | TN_RPC_REPLY, TN_RPC_CONNECTION_ID);
	tn_rpc_put_u32(&w, TN_ATTR_TRACE_KIND, TN_TRACE_KIND_LOST);
	tn_rpc_put_u64(&w, TN_ATTR_TRACE_TIME_NS, realtime_ns());
	tn_rpc_put_u64(&w, TN_ATTR_TRACE_LOST, s->lost);
	long n = tn_rpc_end(&w);
	if (n <= 0 || !sub_room(s, (size_t)n + room))
		return false;
	memcpy(s->buf + s->tail, lost, (size_t)n);
	s->tail += (size_t)n;
	s->lost = 0;
	return true;
}

/* The event's messages (a, then b if any) whole, or counted as lost. */
static void sub_queue(struct trace_sub *s, const uint8_t *a, size_t alen, const uint8_t *b,
		      size_t blen)
{
	struct tapnetd *d = s->t->d;
	bool was_empty = s->head == s->tail;

	if (s->lost)
		sub_queue_lost(s, alen + blen);
	if (s->lost || !sub_room(s, alen + blen)) {
		s->lost++;
		DAEMON_COUNT(d, TraceEventsLost, 1);
		return;
	}
	memcpy(s->buf + s->tail, a, alen);
	s->tail += alen;
	if (blen) {
		memcpy(s->buf + s->tail, b, blen);
		s->tail += blen;
	}
	DAEMON_COUNT(d, TraceEvents, 1);
	if (was_empty)
		s->wake(s->ctx);
}

static bool sub_wants(const struct trace_sub *s, uint32_t saddr, uint16_t sport, uint32_t daddr,
		      uint16_t dport)
{
	return !s->filtered || trace_filter_match(&s->filter, saddr, sport, daddr, dport);
}

static void begin_event(struct tn_rpc_writer *w, uint8_t *buf, uint32_t kind)
{
	tn_rpc_begin(w, buf, TN_RPC_MAX_MSG, TN_RPC_TRACE_EVENT | TN_RPC_REPLY, TN_RPC_CONNECTION_ID);
	tn_rpc_put_u32(w, TN_ATTR_TRACE_KIND, kind);
	tn_rpc_put_u64(w, TN_ATTR_TRACE_TIME_NS, realtime_ns());
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Addresses and ports of an IPv4 frame, for filters; false for anything
 * else (ARP...), which only unfiltered subscribers get.
 */
static bool frame_tuple(const uint8_t *f, size_t len, uint32_t *saddr, uint16_t *sport,
			uint32_t *daddr, uint16_t *dport)
{
	if (len < ETH_HLEN + 20 || get16(f + 12) != ETH_P_IP || (f[ETH_HLEN] >> 4) != 4)
		return false;
	size_t ihl = (size_t)(f[ETH_HLEN] & 0x0f) * 4;
	uint8_t proto = f[ETH_HLEN + 9];
	bool first_fragment = (get16(f + ETH_HLEN + 6) & 0x1fff) == 0;
	*saddr = get32(f + ETH_HLEN + 12);
	*daddr = get32(f + ETH_HLEN + 16);
	*sport = *dport = 0;
	if ((proto == IP_PROTO_TCP || proto == IP_PROTO_UDP) && first_fragment && ihl >= 20 &&
	    ETH_HLEN + ihl + 4 <= len) {
		*sport = get16(f + ETH_HLEN + ihl);
		*dport = get16(f + ETH_HLEN + ihl + 2);
	}
	return true;
}

void trace_frame(struct trace *t, bool from_tapnet, const struct tn_frame_meta *meta,
		 const void *frame, size_t len)
{
	struct tn_rpc_writer w, c;
	uint32_t saddr = 0, daddr = 0;
	uint16_t sport = 0, dport = 0;
	bool ip = frame_tuple(frame, len, &saddr, &sport, &daddr, &dport);
	size_t first = len < TN_RPC_TRACE_CHUNK ? len : TN_RPC_TRACE_CHUNK;
	long alen = -1, blen = 0;
	/* KIND, TIME_NS, FRAME_LEN, five of meta, FRAME; the rest: KIND, TIME_NS, FRAME */
	const size_t a_values[] = { 4, 8, 4, 4, 4, 4, 4, 4, first };
	const size_t b_values[] = { 4, 8, len - first };
	size_t need = msg_size(a_values, 9) + (len > first ? msg_size(b_values, 3) : 0);

	for (struct trace_sub *s = t->subs, *next; s; s = next) {
		next = s->next;
		/* filters speak of the kernel's side and tapnet's, whichever way the frame goes */
		if (s->filtered && (!ip || !sub_wants(s, saddr, sport, daddr, dport)))
			continue;
		if (!sub_takes(s, need))
			continue;
		if (alen < 0) { /* encoded at the first subscriber that wants it */
			begin_event(&w, t->msg, from_tapnet ? TN_TRACE_FRAME_OUT : TN_TRACE_FRAME_IN);
			tn_rpc_put_u32(&w, TN_ATTR_TRACE_FRAME_LEN, (uint32_t)len);
			tn_rpc_put_u32(&w, TN_ATTR_TRACE_GSO_TYPE, meta->gso_type);
			tn_rpc_put_u32(&w, TN_ATTR_TRACE_GSO_SIZE, meta->gso_size);
			tn_rpc_put_u32(&w, TN_ATTR_TRACE_CSUM_START, meta->csum_start);
			tn_rpc_put_u32(&w, TN_ATTR_TRACE_CSUM_OFFSET, meta->csum_offset);
			tn_rpc_put_u32(&w, TN_ATTR_TRACE_META_FLAGS, meta->flags);
			tn_rpc_put_bytes(&w, TN_ATTR_TRACE_FRAME, frame, first);
			alen = tn_rpc_end(&w);
			if (len > first) {
				begin_event(&c, t->cont, TN_TRACE_FRAME_CONT);
				tn_rpc_put_bytes(&c, TN_ATTR_TRACE_FRAME, (const uint8_t *)frame + first,
						 len - first);
				blen = tn_rpc_end(&c);
			}
			if (alen < 0 || blen < 0)
				return; /* larger than any frame the tap carries */
		}
		sub_queue(s, t->msg, (size_t)alen, t->cont, (size_t)blen);
	}
}

/* The core's events (tn_stack_set_tracer while anyone subscribes). */
static void stack_event(void *ctx, const struct tn_trace_event *ev)
{
	struct trace *t = ctx;
	struct tn_rpc_writer w;
	long len = -1;

	for (struct trace_sub *s = t->subs, *next; s; s = next) {
		next = s->next;
		if (!sub_wants(s, ev->remote_addr, ev->remote_port, ev->local_addr, ev->local_port))
			continue;
		if (len < 0) {
			bool state = ev->type == TN_TRACE_STATE;
			begin_event(&w, t->msg, state ? TN_TRACE_KIND_STATE : TN_TRACE_KIND_TIMEWAIT);
			tn_rpc_put_u32(&w, TN_ATTR_SOCK_LADDR, ev->local_addr);
			tn_rpc_put_u32(&w, TN_ATTR_SOCK_LPORT, ev->local_port);
			tn_rpc_put_u32(&w, TN_ATTR_SOCK_RADDR, ev->remote_addr);
			tn_rpc_put_u32(&w, TN_ATTR_SOCK_RPORT, ev->remote_port);
			if (state) {
				tn_rpc_put_u32(&w, TN_ATTR_TRACE_FROM, ev->from);
				tn_rpc_put_u32(&w, TN_ATTR_TRACE_TO, ev->to);
			} else {
				tn_rpc_put_u32(&w, TN_ATTR_TRACE_TW_EVENT, ev->tw_event);
				tn_rpc_put_u32(&w, TN_ATTR_TRACE_REMAINING_MS, ev->remaining_ms);
			}
			len = tn_rpc_end(&w);
			if (len < 0)
				return;
		}
		sub_queue(s, t->msg, (size_t)len, NULL, 0);
	}
}

struct trace_sub *trace_subscribe(struct trace *t, int fd, const char *filter,
				  void (*wake)(void *ctx), void *ctx, char *err, size_t errlen)
{
	char words[TN_RPC_MAX_MSG];
	char *argv[TRACE_FILTER_WORDS];
	int argc = 0;
	struct trace_sub *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(words, sizeof(words), "%s", filter);
	for (char *save = NULL, *w = strtok_r(words, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save)) {
		if (argc == TRACE_FILTER_WORDS) {
			snprintf(err, errlen, "filter: too many words");
			free(s);
			return NULL;
		}
		argv[argc++] = w;
	}
	if (trace_filter_parse(&s->filter, argc, argv, err, errlen) < 0) {
		free(s);
		return NULL;
	}
	s->filtered = argc > 0;
	s->buf = malloc(TRACE_SUB_BUFFER); /* pages are touched only as far as it fills */
	if (!s->buf) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	s->t = t;
	s->fd = fd;
	s->wake = wake;
	s->ctx = ctx;
	s->next = t->subs;
	if (t->subs)
		t->subs->prev = s;
	else
		tn_stack_set_tracer(t->d->stack, stack_event, t);
	t->subs = s;
	t->d->counters[DCTR_TraceSubscribers]++;
	return s;
}

void trace_unsubscribe(struct trace_sub *s)
{
	struct trace *t = s->t;

	if (s->prev)
		s->prev->next = s->next;
	else
		t->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (!t->subs)
		tn_stack_set_tracer(t->d->stack, NULL, NULL); /* nobody listens: nothing is built */
	t->d->counters[DCTR_TraceSubscribers]--;
	free(s->buf);
	free(s);
}

int trace_sub_flush(struct trace_sub *s)
{
	for (;;) {
		while (s->head < s->tail) {
			ssize_t n = send(s->fd, s->buf + s->head, s->tail - s->head,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				return -1;
			}
			s->head += (size_t)n;
		}
		s->head = s->tail = 0;
		/*
		 * A reader that caught up hears what it missed now, not with
		 * the next event: after a burst there may be none for long.
		 */
		if (!s->lost || !sub_queue_lost(s, 0))
			return 1;
	}
}
