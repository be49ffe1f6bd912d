"""Attaching a volume with the attachments API (3.27+, os-complete at 3.44+),
checked from outside as the compute hosts would see it over iSCSI.

The story: host1 attaches a volume and gets iSCSI connection info with CHAP;
it reads the capacity and writes and reads back a 1 MiB pattern through
qemu; a wrong CHAP secret and a host that never attached are refused. A
second attachment is refused unless the volume's type allows multiattach, in
which case both hosts reach it. After the attachments are deleted, nobody
reaches the volume and it is available again.
"""

from __future__ import annotations

import os
import uuid

import pytest

from .volume_helpers import (
    GiB,
    HOST1,
    HOST2,
    MiB,
    STRANGER,
    Lun,
    assert_refused,
    backing_file,
    connector,
    fault,
    output,
    pattern,
    sha256,
    tgt_target,
    volume_api,  # noqa: F401 - fixture
    volume_iqn,
    wait_gone,
)

pytestmark = pytest.mark.integration


def test_attach_use_and_detach_one_host(volume_api):
    client = volume_api.client
    volume = volume_api.create_volume(1, name="attach-me")

    # Create the attachment with host1's connector: connection info is iSCSI with CHAP.
    resp = client.post("/attachments", json={"attachment": {
        "volume_uuid": volume["id"], "instance_uuid": str(uuid.uuid4()), "connector": connector(HOST1, "h1")}})
    assert resp.status_code == 200, resp.text
    attachment = resp.json()["attachment"]
    assert attachment["volume_id"] == volume["id"] and attachment["status"] == "attaching"
    info = attachment["connection_info"]
    assert info["driver_volume_type"] == "iscsi"
    data = info["data"]
    assert data["target_iqn"] == volume_iqn(volume["id"]) and data["target_lun"] == 1
    assert data["target_portal"] == f"127.0.0.1:{volume_api.server.iscsi_port}"
    assert data["auth_method"] == "CHAP" and data["auth_username"] and len(data["auth_password"]) >= 12
    assert volume_api.volume(volume["id"])["status"] == "attaching"

    # os-complete: the volume is in-use and lists the attachment.
    done = client.post(f"/attachments/{attachment['id']}/action", json={"os-complete": None})
    assert done.status_code == 204, done.text
    shown = volume_api.volume(volume["id"])
    assert shown["status"] == "in-use"
    assert [a["attachment_id"] for a in shown["attachments"]] == [attachment["id"]]
    assert shown["attachments"][0]["host_name"] == "h1"
    listed = client.get("/attachments", params={"volume_id": volume["id"]}).json()["attachments"]
    assert [(a["id"], a["status"]) for a in listed] == [(attachment["id"], "attached")]

    # From outside: host1 with the right CHAP secret sees a 1 GiB disk.
    lun = Lun.of(info)
    assert lun.capacity(HOST1) == GiB
    inq = lun.inq(HOST1)
    assert inq.returncode == 0 and "DIRECT_ACCESS" in inq.stdout, output(inq)
    assert lun.listed_for(HOST1)
    # ... tgtd holds exactly host1 in the ACL, and one CHAP account.
    target = tgt_target(volume_api.server, lun.iqn)
    assert target.initiator_acl == [HOST1] and target.accounts == [lun.user] and not target.address_acl

    # A wrong CHAP secret is refused; so is a host that never attached.
    wrong = assert_refused(lun, HOST1, secret="not-the-secret-1234")
    assert "Authentication failure" in wrong, wrong
    assert_refused(lun, STRANGER)
    assert not lun.listed_for(STRANGER)

    # Data written through the LUN is read back intact, and lands in the volume's file.
    data_in = pattern(f"attach-{volume['id']}")
    lun.write(HOST1, data_in)
    assert sha256(lun.read(HOST1, MiB)) == sha256(data_in)
    with open(backing_file(volume_api.dataset(volume["id"])), "rb") as fh:
        assert sha256(fh.read(MiB)) == sha256(data_in)

    # A second attachment of a volume that is not multiattach: refused, nothing changed.
    second = client.post("/attachments", json={"attachment": {
        "volume_uuid": volume["id"], "connector": connector(HOST2, "h2")}})
    assert "multiattach" in fault(second, 400)
    assert len(client.get("/attachments", params={"volume_id": volume["id"]}).json()["attachments"]) == 1
    assert_refused(lun, HOST2)
    assert tgt_target(volume_api.server, lun.iqn).initiator_acl == [HOST1]

    # A volume in use cannot be deleted.
    fault(client.delete(f"/volumes/{volume['id']}"), 400)

    # Detach: host1 is refused afterwards, the target is gone, the volume is available.
    resp = client.delete(f"/attachments/{attachment['id']}")
    assert resp.status_code == 200, resp.text
    wait_gone(client, f"/attachments/{attachment['id']}")
    assert_refused(lun, HOST1)
    assert tgt_target(volume_api.server, lun.iqn) is None
    shown = volume_api.volume(volume["id"])
    assert shown["status"] == "available" and shown["attachments"] == []
    volume_api.delete_volume(volume["id"])


def test_multiattach_type_lets_two_hosts_in(volume_api):
    vtype = volume_api.create_type(f"multi-{uuid.uuid4().hex[:6]}", {"multiattach": "<is> True"})
    volume = volume_api.create_volume(1, volume_type=vtype["name"])
    assert volume["multiattach"] is True and volume["volume_type"] == vtype["name"]

    first = volume_api.attach(volume["id"], HOST1, "h1")
    second = volume_api.attach(volume["id"], HOST2, "h2")
    shown = volume_api.volume(volume["id"])
    assert shown["status"] == "in-use" and len(shown["attachments"]) == 2

    lun1, lun2 = Lun.of(first["connection_info"]), Lun.of(second["connection_info"])
    assert (lun1.iqn, lun1.user, lun1.password) == (lun2.iqn, lun2.user, lun2.password)
    assert sorted(tgt_target(volume_api.server, lun1.iqn).initiator_acl) == sorted([HOST1, HOST2])
    # host2 writes, host1 reads the same bytes.
    data_in = pattern(f"multi-{volume['id']}")
    lun2.write(HOST2, data_in)
    assert sha256(lun1.read(HOST1, MiB)) == sha256(data_in)
    assert lun1.capacity(HOST1) == lun2.capacity(HOST2) == GiB
    assert_refused(lun1, STRANGER)

    # Detaching host1 keeps host2 in; detaching host2 closes the volume.
    volume_api.detach(first["id"])
    assert_refused(lun1, HOST1)
    assert lun2.reachable(HOST2)
    assert volume_api.volume(volume["id"])["status"] == "in-use"
    volume_api.detach(second["id"])
    assert_refused(lun2, HOST2)
    assert volume_api.volume(volume["id"])["status"] == "available"

    volume_api.delete_volume(volume["id"])
    resp = volume_api.client.delete(f"/types/{vtype['id']}")
    assert resp.status_code == 202, resp.text


def test_attachment_without_connector_reserves_then_update_connects(volume_api):
    """Nova's flow: reserve with no connector, then update with it, then complete."""
    client = volume_api.client
    volume = volume_api.create_volume(1)
    resp = client.post("/attachments", json={"attachment": {"volume_uuid": volume["id"]}})
    assert resp.status_code == 200, resp.text
    attachment = resp.json()["attachment"]
    assert attachment["connection_info"] is None and attachment["status"] == "reserved"
    assert volume_api.volume(volume["id"])["status"] == "reserved"
    assert tgt_target(volume_api.server, volume_iqn(volume["id"])) is None
    fault(client.post(f"/attachments/{attachment['id']}/action", json={"os-complete": None}), 400)

    resp = client.put(f"/attachments/{attachment['id']}", json={"attachment": {"connector": connector(HOST1)}})
    assert resp.status_code == 200, resp.text
    lun = Lun.of(resp.json()["attachment"]["connection_info"])
    assert lun.reachable(HOST1)
    done = client.post(f"/attachments/{attachment['id']}/action", json={"os-complete": None})
    assert done.status_code == 204, done.text
    assert volume_api.volume(volume["id"])["status"] == "in-use"
    # Before 3.27 there is no attachments API.
    old = client.get("/attachments", headers={"OpenStack-API-Version": "volume 3.26"})
    fault(old, 404)

    volume_api.detach(attachment["id"])
    assert_refused(lun, HOST1)
    assert volume_api.volume(volume["id"])["status"] == "available"
    volume_api.delete_volume(volume["id"])


def test_a_failed_export_changes_nothing_and_a_retry_connects(volume_api):
    """tgtd cannot open the volume's file (moved away here): the attach is a 400,
    nothing is exported, the attachment stays reserved without a connector, and
    once the file is back the same attachment connects."""
    client = volume_api.client
    volume = volume_api.create_volume(1)
    backing = backing_file(volume_api.dataset(volume["id"]))
    os.rename(backing, backing + ".away")
    try:
        resp = client.post("/attachments", json={"attachment": {"volume_uuid": volume["id"],
                                                                "connector": connector(HOST1)}})
        assert "export failed" in fault(resp, 400)
    finally:
        os.rename(backing + ".away", backing)
    [attachment] = client.get("/attachments", params={"volume_id": volume["id"]}).json()["attachments"]
    assert attachment["status"] == "reserved"
    assert volume_api.volume(volume["id"])["status"] == "reserved"
    assert tgt_target(volume_api.server, volume_iqn(volume["id"])) is None

    resp = client.put(f"/attachments/{attachment['id']}", json={"attachment": {"connector": connector(HOST1)}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["attachment"]["status"] == "attaching"
    lun = Lun.of(resp.json()["attachment"]["connection_info"])
    assert lun.capacity(HOST1) == GiB
    volume_api.detach(attachment["id"])
    assert_refused(lun, HOST1)
    assert volume_api.volume(volume["id"])["status"] == "available"
    volume_api.delete_volume(volume["id"])
