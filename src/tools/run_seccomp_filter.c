/*
 * run_seccomp_filter.c - the seccomp filter of `tapnet run` (see
 * run_seccomp.h): which system calls its supervisor is handed, and how the
 * filter's listener reaches the supervisor.
 *
 * Handed: socket() of AF_INET or AF_INET6, SOCK_STREAM, protocol 0,
 * IPPROTO_TCP or IPPROTO_MPTCP (with verbose, every AF_INET, AF_INET6 and
 * AF_PACKET socket(), so that the supervisor can say why each other one
 * stays the kernel's); connect, bind, listen, accept, accept4,
 * getsockname, getpeername, setsockopt, getsockopt and shutdown; sendto
 * and sendmsg with MSG_OOB or MSG_FASTOPEN (which a socket pair would lose
 * or refuse; any other send passes); fcntl(F_SETFL) and ioctl(FIONBIO),
 * which may make a placeholder non-blocking (run_seccomp.c); and
 * io_uring_setup. A call among
 * those that carries TN_SECCOMP_MARK in its sixth argument is the shim's
 * own and passes (a send's sixth argument is its address length: sends
 * are never marked). Another ABI's calls (32-bit
 * x86, x32) are all handed over, for the supervisor to say so once.
 * Everything else passes.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tools/run_seccomp.h"

#include "lib/tapnet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

/*
 * A small BPF assembler: instructions with symbolic jump targets, resolved
 * into offsets once the program is complete.
 */
enum label { L_NONE, L_NOTIFY, L_ALLOW, L_FOREIGN, L_FDCALL, L_SOCKET, L_SOCKARGS, L_TYPE,
	     L_OTHER, L_SENDTO, L_SENDMSG, L_FCNTL, L_IOCTL, L_COUNT };

struct insn {
	struct sock_filter f;
	enum label here; /* this instruction starts label `here` */
	enum label jt, jf;
};

struct prog {
	struct insn in[RUN_SECCOMP_FILTER_MAX];
	unsigned n;
	enum label next_label;
	bool overflow;
};

static void emit(struct prog *p, uint16_t code, uint32_t k, enum label jt, enum label jf)
{
	if (p->n == RUN_SECCOMP_FILTER_MAX) {
		p->overflow = true;
		return;
	}
	struct insn *i = &p->in[p->n++];

	i->f = (struct sock_filter)BPF_STMT(code, k);
	i->here = p->next_label;
	i->jt = jt;
	i->jf = jf;
	p->next_label = L_NONE;
}

static void label(struct prog *p, enum label l)
{
	p->next_label = l;
}

#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (ARG_LO(i) + 4) /* little-endian: the high half follows */

/* The offsets; 0 (on to the next) where a jump names no label. */
static int resolve(struct prog *p, struct sock_filter *out)
{
	int at[L_COUNT];

	if (p->overflow)
		return -1;
	for (int l = 0; l < L_COUNT; l++)
		at[l] = -1;
	for (unsigned k = 0; k < p->n; k++)
		if (p->in[k].here != L_NONE)
			at[p->in[k].here] = (int)k;
	for (unsigned k = 0; k < p->n; k++) {
		out[k] = p->in[k].f;
		enum label j[2] = { p->in[k].jt, p->in[k].jf };
		for (int w = 0; w < 2; w++) {
			if (j[w] == L_NONE)
				continue;
			int off = at[j[w]] - (int)k - 1;
			if (at[j[w]] < 0 || off < 0 || off > 255)
				return -1;
			if (w == 0)
				out[k].jt = (uint8_t)off;
			else
				out[k].jf = (uint8_t)off;
		}
	}
	return 0;
}

/* The calls on an fd that the supervisor may have to make through libtapnet. */
static const int fd_calls[] = {
	SYS_connect, SYS_bind, SYS_listen, SYS_accept, SYS_accept4, SYS_getsockname,
	SYS_getpeername, SYS_setsockopt, SYS_getsockopt, SYS_shutdown,
};

int run_seccomp_filter(bool verbose, struct sock_filter *out, unsigned *len)
{
	struct prog p = { .n = 0 };
	const uint32_t mark_lo = (uint32_t)TN_SECCOMP_MARK, mark_hi = (uint32_t)(TN_SECCOMP_MARK >> 32);

	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, RUN_SECCOMP_ARCH, L_NONE, L_FOREIGN);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), L_NONE, L_NONE);
#ifdef RUN_SECCOMP_X32_BIT
	emit(&p, BPF_JMP | BPF_JGE | BPF_K, RUN_SECCOMP_X32_BIT, L_FOREIGN, L_NONE);
#endif
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, L_SOCKET, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, L_NOTIFY, L_NONE);
	for (size_t k = 0; k < sizeof(fd_calls) / sizeof(fd_calls[0]); k++)
		emit(&p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)fd_calls[k], L_FDCALL, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SYS_sendto, L_SENDTO, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SYS_sendmsg, L_SENDMSG, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SYS_fcntl, L_FCNTL, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, L_IOCTL, L_NONE);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, L_NONE, L_NONE);

	/* what may make a placeholder non-blocking asks (unmarked): fcntl F_SETFL, ioctl FIONBIO */
	label(&p, L_FCNTL);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, F_SETFL, L_FDCALL, L_ALLOW);
	label(&p, L_IOCTL);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, FIONBIO, L_FDCALL, L_ALLOW);

	/* a send asks only with MSG_OOB or MSG_FASTOPEN in its flags: every other passes */
	label(&p, L_SENDTO);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(3), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JSET | BPF_K, MSG_OOB | MSG_FASTOPEN, L_FDCALL, L_ALLOW);
	label(&p, L_SENDMSG);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(2), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JSET | BPF_K, MSG_OOB | MSG_FASTOPEN, L_FDCALL, L_ALLOW);

	/* a call on an fd: the shim's own (marked) passes, any other asks */
	label(&p, L_FDCALL);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(5), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, mark_lo, L_NONE, L_NOTIFY);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_HI(5), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, mark_hi, L_ALLOW, L_NOTIFY);

	/* socket(): marked passes; else by domain, type and protocol */
	label(&p, L_SOCKET);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(5), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, mark_lo, L_NONE, L_SOCKARGS);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_HI(5), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, mark_hi, L_ALLOW, L_NONE);
	label(&p, L_SOCKARGS);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AF_INET, L_TYPE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, L_TYPE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AF_PACKET, L_OTHER, L_ALLOW);
	label(&p, L_TYPE);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), L_NONE, L_NONE);
	emit(&p, BPF_ALU | BPF_AND | BPF_K, 0xf, L_NONE, L_NONE); /* SOCK_TYPE_MASK */
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, SOCK_STREAM, L_NONE, L_OTHER);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(2), L_NONE, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0, L_NOTIFY, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, L_NOTIFY, L_NONE);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_MPTCP, L_NOTIFY, L_OTHER);
	label(&p, L_OTHER);
	emit(&p, BPF_RET | BPF_K, verbose ? SECCOMP_RET_USER_NOTIF : SECCOMP_RET_ALLOW, L_NONE,
	     L_NONE);
	label(&p, L_NOTIFY);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, L_NONE, L_NONE);
	label(&p, L_ALLOW);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, L_NONE, L_NONE);
	/*
	 * Another ABI (32-bit x86, x32) numbers its calls differently: every
	 * call comes to the supervisor, which says once that the process is
	 * not followed and lets its calls go on.
	 */
	label(&p, L_FOREIGN);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF, L_NONE, L_NONE);
	*len = p.n;
	return resolve(&p, out);
}

static int sys_seccomp(unsigned op, unsigned flags, void *arg)
{
	return (int)syscall(SYS_seccomp, op, flags, arg);
}

const char *run_seccomp_unavailable(void)
{
	uint32_t action = SECCOMP_RET_USER_NOTIF;

	if (RUN_SECCOMP_ARCH == 0)
		return "not built for this architecture";
	if (sys_seccomp(SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0)
		return errno == ENOSYS || errno == EOPNOTSUPP
			       ? "this kernel has no seccomp user notification (Linux 5.0)"
			       : "seccomp is not allowed here";
	/* SECCOMP_IOCTL_NOTIF_ADDFD is Linux 5.9's (ADDFD_FLAG_SEND, 5.14, is used when there) */
	struct utsname u;
	unsigned major = 0, minor = 0;
	if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
	    (major < 5 || (major == 5 && minor < 9)))
		return "this kernel cannot add an fd to a process it supervises (Linux 5.9)";
	return NULL;
}

/* The one fd with the one byte of the hand-over. */
union listener_cmsg {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int))];
};

int run_seccomp_send_listener(int chan, int listener)
{
	union listener_cmsg cbuf;
	char byte = 'l';
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &listener, sizeof(int));
	return sendmsg(chan, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int run_seccomp_recv_listener(int chan)
{
	union listener_cmsg cbuf;
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf) };
	if (recvmsg(chan, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}
