"""The home agent's strongSwan side: what charon on the home agent needs to answer the
certificate-keyed nodes (RFC 4877), written by the service like mip6d's include files.

In ``HAIKU_SWANCTL_DIR`` (swanctl's directory, /etc/swanctl) the service keeps:

- ``x509ca/haiku-ca.pem``: its CA, the only one the nodes' connections trust;
- ``x509/haiku-ha.pem`` and ``private/haiku-ha.pem``: the home agent's own certificate
  (its address as identity), issued once by that CA and kept in the secrets directory;
- ``conf.d/haiku-<node id>.conf``: one connection per active certificate-keyed node
  (:func:`haiku.core.render.ha_swanctl_text`); stale ``haiku-*.conf`` files are removed,
  nothing else in the directory is touched.

Files are written atomically and only when their content changed; when something did,
``HAIKU_SWANCTL_RELOAD`` (``swanctl --load-all --noprompt``) makes charon load them.
Without a swanctl directory (no strongSwan on this machine) nothing is written.
"""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from haiku import ca, files
from haiku.core.render import Keying, ha_swanctl_text
from haiku.models import Node

__all__ = ["SwanctlResult", "conn_path", "sync"]

_log = logging.getLogger("haiku.swanctl")
_CONN = re.compile(r"^haiku-(\d+)\.conf$")
CA_FILE, HA_FILE = "haiku-ca.pem", "haiku-ha.pem"


@dataclass(frozen=True)
class SwanctlResult:
    ok: bool
    message: str


def conn_path(directory: Path, node_id: int) -> Path:
    return directory / "conf.d" / f"haiku-{node_id}.conf"


def _put(path: Path, text: str, mode: int) -> bool:
    """Write ``text`` to ``path`` unless it holds it already; whether it changed."""
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(path, text, mode=mode)
    return True


def desired(directory: Path) -> dict[Path, tuple[str, int]]:
    """Every file the home agent's charon should have from the service: path -> (text,
    mode)."""
    authority = ca.load_or_create(settings.HAIKU.secrets_dir)
    home_agent = ca.home_agent_certificate(settings.HAIKU.secrets_dir, authority,
                                           str(settings.HAIKU.home_agent_address))
    wanted = {
        directory / "x509ca" / CA_FILE: (authority.certificate_pem, 0o644),
        directory / "x509" / HA_FILE: (home_agent.certificate_pem, 0o644),
        directory / "private" / HA_FILE: (home_agent.private_key_pem, 0o600),
    }
    nodes = Node.objects.filter(keying=Keying.CERTIFICATE.value).select_related("owner")
    for node in nodes.prefetch_related("prefixes"):
        if node.active:
            wanted[conn_path(directory, node.pk)] = (
                ha_swanctl_text(node.spec(), HA_FILE, CA_FILE), 0o640)
    return wanted


def sync() -> SwanctlResult:
    """Bring the swanctl directory in line with the database; reload charon on change."""
    if not settings.HAIKU.swanctl_dir:
        return SwanctlResult(True, "no swanctl directory configured")
    directory = Path(settings.HAIKU.swanctl_dir)
    if not directory.is_dir():
        return SwanctlResult(True, f"{directory} does not exist: strongSwan is not installed "
                                   "here, certificate-keyed nodes cannot register")
    wanted = desired(directory)
    changed = [path for path, (text, mode) in wanted.items() if _put(path, text, mode)]
    conf_d = directory / "conf.d"
    for path in sorted(conf_d.iterdir()) if conf_d.is_dir() else ():
        if _CONN.match(path.name) and path not in wanted and files.remove(path):
            changed.append(path)
    if not changed:
        return SwanctlResult(True, "charon's files unchanged")
    _log.info("wrote %s", ", ".join(str(p.relative_to(directory)) for p in changed))
    return _reload()


def _reload() -> SwanctlResult:
    argv = settings.HAIKU.swanctl_reload
    if not argv:
        return SwanctlResult(True, "charon's files written (no reload command)")
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False,
                                timeout=settings.HAIKU.control_timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _log.warning("%s failed: %s", " ".join(argv), exc)
        return SwanctlResult(False, f"{' '.join(argv)}: {exc}")
    if result.returncode != 0:
        why = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        _log.warning("%s exited %s: %s", " ".join(argv), result.returncode, why[0])
        return SwanctlResult(False, f"{' '.join(argv)} exited {result.returncode}: {why[0]}")
    return SwanctlResult(True, "charon reloaded")
