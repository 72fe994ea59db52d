"""Homeguy's build tool (`python -m homeguy`).

The per-node slot's format is one module, homeguy_slot, in its own Debian package
(packages/homeguy-slot/, which the HAiku service depends on); the build tool uses it from
the tree, wherever the tool is started from.
"""

import sys
from pathlib import Path

_SLOT_MODULE_DIR = str(Path(__file__).resolve().parent.parent / "packages" / "homeguy-slot")
if _SLOT_MODULE_DIR not in sys.path:
    sys.path.append(_SLOT_MODULE_DIR)
