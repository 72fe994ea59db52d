"""HAiku with the real mip6d home agent (issue #5): nodes created through the service
register from the lab's mobile nodes with the configuration they fetched with their
tokens; deleting one node removes its binding while the other node's binding stays.

    user (r) --HTTP--> HAiku (gunicorn, the unit's command line, in ha) --nodes.d/ + reload-->
                                                              mip6d HA (ha)
    mn-a, mn-b --GET /api/v1/node/config (Bearer token)--> HAiku; then mip6d MN each

    ha ---- r ===== mn-a (eth0 on foreign link 1), mn-b (eth0 on foreign link 2)
    |
    +------ home (the home link, 2001:db8:1::/64)

Each mobile node is its own machine as far as mip6d is concerned: its own network
namespace, where its interface is called eth0 as the service's default configuration
says, and its own mount namespace, where /etc/mip6d, /run/mip6d and /var/lib/mip6d are
its own directories. The files of the fetched configuration are written to their paths
there (what the live image's boot hook does) and mip6d runs with
/etc/mip6d/mip6d.conf exactly as fetched.

The service is started once for the module; under TCG Django takes tens of seconds.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from mip6d.ctl import request as control_request

from homeguy.lab import installed
from homeguy.lab.topology import Host, Topology
from testkit.mip6d_topology import (
    F1,
    F2,
    HA_ADDRESS,
    HOME,
    MIP6D,
    TRANSIT,
    Daemon,
    spawn_mip6d,
)

pytestmark = pytest.mark.lab

# The units as the packages install them (their programs run from the installed root).
UNIT = installed.ROOT / "usr/lib/systemd/system/haiku.service"
MIP6D_UNIT = installed.ROOT / "usr/lib/systemd/system/mip6d.service"
NOBODY = installed.Account(65534, 65534)
PORT = 8080
BASE = f"http://[{HA_ADDRESS}]:{PORT}"
PASSWORD = "correct horse battery staple"
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

HA_CONF = """\
NodeConfig HA;
DebugLevel 1;
Interface "ha-home";
DefaultBindingAclPolicy deny;
HaMaxBindingLife 600;
HaAcceptMobRtr enabled;
UseMnHaIPsec enabled;
KeyMngMobCapability disabled;
ControlSocket "{socket}";
StateFile "{workdir}/ha-state.json";
include "{nodes}/*.conf";
"""


# -- HTTP from inside a lab host -----------------------------------------------------------


def _enter_netns(name: str) -> None:
    """Move the calling thread (only it: setns(2) is per thread) into netns ``name``."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {name}: {os.strerror(error)}")
    finally:
        os.close(fd)


class Browser:
    """A requests session whose connections are made from inside a lab host: every call
    runs in one thread that entered the host's network namespace."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.pool = ThreadPoolExecutor(1, initializer=_enter_netns, initargs=(host.name,))
        self.session = requests.Session()

    def _in_netns(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return self.pool.submit(call, *args, **kwargs).result()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self._in_netns(self.session.get, BASE + path, timeout=120, **kwargs)

    def post_form(self, path: str, data: dict[str, str]) -> requests.Response:
        """GET the form (for its CSRF cookie), then POST it as a browser would."""
        self.get(path).raise_for_status()
        data = {**data, "csrfmiddlewaretoken": str(self.session.cookies["csrftoken"])}
        return self._in_netns(self.session.post, BASE + path, data=data, timeout=120,
                              allow_redirects=False)

    def post(self, path: str, referer: str) -> requests.Response:
        """POST a button's form (no fields but the CSRF token) found on ``referer``."""
        self.get(referer).raise_for_status()
        return self._in_netns(self.session.post, BASE + path, timeout=120,
                              data={"csrfmiddlewaretoken": self.session.cookies["csrftoken"]},
                              allow_redirects=False)

    def close(self) -> None:
        self.pool.shutdown()


def wait_http(browser: Browser, path: str, process: subprocess.Popen[bytes],
              timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if browser.get(path).status_code == 200:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None:
            raise AssertionError(f"the service exited ({process.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"{BASE}{path} did not answer within {timeout} s")
        time.sleep(1)


# -- the service, as its systemd unit runs it ----------------------------------------------


def unit_lines(key: str, unit: Path = UNIT) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.read_text().splitlines()
            if line.startswith(f"{key}=")]


def service_account() -> installed.Account:
    """The unit's User=, Group= and SupplementaryGroups=, numbered as the installed root
    (its postinsts) made them: what every command line of the unit runs as."""
    [user], [group] = unit_lines("User"), unit_lines("Group")
    return installed.account(user, group, " ".join(unit_lines("SupplementaryGroups")).split())


def mip6d_as_its_unit() -> list[str]:
    """setpriv as mip6d.service runs the daemon: uid 0 with the unit's Group= and only the
    capabilities of its CapabilityBoundingSet= (no CAP_DAC_OVERRIDE: it reads what HAiku
    writes through its group, as on a machine with the packages)."""
    [group] = unit_lines("Group", MIP6D_UNIT)
    [caps] = unit_lines("CapabilityBoundingSet", MIP6D_UNIT)
    kept = ",".join(f"+{cap.lower().removeprefix('cap_')}" for cap in caps.split())
    return ["setpriv", f"--regid={installed.account('root', group).gid}", "--clear-groups",
            f"--bounding-set=-all,{kept}", "--"]


def owned_like_the_postinsts(tmp: Path) -> dict[str, Path]:
    """The directories the service and mip6d share, made in ``tmp`` as the packages make
    them on a machine: the control socket's directory (mip6d's RuntimeDirectory=, root and
    its Group=, 0750), nodes.d/ (haiku:mip6d 2750, haiku's postinst), the service's state
    and secrets (haiku's, 0700)."""
    service, mip6d = service_account(), installed.account("root", "mip6d")
    tmp.chmod(0o755)
    made = {}
    for name, uid, gid, mode in (("run", 0, mip6d.gid, 0o750),
                                 ("nodes.d", service.uid, mip6d.gid, 0o2750),
                                 ("state", service.uid, service.gid, 0o700),
                                 ("secrets", service.uid, service.gid, 0o700)):
        made[name] = tmp / name
        made[name].mkdir()
        os.chown(made[name], uid, gid)
        made[name].chmod(mode)
    return made


def service_processes() -> dict[int, dict[str, str]]:
    """/proc/PID/status of every gunicorn process (arbiter and workers) serving HAiku."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            if entry.name.isdigit() and b"haiku.wsgi:application" in command:
                found[int(entry.name)] = dict(
                    line.split(":\t", 1) for line in (entry / "status").read_text().splitlines())
        except OSError:
            continue  # gone meanwhile
    return found


def control_as(host: Host, who: installed.Account, socket: Path
               ) -> subprocess.CompletedProcess[str]:
    """mip6ctl (the installed one) run as ``who`` against the home agent's socket."""
    return subprocess.run(host.argv(*installed.argv(*installed.as_account(
        who, "mip6ctl", "--socket", str(socket), "bindings"))),
        capture_output=True, text=True, timeout=60, check=False)


# Under TCG a worker takes longer than the unit's 30 s to import Django, and the arbiter
# kills it; one worker with more time (the guest has two slow CPUs, shared).
TCG_OPTIONS = {"--workers": "1", "--timeout": "300"}


def unit_command(line: str, env: list[str]) -> list[str]:
    """A command line of the unit, run from the installed package as the unit's user and
    groups (:func:`service_account`) under ``env`` (see :func:`service_environment`), on
    the home agent's address instead of the loopback and with :data:`TCG_OPTIONS` (the
    only changes)."""
    argv = [arg.replace("127.0.0.1:8080", f"[{HA_ADDRESS}]:{PORT}")
            for arg in shlex.split(line)]
    for option, value in TCG_OPTIONS.items():
        if option in argv:
            argv[argv.index(option) + 1] = value
    return installed.argv(*installed.as_account(service_account(), *env, *argv))


def service_environment(tmp: Path, control_socket: Path) -> list[str]:
    """``env`` and the unit's environment with the test's settings: SQLite and the secret
    key (from a file) in ``tmp``, the home agent's nodes directory and control socket
    (directories as :func:`owned_like_the_postinsts` makes them)."""
    made = owned_like_the_postinsts(tmp)
    secrets_dir = made["secrets"]
    secret = secrets_dir / "secret_key"
    secret.write_text(secrets.token_urlsafe(50) + "\n")
    secret.chmod(0o600)
    service = service_account()
    os.chown(secret, service.uid, service.gid)
    settings = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8",
        **dict(line.split("=", 1) for line in unit_lines("Environment")),
        "HAIKU_STATE_DIR": str(made["state"]),  # SQLite in there
        "HAIKU_SECRETS_DIR": str(secrets_dir),
        "HAIKU_NODES_DIR": str(made["nodes.d"]),
        "HAIKU_CONTROL_SOCKET": str(control_socket),
        # A reload answers once the nodes' SAs are in the kernel: seconds under TCG.
        "HAIKU_CONTROL_TIMEOUT": "60",
        "HAIKU_HOME_PREFIX": str(HOME),
        "HAIKU_HOME_AGENT_ADDRESS": str(HA_ADDRESS),
        "HAIKU_ALLOWED_HOSTS": f"[{HA_ADDRESS}]",
        "HAIKU_EMAIL_CONFIRMATION": "no",
        "HAIKU_OPERATOR_APPROVAL": "no",
    }
    return ["env", "-i", *(f"{k}={v}" for k, v in settings.items())]


# -- mobile nodes, each its own machine ------------------------------------------------------


# The mount points of the nodes' own directories, made in the guest's /etc, /run and
# /var/lib where it had none, and removed after the test: other tests in the same guest
# expect it without them (the package's autopkgtest starts with no /etc/mip6d).
_MOUNT_POINTS: list[Path] = []


@pytest.fixture(autouse=True)
def _mount_points_removed() -> Iterator[None]:
    yield
    while _MOUNT_POINTS:
        _MOUNT_POINTS.pop().rmdir()


def boot_node(net: Topology, host: Host, config: dict[str, Any]) -> tuple[Daemon, Path]:
    """Write the fetched files where they belong on ``host`` (its own /etc/mip6d,
    /run/mip6d and /var/lib/mip6d) and start mip6d with /etc/mip6d/mip6d.conf (without
    waiting for its ``ready``); the path is the node's control socket as seen from here."""
    root = Path(tempfile.mkdtemp(prefix=f"haiku-lab-{host.name}-"))
    own = {"/etc/mip6d": root / "etc", "/run/mip6d": root / "run",
           "/var/lib/mip6d": root / "lib"}
    for directory in own.values():
        directory.mkdir()
    for item in config["files"]:
        parent, _, name = item["path"].rpartition("/")
        assert parent in own, f"a file outside mip6d's directories: {item['path']}"
        target = own[parent] / name
        target.write_text(item["content"])
        target.chmod(int(item["mode"], 8))
    (net.workdir / f"{host.name}-mip6d.conf").write_text(config["mip6d_conf"])
    for key, value in config["sysctl"].items():
        host.sysctl({key: value})
    assert config["services"] == ["mip6d"]
    for point in map(Path, own):
        if not point.exists():
            point.mkdir(parents=True)
            _MOUNT_POINTS.append(point)
    mounts = " && ".join(f"mount --bind {shlex.quote(str(mine))} {path}"
                         for path, mine in own.items())
    log = net.workdir / f"{host.name}.log"
    process = host.spawn(
        "unshare", "--mount", "--propagation", "private", "sh", "-ec",
        f"{mounts} && exec {shlex.join(installed.argv(MIP6D))} "
        "--config /etc/mip6d/mip6d.conf --log-format json", log=log)
    daemon = Daemon(host, host.name, own["/etc/mip6d"] / "mip6d.conf", log, process)
    return daemon, own["/run/mip6d"] / "control.sock"


def registered(daemon: Daemon) -> dict[str, Any]:
    ack = daemon.wait_event("received", message="BindingAck", timeout=90, after=0)
    assert ack["status"] == 0, ack
    return ack


def answers(host: Host, address: IPv6Address, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = host.run("ping", "-6", "-n", "-c", "1", "-W", "1", str(address), check=False)
        if " 0% packet loss" in out:
            return True
        time.sleep(0.3)
    return False


def bindings(control_socket: Path) -> dict[str, dict[str, Any]]:
    return {b["home_address"]: b for b in control_request(str(control_socket), "bindings")}


# -- the test ------------------------------------------------------------------------------


def test_nodes_from_haiku_register_and_deletion_removes_only_that_binding(
        net: Topology) -> None:
    started = time.monotonic()
    ha, r = net.host("ha", forwarding=True), net.host("r", forwarding=True)
    home = net.host("home")
    mn_a, mn_b = net.host("mn-a"), net.host("mn-b")
    net.link(ha, r, a_ifname="ha-r", b_ifname="r-ha",
             a_address=f"{TRANSIT[1]}/64", b_address=f"{TRANSIT[2]}/64")
    net.link(home, ha, a_ifname="home-ha", b_ifname="ha-home")
    net.link(mn_a, r, a_ifname="eth0", b_ifname="r-f1")
    net.link(mn_b, r, a_ifname="eth0", b_ifname="r-f2")
    ha.run("ip", "-6", "route", "add", "default", "via", str(TRANSIT[2]))
    r.run("ip", "-6", "route", "add", str(HOME), "via", str(TRANSIT[1]))
    net.radvd(ha, {"ha-home": str(HOME)}, extra="AdvHomeAgentFlag on;\n  AdvHomeAgentInfo on;")
    net.radvd(r, {"r-f1": str(F1), "r-f2": str(F2)})
    coa = {"a": mn_a.wait_address("eth0", within=F1), "b": mn_b.wait_address("eth0", within=F2)}

    # The real home agent: nobody may register until HAiku writes a file into nodes.d/.
    # Both run as their units run them (mip6d: root without CAP_DAC_OVERRIDE, group mip6d;
    # HAiku: its own user, groups mip6d and swanctl), in directories owned as the
    # packages make them (guest-local: the lab's shared folder keeps no owners).
    tmp = Path(tempfile.mkdtemp(prefix="haiku-lab-"))
    socket = tmp / "run" / "control.sock"
    env = service_environment(tmp, socket)
    nodes_dir = tmp / "nodes.d"
    migrate, *start_pre = unit_lines("ExecStartPre")
    assert "migrate" in migrate, migrate
    migrating = ha.spawn(*unit_command(migrate, env), log=net.workdir / "haiku-migrate.log")
    # mip6d starts while the database is migrated (each takes a minute under TCG); the
    # unit's next ExecStartPre (haiku_sync, which reloads mip6d) needs both.
    ha_daemon = spawn_mip6d(net, ha, "ha", HA_CONF.format(
        socket=socket, workdir=net.workdir, nodes=nodes_dir), wrap=mip6d_as_its_unit())
    # (it listens just after "ready"; both slow while Django migrates beside it)
    ha_daemon.wait_event("control-listening", timeout=600, after=0)
    # The control socket is mip6d's group's, and only its: nobody else may use it.
    service = service_account()
    mip6d_group = installed.account("root", "mip6d").gid
    assert (socket.stat().st_uid, socket.stat().st_gid, socket.stat().st_mode & 0o777) == \
        (0, mip6d_group, 0o660)
    refused = control_as(ha, NOBODY, socket)
    assert refused.returncode == 1 and "Permission denied" in refused.stderr, refused
    assert control_as(ha, service, socket).returncode == 0
    assert migrating.wait(timeout=600) == 0, (net.workdir / "haiku-migrate.log").read_text()
    for line in start_pre:
        ha.run(*unit_command(line, env), timeout=600)
    service_log = net.workdir / "haiku.log"
    server = ha.spawn(*unit_command(unit_lines("ExecStart")[0], env), log=service_log)
    user = Browser(r)  # the user's browser, somewhere on the Internet
    wait_http(user, "/healthz", server)
    timings = {"service up": time.monotonic() - started}
    # gunicorn's arbiter and worker: the service's uid and gid, its groups, no capability.
    running = service_processes()
    assert len(running) == 2, running
    for status in running.values():
        assert status["Uid"].split() == [str(service.uid)] * 4, status
        assert status["Gid"].split() == [str(service.gid)] * 4, status
        assert sorted(map(int, status["Groups"].split())) == sorted(service.groups), status
        assert int(status["CapEff"], 16) == 0, status

    # A user registers, logs in and creates two mobile hosts with static keys; the
    # token of each is shown once, on the page that answers the creation.
    done = user.post_form("/accounts/register/", {
        "username": "alice", "email": "alice@example.org",
        "password1": PASSWORD, "password2": PASSWORD})
    assert done.status_code == 302, done.text
    login = user.post_form("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert login.status_code == 302 and login.headers["Location"] == "/nodes/", login.text
    tokens: dict[str, str] = {}
    for name in ("a", "b"):
        page = user.post_form("/nodes/new/", {
            "name": f"node-{name}", "kind": "host", "prefix_count": "0", "keying": "static",
            "interface": "eth0"})
        assert page.status_code == 200, page.text
        found = re.search(r'<p class="token" id="token">([^<]+)</p>', page.text)
        assert found, page.text
        tokens[name] = found.group(1)
    listed = user.get("/api/v1/nodes").json()["nodes"]
    nodes = {n["name"].removeprefix("node-"): n for n in listed}
    assert sorted(nodes) == ["a", "b"], listed
    hoa = {k: IPv6Address(n["home_address"]) for k, n in nodes.items()}
    assert hoa["a"] != hoa["b"] and all(a in HOME for a in hoa.values()), hoa
    include = {k: nodes_dir / f"haiku-{n['id']}.conf" for k, n in nodes.items()}
    assert all(path.is_file() for path in include.values()), sorted(nodes_dir.iterdir())
    for path in include.values():  # the service's, read by mip6d through its group only
        owner = path.stat()
        assert (owner.st_uid, owner.st_gid, owner.st_mode & 0o777) == \
            (service.uid, mip6d_group, 0o640), path
    reloads = [r for r in ha_daemon.records() if r.get("event") == "reloaded"]
    assert len(reloads) == 3, reloads  # haiku_sync at start, then one per creation
    assert "reload failed" not in service_log.read_text()

    # Each node fetches its configuration with its token, as the live image does at
    # boot, and runs mip6d with it.
    mn = {"a": mn_a, "b": mn_b}
    fetched: dict[str, dict[str, Any]] = {}
    for name, host in mn.items():
        anonymous = Browser(host)
        assert anonymous.get("/api/v1/node/config").status_code == 401
        reply = anonymous.get("/api/v1/node/config",
                              headers={"Authorization": f"Bearer {tokens[name]}"})
        assert reply.status_code == 200, reply.text
        fetched[name] = reply.json()
        assert fetched[name]["node"]["home_address"] == str(hoa[name])
        assert fetched[name]["keying"]["method"] == "static"
        anonymous.close()
    daemons = {}
    node_sockets = {}
    for name, host in mn.items():
        daemons[name], node_sockets[name] = boot_node(net, host, fetched[name])
    for daemon in daemons.values():
        daemon.wait_event("ready", timeout=300, after=0)

    # Both register: BA status 0, a binding each on the home agent, pings through the
    # tunnels, and the bindings' keys are the ones HAiku made.
    for name in mn:
        registered(daemons[name])
    cache = bindings(socket)
    assert sorted(cache) == sorted(str(a) for a in hoa.values()), cache
    for name in mn:
        assert cache[str(hoa[name])]["care_of"] == str(coa[name]), cache
        bul = control_request(str(node_sockets[name]), "bul")
        assert [(e["home_address"], e["care_of"]) for e in bul] == \
            [(str(hoa[name]), str(coa[name]))], bul
        assert answers(r, hoa[name]), f"no answer from {hoa[name]} through the tunnel"
    tunnels = ha.run("ip", "-6", "tunnel", "show")
    assert f"remote {coa['a']}" in tunnels and f"remote {coa['b']}" in tunnels, tunnels
    states = ha.run("ip", "xfrm", "state")
    spis = {name: [k["spi"] for k in fetched[name]["keying"]["static_keys"]] for name in mn}
    for name in mn:
        for spi in spis[name]:
            assert f"spi {spi:#010x}" in states, (name, spi, states)
    timings["both registered"] = time.monotonic() - started

    # The user deletes node a: its file goes, mip6d reloads, its binding and kernel
    # state go; node b stays registered and reachable.
    gone = user.post(f"/nodes/{nodes['a']['id']}/delete/",
                     referer=f"/nodes/{nodes['a']['id']}/")
    assert gone.status_code == 302, gone.text
    assert not include["a"].exists() and include["b"].is_file()
    assert "reload failed" not in service_log.read_text()
    assert len([r for r in ha_daemon.records() if r.get("event") == "reloaded"]) == 4
    removed = ha_daemon.wait_event("binding-removed", home_address=str(hoa["a"]), after=0)
    assert removed["reason"] == "refused by policy", removed
    cache = bindings(socket)
    assert sorted(cache) == [str(hoa["b"])], cache
    assert cache[str(hoa["b"])]["care_of"] == str(coa["b"])
    tunnels = ha.run("ip", "-6", "tunnel", "show")
    assert f"remote {coa['a']}" not in tunnels and f"remote {coa['b']}" in tunnels, tunnels
    routes = ha.run("ip", "-6", "route", "show")
    assert str(hoa["a"]) not in routes and str(hoa["b"]) in routes, routes
    assert str(hoa["a"]) not in ha.run("ip", "-6", "neigh", "show", "proxy")
    states = ha.run("ip", "xfrm", "state")
    assert not [spi for spi in spis["a"] if f"spi {spi:#010x}" in states], states
    assert all(f"spi {spi:#010x}" in states for spi in spis["b"]), states
    assert answers(r, hoa["b"]), f"node b ({hoa['b']}) no longer answers"
    assert not answers(r, hoa["a"], timeout=5), f"deleted node a ({hoa['a']}) still answers"
    # A little later still: node a's binding does not come back, b's is there.
    time.sleep(3)
    assert sorted(bindings(socket)) == [str(hoa["b"])]
    # The deleted node's token no longer fetches anything; the other one still does.
    node_b = Browser(mn_b)
    assert node_b.get("/api/v1/node/config", headers={
        "Authorization": f"Bearer {tokens['a']}"}).status_code == 401
    assert node_b.get("/api/v1/node/config", headers={
        "Authorization": f"Bearer {tokens['b']}"}).status_code == 200
    node_b.close()
    user.close()

    assert daemons["b"].stop(timeout=60) == 0
    assert ha_daemon.stop(timeout=60) == 0
    assert ha.run("ip", "xfrm", "state").strip() == ""
    timings["done"] = time.monotonic() - started
    (net.workdir / "timings.txt").write_text(
        "".join(f"{what}: {seconds:.0f} s\n" for what, seconds in timings.items()))
