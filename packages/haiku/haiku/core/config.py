"""The service's settings: one table row per environment variable, driving the parser and
the documentation (``python3 -m haiku.core.config`` prints it). :func:`from_environ` gives
a frozen :class:`Settings` or raises :class:`SettingsError` naming the variable.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv6Address, IPv6Network
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = ["SETTINGS", "Setting", "Settings", "SettingsError", "database", "from_environ"]


class SettingsError(ValueError):
    pass


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected yes or no (1/0, true/false), got {text!r}")


def _int(text: str) -> int:
    return int(text, 0)


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value <= 3600:
        raise ValueError(f"expected seconds, more than 0 and at most 3600, got {text!r}")
    return value


def _lifetime(text: str) -> int:
    value = int(text, 0)
    if not 10 <= value <= 7 * 86400:
        raise ValueError(f"expected seconds, 10 to 604800 (a week), got {text!r}")
    return value


def _hsts(text: str) -> int:
    value = int(text, 0)
    if not 0 <= value <= 2 * 365 * 86400:
        raise ValueError(f"expected seconds, 0 (none) to 63072000 (two years), got {text!r}")
    return value


def _network(text: str) -> IPv6Network:
    return IPv6Network(text.strip(), strict=True)


def _address(text: str) -> IPv6Address:
    return IPv6Address(text.strip())


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _text(text: str) -> str:
    return text


def _fingerprint(text: str) -> str:
    digits = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if digits and not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise ValueError(f"expected a SHA-256 fingerprint (64 hexadecimal digits, colons "
                         f"allowed), got {text!r}")
    return digits


def _command(text: str) -> tuple[str, ...]:
    return tuple(shlex.split(text))


@dataclass(frozen=True)
class Setting:
    env: str
    field: str
    default: str
    parse: Callable[[str], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("HAIKU_STATE_DIR", "state_dir", "/var/lib/haiku", _text,
            "Where the SQLite database and the secrets (secret key, CA key) live."),
    Setting("HAIKU_SECRETS_DIR", "secrets_dir", "", _text,
            "Where the secret key and the CA live; empty means HAIKU_STATE_DIR."),
    Setting("HAIKU_DATABASE_URL", "database_url", "", _text,
            "sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/NAME; empty means "
            "SQLite in HAIKU_STATE_DIR/haiku.sqlite3."),
    Setting("HAIKU_DEBUG", "debug", "no", _bool, "Django's DEBUG (never in production)."),
    Setting("HAIKU_ALLOWED_HOSTS", "allowed_hosts", "localhost,127.0.0.1,[::1]", _list,
            "Host names the service answers to, comma-separated."),
    Setting("HAIKU_NODES_DIR", "nodes_dir", "/etc/mip6d/nodes.d", _text,
            "The home agent's per-node include directory (mip6d's include \"nodes.d/*.conf\")."),
    Setting("HAIKU_CONTROL_SOCKET", "control_socket", "/run/mip6d/control.sock", _text,
            "mip6d's control socket, for reload, bindings and counters."),
    Setting("HAIKU_CONTROL_TIMEOUT", "control_timeout", "5", _seconds,
            "Seconds to wait for mip6d's answer on its control socket; a reload answers "
            "once the nodes' IPsec states and policies are in the kernel."),
    Setting("HAIKU_HOME_PREFIX", "home_prefix", "2001:db8:1::/64", _network,
            "The home link prefix home addresses are allocated from."),
    Setting("HAIKU_HOME_AGENT_ADDRESS", "home_agent_address", "2001:db8:1::1", _address,
            "The home agent's address on the home link."),
    Setting("HAIKU_HOME_FIRST", "home_first", "0x1000", _int,
            "The offset in the home prefix of the first home address handed out."),
    Setting("HAIKU_HOME_POOL_SIZE", "home_pool_size", "65536", _int,
            "How many home addresses may be handed out."),
    Setting("HAIKU_MNP_POOL", "mnp_pool", "2001:db8:100::/48", _network,
            "The delegated pool mobile network prefixes come from; each mobile router's "
            "BindingAclPolicy lists its own."),
    Setting("HAIKU_MNP_LENGTH", "mnp_length", "64", _int,
            "The length of each mobile network prefix."),
    Setting("HAIKU_MNP_POOL_SIZE", "mnp_pool_size", "0", _int,
            "How many prefixes of the pool may be handed out; 0 means all."),
    Setting("HAIKU_EMAIL_CONFIRMATION", "email_confirmation", "no", _bool,
            "Whether new accounts must confirm their e-mail address before logging in."),
    Setting("HAIKU_OPERATOR_APPROVAL", "operator_approval", "no", _bool,
            "Whether an operator must approve new accounts before they can log in."),
    Setting("HAIKU_SMTP_HOST", "smtp_host", "localhost", _text, "The SMTP server."),
    Setting("HAIKU_SMTP_PORT", "smtp_port", "25", _int, "Its port."),
    Setting("HAIKU_SMTP_USER", "smtp_user", "", _text, "SMTP user name, if it wants one."),
    Setting("HAIKU_SMTP_PASSWORD", "smtp_password", "", _text, "SMTP password."),
    Setting("HAIKU_SMTP_STARTTLS", "smtp_starttls", "no", _bool, "Whether to use STARTTLS."),
    Setting("HAIKU_FROM_EMAIL", "from_email", "haiku@localhost", _text,
            "The sender of the service's e-mail."),
    Setting("HAIKU_BASE_URL", "base_url", "", _text,
            "The service's public URL, for links in e-mail and for the CRL distribution "
            "point in node certificates (BASE_URL/ca/crl; empty: taken from the request "
            "that creates the node)."),
    Setting("HAIKU_BASE_ISO", "base_iso", "", _text,
            "The base live image per-user ISOs are streamed from (built by `homeguy iso "
            "build`, with its .json next to it); empty: no ISO downloads (501)."),
    Setting("HAIKU_BASE_ISO_ROUTER", "base_iso_router", "", _text,
            "The base image of mobile routers' per-user ISOs (the mobile-router profile, "
            "which installs to disk); empty: HAIKU_BASE_ISO."),
    Setting("HAIKU_ENROLL_ALLOW_HTTP", "enroll_allow_http", "no", _bool,
            "Whether nodes may enroll over plain http:// (HAIKU_BASE_URL, or the URL the "
            "image was downloaded from): their images then say so explicitly, since the "
            "node token and keys cross the network in clear. Otherwise an image for an "
            "http:// URL is refused."),
    Setting("HAIKU_TLS_FINGERPRINT", "tls_fingerprint", "", _fingerprint,
            "The SHA-256 fingerprint of the service's TLS certificate (as `openssl x509 "
            "-noout -fingerprint -sha256` prints it), put in the nodes' images so that they "
            "trust that certificate rather than the system's CAs (a certificate of your "
            "own); empty: the CAs."),
    Setting("HAIKU_TLS_PROXY", "tls_proxy", "no", _bool,
            "Whether the service is reached only through a TLS reverse proxy on this "
            "machine that sets the headers of the documented nginx site "
            "(/usr/share/doc/haiku/examples/nginx-haiku.conf; haiku_setup writes one): then "
            "X-Forwarded-Proto and X-Forwarded-For are trusted, cookies are Secure and HSTS "
            "is sent. No: plain HTTP works (nothing is redirected) and the headers are "
            "ignored."),
    Setting("HAIKU_HSTS_SECONDS", "hsts_seconds", "31536000", _hsts,
            "With HAIKU_TLS_PROXY: how long browsers keep to HTTPS for this host "
            "(Strict-Transport-Security max-age, this host only); 0: no HSTS."),
    Setting("HAIKU_CRL_LIFETIME", "crl_lifetime", "3600", _lifetime,
            "Seconds a published CRL is valid (its nextUpdate): how long a home agent may "
            "keep using a CRL it fetched, so at most how late it learns of a revocation."),
    Setting("HAIKU_CRL_FILE", "crl_file", "", _text,
            "Where to also write the CRL (DER) whenever a certificate is revoked and at "
            "haiku_sync, e.g. /etc/swanctl/x509crl/haiku.crl for the home agent's charon "
            "(`swanctl --load-creds` loads it at once); empty: only served at /ca/crl."),
    Setting("HAIKU_SWANCTL_DIR", "swanctl_dir", "/etc/swanctl", _text,
            "The home agent's swanctl directory: the service writes its CA, the home "
            "agent's certificate and one connection per certificate-keyed node there "
            "(haiku-*.conf in conf.d/); empty, or a directory that does not exist (no "
            "strongSwan): nothing is written."),
    Setting("HAIKU_SWANCTL_RELOAD", "swanctl_reload", "swanctl --load-all --noprompt",
            _command, "The command that makes charon load what the service wrote there "
            "(run only when a file changed); empty: none."),
)


@dataclass(frozen=True)
class Settings:
    state_dir: str
    secrets_dir: str
    database_url: str
    debug: bool
    allowed_hosts: tuple[str, ...]
    nodes_dir: str
    control_socket: str
    control_timeout: float
    home_prefix: IPv6Network
    home_agent_address: IPv6Address
    home_first: int
    home_pool_size: int
    mnp_pool: IPv6Network
    mnp_length: int
    mnp_pool_size: int
    email_confirmation: bool
    operator_approval: bool
    smtp_host: str
    smtp_port: int
    smtp_user: str
    smtp_password: str
    smtp_starttls: bool
    from_email: str
    base_url: str
    base_iso: str
    base_iso_router: str
    enroll_allow_http: bool
    tls_fingerprint: str
    tls_proxy: bool
    hsts_seconds: int
    crl_lifetime: int
    crl_file: str
    swanctl_dir: str
    swanctl_reload: tuple[str, ...]


def from_environ(environ: Mapping[str, str]) -> Settings:
    values: dict[str, Any] = {}
    for row in SETTINGS:
        text = environ.get(row.env, row.default)
        try:
            values[row.field] = row.parse(text)
        except ValueError as exc:
            raise SettingsError(f"{row.env}={text!r}: {exc} ({row.help})") from None
    values["secrets_dir"] = values["secrets_dir"] or values["state_dir"]
    if values["mnp_pool_size"] == 0:
        values["mnp_pool_size"] = 1 << (values["mnp_length"] - values["mnp_pool"].prefixlen)
    if values["home_agent_address"] not in values["home_prefix"]:
        raise SettingsError(
            f"HAIKU_HOME_AGENT_ADDRESS={values['home_agent_address']} is not inside "
            f"HAIKU_HOME_PREFIX={values['home_prefix']}")
    if values["tls_proxy"] and values["base_url"].startswith("http://"):
        raise SettingsError(
            f"HAIKU_TLS_PROXY=yes with HAIKU_BASE_URL={values['base_url']}: behind the TLS "
            "proxy the service's public URL is https://")
    return Settings(**values)


# Django's SQLite backend with write-ahead logging and BEGIN IMMEDIATE (haiku/sqlite3/).
SQLITE = "haiku.sqlite3"


def database(url: str, state_dir: str) -> dict[str, Any]:
    """Django's DATABASES["default"] for a database URL (empty: SQLite in state_dir)."""
    if not url:
        return {"ENGINE": SQLITE, "NAME": f"{state_dir}/haiku.sqlite3"}
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if not path:
            raise SettingsError(f"HAIKU_DATABASE_URL={url!r}: expected sqlite:///ABSOLUTE/PATH")
        return {"ENGINE": SQLITE, "NAME": path}
    if parts.scheme in ("postgres", "postgresql"):
        options = dict(parse_qsl(parts.query))
        host = unquote(parts.hostname or "") if parts.hostname else options.pop("host", "")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": host,
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
        }
    raise SettingsError(
        f"HAIKU_DATABASE_URL: unsupported scheme {parts.scheme!r}; expected sqlite:///PATH "
        "or postgresql://USER:PASSWORD@HOST:PORT/NAME")


def reference() -> str:
    """The settings as text, for the documentation."""
    return "\n".join(f"{r.env} (default {r.default!r})\n    {r.help}" for r in SETTINGS)


_FIELDS = {f.name for f in dataclasses.fields(Settings)}
assert {r.field for r in SETTINGS} == _FIELDS, "SETTINGS and Settings disagree"

if __name__ == "__main__":
    print(reference())
