/*
 * tapnet_internal.h - what libtapnet shares with the LD_PRELOAD shim only.
 */
#ifndef TAPNET_INTERNAL_H
#define TAPNET_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

/*
 * Non-zero while this thread is inside libtapnet: the shim then passes
 * every call to libc (libtapnet's own control connection is a socket too).
 */
extern __thread int tn_lib_busy;

/*
 * The environment a process under `tapnet run` starts with; read once, when
 * the library is loaded (the program may clear its environment later).
 */
#define TN_LIB_SOCKET_ENV "TAPNET_SOCKET"   /* the daemon's control socket */
#define TN_LIB_CTL_FD_ENV "TAPNET_CTL_FD"   /* the number the control connection lives at */
#define TN_LIB_OPTIONS_ENV "TAPNET_OPTIONS" /* words: verbose, kernel-ipv6 */
/* the seccomp filters the program started under: `tapnet run`'s (see ring_make in tapnet.c) */
#define TN_LIB_FILTERS_ENV "TAPNET_SECCOMP_FILTERS"

#define TN_LIB_OPT_VERBOSE 0x1     /* say on stderr which sockets stay the kernel's, and why */
#define TN_LIB_OPT_KERNEL_IPV6 0x2 /* pure IPv6 sockets become the kernel's instead of failing */
#define TN_LIB_OPT_KERNEL_LOOPBACK 0x4 /* sockets for 127.0.0.0/8 and ::1 become the kernel's */
extern unsigned tn_lib_options;

/* One line on stderr after "tapnet: "; errno kept. */
void tn_lib_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * The shim's way in, for the calls it makes on every request: fd is a
 * tapnet socket (1) or not (0), its SO_COOKIE in *cookie when it is; the
 * calls below take that cookie instead of asking the kernel again.
 */
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
int tn_lib_socket_cookie(int fd, uint64_t *cookie);
/*
 * A call on fd is tapnet's: not one libtapnet makes itself (tn_lib_busy),
 * and fd is one of its sockets (its cookie in *cookie); errno is kept.
 */
int tn_lib_ours_cookie(int fd, uint64_t *cookie);
static inline int tn_lib_ours(int fd)
{
	uint64_t cookie;

	return tn_lib_ours_cookie(fd, &cookie);
}
int tn_lib_setsockopt(int fd, uint64_t cookie, int level, int optname, const void *optval,
		      socklen_t optlen);
int tn_lib_getsockname(int fd, uint64_t cookie, struct sockaddr *addr, socklen_t *len);

/*
 * The program confines itself with seccomp (true), or failed to (false):
 * libtapnet makes no new option ring meanwhile (memfd_create and mmap may
 * be what the filter kills for).
 */
void tn_lib_confined(bool confined);
/* The seccomp filters this process is under (/proc/self/status), or -1 if unknown. */
int tn_lib_seccomp_filters(void);

/*
 * The program is about to close fds lo..hi (close, dup2 or dup3 over one,
 * close_range, closefrom): if the control connection's number is among
 * them, it is the program's again. Async-signal-safe.
 */
void tn_lib_fd_closing(int lo, int hi);
/* The program made new a copy of old (dup, dup2, dup3, F_DUPFD): old's notes below are new's. */
void tn_lib_fd_duplicated(int old, int new);
/*
 * What the process knows of its fd numbers, one note per number:
 *
 * unconnected: sockets that were never connected, their SO_COOKIE, from
 * socket() (or a dup of one) until a connect begins or the number is
 * closed; 0 elsewhere. Such a socket's pair is kept unwritable and tapnetd
 * writes nothing to it (see tapnet.c), so the shim looks here before a
 * send or receive that would otherwise wait for ever, and asks
 * tn_lib_never_connected. A note may be stale (the number closed behind
 * the shim, another process's connect); that function decides.
 *
 * socket: numbers that hold a tapnet socket as far as this process saw:
 * made by socket() or accept() here, or a copy of one, or any connected
 * stream socket open when the shim loaded (one inherited across exec),
 * until closed through libc (TN_LIB_FD_SOCKET, TN_LIB_FD_LISTENER once
 * listen() succeeded here; else 0). The shim sends write() and writev() on
 * them as send() and sendmsg() with MSG_NOSIGNAL: a reset ends the pair
 * with EPIPE, which the shim answers with ECONNRESET and no SIGPIPE, as
 * Linux answers the first send after one. A stale mark (the number reused
 * behind the shim's back) costs an ENOTSOCK or nothing; a dup made through
 * libc carries its original's mark; a mark on a stream socket that is not
 * tapnet's changes nothing the program sees. send(), sendto() and
 * sendmsg() need no mark.
 *
 * The notes live in pages of TN_LIB_NOTE_PAGE numbers, the first one
 * static, the others mapped the first time a number in them is noted and
 * kept for the process's life (a server with thousands of connections has
 * numbers far past the first page): a look-up is two loads and takes no
 * lock, so it is safe in a signal handler and in a vfork child. Numbers
 * from TN_LIB_NOTED_FDS on (Linux's default fs.nr_open) are not noted.
 */
#include <stdatomic.h>
#include <stddef.h>
#define TN_LIB_NOTED_FDS (1 << 20)
#define TN_LIB_NOTE_PAGE 4096
#define TN_LIB_FD_SOCKET 1
#define TN_LIB_FD_LISTENER 2
struct tn_lib_note {
	_Atomic uint64_t unconnected;
	_Atomic uint64_t cookie;
	_Atomic unsigned char socket;
};
extern struct tn_lib_note *_Atomic tn_lib_note_pages[TN_LIB_NOTED_FDS / TN_LIB_NOTE_PAGE];

/* fd's note, or NULL where nothing can be noted yet (no page) or ever (out of range). */
static inline struct tn_lib_note *tn_lib_note(int fd)
{
	if (fd < 0 || fd >= TN_LIB_NOTED_FDS)
		return NULL;
	struct tn_lib_note *page = atomic_load_explicit(&tn_lib_note_pages[fd / TN_LIB_NOTE_PAGE],
							 memory_order_acquire);
	return page ? &page[fd % TN_LIB_NOTE_PAGE] : NULL;
}

/* fd's note, its page mapped if need be; NULL out of range or out of memory. */
struct tn_lib_note *tn_lib_note_make(int fd);
/* Marks fd TN_LIB_FD_SOCKET or TN_LIB_FD_LISTENER, or clears its mark (0, mapping nothing). */
void tn_lib_note_socket(int fd, unsigned char what);

static inline uint64_t tn_lib_noted_unconnected(int fd)
{
	struct tn_lib_note *n = tn_lib_note(fd);
	return n ? atomic_load_explicit(&n->unconnected, memory_order_relaxed) : 0;
}

static inline unsigned char tn_lib_noted_socket(int fd)
{
	struct tn_lib_note *n = tn_lib_note(fd);
	return n ? atomic_load_explicit(&n->socket, memory_order_relaxed) : 0;
}

/*
 * cookie: the SO_COOKIE of the tapnet socket at the number, as last asked
 * through libc (0: none known). TCP_CORK and TCP_NODELAY, which nginx
 * changes twice per response, name the socket by it without asking the
 * kernel again (two system calls per response); see the shim's setsockopt.
 */
static inline uint64_t tn_lib_noted_cookie(int fd)
{
	struct tn_lib_note *n = tn_lib_note(fd);
	return n ? atomic_load_explicit(&n->cookie, memory_order_relaxed) : 0;
}

void tn_lib_note_cookie(int fd, uint64_t cookie);

/* 1 if noted fd is a tapnet socket never connected, or a listener (Linux: EPIPE, ENOTCONN). */
int tn_lib_never_connected(int fd);

/*
 * How a connection ended, told as the kernel tells it (see "reads and sends
 * that say how a connection ended" in tapnet.c). n is what a read of want
 * bytes, or a send, returned on fd (any fd: only tapnet sockets are asked
 * about); flags are the caller's, before MSG_NOSIGNAL was added.
 */
ssize_t tn_lib_eof_or_error(int fd, ssize_t n, size_t want);
/* The bytes n iovecs ask for: a read's want. */
static inline size_t tn_lib_iov_len(const struct iovec *iov, size_t n)
{
	size_t want = 0;

	for (size_t i = 0; i < n; i++)
		want += iov[i].iov_len;
	return want;
}
ssize_t tn_lib_epipe_or_error(int fd, ssize_t n);
/* tn_lib_epipe_or_error, and SIGPIPE with an EPIPE unless flags has MSG_NOSIGNAL */
ssize_t tn_lib_sent(int fd, ssize_t n, int flags);
/* fd is noted as a tapnet socket never connected, and still is one (tn_lib_never_connected). */
bool tn_lib_unconnected(int fd);
/* A send (EPIPE, SIGPIPE unless MSG_NOSIGNAL) or receive (ENOTCONN) answered at once: true. */
bool tn_lib_send_unconnected(int fd, int flags);
bool tn_lib_recv_unconnected(int fd);
/* MSG_OOB on a tapnet socket: EOPNOTSUPP, true. */
bool tn_lib_send_oob_refused(int fd, int flags);
/* Set by the shim: closes are reported, libtapnet need not check its fd before each call. */
extern int tn_lib_fds_watched;

/*
 * The sixth argument of the socket system calls that libtapnet and the shim
 * make themselves (none of those calls uses it). `tapnet run`'s seccomp
 * filter lets a call that carries it pass to the kernel without asking its
 * supervisor: the shim has already decided where it goes.
 */
#define TN_SECCOMP_MARK 0x7461706e65743a31ULL /* "tapnet:1" */
/*
 * A system call with that mark: the result, or -1 with errno. The mark
 * goes in the register of the sixth argument and is cleared from it after
 * the call: the kernel leaves that register as it was, and a libc wrapper
 * of fewer arguments passes on whatever it holds, so a program's own call
 * made next would pass the filter as the shim's (libc's syscall() would
 * also leave the mark on the stack, where its next call of fewer arguments
 * reads the sixth).
 */
static inline long tn_marked_syscall(long nr, long a, long b, long c, long d, long e)
{
#if defined(__x86_64__)
	long r;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = (long)TN_SECCOMP_MARK;

	__asm__ volatile("syscall\n\txor %%r9d, %%r9d"
			 : "=a"(r), "+r"(r9)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = (long)TN_SECCOMP_MARK;

	__asm__ volatile("svc #0\n\tmov x5, xzr"
			 : "+r"(x0), "+r"(x5)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
			 : "memory");
	long r = x0;
#else
	return syscall(nr, a, b, c, d, e, TN_SECCOMP_MARK);
#endif
#if defined(__x86_64__) || defined(__aarch64__)
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
#endif
}

/*
 * A socket() made without libc under `tapnet run` is first a placeholder
 * (run_seccomp.c): a kernel TCP socket, never bound or connected, whose
 * SO_RCVLOWAT is TN_PLACEHOLDER_MARK (below any cap Linux puts on it).
 * The first call on it that the filter hands to the supervisor makes it a
 * tapnet socket; the shim hands its calls on one to the filter unmarked
 * (a marked bind or listen would give it to the kernel).
 */
#define TN_PLACEHOLDER_MARK 1021
/* Whether fd is such a placeholder (marked calls: the filter lets them pass; errno kept). */
bool tn_lib_placeholder(int fd);

/*
 * For `tapnet run`'s seccomp supervisor, which links libtapnet built with
 * TN_LIB_SUPERVISOR (no load-time constructor: it is not under tapnet run)
 * and acts on its copies of another process's sockets.
 */
#include <stdbool.h>
#include <sys/socket.h>

/* Where the daemon is, and TN_LIB_OPT_* (instead of the environment). */
void tn_lib_supervisor_init(const char *socket_path, unsigned options);
/*
 * A connection of this process's own on which tapnetd tells of the sockets
 * of its other connections that the peer reset (rpc.h, TN_RPC_RESETS):
 * its fd, or -1 with errno.
 */
int tn_lib_reset_watch(void);
/* One message from it: 1 with *cookie, 0 for anything else, -1 when it is over. */
int tn_lib_reset_notice(int fd, uint64_t *cookie);
/*
 * tapnet_accept4 (cookie: fd's, 0 if the caller does not know it); with
 * nowait, EAGAIN instead of waiting, whatever the fd's flags.
 */
int tn_lib_accept4(int fd, uint64_t cookie, struct sockaddr *addr, socklen_t *len, int flags,
		   bool nowait);
/*
 * The first half of tapnet_connect: the request sent and accepted, 0; the
 * handshake is then under way whatever the fd's flags (POLLOUT, then
 * SO_ERROR, tell how it ended). -1 with errno otherwise. renew: for a
 * socket whose last connect failed, TN_RENEW_NOW (a blocking one: it
 * reported its error) or TN_RENEW_AFTER_REPORT (a non-blocking one: the
 * first connect again reports it); tapnetd then connects a new socket with
 * the old one's settings, and *renewed gets its B, made ready (status
 * flags, family) to take fd's number in the program; -1 if none.
 */
int tn_lib_connect_begin(int fd, const struct sockaddr *addr, socklen_t len, int renew, int *renewed);
/*
 * Who should have tapnet socket fd, given addr for a bind or a connect:
 * tapnet (TN_LIB_TAPNET), or, as the options say, the kernel: IPv6 proper
 * (TN_LIB_FOR_IPV6, also when the option is off: tapnet cannot reach it),
 * the loopback with --kernel-loopback (TN_LIB_FOR_LOOPBACK).
 */
enum tn_lib_owner { TN_LIB_TAPNET, TN_LIB_FOR_IPV6, TN_LIB_FOR_LOOPBACK };
enum tn_lib_owner tn_lib_addr_owner(int fd, const struct sockaddr *addr, socklen_t len,
				    bool for_bind);
/* What -v says of a socket the kernel took over, after "socket N ". */
const char *tn_lib_kernel_why(enum tn_lib_owner owner);
/*
 * A kernel socket of fd's family to stand in for tapnet socket fd
 * (--kernel-ipv6, --kernel-loopback): options, O_NONBLOCK; -1 with errno.
 */
int tn_lib_kernel_socket(int fd);

#endif
