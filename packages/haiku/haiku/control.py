"""A client of mip6d's control socket: one JSON request line, one response line
(``{"command": "reload"}`` -> ``{"ok": ..., "result"/"error": ...}``).

A mip6d that accepts but does not answer within the timeout is not asked again for QUIET
seconds (in this process): requests fail at once, saying so, instead of each waiting the
whole timeout (a hung home agent would otherwise hold every page that asks it).
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

__all__ = ["QUIET", "ControlError", "forget", "request"]

TIMEOUT = 5.0
MAX_RESPONSE = 16 * 1024 * 1024
QUIET = 30.0
_silent: dict[str, float] = {}  # socket path -> when it last did not answer (monotonic)


def forget() -> None:
    """Ask every socket again at the next request."""
    _silent.clear()


class ControlError(RuntimeError):
    """mip6d could not be asked, or said no; the message says which socket and why."""


def request(path: str, command: str, timeout: float = TIMEOUT, **arguments: Any) -> Any:
    """The ``result`` of one command; :class:`ControlError` otherwise."""
    line = json.dumps({"command": command, **arguments}).encode() + b"\n"
    since = _silent.get(path)
    if since is not None and time.monotonic() - since < QUIET:
        ago = time.monotonic() - since
        raise ControlError(f"mip6d at {path} did not answer a request {ago:.0f} s ago "
                           f"and is not asked again for {QUIET - ago:.0f} s; if it hangs, "
                           "restart mip6d")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(line)
            buf = bytearray()
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if len(buf) > MAX_RESPONSE:
                    raise ControlError(f"mip6d at {path}: response over {MAX_RESPONSE} bytes")
    except TimeoutError:
        _silent[path] = time.monotonic()
        raise ControlError(f"mip6d at {path} did not answer {command!r} within {timeout:g} s "
                           "(HAIKU_CONTROL_TIMEOUT)") from None
    except OSError as exc:
        raise ControlError(f"cannot reach mip6d at {path}: "
                           f"{exc.strerror or exc}; is mip6d running?") from None
    _silent.pop(path, None)
    try:
        response = json.loads(buf.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControlError(f"mip6d at {path} answered {bytes(buf[:200])!r}, not JSON") from None
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise ControlError(f"mip6d at {path} answered {response!r}, not a response")
    if not response["ok"]:
        raise ControlError(f"mip6d {command}: {response.get('error')}")
    return response.get("result")
