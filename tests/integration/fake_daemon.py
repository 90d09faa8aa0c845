"""fake_daemon.py SOCKET MODE - a stand-in for tapnetd's control socket
that gives the tapnet CLI replies tapnetd gives only with thousands of
TIME-WAIT entries, or never (cli.sh). It answers HELLO, SOCKETS (no
sockets) and TIMEWAIT, each connection until it closes, until killed.
MODE: tw-truncated (3 entries, the oldest 2 in the reply) or
tw-inconsistent (TW_TRUNCATED says 3 entries are in the reply; 2 are)."""
import os
import socket
import struct
import sys

from ctlproto import REPLY, attr, msg, msg_type_id, recv_msg, u32_attrs

HELLO, SOCKETS, TIMEWAIT = 1, 5, 6
ATTR_SS_TOTAL = 101
ATTR_EXPIRES_MS = 42
ATTR_TW_TOTAL, ATTR_TW_TRUNCATED, ATTR_TW_ENTRY = 130, 131, 132
ATTR_TW_LADDR, ATTR_TW_LPORT, ATTR_TW_RADDR, ATTR_TW_RPORT = 133, 134, 135, 136


def tw_entry(rport, remaining_ms):
    """One TW_ENTRY nest: 10.0.0.2:13 <- 10.0.0.1:rport."""
    body = u32_attrs([(ATTR_TW_LADDR, 0x0A000002), (ATTR_TW_LPORT, 13),
                      (ATTR_TW_RADDR, 0x0A000001), (ATTR_TW_RPORT, rport)])
    body += attr(ATTR_EXPIRES_MS, struct.pack("<Q", remaining_ms))
    return attr(ATTR_TW_ENTRY, body)


def timewait_reply(mode):
    listed = 2 if mode == "tw-truncated" else 3
    return (u32_attrs([(ATTR_TW_TOTAL, 3), (ATTR_TW_TRUNCATED, listed)]) +
            tw_entry(40001, 5000) + tw_entry(40002, 6000))


def main():
    path, mode = sys.argv[1], sys.argv[2]
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path + ".new")
    srv.listen(4)
    os.rename(path + ".new", path)  # there once it listens
    while True:
        conn, _ = srv.accept()
        with conn:
            while (req := recv_msg(conn)) is not None:
                mtype, mid = msg_type_id(req[0])
                body = {HELLO: b"", SOCKETS: u32_attrs([(ATTR_SS_TOTAL, 0)]),
                        TIMEWAIT: timewait_reply(mode)}[mtype]
                conn.sendall(msg(mtype | REPLY, body, mid))


main()
