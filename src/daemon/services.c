/* services.c - echo, discard, daytime and chargen over the core's sockets. */
#include "services.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

enum service_kind { SVC_ECHO, SVC_DISCARD, SVC_DAYTIME, SVC_CHARGEN, SVC__COUNT };

static const char *const service_names[SVC__COUNT] = {"echo", "discard", "daytime", "chargen"};

/* One accepted connection; lives from accept until we close its socket. */
struct service_conn {
	struct services *svc;
	struct tn_sock *sock;
	enum service_kind kind;
	struct service_conn *prev, *next;
	uint64_t chargen_sent;
	bool peer_done;
};

struct services {
	struct tn_stack *stack;
	struct services_config cfg;
	struct tn_sock *listener[SVC__COUNT];
	struct service_conn *conns;
};

/* Large enough to fill a segment train per event, small enough for the stack. */
#define SERVICE_CHUNK 16384
/* RFC 864: 72 printable characters per line, each line starting one later. */
#define CHARGEN_LINE 74 /* 72 + CR LF */
#define CHARGEN_CYCLE (95 * CHARGEN_LINE)

static char chargen_pattern[CHARGEN_CYCLE + SERVICE_CHUNK];

static void chargen_init_pattern(void)
{
	size_t n = 0;
	while (n < sizeof(chargen_pattern)) {
		size_t line = (n / CHARGEN_LINE) % 95, col = n % CHARGEN_LINE;
		chargen_pattern[n++] = col < 72 ? (char)(' ' + (line + col) % 95) : (col == 72 ? '\r' : '\n');
	}
}

static void conn_close(struct service_conn *c)
{
	struct services *svc = c->svc;
	if (c->prev)
		c->prev->next = c->next;
	else
		svc->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	tn_sock_set_callback(c->sock, NULL, NULL);
	tn_sock_close(c->sock);
	free(c);
}

/* Reads what the peer sent; returns false once the connection was closed here. */
static bool drain_input(struct service_conn *c)
{
	static char sink[SERVICE_CHUNK];
	for (;;) {
		long n = tn_sock_recv(c->sock, sink, sizeof(sink));
		if (n == -EAGAIN)
			return true;
		if (n <= 0) {
			c->peer_done = true;
			conn_close(c); /* EOF or error: we are done too */
			return false;
		}
	}
}

static void echo_event(struct service_conn *c)
{
	static char buf[SERVICE_CHUNK];
	/* Never read more than we can send back: a slow reader closes our window. */
	for (;;) {
		size_t room = tn_sock_writable(c->sock);
		if (room == 0)
			return;
		long n = tn_sock_recv(c->sock, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		long sent = tn_sock_send(c->sock, buf, (size_t)n);
		if (sent != n) {
			log_msg(LOG_LEVEL_WARNING, "echo: send returned %ld of %ld, closing", sent, n);
			tn_sock_abort(c->sock);
			conn_close(c);
			return;
		}
	}
}

static void chargen_event(struct service_conn *c)
{
	uint64_t limit = c->svc->cfg.chargen_bytes;
	for (;;) {
		size_t room = tn_sock_writable(c->sock);
		if (limit && c->chargen_sent >= limit) {
			conn_close(c);
			return;
		}
		if (room == 0)
			break;
		size_t n = room < SERVICE_CHUNK ? room : SERVICE_CHUNK;
		if (limit && n > limit - c->chargen_sent)
			n = (size_t)(limit - c->chargen_sent);
		long sent = tn_sock_send(c->sock, chargen_pattern + c->chargen_sent % CHARGEN_CYCLE, n);
		if (sent <= 0)
			break;
		c->chargen_sent += (uint64_t)sent;
	}
	drain_input(c);
}

static void daytime_send(struct service_conn *c)
{
	char line[64];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	size_t n = strftime(line, sizeof(line), "%A, %B %d, %Y %H:%M:%S-UTC\r\n", &tm);
	tn_sock_send(c->sock, line, n);
	/* RFC 867: send the line and close, which makes tapnet the active closer. */
	conn_close(c);
}

static void conn_event(struct tn_sock *s, unsigned events, void *arg)
{
	struct service_conn *c = arg;
	if (events & (TN_SOCK_EV_ERROR | TN_SOCK_EV_CLOSED)) {
		conn_close(c);
		return;
	}
	switch (c->kind) {
	case SVC_ECHO:
		echo_event(c);
		break;
	case SVC_DISCARD:
		drain_input(c);
		break;
	case SVC_CHARGEN:
		chargen_event(c);
		break;
	case SVC_DAYTIME:
	case SVC__COUNT:
		drain_input(c);
		break;
	}
}

static void listener_event(struct tn_sock *listener, unsigned events, void *arg)
{
	struct services *svc = arg;
	enum service_kind kind = SVC_ECHO;
	while (kind < SVC__COUNT && svc->listener[kind] != listener)
		kind++;
	if (kind == SVC__COUNT || !(events & TN_SOCK_EV_ACCEPT))
		return;
	struct tn_sock *s;
	while ((s = tn_sock_accept(listener, NULL))) {
		struct service_conn *c = calloc(1, sizeof(*c));
		if (!c) {
			tn_sock_abort(s);
			continue;
		}
		c->svc = svc;
		c->sock = s;
		c->kind = kind;
		c->next = svc->conns;
		if (svc->conns)
			svc->conns->prev = c;
		svc->conns = c;
		tn_sock_set_callback(s, conn_event, c);
		if (kind == SVC_DAYTIME)
			daytime_send(c);
		else if (kind == SVC_CHARGEN)
			chargen_event(c);
	}
}

static int listen_on(struct services *svc, enum service_kind kind, uint16_t port)
{
	struct tn_sock *s = tn_sock_open(svc->stack);
	if (!s)
		return -ENOMEM;
	int err = tn_sock_bind(s, 0, port);
	if (!err)
		err = tn_sock_listen(s, 1024);
	if (err) {
		tn_sock_close(s);
		return err;
	}
	tn_sock_set_callback(s, listener_event, svc);
	svc->listener[kind] = s;
	log_msg(LOG_LEVEL_INFO, "service %s listening on port %u", service_names[kind], port);
	return 0;
}

struct services *services_start(struct tn_stack *stack, const struct services_config *cfg,
				int *err, const char **failed_service)
{
	struct services *svc = calloc(1, sizeof(*svc));
	if (!svc) {
		*err = -ENOMEM;
		return NULL;
	}
	svc->stack = stack;
	svc->cfg = *cfg;
	chargen_init_pattern();
	const uint16_t ports[SVC__COUNT] = {cfg->echo_port, cfg->discard_port, cfg->daytime_port,
					    cfg->chargen_port};
	for (int k = 0; k < SVC__COUNT; k++) {
		if (!ports[k])
			continue;
		*err = listen_on(svc, (enum service_kind)k, ports[k]);
		if (*err) {
			*failed_service = service_names[k];
			services_stop(svc);
			return NULL;
		}
	}
	*err = 0;
	return svc;
}

void services_stop(struct services *svc)
{
	if (!svc)
		return;
	while (svc->conns) {
		tn_sock_abort(svc->conns->sock);
		conn_close(svc->conns);
	}
	for (int k = 0; k < SVC__COUNT; k++)
		if (svc->listener[k]) {
			tn_sock_set_callback(svc->listener[k], NULL, NULL);
			tn_sock_close(svc->listener[k]);
		}
	free(svc);
}
