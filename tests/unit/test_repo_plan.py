"""The planner: what a publish or another operation (remove, copy, snapshots and rollback,
re-signing) writes and deletes, in which order, and what is refused; source packages
(Sources stanzas, pool files, conflicts) included."""

import dataclasses
import hashlib
from collections.abc import Callable

import pytest
from debian.deb822 import Deb822, Release

from homeguy.repo import compress
from homeguy.repo.config import RepoConfig, parse_config
from homeguy.repo.packages import PackageError, make_source_record
from homeguy.repo.plan import (
    ConflictError,
    Copy,
    DropSnapshot,
    Input,
    Operation,
    Plan,
    PublishError,
    Remove,
    Resign,
    Rollback,
    TakeSnapshot,
    plan_publish,
)
from homeguy.repo.plan import plan as plan_operation
from homeguy.repo.state import State, StateError, from_json, to_json

pytestmark = pytest.mark.unit

CONFIG = parse_config("""
[repository]
origin = "Homeguy"
label = "Homeguy"
architectures = ["amd64", "all"]
keep_versions = 3
keep_superseded = "1h"
valid_for = "10d"

[[suite]]
name = "bookworm"

[[suite]]
name = "trixie"
""", "test.toml")
HOUR = 3600
DAY = 86400


def deb(name: str, version: str, arch: str = "all", content: str = "") -> Input:
    """An input .deb as the shell would describe it (hashes of a made-up content)."""
    body = f"{name} {version} {arch} {content}".encode()
    control = (f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
               f"Description: test {content}\n")
    return Input(f"in/{name}_{version}_{arch}.deb", hashlib.sha256(body).hexdigest(), len(body),
                 hashlib.md5(body).hexdigest(), control)


def plan(state: State, inputs: list[Input], *, now: int = 1000, config: RepoConfig = CONFIG,
         suites: tuple[str, ...] | None = None,
         exists: Callable[[str], bool] = lambda path: True) -> Plan:
    """A publish into `suites` (default: all of the configuration's)."""
    return plan_publish(config, state, inputs, component="main", now=now, date=now,
                        suites=suites or tuple(s.name for s in config.suites), exists=exists)


def packages(result: Plan, path: str) -> list[tuple[str, str, str]]:
    """(name, version, arch) listed by the index file written at `path` in this plan."""
    data = next(w.data for w in result.indices if w.path == path)
    return [(p["Package"], p["Version"], p["Architecture"])
            for p in Deb822.iter_paragraphs(data.decode())]


def listed(state: State, suite: str) -> list[str]:
    return sorted(state.packages[sha].describe()
                  for members in state.suites[suite].values() for sha in members)


def test_first_publish_writes_pool_then_indices_then_release() -> None:
    result = plan(State(), [deb("hg-tool", "1.0", "amd64"), deb("hg-data", "2", "all")])
    assert [c.path for c in result.pool] == ["pool/main/h/hg-data/hg-data_2_all.deb",
                                             "pool/main/h/hg-tool/hg-tool_1.0_amd64.deb"]
    assert [w.path for w in result.indices[:6]] == [
        f"dists/bookworm/main/binary-{arch}/Packages{suffix}"
        for arch in ("amd64", "all") for suffix in ("", ".gz", ".xz")
    ]
    # Every suite also has an (empty) Sources index: apt with a deb-src line fetches it.
    assert [w.path for w in result.indices[6:9]] == [
        f"dists/bookworm/main/source/Sources{suffix}" for suffix in ("", ".gz", ".xz")]
    assert result.indices[6].data == b""
    assert len(result.indices) == 18
    first = result.indices[0]
    sha256 = hashlib.sha256(first.data).hexdigest()
    sha512 = hashlib.sha512(first.data).hexdigest()
    assert first.by_hash == (f"dists/bookworm/main/binary-amd64/by-hash/SHA256/{sha256}",
                             f"dists/bookworm/main/binary-amd64/by-hash/SHA512/{sha512}")
    assert packages(result, "dists/bookworm/main/binary-amd64/Packages") == [
        ("hg-data", "2", "all"), ("hg-tool", "1.0", "amd64")]
    assert packages(result, "dists/bookworm/main/binary-all/Packages") == [
        ("hg-data", "2", "all")]
    assert [r.directory for r in result.releases] == ["dists/bookworm", "dists/trixie"]
    release = Release(result.releases[0].release.decode())
    assert release["Date"] == "Thu, 01 Jan 1970 00:16:40 UTC"
    assert release["Valid-Until"] == "Sun, 11 Jan 1970 00:16:40 UTC"
    assert [f["name"] for f in release["SHA256"]] == [
        f"main/{directory}{suffix}"
        for directory in ("binary-all/Packages", "binary-amd64/Packages", "source/Sources")
        for suffix in ("", ".gz", ".xz")]
    assert result.deletions == ()
    assert result.report.added == (("bookworm", "hg-data 2 (all)"), ("trixie", "hg-data 2 (all)"),
                                   ("bookworm", "hg-tool 1.0 (amd64)"),
                                   ("trixie", "hg-tool 1.0 (amd64)"))


def test_republishing_the_same_files_changes_nothing() -> None:
    inputs = [deb("hg-tool", "1.0", "amd64")]
    first = plan(State(), inputs)
    again = plan(first.state, inputs, now=2000)
    assert (again.pool, again.indices, again.releases, again.deletions) == ((), (), (), ())
    assert again.report.unchanged == 1
    assert again.state == first.state


def test_same_name_version_arch_with_other_content_is_refused() -> None:
    first = plan(State(), [deb("hg-tool", "1.0", "amd64")])
    rebuilt = deb("hg-tool", "1.0", "amd64", content="rebuilt")
    with pytest.raises(ConflictError) as error:
        plan(first.state, [rebuilt])
    old = deb("hg-tool", "1.0", "amd64").sha256
    assert str(error.value) == (
        f"in/hg-tool_1.0_amd64.deb: refusing hg-tool 1.0 (amd64): the repository "
        f"(pool/main/h/hg-tool/hg-tool_1.0_amd64.deb) has the same name, version and "
        f"architecture with different content (SHA256 {old} there, {rebuilt.sha256} here); "
        f"publish the rebuild under a new version, for example 1.0+b1"
    )


def test_conflict_inside_one_publish_names_both_files() -> None:
    one = deb("hg-tool", "1.0", "amd64")
    two = dataclasses.replace(deb("hg-tool", "1.0", "amd64", content="x"), path="in/z.deb")
    with pytest.raises(ConflictError) as error:
        plan(State(), [two, one])
    assert str(error.value).startswith(
        f"in/z.deb: refusing hg-tool 1.0 (amd64): in/hg-tool_1.0_amd64.deb has the same name, "
        f"version and architecture with different content (SHA256 {one.sha256} there, "
        f"{two.sha256} here)"
    )


def test_epochs_cannot_share_a_pool_file() -> None:
    first = plan(State(), [deb("hg-tool", "1.0", "amd64")])
    with pytest.raises(ConflictError, match=r"refusing hg-tool 1:1.0 \(amd64\): its pool file "
                       r"pool/main/h/hg-tool/hg-tool_1.0_amd64.deb is taken by hg-tool 1.0 "
                       r"\(amd64\)"):
        plan(first.state, [deb("hg-tool", "1:1.0", "amd64")])


def test_unknown_architecture_suite_and_component() -> None:
    with pytest.raises(PublishError) as error:
        plan(State(), [deb("hg-tool", "1.0", "arm64")])
    assert str(error.value) == (
        "in/hg-tool_1.0_arm64.deb: architecture arm64 is not published by this repository "
        "(test.toml: architectures = ['amd64', 'all']); add it there or leave the file out")
    with pytest.raises(PublishError, match=r"suite 'sid' is not in test.toml \(suites: "
                                           r"bookworm, trixie\); add a \[\[suite\]\] or pick one"):
        plan(State(), [], suites=("sid",))
    with pytest.raises(PublishError, match=r"component 'contrib' is not in test.toml"):
        plan_publish(CONFIG, State(), [], suites=("bookworm",), component="contrib", now=1,
                     date=1, exists=lambda p: True)


def test_keep_versions_keeps_the_newest_by_debian_ordering() -> None:
    versions = ["1.0", "1.10", "1.9", "2.0~rc1", "2.0"]
    result = plan(State(), [deb("hg-tool", v) for v in versions], suites=("bookworm",))
    assert listed(result.state, "bookworm") == ["hg-tool 1.10 (all)", "hg-tool 2.0 (all)",
                                                "hg-tool 2.0~rc1 (all)"]
    assert sorted(result.report.dropped) == [("bookworm", "hg-tool 1.0 (all)"),
                                             ("bookworm", "hg-tool 1.9 (all)")]
    # Versions that are dropped at once never reach the pool.
    assert sorted(c.path.rsplit("/", 1)[1] for c in result.pool) == [
        "hg-tool_1.10_all.deb", "hg-tool_2.0_all.deb", "hg-tool_2.0~rc1_all.deb"]
    # Each architecture of a package counts on its own.
    more = plan(result.state, [deb("hg-tool", "0.1", "amd64")], suites=("bookworm",))
    assert "hg-tool 0.1 (amd64)" in listed(more.state, "bookworm")


def test_adding_to_one_suite_rewrites_only_its_changed_indices() -> None:
    first = plan(State(), [deb("hg-tool", "1.0", "amd64"), deb("hg-data", "1", "all")])
    second = plan(first.state, [deb("hg-tool", "1.1", "amd64")], suites=("bookworm",),
                  now=2000)
    assert [c.path for c in second.pool] == ["pool/main/h/hg-tool/hg-tool_1.1_amd64.deb"]
    assert [w.path for w in second.indices] == [
        "dists/bookworm/main/binary-amd64/Packages",
        "dists/bookworm/main/binary-amd64/Packages.gz",
        "dists/bookworm/main/binary-amd64/Packages.xz",
    ]
    assert [r.suite for r in second.releases] == ["bookworm"]
    assert second.report.unchanged == 0


def test_an_incremental_publish_compresses_only_the_chunks_that_changed() -> None:
    compressed: list[tuple[str, bytes]] = []
    cache: dict[tuple[str, bytes], bytes] = {}

    def counting(suffix: str, data: bytes) -> bytes:
        if (suffix, data) not in cache:
            compressed.append((suffix, data))
            cache[(suffix, data)] = compress.compress_uncached(suffix, data)
        return cache[(suffix, data)]

    many = [deb(f"hg-pkg{n:03d}", "1", "amd64") for n in range(400)]
    first = plan_publish(CONFIG, State(), many, suites=("bookworm",), component="main",
                         now=1000, date=1000, exists=lambda p: True, compressor=counting)
    chunks = first.state.chunks["dists/bookworm/main/binary-amd64/Packages"]
    assert len(chunks) > 5
    assert len(compressed) == 2 * (len(set(chunks)) + 1)  # amd64 chunks, empty binary-all
    compressed.clear()
    second = plan_publish(CONFIG, first.state, [deb("hg-pkg100a", "1", "amd64")],
                          suites=("bookworm",), component="main", now=2000, date=2000,
                          exists=lambda p: True, compressor=counting)
    assert 2 <= len(compressed) <= 4  # .gz and .xz of the one or two chunks that changed
    index = next(w.data for w in second.indices if w.path.endswith("amd64/Packages.xz"))
    fresh = plan(State(), [*many, deb("hg-pkg100a", "1", "amd64")], suites=("bookworm",))
    assert index == next(w.data for w in fresh.indices if w.path.endswith("amd64/Packages.xz"))


def test_superseded_by_hash_files_are_kept_for_keep_superseded() -> None:
    """Retention by time: however many publishes happen within the hour, nothing that a
    client may still be fetching is deleted."""
    state = plan(State(), [deb("hg-tool", "1")], suites=("bookworm",)).state
    first_files = dict(state.files)
    old_links = {link for path, entry in first_files.items()
                 if path.startswith("dists/bookworm/main/binary-")  # Sources stays empty
                 for link in (f"{path.rpartition('/')[0]}/by-hash/SHA256/{entry.sha256}",
                              f"{path.rpartition('/')[0]}/by-hash/SHA512/{entry.sha512}")}
    for step, version in enumerate(["2", "3", "4", "5", "6", "7", "8"], start=1):
        result = plan(state, [deb("hg-tool", version)], suites=("bookworm",),
                      now=2000 + step * 60)
        assert result.deletions == ()
        state = result.state
    assert old_links <= set(state.retired)
    assert {state.retired[link] for link in old_links} == {2060}
    just_before = plan(state, [], now=2060 + HOUR - 1)
    assert not old_links & set(just_before.deletions)
    expired = plan(state, [], now=2060 + HOUR)
    assert old_links <= set(expired.deletions)
    assert not old_links & set(expired.state.retired)


def test_pool_files_leave_after_keep_superseded_and_then_the_version_is_free() -> None:
    one = parse_config(CONFIG_TEXT_KEEP_ONE, "one.toml")
    state = plan(State(), [deb("hg-tool", "1")], config=one).state
    state = plan(state, [deb("hg-tool", "2")], config=one, now=2000).state
    pool_1 = "pool/main/h/hg-tool/hg-tool_1_all.deb"
    assert state.retired[pool_1] == 2000
    assert listed(state, "bookworm") == ["hg-tool 2 (all)"]
    # While the old file is still reachable, another build of 1 is refused...
    with pytest.raises(ConflictError):
        plan(state, [deb("hg-tool", "1", content="other")], config=one, now=2001)
    # ...and once it expired, it is deleted and its control data forgotten.
    expired = plan(state, [], config=one, now=2000 + HOUR)
    assert pool_1 in expired.deletions
    assert deb("hg-tool", "1").sha256 not in expired.state.packages


def test_republishing_a_retired_package_brings_it_back() -> None:
    one = parse_config(CONFIG_TEXT_KEEP_ONE, "one.toml")
    state = plan(State(), [deb("hg-tool", "2")], config=one).state
    state = plan(state, [deb("hg-tool", "3")], config=one, now=2000).state
    state = plan(state, [deb("hg-tool", "3"), deb("hg-tool", "2")], config=one, now=2100).state
    assert "pool/main/h/hg-tool/hg-tool_3_all.deb" not in state.retired


CONFIG_TEXT_KEEP_ONE = """
[repository]
origin = "O"
label = "L"
keep_versions = 1
keep_superseded = "1h"

[[suite]]
name = "bookworm"
"""


def test_missing_files_are_written_again() -> None:
    inputs = [deb("hg-tool", "1.0", "amd64")]
    first = plan(State(), inputs, suites=("bookworm",))
    gone = {"dists/bookworm/main/binary-all/Packages.xz", "dists/bookworm/InRelease",
            "pool/main/h/hg-tool/hg-tool_1.0_amd64.deb"}
    again = plan(first.state, inputs, suites=("bookworm",), now=2000,
                 exists=lambda path: path not in gone)
    assert [c.path for c in again.pool] == ["pool/main/h/hg-tool/hg-tool_1.0_amd64.deb"]
    assert {w.path.rsplit("/", 1)[0] for w in again.indices} == {
        "dists/bookworm/main/binary-all"}
    assert [r.suite for r in again.releases] == ["bookworm"]
    assert again.deletions == ()


def test_release_is_signed_again_when_half_of_valid_for_has_passed() -> None:
    first = plan(State(), [])
    assert plan(first.state, [], now=1000 + 5 * DAY - 1).releases == ()
    refreshed = plan(first.state, [], now=1000 + 5 * DAY)
    assert [r.suite for r in refreshed.releases] == ["bookworm", "trixie"]
    assert refreshed.indices == ()


def test_state_round_trips_through_json() -> None:
    result = plan(State(), [deb("hg-tool", "1.0", "amd64"), deb("hg-data", "1")])
    state = plan(result.state, [deb("hg-tool", "1.1", "amd64")], now=5000).state
    assert from_json(to_json(state), "s.json") == state
    assert to_json(from_json(to_json(state), "s.json")) == to_json(state)


def test_damaged_state_says_what_to_do() -> None:
    with pytest.raises(StateError) as error:
        from_json('{"format": 1, "packages": []}', "out/.homeguy/state.json")
    assert str(error.value).startswith("out/.homeguy/state.json: the publisher's state is "
                                       "damaged (")
    with pytest.raises(StateError, match="state format 9, this publisher reads format 1"):
        from_json('{"format": 9}', "s.json")


ORIG = ("hg-src_1.0.orig.tar.xz", 100, "1" * 32, "2" * 64)


def dsc(name: str, version: str, files: list[tuple[str, int, str, str]]) -> Input:
    """An input .dsc as the shell would describe it: its text and its own hashes."""
    text = (f"Format: 3.0 (quilt)\nSource: {name}\nBinary: {name}\nArchitecture: any\n"
            f"Version: {version}\nMaintainer: T <t@homeguy.invalid>\n"
            "Checksums-Sha1:\n" + "".join(f" {'9' * 40} {s} {n}\n" for n, s, _, _ in files)
            + "Checksums-Sha256:\n" + "".join(f" {h} {s} {n}\n" for n, s, _, h in files)
            + "Files:\n" + "".join(f" {m} {s} {n}\n" for n, s, m, _ in files))
    body = text.encode()
    return Input(f"in/{name}_{version}.dsc", hashlib.sha256(body).hexdigest(), len(body),
                 hashlib.md5(body).hexdigest(), text)


def debian_tar(version: str) -> tuple[str, int, str, str]:
    digest = hashlib.sha256(version.encode()).hexdigest()
    return (f"hg-src_{version}.debian.tar.xz", 10, digest[:32], digest)


def operate(state: State, operation: Operation, now: int = 2000) -> Plan:
    return plan_operation(CONFIG, state, operation, now=now, date=now, exists=lambda path: True)


def test_sources_stanza_lists_the_dsc_and_its_directory() -> None:
    item = dsc("hg-src", "1.0-1", [ORIG, debian_tar("1.0-1")])
    record = make_source_record(item.control or "", item.path, "main", item.size,
                                item.md5 or "", item.sha256)
    stanza = Deb822(record.stanza)
    assert list(stanza) == ["Package", "Format", "Binary", "Architecture", "Version",
                            "Maintainer", "Checksums-Sha256", "Files", "Directory"]
    assert stanza["Directory"] == "pool/main/h/hg-src"
    assert stanza["Checksums-Sha256"].splitlines()[1:3] == [
        f" {item.sha256} {item.size} hg-src_1.0-1.dsc", f" {'2' * 64} 100 {ORIG[0]}"]
    assert stanza["Files"].splitlines()[1] == f" {item.md5} {item.size} hg-src_1.0-1.dsc"
    assert (record.architecture, record.pool) == ("source", "pool/main/h/hg-src/hg-src_1.0-1.dsc")
    assert record.paths[1:] == ("pool/main/h/hg-src/hg-src_1.0.orig.tar.xz",
                                "pool/main/h/hg-src/hg-src_1.0-1.debian.tar.xz")


@pytest.mark.parametrize(("text", "message"), [
    ("Source: hg-src\nVersion: 1\n", "in/x.dsc: .dsc has no Files field"),
    (f"Source: hg-src\nVersion: 1\nFiles:\n x 1 ../evil\nChecksums-Sha256:\n {'2' * 64} 1 "
     "../evil\n", "in/x.dsc: lists the file '../evil', which is not a plain file name"),
])
def test_bad_dsc_is_refused(text: str, message: str) -> None:
    with pytest.raises(PackageError, match=message.replace(".", r"\.")):
        make_source_record(text, "in/x.dsc", "main", 1, "m", "s")


def test_sources_index_and_pool_files_of_a_source_package() -> None:
    source = dsc("hg-src", "1.0-1", [ORIG, debian_tar("1.0-1")])
    result = plan(State(), [source, deb("hg-src", "1.0-1", "amd64")], suites=("bookworm",))
    assert [(c.source, c.path) for c in result.pool] == [
        ("in/hg-src_1.0-1.dsc", "pool/main/h/hg-src/hg-src_1.0-1.dsc"),
        ("in/hg-src_1.0.orig.tar.xz", "pool/main/h/hg-src/hg-src_1.0.orig.tar.xz"),
        ("in/hg-src_1.0-1.debian.tar.xz", "pool/main/h/hg-src/hg-src_1.0-1.debian.tar.xz"),
        ("in/hg-src_1.0-1_amd64.deb", "pool/main/h/hg-src/hg-src_1.0-1_amd64.deb")]
    sources = next(w.data for w in result.indices
                   if w.path == "dists/bookworm/main/source/Sources")
    assert [p["Package"] for p in Deb822.iter_paragraphs(sources.decode())] == ["hg-src"]
    binary = next(w.data for w in result.indices
                  if w.path == "dists/bookworm/main/binary-amd64/Packages")
    assert b"Architecture: source" not in binary
    # A second revision shares the orig tarball: copied once, kept while either is held.
    second = plan(result.state, [dsc("hg-src", "1.0-2", [ORIG, debian_tar("1.0-2")])],
                     suites=("bookworm",), now=2000)
    assert [c.path.rpartition("/")[2] for c in second.pool] == [
        "hg-src_1.0-2.dsc", "hg-src_1.0-2.debian.tar.xz"]
    gone = operate(second.state, Remove("bookworm", ("hg-src=1.0-1",)), now=3000)
    assert "pool/main/h/hg-src/hg-src_1.0.orig.tar.xz" not in gone.state.retired
    assert "pool/main/h/hg-src/hg-src_1.0-1.debian.tar.xz" in gone.state.retired
    assert from_json(to_json(gone.state), "s.json") == gone.state


def test_a_tarball_with_other_content_under_the_same_name_is_refused() -> None:
    first = plan(State(), [dsc("hg-src", "1.0-1", [ORIG, debian_tar("1.0-1")])])
    other = (ORIG[0], 100, "3" * 32, "4" * 64)
    with pytest.raises(ConflictError, match=r"refusing hg-src 1.0-2 \(source\): its file "
                       r"pool/main/h/hg-src/hg-src_1.0.orig.tar.xz differs from the one "
                       r"hg-src 1.0-1 \(source\) has in the pool"):
        plan(first.state, [dsc("hg-src", "1.0-2", [other, debian_tar("1.0-2")])])


@pytest.fixture
def two_versions() -> State:
    state = plan(State(), [deb("hg-tool", "1.0", "amd64"), deb("hg-tool", "1.0"),
                              deb("hg-data", "1")], suites=("bookworm",)).state
    return plan(state, [deb("hg-tool", "2.0", "amd64")], suites=("bookworm",)).state


def test_remove_takes_every_version_or_one(two_versions: State) -> None:
    one = operate(two_versions, Remove("bookworm", ("hg-tool=2.0",)))
    assert listed(one.state, "bookworm") == ["hg-data 1 (all)", "hg-tool 1.0 (all)",
                                             "hg-tool 1.0 (amd64)"]
    assert one.report.removed == (("bookworm", "hg-tool 2.0 (amd64)"),)
    assert [r.suite for r in one.releases] == ["bookworm"]
    assert "pool/main/h/hg-tool/hg-tool_2.0_amd64.deb" in one.state.retired
    every = operate(two_versions, Remove("bookworm", ("hg-tool",)))
    assert listed(every.state, "bookworm") == ["hg-data 1 (all)"]
    with pytest.raises(PublishError, match=r"suite 'bookworm' has no package hg-tool=9; it "
                                           r"holds: hg-data, hg-tool"):
        operate(two_versions, Remove("bookworm", ("hg-tool=9",)))


def test_copy_promotes_the_newest_version_or_the_whole_suite(two_versions: State) -> None:
    newest = operate(two_versions, Copy("bookworm", "trixie", ("hg-tool",)))
    assert listed(newest.state, "trixie") == ["hg-tool 1.0 (all)", "hg-tool 2.0 (amd64)"]
    assert newest.report.added == (("trixie", "hg-tool 1.0 (all)"),
                                   ("trixie", "hg-tool 2.0 (amd64)"))
    assert newest.pool == ()  # the same pool files
    assert [r.suite for r in newest.releases] == ["trixie"]
    everything = operate(two_versions, Copy("bookworm", "trixie"))
    assert listed(everything.state, "trixie") == listed(two_versions, "bookworm")
    again = operate(everything.state, Copy("bookworm", "trixie"))
    assert (again.indices, again.releases, again.report.added) == ((), (), ())
    with pytest.raises(PublishError, match="copy from 'bookworm' to itself"):
        operate(two_versions, Copy("bookworm", "bookworm"))


def test_snapshot_rollback_and_drop(two_versions: State) -> None:
    taken = operate(two_versions, TakeSnapshot("before-3"))
    assert (taken.indices, taken.releases) == ((), ())
    changed = plan(taken.state, [deb("hg-tool", "3.0", "amd64"), deb("hg-tool", "4.0",
                                                                        "amd64")],
                      suites=("bookworm",), now=3000)
    changed = operate(changed.state, Remove("bookworm", ("hg-data",)), now=3000)
    # keep_versions dropped hg-tool 1.0 (amd64): the snapshot keeps it in the pool.
    assert "hg-tool 1.0 (amd64)" not in listed(changed.state, "bookworm")
    assert "pool/main/h/hg-tool/hg-tool_1.0_amd64.deb" not in changed.state.retired
    back = operate(changed.state, Rollback("before-3"), now=4000)
    assert listed(back.state, "bookworm") == listed(two_versions, "bookworm")
    assert sorted(back.report.removed) == [("bookworm", "hg-tool 3.0 (amd64)"),
                                           ("bookworm", "hg-tool 4.0 (amd64)")]
    assert [r.suite for r in back.releases] == ["bookworm"]
    with pytest.raises(PublishError, match="snapshot 'before-3' exists already"):
        operate(back.state, TakeSnapshot("before-3"))
    with pytest.raises(PublishError, match=r"no snapshot 'nope'; snapshots: before-3"):
        operate(back.state, Rollback("nope"))
    dropped = operate(changed.state, DropSnapshot("before-3"), now=5000)
    assert dropped.state.snapshots == {}
    assert dropped.state.retired["pool/main/h/hg-tool/hg-tool_1.0_amd64.deb"] == 5000
    assert from_json(to_json(back.state), "s.json") == back.state


def test_resign_signs_every_suite_and_writes_no_index(two_versions: State) -> None:
    result = operate(two_versions, Resign())
    assert [r.suite for r in result.releases] == ["bookworm", "trixie"]
    assert (result.indices, result.pool, result.deletions) == ((), (), ())
