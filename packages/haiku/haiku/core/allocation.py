"""Address and prefix pools: which index is free, and what address or prefix it names.

A pool is a parent network cut into equal pieces of ``length`` bits; piece ``index``
(0-based, counted from ``first``) is the ``first + index``-th piece of the parent. The
service stores the index of every allocation in a column with a unique constraint, so
two allocations of the same piece cannot both commit; :func:`first_free` only proposes.

A deleted node's pieces are *quarantined* for a while (the service keeps them until the
last CRL a home agent may hold without the node's revoked certificate has expired), so
:func:`first_free` skips them as if they were taken, and says so when that is what
exhausts the pool.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network

__all__ = ["Pool", "PoolError", "PoolExhausted", "first_free"]


class PoolError(ValueError):
    """A pool that cannot be: the message says which setting and what is wrong."""


class PoolExhausted(RuntimeError):
    """Every piece of a pool is taken; the message says which pool and what to do."""


@dataclass(frozen=True)
class Pool:
    """``size`` pieces of prefix length ``length`` in ``network``, from piece ``first``."""

    name: str
    network: IPv6Network
    length: int
    first: int
    size: int

    def __post_init__(self) -> None:
        if not self.network.prefixlen <= self.length <= 128:
            raise PoolError(
                f"{self.name}: pieces of /{self.length} do not fit in {self.network}; "
                f"expected a length from {self.network.prefixlen} to 128")
        pieces = 1 << (self.length - self.network.prefixlen)
        if self.first < 0 or self.size < 1 or self.first + self.size > pieces:
            raise PoolError(
                f"{self.name}: pieces {self.first} to {self.first + self.size - 1} are not "
                f"all inside {self.network}, which has {pieces} pieces of /{self.length}")

    def network_at(self, index: int) -> IPv6Network:
        """The piece with this index, as a network."""
        if not 0 <= index < self.size:
            raise IndexError(f"{self.name}: index {index} outside 0..{self.size - 1}")
        step = 1 << (128 - self.length)
        base = int(self.network.network_address) + (self.first + index) * step
        return IPv6Network((base, self.length))

    def address_at(self, index: int) -> IPv6Address:
        """The piece with this index, as an address (for pools of /128)."""
        return self.network_at(index).network_address


def first_free(pool: Pool, used: Iterable[int], quarantined: Iterable[int] = ()) -> int:
    """The lowest index of ``pool`` neither in ``used`` nor in ``quarantined``;
    :class:`PoolExhausted` if none."""
    held = {i for i in quarantined if 0 <= i < pool.size}
    taken = sorted({i for i in used if 0 <= i < pool.size} | held)
    candidate = 0
    for index in taken:
        if index != candidate:
            break
        candidate += 1
    if candidate >= pool.size and held:
        raise PoolExhausted(
            f"the {pool.name} is exhausted: of its {pool.size} /{pool.length} in "
            f"{pool.network}, {len(held)} belonged to deleted nodes and are quarantined "
            f"until home agents can no longer trust those nodes' old keys; try again "
            f"later, or ask the operator to enlarge the pool")
    if candidate >= pool.size:
        raise PoolExhausted(
            f"the {pool.name} is exhausted: all {pool.size} of its /{pool.length} in "
            f"{pool.network} are allocated; delete unused nodes, or ask the operator to "
            f"enlarge the pool")
    return candidate
