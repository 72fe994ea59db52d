"""Home agent policy: what a home agent serves and whom it accepts.

Frozen values, validated on construction; each field carries in its metadata the
configuration keyword it stands for (the names UMIP's ``mip6d.conf`` uses, so the config
parser and its documentation can be driven by :func:`policy_keywords`) and one line of
documentation.

Decisions taken here (see :mod:`mip6d.core.homeagent` for where they apply):

* Unprotected Binding Updates. RFC 6275 section 5.1 requires IPsec ESP protection of the
  Binding Updates and Acknowledgements between mobile nodes and home agents, RFC 3776
  section 4.1 makes it ESP in transport mode, and RFC 4301 section 5.2 drops an inbound
  packet that does not match the SA the policy asks for. So when
  :attr:`HomeAgentPolicy.require_ipsec` is set, a Binding Update that did not arrive
  under IPsec is dropped silently (logged, no Binding Acknowledgement): an
  acknowledgement would itself be unprotected, would confirm to an off-path sender that
  the home address is served, and could be spoofed towards a victim.
* Mobile routers (RFC 3963). A node may register as a mobile router only if
  :attr:`HomeAgentPolicy.accept_mobile_routers` is set and its home address has a
  :class:`BindingAclPolicy` that allows it and lists at least one mobile network prefix.
  A prefix announced in explicit mode is authorized when it equals, or lies inside, one
  of the listed prefixes.
* Mobile routers without listed prefixes. The reference implementation (UMIP) checks the
  announced prefixes only when the node's entry lists some, and accepts any otherwise. We
  accept them only inside the aggregate the operator declared with ``HaServedPrefix``:
  a node with no listed prefixes may register as a mobile router, in explicit mode, when
  the home agent has served prefixes, and what it announces must lie inside one of them.
  With neither, the registration gets status 140 and ``mip6d --check`` says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from ipaddress import IPv6Address, IPv6Network

__all__ = [
    "MAX_LIFETIME",
    "BindingAclPolicy",
    "HomeAgentPolicy",
    "HomeLink",
    "PolicyError",
    "policy_keywords",
]

MAX_LIFETIME = 0xFFFF * 4
"""The longest lifetime a Binding Update or Acknowledgement can carry: 65535 units of 4
seconds (RFC 6275 sections 6.1.7 and 6.1.8), 262140 s."""

_TUNNEL_NAME_MAX = 15  # IFNAMSIZ - 1
_TUNNEL_ID_DIGITS = 9


class PolicyError(ValueError):
    """A policy value that cannot be used; the message names the field."""


def _doc(keyword: str, text: str) -> dict[str, str]:
    return {"keyword": keyword, "doc": text}


@dataclass(frozen=True, slots=True)
class HomeLink:
    """One link the home agent serves: its interface, home subnet prefix and the home
    agent's own address on it."""

    ifname: str = field(metadata=_doc("Interface", "interface attached to the home link"))
    prefix: IPv6Network = field(metadata=_doc("HomePrefix", "home subnet prefix"))
    ha_address: IPv6Address = field(
        metadata=_doc("HomeAgentAddress", "the home agent's address on the home link")
    )
    valid_until: float | None = field(
        default=None,
        metadata=_doc(
            "",
            "end of the prefix's valid lifetime (RFC 6275 section 10.3.1 caps bindings "
            "by it); None for infinite",
        ),
    )
    advertised_prefixes: tuple[IPv6Network, ...] = field(
        default=(),
        metadata=_doc(
            "",
            "the other prefixes the link's routers advertise (Mobile Prefix Discovery, "
            "RFC 6275 section 10.6.1): home subnet prefixes too, so that a node whose "
            "home link was renumbered registers its new home address",
        ),
    )

    def __post_init__(self) -> None:
        if not self.ifname:
            raise PolicyError("home link: the interface name is empty")
        if self.ha_address not in self.prefix:
            raise PolicyError(
                f"home link {self.ifname}: home agent address {self.ha_address} is not in "
                f"the home prefix {self.prefix}"
            )


@dataclass(frozen=True, slots=True)
class BindingAclPolicy:
    """Access control for one home address (UMIP's ``BindingAclPolicy``)."""

    home_address: IPv6Address = field(metadata=_doc("", "the mobile node's home address"))
    allow: bool = field(default=True, metadata=_doc("", "accept (True) or refuse (False)"))
    mobile_network_prefixes: tuple[IPv6Network, ...] = field(
        default=(),
        metadata=_doc(
            "",
            "prefixes this node may register as a mobile router; in implicit mode the "
            "home agent routes all of them to it (RFC 3963 section 6.2)",
        ),
    )

    @property
    def mobile_router(self) -> bool:
        """Whether this node may register as a mobile router."""
        return self.allow and bool(self.mobile_network_prefixes)


@dataclass(frozen=True)
class HomeAgentPolicy:
    """Everything a home agent decides a Binding Update by, besides its binding cache."""

    home_links: tuple[HomeLink, ...] = field(
        metadata=_doc("Interface", "the home links served, with their prefixes")
    )
    acl: tuple[BindingAclPolicy, ...] = field(
        default=(), metadata=_doc("BindingAclPolicy", "per-home-address access control")
    )
    default_allow: bool = field(
        default=True,
        metadata=_doc(
            "DefaultBindingAclPolicy",
            "accept home addresses that have no BindingAclPolicy (status 129 if not)",
        ),
    )
    accept_mobile_routers: bool = field(
        default=False,
        metadata=_doc("HaAcceptMobRtr", "accept mobile router registrations (RFC 3963)"),
    )
    accept_multiple_care_of: bool = field(
        default=True,
        metadata=_doc("HaAcceptMultipleCoA",
                      "accept Binding Identifier options (RFC 5648; status 166 if not)"),
    )
    served_prefixes: tuple[IPv6Network, ...] = field(
        default=(),
        metadata=_doc(
            "HaServedPrefix",
            "aggregates that mobile network prefixes may come from when a node's "
            "BindingAclPolicy lists none (explicit mode)",
        ),
    )
    max_binding_life: int = field(
        default=MAX_LIFETIME,
        metadata=_doc("HaMaxBindingLife", "longest lifetime granted, seconds (4..262140)"),
    )
    require_ipsec: bool = field(
        default=True,
        metadata=_doc("UseMnHaIPsec", "drop Binding Updates that did not arrive under IPsec ESP"),
    )
    key_management_mobility: bool = field(
        default=False,
        metadata=_doc(
            "KeyMngMobCapability",
            "the keying daemon can move its IKE SA to a new care-of address (K flag)",
        ),
    )
    static_keyed: frozenset[IPv6Address] = field(
        default=frozenset(),
        metadata=_doc(
            "StaticKey",
            "home addresses keyed by static SAs: never the K flag (RFC 6275 section "
            "6.1.7: cleared with manual IPsec configuration)",
        ),
    )
    duplicate_address_detection: bool = field(
        default=True,
        metadata=_doc(
            "",
            "run DAD for a home address before its first registration (RFC 6275 "
            "section 10.3.1); off only for tests and labs",
        ),
    )
    tunnel_prefix: str = field(
        default="mip6t",
        metadata=_doc("", "name prefix of the home agent's tunnel devices"),
    )
    _acl_index: Mapping[IPv6Address, BindingAclPolicy] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not self.home_links:
            raise PolicyError("home agent policy: no home link")
        for i, link in enumerate(self.home_links):
            for other in self.home_links[i + 1 :]:
                if link.prefix.overlaps(other.prefix):
                    raise PolicyError(
                        f"home links {link.ifname} and {other.ifname}: prefixes "
                        f"{link.prefix} and {other.prefix} overlap"
                    )
        if not 4 <= self.max_binding_life <= MAX_LIFETIME:
            raise PolicyError(
                f"HaMaxBindingLife {self.max_binding_life}: expected 4..{MAX_LIFETIME} seconds"
            )
        if not self.tunnel_prefix or len(self.tunnel_prefix) > (
            _TUNNEL_NAME_MAX - _TUNNEL_ID_DIGITS
        ):
            raise PolicyError(
                f"tunnel prefix {self.tunnel_prefix!r}: expected 1.."
                f"{_TUNNEL_NAME_MAX - _TUNNEL_ID_DIGITS} characters"
            )
        index: dict[IPv6Address, BindingAclPolicy] = {}
        for entry in self.acl:
            if entry.home_address in index:
                raise PolicyError(f"BindingAclPolicy {entry.home_address}: listed twice")
            index[entry.home_address] = entry
        object.__setattr__(self, "_acl_index", index)

    def home_link_for(self, home_address: IPv6Address) -> HomeLink | None:
        """The home link whose prefix, or one of whose advertised prefixes, holds
        ``home_address``."""
        for link in self.home_links:
            if home_address in link.prefix:
                return link
        for link in self.home_links:
            if any(home_address in prefix for prefix in link.advertised_prefixes):
                return link
        return None

    def acl_for(self, home_address: IPv6Address) -> BindingAclPolicy | None:
        """The access control entry of ``home_address``, if any."""
        return self._acl_index.get(home_address)

    def allows(self, home_address: IPv6Address) -> bool:
        """Whether ``home_address`` may register at all."""
        entry = self.acl_for(home_address)
        return self.default_allow if entry is None else entry.allow

    def mobile_router_allowed(self, home_address: IPv6Address) -> bool:
        """Whether ``home_address`` may register as a mobile router."""
        if not self.accept_mobile_routers or not self.allows(home_address):
            return False
        return bool(self.configured_prefixes(home_address) or self.served_prefixes)

    def configured_prefixes(self, home_address: IPv6Address) -> tuple[IPv6Network, ...]:
        """The mobile network prefixes configured for ``home_address``."""
        entry = self.acl_for(home_address)
        return () if entry is None else entry.mobile_network_prefixes

    def prefix_authorized(self, home_address: IPv6Address, prefix: IPv6Network) -> bool:
        """Whether ``prefix`` equals or lies inside a prefix configured for the node, or
        inside a served prefix when none is configured for it."""
        bounds = self.configured_prefixes(home_address) or self.served_prefixes
        return any(prefix.subnet_of(p) for p in bounds)

    def prefix_valid(self, prefix: IPv6Network) -> bool:
        """Whether ``prefix`` can be a mobile network prefix at all: a unicast prefix
        of global scope, not the default route, not overlapping a home link."""
        address = prefix.network_address
        return (
            prefix.prefixlen > 0
            and not (
                address.is_multicast
                or address.is_link_local
                or address.is_loopback
                or address.is_unspecified
                or address.is_site_local
            )
            and not any(prefix.overlaps(link.prefix) for link in self.home_links)
        )

    @property
    def ha_addresses(self) -> tuple[IPv6Address, ...]:
        """The home agent's addresses, one per home link."""
        return tuple(link.ha_address for link in self.home_links)


def policy_keywords() -> tuple[tuple[str, str, str], ...]:
    """``(keyword, field name, doc)`` for every configurable field of the policy
    classes, in declaration order: one table for the config parser and its docs."""
    rows: list[tuple[str, str, str]] = []
    for cls in (HomeAgentPolicy, HomeLink, BindingAclPolicy):
        for f in fields(cls):
            if f.name.startswith("_"):
                continue
            rows.append(
                (
                    f.metadata.get("keyword", ""),
                    f"{cls.__name__}.{f.name}",
                    f.metadata.get("doc", ""),
                )
            )
    return tuple(rows)
