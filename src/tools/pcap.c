/*
 * pcap.c - classic pcap, written in the host's byte order as libpcap does
 * (readers tell the order by the magic number).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "tools/pcap.h"

#include <errno.h>

#define PCAP_MAGIC_NSEC 0xa1b23c4du
#define LINKTYPE_ETHERNET 1

struct pcap_file_header {
	uint32_t magic;
	uint16_t version_major, version_minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_record_header {
	uint32_t ts_sec, ts_nsec, caplen, len;
};

static int put(FILE *f, const void *p, size_t n)
{
	if (fwrite(p, 1, n, f) != n) {
		if (!errno)
			errno = EIO;
		return -1;
	}
	return 0;
}

int pcap_write_header(FILE *f)
{
	struct pcap_file_header h = { PCAP_MAGIC_NSEC, 2, 4, 0, 0, PCAP_SNAPLEN, LINKTYPE_ETHERNET };

	return put(f, &h, sizeof(h));
}

int pcap_write_frame(FILE *f, uint64_t realtime_ns, const uint8_t *frame, size_t len)
{
	size_t cap = len < PCAP_SNAPLEN ? len : PCAP_SNAPLEN;
	struct pcap_record_header r = { (uint32_t)(realtime_ns / 1000000000u),
					(uint32_t)(realtime_ns % 1000000000u), (uint32_t)cap,
					(uint32_t)len };

	if (put(f, &r, sizeof(r)) < 0)
		return -1;
	return put(f, frame, cap);
}
