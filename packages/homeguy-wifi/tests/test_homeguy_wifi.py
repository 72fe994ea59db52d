"""homeguy-wifi's pure core: scan results, the network's settings, the WPA2 key, events.
(Joining real networks: tests/lab/test_mip6d_wifi.py, with mac80211_hwsim radios.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import homeguy_wifi as hw
import pytest

pytestmark = pytest.mark.unit

HERE = Path(__file__).resolve().parent.parent

# SCAN_RESULTS as wpa_supplicant 2.10 prints it (the header, then tab-separated fields;
# SSIDs printf-escaped).
SCAN = (
    "bssid / frequency / signal level / flags / ssid\n"
    "02:00:00:00:01:00\t2437\t-61\t[WPA2-PSK-CCMP][ESS]\thomeguy-cafe\n"
    "02:00:00:00:02:00\t2412\t-40\t[WPA2-PSK-CCMP][ESS]\thomeguy-cafe\n"
    "02:00:00:00:03:00\t5180\t-70\t[ESS]\tstation\\x20wifi\\xff\n"
    "02:00:00:00:04:00\t2462\t-50\t[WPA2-EAP-CCMP][ESS]\teduroam\n"
    "02:00:00:00:05:00\t2462\t-55\t[ESS]\t\n"
    "02:00:00:00:06:00\tbad\t-55\t[ESS]\tbroken\n"
    "02:00:00:00:07:00\t2472\t-80\t[WPA2-SAE-CCMP][ESS]\tnew\\\\net\n"
)


def test_scan_results_keep_each_network_s_strongest_access_point_strongest_first() -> None:
    networks = hw.parse_scan_results(SCAN)
    assert [(n.ssid, n.bssid, n.signal) for n in networks] == [
        (b"homeguy-cafe", "02:00:00:00:02:00", -40),
        (b"eduroam", "02:00:00:00:04:00", -50),
        (b"station wifi\xff", "02:00:00:00:03:00", -70),
        (b"new\\net", "02:00:00:00:07:00", -80),
    ]  # hidden and unreadable lines left out
    assert [n.security for n in networks] == ["WPA2", "enterprise", "open", "WPA3"]
    assert [n.joinable for n in networks] == [True, False, True, False]
    assert [n.channel for n in networks] == [1, 11, 36, 13]
    assert networks[2].name == "station wifi\\xff"


def test_scan_table_numbers_the_networks() -> None:
    networks = hw.parse_scan_results(SCAN)
    assert hw.scan_table(networks[:2]).splitlines() == [
        "  #    signal   ch  security    network",
        "  1   -40 dBm    1  WPA2        homeguy-cafe",
        "  2   -50 dBm   11  enterprise  eduroam",
    ]


@pytest.mark.parametrize(("text", "raw"), [
    ("plain", b"plain"), ("a\\x20b", b"a b"), ("\\\"q\\\"", b'"q"'), ("t\\tab", b"t\tab"),
    ("bad\\xZZ", b"bad\\xZZ"), ("end\\", b"end\\"), ("caf\u00e9", "caf\u00e9".encode()),
])
def test_unescape_reads_wpa_supplicant_s_printf_encoding(text: str, raw: bytes) -> None:
    assert hw.unescape(text) == raw


def test_the_wpa2_key_is_ieee_802_11i_s() -> None:
    # IEEE 802.11i-2004, annex H.4.1 (PBKDF2-SHA1 test vectors).
    assert hw.wpa2_psk("password", b"IEEE") == (
        "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e")
    assert hw.wpa2_psk("ThisIsAPassword", b"ThisIsASSID") == (
        "0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af")


@pytest.mark.parametrize(("passphrase", "says"), [
    ("short", "this one has 5 characters"),
    ("x" * 64, "this one has 64 characters"),
    ("caf\u00e9 au lait", "not all of them ASCII"),
])
def test_a_passphrase_outside_802_11i_is_refused_with_its_length(passphrase: str,
                                                                 says: str) -> None:
    with pytest.raises(hw.WifiError, match=says):
        hw.wpa2_psk(passphrase, b"net")


def test_settings_of_a_wpa2_network_carry_the_key_not_the_passphrase() -> None:
    cafe = hw.parse_scan_results(SCAN)[0]
    settings = dict(hw.network_settings(cafe, "correct horse battery"))
    assert settings == {"ssid": b"homeguy-cafe".hex(), "scan_ssid": "1", "key_mgmt": "WPA-PSK",
                        "psk": hw.wpa2_psk("correct horse battery", b"homeguy-cafe")}
    assert "correct" not in " ".join(settings.values())


def test_settings_of_an_open_network_and_refusals() -> None:
    eduroam, station, sae = hw.parse_scan_results(SCAN)[1:]
    assert hw.network_settings(station, None)[-1] == ("key_mgmt", "NONE")
    with pytest.raises(hw.WifiError, match="'eduroam' uses enterprise; homeguy-wifi joins"):
        hw.network_settings(eduroam, None)
    with pytest.raises(hw.WifiError, match="uses WPA3"):
        hw.network_settings(sae, "long enough")
    with pytest.raises(hw.WifiError, match="needs a passphrase"):
        hw.network_settings(hw.parse_scan_results(SCAN)[0], None)


@pytest.mark.parametrize(("event", "outcome"), [
    ("<3>CTRL-EVENT-CONNECTED - Connection to 02:00:00:00:02:00 completed [id=0 id_str=]",
     "joined"),
    ('<3>CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid="homeguy-cafe" auth_failures=1 '
     "duration=10 reason=WRONG_KEY", "the passphrase is wrong"),
    ("<3>CTRL-EVENT-ASSOC-REJECT bssid=02:00:00:00:02:00 status_code=17",
     "refused the association"),
    ("<3>CTRL-EVENT-NETWORK-NOT-FOUND", None),  # the next scan may find it
    ("<3>CTRL-EVENT-SCAN-STARTED ", None),
    ('<3>Trying to associate with 02:00:00:00:02:00 (SSID=\'homeguy-cafe\' freq=2412 MHz)',
     None),
])
def test_join_outcome_from_events(event: str, outcome: str | None) -> None:
    found = hw.join_outcome(event)
    assert found == outcome if outcome is None else outcome in str(found)


def test_pick_by_number_or_name() -> None:
    networks = hw.parse_scan_results(SCAN)
    assert hw.pick("2", networks) is networks[1]
    assert hw.pick(" homeguy-cafe ", networks) is networks[0]
    assert hw.pick("q", networks) is None
    assert hw.pick("", networks) is None
    with pytest.raises(hw.WifiError, match=r"type its number \(1 to 4\) or its name"):
        hw.pick("9", networks)


def test_status_and_addresses() -> None:
    status = hw.parse_status("bssid=02:00:00:00:02:00\nssid=homeguy-cafe\n"
                             "wpa_state=COMPLETED\naddress=02:00:00:00:00:01\n")
    assert status["wpa_state"] == "COMPLETED" and status["ssid"] == "homeguy-cafe"
    ip = [{"ifname": "wlan0", "addr_info": [
        {"family": "inet6", "local": "2001:db8:d::1", "prefixlen": 64, "scope": "global"},
        {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"},
        {"family": "inet", "local": "192.0.2.7", "prefixlen": 24, "scope": "global"}]}]
    assert hw.global_addresses(json.dumps(ip)) == ["2001:db8:d::1/64", "192.0.2.7/24"]
    assert hw.global_addresses("") == []


def test_wireless_interfaces_from_sysfs(tmp_path: Path) -> None:
    for name, entry in (("eth0", None), ("wlan1", "phy80211"), ("wlan0", "wireless")):
        (tmp_path / name).mkdir()
        if entry:
            (tmp_path / name / entry).mkdir()
    assert hw.wireless_interfaces(tmp_path) == ["wlan0", "wlan1"]


def test_no_wifi_interface_or_a_wrong_one_is_said_plainly(tmp_path: Path) -> None:
    (tmp_path / "eth0").mkdir()
    with pytest.raises(hw.WifiError, match="no Wi-Fi interface: is the adapter's firmware"):
        hw.choose_interface(None, tmp_path)
    with pytest.raises(hw.WifiError, match=r"eth0 is not a Wi-Fi interface here \(Wi-Fi "
                       r"interfaces: none\)"):
        hw.choose_interface("eth0", tmp_path)


def test_the_generator_starts_wpa_supplicant_where_a_network_was_saved(tmp_path: Path) -> None:
    config, out = tmp_path / "wpa_supplicant", tmp_path / "generated"
    config.mkdir()
    (config / "wpa_supplicant-wlan0.conf").write_text(
        hw.BASE_CONFIG + 'network={\n\tssid="homeguy-cafe"\n\tpsk=00\n}\n')
    (config / "wpa_supplicant-wlan1.conf").write_text(hw.BASE_CONFIG)  # nothing joined
    (config / "wpa_supplicant.conf").write_text('network={\n}\n')  # not an interface's
    subprocess.run([HERE / "bin" / "homeguy-wifi-generator", out, out, out], check=True,
                   env={"HOMEGUY_WIFI_CONFIG_DIR": str(config), "PATH": "/usr/bin:/bin"})
    wants = out / "multi-user.target.wants"
    assert [p.name for p in wants.iterdir()] == ["wpa_supplicant@wlan0.service"]
    assert (wants / "wpa_supplicant@wlan0.service").readlink() == Path(
        "/lib/systemd/system/wpa_supplicant@.service")
    subprocess.run([HERE / "bin" / "homeguy-wifi-generator", tmp_path / "none"], check=True,
                   env={"HOMEGUY_WIFI_CONFIG_DIR": str(tmp_path / "missing"), "PATH": "/bin"})
    assert not (tmp_path / "none").exists()
