/*
 * check_config.c - tapnetd.conf parsing: values, defaults, and that every
 * kind of mistake is reported as "FILE:LINE: message" on the right line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon_config.h"
#include "daemon/log.h"

#ifndef TEST_SRCDIR
#define TEST_SRCDIR "."
#endif

#define MAX_ERRORS 16

struct errors {
	unsigned n;
	char line[MAX_ERRORS][512];
};

static void collect_error(void *ctx, const char *line)
{
	struct errors *e = ctx;

	if (e->n < MAX_ERRORS)
		snprintf(e->line[e->n], sizeof(e->line[0]), "%s", line);
	e->n++;
}

static char path[64];
static struct daemon_config cfg;
static struct errors errs;

/* Writes text to a fresh temp file (in the build directory when possible) at path. */
static void write_config(const char *text)
{
	int fd;

	snprintf(path, sizeof(path), "check_config.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0) {
		snprintf(path, sizeof(path), "/tmp/check_config.XXXXXX");
		fd = mkstemp(path);
	}
	ck_assert_int_ge(fd, 0);
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static unsigned load(const char *text)
{
	write_config(text);
	memset(&errs, 0, sizeof(errs));
	unsigned n = config_load(path, &cfg, collect_error, &errs);
	unlink(path);
	ck_assert_uint_eq(n, errs.n);
	return n;
}

/* The only error is on line `line` and its message contains `what`. */
static void expect_one_error(const char *text, unsigned line, const char *what)
{
	char prefix[128];

	ck_assert_msg(load(text) == 1, "expected 1 error, got %u (first: %s)", errs.n,
		      errs.n ? errs.line[0] : "none");
	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	ck_assert_msg(strncmp(errs.line[0], prefix, strlen(prefix)) == 0,
		      "'%s' does not start with '%s'", errs.line[0], prefix);
	ck_assert_msg(strstr(errs.line[0], what), "'%s' does not mention '%s'", errs.line[0], what);
}

START_TEST(test_empty_file_gives_defaults)
{
	struct daemon_config defaults;

	config_defaults(&defaults);
	ck_assert_uint_eq(load(""), 0);
	ck_assert_mem_eq(&cfg, &defaults, sizeof(cfg));
	ck_assert_str_eq(cfg.ifname, "tap0");
	ck_assert_uint_eq(cfg.core.mtu, 1500);
	ck_assert_uint_eq(cfg.core.addr, 0x0a000002);
	ck_assert_uint_eq(cfg.core.prefix_len, 24);
	ck_assert_uint_eq(cfg.core.gateway, 0);
	ck_assert_uint_eq(cfg.host_addr, 0);
	ck_assert_str_eq(cfg.user, "tapnet");
	ck_assert_str_eq(cfg.group, "tapnet");
	ck_assert_uint_eq(cfg.control_socket_mode, 0660);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_INFO);
	ck_assert_uint_eq(cfg.max_clients, 512);
	ck_assert_uint_eq(cfg.max_sockets, 16384);
	ck_assert_uint_eq(cfg.max_sockets_per_client, 4096);
	ck_assert_uint_eq(cfg.max_buffer_bytes, UINT64_C(4) << 30);
	ck_assert_uint_eq(cfg.max_buffer_bytes_per_client, UINT64_C(1) << 30);
}
END_TEST

START_TEST(test_buffer_limits)
{
	ck_assert_uint_eq(load("[daemon]\nmax_buffer_bytes = 65536\n"
			       "max_buffer_bytes_per_client = 1099511627776\n"), 0);
	ck_assert_uint_eq(cfg.max_buffer_bytes, 65536);
	ck_assert_uint_eq(cfg.max_buffer_bytes_per_client, UINT64_C(1) << 40);
	expect_one_error("[daemon]\nmax_buffer_bytes = 65535\n", 2,
			 "[daemon] max_buffer_bytes: 65535 is out of range 65536..1099511627776");
	expect_one_error("[daemon]\nmax_buffer_bytes_per_client = 1099511627777\n", 2, "out of range");
	expect_one_error("[daemon]\nmax_buffer_bytes = 4G\n", 2, "not a non-negative whole number");
}
END_TEST

/* SIGHUP takes over the [daemon] limits, and only them. */
START_TEST(reload_takes_limits_only)
{
	ck_assert_uint_eq(load("[interface]\nmtu = 9000\n[daemon]\nmax_sockets = 10\n"
			       "max_buffer_bytes = 1099511627776\n"), 0);
	struct daemon_config fresh = cfg;
	config_defaults(&cfg);
	uint64_t was = 1, now = 1;

	ck_assert(config_reload_key(&cfg, &fresh, "daemon", "max_sockets", &was, &now));
	ck_assert_uint_eq(was, 16384);
	ck_assert_uint_eq(now, 10);
	ck_assert_uint_eq(cfg.max_sockets, 10);
	ck_assert(config_reload_key(&cfg, &fresh, "daemon", "max_buffer_bytes", &was, &now));
	ck_assert_uint_eq(was, UINT64_C(4) << 30);
	ck_assert_uint_eq(cfg.max_buffer_bytes, UINT64_C(1) << 40);
	was = now = 7;
	ck_assert(!config_reload_key(&cfg, &fresh, "interface", "mtu", &was, &now));
	ck_assert(!config_reload_key(&cfg, &fresh, "daemon", "log_level", &was, &now));
	ck_assert_uint_eq(cfg.core.mtu, 1500);
	ck_assert_uint_eq(was, 7);
}
END_TEST

START_TEST(test_good_file)
{
	static const char text[] =
		"; a comment\n"
		"# another\n"
		"[interface]\n"
		"name = tapx-1\n"
		"  mtu = 9000   ; indented, with an inline comment\n"
		"mac = 02:aa:BB:cc:dd:01\n"
		"host_address = 192.168.7.1/24\n"
		"\n"
		"[ipv4]\n"
		"address = 192.168.7.2\n"
		"gateway = 192.168.7.254\n"
		"default_ttl = 32\n"
		"reasm_timeout = 500ms\n"
		"reasm_max_datagrams = 8\n"
		"reasm_max_bytes = 1048576\n"
		"[arp]\n"
		"cache_size = 16\n"
		"reachable_time = 2m\n"
		"retry_interval = 250ms\n"
		"max_retries = 5\n"
		"queue_len = 0\n"
		"[icmp]\n"
		"ratelimit = 0\n"
		"ratelimit_burst = 100\n"
		"[daemon]\n"
		"user = nobody\n"
		"group =\n"
		"control_socket = /tmp/tn/ctl.sock\n"
		"control_socket_mode = 600\n"
		"log_level = debug\n"
		"max_clients = 2\n";
	static const uint8_t mac[TN_ETH_ALEN] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x01 };

	ck_assert_msg(load(text) == 0, "unexpected: %s", errs.line[0]);
	ck_assert_str_eq(cfg.ifname, "tapx-1");
	ck_assert_uint_eq(cfg.core.mtu, 9000);
	ck_assert_mem_eq(cfg.core.mac, mac, TN_ETH_ALEN);
	ck_assert_uint_eq(cfg.host_addr, 0xc0a80701);
	ck_assert_uint_eq(cfg.host_prefix_len, 24);
	ck_assert_uint_eq(cfg.core.addr, 0xc0a80702);
	ck_assert_uint_eq(cfg.core.prefix_len, 24);
	ck_assert_uint_eq(cfg.core.gateway, 0xc0a807fe);
	ck_assert_uint_eq(cfg.core.ip_default_ttl, 32);
	ck_assert_uint_eq(cfg.core.reasm_timeout_ms, 500);
	ck_assert_uint_eq(cfg.core.reasm_max_datagrams, 8);
	ck_assert_uint_eq(cfg.core.reasm_max_bytes, 1048576);
	ck_assert_uint_eq(cfg.core.arp_cache_size, 16);
	ck_assert_uint_eq(cfg.core.arp_reachable_ms, 120000);
	ck_assert_uint_eq(cfg.core.arp_retry_ms, 250);
	ck_assert_uint_eq(cfg.core.arp_max_retries, 5);
	ck_assert_uint_eq(cfg.core.arp_queue_len, 0);
	ck_assert_uint_eq(cfg.core.icmp_ratelimit_ms, 0);
	ck_assert_uint_eq(cfg.core.icmp_ratelimit_burst, 100);
	ck_assert_str_eq(cfg.user, "nobody");
	ck_assert_str_eq(cfg.group, "");
	ck_assert_str_eq(cfg.control_socket, "/tmp/tn/ctl.sock");
	ck_assert_uint_eq(cfg.control_socket_mode, 0600);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_DEBUG);
	ck_assert_uint_eq(cfg.max_clients, 2);
}
END_TEST

START_TEST(test_duration_units)
{
	static const struct {
		const char *value;
		uint32_t ms;
	} cases[] = {
		{ "500ms", 500 }, { "30s", 30000 }, { "2m", 120000 }, { "1h", 3600000 },
		{ "45", 45000 }, { "100ms", 100 },
	};
	char text[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[ipv4]\nreasm_timeout = %s\n", cases[i].value);
		ck_assert_msg(load(text) == 0, "%s: %s", cases[i].value, errs.line[0]);
		ck_assert_uint_eq(cfg.core.reasm_timeout_ms, cases[i].ms);
	}
}
END_TEST

START_TEST(test_unknown_section)
{
	/* keys inside it are not reported again */
	expect_one_error("[interface]\nmtu = 1500\n[bogus]\nfoo = 1\n", 3, "unknown section [bogus]");
}
END_TEST

START_TEST(test_unknown_key)
{
	expect_one_error("[interface]\n\nmtux = 1500\n", 3, "unknown key 'mtux' in section [interface]");
}
END_TEST

START_TEST(test_bad_number)
{
	expect_one_error("[interface]\nmtu = 15x0\n", 2, "[interface] mtu: '15x0' is not");
	expect_one_error("[interface]\nmtu = -1\n", 2, "[interface] mtu: '-1' is not");
	expect_one_error("[daemon]\nmax_clients = 99999999999999999999999\n", 2, "max_clients");
}
END_TEST

START_TEST(test_out_of_range)
{
	expect_one_error("[interface]\nmtu = 70000\n", 2, "70000 is out of range 68..65521");
	expect_one_error("[ipv4]\ndefault_ttl = 0\n", 2, "out of range 1..255");
	expect_one_error("[arp]\nretry_interval = 2m\n", 2, "2m is out of range 10ms..1m");
	expect_one_error("[daemon]\ncontrol_socket_mode = 1777\n", 2, "out of range");
	expect_one_error("[interface]\nbusy_poll = 1000001\n", 2, "out of range 0..1000000");
	ck_assert_uint_eq(load("[interface]\nbusy_poll = 1000000\n"), 0); /* polling through 1 s gaps */
	ck_assert_uint_eq(cfg.busy_poll_us, 1000000);
}
END_TEST

START_TEST(test_bad_duration_unit)
{
	expect_one_error("[ipv4]\n\n\nreasm_timeout = 5x\n", 4, "unknown unit 'x'");
	expect_one_error("[arp]\nreachable_time = 5 s\n", 2, "unknown unit");
	expect_one_error("[arp]\nreachable_time = ms\n", 2, "is not a duration");
}
END_TEST

START_TEST(test_bad_address)
{
	expect_one_error("[ipv4]\naddress = 10.0.0.256\n", 2, "is not an IPv4 address");
	expect_one_error("[ipv4]\naddress = 10.0.0.2/31\n", 2, "prefix length /31 is out of range");
	expect_one_error("[ipv4]\naddress = 224.0.0.1\n", 2, "not a unicast address");
	expect_one_error("[ipv4]\naddress = 10.0.0.0/24\n", 2, "network or broadcast");
	expect_one_error("[ipv4]\ngateway = 10.0.0.1/24\n", 2, "prefix length is not allowed");
	expect_one_error("[ipv4]\naddress =\n", 2, "missing value");
}
END_TEST

START_TEST(test_bad_mac)
{
	expect_one_error("[interface]\nmac = 01:00:5e:00:00:01\n", 2, "multicast");
	expect_one_error("[interface]\nmac = 02:00:00:00:00\n", 2, "is not a MAC address");
	expect_one_error("[interface]\nmac = 02-00-00-00-00-01\n", 2, "is not a MAC address");
	expect_one_error("[interface]\nmac = 00:00:00:00:00:00\n", 2, "not a usable address");
}
END_TEST

START_TEST(test_gateway_off_link)
{
	expect_one_error("[ipv4]\naddress = 10.0.0.2/24\ngateway = 10.0.1.1\n", 3,
			 "[ipv4] gateway: 10.0.1.1 is not on-link for 10.0.0.2/24");
	expect_one_error("[ipv4]\ngateway = 10.0.0.2\n", 2, "own address");
}
END_TEST

START_TEST(test_host_address)
{
	ck_assert_uint_eq(load("[interface]\nhost_address = 10.0.0.1\n"), 0);
	ck_assert_uint_eq(cfg.host_addr, 0x0a000001);
	ck_assert_uint_eq(cfg.host_prefix_len, 0); /* same as [ipv4] address */
	expect_one_error("[interface]\nhost_address = 10.9.0.1/24\n", 2, "not on the same link");
	expect_one_error("[interface]\nhost_address = 10.0.0.2\n", 2, "is also [ipv4] address");
}
END_TEST

START_TEST(test_all_errors_reported)
{
	static const char text[] =
		"[interface]\n"
		"mtu = big\n"
		"[ipv4]\n"
		"addresss = 10.0.0.2\n"
		"default_ttl = 300\n"
		"this line has no equals sign\n"
		"[arp]\n"
		"max_retries = 3\n"
		"max_retries = 4\n";

	ck_assert_uint_eq(load(text), 5);
	ck_assert_ptr_nonnull(strstr(errs.line[0], ":2: [interface] mtu"));
	ck_assert_ptr_nonnull(strstr(errs.line[1], ":4: unknown key 'addresss'"));
	ck_assert_ptr_nonnull(strstr(errs.line[2], ":5: [ipv4] default_ttl"));
	ck_assert_ptr_nonnull(strstr(errs.line[3], ":6: syntax error"));
	ck_assert_ptr_nonnull(strstr(errs.line[4], ":9: duplicate key 'max_retries'"));
	ck_assert_ptr_nonnull(strstr(errs.line[4], "first set on line 8"));
}
END_TEST

START_TEST(test_syntax_problems)
{
	char text[512];

	expect_one_error("mtu = 1500\n", 1, "outside of any [section]");
	expect_one_error("\n[interface\n", 2, "missing ']'");
	memset(text, 'x', sizeof(text));
	memcpy(text, "[interface]\nname = ", 19);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	expect_one_error(text, 2, "line is longer than");
	expect_one_error("[interface]\nname = a/b\n", 2, "may contain only");
	expect_one_error("[daemon]\ncontrol_socket = run/x.sock\n", 2, "not an absolute path");
	expect_one_error("[daemon]\nlog_level = loud\n", 2, "'loud' is not one of");
}
END_TEST

START_TEST(test_missing_file)
{
	memset(&errs, 0, sizeof(errs));
	ck_assert_uint_eq(config_load("/nonexistent/tapnetd.conf", &cfg, collect_error, &errs), 1);
	ck_assert_str_eq(errs.line[0], "cannot open /nonexistent/tapnetd.conf: No such file or directory");
}
END_TEST

struct changes {
	unsigned n;
	char last[64];
};

static void note_change(void *ctx, const char *section, const char *name)
{
	struct changes *c = ctx;

	c->n++;
	snprintf(c->last, sizeof(c->last), "%s.%s", section, name);
}

START_TEST(test_diff)
{
	struct daemon_config a, b;
	struct changes ch = { 0 };

	config_defaults(&a);
	config_defaults(&b);
	config_diff(&a, &b, note_change, &ch);
	ck_assert_uint_eq(ch.n, 0);
	b.log_level = LOG_LEVEL_DEBUG;
	config_diff(&a, &b, note_change, &ch);
	ck_assert_uint_eq(ch.n, 1);
	ck_assert_str_eq(ch.last, "daemon.log_level");
	b = a;
	b.core.prefix_len = 16;
	ch.n = 0;
	config_diff(&a, &b, note_change, &ch);
	ck_assert_uint_eq(ch.n, 1);
	ck_assert_str_eq(ch.last, "ipv4.address");
}
END_TEST

/* Reads the shipped file with every "#key = value" line uncommented. */
static char *uncommented_shipped_file(void)
{
	FILE *f = fopen(TEST_SRCDIR "/etc/tapnetd.conf", "r");
	char line[512];
	size_t cap = 65536, len = 0;
	char *out = calloc(1, cap);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(out);
	while (fgets(line, sizeof(line), f)) {
		const char *s = line;
		/* "#key = value": a documented default; "# text": prose */
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strchr(line, '='))
			s = line + 1;
		size_t n = strlen(s);
		ck_assert_uint_lt(len + n, cap);
		memcpy(out + len, s, n);
		len += n;
	}
	fclose(f);
	return out;
}

/* [tcp] keys of buffers, retransmission, options and queues. */
START_TEST(test_tcp_keys)
{
	ck_assert_uint_eq(load(""), 0);
	/* Linux's tcp_rmem/tcp_wmem, the receive default halved (see etc/tapnetd.conf) */
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf_min, 4096);
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf, 65536);
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf_max, 6291456);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf_min, 4096);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf, 16384);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf_max, 4194304);
	ck_assert_uint_eq(cfg.core.tcp_syn_retries, 6);
	ck_assert_uint_eq(cfg.core.tcp_synack_retries, 5);
	ck_assert_uint_eq(cfg.core.tcp_retries, 15);
	ck_assert_uint_eq(cfg.core.tcp_rto_min_ms, 200);
	ck_assert_uint_eq(cfg.core.tcp_rto_initial_ms, 1000);
	ck_assert_uint_eq(cfg.core.tcp_rto_max_ms, 120000);
	ck_assert_uint_eq(cfg.core.tcp_delack_ms, 40);
	ck_assert_uint_eq(cfg.core.tcp_keepalive_time_s, 7200);
	ck_assert_uint_eq(cfg.core.tcp_keepalive_intvl_s, 75);
	ck_assert_uint_eq(cfg.core.tcp_keepalive_probes, 9);
	ck_assert(cfg.core.tcp_sack && cfg.core.tcp_timestamps && cfg.core.tcp_window_scaling);
	ck_assert_uint_eq(cfg.core.tcp_congestion, TN_TCP_CC_CUBIC);
	ck_assert_uint_eq(cfg.core.tcp_max_conns, 65536);
	ck_assert_uint_eq(cfg.core.tcp_max_syn_backlog, 256);
	ck_assert_uint_eq(cfg.core.tcp_somaxconn, 4096);

	ck_assert_msg(load("[tcp]\n"
			   "rcvbuf = 4096\n"
			   "sndbuf = 67108864\n"
			   "syn_retries = 1\n"
			   "synack_retries = 0\n"
			   "retries = 255\n"
			   "rto_min = 1ms\n"
			   "rto_initial = 200ms\n"
			   "rto_max = 1h\n"
			   "delayed_ack = 1s\n"
			   "keepalive_time = 1m\n"
			   "keepalive_intvl = 2\n"
			   "keepalive_probes = 127\n"
			   "sack = no\n"
			   "timestamps = off\n"
			   "window_scaling = 0\n"
			   "congestion = newreno\n"
			   "max_conns = 1048576\n"
			   "max_syn_backlog = 1\n"
			   "somaxconn = 65535\n") == 0,
		      "%s", errs.line[0]);
	/* one size: fixed, as before the key took three */
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf_min, 4096);
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf, 4096);
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf_max, 4096);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf_min, 64u << 20);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf, 64u << 20);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf_max, 64u << 20);
	ck_assert_uint_eq(cfg.core.tcp_syn_retries, 1);
	ck_assert_uint_eq(cfg.core.tcp_synack_retries, 0);
	ck_assert_uint_eq(cfg.core.tcp_retries, 255);
	ck_assert_uint_eq(cfg.core.tcp_rto_min_ms, 1);
	ck_assert_uint_eq(cfg.core.tcp_rto_initial_ms, 200);
	ck_assert_uint_eq(cfg.core.tcp_rto_max_ms, 3600000);
	ck_assert_uint_eq(cfg.core.tcp_delack_ms, 1000);
	ck_assert_uint_eq(cfg.core.tcp_keepalive_time_s, 60); /* stored in seconds */
	ck_assert_uint_eq(cfg.core.tcp_keepalive_intvl_s, 2);
	ck_assert_uint_eq(cfg.core.tcp_keepalive_probes, 127);
	ck_assert(!cfg.core.tcp_sack && !cfg.core.tcp_timestamps && !cfg.core.tcp_window_scaling);
	ck_assert_uint_eq(cfg.core.tcp_congestion, TN_TCP_CC_NEWRENO);
	ck_assert_uint_eq(cfg.core.tcp_max_conns, 1u << 20);
	ck_assert_uint_eq(cfg.core.tcp_max_syn_backlog, 1);
	ck_assert_uint_eq(cfg.core.tcp_somaxconn, 65535);

	/* every spelling of a boolean, both ways; reno is newreno */
	ck_assert_uint_eq(load("[tcp]\nsack = true\ntimestamps = 1\nwindow_scaling = on\n"
			       "congestion = reno\n"), 0);
	ck_assert(cfg.core.tcp_sack && cfg.core.tcp_timestamps && cfg.core.tcp_window_scaling);
	ck_assert_uint_eq(cfg.core.tcp_congestion, TN_TCP_CC_NEWRENO);
	ck_assert_uint_eq(load("[tcp]\nsack = false\ntimestamps = no\ncongestion = cubic\n"), 0);
	ck_assert(!cfg.core.tcp_sack && !cfg.core.tcp_timestamps && cfg.core.tcp_window_scaling);
	ck_assert_uint_eq(cfg.core.tcp_congestion, TN_TCP_CC_CUBIC);
	ck_assert_msg(load("[tcp]\nrcvbuf = 8192 \t 131072  1048576\nsndbuf = 4096 4096 8192\n") == 0, "%s",
		      errs.line[0]);
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf_min, 8192);
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf, 131072);
	ck_assert_uint_eq(cfg.core.tcp_rcvbuf_max, 1048576);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf_min, 4096);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf, 4096);
	ck_assert_uint_eq(cfg.core.tcp_sndbuf_max, 8192);
}
END_TEST

START_TEST(test_tcp_mistakes)
{
	expect_one_error("[tcp]\nrcvbuf = 4095\n", 2, "[tcp] rcvbuf: 4095 is out of range 4096..67108864");
	expect_one_error("[tcp]\nsndbuf = 64M\n", 2, "'64M' is not one size or three (MIN DEFAULT MAX)");
	expect_one_error("[tcp]\nrcvbuf = 4096 65536\n", 2, "is not one size or three");
	expect_one_error("[tcp]\nrcvbuf = 4096 65536 1 2\n", 2, "is not one size or three");
	expect_one_error("[tcp]\nrcvbuf = 4096 65536 4096\n", 2, "MIN <= DEFAULT <= MAX does not hold");
	expect_one_error("[tcp]\nsndbuf = 4096 16384 67108865\n", 2,
			 "[tcp] sndbuf: 67108865 is out of range 4096..67108864");
	expect_one_error("[tcp]\nsndbuf = 4096,16384,65536\n", 2, "is not one size or three");
	expect_one_error("[tcp]\nsyn_retries = 0\n", 2, "out of range 1..127");
	expect_one_error("[tcp]\nretries = 256\n", 2, "out of range 1..255");
	expect_one_error("[tcp]\nrto_min = 0\n", 2, "out of range 1ms..1m");
	expect_one_error("[tcp]\nrto_max = 2h\n", 2, "out of range 1ms..1h");
	expect_one_error("[tcp]\ndelayed_ack = 2s\n", 2, "out of range 1ms..1s");
	expect_one_error("[tcp]\nkeepalive_time = 1500ms\n", 2, "not a whole number of seconds");
	expect_one_error("[tcp]\nkeepalive_intvl = 10h\n", 2, "out of range 1s..");
	expect_one_error("[tcp]\nkeepalive_probes = 128\n", 2, "out of range 1..127");
	expect_one_error("[tcp]\nsack = maybe\n", 2, "[tcp] sack: 'maybe' is not one of yes, no");
	expect_one_error("[tcp]\nwindow_scaling = YES\n", 2, "is not one of");
	expect_one_error("[tcp]\ncongestion = bbr\n", 2, "'bbr' is not one of cubic, newreno");
	expect_one_error("[tcp]\nmax_conns = 0\n", 2, "out of range 1..1048576");
	expect_one_error("[tcp]\nsomaxconn = 65536\n", 2, "out of range 1..65535");
	expect_one_error("[tcp]\nmax_syn_backlog =\n", 2, "missing value");

	/* the RTO bounds must be in order: blamed on the later of the two lines */
	expect_one_error("[tcp]\nrto_min = 2s\n", 2, "rto_min (2s) is above rto_initial (1s)");
	expect_one_error("[tcp]\nrto_initial = 10s\n\nrto_min = 100ms\nrto_max = 5s\n", 5,
			 "rto_initial (10s) is above rto_max (5s)");
	expect_one_error("[tcp]\nrto_max = 100ms\n", 2, "rto_initial (1s) is above rto_max (100ms)");
	expect_one_error("[tcp]\nrto_max = 100ms\nrto_initial = 50ms\n", 3,
			 "rto_min (200ms) is above rto_initial (50ms)");
	/* a bad value is reported once, not again by the ordering check */
	expect_one_error("[tcp]\nrto_min = 5m\n", 2, "out of range");
}
END_TEST

START_TEST(test_fault_keys)
{
	ck_assert_uint_eq(load(""), 0);
	ck_assert(!fault_config_active(&cfg.fault)); /* off by default */
	ck_assert_uint_eq(cfg.fault.delay_ms, 20);
	ck_assert_uint_eq(cfg.fault.max_held, 1024);
	ck_assert_uint_eq(load("[debug]\nfault_rx_drop = 5\nfault_tx_drop = 0.5\nfault_rx_corrupt = 0.0125%\n"
			       "fault_tx_reorder = 100\nfault_rx_delay = 1.5%\nfault_delay = 5ms\n"
			       "fault_seed = 9223372036854775807\nfault_max_held = 8\n"), 0);
	ck_assert_uint_eq(cfg.fault.dir[FAULT_RX].drop, 50000);
	ck_assert_uint_eq(cfg.fault.dir[FAULT_TX].drop, 5000);
	ck_assert_uint_eq(cfg.fault.dir[FAULT_RX].corrupt, 125);
	ck_assert_uint_eq(cfg.fault.dir[FAULT_TX].reorder, FAULT_PPM);
	ck_assert_uint_eq(cfg.fault.dir[FAULT_RX].delay, 15000);
	ck_assert_uint_eq(cfg.fault.delay_ms, 5);
	ck_assert_uint_eq(cfg.fault.max_held, 8);
	ck_assert(cfg.fault.seed == INT64_MAX);
	ck_assert(fault_config_active(&cfg.fault));

	expect_one_error("[debug]\nfault_rx_drop = 101\n", 2, "101 is out of range 0..100%");
	expect_one_error("[debug]\nfault_rx_drop = 100.0001\n", 2, "out of range");
	expect_one_error("[debug]\nfault_tx_dup = 1\n", 2, "unknown key 'fault_tx_dup'");
	expect_one_error("[debug]\nfault_tx_delay = 0.00001\n", 2, "at most four decimals");
	expect_one_error("[debug]\nfault_tx_delay = 1.\n", 2, "is not a percentage");
	expect_one_error("[debug]\nfault_tx_delay = -1\n", 2, "is not a percentage");
	expect_one_error("[debug]\nfault_tx_delay = 5%%\n", 2, "is not a percentage");
	expect_one_error("[debug]\nfault_delay = 11s\n", 2, "out of range 1ms..10s");
	expect_one_error("[debug]\nfault_max_held = 0\n", 2, "out of range 1..65536");
	expect_one_error("[debug]\nfault_seed = 9223372036854775808\n", 2, "out of range");
}
END_TEST

START_TEST(test_services)
{
	ck_assert_uint_eq(load(""), 0);
	ck_assert_uint_eq(cfg.services.echo_port, 0); /* everything off by default */
	ck_assert_uint_eq(cfg.services.discard_port, 0);
	ck_assert_uint_eq(cfg.services.daytime_port, 0);
	ck_assert_uint_eq(cfg.services.chargen_port, 0);
	ck_assert_uint_eq(cfg.services.chargen_bytes, 0);

	ck_assert_uint_eq(load("[services]\necho = 7\ndiscard = 9\ndaytime = 13\nchargen = 65535\n"
			       "chargen_bytes = 1099511627776\n"), 0);
	ck_assert_uint_eq(cfg.services.echo_port, 7);
	ck_assert_uint_eq(cfg.services.discard_port, 9);
	ck_assert_uint_eq(cfg.services.daytime_port, 13);
	ck_assert_uint_eq(cfg.services.chargen_port, 65535);
	ck_assert_uint_eq(cfg.services.chargen_bytes, UINT64_C(1) << 40);

	expect_one_error("[services]\necho = 65536\n", 2, "[services] echo: 65536 is out of range 0..65535");
	expect_one_error("[services]\nchargen_bytes = 1099511627777\n", 2, "out of range");
	expect_one_error("[services]\nchargen_bytes = 1k\n", 2, "not a non-negative whole number");
	expect_one_error("[services]\nfinger = 79\n", 2, "unknown key 'finger' in section [services]");
	/* two services on one port: blamed on the later line */
	expect_one_error("[services]\nchargen = 7\n\necho = 7\n", 4,
			 "[services] echo and chargen both use port 7");
	expect_one_error("[services]\necho = 7\ndiscard = 9\ndaytime = 9\n", 4,
			 "discard and daytime both use port 9");
	/* 0 is off, however many say it */
	ck_assert_uint_eq(load("[services]\necho = 0\ndiscard = 0\nchargen = 19\n"), 0);
}
END_TEST

/* [tcp] keys of connection teardown and TIME_WAIT. */
START_TEST(test_tcp_teardown_keys)
{
	ck_assert_uint_eq(load(""), 0);
	ck_assert_uint_eq(cfg.core.tcp_time_wait_ms, 60000);
	ck_assert_uint_eq(cfg.core.tcp_fin_timeout_ms, 60000);
	ck_assert_uint_eq(cfg.core.tcp_tw_max_buckets, 262144);
	ck_assert_uint_eq(cfg.core.tcp_tw_overflow, TN_TCP_TW_DROP);
	ck_assert(!cfg.core.tcp_rfc1337);
	ck_assert_uint_eq(cfg.core.tcp_tw_reuse, 0);
	ck_assert_uint_eq(cfg.core.tcp_invalid_ratelimit_ms, 500);
	ck_assert_uint_eq(cfg.core.tcp_port_min, 32768);
	ck_assert_uint_eq(cfg.core.tcp_port_max, 60999);

	ck_assert_uint_eq(load("[tcp]\n"
			       "time_wait = 2m\n"
			       "fin_timeout = 500ms\n"
			       "tw_max_buckets = 1024\n"
			       "tw_overflow = evict_oldest\n"
			       "rfc1337 = yes\n"
			       "tw_reuse = 1\n"
			       "invalid_ratelimit = 0\n"
			       "port_range = 40000-40009\n"),
			  0);
	ck_assert_uint_eq(cfg.core.tcp_time_wait_ms, 120000);
	ck_assert_uint_eq(cfg.core.tcp_fin_timeout_ms, 500);
	ck_assert_uint_eq(cfg.core.tcp_tw_max_buckets, 1024);
	ck_assert_uint_eq(cfg.core.tcp_tw_overflow, TN_TCP_TW_EVICT_OLDEST);
	ck_assert(cfg.core.tcp_rfc1337);
	ck_assert_uint_eq(cfg.core.tcp_tw_reuse, 1);
	ck_assert_uint_eq(cfg.core.tcp_invalid_ratelimit_ms, 0);
	ck_assert_uint_eq(cfg.core.tcp_port_min, 40000);
	ck_assert_uint_eq(cfg.core.tcp_port_max, 40009);

	/* a single port, and TIME_WAIT off entirely */
	ck_assert_uint_eq(load("[tcp]\nport_range = 50000-50000\ntw_max_buckets = 0\ntime_wait = 1\n"), 0);
	ck_assert_uint_eq(cfg.core.tcp_port_min, 50000);
	ck_assert_uint_eq(cfg.core.tcp_port_max, 50000);
	ck_assert_uint_eq(cfg.core.tcp_tw_max_buckets, 0);
	ck_assert_uint_eq(cfg.core.tcp_time_wait_ms, 1000); /* a bare number is seconds */
}
END_TEST

START_TEST(test_tcp_flood_keys)
{
	ck_assert_uint_eq(load("[tcp]\n"), 0);
	ck_assert_uint_eq(cfg.core.tcp_syncookies, TN_TCP_SYNCOOKIES_YES);
	ck_assert_uint_eq(cfg.core.tcp_max_orphans, 65536);
	ck_assert_uint_eq(load("[tcp]\nsyncookies = always\nmax_orphans = 0\n"), 0);
	ck_assert_uint_eq(cfg.core.tcp_syncookies, TN_TCP_SYNCOOKIES_ALWAYS);
	ck_assert_uint_eq(cfg.core.tcp_max_orphans, 0);
	ck_assert_uint_eq(load("[tcp]\nsyncookies = off\n"), 0);
	ck_assert_uint_eq(cfg.core.tcp_syncookies, TN_TCP_SYNCOOKIES_NO);
	expect_one_error("[tcp]\nsyncookies = sometimes\n", 2, "not one of yes, no, always");
	expect_one_error("[tcp]\nmax_orphans = 16777217\n", 2, "out of range 0..16777216");
}
END_TEST

START_TEST(test_tcp_teardown_mistakes)
{
	expect_one_error("[tcp]\ntw_overflow = oldest\n", 2, "not one of drop, evict_oldest");
	expect_one_error("[tcp]\n\ntime_wait = 2h\n", 3, "out of range 1ms..1h");
	expect_one_error("[tcp]\nfin_timeout = 0\n", 2, "out of range");
	expect_one_error("[tcp]\ninvalid_ratelimit = 2m\n", 2, "out of range 0ms..1m");
	expect_one_error("[tcp]\ntw_max_buckets = 16777217\n", 2, "out of range 0..16777216");
	expect_one_error("[tcp]\nrfc1337 = maybe\n", 2, "not one of yes, no");
	expect_one_error("[tcp]\ntw_reuse = 2\n", 2, "not one of yes, no");
	expect_one_error("[tcp]\nport_range = 60999-32768\n", 2, "low end first");
	expect_one_error("[tcp]\nport_range = 1000-2000\n", 2, "within 1024-65535");
	expect_one_error("[tcp]\nport_range = 32768-65536\n", 2, "within 1024-65535");
	expect_one_error("[tcp]\nport_range = 32768\n", 2, "not a port range");
	expect_one_error("[tcp]\nport_range = 32768-\n", 2, "not a port range");
	expect_one_error("[tcp]\nport_range = 32768 - 60999\n", 2, "not a port range");
	expect_one_error("[tcp]\nport_range = a-b\n", 2, "not a port range");
}
END_TEST

START_TEST(test_shipped_file_documents_every_default)
{
	struct daemon_config defaults;
	const char *section, *name;
	char *text = uncommented_shipped_file();
	char needle[96];

	/* as shipped: all commented out */
	memset(&errs, 0, sizeof(errs));
	ck_assert_uint_eq(config_load(TEST_SRCDIR "/etc/tapnetd.conf", &cfg, collect_error, &errs), 0);

	for (size_t i = 0; config_key_at(i, &section, &name); i++) {
		snprintf(needle, sizeof(needle), "\n%s =", name);
		ck_assert_msg(strstr(text, needle), "etc/tapnetd.conf does not document [%s] %s",
			      section, name);
	}
	ck_assert_msg(load(text) == 0, "%s", errs.line[0]);
	config_defaults(&defaults);
	/* the socket's default follows --runstatedir; the file shows the usual /run */
	snprintf(cfg.control_socket, sizeof(cfg.control_socket), "%s", defaults.control_socket);
	ck_assert_msg(memcmp(&cfg, &defaults, sizeof(cfg)) == 0,
		      "a value in etc/tapnetd.conf differs from the built-in default");
	free(text);
}
END_TEST

static unsigned log_args_evaluated;
static const char *counted_arg(void)
{
	log_args_evaluated++;
	return "x";
}

/* A message below the log level costs no formatting: its arguments are not even evaluated. */
START_TEST(test_log_skips_arguments_below_the_level)
{
	enum log_level was = log_get_level();
	log_set_level(LOG_LEVEL_WARNING);
	log_args_evaluated = 0;
	log_debug("%s", counted_arg());
	log_info("%s", counted_arg());
	ck_assert_uint_eq(log_args_evaluated, 0);
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("a debug line for check_config: %s", counted_arg());
	ck_assert_uint_eq(log_args_evaluated, 1);
	ck_assert(log_enabled(LOG_LEVEL_DEBUG));
	log_set_level(was);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_empty_file_gives_defaults);
	tcase_add_test(tc, test_good_file);
	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_unknown_section);
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_bad_number);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_bad_duration_unit);
	tcase_add_test(tc, test_bad_address);
	tcase_add_test(tc, test_bad_mac);
	tcase_add_test(tc, test_gateway_off_link);
	tcase_add_test(tc, test_host_address);
	tcase_add_test(tc, test_all_errors_reported);
	tcase_add_test(tc, test_syntax_problems);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_diff);
	tcase_add_test(tc, test_tcp_keys);
	tcase_add_test(tc, test_tcp_mistakes);
	tcase_add_test(tc, test_services);
	tcase_add_test(tc, test_tcp_teardown_keys);
	tcase_add_test(tc, test_tcp_teardown_mistakes);
	tcase_add_test(tc, test_shipped_file_documents_every_default);
	tcase_add_test(tc, test_buffer_limits);
	tcase_add_test(tc, test_tcp_flood_keys);
	tcase_add_test(tc, reload_takes_limits_only);
	tcase_add_test(tc, test_fault_keys);
	tcase_add_test(tc, test_log_skips_arguments_below_the_level);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
