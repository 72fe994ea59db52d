"""Long ISO downloads against the service run with its unit's command line (Debian's
gunicorn): ten clients read their node's image at a throttled 1 MB/s, each for longer than
the unit's --timeout, with a small receive buffer (so the server cannot finish early into
socket buffers). Every image arrives whole, with the published checksum, and the web pages
answer all the while."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from homeguy_slot import slot_bytes

from tests.load import PASSWORD, make_users
from tests.services import service, unit_lines

pytestmark = pytest.mark.e2e

CLIENTS = 10
RATE = 1 << 20  # bytes per second and client
SLOT_OFFSET, SLOT_SIZE = 1 << 20, 8192


def unit_timeout() -> int:
    match = re.search(r"--timeout (\d+)", unit_lines("ExecStart")[0])
    assert match, "the unit's gunicorn line has no --timeout"
    return int(match.group(1))


@pytest.fixture
def base_iso(tmp_path: Path) -> Path:
    """A stand-in base image that takes --timeout + 10 s to read at RATE."""
    size = (unit_timeout() + 10) * RATE
    iso = tmp_path / "base.iso"
    with open(iso, "wb") as out:
        block = bytes(range(256)) * 4096
        for _ in range(size // len(block)):
            out.write(block)
        out.seek(SLOT_OFFSET)
        out.write(slot_bytes("", "", 90, SLOT_SIZE))
    digest = hashlib.sha256(iso.read_bytes()).hexdigest()
    (tmp_path / "base.iso.json").write_text(json.dumps({
        "profile": "mobile-host", "size": size, "sha256": digest,
        "slot": {"path": "/homeguy/node.conf", "offset": SLOT_OFFSET, "size": SLOT_SIZE}}))
    return iso


@dataclass
class Download:
    status: str = ""
    length: int = 0
    sha256: str = ""
    published: str = ""
    error: str = ""


def slow_get(port: int, path: str, cookie: str, out: Download) -> None:
    """GET over a socket with a 64 KiB receive buffer, read at RATE."""
    try:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            sock.settimeout(60)
            sock.connect(("127.0.0.1", port))
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
                         "Connection: close\r\n\r\n".encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError(f"no headers: {data!r}")
                data += chunk
            head, body = data.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            out.status = lines[0]
            headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
            out.published = headers.get("x-checksum-sha256", "")
            digest = hashlib.sha256(body)
            out.length = len(body)
            began = time.monotonic()
            while chunk := sock.recv(65536):
                digest.update(chunk)
                out.length += len(chunk)
                ahead = out.length / RATE - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
            out.sha256 = digest.hexdigest()
    except Exception as exc:  # reported by the test
        out.error = f"{type(exc).__name__}: {exc}"


@pytest.fixture
def served(base_iso: Path, tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    env = {"HAIKU_STATE_DIR": str(tmp_path / "state"),
           "HAIKU_NODES_DIR": str(tmp_path / "nodes.d"),
           "HAIKU_CONTROL_SOCKET": str(tmp_path / "none.sock"),
           "HAIKU_BASE_ISO": str(base_iso),
           # Served over plain HTTP on the loopback here: images for it allowed.
           "HAIKU_ENROLL_ALLOW_HTTP": "yes"}
    log = tmp_path / "server.log"
    with service(env, log) as base:
        yield base, env, log


def test_ten_slow_downloads_complete_and_pages_still_answer(
        served: tuple[str, dict[str, str], Path]) -> None:
    base, env, log = served
    [user] = make_users(env, 1)
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30)
    session.post(f"{base}/accounts/login/", timeout=30, data={
        "username": user, "password": PASSWORD,
        "csrfmiddlewaretoken": session.cookies["csrftoken"]})
    node_ids = []
    for i in range(CLIENTS):
        page = session.post(f"{base}/nodes/new/", timeout=30, data={
            "name": f"n{i}", "kind": "host", "prefix_count": 0, "keying": "static",
            "interface": "eth0", "csrfmiddlewaretoken": session.cookies["csrftoken"]}).text
        node_ids.append(int(re.search(r'href="/nodes/(\d+)/" id="node-link"', page)[1]))
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    port = int(base.rsplit(":", 1)[1])
    downloads = [Download() for _ in node_ids]
    threads = [threading.Thread(target=slow_get, args=(port, f"/api/v1/nodes/{n}/iso", cookie, d))
               for n, d in zip(node_ids, downloads, strict=True)]
    for thread in threads:
        thread.start()
    probes = []  # the web pages, while the downloads run: (status, seconds)
    while any(t.is_alive() for t in threads):
        time.sleep(3)
        began = time.monotonic()
        try:
            status = requests.get(f"{base}/nodes/", cookies=session.cookies, timeout=5
                                  ).status_code
        except requests.RequestException:
            status = 0
        probes.append((status, round(time.monotonic() - began, 2)))
    for thread in threads:
        thread.join()
    assert [d.error for d in downloads] == [""] * CLIENTS
    size = (unit_timeout() + 10) * RATE
    for d in downloads:
        assert d.status == "HTTP/1.1 200 OK" and d.length == size
        assert d.sha256 == d.published
    assert len(probes) >= unit_timeout() // 3
    assert [s for s, _ in probes] == [200] * len(probes), probes
    text = log.read_text()
    assert "WORKER TIMEOUT" not in text and "Traceback" not in text
