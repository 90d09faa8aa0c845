/*
 * services.c - echo, discard, daytime and chargen over the core's sockets.
 *
 * Everything runs in socket callbacks, which the core calls at the end of
 * its entry points (a frame batch, a timer run), so a handler may close
 * its own socket. Each connection is a small struct on a list, so that
 * services_stop() can reset whatever is still open.
 *
 *   echo     reads only as much as the send buffer can take back: a peer
 *            that does not read what is echoed sees tapnet's window close.
 *            At the peer's FIN the rest is sent and then our FIN.
 *   discard  reads everything; closes after the peer's FIN.
 *   daytime  sends one line at accept and closes (tapnet closes first).
 *   chargen  fills the send buffer from the RFC 864 pattern whenever there
 *            is room, throws input away, and stops at chargen_bytes (FIN)
 *            or when the peer resets the connection. A FIN from the peer
 *            only ends its input, as with BSD inetd.
 */
#include "services.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

enum service_kind { SVC_ECHO, SVC_DISCARD, SVC_DAYTIME, SVC_CHARGEN, SVC__COUNT };

static const char *const service_names[SVC__COUNT] = { "echo", "discard", "daytime", "chargen" };

/* One accepted connection; lives from accept until we close its socket. */
struct service_conn {
	struct services *svc;
	struct tn_sock *sock;
	enum service_kind kind;
	struct service_conn *prev, *next;
	uint64_t in_octets, out_octets;
	bool peer_done; /* its FIN was read */
	tn_ip4 raddr;
	uint16_t rport;
};

struct services {
	struct tn_stack *stack;
	struct services_config cfg;
	uint64_t *counters; /* SVC_CTR__COUNT */
	struct tn_sock *listener[SVC__COUNT];
	struct service_conn *conns;
};

/*
 * Bytes moved per recv/send call; a full ring takes several. The core sends
 * what a send gives it at once, so a chunk is also the largest frame
 * (TSO) a service's stream leaves in: 64 KiB, the most a frame holds.
 * With 16 KiB, chargen's frames held 16 498 bytes on average and it sent
 * 9.6-10.6 Gbit/s; with 64 KiB 54 331 and 16.0-25.0 (bench/tcp 2, two
 * alternating rounds).
 */
#define SERVICE_CHUNK 65536
/* Accept queue asked for; the core caps it at [tcp] somaxconn. */
#define SERVICE_BACKLOG 65535

/*
 * RFC 864: lines of 72 characters from the 95 printable ASCII characters
 * (' ' to '~'), each line starting one character further along, CR LF
 * after each. After 95 lines the pattern repeats.
 */
#define CHARGEN_WIDTH 72
#define CHARGEN_LINE (CHARGEN_WIDTH + 2)
#define CHARGEN_CHARS 95
#define CHARGEN_CYCLE (CHARGEN_CHARS * CHARGEN_LINE)

/* One cycle plus one chunk, so any offset in the cycle has a chunk after it. */
static char chargen_pattern[CHARGEN_CYCLE + SERVICE_CHUNK];

static void chargen_init_pattern(void)
{
	for (size_t n = 0; n < sizeof(chargen_pattern); n++) {
		size_t line = (n / CHARGEN_LINE) % CHARGEN_CHARS, col = n % CHARGEN_LINE;
		if (col < CHARGEN_WIDTH)
			chargen_pattern[n] = (char)(' ' + (line + col) % CHARGEN_CHARS);
		else
			chargen_pattern[n] = col == CHARGEN_WIDTH ? '\r' : '\n';
	}
}

static void count(struct services *svc, enum services_counter which, uint64_t n)
{
	svc->counters[which] += n;
}

/* Ends c: abort (RST) or close (FIN after what is queued), and forgets it. */
static void conn_end(struct service_conn *c, bool abort, const char *why)
{
	struct services *svc = c->svc;
	char addr[16];

	log_debug("%s: %s:%u %s (read %llu, sent %llu bytes)", service_names[c->kind],
		  tn_ip4_str(c->raddr, addr), c->rport, why, (unsigned long long)c->in_octets,
		  (unsigned long long)c->out_octets);
	if (c->prev)
		c->prev->next = c->next;
	else
		svc->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	tn_sock_set_callback(c->sock, NULL, NULL);
	if (abort)
		tn_sock_abort(c->sock);
	else
		tn_sock_close(c->sock);
	free(c);
}

static long conn_recv(struct service_conn *c, void *buf, size_t len)
{
	long n = tn_sock_recv(c->sock, buf, len);
	if (n > 0) {
		c->in_octets += (uint64_t)n;
		count(c->svc, SVC_CTR_SvcInOctets, (uint64_t)n);
	}
	return n;
}

static long conn_send(struct service_conn *c, const void *buf, size_t len)
{
	long n = tn_sock_send(c->sock, buf, len);
	if (n > 0) {
		c->out_octets += (uint64_t)n;
		count(c->svc, SVC_CTR_SvcOutOctets, (uint64_t)n);
	}
	return n;
}

enum input { INPUT_MORE, INPUT_EOF, INPUT_ERROR };

/* Reads and throws away everything there is. */
static enum input drain_input(struct service_conn *c)
{
	static char sink[SERVICE_CHUNK];

	for (;;) {
		long n = conn_recv(c, sink, sizeof(sink));
		if (n > 0)
			continue;
		if (n == -EAGAIN)
			return INPUT_MORE;
		return n == 0 ? INPUT_EOF : INPUT_ERROR;
	}
}

static void echo_event(struct service_conn *c)
{
	static char buf[SERVICE_CHUNK];

	for (;;) {
		size_t room = tn_sock_writable(c->sock);
		if (room == 0)
			return; /* WRITABLE comes when the peer acknowledges */
		long n = conn_recv(c, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (n == -EAGAIN)
			return;
		if (n == 0) {
			conn_end(c, false, "closed (peer's FIN)");
			return;
		}
		if (n < 0) {
			conn_end(c, false, strerror((int)-n));
			return;
		}
		long sent = conn_send(c, buf, (size_t)n);
		if (sent != n) { /* cannot happen: there was room for n */
			log_warning("echo: send took %ld of %ld bytes; resetting the connection",
				    sent, n);
			conn_end(c, true, "reset");
			return;
		}
	}
}

static void discard_event(struct service_conn *c)
{
	switch (drain_input(c)) {
	case INPUT_MORE:
		return;
	case INPUT_EOF:
		conn_end(c, false, "closed (peer's FIN)");
		return;
	case INPUT_ERROR:
		conn_end(c, false, "ended by an error");
		return;
	}
}

static void chargen_event(struct service_conn *c)
{
	uint64_t limit = c->svc->cfg.chargen_bytes;

	if (!c->peer_done) {
		enum input in = drain_input(c);
		if (in == INPUT_ERROR) {
			conn_end(c, false, "ended by an error");
			return;
		}
		c->peer_done = in == INPUT_EOF;
	}
	for (;;) {
		if (limit && c->out_octets >= limit) {
			/* input was drained just above: this is a FIN, not a RST */
			conn_end(c, false, "closed (chargen_bytes sent)");
			return;
		}
		size_t n = tn_sock_writable(c->sock);
		if (n == 0)
			return;
		if (n > SERVICE_CHUNK)
			n = SERVICE_CHUNK;
		if (limit && n > limit - c->out_octets)
			n = (size_t)(limit - c->out_octets);
		long sent = conn_send(c, chargen_pattern + c->out_octets % CHARGEN_CYCLE, n);
		if (sent <= 0)
			return;
	}
}

/* RFC 867 leaves the format open; this is its example's. */
static void daytime_event(struct service_conn *c)
{
	char line[96];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	size_t n = strftime(line, sizeof(line), "%A, %B %d, %Y %H:%M:%S-UTC\r\n", &tm);
	if (conn_send(c, line, n) != (long)n) {
		conn_end(c, true, "reset (cannot send)");
		return;
	}
	/* Unread input would turn our FIN into a RST (RFC 1122 4.2.2.13). */
	drain_input(c);
	conn_end(c, false, "closed after the daytime line");
}

static void conn_event(struct tn_sock *s, unsigned events, void *arg)
{
	struct service_conn *c = arg;

	if (events & TN_SOCK_EV_ERROR) {
		int err = tn_sock_error(s);
		conn_end(c, false, err ? strerror(-err) : "ended by an error");
		return;
	}
	switch (c->kind) {
	case SVC_ECHO:
		echo_event(c);
		return;
	case SVC_DISCARD:
		discard_event(c);
		return;
	case SVC_CHARGEN:
		chargen_event(c);
		return;
	case SVC_DAYTIME:
	case SVC__COUNT:
		break;
	}
}

static void accept_one(struct services *svc, enum service_kind kind, struct tn_sock *s)
{
	struct service_conn *c = calloc(1, sizeof(*c));
	struct tn_sock_info info;
	char addr[16];

	if (!c) {
		log_warning("%s: out of memory for a connection; resetting it", service_names[kind]);
		tn_sock_abort(s);
		return;
	}
	tn_sock_info(s, &info);
	c->svc = svc;
	c->sock = s;
	c->kind = kind;
	c->raddr = info.remote_addr;
	c->rport = info.remote_port;
	c->next = svc->conns;
	if (svc->conns)
		svc->conns->prev = c;
	svc->conns = c;
	count(svc, SVC_CTR_SvcAccepts, 1);
	log_debug("%s: connection from %s:%u", service_names[kind], tn_ip4_str(c->raddr, addr),
		  c->rport);
	tn_sock_set_callback(s, conn_event, c);
	/* Services that speak first do so now; the others wait for events. */
	if (kind == SVC_DAYTIME)
		daytime_event(c);
	else if (kind == SVC_CHARGEN)
		chargen_event(c);
}

static void listener_event(struct tn_sock *listener, unsigned events, void *arg)
{
	struct services *svc = arg;
	enum service_kind kind = SVC_ECHO;
	struct tn_sock *s;

	while (kind < SVC__COUNT && svc->listener[kind] != listener)
		kind++;
	if (kind == SVC__COUNT || !(events & TN_SOCK_EV_ACCEPT))
		return;
	while ((s = tn_sock_accept(listener, NULL)))
		accept_one(svc, kind, s);
}

/* A socket the core would not give (over [tcp] max_conns, or out of memory). */
#define NO_SOCKET 1

static int listen_on(struct services *svc, enum service_kind kind, uint16_t port)
{
	struct tn_sock *s = tn_sock_open(svc->stack);
	int err;

	if (!s)
		return NO_SOCKET;
	err = tn_sock_bind(s, 0, port);
	if (!err)
		err = tn_sock_listen(s, SERVICE_BACKLOG);
	if (err) {
		tn_sock_close(s);
		return err;
	}
	svc->listener[kind] = s;
	tn_sock_set_callback(s, listener_event, svc);
	log_info("%s service listening on port %u", service_names[kind], port);
	return 0;
}

static const char *listen_error(int err)
{
	return err == NO_SOCKET ? "no socket ([tcp] max_conns reached, or out of memory)"
				: strerror(-err);
}

static void stop_listening(struct services *svc, enum service_kind kind)
{
	if (!svc->listener[kind])
		return;
	tn_sock_set_callback(svc->listener[kind], NULL, NULL);
	tn_sock_close(svc->listener[kind]);
	svc->listener[kind] = NULL;
}

static void ports_of(const struct services_config *cfg, uint16_t ports[SVC__COUNT])
{
	ports[SVC_ECHO] = cfg->echo_port;
	ports[SVC_DISCARD] = cfg->discard_port;
	ports[SVC_DAYTIME] = cfg->daytime_port;
	ports[SVC_CHARGEN] = cfg->chargen_port;
}

int services_reconfigure(struct services *svc, const struct services_config *cfg)
{
	uint16_t was[SVC__COUNT], now[SVC__COUNT];
	int failed = 0;

	ports_of(&svc->cfg, was);
	ports_of(cfg, now);
	svc->cfg = *cfg;
	for (int k = 0; k < SVC__COUNT; k++) {
		if (was[k] == now[k] && (svc->listener[k] || !now[k]))
			continue;
		stop_listening(svc, (enum service_kind)k);
		if (!was[k] || !now[k])
			log_info("%s service %s", service_names[k], now[k] ? "on" : "off");
		if (!now[k])
			continue;
		int err = listen_on(svc, (enum service_kind)k, now[k]);
		if (err) {
			log_error("cannot start the %s service on port %u: %s; it stays off",
				  service_names[k], now[k], listen_error(err));
			failed++;
		}
	}
	return failed;
}

struct services *services_start(struct tn_stack *stack, const struct services_config *cfg,
				uint64_t *counters)
{
	uint16_t ports[SVC__COUNT];
	struct services *svc = calloc(1, sizeof(*svc));

	if (!svc) {
		log_error("out of memory for the built-in services");
		return NULL;
	}
	svc->stack = stack;
	svc->cfg = *cfg;
	svc->counters = counters;
	ports_of(cfg, ports);
	chargen_init_pattern();
	for (int k = 0; k < SVC__COUNT; k++) {
		if (!ports[k])
			continue;
		int err = listen_on(svc, (enum service_kind)k, ports[k]);
		if (err) {
			log_error("cannot start the %s service on port %u: %s", service_names[k],
				  ports[k], listen_error(err));
			services_stop(svc);
			return NULL;
		}
	}
	return svc;
}

void services_stop(struct services *svc)
{
	if (!svc)
		return;
	while (svc->conns)
		conn_end(svc->conns, true, "reset (tapnetd stopping)");
	for (int k = 0; k < SVC__COUNT; k++)
		stop_listening(svc, (enum service_kind)k);
	free(svc);
}
