"""Volume type extra specs: thin or thick (three Cinder spellings), and ZFS properties."""

from __future__ import annotations

import pytest

from shoal.drivers.base import InvalidRequest
from shoal.drivers.zfs import volume_specs as vs


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ({}, vs.THIN),
        ({"provisioning:type": "thick"}, vs.THICK),
        ({"provisioning:type": " Thin "}, vs.THIN),
        ({"thin_provisioning": "<is> False"}, vs.THICK),
        ({"thin_provisioning": "<is> True"}, vs.THIN),
        ({"capabilities:thick_provisioning_support": "<is> True"}, vs.THICK),
        ({"thick_provisioning": "False"}, vs.THIN),
        ({"provisioning:type": "thick", "thick_provisioning": "<is> True"}, vs.THICK),
    ],
)
def test_provisioning(specs, expected):
    assert vs.provisioning(specs) == expected


@pytest.mark.parametrize(
    "specs",
    [
        {"provisioning:type": "fat"},
        {"provisioning:type": "thick", "thin_provisioning": "<is> True"},
        {"thin_provisioning": "maybe"},
    ],
)
def test_bad_provisioning_is_refused(specs):
    with pytest.raises(InvalidRequest):
        vs.provisioning(specs)


def test_properties_for_files_and_zvols():
    configured = {"compression": "lz4", "recordsize": "16K"}
    assert vs.properties({}, configured, zvol=False) == {"compression": "lz4", "recordsize": "16K"}
    assert vs.properties({}, configured, zvol=True) == {"compression": "lz4"}
    assert vs.properties({"compression": "<is> False"}, configured, zvol=True) == {"compression": "off"}
    assert vs.properties({"zfsonlinux:compression": "gzip-9", "dedupe": "<is> True"}, {}, zvol=False) == {
        "compression": "gzip-9", "dedup": "on",
    }


def test_validate_ignores_keys_it_does_not_know():
    vs.validate({"volume_backend_name": "zfs", "multiattach": "<is> True"}, {})
    with pytest.raises(InvalidRequest):
        vs.validate({"zfsonlinux:compression": "bad value;"}, {})
