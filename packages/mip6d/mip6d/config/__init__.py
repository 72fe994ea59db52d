"""The configuration of mip6d: UMIP's mip6d.conf syntax, with Homeguy's extensions.

``load(path)`` reads a file and everything it includes; ``parse(text, path, loader)``
is the same without I/O. Both return a frozen :class:`Config` or raise
:class:`ConfigError`, whose ``str()`` is ``path:line:column: message``. The keywords are
declared once, in :data:`mip6d.config.schema.KEYWORDS`, which drives the parser and the
reference documentation (:mod:`mip6d.config.reference`).
"""

from mip6d.config.errors import ConfigError, ConfigWarning, Location
from mip6d.config.model import (
    ALGORITHMS,
    BA_ACCEPTED,
    BA_PROHIBITED,
    Algorithm,
    BindingAcl,
    CnBindingPolicy,
    Config,
    FlowBindingPolicy,
    HomeLink,
    Interface,
    IPsecPolicy,
    IPsecPolicySet,
    IPsecPolicyType,
    IPsecProtocol,
    KeyedAlgorithm,
    ListenAddress,
    NodeRole,
    RoPolicy,
    SaDirection,
    StaticKey,
)
from mip6d.config.parser import DEFAULT_CONFIG_PATH, Loader, filesystem_loader, load, parse

__all__ = [
    "ALGORITHMS",
    "BA_ACCEPTED",
    "BA_PROHIBITED",
    "DEFAULT_CONFIG_PATH",
    "Algorithm",
    "BindingAcl",
    "CnBindingPolicy",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "FlowBindingPolicy",
    "HomeLink",
    "IPsecPolicy",
    "IPsecPolicySet",
    "IPsecPolicyType",
    "IPsecProtocol",
    "Interface",
    "KeyedAlgorithm",
    "ListenAddress",
    "Loader",
    "Location",
    "NodeRole",
    "RoPolicy",
    "SaDirection",
    "StaticKey",
    "filesystem_loader",
    "load",
    "parse",
]
