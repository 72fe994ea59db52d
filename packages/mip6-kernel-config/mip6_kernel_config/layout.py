"""Where the generated files live: in this source folder, on an installed system, and the
links that activate a role. Paths relative to the data folder are the same in both."""

from __future__ import annotations

from pathlib import PurePosixPath

from mip6_kernel_config.options import Role

DATA_DIR = PurePosixPath("/usr/share/mip6-kernel-config")
"""The installed data folder (the package's files, and the Python code of the checker)."""

FRAGMENTS = PurePosixPath("fragments")
MODULES_LOAD = PurePosixPath("modules-load.d")
SYSCTL = PurePosixPath("sysctl.d")


def fragment(role: Role | None) -> PurePosixPath:
    """The fragment of ``role``; ``None`` for the union of all roles."""
    return FRAGMENTS / f"mip6-{role.value if role else 'all'}.config"


def modules_load(role: Role) -> PurePosixPath:
    return MODULES_LOAD / f"mip6-{role.value}.conf"


def sysctl(role: Role) -> PurePosixPath:
    # 60-: after systemd's 50-default.conf, before the administrator's 99-sysctl.conf.
    return SYSCTL / f"60-mip6-{role.value}.conf"


def activation_links(role: Role) -> tuple[tuple[PurePosixPath, PurePosixPath], ...]:
    """(link, target) pairs that switch ``role`` on: systemd-modules-load and
    systemd-sysctl read ``/etc/modules-load.d`` and ``/etc/sysctl.d`` at boot."""
    return (
        (PurePosixPath("/etc") / modules_load(role), DATA_DIR / modules_load(role)),
        (PurePosixPath("/etc") / sysctl(role), DATA_DIR / sysctl(role)),
    )
