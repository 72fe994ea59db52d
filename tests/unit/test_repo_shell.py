"""The publisher's thin shell, on scratch files: SOURCE_DATE_EPOCH, modification times,
the chunk cache, the state file and the lock."""

import os
from pathlib import Path

import pytest

from homeguy.repo import compress, signing
from homeguy.repo.plan import PublishError
from homeguy.repo.publish import ChunkCache, later_than, load_state, locked, source_date_epoch
from homeguy.repo.state import State, StateError

pytestmark = pytest.mark.unit


def test_source_date_epoch() -> None:
    assert source_date_epoch({}) is None
    assert source_date_epoch({"SOURCE_DATE_EPOCH": ""}) is None
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "1700000000"}) == 1700000000
    with pytest.raises(PublishError) as error:
        source_date_epoch({"SOURCE_DATE_EPOCH": "yesterday"})
    assert str(error.value) == ("SOURCE_DATE_EPOCH='yesterday' is not a number of seconds "
                                "since 1970; unset it or set it, e.g., to "
                                "$(git log -1 --format=%ct)")


def test_a_new_release_is_a_whole_second_newer(tmp_path: Path) -> None:
    """HTTP Last-Modified has whole seconds: a Release replaced within the same second
    must still look newer to a client asking If-Modified-Since."""
    old, new = tmp_path / "InRelease", tmp_path / ".InRelease.tmp"
    old.write_text("old")
    new.write_text("new")
    os.utime(old, (1000.5, 1000.5))
    os.utime(new, (1000.7, 1000.7))
    later_than(old, new)
    assert new.stat().st_mtime == 1001
    os.utime(new, (5000.2, 5000.2))
    later_than(old, new)
    assert new.stat().st_mtime == pytest.approx(5000.2)
    later_than(tmp_path / "missing", new)
    assert new.stat().st_mtime == pytest.approx(5000.2)


def test_chunk_cache_reuses_and_forgets(tmp_path: Path) -> None:
    cache = ChunkCache(tmp_path / "chunks")
    a, b = b"Package: a\n", b"Package: b\n"
    assert cache(".xz", a) == compress.lzma2(a)
    assert cache(".gz", b) == compress.gz(b)
    cache.save({compress.chunk_key(a)})
    assert sorted(p.name for p in (tmp_path / "chunks").iterdir()) == [
        f"{compress.chunk_key(a)}.xz"]
    again = ChunkCache(tmp_path / "chunks")
    (tmp_path / "chunks" / f"{compress.chunk_key(a)}.xz").write_bytes(b"cached")
    assert again(".xz", a) == b"cached"  # read, not compressed again
    assert again.new == {}
    again.save(set())
    assert list((tmp_path / "chunks").iterdir()) == []


def test_state_of_a_new_and_of_a_foreign_directory(tmp_path: Path) -> None:
    assert load_state(tmp_path) == State()
    (tmp_path / "dists").mkdir()
    with pytest.raises(StateError, match=r"state.json: missing, but .*/dists exists: this "
                                         r"directory was not made by this publisher"):
        load_state(tmp_path)


def test_one_publish_at_a_time(tmp_path: Path) -> None:
    busy = r"lock: another publish into .* is running; wait for it"
    with locked(tmp_path), pytest.raises(PublishError, match=busy), locked(tmp_path):
        pass
    with locked(tmp_path):
        pass


COLONS = """\
sec:u:255:22:4FD8011017369E99:1700000000:1763072000::u:::scSC:::+:::23::0:
fpr:::::::::0A1B2C3D4E5F60718293A4B5C6D7E8F94FD8011017369E99:
grp:::::::::ABCDEF:
uid:u::::1700000000::HASH::Homeguy archive signing key <archive@homeguy.invalid>::::::::::0:
sec:u:255:22:1111111111111111:1600000000:::u:::scSC:::+:::23::0:
fpr:::::::::99999999999999999999999999991111111111111111:
uid:u::::1600000000::HASH::Somebody else <else@homeguy.invalid>::::::::::0:
"""


def test_secret_keys_with_their_expiry() -> None:
    assert signing.parse_secret_keys(COLONS) == [
        ("0A1B2C3D4E5F60718293A4B5C6D7E8F94FD8011017369E99", 1700000000, 1763072000,
         "Homeguy archive signing key <archive@homeguy.invalid>"),
        ("99999999999999999999999999991111111111111111", 1600000000, None,
         "Somebody else <else@homeguy.invalid>"),
    ]


def test_a_key_that_expires_before_valid_until_is_named() -> None:
    home = Path("/h")
    day = 86400
    keys = (signing.SigningKey(home, "OLD", 0, 100 * day),
            signing.SigningKey(home, "NEW", 50 * day, None))
    assert signing.expiry_warnings(keys, 60 * day, 30 * day) == ()
    assert signing.expiry_warnings(keys, 70 * day, 30 * day) == (
        "signing key OLD expires 1970-04-11 00:00 UTC: start a key rotation now (homeguy "
        "repo key rotate), then ship the keyring package",)
    assert signing.expiry_warnings(keys, 100 * day, None)[0].startswith(
        "signing key OLD expired 1970-04-11")


def test_keys_changed_at_the_newest_creation_or_retirement() -> None:
    keys = (signing.SigningKey(Path("/h"), "OLD", 100), signing.SigningKey(Path("/h"), "NEW", 300))
    assert signing.keys_changed(keys, []) == 300
    assert signing.keys_changed(keys[1:], [500]) == 500
