/*
 * tapdev.c - open, configure, read and write the TAP device.
 *
 * Every failure is logged as one line naming the operation, the interface
 * and the system's reason, with a hint when the reason has a usual cause.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tapdev.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "log.h"

#define TUN_PATH "/dev/net/tun"

void tapdev_init(struct tapdev *tap)
{
	memset(tap, 0, sizeof(*tap));
	tap->fd = -1;
}

static const char *open_hint(int err)
{
	switch (err) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return " (is the tun module loaded?)";
	case EACCES:
		return " (tapnetd needs read-write access to it)";
	case EPERM:
		return " (tapnetd needs root or CAP_NET_ADMIN)";
	default:
		return "";
	}
}

static const char *attach_hint(int err)
{
	switch (err) {
	case EBUSY:
		return " (is another program, e.g. another tapnetd, attached to it?)";
	case EINVAL:
		return " (does an interface of another kind have that name?)";
	case EPERM:
	case EACCES:
		return " (tapnetd needs root or CAP_NET_ADMIN, or the persistent tap belongs to another user)";
	default:
		return "";
	}
}

/*
 * The virtio-net header and the offloads: checksums we need not verify
 * (NEEDS_CSUM, DATA_VALID) and TCPv4 segments up to 64 KiB, both ways.
 * Without them every frame is a plain one; tapnet works either way.
 */
static void enable_offload(struct tapdev *tap)
{
	int hdr_len = (int)sizeof(struct virtio_net_hdr);

	/* IFF_VNET_HDR is set: every frame has the header now, of this size by default */
	tap->vnet_hdr = true;
	if (ioctl(tap->fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
		log_debug("%s: TUNSETVNETHDRSZ: %s; the default header size stays", tap->name,
			  strerror(errno));
	/* frames we write may use them whatever the kernel sends us */
	tap->offload = TN_OFFLOAD_CSUM | TN_OFFLOAD_TSO4;
	if (ioctl(tap->fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4)) < 0)
		log_warning("%s: the kernel does not send offloaded frames (TUNSETOFFLOAD): %s",
			    tap->name, strerror(errno));
}

int tapdev_open(struct tapdev *tap, const char *name, bool offload)
{
	struct ifreq ifr;

	tap->buf = malloc(TAPDEV_BUF_SIZE);
	if (!tap->buf) {
		log_error("cannot allocate the frame buffer: %s", strerror(errno));
		return -1;
	}
	tap->fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (tap->fd < 0) {
		int err = errno;
		log_error("cannot open %s: %s%s", TUN_PATH, strerror(err), open_hint(err));
		return -1;
	}

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(tap->fd, TUNSETIFF, &ifr) < 0) {
		int err = errno;
		log_error("cannot create or attach TAP interface %s (TUNSETIFF): %s%s",
			  name, strerror(err), attach_hint(err));
		return -1;
	}
	memcpy(tap->name, ifr.ifr_name, sizeof(tap->name));
	tap->name[sizeof(tap->name) - 1] = '\0';
	if (offload)
		enable_offload(tap);
	return 0;
}

/* Interface ioctls go through an ordinary socket; AF_INET also takes addresses. */
static int if_ioctl(int sock, unsigned long request, struct ifreq *ifr, const char *what,
		    const char *ifname)
{
	if (ioctl(sock, request, ifr) == 0)
		return 0;
	log_error("cannot %s of %s: %s", what, ifname, strerror(errno));
	return -1;
}

static void set_ifreq_addr(struct ifreq *ifr, tn_ip4 addr)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(addr);
	memcpy(&ifr->ifr_addr, &sin, sizeof(sin));
}

static int set_host_address(int sock, struct tapdev *tap, tn_ip4 addr, unsigned prefix_len)
{
	struct ifreq ifr;
	tn_ip4 mask = prefix_len ? ~(tn_ip4)0 << (32 - prefix_len) : 0;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap->name, sizeof(ifr.ifr_name));
	set_ifreq_addr(&ifr, addr);
	if (if_ioctl(sock, SIOCSIFADDR, &ifr, "set the address (SIOCSIFADDR)", tap->name) < 0)
		return -1;
	set_ifreq_addr(&ifr, mask);
	return if_ioctl(sock, SIOCSIFNETMASK, &ifr, "set the netmask (SIOCSIFNETMASK)", tap->name);
}

static int configure_with(int sock, struct tapdev *tap, unsigned mtu, unsigned txqueuelen,
			  tn_ip4 host_addr, unsigned host_prefix_len)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap->name, sizeof(ifr.ifr_name));
	if (if_ioctl(sock, SIOCGIFINDEX, &ifr, "get the interface index (SIOCGIFINDEX)", tap->name) < 0)
		return -1;
	tap->ifindex = (unsigned)ifr.ifr_ifindex;

	ifr.ifr_mtu = (int)mtu;
	if (if_ioctl(sock, SIOCSIFMTU, &ifr, "set the MTU (SIOCSIFMTU)", tap->name) < 0)
		return -1;
	/* The tap's default 1000 frames overflow when many streams send at once, and
	 * every ACK lost there costs a needless retransmission timeout. */
	ifr.ifr_qlen = (int)txqueuelen;
	if (if_ioctl(sock, SIOCSIFTXQLEN, &ifr, "set the queue length (SIOCSIFTXQLEN)", tap->name) < 0)
		return -1;

	if (host_addr && set_host_address(sock, tap, host_addr, host_prefix_len) < 0)
		return -1;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tap->name, sizeof(ifr.ifr_name));
	if (if_ioctl(sock, SIOCGIFFLAGS, &ifr, "read the flags (SIOCGIFFLAGS)", tap->name) < 0)
		return -1;
	ifr.ifr_flags |= IFF_UP;
	return if_ioctl(sock, SIOCSIFFLAGS, &ifr, "bring up the link (SIOCSIFFLAGS)", tap->name);
}

int tapdev_configure(struct tapdev *tap, unsigned mtu, unsigned txqueuelen, tn_ip4 host_addr,
		     unsigned host_prefix_len)
{
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (sock < 0) {
		log_error("cannot create a socket to configure %s: %s", tap->name, strerror(errno));
		return -1;
	}
	int r = configure_with(sock, tap, mtu, txqueuelen, host_addr, host_prefix_len);
	close(sock);
	return r;
}

/* The kernel's header of a frame in, as the core's meta; false if it makes no sense. */
static bool meta_from_vnet(const struct virtio_net_hdr *h, size_t frame_len,
			   struct tn_frame_meta *meta)
{
	memset(meta, 0, sizeof(*meta));
	if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if ((size_t)h->csum_start + h->csum_offset + 2 > frame_len)
			return false;
		meta->flags |= TN_FRAME_CSUM_PARTIAL;
		meta->csum_start = h->csum_start;
		meta->csum_offset = h->csum_offset;
	}
	if (h->flags & VIRTIO_NET_HDR_F_DATA_VALID)
		meta->flags |= TN_FRAME_CSUM_VALID;
	switch (h->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		meta->gso_type = TN_GSO_TCPV4;
		meta->gso_size = h->gso_size;
		break;
	default:
		return false; /* nothing we asked for (TUNSETOFFLOAD says TCPv4 only) */
	}
	return true;
}

_Static_assert(sizeof(struct virtio_net_hdr) == TAPDEV_VNET_HDR_LEN,
	       "TAPDEV_VNET_HDR_LEN is the virtio-net header's size");

/* The core's meta of a frame out as the kernel's header. */
static void vnet_from_meta(const struct tn_frame_meta *meta, const uint8_t *frame, size_t len,
			   struct virtio_net_hdr *h)
{
	memset(h, 0, sizeof(*h));
	if (meta->flags & TN_FRAME_CSUM_PARTIAL) {
		h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		h->csum_start = meta->csum_start;
		h->csum_offset = meta->csum_offset;
	}
	if (meta->gso_type == TN_GSO_TCPV4 && (size_t)meta->csum_start + 13 <= len) {
		h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
		h->gso_size = meta->gso_size;
		/* Ethernet, IP and TCP headers: what the kernel copies before the payload */
		h->hdr_len = (uint16_t)(meta->csum_start + (frame[meta->csum_start + 12] >> 4) * 4);
	}
}

/* The virtio-net header at dst if the tap takes one (the frame's headers at head): its size. */
static size_t put_vnet_hdr(const struct tapdev *tap, uint8_t *dst, const struct tn_frame_meta *meta,
			   const void *head, size_t head_len)
{
	struct virtio_net_hdr h;

	if (!tap->vnet_hdr)
		return 0;
	vnet_from_meta(meta, head, head_len, &h);
	memcpy(dst, &h, sizeof(h));
	return sizeof(h);
}

/* The frame behind its virtio-net header (when the tap takes one) in dst: the bytes to write. */
static size_t frame_copy(const struct tapdev *tap, uint8_t *dst, const struct tn_frame_meta *meta,
			 const void *frame, size_t len)
{
	size_t hlen = put_vnet_hdr(tap, dst, meta, frame, len);
	memcpy(dst + hlen, frame, len);
	return hlen + len;
}

/* A tap write of want bytes: 0, or -1 with errno (one write is one frame; short means lost). */
static int frame_written(ssize_t n, size_t want)
{
	if (n < 0)
		return -1;
	if ((size_t)n != want) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* One frame, want bytes at buf, with one write(2). */
static int write_frame(int fd, const void *buf, size_t want)
{
	ssize_t n;
	do
		n = write(fd, buf, want);
	while (n < 0 && errno == EINTR);
	return frame_written(n, want);
}

/* ------------------------------------------------------------------ io_uring batches */

/* write thread: batches in flight; below these, the loop writes the frames itself */
#define TX_SETS 4
#define TX_HANDOFF_BYTES (8 * 1514)      /* queued for the batch */
#define TX_HANDOFF_RUN_BYTES (16 * 1514) /* read in the run of frames coming in */

/*
 * An io_uring of our own, without liburing: its submission and completion
 * rings mapped once. Neither a tap write nor a read with RWF_NOWAIT waits
 * (a write goes into the kernel's input path, a tap always polls writable;
 * a read without a frame fails with EAGAIN instead of arming a poll), so
 * io_uring_enter makes them itself, in order, before it returns with every
 * completion: a batch costs one system call instead of one per frame,
 * which is most of a small frame's cost where system calls are dear.
 *
 * Writes: IORING_OP_WRITE of frames copied into slots (tapdev_flush).
 * Reads: IORING_OP_READ into buffers of a full frame each (rx_fill).
 * Both empty the rings before they return; they never overlap.
 */
struct tapdev_uring {
	int fd;
	unsigned sq_mask, cq_mask;
	_Atomic unsigned *sq_tail, *cq_head, *cq_tail;
	unsigned *sq_array;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *sq_map, *cq_map;
	size_t sq_map_len, cq_map_len, sqes_len;
	/* writes: frames waiting in slots (writes false: none ever wait) */
	bool writes;
	unsigned queued;
	unsigned set; /* the slots being filled (the writer may have the others) */
	struct tx_info {
		uint32_t len; /* the frame's, without its header */
		bool gso;
	} info_sets[TX_SETS][TAPDEV_TXQ], *info;
	uint8_t slot_sets[TX_SETS][TAPDEV_TXQ][TAPDEV_VNET_HDR_LEN + TAPDEV_COPY_MAX];
	uint8_t (*slot)[TAPDEV_VNET_HDR_LEN + TAPDEV_COPY_MAX];
	struct tapdev_writer *writer;
	/*
	 * reads (rx_buf NULL: one read(2) at a time): the results of the last
	 * batch, taken in order from rx_next; rx_drained: a read in it found
	 * none, so the kernel's queue was empty then.
	 */
	uint8_t *rx_buf; /* TAPDEV_RXQ buffers of TAPDEV_BUF_SIZE */
	int32_t rx_res[TAPDEV_RXQ];
	unsigned rx_count, rx_next;
	bool rx_drained;
	bool reads_left; /* a read may still be waiting: see ring_free_reads_left */
};

static void writer_wait(struct tapdev *tap);
static void writer_stop(struct tapdev_uring *q);

/*
 * reads_left: a read may still be waiting in the ring (a kernel that left
 * one so, which RWF_NOWAIT should never do). Closing the ring cancels it,
 * but only later, in the kernel's own time: until then it could still
 * write a frame into rx_buf, so that buffer is left allocated for good.
 */
static void ring_free_reads_left(struct tapdev_uring *q, bool reads_left)
{
	if (q->sqes)
		munmap(q->sqes, q->sqes_len);
	if (q->cq_map && q->cq_map != q->sq_map)
		munmap(q->cq_map, q->cq_map_len);
	if (q->sq_map)
		munmap(q->sq_map, q->sq_map_len);
	if (q->fd >= 0)
		close(q->fd);
	if (!reads_left)
		free(q->rx_buf);
	free(q);
}

static void ring_free(struct tapdev_uring *q)
{
	ring_free_reads_left(q, false);
}

static int ring_register(int ring_fd, unsigned op, const void *arg, unsigned n)
{
	return (int)syscall(__NR_io_uring_register, ring_fd, op, arg, n);
}

/*
 * The ring may read and write, nothing else. A ring's operations pass no
 * seccomp filter: were tapnetd taken over, an unrestricted ring would open
 * files and sockets past the systemd unit's SystemCallFilter and
 * RestrictAddressFamilies. So it is made disabled, and allows only READ and
 * WRITE submissions without flags (no links, no async punts, no fixed
 * files or buffers), and no io_uring_register(2) operation once enabled
 * (none is listed): what read(2) and write(2) do anyway. The tap is not a
 * registered file: a ring's files are let go in the kernel's own time
 * after the process ends, and a tap still held then makes a restarted
 * tapnetd's TUNSETIFF fail with EBUSY. A kernel that cannot restrict a
 * ring (before Linux 5.10) gets none: frames go one at a time.
 */
static int ring_restrict(struct tapdev_uring *q)
{
	const struct io_uring_restriction allowed[] = {
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READ },
		{ .opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITE },
	};

	if (ring_register(q->fd, IORING_REGISTER_RESTRICTIONS, allowed,
			  sizeof(allowed) / sizeof(allowed[0])) < 0 ||
	    ring_register(q->fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
		return -1;
	return 0;
}

static int ring_map(struct tapdev_uring *q)
{
	struct io_uring_params p;

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED; /* until ring_restrict enables it */
	q->fd = (int)syscall(__NR_io_uring_setup, TAPDEV_TXQ, &p);
	if (q->fd < 0)
		return -1;
	q->sq_map_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	q->cq_map_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (q->cq_map_len > q->sq_map_len)
			q->sq_map_len = q->cq_map_len;
		q->cq_map_len = q->sq_map_len;
	}
	q->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
	q->sq_map = mmap(NULL, q->sq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd,
			 IORING_OFF_SQ_RING);
	if (q->sq_map == MAP_FAILED) {
		q->sq_map = NULL;
		return -1;
	}
	q->cq_map = (p.features & IORING_FEAT_SINGLE_MMAP)
			    ? q->sq_map
			    : mmap(NULL, q->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
				   q->fd, IORING_OFF_CQ_RING);
	if (q->cq_map == MAP_FAILED) {
		q->cq_map = NULL;
		return -1;
	}
	q->sqes = mmap(NULL, q->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd,
		       IORING_OFF_SQES);
	if (q->sqes == MAP_FAILED) {
		q->sqes = NULL;
		return -1;
	}
	uint8_t *sq = q->sq_map, *cq = q->cq_map;
	q->sq_tail = (_Atomic unsigned *)(sq + p.sq_off.tail);
	q->sq_array = (unsigned *)(sq + p.sq_off.array);
	q->sq_mask = *(unsigned *)(sq + p.sq_off.ring_mask);
	q->cq_head = (_Atomic unsigned *)(cq + p.cq_off.head);
	q->cq_tail = (_Atomic unsigned *)(cq + p.cq_off.tail);
	q->cq_mask = *(unsigned *)(cq + p.cq_off.ring_mask);
	q->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	if (p.sq_entries < TAPDEV_TXQ || p.cq_entries < TAPDEV_TXQ) {
		errno = ENOSPC;
		return -1;
	}
	return ring_restrict(q);
}

/* One read or write of len bytes at buf as a submission; its completion says i. */
static void ring_prep(struct tapdev_uring *q, uint8_t opcode, int tap_fd, void *buf, size_t len,
		      unsigned i)
{
	unsigned tail = atomic_load_explicit(q->sq_tail, memory_order_relaxed);
	unsigned idx = tail & q->sq_mask;
	struct io_uring_sqe *e = &q->sqes[idx];

	memset(e, 0, sizeof(*e));
	e->opcode = opcode;
	e->fd = tap_fd;
	e->addr = (uint64_t)(uintptr_t)buf;
	e->len = (uint32_t)len;
	e->off = (uint64_t)-1; /* no file position: a character device */
	if (opcode == IORING_OP_READ)
		e->rw_flags = RWF_NOWAIT; /* no frame: EAGAIN now, not a read left waiting */
	e->user_data = i;
	q->sq_array[idx] = idx;
	atomic_store_explicit(q->sq_tail, tail + 1, memory_order_release);
}

/*
 * Submits the n prepared operations; each is made before this returns
 * (wait: waits for them all, for operations that always end, writes;
 * reads must not wait, a read left waiting would wait for a frame). Then
 * calls done for each completion in the order they completed, and
 * returns the number missing (0 but for a kernel that left one waiting) or
 * -1 with errno when io_uring_enter failed (nothing was made).
 */
static int ring_run(struct tapdev_uring *q, unsigned n, bool wait,
		    void (*done)(void *ctx, unsigned i, int32_t res), void *ctx)
{
	long r;
	unsigned got = 0;

	do
		r = syscall(__NR_io_uring_enter, q->fd, n, wait ? n : 0, wait ? IORING_ENTER_GETEVENTS : 0,
			    NULL, 0);
	while (r < 0 && errno == EINTR);
	int err = errno; /* done may log */
	unsigned head = atomic_load_explicit(q->cq_head, memory_order_relaxed);
	unsigned tail = atomic_load_explicit(q->cq_tail, memory_order_acquire);
	for (; head != tail; head++, got++) {
		const struct io_uring_cqe *c = &q->cqes[head & q->cq_mask];
		done(ctx, (unsigned)c->user_data, c->res);
	}
	atomic_store_explicit(q->cq_head, head, memory_order_release);
	if (r < 0) {
		errno = err;
		return -1;
	}
	return got < n ? (int)(n - got) : 0;
}

/*
 * Tries a read of an empty tap as a batch would (the interface is not up
 * yet, or its queue is drained after): only a kernel whose tap reads take
 * RWF_NOWAIT answers EAGAIN at once; another (EOPNOTSUPP, or a read left
 * waiting for a frame) gets no batched reads.
 */
static void rx_probe_done(void *ctx, unsigned i, int32_t res)
{
	(void)i;
	*(int32_t *)ctx = res;
}

static int rx_probe(struct tapdev_uring *q, int tap_fd)
{
	int32_t res = 1;

	ring_prep(q, IORING_OP_READ, tap_fd, q->rx_buf, TAPDEV_BUF_SIZE, 0);
	int missing = ring_run(q, 1, false, rx_probe_done, &res);
	if (missing < 0)
		return -1;
	if (missing > 0) { /* left waiting: the ring is not to be used, nor its buffers freed */
		q->reads_left = true;
		errno = EOPNOTSUPP;
		return -1;
	}
	if (res >= 0) { /* a frame already: the first batch has it */
		q->rx_res[0] = res;
		q->rx_count = 1;
		q->rx_next = 0;
		return 0;
	}
	if (res != -EAGAIN) {
		errno = -res;
		return -1;
	}
	return 0;
}

int tapdev_batch_open(struct tapdev *tap, bool writes, bool reads, tapdev_sent_fn sent, void *ctx)
{
	struct tapdev_uring *q = calloc(1, sizeof(*q));

	if (!q)
		return -1;
	q->fd = -1;
	if (ring_map(q) < 0)
		goto fail;
	q->writes = writes;
	if (reads) {
		q->rx_buf = malloc((size_t)TAPDEV_RXQ * TAPDEV_BUF_SIZE);
		if (!q->rx_buf)
			goto fail;
		if (rx_probe(q, tap->fd) < 0) {
			int err = errno;
			log_info("%s: frames read one at a time: batched tap reads not offered here "
				 "(%s)", tap->name, strerror(err));
			if (!writes || q->reads_left) {
				errno = err;
				goto fail;
			}
			free(q->rx_buf);
			q->rx_buf = NULL;
		}
	}
	q->info = q->info_sets[0];
	q->slot = q->slot_sets[0];
	tap->ring = q;
	tap->sent = sent;
	tap->sent_ctx = ctx;
	return 0;
fail:;
	int err = errno;
	ring_free_reads_left(q, q->reads_left);
	errno = err;
	return -1;
}

/* Queued frame i with a write(2) of its own, its fate told. */
static void tx_write_one(struct tapdev *tap, struct tapdev_uring *q, unsigned i)
{
	size_t hlen = tap->vnet_hdr ? TAPDEV_VNET_HDR_LEN : 0;
	int err = write_frame(tap->fd, q->slot[i], hlen + q->info[i].len) < 0 ? errno : 0;

	tap->sent(tap->sent_ctx, q->info[i].len, q->info[i].gso, err);
}

/*
 * What is left in the rings after a failed io_uring_enter would run stale:
 * no more batches. Frames still queued (a read batch failed) go at once.
 */
static void ring_drop(struct tapdev *tap, int err, const char *what)
{
	struct tapdev_uring *q = tap->ring;

	writer_wait(tap); /* its batches first */
	writer_stop(q);
	log_warning("%s: a batch of %s failed (io_uring_enter: %s); one system call per frame "
		    "from now on", tap->name, what, strerror(err));
	tap->ring = NULL;
	for (unsigned i = 0; i < q->queued; i++)
		tx_write_one(tap, q, i);
	ring_free_reads_left(q, q->reads_left);
}

/* The writes of n frames in a set of slots, prepared on ring: completion i is slot i's. */
static void prep_writes(struct tapdev_uring *ring, int tap_fd,
			uint8_t (*slot)[TAPDEV_VNET_HDR_LEN + TAPDEV_COPY_MAX],
			const struct tx_info *info, unsigned n, size_t hlen)
{
	for (unsigned i = 0; i < n; i++)
		ring_prep(ring, IORING_OP_WRITE, tap_fd, slot[i], hlen + info[i].len, i);
}

/* A ring's write of want bytes that completed with res: 0, or the errno of its failure. */
static int write_result(int32_t res, size_t want)
{
	return res < 0 ? -res : (size_t)res != want ? EIO : 0;
}

static void tx_done(void *ctx, unsigned i, int32_t res)
{
	struct tapdev *tap = ctx;
	struct tapdev_uring *q = tap->ring;

	if (i >= TAPDEV_TXQ)
		return;
	size_t want = q->info[i].len + (tap->vnet_hdr ? TAPDEV_VNET_HDR_LEN : 0);
	tap->sent(tap->sent_ctx, q->info[i].len, q->info[i].gso, write_result(res, want));
}

/*
 * The write thread (tapdev_write_thread_start). A tap write runs the
 * kernel's receive path for the frame and what that sets off, in the
 * writer's time: for an ACK, the kernel sender's next segments (their
 * segmentation, checksums and queueing back to the tap); for data, the
 * receiving socket's TCP. In a transfer without offloads that was a
 * quarter of tapnetd's time, on the one CPU its loop has. Batches of
 * queued frames are handed to a thread of their own, with a ring of its
 * own, while the loop reads on: up to TX_SETS batches in flight, each in
 * a set of slots the loop leaves alone until it has been written, and
 * written one after the other, so frames keep their order; a frame
 * written at once (larger than a slot) waits until all are written. The
 * loop tells their fates (tap->sent) as it finds them written.
 *
 * Handing a batch over costs a wakeup, which on a virtual machine can take
 * tens of microseconds: a few frames while no run of frames comes in (a
 * ping, a request and its answer) are written by the loop itself, at once,
 * when the thread has nothing left to write.
 */
struct tapdev_writer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t posted, finished;
	struct tapdev_uring *ring; /* writes only */
	struct tapdev_uring *q;    /* whose slots */
	int tap_fd;
	size_t hlen;
	bool stop, main_waits;
	int broken;        /* the thread's: its ring failed, it writes nothing more */
	int failed;        /* the loop's: a batch came back unwritten (the ring failed) */
	/* counts of batches, in their order: written (head), handed over (tail), told (reported) */
	unsigned head, tail, reported;
	/* per set of slots: the frames of its batch, and how their writes went */
	unsigned n[TX_SETS];
	int enter_err[TX_SETS];
	int32_t res[TX_SETS][TAPDEV_TXQ];
	int32_t *cur_res; /* the thread's: res of the batch being written */
};

static void writer_done(void *ctx, unsigned i, int32_t res)
{
	struct tapdev_writer *w = ctx;

	if (i < TAPDEV_TXQ)
		w->cur_res[i] = res;
}

static void *writer_main(void *arg)
{
	struct tapdev_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->head == w->tail && !w->stop)
			pthread_cond_wait(&w->posted, &w->lock);
		if (w->head == w->tail)
			break;
		unsigned set = w->head % TX_SETS, n = w->n[set];
		pthread_mutex_unlock(&w->lock);
		/* after a failed io_uring_enter the ring would run stale: the loop writes the rest */
		if (!w->broken) {
			w->cur_res = w->res[set];
			for (unsigned i = 0; i < n; i++)
				w->res[set][i] = -EIO;
			prep_writes(w->ring, w->tap_fd, w->q->slot_sets[set], w->q->info_sets[set], n,
				    w->hlen);
			int missing = ring_run(w->ring, n, true, writer_done, w);
			w->broken = missing < 0 ? errno : missing > 0 ? EIO : 0;
		}
		pthread_mutex_lock(&w->lock);
		w->enter_err[set] = w->broken;
		w->head++;
		if (w->main_waits)
			pthread_cond_signal(&w->finished);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Tells the fates of the batches written so far; with wait_for, waits until that many are written. */
static void writer_reap(struct tapdev *tap, unsigned wait_for)
{
	struct tapdev_uring *q = tap->ring;
	struct tapdev_writer *w = q ? q->writer : NULL;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	while ((int)(w->head - wait_for) < 0) {
		w->main_waits = true;
		pthread_cond_wait(&w->finished, &w->lock);
	}
	w->main_waits = false;
	unsigned head = w->head;
	pthread_mutex_unlock(&w->lock);
	for (; w->reported != head; w->reported++) {
		unsigned set = w->reported % TX_SETS;
		if (w->enter_err[set] && !w->failed)
			w->failed = w->enter_err[set]; /* tapdev_flush ends the batches */
		for (unsigned i = 0; i < w->n[set]; i++) {
			size_t want = q->info_sets[set][i].len + w->hlen;
			int err;
			if (w->enter_err[set]) /* unwritten, and so is every batch after it: in order here */
				err = write_frame(tap->fd, q->slot_sets[set][i], want) < 0 ? errno : 0;
			else
				err = write_result(w->res[set][i], want);
			tap->sent(tap->sent_ctx, q->info_sets[set][i].len, q->info_sets[set][i].gso, err);
		}
		if (!w->enter_err[set]) {
			tap->out_batches++;
			tap->out_thread_batches++;
		}
	}
}

/* Waits until every batch handed over is written, and tells their fates. */
static void writer_wait(struct tapdev *tap)
{
	struct tapdev_writer *w = tap->ring ? tap->ring->writer : NULL;

	if (w)
		writer_reap(tap, w->tail);
}

static void writer_stop(struct tapdev_uring *q)
{
	struct tapdev_writer *w = q->writer;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->posted);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	ring_free(w->ring);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->posted);
	pthread_cond_destroy(&w->finished);
	free(w);
	q->writer = NULL;
}

int tapdev_write_thread_start(struct tapdev *tap)
{
	struct tapdev_uring *q = tap->ring;
	sigset_t all, old;
	int rc;

	if (!q || !q->writes) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (q->writer)
		return 0;
	struct tapdev_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->ring = calloc(1, sizeof(*w->ring));
	if (!w->ring) {
		free(w);
		return -1;
	}
	w->ring->fd = -1;
	if (ring_map(w->ring) < 0) {
		int err = errno;
		ring_free(w->ring);
		free(w);
		errno = err;
		return -1;
	}
	w->tap_fd = tap->fd;
	w->hlen = tap->vnet_hdr ? TAPDEV_VNET_HDR_LEN : 0;
	w->q = q;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->posted, NULL);
	pthread_cond_init(&w->finished, NULL);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		ring_free(w->ring);
		free(w);
		errno = rc;
		return -1;
	}
	pthread_setname_np(w->thread, "tapnetd-write");
	q->writer = w;
	return 0;
}

/*
 * Hands the queued frames to the write thread: 0, or -1 when they are the
 * loop's to write (no thread, or a few frames while it is idle).
 */
static int writer_post(struct tapdev *tap)
{
	struct tapdev_uring *q = tap->ring;
	struct tapdev_writer *w = q->writer;

	if (!w)
		return -1;
	pthread_mutex_lock(&w->lock);
	bool idle = w->head == w->tail;
	size_t bytes = 0;
	for (unsigned i = 0; i < q->queued; i++)
		bytes += q->info[i].len;
	if (idle && bytes < TX_HANDOFF_BYTES && tap->rx_run_bytes < TX_HANDOFF_RUN_BYTES) {
		/*
		 * a few frames, no run of frames coming in: written here at
		 * once, as fast as it gets (tapdev_flush has told the fates of
		 * the batches the thread wrote)
		 */
		pthread_mutex_unlock(&w->lock);
		return -1;
	}
	w->n[q->set] = q->queued;
	w->tail++;
	pthread_cond_signal(&w->posted);
	pthread_mutex_unlock(&w->lock);
	/* the next set to fill must be told of: at most TX_SETS batches in flight or untold */
	writer_reap(tap, w->tail - TX_SETS + 1);
	q->set = w->tail % TX_SETS;
	q->info = q->info_sets[q->set];
	q->slot = q->slot_sets[q->set];
	q->queued = 0;
	return 0;
}

void tapdev_flush(struct tapdev *tap)
{
	struct tapdev_uring *q = tap->ring;

	if (!q)
		return;
	if (q->writer) {
		writer_reap(tap, 0);
		if (q->writer->failed) { /* no more batches: what waits goes at once */
			ring_drop(tap, q->writer->failed, "writes");
			return;
		}
	}
	if (!q->queued)
		return;
	if (writer_post(tap) == 0)
		return;
	unsigned n = q->queued;
	size_t hlen = tap->vnet_hdr ? TAPDEV_VNET_HDR_LEN : 0;
	if (n == 1) { /* a batch of one: a write(2) costs no more */
		q->queued = 0;
		tx_write_one(tap, q, 0);
		return;
	}
	q->queued = 0; /* told below, one way or the other */
	prep_writes(q, tap->fd, q->slot, q->info, n, hlen);
	int missing = ring_run(q, n, true, tx_done, tap);
	int err = missing < 0 ? errno : 0;
	/* frames the kernel did not take or finish (it always does, short of a bug): lost */
	for (int i = 0; i < (missing < 0 ? (int)n : missing); i++)
		tap->sent(tap->sent_ctx, 0, false, EIO);
	if (missing)
		ring_drop(tap, missing < 0 ? err : EIO, "writes");
	else
		tap->out_batches++;
}

static void rx_done(void *ctx, unsigned i, int32_t res)
{
	struct tapdev_uring *q = ctx;

	if (i < TAPDEV_RXQ)
		q->rx_res[i] = res;
}

/*
 * Reads up to n frames (2..TAPDEV_RXQ) with one io_uring_enter. Every slot
 * is looked at, in order, since a frame may come between two reads that
 * found none. Where io_uring_enter fails the ring is gone, and read(2)
 * takes over.
 */
static void rx_fill(struct tapdev *tap, unsigned n)
{
	struct tapdev_uring *q = tap->ring;

	for (unsigned i = 0; i < n; i++) {
		q->rx_res[i] = -EAGAIN;
		ring_prep(q, IORING_OP_READ, tap->fd, q->rx_buf + (size_t)i * TAPDEV_BUF_SIZE,
			  TAPDEV_BUF_SIZE, i);
	}
	int missing = ring_run(q, n, false, rx_done, q);
	if (missing) {
		q->reads_left = missing > 0;
		ring_drop(tap, missing < 0 ? errno : EIO, "reads");
		return;
	}
	tap->in_batches++;
	q->rx_count = n;
	q->rx_next = 0;
	q->rx_drained = false;
	for (unsigned i = 0; i < n; i++)
		if (q->rx_res[i] == -EAGAIN)
			q->rx_drained = true;
}

/*
 * How many reads the next batch makes: the first of a run as many as the
 * last run found, then twice the run so far, up to TAPDEV_RXQ and to what
 * the caller takes. A lone frame (a ping, a request) costs two plain
 * read(2)s, as before batches: the one that finds nothing comes before
 * its answer goes out, and a batch of reads finding nothing costs more.
 */
static unsigned rx_batch_size(const struct tapdev *tap, unsigned want)
{
	unsigned n;

	if (tap->rx_run == 0)
		n = tap->rx_prev_run;
	else if (tap->rx_run == 1)
		n = 1;
	else
		n = 2 * tap->rx_run;
	if (n > TAPDEV_RXQ)
		n = TAPDEV_RXQ;
	return n < want ? n : want;
}

ssize_t tapdev_read(struct tapdev *tap, struct tn_frame_meta *meta, const uint8_t **frame,
		    unsigned want)
{
	const size_t hlen = tap->vnet_hdr ? sizeof(struct virtio_net_hdr) : 0;
	struct tapdev_uring *q;
	struct virtio_net_hdr h;
	const uint8_t *buf;
	ssize_t n;

	for (;;) {
		q = tap->ring && tap->ring->rx_buf ? tap->ring : NULL;
		if (q && q->rx_next < q->rx_count) { /* the last batch's next */
			unsigned i = q->rx_next++;
			buf = q->rx_buf + (size_t)i * TAPDEV_BUF_SIZE;
			n = q->rx_res[i];
			if (n == -EAGAIN)
				continue;
			if (n < 0) {
				errno = (int)-n;
				n = -1;
			}
		} else if (q && q->rx_drained) { /* it found the kernel's queue empty */
			q->rx_drained = false;
			errno = EAGAIN;
			n = -1;
		} else {
			unsigned batch = q ? rx_batch_size(tap, want) : 1;
			if (batch > 1) {
				rx_fill(tap, batch); /* or the ring is gone: read(2) */
				continue;
			}
			/* one read(2) of header and frame together: no iovec to import */
			buf = tap->buf;
			n = read(tap->fd, tap->buf, TAPDEV_BUF_SIZE);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -1;
			tap->rx_prev_run = tap->rx_run;
			tap->rx_run = 0;
			tap->rx_run_bytes = 0;
			return 0;
		}
		if (!tap->vnet_hdr) {
			memset(meta, 0, sizeof(*meta));
			break;
		}
		if ((size_t)n >= hlen) {
			memcpy(&h, buf, hlen);
			if (meta_from_vnet(&h, (size_t)n - hlen, meta)) {
				n -= (ssize_t)hlen;
				break;
			}
		}
		tap->bad_vnet_hdr++; /* dropped; the next one may be fine */
	}
	tap->rx_run++;
	tap->rx_run_bytes += (size_t)n;
	*frame = buf + hlen;
	return n;
}

bool tapdev_lone_frame(const struct tapdev *tap)
{
	return tap->rx_run == 1 && tap->rx_prev_run <= 1;
}

bool tapdev_read_batches(const struct tapdev *tap)
{
	return tap->ring && tap->ring->rx_buf;
}

bool tapdev_read_pending(const struct tapdev *tap)
{
	const struct tapdev_uring *q = tap->ring;

	return q && q->rx_buf && q->rx_next < q->rx_count;
}

/*
 * One frame of len bytes in n pieces (the first holding every header) with
 * one writev, behind its virtio-net header when the tap takes one.
 */
static int write_pieces(struct tapdev *tap, const struct tn_frame_meta *meta,
			const struct tn_iov *piece, int n, size_t len)
{
	struct virtio_net_hdr h;
	struct iovec iov[1 + TN_OUTPUT_PIECES_MAX];
	int k = 0;
	ssize_t w;

	if (n < 1 || n > TN_OUTPUT_PIECES_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (tap->vnet_hdr) {
		vnet_from_meta(meta, piece[0].base, piece[0].len, &h);
		iov[k++] = (struct iovec){ &h, sizeof(h) };
	}
	for (int i = 0; i < n; i++)
		iov[k++] = (struct iovec){ (void *)piece[i].base, piece[i].len };
	do
		w = writev(tap->fd, iov, k);
	while (w < 0 && errno == EINTR);
	return frame_written(w, (tap->vnet_hdr ? sizeof(h) : 0) + len);
}

/* Every queued frame written, its fate told: before a frame written at once. */
static void flush_and_wait(struct tapdev *tap)
{
	tapdev_flush(tap);
	writer_wait(tap);
}

/* The write queue's next slot, taken for a frame of len bytes; NULL: no queue, or too large. */
static uint8_t *tx_slot(struct tapdev *tap, const struct tn_frame_meta *meta, size_t len)
{
	if (!tap->ring || !tap->ring->writes || len > TAPDEV_COPY_MAX)
		return NULL;
	if (tap->ring->queued == TAPDEV_TXQ)
		tapdev_flush(tap); /* which may end the batches (ring_drop) */
	struct tapdev_uring *q = tap->ring;
	if (!q)
		return NULL;
	q->info[q->queued].len = (uint32_t)len;
	q->info[q->queued].gso = meta->gso_type != TN_GSO_NONE;
	return q->slot[q->queued++];
}

int tapdev_write(struct tapdev *tap, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	uint8_t *slot = tx_slot(tap, meta, len);
	if (slot) {
		frame_copy(tap, slot, meta, frame, len);
		return 1;
	}
	flush_and_wait(tap); /* what waits goes first */
	if (!tap->vnet_hdr)
		return write_frame(tap->fd, frame, len);
	if (len <= TAPDEV_COPY_MAX)
		return write_frame(tap->fd, tap->out, frame_copy(tap, tap->out, meta, frame, len));
	return write_pieces(tap, meta, &(struct tn_iov){ frame, len }, 1, len);
}

int tapdev_write_pieces(struct tapdev *tap, const struct tn_frame_meta *meta,
			const struct tn_iov *piece, int n, size_t len)
{
	uint8_t *slot = n >= 1 && n <= TN_OUTPUT_PIECES_MAX ? tx_slot(tap, meta, len) : NULL;
	if (slot) { /* gathered into the slot: the pieces' one copy */
		size_t at = put_vnet_hdr(tap, slot, meta, piece[0].base, piece[0].len);
		for (int i = 0; i < n; i++) {
			memcpy(slot + at, piece[i].base, piece[i].len);
			at += piece[i].len;
		}
		return 1;
	}
	flush_and_wait(tap); /* what waits goes first */
	return write_pieces(tap, meta, piece, n, len);
}

void tapdev_close(struct tapdev *tap)
{
	if (tap->ring) {
		flush_and_wait(tap);
		if (tap->ring) {
			writer_stop(tap->ring);
			ring_free(tap->ring);
		}
	}
	if (tap->fd >= 0)
		close(tap->fd);
	free(tap->buf);
	tapdev_init(tap);
}
