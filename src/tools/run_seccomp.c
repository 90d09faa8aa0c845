/*
 * run_seccomp.c - `tapnet run`'s seccomp supervisor (see run_seccomp.h).
 *
 * The shim (libtapnet-preload.so) sees the socket calls a program makes
 * through libc. Static binaries and Go programs make system calls of their
 * own, which no LD_PRELOAD can see. For them `tapnet run` installs a
 * seccomp filter that hands those calls to a supervisor process
 * (SECCOMP_RET_USER_NOTIF, Linux 5.0; the tools used below need 5.9):
 *
 *  - socket(AF_INET or AF_INET6, SOCK_STREAM, 0 or IPPROTO_TCP): the
 *    supervisor asks tapnetd for a socket, as libtapnet does, and puts its
 *    end of the pair into the program at the number the program gets back
 *    (SECCOMP_IOCTL_NOTIF_ADDFD with SECCOMP_ADDFD_FLAG_SEND); for a
 *    blocking socket, a placeholder first, whose first call below asks
 *    (see placeholder_new).
 *  - connect, bind, listen, accept, accept4, getsockname, getpeername,
 *    setsockopt, getsockopt, shutdown: the supervisor takes a copy of the
 *    fd (pidfd_getfd: the same open file, so its flags and the socket are
 *    the program's own). A tapnet socket's call is made here through
 *    libtapnet, its arguments read from and its results written to the
 *    program's memory (process_vm_readv/writev); any other fd's call goes
 *    on to the kernel unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE, safe
 *    here because the call is then the kernel's own, checked by it).
 *  - A call that carries TN_SECCOMP_MARK in its unused sixth argument is
 *    the shim's or libtapnet's own (the shim has already decided) and the
 *    filter passes it without asking: a program that has the shim pays for
 *    the filter only a few BPF instructions per socket call.
 *  - fcntl(F_SETFL) and ioctl(FIONBIO) that make a placeholder
 *    non-blocking: it becomes tapnet's first (nonblocking), then the call
 *    goes on.
 *  - io_uring_setup fails with ENOSYS (io_uring could open and connect
 *    sockets out of the filter's sight; programs fall back to epoll).
 *
 * Calls that wait (a blocking accept, a blocking connect) never hold up the
 * others: the supervisor is one event loop, and such a call waits in it on
 * its socket's readiness until it can be answered. Every answer is checked
 * against the notification still being valid (the program may have been
 * interrupted, or have died, and its pid reused).
 *
 * The supervisor is started before the filter is installed, so it is not
 * under it, and outside the program's process tree (the program keeps
 * `tapnet run`'s pid, its signals and its exit status). It ends when no
 * process under the filter is left (the listener reports POLLHUP).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tools/run_seccomp.h"

#include "lib/tapnet.h"
#include "lib/tapnet_internal.h"
#include "rpc/rpc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9: a pidfd for a thread */
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS /* Linux 6.6 */
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

#define SUP_ADDR_MAX 128   /* the largest sockaddr read from a program (sockaddr_storage) */
#define SUP_SEND_MAX 65536 /* the most a MSG_FASTOPEN send sends (a request's worth) */
#define SUP_IOV_MAX 64     /* and the iovecs of a sendmsg it reads */
#define SUP_OPT_MAX 512    /* the largest option value read or written */
#define SUP_SWEEP_MS 500   /* how often waiting calls are checked for still being wanted */
#define SUP_PENDING_MAX 4096 /* calls waiting at once (one fd each) */
#define SUP_WARNED_MAX 64  /* processes told about once (another ABI) */

static int sys_seccomp(unsigned op, unsigned flags, void *arg)
{
	return (int)syscall(SYS_seccomp, op, flags, arg);
}

/* ------------------------------------------------------------------ the supervisor */

static struct run_seccomp_opts sup_opts;
static int listener = -1;
static struct seccomp_notif_sizes sizes;

/*
 * A call that waits for its socket: a blocking accept or connect, or a
 * MSG_FASTOPEN send, which connects and then sends.
 */
struct pending {
	uint64_t id;
	pid_t pid;
	int fd; /* the supervisor's copy of the program's socket */
	bool accept;
	int flags;                   /* accept4's */
	int target;                  /* the listener's fd number in the program */
	uint64_t addr_ptr, len_ptr;  /* accept's */
	bool fastopen, fastopen_msg; /* a sendto's (sendmsg's) data goes once connected */
	uint64_t send_args[4];       /* that call's: fd, buf (msghdr), len (flags), flags */
};
static struct pending pending[SUP_PENDING_MAX];
static unsigned n_pending;

static unsigned long n_calls, n_passed; /* notifications, and those let go on to the kernel */

static pid_t warned[SUP_WARNED_MAX];
static unsigned n_warned;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	tn_lib_say("%s", line);
}

static bool id_valid(uint64_t id)
{
	return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* Answers a call: its value, or -err. */
static struct seccomp_notif_resp *resp; /* sizes.seccomp_notif_resp bytes */

static void send_resp(uint64_t id, long val, int err, uint32_t flags)
{
	memset(resp, 0, sizes.seccomp_notif_resp);
	resp->id = id;
	resp->val = err ? -1 : val;
	resp->error = err ? -err : 0;
	resp->flags = flags;
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp); /* ENOENT: gone, nothing to tell */
}

static void reply(uint64_t id, long val, int err)
{
	send_resp(id, val, err, 0);
}

/* Lets a call go on to the kernel, unchanged. */
static void pass(uint64_t id)
{
	n_passed++;
	send_resp(id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

/*
 * Puts fd into the program as the call's result (its number there is
 * what the call returns), close-on-exec as asked. 0, or -1 if the
 * program is gone.
 */
static void note_placed(pid_t pid, int fd, int number);

static int reply_fd(uint64_t id, pid_t pid, int fd, bool cloexec)
{
	struct seccomp_notif_addfd add = {
		.id = id,
		.flags = SECCOMP_ADDFD_FLAG_SEND,
		.srcfd = (uint32_t)fd,
		.newfd_flags = cloexec ? O_CLOEXEC : 0,
	};
	int n = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
	if (n < 0 && errno == EINVAL) {
		/* before Linux 5.14: add, then answer (not atomic, but the best there is) */
		add.flags = 0;
		n = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
		if (n >= 0)
			reply(id, n, 0);
	}
	if (n < 0)
		return -1;
	note_placed(pid, fd, n);
	return 0;
}

/* The program's memory. 0, or -1 (EFAULT: the program passed a bad pointer). */
static int mem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };

	if (len == 0)
		return 0;
	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* A value (len bytes at addr, none if len is 0) and its length (a socklen_t at len_addr). */
static int mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len, uint64_t len_addr,
		     socklen_t value_len)
{
	struct iovec local[2] = { { (void *)buf, len }, { &value_len, sizeof(value_len) } };
	struct iovec remote[2] = { { (void *)(uintptr_t)addr, len },
				   { (void *)(uintptr_t)len_addr, sizeof(value_len) } };
	int first = len == 0;

	return process_vm_writev(pid, local + first, 2 - (unsigned long)first, remote + first,
				 2 - (unsigned long)first, 0) == (ssize_t)(len + sizeof(value_len))
		       ? 0
		       : -1;
}

/*
 * A pidfd for the thread that made the call (whose fd table is the one
 * meant); *thread says whether it names that thread itself, or only its
 * process (before Linux 6.9).
 */
static int pidfd_of(pid_t tid, bool *thread)
{
	int pfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	*thread = pfd >= 0;
	if (pfd >= 0 || errno != EINVAL)
		return pfd;
	/* before Linux 6.9: the thread group leader's (threads share the fd table) */
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	pid_t tgid = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid > 0 ? (int)syscall(SYS_pidfd_open, tgid, 0) : -1;
}

/*
 * pidfds of the threads that made calls, kept: a thread's pidfd names it
 * for good, so one that still works is the caller's (a thread id reused
 * by another makes the old pidfd fail with ESRCH, and a new one is
 * opened). A process's pidfd (before Linux 6.9) cannot tell whether the
 * thread is still the same, and is not kept.
 */
#define SUP_PIDFDS 64
static struct {
	pid_t tid;
	int pidfd;
} pidfds[SUP_PIDFDS];
static unsigned pidfd_next;

/* The supervisor's copy of the program's fd (same open file): -1 if none. */
static int take_fd(const struct seccomp_notif *n, int fd)
{
	pid_t tid = (pid_t)n->pid;
	unsigned slot = SUP_PIDFDS;

	for (unsigned k = 0; k < SUP_PIDFDS; k++)
		if (pidfds[k].tid == tid && pidfds[k].pidfd > 0)
			slot = k;
	if (slot < SUP_PIDFDS) {
		int local = (int)syscall(SYS_pidfd_getfd, pidfds[slot].pidfd, fd, 0);
		if (local >= 0 || errno != ESRCH)
			return local; /* EBADF: the program has no such fd */
		close(pidfds[slot].pidfd);
		pidfds[slot].pidfd = 0;
	}
	bool thread;
	int pfd = pidfd_of(tid, &thread);
	if (pfd < 0)
		return -1;
	if (!id_valid(n->id)) { /* the call is gone, and the pid may be another's already */
		close(pfd);
		return -1;
	}
	int local = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	if (!thread) {
		close(pfd);
		if (local >= 0 && !id_valid(n->id)) {
			close(local);
			return -1;
		}
		return local;
	}
	slot = slot < SUP_PIDFDS ? slot : pidfd_next++ % SUP_PIDFDS;
	if (pidfds[slot].pidfd > 0)
		close(pidfds[slot].pidfd);
	pidfds[slot].tid = tid;
	pidfds[slot].pidfd = pfd;
	return local;
}

static const char *family_name(int domain)
{
	return domain == AF_INET ? "AF_INET" : domain == AF_INET6 ? "AF_INET6" : "AF_PACKET";
}

/*
 * A blocking socket() answered here is a placeholder at first: a kernel
 * TCP socket of the same family, never bound or connected, marked
 * (SO_RCVLOWAT TN_PLACEHOLDER_MARK; tn_lib_placeholder tells one). The
 * calls the filter passes on are the kernel's to answer, and it answers
 * them as Linux does on a socket never connected: send and write EPIPE,
 * recv and read ENOTCONN, poll hung up and writable. A tapnet pair,
 * unwritable until a connect and with nothing to read, made every one of
 * them wait for ever. The first call the filter hands over (connect, bind,
 * listen, setsockopt..., or one that makes it non-blocking) puts a tapnet
 * socket at the placeholder's number (placeholder_replace), with its file
 * flags, before it is made; the placeholder never reaches the network. A
 * copy of the number made before then (dup) stays the placeholder.
 *
 * A non-blocking socket is tapnet's from the start: one never connected
 * answers EAGAIN (not EPIPE or ENOTCONN) and never waits, and programs
 * that make them (Go, event loops) add them to epoll sets, which must
 * watch the tapnet socket; a placeholder cost Go a tenth more time per
 * connection (its replacement, then a call for the epoll_ctl).
 */
static int placeholder_new(int domain, int type)
{
	int k = socket(domain, type | SOCK_CLOEXEC, IPPROTO_TCP);
	int mark = TN_PLACEHOLDER_MARK;

	if (k >= 0 && setsockopt(k, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof(mark)) < 0) {
		int err = errno;
		close(k);
		errno = err;
		return -1;
	}
	return k;
}

static int put_at_number(uint64_t id, pid_t pid, int k, int target);

/*
 * Placeholder k (our copy, closed here) becomes a tapnet socket at the
 * program's number target: the new socket's fd (ours), or -1 with errno.
 */
static int placeholder_replace(const struct seccomp_notif *n, int k, int target)
{
	int domain = 0;
	socklen_t len = sizeof(domain);
	int fl = fcntl(k, F_GETFL);
	bool named = getsockopt(k, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0;
	int err = errno;

	close(k);
	if (!named || fl < 0) {
		errno = err;
		return -1;
	}
	int b = tapnet_socket(domain, SOCK_STREAM | SOCK_CLOEXEC | (fl & O_NONBLOCK ? SOCK_NONBLOCK : 0),
			      0);
	if (b < 0)
		return -1;
	if (put_at_number(n->id, (pid_t)n->pid, b, target) < 0) {
		err = errno == ENOENT ? EINTR : errno; /* ENOENT: the call was interrupted */
		close(b);
		errno = err;
		return -1;
	}
	return b;
}

/* socket(): a tapnet socket (a blocking one a placeholder first), or a kernel one (-v says why). */
static void do_socket(const struct seccomp_notif *n)
{
	int domain = (int)n->data.args[0], type = (int)n->data.args[1];
	int protocol = (int)n->data.args[2];
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if ((domain != AF_INET && domain != AF_INET6) || base != SOCK_STREAM ||
	    (protocol != 0 && protocol != IPPROTO_TCP && protocol != IPPROTO_MPTCP)) {
		/* only under -v does the filter send these */
		const char *why = domain == AF_PACKET	      ? "a packet socket: the kernel's interfaces"
				  : base == SOCK_DGRAM	      ? (protocol == IPPROTO_ICMP ||
								 protocol == IPPROTO_ICMPV6
							     ? "tapnet has no ping sockets"
							     : "tapnet has no UDP")
				  : base == SOCK_RAW	      ? "tapnet has no raw sockets"
				  : base == SOCK_STREAM	      ? "a stream protocol other than TCP"
							      : "a socket type tapnet does not have";
		say("pid %u: socket(%s, type %d, protocol %d) stays the kernel's: %s", n->pid,
		    family_name(domain), base, protocol, why);
		pass(n->id);
		return;
	}
	if (protocol == IPPROTO_MPTCP) {
		/* as a kernel without MPTCP answers: the program falls back to TCP */
		if (sup_opts.verbose)
			say("pid %u: MPTCP socket refused (EPROTONOSUPPORT): TCP on tapnet instead",
			    n->pid);
		reply(n->id, 0, EPROTONOSUPPORT);
		return;
	}
	int k = type & SOCK_NONBLOCK ? tapnet_socket(domain, type | SOCK_CLOEXEC, protocol)
				     : placeholder_new(domain, type);
	if (k < 0) {
		reply(n->id, 0, errno);
		return;
	}
	if (reply_fd(n->id, (pid_t)n->pid, k, type & SOCK_CLOEXEC) == 0 && sup_opts.verbose)
		say("pid %u: socket(%s, SOCK_STREAM) made without libc: tapnet's", n->pid,
		    family_name(domain));
	close(k);
}

/* The waiting call's entry; NULL when too many wait (answered ENOBUFS, fd closed). */
static struct pending *add_pending(const struct seccomp_notif *n, int fd, bool accept, int flags)
{
	if (n_pending == SUP_PENDING_MAX) {
		close(fd);
		reply(n->id, 0, ENOBUFS);
		return NULL;
	}
	struct pending *p = &pending[n_pending++];
	*p = (struct pending){
		.id = n->id, .pid = (pid_t)n->pid, .fd = fd, .accept = accept, .flags = flags,
		.target = (int)n->data.args[0],
		.addr_ptr = n->data.args[1], .len_ptr = n->data.args[2],
	};
	return p;
}

/* Whether the program's fd is close-on-exec (its fdinfo says). */
static bool remote_cloexec(pid_t pid, int fd)
{
	char path[64], line[128];
	unsigned long flags = 0;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "flags: %lo", &flags) == 1)
			break;
	fclose(f);
	return (flags & O_CLOEXEC) != 0;
}

/*
 * Our fd k at number target in the program (pid, while notification id
 * waits), in place of what was there, with that number's close-on-exec flag.
 */
static int put_at_number(uint64_t id, pid_t pid, int k, int target)
{
	struct seccomp_notif_addfd add = {
		.id = id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD,
		.srcfd = (uint32_t)k,
		.newfd = (uint32_t)target,
		.newfd_flags = remote_cloexec(pid, target) ? O_CLOEXEC : 0,
	};
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add) < 0)
		return -1;
	note_placed(pid, k, target);
	return 0;
}

static uint64_t cookie_of(int fd)
{
	uint64_t c = 0;
	socklen_t l = sizeof(c);

	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &l);
	return c;
}

/*
 * One accept, not waiting: 1 answered (a connection or an error), 0 nothing
 * to accept yet. fd is the supervisor's copy of the program's listener, at
 * number target there.
 */
static int try_accept(uint64_t id, pid_t pid, int fd, int target, int flags, uint64_t addr_ptr,
		      uint64_t len_ptr)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), want = 0;

	if (addr_ptr && (!len_ptr || mem_read(pid, len_ptr, &want, sizeof(want)) < 0)) {
		reply(id, 0, EFAULT);
		return 1;
	}
	if (addr_ptr && (int)want < 0) {
		reply(id, 0, EINVAL);
		return 1;
	}
	if (!id_valid(id)) /* gone or interrupted: take no connection it would lose */
		return 1;
	uint64_t cookie = cookie_of(fd);
	int nfd = tn_lib_accept4(fd, cookie, addr_ptr ? (struct sockaddr *)&ss : NULL, &len, flags,
				 true);
	if (nfd < 0 && errno == EAGAIN)
		return 0;
	if (nfd < 0 && errno == ECONNABORTED && cookie_of(fd) != cookie) {
		/*
		 * tapnetd is gone and libtapnet made the copy a quiet listener
		 * (one that never turns readable again): the program's fd becomes
		 * that too, as under the shim, so a server loop does not spin.
		 */
		put_at_number(id, pid, fd, target);
		errno = ECONNABORTED;
	}
	if (nfd < 0) {
		reply(id, 0, errno);
		return 1;
	}
	if (!id_valid(id)) {
		/* the program left accept() just now: this connection is lost (Linux keeps it queued) */
		if (sup_opts.verbose)
			say("pid %d: an accepted connection was lost: the program left accept() first",
			    pid);
		close(nfd);
		return 1;
	}
	if (addr_ptr && mem_write(pid, addr_ptr, &ss, want < len ? want : len, len_ptr, len) < 0) {
		close(nfd);
		reply(id, 0, EFAULT);
		return 1;
	}
	if (reply_fd(id, pid, nfd, flags & SOCK_CLOEXEC) < 0 && sup_opts.verbose)
		say("pid %d: an accepted connection was lost: the program left accept() first", pid);
	close(nfd);
	return 1;
}

static void do_accept(const struct seccomp_notif *n, int fd)
{
	int flags = n->data.nr == SYS_accept4 ? (int)n->data.args[3] : 0;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
		close(fd);
		reply(n->id, 0, EINVAL);
		return;
	}
	if (try_accept(n->id, (pid_t)n->pid, fd, (int)n->data.args[0], flags, n->data.args[1],
		       n->data.args[2])) {
		close(fd);
		return;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK)) {
		close(fd);
		reply(n->id, 0, EAGAIN);
		return;
	}
	add_pending(n, fd, true, flags); /* a blocking accept: waits for the listener */
}

/* The connect's outcome (SO_ERROR, so cleared), once the pair says the handshake is over. */
static int connect_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (tapnet_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	return err;
}

/*
 * Sockets whose blocking connect failed here, by SO_COOKIE: Linux lets a
 * program connect such a socket again, and the next connect starts anew
 * (TN_RENEW_NOW). Any other socket whose connect failed (a non-blocking
 * one, or one forgotten here) is asked with TN_RENEW_AFTER_REPORT: the
 * first connect again reports its error, as on Linux, the next starts anew.
 */
#define SUP_FAILED_MAX 64
static uint64_t failed_blocking[SUP_FAILED_MAX];
static unsigned failed_next;

static void note_failed_blocking(int fd)
{
	uint64_t cookie = cookie_of(fd);
	if (cookie)
		failed_blocking[failed_next++ % SUP_FAILED_MAX] = cookie;
}

static int renew_mode(int fd)
{
	uint64_t cookie = cookie_of(fd);
	for (unsigned i = 0; cookie && i < SUP_FAILED_MAX; i++)
		if (failed_blocking[i] == cookie) {
			failed_blocking[i] = 0;
			return TN_RENEW_NOW;
		}
	return TN_RENEW_AFTER_REPORT;
}

/*
 * --kernel-ipv6 and an address that is IPv6 proper, or --kernel-loopback
 * and one of the loopback: a kernel socket takes the tapnet socket's place
 * at the program's fd number and the call goes on to the kernel. 1 if so
 * (answered), 0 if not for the kernel.
 */
static int kernel_takes(const struct seccomp_notif *n, int fd, const void *addr, socklen_t len,
			bool for_bind)
{
	enum tn_lib_owner owner = tn_lib_addr_owner(fd, addr, len, for_bind);
	if (owner == TN_LIB_TAPNET || (owner == TN_LIB_FOR_IPV6 && !sup_opts.kernel_ipv6))
		return 0;
	int target = (int)n->data.args[0];
	int k = tn_lib_kernel_socket(fd);
	if (k < 0) {
		reply(n->id, 0, errno);
		return 1;
	}
	int err = put_at_number(n->id, (pid_t)n->pid, k, target) < 0 ? errno : 0;
	close(k);
	if (err) {
		reply(n->id, 0, err == ENOENT ? EINTR : err);
		return 1;
	}
	if (sup_opts.verbose)
		say("pid %u: socket %d %s", n->pid, target, tn_lib_kernel_why(owner));
	pass(n->id); /* the kernel binds or connects its own socket, now at that number */
	return 1;
}

/*
 * connect() to the address at addr_ptr, or a MSG_FASTOPEN send's (then:
 * the send, to make once connected; NULL for connect itself).
 */
static void connect_to(const struct seccomp_notif *n, int fd, uint64_t addr_ptr, socklen_t len,
		       const struct pending *then)
{
	uint8_t addr[SUP_ADDR_MAX];

	if (len > sizeof(addr))
		len = sizeof(addr); /* as Linux reads no more than a sockaddr_storage */
	if (mem_read((pid_t)n->pid, addr_ptr, addr, len) < 0) {
		close(fd);
		reply(n->id, 0, EFAULT);
		return;
	}
	if (!id_valid(n->id)) {
		close(fd);
		return;
	}
	if (kernel_takes(n, fd, addr, len, false)) {
		close(fd);
		return;
	}
	int renewed;
	int r = tn_lib_connect_begin(fd, (struct sockaddr *)addr, len, renew_mode(fd), &renewed);
	if (r == 0 && renewed >= 0) {
		/* a connect again: the new socket takes the old one's number in the program */
		int target = (int)n->data.args[0];
		if (put_at_number(n->id, (pid_t)n->pid, renewed, target) < 0) {
			int err = errno == ENOENT ? EINTR : errno;
			close(renewed);
			close(fd);
			reply(n->id, 0, err);
			return;
		}
		close(fd);
		fd = renewed;
	}
	int fl = fcntl(fd, F_GETFL);
	if (r < 0 && errno == EALREADY && fl >= 0 && !(fl & O_NONBLOCK) && !then) {
		/* a blocking connect restarted after a signal: it waits on, as on Linux */
		add_pending(n, fd, false, 0);
		return;
	}
	if (r < 0) {
		close(fd);
		reply(n->id, 0, errno);
		return;
	}
	if (fl >= 0 && (fl & O_NONBLOCK)) {
		close(fd);
		reply(n->id, 0, EINPROGRESS); /* then POLLOUT and SO_ERROR, on the pair itself */
		return;
	}
	/* a blocking connect: waits for the handshake */
	struct pending *p = add_pending(n, fd, false, 0);
	if (p && then) {
		p->fastopen = true;
		p->fastopen_msg = then->fastopen_msg;
		memcpy(p->send_args, then->send_args, sizeof(p->send_args));
	}
}

static void do_connect(const struct seccomp_notif *n, int fd)
{
	connect_to(n, fd, n->data.args[1], (socklen_t)n->data.args[2], NULL);
}

/*
 * A MSG_FASTOPEN send that waited for its connect: the data goes now, as
 * much as the pair takes at once (it has just been connected, so all of a
 * request's worth), read from the program; the call answers that count.
 */
static void fastopen_send(const struct pending *p)
{
	static uint8_t data[SUP_SEND_MAX];
	size_t len = 0;
	int flags;

	if (p->fastopen_msg) {
		struct msghdr mh;
		struct iovec iov[SUP_IOV_MAX];
		flags = (int)p->send_args[2];
		if (mem_read(p->pid, p->send_args[1], &mh, sizeof(mh)) < 0) {
			reply(p->id, 0, EFAULT);
			return;
		}
		size_t niov = mh.msg_iovlen < SUP_IOV_MAX ? mh.msg_iovlen : SUP_IOV_MAX;
		if (mem_read(p->pid, (uint64_t)(uintptr_t)mh.msg_iov, iov, niov * sizeof(iov[0])) < 0) {
			reply(p->id, 0, EFAULT);
			return;
		}
		for (size_t i = 0; i < niov && len < sizeof(data); i++) {
			size_t take = iov[i].iov_len < sizeof(data) - len ? iov[i].iov_len
									   : sizeof(data) - len;
			if (mem_read(p->pid, (uint64_t)(uintptr_t)iov[i].iov_base, data + len, take) < 0) {
				reply(p->id, 0, EFAULT);
				return;
			}
			len += take;
		}
	} else {
		flags = (int)p->send_args[3];
		len = p->send_args[2] < sizeof(data) ? (size_t)p->send_args[2] : sizeof(data);
		if (mem_read(p->pid, p->send_args[1], data, len) < 0) {
			reply(p->id, 0, EFAULT);
			return;
		}
	}
	if (!id_valid(p->id))
		return;
	ssize_t w = send(p->fd, data, len, (flags & ~MSG_FASTOPEN) | MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno == EAGAIN)
		w = 0; /* nothing fitted: as a signal would have interrupted the wait */
	reply(p->id, w < 0 ? 0 : w, w < 0 ? errno : 0);
}

/*
 * sendto or sendmsg with MSG_OOB or MSG_FASTOPEN on a tapnet socket, the
 * only sends the filter hands over. MSG_OOB: refused (EOPNOTSUPP), as
 * under the shim; the pair would lose the byte. MSG_FASTOPEN with an
 * address: connect, then send, as the shim does and as Linux does without
 * a cookie for the server (non-blocking: EINPROGRESS, nothing sent).
 * Without an address the flag means nothing to a connected socket: the
 * call goes on.
 */
static void do_send(const struct seccomp_notif *n, int fd, bool msg)
{
	int flags = (int)n->data.args[msg ? 2 : 3];
	uint64_t name = n->data.args[4];
	socklen_t name_len = (socklen_t)n->data.args[5];

	if (flags & MSG_OOB) {
		close(fd);
		reply(n->id, 0, EOPNOTSUPP);
		return;
	}
	if (msg) {
		struct msghdr mh;
		if (mem_read((pid_t)n->pid, n->data.args[1], &mh, sizeof(mh)) < 0) {
			close(fd);
			reply(n->id, 0, EFAULT);
			return;
		}
		name = (uint64_t)(uintptr_t)mh.msg_name;
		name_len = mh.msg_namelen;
	}
	if (!name) {
		close(fd);
		pass(n->id);
		return;
	}
	struct pending then = { .fastopen = true, .fastopen_msg = msg };
	memcpy(then.send_args, n->data.args, sizeof(then.send_args));
	connect_to(n, fd, name, name_len, &then);
}

static void do_bind(const struct seccomp_notif *n, int fd)
{
	uint8_t addr[SUP_ADDR_MAX];
	socklen_t len = (socklen_t)n->data.args[2];

	if (len > sizeof(addr)) {
		reply(n->id, 0, EINVAL);
		return;
	}
	if (mem_read((pid_t)n->pid, n->data.args[1], addr, len) < 0) {
		reply(n->id, 0, EFAULT);
		return;
	}
	if (!id_valid(n->id) || kernel_takes(n, fd, addr, len, true))
		return;
	int r = tapnet_bind(fd, (struct sockaddr *)addr, len);
	reply(n->id, 0, r < 0 ? errno : 0);
}

static void do_getname(const struct seccomp_notif *n, int fd, bool peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), want;
	pid_t pid = (pid_t)n->pid;

	if (mem_read(pid, n->data.args[2], &want, sizeof(want)) < 0) {
		reply(n->id, 0, EFAULT);
		return;
	}
	if ((int)want < 0) {
		reply(n->id, 0, EINVAL);
		return;
	}
	int r = peer ? tapnet_getpeername(fd, (struct sockaddr *)&ss, &len)
		     : tapnet_getsockname(fd, (struct sockaddr *)&ss, &len);
	if (r < 0) {
		reply(n->id, 0, errno);
		return;
	}
	if (!id_valid(n->id)) /* its memory may be another's by now */
		return;
	if (mem_write(pid, n->data.args[1], &ss, want < len ? want : len, n->data.args[2], len) < 0) {
		reply(n->id, 0, EFAULT);
		return;
	}
	reply(n->id, 0, 0);
}

static void do_setsockopt(const struct seccomp_notif *n, int fd)
{
	uint8_t val[SUP_OPT_MAX + 1];
	socklen_t len = (socklen_t)n->data.args[4];

	if ((int)len < 0) {
		reply(n->id, 0, EINVAL);
		return;
	}
	if (len > SUP_OPT_MAX + 1)
		len = SUP_OPT_MAX + 1; /* longer than any option tapnet has: its EINVAL */
	if (n->data.args[3] && mem_read((pid_t)n->pid, n->data.args[3], val, len) < 0) {
		reply(n->id, 0, EFAULT);
		return;
	}
	if (!id_valid(n->id))
		return;
	int r = tapnet_setsockopt(fd, (int)n->data.args[1], (int)n->data.args[2],
				  n->data.args[3] ? val : NULL, len);
	reply(n->id, 0, r < 0 ? errno : 0);
}

static void do_getsockopt(const struct seccomp_notif *n, int fd)
{
	uint8_t val[SUP_OPT_MAX];
	socklen_t len;
	pid_t pid = (pid_t)n->pid;

	if (mem_read(pid, n->data.args[4], &len, sizeof(len)) < 0) {
		reply(n->id, 0, EFAULT);
		return;
	}
	if ((int)len < 0) {
		reply(n->id, 0, EINVAL);
		return;
	}
	if (len > sizeof(val))
		len = sizeof(val);
	int r = tapnet_getsockopt(fd, (int)n->data.args[1], (int)n->data.args[2], val, &len);
	if (r < 0) {
		reply(n->id, 0, errno);
		return;
	}
	if (!id_valid(n->id)) /* its memory may be another's by now */
		return;
	if (mem_write(pid, n->data.args[3], val, len, n->data.args[4], len) < 0) {
		reply(n->id, 0, EFAULT);
		return;
	}
	reply(n->id, 0, 0);
}

/* Under -v, once per socket: a kernel TCP socket that the program had before (or was sent). */
static void say_kernel_tcp(const struct seccomp_notif *n, int fd)
{
	static uint64_t said[64];
	static unsigned next;
	int domain = 0, type = 0, proto = 0;
	uint64_t cookie = 0;
	socklen_t l = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 ||
	    (domain != AF_INET && domain != AF_INET6))
		return;
	l = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l);
	l = sizeof(int);
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &l);
	l = sizeof(cookie);
	if (type != SOCK_STREAM || proto != IPPROTO_TCP ||
	    getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &l) < 0)
		return;
	for (unsigned k = 0; k < 64; k++)
		if (said[k] == cookie)
			return;
	said[next++ % 64] = cookie;
	say("pid %u: fd %d is a kernel TCP socket it had before tapnet run or was sent: "
	    "stays the kernel's",
	    n->pid, (int)n->data.args[0]);
}

/* Another ABI's process: said once, its calls go on. */
static void foreign(const struct seccomp_notif *n)
{
	bool known = false;

	for (unsigned k = 0; k < n_warned && k < SUP_WARNED_MAX; k++)
		known |= warned[k] == (pid_t)n->pid;
	if (!known) {
		warned[n_warned++ % SUP_WARNED_MAX] = (pid_t)n->pid;
		say("pid %u runs a program of another ABI (arch 0x%x): its sockets are the "
		    "kernel's, and every system call it makes is slowed down",
		    n->pid, n->data.arch);
	}
	pass(n->id);
}

/*
 * A send the filter handed over (MSG_OOB or MSG_FASTOPEN) on a placeholder
 * that needs no tapnet socket: without MSG_FASTOPEN and an address it is
 * a send on a socket never connected, for the kernel to refuse.
 */
static bool send_passes(const struct seccomp_notif *n)
{
	int nr = n->data.nr;

	if (nr == SYS_sendto)
		return !(n->data.args[3] & MSG_FASTOPEN) || !n->data.args[4];
	if (nr != SYS_sendmsg)
		return false;
	struct msghdr mh;
	return !(n->data.args[2] & MSG_FASTOPEN) ||
	       mem_read((pid_t)n->pid, n->data.args[1], &mh, sizeof(mh)) < 0 || !mh.msg_name;
}

static void handle_tapnet(const struct seccomp_notif *n, int nr, int fd);

/*
 * fcntl(F_SETFL) or ioctl(FIONBIO), unmarked: a placeholder made
 * non-blocking becomes tapnet's now. An event loop may add a non-blocking
 * socket to its epoll set before it connects (nginx adds an upstream
 * connection so): the set must watch the tapnet socket, not a placeholder,
 * which a connect would replace (and so take out of the set). The call
 * goes on, for the kernel to set the flag on what is at that number then.
 */
static void nonblocking(const struct seccomp_notif *n)
{
	int target = (int)n->data.args[0], on = 0;

	if (n->data.nr == SYS_fcntl)
		on = (n->data.args[2] & O_NONBLOCK) != 0;
	else if (mem_read((pid_t)n->pid, n->data.args[2], &on, sizeof(on)) < 0)
		on = 0; /* the kernel says EFAULT */
	int fd = on ? take_fd(n, target) : -1;
	if (fd >= 0 && tn_lib_placeholder(fd)) {
		int b = placeholder_replace(n, fd, target);
		if (b < 0) {
			reply(n->id, 0, errno);
			return;
		}
		close(b);
	} else if (fd >= 0) {
		close(fd);
	}
	pass(n->id);
}

static void handle(const struct seccomp_notif *n)
{
	int nr = n->data.nr;

	if (n->data.arch != RUN_SECCOMP_ARCH
#ifdef RUN_SECCOMP_X32_BIT
	    || (uint32_t)nr >= RUN_SECCOMP_X32_BIT
#endif
	) {
		foreign(n);
		return;
	}
	if (nr == SYS_socket) {
		do_socket(n);
		return;
	}
	if (nr == SYS_io_uring_setup) {
		if (sup_opts.verbose)
			say("pid %u: io_uring_setup refused (ENOSYS): its sockets would escape tapnet",
			    n->pid);
		reply(n->id, 0, ENOSYS);
		return;
	}
	if (nr == SYS_fcntl || nr == SYS_ioctl) {
		nonblocking(n);
		return;
	}
	int fd = take_fd(n, (int)n->data.args[0]);
	if (fd < 0) {
		pass(n->id); /* no such fd (EBADF), or the program is gone: the kernel says */
		return;
	}
	if (!tapnet_is_socket(fd)) {
		bool placeholder = tn_lib_placeholder(fd);
		if (placeholder && !send_passes(n)) {
			int b = placeholder_replace(n, fd, (int)n->data.args[0]);
			if (b < 0)
				reply(n->id, 0, errno);
			else
				handle_tapnet(n, nr, b);
			return;
		}
		if (sup_opts.verbose && !placeholder)
			say_kernel_tcp(n, fd);
		close(fd);
		pass(n->id);
		return;
	}
	handle_tapnet(n, nr, fd);
}

/* Call nr on tapnet socket fd (the supervisor's copy, which it closes or keeps). */
static void handle_tapnet(const struct seccomp_notif *n, int nr, int fd)
{
	switch (nr) {
	case SYS_accept:
	case SYS_accept4:
		do_accept(n, fd);
		return; /* fd kept or closed there */
	case SYS_connect:
		do_connect(n, fd);
		return;
	case SYS_bind:
		do_bind(n, fd);
		break;
	case SYS_listen: {
		int r = tapnet_listen(fd, (int)n->data.args[1]);
		reply(n->id, 0, r < 0 ? errno : 0);
		break;
	}
	case SYS_getsockname:
	case SYS_getpeername:
		do_getname(n, fd, nr == SYS_getpeername);
		break;
	case SYS_setsockopt:
		do_setsockopt(n, fd);
		break;
	case SYS_getsockopt:
		do_getsockopt(n, fd);
		break;
	case SYS_shutdown: {
		int r = tapnet_shutdown(fd, (int)n->data.args[1]);
		reply(n->id, 0, r < 0 ? errno : 0);
		break;
	}
	case SYS_sendto:
	case SYS_sendmsg:
		do_send(n, fd, nr == SYS_sendmsg);
		return; /* fd kept or closed there */
	default:
		pass(n->id);
		break;
	}
	close(fd);
}

/* ------------------------------------------------------------------ resets */

/*
 * A peer's reset reaches a program that reads its socket itself as
 * end-of-file, unless a byte comes into tapnetd's end of the pair from the
 * program's before tapnetd closes it (see reset_through_watcher in
 * tapnetd): tapnetd names the socket on the supervisor's reset connection
 * (rpc.h, TN_RPC_RESETS), and the supervisor sends that byte through a copy
 * of the program's fd. Where the program holds each socket the supervisor
 * put into it is noted here, by cookie; the fd found there is used only if
 * it is still that very socket (its cookie), whoever has the pid now.
 */
#define SUP_PLACED_MAX 4096 /* sockets remembered; the oldest is replaced first */
#define SUP_RESETS_RETRY_MS 1000
#define SUP_FIND_DEPTH 4      /* generations of children looked through for a moved socket */

static struct {
	uint64_t cookie; /* 0: free */
	ino_t ino;       /* the socket's, as /proc/PID/fd names it */
	pid_t pid;
	int number;
} placed[SUP_PLACED_MAX];
static unsigned placed_next;
static int resets_fd = -1;      /* the reset connection to tapnetd */
static int64_t resets_tried_ms; /* when it was last opened (or tried) */
static unsigned long n_resets;  /* resets passed on */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Opens the reset connection, at most once a second (tapnetd may be away),
 * when the supervisor first puts a tapnet socket into the program: a
 * program the shim serves never costs its user that connection
 * (max_clients_per_user).
 */
static void resets_open(void)
{
	if (resets_fd >= 0)
		return; /* every socket placed asks: no clock read for the usual answer */
	int64_t now = mono_ms();
	if (resets_tried_ms && now - resets_tried_ms < SUP_RESETS_RETRY_MS)
		return;
	resets_tried_ms = now;
	resets_fd = tn_lib_reset_watch();
	if (resets_fd < 0 && sup_opts.verbose)
		say("seccomp supervisor: no reset notices (%s): after a peer's reset, static and Go "
		    "programs read end-of-file", strerror(errno));
}

/* Our fd, just put at number in process pid: remembered if it is a tapnet socket's end. */
static void note_placed(pid_t pid, int fd, int number)
{
	int domain = 0;
	socklen_t len = sizeof(domain);
	struct stat st;

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX ||
	    fstat(fd, &st) < 0)
		return; /* a placeholder, a kernel socket */
	unsigned k = placed_next++ % SUP_PLACED_MAX;
	placed[k].cookie = cookie_of(fd);
	placed[k].ino = st.st_ino;
	placed[k].pid = pid;
	placed[k].number = number;
	resets_open();
}

/* Our copy of process pid's fd number if it is the socket named cookie; -1 if not. */
static int copy_if_socket(pid_t pid, int number, uint64_t cookie)
{
	bool thread;
	int pfd = pidfd_of(pid, &thread);
	int k = pfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pfd, number, 0);

	if (pfd >= 0)
		close(pfd);
	if (k >= 0 && cookie_of(k) != cookie) {
		close(k);
		k = -1;
	}
	return k;
}

/*
 * The socket (ino, cookie) wherever process pid or a child of it (a
 * server's worker forked per connection, up to depth generations) holds it
 * now: it may have moved it (dup2 onto 0 and 1, as inetd-style servers
 * do). Our copy, or -1.
 */
static int find_socket(pid_t pid, ino_t ino, uint64_t cookie, int depth)
{
	char path[64], link[64], want[40];
	int k = -1;

	snprintf(want, sizeof(want), "socket:[%lu]", (unsigned long)ino);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	for (struct dirent *e; dir && k < 0 && (e = readdir(dir));) {
		ssize_t n = readlinkat(dirfd(dir), e->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) == 0)
			k = copy_if_socket(pid, atoi(e->d_name), cookie);
	}
	if (dir)
		closedir(dir);
	if (k >= 0 || depth == 0)
		return k;
	/* its children (each thread's: /proc/PID/task/TID/children) */
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	for (struct dirent *e; dir && k < 0 && (e = readdir(dir));) {
		if (e->d_name[0] == '.')
			continue;
		char children[96];
		snprintf(children, sizeof(children), "/proc/%d/task/%d/children", (int)pid,
			 atoi(e->d_name));
		FILE *f = fopen(children, "re");
		int child;
		while (f && k < 0 && fscanf(f, "%d", &child) == 1)
			k = find_socket((pid_t)child, ino, cookie, depth - 1);
		if (f)
			fclose(f);
	}
	if (dir)
		closedir(dir);
	return k;
}

/* tapnetd says the peer reset the socket named cookie: the byte, through the program's fd. */
static void reset_arrived(uint64_t cookie)
{
	for (unsigned i = 0; cookie && i < SUP_PLACED_MAX; i++) {
		if (placed[i].cookie != cookie)
			continue;
		placed[i].cookie = 0;
		int k = copy_if_socket(placed[i].pid, placed[i].number, cookie);
		if (k < 0)
			k = find_socket(placed[i].pid, placed[i].ino, cookie, SUP_FIND_DEPTH);
		if (k >= 0 && send(k, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
			n_resets++;
		else if (sup_opts.verbose)
			say("pid %d: a reset is read as end-of-file: its socket is no longer in its "
			    "process or their children", (int)placed[i].pid);
		if (k >= 0)
			close(k);
		return;
	}
}

/* Notices on the reset connection (readable): each passed on. */
static void resets_read(void)
{
	uint64_t cookie;
	int r = tn_lib_reset_notice(resets_fd, &cookie);

	if (r < 0) { /* tapnetd went away: opened again with the next socket */
		close(resets_fd);
		resets_fd = -1;
		return;
	}
	if (r > 0)
		reset_arrived(cookie);
}

static void drop_pending(unsigned k)
{
	close(pending[k].fd);
	pending[k] = pending[--n_pending];
}

/* A waiting call whose socket is ready: answered, or back to waiting. */
static void ready(unsigned k)
{
	struct pending *p = &pending[k];

	if (p->accept) {
		if (try_accept(p->id, p->pid, p->fd, p->target, p->flags, p->addr_ptr, p->len_ptr))
			drop_pending(k);
		return;
	}
	if (id_valid(p->id)) {
		int err = connect_error(p->fd);
		if (err)
			note_failed_blocking(p->fd);
		if (p->fastopen && !err)
			fastopen_send(p);
		else
			reply(p->id, 0, err);
	}
	drop_pending(k);
}

/* The calls that gave up waiting (a signal, or the program died). */
static void sweep(void)
{
	for (unsigned k = n_pending; k-- > 0;)
		if (!id_valid(pending[k].id))
			drop_pending(k);
}

static void serve(void)
{
	struct seccomp_notif *n = malloc(sizes.seccomp_notif);
	static struct pollfd pfd[SUP_PENDING_MAX + 2];

	resp = malloc(sizes.seccomp_notif_resp);
	if (!n || !resp)
		_exit(1);
	/*
	 * The program waits while the supervisor works, and the other way
	 * round: woken on the same CPU, each hand-over is a few times cheaper
	 * (Linux 6.6; older kernels refuse, and wake as usual).
	 */
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	for (;;) {
		unsigned count = n_pending;
		pfd[0] = (struct pollfd){ .fd = listener, .events = POLLIN };
		for (unsigned k = 0; k < count; k++)
			pfd[k + 1] = (struct pollfd){ .fd = pending[k].fd,
						      .events = pending[k].accept ? POLLIN : POLLOUT };
		pfd[count + 1] = (struct pollfd){ .fd = resets_fd, .events = POLLIN }; /* -1: none */
		int r = poll(pfd, count + 2, count ? SUP_SWEEP_MS : -1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			_exit(1);
		if (r == 0) {
			sweep();
			continue;
		}
		/* resets before what the program does next: a close would lose its fd */
		if (pfd[count + 1].revents)
			resets_read();
		/* answer the waiting calls first: pending[] may change under handle() */
		for (unsigned k = count; k-- > 0;)
			if (pfd[k + 1].revents)
				ready(k);
		if (pfd[0].revents & POLLIN) {
			memset(n, 0, sizes.seccomp_notif);
			if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, n) == 0) {
				n_calls++;
				handle(n);
			}
		} else if (pfd[0].revents & (POLLHUP | POLLERR)) {
			break; /* no process left under the filter */
		}
	}
	free(n);
}

/* ------------------------------------------------------------------ starting it */

/* In the supervisor: takes the listener from the program's side, then serves. */
static void supervisor_main(int chan)
{
	setsid(); /* out of the terminal's process group: ^C is for the program */
	prctl(PR_SET_NAME, "tapnet-seccomp", 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	/* none of the program's fds: only stderr, and the channel */
	if (chan != 3) {
		dup3(chan, 3, O_CLOEXEC);
		close(chan);
		chan = 3;
	}
	syscall(SYS_close_range, 4, ~0u, 0);
	listener = run_seccomp_recv_listener(chan);
	if (listener < 0)
		_exit(1);
	tn_lib_supervisor_init(sup_opts.socket_path,
			       (sup_opts.verbose ? TN_LIB_OPT_VERBOSE : 0) |
				       (sup_opts.kernel_loopback ? TN_LIB_OPT_KERNEL_LOOPBACK : 0));
	if (write(chan, "k", 1) != 1)
		_exit(1);
	close(chan);
	serve();
	if (sup_opts.verbose)
		say("seccomp supervisor (pid %d): %lu calls caught, %lu of them left to the kernel, "
		    "%lu resets passed on", (int)getpid(), n_calls, n_passed, n_resets);
	_exit(0);
}

int run_seccomp_start(const struct run_seccomp_opts *opts, int *pid)
{
	struct sock_filter filter[RUN_SECCOMP_FILTER_MAX];
	unsigned len;
	int chan[2], info[2];

	sup_opts = *opts;
	if (sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
		fprintf(stderr, "tapnet: run: seccomp: %s\n", strerror(errno));
		return -1;
	}
	if (run_seccomp_filter(opts->verbose, filter, &len) < 0) {
		fprintf(stderr, "tapnet: run: seccomp: the filter does not assemble\n");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0 ||
	    pipe2(info, O_CLOEXEC) < 0) {
		fprintf(stderr, "tapnet: run: %s\n", strerror(errno));
		return -1;
	}
	/* twice forked: not the program's child (it would see it exit), not in its way */
	pid_t mid = fork();
	if (mid < 0) {
		fprintf(stderr, "tapnet: run: fork: %s\n", strerror(errno));
		return -1;
	}
	if (mid == 0) {
		close(chan[0]);
		close(info[0]);
		pid_t sup = fork();
		if (sup == 0) {
			close(info[1]);
			supervisor_main(chan[1]);
		}
		ssize_t w = write(info[1], &sup, sizeof(sup));
		_exit(w == (ssize_t)sizeof(sup) && sup > 0 ? 0 : 1);
	}
	close(chan[1]);
	close(info[1]);
	pid_t sup = -1;
	int status;
	ssize_t got = read(info[0], &sup, sizeof(sup));
	close(info[0]);
	waitpid(mid, &status, 0);
	if (got != (ssize_t)sizeof(sup) || sup <= 0) {
		fprintf(stderr, "tapnet: run: cannot start the seccomp supervisor\n");
		close(chan[0]);
		return -1;
	}

	/*
	 * With CAP_SYS_ADMIN a filter needs no no_new_privs (set-user-ID
	 * programs keep working); without it, it does.
	 */
	struct sock_fprog prog = { .len = (unsigned short)len, .filter = filter };
	int lfd = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	if (lfd < 0 && errno == EACCES) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
			fprintf(stderr, "tapnet: run: no_new_privs: %s\n", strerror(errno));
			close(chan[0]);
			return -1;
		}
		lfd = sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	}
	if (lfd < 0) {
		fprintf(stderr, "tapnet: run: seccomp filter: %s\n", strerror(errno));
		close(chan[0]); /* the supervisor gets end-of-file and leaves */
		return -1;
	}
	/* from here on the filter is there: without its supervisor, nothing may run under it */
	char byte;
	if (run_seccomp_send_listener(chan[0], lfd) < 0 || read(chan[0], &byte, 1) != 1) {
		/*
		 * The filter is on and nobody will answer it: every socket call
		 * it catches would fail with ENOSYS. Say so rather than run.
		 */
		fprintf(stderr, "tapnet: run: the seccomp supervisor did not start\n");
		close(lfd);
		close(chan[0]);
		return -2;
	}
	close(lfd);
	close(chan[0]);
	/*
	 * Under Yama's ptrace_scope 1 only an ancestor may take the program's
	 * fds, and the supervisor is none: this process (the program, once it
	 * execs) names it as its tracer. Its children are not covered (Yama
	 * ties the exception to one process); without Yama this is EINVAL.
	 */
	prctl(PR_SET_PTRACER, (unsigned long)sup, 0, 0, 0);
	*pid = sup;
	return 0;
}
