"""A client of mip6d's control socket: one JSON request line, one response line
(``{"command": "reload"}`` -> ``{"ok": ..., "result"/"error": ...}``)."""

from __future__ import annotations

import json
import socket
from typing import Any

__all__ = ["ControlError", "request"]

TIMEOUT = 5.0
MAX_RESPONSE = 16 * 1024 * 1024


class ControlError(RuntimeError):
    """mip6d could not be asked, or said no; the message says which socket and why."""


def request(path: str, command: str, timeout: float = TIMEOUT, **arguments: Any) -> Any:
    """The ``result`` of one command; :class:`ControlError` otherwise."""
    line = json.dumps({"command": command, **arguments}).encode() + b"\n"
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
        raise ControlError(f"mip6d at {path} did not answer {command!r} within {timeout:g} s "
                           "(HAIKU_CONTROL_TIMEOUT)") from None
    except OSError as exc:
        raise ControlError(f"cannot reach mip6d at {path}: "
                           f"{exc.strerror or exc}; is mip6d running?") from None
    try:
        response = json.loads(buf.decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControlError(f"mip6d at {path} answered {bytes(buf[:200])!r}, not JSON") from None
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise ControlError(f"mip6d at {path} answered {response!r}, not a response")
    if not response["ok"]:
        raise ControlError(f"mip6d {command}: {response.get('error')}")
    return response.get("result")
