"""A person at HAiku's web pages, for the end-to-end tests: register, log in, create mobile
nodes with the forms, download their per-user images. Talks HTTPS to the service and
trusts its certificate by the SHA-256 fingerprint the operator was shown (as the images
do), or plain HTTP.

    python -m testkit.haiku_web URL FINGERPRINT OUT_DIR USER NODE...

NODE is NAME:KIND:PREFIXES:KEYING[:all][:by-hand] (KIND host or router, KEYING static
or certificate, `all`: protect all traffic, `by-hand`: no image, the person notes the
token the service shows once, to enroll a generic image with it). Registers USER
(password: USER twice), creates the nodes, saves each image as OUT_DIR/NAME.iso, prints
one JSON line: name -> the node as the API lists it, plus "iso" and "sha256", or "token".
Run it where the service is reachable (a test network's namespace).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter


class _Pinned(HTTPAdapter):
    """Certificate checked by fingerprint only (a service's own self-signed one)."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["assert_fingerprint"] = self.fingerprint
        super().init_poolmanager(*args, **kwargs)


class Person:
    def __init__(self, base: str, fingerprint: str = "") -> None:
        self.base = base.rstrip("/")
        self.session = requests.Session()
        # Per request: a session's verify=False loses to REQUESTS_CA_BUNDLE.
        self.verify = not fingerprint
        if fingerprint:
            self.session.mount("https://", _Pinned(fingerprint))

    def _form(self, path: str, data: dict[str, str]) -> requests.Response:
        """GET the form (for its CSRF token), POST it back; the final response."""
        page = self.session.get(self.base + path, timeout=120, verify=self.verify)
        page.raise_for_status()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, f"no CSRF token on {path}"
        answer = self.session.post(self.base + path, timeout=300, verify=self.verify,
                                   data={**data, "csrfmiddlewaretoken": token.group(1)},
                                   headers={"Referer": self.base + path})
        answer.raise_for_status()
        return answer

    def register_and_log_in(self, name: str, password: str) -> None:
        self._form("/accounts/register/", {"username": name, "email": f"{name}@example.org",
                                           "password1": password, "password2": password})
        answer = self._form("/accounts/login/", {"username": name, "password": password})
        assert "/accounts/login/" not in answer.url, f"log-in refused: {answer.text[-500:]}"

    def create_node(self, name: str, kind: str, prefixes: int, keying: str,
                    protect_all: bool) -> dict[str, Any]:
        data = {"name": name, "kind": kind, "prefix_count": str(prefixes), "keying": keying,
                "interface": "eth0"}
        if protect_all:
            data["protect_all_traffic"] = "on"
        shown = self._form("/nodes/new/", data)
        token = re.search(r'<p class="token" id="token">([^<]+)</p>', shown.text)
        assert token, f"node {name!r}: no token shown once created: {shown.text[-500:]}"
        listed = self.session.get(self.base + "/api/v1/nodes", timeout=60, verify=self.verify)
        listed.raise_for_status()
        named = [node for node in listed.json()["nodes"] if node["name"] == name]
        assert named, f"node {name!r} not created; the service lists {listed.text}"
        node: dict[str, Any] = named[0]
        return {**node, "token": token.group(1)}

    def download_image(self, node_id: int, target: Path) -> str:
        """The node's per-user image into `target`; its SHA-256, checked against the one
        the service publishes."""
        digest = hashlib.sha256()
        url = f"{self.base}/api/v1/nodes/{node_id}/iso"
        with self.session.get(url, stream=True, timeout=600, verify=self.verify) as response:
            response.raise_for_status()
            with target.open("wb") as out:
                for block in response.iter_content(1 << 20):
                    digest.update(block)
                    out.write(block)
        published = self.session.get(url + ".sha256", timeout=600, verify=self.verify)
        published.raise_for_status()
        assert published.text.split()[0] == digest.hexdigest(), "image checksum differs"
        return digest.hexdigest()


def main(url: str, fingerprint: str, out_dir: str, user: str, *nodes: str) -> None:
    person = Person(url, fingerprint)
    person.register_and_log_in(user, f"{user} {user} password")
    result = {}
    for spec in nodes:
        name, kind, prefixes, keying, *flags = spec.split(":")
        node = person.create_node(name, kind, int(prefixes), keying, "all" in flags)
        if "by-hand" not in flags:  # the image's own token replaces the one shown
            image = Path(out_dir) / f"{name}.iso"
            node["sha256"] = person.download_image(node["id"], image)
            node["iso"] = str(image)
            del node["token"]
        result[name] = node
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
