"""PostgreSQL: migrations, and concurrent node creation from several processes with
several threads each, against a real server. The database's unique constraints decide
races; no address or prefix is ever handed out twice, and an exhausted pool says so. The
node configuration endpoint's own query and cache answer as the ORM renders, on
PostgreSQL too."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import PACKAGE, SLOT_MODULE_DIR, manage, postgres, unit_environment

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with postgres() as url:
        yield url


def _env(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    return {"HAIKU_DATABASE_URL": url, "HAIKU_STATE_DIR": str(tmp / "state"),
            "HAIKU_NODES_DIR": str(tmp / "nodes.d"),
            "HAIKU_CONTROL_SOCKET": str(tmp / "none.sock"), **extra}


def _workers(env: dict[str, str], processes: int, threads: int, per_thread: int,
             prefixes: int) -> list[dict[str, list[str]]]:
    full = unit_environment(env) | {"PYTHONPATH": f"{PACKAGE}:{SLOT_MODULE_DIR}"}
    procs = [subprocess.Popen(["/usr/bin/python3", "-m", "tests.concurrent_create",
                               str(threads), str(per_thread), str(prefixes), f"p{p}"],
                              cwd=PACKAGE, env=full, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for p in range(processes)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def _psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-At", "-c", sql], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_concurrent_creation_never_allocates_twice(database_url: str, tmp_path: Path) -> None:
    env = _env(database_url, tmp_path)
    manage(env, "migrate", "--noinput")
    results = _workers(env, processes=3, threads=4, per_thread=5, prefixes=2)
    assert [r["errors"] for r in results] == [[], [], []]
    created = [a for r in results for a in r["created"]]
    assert len(created) == 60 and len(set(created)) == 60
    assert _psql(database_url, "SELECT count(*), count(DISTINCT home_address), "
                 "count(DISTINCT slot) FROM haiku_node") == "60|60|60"
    assert _psql(database_url, "SELECT count(*), count(DISTINCT prefix) "
                 "FROM haiku_mobilenetworkprefix") == "120|120"
    # The unique constraints are the database's, not only the allocator's.
    # A copy of a row (every column, whatever later migrations add) with only the home
    # address left the same.
    duplicate = subprocess.run(
        ["psql", database_url, "-c", "CREATE TEMP TABLE dup AS SELECT * FROM haiku_node "
         "LIMIT 1; UPDATE dup SET id = id + 100000, name = 'dup', slot = slot + 100000, "
         "token_digest = NULL; INSERT INTO haiku_node SELECT * FROM dup"],
        capture_output=True, text=True, check=False)
    assert duplicate.returncode != 0
    assert "haiku_node_home_address_key" in duplicate.stderr


def test_concurrent_creation_exhausts_the_pool_cleanly(database_url: str,
                                                       tmp_path: Path) -> None:
    _psql(database_url, "TRUNCATE haiku_node, haiku_mobilenetworkprefix CASCADE")
    env = _env(database_url, tmp_path, HAIKU_HOME_POOL_SIZE="1000", HAIKU_MNP_POOL_SIZE="25")
    results = _workers(env, processes=2, threads=3, per_thread=3, prefixes=2)
    assert [r["errors"] for r in results] == [[], []]
    created = [a for r in results for a in r["created"]]
    exhausted = [e for r in results for e in r["exhausted"]]
    assert len(created) == 12 and len(exhausted) == 6  # 12 routers x 2 prefixes <= 25
    assert all("mobile network prefix pool is exhausted" in e for e in exhausted)
    assert _psql(database_url, "SELECT count(*) FROM haiku_mobilenetworkprefix") == "24"
    assert _psql(database_url, "SELECT count(*) FROM haiku_node") == "12"


def test_node_configuration_answers_as_the_orm_renders(database_url: str,
                                                       tmp_path: Path) -> None:
    env = _env(database_url, tmp_path)
    manage(env, "migrate", "--noinput")
    full = unit_environment(env) | {"PYTHONPATH": f"{PACKAGE}:{SLOT_MODULE_DIR}"}
    out = subprocess.run(["/usr/bin/python3", "-m", "tests.selfconfig_compare"], cwd=PACKAGE,
                         env=full, capture_output=True, text=True, check=False, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"differed": [], "checked": 3}
