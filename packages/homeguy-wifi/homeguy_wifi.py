"""homeguy-wifi: join a Wi-Fi network from the console (open or WPA2-Personal).

    homeguy-wifi [--interface IFACE]            pick a network from a list, then join it
    homeguy-wifi scan                           the networks in range, strongest first
    homeguy-wifi join SSID [--passphrase-file FILE|-]
    homeguy-wifi status                         the link's state, network and addresses

It drives wpa_supplicant through its control socket (/run/wpa_supplicant/IFACE), the
way wpa_cli does. When none answers, it writes a minimal configuration for the
interface and starts Debian's ``wpa_supplicant@IFACE.service``. A joined network is
saved in that configuration (``SAVE_CONFIG``) with its key as wpa_supplicant stores it:
the PSK derived from the passphrase, never the passphrase itself. At boot, the package's
generator (homeguy-wifi-generator) starts the unit again for each interface whose
configuration has a network: on a stick with persistence, the network is joined again.
Addresses come from systemd-networkd (DHCPv4 and router advertisements); mip6d takes the
link's address as a care-of address like any other.

Pure core (no I/O): scan results, the network's settings, the WPA2 key, wpa_supplicant's
events and status. The shell: `Supplicant` (the control socket) and `main`.
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

CONTROL_DIR = Path("/run/wpa_supplicant")
CONFIG_DIR = Path("/etc/wpa_supplicant")
# Debian's unit: wpa_supplicant -c/etc/wpa_supplicant/wpa_supplicant-%I.conf -i%I
UNIT = "wpa_supplicant@{}.service"
# What a fresh interface's configuration holds: the control socket (root's only: no
# GROUP=netdev as in Debian's examples, a group the images need not have, without which
# wpa_supplicant would not start) and the permission to save joined networks into it.
BASE_CONFIG = "ctrl_interface=DIR=/run/wpa_supplicant\nupdate_config=1\n"
SCAN_SECONDS = 15
JOIN_SECONDS = 40
ADDRESS_SECONDS = 20
SYS_NET = Path("/sys/class/net")


class WifiError(Exception):
    """What went wrong, said so that the person can fix it."""


# -- pure core -------------------------------------------------------------------------

@dataclass(frozen=True)
class Network:
    """One network in range (its strongest access point)."""

    ssid: bytes
    bssid: str
    frequency: int
    signal: int  # dBm
    flags: str

    @property
    def security(self) -> str:
        """"open", "WPA2" (Personal: a passphrase), or what homeguy-wifi cannot join."""
        if "EAP" in self.flags:
            return "enterprise"
        if "PSK" in self.flags:
            return "WPA2"
        if "SAE" in self.flags:
            return "WPA3"
        if "WEP" in self.flags:
            return "WEP"
        return "open"

    @property
    def joinable(self) -> bool:
        return self.security in ("open", "WPA2")

    @property
    def name(self) -> str:
        return printable(self.ssid)

    @property
    def channel(self) -> int:
        return channel(self.frequency)


def channel(frequency: int) -> int:
    """The IEEE 802.11 channel of a frequency in MHz (2.4 and 5 GHz bands)."""
    if frequency == 2484:
        return 14
    if 2412 <= frequency < 2484:
        return (frequency - 2407) // 5
    return (frequency - 5000) // 5


def printable(ssid: bytes) -> str:
    """An SSID for the screen: UTF-8 where it is, \\xNN for the other bytes."""
    return ssid.decode("utf-8", "backslashreplace") or "(hidden)"


_ESCAPES = {"n": b"\n", "r": b"\r", "t": b"\t", "e": b"\x1b", '"': b'"', "\\": b"\\"}


def unescape(text: str) -> bytes:
    """The bytes of an SSID as wpa_supplicant prints it (its printf_encode: \\xNN,
    \\n, \\\\, ...)."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            digits = text[i + 2:i + 4]
            if text[i + 1] == "x" and len(digits) == 2 and all(
                    c in "0123456789abcdefABCDEF" for c in digits):
                out += bytes.fromhex(digits)
                i += 4
                continue
            if text[i + 1] in _ESCAPES:
                out += _ESCAPES[text[i + 1]]
                i += 2
                continue
        out += text[i].encode()
        i += 1
    return bytes(out)


def parse_scan_results(text: str) -> list[Network]:
    """``SCAN_RESULTS`` (a header line, then bssid, frequency, signal, flags and SSID
    separated by tabs): one entry per SSID, its strongest access point, strongest
    first. Hidden networks (no SSID) are left out: they cannot be picked by name."""
    best: dict[bytes, Network] = {}
    for line in text.splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 5 or not fields[4]:
            continue
        try:
            frequency, signal = int(fields[1]), int(fields[2])
        except ValueError:
            continue  # a line we cannot read is a network we cannot offer
        network = Network(unescape(fields[4]), fields[0], frequency, signal, fields[3])
        if network.ssid not in best or network.signal > best[network.ssid].signal:
            best[network.ssid] = network
    return sorted(best.values(), key=lambda n: (-n.signal, n.ssid))


def wpa2_psk(passphrase: str, ssid: bytes) -> str:
    """The 256-bit pre-shared key of a WPA2-Personal passphrase (IEEE 802.11i, PBKDF2
    with SHA-1, the SSID as salt, 4096 rounds), as the 64 hex digits wpa_supplicant
    takes."""
    check_passphrase(passphrase)
    return hashlib.pbkdf2_hmac("sha1", passphrase.encode(), ssid, 4096, 32).hex()


def check_passphrase(passphrase: str) -> None:
    if not 8 <= len(passphrase) <= 63 or not all(" " <= c <= "~" for c in passphrase):
        raise WifiError(f"a WPA2 passphrase has 8 to 63 printable ASCII characters; this "
                        f"one has {len(passphrase)} characters"
                        + ("" if passphrase.isascii() else ", not all of them ASCII"))


def network_settings(network: Network, passphrase: str | None) -> list[tuple[str, str]]:
    """``SET_NETWORK`` variables for joining ``network``: the SSID in hex (any bytes,
    no quoting), and the key for WPA2."""
    if not network.joinable:
        raise WifiError(f"{network.name!r} uses {network.security}; homeguy-wifi joins "
                        "open and WPA2-Personal networks (wpa_cli can configure the others)")
    settings = [("ssid", network.ssid.hex()), ("scan_ssid", "1")]
    if network.security == "open":
        return [*settings, ("key_mgmt", "NONE")]
    if passphrase is None:
        raise WifiError(f"{network.name!r} needs a passphrase")
    return [*settings, ("key_mgmt", "WPA-PSK"), ("psk", wpa2_psk(passphrase, network.ssid))]


def parse_status(text: str) -> dict[str, str]:
    """``STATUS``: key=value lines."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def join_outcome(event: str) -> str | None:
    """What a wpa_supplicant event says of a join in progress: "joined", an error for the
    person, or None (not the end yet)."""
    if "CTRL-EVENT-CONNECTED" in event:
        return "joined"
    if "CTRL-EVENT-SSID-TEMP-DISABLED" in event and "reason=WRONG_KEY" in event:
        return "the passphrase is wrong (the access point refused the key)"
    if "CTRL-EVENT-ASSOC-REJECT" in event:
        return "the access point refused the association"
    # Not CTRL-EVENT-NETWORK-NOT-FOUND: a scan under way when the network was selected
    # reports it, and the next scan finds the network (seen in the lab).
    return None


def scan_table(networks: Sequence[Network]) -> str:
    """The networks, numbered for picking."""
    rows = [f"{'#':>3}  {'signal':>8}  {'ch':>3}  {'security':<10}  network"]
    rows += [f"{i:>3}  {n.signal:>4} dBm  {n.channel:>3}  {n.security:<10}  {n.name}"
             for i, n in enumerate(networks, 1)]
    return "\n".join(rows)


def pick(answer: str, networks: Sequence[Network]) -> Network | None:
    """The network a person typed, by its number or its name; None to quit."""
    answer = answer.strip()
    if answer.lower() in ("", "q", "quit"):
        return None
    if answer.isdigit() and 1 <= int(answer) <= len(networks):
        return networks[int(answer) - 1]
    for network in networks:
        if network.name == answer:
            return network
    raise WifiError(f"no network {answer!r} in the list: type its number (1 to "
                    f"{len(networks)}) or its name")


def global_addresses(ip_json: str) -> list[str]:
    """The global addresses of ``ip -j address show dev IFACE``."""
    return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(ip_json or "[]")
            for a in link.get("addr_info", []) if a.get("scope") == "global"]


# -- shell -----------------------------------------------------------------------------

def wireless_interfaces(sys_net: Path = SYS_NET) -> list[str]:
    """The Wi-Fi interfaces (those with a ``wireless`` or ``phy80211`` entry in sysfs)."""
    return sorted(path.name for path in sys_net.iterdir()
                  if (path / "wireless").exists() or (path / "phy80211").exists())


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """``text`` to ``path`` through a temporary name: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), mode)
        out.write(text)
    os.replace(name, path)


class Supplicant:
    """wpa_supplicant's control socket for one interface (datagrams, as wpa_cli): a
    reply to each command, and the events it sends once attached."""

    def __init__(self, interface: str, control_dir: Path = CONTROL_DIR) -> None:
        self.interface = interface
        self.path = control_dir / interface
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # An abstract name of our own (nothing to clean up) for the replies.
        self.sock.bind(f"\0homeguy-wifi-{os.getpid()}-{interface}")
        try:
            self.sock.connect(str(self.path))
        except OSError as error:
            self.sock.close()
            raise WifiError(f"{self.path}: wpa_supplicant does not answer ({error.strerror})"
                            ) from None
        self.events: list[str] = []
        self.attached = False

    def attach(self) -> None:
        """Ask for events (once: each ATTACH would add another copy of them)."""
        if not self.attached:
            self.ok("ATTACH")
            self.attached = True

    def close(self) -> None:
        self.sock.close()

    def request(self, command: str, timeout: float = 10) -> str:
        self.sock.send(command.encode())
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline - time.monotonic())
            if reply is None:
                raise WifiError(f"wpa_supplicant on {self.interface} did not answer "
                                f"{command.split(maxsplit=1)[0]} in {timeout:.0f} s")
            if reply.startswith("<"):  # an event, not our reply
                self.events.append(reply)
                continue
            return reply

    def ok(self, command: str) -> None:
        reply = self.request(command)
        if reply.strip() != "OK":
            raise WifiError(f"wpa_supplicant refused {command.split(maxsplit=1)[0]} "
                            f"{' '.join(command.split()[1:3])}: {reply.strip()}")

    def event(self, timeout: float) -> str | None:
        return self.events.pop(0) if self.events else self._receive(timeout)

    def _receive(self, timeout: float) -> str | None:
        self.sock.settimeout(max(timeout, 0.01))
        try:
            return self.sock.recv(65536).decode(errors="replace")
        except TimeoutError:
            return None

    def wait_event(self, outcome: Callable[[str], str | None], timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            event = self.event(left)
            if event is not None and (found := outcome(event)) is not None:
                return found
        return None

    def scan(self) -> list[Network]:
        self.attach()
        reply = self.request("SCAN").strip()
        if reply not in ("OK", "FAIL-BUSY"):  # busy: a scan already running will do
            raise WifiError(f"wpa_supplicant could not scan on {self.interface}: {reply}")
        done = self.wait_event(
            lambda e: "done" if "CTRL-EVENT-SCAN-RESULTS" in e else None, SCAN_SECONDS)
        if done is None:
            raise WifiError(f"no scan results on {self.interface} in {SCAN_SECONDS} s "
                            "(is the radio blocked? see `rfkill list`)")
        return parse_scan_results(self.request("SCAN_RESULTS"))

    def join(self, network: Network, passphrase: str | None) -> None:
        settings = network_settings(network, passphrase)
        self.attach()
        # A network of the same name saved before is replaced, not doubled.
        for line in self.request("LIST_NETWORKS").splitlines()[1:]:
            fields = line.split("\t")
            if len(fields) > 1 and unescape(fields[1]) == network.ssid:
                self.ok(f"REMOVE_NETWORK {fields[0]}")
        ident = self.request("ADD_NETWORK").strip()
        if not ident.isdigit():
            raise WifiError(f"wpa_supplicant could not add a network: {ident}")
        for key, value in settings:
            self.ok(f"SET_NETWORK {ident} {key} {value}")
        self.ok(f"SELECT_NETWORK {ident}")
        outcome = self.wait_event(join_outcome, JOIN_SECONDS)
        if outcome != "joined":
            self.ok(f"REMOVE_NETWORK {ident}")
            raise WifiError(f"could not join {network.name!r}: "
                            f"{outcome or f'no association in {JOIN_SECONDS} s (out of range?)'}")
        if self.request("SAVE_CONFIG").strip() != "OK":
            print("homeguy-wifi: joined, but wpa_supplicant could not save the network "
                  "(update_config=1 missing in its configuration?)", file=sys.stderr)


def ensure_running(interface: str, control_dir: Path) -> None:
    """A wpa_supplicant for ``interface``: Debian's unit, with a minimal configuration
    when the interface has none."""
    if (control_dir / interface).exists():
        return
    config = CONFIG_DIR / f"wpa_supplicant-{interface}.conf"
    if not config.exists():
        write_atomic(config, BASE_CONFIG)
    print(f"homeguy-wifi: starting wpa_supplicant on {interface} ({UNIT.format(interface)})")
    result = subprocess.run(["systemctl", "start", UNIT.format(interface)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise WifiError(f"could not start {UNIT.format(interface)}: "
                        f"{result.stderr.strip() or result.returncode}")
    for _ in range(50):
        if (control_dir / interface).exists():
            return
        time.sleep(0.1)
    raise WifiError(f"{UNIT.format(interface)} started but {control_dir / interface} did "
                    f"not appear (see `journalctl -u {UNIT.format(interface)}`)")


def addresses(interface: str) -> list[str]:
    result = subprocess.run(["ip", "-j", "address", "show", "dev", interface],
                            capture_output=True, text=True, check=False)
    return global_addresses(result.stdout) if result.returncode == 0 else []


def show_addresses(interface: str, wait: float) -> None:
    deadline = time.monotonic() + wait
    while not (found := addresses(interface)) and time.monotonic() < deadline:
        time.sleep(0.5)
    if found:
        print(f"addresses on {interface}: {', '.join(found)}")
    else:
        print(f"no address on {interface} yet: the network sends no router advertisement "
              f"and no DHCP answer so far (`homeguy-wifi status` shows them when they come)")


def read_line(prompt: str, secret: bool = False) -> str:
    """One answer: from the terminal (a secret not echoed), or a line of standard input
    when it is not one (scripts, tests)."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt) if secret else input(prompt)
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    if not line:
        raise WifiError("standard input ended before an answer")
    print()
    return line.rstrip("\n")


def choose_interface(given: str | None, sys_net: Path = SYS_NET) -> str:
    found = wireless_interfaces(sys_net)
    if given is not None:
        if given not in found:
            raise WifiError(f"{given} is not a Wi-Fi interface here (Wi-Fi interfaces: "
                            f"{', '.join(found) or 'none'})")
        return given
    if not found:
        raise WifiError("no Wi-Fi interface: is the adapter's firmware installed? "
                        "(`dmesg | grep -i firmware` names what is missing)")
    return found[0]


def passphrase_for(network: Network, source: str | None) -> str | None:
    if network.security != "WPA2":
        return None
    if source is None:
        return read_line(f"passphrase for {network.name}: ", secret=True)
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    return text.splitlines()[0] if text else ""


def find(networks: Iterable[Network], ssid: str) -> Network:
    for network in networks:
        if network.name == ssid or network.ssid == unescape(ssid):
            return network
    raise WifiError(f"no network {ssid!r} in range (`homeguy-wifi scan` lists them)")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="homeguy-wifi", description="Join a Wi-Fi network from the console.")
    parser.add_argument("--interface", help="the Wi-Fi interface (default: the first one)")
    parser.add_argument("--control-dir", type=Path, default=CONTROL_DIR,
                        help=f"wpa_supplicant's control sockets (default {CONTROL_DIR})")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("scan", help="list the networks in range")
    join = commands.add_parser("join", help="join a network by name")
    join.add_argument("ssid")
    join.add_argument("--passphrase-file", metavar="FILE",
                      help="read the passphrase from FILE's first line ('-': standard input)")
    commands.add_parser("status", help="the link's state, network and addresses")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    interface = choose_interface(args.interface)
    ensure_running(interface, args.control_dir)
    supplicant = Supplicant(interface, args.control_dir)
    try:
        if args.command == "status":
            status = parse_status(supplicant.request("STATUS"))
            state = status.get("wpa_state", "?")
            joined = (f" to {printable(unescape(status['ssid']))}" if "ssid" in status
                      else "")
            print(f"{interface}: {state}{joined}")
            print(f"addresses: {', '.join(addresses(interface)) or 'none'}")
            return
        networks = supplicant.scan()
        if args.command == "scan":
            print(scan_table(networks) if networks else f"no network in range of {interface}")
            return
        if args.command == "join":
            network = find(networks, args.ssid)
            passphrase = passphrase_for(network, args.passphrase_file)
        else:
            if not networks:
                raise WifiError(f"no network in range of {interface}")
            print(scan_table(networks))
            chosen = pick(read_line("network to join (number or name, q to quit): "),
                          networks)
            if chosen is None:
                return
            network = chosen
            passphrase = passphrase_for(network, None)
        print(f"homeguy-wifi: joining {network.name} ({network.security}) on {interface}")
        supplicant.join(network, passphrase)
        print(f"joined {network.name} on {interface}")
        show_addresses(interface, ADDRESS_SECONDS)
    finally:
        supplicant.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        run(args)
    except WifiError as error:
        print(f"homeguy-wifi: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print(file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
