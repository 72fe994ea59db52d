import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeguy.lab import installed
from homeguy.lab.pytest_plugin import ARTIFACTS_ENV, in_lab
from homeguy.lab.topology import Topology
from testkit import strongswan_lab

# The test modules that run charon (their builds are unpacked before the lab boots).
STRONGSWAN_TESTS = ("test_strongswan_mip6.py", "test_mip6d_ike.py", "test_haiku_crl.py",
                    "test_haiku_node_key.py",
                    "test_mip6d_mixed_keying.py")


@pytest.fixture
def net(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """A fresh topology, torn down after the test whatever its outcome.

    Its logs, configurations and captures stay in out/lab/session/<guest>/artifacts/<test>/.
    """
    workdir = Path(os.environ.get(ARTIFACTS_ENV, "/tmp/homeguy-lab"))
    workdir /= re.sub(r"[^\w.-]+", "_", request.node.name)
    workdir.mkdir(parents=True, exist_ok=True)
    with Topology(workdir) as topology:
        yield topology


def pytest_collection_finish(session: pytest.Session) -> None:
    """On the host, before the lab boots: the packages the tests run, installed by apt
    (mip6d and HAiku), and the strongSwan builds (the guest sees the host's files
    read-only and cannot build or download)."""
    if not in_lab() and any(item.get_closest_marker("lab") for item in session.items):
        installed.prepare()
    names = [item.name for item in session.items if item.path.name in STRONGSWAN_TESTS
             and item.get_closest_marker("lab")]
    if names and not in_lab():
        strongswan_lab.prepare(strongswan_lab.needed(names))
