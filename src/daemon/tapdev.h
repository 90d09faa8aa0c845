/*
 * tapdev.h - the TAP device: tapnet's Ethernet link to the kernel.
 *
 * Opened and configured while tapnetd still has CAP_NET_ADMIN; afterwards
 * only frames are read and written. Frames pass through one read/write
 * pair carrying struct tn_frame_meta, so the virtio-net header
 * (IFF_VNET_HDR, GSO/TSO) can be added here without touching the loop.
 */
#ifndef TAPNETD_TAPDEV_H
#define TAPNETD_TAPDEV_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stack/stack.h"

/* Frames read per wakeup: enough to amortize the wakeup, bounded for fairness. */
#define TAPDEV_BATCH 64
/* Largest frame (IP MTU 65535 + Ethernet + VLAN) plus room for a vnet header. */
#define TAPDEV_BUF_SIZE (65536 + 256)
/* sizeof(struct virtio_net_hdr), the header size tapdev_open asks for */
#define TAPDEV_VNET_HDR_LEN 10
/*
 * Frames up to this size (a 1500-byte MTU's) are copied behind their header
 * and written with write(2): cheaper than writev's iovec import, and most
 * frames are this small (ACKs, handshakes, pings). Larger ones use writev.
 */
#define TAPDEV_COPY_MAX 1536

struct tapdev {
	int fd;                /* -1 when closed */
	char name[IFNAMSIZ];   /* as the kernel named it */
	unsigned ifindex;
	uint8_t *buf;          /* TAPDEV_BUF_SIZE, allocated once: no per-frame allocation */
	bool vnet_hdr;         /* every frame has a struct virtio_net_hdr in front */
	uint8_t offload;       /* TN_OFFLOAD_* our frames may use */
	uint64_t bad_vnet_hdr; /* frames in whose header made no sense (dropped) */
	/* a frame up to TAPDEV_COPY_MAX goes out from here, behind its header: one write(2) */
	uint8_t out[TAPDEV_VNET_HDR_LEN + TAPDEV_COPY_MAX];
};

/* Sets fd to -1 so tapdev_close() is always safe. */
void tapdev_init(struct tapdev *tap);

/*
 * Opens /dev/net/tun and creates (or attaches to) the TAP interface name;
 * with offload, asks for the virtio-net header and checksum/TSO offloads
 * (tap->offload says what the frames we write may use).
 */
int tapdev_open(struct tapdev *tap, const char *name, bool offload);

/*
 * Sets the MTU, the kernel side's address when host_addr is not 0 (prefix
 * host_prefix_len), and brings the link up. Needs CAP_NET_ADMIN.
 */
int tapdev_configure(struct tapdev *tap, unsigned mtu, unsigned txqueuelen, tn_ip4 host_addr,
		     unsigned host_prefix_len);

/*
 * Reads one frame (and its header, in front of it) into tap->buf with one
 * read(2). Returns its length and sets *frame, 0 when
 * no frame is waiting, -1 on an error (errno set).
 */
ssize_t tapdev_read(struct tapdev *tap, struct tn_frame_meta *meta, const uint8_t **frame);

/* Writes one frame. Returns 0, or -1 with errno (EAGAIN: the kernel's queue is full). */
int tapdev_write(struct tapdev *tap, const struct tn_frame_meta *meta, const void *frame, size_t len);

void tapdev_close(struct tapdev *tap);

#endif
