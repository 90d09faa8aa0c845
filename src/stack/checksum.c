/* checksum.c - the Internet checksum (RFC 1071), shared by IPv4, ICMP and TCP. */
#include "stack_internal.h"

/*
 * Adds data to a running one's-complement sum. Odd lengths are padded with
 * a zero byte, so only the last piece of a checksummed run may be odd.
 *
 * Every frame of a link without checksum offload goes through here, so
 * the words are summed as the CPU loads them, 32 bits at a time into 64,
 * and the folded 16-bit sum is put in network order once at the end
 * (RFC 1071 2(B): the sum does not depend on byte order) rather than
 * assembling each word from its bytes.
 */
uint32_t tn_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = 0; /* in the CPU's byte order */

	while (len >= 16) {
		uint32_t w[4];
		memcpy(w, p, sizeof(w));
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		uint32_t w;
		memcpy(&w, p, sizeof(w));
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;
		memcpy(&h, p, sizeof(h));
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = {p[0], 0};
		uint16_t h;
		memcpy(&h, last, sizeof(h));
		acc += h;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	uint16_t folded = (uint16_t)acc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	folded = __builtin_bswap16(folded);
#endif
	uint64_t total = (uint64_t)sum + folded;
	while (total >> 32)
		total = (total & 0xffffffffu) + (total >> 32);
	return (uint32_t)total;
}

uint16_t tn_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t tn_csum_pseudo(tn_ip4 src, tn_ip4 dst, uint8_t proto, uint16_t len)
{
	uint64_t acc = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) +
		       proto + len;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

bool tn_frame_csum_complete(struct tn_frame_meta *meta, uint8_t *frame, size_t len)
{
	if (!(meta->flags & TN_FRAME_CSUM_PARTIAL))
		return true;
	if ((size_t)meta->csum_start + meta->csum_offset + 2 > len)
		return false;
	tn_put16(frame + meta->csum_start + meta->csum_offset,
		 tn_csum_fold(tn_csum_add(0, frame + meta->csum_start, len - meta->csum_start)));
	meta->flags &= (uint8_t)~TN_FRAME_CSUM_PARTIAL;
	return true;
}
