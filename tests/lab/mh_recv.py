"""Log every Mobility Header message this host receives (lab tests): mh_recv.py OUT
One JSON line per message ({"type", "src", "dst", "sequence"}) appended to OUT, flushed
at once; what a home agent's MH socket would get, after the kernel's IPsec checks."""

from __future__ import annotations

import json
import select
import sys

from mip6d.mhsocket import MalformedPacket, MhSocket


def main(argv: list[str]) -> None:
    sock = MhSocket()
    with open(argv[0], "a") as out:
        while True:
            select.select([sock], [], [])
            try:
                received = sock.receive()
            except MalformedPacket as exc:
                print(f"malformed: {exc}", flush=True)
                continue
            if received is None:
                continue
            out.write(json.dumps({
                "type": type(received.msg).__name__, "src": str(received.src),
                "dst": str(received.dst),
                "sequence": getattr(received.msg, "sequence", None)}) + "\n")
            out.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
