"""The export a ZFS volume gets and the connection info os-brick receives
(Cinder's iSCSI and NFS shapes), as pure data."""

from __future__ import annotations

import pytest

from shoal.drivers.zfs.config import ZfsBackendConfig
from shoal.drivers.base import InvalidRequest
from shoal.drivers.volume import Connector, ExportSpec
from shoal.drivers.zfs import volume_export as ve
from shoal.exports.iscsi.base import Portal

CONFIG = ZfsBackendConfig(volume_prefix="vol-", export_address="192.0.2.1")
SPEC = ExportSpec(
    "CHAP user secret",
    (
        Connector(initiator="iqn.1994-05.com.redhat:a", ip="10.0.0.1"),
        Connector(initiator="iqn.1994-05.com.redhat:a", ip="10.0.0.1"),  # two attachments, one host
        Connector(initiator="iqn.1994-05.com.redhat:b", ip="10.0.0.2"),
    ),
)


def test_iscsi_target_from_ids_and_connectors():
    target = ve.iscsi_target(CONFIG, "abc", "/dev/zvol/tank/vol-abc", SPEC)
    assert target.key == "abc" and target.iqn == "iqn.2026-11.org.shoal:vol-abc"
    assert target.initiators == ("iqn.1994-05.com.redhat:a", "iqn.1994-05.com.redhat:b")
    assert (target.chap.user, target.chap.secret, target.lun) == ("user", "secret", 1)


def test_iscsi_connection_info_shape():
    target = ve.iscsi_target(CONFIG, "abc", "/x", SPEC)
    info = ve.iscsi_info(target, [Portal("192.0.2.1"), Portal("192.0.2.2", 3261)]).connection()
    assert info.driver_volume_type == "iscsi"
    assert info.data == {
        "target_discovered": False,
        "target_iqn": "iqn.2026-11.org.shoal:vol-abc",
        "target_portal": "192.0.2.1:3260",
        "target_lun": 1,
        "target_portals": ["192.0.2.1:3260", "192.0.2.2:3261"],
        "target_iqns": ["iqn.2026-11.org.shoal:vol-abc"] * 2,
        "target_luns": [1, 1],
        "volume_id": "abc",
        "auth_method": "CHAP",
        "auth_username": "user",
        "auth_password": "secret",
        "discard": True,
    }


def test_nfs_export_and_connection():
    export = ve.nfs_export("abc", "/tank/vol-abc", "tank/vol-abc", SPEC)
    assert [(r.rule_id, r.address, r.access_level) for r in export.rules] == [("10.0.0.1", "10.0.0.1", "rw"), ("10.0.0.2", "10.0.0.2", "rw")]
    info = ve.nfs_info(CONFIG, "/tank/vol-abc").connection()
    assert info.data == {"export": "192.0.2.1:/tank/vol-abc", "name": "volume.raw", "format": "raw", "options": None}


@pytest.mark.parametrize(
    ("protocol", "connector"),
    [
        ("iscsi", Connector(ip="10.0.0.1")),
        ("iscsi", Connector(initiator="iqn.bad name")),
        ("nfs", Connector(initiator="iqn.1994-05.com.redhat:a")),
        ("nfs", Connector(ip="10.0.0.0/24")),
        ("nfs", Connector(ip="fd00::zz")),  # not an address (IPv6 ones are fine)
    ],
)
def test_bad_connectors_are_refused(protocol, connector):
    with pytest.raises(InvalidRequest):
        ve.check_connector(protocol, connector)


def test_good_connectors_pass():
    ve.check_connector("iscsi", Connector(initiator="eui.0123456789ABCDEF"))
    ve.check_connector("nfs", Connector(ip="10.0.0.1"))


def test_a_missing_or_malformed_auth_gives_an_empty_chap_account():
    for auth in (None, "", "CHAP", "CHAP user", "PSK user secret"):
        target = ve.iscsi_target(CONFIG, "abc", "/x", ExportSpec(auth))
        assert (target.chap.user, target.chap.secret) == ("-", "-")
