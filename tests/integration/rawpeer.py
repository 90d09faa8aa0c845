"""rawpeer.py - a made-up host on tap0 that speaks raw segments to tapnet (scapy).

Shared by the conformance tests. The host is 10.0.0.3 with a MAC of its own,
so the kernel never sees (and never resets) its connections: tapnet learns
the MAC from an ARP request the peer sends when it starts.
"""
import queue
import time

from scapy.all import ARP, IP, TCP, AsyncSniffer, Ether, conf, sendp

conf.verb = 0

TAPNET = "10.0.0.2"
PEER_IP = "10.0.0.3"
PEER_MAC = "02:00:00:00:00:03"
WAIT = 5.0


class Peer:
    def __init__(self, iface, tapnet_mac):
        self.iface = iface
        self.tapnet_mac = tapnet_mac
        self.rx = queue.Queue()
        self.sniffer = AsyncSniffer(
            iface=iface, store=False, prn=self.rx.put,
            lfilter=lambda p: Ether in p and p[Ether].dst == PEER_MAC)
        self.sniffer.start()
        time.sleep(0.5)
        # tapnet learns a sender's MAC from an ARP request for its address
        sendp(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") /
              ARP(op=1, hwsrc=PEER_MAC, psrc=PEER_IP, pdst=TAPNET), iface=iface)
        if not self.expect(lambda p: ARP in p and p[ARP].op == 2):
            raise SystemExit("tapnet did not answer our ARP request")

    def close(self):
        self.sniffer.stop()

    def send(self, seg):
        sendp(Ether(src=PEER_MAC, dst=self.tapnet_mac) / IP(src=PEER_IP, dst=TAPNET) / seg,
              iface=self.iface)

    def expect(self, match, timeout=WAIT):
        """The first frame to us that match() accepts, or None after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                p = self.rx.get(timeout=left)
            except queue.Empty:
                return None
            if match(p):
                return p

    def expect_tcp(self, sport, flags=None, timeout=WAIT):
        """The first segment to our port sport (with exactly these flags, if given)."""
        return self.expect(lambda p: TCP in p and p[TCP].dport == sport and
                           (flags is None or p[TCP].flags == flags), timeout)

    def drain(self):
        while not self.rx.empty():
            self.rx.get_nowait()
