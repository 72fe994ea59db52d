"""The screen a person at a Homeguy node looks at: its first virtual terminal, and the
login banner agetty shows there.

Boot-time enrollment (the live image's ``homeguy_enroll.py``) and ``homeguy-status
--announce`` say there, in a line or two, what happened; their full output goes to the
journal and ``/dev/console``. Standard library only: the boot hook imports it too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["CONSOLES", "SCREEN", "console_is_the_screen", "show", "write_banner"]

SCREEN = Path("/dev/tty1")
CONSOLES = Path("/sys/class/tty/console/active")
"""The kernel's consoles, the last one being ``/dev/console``'s (Linux's sysfs ABI)."""


def console_is_the_screen(consoles: Path | None = None) -> bool:
    """True when ``/dev/console`` is a virtual terminal (``tty0``, ``tty1``...): a machine
    without a serial console, where what a service prints to the console is on the screen
    already and writing it there again would show it twice."""
    try:
        active = (consoles or CONSOLES).read_text().split()
    except OSError:
        return False
    return bool(active) and re.fullmatch(r"tty\d+", active[-1]) is not None


def show(text: str, screen: Path = SCREEN) -> None:
    """Write ``text`` to the screen when there is one (not in a container); never fails:
    no screen is no reason to stop."""
    if not screen.exists():
        return
    try:
        with screen.open("a") as tty:  # a terminal, or a plain file in tests
            tty.write(text.replace("\n", "\r\n"))  # the tty may be in raw mode
    except OSError:
        pass


def write_banner(path: Path, text: str) -> str | None:
    """Replace the login banner's part at ``path`` (an ``/etc/issue.d`` file) with
    ``text``, whole (a temporary file renamed); the error's text when it could not."""
    # agetty expands backslash escapes in issue files: the text's own are doubled.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(text.replace("\\", "\\\\"))
        os.replace(temp, path)
    except OSError as error:
        return f"cannot write {path}: {error}"
    return None
