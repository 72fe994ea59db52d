"""A deterministic mutation fuzzer for mip6d's wire decoders, shared by the unit test
(``packages/mip6d/tests/test_fuzz_wire.py``: a million inputs, only ``DecodeError`` may
come out) and the benchmark (``bench/wire_fuzz.py``: inputs per second).

How: a plain mutation loop with a fixed seed, in-process, rather than atheris. The run
is reproducible (a failure names the input and the iteration, and the same seed gives
the same inputs) and needs no subprocess. The mutations start from valid encodings of
every message type (so most inputs get past the first checks) and apply: bit flips,
byte overwrites, truncation, extension, insertion and deletion, random length octets,
random option blobs (well-formed and not) after a valid fixed part, splices of two
valid encodings and plain random bytes. About half of the inputs are then repaired the
way a real sender would produce them (Header Len matching the length, a correct
checksum) so that they reach the option parsers; the others are decoded either with
checksum verification on or off.

Targets: ``mh.decode``, ``icmp6.decode`` and ``icmp6.decode_router_advertisement``.
For every input :func:`run` checks that nothing but ``DecodeError`` is raised and that
whatever decodes re-encodes to bytes that decode to the same value.

For longer, coverage-guided runs the module doubles as an atheris harness::

    PYTHONPATH=packages/mip6d .venv/bin/python testkit/wire_fuzz.py -max_total_time=600
"""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, IPv6Network
from typing import Any

from mip6d.wire import icmp6, mh
from mip6d.wire.checksum import pseudo_header_checksum
from mip6d.wire.errors import DecodeError

__all__ = ["SEED", "FuzzRun", "run"]

SEED = 0x6275_3963
MAX_FAILURES = 20
"""A run stops after this many failures: they are enough to go on."""

HOA = IPv6Address("2001:db8:1::10")
COA = IPv6Address("2001:db8:2::20")
HA = IPv6Address("2001:db8:1::1")
ROUTER = IPv6Address("fe80::1")
ALL_NODES = IPv6Address("ff02::1")

MH, ICMP, RA = 0, 1, 2


def seeds() -> list[tuple[int, bytes]]:
    """Valid encodings of every message type, with a variety of options."""
    prefix = IPv6Network("2001:db8:100::/48")
    mh_messages: list[mh.Message] = [
        mh.BindingRefreshRequest(),
        mh.HomeTestInit(0x0102030405060708),
        mh.CareOfTestInit(0xFFFFFFFFFFFFFFFF),
        mh.HomeTest(1, 2, 3),
        mh.CareOfTest(0xFFFF, 5, 6, (mh.UnknownOption(99, b"\x01\x02\x03"),)),
        mh.BindingUpdate(1, 150, mh.BUFlag.A | mh.BUFlag.H),
        mh.BindingUpdate(
            2,
            150,
            mh.BUFlag.A | mh.BUFlag.H | mh.BUFlag.K,
            (mh.AlternateCareOfAddress(COA), mh.MobileNetworkPrefix(prefix)),
        ),
        mh.BindingUpdate(
            3,
            16,
            mh.BUFlag.A,
            (mh.NonceIndices(1, 2), mh.BindingAuthorizationData(bytes(range(12)))),
        ),
        mh.BindingUpdate(
            4,
            3600,
            mh.BUFlag.A | mh.BUFlag.H | mh.BUFlag.R,
            tuple(mh.MobileNetworkPrefix(IPv6Network(f"2001:db8:{i}::/56")) for i in range(4)),
        ),
        mh.BindingAck(0, 1, 150, mh.BAFlag.K, (mh.BindingRefreshAdvice(100),)),
        mh.BindingUpdate(  # RFC 5648 bulk registration: IPv6 and IPv4 care-of addresses
            5,
            150,
            mh.BUFlag.A | mh.BUFlag.H,
            (mh.BindingIdentifier(1, COA, priority=1),
             mh.BindingIdentifier(2, IPv4Address("192.0.2.1"), simultaneous_home=True)),
        ),
        mh.BindingUpdate(  # RFC 6089 flow bindings, RFC 6088 traffic selectors
            6,
            150,
            mh.BUFlag.A | mh.BUFlag.H,
            (mh.FlowIdentification(1, 10, sub_options=(
                mh.BindingReference((1, 2)),
                mh.TrafficSelector6(
                    source_address=(HA, HOA), destination_port=(5001, 5001),
                    flow_label=(1, 0xFFFFF), next_header=(17, 17)),
                mh.UnknownFlowSubOption(9, b"\x01"),
             )),
             mh.FlowSummary((1, 2, 3)),
             mh.BindingIdentifier(1, COA, priority=1)),
        ),
        mh.BindingUpdate(
            7,
            150,
            mh.BUFlag.A | mh.BUFlag.H,
            (mh.FlowIdentification(2, 20, sub_options=(
                mh.TrafficSelector4(
                    source_address=(IPv4Address("192.0.2.1"), IPv4Address("192.0.2.9")),
                    destination_address=(IPv4Address("198.51.100.1"),) * 2,
                    spi=(1, 2), source_port=(1, 1024), destination_port=(80, 80),
                    ds=(0, 0xB8), protocol=(6, 17)),
                mh.UnknownTrafficSelector(0, b"\x00\x01"),
             )),),
        ),
        mh.BindingAck(
            0, 6, 150, options=(
                mh.FlowIdentification(1, 10, 0), mh.FlowIdentification(2, 20, 133),
                mh.FlowSummary((1,)))
        ),
        mh.BindingAck(141, 1, 0, mh.BAFlag.R),
        mh.BindingAck(
            4, 5, 150, options=(mh.BindingIdentifier(1), mh.BindingIdentifier(2, None, 167))
        ),
        mh.BindingAck(
            0, 1, 2, options=(mh.BindingRefreshAdvice(1), mh.BindingAuthorizationData(bytes(12)))
        ),
        mh.BindingError(2, HOA),
        mh.UnknownMessage(12, 59, bytes(10)),
    ]
    pio = icmp6.PrefixInformation(64, icmp6.PrefixFlag.L | icmp6.PrefixFlag.R, 1, 2, HA)
    icmp_messages: list[icmp6.ICMPv6Message] = [
        icmp6.DHAADRequest(1, icmp6.DHAADFlag.R),
        icmp6.DHAADReply(1, (HA, HOA)),
        icmp6.MobilePrefixSolicitation(2),
        icmp6.MobilePrefixAdvertisement(
            3, icmp6.MPAFlag.M, (pio, icmp6.UnknownNDOption(30, bytes(6)))
        ),
    ]
    ra = icmp6.RouterAdvertisement(
        64,
        icmp6.RAFlag.H,
        1800,
        0,
        0,
        (
            icmp6.SourceLinkLayerAddress(bytes(6)),
            icmp6.MTU(1500),
            pio,
            icmp6.AdvertisementInterval(1000),
            icmp6.HomeAgentInformation(-5, 1800, icmp6.HAIFlag.R),
            icmp6.UnknownNDOption(25, bytes(22)),
        ),
    )
    return (
        [(MH, mh.encode(m, HOA, HA)) for m in mh_messages]
        + [(ICMP, icmp6.encode(m, ROUTER, ALL_NODES)) for m in icmp_messages]
        + [(RA, icmp6.encode(ra, ROUTER, ALL_NODES)), (ICMP, icmp6.encode(ra, ROUTER, ALL_NODES))]
    )


INTERESTING_TYPES = (0, 1, 2, 3, 4, 5, 6, 7, 8, 25, 35, 44, 45, 201, 255)
INTERESTING_OCTETS = (0, 1, 2, 4, 7, 8, 15, 16, 17, 18, 59, 127, 128, 129, 255)


def option_blob(rng: random.Random, nd: bool) -> bytes:
    """Random options: TLVs of interesting types, lengths right, wrong or random."""
    out = bytearray()
    for _ in range(rng.randrange(1, 6)):
        kind = rng.choice(INTERESTING_TYPES) if rng.random() < 0.8 else rng.randrange(256)
        roll = rng.random()
        if roll < 0.6:  # plausible length
            length = rng.choice((0, 1, 2, 3, 4, 16, 18)) if not nd else rng.randrange(0, 5)
        elif roll < 0.9:
            length = rng.choice(INTERESTING_OCTETS)
        else:
            length = rng.randrange(256)
        body = 8 * length - 2 if nd else length
        out += bytes((kind, length)) + rng.randbytes(max(0, min(body, rng.randrange(0, 40))))
    return bytes(out)


def mutate(rng: random.Random, data: bytes, other: bytes, nd: bool) -> bytes:
    choice = rng.randrange(10)
    size = len(data)
    if choice == 0:  # bit flips
        buf = bytearray(data)
        for _ in range(rng.randrange(1, 5)):
            buf[rng.randrange(size)] ^= 1 << rng.randrange(8)
        return bytes(buf)
    if choice == 1:  # overwrite octets with interesting or random values
        buf = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            buf[rng.randrange(size)] = (
                rng.choice(INTERESTING_OCTETS) if rng.random() < 0.5 else rng.randrange(256)
            )
        return bytes(buf)
    if choice == 2:  # truncate
        return data[: rng.randrange(size)]
    if choice == 3:  # extend
        return data + rng.randbytes(rng.randrange(1, 33))
    if choice == 4:  # length octets: the header's, or any option's
        buf = bytearray(data)
        position = 1 if rng.random() < 0.3 else rng.randrange(1, size)
        buf[position] = rng.choice(INTERESTING_OCTETS)
        return bytes(buf)
    if choice in (5, 6):  # valid fixed part, random options
        keep = rng.randrange(4, min(size, 16) + 1)
        return data[:keep] + option_blob(rng, nd)
    if choice == 7:  # splice two encodings
        return data[: rng.randrange(size + 1)] + other[rng.randrange(len(other) + 1) :]
    if choice == 8:  # insert or delete a run
        at = rng.randrange(size + 1)
        if rng.random() < 0.5:
            return data[:at] + rng.randbytes(rng.randrange(1, 9)) + data[at:]
        return data[:at] + data[at + rng.randrange(1, 9) :]
    # random bytes, sometimes behind a plausible first octet
    blob = rng.randbytes(rng.randrange(0, 72))
    return (bytes((data[0],)) + blob) if rng.random() < 0.7 else blob


def repair_mh(data: bytes, src: IPv6Address, dst: IPv6Address) -> bytes:
    """Make Header Len match and the checksum right, as a real (buggy) sender would."""
    if len(data) < 8:
        return data
    if len(data) % 8:
        data += bytes(8 - len(data) % 8)
    if len(data) > 2048:
        return data
    head = bytes((data[0], len(data) // 8 - 1, data[2], data[3])) + b"\x00\x00"
    zeroed = head + data[6:]
    return head[:4] + pseudo_header_checksum(src, dst, 135, zeroed).to_bytes(2, "big") + data[6:]


def repair_icmp(data: bytes, src: IPv6Address, dst: IPv6Address) -> bytes:
    if len(data) < 4:
        return data
    zeroed = data[:2] + b"\x00\x00" + data[4:]
    return data[:2] + pseudo_header_checksum(src, dst, 58, zeroed).to_bytes(2, "big") + data[4:]


Decoder = Callable[[bytes, IPv6Address, IPv6Address, bool], Any]
DECODERS: dict[int, Decoder] = {
    MH: mh.decode,
    ICMP: icmp6.decode,
    RA: icmp6.decode_router_advertisement,
}


def reencode(kind: int, message: Any, src: IPv6Address, dst: IPv6Address) -> Any:
    if kind == MH:
        return mh.decode(mh.encode(message, src, dst), src, dst)
    return DECODERS[kind](icmp6.encode(message, src, dst), src, dst, True)


@dataclass
class FuzzRun:
    """What :func:`run` saw: inputs tried, how many decoded or were rejected with
    ``DecodeError``, the failures (anything else raised, or a re-encoding that differs),
    and with a timer the slowest decode (seconds, and its input in hex)."""

    inputs: int = 0
    decoded: int = 0
    rejected: int = 0
    failures: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")


def run(count: int, seed: int = SEED, timer: Callable[[], float] | None = None) -> FuzzRun:
    """Decode ``count`` mutated inputs (fewer after :data:`MAX_FAILURES` failures);
    time each decode with ``timer`` (``time.perf_counter``) when given."""
    rng = random.Random(seed)
    corpus = seeds()
    addresses = {MH: (HOA, HA), ICMP: (ROUTER, ALL_NODES), RA: (ROUTER, ALL_NODES)}
    result = FuzzRun()
    while result.inputs < count and len(result.failures) < MAX_FAILURES:
        result.inputs += 1
        kind, seed_bytes = corpus[rng.randrange(len(corpus))]
        other = corpus[rng.randrange(len(corpus))][1]
        src, dst = addresses[kind]
        data = mutate(rng, seed_bytes, other, kind != MH)
        roll = rng.random()
        if roll < 0.5:
            data = repair_mh(data, src, dst) if kind == MH else repair_icmp(data, src, dst)
            verify = True
        else:
            verify = roll < 0.6
        decoder = DECODERS[kind]
        started = timer() if timer is not None else 0.0
        try:
            message = decoder(data, src, dst, verify)
        except DecodeError:
            message = None
        except Exception as exc:
            result.failures.append(f"#{result.inputs} {decoder.__module__}.{decoder.__name__}"
                                   f"({data.hex()}, verify={verify}): {exc!r}")
            message = None
        if timer is not None:
            elapsed = timer() - started
            if elapsed > result.slowest[0]:
                result.slowest = (elapsed, data.hex())
        if message is None:
            result.rejected += 1
            continue
        result.decoded += 1
        try:
            again = reencode(kind, message, src, dst)
        except Exception as exc:
            result.failures.append(f"#{result.inputs} re-encoding {message!r}: {exc!r}")
        else:
            if again != message:
                result.failures.append(f"#{result.inputs} {message!r} re-encoded to {again!r}")
    return result


def _atheris_main() -> None:  # pragma: no cover - run by hand
    import atheris  # noqa: PLC0415 - loads libFuzzer: only when run by hand

    atheris.instrument_all()
    decoders = (mh.decode, icmp6.decode, icmp6.decode_router_advertisement)

    def one_input(data: bytes) -> None:
        if data:
            with contextlib.suppress(DecodeError):
                decoders[data[0] % 3](data[1:], HOA, HA, bool(data[0] & 0x80))

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":  # pragma: no cover
    _atheris_main()
