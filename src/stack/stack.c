/*
 * stack.c - the core's lifetime, configuration and read-only views
 * (counters, neighbour list) for the daemon.
 */
#include "stack_internal.h"

#include <stdlib.h>

void tn_config_defaults(struct tn_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->addr = 0x0a000002; /* 10.0.0.2 */
	cfg->prefix_len = 24;
	cfg->mtu = 1500;

	cfg->arp_cache_size = 256;
	cfg->arp_reachable_ms = 60000;
	cfg->arp_retry_ms = 1000;
	cfg->arp_max_retries = 3;
	cfg->arp_queue_len = 16;
	cfg->arp_queue_bytes = 212992; /* Linux's unres_qlen_bytes */
	cfg->arp_queue_total_len = 1024;
	cfg->arp_queue_total_bytes = 1048576;

	cfg->ip_default_ttl = 64;
	cfg->reasm_timeout_ms = 30000;
	cfg->reasm_max_datagrams = 64;
	cfg->reasm_max_bytes = 4u << 20;

	cfg->icmp_ratelimit_ms = 1000;
	cfg->icmp_ratelimit_burst = 6;

	/* TCP (owned by the TCP modules; checked in tn_tcp_config_check) */
	cfg->tcp_rcvbuf_min = 4096;
	cfg->tcp_rcvbuf = 64u << 10;
	cfg->tcp_rcvbuf_max = 6u << 20;
	cfg->tcp_sndbuf_min = 4096;
	cfg->tcp_sndbuf = 16u << 10;
	cfg->tcp_sndbuf_max = 4u << 20;
	cfg->tcp_syn_retries = 6;
	cfg->tcp_synack_retries = 5;
	cfg->tcp_retries = 15;
	cfg->tcp_rto_min_ms = 200;
	cfg->tcp_rto_initial_ms = 1000;
	cfg->tcp_rto_max_ms = 120000;
	cfg->tcp_delack_ms = 40;
	cfg->tcp_keepalive_time_s = 7200;
	cfg->tcp_keepalive_intvl_s = 75;
	cfg->tcp_keepalive_probes = 9;
	cfg->tcp_port_min = 32768;
	cfg->tcp_port_max = 60999;
	cfg->tcp_time_wait_ms = 60000;
	cfg->tcp_fin_timeout_ms = 60000;
	cfg->tcp_tw_max_buckets = 262144;
	cfg->tcp_tw_overflow = TN_TCP_TW_DROP;
	cfg->tcp_tw_reuse = 0;
	cfg->tcp_max_syn_backlog = 256;
	cfg->tcp_somaxconn = 4096;
	cfg->tcp_invalid_ratelimit_ms = 500;
	cfg->tcp_challenge_ack_limit = 1000;
	cfg->tcp_max_conns = 65536;
	cfg->tcp_sack = true;
	cfg->tcp_timestamps = true;
	cfg->tcp_window_scaling = true;
	cfg->tcp_rfc1337 = false;
	cfg->tcp_congestion = TN_TCP_CC_CUBIC;
	cfg->tcp_syncookies = TN_TCP_SYNCOOKIES_YES;
	cfg->tcp_max_orphans = 65536;
}

static bool mac_is_multicast(const uint8_t mac[TN_ETH_ALEN])
{
	return mac[0] & 1;
}

static bool mac_is_zero(const uint8_t mac[TN_ETH_ALEN])
{
	static const uint8_t zero[TN_ETH_ALEN];
	return memcmp(mac, zero, TN_ETH_ALEN) == 0;
}

static tn_ip4 prefix_mask(uint8_t prefix_len)
{
	return prefix_len ? ~(tn_ip4)0 << (32 - prefix_len) : 0;
}

const char *tn_config_check(const struct tn_config *cfg)
{
	tn_ip4 mask = prefix_mask(cfg->prefix_len);

	if (cfg->prefix_len < 1 || cfg->prefix_len > 30)
		return "prefix length must be 1..30";
	if (cfg->addr == 0 || tn_ip4_is_loopback(cfg->addr) || (cfg->addr >> 28) >= 14)
		return "address must be a unicast address";
	if ((cfg->addr & ~mask) == 0 || (cfg->addr & ~mask) == ~mask)
		return "address is the network or broadcast address of its prefix";
	if (cfg->gateway && (cfg->gateway & mask) != (cfg->addr & mask))
		return "gateway is not on the local prefix";
	if (cfg->gateway == cfg->addr && cfg->gateway)
		return "gateway is our own address";
	if (cfg->mtu < 68)
		return "mtu must be at least 68";
	if (mac_is_multicast(cfg->mac))
		return "mac must be a unicast address";
	if (cfg->arp_cache_size < 1 || cfg->arp_cache_size > 65536)
		return "arp cache size must be 1..65536";
	if (cfg->arp_retry_ms < 10 || cfg->arp_reachable_ms < 1000)
		return "arp timers too short";
	if (cfg->arp_queue_len > 1024)
		return "arp queue length must be 0..1024";
	if (cfg->ip_default_ttl == 0)
		return "ttl must be 1..255";
	if (cfg->reasm_timeout_ms < 100)
		return "reassembly timeout too short";
	if (cfg->reasm_max_datagrams < 1 || cfg->reasm_max_bytes < 65536 + 1024)
		return "reassembly limits too small for one full datagram";
	return tn_tcp_config_check(cfg); /* TCP fields */
}

const char *tn_stack_reconfigure(struct tn_stack *stack, const struct tn_config *fresh,
				 struct tn_config *running)
{
	const struct tn_config *cur = &stack->cfg;
	struct tn_config next = *fresh;

	/* fixed at creation: the link and the tables sized then */
	memcpy(next.mac, cur->mac, sizeof(next.mac));
	next.addr = cur->addr;
	next.prefix_len = cur->prefix_len;
	next.mtu = cur->mtu;
	next.offload = cur->offload;
	next.arp_cache_size = cur->arp_cache_size;
	next.reasm_max_datagrams = cur->reasm_max_datagrams;
	const char *err = tn_config_check(&next);
	if (err)
		return err;
	tn_tcp_reconfigure(stack, &next);
	stack->cfg = next;
	if (running)
		*running = stack->cfg;
	return NULL;
}

struct tn_stack *tn_stack_new(const struct tn_config *cfg, const struct tn_env *env)
{
	if (tn_config_check(cfg) || !env->now_ns || !env->random || !env->output)
		return NULL;

	struct tn_stack *stack = calloc(1, sizeof(*stack));
	if (!stack)
		return NULL;
	stack->cfg = *cfg;
	stack->env = *env;
	stack->netmask = prefix_mask(cfg->prefix_len);
	if (mac_is_zero(stack->cfg.mac)) {
		/* Stable and locally administered: 02:54:4e ("TN") + low 24 bits of addr. */
		uint8_t *m = stack->cfg.mac;
		m[0] = 0x02, m[1] = 0x54, m[2] = 0x4e;
		m[3] = cfg->addr >> 16, m[4] = cfg->addr >> 8, m[5] = cfg->addr;
	}
	tn_random(stack, stack->hash_key, sizeof(stack->hash_key));
	stack->icmp_tokens = cfg->icmp_ratelimit_burst;
	stack->icmp_tokens_at = tn_now(stack);

	if (tn_arp_init(stack) < 0 || tn_ipv4_init(stack) < 0 || tn_loopback_init(stack) < 0 ||
	    tn_tcp_init(stack) < 0) {
		tn_stack_free(stack);
		return NULL;
	}
	return stack;
}

void tn_stack_free(struct tn_stack *stack)
{
	if (!stack)
		return;
	tn_tcp_free(stack);
	tn_loopback_free(stack);
	tn_ipv4_free(stack);
	tn_arp_free(stack);
	tn_timers_free(&stack->timers);
	free(stack);
}

void tn_stack_start(struct tn_stack *stack)
{
	tn_arp_announce(stack);
}

void tn_stack_input(struct tn_stack *stack, const struct tn_frame_meta *meta,
		    const void *frame, size_t len)
{
	stack->rx_meta = meta;
	tn_eth_input(stack, frame, len);
	stack->rx_meta = NULL;
}

void tn_stack_set_tracer(struct tn_stack *stack, tn_trace_fn fn, void *ctx)
{
	stack->tracer = fn;
	stack->tracer_ctx = ctx;
}

void tn_trace_state(struct tn_stack *stack, const struct tn_hnode *tuple, int from, int to)
{
	const struct tn_trace_event ev = {
		.type = TN_TRACE_STATE, .from = (uint8_t)from, .to = (uint8_t)to,
		.local_addr = tuple->laddr, .local_port = tuple->lport,
		.remote_addr = tuple->raddr, .remote_port = tuple->rport,
	};
	stack->tracer(stack->tracer_ctx, &ev);
}

void tn_trace_tw(struct tn_stack *stack, const struct tn_hnode *tuple, enum tn_trace_tw event,
		 uint32_t remaining_ms)
{
	const struct tn_trace_event ev = {
		.type = TN_TRACE_TIMEWAIT, .tw_event = (uint8_t)event, .remaining_ms = remaining_ms,
		.local_addr = tuple->laddr, .local_port = tuple->lport,
		.remote_addr = tuple->raddr, .remote_port = tuple->rport,
	};
	stack->tracer(stack->tracer_ctx, &ev);
}

void tn_stack_get_mac(const struct tn_stack *stack, uint8_t mac[TN_ETH_ALEN])
{
	memcpy(mac, stack->cfg.mac, TN_ETH_ALEN);
}

static const char *const counter_names[TN_CTR__COUNT] = {
#define TN_COUNTER_NAME(name) #name,
	TN_COUNTERS(TN_COUNTER_NAME)
#undef TN_COUNTER_NAME
};

const char *tn_counter_name(enum tn_counter c)
{
	return (unsigned)c < TN_CTR__COUNT ? counter_names[c] : NULL;
}

uint64_t tn_stack_counter(const struct tn_stack *stack, enum tn_counter c)
{
	if (c == TN_CTR_TcpTimeWaitCurrent) /* a gauge kept by the table itself */
		return tn_timewait_count(stack);
	return (unsigned)c < TN_CTR__COUNT ? stack->counters[c] : 0;
}

/* The decimal digits of v (0..255) at p, no leading zero; returns the end. */
static char *put_dec8(char *p, unsigned v)
{
	if (v >= 100)
		*p++ = (char)('0' + v / 100);
	if (v >= 10)
		*p++ = (char)('0' + v / 10 % 10);
	*p++ = (char)('0' + v % 10);
	return p;
}

/* By hand, not snprintf: the core needs nothing of stdio. */
const char *tn_ip4_str(tn_ip4 addr, char buf[16])
{
	char *p = buf;
	for (int shift = 24; shift >= 0; shift -= 8) {
		p = put_dec8(p, (addr >> shift) & 0xff);
		*p++ = shift ? '.' : '\0';
	}
	return buf;
}

const char *tn_mac_str(const uint8_t mac[TN_ETH_ALEN], char buf[18])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < TN_ETH_ALEN; i++) {
		buf[3 * i] = hex[mac[i] >> 4];
		buf[3 * i + 1] = hex[mac[i] & 0x0f];
		buf[3 * i + 2] = i + 1 < TN_ETH_ALEN ? ':' : '\0';
	}
	return buf;
}
