"""strongSwan in the kernel lab: Debian's stock build and Homeguy's patched build, side
by side, so that a test shows a defect with the one and its fix with the other.

On the host, `prepare()` finds the Debian version `make` builds on (the newest source
the mirror serves and the series applies to, `patched.resolve`) and unpacks both builds'
.debs into trees under out/lab/ (the guest sees the host's files read-only): Debian's,
fetched once with `apt-get download` at that version, and Homeguy's, from the builder's
cache (built if needed). In the guest, `Charon` runs one variant's binaries in a host
namespace, the tree overlaid on /usr in a private mount namespace (with its own /run for
the pid file), so both variants and several daemons coexist in one VM.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from homeguy import packages, patched
from homeguy.git import TOP
from homeguy.lab.topology import Host, Topology
from homeguy.run import run

RECIPE = packages.PACKAGES / "strongswan-mip6"
# In out/: the guest sees the checkout but not /var/cache (a tmpfs there).
TREES = TOP / "out" / "lab" / "strongswan"
STOCK_DEBS = patched.CACHE / "debian-debs"
# Guest-local (/tmp), made afresh in each lab session.
CREDENTIALS = Path("/tmp/homeguy-strongswan-credentials")
VARIANTS = ("debian", "homeguy")
# The Debian version the host resolved, for the guest (which cannot ask the mirror).
VERSION = TREES / "version"
# What charon, swanctl and pki need at run time.
PACKAGES = ("libstrongswan", "libstrongswan-standard-plugins", "strongswan-libcharon",
            "libcharon-extra-plugins", "libstrongswan-extra-plugins",
            "strongswan-charon", "strongswan-swanctl", "strongswan-pki")
# Of these packages only these plugins: swanctl and pki load every plugin they find, and
# some of the others (tpm, pkcs11) stall or fail them. curl: CRLs fetched over HTTP.
ONLY_PLUGINS = {"libstrongswan-extra-plugins": ("curl",)}
PLUGIN_DIR = "usr/lib/ipsec/plugins"
# Overlay the variant's /usr, give the daemon its own /run, then run the command.
OVERLAY = ('mount -t overlay overlay -o "lowerdir=$0/usr:/usr" /usr && '
           'mount -t tmpfs tmpfs /run && exec "$@"')


def tree(variant: str) -> Path:
    return TREES / variant


def recipe() -> patched.Recipe:
    """The recipe at the Debian version this lab session tests (`prepare` wrote it)."""
    if not VERSION.exists():
        raise FileNotFoundError(f"{VERSION}: not prepared; the host's lab session prepares "
                                "it (tests/lab/conftest.py)")
    return unversioned().at(VERSION.read_text().strip())


def unversioned() -> patched.Recipe:
    return patched.parse_recipe((RECIPE / patched.RECIPE).read_text(), RECIPE)


def unpack(debs: list[Path], target: Path) -> None:
    """Unpack `debs` into `target` unless it holds exactly these already."""
    stamp = target / ".debs"
    names = "\n".join(deb.name for deb in debs) + "\n" + f"{ONLY_PLUGINS}\n"
    if stamp.exists() and stamp.read_text() == names:
        return
    run(["rm", "-rf", target])
    target.mkdir(parents=True)
    for deb in debs:
        only = ONLY_PLUGINS.get(patched.deb_package(deb))
        if only is None:
            run(["dpkg-deb", "-x", deb, target])
            continue
        with tempfile.TemporaryDirectory() as scratch:
            run(["dpkg-deb", "-x", deb, scratch])
            for plugin in only:
                name = f"libstrongswan-{plugin}.so"
                (target / PLUGIN_DIR).mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(scratch) / PLUGIN_DIR / name, target / PLUGIN_DIR / name)
    stamp.write_text(names)


def needed(test_names: list[str]) -> set[str]:
    """The variants some of these tests name ([debian], ..._stock_debian); all if none."""
    return {v for v in VARIANTS if any(v in name for name in test_names)} or set(VARIANTS)


def stock_debs(names: tuple[str, ...], version: str) -> list[Path]:
    """Debian's own .debs of `names` at `version` (the Debian version Homeguy's build is
    on), downloaded once; those of other versions (an older follow) are left aside."""
    STOCK_DEBS.mkdir(parents=True, exist_ok=True)
    at = version.rpartition(":")[2]
    missing = [name for name in names if not list(STOCK_DEBS.glob(f"{name}_{at}_*.deb"))]
    if missing:
        run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root",
             *(f"{name}={version}" for name in missing)], cwd=STOCK_DEBS)
    return sorted(deb for deb in STOCK_DEBS.glob(f"*_{at}_*.deb")
                  if patched.deb_package(deb) in names)


def prepare(variants: set[str]) -> None:
    """Host side: the variants' trees, ready for the guest."""
    wanted = patched.resolve(unversioned(), say=lambda line: print(f"strongswan: {line}"))
    TREES.mkdir(parents=True, exist_ok=True)
    VERSION.write_text(wanted.version + "\n")
    if "debian" in variants:
        unpack(stock_debs(PACKAGES, wanted.version), tree("debian"))
    if "homeguy" in variants:
        result = patched.ensure_built(wanted, say=lambda line: print(f"strongswan: {line}"))
        unpack(sorted(deb for deb in result.glob("*.deb")
                      if patched.deb_package(deb) in PACKAGES), tree("homeguy"))


def variant_argv(host: Host, variant: str, *argv: str) -> list[str]:
    """argv run in `host`'s namespace with `variant`'s strongSwan on /usr."""
    root = tree(variant)
    if not (root / ".debs").exists():
        raise FileNotFoundError(f"{root}: not prepared; the host's lab session prepares it "
                                "(tests/lab/conftest.py)")
    return host.argv("unshare", "-m", "sh", "-c", OVERLAY, str(root), *argv)


# Only the plugins IKEv2 with certificates needs: without `load` (and without Debian's
# strongswan.d files) charon loads every plugin it finds, and one of them crashes it.
PLUGINS = ("random nonce aes sha1 sha2 hmac gcm kdf drbg pem pkcs1 pkcs8 x509 revocation "
           "constraints pubkey openssl gmp kernel-netlink socket-default vici updown")
# With the fetcher that lets the revocation plugin fetch CRLs over HTTP.
PLUGINS_CURL = PLUGINS + " curl"
STRONGSWAN_CONF = """\
charon {{
  load = {plugins}
  install_routes = {install_routes}
  retransmit_tries = 3
{charon_extra}
  filelog {{
    lab {{
      path = {log}
      time_format = %T
      flush_line = yes
      default = 1
      knl = 2
      cfg = 2
    }}
  }}
  plugins {{
    vici {{
      socket = {uri}
    }}
{plugins_extra}
  }}
}}
"""


@dataclass
class Charon:
    """One charon (IKE daemon) in a host namespace, driven with swanctl over vici."""

    net: Topology
    host: Host
    variant: str
    identity: str
    plugins: str = PLUGINS

    @property
    def dir(self) -> Path:
        return self.net.workdir / self.host.name

    @property
    def uri(self) -> str:
        return f"unix:///tmp/charon-{self.host.name}.vici"  # guest tmpfs: sockets work there

    def env(self) -> list[str]:
        return ["env", f"STRONGSWAN_CONF={self.dir / 'strongswan.conf'}",
                f"SWANCTL_DIR={self.dir / 'swanctl'}"]

    def run(self, *argv: str, check: bool = True) -> str:
        return run(variant_argv(self.host, self.variant, *self.env(), *argv), check=check,
                   timeout=60).stdout

    def start(self, credentials: Path, connections: str, plugins_extra: str = "",
              charon_extra: str = "", install_routes: bool = False) -> None:
        """The CA certificate, this host's key and certificate from `credentials`
        (`make_credentials`), the config (`charon_extra`, `plugins_extra`: more of
        strongswan.conf's charon and charon.plugins sections), the daemon, everything
        loaded."""
        name = self.host.name
        self.start_with({
            "x509ca/ca.pem": (credentials / "ca.pem").read_text(),
            f"x509/{name}.pem": (credentials / f"{name}.pem").read_text(),
            f"private/{name}.pem": (credentials / f"{name}.key").read_text(),
            "swanctl.conf": connections}, plugins_extra, charon_extra, install_routes)

    def start_with(self, files: dict[str, str], plugins_extra: str = "",
                   charon_extra: str = "", install_routes: bool = False) -> None:
        """These files in the swanctl directory (path relative to it: credentials,
        swanctl.conf, conf.d/...), the config as :meth:`start` has it, the daemon,
        everything loaded."""
        swanctl = self.dir / "swanctl"
        for sub in ("x509ca", "x509", "x509crl", "private", "conf.d"):
            (swanctl / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "strongswan.conf").write_text(STRONGSWAN_CONF.format(
            log=self.dir / "charon.log", uri=self.uri, plugins=self.plugins,
            plugins_extra=plugins_extra, charon_extra=charon_extra,
            install_routes="yes" if install_routes else "no"))
        if "swanctl.conf" not in files:
            files = {**files, "swanctl.conf": "include conf.d/*.conf\n"}
        for relative, content in files.items():
            (swanctl / relative).write_text(content)
        socket = Path(self.uri.removeprefix("unix://"))
        socket.unlink(missing_ok=True)
        self.net.spawn(variant_argv(self.host, self.variant, *self.env(),
                                    "/usr/lib/ipsec/charon"), log=self.dir / "charon.out")
        deadline = time.monotonic() + 30
        while not socket.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.host.name}: no vici socket {socket} after 30 s:\n"
                                   + (self.dir / "charon.out").read_text() + self.log())
            time.sleep(0.2)
        self.swanctl("--load-all")

    def log(self) -> str:
        path = self.dir / "charon.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def pki(self, *argv: str) -> str:
        return self.run("pki", *argv)

    def swanctl(self, *argv: str) -> str:
        return self.run("swanctl", *argv, "--uri", self.uri)


def make_credentials(net: Topology, host: Host, variant: str,
                     identities: dict[str, str]) -> Path:
    """A throwaway CA and a key and certificate for each host name -> identity, made with
    the variant's pki once per lab session (pki under TCG takes seconds a call)."""
    folder = CREDENTIALS / "-".join(sorted(identities))
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "strongswan.conf"  # libstrongswan refuses to start without one
    conf.write_text("")

    def pki(*argv: str) -> str:
        return run(variant_argv(host, variant, "env", f"STRONGSWAN_CONF={conf}", "pki", *argv),
                   timeout=60).stdout

    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    ca_key.write_text(pki("--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"))
    ca.write_text(pki("--self", "--ca", "--lifetime", "2", "--in", str(ca_key),
                      "--dn", "CN=Homeguy lab CA", "--outform", "pem"))
    for name, identity in identities.items():
        key = folder / f"{name}.key"
        key.write_text(pki("--gen", "--type", "ecdsa", "--size", "256", "--outform", "pem"))
        (folder / f"{name}.pem").write_text(pki(
            "--issue", "--cacert", str(ca), "--cakey", str(ca_key), "--in", str(key),
            "--type", "priv",
            "--lifetime", "2", "--dn", f"CN={identity}", "--san", identity,
            "--outform", "pem"))
    (folder / "done").write_text("")
    return folder
