#!/usr/bin/python3
"""notify_listen.py - stands in for systemd's NOTIFY_SOCKET, for notify.sh.

    notify_listen.py PATH SECONDS

Binds a Unix datagram socket at PATH (mode 0666: tapnetd sends its later
messages after dropping root), then prints every sd_notify message it gets,
one "pid=PID KEY=VALUE" line per assignment, with the sender's pid from
SCM_CREDENTIALS (systemd's NotifyAccess=main checks the same). Exits 0 after
STOPPING=1, 1 if SECONDS pass first.
"""
import os
import socket
import struct
import sys
import time


def main():
    path, seconds = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    s.bind(path)
    os.chmod(path, 0o666)
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            print("timeout", flush=True)
            return 1
        s.settimeout(left)
        try:
            data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            continue
        pid = 0
        for level, kind, value in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", value[:12])[0]
        lines = data.decode("utf-8", "replace").split("\n")
        for line in lines:
            if line:
                print("pid=%d %s" % (pid, line), flush=True)
        if "STOPPING=1" in lines:
            return 0


if __name__ == "__main__":
    sys.exit(main())
