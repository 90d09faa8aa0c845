/*
 * hash.c - SipHash-2-4 (Aumasson & Bernstein), the keyed hash behind
 * connection lookup: with a key from the injected RNG, a remote peer cannot
 * choose 4-tuples that collide into one bucket; and the connection hash
 * itself (tn_ehash), shared by live connections and TIME_WAIT entries.
 */
#include "stack_internal.h"

#include <stdlib.h>

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                          \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                             \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                             \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                          \
	} while (0)

uint64_t tn_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	uint64_t b = (uint64_t)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t m = load_le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; i + j < len; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t tn_tuple_siphash(const uint8_t key[16], tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
			  uint16_t rport)
{
	uint8_t t[12];
	tn_put32(t, laddr);
	tn_put32(t + 4, raddr);
	tn_put16(t + 8, lport);
	tn_put16(t + 10, rport);
	return tn_siphash(key, t, sizeof(t));
}

uint32_t tn_tuple_hash(const struct tn_stack *stack, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
		       uint16_t rport)
{
	return (uint32_t)tn_tuple_siphash(stack->hash_key, laddr, lport, raddr, rport);
}

/* ---- the connection hash (see stack_internal.h) */

int tn_ehash_init(struct tn_ehash *h, uint32_t min_buckets, uint32_t max_buckets)
{
	uint32_t n = 1;
	while (n < min_buckets && n < (1u << 30))
		n <<= 1;
	/* calloc'd pages of a large table stay untouched until a bucket is used. */
	h->buckets = calloc(n, sizeof(*h->buckets));
	if (!h->buckets)
		return -1;
	h->mask = n - 1;
	h->count = 0;
	h->last = NULL;
	h->max_buckets = max_buckets > n ? max_buckets : n;
	return 0;
}

void tn_ehash_free(struct tn_ehash *h)
{
	free(h->buckets);
	h->buckets = NULL;
	h->mask = 0;
	h->count = 0;
	h->last = NULL;
}

static struct tn_hnode **ehash_bucket(const struct tn_stack *stack, const struct tn_ehash *h,
				      tn_ip4 laddr, uint16_t lport, tn_ip4 raddr, uint16_t rport)
{
	return &h->buckets[tn_tuple_hash(stack, laddr, lport, raddr, rport) & h->mask];
}

static bool hnode_is(const struct tn_hnode *n, tn_ip4 laddr, uint16_t lport, tn_ip4 raddr,
		     uint16_t rport)
{
	return n->lport == lport && n->rport == rport && n->raddr == raddr && n->laddr == laddr;
}

struct tn_hnode *tn_ehash_lookup(const struct tn_stack *stack, struct tn_ehash *h, tn_ip4 laddr,
				 uint16_t lport, tn_ip4 raddr, uint16_t rport)
{
	if (h->last && hnode_is(h->last, laddr, lport, raddr, rport))
		return h->last;
	if (!h->count)
		return NULL;
	for (struct tn_hnode *n = *ehash_bucket(stack, h, laddr, lport, raddr, rport); n; n = n->next)
		if (hnode_is(n, laddr, lport, raddr, rport)) {
			h->last = n;
			return n;
		}
	return NULL;
}

/* Doubles the table when it holds more nodes than buckets: amortized O(1) per insert. */
static void ehash_grow(const struct tn_stack *stack, struct tn_ehash *h)
{
	uint32_t old = h->mask + 1;
	if (h->count <= old || old >= h->max_buckets)
		return;
	uint32_t n = old * 2;
	struct tn_hnode **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return; /* longer chains, still correct */
	for (uint32_t i = 0; i < old; i++) {
		for (struct tn_hnode *x = h->buckets[i], *next; x; x = next) {
			next = x->next;
			uint32_t b = tn_tuple_hash(stack, x->laddr, x->lport, x->raddr, x->rport) & (n - 1);
			x->next = nb[b];
			nb[b] = x;
		}
	}
	free(h->buckets);
	h->buckets = nb;
	h->mask = n - 1;
}

void tn_ehash_insert(const struct tn_stack *stack, struct tn_ehash *h, struct tn_hnode *n)
{
	struct tn_hnode **b = ehash_bucket(stack, h, n->laddr, n->lport, n->raddr, n->rport);
	n->next = *b;
	*b = n;
	h->count++;
	ehash_grow(stack, h);
}

void tn_ehash_remove(const struct tn_stack *stack, struct tn_ehash *h, struct tn_hnode *n)
{
	for (struct tn_hnode **pp = ehash_bucket(stack, h, n->laddr, n->lport, n->raddr, n->rport); *pp;
	     pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			h->count--;
			if (h->last == n)
				h->last = NULL;
			return;
		}
	}
}
