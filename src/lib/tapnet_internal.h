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

#endif
