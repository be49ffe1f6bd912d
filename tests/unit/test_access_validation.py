"""Validation of access rules: the service's check_rule (API input) and the NFS
helpers' check_rule/normalize_address (what an export can express)."""

from __future__ import annotations

import ipaddress

import pytest

from shoal.exports.nfs.base import InvalidNfsRule, NfsClientRule, check_rule as nfs_check_rule, normalize_address
from shoal.services.common.errors import Invalid
from shoal.services.share.access import check_rule

BAD_ADDRESSES = [
    "10.0.0.1/24",  # host bits set
    "10.0.0.1/33",
    "999.1.1.1",
    "1.1.1.1;rm -rf /",
    "1.1.1.1 2.2.2.2",
    "$(reboot)",
    "10.0.0.0/24,rw",
    "host.example.com",
    "010.0.0.1",
    "",
]

# ---- services: check_rule ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access_to", "normalized"),
    [
        ("10.0.0.1", "10.0.0.1"),
        (" 10.0.0.1 ", "10.0.0.1"),
        ("10.0.0.1/32", "10.0.0.1"),
        ("10.0.0.0/24", "10.0.0.0/24"),
        ("10.0.0.0/255.255.255.0", "10.0.0.0/24"),
        ("0.0.0.0/0", "0.0.0.0/0"),
    ],
)
def test_ip_rule_normalized(access_to, normalized):
    assert check_rule("ip", access_to, "ro") == ("ip", normalized, "ro")


def test_default_access_level_is_rw():
    assert check_rule("ip", "10.0.0.1", None) == ("ip", "10.0.0.1", "rw")


@pytest.mark.parametrize("access_to", BAD_ADDRESSES)
def test_bad_ip_refused(access_to):
    with pytest.raises(Invalid):
        check_rule("ip", access_to, "rw")


def test_host_bits_set_message_says_why():
    with pytest.raises(Invalid, match="host bits"):
        check_rule("ip", "10.0.0.1/24", "rw")


@pytest.mark.parametrize("access_to", [None, 167772161, ["10.0.0.1"], {"ip": "10.0.0.1"}, b"10.0.0.1", "   "])
def test_non_string_or_blank_access_to_refused(access_to):
    with pytest.raises(Invalid, match="access_to"):
        check_rule("ip", access_to, "rw")


def test_overlong_access_to_refused():
    with pytest.raises(Invalid):
        check_rule("user", "u" * 256, "rw")
    assert check_rule("user", "u" * 255, "rw")[1] == "u" * 255


@pytest.mark.parametrize("level", ["RW", "rx", "read", "", "admin", 1, ["rw"]])
def test_other_access_levels_refused(level):
    with pytest.raises(Invalid, match="access_level"):
        check_rule("ip", "10.0.0.1", level)


@pytest.mark.parametrize("access_type", ["IP", "ipv4", "", None, 4])
def test_unknown_access_type_refused(access_type):
    with pytest.raises(Invalid, match="access_type"):
        check_rule(access_type, "10.0.0.1", "rw")


def test_non_ip_rules_keep_their_target():
    assert check_rule("user", " alice ", "ro") == ("user", "alice", "ro")


# ---- exports/nfs: normalize_address and check_rule -----------------------------------------


def test_normalize_address_single_host():
    assert normalize_address("10.0.0.1") == ipaddress.IPv4Network("10.0.0.1/32")


def test_normalize_address_cidr():
    net = normalize_address(" 10.0.0.0/24 ")
    assert net == ipaddress.IPv4Network("10.0.0.0/24")
    assert str(net) == "10.0.0.0/24"


@pytest.mark.parametrize("text", BAD_ADDRESSES)
def test_normalize_address_refuses(text):
    with pytest.raises(InvalidNfsRule):
        normalize_address(text)


def test_normalize_address_takes_ipv6():
    assert normalize_address("2001:db8::/64") == ipaddress.IPv6Network("2001:db8::/64")
    assert normalize_address("FD8C:B029::1") == ipaddress.IPv6Network("fd8c:b029::1/128")
    with pytest.raises(InvalidNfsRule):
        normalize_address("2001:db8::1/64")  # host bits set


@pytest.mark.parametrize("value", [None, 167772161])
def test_normalize_address_refuses_non_string(value):
    with pytest.raises(InvalidNfsRule):
        normalize_address(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", ["rw", "ro"])
def test_nfs_check_rule_accepts(level):
    assert nfs_check_rule(NfsClientRule("r1", "192.168.1.0/24", level)) == ipaddress.ip_network("192.168.1.0/24")


@pytest.mark.parametrize("level", ["RW", "rx", "", "no_root_squash"])
def test_nfs_check_rule_refuses_access_level(level):
    with pytest.raises(InvalidNfsRule, match="access level"):
        nfs_check_rule(NfsClientRule("r1", "10.0.0.1", level))


@pytest.mark.parametrize("address", ["10.0.0.1/24", "1.1.1.1;rm -rf /", "", "*"])
def test_nfs_check_rule_refuses_address(address):
    with pytest.raises(InvalidNfsRule):
        nfs_check_rule(NfsClientRule("r1", address, "rw"))


def test_invalid_nfs_rule_is_a_value_error():
    # callers that only know ValueError still catch it
    assert issubclass(InvalidNfsRule, ValueError)


def test_an_address_is_parsed_once_however_many_passes_read_it():
    """Every change to an export reads all of its rules again: the same text gives the
    same network object, not a new parse; a bad address is refused every time."""
    first = normalize_address("10.77.0.0/16")
    assert normalize_address("10.77.0.0/16") is first
    assert nfs_check_rule(NfsClientRule("r2", "10.77.0.0/16", "ro")) is first
    for _ in range(2):
        with pytest.raises(InvalidNfsRule):
            normalize_address("10.77.0.1/16")
