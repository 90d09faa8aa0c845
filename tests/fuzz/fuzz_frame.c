/*
 * fuzz_frame.c - libFuzzer target: arbitrary frames into the protocol core.
 *
 * The input is a sequence of records: u8 op, u16 length, bytes. op & 1 feeds
 * the bytes as one Ethernet frame (the first 12 bytes forced to our MAC half
 * the time, so the fuzzer reaches ARP/IP quickly); otherwise the fake clock
 * advances by the length in milliseconds and due timers run. A fresh stack
 * per input keeps runs independent.
 *
 * With op & 0x40 a TCP frame answers the stack's last SYN-ACK: the low 16
 * bits of its sequence number, acknowledgment and SACK edges are offsets
 * from the first byte of each side's data (the SYN-ACK's acknowledgment, its
 * sequence past the SYN), and both checksums are made right. Random input
 * cannot guess an ISN; this way it reaches established connections,
 * out-of-order data, SACK recovery and the probes, with offsets that stay
 * put whatever the stack sent since. Before any SYN-ACK the offsets are
 * from 0. The first two connections the listener accepts stay open: they
 * read what comes and have data of their own to send.
 *
 * With op & 0x80 (and bit 0 clear) the host also talks to itself over its
 * loopback (loopback.c): a connection from the host to its own listener,
 * at 127.0.0.1 or at its own address, that sends up to 4 KB and then
 * closes, shuts down for writing or aborts (bits 1..2 of op). Its segments
 * are queued and come back on the next run of timers, between frames from
 * the link, so the fuzzer mixes both in one stack and one listener (its
 * SYN queue, cookies, the orphan limit) and in the TIME-WAIT table. The
 * length field is then not read as time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack/stack.h"
#include "stack/stack_internal.h" /* tn_get32, tn_put32, the checksum */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fake_now;
static uint64_t sink;

/* Where each side's data starts, from the stack's last SYN-ACK (see the header comment). */
static uint32_t our_data, peer_data;

/* The TCP header of an Ethernet/IPv4/TCP frame, and its IP header length; NULL if not one. */
static uint8_t *tcp_of(uint8_t *f, size_t len, size_t *ihl)
{
	if (len < 14 + 20 + 20 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 || f[23] != 6)
		return NULL;
	*ihl = (size_t)(f[14] & 15) * 4;
	if (*ihl < 20 || 14 + *ihl + 20 > len)
		return NULL;
	return f + 14 + *ihl;
}

static void note_output(const uint8_t *frame, size_t len)
{
	size_t ihl;
	const uint8_t *t = tcp_of((uint8_t *)frame, len, &ihl);
	if (!t)
		return;
	if ((t[13] & 0x12) == 0x12) { /* SYN-ACK */
		our_data = tn_get32(t + 4) + 1;
		peer_data = tn_get32(t + 8);
	}
}

/* op & 0x40: the frame made an answer to the last SYN-ACK, checksums right. */
static void answer(uint8_t *f, size_t len)
{
	size_t ihl;
	uint8_t *t = tcp_of(f, len, &ihl);
	if (!t)
		return;
	tn_put32(t + 4, peer_data + (tn_get32(t + 4) & 0xffff));
	tn_put32(t + 8, our_data + (tn_get32(t + 8) & 0xffff));
	size_t ip_len = (size_t)f[16] << 8 | f[17];
	if (ip_len < ihl + 20 || 14 + ip_len > len)
		return;
	size_t tcp_len = ip_len - ihl, doff = (size_t)(t[12] >> 4) * 4;
	for (size_t o = 20; o + 1 < doff && o + 1 < tcp_len;) { /* SACK edges */
		uint8_t kind = t[o], olen = t[o + 1];
		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			continue;
		}
		if (olen < 2 || o + olen > doff || o + olen > tcp_len)
			break;
		for (size_t e = o + 2; kind == 5 && e + 4 <= o + olen; e += 4)
			tn_put32(t + e, our_data + (tn_get32(t + e) & 0xffff));
		o += olen;
	}
	tn_put16(f + 24, 0);
	tn_put16(f + 24, tn_csum_fold(tn_csum_add(0, f + 14, ihl)));
	tn_put16(t + 16, 0);
	uint32_t pseudo = tn_csum_pseudo(tn_get32(f + 26), tn_get32(f + 30), TN_IP_PROTO_TCP, (uint16_t)tcp_len);
	tn_put16(t + 16, tn_csum_fold(tn_csum_add(pseudo, t, tcp_len)));
}

static uint64_t now_ns(void *ctx) { return fake_now; }
static void random_bytes(void *ctx, void *buf, size_t len) { memset(buf, 0x5a, len); }
static void output(void *ctx, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	/* Touch every byte so ASan sees any read of uninitialised or freed memory. */
	const uint8_t *p = frame;
	for (size_t i = 0; i < len; i++)
		sink += p[i];
	note_output(frame, len);
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

#define LOCAL_MAX 8 /* loopback connections an input may open */

/*
 * op & 0x80: a connection from the host to its own listener on port 80, at
 * 127.0.0.1 (op & 0x10) or its own address, with len % 4096 bytes to send
 * once established and an end chosen by op's bits 1..2: kept open (closed
 * when the input ends), closed, shut down for writing, or aborted. Its
 * handshake completes on the next run of timers (the loopback's queue),
 * and what it sent is sent as soon as it can be: here, now, if at all.
 * Returns the socket if it stays the caller's, else NULL.
 */
static struct tn_sock *talk_to_self(struct tn_stack *stack, const struct tn_config *cfg, uint8_t op,
				    size_t len)
{
	static uint8_t bytes[4096];
	struct tn_sock *c = tn_sock_open(stack);

	if (!c)
		return NULL;
	tn_ip4 to = (op & 0x10) ? 0x7f000001u /* 127.0.0.1 */ : cfg->addr;
	if (tn_sock_connect(c, to, 80) != -EINPROGRESS) {
		tn_sock_close(c);
		return NULL;
	}
	tn_stack_run_timers(stack, fake_now); /* the SYN, SYN-ACK and ACK over the loopback */
	tn_stack_run_timers(stack, fake_now);
	tn_stack_run_timers(stack, fake_now);
	tn_sock_send(c, bytes, len % sizeof(bytes));
	switch ((op >> 1) & 3) {
	case 0:
		return c;
	case 1:
		tn_sock_close(c);
		return NULL;
	case 2:
		tn_sock_shutdown(c, TN_SHUT_WR);
		return c;
	default:
		tn_sock_abort(c);
		return NULL;
	}
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
	our_data = peer_data = 0;
	struct tn_stack *stack = tn_stack_new(&cfg, &env);
	if (!stack)
		abort();
	uint8_t mac[6];
	tn_stack_get_mac(stack, mac);
	tn_stack_start(stack);
	/*
	 * A listener on port 80: its first two connections stay open, reading
	 * and with 20 KB to send; the others are answered and closed at once
	 * (half-open, cookies, orphans).
	 */
	struct tn_sock *l = tn_sock_open(stack);
	if (!l || tn_sock_bind(l, 0, 80) < 0 || tn_sock_listen(l, 4) < 0)
		abort();
	struct tn_sock *kept[2] = {NULL, NULL};
	size_t nkept = 0, to_send[2] = {20000, 20000};
	static uint8_t payload[20000], rx[65536];
	struct tn_sock *local[LOCAL_MAX] = {NULL};
	size_t nlocal = 0;

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
			if (op & 0x40)
				answer(frame, len);
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
				if (nkept < 2) {
					kept[nkept++] = c;
					continue;
				}
				tn_sock_send(c, "x", 1);
				tn_sock_close(c);
			}
			for (size_t k = 0; k < nkept; k++) {
				while (tn_sock_recv(kept[k], rx, sizeof(rx)) > 0)
					;
				long sent = tn_sock_send(kept[k], payload, to_send[k]);
				if (sent > 0)
					to_send[k] -= (size_t)sent;
			}
			data += len;
			size -= len;
		} else if (op & 0x80) {
			if (nlocal < LOCAL_MAX)
				local[nlocal++] = talk_to_self(stack, &cfg, op, len);
		} else {
			fake_now += (uint64_t)len * 1000000ull;
			tn_stack_run_timers(stack, fake_now);
		}
	}
	for (size_t k = 0; k < nkept; k++)
		tn_sock_close(kept[k]);
	for (size_t k = 0; k < nlocal; k++)
		if (local[k])
			tn_sock_close(local[k]);
	fake_now += 3600ull * 1000000000ull;
	tn_stack_run_timers(stack, fake_now);
	tn_stack_free(stack);
	return 0;
}
