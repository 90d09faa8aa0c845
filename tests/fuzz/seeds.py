#!/usr/bin/python3
"""seeds.py DIR: writes fuzz_frame's seed inputs into DIR (run-fuzz.sh).

Each seed is a conversation in fuzz_frame's records (u8 op, u16 length,
bytes; fuzz_frame.c): an ARP request from 10.0.0.1 so that the stack knows
its peer, a SYN to port 80, and then segments that answer the stack (op bit
0x40: sequence numbers, acknowledgments and SACK edges are offsets from the
first byte of each side's data, checksums made right). From there the fuzzer mutates
established connections instead of guessing an ISN: in-order and
out-of-order data, SACKs of what the stack sends, duplicates, FIN, RST, and
time for the timers (RTO, tail loss probes, delayed ACKs); and the host's
own connections over its loopback beside them.
"""
import os
import struct
import sys

PEER_MAC = bytes.fromhex("020000000001")
PEER_IP = bytes([10, 0, 0, 1])
OUR_IP = bytes([10, 0, 0, 2])

FRAME = 0x01       # the bytes are a frame
OUR_MAC = 0x02     # its first 12 bytes: to our MAC, type IPv4 (or ARP with 0x04)
ARP = 0x04
ANSWER = 0x40      # sequence numbers, SACK edges and checksums from the stack's last segment
SELF = 0x80        # (not a frame) the host connects to its own listener over its loopback

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08


def record(op, body):
    return struct.pack("!BH", op, len(body)) + body


def wait(ms):
    """Time passes: due timers run."""
    return struct.pack("!BH", 0, ms)


def talk_to_self(nbytes, to_127=True, end=0):
    """A loopback connection of the host to its own port 80, nbytes sent; end 0 keep, 1 close,
    2 shut down for writing, 3 abort (fuzz_frame.c's talk_to_self)."""
    return struct.pack("!BH", SELF | (0x10 if to_127 else 0) | end << 1, nbytes)


def eth(ethertype, payload):
    return b"\0" * 6 + PEER_MAC + struct.pack("!H", ethertype) + payload


def arp_request():
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + PEER_MAC + PEER_IP + b"\0" * 6 + OUR_IP
    return record(FRAME | OUR_MAC | ARP, eth(0x0806, body))


def tcp(flags, seq_off=0, ack_off=0, data=b"", options=b"", answer=True):
    """A segment from 10.0.0.1:40000 to port 80. With answer, seq_off is an
    offset from our first data byte, ack_off and the SACK edges in options
    offsets from the stack's (until its SYN-ACK, from 0)."""
    while len(options) % 4:
        options += b"\x01"
    hdr = struct.pack("!HHIIBBHHH", 40000, 80, seq_off & 0xffffffff, ack_off & 0xffffffff,
                      (5 + len(options) // 4) << 4, flags, 65535, 0, 0) + options
    seg = hdr + data
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 1, 0x4000, 64, 6, 0, PEER_IP, OUR_IP)
    return record(FRAME | OUR_MAC | (ANSWER if answer else 0), eth(0x0800, ip + seg))


def sack(*edges):
    body = b"".join(struct.pack("!I", e & 0xffff) for e in edges)
    return bytes([5, 2 + len(body)]) + body


SYN_OPTIONS = bytes([2, 4, 0x05, 0xb4, 4, 2, 3, 3, 7])  # MSS 1460, SACK permitted, window scale 7


def handshake():
    # before the SYN-ACK the offsets are from 0: the SYN's sequence is 999, our data starts at 1000
    return arp_request() + tcp(SYN, seq_off=999, options=SYN_OPTIONS) + tcp(ACK)


def seeds():
    data = bytes(range(256)) * 6
    yield "established", handshake() + tcp(ACK | PSH, data=data[:100]) + wait(50)
    # a hole of 300 bytes, data beyond it, then the hole filled
    yield "out_of_order", (handshake() + tcp(ACK, seq_off=300, data=data[:500]) +
                           tcp(ACK, seq_off=1000, data=data[:200]) +
                           tcp(ACK, seq_off=0, data=data[:300]) + wait(10))
    # the stack sends 20 KB: ACK the first segment, SACK beyond a hole (recovery), then the
    # rest up to a lost tail (probe), time for RACK, the probe and the RTO
    yield "sack_recovery", (handshake() + wait(1) + tcp(ACK, ack_off=1460, options=sack(2920, 5840)) +
                            tcp(ACK, ack_off=1460, options=sack(2920, 8760)) + wait(1) +
                            tcp(ACK, ack_off=14600) + wait(5) + tcp(ACK, ack_off=17520) +
                            wait(300) + tcp(ACK, ack_off=20000) + wait(1000))
    yield "fin_and_reset", (handshake() + tcp(ACK | FIN, data=data[:10]) + wait(1) + tcp(ACK) +
                            wait(200) + tcp(RST))
    # connections over the loopback beside one from the link, to the same listener: every end,
    # at 127.0.0.1 and at the host's own address, then time for their closes and TIME-WAIT
    yield "loopback", (handshake() + talk_to_self(3000) + tcp(ACK | PSH, data=data[:100]) +
                       talk_to_self(100, False, 1) + wait(1) + talk_to_self(0, True, 2) +
                       talk_to_self(4000, False, 3) + wait(200) + tcp(ACK | FIN) + wait(61000))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, body in seeds():
        with open(os.path.join(out, name), "wb") as f:
            f.write(body)


if __name__ == "__main__":
    main()
