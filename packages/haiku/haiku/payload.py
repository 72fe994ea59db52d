"""What a node gets from the configuration endpoint (schema: ``NodeConfig`` in the
OpenAPI document)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings

from haiku import ca
from haiku.core import render
from haiku.core.csr import KeyOrigin
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
# Where a node that makes its own key sends its certificate request (with its token).
CSR_PATH = "/api/v1/node/csr"


@lru_cache(maxsize=4)
def _read(path: str, version: tuple[int, int, int]) -> str:
    return Path(path).read_text()


def _ca_pem() -> str:
    """The CA certificate, read again when the file is another (a replaced CA); the CA
    made first if no node's certificate made it yet (a node that makes its own key is
    certified only once it asks)."""
    secrets_dir = str(settings.HAIKU.secrets_dir)
    path = Path(secrets_dir) / "ca.pem"
    if not path.exists():
        ca.load_or_create(secrets_dir)
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
        "key_origin": node.key_origin,
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
        keying.update(key_origin=node.key_origin, certificate_pem=node.certificate_pem,
                      ca_certificate_pem=ca_pem, swanctl_conf=swanctl)
        if node.certificate_pem:  # a node that makes its own key has none until it asks
            files.append({"path": f"{SWANCTL_DIR}/{render.SWANCTL_CERT}", "mode": "0644",
                          "content": node.certificate_pem})
        if node.key_origin == KeyOrigin.SERVICE.value:
            keying["private_key_pem"] = node.private_key_pem
            files.append({"path": f"{SWANCTL_DIR}/{render.SWANCTL_KEY}", "mode": "0600",
                          "content": node.private_key_pem})
        else:  # the node keeps its key there itself, and sends its request here
            keying.update(private_key_path=f"{SWANCTL_DIR}/{render.SWANCTL_KEY}",
                          csr_url=CSR_PATH)
        files += [
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
