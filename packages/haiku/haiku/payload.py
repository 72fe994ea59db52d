"""What a node gets from the configuration endpoint (schema: ``NodeConfig`` in the
OpenAPI document)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from haiku.core import render
from haiku.core.render import (
    MOBILE_NETWORK_FILE,
    Keying,
    NodeKind,
    mobile_network_text,
    node_config_text,
    node_swanctl_text,
)
from haiku.models import Node

MIP6D_CONF = "/etc/mip6d/mip6d.conf"
# Where swanctl(8) loads credentials and connections from (charon-systemd's
# strongswan.service runs `swanctl --load-all` at start).
SWANCTL_DIR = "/etc/swanctl"
SWANCTL_CONF = f"{SWANCTL_DIR}/conf.d/haiku-mip6.conf"


@lru_cache(maxsize=4)
def _read(path: str, version: tuple[int, int, int]) -> str:
    return Path(path).read_text()


def _ca_pem() -> str:
    """The CA certificate, read again when the file is another (a replaced CA)."""
    path = Path(settings.HAIKU.secrets_dir) / "ca.pem"
    st = path.stat()
    return _read(str(path), (st.st_ino, st.st_mtime_ns, st.st_size))


def node_summary(node: Node, prefixes: list[str]) -> dict[str, Any]:
    return {
        "id": node.pk,
        "name": node.name,
        "kind": node.kind,
        "enabled": node.enabled,
        "home_address": node.home_address,
        "home_prefix_length": settings.HAIKU.home_prefix.prefixlen,
        "home_agent_address": str(settings.HAIKU.home_agent_address),
        "mobile_network_prefixes": prefixes,
        "keying": node.keying,
        "protect_all_traffic": node.protect_all_traffic,
        "interface": node.interface,
        "has_token": node.token_digest is not None,
    }


def node_config(node: Node, prefixes: list[str] | None = None) -> dict[str, Any]:
    """``prefixes``: the node's, when the caller has them already."""
    if prefixes is None:
        prefixes = [p.prefix for p in node.prefixes.all()]
    spec = node.spec(prefixes)
    conf = node_config_text(spec)
    files = [{"path": MIP6D_CONF, "mode": "0600", "content": conf}]
    keying: dict[str, Any] = {"method": node.keying}
    if spec.keying is Keying.STATIC:
        keying["static_keys"] = [
            {"direction": str(k.direction), "spi": k.spi, "reqid": k.reqid,
             "encryption": k.encryption, "key": k.key} for k in spec.keys]
    else:
        ca_pem = _ca_pem()
        swanctl = node_swanctl_text(spec)
        keying.update(certificate_pem=node.certificate_pem,
                      private_key_pem=node.private_key_pem, ca_certificate_pem=ca_pem,
                      swanctl_conf=swanctl)
        files += [
            {"path": f"{SWANCTL_DIR}/{render.SWANCTL_CERT}", "mode": "0644",
             "content": node.certificate_pem},
            {"path": f"{SWANCTL_DIR}/{render.SWANCTL_KEY}", "mode": "0600",
             "content": node.private_key_pem},
            {"path": f"{SWANCTL_DIR}/{render.SWANCTL_CA}", "mode": "0644", "content": ca_pem},
            {"path": SWANCTL_CONF, "mode": "0644", "content": swanctl},
        ]
    router = spec.kind is NodeKind.ROUTER
    if router:
        files.append({"path": MOBILE_NETWORK_FILE, "mode": "0644",
                      "content": mobile_network_text(spec)})
    sysctl = {"net.ipv6.conf.all.forwarding": "1"} if router else {}
    return {
        "node": node_summary(node, prefixes),
        "mip6d_conf": conf,
        "keying": keying,
        "files": files,
        "sysctl": sysctl,
        # The mobile network's link first; Debian's charon-systemd unit (loads
        # /etc/swanctl) before mip6d for IKEv2 nodes.
        "services": (["systemd-networkd"] if router else [])
        + (["mip6d"] if spec.keying is Keying.STATIC else ["strongswan", "mip6d"]),
    }
