"""The 2007 Nautilus6 demonstration (report section 7.1), from Homeguy's images alone.

A home agent boots from the `home-agent` image; its operator sets it up with one command
on its console (`haiku-manage haiku_setup`: home link, radvd, mip6d, HAiku behind nginx
with TLS). A person registers on that HAiku from the correspondent's side and creates a
mobile host. It is a laptop (no serial port, a screen and a keyboard) booting the
generic mobile-host image from a USB stick with persistence (`homeguy iso stick`) on a
foreign access network: the person picks the menu's persistence entry (adding
`nomodeset`, so that the test can read the screen's text), reads on tty1 that it did not
enroll, enrolls it by hand with the token the service showed (`homeguy-enroll`, over
HTTPS pinned to the service's certificate), reads that it registered, runs the status
view; the correspondent and the home agent reach the home address through the tunnel.
Switched off and on, the laptop starts from the enrollment its stick kept and registers
again, and the service is not asked. The test reads that screen (VGA text memory) and
keeps screenshots of it in out/demo/screens/. Two mobile
routers do the same with a host behind each, then move to the "insecure" network and
back while their hosts' traffic goes on: router 1 protects all its traffic under IKEv2
(RFC 4877: a certificate from HAiku's CA, the home agent's charon set up by HAiku), and a
capture there sees it only as ESP; router 2 protects its signalling only, with static
keys, and its traffic is seen in clear.

The home agent's boot and set-up and the person's downloads (about ten minutes of one
guest on one core) begin when the session's tests do (testkit.headstart), beside the
tests that leave a core free, which the session runs first.

The wiring is the test's own, on the host: QEMU guests on tap devices in a switch
namespace (one bridge per link), a router namespace advertising a prefix on each access
network and routing to the home link and the correspondent's network. Guests reach
nothing else: the namespaces have no link to the host's network.

    home link 2001:db8:1::/64      HA ::1 (radvd: home prefix, H flag)   core ::ffff
    correspondent 2001:db8:c::/64  core ::1, cn ::2
    "wired" 2001:db8:a1::/64, "insecure" 2001:db8:a2::/64   core advertises both
    mobile network prefixes 2001:db8:100::/48, routed by core to the home agent
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import pytest

from homeguy.git import TOP
from homeguy.lab.topology import Host, Topology
from homeguy.run import run
from testkit.headstart import HeadStart
from testkit.images import built_iso
from testkit.qemu import Guest

pytestmark = [pytest.mark.e2e, pytest.mark.machine]

WORK = TOP / "out" / "demo"
BOOT_LIMIT = 900.0  # seconds to a login prompt or an enrolled mip6d (TCG, shared cores)
HOME, HA = "2001:db8:1::/64", IPv6Address("2001:db8:1::1")
CORE_HOME = IPv6Address("2001:db8:1::ffff")
CN_NET, CN = "2001:db8:c::/64", IPv6Address("2001:db8:c::2")
ACCESS = {"wired": "2001:db8:a1::/64", "insecure": "2001:db8:a2::/64"}
MNP_POOL = "2001:db8:100::/48"
URL = f"https://[{HA}]"
OPERATOR_PASSWORD = "demo operator password"
BASE_IMAGES = ("mobile-host", "mobile-router")  # what HAiku personalizes
RUNNING = r"homeguy-enroll: mip6d is running with home address (\S+)"
SCREENS = WORK / "screens"  # what the mobile host's person saw, for people to look at
# What homeguy-status-screen says on tty1 once the node is registered.
REGISTERED_ON_SCREEN = (r"homeguy-status: \S+ registered: home address (\S+), "
                        r"home agent (\S+), care-of (\S+) on (\w+)")
# What enrollment says on tty1 when the image (or its stick) holds no settings.
NOT_ENROLLED = r"not enrolling: no service URL and node token"


@dataclass
class Demo:
    net: Topology
    sw: Host  # the switch: one bridge per link, the guests' taps, no addresses
    core: Host  # the router between the links
    cn: Host  # the correspondent (and the person's browser)
    guests: dict[str, Guest] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)  # behind the mobile routers
    fingerprint: str = ""
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)  # per node
    images: dict[str, Path] = field(default_factory=dict)  # profile -> built image
    config_requests: int = 0  # the service's answers to nodes before the laptop's reboot

    def bridge(self, name: str) -> str:
        bridge = f"br-{name}"[:15]
        self.sw.run("ip", "link", "add", bridge, "type", "bridge", "forward_delay", "0",
                    "mcast_snooping", "0")
        self.sw.sysctl({f"net.ipv6.conf.{bridge}.disable_ipv6": 1})
        self.sw.run("ip", "link", "set", bridge, "up")
        return bridge

    def plug(self, tap: str, link: str, timeout: float = 60) -> None:
        """Put a guest's tap device on a link (its bridge), once QEMU has made it."""
        deadline = time.monotonic() + timeout
        while self.sw.run("ip", "link", "show", tap, check=False).strip() == "":
            assert time.monotonic() < deadline, f"QEMU made no tap device {tap}"
            time.sleep(0.2)
        self.sw.run("ip", "link", "set", tap, "master", f"br-{link}"[:15], "up")

    def boot(self, name: str, image: Path | None, links: list[str], **options: Any) -> Guest:
        taps = [f"{name}-eth{index}" for index in range(len(links))]
        guest = Guest(image, WORK / name, None, taps=taps, netns=self.sw.name, **options)
        self.guests[name] = guest.start()
        for tap, link in zip(taps, links, strict=True):
            self.plug(tap, link)
        return guest

    def boot_laptop(self, name: str, stick: Path, link: str) -> Guest:
        """Boot a laptop from its USB stick as a person would: no serial port; at the
        BIOS boot menu, the persistence entry (its hotkey), edited (Tab) to add
        `nomodeset`, so that the screen stays VGA text the test can read."""
        guest = self.boot(name, None, [link], disk=stick, disk_format="raw", serial=False)
        guest.wait_for_boot_menu(120)
        guest.press("p", redrawn=5)
        guest.screenshot(SCREENS / "bios-boot-menu.png")
        guest.press("\t nomodeset\n")
        return guest

    def ha_log(self, *events: str) -> list[dict[str, Any]]:
        return mip6d_log(self.guests["ha"], *events)


JOURNAL_LINE = re.compile(r"^(\d+\.\d+) \S+ \S+: (\{.*\})$", re.MULTILINE)


def mip6d_log(guest: Guest, *events: str) -> list[dict[str, Any]]:
    """mip6d's records of `events` in the guest's journal, read on its root console, each
    with the journal's time stamp as "t" (seconds; under systemd mip6d leaves the time to
    the journal). Filtered in the guest: the serial line is slow."""
    pattern = "|".join(events)
    text = guest.shell(f"journalctl -u mip6d -o short-unix --no-pager | "
                       f"grep -E '\"event\": \"({pattern})\"' || true")
    return [{**json.loads(found.group(2)), "t": float(found.group(1))}
            for found in JOURNAL_LINE.finditer(text)]


def wire() -> Demo:
    for stale in run(["ip", "netns", "list"]).stdout.split():
        if stale.startswith("hgd-"):  # left by a run that was killed
            run(["ip", "netns", "delete", stale])
    (WORK / "net").mkdir(parents=True, exist_ok=True)
    net = Topology(workdir=WORK / "net")
    sw, core, cn = net.host("hgd-sw"), net.host("hgd-core", forwarding=True), net.host("hgd-cn")
    demo = Demo(net, sw, core, cn)
    for link in ("home", *ACCESS):
        bridge = demo.bridge(link)
        net.link(core, sw, a_ifname=link, b_ifname=f"core-{link}"[:15])
        sw.run("ip", "link", "set", f"core-{link}"[:15], "master", bridge)
    core.run("ip", "-6", "addr", "add", f"{CORE_HOME}/64", "dev", "home", "nodad")
    net.link(core, cn, a_ifname="cn", b_ifname="core", a_address="2001:db8:c::1/64",
             b_address=f"{CN}/64")
    cn.run("ip", "-6", "route", "add", "default", "via", "2001:db8:c::1")
    core.run("ip", "-6", "route", "add", MNP_POOL, "via", str(HA), "dev", "home")
    net.radvd(core, ACCESS)
    return demo


def base_images(demo: Demo, into: Path) -> None:
    """The mobile-host and mobile-router images (with their .json) in the directory the
    home agent mounts, as an operator would copy them there."""
    for profile in BASE_IMAGES:
        image = demo.images[profile]
        for source, name in ((image, f"{profile}.iso"),
                             (image.with_name(image.name + ".json"), f"{profile}.iso.json")):
            target = into / name
            target.unlink(missing_ok=True)
            os.link(source, target)


def set_up_home_agent(demo: Demo) -> None:
    isos = WORK / "isos"
    isos.mkdir(parents=True, exist_ok=True)
    ha = demo.boot("ha", demo.images["home-agent"], ["home"], shares={"isos": isos})
    base_images(demo, isos)  # the home agent mounts them once logged in
    ha.login_root(BOOT_LIMIT)
    ha.shell("mkdir -p /srv/isos && mount -t 9p -o trans=virtio,ro isos /srv/isos")
    said = ha.shell(
        f"HAIKU_OPERATOR_PASSWORD='{OPERATOR_PASSWORD}' haiku-manage haiku_setup "
        f"--interface eth0 --address {HA}/64 --gateway {CORE_HOME} --mnp-pool {MNP_POOL} "
        f"--url '{URL}' --base-iso /srv/isos/mobile-host.iso "
        "--base-iso-router /srv/isos/mobile-router.iso --operator admin", timeout=600)
    fingerprint = said.rsplit("TLS certificate SHA-256 ", 1)[-1].split(";")[0].strip()
    assert len(fingerprint) == 64, said
    services = ("systemd-networkd", "radvd", "mip6d", "strongswan", "haiku", "nginx")
    states = ha.shell(f"systemctl is-active {' '.join(services)}", check=False).split()
    assert states[-len(services):] == ["active"] * len(services), (services, states)
    demo.fingerprint = fingerprint


def create_nodes(demo: Demo, *specs: str) -> None:
    """A person registers on the home agent's HAiku (from the correspondent's network),
    creates the nodes and downloads their images."""
    answer = run(demo.cn.argv(str(TOP / ".venv/bin/python"), "-m", "testkit.haiku_web", URL,
                              demo.fingerprint, str(WORK), "alice", *specs),
                 timeout=1800, cwd=TOP)
    demo.nodes = json.loads(answer.stdout.strip().splitlines()[-1])


def wait_reachable(host: Host, address: str, timeout: float) -> float:
    """Seconds until `address` answers a ping from `host`."""
    started = time.monotonic()
    while run(host.argv("ping", "-6", "-n", "-c", "1", "-W", "1", address),
              check=False).returncode != 0:
        assert time.monotonic() - started < timeout, f"{address} unreachable from {host.name}"
    return time.monotonic() - started


# The nodes a person creates on the home agent's HAiku: NAME:KIND:PREFIXES:KEYING[:flags]
# (testkit/haiku_web.py). The mobile host is enrolled by hand, with the token the service
# shows once; router 1 protects all its traffic (TunnelPayload) under IKEv2, router 2 only
# its signalling, with static keys, each from its own image.
NODES = ("mh:host:0:static:by-hand", "mr1:router:1:certificate:all", "mr2:router:1:static")
# Each mobile router's mobile network: a link of its own with one host behind it.
LANS = {"mr1": "lan1", "mr2": "lan2"}


def prepare() -> Demo:
    """The images (built in the caller's thread: a build takes the whole machine) and the
    wiring."""
    WORK.mkdir(parents=True, exist_ok=True)
    images = {profile: built_iso(profile) for profile in ("home-agent", *BASE_IMAGES)}
    demo = wire()
    demo.images = images
    return demo


def set_up(demo: Demo) -> Demo:
    """The home agent booted and set up, the person's nodes created on its HAiku and their
    images downloaded: one guest on one core for about ten minutes."""
    set_up_home_agent(demo)
    create_nodes(demo, *NODES)
    return demo


def begin_set_up() -> tuple[Callable[[], Demo], Callable[[], None]]:
    """The images and the wiring now; the set-up beside the session's first tests."""
    demo = prepare()
    return lambda: set_up(demo), lambda: stop_all(demo)


HEAD_START: HeadStart[Demo] = HeadStart(begin_set_up, "demo-set-up")


def stop_all(demo: Demo) -> None:
    for guest in demo.guests.values():
        guest.stop()
    demo.net.close()


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    started = HEAD_START.take()  # set up since the session began
    demo = started if started is not None else prepare()
    try:
        if started is None:
            set_up(demo)
        for spec in NODES:  # what bench/demo.py compares the figures by
            name, _, _, keying, *flags = spec.split(":")
            demo.figures[name] = {"keying": keying, "protects": "all traffic" if "all" in flags
                                  else "signalling"}
        for lan in LANS.values():
            demo.bridge(lan)
            demo.hosts[lan] = demo.net.host(f"hgd-{lan}")
            demo.net.link(demo.hosts[lan], demo.sw, a_ifname="eth0", b_ifname=f"{lan}-host")
            demo.sw.run("ip", "link", "set", f"{lan}-host", "master", f"br-{lan}")
        # All three at once: they boot in parallel, each on the "wired" access network;
        # the mobile host first, its menu answered before the routers take the cores.
        shutil.rmtree(SCREENS, ignore_errors=True)
        stick = WORK / "mh-stick.img"
        stick.unlink(missing_ok=True)
        run([str(TOP / ".venv/bin/python"), "-m", "homeguy", "iso", "stick",
             str(demo.images["mobile-host"]), str(stick), "--persistence", "64MiB"], cwd=TOP)
        demo.boot_laptop("mh", stick, "wired")
        for name, lan in LANS.items():
            demo.boot(name, Path(demo.nodes[name]["iso"]), ["wired", lan])
        for name in LANS:
            found = demo.guests[name].wait_for(RUNNING, BOOT_LIMIT)
            assert found.group(1) == demo.nodes[name]["home_address"], found.group(0)
        yield demo
    finally:
        stop_all(demo)
        # What bench/demo.py reports (measured here, never asserted on).
        (WORK / "figures.json").write_text(json.dumps(demo.figures, indent=2) + "\n")


def test_mobile_host_enrolled_by_hand_registers_and_is_reachable(demo: Demo) -> None:
    node = demo.nodes["mh"]
    home_address = node["home_address"]
    laptop = demo.guests["mh"]
    # A generic image: tty1 says it did not enroll, and how to.
    laptop.wait_on_screen(NOT_ENROLLED + r" .*sudo homeguy-enroll", BOOT_LIMIT)
    laptop.wait_on_screen(r"user@homeguy-mh:~\$ ", 300)
    laptop.press(f"clear; sudo homeguy-enroll --tls-fingerprint sha256:{demo.fingerprint}\n")
    laptop.wait_on_screen(re.escape("Service URL (e.g. https://haiku.example): "), 120)
    laptop.press(f"{URL}\n")
    laptop.wait_on_screen(re.escape("Node token (from the node's page; not shown): "), 60)
    laptop.press(f"{node['token']}\n")
    # tty1 says what enrollment did, then that the node registered: from where, on what.
    found = laptop.wait_on_screen(REGISTERED_ON_SCREEN, 600)
    assert found.group(1, 2) == (home_address, str(HA)), found.group(0)
    assert IPv6Address(found.group(3)) in IPv6Network(ACCESS["wired"]), found.group(0)
    assert found.group(4) == "eth0", found.group(0)
    laptop.screenshot(SCREENS / "mh-tty1-registered.png")
    # What enrollment said last.
    laptop.wait_on_screen(re.escape(f"homeguy-enroll: enrolled with home address "
                                    f"{home_address} from {URL}"), 10)
    assert node["token"] not in laptop.screen_text().replace("\n", "")  # asked, no echo
    took = wait_reachable(demo.cn, home_address, 300)
    print(f"mobile host reachable from the correspondent {took:.0f} s after it said so")
    # The menu's persistence entry booted (what the next boot starts from).
    assert ask(laptop, "grep -c ' persistence' /proc/cmdline", "persistent") == "1"
    look_at_the_status_view(demo, "mh")
    log = demo.ha_log("sent", "binding-added")
    acks = [r for r in log if r["event"] == "sent" and r["message"] == "BindingAck"]
    assert acks and all(r["status"] == 0 for r in acks), acks
    added = {r["home_address"] for r in log if r["event"] == "binding-added"}
    assert home_address in added, log[-20:]
    # The home agent itself reaches the home address (through the tunnel).
    assert " 0% packet loss" in demo.guests["ha"].shell(f"ping -6 -n -c 3 {home_address}")
    assert " 0% packet loss" in demo.cn.ping(home_address, count=5)
    # Switched off (no shutdown: a laptop's battery, a stick pulled) and on again: its
    # boot overlaps the routers' first tests; the next test looks at it.
    demo.config_requests = config_requests(demo)
    assert demo.config_requests >= 3, "the nodes' requests are not in nginx's log"
    laptop.stop()
    demo.boot_laptop("mh", WORK / "mh-stick.img", "wired")


@pytest.mark.parametrize("router", sorted(LANS))
def test_host_behind_each_mobile_router_reaches_the_correspondent(demo: Demo,
                                                                  router: str) -> None:
    node = demo.nodes[router]
    prefix = IPv6Network(node["mobile_network_prefixes"][0])
    host = demo.hosts[LANS[router]]
    log_in(demo, router)
    address = host.wait_address("eth0", within=prefix, timeout=120)  # the router's RAs
    took = wait_reachable(demo.cn, str(address), 300)
    print(f"{router}: host behind it reachable {took:.0f} s after enrollment")
    assert " 0% packet loss" in host.ping(CN, count=5)
    assert " 0% packet loss" in demo.cn.ping(node["home_address"], count=3)
    assert " 0% packet loss" in demo.guests["ha"].shell(
        f"ping -6 -n -c 3 {node['home_address']}")
    added = [r for r in demo.ha_log("binding-added")
             if r["home_address"] == node["home_address"]]
    assert added and added[-1]["prefixes"] == str(prefix), added
    if demo.figures[router]["keying"] == "certificate":
        # Keyed by the home agent's charon, with the connection HAiku wrote for it.
        number, remote = ike_sa(demo, router)
        assert remote in IPv6Network(ACCESS["wired"]), (number, remote)


def test_the_laptop_starts_again_from_its_stick_without_asking_the_service(
        demo: Demo) -> None:
    """The second boot from the stick: its persistence kept the enrollment, which the
    node starts from; it registers again; the service answered no node meanwhile."""
    assert demo.config_requests, "the laptop's first boot did not get as far as its reboot"
    home_address = demo.nodes["mh"]["home_address"]
    laptop = demo.guests["mh"]
    # Registered, or (nothing kept) not enrolled: no waiting out the limit for the first.
    found = laptop.wait_on_screen(f"{REGISTERED_ON_SCREEN}|{NOT_ENROLLED}", BOOT_LIMIT)
    assert found.group(1, 2) == (home_address, str(HA)), found.group(0)
    laptop.wait_on_screen(r"its configuration kept on this medium", 10)
    laptop.screenshot(SCREENS / "mh-tty1-after-reboot.png")
    assert config_requests(demo) == demo.config_requests
    assert " 0% packet loss" in demo.cn.ping(home_address, count=3)
    laptop.wait_on_screen(r"user@homeguy-mh:~\$ ", 60)
    registration_time_on_screen(demo, "mh")


def config_requests(demo: Demo) -> int:
    """How many times the home agent's HAiku answered a node's configuration request
    (its nginx's access log)."""
    return int(demo.guests["ha"].shell(
        "cat /var/log/nginx/access.log 2>/dev/null | grep -c 'GET /api/v1/node/config ' || true"))


# A router's traffic while it moves: one echo request every PING_INTERVAL seconds from
# the host behind it to the correspondent.
PING_INTERVAL = 0.2
RESUME_LIMIT = 300.0  # seconds for traffic to resume after a move (TCG, shared cores)
SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) received")


def move(demo: Demo, router: str, link: str) -> dict[str, float]:
    """Plug the router's access interface into `link` while its host pings the
    correspondent; once traffic has resumed: the seconds from the care-of address there
    being usable to the home agent's acknowledgement (the router's journal), and the echo
    requests lost."""
    guest, host = demo.guests[router], demo.hosts[LANS[router]]
    since = float(guest.shell("date +%s.%N"))
    log = WORK / "net" / f"{router}-to-{link}.ping"
    pinging = host.spawn("ping", "-6", "-n", "-i", str(PING_INTERVAL), str(CN), log=log)
    demo.plug(f"{router}-eth0", link)
    prefix = IPv6Network(ACCESS[link])
    deadline = time.monotonic() + RESUME_LIMIT
    while True:  # resumed: the acknowledgement of the new care-of address, then 3 s of replies
        events = [r for r in mip6d_log(guest, "movement", "received") if r["t"] > since]
        usable = [r for r in events if r["event"] == "movement"
                  and r["kind"] == "CareOfAddressAvailable" and r["address"]
                  and IPv6Address(r["address"]) in prefix]
        acked = [r for r in events if r["event"] == "received"
                 and r["message"] == "BindingAck" and r["status"] == 0
                 and usable and r["t"] >= usable[0]["t"]]
        if acked and " 0% packet loss" in host.run(
                "ping", "-6", "-n", "-c", "3", "-W", "2", str(CN), check=False):
            break
        assert time.monotonic() < deadline, (
            f"{router} on {link}: traffic not back after {RESUME_LIMIT:.0f} s; its mip6d "
            f"since the move: {events}")
        time.sleep(2)
    pinging.send_signal(signal.SIGINT)
    pinging.wait(timeout=10)
    sent, received = map(int, SUMMARY.findall(log.read_text())[-1])
    return {"handover_s": round(acked[0]["t"] - usable[0]["t"], 3),
            "lost_packets": sent - received}


def test_routers_move_and_the_insecure_network_sees_what_each_protects(demo: Demo) -> None:
    """Each router moves to the "insecure" network, then back to "wired"; traffic from
    the host behind it resumes each time. A capture on the insecure network, from before
    each router arrives, shows router 1's traffic (TunnelPayload) only as ESP, its
    handover included, and router 2's (signalling only) in clear: the moment of the 2007
    demonstration when driftnet showed router 2's pictures."""
    seen: dict[str, list[dict[str, Any]]] = {}
    for router in sorted(LANS):
        log_in(demo, router)
        host = demo.hosts[LANS[router]]
        source = host.wait_address("eth0", within=IPv6Network(
            demo.nodes[router]["mobile_network_prefixes"][0]))
        # From before the router arrives, through its handover, on the access router's
        # side of the link (a bridge shows only its own traffic).
        capture = demo.net.capture(demo.core, "insecure")
        keyed = demo.figures[router]["keying"] == "certificate"
        before = ike_sa(demo, router) if keyed else None
        there = move(demo, router, "insecure")
        assert " 0% packet loss" in host.ping(CN, count=10)
        if before is not None:  # RFC 4877: the IKE SA moved with it, not made again
            number, remote = ike_sa(demo, router)
            assert number == before[0] and remote in IPv6Network(ACCESS["insecure"]), (
                before, number, remote)
        seen[router] = capture.decode(f"icmpv6.type == 128 && ipv6.src == {source}")
        seen[f"{router}-esp"] = capture.decode("esp")
        back = move(demo, router, "wired")
        demo.figures.setdefault(router, {}).update(
            {f"to_insecure_{k}": v for k, v in there.items()}
            | {f"back_to_wired_{k}": v for k, v in back.items()})
        print(f"{router}: to insecure {there}, back to wired {back}")
    assert seen["mr1"] == [] and len(seen["mr1-esp"]) >= 10, (
        "router 1's traffic must cross the insecure network only as ESP")
    assert len(seen["mr2"]) >= 10, "router 2's traffic crosses the insecure network in clear"


def ike_sa(demo: Demo, router: str) -> tuple[int, IPv6Address]:
    """The home agent's IKE SA with ``router`` (HAiku names its connection after the
    node's home address): its unique number and the router's end of it."""
    name = "haiku-" + demo.nodes[router]["home_address"].replace(":", "-")
    sas = demo.guests["ha"].shell(f"swanctl --list-sas --ike {name}", check=False)
    established = re.search(r"#(\d+), ESTABLISHED, IKEv2", sas)
    remote = re.search(r"^\s*remote '[^']*' @ ([0-9a-f:]+)\[", sas, re.MULTILINE)
    assert established and remote, f"no IKE SA {name} on the home agent: {sas}"
    return int(established.group(1)), IPv6Address(remote.group(1))


def ask(guest: Guest, command: str, name: str, timeout: float = 120) -> str:
    """Run `command` at the shell on the guest's screen (tty1, the live user's) on a
    cleared screen; its output's last word, which the screen shows after `name=`."""
    guest.press(f'clear; echo "{name}=$({command})."\n')
    return guest.wait_on_screen(rf"{name}=(\S*)\.", timeout).group(1)


def look_at_the_status_view(demo: Demo, name: str) -> None:
    """The person runs homeguy-status on tty1 (the live view, which the control socket's
    permissions want run by root) and leaves it with Ctrl-C."""
    guest = demo.guests[name]
    guest.press("clear; sudo homeguy-status\n")
    guest.wait_on_screen(r"Binding\s+registered, \S+ left", 120)
    guest.wait_on_screen(rf"Home address {re.escape(demo.nodes[name]['home_address'])}", 10)
    guest.wait_on_screen(r"Handovers\s+newest first\s+\S+ \(\S+ ago\)\s+registered", 10)
    guest.screenshot(SCREENS / f"{name}-status-view.png")
    guest.send_keys("ctrl-c")


def registration_time_on_screen(demo: Demo, name: str) -> None:
    """The figure `log_in` takes on a serial console, asked on the screen."""
    stamp = ask(demo.guests[name], "sudo journalctl -u mip6d -o short-monotonic --no-pager | "
                "grep -m1 '\"event\": \"binding-registered\"' | cut -d] -f1 | tr -d '[ '",
                "registered")
    demo.figures.setdefault(name, {})["kernel_start_to_registration_s"] = float(stamp)


def log_in(demo: Demo, name: str) -> None:
    """Root on the node's console (once), and the time from its kernel's start to its
    first registration (the journal's monotonic clock) into the figures."""
    if "kernel_start_to_registration_s" in demo.figures.get(name, {}):
        return
    guest = demo.guests[name]
    guest.login_root(BOOT_LIMIT)
    line = guest.shell("journalctl -u mip6d -o short-monotonic --no-pager | "
                       "grep -m1 '\"event\": \"binding-registered\"'")
    stamp = re.match(r"\[\s*(\d+\.\d+)\]", line)
    assert stamp, line
    demo.figures.setdefault(name, {})["kernel_start_to_registration_s"] = float(
        stamp.group(1))
