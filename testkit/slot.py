"""The slot format's shared test vectors (packages/homeguy-slot/vectors/): the golden bytes
that the writers, `homeguy_slot.parse_slot` and the boot-time reader are tested against."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

VECTORS = Path(__file__).resolve().parent.parent / "packages" / "homeguy-slot" / "vectors"


@dataclass(frozen=True)
class Vector:
    file: str
    about: str
    url: str | None
    token: str | None
    timeout: int | None
    size: int
    values: dict[str, str]  # what the slot holds, as parse_slot reads it
    tls_fingerprint: str | None = None
    allow_http: bool | None = None

    @property
    def data(self) -> bytes:
        return (VECTORS / self.file).read_bytes()


def vectors() -> list[Vector]:
    return [Vector(**item) for item in json.loads((VECTORS / "vectors.json").read_text())]
