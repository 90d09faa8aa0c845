#!/usr/bin/python3
"""timewait.py - the kernel's side of the TIME-WAIT integration tests.

  timewait.py daytime HOST PORT        one daytime exchange (tapnet closes
                                       first); prints our local port
  timewait.py echo HOST PORT           an echo exchange in which we close
                                       first; prints our local port
  timewait.py churn HOST PORT N        N daytime exchanges, WORKERS at a time
  timewait.py raw --iface IF --mac MAC --port P --cli CMD CASE...
                                       raw segments with scapy (below)

The raw cases speak as a host of their own, 10.0.0.3 with a made-up MAC, so
the kernel never sees (and never resets) those connections; each one brings
a connection to tapnet's daytime service into TIME-WAIT on tapnet's side
(tapnet closes first) and checks tapnet's answers on the wire, and the
entry through `CMD timewait -j` (CMD: the tapnet command with its -s):

  lost-last-ack  our FIN again (as if tapnet's last ACK was lost): ACKed
                 again, the entry's timer starts over
  rst            a RST at rcv_nxt ends TIME-WAIT (rfc1337 = no); the 4-tuple
                 then gets a RST like any unknown one
  rst-1337       the same RST is ignored (rfc1337 = yes); the entry answers
  syn-reuse-ts   a SYN with a newer timestamp is a new incarnation (RFC
                 6191): SYN-ACK with ISN = old snd_nxt + 65537
  syn-reuse      the same without timestamps: a sequence number above the
                 old rcv_nxt
  old-syn        a SYN below the old rcv_nxt, no timestamps: the TIME-WAIT
                 ACK, the entry stays
  oow            data far out of window: the TIME-WAIT ACK, nothing changes
  paws           our FIN again with an old TSval: ACKed with the TSecr of
                 the newest one (nothing learnt from the old duplicate)

Every wait is bounded; a failure is reported on stderr and the exit status
is 1. Nothing here measures time for a verdict: the only clock use is a
pause that makes an entry's remaining time visibly drop before its timer is
started over.
"""
import argparse
import json
import random
import shlex
import socket
import subprocess
import sys
import threading
import time

from rawpeer import PEER_IP, TAPNET, Peer


def fail(msg):
    print("timewait: FAIL: %s" % msg, file=sys.stderr)
    sys.exit(1)


# ------------------------------------------------------------------ kernel sockets

def recv_to_eof(s):
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return data
        data += chunk


def daytime_once(host, port, timeout):
    with socket.create_connection((host, port), timeout=timeout) as s:
        lport = s.getsockname()[1]
        line = recv_to_eof(s)
    if not line.endswith(b"\r\n") or line.count(b"\n") != 1:
        raise OSError("daytime sent %r, not one line" % line)
    return lport


def cmd_daytime(args):
    try:
        print(daytime_once(args.host, args.port, args.timeout))
    except OSError as e:
        fail("daytime: %s" % e)


def cmd_echo(args):
    payload = bytes(random.getrandbits(8) for _ in range(1000))
    try:
        with socket.create_connection((args.host, args.port), timeout=args.timeout) as s:
            lport = s.getsockname()[1]
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            if got != payload:
                fail("echo: %d of %d bytes came back intact" % (len(got), len(payload)))
            s.shutdown(socket.SHUT_WR)  # we close first
            rest = recv_to_eof(s)
            if rest:
                fail("echo: %d unexpected bytes after our FIN" % len(rest))
    except OSError as e:
        fail("echo: %s" % e)
    print(lport)


def cmd_churn(args):
    todo = [args.n]
    done = [0]
    errors = []
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if todo[0] == 0 or errors:
                    return
                todo[0] -= 1
            try:
                daytime_once(args.host, args.port, args.timeout)
            except OSError as e:
                with lock:
                    errors.append(str(e))
                return
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(args.workers)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    if errors:
        fail("churn: connection %d failed: %s" % (done[0] + 1, errors[0]))
    print("churn: %d daytime connections in %.1f s (%.0f/s)" % (done[0], took, done[0] / took))


# ------------------------------------------------------------------ raw segments

def tcp_opts(p):
    from scapy.all import TCP
    return dict((k, v) for k, v in p[TCP].options)


class Conn:
    """Our side of one connection to tapnet's daytime service, by hand."""

    def __init__(self, peer, port, ts):
        self.peer, self.port, self.ts = peer, port, ts
        self.sport = random.randint(20000, 60000)
        self.iss = random.randint(0, 2**31)
        self.tsval = random.randint(1000, 2**30)
        self.ts_recent = 0

    def options(self, tsval=None):
        if not self.ts:
            return []
        return [("NOP", None), ("NOP", None),
                ("Timestamp", (self.tsval if tsval is None else tsval, self.ts_recent))]

    def send(self, flags, seq, ack=0, data=b"", tsval=None, options=None):
        from scapy.all import TCP, Raw
        seg = TCP(sport=self.sport, dport=self.port, flags=flags, seq=seq % 2**32,
                  ack=ack % 2**32, window=65535,
                  options=self.options(tsval) if options is None else options)
        self.peer.send(seg / Raw(data) if data else seg)
        self.tsval += 1

    def syn(self, seq, tsval=None):
        o = [("MSS", 1460), ("SAckOK", b""), ("WScale", 7)]
        if self.ts:
            o.append(("Timestamp", (self.tsval if tsval is None else tsval, 0)))
        self.send("S", seq, options=o)

    def to_time_wait(self):
        """Handshake, daytime's line and FIN, our FIN, tapnet's last ACK."""
        from scapy.all import TCP, Raw
        self.syn(self.iss)
        sa = self.peer.expect_tcp(self.sport)
        if not sa or sa[TCP].flags != "SA":
            raise AssertionError("no SYN-ACK to our SYN (got %r)" % (sa and sa.summary()))
        if self.ts and "Timestamp" not in tcp_opts(sa):
            raise AssertionError("the SYN-ACK carries no timestamps")
        self.snd_nxt = self.iss + 1
        self.rcv_nxt = sa[TCP].seq + 1
        self.note_ts(sa)
        self.send("A", self.snd_nxt, self.rcv_nxt)
        # daytime: one line, then tapnet's FIN (maybe on the same segment);
        # our FIN+ACK below acknowledges all of it
        while True:
            p = self.peer.expect_tcp(self.sport)
            if not p:
                raise AssertionError("no data or FIN from daytime")
            t = p[TCP]
            if t.flags.R:
                raise AssertionError("tapnet reset the connection")
            self.note_ts(p)
            if t.flags.F:
                self.rcv_nxt = (t.seq + (len(t[Raw].load) if Raw in p else 0) + 1) % 2**32
                break
        self.tw_snd_nxt = self.rcv_nxt  # tapnet's snd_nxt in TIME-WAIT
        self.fin_seq = self.snd_nxt
        self.send("FA", self.snd_nxt, self.rcv_nxt)
        self.snd_nxt += 1
        a = self.peer.expect_tcp(self.sport)
        if not a or a[TCP].flags != "A" or a[TCP].ack != self.snd_nxt % 2**32:
            raise AssertionError("no last ACK of our FIN (got %r)" % (a and a.summary()))
        self.note_ts(a)

    def note_ts(self, p):
        ts = tcp_opts(p).get("Timestamp")
        if ts:
            self.ts_recent = ts[0]


def entries(cli):
    out = subprocess.run(cli + ["timewait", "-j"], check=True, capture_output=True, text=True,
                         timeout=30).stdout
    return json.loads(out)


def entry_of(cli, conn):
    for e in entries(cli):
        if e["peer_addr"] == PEER_IP and e["peer_port"] == conn.sport:
            if e["local_addr"] != TAPNET or e["local_port"] != conn.port:
                raise AssertionError("entry with the wrong local side: %r" % e)
            return e
    return None


def expect_ack(c, what, seq, ack):
    from scapy.all import TCP
    p = c.peer.expect_tcp(c.sport)
    if not p:
        raise AssertionError("%s: no answer" % what)
    t = p[TCP]
    if t.flags != "A" or t.seq != seq % 2**32 or t.ack != ack % 2**32:
        raise AssertionError("%s: expected ACK seq=%d ack=%d, got %s seq=%d ack=%d" %
                             (what, seq % 2**32, ack % 2**32, t.flags, t.seq, t.ack))
    return p


def case_lost_last_ack(peer, args):
    c = Conn(peer, args.port, ts=True)
    c.to_time_wait()
    if not entry_of(args.cli, c):
        raise AssertionError("no TIME-WAIT entry for our connection")
    time.sleep(2)  # let the remaining time drop, so that a restart shows
    before = entry_of(args.cli, c)["remaining_ms"]
    tsval = c.tsval
    c.send("FA", c.fin_seq, c.tw_snd_nxt)  # our FIN again
    p = expect_ack(c, "retransmitted FIN", c.tw_snd_nxt, c.fin_seq + 1)
    if tcp_opts(p).get("Timestamp", (0, 0))[1] != tsval:
        raise AssertionError("the re-ACK does not echo the FIN's TSval %d" % tsval)
    after = entry_of(args.cli, c)
    if not after or after["remaining_ms"] <= before:
        raise AssertionError("the entry's timer did not start over (%d ms left before, %r after)" %
                             (before, after))


def case_rst(peer, args):
    from scapy.all import TCP
    c = Conn(peer, args.port, ts=False)
    c.to_time_wait()
    c.send("R", c.snd_nxt)  # exactly the entry's rcv_nxt
    if peer.expect_tcp(c.sport, timeout=1.0):
        raise AssertionError("a RST in TIME-WAIT was answered")
    if entry_of(args.cli, c):
        raise AssertionError("the RST did not end TIME-WAIT (rfc1337 = no)")
    c.send("A", c.snd_nxt, c.tw_snd_nxt)
    p = peer.expect_tcp(c.sport)
    if not p or not p[TCP].flags.R:
        raise AssertionError("the 4-tuple is not free after the RST (got %r)" % (p and p.summary()))


def case_rst_1337(peer, args):
    c = Conn(peer, args.port, ts=False)
    c.to_time_wait()
    c.send("R", c.snd_nxt)
    if not entry_of(args.cli, c):
        raise AssertionError("a RST ended TIME-WAIT although rfc1337 = yes")
    c.send("FA", c.fin_seq, c.tw_snd_nxt)
    expect_ack(c, "FIN after an ignored RST", c.tw_snd_nxt, c.fin_seq + 1)


def syn_reuse(peer, args, ts):
    from scapy.all import TCP
    c = Conn(peer, args.port, ts=ts)
    c.to_time_wait()
    # Without timestamps the sequence number decides; with them the TSval
    # does, so the ISN there is below the old rcv_nxt on purpose.
    new_iss = c.snd_nxt + 100000 if not ts else c.snd_nxt - 1000
    c.syn(new_iss)
    p = peer.expect_tcp(c.sport)
    if not p or p[TCP].flags != "SA":
        raise AssertionError("no SYN-ACK for a new incarnation (got %r)" % (p and p.summary()))
    want = (c.tw_snd_nxt + 65535 + 2) % 2**32 or 1
    if p[TCP].seq != want or p[TCP].ack != (new_iss + 1) % 2**32:
        raise AssertionError("SYN-ACK seq=%d ack=%d, expected seq=%d (old snd_nxt + 65537) ack=%d" %
                             (p[TCP].seq, p[TCP].ack, want, (new_iss + 1) % 2**32))
    if entry_of(args.cli, c):
        raise AssertionError("the TIME-WAIT entry is still listed after it was recycled")
    c.send("R", new_iss + 1)  # enough of this incarnation


def case_syn_reuse_ts(peer, args):
    syn_reuse(peer, args, True)


def case_syn_reuse(peer, args):
    syn_reuse(peer, args, False)


def case_old_syn(peer, args):
    c = Conn(peer, args.port, ts=False)
    c.to_time_wait()
    c.syn(c.snd_nxt - 5000)
    expect_ack(c, "old SYN", c.tw_snd_nxt, c.snd_nxt)
    if not entry_of(args.cli, c):
        raise AssertionError("an old SYN ended TIME-WAIT")


def case_oow(peer, args):
    c = Conn(peer, args.port, ts=False)
    c.to_time_wait()
    c.send("PA", c.snd_nxt + 10**6, c.tw_snd_nxt, data=b"far out")
    expect_ack(c, "out-of-window data", c.tw_snd_nxt, c.snd_nxt)
    e = entry_of(args.cli, c)
    if not e:
        raise AssertionError("out-of-window data ended TIME-WAIT")


def case_paws(peer, args):
    c = Conn(peer, args.port, ts=True)
    c.to_time_wait()
    newest = c.tsval - 1  # the TSval of our FIN+ACK
    c.send("FA", c.fin_seq, c.tw_snd_nxt, tsval=newest - 100000)
    p = expect_ack(c, "FIN with an old TSval", c.tw_snd_nxt, c.snd_nxt)
    echoed = tcp_opts(p).get("Timestamp", (0, 0))[1]
    if echoed != newest:
        raise AssertionError("TSecr %d: the old TSval was taken in (expected %d)" % (echoed, newest))


CASES = {
    "lost-last-ack": case_lost_last_ack,
    "rst": case_rst,
    "rst-1337": case_rst_1337,
    "syn-reuse-ts": case_syn_reuse_ts,
    "syn-reuse": case_syn_reuse,
    "old-syn": case_old_syn,
    "oow": case_oow,
    "paws": case_paws,
}


def cmd_raw(args):
    args.cli = shlex.split(args.cli)
    peer = Peer(args.iface, args.mac)
    failed = []
    try:
        for name in args.cases:
            try:
                CASES[name](peer, args)
                print("timewait: %s: ok" % name)
            except AssertionError as e:
                print("timewait: %s: FAIL: %s" % (name, e), file=sys.stderr)
                failed.append(name)
    finally:
        peer.close()
    if failed:
        fail("raw cases failed: %s" % " ".join(failed))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=30.0)
    sub = ap.add_subparsers(dest="mode", required=True)
    for name in ("daytime", "echo"):
        sp = sub.add_parser(name)
        sp.add_argument("host")
        sp.add_argument("port", type=int)
    sp = sub.add_parser("churn")
    sp.add_argument("host")
    sp.add_argument("port", type=int)
    sp.add_argument("n", type=int)
    sp.add_argument("--workers", type=int, default=8)
    sp = sub.add_parser("raw")
    sp.add_argument("--iface", required=True)
    sp.add_argument("--mac", required=True)
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--cli", required=True)
    sp.add_argument("cases", nargs="+", choices=sorted(CASES))
    args = ap.parse_args()
    {"daytime": cmd_daytime, "echo": cmd_echo, "churn": cmd_churn, "raw": cmd_raw}[args.mode](args)


if __name__ == "__main__":
    main()
