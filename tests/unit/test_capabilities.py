"""The capabilities filter: which extra specs name capabilities, and Cinder's spec operators."""

from __future__ import annotations

import pytest

from shoal.services.common.capabilities import capability_key, matches, unmet


@pytest.mark.parametrize(("key", "name"), [
    ("multiattach", "multiattach"),
    ("capabilities:thin_provisioning_support", "thin_provisioning_support"),
    ("provisioning:type", None),
    ("zfs:compression", None),
    ("RESKEY:availability_zones", None),
    ("capabilities:a:b", None),
])
def test_which_keys_are_capabilities(key, name):
    assert capability_key(key) == name


@pytest.mark.parametrize(("value", "requirement", "expected"), [
    (True, "<is> True", True), (True, "<is> true", True), (False, "<is> True", False), ("True", "<is> True", True),
    (True, "<is> nonsense", False),
    ("OpenZFS on Linux", "<in> ZFS", True), ("NFS", "<in> iSCSI", False),
    ("a b c", "<all-in> a c", True), ("a b", "<all-in> a z", False),
    ("lz4", "<or> gzip <or> lz4", True), ("zstd", "<or> gzip <or> lz4", False),
    (20, ">= 10", True), ("5", ">= 10", False), (10, "== 10", True), ("x", "== 10", False), (3, "!= 4", True),
    (3, "< 4", True), (3, "> 4", False), (3, "<= 3", True),
    ("abc", "s== abc", True), ("abc", "s< abd", True), ("abc", "s>= abd", False), ("a", "s!= b", True),
    ("iSCSI", "iSCSI", True), ("NFS", "iSCSI", False), (True, "True", True), (True, "false", False),
    ([True, False], "<is> False", True), ([True], "<is> False", False),
])
def test_operators(value, requirement, expected):
    assert matches(value, requirement) is expected


def test_unmet_names_the_first_failing_spec_and_ignores_other_scopes():
    caps = {"multiattach": True, "storage_protocol": "NFS", "thin_provisioning_support": True}
    assert unmet({"multiattach": "<is> True", "provisioning:type": "thick", "zfs:x": "y"}, caps) is None
    assert "does not report 'vendor_name'" in unmet({"vendor_name": "Oracle"}, caps)
    assert "storage_protocol='NFS'" in unmet({"capabilities:storage_protocol": "iSCSI"}, caps)
    assert unmet({"volume_backend_name": "x"}, caps, skip=frozenset({"volume_backend_name"})) is None
