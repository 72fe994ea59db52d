"""Send one crafted Binding Update (lab tests): mh_client.py COA HA HOA SEQ FLAGS
[LIFETIME_UNITS [PREFIX...]]; FLAGS are letters of A H L K M R P."""

from __future__ import annotations

import sys
from ipaddress import IPv6Address, IPv6Network

from mip6d.core.effects import SendMessage
from mip6d.shell.mhsocket import MhSocket
from mip6d.wire import mh


def main(argv: list[str]) -> None:
    coa, ha, hoa = (IPv6Address(a) for a in argv[:3])
    sequence = int(argv[3])
    flags = mh.BUFlag(0)
    for letter in argv[4]:
        flags |= mh.BUFlag[letter]
    lifetime = int(argv[5]) if len(argv) > 5 else 15
    options: list[mh.Option] = [mh.AlternateCareOfAddress(coa)]
    options += [mh.MobileNetworkPrefix(IPv6Network(p)) for p in argv[6:]]
    bu = mh.BindingUpdate(sequence, lifetime, flags, tuple(options))
    MhSocket().send(SendMessage(bu, coa, ha, home_address_option=hoa))


if __name__ == "__main__":
    main(sys.argv[1:])
