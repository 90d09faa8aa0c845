/*
 * pcap.h - the classic pcap file format (nanosecond timestamps, Ethernet),
 * as tcpdump, tshark and wireshark read it.
 */
#ifndef TAPNET_PCAP_H
#define TAPNET_PCAP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PCAP_SNAPLEN 65549 /* an Ethernet header and the largest IPv4 datagram */

/* The file header; 0, or -1 with errno. */
int pcap_write_header(FILE *f);
/* One frame seen at realtime_ns (since the epoch); 0, or -1 with errno. */
int pcap_write_frame(FILE *f, uint64_t realtime_ns, const uint8_t *frame, size_t len);

#endif
