"""The signing keys and signatures: GnuPG in its own home, outside the repository.

The thin shell around `gpg`: every call goes through homeguy.run (logged, checked). A key
(Ed25519, no passphrase, expiring after `key_valid_for` or never) is created on first
use. Every key with the repository's user id in the home signs and is exported: during a
rotation there are two, each Release carries both signatures and the keyring both keys,
so a client that trusts either one keeps working. Signatures are deterministic when a
signing time is given: Ed25519 signatures carry no randomness, and the time is fixed with
--faked-system-time (never before the newest key's creation, which gpgv would refuse).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from homeguy.run import run

# gpg-agent's sockets live in the GnuPG home here (no /run/user/<uid>); a Unix socket path
# is limited to 108 bytes.
MAX_HOME_LENGTH = 80
# Signature digest for InRelease and Release.gpg.
DIGEST = "SHA512"
# Where a retired key's secret part is kept, inside the GnuPG home: <home>/retired/<fpr>.asc
RETIRED = "retired"


class SigningError(RuntimeError):
    pass


@dataclass(frozen=True)
class SigningKey:
    home: Path
    fingerprint: str
    created: int  # seconds since the epoch
    expires: int | None = None  # seconds since the epoch; None: never


def gpg(home: Path, *args: str | Path, sign_time: int | None = None) -> str:
    """Run gpg in `home` in batch mode; its standard output. With `sign_time`, gpg's clock
    is frozen at that second (signatures made at it)."""
    faked = []
    if sign_time is not None:
        # gpg freezes its clock only if the faked time is not the current second (else it
        # keeps the real clock, which may tick on before it signs): wait that second out,
        # and a little more, since gpg reads the coarse clock (time(2)), which lags by
        # up to a tick (a CI run once signed a second late, one InRelease in two).
        while sign_time <= time.time() < sign_time + 1.05:
            time.sleep(0.05)
        faked = ["--faked-system-time", f"{sign_time}!"]
    argv: list[str | Path] = ["gpg", "--homedir", home, "--batch", "--no-tty", "--quiet",
                              "--no-auto-check-trustdb", *faked, *args]
    return run(argv).stdout


def parse_secret_keys(colons: str) -> list[tuple[str, int, int | None, str]]:
    """(fingerprint, creation time, expiry time or None, user id) of each secret key in
    `gpg --with-colons` output (see doc/DETAILS in GnuPG: fields 6 = creation, 7 = expiry,
    10 = fingerprint or user id)."""
    keys: list[tuple[str, int, int | None, str]] = []
    created = 0
    expires: int | None = None
    fingerprint = ""
    expect_fingerprint = False
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "sec":
            created = int(fields[5])
            expires = int(fields[6]) if fields[6] else None
            expect_fingerprint = True
        elif fields[0] == "fpr" and expect_fingerprint:
            fingerprint = fields[9]
            expect_fingerprint = False
        elif fields[0] == "uid" and fingerprint:
            keys.append((fingerprint, created, expires, fields[9]))
            fingerprint = ""
    return keys


def prepare_home(home: Path) -> None:
    if len(str(home)) > MAX_HOME_LENGTH:
        raise SigningError(f"{home}: the signing key's GnuPG home path is longer than "
                           f"{MAX_HOME_LENGTH} characters (gpg-agent's socket would not fit); "
                           "choose a shorter signing_home")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)


def signing_keys(home: Path, uid: str) -> tuple[SigningKey, ...]:
    """The keys with `uid` in `home`, oldest first."""
    prepare_home(home)
    listed = parse_secret_keys(gpg(home, "--with-colons", "--list-secret-keys"))
    return tuple(sorted((SigningKey(home, fingerprint, created, expires)
                         for fingerprint, created, expires, key_uid in listed
                         if key_uid == uid), key=lambda k: (k.created, k.fingerprint)))


def create_key(home: Path, uid: str, valid_for: int | None) -> SigningKey:
    """A new key with `uid` (another one for a rotation), valid for `valid_for` seconds."""
    before = {k.fingerprint for k in signing_keys(home, uid)}
    expiry = "never" if valid_for is None else f"seconds={valid_for}"
    # --yes: a second key with the same user id is what a rotation wants.
    gpg(home, "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--quick-gen-key",
        uid, "ed25519", "sign", expiry)
    return next(k for k in signing_keys(home, uid) if k.fingerprint not in before)


def ensure_keys(home: Path, uid: str, valid_for: int | None = None
                ) -> tuple[tuple[SigningKey, ...], bool]:
    """The signing keys with `uid` in `home` (one is created when there is none); and
    whether it was created now."""
    keys = signing_keys(home, uid)
    if keys:
        return keys, False
    return (create_key(home, uid, valid_for),), True


def ensure_key(home: Path, uid: str) -> tuple[SigningKey, bool]:
    """The one signing key with `uid` in `home`, created when there is none."""
    keys, created_now = ensure_keys(home, uid)
    if len(keys) != 1:
        raise SigningError(f"{home}: {len(keys)} secret keys have the user id {uid!r} (a "
                           "key rotation is under way); finish it with homeguy repo key "
                           "retire")
    return keys[0], created_now


def keys_changed(keys: Sequence[SigningKey], retired: Sequence[int]) -> int:
    """When the set of signing keys last changed: the newest key's creation or the last
    retirement (`retired`: the times the retired keys' backups were written)."""
    return max([k.created for k in keys] + list(retired))


def retired_times(home: Path) -> list[int]:
    """When each key in <home>/retired/ was retired (its backup's modification time)."""
    folder = home / RETIRED
    return [int(p.stat().st_mtime) for p in folder.glob("*.asc")] if folder.is_dir() else []


def remove_key(key: SigningKey, backup: Path) -> None:
    """Delete `key` from its home after writing its secret part to `backup` (0600)."""
    backup.parent.mkdir(parents=True, exist_ok=True)
    gpg(key.home, "--yes", "--pinentry-mode", "loopback", "--passphrase", "", "--armor",
        "--export-secret-keys", "--output", backup, key.fingerprint)
    os.chmod(backup, 0o600)
    gpg(key.home, "--yes", "--delete-secret-and-public-keys", key.fingerprint)


def expiry_warnings(keys: Sequence[SigningKey], now: int, valid_for: int | None
                    ) -> tuple[str, ...]:
    """What a person must hear about the signing keys' expiry: apt refuses a signature by
    an expired key, so a key must outlive the Valid-Until of what it signs (a margin of
    `valid_for`, or 30 days without Valid-Until)."""
    margin = valid_for if valid_for is not None else 30 * 86400
    return tuple(
        f"signing key {k.fingerprint} {'expired' if k.expires <= now else 'expires'} "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(k.expires))}: start a key "
        "rotation now (homeguy repo key rotate), then ship the keyring package"
        for k in keys if k.expires is not None and k.expires <= now + margin)


def sign_release(keys: Sequence[SigningKey], release: Path, inrelease: Path, detached: Path,
                 sign_time: int | None) -> None:
    """Write InRelease (clear-signed) and Release.gpg (detached, armored) for `release`,
    with one signature by each key."""
    home = keys[0].home
    when = None if sign_time is None else max(sign_time, *(k.created for k in keys))
    # FPR! : exactly that key (not a subkey, nor another key with the same user id).
    users = [arg for k in keys for arg in ("--local-user", f"{k.fingerprint}!")]
    common = [*users, "--digest-algo", DIGEST, "--yes"]
    gpg(home, *common, "--clearsign", "--output", inrelease, release, sign_time=when)
    gpg(home, *common, "--armor", "--detach-sign", "--output", detached, release,
        sign_time=when)


def export_public_key(keys: Sequence[SigningKey], armored: Path, binary: Path) -> None:
    """The public keys, armored and binary (a keyring apt's Signed-By reads)."""
    home = keys[0].home
    fingerprints = [k.fingerprint for k in keys]
    gpg(home, "--yes", "--armor", "--export", "--output", armored, *fingerprints)
    gpg(home, "--yes", "--export", "--output", binary, *fingerprints)


def stop_agent(home: Path) -> None:
    """gpg started an agent for `home`; end it so that a publish leaves no process."""
    run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], check=False)
