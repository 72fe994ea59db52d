"""The kernel side of Mobile IPv6 for Homeguy: which Linux options, modules and sysctl
settings each role (home agent, mobile node, mobile router, correspondent node) needs,
and ``mip6-kernel-check``, which checks a kernel configuration against them.

Standard library only: the checker runs on minimal systems with Debian's python3.
"""

__version__ = "0.1.0"
