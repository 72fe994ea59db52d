"""Make this machine the home agent behind this service, in one command (the home-agent
image's first step): the home link, radvd, mip6d as home agent, nginx with TLS in front of
the service, the service's settings, an operator; then (re)start them. See
haiku/core/setup.py for what each file holds."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from ipaddress import IPv6Address, IPv6Interface, IPv6Network
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from haiku.ca import service_certificate
from haiku.core import setup as ha
from haiku.files import remove, write_atomic


def _parsed(kind: type, option: str, text: str | None) -> Any:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError as exc:
        raise CommandError(f"{option} {text!r}: {exc}") from None


class Command(BaseCommand):
    help = ("Make this machine a home agent with this service in front: writes the home "
            "link's networkd file, radvd.conf, mip6d.conf, nginx's TLS site and "
            "/etc/default/haiku, creates an operator, then restarts the services.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--interface", default="eth0", help="the home link")
        parser.add_argument("--address", required=True,
                            help="this home agent's address with the home prefix's length, "
                                 "e.g. 2001:db8:1::1/64")
        parser.add_argument("--gateway", help="the home link's router to the rest of the "
                                              "network (a default route)")
        parser.add_argument("--mnp-pool", default="2001:db8:100::/48",
                            help="where mobile network prefixes are delegated from")
        parser.add_argument("--url", required=True,
                            help="the service's public URL, https://HOST[:PORT]")
        parser.add_argument("--base-iso", default="",
                            help="the mobile-host image per-user images are made from")
        parser.add_argument("--base-iso-router", default="",
                            help="the mobile-router image (default: --base-iso)")
        parser.add_argument("--operator", help="an operator account to create (password "
                                               "from $HAIKU_OPERATOR_PASSWORD or asked)")
        parser.add_argument("--root", default="/", help="write under this directory "
                                                        "(a system being prepared)")
        parser.add_argument("--no-start", action="store_true",
                            help="write the files only; restart nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        setup = ha.HomeAgentSetup(
            interface=options["interface"],
            address=_parsed(IPv6Interface, "--address", options["address"]),
            mnp_pool=_parsed(IPv6Network, "--mnp-pool", options["mnp_pool"]),
            url=options["url"],
            gateway=_parsed(IPv6Address, "--gateway", options["gateway"]),
            base_iso=options["base_iso"], base_iso_router=options["base_iso_router"])
        for option in ("base_iso", "base_iso_router"):
            if options[option] and not Path(options[option]).is_file():
                raise CommandError(f"--{option.replace('_', '-')} {options[option]}: "
                                   "no such image")
        root = Path(options["root"])
        try:
            ha.check(setup)
        except ha.SetupError as exc:
            raise CommandError(str(exc)) from None
        fingerprint = service_certificate(root / ha.TLS_KEY.lstrip("/"),
                                          root / ha.TLS_CERT.lstrip("/"),
                                          ha.parse_url_host(setup.url))
        defaults = root / ha.DEFAULTS_FILE.lstrip("/")
        current = defaults.read_text() if defaults.exists() else ""
        try:
            files = ha.plan(setup, current, fingerprint)
        except ha.SetupError as exc:
            raise CommandError(str(exc)) from None
        for item in files:
            target = root / item.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, item.text, item.mode)
            if item.group:
                _give_group(target, item.group)
            self.stdout.write(f"wrote {item.path}")
        if remove(root / ha.NGINX_DEFAULT_SITE.lstrip("/")):
            self.stdout.write(f"removed {ha.NGINX_DEFAULT_SITE} (it would take port 80)")
        if not options["no_start"]:
            # The service may be migrating the database at this moment (its start at boot):
            # stopped, it is not racing this command's own migration. Restarted below.
            _systemctl("stop", "haiku.service")
        if options["operator"]:
            call_command("migrate", verbosity=0)
            call_command("haiku_operator", options["operator"], stdout=self.stdout)
        _hand_state_to_service()
        if not options["no_start"]:
            self._restart()
        self.stdout.write(f"HAiku: {setup.url.rstrip('/')}/ (TLS certificate SHA-256 "
                          f"{fingerprint}; nodes' images pin it)")

    def _restart(self) -> None:
        _systemctl("daemon-reload")
        for service in ha.SERVICES:
            _systemctl("enable", f"{service}.service")
            _systemctl("restart", f"{service}.service")
            self.stdout.write(f"started {service}")


def _give_group(path: Path, group: str) -> None:
    """``path`` to ``group`` (the service's); left root's where there is no such group (the
    haiku package not installed)."""
    with contextlib.suppress(LookupError):
        shutil.chown(path, group=group)


def _hand_state_to_service() -> None:
    """This command runs as root (haiku-manage keeps root for it only): what its migrate
    and haiku_operator made in the state and secrets directories (the database and its
    journal, the secret key, the CA) goes to the owner of the state directory, the
    service's user, which must go on writing it."""
    top = Path(settings.HAIKU.state_dir)
    if not top.is_dir():
        return
    owner = top.stat()
    for directory in {top, Path(settings.HAIKU.secrets_dir)}:
        for path in (directory, *directory.rglob("*")) if directory.is_dir() else ():
            found = path.lstat()
            if (found.st_uid, found.st_gid) != (owner.st_uid, owner.st_gid):
                os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)


def _systemctl(*argv: str) -> None:
    result = subprocess.run(["systemctl", *argv], capture_output=True, text=True,
                            env={**os.environ, "SYSTEMD_PAGER": ""}, check=False)
    if result.returncode != 0:
        raise CommandError(f"systemctl {' '.join(argv)} failed: "
                           f"{result.stderr.strip() or result.stdout.strip()}")
