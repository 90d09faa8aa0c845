/* stack_harness.c - see stack_harness.h */
#include "stack_harness.h"

#include <stdlib.h>

const uint8_t h_peer_mac[TN_ETH_ALEN] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
const uint8_t h_stack_mac[TN_ETH_ALEN] = {0x02, 0x54, 0x4e, 0x00, 0x00, 0x02};

static uint64_t h_now(void *ctx)
{
	return ((struct harness *)ctx)->now;
}

static void h_random(void *ctx, void *buf, size_t len)
{
	struct harness *h = ctx;
	uint8_t *p = buf;
	for (size_t i = 0; i < len; i++) {
		h->rng ^= h->rng << 13;
		h->rng ^= h->rng >> 7;
		h->rng ^= h->rng << 17;
		p[i] = (uint8_t)h->rng;
	}
}

static void h_output(void *ctx, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	struct harness *h = ctx;
	if (h->nout == H_MAX_FRAMES) {
		h->dropped_out++;
		return;
	}
	struct h_frame *f = &h->out[h->nout];
	f->data = malloc(len);
	memcpy(f->data, frame, len);
	f->len = len;
	f->meta = *meta;
	f->partial_sum = 0;
	if ((meta->flags & TN_FRAME_CSUM_PARTIAL) && meta->csum_start + meta->csum_offset + 2u <= len) {
		/* the link's part: the sum from csum_start on, the field counting as it is */
		uint8_t *field = f->data + meta->csum_start + meta->csum_offset;
		f->partial_sum = tn_get16(field);
		tn_put16(field, tn_csum_fold(tn_csum_add(0, f->data + meta->csum_start,
							 len - meta->csum_start)));
	}
	h->nout++;
}

/*
 * Frames in pieces (tn_env.output_iov) are joined and captured as any
 * other, so that every test checks their bytes exactly; each piece after
 * the first must be payload left where it was (not in the core's tx buffer).
 */
static bool h_output_iov(void *ctx, const struct tn_frame_meta *meta, const struct tn_iov *piece,
			 int n, size_t len)
{
	struct harness *h = ctx;
	uint8_t *frame = malloc(len);
	size_t at = 0;

	for (int i = 0; i < n; i++) {
		if (at + piece[i].len > len)
			abort(); /* pieces longer than the frame they say */
		memcpy(frame + at, piece[i].base, piece[i].len);
		at += piece[i].len;
	}
	if (at != len || n < 2)
		abort();
	h->out_in_pieces++;
	if (n > h->out_pieces_max)
		h->out_pieces_max = n;
	h_output(ctx, meta, frame, len);
	free(frame);
	return true;
}

struct harness *h_new(const struct tn_config *cfg)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct tn_config def;
	if (!cfg) {
		tn_config_defaults(&def);
		cfg = &def;
	}
	h->now = 1000 * TN_NSEC_PER_SEC;
	h->rng = 0x9e3779b97f4a7c15ull;
	struct tn_env env = {h_now, h_random, h_output, h, h_output_iov};
	h->stack = tn_stack_new(cfg, &env);
	if (!h->stack) {
		free(h);
		return NULL;
	}
	return h;
}

void h_clear(struct harness *h)
{
	for (size_t i = 0; i < h->nout; i++)
		free(h->out[i].data);
	h->nout = 0;
	h->dropped_out = 0;
}

void h_free(struct harness *h)
{
	if (!h)
		return;
	h_clear(h);
	tn_stack_free(h->stack);
	free(h);
}

void h_input(struct harness *h, const void *frame, size_t len)
{
	tn_stack_input(h->stack, h->in_meta, frame, len);
}

void h_advance(struct harness *h, uint64_t ns)
{
	uint64_t end = h->now + ns;
	/* Step through each deadline so timers see the time they were due. */
	for (;;) {
		uint64_t next = tn_stack_next_deadline(h->stack);
		if (next > end)
			break;
		if (next > h->now)
			h->now = next;
		tn_stack_run_timers(h->stack, h->now);
	}
	h->now = end;
}

uint64_t h_counter(struct harness *h, enum tn_counter c)
{
	return tn_stack_counter(h->stack, c);
}

size_t h_eth(uint8_t *buf, const uint8_t *dst, const uint8_t *src, uint16_t type,
	     const void *payload, size_t len)
{
	memcpy(buf, dst, TN_ETH_ALEN);
	memcpy(buf + 6, src, TN_ETH_ALEN);
	tn_put16(buf + 12, type);
	memmove(buf + TN_ETH_HLEN, payload, len);
	return TN_ETH_HLEN + len;
}

size_t h_arp(uint8_t *buf, uint16_t op, const uint8_t *sha, tn_ip4 spa, const uint8_t *tha,
	     tn_ip4 tpa)
{
	static const uint8_t bcast[TN_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const uint8_t zero[TN_ETH_ALEN];
	uint8_t a[28];
	tn_put16(a, 1);
	tn_put16(a + 2, TN_ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	tn_put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	tn_put32(a + 14, spa);
	memcpy(a + 18, tha ? tha : zero, 6);
	tn_put32(a + 24, tpa);
	return h_eth(buf, op == 1 ? bcast : h_stack_mac, sha, TN_ETH_P_ARP, a, sizeof(a));
}

size_t h_ipv4(uint8_t *buf, const struct h_ip_opts *o, const void *payload, size_t len)
{
	uint8_t *ip = buf + TN_ETH_HLEN;
	memmove(ip + TN_IP_HLEN, payload, len);
	ip[0] = 0x45;
	ip[1] = 0;
	tn_put16(ip + 2, (uint16_t)(TN_IP_HLEN + len));
	tn_put16(ip + 4, o->id);
	tn_put16(ip + 6, o->frag);
	ip[8] = o->zero_ttl ? 0 : (o->ttl ? o->ttl : 64);
	ip[9] = o->proto;
	tn_put16(ip + 10, 0);
	tn_put32(ip + 12, o->src ? o->src : H_PEER_IP);
	tn_put32(ip + 16, o->dst ? o->dst : H_STACK_IP);
	tn_put16(ip + 10, tn_csum_fold(tn_csum_add(0, ip, TN_IP_HLEN)) ^ (o->bad_csum ? 0x5555 : 0));
	memcpy(buf, h_stack_mac, 6);
	memcpy(buf + 6, h_peer_mac, 6);
	tn_put16(buf + 12, TN_ETH_P_IP);
	return TN_ETH_HLEN + TN_IP_HLEN + len;
}

size_t h_icmp_echo(uint8_t *buf, uint16_t id, uint16_t seq, size_t len)
{
	buf[0] = 8;
	buf[1] = 0;
	tn_put16(buf + 2, 0);
	tn_put16(buf + 4, id);
	tn_put16(buf + 6, seq);
	for (size_t i = 0; i < len; i++)
		buf[8 + i] = (uint8_t)(i * 7 + 3);
	tn_put16(buf + 2, tn_csum_fold(tn_csum_add(0, buf, 8 + len)));
	return 8 + len;
}

void h_learn_peer(struct harness *h)
{
	uint8_t f[64];
	size_t n = h_arp(f, 1, h_peer_mac, H_PEER_IP, NULL, H_STACK_IP);
	h_input(h, f, n);
	h_clear(h);
}

const uint8_t *h_out_ip(struct harness *h, size_t i, size_t *len)
{
	if (i >= h->nout || h->out[i].len < TN_ETH_HLEN + TN_IP_HLEN ||
	    tn_get16(h->out[i].data + 12) != TN_ETH_P_IP)
		return NULL;
	if (len)
		*len = h->out[i].len - TN_ETH_HLEN;
	return h->out[i].data + TN_ETH_HLEN;
}

const uint8_t *h_out_arp(struct harness *h, size_t i)
{
	if (i >= h->nout || h->out[i].len < TN_ETH_HLEN + 28 ||
	    tn_get16(h->out[i].data + 12) != TN_ETH_P_ARP)
		return NULL;
	return h->out[i].data + TN_ETH_HLEN;
}
