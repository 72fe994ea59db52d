"""The manual page mip6-kernel-check(1), with the option, module and sysctl tables
inserted from :mod:`mip6_kernel_config.options`. Pure."""

from __future__ import annotations

from mip6_kernel_config import __version__, layout
from mip6_kernel_config.options import OPTIONS, ROLES, SYSCTLS, Role, boot_modules
from mip6_kernel_config.render import GENERATED


def _esc(text: str) -> str:
    """Escape for roff: backslashes, minus signs, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + text if text.startswith((".", "'")) else text


def _roles(roles: frozenset[Role]) -> str:
    return " ".join(role.value for role in ROLES if role in roles)


def manpage() -> str:
    data = str(layout.DATA_DIR)
    out = [
        f'.\\" {GENERATED}',
        f'.TH MIP6\\-KERNEL\\-CHECK 1 "" "mip6\\-kernel\\-config {__version__}" "Homeguy"',
        ".SH NAME",
        "mip6\\-kernel\\-check \\- check that a Linux kernel can run Mobile IPv6 and NEMO",
        ".SH SYNOPSIS",
        ".B mip6\\-kernel\\-check",
        ".RB [ \\-\\-role",
        ".IR ROLE ]",
        ".RB [ \\-\\-config",
        ".IR PATH ]",
        ".RB [ \\-\\-json ]",
        ".br",
        ".B mip6\\-kernel\\-check",
        ".RB ( \\-\\-enable | \\-\\-disable )",
        ".I ROLE",
        ".RB [ \\-\\-root",
        ".IR DIR ]",
        ".SH DESCRIPTION",
        ".B mip6\\-kernel\\-check",
        "reads the configuration of the running kernel (or of",
        ".IR PATH )",
        "and says, for each Mobile IPv6 role, which kernel options it lacks and what each",
        "one is for. A role cannot work when a",
        ".I required",
        "option is missing; a missing",
        ".I recommended",
        "option is reported and does not fail the check.",
        ".PP",
        "Without",
        ".BR \\-\\-config ,",
        "it reads the first of",
        ".IR /proc/config.gz ,",
        ".I /boot/config\\-RELEASE",
        "and",
        ".I /lib/modules/RELEASE/build/.config",
        "that exists, where RELEASE is the running kernel's release",
        "(\\fBuname \\-r\\fR). Files compressed with gzip or xz are read as they are.",
        ".SH OPTIONS",
        ".TP",
        ".BI \\-\\-role \" ROLE\"",
        "The role to check:",
        ".B ha",
        "(home agent),",
        ".B mn",
        "(mobile node),",
        ".B mr",
        "(mobile router, NEMO),",
        ".B cn",
        "(correspondent node, route optimisation) or",
        ".B all",
        "(the default).",
        ".TP",
        ".BI \\-\\-config \" PATH\"",
        "Check this kernel configuration file instead of the running kernel's.",
        ".TP",
        ".B \\-\\-json",
        "Print the verdict of every option of every role checked as JSON.",
        ".TP",
        ".BI \\-\\-enable \" ROLE\"",
        "Switch on the modules and sysctl settings of",
        ".I ROLE",
        "at boot: link",
        f".I {_esc(data)}/modules\\-load.d/mip6\\-ROLE.conf",
        "into",
        ".I /etc/modules\\-load.d",
        "and",
        f".I {_esc(data)}/sysctl.d/60\\-mip6\\-ROLE.conf",
        "into",
        ".IR /etc/sysctl.d .",
        "The role's package (for instance the home agent's) does the same with links of",
        "the same names in",
        ".I /usr/lib/modules\\-load.d",
        "and",
        ".IR /usr/lib/sysctl.d ;",
        "this option is for systems set up by hand.",
        ".TP",
        ".BI \\-\\-disable \" ROLE\"",
        "Remove the links that",
        ".B \\-\\-enable",
        "made. Files that are not such links are left alone.",
        ".TP",
        ".BI \\-\\-root \" DIR\"",
        "With",
        ".B \\-\\-enable",
        "or",
        ".BR \\-\\-disable :",
        "work on the system installed under",
        ".IR DIR .",
        ".SH KERNEL OPTIONS",
        "Options of Linux 6.1, the roles that require (R) or recommend (r) them, and",
        "whether a module (=m) is acceptable:",
    ]
    for option in OPTIONS:
        marks = []
        if option.required:
            marks.append(f"R: {_roles(option.required)}")
        if option.recommended:
            marks.append(f"r: {_roles(option.recommended)}")
        marks.append("=m ok" if option.module_ok else "=y only")
        out += [".TP", f".B {_esc(option.symbol)}", f"{_esc(option.purpose)} ({'; '.join(marks)})."]
    out += [
        ".SH MODULES AND SYSCTL SETTINGS",
        "Modules loaded at boot, per role:",
    ]
    for role in ROLES:
        out += [".TP", f".B {role.value}", _esc(" ".join(boot_modules(role))) + "."]
    out += [".PP", "Sysctl settings:"]
    for entry in SYSCTLS:
        out += [
            ".TP",
            f".B {_esc(entry.key)} = {_esc(entry.value)}",
            f"({_roles(entry.roles)}) {_esc(entry.purpose)}.",
        ]
    out += [
        ".PP",
        "A key with",
        ".B *",
        "applies to every interface, including those that appear later; an explicit key",
        "for one interface in a file of",
        ".I /etc/sysctl.d",
        "takes that interface out of it, as in",
        ".BR \"net.ipv6.conf.eth1.accept_ra = 0\" .",
        ".SH BUILDING A KERNEL",
        "The fragments in",
        f".I {_esc(data)}/fragments",
        "hold the options of one role",
        ".RI ( mip6\\-ROLE.config )",
        "or of all of them",
        ".RI ( mip6\\-all.config ).",
        "To merge one into the configuration of an unpacked kernel source tree",
        "(Debian's is in the package",
        ".BR linux\\-source\\-6.1 )",
        "and let Kconfig settle the dependencies:",
        ".PP",
        ".nf",
        ".RS",
        "cp /boot/config\\-$(uname \\-r) .config",
        "scripts/kconfig/merge_config.sh \\-m \\-y .config \\e",
        f"  {_esc(data)}/fragments/mip6\\-all.config",
        "make olddefconfig",
        "mip6\\-kernel\\-check \\-\\-config .config",
        ".RE",
        ".fi",
        ".PP",
        ".B \\-y",
        "keeps options that are built in as built in.",
        ".SH EXIT STATUS",
        ".TP",
        ".B 0",
        "Every role checked can work (recommended options may be missing).",
        ".TP",
        ".B 1",
        "At least one role checked lacks a required option.",
        ".TP",
        ".B 2",
        "No configuration found or readable, a file that is not a kernel configuration,",
        "a usage error, or",
        ".BR \\-\\-enable / \\-\\-disable",
        "could not do its work.",
        ".SH FILES",
        ".TP",
        f".I {_esc(data)}/fragments/",
        "Kernel configuration fragments, per role.",
        ".TP",
        f".I {_esc(data)}/modules\\-load.d/",
        "modules\\-load.d(5) files, per role, not active until linked.",
        ".TP",
        f".I {_esc(data)}/sysctl.d/",
        "sysctl.d(5) files, per role, not active until linked.",
        ".SH EXAMPLES",
        "Check the running kernel for a mobile router:",
        ".PP",
        ".RS",
        ".B mip6\\-kernel\\-check \\-\\-role mr",
        ".RE",
        ".SH SEE ALSO",
        ".BR modules\\-load.d (5),",
        ".BR sysctl.d (5),",
        ".BR systemd\\-sysctl (8),",
        ".BR ip\\-xfrm (8)",
    ]
    return "\n".join(out) + "\n"
