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

/* Closes every client and the socket, and removes the socket file. NULL is fine. */
void control_close(struct control *ctl);

#endif
