/*
 * delayline.c - a wire with a delay: bridges pairs of interfaces, holding
 * every frame for a fixed time before it goes out of the other one. Tests
 * and benchmarks put one between tap0 and a veth to give tapnet a long
 * path, and one between two veths to give a kernel peer the same path, in
 * the same run (these machines have no tc/netem).
 *
 *   delayline [-d MS] [-b BYTES] [-r PCT [-x US] [-s SEED]]
 *             IFACE_A IFACE_B [IFACE_C IFACE_D ...]
 *
 * Frames read on A go out of B, and the other way, after MS milliseconds
 * (default 10; the round trip through one pair is twice that). At most
 * BYTES wait in each direction (default 256 MiB); beyond that a frame is
 * dropped and counted, as a router's queue would. With -r, PCT per cent of
 * the frames (chosen at random on every lane; -s seeds the choice) are
 * held US microseconds longer (default 500): the frames read after one in
 * that time overtake it, as on a path with parallel links. This is the
 * reordering netem gives, the same for tapnet and for a kernel peer in one
 * run. The interfaces should have no offloads (GSO/TSO/GRO, checksums) so
 * that frames are wire-sized.
 * Runs until SIGTERM or SIGINT, then prints what it forwarded and dropped:
 * in its queue (full), and before it, by the packet socket of the
 * interface it read them on (PACKET_STATISTICS: the socket's receive
 * buffer overflowed while the line was busy), and how many it held back.
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
#include <stdbool.h>
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

/* Frames waiting, oldest first, in a byte ring. */
struct ring {
	uint8_t *mem;
	size_t size, head, tail, used; /* bytes; head: oldest, tail: where the next goes */
};

/*
 * One direction: frames read on in, sent on out after the delay. The
 * frames held longer wait in a ring of their own: every frame in a ring
 * waits as long as the others there, so each ring stays in due order.
 */
struct lane {
	int in, out;
	const char *name_in, *name_out;
	struct ring on_time, late;
	uint64_t frames, bytes, drops, reordered;
};

static unsigned reorder_pct;    /* -r */
static uint64_t reorder_extra_ns = 500000; /* -x */
static uint64_t rng_state = 0x9e3779b97f4a7c15u; /* -s */

/* xorshift64*: a reproducible choice, no libc state */
static unsigned random_pct(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned)((rng_state * 0x2545f4914f6cdd1du) >> 32) % 100;
}

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

static size_t record_size(uint32_t len)
{
	return (sizeof(struct held) + len + 7) & ~(size_t)7;
}

/* Room for a record of n bytes: at the tail, or at 0 after wrapping; NULL when full. */
static struct held *ring_reserve(struct ring *r, size_t n)
{
	if (r->used == 0)
		r->head = r->tail = 0;
	if (r->used == 0 || r->tail > r->head) {
		if (r->size - r->tail >= n)
			return (struct held *)(r->mem + r->tail);
		if (r->head < n)
			return NULL;
		/* wrap: the end left unused is skipped, marked when a record header fits */
		if (r->size - r->tail >= sizeof(struct held))
			((struct held *)(r->mem + r->tail))->len = WRAP_MARK;
		r->used += r->size - r->tail;
		r->tail = 0;
		return (struct held *)r->mem;
	}
	if (r->tail < r->head && r->head - r->tail >= n)
		return (struct held *)(r->mem + r->tail);
	return NULL;
}

/* The oldest frame, past a wrapped end; NULL when none waits. */
static struct held *ring_oldest(struct ring *r)
{
	while (r->used) {
		struct held *h = (struct held *)(r->mem + r->head);
		if (r->size - r->head >= sizeof(struct held) && h->len != WRAP_MARK)
			return h;
		r->used -= r->size - r->head; /* the wrapped end */
		r->head = 0;
	}
	r->head = r->tail = 0;
	return NULL;
}

static void ring_pop(struct ring *r, struct held *h)
{
	size_t n = record_size(h->len);
	r->head += n;
	r->used -= n;
	if (r->head == r->size)
		r->head = 0;
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
		bool late = reorder_pct && random_pct() < reorder_pct;
		struct ring *r = late ? &l->late : &l->on_time;
		size_t need = record_size((uint32_t)n);
		struct held *h = ring_reserve(r, need);
		if (!h) {
			l->drops++;
			continue;
		}
		h->due_ns = now_ns() + delay_ns + (late ? reorder_extra_ns : 0);
		h->len = (uint32_t)n;
		memcpy(h + 1, frame, (size_t)n);
		r->tail += need;
		r->used += need;
		if (r->tail == r->size)
			r->tail = 0;
		l->reordered += late;
	}
}

/* Sends what is due, oldest first; returns when the next frame is due (UINT64_MAX: none waits). */
static uint64_t lane_send(struct lane *l, uint64_t now)
{
	for (;;) {
		struct held *a = ring_oldest(&l->on_time), *b = ring_oldest(&l->late);
		struct ring *r = a && (!b || a->due_ns <= b->due_ns) ? &l->on_time : &l->late;
		struct held *h = r == &l->on_time ? a : b;
		if (!h)
			return UINT64_MAX;
		if (h->due_ns > now)
			return h->due_ns;
		if (send(l->out, h + 1, h->len, MSG_DONTWAIT) < 0 && errno == EAGAIN)
			return now + 100000; /* the interface is busy: try again shortly */
		l->frames++;
		l->bytes += h->len;
		ring_pop(r, h);
	}
}

int main(int argc, char **argv)
{
	double delay_ms = 10;
	size_t bytes = (size_t)256 << 20;
	int c;

	while ((c = getopt(argc, argv, "d:b:r:x:s:")) != -1) {
		if (c == 'd')
			delay_ms = strtod(optarg, NULL);
		else if (c == 'b')
			bytes = strtoull(optarg, NULL, 10);
		else if (c == 'r')
			reorder_pct = (unsigned)strtoul(optarg, NULL, 10);
		else if (c == 'x')
			reorder_extra_ns = strtoull(optarg, NULL, 10) * 1000;
		else if (c == 's')
			rng_state = strtoull(optarg, NULL, 0) | 1; /* xorshift: never 0 */
		else
			goto usage;
	}
	int nif = argc - optind;
	if (nif < 2 || nif % 2 || nif > MAX_IFACES || delay_ms < 0 || bytes < FRAME_MAX * 8 ||
	    reorder_pct > 100)
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
		/* the late ring holds what arrives in US at the most: a quarter of BYTES is plenty */
		size_t late = reorder_pct ? (bytes / 4) & ~(size_t)7 : 0;
		lanes[i] = (struct lane){ .in = pfd[i].fd, .out = pfd[peer].fd,
					  .name_in = argv[optind + i], .name_out = argv[optind + peer],
					  .on_time = { .mem = malloc(bytes - late), .size = (bytes - late) & ~(size_t)7 },
					  .late = { .mem = late ? malloc(late) : NULL, .size = late } };
		if (!lanes[i].on_time.mem || (late && !lanes[i].late.mem)) {
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
		       " %u dropped by the socket, %llu held back\n",
		       lanes[i].name_in, lanes[i].name_out, (unsigned long long)lanes[i].frames,
		       (unsigned long long)lanes[i].bytes, (unsigned long long)lanes[i].drops,
		       st.tp_drops, (unsigned long long)lanes[i].reordered);
	}
	for (int i = 0; i < nif; i++) {
		free(lanes[i].on_time.mem);
		free(lanes[i].late.mem);
		close(pfd[i].fd);
	}
	return 0;
usage:
	fprintf(stderr, "usage: delayline [-d MS] [-b BYTES] [-r PCT [-x US] [-s SEED]]"
			" IFACE_A IFACE_B [IFACE_C IFACE_D ...]\n");
	return 2;
}
