/*
 * tapnet_internal.h - what libtapnet shares with the LD_PRELOAD shim only.
 */
#ifndef TAPNET_INTERNAL_H
#define TAPNET_INTERNAL_H

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

#define TN_LIB_OPT_VERBOSE 0x1     /* say on stderr which sockets stay the kernel's, and why */
#define TN_LIB_OPT_KERNEL_IPV6 0x2 /* pure IPv6 sockets become the kernel's instead of failing */
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
int tn_lib_socket_cookie(int fd, uint64_t *cookie);
int tn_lib_setsockopt(int fd, uint64_t cookie, int level, int optname, const void *optval,
		      socklen_t optlen);
int tn_lib_getsockname(int fd, uint64_t cookie, struct sockaddr *addr, socklen_t *len);

/*
 * The program is about to close fds lo..hi (close, dup2 or dup3 over one,
 * close_range, closefrom): if the control connection's number is among
 * them, it is the program's again. Async-signal-safe.
 */
void tn_lib_fd_closing(int lo, int hi);
/* Set by the shim: closes are reported, libtapnet need not check its fd before each call. */
extern int tn_lib_fds_watched;

#endif
