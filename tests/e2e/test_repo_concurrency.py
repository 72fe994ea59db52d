"""apt-get update in a loop while the repository is republished 50 times: zero failures.

Each publish adds a new version of a package to both suites (so every index and Release
changes), while real apt in a bookworm chroot updates from the repository over HTTP with
retries off. Bounded: the publishes are paced and the loop stops after two minutes at most.
"""

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from homeguy.repo.publish import publish
from testkit import apt

pytestmark = pytest.mark.e2e

PUBLISHES = 50
PAUSE = 0.1  # seconds between publishes, so that many updates straddle one
DEADLINE = 120.0


def complaints(process: subprocess.CompletedProcess[str]) -> list[str]:
    """apt's error and warning lines (a failed fetch prints `Err:` and then `E:`/`W:`)."""
    text = process.stdout + process.stderr
    return [line for line in text.splitlines() if line.startswith(("Err:", "E:", "W:"))]


def test_apt_update_during_50_publishes_never_fails(tmp_path: Path) -> None:
    built = tmp_path / "built"
    built.mkdir()
    debs = [apt.build_deb(built, "hg-churn", f"{n}.0",
                              files={"usr/share/hg-churn/data": f"{n}\n" * n})
            for n in range(1, PUBLISHES + 2)]
    inbox, out = tmp_path / "inbox", tmp_path / "repo"
    with apt.gnupg_home() as home, apt.chroot(tmp_path / "root") as root:
        config = apt.config_for_tests(home, keep_versions=3, keep_superseded=600)
        inbox.mkdir()
        shutil.copy(debs[0], inbox)
        result = publish(config, inbox, out)
        errors: list[BaseException] = []
        done = threading.Event()

        def republish() -> None:
            try:
                for deb in debs[1:]:
                    shutil.rmtree(inbox)
                    inbox.mkdir()
                    shutil.copy(deb, inbox)
                    publish(config, inbox, out, stop_agent=False)  # reads only the new .deb
                    time.sleep(PAUSE)
            except BaseException as exc:  # reported by the test below
                errors.append(exc)
            finally:
                done.set()

        with apt.serve(out) as server:
            root.add_source("homeguy", server.url, "bookworm", result.public_keys[1])
            first = root.apt_get("update", "-o", "Acquire::Retries=0")
            assert first.returncode == 0 and not complaints(first), first.stdout + first.stderr
            publisher = threading.Thread(target=republish)
            started = time.monotonic()
            publisher.start()
            updates = []
            while not done.is_set() and time.monotonic() - started < DEADLINE:
                updates.append(root.apt_get("update", "-o", "Acquire::Retries=0"))
            publisher.join(timeout=DEADLINE)
            final = root.apt_get("update", "-o", "Acquire::Retries=0")
            install = root.apt_get("install", "-y", "hg-churn")
    assert not errors, errors
    assert done.is_set(), f"the publishes did not finish within {DEADLINE} s"
    failed = [(u.returncode, complaints(u)) for u in updates if u.returncode or complaints(u)]
    assert failed == [], f"{len(failed)} of {len(updates)} updates failed: {failed[:3]}"
    assert len(updates) >= 10, f"only {len(updates)} updates ran during the publishes"
    assert final.returncode == 0 and not complaints(final), final.stdout + final.stderr
    assert install.returncode == 0, install.stdout + install.stderr
    assert f"hg-churn ({PUBLISHES + 1}.0)" in install.stdout
    # apt saw many different generations of the indices, each fetched by hash.
    generations = {path for path, status in server.requests
                   if "/bookworm/main/binary-amd64/by-hash/" in path and status == 200}
    assert len(generations) >= 5, sorted(server.requests)
