"""StaticKey (Homeguy extension): syntax, key lengths per algorithm, consistency with the
IPsecPolicy reqids of its set, and SPI uniqueness."""

import pytest
from mip6d.config import (
    ALGORITHMS,
    Algorithm,
    ConfigError,
    KeyedAlgorithm,
    Location,
    SaDirection,
    StaticKey,
    parse,
)
from mip6d.config.model import AlgorithmKind, algorithm

pytestmark = pytest.mark.unit

K16 = "0x" + "11" * 16
K20 = "0x" + "22" * 20
K32 = "0x" + "33" * 32


def key_set(*keys: str, policies: str = "IPsecPolicy Mh UseESP 11 12;",
            hoas: str = "HomeAddress 2001:db8:1::1234/64;", head: str = "") -> str:
    return (
        head + "IPsecPolicySet {\n"
        " HomeAgentAddress 2001:db8:1::1;\n"
        f" {hoas}\n"
        f" {policies}\n"
        + "".join(f" {k}\n" for k in keys)
        + "}\n"
    )


def key(direction: str, spi: str, reqid: int, body: str) -> str:
    return f"StaticKey {direction} {spi} {reqid} {{ {body} }}"


CBC = f"Encryption aes-cbc {K16}; Authentication hmac-sha256 {K32};"
GCM = f"Encryption aes-gcm {K20};"
BOTH = (key("MnToHa", "0x1001", 11, CBC), key("HaToMn", "0x1002", 12, GCM))


def error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse(text, "t.conf")
    return str(caught.value)


def test_static_keys_are_parsed() -> None:
    config = parse(key_set(*BOTH), "t.conf")
    (policy_set,) = config.ipsec_policy_sets
    assert policy_set.static_keys == (
        StaticKey(
            direction=SaDirection.MN_TO_HA, spi=0x1001, reqid=11,
            encryption=KeyedAlgorithm(name="aes-cbc", key=bytes([0x11] * 16)),
            authentication=KeyedAlgorithm(name="hmac-sha256", key=bytes([0x33] * 32)),
        ),
        StaticKey(
            direction=SaDirection.HA_TO_MN, spi=0x1002, reqid=12,
            encryption=KeyedAlgorithm(name="aes-gcm", key=bytes([0x22] * 20)),
        ),
    )
    first = policy_set.static_keys[0]
    assert first.location == Location("t.conf", 5, 2)
    assert first.encryption.algorithm.xfrm_name == "cbc(aes)"
    assert policy_set.policies[0].reqid(SaDirection.HA_TO_MN) == 12


def test_keys_stay_out_of_repr() -> None:
    config = parse(key_set(*BOTH))
    assert "11111111" not in repr(config)
    assert "33333333" not in repr(config)
    assert "KeyedAlgorithm(name='aes-cbc')" in repr(config)


def test_decimal_spi_and_null_encryption() -> None:
    config = parse(key_set(
        key("MnToHa", "4097", 11, f"Encryption null; Authentication hmac-sha1 0x{'ab' * 20};"),
        key("HaToMn", "4098", 12, f"Encryption null; Authentication aes-xcbc-mac {K16};"),
    ))
    keys = config.ipsec_policy_sets[0].static_keys
    assert [k.spi for k in keys] == [4097, 4098]
    assert keys[0].encryption == KeyedAlgorithm(name="null", key=b"")


@pytest.mark.parametrize("spec", ALGORITHMS, ids=lambda a: a.name)
def test_every_algorithm_accepts_each_of_its_key_lengths(spec: Algorithm) -> None:
    for bits in spec.key_bits:
        material = f" 0x{'5a' * (bits // 8)}" if bits else ""
        if spec.kind is AlgorithmKind.AUTHENTICATION:
            body = f"Encryption aes-cbc {K16}; Authentication {spec.name}{material};"
        elif spec.kind is AlgorithmKind.AEAD:
            body = f"Encryption {spec.name}{material};"
        else:
            body = f"Encryption {spec.name}{material}; Authentication hmac-sha1 0x{'01' * 20};"
        config = parse(key_set(key("MnToHa", "0x1001", 11, body),
                               key("HaToMn", "0x1002", 12, GCM)))
        (first, _) = config.ipsec_policy_sets[0].static_keys
        named = first.authentication if spec.kind is AlgorithmKind.AUTHENTICATION else (
            first.encryption
        )
        assert named is not None and named.name == spec.name
        assert len(named.key) * 8 == bits


def test_algorithm_table() -> None:
    assert algorithm("aes-gcm").icv_bits == 128
    assert {a.kind for a in ALGORITHMS} == set(AlgorithmKind)
    with pytest.raises(KeyError):
        algorithm("des-cbc")


def test_several_policies_share_a_reqid_and_its_keys() -> None:
    config = parse(key_set(
        *BOTH, policies="IPsecPolicy Mh UseESP 11 12; IPsecPolicy MobPfxDisc UseESP 11 12;"
    ))
    assert len(config.ipsec_policy_sets[0].static_keys) == 2


def test_blocking_policies_need_no_key() -> None:
    parse(key_set(*BOTH, policies="IPsecPolicy Mh UseESP 11 12; IPsecPolicy ICMP UseESP deny;"))


def test_key_with_ipsec_disabled_warns() -> None:
    config = parse(key_set(*BOTH, head="UseMnHaIPsec disabled;\n"), "t.conf")
    assert [str(w) for w in config.warnings] == [
        "t.conf:6:2: warning: StaticKey is not installed since UseMnHaIPsec is disabled",
    ]


STATIC_KEY_ERRORS = [
    # syntax
    (key_set("StaticKey ToHa 0x1001 11 { }"), "t.conf:5:12: expected MnToHa or HaToMn after "
     "StaticKey, found 'ToHa'; did you mean 'MnToHa'?"),
    (key_set("StaticKey MnToHa 255 11 { }"), "t.conf:5:19: expected an SPI from 256 to "
     "0xffffffff after StaticKey direction, found '255'"),
    (key_set("StaticKey MnToHa 0x100000000 11 { }"), "t.conf:5:19: expected an SPI from 256 to "
     "0xffffffff after StaticKey direction, found '0x100000000'"),
    (key_set("StaticKey MnToHa spi 11 { }"), "t.conf:5:19: expected an SPI from 256 to "
     "0xffffffff after StaticKey direction, found 'spi'"),
    (key_set("StaticKey MnToHa 0x1001 0 { }"), "t.conf:5:26: expected a reqid from 1 to "
     "4294967295 after StaticKey SPI, found '0'"),
    (key_set("StaticKey MnToHa 0x1001 11;"), "t.conf:5:28: expected '{' after StaticKey reqid, "
     "found ';'"),
    (key_set("StaticKey MnToHa 0x1001 11 { }"), "t.conf:5:31: expected an Encryption "
     "statement in StaticKey MnToHa 0x1001 11, found '}'"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption aes-256 {K32};")), "t.conf:5:42: "
     "expected aes-cbc, aes-ctr, 3des-cbc, null or aes-gcm after Encryption, found "
     "'aes-256'"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption hmac-sha1 {K20};")), "t.conf:5:42: "
     "expected aes-cbc, aes-ctr, 3des-cbc, null or aes-gcm after Encryption, found "
     "'hmac-sha1'"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption aes-cbc {K16}; Authentication aes-cbc "
                 f"{K16};")), "t.conf:5:101: expected hmac-sha1, hmac-sha256, hmac-sha384, "
     "hmac-sha512 or aes-xcbc-mac after Authentication, found 'aes-cbc'; did you mean "
     "'aes-xcbc-mac'?"),
    (key_set(key("MnToHa", "0x1001", 11, "Encryption aes-cbc 0x1234;")), "t.conf:5:50: "
     "expected an aes-cbc key of 128, 192 or 256 bits (32, 48 or 64 hexadecimal digits) after "
     "Encryption algorithm, found '0x1234', which has 16 bits"),
    (key_set(key("MnToHa", "0x1001", 11, "Encryption aes-cbc;")), "t.conf:5:49: expected an "
     "aes-cbc key of 128, 192 or 256 bits (32, 48 or 64 hexadecimal digits) after Encryption "
     "algorithm, found ';'"),
    (key_set(key("MnToHa", "0x1001", 11, f'Encryption aes-cbc "{K16[2:]}";')), "t.conf:5:50: "
     "expected an aes-cbc key of 128, 192 or 256 bits (32, 48 or 64 hexadecimal digits) after "
     "Encryption algorithm, found '\"11111111111111111111111111111111\"'"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption aes-gcm {K16};")), "t.conf:5:50: "
     "expected an aes-gcm key of 160, 224 or 288 bits (40, 56 or 72 hexadecimal digits) after "
     "Encryption algorithm, found '0x11111111111111111111111111111111', which has 128 bits"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption null {K16};")), "t.conf:5:47: expected "
     "';' (it takes no key) after Encryption algorithm, found "
     "'0x11111111111111111111111111111111'"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption aes-cbc {K16} {K16};")), "t.conf:5:85: "
     "expected ';' after Encryption key, found '0x11111111111111111111111111111111'"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption aes-cbc {K16}; Encryption aes-cbc "
                 f"{K16};")), "t.conf:5:86: Encryption given twice in StaticKey MnToHa 0x1001 "
     "11; expected it at most once (first at t.conf:5:31)"),
    # consistency with the set
    # with KeyMngMobCapability a set is keyed statically or by IKE, never half
    (key_set(BOTH[0], head="KeyMngMobCapability enabled;\n"), "t.conf:5:2: IPsecPolicy Mh "
     "uses reqid 12 for HaToMn but its set has no StaticKey HaToMn for it; expected "
     "'StaticKey HaToMn <spi> 12 { ... }'; or, for IKEv2 keying of this set "
     "(KeyMngMobCapability is enabled), remove every StaticKey of the set"),
    (key_set(*BOTH, policies="IPsecPolicy Mh UseESP 11 12; IPsecPolicy TunnelPayload UseESP "
             "13 14;", head="KeyMngMobCapability enabled;\n"), "t.conf:5:31: IPsecPolicy "
     "TunnelPayload uses reqid 13 for MnToHa but its set has no StaticKey MnToHa for it; "
     "expected 'StaticKey MnToHa <spi> 13 { ... }'; or, for IKEv2 keying of this set "
     "(KeyMngMobCapability is enabled), remove every StaticKey of the set"),
    (key_set(*BOTH, policies="IPsecPolicy Mh UseESP 11;", head="KeyMngMobCapability "
             "enabled;\n"), "t.conf:7:2: StaticKey HaToMn reqid 12 matches no IPsecPolicy of "
     "its set; expected one of the HaToMn reqids: 11"),
    (key_set(*BOTH, hoas="HomeAddress 2001:db8:1::1234/64; HomeAddress 2001:db8:1::1235/64;"),
     "t.conf:5:2: StaticKey needs exactly one HomeAddress in its IPsecPolicySet, found 2; "
     "expected one set per mobile node"),
    (key_set(*BOTH, policies="IPsecPolicy Mh UseESP;"), "t.conf:4:2: IPsecPolicy Mh has no "
     "reqid for MnToHa; expected reqids for both directions, since its IPsecPolicySet has "
     "StaticKey"),
    (key_set(*BOTH, policies="IPsecPolicy Mh UseESP 11 12; IPsecPolicy TunnelMh UseESP 11 12;"),
     "t.conf:4:31: IPsecPolicy TunnelMh (tunnel mode) uses reqid 11 like IPsecPolicy Mh "
     "(transport mode) at t.conf:4:2; expected one mode per statically keyed reqid"),
    (key_set(*BOTH, key("MnToHa", "0x1003", 13, GCM)), "t.conf:7:2: StaticKey MnToHa reqid "
     "13 matches no IPsecPolicy of its set; expected one of the MnToHa reqids: 11"),
    (key_set(key("HaToMn", "0x1001", 11, GCM)), "t.conf:5:2: StaticKey HaToMn reqid 11 "
     "matches no IPsecPolicy of its set; expected one of the HaToMn reqids: 12"),
    (key_set(*BOTH, key("MnToHa", "0x1003", 11, GCM)), "t.conf:7:2: StaticKey MnToHa reqid "
     "11 is already given at t.conf:5:2; expected one key per direction and reqid"),
    (key_set(BOTH[0]), "t.conf:4:2: IPsecPolicy Mh uses reqid 12 for HaToMn but its set has no "
     "StaticKey HaToMn for it; expected 'StaticKey HaToMn <spi> 12 { ... }'"),
    (key_set(key("MnToHa", "0x1001", 11, f"Encryption aes-cbc {K16};"), BOTH[1]),
     "t.conf:5:31: aes-cbc needs an Authentication statement (RFC 3776 asks for integrity "
     "protection); expected one in this StaticKey"),
    (key_set(BOTH[0], key("HaToMn", "0x1002", 12, f"{GCM} Authentication hmac-sha1 "
                          f"0x{'01' * 20};")),
     "t.conf:6:94: aes-gcm protects integrity itself; expected no Authentication with it"),
    # SPIs are unique per destination, across sets and files
    (key_set(key("MnToHa", "0x1001", 11, CBC), key("HaToMn", "0x1001", 12, GCM))
     + key_set(key("MnToHa", "0x1001", 11, CBC), key("HaToMn", "0x1002", 12, GCM),
               hoas="HomeAddress 2001:db8:1::99/64;"),
     "t.conf:12:2: SPI 0x1001 towards 2001:db8:1::1 is already used at t.conf:5:2; expected a "
     "unique SPI per destination"),
]


@pytest.mark.parametrize(("text", "message"), STATIC_KEY_ERRORS)
def test_static_key_errors(text: str, message: str) -> None:
    assert error(text) == message


def test_same_spi_towards_different_destinations_is_fine() -> None:
    # MnToHa goes to the home agent, HaToMn to the home address: no clash.
    parse(key_set(key("MnToHa", "0x1001", 11, CBC), key("HaToMn", "0x1001", 12, GCM)))
