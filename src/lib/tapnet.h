/*
 * <tapnet.h> - TCP sockets on tapnet, the user-space TCP/IP stack.
 *
 * A tapnet socket is a real file descriptor: read, write, send, recv, poll,
 * select, epoll, dup, fork and close are the kernel's own on it. The calls
 * below replace the socket API calls that need the stack; each returns what
 * its libc namesake returns and sets errno as the kernel would.
 *
 * TCP over IPv4: tapnet_socket(AF_INET or AF_INET6, SOCK_STREAM [|
 * SOCK_NONBLOCK | SOCK_CLOEXEC], 0 or IPPROTO_TCP). An AF_INET6 socket
 * speaks IPv4 through v4-mapped addresses (::ffff:a.b.c.d; [::] binds to
 * every IPv4 address unless IPV6_V6ONLY is set); a pure IPv6 address fails
 * (connect: ENETUNREACH, bind: EADDRNOTAVAIL). The daemon is reached at
 * $TAPNET_SOCKET as it was when the library was loaded or, when that is
 * unset, at tapnet_default_socket_path(). A process's control connection
 * is made on first use and again, at once, in the child of every fork().
 *
 * Where tapnet differs from a kernel socket:
 *  - after a reset by the peer, read() returns the data received before it
 *    and then 0 (end of file), not ECONNRESET; write() fails with EPIPE;
 *    getsockopt(SO_ERROR) reports ECONNRESET (ETIMEDOUT for a connection
 *    that timed out, the same way). tapnet_read(), tapnet_recv(),
 *    tapnet_send()... below answer as the kernel does: that end of file,
 *    or that EPIPE, becomes the error, once (under `tapnet run` the shim
 *    makes the program's own read() and send() do the same). Likewise a
 *    socket never connected: ENOTCONN and EPIPE (and SIGPIPE) at once,
 *    where read() and write() on it would wait.
 *  - SO_RCVTIMEO and SO_SNDTIMEO apply to the descriptor, as on Linux; the
 *    other options go to the stack.
 */
#ifndef TAPNET_H
#define TAPNET_H

#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

int tapnet_socket(int domain, int type, int protocol);
int tapnet_bind(int fd, const struct sockaddr *addr, socklen_t len);
int tapnet_listen(int fd, int backlog);
int tapnet_accept(int fd, struct sockaddr *addr, socklen_t *len);
int tapnet_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
/* Blocking: waits for the handshake. Non-blocking: EINPROGRESS, then POLLOUT and SO_ERROR. */
int tapnet_connect(int fd, const struct sockaddr *addr, socklen_t len);
int tapnet_shutdown(int fd, int how);
int tapnet_getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int tapnet_getpeername(int fd, struct sockaddr *addr, socklen_t *len);
int tapnet_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen);
int tapnet_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen);

/*
 * read, recv, recvmsg, write, send and sendmsg as on a kernel TCP socket:
 * ECONNRESET or ETIMEDOUT (once) where the connection ended so, instead of
 * end of file or EPIPE; on any other fd, what their libc namesakes return.
 * A clean end of file or EPIPE costs a request to tapnetd; data, none.
 * MSG_OOB is refused (EOPNOTSUPP: tapnet sends no urgent data).
 */
ssize_t tapnet_read(int fd, void *buf, size_t count);
ssize_t tapnet_recv(int fd, void *buf, size_t len, int flags);
ssize_t tapnet_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t tapnet_write(int fd, const void *buf, size_t count);
ssize_t tapnet_send(int fd, const void *buf, size_t len, int flags);
ssize_t tapnet_sendmsg(int fd, const struct msghdr *msg, int flags);

/* 1 if fd is a tapnet socket, 0 if not (any other fd, or no daemon). */
int tapnet_is_socket(int fd);

/* The control socket used when $TAPNET_SOCKET is unset. */
const char *tapnet_default_socket_path(void);

#ifdef __cplusplus
}
#endif

#endif
