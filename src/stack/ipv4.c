/*
 * ipv4.c - IPv4 (RFC 791, RFC 1122 3.2.1) for a host: validate, reassemble
 * (ipv4_reasm.c), deliver to ICMP or TCP; route, fragment and send.
 */
#include "stack_internal.h"

#include <errno.h>
#include <stdlib.h>

#define IP_FLAG_DF 0x4000
#define IP_FLAG_MF 0x2000
#define IP_OFFSET_MASK 0x1fff

/*
 * IDs of datagrams without DF. One global counter would tell anyone who
 * receives two of them how many datagrams tapnet sent to others in between
 * (idle scans; RFC 6864, RFC 7739). As Linux's ip_idents do, a keyed hash
 * of the destination picks one of IP_IDENTS counters, so what one
 * destination sees does not move with traffic to the others; and each
 * counter jumps by a random amount up to the milliseconds it sat unused,
 * so that even a shared counter leaks little.
 */
#define IP_IDENTS 256

struct tn_ip_idents {
	uint8_t key[16];
	uint64_t rng;                  /* xorshift64 state, seeded from env.random */
	uint16_t next[IP_IDENTS];
	uint32_t used_ms[IP_IDENTS];   /* when each counter last gave an ID */
};

static uint16_t ip_ident_next(struct tn_stack *stack, tn_ip4 dst, uint8_t proto)
{
	struct tn_ip_idents *ids = stack->idents;
	uint8_t in[5] = {dst >> 24, (uint8_t)(dst >> 16), (uint8_t)(dst >> 8), (uint8_t)dst, proto};
	uint32_t b = (uint32_t)tn_siphash(ids->key, in, sizeof(in)) % IP_IDENTS;
	uint32_t now_ms = (uint32_t)(tn_now(stack) / TN_NSEC_PER_MSEC);
	uint32_t idle = now_ms - ids->used_ms[b];
	uint16_t delta = 0;

	if (idle) {
		ids->rng ^= ids->rng << 13;
		ids->rng ^= ids->rng >> 7;
		ids->rng ^= ids->rng << 17;
		delta = (uint16_t)(ids->rng % (idle < 65536 ? idle : 65536));
		ids->used_ms[b] = now_ms;
	}
	uint16_t id = (uint16_t)(ids->next[b] + delta);
	ids->next[b] = (uint16_t)(id + 1);
	return id;
}

int tn_ipv4_init(struct tn_stack *stack)
{
	stack->idents = calloc(1, sizeof(*stack->idents));
	if (!stack->idents)
		return -1;
	struct tn_ip_idents *ids = stack->idents;
	tn_random(stack, ids->key, sizeof(ids->key));
	tn_random(stack, ids->next, sizeof(ids->next));
	tn_random(stack, &ids->rng, sizeof(ids->rng));
	ids->rng |= 1; /* xorshift never leaves 0 */
	uint32_t now_ms = (uint32_t)(tn_now(stack) / TN_NSEC_PER_MSEC);
	for (size_t i = 0; i < IP_IDENTS; i++)
		ids->used_ms[i] = now_ms;
	return tn_reasm_init(stack);
}

void tn_ipv4_free(struct tn_stack *stack)
{
	tn_reasm_free(stack);
	free(stack->idents);
	stack->idents = NULL;
}

bool tn_ip4_is_broadcast(const struct tn_stack *stack, tn_ip4 addr)
{
	return addr == 0xffffffffu || addr == (stack->cfg.addr | ~stack->netmask);
}

bool tn_ipv4_is_local(const struct tn_stack *stack, tn_ip4 addr)
{
	return addr == stack->cfg.addr || tn_ip4_is_loopback(addr);
}

/* A source no host may use (RFC 1122 3.2.1.3): zero, loopback, multicast, broadcast. */
static bool is_martian_source(const struct tn_stack *stack, tn_ip4 src)
{
	return src == 0 || tn_ip4_is_loopback(src) || (src >> 28) >= 14 || tn_ip4_is_broadcast(stack, src) ||
	       src == stack->cfg.addr;
}

void tn_ipv4_deliver(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *payload,
		     size_t payload_len)
{
	TN_COUNT(stack, IpInDelivers);
	switch (ip->proto) {
	case TN_IP_PROTO_ICMP:
		tn_icmp_input(stack, ip, payload, payload_len);
		break;
	case TN_IP_PROTO_TCP:
		if (!tn_ip4_is_broadcast(stack, ip->dst))
			tn_tcp_input(stack, ip, payload, payload_len);
		break;
	default:
		/* Undo the delivery: nobody took it (as Linux counts it). */
		stack->counters[TN_CTR_IpInDelivers]--;
		TN_COUNT(stack, IpInUnknownProtos);
		if (!tn_ip4_is_broadcast(stack, ip->dst))
			tn_icmp_send_unreach(stack, ip, TN_ICMP_UNREACH_PROTOCOL);
		break;
	}
}

/* What the header at pkt says, for the layers above. */
static struct tn_ip4_rx rx_of(const uint8_t *pkt, size_t hdr_len, size_t total_len)
{
	return (struct tn_ip4_rx){
		.src = tn_get32(pkt + 12),
		.dst = tn_get32(pkt + 16),
		.proto = pkt[9],
		.ttl = pkt[8],
		.tos = pkt[1],
		.hdr = pkt,
		.hdr_len = hdr_len,
		.total_len = total_len,
	};
}

void tn_ipv4_input(struct tn_stack *stack, const uint8_t *pkt, size_t len)
{
	TN_COUNT(stack, IpInReceives);
	if (len < TN_IP_HLEN || (pkt[0] >> 4) != 4) {
		TN_COUNT(stack, IpInHdrErrors);
		return;
	}
	size_t hdr_len = (size_t)(pkt[0] & 0x0f) * 4;
	size_t total_len = tn_get16(pkt + 2);
	/* RFC 1122 3.2.1.7: no host sends TTL 0, so such a datagram is broken. */
	if (hdr_len < TN_IP_HLEN || hdr_len > len || total_len < hdr_len || total_len > len ||
	    pkt[8] == 0 || tn_csum_fold(tn_csum_add(0, pkt, hdr_len)) != 0) {
		TN_COUNT(stack, IpInHdrErrors);
		return;
	}
	struct tn_ip4_rx ip = rx_of(pkt, hdr_len, total_len); /* Ethernet padding beyond it is ignored */
	if ((ip.dst != stack->cfg.addr && !tn_ip4_is_broadcast(stack, ip.dst)) ||
	    is_martian_source(stack, ip.src)) {
		TN_COUNT(stack, IpInAddrErrors);
		return;
	}
	/* Options are parsed by nobody: a host may ignore the ones it does not know. */
	uint16_t frag = tn_get16(pkt + 6);
	if (frag & (IP_FLAG_MF | IP_OFFSET_MASK)) {
		stack->rx_meta = NULL; /* what the link said of one fragment is not said of the datagram */
		tn_reasm_input(stack, &ip, pkt + hdr_len, total_len - hdr_len, frag);
		return;
	}
	tn_ipv4_deliver(stack, &ip, pkt + hdr_len, total_len - hdr_len);
}

/*
 * A datagram that went round the loopback: built here, so only its
 * addresses are looked at (a loopback destination from another source is
 * Linux's too: a socket bound to tapnet's address may connect to 127.0.0.1).
 */
void tn_ipv4_loop_input(struct tn_stack *stack, const struct tn_frame_meta *meta,
			const uint8_t *pkt, size_t len)
{
	TN_COUNT(stack, IpInReceives);
	struct tn_ip4_rx ip = rx_of(pkt, TN_IP_HLEN, len);
	const struct tn_frame_meta *outer = stack->rx_meta;
	stack->rx_meta = meta;
	tn_ipv4_deliver(stack, &ip, pkt + TN_IP_HLEN, len - TN_IP_HLEN);
	stack->rx_meta = outer;
}

/* Copies len bytes starting at offset off of the iov chain into dst. */
static void iov_copy(uint8_t *dst, const struct tn_iov *iov, size_t iovcnt, size_t off, size_t len)
{
	for (size_t i = 0; i < iovcnt && len; i++) {
		if (off >= iov[i].len) {
			off -= iov[i].len;
			continue;
		}
		size_t n = iov[i].len - off;
		if (n > len)
			n = len;
		memcpy(dst, (const uint8_t *)iov[i].base + off, n);
		dst += n;
		len -= n;
		off = 0;
	}
}

static void ip_write_header(struct tn_stack *stack, uint8_t *h, tn_ip4 src, tn_ip4 dst,
			    uint8_t proto, uint8_t tos, uint8_t ttl, size_t total_len, uint16_t id,
			    uint16_t frag)
{
	h[0] = 0x45;
	h[1] = tos;
	tn_put16(h + 2, (uint16_t)total_len);
	tn_put16(h + 4, id);
	tn_put16(h + 6, frag);
	h[8] = ttl ? ttl : stack->cfg.ip_default_ttl;
	h[9] = proto;
	tn_put16(h + 10, 0);
	tn_put32(h + 12, src);
	tn_put32(h + 16, dst);
	tn_put16(h + 10, tn_csum_fold(tn_csum_add(0, h, TN_IP_HLEN)));
}

int tn_ipv4_output(struct tn_stack *stack, tn_ip4 src, tn_ip4 dst, uint8_t proto, uint8_t tos,
		   const struct tn_iov *iov, size_t iovcnt, unsigned flags)
{
	return tn_ipv4_output_meta(stack, src, dst, proto, tos, iov, iovcnt, flags, NULL);
}

/*
 * A datagram whose payload comes in pieces after a header piece (TCP's
 * header, then data in the send buffer) goes out as those pieces when the
 * link takes them (env.output_iov) and the next hop is resolved: only the
 * headers are written here, the data is not copied into stack->tx.
 * False: nothing was sent, the caller builds the frame in one piece.
 */
static bool output_pieces(struct tn_stack *stack, tn_ip4 next_hop, const struct tn_frame_meta *meta,
			  uint8_t *h, const struct tn_iov *iov, size_t iovcnt, size_t payload_len,
			  tn_ip4 src, tn_ip4 dst, uint8_t proto, uint8_t tos, uint8_t ttl, uint16_t id,
			  uint16_t df)
{
	struct tn_iov piece[TN_OUTPUT_PIECES_MAX];

	if (!stack->env.output_iov || iovcnt < 2 || iovcnt > TN_OUTPUT_PIECES_MAX ||
	    iov[0].len > sizeof(stack->tx) - TN_ETH_HLEN - TN_IP_HLEN)
		return false;
	const uint8_t *mac = tn_arp_ready_mac(stack, next_hop);
	if (!mac)
		return false;
	uint8_t *frame = h - TN_ETH_HLEN;
	tn_eth_header(stack, frame, mac, TN_ETH_P_IP);
	ip_write_header(stack, h, src, dst, proto, tos, ttl, TN_IP_HLEN + payload_len, id, df);
	memcpy(h + TN_IP_HLEN, iov[0].base, iov[0].len);
	piece[0] = (struct tn_iov){ frame, TN_ETH_HLEN + TN_IP_HLEN + iov[0].len };
	for (size_t i = 1; i < iovcnt; i++)
		piece[i] = iov[i];
	return tn_emit_pieces(stack, meta, piece, (int)iovcnt, TN_ETH_HLEN + TN_IP_HLEN + payload_len);
}

/* Round the loopback: the whole datagram (a GSO run too) into the queue. */
static int loop_output(struct tn_stack *stack, const struct tn_frame_meta *meta,
		       const struct tn_iov *iov, size_t iovcnt, size_t payload_len, tn_ip4 src,
		       tn_ip4 dst, uint8_t proto, uint8_t tos, uint8_t ttl, uint16_t id, uint16_t df)
{
	struct tn_loop_packet *p = tn_loopback_reserve(stack, TN_IP_HLEN + payload_len);
	if (!p) {
		TN_COUNT(stack, IpOutDiscards);
		return 0; /* lost as on a link: TCP sends it again */
	}
	uint8_t *h = tn_loopback_data(p);
	iov_copy(h + TN_IP_HLEN, iov, iovcnt, 0, payload_len);
	ip_write_header(stack, h, src, dst, proto, tos, ttl, TN_IP_HLEN + payload_len, id, df);
	tn_loopback_queue(stack, p, meta);
	return 0;
}

int tn_ipv4_output_meta(struct tn_stack *stack, tn_ip4 src, tn_ip4 dst, uint8_t proto, uint8_t tos,
			const struct tn_iov *iov, size_t iovcnt, unsigned flags,
			const struct tn_frame_meta *meta)
{
	struct tn_frame_meta m;
	if (meta) {
		m = *meta;
		m.csum_start = TN_ETH_HLEN + TN_IP_HLEN;
		meta = &m;
	}
	bool gso = meta && meta->gso_type != TN_GSO_NONE;

	size_t payload_len = 0;
	for (size_t i = 0; i < iovcnt; i++)
		payload_len += iov[i].len;
	if (!src)
		src = tn_ipv4_source_for(stack, dst);

	bool to_self = tn_ipv4_to_self(stack, dst); /* round the loopback, below */
	if (!to_self && tn_ip4_is_loopback(src)) {
		/* 127.0.0.0/8 never leaves the host (RFC 1122 3.2.1.3) */
		TN_COUNT(stack, IpOutNoRoutes);
		return -EINVAL;
	}
	tn_ip4 next_hop = dst;
	if (!to_self && (dst & stack->netmask) != (stack->cfg.addr & stack->netmask) &&
	    dst != 0xffffffffu) {
		if (!stack->cfg.gateway) {
			TN_COUNT(stack, IpOutNoRoutes);
			return -EHOSTUNREACH;
		}
		next_hop = stack->cfg.gateway;
	}
	TN_COUNT(stack, IpOutRequests);
	if (payload_len > TN_IP_MAXPACKET - TN_IP_HLEN) {
		TN_COUNT(stack, IpOutDiscards);
		return -EMSGSIZE;
	}

	uint8_t *h = stack->tx + TN_ETH_HLEN;
	uint16_t df = (flags & TN_IP_OUT_DF) ? IP_FLAG_DF : 0;
	uint8_t ttl = (uint8_t)(flags >> 8);
	/* to this host: no MTU to keep to (Linux's lo takes 64 KiB), so never fragmented */
	if (to_self || TN_IP_HLEN + payload_len <= stack->cfg.mtu || gso) {
		/* DF datagrams carry id 0 (RFC 6864 allows it; Linux does the same per socket). */
		uint16_t id = df ? 0 : ip_ident_next(stack, dst, proto);
		if (to_self)
			return loop_output(stack, meta, iov, iovcnt, payload_len, src, dst, proto, tos,
					   ttl, id, df);
		if (output_pieces(stack, next_hop, meta, h, iov, iovcnt, payload_len, src, dst, proto,
				  tos, ttl, id, df))
			return 0;
		iov_copy(h + TN_IP_HLEN, iov, iovcnt, 0, payload_len);
		ip_write_header(stack, h, src, dst, proto, tos, ttl, TN_IP_HLEN + payload_len, id, df);
		tn_arp_output(stack, next_hop, meta, h, TN_IP_HLEN + payload_len);
		return 0;
	}
	if (df) {
		TN_COUNT(stack, IpFragFails);
		return -EMSGSIZE;
	}

	/* Fragment payloads are multiples of 8 bytes, except the last. */
	size_t chunk = (stack->cfg.mtu - TN_IP_HLEN) & ~(size_t)7;
	uint16_t id = ip_ident_next(stack, dst, proto);
	for (size_t off = 0; off < payload_len; off += chunk) {
		size_t n = payload_len - off < chunk ? payload_len - off : chunk;
		uint16_t frag = (uint16_t)(off / 8) | (off + n < payload_len ? IP_FLAG_MF : 0);
		iov_copy(h + TN_IP_HLEN, iov, iovcnt, off, n);
		ip_write_header(stack, h, src, dst, proto, tos, ttl, TN_IP_HLEN + n, id, frag);
		TN_COUNT(stack, IpFragCreates);
		tn_arp_output(stack, next_hop, NULL, h, TN_IP_HLEN + n);
	}
	TN_COUNT(stack, IpFragOKs);
	return 0;
}
