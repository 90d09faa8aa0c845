/*
 * icmp.c - ICMP (RFC 792, RFC 1122 3.2.2): echo replies, errors we send
 * (rate-limited by a token bucket) and errors we receive.
 */
#include "stack_internal.h"

#define ICMP_HLEN 8
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
/* An error quotes as much of the offending datagram as fits in 576 bytes (RFC 1812 4.3.2.3). */
#define ICMP_ERROR_MAX_IP 576

static bool icmp_is_error(uint8_t type)
{
	return type == ICMP_DEST_UNREACH || type == ICMP_SOURCE_QUENCH ||
	       type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB || type == 5;
}

static void icmp_send(struct tn_stack *stack, tn_ip4 dst, uint8_t tos, uint8_t type, uint8_t code,
		      uint32_t rest, const uint8_t *data, size_t len)
{
	uint8_t hdr[ICMP_HLEN] = {type, code};
	tn_put32(hdr + 4, rest);
	tn_put16(hdr + 2, tn_csum_fold(tn_csum_add(tn_csum_add(0, hdr, ICMP_HLEN), data, len)));
	const struct tn_iov iov[] = {{hdr, ICMP_HLEN}, {data, len}};
	TN_COUNT(stack, IcmpOutMsgs);
	tn_ipv4_output(stack, 0, dst, TN_IP_PROTO_ICMP, tos, iov, 2, 0);
}

/* Token bucket: icmp_ratelimit_burst errors at once, then one per icmp_ratelimit_ms. */
static bool icmp_ratelimit_allows(struct tn_stack *stack)
{
	uint64_t now = tn_now(stack);
	uint64_t interval = stack->cfg.icmp_ratelimit_ms * TN_NSEC_PER_MSEC;

	if (interval == 0)
		return true;
	if (now > stack->icmp_tokens_at) {
		uint64_t earned = (now - stack->icmp_tokens_at) / interval;
		if (earned) {
			uint64_t tokens = stack->icmp_tokens + earned;
			stack->icmp_tokens = tokens > stack->cfg.icmp_ratelimit_burst
						     ? stack->cfg.icmp_ratelimit_burst
						     : (uint32_t)tokens;
			stack->icmp_tokens_at += earned * interval;
		}
	}
	if (stack->icmp_tokens == 0) {
		TN_COUNT(stack, IcmpOutRateLimited);
		return false;
	}
	stack->icmp_tokens--;
	return true;
}

void tn_icmp_send_unreach(struct tn_stack *stack, const struct tn_ip4_rx *ip, uint8_t code)
{
	/* RFC 1122 3.2.2: never about an ICMP error, a non-first fragment or a broadcast. */
	if (tn_get16(ip->hdr + 6) & 0x1fff)
		return;
	if (ip->proto == TN_IP_PROTO_ICMP && ip->total_len > ip->hdr_len &&
	    icmp_is_error(ip->hdr[ip->hdr_len]))
		return;
	if (!icmp_ratelimit_allows(stack))
		return;
	size_t quote = ip->total_len;
	if (quote > ICMP_ERROR_MAX_IP - TN_IP_HLEN - ICMP_HLEN)
		quote = ICMP_ERROR_MAX_IP - TN_IP_HLEN - ICMP_HLEN;
	TN_COUNT(stack, IcmpOutDestUnreachs);
	icmp_send(stack, ip->src, 0, ICMP_DEST_UNREACH, code, 0, ip->hdr, quote);
}

static void icmp_error_input(struct tn_stack *stack, uint8_t type, uint8_t code,
			     uint16_t next_hop_mtu, const uint8_t *quoted, size_t len)
{
	/* The quoted datagram must be ours and long enough to name its transport ports. */
	if (len < TN_IP_HLEN || (quoted[0] >> 4) != 4)
		return;
	size_t hl = (size_t)(quoted[0] & 0x0f) * 4;
	if (hl < TN_IP_HLEN || len < hl + 8 || tn_get32(quoted + 12) != stack->cfg.addr)
		return;
	if (quoted[9] == TN_IP_PROTO_TCP)
		tn_tcp_icmp_error(stack, type, code, next_hop_mtu, quoted, len);
}

void tn_icmp_input(struct tn_stack *stack, const struct tn_ip4_rx *ip, const uint8_t *msg, size_t len)
{
	TN_COUNT(stack, IcmpInMsgs);
	if (len < ICMP_HLEN) {
		TN_COUNT(stack, IcmpInErrors);
		return;
	}
	if (tn_csum_fold(tn_csum_add(0, msg, len)) != 0) {
		TN_COUNT(stack, IcmpInCsumErrors);
		TN_COUNT(stack, IcmpInErrors);
		return;
	}
	uint8_t type = msg[0], code = msg[1];
	switch (type) {
	case ICMP_ECHO:
		TN_COUNT(stack, IcmpInEchos);
		/* Like Linux's icmp_echo_ignore_broadcasts=1: no smurf amplifier here. */
		if (tn_ip4_is_broadcast(stack, ip->dst))
			return;
		TN_COUNT(stack, IcmpOutEchoReps);
		icmp_send(stack, ip->src, ip->tos, ICMP_ECHOREPLY, 0, tn_get32(msg + 4),
			  msg + ICMP_HLEN, len - ICMP_HLEN);
		break;
	case ICMP_ECHOREPLY:
		TN_COUNT(stack, IcmpInEchoReps);
		break;
	case ICMP_DEST_UNREACH:
		TN_COUNT(stack, IcmpInDestUnreachs);
		/* "fragmentation needed" carries the next hop's MTU in bytes 6-7 (RFC 1191 4) */
		icmp_error_input(stack, type, code, tn_get16(msg + 6), msg + ICMP_HLEN,
				 len - ICMP_HLEN);
		break;
	case ICMP_SOURCE_QUENCH:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAMETERPROB:
		icmp_error_input(stack, type, code, 0, msg + ICMP_HLEN, len - ICMP_HLEN);
		break;
	default:
		break;
	}
}
