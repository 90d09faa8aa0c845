/*
 * uring_lock.c - the attacks a taken-over tapnetd could make through
 * io_uring, for uring_lock.sh. Every check prints one line; a failed one
 * exits non-zero with what it saw.
 *
 *   uring_lock ring TAP    opens TAP (root, in the test's namespace) with the
 *                          daemon's own code (tapdev.c) and its batched reads
 *                          and writes, finds the ring's fd in /proc/self/fd
 *                          as an attacker would, and submits through it what
 *                          read(2) and write(2) cannot do: an openat, a
 *                          socket, a read punted to the kernel's workers
 *                          (IOSQE_ASYNC), and io_uring_register calls. The
 *                          same openat through a ring of its own first, to
 *                          show the attack works on an unrestricted ring.
 *   uring_lock filter      under a seccomp filter (as a service manager puts
 *                          tapnetd), privs_forbid_new_rings: no new ring, no
 *                          io_uring_register, other calls as before
 *   uring_lock nofilter    without one: privs_forbid_new_rings adds nothing
 *   uring_lock exec PROG [ARG...]
 *                          PROG under an allow-all seccomp filter (as the
 *                          systemd unit's SystemCallFilter would put it)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "privs.h"
#include "tapdev.h"

static void die(const char *what)
{
	printf("FAIL: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int uring_setup(unsigned entries, struct io_uring_params *p)
{
	return (int)syscall(__NR_io_uring_setup, entries, p);
}

static int uring_register(int fd, unsigned op, const void *arg, unsigned n)
{
	return (int)syscall(__NR_io_uring_register, fd, op, arg, n);
}

/* A ring's submission and completion queues, mapped from its fd. */
struct ring {
	int fd;
	_Atomic unsigned *sq_tail, *cq_head, *cq_tail;
	unsigned *sq_array, sq_mask, cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

/* Maps fd's queues with the layout p describes (the same for every ring of that size). */
static void ring_map(struct ring *r, int fd, const struct io_uring_params *p)
{
	size_t sq_len = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	size_t cq_len = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	size_t len = sq_len > cq_len ? sq_len : cq_len;

	if (!(p->features & IORING_FEAT_SINGLE_MMAP)) {
		errno = ENOTSUP;
		die("a kernel with one mapping for both queues (Linux 5.4)");
	}
	uint8_t *q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, IORING_OFF_SQ_RING);
	if (q == MAP_FAILED)
		die("mmap the queues");
	r->sqes = mmap(NULL, p->sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		die("mmap the submissions");
	r->fd = fd;
	r->sq_tail = (_Atomic unsigned *)(q + p->sq_off.tail);
	r->sq_array = (unsigned *)(q + p->sq_off.array);
	r->sq_mask = *(unsigned *)(q + p->sq_off.ring_mask);
	r->cq_head = (_Atomic unsigned *)(q + p->cq_off.head);
	r->cq_tail = (_Atomic unsigned *)(q + p->cq_off.tail);
	r->cq_mask = *(unsigned *)(q + p->cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(q + p->cq_off.cqes);
}

/* Submits one operation and waits for its completion: its result (-errno), or -errno of the enter. */
static int submit_one(struct ring *r, const struct io_uring_sqe *e)
{
	unsigned tail = atomic_load(r->sq_tail);
	unsigned idx = tail & r->sq_mask;

	r->sqes[idx] = *e;
	r->sqes[idx].user_data = 0x757269; /* not one of tapdev's */
	r->sq_array[idx] = idx;
	atomic_store(r->sq_tail, tail + 1);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return -errno;
	unsigned head = atomic_load(r->cq_head);
	if (head == atomic_load(r->cq_tail)) {
		errno = EAGAIN;
		die("no completion after io_uring_enter waited for one");
	}
	int res = r->cqes[head & r->cq_mask].res;
	atomic_store(r->cq_head, head + 1);
	return res;
}

static const char *result(int res)
{
	static char buf[64];

	if (res >= 0) {
		snprintf(buf, sizeof(buf), "done (%d)", res);
		return buf;
	}
	return res == -EACCES ? "EACCES" : res == -EPERM ? "EPERM" : strerror(-res);
}

static struct io_uring_sqe openat_sqe(const char *path)
{
	struct io_uring_sqe e;

	memset(&e, 0, sizeof(e));
	e.opcode = IORING_OP_OPENAT;
	e.fd = AT_FDCWD;
	e.addr = (uint64_t)(uintptr_t)path;
	e.open_flags = O_RDONLY | O_CLOEXEC;
	return e;
}

static struct io_uring_sqe read_sqe(int fd, void *buf, unsigned len, uint8_t flags)
{
	struct io_uring_sqe e;

	memset(&e, 0, sizeof(e));
	e.opcode = IORING_OP_READ;
	e.fd = fd;
	e.flags = flags;
	e.addr = (uint64_t)(uintptr_t)buf;
	e.len = len;
	e.off = (uint64_t)-1;
	return e;
}

/* The fd of the first io_uring this process holds but own (an attacker's search). */
static int find_ring(int own)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	if (!d)
		die("opendir /proc/self/fd");
	while (found < 0 && (de = readdir(d))) {
		char path[300], target[64];
		int fd = atoi(de->d_name);
		snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n > 0 && fd != own) {
			target[n] = '\0';
			if (strcmp(target, "anon_inode:[io_uring]") == 0)
				found = fd;
		}
	}
	closedir(d);
	return found;
}

static void sent(void *ctx, size_t len, bool gso, int err)
{
	(void)ctx;
	(void)len;
	(void)gso;
	(void)err;
}

static int ring_attacks(const char *name)
{
	struct io_uring_params p;
	struct ring own, tap_ring;
	struct tapdev tap;
	char buf[64];
	int pipefd[2];

	/* the attack, through a ring of its own: it opens a file */
	memset(&p, 0, sizeof(p));
	int own_fd = uring_setup(TAPDEV_TXQ, &p);
	if (own_fd < 0)
		die("io_uring_setup");
	ring_map(&own, own_fd, &p);
	struct io_uring_sqe open_hostname = openat_sqe("/proc/self/status");
	int res = submit_one(&own, &open_hostname);
	printf("openat through an unrestricted ring: %s\n", res >= 0 ? "opened" : result(res));

	/* the tap, with tapnetd's batched reads and writes */
	tapdev_init(&tap);
	if (tapdev_open(&tap, name, true) < 0)
		die("tapdev_open");
	if (tapdev_batch_open(&tap, true, true, sent, NULL) < 0)
		die("tapdev_batch_open");
	printf("tap ring: reads %s\n", tapdev_read_batches(&tap) ? "batched" : "one at a time");
	int fd = find_ring(own_fd);
	if (fd < 0) {
		errno = ENOENT;
		die("no io_uring fd but the test's own");
	}
	ring_map(&tap_ring, fd, &p); /* same size, same layout */

	res = submit_one(&tap_ring, &open_hostname);
	printf("openat through the tap's ring: %s\n", result(res));
	struct io_uring_sqe e = openat_sqe("/proc/self/status");
	e.flags = IOSQE_FIXED_FILE;
	res = submit_one(&tap_ring, &e);
	printf("openat with the fixed-file flag: %s\n", result(res));
	memset(&e, 0, sizeof(e));
	e.opcode = IORING_OP_SOCKET;
	e.fd = AF_INET;
	e.off = SOCK_STREAM;
	res = submit_one(&tap_ring, &e);
	printf("socket through the tap's ring: %s\n", result(res));
	if (pipe(pipefd) < 0 || write(pipefd[1], "secret", 6) != 6)
		die("pipe");
	e = read_sqe(pipefd[0], buf, sizeof(buf), IOSQE_ASYNC);
	res = submit_one(&tap_ring, &e);
	printf("a read punted to the kernel's workers: %s\n", result(res));
	/* a plain read of another fd: what read(2) does, allowed */
	e = read_sqe(pipefd[0], buf, sizeof(buf), 0);
	res = submit_one(&tap_ring, &e);
	printf("a read of another fd: %s\n", result(res));
	int files[1] = { pipefd[0] };
	res = uring_register(fd, IORING_REGISTER_FILES, files, 1) < 0 ? -errno : 0;
	printf("register a file: %s\n", result(res));
	struct io_uring_restriction openat_too = { .opcode = IORING_RESTRICTION_SQE_OP,
						   .sqe_op = IORING_OP_OPENAT };
	res = uring_register(fd, IORING_REGISTER_RESTRICTIONS, &openat_too, 1) < 0 ? -errno : 0;
	printf("restrict it anew: %s\n", result(res));
	/* what tapnetd does: read the tap (nothing there yet: EAGAIN, not EACCES) */
	e = read_sqe(tap.fd, buf, sizeof(buf), 0);
	e.rw_flags = RWF_NOWAIT;
	res = submit_one(&tap_ring, &e);
	printf("read of the tap as tapnetd reads it: %s\n", result(res));
	tapdev_close(&tap);
	return 0;
}

/* An allow-all filter, as a service manager's would be in effect. */
static void allow_all_filter(void)
{
	struct sock_filter code[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog prog = { .len = 1, .filter = code };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("no_new_privs");
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
		die("seccomp");
}

static int filter_checks(bool under_filter)
{
	struct io_uring_params p;

	if (under_filter)
		allow_all_filter();
	int r = privs_forbid_new_rings();
	printf("privs_forbid_new_rings: %d\n", r);
	memset(&p, 0, sizeof(p));
	int fd = uring_setup(4, &p);
	printf("io_uring_setup: %s\n", fd >= 0 ? "a ring" : result(-errno));
	int res = uring_register(fd >= 0 ? fd : 0, IORING_REGISTER_PROBE, NULL, 0) < 0 ? -errno : 0;
	printf("io_uring_register: %s\n", result(res));
	int other = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	printf("open: %s\n", other >= 0 ? "opened" : result(-errno));
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3 || strcmp(argv[1], "exec") != 0)
		alarm(20); /* a submission left waiting ends the test, not hangs it */
	if (argc == 3 && strcmp(argv[1], "ring") == 0)
		return ring_attacks(argv[2]);
	if (argc == 2 && strcmp(argv[1], "filter") == 0)
		return filter_checks(true);
	if (argc == 2 && strcmp(argv[1], "nofilter") == 0)
		return filter_checks(false);
	if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
		allow_all_filter();
		execvp(argv[2], argv + 2);
		die("exec");
	}
	fprintf(stderr, "usage: uring_lock ring TAP | filter | nofilter | exec PROG [ARG...]\n");
	return 2;
}
