/*
 * sandboxed.c - a server that confines itself with seccomp once it has its
 * connection, as OpenSSH's pre-authentication child and sandboxed workers
 * do, for rpc_sandbox.sh.
 *
 *   sandboxed MODE ADDRESS PORT
 *
 * Listens on ADDRESS:PORT, accepts one connection, then installs its filter
 * and echoes everything it reads until end-of-file: half with write(), half
 * with writev(), reading with read() and readv() in turn (strict mode: read
 * and write alone); makes the socket non-blocking and back and shuts it
 * down for writing (not in strict mode); then exits 0. MODE:
 *   prctl    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER): read, write, readv,
 *            writev, poll, fcntl, shutdown, the exits and little else; any other call traps
 *            (SIGSYS, which kills: no handler), as OpenSSH's filter does
 *   seccomp  the same filter through seccomp(2) by syscall(), as libseccomp
 *   strict   seccomp's strict mode: read, write, exit and sigreturn only
 * A call the program did not make, made for it after that, kills it.
 *
 *   sandboxed exec CMD [ARG]...
 *
 * Installs a filter that kills the process at memfd_create and allows
 * everything else, as a sandbox that confines a program before it execs it
 * might, then execs CMD: the shim of CMD's image did not see the filter go
 * in.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#else
#error "sandboxed.c: no audit architecture for this machine"
#endif

#define ALLOW(nr)                                          \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

static struct sock_filter rules[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	ALLOW(SYS_read),
	ALLOW(SYS_write),
	ALLOW(SYS_readv),
	ALLOW(SYS_writev),
#ifdef SYS_poll
	ALLOW(SYS_poll),
#endif
	ALLOW(SYS_ppoll),
	ALLOW(SYS_exit),
	ALLOW(SYS_exit_group),
	ALLOW(SYS_rt_sigreturn),
	ALLOW(SYS_getpid),
	ALLOW(SYS_fcntl),
	ALLOW(SYS_shutdown),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
};

static struct sock_filter no_memfd[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_memfd_create, 0, 1),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

static int confine_then_exec(char **argv)
{
	struct sock_fprog prog = { sizeof(no_memfd) / sizeof(no_memfd[0]), no_memfd };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("sandboxed: installing the filter");
		return 2;
	}
	execvp(argv[0], argv);
	perror("sandboxed: exec");
	return 2;
}

static void confine(const char *mode)
{
	struct sock_fprog prog = { sizeof(rules) / sizeof(rules[0]), rules };

	if (strcmp(mode, "strict") == 0) {
		if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) {
			perror("sandboxed: prctl(SECCOMP_MODE_STRICT)");
			exit(2);
		}
		return;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		perror("sandboxed: prctl(PR_SET_NO_NEW_PRIVS)");
		exit(2);
	}
	if (strcmp(mode, "prctl") == 0 ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0
				       : syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("sandboxed: installing the filter");
		exit(2);
	}
}

static char data[8 << 20];

/* From here on: only the calls the filter allows; in strict mode, no readv or writev. */
static void echo(int c, bool vectored)
{
	size_t have = 0;
	for (unsigned calls = 0;; calls++) {
		ssize_t n;
		if (!vectored || calls % 2 == 0) {
			n = read(c, data + have, sizeof(data) - have);
		} else {
			size_t room = sizeof(data) - have;
			struct iovec iov[2] = { { data + have, room / 2 }, { data + have + room / 2, room - room / 2 } };
			n = readv(c, iov, 2);
		}
		if (n == 0)
			break;
		if (n < 0 || (have += (size_t)n) == sizeof(data))
			syscall(SYS_exit, 3);
	}
	size_t half = have / 2, off = 0;
	while (off < have) {
		ssize_t n;
		if (off < half || !vectored) {
			n = write(c, data + off, (off < half ? half : have) - off);
		} else {
			struct iovec iov = { data + off, have - off };
			n = writev(c, &iov, 1);
		}
		if (n <= 0)
			syscall(SYS_exit, 4);
		off += (size_t)n;
	}
	/* what sandboxes also allow: the flags of the connection, its end */
	if (vectored && (fcntl(c, F_SETFL, O_NONBLOCK) != 0 || fcntl(c, F_SETFL, 0) != 0 ||
			 shutdown(c, SHUT_WR) != 0))
		syscall(SYS_exit, 5);
	syscall(SYS_exit, 0); /* strict mode allows exit, not exit_group */
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1;

	if (argc >= 3 && strcmp(argv[1], "exec") == 0)
		return confine_then_exec(argv + 2);
	bool known = argc == 4 && (strcmp(argv[1], "prctl") == 0 || strcmp(argv[1], "seccomp") == 0 ||
				   strcmp(argv[1], "strict") == 0);
	if (!known || inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
		fprintf(stderr, "usage: sandboxed prctl|seccomp|strict ADDRESS PORT | exec CMD...\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)atoi(argv[3]));
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0) {
		perror("sandboxed: listening");
		return 2;
	}
	int c = accept(l, NULL, NULL);
	if (c < 0) {
		perror("sandboxed: accept");
		return 2;
	}
	confine(argv[1]);
	echo(c, strcmp(argv[1], "strict") != 0);
	return 0;
}
