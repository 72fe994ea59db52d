import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeguy.lab.pytest_plugin import ARTIFACTS_ENV
from homeguy.lab.topology import Topology


@pytest.fixture
def net(request: pytest.FixtureRequest) -> Iterator[Topology]:
    """A fresh topology, torn down after the test whatever its outcome.

    Its logs, configurations and captures stay in out/lab/session/artifacts/<test>/.
    """
    workdir = Path(os.environ.get(ARTIFACTS_ENV, "/tmp/homeguy-lab"))
    workdir /= re.sub(r"[^\w.-]+", "_", request.node.name)
    workdir.mkdir(parents=True, exist_ok=True)
    with Topology(workdir) as topology:
        yield topology
