/* eth.c - Ethernet II framing: accept frames for our MAC or broadcast. */
#include "stack_internal.h"

static const uint8_t eth_broadcast[TN_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void tn_eth_input(struct tn_stack *stack, const uint8_t *frame, size_t len)
{
	TN_COUNT(stack, EthInFrames);
	if (len < TN_ETH_HLEN) {
		TN_COUNT(stack, EthInTruncated);
		return;
	}
	if (memcmp(frame, stack->cfg.mac, TN_ETH_ALEN) != 0 &&
	    memcmp(frame, eth_broadcast, TN_ETH_ALEN) != 0) {
		TN_COUNT(stack, EthInNotForUs);
		return;
	}
	const uint8_t *payload = frame + TN_ETH_HLEN;
	size_t payload_len = len - TN_ETH_HLEN;
	switch (tn_get16(frame + 12)) {
	case TN_ETH_P_IP:
		tn_ipv4_input(stack, payload, payload_len);
		break;
	case TN_ETH_P_ARP:
		tn_arp_input(stack, payload, payload_len);
		break;
	default:
		TN_COUNT(stack, EthInUnknownType);
		break;
	}
}

void tn_eth_header(const struct tn_stack *stack, uint8_t *frame, const uint8_t dst[TN_ETH_ALEN],
		   uint16_t type)
{
	memcpy(frame, dst ? dst : eth_broadcast, TN_ETH_ALEN);
	memcpy(frame + TN_ETH_ALEN, stack->cfg.mac, TN_ETH_ALEN);
	tn_put16(frame + 12, type);
}

void tn_eth_output(struct tn_stack *stack, const uint8_t dst[TN_ETH_ALEN], uint16_t type,
		   const struct tn_frame_meta *meta, const uint8_t *payload, size_t len)
{
	uint8_t *frame = stack->tx;

	if (len > sizeof(stack->tx) - TN_ETH_HLEN)
		return;
	if (payload != frame + TN_ETH_HLEN)
		memmove(frame + TN_ETH_HLEN, payload, len);
	tn_eth_header(stack, frame, dst, type);
	tn_emit(stack, meta, frame, TN_ETH_HLEN + len);
}
