"""Text out of the tables and the verdicts: the checker's report (text and JSON), the
configuration fragments, modules-load.d and sysctl.d files, and the option table as
Markdown. Pure: strings in, strings out."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

from mip6_kernel_config import layout
from mip6_kernel_config.evaluate import RoleReport
from mip6_kernel_config.kconfig import KernelConfig
from mip6_kernel_config.options import (
    OPTIONS,
    ROLES,
    SYSCTLS,
    KernelOption,
    Level,
    Role,
    boot_modules,
    options_for,
    sysctls_for,
)

GENERATED = "Generated from mip6_kernel_config/options.py: do not edit."
COMMENT_WIDTH = 100


def _comment(text: str) -> list[str]:
    """``text`` as ``#`` comment lines of at most COMMENT_WIDTH characters."""
    return [f"# {line}" for line in textwrap.wrap(text, COMMENT_WIDTH - 2)]


def _and(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# -- the checker's report -------------------------------------------------------------------


def _summary(report: RoleReport) -> str:
    """``ha (home agent): OK (...)`` or ``...: CANNOT WORK (...)``."""
    required = report.count(Level.REQUIRED)
    recommended = report.count(Level.RECOMMENDED)
    missing_req = len(report.missing(Level.REQUIRED))
    missing_rec = len(report.missing(Level.RECOMMENDED))
    head = f"{report.role.value} ({report.role.title}): "
    if missing_req:
        head += f"CANNOT WORK ({missing_req} of {_plural(required, 'required option')} missing"
    elif missing_rec or not recommended:
        head += f"OK (all {_plural(required, 'required option')} set"
    else:
        head += f"OK (all {required} required and {_plural(recommended, 'recommended option')} set"
    if missing_rec:
        head += f"; {missing_rec} of {recommended} recommended missing"
    return head + ")"


def report_text(
    source: str,
    config: KernelConfig,
    reports: Sequence[RoleReport],
    data_dir: PurePosixPath = layout.DATA_DIR,
) -> str:
    """The human report: a verdict per role, each missing option with what it is for,
    and what to do when a role cannot work."""
    title = f" ({config.title})" if config.title else ""
    lines = [f"Kernel configuration: {source}{title}", ""]
    for report in reports:
        lines.append(_summary(report))
        for level in Level:
            for finding in report.missing(level):
                lines.append(f"  {level.value:<12} {finding.option.symbol} {finding.problem}")
                lines.append(f"  {'':<12} for: {finding.option.purpose}")
    failed = [r.role for r in reports if not r.ok]
    passed = [r.role.value for r in reports if r.ok]
    lines.append("")
    if not failed:
        lines.append(f"Result: {_and(passed)} can work with this kernel.")
        return "\n".join(lines) + "\n"
    verdict = f"Result: {_and([r.value for r in failed])} cannot work with this kernel"
    lines.append(verdict + (f"; {_and(passed)} can." if passed else "."))
    fragment = data_dir / layout.fragment(failed[0] if len(failed) == 1 else None)
    lines += [
        "To fix: boot a kernel that has these options (Debian's stock kernel, package",
        "linux-image-amd64, has them all), or build one with the fragment",
        f"{fragment} merged into its configuration",
        "(see mip6-kernel-check(1)).",
    ]
    return "\n".join(lines) + "\n"


def report_json(source: str, config: KernelConfig, reports: Sequence[RoleReport]) -> str:
    """The machine report: every option of every role checked, with its verdict."""
    document = {
        "source": source,
        "kernel": config.title,
        "ok": all(r.ok for r in reports),
        "roles": [
            {
                "role": r.role.value,
                "title": r.role.title,
                "ok": r.ok,
                "options": [
                    {
                        "option": f.option.symbol,
                        "level": f.level.value,
                        "found": f.found,
                        "accepted": list(f.option.accepted),
                        "ok": f.ok,
                        "problem": f.problem or None,
                        "purpose": f.option.purpose,
                    }
                    for f in r.findings
                ],
            }
            for r in reports
        ],
    }
    return json.dumps(document, indent=2) + "\n"


# -- generated files ------------------------------------------------------------------------


def _role_names(roles: Iterable[Role]) -> str:
    return " ".join(role.value for role in ROLES if role in set(roles))


def fragment_text(role: Role | None) -> str:
    """The configuration fragment of ``role`` (``None``: every role), its required
    options first."""
    what = f"the {role.title} ({role.value})" if role else "every role (ha mn mr cn)"
    options = options_for(role) if role else OPTIONS

    def level(option: KernelOption) -> Level:
        if role:
            found = option.level(role)
            assert found is not None
            return found
        return Level.REQUIRED if option.required else Level.RECOMMENDED

    lines = [
        f"# Linux 6.1 kernel options for Mobile IPv6 and NEMO: {what}.",
        f"# {GENERATED}",
        "# Merge it with the kernel's scripts/kconfig/merge_config.sh -y (which never turns",
        "# =y into =m) and then `make olddefconfig`; =m may also be =y.",
    ]
    for wanted, heading in (
        (Level.REQUIRED, "Required: the role cannot work without these."),
        (Level.RECOMMENDED, "Recommended: features and interoperability."),
    ):
        chosen = [o for o in options if level(o) is wanted]
        if not chosen:
            continue
        lines += ["", f"# {heading}"]
        for option in chosen:
            note = "" if role else f" [{_roles_note(option)}]"
            lines += _comment(f"{option.purpose}{note}")
            lines.append(f"{option.symbol}={option.build}")
    return "\n".join(lines) + "\n"


def _roles_note(option: KernelOption) -> str:
    parts = []
    if option.required:
        parts.append(f"required: {_role_names(option.required)}")
    if option.recommended:
        parts.append(f"recommended: {_role_names(option.recommended)}")
    return "; ".join(parts)


def modules_load_text(role: Role) -> str:
    by_module = {o.module: o for o in OPTIONS if o.module}
    lines = [
        f"# Kernel modules of the Mobile IPv6 {role.title} ({role.value}), loaded at boot",
        "# by systemd-modules-load.service; built-in ones (=y) are reported as such.",
        f"# {GENERATED}",
    ]
    for module in boot_modules(role):
        lines += _comment(f"{by_module[module].symbol}: {by_module[module].purpose}")
        lines.append(module)
    return "\n".join(lines) + "\n"


def sysctl_text(role: Role) -> str:
    lines = [
        f"# sysctl settings of the Mobile IPv6 {role.title} ({role.value}), applied by",
        "# systemd-sysctl at boot and again for each network interface as it appears.",
        "# To change one, set it in a later-sorting file in /etc/sysctl.d (sysctl.d(5)).",
        f"# {GENERATED}",
    ]
    entries = sysctls_for(role)
    if not entries:
        lines.append(f"# The {role.title} needs no sysctl setting.")
    for entry in entries:
        lines += _comment(entry.purpose)
        lines.append(f"{entry.key} = {entry.value}")
    return "\n".join(lines) + "\n"


def options_markdown() -> str:
    """The option, sysctl and module tables as Markdown (``options.md``)."""
    lines = [
        "# Kernel options, modules and sysctls per role",
        "",
        f"<!-- {GENERATED} -->",
        "",
        "Roles: " + ", ".join(f"`{r.value}` {r.title}" for r in ROLES) + ".",
        "`=m ok`: the option may be built as a module; `fragment`: the value the fragments",
        "ask for; `boot`: the module is loaded at boot for the roles that require it.",
        "",
        "| option | required | recommended | =m ok | fragment | module | boot | for |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for o in OPTIONS:
        lines.append(
            f"| `{o.symbol}` | {_role_names(o.required)} | {_role_names(o.recommended)} "
            f"| {'yes' if o.module_ok else 'no'} | {o.build} | {o.module or ''} "
            f"| {'yes' if o.load_at_boot else ''} | {o.purpose} |"
        )
    lines += ["", "| sysctl | value | roles | for |", "| --- | --- | --- | --- |"]
    for entry in SYSCTLS:
        lines.append(
            f"| `{entry.key}` | {entry.value} | {_role_names(entry.roles)} | {entry.purpose} |"
        )
    lines += ["", "| role | modules loaded at boot |", "| --- | --- |"]
    for role in ROLES:
        lines.append(f"| {role.value} | {' '.join(boot_modules(role))} |")
    return "\n".join(lines) + "\n"
