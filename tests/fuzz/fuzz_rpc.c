/*
 * fuzz_rpc.c - libFuzzer target for the control protocol decoder: what a
 * hostile client can send to tapnetd. Every input goes through the header
 * parser and the validator, and every attribute (nests included, validated
 * or not) through every accessor, so an out-of-bounds read anywhere shows.
 */
#include "rpc/rpc.h"

#include <stdlib.h>
#include <string.h>

/* Deeper than the decoder accepts, to walk what the validator would refuse. */
#define WALK_DEPTH (TN_RPC_MAX_DEPTH + 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch_attr(const struct tn_rpc_attr_view *a)
{
	uint32_t u32;
	uint64_t u64;
	uint8_t mac[6];
	char small[8], big[TN_RPC_MAX_MSG];

	(void)tn_rpc_get_u32(a, &u32);
	(void)tn_rpc_get_u64(a, &u64);
	(void)tn_rpc_get_bytes(a, mac, sizeof(mac));
	(void)tn_rpc_get_str(a, small, sizeof(small));
	(void)tn_rpc_get_str(a, big, sizeof(big));
	(void)tn_rpc_attr_is_nest(a->type);
}

static void walk(struct tn_rpc_iter *it, int depth)
{
	struct tn_rpc_attr_view a;

	while (tn_rpc_next(it, &a)) {
		touch_attr(&a);
		if (depth < WALK_DEPTH) {
			struct tn_rpc_iter inner;

			tn_rpc_iter_nest(&inner, &a);
			walk(&inner, depth + 1);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tn_rpc_header hdr;
	struct tn_rpc_iter it;
	char message[64];
	int err;

	(void)tn_rpc_validate(data, size);
	if (tn_rpc_parse_header(data, size, &hdr) != TN_RPC_OK || hdr.length > size)
		return 0;

	/* Copy to an exact-size block so reading past hdr.length is caught. */
	uint8_t *msg = malloc(hdr.length);

	if (msg == NULL)
		return 0;
	memcpy(msg, data, hdr.length);
	(void)tn_rpc_validate(msg, hdr.length);
	(void)tn_rpc_type_name(hdr.type);
	(void)tn_rpc_decode_error(msg, hdr.length, &err, message, sizeof(message));
	tn_rpc_iter_msg(&it, msg, hdr.length);
	walk(&it, 0);
	free(msg);
	return 0;
}
