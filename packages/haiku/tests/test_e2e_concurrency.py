"""200 node creations by 20 users at once, through the web forms, against the service run
with its unit's command line (Debian's gunicorn and python3-django), on SQLite and on
PostgreSQL, with the stand-in home agent: every request creates its node, no address or
prefix is handed out twice, every node has its include file, and no traceback is logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from testkit.mip6d_fakes import StandInHomeAgent
from tests.load import create_nodes, make_users
from tests.services import manage, postgres, service

pytestmark = pytest.mark.e2e

USERS, PER_USER = 20, 10

COUNTS = """
import json
from haiku.models import MobileNetworkPrefix as P, Node as N
print(json.dumps({
    "nodes": N.objects.count(),
    "addresses": N.objects.values("home_address").distinct().count(),
    "slots": N.objects.values("slot").distinct().count(),
    "prefixes": P.objects.count(),
    "distinct_prefixes": P.objects.values("prefix").distinct().count(),
    "ids": sorted(N.objects.values_list("id", flat=True)),
}))
"""


@pytest.fixture(params=[("sqlite", "stand-in"), ("postgresql", "stand-in"),
                        ("sqlite", "none"), ("postgresql", "none")], ids="-".join)
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str],
                                                                            Path, Path]]:
    """The service on each database, with the stand-in home agent (every creation reloads
    it, which re-reads every file), and without one (creations come faster: more of them
    race for the pools)."""
    database, home_agent = request.param
    with ExitStack() as stack:
        env = {"HAIKU_STATE_DIR": str(tmp_path / "state"),
               "HAIKU_NODES_DIR": str(tmp_path / "nodes.d"),
               "HAIKU_CONTROL_SOCKET": str(tmp_path / "none.sock")}
        if home_agent == "stand-in":
            ha = StandInHomeAgent(tmp_path / "ha")
            stack.callback(ha.stop)
            env["HAIKU_NODES_DIR"] = str(ha.nodes_dir)
            env["HAIKU_CONTROL_SOCKET"] = str(ha.socket_path)
        if database == "postgresql":
            env["HAIKU_DATABASE_URL"] = stack.enter_context(postgres())
        log = tmp_path / "server.log"
        base = stack.enter_context(service(env, log))
        yield base, env, Path(env["HAIKU_NODES_DIR"]), log


def test_200_creations_by_20_users_at_once(stack: tuple[str, dict[str, str], Path, Path]
                                           ) -> None:
    base, env, nodes_dir, log = stack
    users = make_users(env, USERS)
    answers, _seconds = create_nodes(base, users, PER_USER)
    failed = [a for a in answers if not a.created]
    assert len(answers) == USERS * PER_USER
    assert failed == [], f"{len(failed)} of {len(answers)} failed, e.g. {failed[:3]}"
    counts = json.loads(manage(env, "shell", "-c", COUNTS))
    n = USERS * PER_USER
    assert (counts["nodes"], counts["addresses"], counts["slots"]) == (n, n, n)
    assert (counts["prefixes"], counts["distinct_prefixes"]) == (n, n)
    files = sorted(p.name for p in nodes_dir.iterdir())
    assert files == sorted(f"haiku-{i}.conf" for i in counts["ids"])
    text = log.read_text()
    assert "Traceback" not in text and " 500 " not in text
