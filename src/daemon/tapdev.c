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
#include <linux/virtio_net.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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

int tapdev_write(struct tapdev *tap, const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	struct virtio_net_hdr h;
	struct iovec iov[2] = {
		{ &h, sizeof(h) },
		{ (void *)frame, len },
	};
	size_t want = len;
	ssize_t n;

	if (!tap->vnet_hdr) {
		do
			n = write(tap->fd, frame, len);
		while (n < 0 && errno == EINTR);
	} else if (len <= TAPDEV_COPY_MAX) {
		vnet_from_meta(meta, frame, len, &h);
		memcpy(tap->out, &h, sizeof(h));
		memcpy(tap->out + sizeof(h), frame, len);
		want += sizeof(h);
		do
			n = write(tap->fd, tap->out, want);
		while (n < 0 && errno == EINTR);
	} else {
		vnet_from_meta(meta, frame, len, &h);
		want += sizeof(h);
		do
			n = writev(tap->fd, iov, 2);
		while (n < 0 && errno == EINTR);
	}
	if (n < 0)
		return -1;
	if ((size_t)n != want) { /* a tap write is one frame; short means lost */
		errno = EIO;
		return -1;
	}
	return 0;
}

void tapdev_close(struct tapdev *tap)
{
	if (tap->fd >= 0)
		close(tap->fd);
	free(tap->buf);
	tapdev_init(tap);
}
