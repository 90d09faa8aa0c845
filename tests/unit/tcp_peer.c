/* tcp_peer.c - see tcp_peer.h */
#include "tcp_peer.h"

#include <check.h>

static uint8_t frame[70000];

void peer_send(struct harness *h, const struct pseg *p)
{
	static uint8_t seg[65536];
	size_t hl = TCP_HLEN + p->optlen;
	memset(seg, 0, hl);
	tn_put16(seg, p->sport ? p->sport : RPORT);
	tn_put16(seg + 2, p->dport ? p->dport : LPORT);
	tn_put32(seg + 4, p->seq);
	tn_put32(seg + 8, p->ack);
	seg[12] = (uint8_t)((hl / 4) << 4);
	seg[13] = p->flags;
	tn_put16(seg + 14, p->zero_wnd ? 0 : p->wnd ? p->wnd : 65535);
	if (p->optlen)
		memcpy(seg + TCP_HLEN, p->opt, p->optlen);
	if (p->len)
		memcpy(seg + hl, p->data, p->len);
	uint32_t sum = tn_csum_pseudo(H_PEER_IP, H_STACK_IP, TN_IP_PROTO_TCP, (uint16_t)(hl + p->len));
	tn_put16(seg + 16, tn_csum_fold(tn_csum_add(sum, seg, hl + p->len)) ^ (p->bad_csum ? 1 : 0));
	size_t n = h_ipv4(frame, &(struct h_ip_opts){.proto = TN_IP_PROTO_TCP}, seg, hl + p->len);
	h_input(h, frame, n);
}

bool out_seg(struct harness *h, size_t i, struct oseg *o)
{
	size_t len;
	const uint8_t *ip = h_out_ip(h, i, &len);
	if (!ip || ip[9] != TN_IP_PROTO_TCP)
		return false;
	const uint8_t *t = ip + TN_IP_HLEN;
	size_t tl = tn_get16(ip + 2) - TN_IP_HLEN;
	uint32_t sum = tn_csum_pseudo(H_STACK_IP, H_PEER_IP, TN_IP_PROTO_TCP, (uint16_t)tl);
	ck_assert_uint_eq(tn_csum_fold(tn_csum_add(sum, t, tl)), 0);
	size_t hl = (size_t)(t[12] >> 4) * 4;
	o->sport = tn_get16(t);
	o->dport = tn_get16(t + 2);
	o->seq = tn_get32(t + 4);
	o->ack = tn_get32(t + 8);
	o->flags = t[13];
	o->wnd = tn_get16(t + 14);
	o->len = (uint32_t)(tl - hl);
	o->data = t + hl;
	o->ip_tos = ip[1];
	o->ip_ttl = ip[8];
	tcp_opt_parse(t + TCP_HLEN, hl - TCP_HLEN, t[13] & TCP_SYN, &o->opt);
	return true;
}

/* TCP segments sent since the last h_clear() (ARP traffic is not counted). */
size_t tcp_out_count(struct harness *h)
{
	struct oseg o;
	size_t n = 0;
	for (size_t i = 0; i < h->nout; i++)
		n += out_seg(h, i, &o);
	return n;
}

/* The only TCP segment sent since the last h_clear(). */
struct oseg last_only(struct harness *h)
{
	struct oseg o, found = {0};
	ck_assert_uint_eq(tcp_out_count(h), 1);
	for (size_t i = 0; i < h->nout; i++)
		if (out_seg(h, i, &o))
			found = o;
	return found;
}

const uint8_t syn_opts[20] = {
	2, 4, 0x05, 0xb4,             /* MSS 1460 */
	4, 2,                         /* SACK permitted */
	8, 10, 0, 0, 0, 1, 0, 0, 0, 0, /* TS 1, 0 */
	1, 3, 3, 7,                   /* NOP, WS 7 */
};

void peer_config(struct tn_config *cfg)
{
	tn_config_defaults(cfg);
	cfg->tcp_timestamps = false; /* plain segments unless a test asks */
	cfg->arp_reachable_ms = 30u * 24 * 3600 * 1000; /* the peer never answers ARP: keep its entry */
}

struct harness *new_harness_cfg(const struct tn_config *cfg)
{
	struct harness *h = h_new(cfg);
	ck_assert_ptr_nonnull(h);
	h_learn_peer(h);
	return h;
}

struct harness *new_harness(void)
{
	struct tn_config cfg;
	peer_config(&cfg);
	return new_harness_cfg(&cfg);
}

void ts_opt(uint8_t out[12], uint32_t tsval, uint32_t tsecr)
{
	out[0] = 1, out[1] = 1, out[2] = 8, out[3] = 10;
	tn_put32(out + 4, tsval);
	tn_put32(out + 8, tsecr);
}

struct tn_sock *peer_listener(struct harness *h, int backlog)
{
	struct tn_sock *l = tn_sock_open(h->stack);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(tn_sock_bind(l, 0, LPORT), 0);
	ck_assert_int_eq(tn_sock_listen(l, backlog), 0);
	return l;
}

struct harness *new_server(const struct tn_config *cfg, int backlog, struct tn_sock **l)
{
	struct harness *h = cfg ? new_harness_cfg(cfg) : new_harness();
	*l = peer_listener(h, backlog);
	return h;
}

struct tn_sock *accept_from(struct harness *h, struct tn_sock *l, uint16_t rport,
			    uint32_t peer_isn, uint32_t *iss)
{
	peer_send(h, &(struct pseg){.seq = peer_isn, .flags = TCP_SYN, .sport = rport});
	struct oseg o = last_only(h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	*iss = o.seq;
	h_clear(h);
	peer_send(h, &(struct pseg){.seq = peer_isn + 1, .ack = o.seq + 1, .flags = TCP_ACK, .sport = rport});
	struct tn_sock *s = tn_sock_accept(l, NULL);
	ck_assert_ptr_nonnull(s);
	return s;
}

struct oseg passive_syn(struct conn *c, const uint8_t *opt, size_t optlen)
{
	peer_send(c->h, &(struct pseg){.seq = PEER_ISN, .flags = TCP_SYN, .opt = opt, .optlen = optlen});
	struct oseg o = last_only(c->h);
	ck_assert_uint_eq(o.flags, TCP_SYN | TCP_ACK);
	ck_assert_uint_eq(o.ack, PEER_ISN + 1);
	c->iss = o.seq;
	c->snd = PEER_ISN + 1;
	c->rcv = c->iss + 1;
	h_clear(c->h);
	return o;
}

void passive_ack(struct conn *c, const struct oseg *synack)
{
	uint8_t ts[12];
	ts_opt(ts, 2, synack->opt.tsval);
	bool with_ts = synack->opt.ts_ok;
	peer_send(c->h, &(struct pseg){.seq = c->snd, .ack = c->rcv, .flags = TCP_ACK,
				       .opt = with_ts ? ts : NULL, .optlen = with_ts ? sizeof(ts) : 0});
	ck_assert_uint_eq(tcp_out_count(c->h), 0);
	c->s = tn_sock_accept(c->l, NULL);
	ck_assert_ptr_nonnull(c->s);
	ck_assert_int_eq(tn_sock_state(c->s), TN_TCP_ESTABLISHED);
}

struct conn open_passive_rtt(const struct tn_config *cfg, const uint8_t *opt, size_t optlen,
			     uint64_t rtt_ns)
{
	struct conn c = {0};
	c.h = new_server(cfg, 4, &c.l);
	struct oseg synack = passive_syn(&c, opt, optlen);
	if (rtt_ns)
		h_advance(c.h, rtt_ns);
	passive_ack(&c, &synack);
	return c;
}

struct conn open_passive_cfg(const struct tn_config *cfg, const uint8_t *opt, size_t optlen)
{
	return open_passive_rtt(cfg, opt, optlen, 0);
}

struct conn open_passive(void)
{
	return open_passive_cfg(NULL, NULL, 0);
}

void close_conn(struct conn *c)
{
	h_free(c->h);
}
