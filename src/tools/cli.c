/*
 * cli.c - what every `tapnet` command shares: the connection to tapnetd,
 * the request/reply plumbing, error reporting and printing helpers.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"
#include "stack/stack.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */


/* Prints "tapnet: ..." to stderr and returns EXIT_FAILURE for `return fail(...)`. */
int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("tapnet: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

int malformed(const char *what)
{
	return fail("malformed reply from tapnetd: %s", what);
}

/* Why a request got no usable reply, in words. */
int report_call_error(const char *request, int err)
{
	switch (err) {
	case ETIMEDOUT:
		return fail("%s: no reply from tapnetd within %d s", request,
			    REPLY_TIMEOUT_MS / 1000);
	case ECONNRESET:
		return fail("%s: tapnetd closed the connection", request);
	case EPROTO:
		return fail("%s: malformed reply from tapnetd (or not an answer to the request)",
			    request);
	case EMSGSIZE:
		return fail("%s: malformed reply from tapnetd (larger than the protocol allows)",
			    request);
	default:
		return fail("%s: %s", request, strerror(err));
	}
}

/* ---------------------------------------------------------------- memory */

void *array_room(void *v, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return v;
	size_t more = *cap ? *cap * 2 : 64;
	if (more > SIZE_MAX / size)
		return NULL;
	void *w = realloc(v, more * size);
	if (w)
		*cap = more;
	return w;
}

/* ---------------------------------------------------------------- requests */

/*
 * Sends a request of the given type carrying only the attributes that
 * attrs_fn(w, arg) writes, and leaves the reply in cli->reply. Error
 * replies are reported here, so callers see either a reply of their type
 * or EXIT_FAILURE.
 */
int call(struct cli *cli, uint16_t type, attrs_fn_t attrs_fn, const void *arg)
{
	uint8_t req[512];
	struct tn_rpc_writer w;
	const char *name = tn_rpc_type_name(type);

	tn_rpc_begin(&w, req, sizeof(req), type, cli->next_id++);
	if (attrs_fn)
		attrs_fn(&w, arg);
	long req_len = tn_rpc_end(&w);

	if (req_len < 0)
		return fail("%s: request does not fit in a message", name);

	long len = tn_rpc_call(cli->fd, req, (size_t)req_len, cli->reply, TN_RPC_MAX_MSG,
			       REPLY_TIMEOUT_MS);

	if (len < 0)
		return report_call_error(name, errno);
	cli->reply_len = (size_t)len;

	struct tn_rpc_header hdr;

	tn_rpc_parse_header(cli->reply, cli->reply_len, &hdr);
	if ((hdr.type & ~TN_RPC_REPLY) != TN_RPC_ERROR)
		return EXIT_SUCCESS;

	char message[1024];
	int err;

	if (!tn_rpc_decode_error(cli->reply, cli->reply_len, &err, message, sizeof(message)))
		return malformed("bad error reply");
	if (message[0] == '\0')
		return fail("%s request failed: %s", name, strerror(err));
	/* a daemon with nothing to add may send strerror() as the message */
	if (strcmp(message, strerror(err)) == 0)
		return fail("%s", message);
	return fail("%s: %s", message, strerror(err));
}

static void hello_attrs(struct tn_rpc_writer *w, const void *arg)
{
	(void)arg;
	tn_rpc_put_str(w, TN_ATTR_CLIENT_NAME, CLIENT_NAME);
}

/*
 * HELLO first: the daemon learns (and can log) who is asking, we learn
 * that the peer speaks our protocol before asking anything real, and its
 * version and pid are what `status` shows.
 */
static int decode_hello(struct cli *cli)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;

	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type == TN_ATTR_VERSION_STR &&
		    !tn_rpc_get_str(&a, cli->daemon_version, sizeof(cli->daemon_version)))
			return malformed("bad VERSION_STR in HELLO");
		if (a.type == TN_ATTR_PID) {
			if (!tn_rpc_get_u32(&a, &cli->daemon_pid))
				return malformed("bad PID in HELLO");
			cli->have_daemon_pid = true;
		}
	}
	return it.bad ? malformed("bad HELLO") : EXIT_SUCCESS;
}

int cli_connect(struct cli *cli)
{
	cli->fd = tn_rpc_connect(cli->socket_path, REPLY_TIMEOUT_MS);
	if (cli->fd < 0) {
		int err = errno;
		bool not_running = err == ENOENT || err == ECONNREFUSED;

		return fail("cannot connect to %s: %s%s", cli->socket_path, strerror(err),
			    not_running ? " (is tapnetd running?)" : "");
	}
	if (call(cli, TN_RPC_HELLO, hello_attrs, NULL) != EXIT_SUCCESS)
		return EXIT_FAILURE;
	return decode_hello(cli);
}

/* ---------------------------------------------------------------- printing helpers */

/* The core's formats, so that the CLI and the daemon's log write addresses alike. */
const char *ip4_str(uint32_t addr, char buf[16])
{
	return tn_ip4_str(addr, buf);
}

const char *mac_str(const uint8_t mac[MAC_LEN], char buf[18])
{
	return tn_mac_str(mac, buf);
}

bool mac_is_zero(const uint8_t mac[MAC_LEN])
{
	for (int i = 0; i < MAC_LEN; i++)
		if (mac[i])
			return false;
	return true;
}

/* "3d 04h 05m 06s", leading zero units left out */
const char *duration_str(uint64_t ms, char *buf, size_t cap)
{
	uint64_t s = ms / 1000;
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;

	if (d)
		snprintf(buf, cap, "%" PRIu64 "d %02" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s",
			 d, h, m, sec);
	else if (h)
		snprintf(buf, cap, "%" PRIu64 "h %02" PRIu64 "m %02" PRIu64 "s", h, m, sec);
	else if (m)
		snprintf(buf, cap, "%" PRIu64 "m %02" PRIu64 "s", m, sec);
	else
		snprintf(buf, cap, "%" PRIu64 "s", sec);
	return buf;
}

/*
 * A JSON string literal. Bytes outside printable ASCII are escaped, so the
 * output is valid JSON whatever the daemon sent.
 */
void json_string(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p >= 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}


const char *endpoint_str(uint32_t addr, uint32_t port, bool wild_port, char *buf, size_t cap)
{
	char a[16];

	if (wild_port && port == 0)
		snprintf(buf, cap, "%s:*", ip4_str(addr, a));
	else
		snprintf(buf, cap, "%s:%" PRIu32, ip4_str(addr, a), port);
	return buf;
}
