/*
 * fuzz_frame.c - libFuzzer target: arbitrary frames into the protocol core.
 *
 * The input is a sequence of records: u8 op, u16 length, bytes. op & 1 feeds
 * the bytes as one Ethernet frame (the first 12 bytes forced to our MAC half
 * the time, so the fuzzer reaches ARP/IP quickly); otherwise the fake clock
 * advances by the length in milliseconds and due timers run. A fresh stack
 * per input keeps runs independent.
 */
#include <stdlib.h>
#include <string.h>

#include "stack/stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fake_now;
static uint64_t sink;

static uint64_t now_ns(void *ctx) { return fake_now; }
static void random_bytes(void *ctx, void *buf, size_t len) { memset(buf, 0x5a, len); }
static void output(void *ctx, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	/* Touch every byte so ASan sees any read of uninitialised or freed memory. */
	const uint8_t *p = frame;
	for (size_t i = 0; i < len; i++)
		sink += p[i];
}

/* Frames in pieces: the same, every piece's bytes, and the pieces add up to len. */
static bool output_iov(void *ctx, const struct tn_frame_meta *meta, const struct tn_iov *piece,
		       int n, size_t len)
{
	size_t total = 0;

	if (n < 2 || n > TN_OUTPUT_PIECES_MAX)
		abort();
	for (int i = 0; i < n; i++) {
		output(ctx, meta, piece[i].base, piece[i].len);
		total += piece[i].len;
	}
	if (total != len)
		abort();
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[65536 + 14];
	struct tn_config cfg;
	tn_config_defaults(&cfg);
	cfg.offload = TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4; /* replies as GSO frames too */
	cfg.reasm_max_bytes = 256 * 1024; /* keep runs light, still above one datagram */
	cfg.tcp_max_syn_backlog = 2;      /* a full SYN queue soon: SYN cookies too */
	cfg.tcp_max_orphans = 2;          /* and the orphan limit */
	struct tn_env env = {now_ns, random_bytes, output, NULL, output_iov};
	fake_now = 1000000000ull;
	struct tn_stack *stack = tn_stack_new(&cfg, &env);
	if (!stack)
		abort();
	uint8_t mac[6];
	tn_stack_get_mac(stack, mac);
	tn_stack_start(stack);
	/* a listener on port 80 whose connections are answered and closed: half-open, cookies, orphans */
	struct tn_sock *l = tn_sock_open(stack);
	if (!l || tn_sock_bind(l, 0, 80) < 0 || tn_sock_listen(l, 4) < 0)
		abort();

	while (size >= 3) {
		uint8_t op = data[0];
		size_t len = (size_t)data[1] << 8 | data[2];
		data += 3;
		size -= 3;
		if (op & 1) {
			if (len > size)
				len = size;
			memcpy(frame, data, len);
			if ((op & 2) && len >= 14) {
				memcpy(frame, mac, 6);
				frame[12] = 0x08; /* IPv4 or ARP */
				frame[13] = (op & 4) ? 0x06 : 0x00;
			}
			/* what a tap with offloads may say of a frame: bits 3..5 of op */
			struct tn_frame_meta meta = {
				.flags = (uint8_t)((op >> 3) & 3), /* PARTIAL, VALID */
				.gso_type = (op & 0x20) ? TN_GSO_TCPV4 : TN_GSO_NONE,
				.gso_size = (uint16_t)(op & 0x20 ? 1 + (len & 0x7ff) : 0),
				.csum_start = 34,
				.csum_offset = 16,
			};
			tn_stack_input(stack, (op & 0x38) ? &meta : NULL, frame, len);
			for (struct tn_sock *c; (c = tn_sock_accept(l, NULL));) {
				tn_sock_send(c, "x", 1);
				tn_sock_close(c);
			}
			data += len;
			size -= len;
		} else {
			fake_now += (uint64_t)len * 1000000ull;
			tn_stack_run_timers(stack, fake_now);
		}
	}
	fake_now += 3600ull * 1000000000ull;
	tn_stack_run_timers(stack, fake_now);
	tn_stack_free(stack);
	return 0;
}
