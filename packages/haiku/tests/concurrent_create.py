"""Worker for the concurrency test: creates nodes from several threads against the
database of HAIKU_DATABASE_URL, and prints one JSON line of what happened.

    python3 -m tests.concurrent_create THREADS NODES_PER_THREAD PREFIXES TAG
"""

from __future__ import annotations

import json
import os
import sys
import threading

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "haiku.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from haiku.core.render import Keying, NodeKind  # noqa: E402
from haiku.models import User  # noqa: E402
from haiku.nodes import NodeRequest, PoolExhausted, create_node  # noqa: E402


def main(threads: int, per_thread: int, prefixes: int, tag: str) -> None:
    user, _ = User.objects.get_or_create(username=f"load-{tag}")
    results: dict[str, list[str]] = {"created": [], "exhausted": [], "errors": []}
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        start.wait()
        try:
            for i in range(per_thread):
                req = NodeRequest(f"{tag}-{t}-{i}", NodeKind.ROUTER, prefixes, Keying.STATIC)
                try:
                    node = create_node(user, req)
                except PoolExhausted as exc:
                    with lock:
                        results["exhausted"].append(str(exc))
                else:
                    with lock:
                        results["created"].append(node.home_address)
        except Exception as exc:  # reported, so that the test shows it
            with lock:
                results["errors"].append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    print(json.dumps(results))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
