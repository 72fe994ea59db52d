"""``python3 -m mip6_kernel_config COMMAND``: check (the same as mip6-kernel-check),
generate (the files made from the tables), merge-into-source (a fragment into a kernel
source tree's configuration)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from mip6_kernel_config import cli, generate, merge

COMMANDS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "check": cli.main,
    "generate": generate.main,
    "merge-into-source": merge.main,
}


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python3 -m mip6_kernel_config {{{'|'.join(COMMANDS)}}} [ARGS...]",
              file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
