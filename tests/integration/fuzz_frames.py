#!/usr/bin/python3
"""fuzz_frames.py - a million malformed and random frames at tapnet through tap0.

Run by fuzz_soak.sh inside the test's network namespace, as root:

    fuzz_frames.py --iface tap0 --mac TAPNET_MAC --count N --seed S [--avoid-syn PORT,...]

Writes the frames on a raw AF_PACKET socket on the kernel's side of tap0
(the kernel hands them to tapnetd), a mix of every layer done wrong:
Ethernet (other and group addresses, short frames, unknown types), ARP
(bad sizes, operations, senders), IPv4 (header length, total length,
options, TTL 0, flags and offsets, bad checksums, martian sources),
fragments (offsets, overlaps, odd sizes, long first headers, the largest
datagram exceeded), ICMP (every type and code), TCP (flags, data offsets,
options of every length, ports) and, through a second socket with
PACKET_VNET_HDR, frames with virtio-net headers (GSO sizes, checksum
offsets) as far as the kernel lets them through to the tap.

The frames are random but repeatable (--seed). No ARP frame claims the
kernel's address (10.0.0.1) for another MAC: ARP trusts the link, and the
checks afterwards need the kernel's entry right. No SYN goes to the ports
in --avoid-syn (the services checked afterwards: filling their SYN queues
is the SYN flood test's business). The sender keeps at most WINDOW frames
in flight (the tap's tx_packets counter says what tapnetd has read), so
the kernel's queue does not drop them: every frame counted here was read
by tapnetd. Prints what it sent, by kind, and exits 0.
"""
import argparse
import errno
import os
import random
import socket
import struct
import sys
import time

SOL_PACKET = 263
PACKET_VNET_HDR = 15
WINDOW = 2000            # frames sent but not yet read by tapnetd
HOST_MAC_PREFIX = b"\x52\x54\x00"
TAPNET = bytes([10, 0, 0, 2])
NET = bytes([10, 0, 0])


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


class Fuzzer:
    def __init__(self, args):
        self.rng = random.Random(args.seed)
        self.dst_mac = bytes.fromhex(args.mac.replace(":", ""))
        self.src_mac = open("/sys/class/net/%s/address" % args.iface).read().strip()
        self.src_mac = bytes.fromhex(self.src_mac.replace(":", ""))
        self.avoid_syn = set(int(p) for p in args.avoid_syn.split(",") if p)
        self.kinds = [
            (10, "garbage", self.garbage),
            (22, "ipv4", self.ipv4_random),
            (20, "tcp", self.tcp),
            (15, "fragment", self.fragment),
            (10, "icmp", self.icmp),
            (10, "arp", self.arp),
            (5, "ethernet", self.ethernet),
            (8, "vnet", self.vnet),
        ]
        self.table = []
        for weight, name, fn in self.kinds:
            self.table += [(name, fn)] * weight

    # ---------------------------------------------------------------- pieces
    def eth(self, etype, dst=None):
        return (dst or self.dst_mac) + self.src_mac + struct.pack("!H", etype)

    def src_ip(self):
        r = self.rng.random()
        if r < 0.8:
            return NET + bytes([self.rng.choice((1, 3, 4, 5, self.rng.randrange(256)))])
        if r < 0.9:
            return bytes(self.rng.choice(([127, 0, 0, 1], [224, 0, 0, 1], [0, 0, 0, 0],
                                          [10, 0, 0, 255], [10, 0, 0, 2], [255] * 4)))
        return self.rng.randbytes(4)

    def ip_header(self, proto, payload_len, src=None, dst=TAPNET, frag=0, ident=None,
                  opts=b"", ttl=64, tot_len=None, good_csum=True):
        ihl = (20 + len(opts)) // 4
        tot = 20 + len(opts) + payload_len if tot_len is None else tot_len
        h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, self.rng.randrange(256) if self.rng.random() < 0.1 else 0,
                        tot & 0xffff, self.rng.randrange(65536) if ident is None else ident,
                        frag, ttl, proto, 0, src or self.src_ip(), dst) + opts
        c = csum(h) if good_csum else self.rng.randrange(65536)
        return h[:10] + struct.pack("!H", c) + h[12:]

    def ip_options(self):
        n = self.rng.choice((0, 0, 4, 8, 20, 40))
        r = self.rng.random()
        if r < 0.4:
            return self.rng.randbytes(n)
        if r < 0.7:
            return b"\x01" * n  # NOPs
        # an option whose length runs past the header, or is 0 or 1
        o = bytes([self.rng.choice((7, 68, 131, 137, 148)), self.rng.choice((0, 1, 2, 41, 255))])
        return (o + self.rng.randbytes(n))[:n] if n else b""

    # ---------------------------------------------------------------- kinds
    def garbage(self):
        etype = self.rng.choice((0x0800, 0x0806, self.rng.randrange(65536)))
        return self.eth(etype) + self.rng.randbytes(self.rng.randrange(1500))

    def ipv4_random(self):
        payload = self.rng.randbytes(self.rng.randrange(0, 1400))
        opts = self.ip_options()
        frag = self.rng.choice((0, 0x4000, self.rng.randrange(65536)))
        tot = self.rng.choice((None, None, 0, 19, 20 + len(opts) + len(payload) + self.rng.randrange(1, 600),
                               self.rng.randrange(65536)))
        ttl = self.rng.choice((64, 1, 0, 255))
        proto = self.rng.choice((1, 6, 17, 2, 41, 132, self.rng.randrange(256)))
        h = self.ip_header(proto, len(payload), frag=frag, opts=opts, ttl=ttl, tot_len=tot,
                           good_csum=self.rng.random() < 0.85)
        if self.rng.random() < 0.1:  # a version or header length that lies
            h = bytes([self.rng.randrange(256)]) + h[1:]
        return self.eth(0x0800) + h + payload

    def tcp_options(self):
        r = self.rng.random()
        if r < 0.3:
            return b""
        if r < 0.5:
            return self.rng.randbytes(self.rng.randrange(0, 41) & ~3)
        parts = []
        for _ in range(self.rng.randrange(1, 6)):
            kind = self.rng.choice((0, 1, 2, 3, 4, 5, 8, 30, 34, 254, self.rng.randrange(256)))
            if kind in (0, 1):
                parts.append(bytes([kind]))
                continue
            ln = self.rng.choice(({2: 4, 3: 3, 4: 2, 5: 10, 8: 10}.get(kind, 4), 0, 1, 2,
                                  self.rng.randrange(41)))
            parts.append(bytes([kind, ln]) + self.rng.randbytes(max(0, min(ln, 40) - 2)))
        opts = b"".join(parts)[:40]
        return opts + b"\0" * (-len(opts) % 4)

    def tcp_segment(self, src, dst, sport, dport, flags, opts, payload, good_csum, doff=None):
        doff = (20 + len(opts)) // 4 if doff is None else doff
        h = struct.pack("!HHIIBBHHH", sport, dport, self.rng.getrandbits(32),
                        self.rng.getrandbits(32), (doff & 15) << 4, flags,
                        self.rng.choice((0, 1, 65535, self.rng.randrange(65536))), 0,
                        self.rng.choice((0, self.rng.randrange(65536)))) + opts
        seg = h + payload
        if good_csum:
            pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
            c = csum(pseudo + seg)
        else:
            c = self.rng.randrange(65536)
        return seg[:16] + struct.pack("!H", c) + seg[18:]

    def tcp(self):
        src = self.src_ip()
        dport = self.rng.choice((7, 9, 13, 19, 80, self.rng.randrange(65536)))
        flags = self.rng.randrange(256)
        if dport in self.avoid_syn:
            flags &= ~0x02
        opts = self.tcp_options()
        payload = self.rng.randbytes(self.rng.choice((0, 0, 1, self.rng.randrange(64))))
        doff = self.rng.choice((None, None, None, self.rng.randrange(16)))
        seg = self.tcp_segment(src, TAPNET, self.rng.randrange(65536), dport, flags, opts, payload,
                               self.rng.random() < 0.7, doff)
        if self.rng.random() < 0.05:
            seg = seg[:self.rng.randrange(len(seg))]  # cut short
        return self.eth(0x0800) + self.ip_header(6, len(seg), src=src) + seg

    def fragment(self):
        # few sources and IDs, so fragments meet: overlaps, duplicates, oversize, odd ends
        src = NET + bytes([self.rng.choice((1, 3, 5))])
        ident = self.rng.randrange(32)
        off = self.rng.choice((0, 0, self.rng.randrange(8192), 8191, 8189, 185, 370))
        more = self.rng.random() < 0.7
        n = self.rng.choice((8, 16, 1480, 1472, self.rng.randrange(1, 1480)))
        opts = b"\x01" * 40 if off == 0 and self.rng.random() < 0.3 else b""
        proto = self.rng.choice((1, 6, 17))
        h = self.ip_header(proto, n, src=src, frag=(0x2000 if more else 0) | off, ident=ident, opts=opts)
        return self.eth(0x0800) + h + self.rng.randbytes(n)

    def icmp(self):
        typ = self.rng.choice((8, 0, 3, 4, 5, 11, 12, 13, 17, self.rng.randrange(256)))
        code = self.rng.choice((0, 1, 3, 4, self.rng.randrange(256)))
        body = self.rng.randbytes(self.rng.randrange(0, 1400))
        if typ == 3 and self.rng.random() < 0.5:  # quotes one of "our" segments
            inner = self.ip_header(6, 20, src=TAPNET, dst=NET + b"\x01") + self.rng.randbytes(20)
            body = struct.pack("!HH", 0, self.rng.choice((0, 68, 552, 1280, 65535))) + inner
        msg = struct.pack("!BBH", typ, code, 0) + body
        if self.rng.random() < 0.8:
            msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
        dst = TAPNET if self.rng.random() < 0.9 else bytes([10, 0, 0, 255])
        return self.eth(0x0800) + self.ip_header(1, len(msg), dst=dst) + msg

    def arp(self):
        hlen = self.rng.choice((6, 6, 6, 0, 8, self.rng.randrange(256)))
        plen = self.rng.choice((4, 4, 4, 0, 16, self.rng.randrange(256)))
        op = self.rng.choice((1, 2, 1, 2, 0, 3, 4, self.rng.randrange(65536)))
        smac = self.rng.choice((self.src_mac, HOST_MAC_PREFIX + self.rng.randbytes(3),
                                b"\x01\x00\x5e\x00\x00\x01", b"\0" * 6, b"\xff" * 6))
        sip = self.src_ip()
        if sip == NET + b"\x01":
            # ARP is not authenticated: anyone on the link may claim the kernel's
            # address, and tapnet would believe it as Linux does. Not here.
            smac = self.src_mac
        tip = self.rng.choice((TAPNET, TAPNET, self.src_ip()))
        body = struct.pack("!HHBBH", self.rng.choice((1, 1, 6)), self.rng.choice((0x0800, 0x0800, 0x86dd)),
                           hlen, plen, op) + smac + sip + self.rng.randbytes(6) + tip
        if self.rng.random() < 0.1:
            body = body[:self.rng.randrange(len(body))]
        dst = self.rng.choice((self.dst_mac, b"\xff" * 6))
        return self.eth(0x0806, dst) + body

    def ethernet(self):
        dst = self.rng.choice((b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01", b"\x33\x33\x00\x00\x00\x01",
                               self.rng.randbytes(6), self.dst_mac[:5] + bytes([self.dst_mac[5] ^ 1])))
        etype = self.rng.choice((0x0800, 0x0806, 0x8100, 0x86dd, 0x88cc, self.rng.randrange(65536)))
        frame = self.eth(etype, dst) + self.rng.randbytes(self.rng.randrange(0, 100))
        if self.rng.random() < 0.3 and dst != self.dst_mac:
            frame = self.eth(etype) + self.rng.randbytes(self.rng.randrange(0, 6))  # for us, and short
        return frame

    def vnet(self):
        """(virtio_net_hdr, frame): a TCP frame whose header asks for offloads."""
        src = NET + b"\x01"
        payload = self.rng.randbytes(self.rng.choice((0, 1, 100, 1448, 3000, self.rng.randrange(8000))))
        seg = self.tcp_segment(src, TAPNET, self.rng.randrange(1024, 65536), self.rng.choice((9, 80, 5555)),
                               self.rng.choice((0x10, 0x18, 0x11, 0x04)),  # never a SYN
                               self.tcp_options(), payload, self.rng.random() < 0.5)
        frame = self.eth(0x0800) + self.ip_header(6, len(seg), src=src, frag=0x4000) + seg
        flags = self.rng.choice((0, 1, 1, 2, 3))  # NEEDS_CSUM, DATA_VALID
        gso_type = self.rng.choice((0, 0, 1, 1, 0x81, 3, 4))  # NONE, TCPV4, with ECN, UDP, TCPV6
        gso_size = self.rng.choice((0, 1, 8, 536, 1448, 9000, self.rng.randrange(65536)))
        hdr_len = self.rng.choice((54, 0, 14, self.rng.randrange(65536)))
        csum_start = self.rng.choice((34, 34, 0, 14, 60, self.rng.randrange(65536)))
        csum_off = self.rng.choice((16, 16, 0, 6, self.rng.randrange(65536)))
        hdr = struct.pack("=BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_off)
        return hdr, frame


def tx_stat(iface, name="tx_packets"):
    """The tap's own counters: tx_packets are the frames tapnetd has read."""
    with open("/sys/class/net/%s/statistics/%s" % (iface, name)) as f:
        return int(f.read())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--iface", required=True)
    p.add_argument("--mac", required=True)
    p.add_argument("--count", type=int, default=1000000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--avoid-syn", default="")
    args = p.parse_args()

    fz = Fuzzer(args)
    plain = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    plain.bind((args.iface, 0))
    vnet = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    vnet.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    vnet.bind((args.iface, 0))

    sent = {name: 0 for _, name, _ in fz.kinds}
    refused = 0  # frames the kernel would not send (EINVAL: a vnet header it refuses, a runt)
    total = 0
    base = tx_stat(args.iface)
    dropped0 = tx_stat(args.iface, "tx_dropped")
    start = time.monotonic()
    table = fz.table
    while total < args.count:
        # never more than WINDOW frames ahead of what tapnetd has read
        while total - (tx_stat(args.iface) - base) > WINDOW:
            time.sleep(0.0005)
            if time.monotonic() - start > 300:
                sys.exit("fuzz_frames: tapnetd stopped reading frames from %s" % args.iface)
        for _ in range(WINDOW // 2):
            name, fn = table[fz.rng.randrange(len(table))]
            try:
                if name == "vnet":
                    hdr, frame = fn()
                    vnet.send(hdr + frame)
                else:
                    plain.send(fn())
            except OSError as e:
                if e.errno in (errno.EINVAL, errno.EMSGSIZE, errno.ENOBUFS):
                    refused += 1
                    continue
                raise
            sent[name] += 1
            total += 1
    elapsed = time.monotonic() - start
    # GSO frames the tap could not take whole were cut up by the kernel: more frames than sent
    print("fuzz_frames: %d frames in %.1fs (%s), %d refused by the kernel; the tap passed %d "
          "frames to tapnetd and dropped %d" %
          (total, elapsed, ", ".join("%s %d" % kv for kv in sent.items()), refused,
           tx_stat(args.iface) - base, tx_stat(args.iface, "tx_dropped") - dropped0))


if __name__ == "__main__":
    main()
