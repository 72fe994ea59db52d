"""The outcome of a Homeguy node's boot-time enrollment: one small JSON file.

The live image's ``homeguy_enroll.py`` writes it (:func:`write`) when it starts, and
again when it has enrolled the node, decided not to, or failed; ``homeguy-status``
reads it (:func:`read`) to tell the person at the console what happened. This module
is that file's one definition::

    {"state": "enrolled", "at": 1764892800.0,
     "message": "enrolled with home address 2001:db8:1::1000 from https://haiku.example",
     "url": "https://haiku.example", "node": "laptop",
     "home_address": "2001:db8:1::1000", "home_agent": "2001:db8:1::1"}

Standard library only: the boot hook imports it too.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from mip6d import statefile

__all__ = ["DEFAULT_PATH", "EnrollmentState", "Outcome", "OutcomeError", "read", "write"]

DEFAULT_PATH = "/run/homeguy/enrollment.json"


class EnrollmentState(StrEnum):
    ENROLLING = "enrolling"
    ENROLLED = "enrolled"
    NOT_ENROLLING = "not-enrolling"
    FAILED = "failed"


class OutcomeError(ValueError):
    """The file is there but is not an outcome; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What enrollment did (``state``), in a sentence for people (``message``), when
    (``at``, epoch seconds), and what it learnt of the node."""

    state: EnrollmentState
    message: str
    at: float
    url: str | None = None
    node: str | None = None
    home_address: str | None = None
    home_agent: str | None = None

    @classmethod
    def now(cls, state: EnrollmentState, message: str, **details: str | None) -> Outcome:
        return cls(state, message, time.time(), **details)

    def line(self) -> str:
        """The one line a console shows: ``enrolled with home address ...``."""
        return self.message

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "state": str(self.state)}

    @classmethod
    def from_json(cls, value: object, where: str = "enrollment outcome") -> Outcome:
        if not isinstance(value, dict):
            raise OutcomeError(f"{where}: expected a JSON object")
        known = {f.name for f in fields(cls)}
        args = {k: v for k, v in value.items() if k in known}
        try:
            state = EnrollmentState(str(args.get("state")))
        except ValueError:
            states = ", ".join(s.value for s in EnrollmentState)
            raise OutcomeError(f"{where}: state {args.get('state')!r} is not one of "
                               f"{states}") from None
        if not isinstance(args.get("message"), str):
            raise OutcomeError(f"{where}: no message")
        at = args.get("at")
        if isinstance(at, bool) or not isinstance(at, int | float):
            raise OutcomeError(f"{where}: 'at' is not a time in seconds")
        for name in ("url", "node", "home_address", "home_agent"):
            if args.get(name) is not None and not isinstance(args[name], str):
                raise OutcomeError(f"{where}: {name} is not a string")
        return cls(**{**args, "state": state, "at": float(at)})


def write(path: str | os.PathLike[str], outcome: Outcome) -> None:
    """Write ``outcome`` to ``path`` (its directory created), atomically: a reader sees
    the old outcome or the new one, never half of one."""
    final = Path(path)
    final.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    text = json.dumps(outcome.to_json(), indent=2) + "\n"
    # No secrets in it (the token is not), so everyone may read it.
    statefile.write_atomic(final, text.encode(), mode=0o644)


def read(path: str | os.PathLike[str]) -> Outcome | None:
    """The outcome at ``path``; None when there is none (enrollment has not run);
    :class:`OutcomeError` when it cannot be read or is not an outcome."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutcomeError(f"{path}: {exc.strerror or exc}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise OutcomeError(f"{path}: not JSON ({exc})") from None
    return Outcome.from_json(value, str(path))
