"""Evaluate a kernel configuration against the option table, per role. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from mip6_kernel_config.kconfig import NOT_SET, KernelConfig
from mip6_kernel_config.options import KernelOption, Level, Role, options_for


@dataclass(frozen=True)
class Finding:
    """One option of one role: what the configuration has and whether that is enough."""

    option: KernelOption
    level: Level
    found: str | None
    """The value in the configuration, ``n`` for "is not set", ``None`` when absent."""

    @property
    def ok(self) -> bool:
        return self.found in self.option.accepted

    @property
    def problem(self) -> str:
        """What is wrong, as the end of a sentence about the option ('' when ok)."""
        if self.ok:
            return ""
        if self.found is None:
            return "is absent (what it depends on is off, or this kernel lacks it)"
        if self.found == NOT_SET:
            return "is not set"
        if self.found == "m":
            return "is m, must be built in (y)"
        return f"is {self.found}, expected {' or '.join(self.option.accepted)}"


@dataclass(frozen=True)
class RoleReport:
    """The verdict for one role."""

    role: Role
    findings: tuple[Finding, ...]

    def missing(self, level: Level) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is level and not f.ok)

    def count(self, level: Level) -> int:
        return sum(1 for f in self.findings if f.level is level)

    @property
    def ok(self) -> bool:
        """The role can work: every required option is there."""
        return not self.missing(Level.REQUIRED)


def evaluate_role(config: KernelConfig, role: Role) -> RoleReport:
    findings = []
    for option in options_for(role):
        level = option.level(role)
        assert level is not None  # options_for() returns only the role's options
        findings.append(Finding(option, level, config.get(option.name)))
    return RoleReport(role, tuple(findings))


def evaluate(config: KernelConfig, roles: tuple[Role, ...]) -> tuple[RoleReport, ...]:
    return tuple(evaluate_role(config, role) for role in roles)
