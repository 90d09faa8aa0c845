/*
 * privs.c - account lookup and the one-way drop of privileges (libcap).
 *
 * The drop is verified rather than trusted: after it, the process must
 * hold no capability in any set and must not be able to get uid 0 back.
 * If anything is left, tapnetd refuses to run.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <stddef.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

static bool means_root(const char *user)
{
	return user[0] == '\0' || strcmp(user, "root") == 0;
}

static int lookup_group(const char *name, gid_t *gid)
{
	errno = 0;
	struct group *gr = getgrnam(name);
	if (gr) {
		*gid = gr->gr_gid;
		return 0;
	}
	if (errno && errno != ENOENT && errno != ESRCH)
		log_error("cannot look up group '%s': %s", name, strerror(errno));
	else
		log_error("group '%s' does not exist (create it, or set [daemon] group)", name);
	return -1;
}

static int lookup_user(const char *name, uid_t *uid, gid_t *primary_gid)
{
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (pw) {
		*uid = pw->pw_uid;
		*primary_gid = pw->pw_gid;
		return 0;
	}
	if (errno && errno != ENOENT && errno != ESRCH)
		log_error("cannot look up user '%s': %s", name, strerror(errno));
	else
		log_error("user '%s' does not exist (create it, or set [daemon] user)", name);
	return -1;
}

int privs_resolve(const struct daemon_config *cfg, struct privs *p)
{
	gid_t primary_gid;

	memset(p, 0, sizeof(*p));
	p->started_as_root = geteuid() == 0;

	if (!p->started_as_root) {
		/* Started unprivileged (e.g. systemd User= with ambient CAP_NET_ADMIN). */
		p->uid = geteuid();
		p->gid = getegid();
		if (!means_root(cfg->user))
			log_debug("not started as root: [daemon] user '%s' is not switched to", cfg->user);
		return cfg->group[0] ? lookup_group(cfg->group, &p->gid) : 0;
	}

	if (means_root(cfg->user)) {
		p->uid = 0;
		primary_gid = 0;
	} else if (lookup_user(cfg->user, &p->uid, &primary_gid) < 0) {
		return -1;
	}
	p->gid = primary_gid;
	if (cfg->group[0] && lookup_group(cfg->group, &p->gid) < 0)
		return -1;
	p->switch_ids = p->uid != 0;
	return 0;
}

static bool have_effective(cap_value_t cap)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (!caps)
		return false;
	cap_get_flag(caps, cap, CAP_EFFECTIVE, &v);
	cap_free(caps);
	return v == CAP_SET;
}

/*
 * Needs CAP_SETPCAP: empties the bounding set (so not even an execve of a
 * setuid or file-capability binary can bring a capability back) and, for
 * uid 0, stops root from meaning "all capabilities" on execve.
 */
static int drop_bounding_set(bool staying_root)
{
	if (!have_effective(CAP_SETPCAP)) {
		log_debug("no CAP_SETPCAP: the capability bounding set stays as it is");
		return 0;
	}
	if (staying_root &&
	    cap_set_secbits(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |
			    SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) < 0) {
		log_error("cannot set the securebits: %s", strerror(errno));
		return -1;
	}
	for (cap_value_t c = 0; c < cap_max_bits(); c++) {
		if (cap_drop_bound(c) < 0 && errno != EINVAL) {
			log_error("cannot drop capability %d from the bounding set: %s", (int)c, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int switch_ids(const struct privs *p)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	/* Without keep-caps, setuid() away from 0 clears every capability set. */
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) {
		log_error("cannot clear keep-caps (PR_SET_KEEPCAPS): %s", strerror(errno));
		return -1;
	}
	if (setgroups(1, &p->gid) < 0) {
		log_error("cannot set supplementary groups to %u: %s", (unsigned)p->gid, strerror(errno));
		return -1;
	}
	if (setresgid(p->gid, p->gid, p->gid) < 0) {
		log_error("cannot switch to gid %u: %s", (unsigned)p->gid, strerror(errno));
		return -1;
	}
	if (setresuid(p->uid, p->uid, p->uid) < 0) {
		log_error("cannot switch to uid %u: %s", (unsigned)p->uid, strerror(errno));
		return -1;
	}
	if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0 ||
	    ruid != p->uid || euid != p->uid || suid != p->uid ||
	    rgid != p->gid || egid != p->gid || sgid != p->gid) {
		log_error("switching to uid %u gid %u did not take", (unsigned)p->uid, (unsigned)p->gid);
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("uid 0 could be regained after switching to uid %u", (unsigned)p->uid);
		return -1;
	}
	return 0;
}

static int clear_capabilities(void)
{
	cap_t none = cap_init(); /* all sets empty */

	if (!none) {
		log_error("cannot allocate a capability set: %s", strerror(errno));
		return -1;
	}
	int r = cap_set_proc(none);
	if (r < 0)
		log_error("cannot clear the capability sets: %s", strerror(errno));
	cap_free(none);
	if (r == 0 && CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() < 0) {
		log_error("cannot clear the ambient capabilities: %s", strerror(errno));
		r = -1;
	}
	return r;
}

/* Reads the sets back: trust the kernel's view, not our calls' return values. */
static int verify_no_capabilities(void)
{
	cap_t now = cap_get_proc(), none = cap_init();
	int r = 0;

	if (!now || !none) {
		log_error("cannot read the capability sets back: %s", strerror(errno));
		r = -1;
	} else if (cap_compare(now, none) != 0) {
		char *text = cap_to_text(now, NULL);
		log_error("capabilities still held after dropping them: %s", text ? text : "?");
		cap_free(text);
		r = -1;
	}
	for (cap_value_t c = 0; r == 0 && CAP_AMBIENT_SUPPORTED() && c < cap_max_bits(); c++) {
		if (cap_get_ambient(c) > 0) {
			log_error("ambient capability %d still raised after dropping it", (int)c);
			r = -1;
		}
	}
	cap_free(now);
	cap_free(none);
	return r;
}

int privs_drop(const struct privs *p)
{
	if (drop_bounding_set(p->started_as_root && !p->switch_ids) < 0)
		return -1;
	if (p->switch_ids && switch_ids(p) < 0)
		return -1;
	if (clear_capabilities() < 0 || verify_no_capabilities() < 0)
		return -1;
	/* Nothing tapnetd could execute may gain privileges either. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("cannot set no_new_privs: %s", strerror(errno));
		return -1;
	}
	log_info("running as uid %u gid %u without capabilities", (unsigned)getuid(), (unsigned)getgid());
	return 0;
}

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#define X32_SYSCALL_BIT 0x40000000u
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

/*
 * Why: the operations of an io_uring pass no seccomp filter. tapnetd's own
 * ring can only read and write (tapdev.c, ring_restrict), but were
 * tapnetd taken over, a new ring could open files and sockets past the
 * systemd unit's SystemCallFilter and RestrictAddressFamilies; the unit can
 * allow tapnetd io_uring only because of this filter. Without a filter
 * there is nothing a ring could pass by, and no system call pays for one
 * (a filter sends every call the slow way into the kernel). Another ABI
 * numbers its calls differently, so its calls are refused whole.
 */
int privs_forbid_new_rings(void)
{
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) /* SECCOMP_MODE_FILTER */
		return 0;
#ifdef NATIVE_AUDIT_ARCH
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef X32_SYSCALL_BIT
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 2, 0),
#else
		BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0), /* nothing: the jumps below keep their offsets */
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_setup, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_io_uring_register, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	/* TSYNC: the closer's threads, if any yet, as the loop's (later ones inherit it) */
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
	if (r > 0) /* the id of a thread that could not take it */
		errno = EBUSY;
	return r == 0 ? 1 : -1;
#else
	errno = ENOSYS;
	return -1;
#endif
}
