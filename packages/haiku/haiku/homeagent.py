"""The home agent side: one include file per node in the nodes directory, written
atomically, and a reload of mip6d through its control socket.

Files are named ``haiku-<node id>.conf``; :func:`sync_all` rewrites every active node's
file and removes the others of that name pattern (nothing else in the directory is
touched).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from haiku import control, files, swanctl
from haiku.core.render import include_text, node_config_text
from haiku.models import Node

__all__ = ["ReloadResult", "include_path", "node_files", "reload", "sync_all", "sync_node"]

_log = logging.getLogger("haiku.homeagent")
_NAME = re.compile(r"^haiku-(\d+)\.conf$")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    message: str


def node_files(node: Node) -> tuple[str, str]:
    """(home agent include file, node mip6d.conf) of a node in the database: the seam the
    lab test with the real home agent uses."""
    spec = node.spec()
    return include_text(spec), node_config_text(spec)


def include_path(node_id: int) -> Path:
    return Path(settings.HAIKU.nodes_dir) / f"haiku-{node_id}.conf"


def reload() -> ReloadResult:
    """Make the home agent take the nodes as they are: charon's connections for the
    certificate-keyed ones first (their SAs are negotiated on mip6d's policies), then
    mip6d."""
    ike = swanctl.sync()
    if not ike.ok:
        return ReloadResult(False, f"charon did not take the nodes' connections: {ike.message}")
    try:
        control.request(settings.HAIKU.control_socket, "reload",
                        timeout=settings.HAIKU.control_timeout)
    except control.ControlError as exc:
        _log.warning("mip6d reload failed: %s", exc)
        return ReloadResult(False, str(exc))
    return ReloadResult(True, "mip6d reloaded")


def _write(node: Node) -> bool:
    """Write or remove the node's file; whether anything changed."""
    path = include_path(node.pk)
    if node.active:
        text = include_text(node.spec())
        try:
            if path.read_text() == text:
                return False
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_atomic(path, text, mode=0o640)
        _log.info("wrote %s for node %s (%s)", path, node.pk, node.home_address)
        return True
    if files.remove(path):
        _log.info("removed %s (node %s inactive)", path, node.pk)
        return True
    return False


def sync_node(node: Node) -> ReloadResult:
    """Bring one node's file in line with the database, and reload mip6d."""
    _write(node)
    return reload()


def remove_node(node_id: int) -> ReloadResult:
    if files.remove(include_path(node_id)):
        _log.info("removed %s (node %s deleted)", include_path(node_id), node_id)
    return reload()


def sync_user(user_id: int) -> ReloadResult:
    for node in Node.objects.filter(owner_id=user_id).select_related("owner"):
        _write(node)
    return reload()


def sync_all(reload_daemon: bool = True) -> ReloadResult:
    directory = Path(settings.HAIKU.nodes_dir)
    directory.mkdir(parents=True, exist_ok=True)
    keep: set[int] = set()
    for node in Node.objects.select_related("owner").prefetch_related("prefixes"):
        _write(node)
        keep.add(node.pk)
    for path in directory.iterdir():
        match = _NAME.match(path.name)
        if match and int(match.group(1)) not in keep:
            files.remove(path)
    return reload() if reload_daemon else ReloadResult(True, "not reloaded")
