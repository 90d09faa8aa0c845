/* cmd_arp.c - `tapnet arp`: the neighbour cache, ip neigh style. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "tools/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- arp */

struct arp_entry {
	uint32_t addr;
	uint8_t mac[MAC_LEN];
	bool has_mac;
	char state[STR_MAX];
	uint64_t expires_ms;
	bool has_expires;
	uint32_t queued;
};

static bool decode_arp_attr(struct arp_entry *e, const struct tn_rpc_attr_view *a)
{
	switch (a->type) {
	case TN_ATTR_ADDR:
		return tn_rpc_get_u32(a, &e->addr);
	case TN_ATTR_MAC:
		return (e->has_mac = tn_rpc_get_bytes(a, e->mac, MAC_LEN));
	case TN_ATTR_STATE:
		return tn_rpc_get_str(a, e->state, sizeof(e->state));
	case TN_ATTR_EXPIRES_MS:
		return (e->has_expires = tn_rpc_get_u64(a, &e->expires_ms));
	case TN_ATTR_QUEUED:
		return tn_rpc_get_u32(a, &e->queued);
	default:
		return true;
	}
}

/* ADDR and STATE are what an entry is; the rest may be absent. */
static bool decode_arp_entry(const struct tn_rpc_attr_view *nest, struct arp_entry *e)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	bool have_addr = false;

	memset(e, 0, sizeof(*e));
	tn_rpc_iter_nest(&it, nest);
	while (tn_rpc_next(&it, &a)) {
		if (!decode_arp_attr(e, &a))
			return false;
		have_addr |= a.type == TN_ATTR_ADDR;
	}
	/* an INCOMPLETE entry has no address yet, whatever bytes stand in for it */
	if (e->has_mac && mac_is_zero(e->mac))
		e->has_mac = false;
	return !it.bad && have_addr && e->state[0] != '\0';
}

/* `ip neigh` style: 10.0.0.1 lladdr aa:bb:cc:dd:ee:ff REACHABLE expires 42s queued 0 */
static void print_arp_text(const struct arp_entry *e)
{
	char a[16], m[18];

	printf("%s", ip4_str(e->addr, a));
	if (e->has_mac)
		printf(" lladdr %s", mac_str(e->mac, m));
	printf(" %s", e->state);
	if (e->has_expires)
		/* rounded up: an entry still there has not expired */
		printf(" expires %" PRIu64 "s", e->expires_ms / 1000 + (e->expires_ms % 1000 != 0));
	printf(" queued %" PRIu32 "\n", e->queued);
}

/* Keys are left out when absent, as `ip -j neigh` does. */
static void print_arp_json(const struct arp_entry *e)
{
	char a[16], m[18];

	fputs("{\"dst\": ", stdout);
	json_string(ip4_str(e->addr, a));
	if (e->has_mac) {
		fputs(", \"lladdr\": ", stdout);
		json_string(mac_str(e->mac, m));
	}
	fputs(", \"state\": ", stdout);
	json_string(e->state);
	if (e->has_expires)
		printf(", \"expires_ms\": %" PRIu64, e->expires_ms);
	printf(", \"queued\": %" PRIu32 "}", e->queued);
}

int cmd_arp(struct cli *cli, const struct cmd_options *opt)
{
	struct tn_rpc_iter it;
	struct tn_rpc_attr_view a;
	struct arp_entry e;
	size_t printed = 0;
	int rc;

	if ((rc = cli_connect(cli)) != EXIT_SUCCESS)
		return rc;
	if ((rc = call(cli, TN_RPC_ARP, NULL, NULL)) != EXIT_SUCCESS)
		return rc;
	/* Whole reply checked before the first line, so output is all or nothing. */
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a))
		if (a.type == TN_ATTR_ARP_ENTRY && !decode_arp_entry(&a, &e))
			return malformed("bad ARP_ENTRY in ARP");
	if (it.bad)
		return malformed("bad ARP");

	if (opt->json)
		putchar('[');
	tn_rpc_iter_msg(&it, cli->reply, cli->reply_len);
	while (tn_rpc_next(&it, &a)) {
		if (a.type != TN_ATTR_ARP_ENTRY)
			continue;
		decode_arp_entry(&a, &e);
		if (opt->json) {
			fputs(printed++ ? ", " : "", stdout);
			print_arp_json(&e);
		} else {
			print_arp_text(&e);
		}
	}
	if (opt->json)
		puts("]");
	return EXIT_SUCCESS;
}
