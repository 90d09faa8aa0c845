/*
 * control.h - the control socket: a Unix stream socket speaking the
 * protocol of rpc/rpc.h to the `tapnet` tool and libtapnet.
 *
 * Who may connect is decided by the socket file's owner, group and mode.
 * A client that sends anything malformed loses its connection, and only
 * it; one that does not read its replies is dropped the same way.
 */
#ifndef TAPNETD_CONTROL_H
#define TAPNETD_CONTROL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct tapnetd;
struct control;

/*
 * Creates the socket at d->cfg.control_socket (and its directory), owned
 * by d->privs, and starts accepting on d->loop. Refuses when another
 * tapnetd listens there; removes a stale socket. NULL on error (logged).
 */
struct control *control_open(struct tapnetd *d);

unsigned control_client_count(const struct control *ctl);
/* The daemon's limits in its configuration changed: apply them. */
void control_apply_limits(struct control *ctl);

/*
 * A RESET_NOTICE for the socket named cookie to the reset watcher of the
 * process pid (of user uid), if it has one (rpc.h, TN_RPC_RESETS): true
 * when one was queued.
 */
bool control_reset_notice(struct control *ctl, pid_t pid, uid_t uid, uint64_t cookie);

/*
 * The loop is about to wait: tells every client with an option ring to
 * wake it after writing there (OPTION_RING_WAKE), then reads the rings
 * once more. The first pass after the wait tells them it is awake.
 */
void control_rings_sleep(struct control *ctl);

/* Closes every client and the socket, and removes the socket file. NULL is fine. */
void control_close(struct control *ctl);

#endif
