/*
 * tapnet.c - libtapnet: the socket API on tapnet (see <tapnet.h>).
 *
 * A socket is one end B of a Unix socketpair; tapnetd holds the other end
 * A (src/daemon/sockets.h has the whole story). Control operations are
 * messages on this process's control connection, each carrying B itself
 * (SCM_RIGHTS) so the daemon knows which socket is meant, whatever fd
 * number, process or program holds it now; but a setsockopt whose outcome
 * is known here names B by its cookie and waits for no reply (see
 * nowait_option), and getsockname of an accepted socket is answered from
 * its accept record (the cache).
 *
 * The control connection is per process, made while the process still
 * has the credentials it started with and carried through fork and exec
 * (see "the control connection" below). One mutex serialises its use, so
 * every request that has a reply has it before the next goes out.
 *
 * Calls that the LD_PRELOAD shim interposes are made here with syscall()
 * or while tn_lib_busy is set (the shim then passes them to libc), so
 * that this file can be linked into the shim too.
 *
 * Thread-safe: every call holds one mutex across its request and reply
 * (ENTER/LEAVE below).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lib/tapnet.h"
#include "lib/tapnet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rpc/rpc.h"

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

#define CALL_TIMEOUT_MS 60000 /* a daemon that does not answer in this long is broken */
#define INHERIT_SCAN_MAX 4096 /* fds searched for an inherited control connection */
/*
 * Sockets (by SO_COOKIE) known to be, or not be, tapnet's: CACHE_SETS sets
 * of CACHE_WAYS, a cookie's set picked by a hash, so that a look-up reads
 * one set. A walk of all 256 entries, as it was, took 12 % of a program's
 * time making socket calls under `tapnet run` (bench/seccomp_calls, perf),
 * and a server makes several per request (nginx: two setsockopt).
 */
#define CACHE_SETS 64
#define CACHE_WAYS 4

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

/* A socket's family, marked on its pair's end (see family_mark) */
enum { MARK_INET = 0, MARK_INET6 = 3, MARK_INET6_ONLY = 4 }; /* IPV6_V6ONLY set */

__thread int tn_lib_busy;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t next_id = 1;
static uint8_t reply_buf[TN_RPC_MAX_MSG];
static uint8_t req_buf[1024];

static struct cache_entry {
	uint64_t cookie;       /* never reused while the system runs, unlike an inode */
	int8_t is_tapnet;
	/*
	 * The socket's own address (named) and its peer's (peer_named), from
	 * its accept record or from connect and its reply: neither changes
	 * while the connection lives.
	 */
	bool named, peer_named;
	bool listening; /* known to listen: a listener stays one (accept asks no more) */
	/*
	 * Whether its addresses are IPv6 ones (v4-mapped), once known: a
	 * socket's family never changes (IPV6_V6ONLY, which may, changes no
	 * address), so accept and the names need not read the mark again.
	 */
	bool family_known, inet6;
	uint16_t local_port, peer_port; /* network order */
	uint32_t local_addr, peer_addr; /* network order */
} cache[CACHE_SETS][CACHE_WAYS];
static uint8_t cache_victim[CACHE_SETS]; /* the way the next new cookie of the set takes */

/* ------------------------------------------------------------------ raw system calls */

/*
 * The socket calls below carry TN_SECCOMP_MARK in their sixth argument, which
 * these calls do not use: under `tapnet run`'s seccomp filter they are
 * libtapnet's own calls on its socket pairs and pass straight to the kernel.
 */
static ssize_t sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
	return syscall(SYS_sendmsg, fd, m, flags);
}

static ssize_t sys_recvmsg(int fd, struct msghdr *m, int flags)
{
	return syscall(SYS_recvmsg, fd, m, flags);
}

static int sys_setsockopt(int fd, int l, int o, const void *v, socklen_t n)
{
	return (int)tn_marked_syscall(SYS_setsockopt, fd, l, o, (long)v, n);
}

static int sys_getsockopt(int fd, int l, int o, void *v, socklen_t *n)
{
	return (int)tn_marked_syscall(SYS_getsockopt, fd, l, o, (long)v, (long)n);
}

/* Bytes written to the pair's end fd that the daemon has not taken: 0 exactly when none. */
static int sys_outq(int fd, int *n)
{
	return (int)syscall(SYS_ioctl, fd, SIOCOUTQ, n);
}

static int sys_shutdown(int fd, int how)
{
	return (int)tn_marked_syscall(SYS_shutdown, fd, how, 0, 0, 0);
}

/* ------------------------------------------------------------------ configuration */

/*
 * What the process was started with, captured when the library is loaded:
 * servers clear their environment (nginx's workers), chroot and drop
 * privileges long before their first socket call, and by then neither
 * $TAPNET_SOCKET nor the right to connect to it may be left.
 */
static char cfg_socket_path[108]; /* $TAPNET_SOCKET at load; "" when unset */
unsigned tn_lib_options;          /* TN_LIB_OPT_*, from $TAPNET_OPTIONS at load */

const char *tapnet_default_socket_path(void)
{
	return RUNSTATEDIR "/tapnet/tapnetd.sock";
}

static const char *socket_path(void)
{
	if (cfg_socket_path[0])
		return cfg_socket_path;
	const char *p = getenv(TN_LIB_SOCKET_ENV); /* set after load by a program of its own */
	return p && *p ? p : tapnet_default_socket_path();
}

static void close_keep_errno(int fd)
{
	int e = errno;

	close(fd);
	errno = e;
}

void tn_lib_say(const char *fmt, ...)
{
	char line[256] = "tapnet: ";
	const int prefix = 8;
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(line + prefix, sizeof(line) - prefix - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n += prefix;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	int e = errno;
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
	errno = e;
}

/* ------------------------------------------------------------------ the control connection */

/*
 * One control connection per process, made while the process still has
 * the credentials it started with (README.md, "Programs under tapnet run"):
 *
 *  - `tapnet run` connects before it execs the program and leaves the
 *    connection at a number named by $TAPNET_CTL_FD, not close-on-exec; the
 *    program adopts it when the library loads (exec keeps the pid).
 *  - fork: the child connects at once, in the atfork child handler, before
 *    the program's own code runs (and before it can setuid or chroot), and
 *    puts its own connection at the same number, so that an exec that
 *    follows finds it there too.
 *  - A connection is adopted only by the process that made it: its client
 *    end is bound to the abstract name "tapnet-ctl/PID/...", so a copy
 *    inherited without the fork handler (vfork, posix_spawn) is recognised
 *    and replaced rather than shared, which would mix two processes'
 *    replies on one stream.
 *
 *  - Nothing is checked on the way of a call: the connection is used until
 *    a call on it fails. Then it is made again (and the call sent once
 *    more) when tapnetd closed it without reading the request (an idle
 *    connection whose slot went to another); the shim tells when the
 *    program closes its number or puts an fd of its own there.
 *
 * The daemon authorises each connection by the credentials it had when it
 * connected; a process that drops privileges keeps what it had.
 */

static int ctl_fd = -1;
static pid_t my_pid;        /* this process: set at load and in the fork handler */
static pid_t ctl_pid;       /* the process that made ctl_fd */
static int ctl_pinned = -1; /* the fd number the connection lives at across fork and exec */
/*
 * The program closed ctl_fd's number (close, dup2 over it, close_range: the
 * shim tells, see tn_lib_fd_closing): the number is no longer ours, and may
 * already be something else of the program's.
 */
static volatile sig_atomic_t ctl_closed_by_program;
int tn_lib_fds_watched; /* the shim reports closes (tn_lib_fd_closing); else fstat per call */
/* A new socket for the next socket() (see spare_take): its number, cookie and process. */
static int spare_fd = -1;
static uint64_t spare_cookie;
static pid_t spare_pid;
static unsigned sockets_made; /* by socket() in this process: spares from SPARE_AFTER_SOCKETS on */
#ifndef TN_LIB_SUPERVISOR
static void spare_drop_copy(void);
#endif

/* Only where a call failed: fd still the connection it was? */
static dev_t ctl_dev;
static ino_t ctl_ino;

static bool ctl_still_ours(void)
{
	struct stat st;

	return !ctl_closed_by_program && fstat(ctl_fd, &st) == 0 && st.st_dev == ctl_dev &&
	       st.st_ino == ctl_ino;
}

/*
 * The option ring (rpc.h, TN_RPC_OPTION_RING): SETSOCKOPT_NOWAIT requests
 * written into memory shared with tapnetd instead of sent. A server that
 * corks and uncorks around every response (nginx's tcp_nopush) made two
 * such requests per request it served, each a sendmsg and, with tapnetd
 * asleep, its wakeup; now each is a copy into memory, and a message only
 * when tapnetd says it may be asleep (sleeping), when the ring is full,
 * or when its connection went away meanwhile (the request is then sent
 * on the new one). The ring belongs to the control connection: a new
 * connection (after fork, or a lost one) starts without. It is made at
 * the RING_AFTER_OPTIONS-th such request on a connection (a memfd, an
 * mmap and a request: more than a program that sets one option pays
 * for the rest of its life), never by a program under a seccomp filter
 * other than `tapnet run`'s (memfd_create may be what it kills for; see
 * filters_allow_ring).
 */
#define RING_AFTER_OPTIONS 8
static struct tn_optring *ring;   /* on ctl_fd's connection; NULL: none */
static uint32_t ring_tail;        /* what this process wrote (the daemon never writes tail) */
static unsigned ring_options;     /* SETSOCKOPT_NOWAIT sent as messages on this connection */
static bool ring_refused;         /* the kernel or tapnetd said no: messages for good */
static unsigned ctl_generation;   /* connections made by this process: one more per ctl_install */
static _Atomic bool ring_forbidden;

static int filters_at_start = -1; /* $TAPNET_SECCOMP_FILTERS, read when the library loads */

void tn_lib_confined(bool confined)
{
	atomic_store_explicit(&ring_forbidden, confined, memory_order_relaxed);
}

int tn_lib_seccomp_filters(void)
{
	char buf[2048];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close_keep_errno(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *line = strstr(buf, "\nSeccomp_filters:");
	if (line)
		return atoi(line + strlen("\nSeccomp_filters:"));
	line = strstr(buf, "\nSeccomp:"); /* before Linux 5.9: 0 says none */
	return line && atoi(line + strlen("\nSeccomp:")) == 0 ? 0 : -1;
}

/*
 * A filter the program is under beyond `tapnet run`'s own may kill it for
 * the calls a ring takes (memfd_create, mmap...): one installed by this
 * image the shim sees (ring_forbidden), one inherited across an exec
 * only this count shows. Unknown (no $TAPNET_SECCOMP_FILTERS, cleared with
 * the environment), only a process under no filter at all makes one.
 */
static bool filters_allow_ring(void)
{
	if (atomic_load_explicit(&ring_forbidden, memory_order_relaxed))
		return false;
	int now = tn_lib_seccomp_filters();
	return now == 0 || (now > 0 && filters_at_start >= 0 && now <= filters_at_start);
}

static void ring_drop(void)
{
	if (ring)
		munmap(ring, TN_OPTRING_SIZE);
	ring = NULL;
	ring_options = 0;
}

static void ctl_forget(void)
{
	ring_drop();
	ctl_fd = -1;
	ctl_pinned = -1;
	ctl_closed_by_program = 0;
}

static struct tn_lib_note first_note_page[TN_LIB_NOTE_PAGE];
struct tn_lib_note *_Atomic tn_lib_note_pages[TN_LIB_NOTED_FDS / TN_LIB_NOTE_PAGE] = { first_note_page };

struct tn_lib_note *tn_lib_note_make(int fd)
{
	struct tn_lib_note *n = tn_lib_note(fd);
	if (n || fd < 0 || fd >= TN_LIB_NOTED_FDS)
		return n;
	/* mmap, not malloc: callers may be in a signal handler or a vfork child */
	size_t size = TN_LIB_NOTE_PAGE * sizeof(struct tn_lib_note);
	struct tn_lib_note *page = mmap(NULL, size, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		return NULL;
	struct tn_lib_note *none = NULL;
	if (!atomic_compare_exchange_strong_explicit(&tn_lib_note_pages[fd / TN_LIB_NOTE_PAGE], &none,
						     page, memory_order_acq_rel, memory_order_acquire))
		munmap(page, size); /* another thread mapped it first */
	return tn_lib_note(fd);
}

void tn_lib_note_socket(int fd, unsigned char what)
{
	struct tn_lib_note *n = what ? tn_lib_note_make(fd) : tn_lib_note(fd);
	if (n)
		atomic_store_explicit(&n->socket, what, memory_order_relaxed);
}

void tn_lib_note_cookie(int fd, uint64_t cookie)
{
	struct tn_lib_note *n = cookie ? tn_lib_note_make(fd) : tn_lib_note(fd);
	if (n)
		atomic_store_explicit(&n->cookie, cookie, memory_order_relaxed);
}

/* fd, whose cookie this is, is a socket never connected, or one whose connect failed. */
static void note_unconnected(int fd, uint64_t cookie)
{
	struct tn_lib_note *n = cookie ? tn_lib_note_make(fd) : tn_lib_note(fd);
	if (n)
		atomic_store_explicit(&n->unconnected, cookie, memory_order_relaxed);
}

/*
 * The first number from n up to top whose page of notes is mapped, or
 * top + 1: a page never mapped holds no note, and a walk over every number
 * (close_range(3, ~0U), a common way to start a child) skips it whole.
 */
static int noted_from(int n, int top)
{
	while (n <= top && !tn_lib_note(n))
		n = (n / TN_LIB_NOTE_PAGE + 1) * TN_LIB_NOTE_PAGE;
	return n;
}

void tn_lib_fd_closing(int lo, int hi)
{
	int fd = ctl_fd;

	/* a vfork child's closes clear notes of ours too: a lost note costs nothing */
	int top = hi < TN_LIB_NOTED_FDS ? hi : TN_LIB_NOTED_FDS - 1;
	for (int n = noted_from(lo < 0 ? 0 : lo, top); n <= top; n = noted_from(n + 1, top)) {
		struct tn_lib_note *note = tn_lib_note(n);
		atomic_store_explicit(&note->unconnected, 0, memory_order_relaxed);
		atomic_store_explicit(&note->cookie, 0, memory_order_relaxed);
		atomic_store_explicit(&note->socket, 0, memory_order_relaxed);
	}

	/* not the child of a vfork, which shares our memory but not our fds */
	if (fd >= 0 && fd >= lo && fd <= hi && (pid_t)syscall(SYS_getpid) == my_pid)
		ctl_closed_by_program = 1;
	int spare = spare_fd;
	if (spare >= lo && spare <= hi && (pid_t)syscall(SYS_getpid) == spare_pid)
		spare_fd = -1; /* the program's close takes it */
}

void tn_lib_fd_duplicated(int old, int new)
{
	/* a dup is the same socket: its cookie, so the note stays valid for it */
	note_unconnected(new, tn_lib_noted_unconnected(old));
	tn_lib_note_cookie(new, tn_lib_noted_cookie(old));
	tn_lib_note_socket(new, tn_lib_noted_socket(old));
}

/* A new control connection for this process, HELLO done; -1 with errno. */
static int ctl_connect(void)
{
	char name[64] = "";
	int cfd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC); /* our name for the daemon's log */

	if (cfd >= 0) {
		ssize_t k = read(cfd, name, sizeof(name) - 1);
		name[k > 0 ? k : 0] = '\0';
		name[strcspn(name, "\n")] = '\0';
		close(cfd);
	}
	return tn_rpc_connect_program(socket_path(), name, CALL_TIMEOUT_MS);
}

/* Makes fd this process's connection, at the pinned number if there is one. */
static void ctl_install(int fd)
{
	struct stat st;

	if (ctl_pinned >= 0 && fd != ctl_pinned) {
		if (dup3(fd, ctl_pinned, 0) == ctl_pinned) { /* inherited over exec, on purpose */
			close(fd);
			fd = ctl_pinned;
		} else {
			ctl_pinned = -1;
		}
	}
	ring_drop(); /* the last connection's */
	ctl_generation++;
	ctl_fd = fd;
	ctl_pid = my_pid;
	ctl_closed_by_program = 0;
	if (fstat(fd, &st) == 0) {
		ctl_dev = st.st_dev;
		ctl_ino = st.st_ino;
	}
}

/*
 * With the lock held: the control connection of this process, or -1.
 * Under the shim nothing is checked here, on the way of every call (a
 * program linked with libtapnet gets an fstat): a connection stays
 * ours until the program closes its number (the shim sees that), a fork
 * gives the child its own (atfork_child) and an exec is checked when the
 * library loads. What else can happen to it shows when a call on it fails
 * (conn_lost): tapnetd closed an idle connection or stopped, or a program
 * closed the number behind libc's back.
 */
static int conn_get(void)
{
	if (ctl_closed_by_program || (!tn_lib_fds_watched && ctl_fd >= 0 && !ctl_still_ours()))
		ctl_forget(); /* the number may be in use again: not ours to close */
	if (ctl_fd >= 0 && ctl_pid == my_pid)
		return ctl_fd;
	ctl_fd = -1;
	int fd = ctl_connect();
	if (fd < 0)
		return -1;
	ctl_install(fd);
	return ctl_fd;
}

/*
 * A call on the connection failed: it is over. Closed if it still is what we
 * made (its number stays pinned for the next one), else forgotten.
 */
static void conn_lost(void)
{
	if (ctl_fd >= 0 && ctl_still_ours()) {
		ring_drop();
		close(ctl_fd);
		ctl_fd = -1;
	} else {
		ctl_forget();
	}
}

static void conn_drop(void)
{
	if (ctl_fd >= 0 && ctl_still_ours())
		close(ctl_fd);
	ctl_forget();
}

void tn_lib_supervisor_init(const char *path, unsigned options)
{
	if (path && strlen(path) < sizeof(cfg_socket_path))
		strcpy(cfg_socket_path, path);
	tn_lib_options = options;
}

int tn_lib_reset_watch(void)
{
	uint8_t req[TN_RPC_HDR_LEN], reply[256];
	struct tn_rpc_writer w;
	struct tn_rpc_header hdr;
	int fd = tn_rpc_connect_program(socket_path(), "resets", CALL_TIMEOUT_MS);

	if (fd < 0)
		return -1;
	tn_rpc_begin(&w, req, sizeof(req), TN_RPC_RESETS, 1);
	long len = tn_rpc_end(&w);
	long r = len < 0 ? -1 : tn_rpc_call(fd, req, (size_t)len, reply, sizeof(reply), CALL_TIMEOUT_MS);
	if (r < 0 || tn_rpc_parse_header(reply, (size_t)r, &hdr) != TN_RPC_OK ||
	    hdr.type != (TN_RPC_RESETS | TN_RPC_REPLY)) {
		int err = errno, e;
		char text[128];
		if (r >= 0)
			err = tn_rpc_decode_error(reply, (size_t)r, &e, text, sizeof(text)) ? e : EPROTO;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

int tn_lib_reset_notice(int fd, uint64_t *cookie)
{
	uint8_t msg[256];
	struct tn_rpc_header hdr;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	long len = tn_rpc_recv_msg(fd, msg, sizeof(msg), CALL_TIMEOUT_MS);

	if (len < 0)
		return -1;
	if (tn_rpc_parse_header(msg, (size_t)len, &hdr) != TN_RPC_OK ||
	    hdr.type != (TN_RPC_RESET_NOTICE | TN_RPC_REPLY))
		return 0;
	tn_rpc_iter_msg(&it, msg, (size_t)len);
	while (tn_rpc_next(&it, &a))
		if (a.type == TN_ATTR_COOKIE && tn_rpc_get_u64(&a, cookie))
			return 1;
	return 0;
}

#ifndef TN_LIB_SUPERVISOR
/* ---- what a process under `tapnet run` does when it loads the library */

static void atfork_prepare(void)
{
	tn_lib_busy++;
	pthread_mutex_lock(&lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&lock);
	tn_lib_busy--;
}

/* In the child, before the program's code runs: a connection of its own. */
static void atfork_child(void)
{
	my_pid = getpid();
	spare_drop_copy();
	if (ctl_fd >= 0 && ctl_still_ours()) {
		int inherited = ctl_fd;
		int fd = ctl_connect();
		if (fd >= 0) {
			ctl_install(fd); /* over the inherited copy when pinned */
			if (ctl_fd != inherited)
				close(inherited);
		} else {
			close(inherited);
			ctl_forget();
		}
	} else {
		ctl_forget();
	}
	pthread_mutex_unlock(&lock);
	tn_lib_busy--;
}

/*
 * The control connection this process was handed: at $TAPNET_CTL_FD, or, if
 * the program cleared its environment before an exec, found among the open
 * fds by its name. -1 if none.
 */
static int inherited_connection(const char *env)
{
	if (env && *env) {
		char *end;
		long n = strtol(env, &end, 10);
		if (*end || n < 0 || n > INT32_MAX)
			return -1;
		return tn_rpc_program_conn_pid((int)n) ? (int)n : -1;
	}
	struct rlimit rl;
	int max = INHERIT_SCAN_MAX;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
		max = (int)rl.rlim_cur;
	for (int fd = STDERR_FILENO + 1; fd < max; fd++)
		if (fcntl(fd, F_GETFD) >= 0 && tn_rpc_program_conn_pid(fd) == getpid())
			return fd;
	return -1;
}

/* The daemon's control socket as fd's peer name, if the configuration did not say it. */
static void daemon_path_of(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);

	if (tn_marked_syscall(SYS_getpeername, fd, (long)&sun, (long)&len, 0, 0) == 0 &&
	    sun.sun_family == AF_UNIX &&
	    len > offsetof(struct sockaddr_un, sun_path) + 1 && sun.sun_path[0] == '/' &&
	    len - offsetof(struct sockaddr_un, sun_path) <= sizeof(cfg_socket_path)) {
		size_t n = len - offsetof(struct sockaddr_un, sun_path);
		memcpy(cfg_socket_path, sun.sun_path, n);
		cfg_socket_path[n < sizeof(cfg_socket_path) ? n : sizeof(cfg_socket_path) - 1] = '\0';
	}
}

__attribute__((constructor)) static void tn_lib_load(void)
{
	const char *p = getenv(TN_LIB_SOCKET_ENV);

	if (p && *p && strlen(p) < sizeof(cfg_socket_path))
		strcpy(cfg_socket_path, p);
	p = getenv(TN_LIB_FILTERS_ENV);
	if (p && *p >= '0' && *p <= '9')
		filters_at_start = atoi(p);
	p = getenv(TN_LIB_OPTIONS_ENV);
	if (p) {
		tn_lib_options |= strstr(p, "verbose") ? TN_LIB_OPT_VERBOSE : 0;
		tn_lib_options |= strstr(p, "kernel-ipv6") ? TN_LIB_OPT_KERNEL_IPV6 : 0;
		tn_lib_options |= strstr(p, "kernel-loopback") ? TN_LIB_OPT_KERNEL_LOOPBACK : 0;
	}
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	my_pid = getpid();

	tn_lib_busy++; /* getsockname and the rest: the kernel's, not the shim's */
	pthread_mutex_lock(&lock);
	int fd = inherited_connection(getenv(TN_LIB_CTL_FD_ENV));
	if (fd < 0)
		goto out;
	pid_t owner = tn_rpc_program_conn_pid(fd);
	if (!cfg_socket_path[0])
		daemon_path_of(fd); /* the environment is gone: the connection knows where it leads */
	ctl_pinned = fd;
	if (owner == my_pid) {
		ctl_install(fd);
	} else {
		/* another process's, inherited without the fork handler: ours instead */
		int mine = ctl_connect();
		if (mine >= 0) {
			ctl_install(mine);
		} else {
			close(fd);
			ctl_forget();
		}
	}
out:
	pthread_mutex_unlock(&lock);
	tn_lib_busy--;
}
#endif

/*
 * A send that failed this way found the connection over before the daemon
 * read the request (tapnetd closed it, idle, or the number is no longer a
 * connection of ours): the request may go again on a new one.
 */
static bool conn_gone(int err)
{
	return err == EPIPE || err == ECONNRESET || err == ENOTCONN || err == EBADF ||
	       err == ENOTSOCK || err == EDESTADDRREQ;
}

/*
 * With the lock held: sends the len bytes of buf (fds attached) on this
 * process's connection, made or made again as needed. 0, or -1 with errno.
 */
static int send_req(const uint8_t *buf, long len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 2)];
	} cbuf;

	if (len < 0 || nfds > 2) {
		errno = EINVAL;
		return -1;
	}
	for (int attempt = 0;; attempt++) {
		int fd = conn_get();
		if (fd < 0)
			return -1;
		struct iovec iov = { (void *)buf, (size_t)len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (nfds) {
			msg.msg_control = cbuf.buf;
			msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		ssize_t n;
		do
			n = sys_sendmsg(fd, &msg, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			int e = errno;
			conn_lost();
			if (attempt == 0 && conn_gone(e))
				continue; /* nothing of it went: again, on a new connection */
			errno = (e == EPIPE) ? ECONNRESET : e;
			return -1;
		}
		if (n < len && tn_rpc_send_msg(fd, buf + n, (size_t)(len - n), CALL_TIMEOUT_MS) < 0) {
			conn_drop();
			return -1;
		}
		return 0;
	}
}

/*
 * With the lock held: sends the request in w (fds attached to its bytes)
 * and waits for its reply in reply_buf. Returns the reply's length, or -1
 * with errno: the daemon's error for this request, or what went wrong.
 * With passed, the fd that came with a successful reply is left there
 * (-1 if none).
 */
static long call_fd(struct tn_rpc_writer *w, const int *fds, unsigned nfds, int *passed)
{
	struct tn_rpc_header hdr;
	long len = tn_rpc_end(w);

	if (len < 0) {
		errno = EINVAL;
		return -1;
	}
	tn_rpc_parse_header(w->buf, (size_t)len, &hdr);
	int got_fd = -1;
	long r = -1;
	for (int attempt = 0; r < 0; attempt++) {
		if (send_req(w->buf, len, fds, nfds) < 0)
			return -1;
		r = tn_rpc_recv_msg_fd(ctl_fd, reply_buf, sizeof(reply_buf), CALL_TIMEOUT_MS, &got_fd);
		if (r >= 0)
			break;
		int e = errno;
		/*
		 * End-of-file before any reply: tapnetd closed the connection (an
		 * idle one whose slot went to another) without reading the request
		 * that reached it meanwhile. Once more on a new connection; a
		 * daemon that is gone refuses that one.
		 */
		if (attempt > 0 || e != ECONNRESET) {
			conn_drop();
			errno = e;
			return -1;
		}
		conn_lost();
	}
	if (passed)
		*passed = got_fd;
	else if (got_fd >= 0)
		close(got_fd);
	struct tn_rpc_header rh;
	tn_rpc_parse_header(reply_buf, (size_t)r, &rh);
	if (passed && *passed >= 0 &&
	    ((rh.type & ~TN_RPC_REPLY) == TN_RPC_ERROR || rh.id != hdr.id)) {
		close(*passed);
		*passed = -1;
	}
	if ((rh.type & ~TN_RPC_REPLY) == TN_RPC_ERROR) {
		int err;
		char text[128];
		if (!tn_rpc_decode_error(reply_buf, (size_t)r, &err, text, sizeof(text)))
			err = EPROTO;
		if (rh.id == TN_RPC_CONNECTION_ID)
			conn_drop();
		errno = err;
		return -1;
	}
	if (rh.id != hdr.id || rh.type != (hdr.type | TN_RPC_REPLY)) {
		conn_drop();
		errno = EPROTO;
		return -1;
	}
	return r;
}

static long call(struct tn_rpc_writer *w, const int *fds, unsigned nfds)
{
	return call_fd(w, fds, nfds, NULL);
}

static void begin(struct tn_rpc_writer *w, uint16_t type)
{
	tn_rpc_begin(w, req_buf, sizeof(req_buf), type, next_id++);
	if (next_id == TN_RPC_CONNECTION_ID)
		next_id++;
}

/* ------------------------------------------------------------------ which fds are ours */

/* The socket's cookie; -1 (ENOTSOCK) for anything but a socket. */
static int fd_ident(int fd, uint64_t *cookie)
{
	socklen_t len = sizeof(*cookie);

	if (sys_getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) < 0)
		return -1;
	return 0;
}

static unsigned cache_set(uint64_t cookie)
{
	/* cookies count up from 1: a multiplicative hash spreads neighbours over the sets */
	return (unsigned)((cookie * 0x9e3779b97f4a7c15ULL) >> 58) % CACHE_SETS;
}

/* cookie's entry, or NULL (0 is no cookie: never found). */
static struct cache_entry *cache_lookup(uint64_t cookie)
{
	struct cache_entry *set = cache[cache_set(cookie)];

	for (unsigned w = 0; w < CACHE_WAYS && cookie; w++)
		if (set[w].cookie == cookie)
			return &set[w];
	return NULL;
}

/* cookie's entry, made (in place of its set's oldest) if there is none. */
static struct cache_entry *cache_put(uint64_t cookie, bool yes)
{
	struct cache_entry *e = cache_lookup(cookie);

	if (!e) {
		unsigned set = cache_set(cookie);
		e = &cache[set][cache_victim[set]];
		cache_victim[set] = (uint8_t)((cache_victim[set] + 1) % CACHE_WAYS);
		*e = (struct cache_entry){ .cookie = cookie };
	}
	e->is_tapnet = yes;
	return e;
}

/*
 * A connection's names, all in network order: getsockname and getpeername
 * need no daemon (the cache survives fork and dup).
 */
static void cache_put_names(int fd, uint32_t local_addr, uint16_t local_port, uint32_t peer_addr,
			    uint16_t peer_port, int mark)
{
	uint64_t cookie;

	if (fd_ident(fd, &cookie) < 0)
		return;
	struct cache_entry *e = cache_put(cookie, true);
	e->named = e->peer_named = true;
	e->family_known = true;
	e->inet6 = mark != MARK_INET;
	e->local_addr = local_addr;
	e->local_port = local_port;
	e->peer_addr = peer_addr;
	e->peer_port = peer_port;
}

/*
 * B's poll events say, without a request, that it is writable and that
 * tapnetd has neither closed nor shut its end: the connection (or the
 * socket not yet connected) stands without an error. tapnetd closes or
 * shuts its end first whenever there is an error to report.
 */
static bool pair_revents_clean(short revents)
{
	return (revents & ~POLLIN) == POLLOUT;
}

/* B as the daemon left it now: 1 when clean (pair_revents_clean), 0 when only tapnetd can say. */
static int pair_clean(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT | POLLRDHUP };

	return poll(&p, 1, 0) == 1 && pair_revents_clean(p.revents);
}

/*
 * B says, without a request, that tapnetd holds no error for the socket:
 * it closes its end, or shuts it both ways, before it has one to report,
 * and a peer's FIN only shuts its write side (POLLRDHUP, not POLLHUP). So
 * the end-of-file of an orderly close, read by the shim at every such
 * end, costs no request; a hang-up asks tapnetd (the reset's ECONNRESET,
 * or nothing: the program shut its own side too).
 */
static bool pair_no_error(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };
	int n = poll(&p, 1, 0);

	return n == 0 || (n == 1 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL)));
}

static void cache_put_fd(int fd, bool yes)
{
	uint64_t cookie;

	if (fd_ident(fd, &cookie) == 0)
		cache_put(cookie, yes);
}

/* With the lock held: cookie's entry, marked as a listener's. */
static struct cache_entry *cache_mark_listening(uint64_t cookie)
{
	struct cache_entry *e = cache_put(cookie, true);

	e->listening = true;
	return e;
}

static int cache_get(uint64_t cookie)
{
	const struct cache_entry *e = cache_lookup(cookie);

	return e ? e->is_tapnet : -1;
}

/* With the lock held: fd is a tapnet socket (1) or not (0); its cookie in *cookie when it is. */
static int is_socket_locked(int fd, uint64_t *cookie_out)
{
	uint64_t cookie;
	int v;
	socklen_t len = sizeof(v);

	if (fd_ident(fd, &cookie) < 0)
		return 0;
	/* a cookie names one socket for as long as the system runs: what it was, it is */
	int known = cache_get(cookie);
	if (known >= 0) {
		*cookie_out = cookie;
		return known;
	}
	if (sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 || v != AF_UNIX)
		return 0;
	len = sizeof(v);
	if (sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != SOCK_STREAM)
		return 0;
	struct ucred cred;
	len = sizeof(cred);
	if (sys_getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid == 0)
		return 0; /* not connected: no pair end of ours */
	/* ask the daemon: SO_TYPE works on every socket it knows */
	struct tn_rpc_writer w;
	int saved = errno;
	begin(&w, TN_RPC_GETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, SOL_SOCKET);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, SO_TYPE);
	tn_rpc_put_u32(&w, TN_ATTR_OPTLEN, sizeof(int));
	long r = call(&w, &fd, 1);
	int yes = r >= 0;
	if (r >= 0 || errno == ENOTSOCK)
		cache_put(cookie, yes);
	errno = saved;
	*cookie_out = cookie;
	return yes;
}

int tn_lib_socket_cookie(int fd, uint64_t *cookie)
{
	tn_lib_busy++;
	pthread_mutex_lock(&lock);
	int r = is_socket_locked(fd, cookie);
	pthread_mutex_unlock(&lock);
	tn_lib_busy--;
	return r;
}

bool tn_lib_placeholder(int fd)
{
	int saved = errno, mark = 0, proto = 0;
	socklen_t len = sizeof(mark);
	struct sockaddr_in6 name; /* an AF_INET one's port is at the same place */
	bool is = false;

	/* the mark, unless a program set it on a socket of its own: not TCP, or bound */
	if (sys_getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &mark, &len) == 0 &&
	    mark == TN_PLACEHOLDER_MARK) {
		len = sizeof(proto);
		if (sys_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 &&
		    proto == IPPROTO_TCP) {
			len = sizeof(name);
			is = tn_marked_syscall(SYS_getsockname, fd, (long)&name, (long)&len, 0, 0) == 0 &&
			     name.sin6_port == 0;
		}
	}
	errno = saved;
	return is;
}

int tapnet_is_socket(int fd)
{
	uint64_t cookie;

	return tn_lib_socket_cookie(fd, &cookie);
}

/* ------------------------------------------------------------------ sockets never connected */

/*
 * A new socket's pair is kept unwritable until a connect ends (tapnetd
 * fills its send buffer, so that POLLOUT means connected), and tapnetd
 * writes nothing to it before: a send or receive on a socket that was
 * never connected would wait for ever, where Linux answers at once with
 * EPIPE (and SIGPIPE) or ENOTCONN, as it does on a listener. The shim asks
 * here before such a call on a number noted as unconnected (tn_lib_note). The
 * note says only where to ask: its cookie must still be the fd's (else the
 * number was closed behind the shim's back and reused), and tapnetd's
 * state must still be CLOSE or LISTEN (else another process sharing the
 * socket has connected it since). Either way a stale note goes.
 */
int tn_lib_never_connected(int fd)
{
	struct tn_lib_note *note = tn_lib_note(fd);
	uint64_t noted = note ? atomic_load_explicit(&note->unconnected, memory_order_relaxed) : 0;
	uint64_t cookie;
	if (!noted)
		return 0;
	int saved = errno;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int never = fd_ident(fd, &cookie) == 0 && cookie == noted &&
		    tapnet_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
		    len >= offsetof(struct tcp_info, tcpi_state) + sizeof(ti.tcpi_state) &&
		    (ti.tcpi_state == TCP_CLOSE || ti.tcpi_state == TCP_LISTEN);
	if (!never)
		atomic_compare_exchange_strong(&note->unconnected, &noted, 0);
	errno = saved;
	return never;
}

/* ------------------------------------------------------------------ reads and sends that say how a connection ended */

/*
 * The Unix socket pair can say only end-of-file (and, once, ECONNRESET when
 * the daemon's end closes with bytes unread, which the daemon alone cannot
 * arrange: see <tapnet.h>). So a read that finds end-of-file on a tapnet
 * socket, and a send that gets EPIPE, ask tapnetd whether the connection
 * ended in an error not yet reported (SO_ERROR, read and so cleared, as
 * Linux gives a pending error once): a reset (ECONNRESET), a timeout
 * (ETIMEDOUT), a refused connect. A clean end costs that one request. The
 * shim makes the program's read/recv/send go through these; a program on
 * libtapnet calls tapnet_read, tapnet_recv, tapnet_send... itself.
 */

int tn_lib_ours_cookie(int fd, uint64_t *cookie)
{
	if (tn_lib_busy)
		return 0;
	int saved = errno;
	int ours = tn_lib_socket_cookie(fd, cookie);
	errno = saved;
	return ours;
}

/* The error tapnet socket fd's connection ended in, not yet reported (SO_ERROR, so cleared); 0. */
static int pending_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	return tapnet_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err > 0 ? err : 0;
}

ssize_t tn_lib_eof_or_error(int fd, ssize_t n, size_t want)
{
	if (n != 0 || want == 0 || !tn_lib_ours(fd))
		return n;
	int err = pending_error(fd);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/*
 * A send that failed with EPIPE: tapnetd closed its end because the
 * connection ended. If it ended in an error not yet reported, the send
 * reports that instead, as Linux gives a pending error to the next send.
 */
ssize_t tn_lib_epipe_or_error(int fd, ssize_t n)
{
	if (n >= 0 || errno != EPIPE || !tn_lib_ours(fd))
		return n;
	int err = pending_error(fd);
	errno = err ? err : EPIPE;
	return -1;
}

/*
 * Linux raises SIGPIPE only with EPIPE: the send that reports a reset gets
 * ECONNRESET and no signal, and a program that does not ignore SIGPIPE
 * lives to see it. The kernel's send_sig is to the calling thread, as
 * raise() is.
 */
ssize_t tn_lib_sent(int fd, ssize_t n, int flags)
{
	n = tn_lib_epipe_or_error(fd, n);
	if (n < 0 && errno == EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return n;
}

bool tn_lib_unconnected(int fd)
{
	return tn_lib_noted_unconnected(fd) && !tn_lib_busy && tn_lib_never_connected(fd);
}

bool tn_lib_send_unconnected(int fd, int flags)
{
	if (!tn_lib_unconnected(fd))
		return false;
	if (!(flags & MSG_NOSIGNAL))
		raise(SIGPIPE); /* the kernel's send_sig: to this thread */
	errno = EPIPE;
	return true;
}

bool tn_lib_recv_unconnected(int fd)
{
	if (!tn_lib_unconnected(fd))
		return false;
	errno = ENOTCONN;
	return true;
}

/*
 * MSG_OOB: the socket pair would take the byte as its own out-of-band
 * byte, which tapnetd's reads of the pair pass over, and it would be lost
 * without a word. tapnet sends no urgent data (it takes the urgent data
 * it receives inline, as SO_OOBINLINE does), and says so, as lwIP and
 * gVisor do. Only a call with the flag pays the look-up.
 */
bool tn_lib_send_oob_refused(int fd, int flags)
{
	if (!(flags & MSG_OOB) || !tn_lib_ours(fd))
		return false;
	errno = EOPNOTSUPP;
	return true;
}

/* The calls themselves with syscall(): this file is linked into the shim, which interposes libc's. */
ssize_t tapnet_read(int fd, void *buf, size_t count)
{
	if (tn_lib_recv_unconnected(fd))
		return -1;
	return tn_lib_eof_or_error(fd, syscall(SYS_read, fd, buf, count), count);
}

ssize_t tapnet_recv(int fd, void *buf, size_t len, int flags)
{
	if (tn_lib_recv_unconnected(fd))
		return -1;
	return tn_lib_eof_or_error(fd, syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL), len);
}

ssize_t tapnet_recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (tn_lib_recv_unconnected(fd))
		return -1;
	size_t want = msg ? tn_lib_iov_len(msg->msg_iov, msg->msg_iovlen) : 0;
	return tn_lib_eof_or_error(fd, syscall(SYS_recvmsg, fd, msg, flags), want);
}

ssize_t tapnet_send(int fd, const void *buf, size_t len, int flags)
{
	if (tn_lib_send_oob_refused(fd, flags) || tn_lib_send_unconnected(fd, flags))
		return -1;
	return tn_lib_sent(fd, syscall(SYS_sendto, fd, buf, len, flags | MSG_NOSIGNAL, NULL, 0), flags);
}

ssize_t tapnet_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (tn_lib_send_oob_refused(fd, flags) || tn_lib_send_unconnected(fd, flags))
		return -1;
	return tn_lib_sent(fd, syscall(SYS_sendmsg, fd, msg, flags | MSG_NOSIGNAL), flags);
}

/* write() on a stream socket is send() with no flags; on anything else, write() itself. */
ssize_t tapnet_write(int fd, const void *buf, size_t count)
{
	if (tn_lib_send_unconnected(fd, 0))
		return -1;
	ssize_t n = syscall(SYS_sendto, fd, buf, count, MSG_NOSIGNAL, NULL, 0);
	if (n < 0 && errno == ENOTSOCK)
		return syscall(SYS_write, fd, buf, count);
	return tn_lib_sent(fd, n, 0);
}

/* ------------------------------------------------------------------ IPv4, and IPv6 sockets that speak it */

/*
 * tapnet speaks IPv4 only, but programs open AF_INET6 sockets and reach IPv4
 * peers through v4-mapped addresses (::ffff:a.b.c.d): Java does by default,
 * and so does any server listening on [::]. Such a socket is a tapnet socket
 * like the others; only its addresses look different, and that is the
 * client's business. Its family is marked on B itself, as B's SO_PRIORITY:
 * meaningless to the kernel for a Unix socket, kept through dup, fork, exec
 * and SCM_RIGHTS, answered without a round trip, and never touched by the
 * program (whose SO_PRIORITY goes to the daemon).
 */

#define SIN6_LEN_MIN 24 /* RFC 2133's sockaddr_in6, without sin6_scope_id: Linux takes it */

static int family_mark(int fd)
{
	int v = MARK_INET;
	socklen_t len = sizeof(v);

	if (sys_getsockopt(fd, SOL_SOCKET, SO_PRIORITY, &v, &len) < 0)
		return MARK_INET;
	return v == MARK_INET6 || v == MARK_INET6_ONLY ? v : MARK_INET;
}

static void set_family_mark(int fd, int mark)
{
	sys_setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &mark, sizeof(mark));
}

/*
 * With the lock held: fd's mark as far as its addresses go (MARK_INET or
 * MARK_INET6, never MARK_INET6_ONLY), from e, fd's cache entry (NULL: none),
 * when known there; read and kept there otherwise.
 */
static int addr_family_mark(int fd, struct cache_entry *e)
{
	if (e && e->family_known)
		return e->inet6 ? MARK_INET6 : MARK_INET;
	int mark = family_mark(fd) == MARK_INET ? MARK_INET : MARK_INET6;
	if (e) {
		e->family_known = true;
		e->inet6 = mark != MARK_INET;
	}
	return mark;
}

enum addr_use { FOR_BIND, FOR_CONNECT };
/* Whose an IPv4 address (host order) is: the kernel's loopback with --kernel-loopback. */
static int ipv4_owner(uint32_t ip)
{
	bool kernel = (tn_lib_options & TN_LIB_OPT_KERNEL_LOOPBACK) && (ip >> 24) == 127;

	return kernel ? TN_LIB_FOR_LOOPBACK : TN_LIB_TAPNET;
}

/*
 * The IPv4 address and port in what a program passed for a socket of this
 * mark, and whose it is (enum tn_lib_owner: TN_LIB_FOR_IPV6 for a pure IPv6
 * address, which tapnet cannot reach), or -1 with errno as Linux's
 * inet(6)_bind and tcp_v(4|6)_connect would say.
 */
static int get_addr(int mark, const struct sockaddr *addr, socklen_t len, enum addr_use use,
		    uint32_t *ip, uint32_t *port)
{
	if (mark == MARK_INET) {
		struct sockaddr_in sin;

		if (!addr || len < (socklen_t)sizeof(sin)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(&sin, addr, sizeof(sin));
		if (sin.sin_family != AF_INET) {
			errno = EAFNOSUPPORT;
			return -1;
		}
		*ip = ntohl(sin.sin_addr.s_addr);
		*port = ntohs(sin.sin_port);
		return ipv4_owner(*ip);
	}
	struct sockaddr_in6 sin6 = { 0 };

	if (!addr || len < SIN6_LEN_MIN) {
		errno = EINVAL;
		return -1;
	}
	memcpy(&sin6, addr, len < sizeof(sin6) ? len : sizeof(sin6));
	if (sin6.sin6_family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	*port = ntohs(sin6.sin6_port);
	if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
		if (mark == MARK_INET6_ONLY) {
			errno = use == FOR_BIND ? EINVAL : ENETUNREACH;
			return -1;
		}
		uint32_t v4;
		memcpy(&v4, &sin6.sin6_addr.s6_addr[12], 4);
		*ip = ntohl(v4);
		return ipv4_owner(*ip);
	}
	if (use == FOR_BIND && mark == MARK_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6.sin6_addr)) {
		*ip = 0; /* [::] without IPV6_V6ONLY takes IPv4 too: all of it that tapnet has */
		return TN_LIB_TAPNET;
	}
	if ((tn_lib_options & TN_LIB_OPT_KERNEL_LOOPBACK) && IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr))
		return TN_LIB_FOR_LOOPBACK;
	return TN_LIB_FOR_IPV6;
}

/* Writes the address as the socket's family shows it (v4-mapped for AF_INET6). */
static void put_addr(int mark, struct sockaddr *addr, socklen_t *len, uint32_t ip_net,
		     uint16_t port_net)
{
	union {
		struct sockaddr_in sin;
		struct sockaddr_in6 sin6;
	} u;
	socklen_t n;

	if (!addr || !len)
		return;
	memset(&u, 0, sizeof(u));
	if (mark == MARK_INET) {
		u.sin.sin_family = AF_INET;
		u.sin.sin_addr.s_addr = ip_net;
		u.sin.sin_port = port_net;
		n = sizeof(u.sin);
	} else {
		u.sin6.sin6_family = AF_INET6;
		u.sin6.sin6_port = port_net;
		if (ip_net != 0) { /* 0.0.0.0 is [::] to a dual-stack socket */
			u.sin6.sin6_addr.s6_addr[10] = 0xff;
			u.sin6.sin6_addr.s6_addr[11] = 0xff;
			memcpy(&u.sin6.sin6_addr.s6_addr[12], &ip_net, 4);
		}
		n = sizeof(u.sin6);
	}
	memcpy(addr, &u, *len < n ? *len : n);
	*len = n;
}

/*
 * --kernel-ipv6, --kernel-loopback: a kernel socket of fd's family to stand
 * in for tapnet socket fd, with the options that matter for bind and
 * connect carried over and fd's file status flags (O_NONBLOCK);
 * close-on-exec. -1 with errno.
 */
int tn_lib_kernel_socket(int fd)
{
	static const struct {
		int level, name;
	} carried[] = {
		{ SOL_SOCKET, SO_REUSEADDR }, { SOL_SOCKET, SO_REUSEPORT },
		{ SOL_SOCKET, SO_KEEPALIVE }, { IPPROTO_TCP, TCP_NODELAY },
	};
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	int mark = family_mark(fd);
	int k = (int)tn_marked_syscall(SYS_socket, mark == MARK_INET ? AF_INET : AF_INET6,
				       SOCK_STREAM | SOCK_CLOEXEC, 0, 0, 0);
	if (k < 0)
		return -1;
	int one = 1;
	if (mark == MARK_INET6_ONLY)
		sys_setsockopt(k, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	for (size_t i = 0; i < sizeof(carried) / sizeof(carried[0]); i++) {
		int v = 0;
		socklen_t l = sizeof(v);
		if (tapnet_getsockopt(fd, carried[i].level, carried[i].name, &v, &l) == 0 && v)
			sys_setsockopt(k, carried[i].level, carried[i].name, &v, sizeof(v));
	}
	fcntl(k, F_SETFL, fl & O_NONBLOCK);
	return k;
}

enum tn_lib_owner tn_lib_addr_owner(int fd, const struct sockaddr *addr, socklen_t len,
				    bool for_bind)
{
	uint32_t ip, port;
	int e = errno;
	int kind = get_addr(family_mark(fd), addr, len, for_bind ? FOR_BIND : FOR_CONNECT, &ip, &port);

	errno = e;
	return kind < 0 ? TN_LIB_TAPNET : (enum tn_lib_owner)kind;
}

const char *tn_lib_kernel_why(enum tn_lib_owner owner)
{
	return owner == TN_LIB_FOR_LOOPBACK ? "is for the loopback: now the kernel's (--kernel-loopback)"
					    : "is for IPv6: now the kernel's (--kernel-ipv6)";
}

/*
 * --kernel-ipv6, --kernel-loopback: a socket that turns out to be for IPv6
 * proper or the loopback becomes a kernel socket at the same fd number.
 * Called without the lock.
 */
static int kernel_takeover(int fd, enum tn_lib_owner owner)
{
	int fdfl = fcntl(fd, F_GETFD);

	if (fdfl < 0)
		return -1;
	int k = tn_lib_kernel_socket(fd);
	if (k < 0)
		return -1;
	if (dup3(k, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		close_keep_errno(k);
		return -1;
	}
	close(k); /* the daemon sees B's last close and lets its socket go */
	tn_lib_busy++;
	pthread_mutex_lock(&lock);
	cache_put_fd(fd, false);
	pthread_mutex_unlock(&lock);
	tn_lib_busy--;
	if (tn_lib_options & TN_LIB_OPT_VERBOSE)
		tn_lib_say("socket %d %s", fd, tn_lib_kernel_why(owner));
	return 0;
}

/*
 * An address that is not for tapnet (get_addr's owner): the loopback with
 * --kernel-loopback and a pure IPv6 one with --kernel-ipv6 are the
 * kernel's, which binds or connects its own socket; IPv6 otherwise is a
 * clear failure (ENETUNREACH lets a client go on to an IPv4 address, as it
 * would on a host without IPv6 routes).
 */
static int for_kernel(int fd, int mark, enum tn_lib_owner owner, const struct sockaddr *addr,
		      socklen_t len, enum addr_use use)
{
	static bool said;

	if (owner == TN_LIB_FOR_LOOPBACK || (tn_lib_options & TN_LIB_OPT_KERNEL_IPV6)) {
		if (kernel_takeover(fd, owner) < 0)
			return -1;
		return (int)tn_marked_syscall(use == FOR_BIND ? SYS_bind : SYS_connect, fd, (long)addr,
					      len, 0, 0);
	}
	if (!said || (tn_lib_options & TN_LIB_OPT_VERBOSE)) {
		char text[INET6_ADDRSTRLEN] = "?";
		struct sockaddr_in6 sin6;
		memcpy(&sin6, addr, sizeof(sin6) <= len ? sizeof(sin6) : SIN6_LEN_MIN);
		inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof(text));
		tn_lib_say("%s [%s]:%u: tapnet has no IPv6%s (tapnet run %s to the kernel)",
			   use == FOR_BIND ? "bind to" : "connect to", text, ntohs(sin6.sin6_port),
			   mark == MARK_INET6_ONLY ? " and the socket is IPV6_V6ONLY" : "",
			   IN6_IS_ADDR_LOOPBACK(&sin6.sin6_addr)
				   ? "--kernel-loopback leaves ::1 and 127.0.0.0/8"
				   : "--kernel-ipv6 leaves such sockets");
		said = true;
	}
	errno = use == FOR_BIND ? EADDRNOTAVAIL : ENETUNREACH;
	return -1;
}

/* ------------------------------------------------------------------ the calls */

/*
 * Every call holds the lock from ENTER() to LEAVE(rv); rv is evaluated
 * before the lock is released, so LEAVE(call(...)) is one locked step
 * (req_buf and reply_buf are shared by every thread).
 */
#define ENTER()                             \
	do {                                \
		tn_lib_busy++;              \
		pthread_mutex_lock(&lock);  \
	} while (0)
#define LEAVE(rv)                                  \
	do {                                       \
		int r_ = (rv);                     \
		int e_ = errno;                    \
		pthread_mutex_unlock(&lock);       \
		tn_lib_busy--;                     \
		errno = e_;                        \
		return r_;                         \
	} while (0)

/*
 * A spare socket. A program that makes connection after connection (ab, a
 * crawler, a client without keep-alive) calls socket() and connect() each
 * time: two requests. From its third socket on, a connect asks tapnetd for
 * one more socket with its reply (TN_ATTR_SPARE), and the next socket()
 * takes it without a request. The spare waits, close-on-exec, at a number
 * from SPARE_FD_MIN up, out of the way of the numbers the program expects
 * (socket() moves it to the lowest free one, as Linux would give); a fork
 * child closes its copy at once (atfork_child: a copy would hold the
 * connection open once the parent closes its socket); a number the
 * program closes (tn_lib_fd_closing), or that no longer holds the spare
 * (its cookie), loses it. It counts against tapnetd's limits as any
 * socket, and none comes over one. The seccomp supervisor keeps one too,
 * for the next socket() of any program it serves (a Go client's
 * connection: one request less).
 */
#define SPARE_FD_MIN 64
#define SPARE_AFTER_SOCKETS 2

static bool spare_wanted(void)
{
	return spare_fd < 0 && sockets_made >= SPARE_AFTER_SOCKETS;
}

/* With the lock held: b, a new socket from a connect's reply, waits as the spare. */
static void spare_keep(int b)
{
	int fd = fcntl(b, F_DUPFD_CLOEXEC, SPARE_FD_MIN);
	uint64_t cookie;

	close(b);
	if (fd < 0)
		return;
	if (fd_ident(fd, &cookie) < 0) {
		close(fd);
		return;
	}
	spare_cookie = cookie;
	spare_pid = my_pid;
	spare_fd = fd;
}

/* With the lock held: the spare at the lowest free number, its cookie in *cookie; or -1 (none). */
static int spare_take(uint64_t *cookie)
{
	int fd = spare_fd;

	if (fd < 0)
		return -1;
	spare_fd = -1;
	if (fd_ident(fd, cookie) < 0 || *cookie != spare_cookie)
		return -1; /* closed behind the shim's back: the number is not ours */
	int low = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (low >= 0 && low < fd) {
		close(fd);
		return low;
	}
	if (low >= 0)
		close(low);
	return fd;
}

#ifndef TN_LIB_SUPERVISOR
/* In a fork child: the parent's spare is the parent's. */
static void spare_drop_copy(void)
{
	if (spare_fd >= 0)
		close(spare_fd);
	spare_fd = -1;
	sockets_made = 0;
}
#endif

int tapnet_socket(int domain, int type, int protocol)
{
	int flags = type & (SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (domain != AF_INET && domain != AF_INET6) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	if ((type & ~flags) != SOCK_STREAM) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	if (protocol != 0 && protocol != IPPROTO_TCP) {
		errno = EPROTONOSUPPORT;
		return -1;
	}
	ENTER();
	sockets_made++;
	uint64_t cookie = 0;
	int b = spare_take(&cookie);
	if (b < 0) {
		/* the daemon makes the pair; its reply brings our end, not yet writable */
		struct tn_rpc_writer w;
		begin(&w, TN_RPC_SOCKET);
		if (call_fd(&w, NULL, 0, &b) < 0)
			LEAVE(-1);
		if (b < 0) {
			errno = EPROTO;
			LEAVE(-1);
		}
		if (fd_ident(b, &cookie) < 0)
			cookie = 0;
	}
	if (!(flags & SOCK_CLOEXEC))
		fcntl(b, F_SETFD, 0);
	if (flags & SOCK_NONBLOCK)
		fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
	if (domain == AF_INET6)
		set_family_mark(b, MARK_INET6);
	if (cookie) {
		cache_put(cookie, true);
		note_unconnected(b, cookie);
	}
	tn_lib_note_socket(b, TN_LIB_FD_SOCKET);
	LEAVE(b);
}

int tapnet_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	uint32_t ip, port;
	struct tn_rpc_writer w;
	int mark = family_mark(fd);
	int kind = get_addr(mark, addr, len, FOR_BIND, &ip, &port);

	if (kind < 0)
		return -1;
	if (kind != TN_LIB_TAPNET)
		return for_kernel(fd, mark, kind, addr, len, FOR_BIND);
	ENTER();
	begin(&w, TN_RPC_BIND);
	tn_rpc_put_u32(&w, TN_ATTR_ADDR, ip);
	tn_rpc_put_u32(&w, TN_ATTR_PORT, port);
	LEAVE(call(&w, &fd, 1) < 0 ? -1 : 0);
}

int tapnet_listen(int fd, int backlog)
{
	struct tn_rpc_writer w;

	uint64_t cookie;
	ENTER();
	begin(&w, TN_RPC_LISTEN);
	tn_rpc_put_u32(&w, TN_ATTR_BACKLOG, backlog < 0 ? 0u : (uint32_t)backlog);
	if (call(&w, &fd, 1) < 0)
		LEAVE(-1);
	if (fd_ident(fd, &cookie) == 0)
		cache_mark_listening(cookie);
	tn_lib_note_socket(fd, TN_LIB_FD_LISTENER);
	LEAVE(0);
}

/*
 * The daemon closed its end of a listener: tapnetd stopped (or the
 * listener is over). Like a kernel listener whose network went away, the
 * fd stays open and simply never becomes readable again, instead of
 * reporting end-of-file to every poll and making the program spin: it
 * becomes one end of a socketpair whose other end is kept (and never
 * written), with the same file status flags.
 */
static void quiet_listener(int fd)
{
	static bool said;
	int sv[2];
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	if (dup3(sv[0], fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		close(sv[1]);
	} else {
		fcntl(fd, F_SETFL, fl & O_NONBLOCK);
		tn_lib_busy++;
		pthread_mutex_lock(&lock);
		uint64_t cookie; /* still a tapnet listener to the program: accept waits */
		if (fd_ident(fd, &cookie) == 0)
			cache_mark_listening(cookie);
		pthread_mutex_unlock(&lock);
		tn_lib_busy--;
	}
	close(sv[0]); /* sv[1] stays open for good: one fd per listener that outlived tapnetd */
	if (!said) {
		said = true;
		static const char msg[] = "tapnet: a listening socket lost tapnetd (stopped?); "
					  "it will accept nothing more\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)w;
	}
}

/*
 * Whether fd (cookie: its SO_COOKIE, 0 if not known yet) listens: 1, or 0
 * (accept is then EINVAL, as on Linux, where it would wait forever on a
 * pair that carries no accept records, or take a connection's bytes for
 * one), or -1 when tapnetd cannot say (accept goes on as it would). Known
 * once, a listener costs no request again, nor its family (*mark, for its
 * connections' addresses: addr_family_mark) a system call.
 */
static int listener_check(int fd, uint64_t cookie, int *mark)
{
	int yes = 0;
	socklen_t len = sizeof(yes);
	struct cache_entry *known;
	bool listening = false;

	*mark = MARK_INET;
	if (!cookie && fd_ident(fd, &cookie) < 0)
		return -1; /* not a socket: recvmsg says so */
	tn_lib_busy++;
	pthread_mutex_lock(&lock);
	if ((known = cache_lookup(cookie)) != NULL && known->listening) {
		listening = true;
		*mark = addr_family_mark(fd, known);
	}
	pthread_mutex_unlock(&lock);
	tn_lib_busy--;
	if (listening)
		return 1;
	if (tapnet_getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &yes, &len) < 0) {
		*mark = addr_family_mark(fd, NULL);
		return -1;
	}
	if (yes) {
		tn_lib_busy++;
		pthread_mutex_lock(&lock);
		*mark = addr_family_mark(fd, cache_mark_listening(cookie));
		pthread_mutex_unlock(&lock);
		tn_lib_busy--;
	}
	return yes != 0;
}

int tapnet_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	return tn_lib_accept4(fd, 0, addr, len, flags, false);
}

int tn_lib_accept4(int fd, uint64_t cookie, struct sockaddr *addr, socklen_t *len, int flags,
		   bool nowait)
{
	struct tn_accept_rec rec;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} cbuf;
	int mark;

	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC) || listener_check(fd, cookie, &mark) == 0) {
		errno = EINVAL;
		return -1;
	}
	/* no lock: this may wait as long as the listener's fd says */
	for (;;) {
		struct iovec iov = { &rec, sizeof(rec) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
		};
		ssize_t n = sys_recvmsg(fd, &msg, ((flags & SOCK_CLOEXEC) ? MSG_CMSG_CLOEXEC : 0) |
							    (nowait ? MSG_DONTWAIT : 0));
		if (n < 0 && errno == ECONNRESET)
			n = 0; /* the daemon's end closed with our filler unread: gone all the same */
		else if (n < 0)
			return -1; /* EAGAIN, EINTR, ENOTSOCK... as accept() */
		int nfd = -1;
		tn_rpc_take_fds(&msg, &nfd);
		if (n == 0 && nfd < 0) {
			int type;
			socklen_t tlen = sizeof(type);
			if (tapnet_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0) {
				/* tapnetd knows it still: shut down (SHUT_RD), no longer listening */
				errno = EINVAL;
				return -1;
			}
			quiet_listener(fd); /* tapnetd is gone */
			errno = ECONNABORTED; /* what accept says of a connection that went: try again */
			return -1;
		}
		if (nfd < 0 || n != (ssize_t)sizeof(rec) || rec.version != TN_ACCEPT_REC_VERSION) {
			if (nfd >= 0)
				close(nfd);
			errno = EPROTO;
			return -1;
		}
		/*
		 * A pair end fresh from socketpair(): no other status flag. To the
		 * kernel, marked: the shim's fcntl would first ask whether nfd is
		 * a placeholder, which it cannot be.
		 */
		if (flags & SOCK_NONBLOCK)
			tn_marked_syscall(SYS_fcntl, nfd, F_SETFL, O_NONBLOCK, 0, 0);
		if (mark != MARK_INET)
			set_family_mark(nfd, MARK_INET6);
		put_addr(mark, addr, len, rec.peer_addr, rec.peer_port);
		tn_lib_busy++;
		pthread_mutex_lock(&lock);
		cache_put_names(nfd, rec.local_addr, rec.local_port, rec.peer_addr, rec.peer_port,
				mark);
		pthread_mutex_unlock(&lock);
		tn_lib_busy--;
		tn_lib_note_socket(nfd, TN_LIB_FD_SOCKET);
		return nfd;
	}
}

int tapnet_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return tapnet_accept4(fd, addr, len, 0);
}

/* The reply of length r in reply_buf carries attribute type. */
static bool reply_has(long r, uint16_t type)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_iter_msg(&it, reply_buf, (size_t)r);
	while (tn_rpc_next(&it, &a))
		if (a.type == type)
			return true;
	return false;
}

/*
 * The ADDR and PORT of the reply of length r in reply_buf (a name), in
 * network order; a field missing is 0. True when both are there and valid.
 */
static bool reply_name(long r, uint32_t *ip, uint32_t *port)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	uint32_t v_ip = 0, v_port = 0;
	bool has_ip = false, has_port = false;

	tn_rpc_iter_msg(&it, reply_buf, (size_t)r);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_ADDR)
			has_ip = tn_rpc_get_u32(&a, &v_ip);
		else if (a.type == TN_ATTR_PORT)
			has_port = tn_rpc_get_u32(&a, &v_port);
	}
	*ip = htonl(v_ip);
	*port = htons((uint16_t)v_port);
	return has_ip && has_port && v_port <= 65535;
}

static int so_error(int fd)
{
	struct tn_rpc_writer w;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	int v = 0;

	begin(&w, TN_RPC_GETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, SOL_SOCKET);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, SO_ERROR);
	tn_rpc_put_u32(&w, TN_ATTR_OPTLEN, sizeof(int));
	long r = call(&w, &fd, 1);
	if (r < 0)
		return -1;
	tn_rpc_iter_msg(&it, reply_buf, (size_t)r);
	while (tn_rpc_next(&it, &a))
		if (a.type == TN_ATTR_OPTVAL && a.len == sizeof(int))
			memcpy(&v, a.value, sizeof(int));
	return v;
}

/*
 * A connect again after a failed one: tapnetd connects a new socket with
 * the old one's settings (see its req_connect_again), and the new B takes
 * the old one's place, with its status flags and family mark. With the
 * lock held.
 *
 * renew_ready: b made ready to stand in for fd (flags, mark).
 */
static int renew_ready(int fd, int b)
{
	int fl = fcntl(fd, F_GETFL);
	int mark = family_mark(fd);

	if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK) < 0)) {
		close_keep_errno(b);
		return -1;
	}
	if (mark != MARK_INET)
		set_family_mark(b, mark);
	return 0;
}

/* b at number n, with n's close-on-exec flag. */
static int put_at(int b, int n)
{
	int fdfl = fcntl(n, F_GETFD);

	if (fdfl < 0 || dup3(b, n, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		return -1;
	cache_put_fd(n, true);
	return 0;
}

/*
 * b takes fd's place, and the place of fd's copies that this process made
 * while the socket was not yet connecting (their notes name the old
 * socket's cookie): on Linux every copy is the one socket, connecting
 * again. A copy made since, or in another process, keeps the old pair.
 */
static int renew_in_place(int fd, int b)
{
	uint64_t old = 0;

	fd_ident(fd, &old);
	if (renew_ready(fd, b) < 0)
		return -1;
	if (put_at(b, fd) < 0) {
		close_keep_errno(b);
		return -1;
	}
	const int top = TN_LIB_NOTED_FDS - 1;
	for (int n = noted_from(0, top); old && n <= top; n = noted_from(n + 1, top)) {
		struct tn_lib_note *note = tn_lib_note(n);
		uint64_t noted = old, now;
		/* a stale note (the number closed behind the shim's back) is left alone */
		if (n != fd && atomic_compare_exchange_strong(&note->unconnected, &noted, 0) &&
		    fd_ident(n, &now) == 0 && now == old)
			put_at(b, n);
	}
	close(b);
	return 0;
}

/*
 * renew: TN_RENEW_* for a socket whose last connect failed. With renewed
 * NULL (the shim) a new B takes fd's place at once; else (the seccomp
 * supervisor, whose fd is a copy of the program's) it goes to *renewed,
 * ready, for the supervisor to put at the program's number (-1 if none).
 */
int tn_lib_connect_begin(int fd, const struct sockaddr *addr, socklen_t len, int renew, int *renewed)
{
	uint32_t ip, port;
	struct tn_rpc_writer w;
	int mark = family_mark(fd);
	int kind = get_addr(mark, addr, len, FOR_CONNECT, &ip, &port);

	if (renewed)
		*renewed = -1;
	if (kind < 0)
		return -1;
	if (kind != TN_LIB_TAPNET) {
		if (for_kernel(fd, mark, kind, addr, len, FOR_CONNECT) < 0)
			return -1;
		errno = EISCONN; /* --kernel-ipv6, --kernel-loopback: the kernel's socket, connected by it */
		return -1;
	}
	ENTER();
	begin(&w, TN_RPC_CONNECT);
	tn_rpc_put_u32(&w, TN_ATTR_ADDR, ip);
	tn_rpc_put_u32(&w, TN_ATTR_PORT, port);
	if (renew)
		tn_rpc_put_u32(&w, TN_ATTR_RENEW, (uint32_t)renew);
	bool want_spare = spare_wanted(); /* a renewed socket comes instead (req_connect_again) */
	if (want_spare)
		tn_rpc_put_u32(&w, TN_ATTR_SPARE, 1);
	int b = -1;
	long r = call_fd(&w, &fd, 1, &b);
	if (r < 0)
		LEAVE(-1);
	if (b >= 0 && want_spare && reply_has(r, TN_ATTR_SPARE)) {
		spare_keep(b);
		b = -1;
	}
	if (b >= 0 && (renewed ? renew_ready(fd, b) : renew_in_place(fd, b)) < 0)
		LEAVE(-1);
	if (renewed)
		*renewed = b;
	/*
	 * The reply names the local end the connection has from now on; to
	 * 0.0.0.0 the peer is this host at that same address (as on Linux: the
	 * bound address, or 127.0.0.1).
	 */
	uint32_t local_ip, local_port;
	if (reply_name(r, &local_ip, &local_port))
		cache_put_names(fd, local_ip, (uint16_t)local_port, ip ? htonl(ip) : local_ip,
				htons((uint16_t)port), mark);
	LEAVE(0);
}

/*
 * fd's connect succeeded (its reply named the peer; B turned writable, so
 * the handshake is over, and tapnetd has neither closed nor shut its end):
 * the connection stands, known without a request.
 */
static bool standing_connection(int fd)
{
	uint64_t cookie;
	const struct cache_entry *e;
	bool yes = false;

	ENTER();
	if (fd_ident(fd, &cookie) == 0 && (e = cache_lookup(cookie)) && e->peer_named)
		yes = pair_clean(fd);
	LEAVE(yes);
}

int tapnet_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	uint32_t ip, port;
	int mark = family_mark(fd);
	int kind = get_addr(mark, addr, len, FOR_CONNECT, &ip, &port);

	if (kind < 0)
		return -1;
	if (kind != TN_LIB_TAPNET)
		return for_kernel(fd, mark, kind, addr, len, FOR_CONNECT);
#ifndef TN_LIB_SUPERVISOR /* whose fd is a copy: it renews through tn_lib_connect_begin */
	/* noted: never connected, or a connect that failed said so (blocking) */
	struct tn_lib_note *note = tn_lib_note(fd);
	bool noted = note && atomic_exchange_explicit(&note->unconnected, 0, memory_order_relaxed);
	int renew = noted ? TN_RENEW_NOW : TN_RENEW_AFTER_REPORT;
#else
	bool noted = false;
	int renew = 0;
#endif
	/* only a socket not noted can stand connected: a first connect looks for nothing */
	if (!noted && standing_connection(fd)) {
		/*
		 * Linux answers any connect on a connected socket so; APR (ab,
		 * Apache's proxy) asks so after every non-blocking connect.
		 */
		errno = EISCONN;
		return -1;
	}
	if (tn_lib_connect_begin(fd, addr, len, renew, NULL) < 0)
		return -1;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK)) {
		errno = EINPROGRESS;
		return -1;
	}
	/*
	 * blocking: B turns writable when the handshake is over, either way;
	 * tapnetd shuts its end (RDHUP) and closes it when it failed, so only
	 * then is there an error to ask for.
	 */
	struct pollfd p = { .fd = fd, .events = POLLOUT | POLLRDHUP };
	if (poll(&p, 1, -1) < 0)
		return -1; /* EINTR: the connect goes on, as on Linux */
	if (pair_revents_clean(p.revents))
		return 0;
	ENTER();
	int err = so_error(fd);
	if (err < 0)
		LEAVE(-1);
	if (err) {
		/* a socket whose connect failed answers sends and receives as one never connected */
		uint64_t cookie;
		if (fd_ident(fd, &cookie) == 0)
			note_unconnected(fd, cookie);
		errno = err;
		LEAVE(-1);
	}
	LEAVE(0);
}

int tapnet_shutdown(int fd, int how)
{
	struct tn_rpc_writer w;

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
		errno = EINVAL;
		return -1;
	}
	ENTER();
	begin(&w, TN_RPC_SHUTDOWN);
	tn_rpc_put_u32(&w, TN_ATTR_HOW, (uint32_t)how); /* SHUT_* == TN_SHUT_* */
	if (call(&w, &fd, 1) < 0)
		LEAVE(-1);
	/* the write side is B's own: its EOF reaches the daemon after the data */
	if (how != SHUT_RD && sys_shutdown(fd, SHUT_WR) < 0)
		LEAVE(-1);
	LEAVE(0);
}

/* cookie: fd's, when the caller knows it already (the shim), else 0 */
static int getname(int fd, uint64_t cookie, struct sockaddr *addr, socklen_t *len, bool peer)
{
	struct tn_rpc_writer w;
	uint32_t ip, port;

	if (!addr || !len) {
		errno = EFAULT;
		return -1;
	}
	ENTER();
	struct cache_entry *e;
	if ((cookie || fd_ident(fd, &cookie) == 0) && (e = cache_lookup(cookie))) {
		if (!peer && e->named) {
			put_addr(addr_family_mark(fd, e), addr, len, e->local_addr, e->local_port);
			LEAVE(0);
		}
		/* a connection that is over has no peer (ENOTCONN): tapnetd says */
		if (peer && e->peer_named && pair_clean(fd)) {
			put_addr(addr_family_mark(fd, e), addr, len, e->peer_addr, e->peer_port);
			LEAVE(0);
		}
	}
	begin(&w, TN_RPC_GETNAME);
	tn_rpc_put_u32(&w, TN_ATTR_PEER, peer);
	long r = call(&w, &fd, 1);
	if (r < 0)
		LEAVE(-1);
	reply_name(r, &ip, &port); /* a field missing is 0 */
	put_addr(family_mark(fd), addr, len, ip, (uint16_t)port);
	LEAVE(0);
}

int tapnet_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, 0, addr, len, false);
}

int tn_lib_getsockname(int fd, uint64_t cookie, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, cookie, addr, len, false);
}

int tapnet_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, 0, addr, len, true);
}

/*
 * An IPPROTO_IPV6 option: 0 for IPV6_V6ONLY (the client's own, see
 * family_mark); otherwise *level and *optname become what they mean for the
 * IPv4 that the socket speaks (1), or -1 with errno as Linux says it.
 */
static int ipv6_option(int fd, int *level, int *optname)
{
	if (family_mark(fd) == MARK_INET) {
		errno = ENOPROTOOPT; /* as an AF_INET socket answers */
		return -1;
	}
	switch (*optname) {
	case IPV6_V6ONLY:
		return 0;
	case IPV6_TCLASS:
		*level = IPPROTO_IP;
		*optname = IP_TOS;
		return 1;
	case IPV6_UNICAST_HOPS:
		*level = IPPROTO_IP;
		*optname = IP_TTL;
		return 1;
	default:
		errno = ENOPROTOOPT;
		return -1;
	}
}

/*
 * Options of the descriptor itself rather than of the TCP connection: the
 * program's end of the pair takes them, since its reads and writes are
 * the ones they change (SO_RCVLOWAT: how much a read waits for; Linux
 * refuses SO_SNDLOWAT on both kinds of socket).
 */
static bool fd_option(int level, int optname)
{
	return level == SOL_SOCKET && (optname == SO_RCVTIMEO || optname == SO_SNDTIMEO ||
				       optname == SO_RCVLOWAT || optname == SO_SNDLOWAT);
}

/*
 * Options whose outcome the client knows: the value is checked here as
 * Linux checks it (0, or -errno), and the daemon gets the change without
 * a reply to wait for (TN_RPC_SETSOCKOPT_NOWAIT), in its place after the
 * data written before. 1: not one of those, ask the daemon.
 */
static int nowait_option(int level, int optname, const void *optval, socklen_t optlen)
{
	int v;

	if (level == SOL_SOCKET && optname == SO_LINGER)
		return optlen < sizeof(struct linger) ? -EINVAL : 0;
	bool known = false;
	switch (level) {
	case SOL_SOCKET:
		known = optname == SO_KEEPALIVE || optname == SO_RCVBUF || optname == SO_SNDBUF ||
			optname == SO_REUSEADDR || optname == SO_PRIORITY ||
			optname == SO_OOBINLINE;
		break;
	case IPPROTO_TCP:
		known = optname == TCP_NODELAY || optname == TCP_CORK || optname == TCP_QUICKACK ||
			optname == TCP_KEEPIDLE || optname == TCP_KEEPINTVL ||
			optname == TCP_KEEPCNT || optname == TCP_USER_TIMEOUT;
		break;
	case IPPROTO_IP:
		known = optname == IP_TOS;
		break;
	}
	if (!known)
		return 1;
	if (optlen < sizeof(int))
		return -EINVAL;
	memcpy(&v, optval, sizeof(v));
	if (level == IPPROTO_TCP && (optname == TCP_KEEPIDLE || optname == TCP_KEEPINTVL) &&
	    (v < 1 || v > 32767))
		return -EINVAL; /* MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL */
	if (level == IPPROTO_TCP && optname == TCP_KEEPCNT && (v < 1 || v > 127))
		return -EINVAL; /* MAX_TCP_KEEPCNT */
	if (level == IPPROTO_TCP && optname == TCP_USER_TIMEOUT && v < 0)
		return -EINVAL;
	if (level == SOL_SOCKET && optname == SO_PRIORITY && (v < 0 || v > 6))
		return 1; /* whether the caller may (CAP_NET_ADMIN) is for tapnetd to say */
	return 0;
}

/* With the lock held: a ring for this connection, if one may be made. */
static void ring_make(void)
{
	struct tn_rpc_writer w;

	if (!filters_allow_ring()) {
		ring_refused = true;
		return;
	}
	int fd = memfd_create("tapnet-options", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		ring_refused = true; /* no memfd here (ENOSYS, a sandbox's EPERM) */
		return;
	}
	void *p = MAP_FAILED;
	if (ftruncate(fd, TN_OPTRING_SIZE) == 0 &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
		p = mmap(NULL, TN_OPTRING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close_keep_errno(fd);
		ring_refused = true;
		return;
	}
	begin(&w, TN_RPC_OPTION_RING);
	long r = call(&w, &fd, 1);
	close_keep_errno(fd);
	if (r < 0) {
		munmap(p, TN_OPTRING_SIZE);
		ring_refused = errno != ECONNRESET && errno != ETIMEDOUT; /* else: the next connection */
		return;
	}
	ring = p; /* on the connection call() used, made again if need be */
	ring_tail = 0;
}

/*
 * With the lock held: len bytes of a SETSOCKOPT_NOWAIT request into the
 * ring. false: it did not go there (no ring, full, or the connection went
 * away while waking tapnetd): send it.
 */
static bool ring_put(const uint8_t *msg, size_t len)
{
	if (!ring || len > TN_OPTRING_MSG_MAX || ctl_closed_by_program)
		return false; /* (the program took the connection's number: sending makes a new one) */
	uint32_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
	if (ring_tail - head > TN_OPTRING_DATA - len)
		return false; /* full: the request, sent, is read after the ring (tapnetd reads it first) */
	tn_optring_write(ring, ring_tail, msg, len);
	ring_tail += (uint32_t)len;
	/*
	 * Against tapnetd's store of sleeping then read of tail
	 * (control_rings_sleep): both in one total order, so either it reads
	 * this tail or this reads its sleeping.
	 */
	__atomic_store_n(&ring->tail, ring_tail, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&ring->sleeping, __ATOMIC_SEQ_CST))
		return true;
	struct tn_rpc_writer w;
	unsigned generation = ctl_generation;
	begin(&w, TN_RPC_OPTION_RING_WAKE);
	if (send_req(w.buf, tn_rpc_end(&w), NULL, 0) < 0)
		return false;
	return generation == ctl_generation; /* else the ring went with the old connection */
}

/* With the lock held: sends w (a SETSOCKOPT_NOWAIT) and returns without waiting for anything. */
static int send_nowait(struct tn_rpc_writer *w)
{
	uint8_t msg[TN_OPTRING_MSG_MAX];
	long len = tn_rpc_end(w);

	if (len < 0 || (size_t)len > sizeof(msg))
		return send_req(w->buf, len, NULL, 0);
	memcpy(msg, w->buf, (size_t)len); /* making the ring takes the request buffer */
	if (!ring && !ring_refused && ++ring_options >= RING_AFTER_OPTIONS)
		ring_make();
	if (ring_put(msg, (size_t)len))
		return 0;
	return send_req(msg, len, NULL, 0);
}

/* cookie: fd's, when the caller knows it already (the shim), else 0 */
static int setsockopt_ck(int fd, uint64_t cookie, int level, int optname, const void *optval,
			 socklen_t optlen)
{
	struct tn_rpc_writer w;

	if (fd_option(level, optname))
		return sys_setsockopt(fd, level, optname, optval, optlen);
	if (level == IPPROTO_IPV6 && ipv6_option(fd, &level, &optname) == 0) {
		int v;
		if (optlen < sizeof(v)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(&v, optval, sizeof(v));
		set_family_mark(fd, v ? MARK_INET6_ONLY : MARK_INET6);
		return 0;
	}
	if (level == IPPROTO_IPV6)
		return -1;
	if (optlen > TN_RPC_OPTVAL_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (optlen && !optval) {
		errno = EFAULT;
		return -1;
	}
	int local = nowait_option(level, optname, optval, optlen);
	if (local < 0) {
		errno = -local;
		return -1;
	}
	if (local == 0 && optlen > sizeof(struct linger))
		optlen = sizeof(struct linger); /* what Linux reads of a longer value, no more */
	ENTER();
	const struct cache_entry *known;
	/* a cookie from the caller is of a socket it found to be tapnet's */
	if (local == 0 && !cookie &&
	    (fd_ident(fd, &cookie) < 0 || !(known = cache_lookup(cookie)) || known->is_tapnet != 1))
		local = 1; /* not a socket this process knows as tapnet's: the daemon says */
	begin(&w, local == 0 ? TN_RPC_SETSOCKOPT_NOWAIT : TN_RPC_SETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, (uint32_t)level);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, (uint32_t)optname);
	tn_rpc_put_bytes(&w, TN_ATTR_OPTVAL, optval, optlen);
	if (local == 0) {
		int queued = -1;
		tn_rpc_put_u64(&w, TN_ATTR_COOKIE, cookie);
		/* a pushing option's place is where tapnetd finds A empty: no SIOCOUTQ */
		if (!tn_rpc_option_pushes((uint32_t)level, (uint32_t)optname, optval, optlen) &&
		    sys_outq(fd, &queued) == 0 && queued == 0)
			tn_rpc_put_u32(&w, TN_ATTR_PAIR_EMPTY, 1); /* the option goes before what follows */
		LEAVE(send_nowait(&w));
	}
	LEAVE(call(&w, &fd, 1) < 0 ? -1 : 0);
}

int tapnet_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	return setsockopt_ck(fd, 0, level, optname, optval, optlen);
}

int tn_lib_setsockopt(int fd, uint64_t cookie, int level, int optname, const void *optval,
		      socklen_t optlen)
{
	return setsockopt_ck(fd, cookie, level, optname, optval, optlen);
}

int tapnet_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	struct tn_rpc_writer w;
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	if (fd_option(level, optname))
		return sys_getsockopt(fd, level, optname, optval, optlen);
	if (!optlen || (*optlen && !optval)) {
		errno = EFAULT;
		return -1;
	}
	int known = -1; /* an answer the client has */
	if (level == IPPROTO_IPV6) {
		if (ipv6_option(fd, &level, &optname) == 0)
			known = family_mark(fd) == MARK_INET6_ONLY;
		else if (level == IPPROTO_IPV6)
			return -1;
	} else if (level == SOL_SOCKET && optname == SO_DOMAIN) {
		known = family_mark(fd) == MARK_INET ? AF_INET : AF_INET6;
	} else if (level == SOL_SOCKET && optname == SO_ERROR && pair_no_error(fd)) {
		known = 0;
	}
	if (known >= 0) {
		socklen_t n = *optlen < sizeof(known) ? *optlen : sizeof(known);
		memcpy(optval, &known, n);
		*optlen = n;
		return 0;
	}
	ENTER();
	begin(&w, TN_RPC_GETSOCKOPT);
	tn_rpc_put_u32(&w, TN_ATTR_LEVEL, (uint32_t)level);
	tn_rpc_put_u32(&w, TN_ATTR_OPTNAME, (uint32_t)optname);
	tn_rpc_put_u32(&w, TN_ATTR_OPTLEN, *optlen);
	long r = call(&w, &fd, 1);
	if (r < 0)
		LEAVE(-1);
	socklen_t got = 0;
	tn_rpc_iter_msg(&it, reply_buf, (size_t)r);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_OPTVAL)
			continue;
		got = a.len < *optlen ? a.len : *optlen;
		memcpy(optval, a.value, got);
	}
	*optlen = got;
	LEAVE(0);
}
