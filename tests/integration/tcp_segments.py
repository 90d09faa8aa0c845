#!/usr/bin/python3
"""tcp_segments.py IFACE PORT: the TCP segments with data that cross IFACE to
or from PORT, one line each as they are seen: "SPORT DPORT SEQ LEN FLAGS".
Prints "ready" once it captures; runs until killed."""
import socket
import struct
import sys

ETH_P_ALL = 0x0003


def main():
    iface, port = sys.argv[1], int(sys.argv[2])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    print("ready", flush=True)
    while True:
        frame, addr = s.recvfrom(262144)
        if len(frame) < 14 + 20 or struct.unpack("!H", frame[12:14])[0] != 0x0800:
            continue
        ip = frame[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6 or len(ip) < ihl + 20:
            continue
        total = struct.unpack("!H", ip[2:4])[0] or len(ip)  # 0: a GSO frame
        tcp = ip[ihl:]
        sport, dport, seq = struct.unpack("!HHI", tcp[:8])
        if port not in (sport, dport):
            continue
        off = (tcp[12] >> 4) * 4
        length = min(total, len(ip)) - ihl - off
        if length > 0:
            print(sport, dport, seq, length, tcp[13], flush=True)


if __name__ == "__main__":
    main()
