/*
 * delayline.c - a wire with a delay: bridges pairs of interfaces, holding
 * every frame for a fixed time before it goes out of the other one. Tests
 * and benchmarks put one between tap0 and a veth to give tapnet a long
 * path, and one between two veths to give a kernel peer the same path, in
 * the same run (these machines have no tc/netem).
 *
 *   delayline [-d MS] [-b BYTES] IFACE_A IFACE_B [IFACE_C IFACE_D ...]
 *
 * Frames read on A go out of B, and the other way, after MS milliseconds
 * (default 10; the round trip through one pair is twice that). At most
 * BYTES wait in each direction (default 256 MiB); beyond that a frame is
 * dropped and counted, as a router's queue would. The interfaces should
 * have no offloads (GSO/TSO/GRO, checksums) so that frames are wire-sized.
 * Runs until SIGTERM or SIGINT, then prints what it forwarded and dropped:
 * in its queue (full), and before it, by the packet socket of the
 * interface it read them on (PACKET_STATISTICS: the socket's receive
 * buffer overflowed while the line was busy).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_IFACES 8
#define FRAME_MAX 65536 /* a frame larger than this is cut, and counted as dropped */
#define BATCH 64        /* frames read per interface per wakeup */
#define WRAP_MARK UINT32_MAX

struct held {
	uint64_t due_ns;
	uint32_t len;
	/* the frame follows */
};

/* One direction: frames read on in, sent on out after the delay, in a byte ring. */
struct lane {
	int in, out;
	const char *name_in, *name_out;
	uint8_t *ring;
	size_t size, head, tail, used; /* bytes; head: oldest, tail: where the next goes */
	uint64_t frames, bytes, drops;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int open_iface(const char *name)
{
	unsigned idx = if_nametoindex(name);
	if (!idx) {
		fprintf(stderr, "delayline: %s: no such interface\n", name);
		return -1;
	}
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("delayline: socket(AF_PACKET)");
		return -1;
	}
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)idx };
	int one = 1, big = 64 << 20;
	/* our own sends on this interface are not frames to forward back */
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "delayline: %s: %s\n", name, strerror(errno));
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	return fd;
}

/* Room for a record of n bytes: at the tail, or at 0 after wrapping; NULL when full. */
static struct held *lane_reserve(struct lane *l, size_t n)
{
	if (l->used == 0)
		l->head = l->tail = 0;
	if (l->used == 0 || l->tail > l->head) {
		if (l->size - l->tail >= n)
			return (struct held *)(l->ring + l->tail);
		if (l->head < n)
			return NULL;
		/* wrap: the end left unused is skipped, marked when a record header fits */
		if (l->size - l->tail >= sizeof(struct held))
			((struct held *)(l->ring + l->tail))->len = WRAP_MARK;
		l->used += l->size - l->tail;
		l->tail = 0;
		return (struct held *)l->ring;
	}
	if (l->tail < l->head && l->head - l->tail >= n)
		return (struct held *)(l->ring + l->tail);
	return NULL;
}

static size_t record_size(uint32_t len)
{
	return (sizeof(struct held) + len + 7) & ~(size_t)7;
}

static void lane_read(struct lane *l, uint64_t delay_ns)
{
	static uint8_t frame[FRAME_MAX];

	for (int i = 0; i < BATCH; i++) {
		ssize_t n = recv(l->in, frame, sizeof(frame), MSG_TRUNC);
		if (n < 0)
			return;
		if (n > FRAME_MAX) {
			l->drops++;
			continue;
		}
		size_t need = record_size((uint32_t)n);
		struct held *h = lane_reserve(l, need);
		if (!h) {
			l->drops++;
			continue;
		}
		h->due_ns = now_ns() + delay_ns;
		h->len = (uint32_t)n;
		memcpy(h + 1, frame, (size_t)n);
		l->tail += need;
		l->used += need;
		if (l->tail == l->size)
			l->tail = 0;
	}
}

/* Sends what is due; returns when the next frame is due (UINT64_MAX: none waits). */
static uint64_t lane_send(struct lane *l, uint64_t now)
{
	while (l->used) {
		struct held *h = (struct held *)(l->ring + l->head);
		if (l->size - l->head < sizeof(struct held) || h->len == WRAP_MARK) {
			l->used -= l->size - l->head; /* the wrapped end */
			l->head = 0;
			continue;
		}
		if (h->due_ns > now)
			return h->due_ns;
		if (send(l->out, h + 1, h->len, MSG_DONTWAIT) < 0 && errno == EAGAIN)
			return now + 100000; /* the interface is busy: try again shortly */
		l->frames++;
		l->bytes += h->len;
		size_t n = record_size(h->len);
		l->head += n;
		l->used -= n;
		if (l->head == l->size)
			l->head = 0;
	}
	l->head = l->tail = 0;
	return UINT64_MAX;
}

int main(int argc, char **argv)
{
	double delay_ms = 10;
	size_t bytes = (size_t)256 << 20;
	int c;

	while ((c = getopt(argc, argv, "d:b:")) != -1) {
		if (c == 'd')
			delay_ms = strtod(optarg, NULL);
		else if (c == 'b')
			bytes = strtoull(optarg, NULL, 10);
		else
			goto usage;
	}
	int nif = argc - optind;
	if (nif < 2 || nif % 2 || nif > MAX_IFACES || delay_ms < 0 || bytes < FRAME_MAX * 2)
		goto usage;

	struct lane lanes[MAX_IFACES];
	struct pollfd pfd[MAX_IFACES];
	for (int i = 0; i < nif; i++) {
		pfd[i].fd = open_iface(argv[optind + i]);
		pfd[i].events = POLLIN;
		if (pfd[i].fd < 0)
			return 1;
	}
	for (int i = 0; i < nif; i++) {
		int peer = i ^ 1; /* A<->B, C<->D, ... */
		lanes[i] = (struct lane){ .in = pfd[i].fd, .out = pfd[peer].fd,
					  .name_in = argv[optind + i], .name_out = argv[optind + peer],
					  .ring = malloc(bytes), .size = bytes & ~(size_t)7 };
		if (!lanes[i].ring) {
			fprintf(stderr, "delayline: out of memory\n");
			return 1;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	uint64_t delay_ns = (uint64_t)(delay_ms * 1e6);
	while (!stop) {
		uint64_t now = now_ns(), next = UINT64_MAX;
		for (int i = 0; i < nif; i++) {
			uint64_t due = lane_send(&lanes[i], now);
			if (due < next)
				next = due;
		}
		int timeout = next == UINT64_MAX ? 100 : (int)((next - now + 999999) / 1000000);
		if (next != UINT64_MAX && next - now < 1000000)
			timeout = 0; /* due within a millisecond: poll and come straight back */
		if (poll(pfd, (nfds_t)nif, timeout) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < nif; i++)
			if (pfd[i].revents & POLLIN)
				lane_read(&lanes[i], delay_ns);
		if (timeout == 0 && next != UINT64_MAX && next > now_ns()) {
			/* a sub-millisecond wait: spin briefly rather than sleep a whole tick */
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
		}
	}
	for (int i = 0; i < nif; i++) {
		struct tpacket_stats st = { 0 };
		socklen_t len = sizeof(st);
		if (getsockopt(lanes[i].in, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
			st.tp_drops = 0;
		printf("delayline: %s -> %s: %llu frames, %llu bytes forwarded, %llu dropped,"
		       " %u dropped by the socket\n",
		       lanes[i].name_in, lanes[i].name_out, (unsigned long long)lanes[i].frames,
		       (unsigned long long)lanes[i].bytes, (unsigned long long)lanes[i].drops,
		       st.tp_drops);
	}
	return 0;
usage:
	fprintf(stderr, "usage: delayline [-d MS] [-b BYTES] IFACE_A IFACE_B [IFACE_C IFACE_D ...]\n");
	return 2;
}
