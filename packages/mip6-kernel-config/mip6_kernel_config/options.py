"""The tables: which kernel options, modules and sysctls each Mobile IPv6 role needs.

Everything this package produces comes from the two tables below, OPTIONS and SYSCTLS:
the configuration fragments (``fragments/mip6-<role>.config``), the checker's verdicts
(``mip6-kernel-check``), the modules loaded at boot (``modules-load.d/mip6-<role>.conf``,
from the option table's module columns), the sysctl settings
(``sysctl.d/60-mip6-<role>.conf``), the manual page and ``options.md``.

Option names are those of Debian's Linux 6.1 (``linux-source-6.1``); a test checks every
one against Debian's 6.1 configuration. Options that older guides list and that do not
exist in 6.1 (left out on purpose):

* ``INET6_XFRM_MODE_TRANSPORT``, ``INET6_XFRM_MODE_TUNNEL``, ``INET6_XFRM_MODE_BEET``,
  ``INET6_XFRM_MODE_ROUTEOPTIMIZATION``: removed in Linux 5.2; the modes are part of
  ``XFRM`` itself, and route optimisation (``mode ro``) comes with ``IPV6_MIP6``.
* ``XFRM_ESP``, ``INET6_TUNNEL`` and ``XFRM_ALGO`` exist but have no prompt: the options
  below select them. ``XFRM`` has no prompt either; it is listed because every role needs
  it (a kernel without it is told so by name), and ``XFRM_USER`` selects it.

Not needed by any role (the lab uses them, a Mobile IPv6 node does not): ``TUN``,
``VETH``, ``DUMMY``, ``IPV6_SIT``, ``XFRM_INTERFACE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(Enum):
    """The Mobile IPv6 roles a node can play. The value is the short name of ``--role``."""

    HOME_AGENT = "ha"
    MOBILE_NODE = "mn"
    MOBILE_ROUTER = "mr"
    CORRESPONDENT = "cn"

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    Role.HOME_AGENT: "home agent",
    Role.MOBILE_NODE: "mobile node",
    Role.MOBILE_ROUTER: "mobile router",
    Role.CORRESPONDENT: "correspondent node",
}

ROLES: tuple[Role, ...] = tuple(Role)


class Level(Enum):
    """How much a role needs an option."""

    REQUIRED = "required"
    """The role cannot work without it: the checker fails (exit status 1)."""
    RECOMMENDED = "recommended"
    """A feature or an interoperability case needs it: the checker reports it, and passes."""


@dataclass(frozen=True)
class KernelOption:
    """One row of the kernel option table."""

    name: str
    """The Kconfig symbol without ``CONFIG_``."""
    required: frozenset[Role]
    recommended: frozenset[Role]
    module_ok: bool
    """``=m`` is acceptable. False for ``bool`` options and for those a role needs built in."""
    build: str
    """The value the fragments ask for: ``y`` or ``m``."""
    module: str | None
    """The module it builds when ``=m`` (for ``modules-load.d``), else ``None``."""
    load_at_boot: bool
    """Load ``module`` at boot (where the kernel would not load it on first use, or where
    a missing module should show at boot, not at the first binding)."""
    purpose: str
    """One line: what a Mobile IPv6 node uses it for."""

    @property
    def symbol(self) -> str:
        return f"CONFIG_{self.name}"

    @property
    def roles(self) -> frozenset[Role]:
        return self.required | self.recommended

    def level(self, role: Role) -> Level | None:
        if role in self.required:
            return Level.REQUIRED
        if role in self.recommended:
            return Level.RECOMMENDED
        return None

    @property
    def accepted(self) -> tuple[str, ...]:
        """The values that satisfy a role: ``("y", "m")`` or ``("y",)``."""
        return ("y", "m") if self.module_ok else ("y",)


def _roles(names: str) -> frozenset[Role]:
    return frozenset(Role(name) for name in names.split())


def _opt(
    name: str,
    required: str,
    recommended: str,
    kind: str,
    purpose: str,
    module: str | None = None,
    boot: bool = False,
) -> KernelOption:
    """One row. ``kind`` is ``bool`` (built in), ``y`` (tristate, =m acceptable, the
    fragments ask for =y) or ``m`` (tristate, the fragments ask for =m)."""
    if kind not in ("bool", "y", "m"):
        raise ValueError(f"{name}: kind must be bool, y or m, not {kind!r}")
    return KernelOption(
        name=name,
        required=_roles(required),
        recommended=_roles(recommended),
        module_ok=kind != "bool",
        build="y" if kind == "bool" else kind,
        module=module,
        load_at_boot=boot,
        purpose=purpose,
    )


ALL = "ha mn mr cn"
MOBILE = "ha mn mr"  # the roles with a home registration: ip6ip6 tunnel and IPsec (RFC 4877)

# fmt: off
OPTIONS: tuple[KernelOption, ...] = (
    # -- IPv6 and Mobile IPv6 proper ----------------------------------------------------
    _opt("IPV6", ALL, "", "y",
         "the IPv6 protocol", module="ipv6"),
    _opt("IPV6_MIP6", ALL, "", "y",
         "Home Address option, type 2 routing header, MH checks (RFC 6275)",
         module="mip6", boot=True),
    _opt("IPV6_TUNNEL", MOBILE, "", "m",
         "ip6ip6 tunnel (RFC 2473) between mobile node or router and home agent",
         module="ip6_tunnel", boot=True),
    _opt("IPV6_MULTIPLE_TABLES", MOBILE, "", "bool",
         "policy routing rules: home-address and mobile-network traffic to the tunnel"),
    _opt("IPV6_SUBTREES", "", "mn mr", "bool",
         "source-address routes (ip -6 route ... from PREFIX), an alternative to rules"),
    _opt("IPV6_ROUTER_PREF", "", "mn mr", "bool",
         "Default Router Preferences (RFC 4191): the best router of a visited link"),
    _opt("IPV6_OPTIMISTIC_DAD", "", "mn mr", "bool",
         "Optimistic DAD (RFC 4429): use a new care-of address at once"),
    # -- XFRM: route-optimisation states, IPsec policies and SAs --------------------------
    _opt("XFRM", ALL, "", "bool",
         "the transformation framework: hao/route2 states, IPsec SAs and policies"),
    _opt("XFRM_USER", ALL, "", "m",
         "netlink (NETLINK_XFRM) interface to install states and policies",
         module="xfrm_user", boot=True),
    _opt("XFRM_SUB_POLICY", MOBILE, "cn", "bool",
         "sub policies: mobility transforms and IPsec apply to the same packet"),
    _opt("XFRM_MIGRATE", MOBILE, "", "bool",
         "XFRM_MSG_MIGRATE: move IPsec SAs to the new care-of address (RFC 4877)"),
    _opt("NET_KEY", "", MOBILE, "m",
         "PF_KEY sockets, for KAME-style keying daemons", module="af_key"),
    _opt("NET_KEY_MIGRATE", "", MOBILE, "bool",
         "PF_KEY MIGRATE: move IPsec SAs on handover, for PF_KEY keying daemons"),
    # -- ESP: Binding Updates/Acknowledgements are protected by IPsec (RFC 6275 5.1) -----
    _opt("INET6_ESP", MOBILE, "", "m",
         "ESP (RFC 4303) protecting Binding Updates and Acknowledgements (RFC 4877)",
         module="esp6", boot=True),
    _opt("CRYPTO_AES", MOBILE, "", "m",
         "AES cipher of ESP's AES-CBC and AES-GCM (RFC 8221 MUST)", module="aes_generic"),
    _opt("CRYPTO_CBC", MOBILE, "", "m",
         "CBC mode of ENCR_AES_CBC", module="cbc"),
    _opt("CRYPTO_GCM", MOBILE, "", "m",
         "GCM mode of ENCR_AES_GCM_16 (RFC 8221 MUST)", module="gcm"),
    _opt("CRYPTO_SEQIV", MOBILE, "", "m",
         "sequence-number IV generator of AES-GCM ESP", module="seqiv"),
    _opt("CRYPTO_ECHAINIV", MOBILE, "", "m",
         "encrypted-chain IV generator of AES-CBC ESP", module="echainiv"),
    _opt("CRYPTO_AUTHENC", MOBILE, "", "m",
         "combines a cipher and an HMAC into one ESP transform", module="authenc"),
    _opt("CRYPTO_HMAC", MOBILE, "", "m",
         "HMAC, ESP's integrity check", module="hmac"),
    _opt("CRYPTO_SHA256", MOBILE, "", "m",
         "AUTH_HMAC_SHA2_256_128 (RFC 8221 MUST)", module="sha256_generic"),
    _opt("CRYPTO_SHA1", "", MOBILE, "m",
         "AUTH_HMAC_SHA1_96, which older IKE peers still offer", module="sha1_generic"),
    _opt("CRYPTO_SHA512", "", MOBILE, "m",
         "AUTH_HMAC_SHA2_512_256", module="sha512_generic"),
    _opt("CRYPTO_CHACHA20POLY1305", "", MOBILE, "m",
         "ENCR_CHACHA20_POLY1305 (RFC 7634)", module="chacha20poly1305"),
)
# fmt: on


@dataclass(frozen=True)
class Sysctl:
    """One row of the sysctl table: ``key = value`` for ``roles``.

    A ``*`` in the key is a glob (systemd-sysctl, sysctl.d(5)): it writes every existing
    interface and ``default`` (for interfaces that appear later), and is applied again to
    each interface as it shows up. An explicit key for one interface in any sysctl.d file
    takes it out of the glob.
    """

    key: str
    value: str
    roles: frozenset[Role]
    purpose: str


def _sysctl(key: str, value: str, roles: str, purpose: str) -> Sysctl:
    return Sysctl(key=key, value=value, roles=_roles(roles), purpose=purpose)


SYSCTLS: tuple[Sysctl, ...] = (
    _sysctl(
        "net.ipv6.conf.all.forwarding", "1", "ha mr",
        "route between the home link or mobile network and the tunnels "
        "(RFC 6275 10.4, NEMO RFC 3963)",
    ),
    _sysctl(
        "net.ipv6.conf.all.proxy_ndp", "1", "ha",
        "answer Neighbor Solicitations for the home addresses of mobile nodes away from "
        "home (RFC 6275 10.4.1); mip6d adds one proxy entry per binding",
    ),
    _sysctl(
        "net.ipv6.conf.*.accept_ra", "2", "mr",
        "keep learning care-of addresses and default routes from Router Advertisements "
        "on egress interfaces while forwarding; exclude an ingress interface with an "
        "explicit 'net.ipv6.conf.IFNAME.accept_ra = 0' in /etc/sysctl.d",
    ),
    _sysctl(
        "net.ipv6.conf.*.optimistic_dad", "1", "mn mr",
        "Optimistic DAD (RFC 4429) for new care-of addresses, shorter handovers "
        "(needs CONFIG_IPV6_OPTIMISTIC_DAD)",
    ),
)


def options_for(role: Role) -> tuple[KernelOption, ...]:
    """The options ``role`` needs or would like, in table order."""
    return tuple(option for option in OPTIONS if role in option.roles)


def boot_modules(role: Role) -> tuple[str, ...]:
    """The modules to load at boot for ``role``: those of its required options that are
    marked ``load_at_boot``. Built-in ones are harmless (modprobe says "built in")."""
    return tuple(
        option.module
        for option in OPTIONS
        if role in option.required and option.load_at_boot and option.module
    )


def sysctls_for(role: Role) -> tuple[Sysctl, ...]:
    return tuple(entry for entry in SYSCTLS if role in entry.roles)
