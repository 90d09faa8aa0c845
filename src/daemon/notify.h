/*
 * notify.h - the sd_notify(3) protocol, spoken directly (no libsystemd):
 * one datagram of "KEY=value" lines to the socket named by NOTIFY_SOCKET.
 * Everything here is a no-op when tapnetd is not run by systemd.
 */
#ifndef TAPNETD_NOTIFY_H
#define TAPNETD_NOTIFY_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"

struct notifier {
	int fd;                    /* -1: not under systemd */
	struct sockaddr_un addr;
	socklen_t addr_len;
	uint64_t watchdog_usec;    /* 0: no watchdog asked for */
	ev_timer watchdog;
	struct ev_loop *loop;      /* set while the watchdog timer runs */
	struct log_ratelimit error_log;
};

/* true when started by systemd: then tapnetd never daemonizes itself. */
bool notify_under_systemd(void);

/* Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID. Failures are logged, not fatal. */
void notify_init(struct notifier *n);

/* READY=1 with a STATUS= line and MAINPID=. */
void notify_ready(struct notifier *n, const char *status);
void notify_status(struct notifier *n, const char *status);
void notify_reloading(struct notifier *n);
void notify_stopping(struct notifier *n);

/* Sends WATCHDOG=1 every half WATCHDOG_USEC from a timer on loop. */
void notify_watchdog_start(struct notifier *n, struct ev_loop *loop);

void notify_fini(struct notifier *n);

#endif
