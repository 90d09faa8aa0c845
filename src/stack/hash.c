/*
 * hash.c - SipHash-2-4 (Aumasson & Bernstein), the keyed hash behind
 * connection lookup: with a key from the injected RNG, a remote peer cannot
 * choose 4-tuples that collide into one bucket.
 */
#include "stack_internal.h"

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
