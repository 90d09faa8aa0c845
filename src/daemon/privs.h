/*
 * privs.h - from root (or CAP_NET_ADMIN) to nothing.
 *
 * tapnetd needs privileges only to create and configure the tap and to
 * place the control socket. After that it switches to the configured
 * account and gives up every capability, in every set (effective,
 * permitted, inheritable, ambient, and the bounding set when it may).
 */
#ifndef TAPNETD_PRIVS_H
#define TAPNETD_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#include "daemon_config.h"

struct privs {
	bool started_as_root;  /* euid 0 at start */
	bool switch_ids;       /* setgroups/setgid/setuid to uid/gid */
	uid_t uid;             /* who we run as afterwards: owns the control socket */
	gid_t gid;             /* the group that may use the control socket */
};

/*
 * Looks up [daemon] user and group before anything is set up, so a missing
 * account is reported before the tap exists. Returns 0 or -1 (logged).
 */
int privs_resolve(const struct daemon_config *cfg, struct privs *p);

/* Switches ids (when root) and clears every capability; verifies both. 0 or -1 (logged). */
int privs_drop(const struct privs *p);

/*
 * After privs_drop and the tap's io_uring (tapdev_batch_open), when tapnetd
 * was started under a seccomp filter (the systemd unit's): one more, on
 * every thread, makes io_uring_setup(2) and io_uring_register(2) fail with
 * EPERM from now on, and every call of another ABI (32-bit x86, x32).
 * 1 when added, 0 when there was no filter to keep (nothing to add), -1
 * with errno where it could not be added (logged by the caller).
 */
int privs_forbid_new_rings(void);

#endif
