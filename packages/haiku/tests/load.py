"""Load through the web, the way people make it: users who log in and submit the node form
at the same time (one thread and one HTTP session each). Used by the concurrency test and
bench/haiku_node_creation.py."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import requests

from tests.services import manage

PASSWORD = "correct horse battery"
_CREATED = re.compile(r"Node (\S+) created")


@dataclass(frozen=True)
class Answer:
    user: str
    name: str
    status: int
    created: bool
    seconds: float
    excerpt: str  # the start of a failed answer, for the test's message


def make_users(env: Mapping[str, str], count: int, prefix: str = "u") -> list[str]:
    """``count`` users with PASSWORD, made in one ``manage.py shell`` (Debian's python3)."""
    names = [f"{prefix}{i}" for i in range(count)]
    manage(env, "shell", "-c",
           "from haiku.models import User\n"
           f"for n in {names!r}:\n"
           f"    User.objects.create_user(n, n + '@example.org', {PASSWORD!r})\n")
    return names


def _session(base: str, user: str) -> requests.Session:
    session = requests.Session()
    # A connection per request: a kept-alive one that gunicorn closes after its keep-alive
    # time can be reused by the client at that very moment ("Remote end closed connection
    # without response"), which browsers retry and requests does not.
    session.headers["Connection"] = "close"
    session.get(f"{base}/accounts/login/", timeout=60).raise_for_status()
    response = session.post(f"{base}/accounts/login/", timeout=60, allow_redirects=False,
                            data={"username": user, "password": PASSWORD,
                                  "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    if response.status_code != 302:
        raise RuntimeError(f"{user} could not log in: HTTP {response.status_code}")
    return session


def create_nodes(base: str, users: list[str], per_user: int,
                 certificate_every: int = 4) -> tuple[list[Answer], float]:
    """Every user creates ``per_user`` mobile routers (one prefix; every
    ``certificate_every``-th keyed with a certificate) at once: the answers, and the
    seconds from the first request to the last answer."""
    sessions = {user: _session(base, user) for user in users}
    answers: list[Answer] = []
    lock = threading.Lock()
    start = threading.Barrier(len(users) + 1)

    def work(user: str) -> None:
        session = sessions[user]
        start.wait()
        for i in range(per_user):
            name = f"{user}-n{i}"
            keying = "certificate" if i % certificate_every == certificate_every - 1 \
                else "static"
            began = time.monotonic()
            try:
                response = session.post(f"{base}/nodes/new/", timeout=120, data={
                    "name": name, "kind": "router", "prefix_count": 1, "keying": keying,
                    "interface": "eth0",
                    "csrfmiddlewaretoken": session.cookies["csrftoken"]})
                status, text = response.status_code, response.text
            except requests.RequestException as exc:
                status, text = 0, f"{type(exc).__name__}: {exc}"
            match = _CREATED.search(text)
            answer = Answer(user, name, status, status == 200 and bool(match)
                            and match.group(1) == name, time.monotonic() - began,
                            "" if match else text[:300])
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    return answers, time.monotonic() - began
