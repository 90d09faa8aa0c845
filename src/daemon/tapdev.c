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

ssize_t tapdev_read(struct tapdev *tap, struct tn_frame_meta *meta, const uint8_t **frame)
{
	const size_t hlen = tap->vnet_hdr ? sizeof(struct virtio_net_hdr) : 0;
	struct virtio_net_hdr h;
	ssize_t n;

	/* one read(2) of header and frame together: no iovec to import */
	for (;;) {
		n = read(tap->fd, tap->buf, TAPDEV_BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		if (!tap->vnet_hdr) {
			memset(meta, 0, sizeof(*meta));
			break;
		}
		if ((size_t)n >= hlen) {
			memcpy(&h, tap->buf, hlen);
			if (meta_from_vnet(&h, (size_t)n - hlen, meta)) {
				n -= (ssize_t)hlen;
				break;
			}
		}
		tap->bad_vnet_hdr++; /* dropped; the next one may be fine */
	}
	*frame = tap->buf + hlen;
	return n;
}

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

/* The frame behind its virtio-net header (when the tap takes one) in dst: the bytes to write. */
static size_t frame_copy(const struct tapdev *tap, uint8_t *dst, const struct tn_frame_meta *meta,
			 const void *frame, size_t len)
{
	size_t hlen = 0;
	if (tap->vnet_hdr) {
		struct virtio_net_hdr h;
		vnet_from_meta(meta, frame, len, &h);
		memcpy(dst, &h, sizeof(h));
		hlen = sizeof(h);
	}
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

/* ------------------------------------------------------------------ batched writes */

/*
 * An io_uring of our own, without liburing: its submission and completion
 * rings mapped once, IORING_OP_WRITE of frames copied into slots. A tap
 * write does not wait (the frame goes into the kernel's input path; a tap
 * always polls writable), so io_uring_enter makes the writes itself, in
 * order, before it returns with every completion: a batch costs one system
 * call instead of one per frame, which is most of a small frame's cost
 * where system calls are dear.
 */
struct tapdev_txq {
	int fd;
	unsigned sq_mask, cq_mask, queued;
	_Atomic unsigned *sq_tail, *cq_head, *cq_tail;
	unsigned *sq_array;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
	void *sq_map, *cq_map;
	size_t sq_map_len, cq_map_len, sqes_len;
	struct {
		uint32_t len; /* the frame's, without its header */
		bool gso;
	} info[TAPDEV_TXQ];
	uint8_t slot[TAPDEV_TXQ][TAPDEV_VNET_HDR_LEN + TAPDEV_COPY_MAX];
};

static void txq_free(struct tapdev_txq *q)
{
	if (q->sqes)
		munmap(q->sqes, q->sqes_len);
	if (q->cq_map && q->cq_map != q->sq_map)
		munmap(q->cq_map, q->cq_map_len);
	if (q->sq_map)
		munmap(q->sq_map, q->sq_map_len);
	if (q->fd >= 0)
		close(q->fd);
	free(q);
}

int tapdev_batch_open(struct tapdev *tap, tapdev_sent_fn sent, void *ctx)
{
	struct io_uring_params p;
	struct tapdev_txq *q = calloc(1, sizeof(*q));

	if (!q)
		return -1;
	memset(&p, 0, sizeof(p));
	q->fd = (int)syscall(__NR_io_uring_setup, TAPDEV_TXQ, &p);
	if (q->fd < 0) {
		int err = errno;
		free(q);
		errno = err;
		return -1;
	}
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
		goto fail;
	}
	q->cq_map = (p.features & IORING_FEAT_SINGLE_MMAP)
			    ? q->sq_map
			    : mmap(NULL, q->cq_map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
				   q->fd, IORING_OFF_CQ_RING);
	if (q->cq_map == MAP_FAILED) {
		q->cq_map = NULL;
		goto fail;
	}
	q->sqes = mmap(NULL, q->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, q->fd,
		       IORING_OFF_SQES);
	if (q->sqes == MAP_FAILED) {
		q->sqes = NULL;
		goto fail;
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
		goto fail;
	}
	tap->txq = q;
	tap->sent = sent;
	tap->sent_ctx = ctx;
	return 0;
fail:;
	int err = errno;
	txq_free(q);
	errno = err;
	return -1;
}

/* Slot i of the batch (want bytes from its header on) as a submission. */
static void txq_submit(struct tapdev_txq *q, int tap_fd, unsigned i, size_t want)
{
	unsigned tail = atomic_load_explicit(q->sq_tail, memory_order_relaxed);
	unsigned idx = tail & q->sq_mask;
	struct io_uring_sqe *e = &q->sqes[idx];

	memset(e, 0, sizeof(*e));
	e->opcode = IORING_OP_WRITE;
	e->fd = tap_fd;
	e->addr = (uint64_t)(uintptr_t)q->slot[i];
	e->len = (uint32_t)want;
	e->off = (uint64_t)-1; /* no file position: a character device */
	e->user_data = i;
	q->sq_array[idx] = idx;
	atomic_store_explicit(q->sq_tail, tail + 1, memory_order_release);
}

void tapdev_flush(struct tapdev *tap)
{
	struct tapdev_txq *q = tap->txq;

	if (!q || !q->queued)
		return;
	unsigned n = q->queued, done = 0;
	size_t hlen = tap->vnet_hdr ? TAPDEV_VNET_HDR_LEN : 0;
	if (n == 1) { /* a batch of one: a write(2) costs no more */
		int err = write_frame(tap->fd, q->slot[0], hlen + q->info[0].len) < 0 ? errno : 0;
		q->queued = 0;
		tap->sent(tap->sent_ctx, q->info[0].len, q->info[0].gso, err);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		txq_submit(q, tap->fd, i, hlen + q->info[i].len);
	tap->out_batches++;
	long r;
	/* every write is made before this returns (see above); EINTR before any: again */
	do
		r = syscall(__NR_io_uring_enter, q->fd, n, n, IORING_ENTER_GETEVENTS, NULL, 0);
	while (r < 0 && errno == EINTR);
	int enter_err = r < 0 ? errno : r != (long)n ? EIO : 0;
	unsigned head = atomic_load_explicit(q->cq_head, memory_order_relaxed);
	unsigned tail = atomic_load_explicit(q->cq_tail, memory_order_acquire);
	for (; head != tail; head++, done++) {
		const struct io_uring_cqe *c = &q->cqes[head & q->cq_mask];
		unsigned i = (unsigned)c->user_data;
		if (i >= TAPDEV_TXQ)
			continue;
		size_t want = q->info[i].len + hlen;
		int err = c->res < 0 ? -c->res : (size_t)c->res != want ? EIO : 0;
		tap->sent(tap->sent_ctx, q->info[i].len, q->info[i].gso, err);
	}
	atomic_store_explicit(q->cq_head, head, memory_order_release);
	/* frames the kernel did not take or finish (it always does, short of a bug): lost */
	for (; done < n; done++)
		tap->sent(tap->sent_ctx, 0, false, EIO);
	q->queued = 0;
	if (enter_err) {
		/* what is left in the rings would go out stale: no more batches */
		log_warning("%s: a batch of writes failed (io_uring_enter: %s); each frame is "
			    "written at once from now on", tap->name, strerror(enter_err));
		txq_free(q);
		tap->txq = NULL;
	}
}

int tapdev_write(struct tapdev *tap, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	struct virtio_net_hdr h;
	struct iovec iov[2] = {
		{ &h, sizeof(h) },
		{ (void *)frame, len },
	};
	ssize_t n;

	if (tap->txq && len <= TAPDEV_COPY_MAX) {
		struct tapdev_txq *q = tap->txq;
		if (q->queued == TAPDEV_TXQ)
			tapdev_flush(tap);
		frame_copy(tap, q->slot[q->queued], meta, frame, len);
		q->info[q->queued].len = (uint32_t)len;
		q->info[q->queued].gso = meta->gso_type != TN_GSO_NONE;
		q->queued++;
		return 1;
	}
	tapdev_flush(tap); /* what waits goes first */
	if (!tap->vnet_hdr)
		return write_frame(tap->fd, frame, len);
	if (len <= TAPDEV_COPY_MAX)
		return write_frame(tap->fd, tap->out, frame_copy(tap, tap->out, meta, frame, len));
	vnet_from_meta(meta, frame, len, &h);
	do
		n = writev(tap->fd, iov, 2);
	while (n < 0 && errno == EINTR);
	return frame_written(n, sizeof(h) + len);
}

void tapdev_close(struct tapdev *tap)
{
	if (tap->txq) {
		tapdev_flush(tap);
		txq_free(tap->txq);
	}
	if (tap->fd >= 0)
		close(tap->fd);
	free(tap->buf);
	tapdev_init(tap);
}
