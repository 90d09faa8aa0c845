#!/usr/bin/python3
"""tcp_conformance.py - raw TCP segments at tapnet's echo service, with scapy.

Run by tcp_conformance.sh inside the test's network namespace, as root:

    tcp_conformance.py --iface tap0 --mac TAPNET_MAC --port ECHO_PORT

It speaks as a host of its own, 10.0.0.3 with a made-up MAC, so the kernel
never sees (and never resets) the connections: tapnet learns that MAC from an
ARP request we send. Each case checks tapnet's answer on the wire:

  options     the SYN-ACK offers MSS, window scale, SACK-permitted and
              timestamps (echoing our TSval), with valid checksums
  closed      a SYN to a port with no listener gets RST+ACK, ack = ISN + 1
  rst-exact   a RST at exactly rcv_nxt ends the connection (data after it
              gets a RST)
  rst-window  a RST inside the window but not at rcv_nxt gets a challenge ACK
              and the connection lives on (RFC 5961 3.2)
  syn-estab   a SYN on an established connection gets a challenge ACK
              (RFC 5961 4.2)
  oow-data    data far outside the window is answered with an ACK of rcv_nxt
              and not delivered
  retransmit  echoed data we never acknowledge is sent again, same sequence
              number, after the retransmission timeout

Exit 0 when every case held, 1 with the failed cases listed otherwise.
"""
import argparse
import random
import sys
import time

from scapy.all import IP, TCP, Raw

from rawpeer import Peer


def tcp_checksum_ok(p):
    raw = p[IP].copy()
    raw[TCP].chksum = None
    return IP(bytes(raw))[TCP].chksum == p[TCP].chksum


def opts(p):
    return dict((k, v) for k, v in p[TCP].options)


class Conn:
    """A connection from PEER_IP:sport to tapnet's echo port, opened by hand."""

    def __init__(self, peer, port, sport=None, ts=True):
        self.peer, self.port = peer, port
        self.sport = sport or random.randint(20000, 60000)
        self.iss = random.randint(0, 2**31)
        self.tsval = 1000
        self.ts = ts
        self.synack = None

    def options(self):
        return [("Timestamp", (self.tsval, self.ts_recent))] if self.ts else []

    def open(self):
        o = [("MSS", 1460), ("SAckOK", b""), ("WScale", 7)]
        if self.ts:
            o.append(("Timestamp", (self.tsval, 0)))
        self.peer.send(TCP(sport=self.sport, dport=self.port, flags="S", seq=self.iss,
                           window=64240, options=o))
        self.synack = self.peer.expect_tcp(self.sport, "SA")
        if not self.synack:
            return False
        self.snd_nxt = self.iss + 1
        self.rcv_nxt = self.synack[TCP].seq + 1
        self.ts_recent = opts(self.synack).get("Timestamp", (0, 0))[0]
        self.tsval += 1
        self.send("A")
        return True

    def send(self, flags, data=b"", seq=None, ack=None):
        seg = TCP(sport=self.sport, dport=self.port, flags=flags,
                  seq=self.snd_nxt if seq is None else seq,
                  ack=self.rcv_nxt if ack is None else ack, window=1024,
                  options=self.options())
        self.peer.send(seg / Raw(data) if data else seg)
        if seq is None:
            self.snd_nxt += len(data)
        self.tsval += 1

    def abort(self):
        self.send("R", seq=self.snd_nxt)


def case_options(peer, port):
    c = Conn(peer, port)
    if not c.open():
        return "no SYN-ACK"
    o = opts(c.synack)
    problems = []
    if o.get("MSS") != 1460:
        problems.append("MSS %r, want 1460" % o.get("MSS"))
    if "WScale" not in o:
        problems.append("no window scale")
    if "SAckOK" not in o:
        problems.append("no SACK-permitted")
    ts = o.get("Timestamp")
    if not ts or ts[1] != 1000:
        problems.append("timestamps %r, want TSecr 1000" % (ts,))
    if c.synack[TCP].ack != c.iss + 1:
        problems.append("ack %d, want ISN+1" % c.synack[TCP].ack)
    if not tcp_checksum_ok(c.synack):
        problems.append("bad TCP checksum")
    c.abort()
    return "; ".join(problems)


def case_closed(peer, port):
    sport, iss = random.randint(20000, 60000), 12345
    peer.send(TCP(sport=sport, dport=port + 1000, flags="S", seq=iss))
    rst = peer.expect_tcp(sport)
    if not rst:
        return "no answer"
    if rst[TCP].flags != "RA" or rst[TCP].ack != iss + 1 or rst[TCP].seq != 0:
        return "got %s seq %d ack %d, want RA seq 0 ack %d" % (
            rst[TCP].flags, rst[TCP].seq, rst[TCP].ack, iss + 1)
    return ""


def echo_round(c, data=b"ping"):
    """Sends data, returns the echoed segment (acknowledging it)."""
    c.peer.drain()
    c.send("PA", data)
    got = c.peer.expect(lambda p: TCP in p and p[TCP].dport == c.sport and Raw in p)
    if not got:
        return None
    c.rcv_nxt = got[TCP].seq + len(got[Raw].load)
    c.send("A")
    return got


def case_rst_exact(peer, port):
    c = Conn(peer, port)
    if not c.open() or not echo_round(c):
        return "connection did not work"
    c.send("R", seq=c.snd_nxt)
    time.sleep(0.3)
    peer.drain()
    c.send("PA", b"after")
    got = peer.expect_tcp(c.sport)
    if not got or "R" not in str(got[TCP].flags):
        return "data after the RST got %s, want RST" % (got[TCP].flags if got else "nothing")
    return ""


def case_rst_window(peer, port):
    c = Conn(peer, port)
    if not c.open() or not echo_round(c):
        return "connection did not work"
    peer.drain()
    c.send("R", seq=c.snd_nxt + 100)
    ack = peer.expect_tcp(c.sport)
    if not ack or ack[TCP].flags != "A" or ack[TCP].ack != c.snd_nxt:
        return "in-window RST got %r, want a challenge ACK of %d" % (
            ack[TCP].summary() if ack else None, c.snd_nxt)
    if not echo_round(c, b"still"):
        return "the connection died after the in-window RST"
    c.abort()
    return ""


def case_syn_estab(peer, port):
    c = Conn(peer, port)
    if not c.open() or not echo_round(c):
        return "connection did not work"
    peer.drain()
    c.send("S", seq=c.snd_nxt + 5000, ack=0)
    ack = peer.expect_tcp(c.sport)
    if not ack or ack[TCP].flags != "A" or ack[TCP].ack != c.snd_nxt:
        return "SYN in ESTABLISHED got %r, want a challenge ACK" % (ack[TCP].summary() if ack else None)
    if not echo_round(c, b"alive"):
        return "the connection died after the SYN"
    c.abort()
    return ""


def case_oow_data(peer, port):
    c = Conn(peer, port)
    if not c.open() or not echo_round(c):
        return "connection did not work"
    peer.drain()
    c.send("PA", b"far away", seq=c.snd_nxt + 2**30)
    ack = peer.expect_tcp(c.sport)
    if not ack or Raw in ack or ack[TCP].ack != c.snd_nxt:
        return "out-of-window data got %r, want a bare ACK of %d" % (
            ack[TCP].summary() if ack else None, c.snd_nxt)
    got = echo_round(c, b"next")
    if not got or got[Raw].load != b"next":
        return "the out-of-window data was delivered or broke the stream"
    c.abort()
    return ""


def case_retransmit(peer, port):
    c = Conn(peer, port)
    if not c.open():
        return "no connection"
    peer.drain()
    c.send("PA", b"retransmit me")
    first = peer.expect(lambda p: TCP in p and p[TCP].dport == c.sport and Raw in p)
    if not first:
        return "no echo"
    # no ACK from us: the RTO (>= 200 ms, initially about 1 s) sends it again
    again = peer.expect(lambda p: TCP in p and p[TCP].dport == c.sport and Raw in p, timeout=10)
    if not again:
        return "echoed data was not retransmitted"
    if again[TCP].seq != first[TCP].seq or again[Raw].load != first[Raw].load:
        return "retransmission differs: seq %d vs %d" % (again[TCP].seq, first[TCP].seq)
    c.abort()
    return ""


CASES = [("options", case_options), ("closed", case_closed), ("rst-exact", case_rst_exact),
         ("rst-window", case_rst_window), ("syn-estab", case_syn_estab),
         ("oow-data", case_oow_data), ("retransmit", case_retransmit)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--mac", required=True)
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    random.seed(7)
    peer = Peer(args.iface, args.mac)
    failed = []
    try:
        for name, case in CASES:
            problem = case(peer, args.port)
            print("%-11s %s" % (name, "ok" if not problem else "FAIL: " + problem))
            if problem:
                failed.append(name)
            # out-of-window ACKs are rate-limited (invalid_ratelimit): let it pass
            time.sleep(0.6)
    finally:
        peer.close()
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
