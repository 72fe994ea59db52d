"""The signing key and signatures: GnuPG in its own home, outside the repository.

The thin shell around `gpg`: every call goes through homeguy.run (logged, checked). The key
(Ed25519, no passphrase, no expiry) is created on first use. Signatures are deterministic
when a signing time is given: Ed25519 signatures carry no randomness, and the time is
fixed with --faked-system-time (never before the key's own creation, which gpgv would
refuse).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from homeguy.run import run

# gpg-agent's sockets live in the GnuPG home here (no /run/user/<uid>); a Unix socket path
# is limited to 108 bytes.
MAX_HOME_LENGTH = 80
# Signature digest for InRelease and Release.gpg.
DIGEST = "SHA512"


class SigningError(RuntimeError):
    pass


@dataclass(frozen=True)
class SigningKey:
    home: Path
    fingerprint: str
    created: int  # seconds since the epoch


def gpg(home: Path, *args: str | Path, sign_time: int | None = None) -> str:
    """Run gpg in `home` in batch mode; its standard output. With `sign_time`, gpg's clock
    is frozen at that second (signatures made at it)."""
    faked = []
    if sign_time is not None:
        # gpg freezes its clock only if the faked time is not the current second (else it
        # keeps the real clock, which may tick on before it signs): wait that second out.
        while int(time.time()) == sign_time:
            time.sleep(0.05)
        faked = ["--faked-system-time", f"{sign_time}!"]
    argv: list[str | Path] = ["gpg", "--homedir", home, "--batch", "--no-tty", "--quiet",
                              "--no-auto-check-trustdb", *faked, *args]
    return run(argv).stdout


def parse_secret_keys(colons: str) -> list[tuple[str, int, str]]:
    """(fingerprint, creation time, user id) of each secret key in `gpg --with-colons`
    output (see doc/DETAILS in GnuPG: fields 6 = creation, 10 = fingerprint or user id)."""
    keys: list[tuple[str, int, str]] = []
    created = 0
    fingerprint = ""
    expect_fingerprint = False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            created = int(fields[5])
            expect_fingerprint = True
        elif fields[0] == "fpr" and expect_fingerprint:
            fingerprint = fields[9]
            expect_fingerprint = False
        elif fields[0] == "uid" and fingerprint:
            keys.append((fingerprint, created, fields[9]))
            fingerprint = ""
    return keys


def prepare_home(home: Path) -> None:
    if len(str(home)) > MAX_HOME_LENGTH:
        raise SigningError(f"{home}: the signing key's GnuPG home path is longer than "
                           f"{MAX_HOME_LENGTH} characters (gpg-agent's socket would not fit); "
                           "choose a shorter signing_home")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)


def ensure_key(home: Path, uid: str) -> tuple[SigningKey, bool]:
    """The signing key with `uid` in `home`, created when there is none; and whether it was
    created now."""
    prepare_home(home)
    created_now = False
    keys = [k for k in parse_secret_keys(gpg(home, "--with-colons", "--list-secret-keys"))
            if k[2] == uid]
    if not keys:
        gpg(home, "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key", uid,
            "ed25519", "sign", "never")
        created_now = True
        keys = [k for k in parse_secret_keys(gpg(home, "--with-colons",
                                                 "--list-secret-keys")) if k[2] == uid]
    if len(keys) != 1:
        raise SigningError(f"{home}: {len(keys)} secret keys have the user id {uid!r}; "
                           "keep exactly one (gpg --homedir ... --delete-secret-keys FPR)")
    fingerprint, created, _ = keys[0]
    return SigningKey(home, fingerprint, created), created_now


def sign_release(key: SigningKey, release: Path, inrelease: Path, detached: Path,
                 sign_time: int | None) -> None:
    """Write InRelease (clear-signed) and Release.gpg (detached, armored) for `release`."""
    when = None if sign_time is None else max(sign_time, key.created)
    common = ["--local-user", key.fingerprint, "--digest-algo", DIGEST, "--yes"]
    gpg(key.home, *common, "--clearsign", "--output", inrelease, release, sign_time=when)
    gpg(key.home, *common, "--armor", "--detach-sign", "--output", detached, release,
        sign_time=when)


def export_public_key(key: SigningKey, armored: Path, binary: Path) -> None:
    gpg(key.home, "--yes", "--armor", "--export", "--output", armored, key.fingerprint)
    gpg(key.home, "--yes", "--export", "--output", binary, key.fingerprint)


def stop_agent(home: Path) -> None:
    """gpg started an agent for `home`; end it so that a publish leaves no process."""
    run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)
