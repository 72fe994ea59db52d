"""A home agent node from one command (``haiku-manage haiku_setup``): the files that make a
fresh machine with the home-agent role a home agent with this service in front of it.

Pure: :func:`plan` checks the operator's answers and returns every file's path, mode and
text; the management command writes them (temporary name, then rename) and restarts the
services. What each file is for:

- the home link's systemd-networkd file: the home agent's static address, no router
  advertisements taken (it sends them), an optional default route;
- radvd's configuration: the home prefix with the Home Agent flag and a Home Agent
  Information option (RFC 6275 7.4, 7.5), the intervals mobile nodes need to notice
  coming home quickly;
- mip6d's configuration as home agent, including the service's ``nodes.d/`` files;
- nginx in front of the service: TLS on the public address, the service on the loopback;
- the service's settings (the keys below, merged into /etc/default/haiku).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Interface, IPv6Network, ip_address
from urllib.parse import urlsplit

from haiku.core.web import PROXY_HEADERS

__all__ = ["HomeAgentSetup", "SetupError", "SetupFile", "merge_env", "plan"]

NETWORK_FILE = "/etc/systemd/network/10-homeguy-home-link.network"
RADVD_CONF = "/etc/radvd.conf"
MIP6D_CONF = "/etc/mip6d/mip6d.conf"
NGINX_SITE = "/etc/nginx/sites-enabled/haiku"
NGINX_DEFAULT_SITE = "/etc/nginx/sites-enabled/default"  # removed: it would take port 80
TLS_DIR = "/etc/haiku/tls"
TLS_CERT, TLS_KEY = f"{TLS_DIR}/haiku.pem", f"{TLS_DIR}/haiku.key"
DEFAULTS_FILE = "/etc/default/haiku"
SERVICE_GROUP = "haiku"  # the service's user and group (the package's postinst makes them)
# What the command restarts, in this order: the link first, the service last.
SERVICES = ("systemd-networkd", "radvd", "mip6d", "strongswan", "haiku", "nginx")
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")


class SetupError(ValueError):
    """An answer that cannot make a home agent; the message says which and why."""


@dataclass(frozen=True)
class SetupFile:
    path: str
    mode: int
    text: str
    group: str = ""  # given this group (when it exists), else root's


@dataclass(frozen=True)
class HomeAgentSetup:
    interface: str  # the home link
    address: IPv6Interface  # the home agent's address, with the home prefix's length
    mnp_pool: IPv6Network  # mobile network prefixes are delegated from here
    url: str  # the service's public https:// URL, written into the nodes' images
    gateway: IPv6Address | None = None  # the home link's router to the rest of the network
    base_iso: str = ""  # per-user images: the mobile-host base and the mobile-router base
    base_iso_router: str = ""

    @property
    def home_prefix(self) -> IPv6Network:
        return self.address.network

    @property
    def host(self) -> str:
        """The URL's host, without brackets: what nginx and Django must answer to."""
        return urlsplit(self.url).hostname or ""


def check(setup: HomeAgentSetup) -> None:
    """Raise :class:`SetupError` for an answer that cannot work, naming the option."""
    if not _IFNAME.fullmatch(setup.interface):
        raise SetupError(f"--interface {setup.interface!r}: not an interface name (up to "
                         "15 letters, digits, '.', '_' or '-')")
    if setup.home_prefix.prefixlen != 64:
        raise SetupError(f"--address {setup.address}: the home prefix must be a /64 "
                         "(stateless autoconfiguration on the home link, RFC 4862)")
    if setup.address.ip in (setup.home_prefix.network_address,):
        raise SetupError(f"--address {setup.address}: the subnet-router anycast address "
                         "cannot be the home agent's address")
    if setup.mnp_pool.prefixlen > 64 or setup.mnp_pool.overlaps(setup.home_prefix):
        raise SetupError(f"--mnp-pool {setup.mnp_pool}: must be /64 or shorter and apart "
                         f"from the home prefix {setup.home_prefix}")
    if setup.gateway is not None and setup.gateway not in setup.home_prefix \
            and not setup.gateway.is_link_local:
        raise SetupError(f"--gateway {setup.gateway}: not on the home link "
                         f"({setup.home_prefix}) nor link-local")
    parts = urlsplit(setup.url)
    if parts.scheme != "https" or not parts.hostname:
        raise SetupError(f"--url {setup.url!r}: the service's public address, https://HOST"
                         "[:PORT]/ (nodes fetch their keys from it)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SetupError(f"--url {setup.url!r}: the service is served at the root of its "
                         "host; give no path")


def _network_file(setup: HomeAgentSetup) -> str:
    route = f"\n[Route]\nGateway={setup.gateway}\n" if setup.gateway else ""
    return (
        "# Written by haiku-manage haiku_setup: the home link of this home agent.\n"
        f"[Match]\nName={setup.interface}\n\n"
        f"[Network]\nAddress={setup.address}\n"
        # radvd advertises the home prefix here; this node takes none.
        "IPv6AcceptRA=no\n"
        "LinkLocalAddressing=ipv6\n"
        "ConfigureWithoutCarrier=yes\n"
        + route
    )


def _radvd_conf(setup: HomeAgentSetup) -> str:
    return (
        "# Written by haiku-manage haiku_setup: the home link's advertisements, with the\n"
        "# Home Agent flag and information (RFC 6275 7.4, 7.5) and the short intervals\n"
        "# that let mobile nodes notice quickly that they are home.\n"
        f"interface {setup.interface} {{\n"
        "    AdvSendAdvert on;\n"
        "    MinRtrAdvInterval 1;\n"
        "    MaxRtrAdvInterval 3;\n"
        "    AdvIntervalOpt on;\n"
        "    AdvHomeAgentFlag on;\n"
        "    AdvHomeAgentInfo on;\n"
        "    HomeAgentLifetime 1800;\n"
        "    HomeAgentPreference 10;\n"
        f"    prefix {setup.home_prefix} {{\n"
        "        AdvOnLink on;\n"
        "        AdvAutonomous on;\n"
        "        AdvRouterAddr on;\n"
        "    };\n"
        "};\n"
    )


def _mip6d_conf(setup: HomeAgentSetup) -> str:
    return (
        "# Written by haiku-manage haiku_setup: this node is the home agent of\n"
        f"# {setup.home_prefix} on {setup.interface}; HAiku writes one file per node into\n"
        "# nodes.d/ and reloads. See mip6d.conf(5).\n"
        "NodeConfig HA;\n"
        "DebugLevel 0;\n"
        f'Interface "{setup.interface}";\n'
        "DefaultBindingAclPolicy deny;\n"
        "HaMaxBindingLife 3600;\n"
        "HaAcceptMobRtr enabled;\n"
        # No HaServedPrefix: every router's file lists its own prefixes, and with one a
        # mobile host (whose file lists none) could claim a prefix of the pool.
        "UseMnHaIPsec enabled;\n"
        # Keying is per node file: a statically keyed node's set carries its StaticKeys
        # (mip6d installs them), a certificate-keyed node's has none and charon keys it
        # (IKEv2, the connections in /etc/swanctl/conf.d/haiku-*.conf); both at once.
        "KeyMngMobCapability enabled;\n"
        'ControlSocket "/run/mip6d/control.sock";\n'
        'StateFile "/var/lib/mip6d/bindings.json";\n'
        'MetricsListen "[::1]:9516";\n'
        'include "nodes.d/*.conf";\n'
    )


def _nginx_site(setup: HomeAgentSetup) -> str:
    port = urlsplit(setup.url).port or 443
    return (
        "# Written by haiku-manage haiku_setup: TLS in front of HAiku (gunicorn on the\n"
        "# loopback). Per-user images stream through unbuffered.\n"
        "server {\n"
        f"    listen [::]:{port} ssl default_server;\n"
        f"    listen {port} ssl default_server;\n"
        "    server_name _;\n"
        f"    ssl_certificate {TLS_CERT};\n"
        f"    ssl_certificate_key {TLS_KEY};\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    client_max_body_size 1m;\n"
        "    location / {\n"
        "        proxy_pass http://127.0.0.1:8080;\n"
        + "".join(f"        proxy_set_header {header} {value};\n"
                  for header, value in PROXY_HEADERS.items()) +
        "        proxy_buffering off;\n"
        "        proxy_read_timeout 300s;\n"
        "    }\n"
        "}\n"
    )


def service_settings(setup: HomeAgentSetup, tls_fingerprint: str) -> dict[str, str]:
    """The keys of /etc/default/haiku this setup decides."""
    host = setup.host
    netloc = urlsplit(setup.url).netloc
    hosts = dict.fromkeys([netloc, f"[{host}]" if ":" in host else host,
                           "localhost", "127.0.0.1"])
    return {
        "HAIKU_HOME_PREFIX": str(setup.home_prefix),
        "HAIKU_HOME_AGENT_ADDRESS": str(setup.address.ip),
        "HAIKU_MNP_POOL": str(setup.mnp_pool),
        "HAIKU_BASE_URL": setup.url.rstrip("/"),
        "HAIKU_ALLOWED_HOSTS": ",".join(hosts),
        "HAIKU_TLS_FINGERPRINT": tls_fingerprint,
        # Only nginx reaches the service: its X-Forwarded-* trusted, Secure cookies, HSTS.
        "HAIKU_TLS_PROXY": "yes",
        "HAIKU_BASE_ISO": setup.base_iso,
        "HAIKU_BASE_ISO_ROUTER": setup.base_iso_router,
        # Node certificates name the service's CRL; charon fetches it through nginx.
        "HAIKU_CRL_FILE": "/etc/swanctl/x509crl/haiku.crl",
    }


def merge_env(text: str, values: Mapping[str, str]) -> str:
    """``text`` (an /etc/default file) with each key of ``values`` set: its line (or its
    commented-out example) replaced in place, new keys appended; other lines untouched."""
    pending = dict(values)
    out = []
    for line in text.splitlines():
        match = re.match(r"\s*#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match and match.group(1) in pending:
            key = match.group(1)
            out.append(f"{key}={_quote(pending.pop(key))}")
        else:
            out.append(line)
    out += [f"{key}={_quote(value)}" for key, value in pending.items()]
    return "\n".join(out) + "\n"


def _quote(value: str) -> str:
    """A value both systemd's EnvironmentFile= and sh(1) read back unchanged."""
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./\[\]-]*", value):
        return value
    if "'" in value or "\n" in value:
        raise SetupError(f"a setting cannot hold a quote or a line break: {value!r}")
    return f"'{value}'"


def plan(setup: HomeAgentSetup, defaults_text: str, tls_fingerprint: str
         ) -> list[SetupFile]:
    """Every file the setup writes, checked; ``defaults_text`` is the current
    /etc/default/haiku (kept, with this setup's keys set)."""
    check(setup)
    return [
        SetupFile(NETWORK_FILE, 0o644, _network_file(setup)),
        SetupFile(RADVD_CONF, 0o644, _radvd_conf(setup)),
        SetupFile(MIP6D_CONF, 0o644, _mip6d_conf(setup)),
        SetupFile(NGINX_SITE, 0o644, _nginx_site(setup)),
        # It may hold database passwords: root writes it, the service (group haiku) reads it.
        SetupFile(DEFAULTS_FILE, 0o640,
                  merge_env(defaults_text, service_settings(setup, tls_fingerprint)),
                  group=SERVICE_GROUP),
    ]


def parse_url_host(url: str) -> str:
    """The URL's host as the TLS certificate names it (an IP address or a DNS name)."""
    host = urlsplit(url).hostname or ""
    try:
        return str(ip_address(host))
    except ValueError:
        return host
