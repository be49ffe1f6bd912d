"""IPv6 clients in each NFS helper's own syntax (the API takes IPv6 `ip` rules from
Manila 2.38): ganesha's CLIENT lists (within what ganesha 4.3's lexer reads),
exportfs's `[addr]:/path` argv and exports(5) lines, and OpenZFS's bracketed
`sharenfs` host lists. The real ganesha is checked from an IPv6 client in
tests/integration/test_ganesha_ipv6.py."""

from __future__ import annotations

import ipaddress
import re

import pytest

from shoal.exports.nfs import NfsClientRule, NfsExport
from shoal.exports.nfs.base import InvalidNfsRule
from shoal.exports.nfs.exportfs import (
    ExportfsHelper,
    argv_client,
    client_spec,
    parse_exportfs,
)
from shoal.exports.nfs.ganesha import clients_spec, render_export
from shoal.exports.nfs.sharenfs import SharenfsHelper, host_spec, parse_sharenfs

from .test_nfs_exportfs import OPTS
from .test_nfs_exportfs import RecordingHost as ExportfsHost
from .test_nfs_ganesha_config import (  # noqa: F401 - fixture
    FakeGaneshaHost,
    export_file,
    fresh_known_cache,
    helper,
)
from .test_nfs_sharenfs import RecordingHost as SharenfsHost

PATH = "/tank/share-6"


def net(text: str):
    return ipaddress.ip_network(text)


# ---- ganesha ---------------------------------------------------------------------


@pytest.mark.parametrize("given, written", [
    ("fd00::1/128", "fd00::1"),
    ("fd00::/64", "fd00::/64"),
    ("2001:db8::/99", "2001:db8::/99"),
    ("::/0", "::/1, 8000::/1"),  # /0 does not parse: the two halves
    ("fd00::/126", "fd00::, fd00::1, fd00::2, fd00::3"),  # three digits do not parse: the addresses
    ("10.0.0.0/8", "10.0.0.0/8"),
    ("0.0.0.0/0", "0.0.0.0/0"),
])
def test_ganesha_clients(given, written):
    assert clients_spec(net(given)) == written


def test_ganesha_refuses_a_long_prefix_with_too_many_addresses():
    assert len(clients_spec(net("fd00::/120")).split(", ")) == 256
    with pytest.raises(InvalidNfsRule, match="two digits"):
        clients_spec(net("fd00::/119"))


def test_ganesha_export_orders_ipv6_and_ipv4_rules_most_specific_first():
    rules = [(NfsClientRule(r, a, lvl), net(a)) for r, a, lvl in (
        ("all6", "::/0", "ro"), ("v6net", "fd00::/64", "rw"), ("v6host", "fd00::5", "ro"), ("v4", "10.0.0.0/8", "rw"))]
    text = render_export("s", 3, PATH, rules)
    assert re.findall(r"CLIENT \{ Clients = ([^;]+); Access_Type = (RW|RO); \}", text) == [
        ("fd00::5", "RO"), ("fd00::/64", "RW"), ("10.0.0.0/8", "RW"), ("::/1, 8000::/1", "RO")]


def test_ganesha_apply_reports_an_inexpressible_rule_and_exports_the_others():
    host = FakeGaneshaHost()
    errors = helper(host).apply(NfsExport("s6", PATH, "tank/s6", (
        NfsClientRule("ok", "fd00::1", "rw"), NfsClientRule("long", "fd00::/110", "rw"))))
    assert list(errors) == ["long"]
    text = host.files[export_file("s6")]
    assert text.count("CLIENT") == 1 and "Clients = fd00::1; Access_Type = RW;" in text


# ---- exportfs --------------------------------------------------------------------------


def test_exportfs_names_ipv6_clients_in_brackets_on_the_command_line_only():
    assert client_spec(net("fd00::1/128")) == "fd00::1" and argv_client("fd00::1") == "[fd00::1]"
    assert client_spec(net("fd00::/64")) == "fd00::/64" and argv_client("fd00::/64") == "[fd00::]/64"
    assert argv_client("10.0.0.0/24") == "10.0.0.0/24"


def test_exportfs_apply_exports_and_unexports_ipv6_clients():
    # as `exportfs -v` prints IPv6 clients (unbracketed)
    current = (f"{PATH}\n\t\tfd00::9(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash)\n"
               f"{PATH}\n\t\tfd00::/64(sync,wdelay,hide,no_subtree_check,sec=sys,rw,secure,no_root_squash)\n")
    assert set(parse_exportfs(current)[PATH]) == {"fd00::9", "fd00::/64"}
    host = ExportfsHost(current)
    errors = ExportfsHelper(host).apply(NfsExport("share-1", PATH, "tank/share-1", (
        NfsClientRule("same", "fd00::/64", "rw"), NfsClientRule("new", "2001:db8::1", "ro"))))
    assert errors == {}
    assert host.changes() == [
        ["write", "/etc/exports.d/shoal-share-1.exports",
         f"{PATH} fd00::/64(rw,{OPTS}) 2001:db8::1(ro,{OPTS})\n"],
        ["exportfs", "-o", f"ro,{OPTS}", f"[2001:db8::1]:{PATH}"],
        ["exportfs", "-u", f"[fd00::9]:{PATH}"],
    ]


# ---- sharenfs --------------------------------------------------------------------------


def test_sharenfs_brackets_ipv6_hosts_and_networks():
    assert host_spec(net("fd00::1/128")) == "[fd00::1]"
    assert host_spec(net("fd00::/64")) == "[fd00::]/64"
    value = "rw=10.0.0.1:[fd00::1]:[fd00::]/64,no_root_squash,ro=[::1],no_root_squash"
    assert parse_sharenfs(value) == {"10.0.0.1", "[fd00::1]", "[fd00::]/64", "[::1]"}


def test_sharenfs_apply_sets_ipv6_hosts_and_unexports_a_removed_one():
    host = SharenfsHost("rw=[fd00::7]:10.0.0.1,no_root_squash")
    SharenfsHelper(host).apply(NfsExport("share-1", PATH, "tank/share-1", (
        NfsClientRule("a", "10.0.0.1", "rw"), NfsClientRule("b", "fd00::/64", "rw"), NfsClientRule("c", "::1", "ro"))))
    assert host.changes() == [
        ["zfs", "set", "sharenfs=rw=10.0.0.1:[fd00::]/64,no_root_squash,ro=[::1],no_root_squash", "tank/share-1"],
        ["exportfs", "-u", f"[fd00::7]:{PATH}"],
    ]
