"""The thin shell of a publish and of the other operations: find and hash the input .debs
and .dsc files, read control data the state does not have (python-debian's DebFile),
check that each new .dsc's files lie beside it, run the planner, then carry out its plan
in the order that keeps every client consistent:

1. pool files, each copied to a temporary name, verified and renamed into place;
2. index files, each under its by-hash names first, then under its usual name;
3. Release, Release.gpg and InRelease of each changed suite, signed, renamed last;
4. by-hash and pool files that stopped being current longer ago than keep_superseded;
5. the compressed index chunks cache, and the state (<out>/.homeguy/state.json).

A client that fetched an older InRelease still finds every file it names (by-hash), and a
client never sees a partly written file.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

from debian.arfile import ArError
from debian.debfile import DebError, DebFile

from homeguy.files import exclusive, temporary, write_atomic
from homeguy.repo import compress, signing
from homeguy.repo.config import RepoConfig
from homeguy.repo.packages import PackageError, dsc_files, parse_dsc
from homeguy.repo.plan import Input, Operation, Plan, Publish, PublishError, Resign, plan
from homeguy.repo.state import SeenFile, State, StateError, from_json, to_json

STATE_DIR = ".homeguy"
STATE_FILE = "state.json"
CHUNKS_DIR = "chunks"
CHUNK = 1 << 20


class ChunkCache:
    """Compressed index chunks of earlier publishes, by the SHA256 of their text
    (<out>/.homeguy/chunks/<sha256>.gz|.xz): a publish compresses only new chunks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.new: dict[Path, bytes] = {}

    def __call__(self, suffix: str, data: bytes) -> bytes:
        path = self.directory / f"{compress.chunk_key(data)}{suffix}"
        if path in self.new:
            return self.new[path]
        try:
            return path.read_bytes()
        except FileNotFoundError:
            packed = self.new[path] = compress.compress_uncached(suffix, data)
            return packed

    def save(self, keep: set[str]) -> None:
        """Write the new chunks; delete those no current index is made of."""
        for path, data in self.new.items():
            if path.name.partition(".")[0] in keep:
                write_atomic(path, data)
        if self.directory.is_dir():
            for path in self.directory.iterdir():
                if path.name.partition(".")[0] not in keep:
                    path.unlink()


@dataclass(frozen=True)
class Result:
    plan: Plan
    keys: tuple[signing.SigningKey, ...]  # every key that signed, oldest first
    key_created: bool
    public_keys: tuple[Path, Path]  # armored, binary
    inputs: int
    warnings: tuple[str, ...] = ()


def source_date_epoch(env: Mapping[str, str]) -> int | None:
    value = env.get("SOURCE_DATE_EPOCH")
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise PublishError(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds since "
                           "1970; unset it or set it, e.g., to $(git log -1 --format=%ct)")
    return int(value)


def hash_file(path: Path) -> tuple[str, str, int]:
    """SHA256, MD5 and size of a file, in one pass."""
    sha256, md5, size = hashlib.sha256(), hashlib.md5(usedforsecurity=False), 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            sha256.update(chunk)
            md5.update(chunk)
            size += len(chunk)
    return sha256.hexdigest(), md5.hexdigest(), size


def read_control(path: Path) -> str:
    """The control file of a .deb (python-debian)."""
    try:
        deb = DebFile(path)
        try:
            data = deb.control.get_content("control")
        finally:
            deb.close()
    except (DebError, ArError, OSError, KeyError, EOFError, ValueError) as exc:
        raise PackageError(f"{path}: not a readable Debian binary package ({exc}); rebuild "
                           "it or remove it from the input directory") from None
    if not isinstance(data, bytes):
        raise PackageError(f"{path}: no control file in control.tar; rebuild it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError(f"{path}: control file is not UTF-8; rebuild it") from None


def read_dsc(path: Path) -> str:
    """A .dsc's text, after checking that every file it lists lies beside it, unchanged."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(f"{path}: not a readable .dsc ({exc}); rebuild the source "
                           "package or remove it from the input directory") from None
    for name, size, _, sha256 in dsc_files(parse_dsc(text, str(path))):
        beside = path.parent / name
        if not beside.is_file():
            raise PackageError(f"{path}: lists {name}, which is not beside it; keep a source "
                               "package's files together (as dpkg-buildpackage writes them)")
        got, _, got_size = hash_file(beside)
        if (got, got_size) != (sha256, size):
            raise PackageError(f"{beside}: SHA256 {got} ({got_size} bytes), but {path.name} "
                               f"lists {sha256} ({size} bytes); rebuild the source package")
    return text


def scan(debs: Path, state: State) -> tuple[list[Input], dict[str, SeenFile]]:
    """The .debs and .dsc files under `debs`; files whose stat() matches the state are not
    read again, and only those whose SHA256 the state does not know are opened."""
    if not debs.is_dir():
        raise PublishError(f"{debs}: no such directory; build the packages first or point "
                           "--debs at a directory of .deb files")
    root = debs.resolve()
    seen = {p: s for p, s in state.seen.items() if not p.startswith(f"{root}/")}
    inputs = []
    found = [p for pattern in ("*.deb", "*.dsc") for p in root.rglob(pattern) if p.is_file()]
    for path in sorted(found):
        st = path.stat()
        cached = state.seen.get(str(path))
        if (cached is not None and cached.sha256 in state.packages
                and (cached.size, cached.mtime_ns, cached.inode)
                == (st.st_size, st.st_mtime_ns, st.st_ino)):
            inputs.append(Input(str(path), cached.sha256, cached.size))
            seen[str(path)] = cached
            continue
        sha256, md5, size = hash_file(path)
        if sha256 in state.packages:
            inputs.append(Input(str(path), sha256, size))
        else:
            read = read_dsc if path.suffix == ".dsc" else read_control
            inputs.append(Input(str(path), sha256, size, md5, read(path)))
        seen[str(path)] = SeenFile(size, st.st_mtime_ns, st.st_ino, sha256)
    return inputs, seen


def load_state(out: Path) -> State:
    path = out / STATE_DIR / STATE_FILE
    if not path.exists():
        if (out / "dists").exists():
            raise StateError(f"{path}: missing, but {out}/dists exists: this directory was not "
                             "made by this publisher (or its state was deleted); publish into "
                             "a new directory")
        return State()
    return from_json(path.read_text(), str(path))


def link_atomically(existing: Path, path: Path) -> None:
    """Give `existing`'s bytes the name `path` too (a hard link renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    with suppress(FileNotFoundError):
        tmp.unlink()
    os.link(existing, tmp)
    os.replace(tmp, path)


def copy_verified(source: Path, path: Path, sha256: str) -> None:
    """Copy a .deb into the pool, checking it is the file that was scanned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    digest = hashlib.sha256()
    with source.open("rb") as reader, tmp.open("wb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
    if digest.hexdigest() != sha256:
        tmp.unlink()
        raise PublishError(f"{source}: changed while it was being published (SHA256 {sha256} "
                           f"when scanned, {digest.hexdigest()} when copied); publish again")
    os.replace(tmp, path)


def execute(plan: Plan, out: Path, keys: tuple[signing.SigningKey, ...],
            sign_time: int | None) -> None:
    for copy in plan.pool:
        copy_verified(Path(copy.source), out / copy.path, copy.sha256)
    for write in plan.indices:
        first, *others = (out / p for p in write.by_hash)
        write_atomic(first, write.data)
        for other in (*others, out / write.path):
            link_atomically(first, other)
    for release in plan.releases:
        directory = out / release.directory
        names = {n: directory / n for n in ("Release", "Release.gpg", "InRelease")}
        staged = {n: temporary(p) for n, p in names.items()}
        directory.mkdir(parents=True, exist_ok=True)
        staged["Release"].write_bytes(release.release)
        signing.sign_release(keys, staged["Release"], staged["InRelease"],
                             staged["Release.gpg"], sign_time)
        for name in ("Release", "Release.gpg", "InRelease"):
            later_than(names[name], staged[name])
            os.replace(staged[name], names[name])
    for path in plan.deletions:
        (out / path).unlink(missing_ok=True)


def later_than(previous: Path, staged: Path) -> None:
    """Give `staged` a modification time at least one whole second after `previous`'s.

    HTTP servers send Last-Modified in whole seconds and apt asks If-Modified-Since for
    InRelease: a Release replaced within the same second as the one a client holds would
    be answered "304 Not Modified", and the client would stay on the old one.
    """
    try:
        floor = int(previous.stat().st_mtime) + 1
    except FileNotFoundError:
        return
    if staged.stat().st_mtime < floor:
        os.utime(staged, (floor, floor))


def locked(out: Path) -> AbstractContextManager[None]:
    """One publish into `out` at a time: a second one is refused, not queued."""
    lock_path = out / STATE_DIR / "lock"

    def refuse() -> None:
        raise PublishError(f"{lock_path}: another publish into {out} is running; wait "
                           "for it to finish") from None

    return exclusive(lock_path, refuse)


def export_key(keys: tuple[signing.SigningKey, ...], out: Path, name: str
               ) -> tuple[Path, Path]:
    """<out>/NAME.asc and <out>/NAME.gpg with every signing key; exported again only when
    the keys or the files changed (<out>/.homeguy/exported-key says what was exported
    last)."""
    armored, binary = out / f"{name}.asc", out / f"{name}.gpg"
    record = out / STATE_DIR / "exported-key"

    def fingerprint_of_files() -> str:
        digests = [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "-"
                   for p in (armored, binary)]
        return " ".join([*(k.fingerprint for k in keys), *digests]) + "\n"

    if record.exists() and record.read_text() == fingerprint_of_files():
        return armored, binary
    staged = (temporary(armored), temporary(binary))
    signing.export_public_key(keys, *staged)
    for tmp, final in zip(staged, (armored, binary), strict=True):
        os.replace(tmp, final)
    write_atomic(record, fingerprint_of_files().encode())
    return armored, binary


def operate(
    config: RepoConfig,
    out: Path,
    prepare: Callable[[State], tuple[Operation, Mapping[str, SeenFile], int]],
    *,
    signing_home: Path | None = None,
    env: Mapping[str, str] = os.environ,
    clock: Callable[[], float] = time.time,
    stop_agent: bool = True,
    change_keys: Callable[[Path], None] | None = None,
) -> Result:
    """Run one operation on the repository at `out`, holding its lock: `prepare(state)`
    gives the operation, the input files seen and how many were read; `change_keys(home)`
    (a key rotation) runs under the same lock before the keys are read."""
    date_override = source_date_epoch(env)
    home = signing_home or config.signing_home
    with locked(out):
        state = load_state(out)
        operation, seen, inputs = prepare(state)
        cache = ChunkCache(out / STATE_DIR / CHUNKS_DIR)
        now = int(clock())
        try:
            if change_keys is not None:
                change_keys(home)
            planned = plan(
                config, state, operation,
                now=now,
                date=now if date_override is None else date_override,
                exists=lambda path: (out / path).exists(),
                compressor=cache,
            )
            keys, created = signing.ensure_keys(home, config.key_uid, config.key_valid_for)
            public_keys = export_key(keys, out, config.keyring_name)
            execute(planned, out, keys, date_override)
        finally:
            if stop_agent:
                signing.stop_agent(home)
        cache.save({key for keys in planned.state.chunks.values() for key in keys})
        write_atomic(out / STATE_DIR / STATE_FILE,
                     to_json(replace(planned.state, seen=seen)).encode())
    warnings = signing.expiry_warnings(keys, now, config.valid_for)
    return Result(planned, keys, created, public_keys, inputs, warnings)


def existing(out: Path) -> Path:
    """`out`, which must hold a repository made by `publish`."""
    if not (out / STATE_DIR / STATE_FILE).is_file():
        raise PublishError(f"{out}: no repository published here (no {STATE_DIR}/"
                           f"{STATE_FILE}); publish into it first or name another --out")
    return out


def publish(
    config: RepoConfig,
    debs: Path,
    out: Path,
    *,
    suites: tuple[str, ...] | None = None,
    component: str | None = None,
    signing_home: Path | None = None,
    env: Mapping[str, str] = os.environ,
    clock: Callable[[], float] = time.time,
    stop_agent: bool = True,
) -> Result:
    """Publish every .deb and .dsc (with its files) under `debs` into the suites (default:
    all) of the repository at `out`; the Release Date is SOURCE_DATE_EPOCH when set, else
    now. The gpg-agent that signing starts is stopped afterwards unless `stop_agent` is
    false (a caller that publishes often saves its start-up, ~50 ms, and stops it with
    signing.stop_agent)."""
    out.mkdir(parents=True, exist_ok=True)

    def prepare(state: State) -> tuple[Operation, Mapping[str, SeenFile], int]:
        inputs, seen = scan(debs, state)
        operation = Publish(tuple(inputs), suites or tuple(s.name for s in config.suites),
                            component or config.default_component)
        return operation, seen, len(inputs)

    return operate(config, out, prepare, signing_home=signing_home, env=env, clock=clock,
                   stop_agent=stop_agent)


def change(
    config: RepoConfig,
    out: Path,
    operation: Operation,
    *,
    signing_home: Path | None = None,
    env: Mapping[str, str] = os.environ,
    clock: Callable[[], float] = time.time,
    change_keys: Callable[[Path], None] | None = None,
) -> Result:
    """Remove, copy, snapshot, roll back or re-sign (see plan.py's operations) in the
    repository at `out`, as atomically for clients as a publish."""
    return operate(config, existing(out), lambda state: (operation, state.seen, 0),
                   signing_home=signing_home, env=env, clock=clock, change_keys=change_keys)


def rotate_key(config: RepoConfig, out: Path, *, signing_home: Path | None = None,
               clock: Callable[[], float] = time.time) -> Result:
    """Start a key rotation: a new key beside the current one; both sign every Release
    and both are exported (the keyring package built next carries both)."""
    def add(home: Path) -> None:
        keys = signing.signing_keys(home, config.key_uid)
        if len(keys) > 1:
            raise PublishError(f"{home}: a rotation is under way already ({len(keys)} keys); "
                               "finish it first: homeguy repo key retire")
        signing.create_key(home, config.key_uid, config.key_valid_for)

    return change(config, out, Resign(), signing_home=signing_home, clock=clock,
                  change_keys=add)


def retire_key(config: RepoConfig, out: Path, *, signing_home: Path | None = None,
               fingerprint: str | None = None,
               clock: Callable[[], float] = time.time) -> Result:
    """Finish a key rotation: the oldest key (or the one named) stops signing and leaves
    the exported keyring; its secret part is kept in <signing_home>/retired/<fpr>.asc."""
    def drop(home: Path) -> None:
        keys = signing.signing_keys(home, config.key_uid)
        if len(keys) < 2:
            raise PublishError(f"{home}: only one signing key; start a rotation first "
                               "(homeguy repo key rotate), ship the keyring package with "
                               "both keys, then retire the old one")
        chosen = [k for k in keys if fingerprint is None or k.fingerprint == fingerprint]
        if not chosen:
            raise PublishError(f"{home}: no signing key {fingerprint}; keys: "
                               f"{', '.join(k.fingerprint for k in keys)}")
        signing.remove_key(chosen[0], home / signing.RETIRED / f"{chosen[0].fingerprint}.asc")

    return change(config, out, Resign(), signing_home=signing_home, clock=clock,
                  change_keys=drop)


def summary(result: Result, out: Path) -> str:
    """What a person reads after a publish."""
    report = result.plan.report
    lines = [f"{out}: {result.inputs} .deb/.dsc file(s) read, {len(report.added)} added to "
             "suites, "
             f"{report.unchanged} already published"]
    lines += [f"  + {suite}: {package}" for suite, package in report.added]
    lines += [f"  - {suite}: {package}" for suite, package in report.removed]
    lines += [f"  - {suite}: {package} (keep_versions)" for suite, package in report.dropped]
    lines.append(f"  {len(report.rewritten)} index file(s) written, Release signed for: "
                 f"{', '.join(report.signed) or 'none (unchanged)'}, "
                 f"{len(report.deleted)} expired file(s) deleted")
    if result.key_created:
        lines.append(f"  created the signing key {result.keys[0].fingerprint} in "
                     f"{result.keys[0].home}: back it up, clients trust it")
    fingerprints = ", ".join(k.fingerprint for k in result.keys)
    lines.append(f"  signing key{'s' if len(result.keys) > 1 else ''} {fingerprints}; "
                 f"public key: {result.public_keys[0]}, {result.public_keys[1]}")
    lines += [f"  warning: {warning}" for warning in result.warnings]
    return "\n".join(lines)
