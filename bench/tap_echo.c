/*
 * tap_echo - the least a process behind a TAP device can do for a ping:
 * bench/ping-rtt's floor.
 *
 *   tap_echo IFNAME ADDRESS      (as root, in a network namespace)
 *
 * Creates the tap IFNAME and answers, at ADDRESS, ARP requests and ICMP
 * echo requests, nothing else, with the system calls tapnetd makes for a
 * ping: epoll_wait, a read that finds the frame, a read that finds the
 * queue empty and the answer's write (here before that second read, which
 * tapnetd's reply waits for). No stack, no timers, no counters: what a
 * round trip through it adds to the kernel's own is what the tap, the
 * wakeup of a sleeping process and those calls cost on this machine, which
 * no program behind a tap can go below (tapnetd without busy polling
 * included).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "stack/stack_internal.h" /* the stack's checksum and tn_put16 */

static const uint8_t our_mac[6] = { 0x02, 0x00, 0x5e, 0x00, 0x00, 0x02 };

static void swap(uint8_t *a, uint8_t *b, size_t n)
{
	uint8_t t[6];

	memcpy(t, a, n);
	memcpy(a, b, n);
	memcpy(b, t, n);
}

/* The answer to frame f of n bytes, in place: its length, or 0 for none. */
static size_t answer(uint8_t *f, size_t n, const uint8_t addr[4])
{
	if (n < 42)
		return 0;
	if (f[12] == 0x08 && f[13] == 0x06) { /* ARP: an Ethernet/IPv4 request for addr */
		if (f[14] != 0 || f[15] != 1 || f[16] != 8 || f[17] != 0 || f[20] != 0 || f[21] != 1 ||
		    memcmp(f + 38, addr, 4) != 0)
			return 0;
		memcpy(f, f + 6, 6);
		memcpy(f + 6, our_mac, 6);
		f[21] = 2;
		memcpy(f + 32, f + 22, 10); /* the sender becomes the target */
		memcpy(f + 22, our_mac, 6);
		memcpy(f + 28, addr, 4);
		return 42;
	}
	if (f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 || f[23] != 1 ||
	    memcmp(f + 30, addr, 4) != 0)
		return 0;
	size_t ihl = (size_t)(f[14] & 15) * 4, total = (size_t)(f[16] << 8 | f[17]);
	if (ihl < 20 || total < ihl + 8 || 14 + total > n || f[14 + ihl] != 8) /* an echo request */
		return 0;
	uint8_t *icmp = f + 14 + ihl;
	swap(f, f + 6, 6);
	swap(f + 26, f + 30, 4); /* the IP header's checksum stays right */
	icmp[0] = 0;
	icmp[2] = icmp[3] = 0;
	tn_put16(icmp + 2, tn_csum_fold(tn_csum_add(0, icmp, total - ihl)));
	return 14 + total;
}

int main(int argc, char **argv)
{
	uint8_t addr[4], frame[2048];
	struct ifreq ifr;

	if (argc != 3 || strlen(argv[1]) >= IFNAMSIZ || inet_pton(AF_INET, argv[2], addr) != 1) {
		fprintf(stderr, "usage: tap_echo IFNAME ADDRESS\n");
		return 2;
	}
	int tap = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, argv[1]);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (tap < 0 || ioctl(tap, TUNSETIFF, &ifr) < 0) {
		fprintf(stderr, "tap_echo: cannot create the tap %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tap, &ev) < 0) {
		fprintf(stderr, "tap_echo: epoll: %s\n", strerror(errno));
		return 1;
	}
	printf("tap_echo: %s up, answering at %s\n", ifr.ifr_name, argv[2]);
	fflush(stdout);
	for (;;) {
		if (epoll_wait(ep, &ev, 1, -1) < 0 && errno != EINTR) {
			fprintf(stderr, "tap_echo: epoll_wait: %s\n", strerror(errno));
			return 1;
		}
		for (;;) { /* until a read finds the queue empty */
			ssize_t n = read(tap, frame, sizeof(frame));
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				fprintf(stderr, "tap_echo: read: %s\n", strerror(errno));
				return 1;
			}
			size_t len = answer(frame, (size_t)n, addr);
			if (len && write(tap, frame, len) < 0 && errno != EAGAIN)
				fprintf(stderr, "tap_echo: write: %s\n", strerror(errno));
		}
	}
}
