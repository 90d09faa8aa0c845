/*
 * notify.c - READY=1, STATUS=, STOPPING=1 and WATCHDOG=1 for systemd.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

bool notify_under_systemd(void)
{
	const char *notify = getenv("NOTIFY_SOCKET");
	const char *invocation = getenv("INVOCATION_ID");

	return (notify && *notify) || (invocation && *invocation);
}

/* "/path" or "@abstract" (leading NUL on the wire). */
static bool set_address(struct notifier *n, const char *path)
{
	size_t len = strlen(path);

	if ((path[0] != '/' && path[0] != '@') || len < 2 || len > sizeof(n->addr.sun_path)) {
		log_warning("NOTIFY_SOCKET '%s' is not a socket path or abstract name: systemd is not notified",
			    path);
		return false;
	}
	memset(&n->addr, 0, sizeof(n->addr));
	n->addr.sun_family = AF_UNIX;
	memcpy(n->addr.sun_path, path, len);
	if (path[0] == '@')
		n->addr.sun_path[0] = '\0';
	n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
	return true;
}

/* WATCHDOG_USEC applies to us only if WATCHDOG_PID is absent or our pid. */
static uint64_t read_watchdog_usec(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	char *end;

	if (!usec || !*usec)
		return 0;
	if (pid && *pid) {
		errno = 0;
		unsigned long long p = strtoull(pid, &end, 10);
		if (errno || *end || p != (unsigned long long)getpid())
			return 0;
	}
	errno = 0;
	unsigned long long v = strtoull(usec, &end, 10);
	if (errno || *end || v == 0) {
		log_warning("ignoring WATCHDOG_USEC '%s': not a positive number", usec);
		return 0;
	}
	return v;
}

void notify_init(struct notifier *n)
{
	const char *path = getenv("NOTIFY_SOCKET");

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	if (!path || !*path || !set_address(n, path))
		return;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd < 0) {
		log_warning("cannot create the notification socket: %s", strerror(errno));
		return;
	}
	/*
	 * Connected now, while privileged: the permission to send is checked
	 * here, so it survives the drop to an account that could not open it.
	 */
	if (connect(n->fd, (struct sockaddr *)&n->addr, n->addr_len) < 0)
		log_warning("cannot connect to NOTIFY_SOCKET %s: %s", path, strerror(errno));
	n->watchdog_usec = read_watchdog_usec();
	n->error_log = (struct log_ratelimit)LOG_RATELIMIT_INIT(60, 3);
}

static void notify_send(struct notifier *n, const char *msg)
{
	uint64_t suppressed;
	char note[64];

	if (n->fd < 0)
		return;
	if (send(n->fd, msg, strlen(msg), MSG_NOSIGNAL) < 0 &&
	    log_ratelimit_ok(&n->error_log, &suppressed))
		log_warning("cannot notify systemd of %.*s: %s%s", (int)strcspn(msg, "\n"), msg,
			    strerror(errno), log_suppressed_note(suppressed, note));
}

void notify_ready(struct notifier *n, const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s\nMAINPID=%ld", status, (long)getpid());
	notify_send(n, msg);
}

void notify_status(struct notifier *n, const char *status)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "STATUS=%s", status);
	notify_send(n, msg);
}

void notify_reloading(struct notifier *n)
{
	/* Plain RELOADING=1 suffices for Type=notify; Type=notify-reload wants MONOTONIC_USEC too. */
	notify_send(n, "RELOADING=1");
}

void notify_stopping(struct notifier *n)
{
	notify_send(n, "STOPPING=1");
}

static void watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct notifier *n = w->data;

	notify_send(n, "WATCHDOG=1");
}

void notify_watchdog_start(struct notifier *n, struct ev_loop *loop)
{
	if (n->fd < 0 || n->watchdog_usec == 0)
		return;
	ev_tstamp half = (ev_tstamp)n->watchdog_usec / 2e6;
	ev_timer_init(&n->watchdog, watchdog_cb, half, half);
	n->watchdog.data = n;
	n->loop = loop;
	ev_timer_start(loop, &n->watchdog);
	notify_send(n, "WATCHDOG=1");
	log_debug("systemd watchdog: pinging every %.3f s", half);
}

void notify_fini(struct notifier *n)
{
	if (n->loop)
		ev_timer_stop(n->loop, &n->watchdog);
	n->loop = NULL;
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}
