"""out/repo over HTTP on the loopback while live-build runs (apt checks its signatures)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from homeguy.iso import IsoError


def repo_path(request_target: str, prefix: str) -> str:
    """The path in out/repo for a request: origin-form (`/dists/...`), or absolute-form
    (`http://localhost/homeguy/dists/...`, apt using the server as the proxy for the
    keyring package's source) with that source's path prefix removed."""
    if "://" not in request_target:
        return request_target
    path = urlsplit(request_target).path
    prefix = "/" + prefix.strip("/")
    if prefix != "/" and (path == prefix or path.startswith(prefix + "/")):
        path = path[len(prefix):] or "/"
    return path


class RepoHandler(SimpleHTTPRequestHandler):
    """Files of out/repo, for origin-form and absolute-form (proxy) requests."""

    prefix = "/"

    def translate_path(self, path: str) -> str:
        return super().translate_path(repo_path(path, self.prefix))

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_repo(repo: Path, port: int, keyring_url: str = "http://localhost/") -> Iterator[str]:
    """out/repo over HTTP on 127.0.0.1:port while the build runs (apt checks signatures);
    also as the proxy for the keyring package's own source URL."""
    handler = type("Handler", (RepoHandler,), {"prefix": urlsplit(keyring_url).path})
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port),
                                     partial(handler, directory=str(repo)))
    except OSError as error:
        raise IsoError(f"cannot serve {repo} on 127.0.0.1:{port} ({error}); set "
                       "HOMEGUY_LIVE_REPO_PORT to a free port") from None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
