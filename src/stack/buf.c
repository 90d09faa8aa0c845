/*
 * buf.c - byte rings for the send and receive buffers of TCP sockets.
 *
 * One allocation per buffer when the connection is set up; the steady state
 * only moves offsets and copies bytes. The receive side may park
 * out-of-order bytes beyond the committed end (tn_ring_write_beyond) and
 * commit them once the gap before them is filled.
 */
#include "tcp.h"

#include <stdlib.h>

int tn_ring_init(struct tn_ring *r, uint32_t size)
{
	r->data = malloc(size);
	if (!r->data)
		return -1;
	r->size = size;
	r->head = 0;
	r->len = 0;
	return 0;
}

/*
 * Moves the ring into a larger allocation, first byte at offset 0: the
 * whole old ring from head on is copied, so committed bytes and bytes
 * parked beyond them (out-of-order data) keep their offsets from head.
 */
int tn_ring_grow(struct tn_ring *r, uint32_t size)
{
	if (size <= r->size)
		return 0;
	uint8_t *data = malloc(size);
	if (!data)
		return -1;
	if (r->size) {
		uint32_t first = r->size - r->head;
		memcpy(data, r->data + r->head, first);
		memcpy(data + first, r->data, r->head);
	}
	free(r->data);
	r->data = data;
	r->size = size;
	r->head = 0;
	return 0;
}

void tn_ring_free(struct tn_ring *r)
{
	free(r->data);
	r->data = NULL;
	r->size = r->head = r->len = 0;
}

int tn_ring_init_pooled(struct tn_ring_pool *p, struct tn_ring *r, uint32_t size)
{
	/* the newest first: its pages are the likeliest to be in the cache and mapped */
	for (unsigned i = p->n; i-- > 0;) {
		if (p->size[i] != size)
			continue;
		r->data = p->data[i];
		r->size = size;
		r->head = 0;
		r->len = 0;
		p->n--;
		memmove(&p->data[i], &p->data[i + 1], (p->n - i) * sizeof(p->data[0]));
		memmove(&p->size[i], &p->size[i + 1], (p->n - i) * sizeof(p->size[0]));
		return 0;
	}
	return tn_ring_init(r, size);
}

void tn_ring_free_pooled(struct tn_ring_pool *p, struct tn_ring *r)
{
	if (!r->data)
		return;
	if (p->n == TN_RING_POOL_MAX) { /* the oldest goes: a size no longer used leaves too */
		free(p->data[0]);
		p->n--;
		memmove(&p->data[0], &p->data[1], p->n * sizeof(p->data[0]));
		memmove(&p->size[0], &p->size[1], p->n * sizeof(p->size[0]));
	}
	p->data[p->n] = r->data;
	p->size[p->n] = r->size;
	p->n++;
	r->data = NULL;
	r->size = r->head = r->len = 0;
}

void tn_ring_pool_drain(struct tn_ring_pool *p)
{
	while (p->n > 0)
		free(p->data[--p->n]);
}

/* Copies n bytes into the ring at absolute position pos (mod size). */
static void ring_copy_in(struct tn_ring *r, uint32_t pos, const uint8_t *src, uint32_t n)
{
	pos %= r->size;
	uint32_t first = min_u32(n, r->size - pos);
	memcpy(r->data + pos, src, first);
	memcpy(r->data, src + first, n - first);
}

uint32_t tn_ring_write(struct tn_ring *r, const void *src, uint32_t n)
{
	n = min_u32(n, tn_ring_space(r));
	if (n) {
		ring_copy_in(r, r->head + r->len, src, n);
		r->len += n;
	}
	return n;
}

void tn_ring_write_beyond(struct tn_ring *r, uint32_t off, const void *src, uint32_t n)
{
	if (n)
		ring_copy_in(r, r->head + r->len + off, src, n);
}

void tn_ring_commit(struct tn_ring *r, uint32_t n)
{
	r->len += min_u32(n, tn_ring_space(r));
}

/* n bytes of the ring from absolute position pos on, as one or two pieces. */
static int ring_pieces(const struct tn_ring *r, uint32_t pos, uint32_t n, struct tn_iov iov[2])
{
	if (!n)
		return 0;
	pos %= r->size;
	uint32_t first = min_u32(n, r->size - pos);
	iov[0].base = r->data + pos;
	iov[0].len = first;
	if (first == n)
		return 1;
	iov[1].base = r->data;
	iov[1].len = n - first;
	return 2;
}

int tn_ring_free_iov(const struct tn_ring *r, struct tn_iov iov[2])
{
	return ring_pieces(r, r->head + r->len, tn_ring_space(r), iov);
}

int tn_ring_peek(const struct tn_ring *r, uint32_t off, uint32_t n, struct tn_iov iov[2])
{
	return ring_pieces(r, r->head + off, n, iov);
}

void tn_ring_discard(struct tn_ring *r, uint32_t n)
{
	n = min_u32(n, r->len);
	r->len -= n;
	/* head keeps moving even when empty: parked out-of-order bytes sit relative to it */
	r->head = (r->head + n) % r->size;
}

uint32_t tn_ring_read(struct tn_ring *r, void *dst, uint32_t n)
{
	struct tn_iov iov[2];
	n = min_u32(n, r->len);
	int cnt = tn_ring_peek(r, 0, n, iov);
	uint8_t *d = dst;
	for (int i = 0; i < cnt; i++) {
		memcpy(d, iov[i].base, iov[i].len);
		d += iov[i].len;
	}
	tn_ring_discard(r, n);
	return n;
}
