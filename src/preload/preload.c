/*
 * preload.c - libtapnet-preload.so: unchanged programs on tapnet sockets.
 *
 * `tapnet run CMD` starts CMD with this library in LD_PRELOAD. It
 * interposes the socket calls that need the stack: socket() makes AF_INET
 * and AF_INET6 SOCK_STREAM sockets tapnet's (SOCK_NONBLOCK and SOCK_CLOEXEC
 * included; an AF_INET6 one speaks IPv4 through v4-mapped addresses, see
 * libtapnet); every other socket stays the kernel's, said on stderr under
 * `tapnet run -v`. The calls that take an fd go to
 * libtapnet when the fd is a tapnet socket (tapnet_is_socket(): known by
 * the socket's cookie, so dup, dup2, dup3, F_DUPFD, fork and exec need
 * nothing here) and to the kernel otherwise (connect and accept through
 * libc; the others, and socket(), as system calls marked TN_SECCOMP_MARK,
 * which `tapnet run`'s seccomp filter lets through without asking its
 * supervisor). read, write, send, recv, poll,
 * close and the rest are the kernel's own on a tapnet fd, except that
 * poll, ppoll, select and pselect answer for a socket never connected
 * (see answer_unconnected), that
 * sendto and sendmsg with MSG_FASTOPEN connect first, that a send with
 * MSG_OOB is refused (EOPNOTSUPP), that a send or receive on a socket never
 * connected answers as Linux does (see send_unconnected), and that an
 * end-of-file from read/recv/recvfrom/recvmsg/readv, or EPIPE from a send,
 * on a tapnet socket whose connection ended in an error becomes that
 * error, ECONNRESET, ETIMEDOUT or ECONNREFUSED (the socket pair itself can
 * only say end-of-file or EPIPE; SO_ERROR knows why), without the SIGPIPE
 * the pair would raise (see sent). close, dup2,
 * dup3, close_range and closefrom are libc's too; they only tell libtapnet
 * when the program takes the number its control connection lives at, and
 * dup, dup2, dup3 and fcntl's F_DUPFD give the copy the original's notes.
 * Name resolution uses the kernel (its UDP and AF_INET6 sockets pass
 * through).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <linux/seccomp.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "lib/tapnet.h"
#include "lib/tapnet_internal.h"

#define EXPORT __attribute__((visibility("default")))

#ifdef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC_FLAG CLOSE_RANGE_CLOEXEC
#else
#define CLOSE_RANGE_CLOEXEC_FLAG (1U << 2) /* linux/close_range.h */
#endif

/* libc's function name, looked up once (a race only looks it up twice). */
#define REAL(name, ret, ...)                                                   \
	static ret (*real_##name)(__VA_ARGS__);                                \
	static ret (*get_##name(void))(__VA_ARGS__)                            \
	{                                                                      \
		if (!real_##name)                                              \
			real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name); \
		return real_##name;                                            \
	}

REAL(accept, int, int, struct sockaddr *, socklen_t *)
REAL(accept4, int, int, struct sockaddr *, socklen_t *, int)
REAL(connect, int, int, const struct sockaddr *, socklen_t)
REAL(read, ssize_t, int, void *, size_t)
REAL(readv, ssize_t, int, const struct iovec *, int)
REAL(write, ssize_t, int, const void *, size_t)
REAL(writev, ssize_t, int, const struct iovec *, int)
REAL(send, ssize_t, int, const void *, size_t, int)
REAL(recv, ssize_t, int, void *, size_t, int)
REAL(recvfrom, ssize_t, int, void *, size_t, int, struct sockaddr *, socklen_t *)
REAL(recvmsg, ssize_t, int, struct msghdr *, int)
REAL(sendto, ssize_t, int, const void *, size_t, int, const struct sockaddr *, socklen_t)
REAL(sendmsg, ssize_t, int, const struct msghdr *, int)
REAL(poll, int, struct pollfd *, nfds_t, int)
REAL(ppoll, int, struct pollfd *, nfds_t, const struct timespec *, const sigset_t *)
REAL(select, int, int, fd_set *, fd_set *, fd_set *, struct timeval *)
REAL(pselect, int, int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *)
REAL(close, int, int)
REAL(dup, int, int)
REAL(dup2, int, int, int)
REAL(dup3, int, int, int, int)
REAL(close_range, int, unsigned, unsigned, int)
REAL(closefrom, void, int)
REAL(fcntl, int, int, int, ...)
REAL(fcntl64, int, int, int, ...)
REAL(ioctl, int, int, unsigned long, ...)
REAL(sendfile, ssize_t, int, int, off_t *, size_t)
REAL(sendfile64, ssize_t, int, int, off64_t *, size_t)
REAL(splice, ssize_t, int, loff_t *, int, loff_t *, size_t, unsigned int)
REAL(sigaction, int, int, const struct sigaction *, struct sigaction *)
REAL(signal, sighandler_t, int, sighandler_t)
REAL(sysv_signal, sighandler_t, int, sighandler_t)
REAL(__sysv_signal, sighandler_t, int, sighandler_t)
REAL(bsd_signal, sighandler_t, int, sighandler_t)
REAL(prctl, int, int, ...)
REAL(syscall, long, long, ...)

/*
 * The calls that never block, passed to the kernel marked as the shim's
 * (TN_SECCOMP_MARK): `tapnet run`'s seccomp filter lets them through
 * without asking its supervisor, which would only say the same. connect
 * and accept go through libc, whose versions are cancellation points.
 */
#define MARKED(nr, a, b, c, d, e) \
	tn_marked_syscall(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))
/*
 * A call on an fd that is not a tapnet socket, to the kernel: marked,
 * unless the fd is a placeholder for a socket that a socket() made without
 * libc (tn_lib_placeholder): the supervisor must see that call, to make it
 * tapnet's first, or a bind and a listen would give it to the kernel. Its
 * sixth argument is 0 then, not what the register held (a mark, maybe). A
 * confined process (is_confined) is not asked about placeholders: that is
 * a getsockopt its filter may forbid.
 */
#define PASSED_ON(nr, fd, b, c, d, e)                                    \
	(!is_confined() && tn_lib_placeholder(fd) ? syscall(nr, fd, b, c, d, e, 0) \
						  : MARKED(nr, fd, b, c, d, e))

/*
 * A program that confines itself with a seccomp filter of its own (OpenSSH's
 * pre-authentication child: read, write and poll on its connection, and
 * little else; a sandboxed worker; seccomp's strict mode) would be killed
 * for a call it never made: a write() the shim turned into a send, a read
 * at end-of-file that asks tapnetd how the connection ended (a request on
 * the control connection), a poll that asks whether a socket was ever
 * connected. Once the program installs a filter (prctl(PR_SET_SECCOMP) or
 * seccomp(2) through syscall(): libc's ways; `tapnet run`'s own filter is
 * installed before the program runs and allows all of these), the data
 * calls go to the kernel exactly as the program made them: what it loses
 * is only what the pair cannot say by itself (a reset reads as end-of-file
 * and a write after it fails with EPIPE, raising SIGPIPE unless ignored,
 * where Linux would say ECONNRESET once). The flag is set before the
 * filter is (another thread's call in between would be killed) and cleared
 * if installing it failed; forks inherit it, as they do the filter. Socket
 * calls on an fd not noted as a tapnet socket go to the kernel as made too
 * (no SO_COOKIE asked), shutdown shuts the pair (tapnetd takes its
 * end-of-file for the FIN), and fcntl and ioctl skip the placeholder
 * check. Calls that need tapnetd itself (socket, connect, setsockopt on a
 * tapnet socket...) still make their request: a filter that forbids
 * sendmsg and recvmsg forbids those.
 */
static _Atomic bool confined;

static bool is_confined(void)
{
	return atomic_load_explicit(&confined, memory_order_relaxed);
}

/*
 * A call on fd is for tapnetd: fd is a tapnet socket (tn_lib_ours_cookie).
 * Confined, only one noted as such is asked about: the note is memory,
 * asking the kernel (SO_COOKIE) is a getsockopt the filter may forbid.
 */
static int for_tapnetd_cookie(int fd, uint64_t *cookie)
{
	if (is_confined() && !tn_lib_noted_socket(fd))
		return 0;
	return tn_lib_ours_cookie(fd, cookie);
}

static int for_tapnetd(int fd)
{
	uint64_t cookie;

	return for_tapnetd_cookie(fd, &cookie);
}

/* ret: what installing a filter returned; the flag set before stays only if it worked */
static long confining(long ret, bool was)
{
	if (ret < 0) {
		int saved = errno;
		atomic_store_explicit(&confined, was, memory_order_relaxed);
		tn_lib_confined(was);
		errno = saved;
	}
	return ret;
}

/* libc's functions for the calls passed on, looked up now: dlsym may make calls a filter forbids */
static bool begin_confining(void)
{
	(void)get_read(), (void)get_readv(), (void)get_write(), (void)get_writev();
	(void)get_send(), (void)get_recv(), (void)get_recvfrom(), (void)get_recvmsg();
	(void)get_sendto(), (void)get_sendmsg(), (void)get_sendfile(), (void)get_sendfile64();
	(void)get_splice(), (void)get_poll(), (void)get_ppoll(), (void)get_select();
	(void)get_pselect(), (void)get_syscall(), (void)get_close();
	bool was = atomic_exchange_explicit(&confined, true, memory_order_relaxed);
	tn_lib_confined(true);
	/* said before the filter is in: the line itself is a write it might forbid */
	if (!was && (tn_lib_options & TN_LIB_OPT_VERBOSE))
		tn_lib_say("pid %d confines itself with seccomp: its calls on sockets go to the kernel "
			   "as made from now on",
			   (int)getpid());
	return was;
}

EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a = va_arg(ap, unsigned long), b = va_arg(ap, unsigned long),
		      c = va_arg(ap, unsigned long), d = va_arg(ap, unsigned long);
	va_end(ap);
	if (option != PR_SET_SECCOMP)
		return get_prctl()(option, a, b, c, d);
	bool was = begin_confining();
	return (int)confining(get_prctl()(option, a, b, c, d), was);
}

/* seccomp(2) has no libc function: libseccomp and others call it through syscall() */
EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long), d = va_arg(ap, long),
	     e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	bool filter = (nr == SYS_seccomp &&
		       (a == SECCOMP_SET_MODE_STRICT || a == SECCOMP_SET_MODE_FILTER)) ||
		      (nr == SYS_prctl && a == PR_SET_SECCOMP);
	if (!filter)
		return get_syscall()(nr, a, b, c, d, e, f);
	bool was = begin_confining();
	return confining(get_syscall()(nr, a, b, c, d, e, f), was);
}

static int kernel_socket(int domain, int type, int protocol)
{
	return (int)MARKED(SYS_socket, domain, type, protocol, 0, 0);
}

/* Why an IP socket stays the kernel's, for `tapnet run -v`; NULL for other families. */
static const char *kernel_reason(int domain, int base, int protocol)
{
	if (domain != AF_INET && domain != AF_INET6 && domain != AF_PACKET)
		return NULL;
	if (domain == AF_PACKET)
		return "a packet socket: the kernel's interfaces";
	if (base == SOCK_DGRAM)
		return protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6 ? "tapnet has no ping sockets"
									     : "tapnet has no UDP";
	if (base == SOCK_RAW)
		return "tapnet has no raw sockets";
	if (base == SOCK_STREAM)
		return "a stream protocol other than TCP";
	return "a socket type tapnet does not have";
}

EXPORT int socket(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (tn_lib_busy)
		return kernel_socket(domain, type, protocol);
	if ((domain == AF_INET || domain == AF_INET6) && base == SOCK_STREAM &&
	    (protocol == 0 || protocol == IPPROTO_TCP))
		return tapnet_socket(domain, type, protocol);
	int fd = kernel_socket(domain, type, protocol);
	const char *why;
	if ((tn_lib_options & TN_LIB_OPT_VERBOSE) && fd >= 0 &&
	    (why = kernel_reason(domain, base, protocol)) != NULL)
		tn_lib_say("socket %d (%s, type %d, protocol %d) stays the kernel's: %s", fd,
			   domain == AF_INET ? "AF_INET" : domain == AF_INET6 ? "AF_INET6" : "AF_PACKET",
			   base, protocol, why);
	return fd;
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	return for_tapnetd(fd) ? tapnet_bind(fd, addr, len)
			       : (int)PASSED_ON(SYS_bind, fd, addr, len, 0, 0);
}

EXPORT int listen(int fd, int backlog)
{
	return for_tapnetd(fd) ? tapnet_listen(fd, backlog)
			       : (int)PASSED_ON(SYS_listen, fd, backlog, 0, 0, 0);
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	uint64_t cookie;

	return tn_lib_ours_cookie(fd, &cookie) ? tn_lib_accept4(fd, cookie, addr, len, 0, false)
					       : get_accept()(fd, addr, len);
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	uint64_t cookie;

	return tn_lib_ours_cookie(fd, &cookie) ? tn_lib_accept4(fd, cookie, addr, len, flags, false)
					       : get_accept4()(fd, addr, len, flags);
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (tn_lib_ours(fd))
		return tapnet_connect(fd, addr, len);
	/* a placeholder's with no mark for sure: libc's leaves the sixth argument as it finds it */
	if (tn_lib_placeholder(fd))
		return (int)syscall(SYS_connect, fd, addr, len, 0, 0, 0);
	return get_connect()(fd, addr, len);
}

/* Confined, a tapnet socket's pair is shut as made: tapnetd takes its end-of-file for the FIN. */
EXPORT int shutdown(int fd, int how)
{
	if (is_confined())
		return (int)MARKED(SYS_shutdown, fd, how, 0, 0, 0);
	return tn_lib_ours(fd) ? tapnet_shutdown(fd, how)
			       : (int)PASSED_ON(SYS_shutdown, fd, how, 0, 0, 0);
}

EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	uint64_t cookie;

	return for_tapnetd_cookie(fd, &cookie) ? tn_lib_getsockname(fd, cookie, addr, len)
					       : (int)PASSED_ON(SYS_getsockname, fd, addr, len, 0, 0);
}

EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return for_tapnetd(fd) ? tapnet_getpeername(fd, addr, len)
			       : (int)PASSED_ON(SYS_getpeername, fd, addr, len, 0, 0);
}

/*
 * TCP_CORK and TCP_NODELAY name the socket by the cookie noted at the
 * number (tn_lib_noted_cookie) rather than by asking the kernel: nginx
 * with tcp_nopush (Debian's default) sets TCP_CORK on and off around
 * every response, and the two getsockopt(SO_COOKIE) were a third of what
 * it cost under `tapnet run` beyond the kernel. A note is cleared when
 * the program closes or replaces the number through libc; one made stale
 * behind libc's back (a raw close, then another socket at the number)
 * sends the change to the socket it named before. Only these two options
 * are trusted to it because they shape segments, never data or errors:
 * the worst a stale note costs is a segment held up to the cork's 200 ms
 * ceiling, or one sent unmerged.
 */
static bool segment_option(int level, int optname)
{
	return level == IPPROTO_TCP && (optname == TCP_CORK || optname == TCP_NODELAY);
}

EXPORT int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	uint64_t cookie;

	if (!tn_lib_busy && segment_option(level, optname) && (cookie = tn_lib_noted_cookie(fd)))
		return tn_lib_setsockopt(fd, cookie, level, optname, optval, optlen);
	if (!for_tapnetd_cookie(fd, &cookie))
		return (int)PASSED_ON(SYS_setsockopt, fd, level, optname, optval, optlen);
	tn_lib_note_cookie(fd, cookie);
	return tn_lib_setsockopt(fd, cookie, level, optname, optval, optlen);
}

EXPORT int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	return for_tapnetd(fd) ? tapnet_getsockopt(fd, level, optname, optval, optlen)
			       : (int)PASSED_ON(SYS_getsockopt, fd, level, optname, optval, optlen);
}

/*
 * A read that finds end-of-file and a send that gets EPIPE on a tapnet
 * socket say how the connection ended, as the kernel would (ECONNRESET,
 * ETIMEDOUT...), and a socket never connected answers at once: libtapnet's
 * tn_lib_eof_or_error, tn_lib_sent and the rest, which its own tapnet_read,
 * tapnet_send... use too. The table look-up is all an ordinary call pays.
 */
/* fd is marked as a tapnet socket (its note's socket): its write() goes as a send. */
static bool marked_socket(int fd)
{
	return !tn_lib_busy && tn_lib_noted_socket(fd);
}

/* A mark whose number is no socket (ENOTSOCK): reused behind the shim's back. */
static bool stale_mark(int fd, ssize_t n)
{
	if (n >= 0 || errno != ENOTSOCK)
		return false;
	tn_lib_note_socket(fd, 0);
	return true;
}

EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	if (is_confined())
		return get_read()(fd, buf, count);
	if (tn_lib_recv_unconnected(fd))
		return -1;
	return tn_lib_eof_or_error(fd, get_read()(fd, buf, count), count);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	if (is_confined())
		return get_readv()(fd, iov, iovcnt);
	if (tn_lib_recv_unconnected(fd))
		return -1;
	return tn_lib_eof_or_error(fd, get_readv()(fd, iov, iovcnt),
				   iovcnt > 0 ? tn_lib_iov_len(iov, (size_t)iovcnt) : 0);
}

/* write() on a stream socket is send() with no flags. */
EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	if (is_confined())
		return get_write()(fd, buf, count);
	if (tn_lib_send_unconnected(fd, 0))
		return -1;
	if (marked_socket(fd)) {
		ssize_t n = get_send()(fd, buf, count, MSG_NOSIGNAL);
		if (!stale_mark(fd, n))
			return tn_lib_sent(fd, n, 0);
	}
	return tn_lib_epipe_or_error(fd, get_write()(fd, buf, count));
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	if (is_confined())
		return get_writev()(fd, iov, iovcnt);
	if (tn_lib_send_unconnected(fd, 0))
		return -1;
	if (marked_socket(fd) && iovcnt >= 0) {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
		ssize_t n = get_sendmsg()(fd, &msg, MSG_NOSIGNAL);
		if (!stale_mark(fd, n))
			return tn_lib_sent(fd, n, 0);
	}
	return tn_lib_epipe_or_error(fd, get_writev()(fd, iov, iovcnt));
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (tn_lib_busy || is_confined())
		return get_send()(fd, buf, len, flags);
	if (tn_lib_send_oob_refused(fd, flags) || tn_lib_send_unconnected(fd, flags))
		return -1;
	return tn_lib_sent(fd, get_send()(fd, buf, len, flags | MSG_NOSIGNAL), flags);
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (is_confined())
		return get_recv()(fd, buf, len, flags);
	if (tn_lib_recv_unconnected(fd))
		return -1;
	return tn_lib_eof_or_error(fd, get_recv()(fd, buf, len, flags), len);
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
			socklen_t *alen)
{
	if (is_confined())
		return get_recvfrom()(fd, buf, len, flags, addr, alen);
	if (tn_lib_recv_unconnected(fd))
		return -1;
	return tn_lib_eof_or_error(fd, get_recvfrom()(fd, buf, len, flags, addr, alen), len);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (is_confined())
		return get_recvmsg()(fd, msg, flags);
	if (tn_lib_recv_unconnected(fd))
		return -1;
	size_t want = tn_lib_iov_len(msg->msg_iov, msg->msg_iovlen);
	return tn_lib_eof_or_error(fd, get_recvmsg()(fd, msg, flags), want);
}

/*
 * MSG_FASTOPEN with an address (TCP Fast Open: connect and send in one
 * call) on a tapnet socket: its pair is connected from birth, so the
 * kernel would answer EISCONN. tapnet has no Fast Open, and does what
 * Linux does when it holds no cookie for the server: it connects, and
 * sends once connected; a non-blocking socket gets EINPROGRESS with
 * nothing sent, and the program writes again when the socket is writable.
 * Any other send is the kernel's own, with no check.
 */
EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
		      socklen_t alen)
{
	if ((flags & MSG_FASTOPEN) && addr && tn_lib_ours(fd)) {
		if (tapnet_connect(fd, addr, alen) < 0)
			return -1;
		return tn_lib_sent(
			fd, get_sendto()(fd, buf, len, (flags & ~MSG_FASTOPEN) | MSG_NOSIGNAL, NULL, 0),
			flags);
	}
	if (tn_lib_busy || is_confined())
		return get_sendto()(fd, buf, len, flags, addr, alen);
	if (tn_lib_send_oob_refused(fd, flags) || tn_lib_send_unconnected(fd, flags))
		return -1;
	return tn_lib_sent(fd, get_sendto()(fd, buf, len, flags | MSG_NOSIGNAL, addr, alen), flags);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if ((flags & MSG_FASTOPEN) && msg && msg->msg_name && tn_lib_ours(fd)) {
		if (tapnet_connect(fd, msg->msg_name, msg->msg_namelen) < 0)
			return -1;
		struct msghdr unnamed = *msg;
		unnamed.msg_name = NULL;
		unnamed.msg_namelen = 0;
		return tn_lib_sent(fd, get_sendmsg()(fd, &unnamed, (flags & ~MSG_FASTOPEN) | MSG_NOSIGNAL),
				   flags);
	}
	if (tn_lib_busy || is_confined())
		return get_sendmsg()(fd, msg, flags);
	if (tn_lib_send_oob_refused(fd, flags) || tn_lib_send_unconnected(fd, flags))
		return -1;
	return tn_lib_sent(fd, get_sendmsg()(fd, msg, flags | MSG_NOSIGNAL), flags);
}

/*
 * Whether SIGPIPE is ignored, as far as the shim saw: read when it loads
 * (an ignored signal stays ignored across exec), then at every sigaction
 * and signal call through libc, so that sendfile and splice cost no system
 * call to ask. Wrong only if the program changes it behind libc's back (a
 * raw system call, sigset): then they pay two system calls for nothing, or
 * raise SIGPIPE one call early, as before.
 */
static _Atomic bool sigpipe_ignored;

static void note_sigpipe(int signum, bool ignored)
{
	if (signum == SIGPIPE)
		atomic_store_explicit(&sigpipe_ignored, ignored, memory_order_relaxed);
}

static bool act_ignores(const struct sigaction *act)
{
	return !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_IGN;
}

EXPORT int sigaction(int signum, const struct sigaction *act, struct sigaction *old)
{
	int r = get_sigaction()(signum, act, old);
	if (r == 0 && act)
		note_sigpipe(signum, act_ignores(act));
	return r;
}

#define SIGNAL_CALL(name)                                                   \
	EXPORT sighandler_t name(int signum, sighandler_t handler)          \
	{                                                                   \
		sighandler_t r = get_##name()(signum, handler);             \
		if (r != SIG_ERR)                                           \
			note_sigpipe(signum, handler == SIG_IGN);           \
		return r;                                                   \
	}
/* signal() is one of these for programs built without _DEFAULT_SOURCE */
sighandler_t __sysv_signal(int signum, sighandler_t handler);
sighandler_t bsd_signal(int signum, sighandler_t handler);
SIGNAL_CALL(signal)
SIGNAL_CALL(sysv_signal)
SIGNAL_CALL(__sysv_signal)
SIGNAL_CALL(bsd_signal)

/*
 * sendfile and splice onto a tapnet socket take no MSG_NOSIGNAL: at the
 * pair's EPIPE the kernel raises SIGPIPE, where Linux raises none at the
 * call that reports a reset (ECONNRESET) and the program lives to see it.
 * Unless the program ignores SIGPIPE (nginx and python do: then only the
 * error is put right), the shim blocks it for the call and, at EPIPE,
 * takes back the one the kernel raised (to this thread, and at most one
 * is pending), then reports the pending error or raises SIGPIPE itself.
 * A program that blocks SIGPIPE itself gets the kernel's, as before.
 */
struct onto_socket_call {
	int what; /* ONTO_* */
	int in_fd, out_fd;
	void *off_in, *off_out;
	size_t count;
	unsigned int flags;
};
enum { ONTO_SENDFILE, ONTO_SENDFILE64, ONTO_SPLICE };

static ssize_t onto_socket_now(const struct onto_socket_call *c)
{
	switch (c->what) {
	case ONTO_SENDFILE:
		return get_sendfile()(c->out_fd, c->in_fd, c->off_in, c->count);
	case ONTO_SENDFILE64:
		return get_sendfile64()(c->out_fd, c->in_fd, c->off_in, c->count);
	default:
		return get_splice()(c->in_fd, c->off_in, c->out_fd, c->off_out, c->count, c->flags);
	}
}

static ssize_t onto_socket(const struct onto_socket_call *c)
{
	sigset_t pipe_only, old;

	if (tn_lib_send_unconnected(c->out_fd, 0))
		return -1;
	if (atomic_load_explicit(&sigpipe_ignored, memory_order_relaxed))
		return tn_lib_epipe_or_error(c->out_fd, onto_socket_now(c));
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	if (pthread_sigmask(SIG_BLOCK, &pipe_only, &old) != 0)
		return tn_lib_epipe_or_error(c->out_fd, onto_socket_now(c));
	ssize_t n = onto_socket_now(c);
	if (n < 0 && errno == EPIPE && !sigismember(&old, SIGPIPE)) {
		static const struct timespec at_once = { 0, 0 };
		sigtimedwait(&pipe_only, NULL, &at_once); /* EAGAIN if there was none */
		errno = EPIPE;
		n = tn_lib_sent(c->out_fd, n, 0); /* a raised SIGPIPE waits for the mask below */
	} else {
		n = tn_lib_epipe_or_error(c->out_fd, n);
	}
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	struct onto_socket_call c = { ONTO_SENDFILE, in_fd, out_fd, offset, NULL, count, 0 };
	return marked_socket(out_fd) && !is_confined() ? onto_socket(&c) : onto_socket_now(&c);
}

EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	struct onto_socket_call c = { ONTO_SENDFILE64, in_fd, out_fd, offset, NULL, count, 0 };
	return marked_socket(out_fd) && !is_confined() ? onto_socket(&c) : onto_socket_now(&c);
}

/* splice from a tapnet socket reads: its end-of-file may be an error to report, as read's */
EXPORT ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
		      unsigned int flags)
{
	struct onto_socket_call c = { ONTO_SPLICE, fd_in, fd_out, off_in, off_out, len, flags };
	if (is_confined())
		return onto_socket_now(&c);
	if (marked_socket(fd_out))
		return onto_socket(&c);
	if (marked_socket(fd_in))
		return tn_lib_eof_or_error(fd_in, onto_socket_now(&c), len);
	return onto_socket_now(&c);
}

#define POLL_ANSWERED_MAX 64 /* beyond, a never-connected socket waits in poll as before */

/*
 * poll on a socket never connected: Linux answers at once, POLLOUT and
 * POLLHUP (tcp_poll: a closed socket is hung up, and has room), so that a
 * program that polls before it sends or receives (python does, on a
 * socket with a timeout) learns at once what the call will say; the pair,
 * kept unwritable until a connect ends, would report nothing. The shim
 * answers for such numbers (noted as unconnected, and asked, as a
 * send would) and polls the rest without waiting when it answered for
 * one. Listeners are the pair's: Linux reports nothing on one either
 * until a connection waits, and their mark spares them the question. A
 * poll with no noted number pays one pass over its array.
 *
 * polled_unconnected(fd): fd is such a number, and no listener.
 *
 * Answers for the never-connected numbers among fds and hides them from
 * the kernel's poll (a negative fd is skipped; -fd - 1 keeps the number);
 * their indexes go to at[], and their count is returned.
 */
static bool polled_unconnected(int fd)
{
	return !is_confined() && tn_lib_noted_socket(fd) != TN_LIB_FD_LISTENER && tn_lib_unconnected(fd);
}

static int answer_unconnected(struct pollfd *fds, nfds_t n, nfds_t at[POLL_ANSWERED_MAX])
{
	int answered = 0;

	for (nfds_t i = 0; i < n && answered < POLL_ANSWERED_MAX; i++) {
		int fd = fds[i].fd;
		if (!polled_unconnected(fd))
			continue;
		fds[i].fd = -fd - 1;
		at[answered++] = i;
	}
	return answered;
}

/* The hidden numbers back, with the answer Linux gives: POLLHUP, and POLLOUT if asked. */
static int merge_answered(struct pollfd *fds, int r, const nfds_t *at, int answered)
{
	for (int k = 0; k < answered; k++) {
		struct pollfd *p = &fds[at[k]];
		p->fd = -p->fd - 1;
		p->revents = (short)(POLLHUP | (p->events & (POLLOUT | POLLWRNORM)));
	}
	return r < 0 ? r : r + answered;
}

/*
 * glibc declares poll's and ppoll's array write-only (attribute access),
 * though the kernel reads every entry: gcc would take our reading of it
 * for a use of uninitialized memory.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	nfds_t at[POLL_ANSWERED_MAX];
	int answered = answer_unconnected(fds, n, at);
	return merge_answered(fds, get_poll()(fds, n, answered ? 0 : timeout), at, answered);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout,
		 const sigset_t *mask)
{
	static const struct timespec now = { 0, 0 };
	nfds_t at[POLL_ANSWERED_MAX];
	int answered = answer_unconnected(fds, n, at);
	return merge_answered(fds, get_ppoll()(fds, n, answered ? &now : timeout, mask), at, answered);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/*
 * select and pselect, the same answer in their terms: Linux counts
 * POLLHUP as readable and POLLOUT as writable (fs/select.c, POLLIN_SET
 * and POLLOUT_SET), so a socket never connected is both at once, and
 * never exceptional. The sets are read a word at a time (FD_ISSET would
 * abort past FD_SETSIZE under _FORTIFY_SOURCE, and programs may pass
 * larger sets); only a number with a note is asked about.
 */
#define SET_WORD_BITS (8 * (int)sizeof(unsigned long))

struct select_answers {
	int n;
	struct {
		int fd;
		bool readable, writable; /* asked for */
	} at[POLL_ANSWERED_MAX];
};

static bool set_has(const fd_set *set, int fd)
{
	return set && (((const unsigned long *)set)[fd / SET_WORD_BITS] >> (fd % SET_WORD_BITS)) & 1;
}

static void set_put(fd_set *set, int fd, bool on)
{
	unsigned long bit = 1UL << (fd % SET_WORD_BITS);
	unsigned long *word = &((unsigned long *)set)[fd / SET_WORD_BITS];
	*word = on ? *word | bit : *word & ~bit;
}

static unsigned long set_word(const fd_set *set, int w)
{
	return set ? ((const unsigned long *)set)[w] : 0;
}

/* The never-connected numbers in the sets, taken out of them (into a). */
static void select_unconnected(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct select_answers *a)
{
	int top = nfds < TN_LIB_NOTED_FDS ? nfds : TN_LIB_NOTED_FDS;

	a->n = 0;
	for (int w = 0; w * SET_WORD_BITS < top && a->n < POLL_ANSWERED_MAX; w++) {
		unsigned long asked = set_word(rd, w) | set_word(wr, w) | set_word(ex, w);
		for (; asked && a->n < POLL_ANSWERED_MAX; asked &= asked - 1) {
			int fd = w * SET_WORD_BITS + __builtin_ctzl(asked);
			if (fd >= top || !polled_unconnected(fd))
				continue;
			a->at[a->n].fd = fd;
			a->at[a->n].readable = set_has(rd, fd);
			a->at[a->n].writable = set_has(wr, fd);
			a->n++;
			if (rd)
				set_put(rd, fd, false);
			if (wr)
				set_put(wr, fd, false);
			if (ex)
				set_put(ex, fd, false);
		}
	}
}

/* The answered numbers back in the sets, each counted once per set, as select counts. */
static int select_merge(int r, fd_set *rd, fd_set *wr, const struct select_answers *a)
{
	if (r < 0)
		return r;
	for (int k = 0; k < a->n; k++) {
		if (a->at[k].readable) {
			set_put(rd, a->at[k].fd, true);
			r++;
		}
		if (a->at[k].writable) {
			set_put(wr, a->at[k].fd, true);
			r++;
		}
	}
	return r;
}

EXPORT int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *timeout)
{
	struct timeval now = { 0, 0 };
	struct select_answers a;
	select_unconnected(nfds, rd, wr, ex, &a);
	return select_merge(get_select()(nfds, rd, wr, ex, a.n ? &now : timeout), rd, wr, &a);
}

EXPORT int pselect(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, const struct timespec *timeout,
		   const sigset_t *mask)
{
	static const struct timespec now = { 0, 0 };
	struct select_answers a;
	select_unconnected(nfds, rd, wr, ex, &a);
	return select_merge(get_pselect()(nfds, rd, wr, ex, a.n ? &now : timeout, mask), rd, wr, &a);
}

/*
 * Sockets inherited across exec: a tapnet socket among them was made by
 * another program, so no mark says that its write() goes as a send (see
 * tn_lib_note) and a reset would raise SIGPIPE one write early. At
 * load, before the program runs, every connected stream socket among the
 * open numbers is marked: a tapnet socket is one (an end of a pair), and
 * for any other such socket a write sent as a send with MSG_NOSIGNAL
 * answers the same (tn_lib_sent() raises the SIGPIPE the kernel would have).
 * Two getsockopt calls a socket, one for any other fd; the numbers come
 * from /proc/self/fd, and without /proc nothing is marked, as before.
 */
static bool connected_stream_socket(int fd)
{
	int type;
	socklen_t len = sizeof(type);
	struct ucred peer;

	if (MARKED(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
		return false;
	len = sizeof(peer);
	return MARKED(SYS_getsockopt, fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && peer.pid != 0;
}

static void mark_inherited_sockets(void)
{
	int dir = (int)syscall(SYS_open, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return;
	union {
		struct dirent64 align;
		char buf[4096];
	} u;
	ssize_t n;
	while ((n = getdents64(dir, u.buf, sizeof(u.buf))) > 0) {
		for (ssize_t at = 0; at < n;) {
			const struct dirent64 *e = (const struct dirent64 *)(u.buf + at);
			at += e->d_reclen;
			char *end;
			long fd = strtol(e->d_name, &end, 10);
			if (*end || end == e->d_name || fd < 0 || fd >= TN_LIB_NOTED_FDS || fd == dir)
				continue;
			if (connected_stream_socket((int)fd))
				tn_lib_note_socket((int)fd, TN_LIB_FD_SOCKET);
		}
	}
	syscall(SYS_close, dir); /* not the shim's close: no number of the program's */
}

__attribute__((constructor)) static void watch_fds(void)
{
	struct sigaction now;

	tn_lib_fds_watched = 1;
	mark_inherited_sockets();
	if (get_sigaction()(SIGPIPE, NULL, &now) == 0)
		note_sigpipe(SIGPIPE, act_ignores(&now));
}

/*
 * The control connection lives at an fd number the program does not know
 * of; libtapnet does not look at it before each call (that would cost a
 * system call each), so it learns here when the program closes that number
 * or puts something else there. Only the number's fate is noted; the call
 * is libc's.
 */
EXPORT int close(int fd)
{
	if (!tn_lib_busy)
		tn_lib_fd_closing(fd, fd);
	return get_close()(fd);
}

/*
 * A copy of a socket's number is the same socket: it takes the original's
 * notes (never connected, made here), so that a send or receive on it
 * answers as on the original, and its write() goes as a send.
 */
static int duplicated(int old, int new)
{
	if (new >= 0 && !tn_lib_busy)
		tn_lib_fd_duplicated(old, new);
	return new;
}

EXPORT int dup(int old)
{
	return duplicated(old, get_dup()(old));
}

EXPORT int dup2(int old, int new)
{
	if (!tn_lib_busy && old != new)
		tn_lib_fd_closing(new, new);
	int r = get_dup2()(old, new);
	return old != new ? duplicated(old, r) : r;
}

EXPORT int dup3(int old, int new, int flags)
{
	if (!tn_lib_busy && old != new)
		tn_lib_fd_closing(new, new);
	return duplicated(old, get_dup3()(old, new, flags));
}

/*
 * fcntl's F_DUPFD and F_DUPFD_CLOEXEC are dups too. Its third argument is
 * passed on as glibc's own fcntl takes it, a word whatever the command.
 * glibc has two names for it (fcntl64 where _FILE_OFFSET_BITS is 64, as
 * <fcntl.h> may redirect), so the definitions are named by assembler
 * label and no declaration of the header's is redefined.
 */
/*
 * fcntl(F_SETFL) and ioctl(FIONBIO) go marked, past `tapnet run`'s filter,
 * which hands over an unmarked one (it may make a placeholder non-blocking,
 * which the supervisor then makes tapnet's); a placeholder's unmarked.
 */
EXPORT int shim_ioctl(int fd, unsigned long request, ...) __asm__("ioctl");
EXPORT int shim_ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	va_start(ap, request);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (request == FIONBIO)
		return (int)PASSED_ON(SYS_ioctl, fd, request, arg, 0, 0);
	return get_ioctl()(fd, request, arg);
}

/* fcntl through real, glibc's: F_SETFL as ioctl's FIONBIO above, a dup noted. */
static int fcntl_with(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	if (cmd == F_SETFL)
		return (int)PASSED_ON(SYS_fcntl, fd, cmd, arg, 0, 0);
	int r = real(fd, cmd, arg);
	return cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC ? duplicated(fd, r) : r;
}

EXPORT int shim_fcntl(int fd, int cmd, ...) __asm__("fcntl");
EXPORT int shim_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_with(get_fcntl(), fd, cmd, arg);
}

EXPORT int shim_fcntl64(int fd, int cmd, ...) __asm__("fcntl64");
EXPORT int shim_fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_with(get_fcntl64() ? get_fcntl64() : get_fcntl(), fd, cmd, arg); /* glibc < 2.28 */
}

EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	if (!tn_lib_busy && !(flags & CLOSE_RANGE_CLOEXEC_FLAG) && first <= (unsigned)INT_MAX)
		tn_lib_fd_closing((int)first, last > (unsigned)INT_MAX ? INT_MAX : (int)last);
	return get_close_range()(first, last, flags);
}

EXPORT void closefrom(int lowfd)
{
	if (!tn_lib_busy)
		tn_lib_fd_closing(lowfd < 0 ? 0 : lowfd, INT_MAX);
	get_closefrom()(lowfd);
}
