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
/*
 * And bytes, as NAPI's budget bounds a poll: 64 frames of 64 KB (offloads
 * on) are 4 MB, milliseconds of work in which no socket pair and no control
 * connection is served. With iperf3 --bidir through `tapnet run` on two
 * CPUs and a third program busy, tapnetd read the program's data from its
 * pair (full all along) once per such wakeup: kernel -> tapnet 7.6-7.9
 * Gbit/s, tapnet -> kernel 2.6-3.6; within the budget 6.1-6.2 and 4.8-5.0,
 * the same sum. (Without the third program, and for one direction alone,
 * bench/rpc, no change beyond the spread.) The budget is a few large
 * frames; 64 small ones are 97 KB. Frames a batch of reads already took in
 * are handled beyond it.
 */
#define TAPDEV_BATCH_BYTES (256u << 10)
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
/*
 * Frames up to TAPDEV_COPY_MAX wait (copied) in a queue of this many, and
 * go to the kernel together, with one io_uring_enter(2) instead of a
 * write(2) each: tapdev_flush, before the loop waits, when the queue is
 * full, and before a larger frame (written at once, behind them).
 */
#define TAPDEV_TXQ 64
/*
 * Frames read with one io_uring_enter(2) at most, each into a buffer of
 * its own (TAPDEV_BUF_SIZE): a batch grows while a run of frames lasts.
 */
#define TAPDEV_RXQ 16

struct tapdev_uring;

/* What became of a queued frame, when its batch went (tapdev_flush): err 0 or an errno. */
typedef void (*tapdev_sent_fn)(void *ctx, size_t len, bool gso, int err);

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
	struct tapdev_uring *ring; /* NULL: every frame read and written at once */
	uint64_t out_batches;    /* io_uring_enter calls that wrote */
	uint64_t out_thread_batches; /* of those, the write thread's */
	uint64_t in_batches;     /* io_uring_enter calls that read */
	unsigned rx_run;         /* frames read since a read last found none */
	unsigned rx_prev_run;    /* frames the run before read */
	size_t rx_run_bytes;     /* the bytes of the run's frames */
	tapdev_sent_fn sent;     /* told of each queued frame's fate */
	void *sent_ctx;
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
 * The next frame (and its header, in front of it): from the last batch of
 * reads, else read now, with one read(2) or, while frames come in a run, a
 * batch of up to want. Returns its length and sets *frame (valid until the
 * next call), 0 when no frame is waiting, -1 on an error (errno set).
 */
ssize_t tapdev_read(struct tapdev *tap, struct tn_frame_meta *meta, const uint8_t **frame,
		    unsigned want);

/*
 * Batched writes and reads (io_uring), as asked: 0, or -1 with errno where
 * the kernel has no io_uring for us (ENOSYS; EPERM: disabled, or a seccomp
 * filter; EINVAL: no restricted rings, before Linux 5.10: the ring may only
 * read and write), and every frame is then written and read at once.
 * Reads are batched only where a tap read can be told not to wait
 * (RWF_NOWAIT); where not, that is logged and writes go on alone. sent is
 * told of each queued frame's fate.
 */
int tapdev_batch_open(struct tapdev *tap, bool writes, bool reads, tapdev_sent_fn sent, void *ctx);

/*
 * After tapdev_batch_open with writes: batches of queued frames are written
 * by a thread of its own while frames come in runs (see "the write thread"
 * in tapdev.c). 0, or -1 with errno (EOPNOTSUPP: no batched writes). Call
 * it once privileges are dropped: the thread keeps the credentials and
 * capabilities it starts with.
 */
int tapdev_write_thread_start(struct tapdev *tap);

/*
 * Whether the frame just read is the first of a run, after a run of one:
 * frames that come one at a time (pings, requests), not a stream.
 */
bool tapdev_lone_frame(const struct tapdev *tap);

/* Whether frames are read in batches (tapdev_batch_open). */
bool tapdev_read_batches(const struct tapdev *tap);

/* Whether the last batch of reads holds frames tapdev_read has not given yet. */
bool tapdev_read_pending(const struct tapdev *tap);

/*
 * Writes one frame, or queues it (1; sent tells later). Returns 0 when
 * written, or -1 with errno (EAGAIN: the kernel's queue is full).
 */
int tapdev_write(struct tapdev *tap, const struct tn_frame_meta *meta, const void *frame, size_t len);
/*
 * The same for a frame in pieces (the first holding every header: see
 * tn_env.output_iov): one of up to TAPDEV_COPY_MAX bytes is gathered into
 * the queue as tapdev_write queues (1), a larger one written at once with
 * one writev (0, or -1 with errno).
 */
int tapdev_write_pieces(struct tapdev *tap, const struct tn_frame_meta *meta,
			const struct tn_iov *piece, int n, size_t len);

/* The queued frames to the kernel, in order (one system call); each reported to sent. */
void tapdev_flush(struct tapdev *tap);

void tapdev_close(struct tapdev *tap);

#endif
