"""Send plain Mobility Header messages (lab tests): mh_send.py SRC DST TYPE [COUNT]
TYPE is bu or ba; COUNT messages one second apart (sequence 1, 2, ...), no Home Address
option or routing header: only the MH type matters to the IPsec policy under test."""

from __future__ import annotations

import sys
import time
from ipaddress import IPv6Address

from mip6d.core.effects import SendMessage
from mip6d.shell.mhsocket import MhSocket
from mip6d.wire import mh


def main(argv: list[str]) -> None:
    src, dst = IPv6Address(argv[0]), IPv6Address(argv[1])
    count = int(argv[3]) if len(argv) > 3 else 1
    sock = MhSocket()
    for sequence in range(1, count + 1):
        message = (
            mh.BindingUpdate(sequence, 15, mh.BUFlag.A | mh.BUFlag.H, ())
            if argv[2] == "bu" else mh.BindingAck(mh.BAStatus(0), sequence, 15))
        try:
            sock.send(SendMessage(message, src, dst))
        except OSError as exc:  # EAGAIN while an acquire is pending: try again next time
            print(f"{sequence}: {exc}", flush=True)
        if sequence < count:
            time.sleep(1)


if __name__ == "__main__":
    main(sys.argv[1:])
