"""homeguy-enroll: fetch this node's configuration from the HAiku service, start mip6d.

Runs at boot from homeguy-enroll.service (``--at-boot``), after the network is up. Its
settings come from /etc/homeguy/enroll.conf, which live-config's homeguy-enroll component
wrote from the kernel command line (``homeguy.url=... homeguy.token=...``) or from the
medium's per-node slot. A person enrolls a generic image by hand with ``sudo
homeguy-enroll [URL [TOKEN]] [--tls-fingerprint sha256:HEX] [--allow-http]``: what is not
given is asked for (the token without echo); the settings are checked and written to
enroll.conf as the boot would, and the same steps run in the terminal. It:

1. fetches ``GET <url>/api/v1/node/config`` with ``Authorization: Bearer <token>``,
   retrying with exponential backoff until a time limit; a node that makes its own key
   (``keying.key_origin`` node) keeps the key it has when the service's certificate
   certifies it, or makes a new one with strongSwan's ``pki --gen`` and sends its
   ``pki --req`` certificate request (``POST <url>/api/v1/node/csr``), whose answer is
   the configuration with the new certificate; the key goes to /etc/swanctl/private
   (0600) with the other files and never leaves the node;
2. validates the answer (schema ``NodeConfig`` of the service's OpenAPI document);
3. writes every file to a temporary file next to it, checks the mip6d configuration
   with ``mip6d --check``, and only then renames them into place: a failed check or a
   crash never leaves a half-written configuration;
4. applies the sysctls and starts the services (mip6d).

Every step is printed on the console, prefixed ``homeguy-enroll:``. Without settings,
or when the service cannot be reached in time, it says so and exits 0: the live system
boots to a usable session either way. The outcome (enrolling, enrolled, not enrolling,
failed: why, when) goes to /run/homeguy/enrollment.json (:mod:`mip6d.enrollment`, which
``homeguy-status`` reads), to the login banner (/etc/issue.d) and, in one line, to the
screen (/dev/tty1) as well as to the journal and serial console. Standard library,
python3-requests and python3-mip6d; strongSwan's pki (strongswan-pki, which the roles
install) for a node that makes its own key.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mip6d import screen
from mip6d.enrollment import EnrollmentState, Outcome
from mip6d.enrollment import write as write_outcome

CONF = Path(os.environ.get("HOMEGUY_ENROLL_CONF", "/etc/homeguy/enroll.conf"))
CONFIG_PATH = "/api/v1/node/config"
DEFAULT_TIMEOUT = 90.0
# Where the service may write files: mip6d's configuration, for IKEv2 nodes (certificate
# keying) swanctl's credentials and connection, for a mobile router its mobile network's
# systemd-networkd file; nothing else.
ALLOWED_DIRS = ("/etc/mip6d/", "/etc/swanctl/", "/etc/systemd/network/")
ALLOWED_SERVICES = frozenset({"mip6d", "radvd", "strongswan", "systemd-networkd"})
FIRST_DELAY, MAX_DELAY, REQUEST_TIMEOUT = 1.0, 15.0, 10.0
MIP6D = os.environ.get("HOMEGUY_MIP6D", "/usr/sbin/mip6d")
OUTCOME = Path(os.environ.get("HOMEGUY_ENROLLMENT", "/run/homeguy/enrollment.json"))
# The screen a person looks at (mip6d.screen), and the kernel's consoles (is it one?).
SCREEN = Path(os.environ.get("HOMEGUY_SCREEN", str(screen.SCREEN)))
CONSOLES = Path(os.environ.get("HOMEGUY_CONSOLES", str(screen.CONSOLES)))
STATUS_HINT = "run 'homeguy-status' for this node's mobility state"
# The service's last answer, kept for the next boot: on a stick with persistence (the boot
# menu's entry; /etc/homeguy is one of its directories) the node starts from it without
# asking the service again; without persistence it is gone at the next boot.
KEPT = Path(os.environ.get("HOMEGUY_KEPT", "/etc/homeguy/node-config.json"))
# The login banner's part that says what enrollment did (agetty reads /etc/issue.d/*.issue
# in order; 10-homeguy.issue, from the image, names it and its role).
ISSUE = Path(os.environ.get("HOMEGUY_ISSUE", "/etc/issue.d/20-homeguy-enrollment.issue"))


def say(message: str) -> None:
    print(f"homeguy-enroll: {message}", flush=True)


def report(state: EnrollmentState, message: str, on_screen: bool = True,
           **details: str | None) -> None:
    """Say ``message``, keep it as the enrollment's outcome, and show it on the screen
    (not ``on_screen`` when a person enrolls by hand: their terminal shows it)."""
    say(message)
    outcome = Outcome.now(state, message, **details)
    try:
        write_outcome(OUTCOME, outcome)
    except OSError as error:
        say(f"cannot write {OUTCOME}: {error}")
    write_banner(outcome)
    # The console has it already when it is the screen (no serial console).
    if on_screen and state is not EnrollmentState.ENROLLING \
            and not screen.console_is_the_screen(CONSOLES):
        screen.show(f"homeguy-enroll: {outcome.line()}\n"
                    f"homeguy-enroll: {STATUS_HINT}\n", SCREEN)


def write_banner(outcome: Outcome) -> None:
    """The login banner's line about enrollment (the person who logs in later sees it)."""
    when = time.strftime("%H:%M:%S %Z", time.localtime(outcome.at))
    error = screen.write_banner(ISSUE, f"Enrollment ({when}): {outcome.line()}\n\n")
    if error:
        say(error)


class EnrollError(Exception):
    """Enrollment cannot go on; the message says why, for a person at the console."""


class Permanent(EnrollError):
    """An answer that retrying will not change (a rejected token, a bad payload)."""


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    timeout: float = DEFAULT_TIMEOUT
    source: str = "unknown"
    install: str = ""
    # The SHA-256 of the service's TLS certificate (lowercase hex): trusted instead of the
    # system's certificate authorities (a service with its own certificate). "" = CAs.
    tls_fingerprint: str = ""
    # Plain http:// only when said explicitly: the token and the node's keys would cross
    # the network in clear.
    allow_http: bool = False


YES, NO = ("yes", "true", "1", "on"), ("no", "false", "0", "off", "")
FINGERPRINT = re.compile(r"(?:sha256:)?((?:[0-9a-f]{2}:?){31}[0-9a-f]{2})")


def parse_settings(text: str) -> Settings | None:
    """/etc/homeguy/enroll.conf (``key=value`` lines) -> Settings, or None when empty."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    url, token = values.get("url", ""), values.get("token", "")
    if not url and not token:
        return None
    if not url:
        raise Permanent("a node token was given but no service URL (homeguy.url=)")
    if not token:
        raise Permanent("a service URL was given but no node token (homeguy.token=)")
    if not url.startswith(("http://", "https://")):
        raise Permanent(f"the service URL {url!r} is not an http:// or https:// URL")
    allow_http = values.get("allow_http", "").lower()
    if allow_http not in YES + NO:
        raise Permanent(f"allow_http={values['allow_http']!r}: say yes or no")
    if url.startswith("http://") and allow_http not in YES:
        raise Permanent(f"the service URL {url} is plain http://: the node token and keys "
                        "would cross the network in clear. Use the service's https:// URL, "
                        "or allow http explicitly (homeguy.allow_http=yes on the kernel "
                        "command line)")
    fingerprint = values.get("tls_fingerprint", "").lower()
    pinned = FINGERPRINT.fullmatch(fingerprint)
    if fingerprint and not pinned:
        raise Permanent(f"tls_fingerprint={values['tls_fingerprint']!r} is not a SHA-256 "
                        "fingerprint (sha256: and 64 hexadecimal digits, colons allowed)")
    try:
        timeout = float(values.get("timeout") or DEFAULT_TIMEOUT)
    except ValueError:
        raise Permanent(f"homeguy.timeout={values['timeout']!r} is not a number of "
                        "seconds") from None
    return Settings(url.rstrip("/"), token, timeout, values.get("source", "unknown"),
                    values.get("install", ""),
                    pinned.group(1).replace(":", "") if pinned else "", allow_http in YES)


def backoff(first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> Iterator[float]:
    """1, 2, 4, 8, 15, 15, ... seconds."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, cap)


@dataclass(frozen=True)
class FileSpec:
    path: str
    mode: int
    content: str


@dataclass(frozen=True)
class Plan:
    node: Mapping[str, Any]
    files: tuple[FileSpec, ...]
    sysctl: tuple[tuple[str, str], ...]
    services: tuple[str, ...]
    mip6d_conf: str = field(default="/etc/mip6d/mip6d.conf")


def _need(mapping: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in mapping:
        raise Permanent(f"the service's answer has no {where}{key}")
    value = mapping[key]
    if not isinstance(value, kind):
        raise Permanent(f"the service's answer has {where}{key} of type "
                        f"{type(value).__name__}, expected {kind.__name__}")
    return value


def validate(payload: Any) -> Plan:
    """The service's JSON answer -> what to write and start; Permanent when malformed."""
    if not isinstance(payload, dict):
        raise Permanent("the service's answer is not a JSON object")
    node = _need(payload, "node", dict, "")
    for key in ("name", "home_address", "home_agent_address"):
        _need(node, key, str, "node.")
    files = []
    for number, item in enumerate(_need(payload, "files", list, "")):
        if not isinstance(item, dict):
            raise Permanent(f"files[{number}] is not an object")
        path = _need(item, "path", str, f"files[{number}].")
        norm = os.path.normpath(path)
        if norm != path or not path.startswith(ALLOWED_DIRS):
            raise Permanent(f"files[{number}].path {path!r} is outside "
                            f"{', '.join(ALLOWED_DIRS)}")
        try:
            mode = int(_need(item, "mode", str, f"files[{number}]."), 8)
        except ValueError:
            raise Permanent(f"files[{number}].mode is not an octal mode") from None
        if mode & ~0o777:
            raise Permanent(f"files[{number}].mode {mode:o} has more than permission bits")
        files.append(FileSpec(path, mode, _need(item, "content", str, f"files[{number}].")))
    conf = next((f for f in files if f.path == "/etc/mip6d/mip6d.conf"), None)
    if conf is None:
        raise Permanent("the service's answer has no /etc/mip6d/mip6d.conf in files")
    sysctl = []
    for key, value in _need(payload, "sysctl", dict, "").items():
        if not all(part.replace("-", "").replace("_", "").isalnum() for part in key.split(".")):
            raise Permanent(f"sysctl {key!r} is not a sysctl name")
        sysctl.append((str(key), str(value)))
    services = tuple(_need(payload, "services", list, ""))
    unknown = [s for s in services if s not in ALLOWED_SERVICES]
    if unknown:
        raise Permanent(f"the service asks to start {unknown}, which this image does not run")
    return Plan(node, tuple(files), tuple(sysctl), services)


def fetch(settings: Settings, get: Callable[..., Any], sleep: Callable[[float], None],
          clock: Callable[[], float]) -> Any:
    """GET the node's configuration, retrying transient failures until settings.timeout."""
    url = settings.url + CONFIG_PATH
    return _call(settings, lambda headers: get(url, headers=headers, timeout=REQUEST_TIMEOUT),
                 url, sleep, clock)


def send_request(settings: Settings, post: Callable[..., Any], path: str, csr: str,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> Any:
    """POST this node's certificate request to the service's ``path`` (its answer is the
    node's configuration with the new certificate), retrying like :func:`fetch`."""
    url = settings.url + path
    return _call(settings, lambda headers: post(url, headers=headers, json={"csr": csr},
                                                timeout=REQUEST_TIMEOUT),
                 url, sleep, clock)


def refusal(response: Any) -> str:
    """What the service said about a request it refused (its JSON error and fields)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}"
    fields = body.get("fields")
    details = "; ".join(f"{name}: {' '.join(map(str, problems))}"
                        for name, problems in fields.items()) \
        if isinstance(fields, dict) else ""
    return f"{body.get('error', '')}{' (' + details + ')' if details else ''}"


def _call(settings: Settings, send: Callable[[dict[str, str]], Any], url: str,
          sleep: Callable[[float], None], clock: Callable[[], float]) -> Any:
    """One request to the service with the node token, retried on transient failures
    (no answer, 5xx) until settings.timeout; its JSON answer."""
    import requests  # noqa: PLC0415  (python3-requests: only the requests need it)

    deadline = clock() + settings.timeout
    last = "no attempt made"
    for attempt, delay in enumerate(backoff(), start=1):
        try:
            response = send({"Authorization": f"Bearer {settings.token}",
                             "Accept": "application/json"})
        except requests.exceptions.SSLError as error:
            raise Permanent(untrusted(settings, error)) from None
        except requests.RequestException as error:
            last = f"cannot reach {settings.url}: {error.__class__.__name__}: {error}"
        else:
            if response.status_code == 200:
                try:
                    return response.json()
                except ValueError:
                    raise Permanent(f"{url} answered 200 with something that is not JSON") \
                        from None
            if response.status_code == 401:
                raise Permanent(f"{url} refused the node token (HTTP 401): it may be "
                                "wrong, revoked, or the node disabled")
            if response.status_code == 404:
                raise Permanent(f"{url} answered 404: is {settings.url} the HAiku service?")
            if response.status_code in (400, 403, 409, 413):
                raise Permanent(f"{url} refused the request (HTTP {response.status_code}): "
                                f"{refusal(response)}")
            last = f"{url} answered HTTP {response.status_code}"
        left = deadline - clock()
        if left <= 0:
            break
        wait = min(delay, left)
        say(f"attempt {attempt} failed ({last}); retrying in {wait:.0f} s "
            f"({left:.0f} s left)")
        sleep(wait)
    raise EnrollError(f"gave up after {settings.timeout:.0f} s: {last}")


def untrusted(settings: Settings, error: Exception) -> str:
    """What to say when the service's TLS certificate is refused."""
    if settings.tls_fingerprint:
        return (f"the certificate of {settings.url} does not have the SHA-256 fingerprint "
                f"given (tls_fingerprint): is this the right service? ({error})")
    return (f"the certificate of {settings.url} is not trusted by this system ({error}): "
            "give the service's certificate fingerprint with "
            "homeguy.tls_fingerprint=sha256:<hex> (its operator has it)")


def http_get(settings: Settings, method: str = "get") -> Callable[..., Any]:
    """requests' GET (or ``method``), checking the service's certificate against
    ``tls_fingerprint`` when given (urllib3's ``assert_fingerprint``), against the
    system's CAs otherwise."""
    import requests  # noqa: PLC0415
    from requests.adapters import HTTPAdapter  # noqa: PLC0415

    session = requests.Session()
    if not settings.tls_fingerprint:
        return getattr(session, method)  # type: ignore[no-any-return]

    class Pinned(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["assert_fingerprint"] = settings.tls_fingerprint
            super().init_poolmanager(*args, **kwargs)

    session.mount("https://", Pinned())
    # The chain is not checked, the fingerprint is, on every connection. Per request:
    # a session's verify=False loses to REQUESTS_CA_BUNDLE in the environment.
    return functools.partial(getattr(session, method), verify=False)


# ------------------------------------------------- keys made on the node (key_origin node)

PKI = os.environ.get("HOMEGUY_PKI", "/usr/bin/pki")
# What the node makes: ECDSA P-256, like the keys the service makes (strongSwan's pki).
KEY_TYPE = ("--type", "ecdsa", "--size", "256")
OWN_KEYS_DIR = "/etc/swanctl/private/"


def pki(*argv: str, stdin: str | None = None) -> str:
    """Run strongSwan's pki (strongswan-pki); its output, or EnrollError with its own."""
    try:
        result = subprocess.run([PKI, *argv], input=stdin, capture_output=True, text=True,
                                check=False)
    except OSError as error:
        raise Permanent(f"cannot run {PKI} ({error}): this node makes its own key and "
                        "needs strongSwan's pki (apt install strongswan-pki)") from None
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip() or f"exit status {result.returncode}"
        raise Permanent(f"pki {argv[0]} failed: {said}")
    return result.stdout


def public_key_id(pem: str, kind: str) -> str:
    """The SHA-1 of the SubjectPublicKeyInfo of a private key (``kind`` priv) or a
    certificate (x509), as ``pki --keyid`` prints it: equal when one certifies the
    other's key."""
    found = pki("--keyid", "--type", kind, "--id", "spki", "--format", "hex",
                stdin=pem).strip()
    if not found:
        raise Permanent(f"pki --keyid printed no key identifier for the {kind}")
    return found


def makes_own_key(payload: Any) -> bool:
    keying = payload.get("keying") if isinstance(payload, dict) else None
    return isinstance(keying, dict) and keying.get("method") == "certificate" \
        and keying.get("key_origin") == "node"


def own_key_file(payload: Any, root: Path, request: Callable[[str, str], Any]) -> Any:
    """The payload, with this node's own key among its files: the key it has when the
    service's certificate certifies it, or else a new key (``pki --gen``), whose request
    (``pki --req``) ``request(path, csr)`` sends; the service's answer (the payload with
    the new certificate) is used instead. The key is written with the other files, 0600
    under /etc/swanctl/private, and never leaves the node."""
    keying = payload["keying"]
    key_path = _need(keying, "private_key_path", str, "keying.")
    csr_path = _need(keying, "csr_url", str, "keying.")
    if os.path.normpath(key_path) != key_path or not key_path.startswith(OWN_KEYS_DIR):
        raise Permanent(f"keying.private_key_path {key_path!r} is not in {OWN_KEYS_DIR}")
    if not csr_path.startswith("/") or csr_path.startswith("//"):
        raise Permanent(f"keying.csr_url {csr_path!r} is not a path on the service")
    held = root / key_path.lstrip("/")
    key = held.read_text() if held.exists() else ""
    certificate = keying.get("certificate_pem") or ""
    if key and certificate and public_key_id(key, "priv") == public_key_id(certificate,
                                                                           "x509"):
        say(f"keeping this node's key {key_path}: the service's certificate certifies it")
    else:
        key = pki("--gen", *KEY_TYPE, "--outform", "pem")
        node = _need(payload, "node", dict, "")
        home = _need(node, "home_address", str, "node.")
        csr = pki("--req", "--type", "priv", "--dn", f"CN={home}", "--san", home,
                  "--outform", "pem", stdin=key)
        say(f"made a new key on this node ({' '.join(KEY_TYPE[1::2])}); sending its "
            f"certificate request to {csr_path}")
        payload = request(csr_path, csr)
        if not makes_own_key(payload):
            raise Permanent("the service's answer to the certificate request is not a "
                            "configuration for a node that makes its own key")
        certificate = payload["keying"].get("certificate_pem") or ""
        if not certificate or public_key_id(certificate, "x509") != public_key_id(key,
                                                                                  "priv"):
            raise Permanent("the service's answer has no certificate for this node's new "
                            "key")
    files = [f for f in _need(payload, "files", list, "")
             if not (isinstance(f, dict) and f.get("path") == key_path)]
    return {**payload, "files": [*files, {"path": key_path, "mode": "0600",
                                          "content": key}]}


def write_files(plan: Plan, root: Path, check: Callable[[Path], str | None]) -> None:
    """Write every file to a temporary file, check mip6d.conf, then rename all into place.

    ``check(path)`` returns None when the mip6d configuration at path is valid, else the
    reason. Nothing is renamed unless every file was written and the check passed.
    """
    temps: list[tuple[Path, Path]] = []
    try:
        for spec in plan.files:
            final = root / spec.path.lstrip("/")
            final.parent.mkdir(parents=True, exist_ok=True)
            temp = final.with_name(f".{final.name}.homeguy-enroll")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, spec.mode)
            with os.fdopen(fd, "w") as stream:
                stream.write(spec.content)
                stream.flush()
                os.fsync(stream.fileno())
            os.chmod(temp, spec.mode)
            temps.append((temp, final))
        conf_temp = next(t for t, f in temps if str(f).endswith("/etc/mip6d/mip6d.conf"))
        problem = check(conf_temp)
        if problem is not None:
            raise Permanent(f"mip6d --check rejected the configuration: {problem}")
        for temp, final in temps:
            os.replace(temp, final)
        temps = []
    finally:
        for temp, _ in temps:
            temp.unlink(missing_ok=True)


def mip6d_check(path: Path) -> str | None:
    result = subprocess.run([MIP6D, "--check", "--config", str(path)], capture_output=True,
                            text=True, check=False)
    if result.returncode == 0:
        return None
    return (result.stderr or result.stdout).strip().splitlines()[-1:][0] \
        if (result.stderr or result.stdout).strip() else f"exit status {result.returncode}"


def apply(plan: Plan) -> None:
    for key, value in plan.sysctl:
        Path("/proc/sys", *key.split(".")).write_text(value + "\n")
        say(f"sysctl {key}={value}")
    for service in plan.services:
        subprocess.run(["systemctl", "enable", f"{service}.service"], capture_output=True,
                       check=False)
        result = subprocess.run(["systemctl", "restart", f"{service}.service"],
                                capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EnrollError(f"systemctl restart {service} failed: {result.stderr.strip()}")


READY = '"event": "ready"'


def mip6d_log() -> list[str]:
    """mip6d's structured log lines of this boot (its journal)."""
    result = subprocess.run(["journalctl", "-b", "-u", "mip6d", "--no-pager", "-o", "cat"],
                            capture_output=True, text=True, check=False)
    return [line for line in result.stdout.splitlines() if line.startswith("{")]


def daemon_ready(show_log: bool, seconds: float = 180.0) -> bool:
    """Wait until mip6d logs that it is ready (it has registered its role, set up its
    home address and kernel state); False when it stops or does not get there within
    `seconds`. Then shows what it logged: always with ``show_log`` (the boot's console,
    read later), else only on failure (a person enrolling by hand needs it only then)."""
    deadline = time.monotonic() + seconds
    while True:
        lines = mip6d_log()
        ready = any(READY in line for line in lines)
        state = subprocess.run(["systemctl", "is-active", "mip6d"], capture_output=True,
                               text=True, check=False).stdout.strip()
        if ready or state in ("failed", "inactive") or time.monotonic() > deadline:
            break
        time.sleep(2)
    ready = ready and state == "active"
    for line in lines[-15:] if show_log or not ready else ():
        say(f"mip6d: {line}")
    return ready


def token_digest(token: str) -> str:
    """What the kept answer remembers of the token: enough to tell another one."""
    return hashlib.sha256(token.encode()).hexdigest()


def kept_answer(settings: Settings) -> tuple[Any, float] | None:
    """The service's answer kept by an earlier boot with these settings (same service,
    same token) and when it was fetched; None when there is none or it is unreadable."""
    try:
        kept = json.loads(KEPT.read_text())
        if kept["url"] == settings.url and kept["token_sha256"] == token_digest(
                settings.token):
            return kept["answer"], float(kept["at"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def write_private(path: Path, text: str) -> None:
    """``path`` replaced whole by ``text``, root's only (a token, keys), synced with its
    directory: a stick may be pulled, or a laptop switched off, at any time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as stream:
        os.fchmod(stream.fileno(), 0o600)  # a temporary file left with another mode
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def keep_answer(settings: Settings, payload: Any) -> None:
    """Keep the service's answer (it holds keys) for the next boot."""
    try:
        write_private(KEPT, json.dumps({"url": settings.url,
                                        "token_sha256": token_digest(settings.token),
                                        "at": time.time(), "answer": payload}))
    except OSError as error:
        say(f"cannot keep the configuration in {KEPT} for the next boot: {error}")


def enroll(settings: Settings, root: Path = Path("/"),
           check: Callable[[Path], str | None] = mip6d_check,
           start: Callable[[Plan], None] | None = None,
           from_kept: bool = False) -> tuple[Plan, float | None]:
    """Fetch (or, ``from_kept``, take the answer an earlier boot kept), (make the node's
    own key,) write under ``root`` with ``check``, and ``start`` (:func:`apply`) the
    plan; the plan, and when the kept answer was fetched (None: fetched now)."""
    kept = kept_answer(settings) if from_kept else None
    if kept is not None:
        payload, since = kept
        when = time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(since))
        report(EnrollmentState.ENROLLING,
               f"using this node's configuration kept on this medium, fetched from "
               f"{settings.url} at {when}: the service is not asked", url=settings.url)
    else:
        since = None
        report(EnrollmentState.ENROLLING,
               f"fetching this node's configuration from {settings.url} (settings from the "
               f"{settings.source}; time limit {settings.timeout:.0f} s)", url=settings.url)
        payload = fetch(settings, http_get(settings), time.sleep, time.monotonic)
        if makes_own_key(payload):
            post = http_get(settings, "post")
            payload = own_key_file(payload, root, lambda path, csr: send_request(
                settings, post, path, csr, time.sleep, time.monotonic))
    plan = validate(payload)
    node = plan.node
    say(f"node {node['name']!r}: home address {node['home_address']}, "
        f"home agent {node['home_agent_address']}")
    write_files(plan, root, check)
    say(f"wrote {', '.join(f.path for f in plan.files)} (checked with mip6d --check)")
    (start or apply)(plan)
    if since is None:
        keep_answer(settings, payload)
    return plan, since


NO_SETTINGS = ("no service URL and node token (kernel command line homeguy.url= "
               "homeguy.token=, or a per-user image's /homeguy/node.conf); to enroll by "
               "hand: sudo homeguy-enroll")


# -------------------------------------------------------------------- enrollment by hand

BY_HAND = "homeguy-enroll command"  # the settings' source, as enrollment names it


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homeguy-enroll",
        description="Enroll this node from the Homeguy (HAiku) service and start mip6d: the "
                    "service URL and the node token (from the node's page on the service); "
                    "what is not given is asked for.")
    parser.add_argument("url", nargs="?", help="the service's URL, e.g. https://haiku.example")
    parser.add_argument("token", nargs="?", help="the node's token (asked without echo when "
                                                 "not given: it is a secret)")
    parser.add_argument("--tls-fingerprint", metavar="sha256:HEX", default="",
                        help="trust the service's certificate by its SHA-256 fingerprint "
                             "(a service with its own certificate; its operator has it)")
    parser.add_argument("--allow-http", action="store_true",
                        help="allow a plain http:// URL (token and keys in clear)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"how long to keep trying (default {DEFAULT_TIMEOUT:.0f})")
    parser.add_argument("--at-boot", action="store_true", help=argparse.SUPPRESS)
    return parser


def conf_by_hand(args: argparse.Namespace) -> str:
    """enroll.conf's text from the person's settings (asked for when not given: the token
    without echo), checked as the boot's are; Permanent says what to fix."""
    url = (args.url or input("Service URL (e.g. https://haiku.example): ")).strip()
    token = (args.token
             or getpass.getpass("Node token (from the node's page; not shown): ")).strip()
    text = "".join(f"{key}={value}\n" for key, value in (
        ("source", BY_HAND), ("url", url), ("token", token), ("timeout", f"{args.timeout:g}"),
        ("tls_fingerprint", args.tls_fingerprint), ("allow_http", "yes" if args.allow_http
                                                    else "no")))
    if parse_settings(text) is None:
        raise Permanent("give the service's URL and the node's token")
    return f"# written by {BY_HAND}\n{text}"


def main(argv: list[str] | None = None) -> int:
    """At boot (``--at-boot``): from enroll.conf, never failing the boot. By hand: from
    the arguments and answers, 0 when enrolled, 1 when not, 2 for settings to fix."""
    args = _parser().parse_args(argv)
    if args.at_boot:
        return enroll_from_conf(at_boot=True)
    try:
        write_private(CONF, conf_by_hand(args))  # it holds the token
    except (EnrollError, OSError) as error:
        say(f"not enrolling: {error}")
        return 2
    except (EOFError, KeyboardInterrupt):
        say("not enrolling: stopped before the settings were complete")
        return 2
    say(f"settings written to {CONF}")
    return enroll_from_conf(at_boot=False)


def enroll_from_conf(at_boot: bool) -> int:
    """Enroll with enroll.conf's settings; the outcome reported (file, banner, screen)."""
    try:
        text = CONF.read_text() if CONF.exists() else ""
        settings = parse_settings(text)
    except (EnrollError, OSError) as error:
        report(EnrollmentState.NOT_ENROLLING, f"not enrolling: {error}", at_boot)
        return 0 if at_boot else 2
    if settings is None:
        report(EnrollmentState.NOT_ENROLLING, f"not enrolling: {NO_SETTINGS}", at_boot)
        return 0
    try:
        # A boot starts from what an earlier one kept (a stick with persistence); a person
        # enrolling by hand asks the service (a renewed certificate, a changed node).
        plan, kept_since = enroll(settings, from_kept=at_boot)
    except EnrollError as error:
        report(EnrollmentState.FAILED, f"enrollment failed: {error}", at_boot, url=settings.url)
        if not at_boot:
            return 1
        say("the live system works without it; fix the cause and run "
            "'systemctl restart homeguy-enroll', or enroll by hand: 'sudo homeguy-enroll'")
        return 0
    node = {"url": settings.url, "node": str(plan.node["name"]),
            "home_address": str(plan.node["home_address"]),
            "home_agent": str(plan.node["home_agent_address"])}
    if "mip6d" in plan.services:
        if not daemon_ready(show_log=at_boot):
            report(EnrollmentState.FAILED, "enrolled, but mip6d did not get ready (its log "
                   "is above); see 'journalctl -u mip6d'", at_boot, **node)
            return 1
        say(f"mip6d is running with home address {plan.node['home_address']}")
    kept = "" if kept_since is None else " (its configuration kept on this medium)"
    report(EnrollmentState.ENROLLED, f"enrolled with home address {node['home_address']} "
           f"from {settings.url}{kept}", at_boot, **node)
    return 0


if __name__ == "__main__":
    sys.exit(main())
