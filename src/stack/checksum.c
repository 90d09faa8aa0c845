/* checksum.c - the Internet checksum (RFC 1071), shared by IPv4, ICMP and TCP. */
#include "stack_internal.h"

/*
 * Adds data to a running one's-complement sum. Odd lengths are padded with
 * a zero byte, so only the last piece of a checksummed run may be odd.
 */
uint32_t tn_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t acc = sum;

	while (len >= 8) {
		acc += (uint64_t)tn_get32(p) + tn_get32(p + 4);
		p += 8;
		len -= 8;
	}
	while (len >= 2) {
		acc += tn_get16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		acc += (uint32_t)p[0] << 8;
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
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
