#!/usr/bin/python3
"""malformed.py - hostile and broken frames at tapnet through tap0, with scapy.

Run by malformed.sh inside the test's network namespace, as root:

    malformed.py --iface tap0 --mac TAPNET_MAC --tapnet PATH --socket SOCK
                 --burst N

Each case sends its frames on tap0 (the kernel hands them to tapnetd), then
waits, bounded, until tapnet's counters (`tapnet stats -j`) show the drop it
must have counted, and checks that nothing that must not happen did (no echo
reply to a broken echo request, no reassembled datagram from overlapping
fragments). Then: a UDP datagram and an unknown protocol get ICMP protocol
unreachable (sniffed on tap0), and a burst of them is held to the configured
rate limit (ratelimit_burst = N, ratelimit = 1m in the test's config).

Exit 0 when every case held, 1 with the failed cases listed otherwise.
"""
import argparse
import json
import subprocess
import sys
import threading
import time

from scapy.all import (ICMP, IP, UDP, AsyncSniffer, Ether, Raw, conf,
                       get_if_hwaddr, sendp)
from scapy.utils import checksum

conf.verb = 0

HOST = "10.0.0.1"     # kernel side of tap0
TAPNET = "10.0.0.2"   # tapnet
WAIT = 10.0           # seconds; the longest any one case waits for its counters


class Checker:
    def __init__(self, args):
        self.args = args
        self.iface = args.iface
        self.dst_mac = args.mac
        self.src_mac = get_if_hwaddr(args.iface)
        self.failures = []
        self.ip_id = 0x4000

    def counters(self):
        out = subprocess.run([self.args.tapnet, "-s", self.args.socket, "stats", "-j"],
                             check=True, capture_output=True, timeout=10).stdout
        return json.loads(out)

    def next_id(self):
        self.ip_id += 1
        return self.ip_id

    def eth(self, dst=None, type=0x0800):
        return Ether(src=self.src_mac, dst=dst or self.dst_mac, type=type)

    def send(self, frames):
        sendp(frames, iface=self.iface)

    def echo(self, size=56, **ip):
        """A valid echo request to tapnet, as IP()/ICMP()/payload."""
        fields = dict(src=HOST, dst=TAPNET, id=self.next_id())
        fields.update(ip)
        return IP(**fields) / ICMP(type=8, id=0x7a7a, seq=self.ip_id) / Raw(b"T" * size)

    def wait_for(self, before, expect):
        """Polls until every counter in expect rose by at least its amount."""
        deadline = time.monotonic() + WAIT
        while True:
            now = self.counters()
            short = {k: (now[k] - before[k], v) for k, v in expect.items()
                     if now[k] - before[k] < v}
            if not short or time.monotonic() > deadline:
                return now, short
            time.sleep(0.05)

    def case(self, name, frames, expect, unchanged=("IcmpOutEchoReps",), exact=()):
        """Sends frames; expect: {counter: minimum rise}; unchanged: counters that
        must not move; exact: counters of expect that must rise by exactly that."""
        before = self.counters()
        self.send(frames)
        now, short = self.wait_for(before, expect)
        problems = ["%s rose by %d, expected %d" % (k, d, v) for k, (d, v) in short.items()]
        problems += ["%s rose by %d, expected exactly %d" % (k, now[k] - before[k], expect[k])
                     for k in exact if k not in short and now[k] - before[k] != expect[k]]
        problems += ["%s rose by %d, expected no change" % (k, now[k] - before[k])
                     for k in unchanged if now[k] != before[k]]
        if problems:
            self.failures.append("%s: %s" % (name, "; ".join(problems)))
            print("FAIL %-38s %s" % (name, "; ".join(problems)))
        else:
            print("ok   %-38s %s" % (name, ", ".join(
                "%s +%d" % (k, now[k] - before[k]) for k in expect)))
        return before, now

    # ------------------------------------------------------------------ the cases

    def malformed(self):
        e = self.eth()
        good = bytes(self.echo())

        # A frame shorter than an Ethernet header cannot be sent through a kernel
        # tap (packet sockets refuse it); the unit tests cover EthInTruncated.
        # Here: an Ethernet header with nothing after it.
        self.case("ethernet header only", e,
                  {"EthInFrames": 1, "IpInReceives": 1, "IpInHdrErrors": 1},
                  exact=("IpInHdrErrors",))
        self.case("truncated IP header (10 bytes)", e / Raw(good[:10]),
                  {"IpInHdrErrors": 1}, exact=("IpInHdrErrors",))

        bad_csum = bytearray(good)
        bad_csum[10] ^= 0xff
        self.case("bad IP header checksum", e / Raw(bytes(bad_csum)),
                  {"IpInHdrErrors": 1}, exact=("IpInHdrErrors",))

        ihl4 = bytearray(good)
        ihl4[0] = 0x44
        self.case("IHL 4 (< 5)", e / Raw(bytes(ihl4)), {"IpInHdrErrors": 1},
                  exact=("IpInHdrErrors",))

        self.case("IP version 6 in an IPv4 frame",
                  e / Raw(bytes(self.echo(version=6))), {"IpInHdrErrors": 1},
                  exact=("IpInHdrErrors",))

        self.case("IHL past the end of the frame",
                  e / Raw(bytes(self.echo(ihl=15))[:40]), {"IpInHdrErrors": 1},
                  exact=("IpInHdrErrors",))

        self.case("total length > frame", e / Raw(bytes(self.echo(len=1000))),
                  {"IpInHdrErrors": 1}, exact=("IpInHdrErrors",))

        self.case("TTL 0", e / self.echo(ttl=0), {"IpInHdrErrors": 1},
                  exact=("IpInHdrErrors",))

        self.case("not our IP address", e / self.echo(dst="10.0.0.3"),
                  {"IpInAddrErrors": 1}, exact=("IpInAddrErrors",))
        self.case("martian source 127.0.0.1", e / self.echo(src="127.0.0.1"),
                  {"IpInAddrErrors": 1}, exact=("IpInAddrErrors",))

        icmp_bad = self.echo()
        icmp_bad[ICMP].chksum = (bytes(icmp_bad)[22] << 8 | bytes(icmp_bad)[23]) ^ 0x5555
        self.case("bad ICMP checksum", e / icmp_bad,
                  {"IcmpInCsumErrors": 1, "IcmpInErrors": 1},
                  exact=("IcmpInCsumErrors",))

        self.case("ICMP message shorter than its header",
                  e / IP(src=HOST, dst=TAPNET, proto=1, id=self.next_id()) / Raw(b"\x08\x00\xf7"),
                  {"IcmpInErrors": 1}, exact=("IcmpInErrors",))

        # Overlapping fragments: the whole datagram is dropped, never answered.
        icmp = bytes(self.echo(size=64)[ICMP])          # 72 bytes
        fid = self.next_id()
        frags = [e / IP(src=HOST, dst=TAPNET, proto=1, id=fid, flags="MF", frag=0) / Raw(icmp[:24]),
                 e / IP(src=HOST, dst=TAPNET, proto=1, id=fid, frag=2) / Raw(icmp[16:])]
        self.case("overlapping fragments", frags, {"IpReasmFails": 1},
                  unchanged=("IcmpOutEchoReps", "IpReasmOKs"), exact=("IpReasmFails",))

        # The same datagram cut without overlap is reassembled and answered: the
        # negative case above failed for the overlap, not for its framing.
        fid = self.next_id()
        frags = [e / IP(src=HOST, dst=TAPNET, proto=1, id=fid, flags="MF", frag=0) / Raw(icmp[:24]),
                 e / IP(src=HOST, dst=TAPNET, proto=1, id=fid, frag=3) / Raw(icmp[24:])]
        self.case("the same fragments, not overlapping", frags,
                  {"IpReasmOKs": 1, "IcmpOutEchoReps": 1}, unchanged=(),
                  exact=("IpReasmOKs", "IcmpOutEchoReps"))

        # Offset + length past 65535.
        self.case("oversize fragment (end > 65535)",
                  e / IP(src=HOST, dst=TAPNET, proto=1, id=self.next_id(), frag=8189) / Raw(b"x" * 40),
                  {"IpInHdrErrors": 1, "IpReasmFails": 1},
                  unchanged=("IcmpOutEchoReps", "IpReasmOKs"), exact=("IpReasmFails",))

        self.case("fragment not a multiple of 8 bytes",
                  e / IP(src=HOST, dst=TAPNET, proto=1, id=self.next_id(), flags="MF") / Raw(b"x" * 13),
                  {"IpInHdrErrors": 1, "IpReasmFails": 1}, exact=("IpReasmFails",))

        self.case("unknown ethertype 0x88b5", self.eth(type=0x88B5) / Raw(b"\0" * 46),
                  {"EthInUnknownType": 1})
        self.case("frame to another MAC",
                  self.eth(dst="02:00:00:00:00:99") / self.echo(),
                  {"EthInNotForUs": 1}, unchanged=("IcmpOutEchoReps", "IpInReceives"))
        self.case("truncated ARP", self.eth(dst="ff:ff:ff:ff:ff:ff", type=0x0806) / Raw(b"\x00\x01\x08\x00\x06"),
                  {"ArpInErrors": 1}, unchanged=("ArpOutReplies",))

        # More incomplete datagrams than reasm_max_datagrams (64 here): the
        # oldest are dropped, memory stays bounded.
        frags = [e / IP(src=HOST, dst=TAPNET, proto=1, id=self.next_id(), flags="MF") / Raw(b"y" * 16)
                 for _ in range(100)]
        self.case("100 incomplete datagrams (max 64)", frags, {"IpReasmFails": 36},
                  unchanged=("IcmpOutEchoReps", "IpReasmOKs"), exact=("IpReasmFails",))
        # ... and the 64 left time out (reasm_timeout = 1s in the test's config).
        before = self.counters()
        now, short = self.wait_for(before, {"IpReasmTimeout": 64})
        if short:
            self.failures.append("reassembly timeout: IpReasmTimeout rose by %d, expected 64"
                                 % (now["IpReasmTimeout"] - before["IpReasmTimeout"]))
            print("FAIL %-38s %s" % ("incomplete datagrams time out", self.failures[-1]))
        else:
            print("ok   %-38s IpReasmTimeout +%d" % ("incomplete datagrams time out",
                                                     now["IpReasmTimeout"] - before["IpReasmTimeout"]))

    def unreachable(self, burst):
        """ICMP protocol unreachable for UDP and an unknown protocol, rate-limited."""
        got = []
        started = threading.Event()

        def is_unreach(p):
            return (p.haslayer(ICMP) and p[Ether].src.lower() == self.dst_mac.lower()
                    and p[IP].src == TAPNET and p[ICMP].type == 3)
        sniffer = AsyncSniffer(iface=self.iface, lfilter=is_unreach, prn=got.append,
                               store=False, started_callback=started.set)
        sniffer.start()
        if not started.wait(WAIT):
            self.failures.append("the sniffer on %s did not start" % self.iface)
            return
        try:
            self._unreachable(burst, got)
        finally:
            sniffer.stop()

    def wait_captured(self, got, n):
        deadline = time.monotonic() + WAIT
        while len(got) < n and time.monotonic() < deadline:
            time.sleep(0.05)

    def _unreachable(self, burst, got):
        e = self.eth()
        udp = IP(src=HOST, dst=TAPNET, id=self.next_id()) / UDP(sport=40000, dport=9) / Raw(b"u" * 20)
        self.case("UDP datagram", e / udp,
                  {"IpInUnknownProtos": 1, "IcmpOutDestUnreachs": 1},
                  exact=("IcmpOutDestUnreachs",))
        self.wait_captured(got, 1)
        self.check_unreach(got, 0, udp, "UDP datagram")

        other = IP(src=HOST, dst=TAPNET, proto=253, id=self.next_id()) / Raw(b"p" * 20)
        self.case("unknown IP protocol 253", e / other,
                  {"IpInUnknownProtos": 1, "IcmpOutDestUnreachs": 1},
                  exact=("IcmpOutDestUnreachs",))
        self.wait_captured(got, 2)
        self.check_unreach(got, 1, other, "unknown protocol")

        # A burst of 30: only what is left of the bucket is answered. The bucket
        # earns one token a minute, so one more answer is allowed if this test
        # ran that long; never more.
        n = 30
        burst_frames = [e / IP(src=HOST, dst=TAPNET, id=self.next_id()) / UDP(sport=40001, dport=9)
                        for _ in range(n)]
        left = burst - 2
        before, now = self.case("burst of %d UDP datagrams" % n, burst_frames,
                                {"IpInUnknownProtos": n, "IcmpOutRateLimited": n - left - 1})
        sent = now["IcmpOutDestUnreachs"] - before["IcmpOutDestUnreachs"]
        self.wait_captured(got, 2 + sent)
        if not left <= sent <= left + 1:
            self.failures.append("rate limit: %d unreachables for a burst of %d, expected %d"
                                 % (sent, n, left))
        elif len(got) != 2 + sent:
            self.failures.append("rate limit: IcmpOutDestUnreachs says %d sent, %d seen on %s"
                                 % (2 + sent, len(got), self.iface))
        else:
            print("ok   %-38s %d of %d answered (bucket of %d, 2 used before)"
                  % ("ICMP rate limit", sent, n, burst))
            return
        print("FAIL %-38s %s" % ("ICMP rate limit", self.failures[-1]))

    def check_unreach(self, got, i, sent, name):
        if len(got) <= i:
            self.failures.append("%s: no ICMP unreachable seen on %s" % (name, self.iface))
            print("FAIL %-38s %s" % (name + " -> unreachable", self.failures[-1]))
            return
        p = got[i]
        quoted = bytes(p[ICMP].payload)
        want = bytes(sent)
        problems = []
        if p[IP].dst != HOST:
            problems.append("sent to %s" % p[IP].dst)
        if p[ICMP].code != 2:
            problems.append("code %d, expected 2 (protocol unreachable)" % p[ICMP].code)
        if not quoted.startswith(want[:28]):
            problems.append("does not quote the datagram's header and first 8 bytes")
        if checksum(bytes(p[ICMP])) != 0:
            problems.append("bad ICMP checksum")
        if problems:
            self.failures.append("%s: unreachable %s" % (name, "; ".join(problems)))
            print("FAIL %-38s %s" % (name + " -> unreachable", "; ".join(problems)))
        else:
            print("ok   %-38s type 3 code 2 to %s, quoting it" % (name + " -> unreachable", HOST))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iface", required=True)
    ap.add_argument("--mac", required=True, help="tapnet's MAC address")
    ap.add_argument("--tapnet", required=True, help="the tapnet CLI")
    ap.add_argument("--socket", required=True, help="tapnetd's control socket")
    ap.add_argument("--burst", type=int, required=True, help="[icmp] ratelimit_burst")
    args = ap.parse_args()

    c = Checker(args)
    c.malformed()
    c.unreachable(args.burst)
    if c.failures:
        print("%d case(s) failed:" % len(c.failures))
        for f in c.failures:
            print("  " + f)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
