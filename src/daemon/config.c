/*
 * config.c - reads tapnetd.conf with inih and checks every value.
 *
 * Each key is one row of config_keys[]: section, name, the parser for its
 * kind of value, where the value goes in struct daemon_config, and its
 * range. Adding a key is adding a row (and documenting it in
 * etc/tapnetd.conf; the unit test checks that every row is documented).
 *
 * inih does not tell its handler the line number, so we feed it lines
 * through our own reader, which counts them, rejects what inih would
 * silently misread (over-long lines, NUL bytes, indented continuation
 * lines) and reports syntax errors and unknown sections on their own line.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "daemon_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifndef RUNSTATEDIR
#define RUNSTATEDIR "/run"
#endif

#define ERROR_MAX 256 /* one message, before the "FILE:LINE: " prefix */

struct config_key;

/* Stores the parsed value at field, or writes why not into why. */
typedef bool (*config_parser)(const struct config_key *key, const char *value,
			      void *field, void *aux_field, char *why, size_t whylen);

struct config_key {
	const char *section;
	const char *name;
	config_parser parse;
	size_t offset;     /* of the value in struct daemon_config */
	size_t size;       /* of the value; integer parsers store this many bytes */
	uint64_t min, max; /* integers as is, durations in ms, prefixes 0..32 */
	size_t aux_offset; /* address parser: where the prefix length goes (uint8_t) */
	unsigned flags;
};

#define KEY_EMPTY_OK 0x1 /* an empty value is meaningful (unset, or see daemon_config.h) */
#define KEY_SECONDS 0x2  /* a duration stored in whole seconds (min and max still in ms) */
#define KEY_RELOAD 0x4   /* a whole number SIGHUP applies at run time (config_reload_key) */

static bool parse_uint(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_octal(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_duration(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_address(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_mac(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_ifname(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_account(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_socket_path(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_log_level(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_bool(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_congestion(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_tw_overflow(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_port_range(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_percent(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_syncookies(const struct config_key *, const char *, void *, void *, char *, size_t);
static bool parse_buf_sizes(const struct config_key *, const char *, void *, void *, char *, size_t);

#define FIELD(f) offsetof(struct daemon_config, f), sizeof(((struct daemon_config *)0)->f)
#define PREFIX_AT(f) offsetof(struct daemon_config, f)
#define NO_AUX 0, 0
#define OPTIONAL_NO_AUX 0, KEY_EMPTY_OK
#define MS(s) ((uint64_t)(s) * 1000)
#define SECONDS_NO_AUX 0, KEY_SECONDS
#define RELOAD_NO_AUX 0, KEY_RELOAD

/*
 * Ranges are what makes sense on one tap link. [arp] cache_size stays at
 * 1024 so that `tapnet arp` gets the whole cache in one reply.
 */
static const struct config_key config_keys[] = {
	{ "interface", "name", parse_ifname, FIELD(ifname), 0, 0, NO_AUX },
	{ "interface", "mtu", parse_uint, FIELD(core.mtu), 68, 65521, NO_AUX },
	{ "interface", "txqueuelen", parse_uint, FIELD(txqueuelen), 16, 1000000, NO_AUX },
	{ "interface", "offload", parse_bool, FIELD(offload), 0, 1, NO_AUX },
	{ "interface", "busy_poll", parse_uint, FIELD(busy_poll_us), 0, 1000000, NO_AUX },
	{ "interface", "batch_writes", parse_bool, FIELD(batch_writes), 0, 1, NO_AUX },
	{ "interface", "batch_reads", parse_bool, FIELD(batch_reads), 0, 1, NO_AUX },
	{ "interface", "write_thread", parse_bool, FIELD(write_thread), 0, 1, NO_AUX },
	{ "interface", "mac", parse_mac, FIELD(core.mac), 0, 0, OPTIONAL_NO_AUX },
	{ "interface", "host_address", parse_address, FIELD(host_addr), 1, 30,
	  PREFIX_AT(host_prefix_len), KEY_EMPTY_OK },

	{ "ipv4", "address", parse_address, FIELD(core.addr), 1, 30, PREFIX_AT(core.prefix_len), 0 },
	{ "ipv4", "gateway", parse_address, FIELD(core.gateway), 0, 0, OPTIONAL_NO_AUX },
	{ "ipv4", "default_ttl", parse_uint, FIELD(core.ip_default_ttl), 1, 255, NO_AUX },
	{ "ipv4", "reasm_timeout", parse_duration, FIELD(core.reasm_timeout_ms), 100, MS(3600), NO_AUX },
	{ "ipv4", "reasm_max_datagrams", parse_uint, FIELD(core.reasm_max_datagrams), 1, 65536, NO_AUX },
	{ "ipv4", "reasm_max_bytes", parse_uint, FIELD(core.reasm_max_bytes), 65536 + 1024, 1u << 30, NO_AUX },

	{ "arp", "cache_size", parse_uint, FIELD(core.arp_cache_size), 1, 1024, NO_AUX },
	{ "arp", "reachable_time", parse_duration, FIELD(core.arp_reachable_ms), MS(1), MS(3600), NO_AUX },
	{ "arp", "retry_interval", parse_duration, FIELD(core.arp_retry_ms), 10, MS(60), NO_AUX },
	{ "arp", "max_retries", parse_uint, FIELD(core.arp_max_retries), 1, 100, NO_AUX },
	{ "arp", "queue_len", parse_uint, FIELD(core.arp_queue_len), 0, 1024, NO_AUX },
	{ "arp", "queue_bytes", parse_uint, FIELD(core.arp_queue_bytes), 0, 1u << 30, NO_AUX },
	{ "arp", "queue_total_len", parse_uint, FIELD(core.arp_queue_total_len), 0, 1u << 20, NO_AUX },
	{ "arp", "queue_total_bytes", parse_uint, FIELD(core.arp_queue_total_bytes), 0, 1u << 30, NO_AUX },

	{ "icmp", "ratelimit", parse_duration, FIELD(core.icmp_ratelimit_ms), 0, MS(60), NO_AUX },
	{ "icmp", "ratelimit_burst", parse_uint, FIELD(core.icmp_ratelimit_burst), 1, 10000, NO_AUX },

	/* MIN DEFAULT MAX (tcp_rmem/tcp_wmem) in three uint32_t next to each other, or one fixed size */
	{ "tcp", "rcvbuf", parse_buf_sizes, offsetof(struct daemon_config, core.tcp_rcvbuf_min),
	  3 * sizeof(uint32_t), 4096, 64u << 20, NO_AUX },
	{ "tcp", "sndbuf", parse_buf_sizes, offsetof(struct daemon_config, core.tcp_sndbuf_min),
	  3 * sizeof(uint32_t), 4096, 64u << 20, NO_AUX },
	{ "tcp", "syn_retries", parse_uint, FIELD(core.tcp_syn_retries), 1, 127, NO_AUX },
	{ "tcp", "synack_retries", parse_uint, FIELD(core.tcp_synack_retries), 0, 127, NO_AUX },
	{ "tcp", "retries", parse_uint, FIELD(core.tcp_retries), 1, 255, NO_AUX },
	{ "tcp", "rto_min", parse_duration, FIELD(core.tcp_rto_min_ms), 1, MS(60), NO_AUX },
	{ "tcp", "rto_initial", parse_duration, FIELD(core.tcp_rto_initial_ms), 1, MS(3600), NO_AUX },
	{ "tcp", "rto_max", parse_duration, FIELD(core.tcp_rto_max_ms), 1, MS(3600), NO_AUX },
	{ "tcp", "delayed_ack", parse_duration, FIELD(core.tcp_delack_ms), 1, MS(1), NO_AUX },
	{ "tcp", "keepalive_time", parse_duration, FIELD(core.tcp_keepalive_time_s), MS(1), MS(32767),
	  SECONDS_NO_AUX },
	{ "tcp", "keepalive_intvl", parse_duration, FIELD(core.tcp_keepalive_intvl_s), MS(1), MS(32767),
	  SECONDS_NO_AUX },
	{ "tcp", "keepalive_probes", parse_uint, FIELD(core.tcp_keepalive_probes), 1, 127, NO_AUX },
	{ "tcp", "sack", parse_bool, FIELD(core.tcp_sack), 0, 1, NO_AUX },
	{ "tcp", "timestamps", parse_bool, FIELD(core.tcp_timestamps), 0, 1, NO_AUX },
	{ "tcp", "window_scaling", parse_bool, FIELD(core.tcp_window_scaling), 0, 1, NO_AUX },
	{ "tcp", "congestion", parse_congestion, FIELD(core.tcp_congestion), 0, 0, NO_AUX },
	{ "tcp", "max_conns", parse_uint, FIELD(core.tcp_max_conns), 1, 1u << 20, NO_AUX },
	{ "tcp", "max_syn_backlog", parse_uint, FIELD(core.tcp_max_syn_backlog), 1, 65535, NO_AUX },
	{ "tcp", "somaxconn", parse_uint, FIELD(core.tcp_somaxconn), 1, 65535, NO_AUX },
	/* connection teardown and TIME_WAIT */
	{ "tcp", "time_wait", parse_duration, FIELD(core.tcp_time_wait_ms), 1, MS(3600), NO_AUX },
	{ "tcp", "fin_timeout", parse_duration, FIELD(core.tcp_fin_timeout_ms), 1, MS(3600), NO_AUX },
	{ "tcp", "tw_max_buckets", parse_uint, FIELD(core.tcp_tw_max_buckets), 0, 1u << 24, NO_AUX },
	{ "tcp", "tw_overflow", parse_tw_overflow, FIELD(core.tcp_tw_overflow), 0, 0, NO_AUX },
	{ "tcp", "rfc1337", parse_bool, FIELD(core.tcp_rfc1337), 0, 1, NO_AUX },
	{ "tcp", "tw_reuse", parse_bool, FIELD(core.tcp_tw_reuse), 0, 1, NO_AUX },
	{ "tcp", "invalid_ratelimit", parse_duration, FIELD(core.tcp_invalid_ratelimit_ms), 0, MS(60),
	  NO_AUX },
	/* what a remote peer may hold: half-open (SYN cookies) and orphaned connections */
	{ "tcp", "syncookies", parse_syncookies, FIELD(core.tcp_syncookies), 0, 0, NO_AUX },
	{ "tcp", "max_orphans", parse_uint, FIELD(core.tcp_max_orphans), 0, 1u << 24, NO_AUX },
	/* both ends of the range: tcp_port_min and tcp_port_max, next to each other */
	{ "tcp", "port_range", parse_port_range, offsetof(struct daemon_config, core.tcp_port_min),
	  2 * sizeof(uint16_t), 1024, 65535, NO_AUX },

	{ "services", "echo", parse_uint, FIELD(services.echo_port), 0, 65535, NO_AUX },
	{ "services", "discard", parse_uint, FIELD(services.discard_port), 0, 65535, NO_AUX },
	{ "services", "daytime", parse_uint, FIELD(services.daytime_port), 0, 65535, NO_AUX },
	{ "services", "chargen", parse_uint, FIELD(services.chargen_port), 0, 65535, NO_AUX },
	{ "services", "chargen_bytes", parse_uint, FIELD(services.chargen_bytes), 0,
	  UINT64_C(1) << 40, NO_AUX },

	{ "daemon", "user", parse_account, FIELD(user), 0, 0, OPTIONAL_NO_AUX },
	{ "daemon", "group", parse_account, FIELD(group), 0, 0, OPTIONAL_NO_AUX },
	{ "daemon", "control_socket", parse_socket_path, FIELD(control_socket), 0, 0, NO_AUX },
	{ "daemon", "control_socket_mode", parse_octal, FIELD(control_socket_mode), 0, 0777, NO_AUX },
	{ "daemon", "log_level", parse_log_level, FIELD(log_level), 0, 0, NO_AUX },
	{ "daemon", "max_clients", parse_uint, FIELD(max_clients), 1, 4096, RELOAD_NO_AUX },
	{ "daemon", "max_sockets", parse_uint, FIELD(max_sockets), 1, 1u << 20, RELOAD_NO_AUX },
	{ "daemon", "max_sockets_per_client", parse_uint, FIELD(max_sockets_per_client), 1, 1u << 20,
	  RELOAD_NO_AUX },
	{ "daemon", "max_buffer_bytes", parse_uint, FIELD(max_buffer_bytes), 65536, UINT64_C(1) << 40,
	  RELOAD_NO_AUX },
	{ "daemon", "max_buffer_bytes_per_client", parse_uint, FIELD(max_buffer_bytes_per_client),
	  65536, UINT64_C(1) << 40, RELOAD_NO_AUX },

	/* fault injection for tests (fault.h); percentages stored in parts per million */
	{ "debug", "fault_rx_drop", parse_percent, FIELD(fault.dir[FAULT_RX].drop), 0, FAULT_PPM, NO_AUX },
	{ "debug", "fault_rx_corrupt", parse_percent, FIELD(fault.dir[FAULT_RX].corrupt), 0, FAULT_PPM,
	  NO_AUX },
	{ "debug", "fault_rx_duplicate", parse_percent, FIELD(fault.dir[FAULT_RX].duplicate), 0,
	  FAULT_PPM, NO_AUX },
	{ "debug", "fault_rx_reorder", parse_percent, FIELD(fault.dir[FAULT_RX].reorder), 0, FAULT_PPM,
	  NO_AUX },
	{ "debug", "fault_rx_delay", parse_percent, FIELD(fault.dir[FAULT_RX].delay), 0, FAULT_PPM, NO_AUX },
	{ "debug", "fault_tx_drop", parse_percent, FIELD(fault.dir[FAULT_TX].drop), 0, FAULT_PPM, NO_AUX },
	{ "debug", "fault_tx_corrupt", parse_percent, FIELD(fault.dir[FAULT_TX].corrupt), 0, FAULT_PPM,
	  NO_AUX },
	{ "debug", "fault_tx_duplicate", parse_percent, FIELD(fault.dir[FAULT_TX].duplicate), 0,
	  FAULT_PPM, NO_AUX },
	{ "debug", "fault_tx_reorder", parse_percent, FIELD(fault.dir[FAULT_TX].reorder), 0, FAULT_PPM,
	  NO_AUX },
	{ "debug", "fault_tx_delay", parse_percent, FIELD(fault.dir[FAULT_TX].delay), 0, FAULT_PPM, NO_AUX },
	{ "debug", "fault_delay", parse_duration, FIELD(fault.delay_ms), 1, MS(10), NO_AUX },
	{ "debug", "fault_max_held", parse_uint, FIELD(fault.max_held), 1, 65536, NO_AUX },
	{ "debug", "fault_seed", parse_uint, FIELD(fault.seed), 0, INT64_MAX, NO_AUX },
	{ "daemon", "max_clients_per_user", parse_uint, FIELD(max_clients_per_user), 1, 4096,
	  RELOAD_NO_AUX },
	{ "daemon", "client_idle_timeout", parse_duration, FIELD(client_idle_timeout_ms), 0,
	  MS(86400), RELOAD_NO_AUX },
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *const config_sections[] = { "interface", "ipv4", "arp", "icmp", "tcp",
					       "services", "daemon", "debug" };

/* ------------------------------------------------------------------ defaults */

void config_defaults(struct daemon_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	tn_config_defaults(&cfg->core);
	snprintf(cfg->ifname, sizeof(cfg->ifname), "tap0");
	cfg->txqueuelen = 10000;
	cfg->offload = true;
	cfg->busy_poll_us = 200; /* see daemon_run (loop.c) */
	cfg->batch_writes = true; /* see tapdev_flush */
	cfg->batch_reads = true;  /* see rx_fill */
	cfg->write_thread = true; /* see "the write thread" in tapdev.c */
	snprintf(cfg->user, sizeof(cfg->user), "tapnet");
	snprintf(cfg->group, sizeof(cfg->group), "tapnet");
	snprintf(cfg->control_socket, sizeof(cfg->control_socket), "%s",
		 RUNSTATEDIR "/tapnet/tapnetd.sock");
	cfg->control_socket_mode = 0660;
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->max_clients = 512;
	cfg->max_sockets = 16384;
	cfg->max_sockets_per_client = 4096;
	cfg->max_buffer_bytes = UINT64_C(4) << 30;
	cfg->max_buffer_bytes_per_client = UINT64_C(1) << 30;
	cfg->fault.delay_ms = 20;
	cfg->fault.max_held = 1024;
	cfg->max_clients_per_user = 128;
	cfg->client_idle_timeout_ms = 60000;
}

/* ------------------------------------------------------------------ value parsers */

static void store_uint(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case 1: { uint8_t x = (uint8_t)v; memcpy(field, &x, 1); break; }
	case 2: { uint16_t x = (uint16_t)v; memcpy(field, &x, 2); break; }
	case 4: { uint32_t x = (uint32_t)v; memcpy(field, &x, 4); break; }
	default: memcpy(field, &v, sizeof(v)); break;
	}
}

static uint64_t load_uint(const void *field, size_t size)
{
	switch (size) {
	case 1: { uint8_t x; memcpy(&x, field, 1); return x; }
	case 2: { uint16_t x; memcpy(&x, field, 2); return x; }
	case 4: { uint32_t x; memcpy(&x, field, 4); return x; }
	default: { uint64_t x; memcpy(&x, field, sizeof(x)); return x; }
	}
}

/*
 * Leading digits of s (in base 8 or 10) into *v. Returns where the digits
 * end, or NULL if there were none or the value would not fit in 64 bits.
 */
static const char *scan_digits(const char *s, unsigned base, uint64_t *v)
{
	const char *p = s;
	uint64_t acc = 0;

	while (*p >= '0' && *p < (char)('0' + base)) {
		if (acc > (UINT64_MAX - 9) / base)
			return NULL;
		acc = acc * base + (uint64_t)(*p - '0');
		p++;
	}
	if (p == s)
		return NULL;
	*v = acc;
	return p;
}

static bool check_range(const struct config_key *key, const char *value, uint64_t v,
			char *why, size_t whylen)
{
	if (v >= key->min && v <= key->max)
		return true;
	snprintf(why, whylen, "%s is out of range %llu..%llu", value,
		 (unsigned long long)key->min, (unsigned long long)key->max);
	return false;
}

static bool parse_uint(const struct config_key *key, const char *value, void *field,
		       void *aux, char *why, size_t whylen)
{
	uint64_t v;
	const char *end = scan_digits(value, 10, &v);

	if (!end || *end) {
		snprintf(why, whylen, "'%s' is not a non-negative whole number", value);
		return false;
	}
	if (!check_range(key, value, v, why, whylen))
		return false;
	store_uint(field, key->size, v);
	return true;
}

/* File modes are octal whether or not they start with 0, as with chmod(1). */
static bool parse_octal(const struct config_key *key, const char *value, void *field,
			void *aux, char *why, size_t whylen)
{
	uint64_t v;
	const char *end = scan_digits(value, 8, &v);

	if (!end || *end) {
		snprintf(why, whylen, "'%s' is not an octal file mode like 0660", value);
		return false;
	}
	if (v > key->max) {
		snprintf(why, whylen, "%s is out of range 0..0%llo", value,
			 (unsigned long long)key->max);
		return false;
	}
	store_uint(field, key->size, v);
	return true;
}

static const struct {
	const char *suffix;
	uint64_t ms;
} duration_units[] = {
	{ "", 1000 }, /* a bare number is seconds */
	{ "ms", 1 },
	{ "s", 1000 },
	{ "m", 60 * 1000 },
	{ "h", 60 * 60 * 1000 },
};

/* The shortest exact spelling of ms, for messages: 1500ms, 30s, 2m, 1h. */
static void format_duration(uint64_t ms, char *buf, size_t cap)
{
	if (ms && ms % (60 * 60 * 1000) == 0)
		snprintf(buf, cap, "%lluh", (unsigned long long)(ms / (60 * 60 * 1000)));
	else if (ms && ms % (60 * 1000) == 0)
		snprintf(buf, cap, "%llum", (unsigned long long)(ms / (60 * 1000)));
	else if (ms && ms % 1000 == 0)
		snprintf(buf, cap, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, cap, "%llums", (unsigned long long)ms);
}

static bool parse_duration(const struct config_key *key, const char *value, void *field,
			   void *aux, char *why, size_t whylen)
{
	uint64_t n, ms = 0;
	const char *unit = scan_digits(value, 10, &n);
	bool known_unit = false;

	if (!unit || n > UINT32_MAX) {
		snprintf(why, whylen, "'%s' is not a duration like 500ms, 30s, 2m or 1h", value);
		return false;
	}
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (strcmp(unit, duration_units[i].suffix) == 0) {
			ms = n * duration_units[i].ms; /* n < 2^32, unit < 2^22: no overflow */
			known_unit = true;
			break;
		}
	}
	if (!known_unit) {
		snprintf(why, whylen, "'%s' has an unknown unit '%s' (use ms, s, m or h)",
			 value, unit);
		return false;
	}
	if (ms < key->min || ms > key->max) {
		char lo[24], hi[24];
		format_duration(key->min, lo, sizeof(lo));
		format_duration(key->max, hi, sizeof(hi));
		snprintf(why, whylen, "%s is out of range %s..%s", value, lo, hi);
		return false;
	}
	if (key->flags & KEY_SECONDS) {
		if (ms % 1000) {
			snprintf(why, whylen, "%s is not a whole number of seconds", value);
			return false;
		}
		ms /= 1000;
	}
	store_uint(field, key->size, ms);
	return true;
}

static bool ip4_is_unicast(tn_ip4 a)
{
	return a != 0 && (a >> 24) != 127 && (a >> 28) < 14;
}

/*
 * "A.B.C.D", or "A.B.C.D/N" for keys with a prefix (aux_offset set). An
 * empty value clears an optional address; without "/N" the prefix is left
 * as it was (the default, or "same as [ipv4] address" for host_address).
 */
static bool parse_address(const struct config_key *key, const char *value, void *field,
			  void *aux, char *why, size_t whylen)
{
	char text[INET_ADDRSTRLEN];
	const char *slash = strchr(value, '/');
	size_t addr_len = slash ? (size_t)(slash - value) : strlen(value);
	struct in_addr in;
	uint64_t prefix = 0;

	if (*value == '\0') { /* only reached for optional addresses: unset */
		store_uint(field, sizeof(tn_ip4), 0);
		if (aux)
			store_uint(aux, 1, 0);
		return true;
	}
	if (slash && !aux) {
		snprintf(why, whylen, "'%s': a prefix length is not allowed here", value);
		return false;
	}
	if (addr_len < sizeof(text)) {
		memcpy(text, value, addr_len);
		text[addr_len] = '\0';
	}
	if (addr_len >= sizeof(text) || inet_pton(AF_INET, text, &in) != 1) {
		snprintf(why, whylen, "'%s' is not an IPv4 address like 10.0.0.2%s", value,
			 aux ? " or 10.0.0.2/24" : "");
		return false;
	}
	tn_ip4 addr = ntohl(in.s_addr);
	if (!ip4_is_unicast(addr)) {
		snprintf(why, whylen, "%s is not a unicast address", text);
		return false;
	}
	if (slash) {
		const char *end = scan_digits(slash + 1, 10, &prefix);
		if (!end || *end) {
			snprintf(why, whylen, "'%s' has a bad prefix length", value);
			return false;
		}
		if (prefix < key->min || prefix > key->max) {
			snprintf(why, whylen, "prefix length /%s is out of range /%llu../%llu",
				 slash + 1, (unsigned long long)key->min,
				 (unsigned long long)key->max);
			return false;
		}
		store_uint(aux, 1, prefix);
	}
	store_uint(field, sizeof(tn_ip4), addr);
	return true;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "aa:bb:cc:dd:ee:ff", unicast; empty: let the core derive one. */
static bool parse_mac(const struct config_key *key, const char *value, void *field,
		      void *aux, char *why, size_t whylen)
{
	uint8_t mac[TN_ETH_ALEN];
	static const uint8_t zero[TN_ETH_ALEN];

	if (*value == '\0') {
		memset(field, 0, TN_ETH_ALEN);
		return true;
	}
	if (strlen(value) != 3 * TN_ETH_ALEN - 1)
		goto bad;
	for (int i = 0; i < TN_ETH_ALEN; i++) {
		const char *p = value + 3 * i;
		int hi = hex_digit(p[0]), lo = hex_digit(p[1]);
		if (hi < 0 || lo < 0 || (i < TN_ETH_ALEN - 1 && p[2] != ':'))
			goto bad;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if (mac[0] & 1) {
		snprintf(why, whylen, "%s is a multicast address (the first octet must be even)", value);
		return false;
	}
	if (memcmp(mac, zero, TN_ETH_ALEN) == 0) {
		snprintf(why, whylen, "%s is not a usable address (leave mac empty to derive one)", value);
		return false;
	}
	memcpy(field, mac, TN_ETH_ALEN);
	return true;
bad:
	snprintf(why, whylen, "'%s' is not a MAC address like 02:00:00:00:00:01", value);
	return false;
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* Stricter than the kernel: no '/', ':', spaces or '%' in interface names. */
static bool parse_ifname(const struct config_key *key, const char *value, void *field,
			 void *aux, char *why, size_t whylen)
{
	size_t len = strlen(value);

	if (len == 0 || len >= IFNAMSIZ) {
		snprintf(why, whylen, "'%s' must be 1..%d characters long", value, IFNAMSIZ - 1);
		return false;
	}
	for (const char *p = value; *p; p++) {
		if (!is_name_char(*p)) {
			snprintf(why, whylen, "'%s' may contain only letters, digits, '-', '_' and '.'", value);
			return false;
		}
	}
	if (strcmp(value, ".") == 0 || strcmp(value, "..") == 0) {
		snprintf(why, whylen, "'%s' is not a valid interface name", value);
		return false;
	}
	memcpy(field, value, len + 1);
	return true;
}

/* A user or group name as useradd(8) accepts it; "" is allowed (see daemon_config.h). */
static bool parse_account(const struct config_key *key, const char *value, void *field,
			  void *aux, char *why, size_t whylen)
{
	size_t len = strlen(value);

	if (len >= key->size) {
		snprintf(why, whylen, "'%s' is longer than %zu characters", value, key->size - 1);
		return false;
	}
	for (const char *p = value; *p; p++) {
		if (!is_name_char(*p) || (p == value && *p == '-')) {
			snprintf(why, whylen, "'%s' is not a valid user or group name", value);
			return false;
		}
	}
	memcpy(field, value, len + 1);
	return true;
}

static bool parse_socket_path(const struct config_key *key, const char *value, void *field,
			      void *aux, char *why, size_t whylen)
{
	size_t len = strlen(value);

	if (value[0] != '/') {
		snprintf(why, whylen, "'%s' is not an absolute path", value);
		return false;
	}
	if (len >= key->size) {
		snprintf(why, whylen, "path is longer than %zu characters (a socket address limit)",
			 key->size - 1);
		return false;
	}
	if (value[len - 1] == '/') {
		snprintf(why, whylen, "'%s' names a directory, not a socket", value);
		return false;
	}
	memcpy(field, value, len + 1);
	return true;
}

static bool parse_log_level(const struct config_key *key, const char *value, void *field,
			    void *aux, char *why, size_t whylen)
{
	enum log_level level;

	if (!log_level_parse(value, &level)) {
		snprintf(why, whylen, "'%s' is not one of error, warning, notice, info, debug", value);
		return false;
	}
	memcpy(field, &level, sizeof(level));
	return true;
}

/* yes/no, true/false, on/off, 1/0 */
static bool parse_bool(const struct config_key *key, const char *value, void *field,
		       void *aux, char *why, size_t whylen)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(value, yes[i]) == 0 || strcmp(value, no[i]) == 0) {
			bool v = strcmp(value, yes[i]) == 0;
			memcpy(field, &v, sizeof(v));
			return true;
		}
	}
	snprintf(why, whylen, "'%s' is not one of yes, no, true, false, on, off, 1, 0", value);
	return false;
}

static bool parse_congestion(const struct config_key *key, const char *value, void *field,
			     void *aux, char *why, size_t whylen)
{
	uint8_t cc;

	if (strcmp(value, "cubic") == 0)
		cc = TN_TCP_CC_CUBIC;
	else if (strcmp(value, "newreno") == 0 || strcmp(value, "reno") == 0)
		cc = TN_TCP_CC_NEWRENO;
	else {
		snprintf(why, whylen, "'%s' is not one of cubic, newreno", value);
		return false;
	}
	memcpy(field, &cc, sizeof(cc));
	return true;
}

/* drop: a connection closing into a full TIME_WAIT table gets no entry (Linux); evict_oldest */
static bool parse_tw_overflow(const struct config_key *key, const char *value, void *field,
			      void *aux, char *why, size_t whylen)
{
	uint8_t v;

	if (strcmp(value, "drop") == 0)
		v = TN_TCP_TW_DROP;
	else if (strcmp(value, "evict_oldest") == 0)
		v = TN_TCP_TW_EVICT_OLDEST;
	else {
		snprintf(why, whylen, "'%s' is not one of drop, evict_oldest", value);
		return false;
	}
	memcpy(field, &v, sizeof(v));
	return true;
}

/* yes/no as parse_bool takes them, or always (Linux tcp_syncookies 1, 0, 2). */
static bool parse_syncookies(const struct config_key *key, const char *value, void *field,
			     void *aux, char *why, size_t whylen)
{
	uint8_t v;
	bool b;

	if (strcmp(value, "always") == 0) {
		v = TN_TCP_SYNCOOKIES_ALWAYS;
	} else if (parse_bool(key, value, &b, aux, why, whylen)) {
		v = b ? TN_TCP_SYNCOOKIES_YES : TN_TCP_SYNCOOKIES_NO;
	} else {
		snprintf(why, whylen, "'%s' is not one of yes, no, always", value);
		return false;
	}
	memcpy(field, &v, sizeof(v));
	return true;
}

_Static_assert(offsetof(struct tn_config, tcp_rcvbuf) == offsetof(struct tn_config, tcp_rcvbuf_min) + 4 &&
		       offsetof(struct tn_config, tcp_rcvbuf_max) == offsetof(struct tn_config, tcp_rcvbuf) + 4 &&
		       offsetof(struct tn_config, tcp_sndbuf) == offsetof(struct tn_config, tcp_sndbuf_min) + 4 &&
		       offsetof(struct tn_config, tcp_sndbuf_max) == offsetof(struct tn_config, tcp_sndbuf) + 4,
	       "rcvbuf/sndbuf store MIN DEFAULT MAX as one field");

/*
 * "MIN DEFAULT MAX" as Linux's tcp_rmem/tcp_wmem, each in key->min..key->max,
 * MIN <= DEFAULT <= MAX; or one size, fixed (MIN = DEFAULT = MAX: no
 * auto-tuning), which is what the key meant before it took three.
 */
static bool parse_buf_sizes(const struct config_key *key, const char *value, void *field,
			    void *aux, char *why, size_t whylen)
{
	uint64_t v[3];
	int n = 0;
	const char *p = value;

	while (n < 3) {
		const char *end = scan_digits(p, 10, &v[n]);
		if (!end || (*end && *end != ' ' && *end != '\t'))
			break;
		n++;
		while (*end == ' ' || *end == '\t')
			end++;
		p = end;
		if (!*p)
			break;
	}
	if (*p || (n != 1 && n != 3)) {
		snprintf(why, whylen, "'%s' is not one size or three (MIN DEFAULT MAX) in bytes", value);
		return false;
	}
	if (n == 1)
		v[1] = v[2] = v[0];
	for (int i = 0; i < 3; i++) {
		if (v[i] < key->min || v[i] > key->max) {
			snprintf(why, whylen, "%llu is out of range %llu..%llu", (unsigned long long)v[i],
				 (unsigned long long)key->min, (unsigned long long)key->max);
			return false;
		}
	}
	if (v[0] > v[1] || v[1] > v[2]) {
		snprintf(why, whylen, "%s: MIN <= DEFAULT <= MAX does not hold", value);
		return false;
	}
	uint32_t sizes[3] = { (uint32_t)v[0], (uint32_t)v[1], (uint32_t)v[2] };
	memcpy(field, sizes, sizeof(sizes));
	return true;
}

_Static_assert(offsetof(struct tn_config, tcp_port_max) ==
		       offsetof(struct tn_config, tcp_port_min) + sizeof(uint16_t),
	       "port_range stores both ends as one field");

/* "LOW-HIGH" (as ip_local_port_range), both in key->min..key->max, LOW <= HIGH. */
static bool parse_port_range(const struct config_key *key, const char *value, void *field,
			     void *aux, char *why, size_t whylen)
{
	uint64_t lo, hi;
	const char *dash = scan_digits(value, 10, &lo);
	const char *end = dash && *dash == '-' ? scan_digits(dash + 1, 10, &hi) : NULL;

	if (!end || *end) {
		snprintf(why, whylen, "'%s' is not a port range like 32768-60999", value);
		return false;
	}
	if (lo < key->min || hi > key->max || lo > hi) {
		snprintf(why, whylen, "%s is not a range within %llu-%llu with the low end first",
			 value, (unsigned long long)key->min, (unsigned long long)key->max);
		return false;
	}
	uint16_t ends[2] = { (uint16_t)lo, (uint16_t)hi };
	memcpy(field, ends, sizeof(ends));
	return true;
}

/*
 * A percentage with up to four decimals ("1", "0.5", "2.25%"), stored in
 * parts per million (key->max is 100 %).
 */
static bool parse_percent(const struct config_key *key, const char *value, void *field,
			  void *aux, char *why, size_t whylen)
{
	uint64_t whole, frac = 0;
	const char *p = scan_digits(value, 10, &whole);
	unsigned decimals = 0;

	if (p && *p == '.') {
		const char *f = p + 1;
		while (*f >= '0' && *f <= '9' && decimals < 4) {
			frac = frac * 10 + (uint64_t)(*f - '0');
			decimals++;
			f++;
		}
		p = decimals ? f : NULL;
	}
	if (p && *p == '%')
		p++;
	if (!p || *p) {
		snprintf(why, whylen, "'%s' is not a percentage like 5, 0.5 or 0.25%% "
			 "(at most four decimals)", value);
		return false;
	}
	for (; decimals < 4; decimals++)
		frac *= 10;
	if (whole > 100 || whole * 10000 + frac > key->max) {
		snprintf(why, whylen, "%s is out of range 0..100%%", value);
		return false;
	}
	store_uint(field, key->size, whole * 10000 + frac);
	return true;
}

/* ------------------------------------------------------------------ the file */

struct config_parse {
	const char *name;  /* of the file, for messages */
	FILE *f;
	unsigned line;     /* number of the line inih is working on */
	char *buf;         /* getline() buffer */
	size_t cap;
	struct daemon_config *cfg;
	config_error_fn on_error;
	void *ctx;
	unsigned errors;
	unsigned key_line[N_KEYS]; /* where each key was set, 0: not set */
	bool key_bad[N_KEYS];
};

static void report(struct config_parse *p, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct config_parse *p, unsigned line, const char *fmt, ...)
{
	char msg[ERROR_MAX], full[ERROR_MAX + 64 + 4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line)
		snprintf(full, sizeof(full), "%s:%u: %s", p->name, line, msg);
	else
		snprintf(full, sizeof(full), "%s: %s", p->name, msg);
	p->errors++;
	if (p->on_error)
		p->on_error(p->ctx, full);
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < sizeof(config_sections) / sizeof(config_sections[0]); i++)
		if (strcmp(section, config_sections[i]) == 0)
			return true;
	return false;
}

static const struct config_key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(config_keys[i].section, section) == 0 &&
		    strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/*
 * Checks a "[section]" line so an unknown section is reported on its own
 * line even when it holds no keys. Returns false when the line is unusable.
 */
static bool check_section_line(struct config_parse *p, char *s)
{
	char *end = strchr(s, ']');

	if (!end) {
		report(p, p->line, "syntax error: missing ']' after section name");
		return false;
	}
	*end = '\0';
	if (!section_known(s + 1))
		report(p, p->line, "unknown section [%s]", s + 1);
	*end = ']';
	return true;
}

/*
 * inih's reader: hands over one whole line per call, so inih's line count
 * and ours agree. A line inih would misparse is reported here and replaced
 * by an empty one.
 */
static char *config_read_line(char *str, int num, void *stream)
{
	struct config_parse *p = stream;
	ssize_t n = getline(&p->buf, &p->cap, p->f);

	if (n < 0)
		return NULL;
	p->line++;

	char *s = p->buf;
	if (memchr(s, '\0', (size_t)n)) {
		report(p, p->line, "line contains a NUL byte");
		goto blank;
	}
	if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3; /* UTF-8 byte order mark */
	/* Indented lines would be continuation values to inih; we allow indenting keys. */
	s += strspn(s, " \t");
	s[strcspn(s, "\r\n")] = '\0';
	if (strlen(s) + 2 > (size_t)num) {
		report(p, p->line, "line is longer than %d characters", num - 2);
		goto blank;
	}
	if (*s == '\0' || *s == ';' || *s == '#')
		goto pass;
	if (*s == '[') {
		if (!check_section_line(p, s))
			goto blank;
		goto pass;
	}
	if (!strpbrk(s, "=:")) {
		report(p, p->line, "syntax error: expected 'key = value'");
		goto blank;
	}
pass:
	snprintf(str, (size_t)num, "%s\n", s);
	return str;
blank:
	snprintf(str, (size_t)num, "\n");
	return str;
}

static int config_handle_key(void *user, const char *section, const char *name, const char *value)
{
	struct config_parse *p = user;
	char why[ERROR_MAX - 64];

	if (*section == '\0') {
		report(p, p->line, "key '%s' is outside of any [section]", name);
		return 1;
	}
	if (!section_known(section))
		return 1; /* reported once, at the section's line */

	const struct config_key *key = find_key(section, name);
	if (!key) {
		report(p, p->line, "unknown key '%s' in section [%s]", name, section);
		return 1;
	}
	size_t i = (size_t)(key - config_keys);
	if (p->key_line[i]) {
		report(p, p->line, "duplicate key '%s' in section [%s] (first set on line %u)",
		       name, section, p->key_line[i]);
		return 1;
	}
	p->key_line[i] = p->line;
	if (*value == '\0' && !(key->flags & KEY_EMPTY_OK)) {
		report(p, p->line, "[%s] %s: missing value", section, name);
		p->key_bad[i] = true;
		return 1;
	}

	char *base = (char *)p->cfg;
	void *aux = key->aux_offset ? base + key->aux_offset : NULL;
	if (!key->parse(key, value, base + key->offset, aux, why, sizeof(why))) {
		report(p, p->line, "[%s] %s: %s", section, name, why);
		p->key_bad[i] = true;
	}
	return 1; /* we report errors ourselves; inih's own count is for syntax */
}

static tn_ip4 prefix_mask(unsigned len)
{
	return len ? ~(tn_ip4)0 << (32 - len) : 0;
}

static unsigned key_index(const char *section, const char *name)
{
	return (unsigned)(find_key(section, name) - config_keys);
}

/* Checks between keys, each blamed on the line of the key that can be fixed. */
static void check_addresses(struct config_parse *p)
{
	const struct tn_config *c = &p->cfg->core;
	unsigned ia = key_index("ipv4", "address"), ig = key_index("ipv4", "gateway");
	unsigned ih = key_index("interface", "host_address");
	tn_ip4 mask = prefix_mask(c->prefix_len);
	char a[16], b[16];

	if (p->key_bad[ia])
		return;
	if ((c->addr & ~mask) == 0 || (c->addr & ~mask) == ~mask) {
		report(p, p->key_line[ia], "[ipv4] address: %s is the network or broadcast address of /%u",
		       tn_ip4_str(c->addr, a), c->prefix_len);
		return;
	}
	if (c->gateway && !p->key_bad[ig]) {
		if ((c->gateway & mask) != (c->addr & mask))
			report(p, p->key_line[ig], "[ipv4] gateway: %s is not on-link for %s/%u",
			       tn_ip4_str(c->gateway, a), tn_ip4_str(c->addr, b), c->prefix_len);
		else if (c->gateway == c->addr)
			report(p, p->key_line[ig], "[ipv4] gateway: %s is tapnet's own address",
			       tn_ip4_str(c->gateway, a));
	}

	struct daemon_config *cfg = p->cfg;
	if (!cfg->host_addr || p->key_bad[ih])
		return;
	unsigned host_len = cfg->host_prefix_len ? cfg->host_prefix_len : c->prefix_len;
	tn_ip4 host_mask = prefix_mask(host_len);
	if (cfg->host_addr == c->addr)
		report(p, p->key_line[ih], "[interface] host_address: %s is also [ipv4] address",
		       tn_ip4_str(cfg->host_addr, a));
	else if ((cfg->host_addr & ~host_mask) == 0 || (cfg->host_addr & ~host_mask) == ~host_mask)
		report(p, p->key_line[ih],
		       "[interface] host_address: %s is the network or broadcast address of /%u",
		       tn_ip4_str(cfg->host_addr, a), host_len);
	else if ((cfg->host_addr & mask) != (c->addr & mask) ||
		 (cfg->host_addr & host_mask) != (c->addr & host_mask))
		report(p, p->key_line[ih], "[interface] host_address: %s/%u and %s/%u are not on the same link",
		       tn_ip4_str(cfg->host_addr, a), host_len, tn_ip4_str(c->addr, b), c->prefix_len);
}

/*
 * Of two keys that must agree, the one to blame: the one set later in the
 * file (0 when both have their defaults). A bad value was reported already.
 */
static bool pair_line(const struct config_parse *p, unsigned a, unsigned b, unsigned *line)
{
	if (p->key_bad[a] || p->key_bad[b])
		return false;
	*line = p->key_line[a] > p->key_line[b] ? p->key_line[a] : p->key_line[b];
	return true;
}

/* rto_min <= rto_initial <= rto_max, as the core requires. */
static void check_tcp(struct config_parse *p)
{
	static const char *const names[] = { "rto_min", "rto_initial", "rto_max" };
	static const uint8_t pairs[][2] = { { 0, 1 }, { 1, 2 }, { 0, 2 } };
	const struct tn_config *c = &p->cfg->core;
	const uint32_t ms[] = { c->tcp_rto_min_ms, c->tcp_rto_initial_ms, c->tcp_rto_max_ms };
	unsigned line;
	char a[24], b[24];

	for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
		size_t i = pairs[k][0], j = pairs[k][1];
		if (ms[i] <= ms[j] ||
		    !pair_line(p, key_index("tcp", names[i]), key_index("tcp", names[j]), &line))
			continue;
		format_duration(ms[i], a, sizeof(a));
		format_duration(ms[j], b, sizeof(b));
		report(p, line, "[tcp] %s (%s) is above %s (%s)", names[i], a, names[j], b);
		return; /* one is enough: fixing it may fix the others */
	}
}

/* Two services on one port: the second cannot listen. */
static void check_services(struct config_parse *p)
{
	static const char *const names[] = { "echo", "discard", "daytime", "chargen" };
	const struct services_config *sc = &p->cfg->services;
	const uint16_t ports[] = { sc->echo_port, sc->discard_port, sc->daytime_port,
				   sc->chargen_port };
	unsigned line;

	for (size_t i = 1; i < sizeof(ports) / sizeof(ports[0]); i++) {
		for (size_t j = 0; j < i; j++) {
			if (!ports[i] || ports[i] != ports[j])
				continue;
			if (pair_line(p, key_index("services", names[i]),
				      key_index("services", names[j]), &line))
				report(p, line, "[services] %s and %s both use port %u", names[j],
				       names[i], ports[i]);
			break;
		}
	}
}

static void validate(struct config_parse *p)
{
	check_addresses(p);
	check_tcp(p);
	check_services(p);
	if (p->errors)
		return; /* the core's check would only repeat a reported problem */
	const char *why = tn_config_check(&p->cfg->core);
	if (why)
		report(p, 0, "invalid configuration: %s", why);
}

unsigned config_load_stream(FILE *f, const char *name, struct daemon_config *cfg,
			    config_error_fn on_error, void *ctx)
{
	struct config_parse p = {
		.name = name, .f = f, .cfg = cfg, .on_error = on_error, .ctx = ctx,
	};

	config_defaults(cfg);
	int r = ini_parse_stream(config_read_line, &p, config_handle_key, &p);
	if (ferror(f))
		report(&p, 0, "read error: %s", strerror(errno));
	else if (r == -2)
		report(&p, 0, "out of memory");
	else if (r > 0 && p.errors == 0)
		report(&p, (unsigned)r, "syntax error"); /* something our reader let through */
	free(p.buf);
	validate(&p);
	return p.errors;
}

unsigned config_load(const char *path, struct daemon_config *cfg,
		     config_error_fn on_error, void *ctx)
{
	FILE *f = fopen(path, "re");

	if (!f) {
		char line[4096 + 128];
		snprintf(line, sizeof(line), "cannot open %s: %s", path, strerror(errno));
		config_defaults(cfg);
		if (on_error)
			on_error(ctx, line);
		return 1;
	}
	unsigned errors = config_load_stream(f, path, cfg, on_error, ctx);
	fclose(f);
	return errors;
}

/* ------------------------------------------------------------------ introspection */

bool config_key_at(size_t i, const char **section, const char **name)
{
	if (i >= N_KEYS)
		return false;
	*section = config_keys[i].section;
	*name = config_keys[i].name;
	return true;
}

bool config_reload_key(struct daemon_config *cfg, const struct daemon_config *fresh,
		       const char *section, const char *name, uint64_t *was, uint64_t *now)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];
		if (!(k->flags & KEY_RELOAD) || strcmp(k->section, section) != 0 ||
		    strcmp(k->name, name) != 0)
			continue;
		char *field = (char *)cfg + k->offset;
		const char *fresh_field = (const char *)fresh + k->offset;
		*was = load_uint(field, k->size);
		*now = load_uint(fresh_field, k->size);
		memcpy(field, fresh_field, k->size);
		return true;
	}
	return false;
}

bool config_key_in_core(const char *section, const char *name)
{
	const struct config_key *k = find_key(section, name);
	size_t core = offsetof(struct daemon_config, core);

	return k && k->offset >= core && k->offset + k->size <= core + sizeof(struct tn_config);
}

bool config_key_same(const struct daemon_config *a, const struct daemon_config *b,
		     const char *section, const char *name)
{
	const struct config_key *k = find_key(section, name);
	const char *pa = (const char *)a, *pb = (const char *)b;

	if (!k)
		return true;
	return memcmp(pa + k->offset, pb + k->offset, k->size) == 0 &&
	       (!k->aux_offset || pa[k->aux_offset] == pb[k->aux_offset]);
}

void config_key_copy(struct daemon_config *dst, const struct daemon_config *src,
		     const char *section, const char *name)
{
	const struct config_key *k = find_key(section, name);

	if (!k)
		return;
	memcpy((char *)dst + k->offset, (const char *)src + k->offset, k->size);
	if (k->aux_offset)
		((char *)dst)[k->aux_offset] = ((const char *)src)[k->aux_offset];
}

void config_key_format(const struct daemon_config *cfg, const char *section, const char *name,
		       char *buf, size_t len)
{
	const struct config_key *k = find_key(section, name);

	buf[0] = '\0';
	if (!k || k->size > sizeof(uint64_t))
		return;
	uint64_t v = load_uint((const char *)cfg + k->offset, k->size);
	if (k->parse == parse_bool)
		snprintf(buf, len, "%s", v ? "yes" : "no");
	else if (k->parse == parse_duration && (k->flags & KEY_SECONDS))
		snprintf(buf, len, "%llus", (unsigned long long)v);
	else if (k->parse == parse_duration)
		snprintf(buf, len, "%llums", (unsigned long long)v);
	else if (k->parse == parse_uint)
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

void config_diff(const struct daemon_config *a, const struct daemon_config *b,
		 void (*changed)(void *ctx, const char *section, const char *name),
		 void *ctx)
{
	const char *pa = (const char *)a, *pb = (const char *)b;

	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];
		bool differs = memcmp(pa + k->offset, pb + k->offset, k->size) != 0;
		if (k->aux_offset)
			differs |= pa[k->aux_offset] != pb[k->aux_offset];
		if (differs)
			changed(ctx, k->section, k->name);
	}
}
