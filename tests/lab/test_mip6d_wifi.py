"""Wi-Fi as a laptop's user meets it: two `mac80211_hwsim` radios, one an access point on
a foreign network (hostapd, WPA2-Personal, radvd), the other the mobile node's. The node
joins the network with the installed homeguy-wifi (a wrong passphrase first, then the
list and the right one typed in), takes its address as a care-of address, and hands over
wired -> Wi-Fi -> wired with a correspondent's ping resuming each time; the Binding
Update that crossed the Wi-Fi link is captured behind the access point.

    cn ---- ha ---- r ===== mn-f1 (wired, foreign link 1; MnIfPreference 1)
                    |
                    +---- ap ~~~~ mn-wlan (Wi-Fi, 2001:db8:d::/64; MnIfPreference 2)
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv6Network
from pathlib import Path

import homeguy_wifi
import pytest

from homeguy.lab import installed
from homeguy.lab.topology import Host, Topology
from testkit.mip6d_topology import (
    F1,
    HA_ADDRESS,
    HOA,
    build,
    ha_config,
    mn_config,
    ping_until,
    start_mip6d,
)

pytestmark = pytest.mark.lab

WIFI = IPv6Network("2001:db8:d::/64")
AP_TRANSIT = IPv6Network("2001:db8:fe::/64")
SSID = "homeguy-cafe"
PASSPHRASE = "correct horse battery"
HOSTAPD_CONF = """\
interface=ap-wlan
driver=nl80211
ssid={ssid}
hw_mode=g
channel=6
wpa=2
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
wpa_passphrase={passphrase}
"""
WIFI_TOOL = "/usr/sbin/homeguy-wifi"


def radio_into(host: Host, phy: str, ifname: str) -> None:
    """The radio ``phy`` and its interface moved into ``host``, renamed ``ifname``."""
    subprocess.run(["iw", "phy", phy, "set", "netns", "name", host.name], check=True)
    (wlan,) = (name for name in host.run("ls", "/sys/class/net").split()
               if name.startswith("wlan"))
    host.run("ip", "link", "set", wlan, "name", ifname)


def wifi_tool(mn: Host, *args: str, answers: str = "") -> subprocess.CompletedProcess[str]:
    """The installed homeguy-wifi in the node, ``answers`` typed on its standard input."""
    return subprocess.run(mn.argv(*installed.argv(WIFI_TOOL, *args)), input=answers,
                          capture_output=True, text=True, timeout=120, check=False)


def wait_until(done: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what} after {timeout} s"
        time.sleep(0.2)


def logged(path: Path, text: str) -> bool:
    return text in (path.read_text(errors="replace") if path.exists() else "")


@pytest.fixture
def radios() -> Iterator[list[str]]:
    subprocess.run(["modprobe", "mac80211_hwsim", "radios=2"], check=True)
    yield sorted(path.name for path in Path("/sys/class/ieee80211").iterdir())
    # The radios come back from the deleted namespaces before the module goes.
    subprocess.run(["modprobe", "-r", "mac80211_hwsim"], check=False)


def test_join_with_the_console_tool_then_hand_over_wired_wifi_wired(
        net: Topology, radios: list[str]) -> None:
    m = build(net)
    ap = net.host("ap", forwarding=True)
    net.link(ap, m.r, a_ifname="ap-r", b_ifname="r-ap",
             a_address=f"{AP_TRANSIT[1]}/64", b_address=f"{AP_TRANSIT[2]}/64")
    ap.run("ip", "-6", "route", "add", "default", "via", str(AP_TRANSIT[2]))
    m.r.run("ip", "-6", "route", "add", str(WIFI), "via", str(AP_TRANSIT[1]))
    radio_into(ap, radios[0], "ap-wlan")
    radio_into(m.mn, radios[1], "mn-wlan")
    conf = net.workdir / "hostapd.conf"
    conf.write_text(HOSTAPD_CONF.format(ssid=SSID, passphrase=PASSPHRASE))
    hostapd_log = net.workdir / "hostapd.log"
    ap.spawn("hostapd", str(conf), log=hostapd_log)
    wait_until(lambda: logged(hostapd_log, "AP-ENABLED"), f"no AP-ENABLED in {hostapd_log}")
    net.radvd(ap, {"ap-wlan": str(WIFI)})

    # The node's wpa_supplicant as Debian's wpa_supplicant@mn-wlan.service runs it, on
    # the configuration homeguy-wifi writes for a new interface.
    supplicant_conf = net.workdir / "wpa_supplicant-mn-wlan.conf"
    supplicant_conf.write_text(homeguy_wifi.BASE_CONFIG)
    supplicant_log = net.workdir / "wpa_supplicant.log"
    m.mn.spawn(*installed.argv("/sbin/wpa_supplicant", "-c", str(supplicant_conf),
                               "-Dnl80211,wext", "-imn-wlan"), log=supplicant_log)
    control = homeguy_wifi.CONTROL_DIR / "mn-wlan"
    wait_until(control.exists, f"no control socket {control} (see {supplicant_log})", 20)

    coa1 = m.mn.wait_address("mn-f1", within=F1)
    ha = start_mip6d(net, m.ha, "ha", ha_config(net.workdir))
    preferences = ('Interface "mn-f1" {\n    MnIfPreference 1;\n}\n'
                   'Interface "mn-wlan" {\n    MnIfPreference 2;\n}\n')
    mn = start_mip6d(net, m.mn, "mn", mn_config(net.workdir, interfaces=("mn-home",))
                     .replace('Interface "mn-home";', preferences + 'Interface "mn-home";'))
    mn.wait_event("binding-registered", after=0, timeout=60, care_of=str(coa1))
    ping_until(m.cn, HOA)

    # A wrong passphrase: said so, nothing joined or saved.
    wrong = wifi_tool(m.mn, "join", SSID, "--passphrase-file", "-",
                      answers="not the passphrase\n")
    print(wrong.stdout, wrong.stderr)
    assert wrong.returncode == 1
    assert f"homeguy-wifi: could not join '{SSID}': the passphrase is wrong" in wrong.stderr
    assert "psk=" not in supplicant_conf.read_text()

    # The list, the network's number and the passphrase typed in.
    capture = net.capture(ap, "ap-r", "ip6")
    joined = wifi_tool(m.mn, answers=f"1\n{PASSPHRASE}\n")
    print(joined.stdout, joined.stderr)
    assert joined.returncode == 0, joined.stderr
    listing = joined.stdout.splitlines()
    assert listing[0].split() == ["#", "signal", "ch", "security", "network"]
    assert listing[1].split()[-3:] == ["6", "WPA2", SSID]  # channel, security, name
    assert f"joined {SSID} on mn-wlan" in joined.stdout
    assert "addresses on mn-wlan: 2001:db8:d:" in joined.stdout
    saved = supplicant_conf.read_text()
    assert f"psk={homeguy_wifi.wpa2_psk(PASSPHRASE, SSID.encode())}" in saved
    assert PASSPHRASE not in saved
    status = wifi_tool(m.mn, "status")
    assert f"mn-wlan: COMPLETED to {SSID}" in status.stdout, status.stdout + status.stderr
    coa_wifi = m.mn.wait_address("mn-wlan", within=WIFI)
    # Wired is preferred: the Wi-Fi address waits as a spare.
    time.sleep(2)
    assert not [r for r in mn.records()[mn.seen:] if r.get("care_of") == str(coa_wifi)]

    ping_log = net.workdir / "wifi-ping.log"
    ping = m.cn.spawn("ping", "-6", "-n", "-D", "-i", "0.2", "-W", "1", str(HOA), log=ping_log)
    for move, up, coa in (("wired -> Wi-Fi", False, coa_wifi), ("Wi-Fi -> wired", True, coa1)):
        mark = mn.mark()
        start = time.monotonic()
        m.link(m.mn, "mn-f1", up)
        mn.wait(lambda r, coa=coa: r.get("event") in ("binding-registered", "binding-refreshed")
                and r.get("care_of") == str(coa), timeout=60, after=mark,
                what=f"{move}: a registration from {coa}")
        ping_until(m.cn, HOA, timeout=30)
        print(f"{move}: registered from {coa} and answering after "
              f"{time.monotonic() - start:.2f} s")
        assert f"remote {coa}" in m.ha.run("ip", "-6", "tunnel", "show")
    ping.send_signal(signal.SIGINT)
    ping.wait(timeout=10)
    print("correspondent's ping every 0.2 s:", ping_log.read_text().splitlines()[-2])

    # The Binding Update that crossed the Wi-Fi link, seen behind the access point.
    updates = [p for p in capture.decode("mip6.mhtype == 5")
               if p["_source"]["layers"]["ipv6"]["ipv6.src"] == str(coa_wifi)]
    assert updates, "no Binding Update from the Wi-Fi care-of address behind the access point"
    assert updates[0]["_source"]["layers"]["ipv6"]["ipv6.dst"] == str(HA_ADDRESS)
    assert mn.stop() == 0
    assert ha.stop() == 0
