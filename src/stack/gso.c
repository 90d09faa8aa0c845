/*
 * gso.c - what a NIC does with a frame the core left work in: completes a
 * PARTIAL TCP checksum, and cuts a TCPV4 GSO frame into the segments it
 * stands for, each with its own IPv4 length, ID and checksum, sequence
 * number, flags and TCP checksum. The simulated wire uses it to deliver
 * offloaded frames as a real link would, and `tapnet capture` to write
 * what crossed the tap as the segments a capture on a NIC without offloads
 * would show.
 */
#include "stack_internal.h"

#include <string.h>

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static void complete_csum(const struct tn_frame_meta *m, uint8_t *f, size_t len)
{
	struct tn_frame_meta copy = *m;

	tn_frame_csum_complete(&copy, f, len);
}

size_t tn_frame_finish(const struct tn_frame_meta *m, const uint8_t *frame, size_t len,
		       void (*emit)(void *ctx, const uint8_t *frame, size_t len), void *ctx)
{
	static const struct tn_frame_meta plain;
	static uint8_t seg[TN_FRAME_MAX];

	if (!m)
		m = &plain;
	if (len > sizeof(seg))
		return 0;
	size_t ip = TN_ETH_HLEN;
	if (len < ip + 20)
		m = &plain; /* not an IPv4 packet we could cut: as it is */
	/* the TCP header: where the checksum starts, or after the IPv4 header */
	size_t tcp = m->csum_start ? m->csum_start : ip + (size_t)(frame[ip] & 0x0f) * 4;
	bool gso = m->gso_type == TN_GSO_TCPV4 && m->gso_size && tcp >= ip + 20 && tcp + 20 <= len &&
		   (size_t)(frame[tcp + 12] >> 4) * 4 >= 20 && tcp + (size_t)(frame[tcp + 12] >> 4) * 4 <= len;
	if (!gso) {
		if (!(m->flags & TN_FRAME_CSUM_PARTIAL)) {
			emit(ctx, frame, len);
			return 1;
		}
		memcpy(seg, frame, len);
		complete_csum(m, seg, len);
		emit(ctx, seg, len);
		return 1;
	}
	size_t thl = (size_t)(frame[tcp + 12] >> 4) * 4;
	size_t hdr = tcp + thl, payload = len - hdr, n = 0;
	uint32_t seq = tn_get32(frame + tcp + 4);
	uint16_t id = tn_get16(frame + ip + 4);

	for (size_t off = 0; off < payload || (payload == 0 && n == 0); off += m->gso_size) {
		size_t k = payload - off < m->gso_size ? payload - off : m->gso_size;
		memcpy(seg, frame, hdr);
		memcpy(seg + hdr, frame + hdr + off, k);
		tn_put16(seg + ip + 2, (uint16_t)(hdr - ip + k));
		tn_put16(seg + ip + 4, (uint16_t)(id + n)); /* as Linux's TSO: one ID per segment */
		tn_put16(seg + ip + 10, 0);
		tn_put16(seg + ip + 10, tn_csum_fold(tn_csum_add(0, seg + ip, tcp - ip)));
		tn_put32(seg + tcp + 4, seq + (uint32_t)off);
		if (off + k < payload)
			seg[tcp + 13] &= (uint8_t)~(TCP_FIN | TCP_PSH); /* the last segment's */
		if (n > 0)
			seg[tcp + 13] &= (uint8_t)~TCP_CWR; /* the first segment's */
		/* the pseudo-header sum of this segment's length, completed as for one frame */
		uint32_t pseudo = tn_csum_pseudo(tn_get32(seg + ip + 12), tn_get32(seg + ip + 16),
						 TN_IP_PROTO_TCP, (uint16_t)(thl + k));
		tn_put16(seg + tcp + 16, (uint16_t)~tn_csum_fold(pseudo));
		struct tn_frame_meta partial = { .flags = TN_FRAME_CSUM_PARTIAL,
						 .csum_start = (uint16_t)tcp, .csum_offset = 16 };
		complete_csum(&partial, seg, hdr + k);
		emit(ctx, seg, hdr + k);
		n++;
		if (payload == 0)
			break;
	}
	return n;
}
