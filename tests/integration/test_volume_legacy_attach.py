"""The legacy attach actions (what Nova did before the attachments API), checked
from outside over iSCSI.

The story: host1 reserves a volume, initializes a connection with its
connector (and so can reach the LUN), attaches; it begins detaching, thinks
better of it (roll back), begins again, terminates the connection (host1 is
refused from then on) and detaches: the volume is available. A reservation
can be undone (os-unreserve), and an admin can force a detach. Connectors
without an initiator, or with one that is not an iSCSI name, are refused and
change nothing: the volume stays available and tgtd has no target for it.
"""

from __future__ import annotations

import uuid

import pytest

from .volume_helpers import (
    GiB,
    HOST1,
    HOST2,
    Lun,
    assert_refused,
    connector,
    fault,
    tgt_target,
    tgt_targets,
    volume_api,  # noqa: F401 - fixture
    volume_iqn,
)

pytestmark = pytest.mark.integration


def ok(resp, code: int = 202) -> dict | None:
    assert resp.status_code == code, f"{resp.request.method} {resp.request.url}: {resp.status_code} {resp.text}"
    return resp.json() if resp.content else None


def status(volume_api, volume_id: str) -> tuple[str, int]:
    shown = volume_api.volume(volume_id)
    return shown["status"], len(shown["attachments"])


def test_reserve_connect_attach_detach(volume_api):
    volume = volume_api.create_volume(1)
    vid, act = volume["id"], volume_api.action

    ok(act(vid, "os-reserve"))
    assert status(volume_api, vid) == ("attaching", 0)

    body = ok(act(vid, "os-initialize_connection", {"connector": connector(HOST1, "h1")}), 200)
    info = body["connection_info"]
    assert info["driver_volume_type"] == "iscsi" and info["data"]["target_iqn"] == volume_iqn(vid)
    lun = Lun.of(info)
    assert lun.capacity(HOST1) == GiB
    assert_refused(lun, HOST2)

    instance = str(uuid.uuid4())
    ok(act(vid, "os-attach", {"instance_uuid": instance, "mountpoint": "/dev/vdb", "host_name": "h1"}))
    shown = volume_api.volume(vid)
    assert shown["status"] == "in-use"
    (attached,) = shown["attachments"]
    assert (attached["server_id"], attached["device"], attached["host_name"]) == (instance, "/dev/vdb", "h1")
    # Attached volumes cannot be reserved again (not multiattach), nor deleted.
    fault(act(vid, "os-reserve"), 400)
    fault(volume_api.client.delete(f"/volumes/{vid}"), 400)

    ok(act(vid, "os-begin_detaching"))
    assert status(volume_api, vid) == ("detaching", 1)
    ok(act(vid, "os-roll_detaching"))
    assert status(volume_api, vid) == ("in-use", 1)
    assert lun.reachable(HOST1)
    ok(act(vid, "os-begin_detaching"))
    assert status(volume_api, vid) == ("detaching", 1)
    fault(act(vid, "os-begin_detaching"), 400)  # not in-use any more

    ok(act(vid, "os-terminate_connection", {"connector": connector(HOST1, "h1")}))
    assert_refused(lun, HOST1)
    assert tgt_target(volume_api.server, lun.iqn) is None

    ok(act(vid, "os-detach", {"attachment_id": attached["attachment_id"]}))
    assert status(volume_api, vid) == ("available", 0)
    volume_api.delete_volume(vid)


def test_unreserve_gives_the_volume_back(volume_api):
    volume = volume_api.create_volume(1)
    vid = volume["id"]
    ok(volume_api.action(vid, "os-reserve"))
    assert status(volume_api, vid) == ("attaching", 0)
    ok(volume_api.action(vid, "os-unreserve"))
    assert status(volume_api, vid) == ("available", 0)
    assert volume_api.client.get("/attachments", params={"volume_id": vid}).json()["attachments"] == []
    volume_api.delete_volume(vid)


def test_a_connection_let_go_and_unreserved_gives_the_volume_back(volume_api):
    """Nova's roll-back of an attach that failed after the connection was made:
    os-terminate_connection, then os-unreserve. Nothing stays `attaching`."""
    volume = volume_api.create_volume(1)
    vid, act = volume["id"], volume_api.action
    ok(act(vid, "os-reserve"))
    lun = Lun.of(ok(act(vid, "os-initialize_connection", {"connector": connector(HOST1, "h1")}), 200)["connection_info"])
    assert lun.reachable(HOST1)
    ok(act(vid, "os-terminate_connection", {"connector": connector(HOST1, "h1")}))
    ok(act(vid, "os-unreserve"))
    assert status(volume_api, vid) == ("available", 0)
    assert_refused(lun, HOST1)
    volume_api.delete_volume(vid)


def test_admin_force_detach(volume_api):
    volume = volume_api.create_volume(1)
    vid, act = volume["id"], volume_api.action
    ok(act(vid, "os-reserve"))
    lun = Lun.of(ok(act(vid, "os-initialize_connection", {"connector": connector(HOST1)}), 200)["connection_info"])
    ok(act(vid, "os-attach", {"instance_uuid": str(uuid.uuid4()), "mountpoint": "/dev/vdc"}))
    (attached,) = volume_api.volume(vid)["attachments"]
    assert lun.reachable(HOST1)

    ok(act(vid, "os-force_detach", {"attachment_id": attached["attachment_id"], "connector": connector(HOST1)}))
    assert status(volume_api, vid) == ("available", 0)
    assert_refused(lun, HOST1)
    assert tgt_target(volume_api.server, lun.iqn) is None
    volume_api.delete_volume(vid)


BAD_CONNECTORS = [
    pytest.param({"ip": "127.0.0.1", "host": "h1"}, id="no-initiator"),
    pytest.param({"initiator": "not-an-iqn", "ip": "127.0.0.1", "host": "h1"}, id="malformed-iqn"),
    pytest.param({"initiator": "iqn.2026-11.org.test:a b;rm -rf /", "ip": "127.0.0.1"}, id="iqn-with-spaces"),
    pytest.param({"initiator": HOST1, "ip": "not-an-ip"}, id="bad-ip"),
    pytest.param("iqn.2026-11.org.test:host1", id="not-an-object"),
]
def _bad_connector_leaves_nothing(volume_api, vid: str, iqns_before: set[str]) -> None:
    assert status(volume_api, vid) == ("available", 0)
    assert volume_api.client.get("/attachments", params={"volume_id": vid}).json()["attachments"] == []
    assert {t.iqn for t in tgt_targets(volume_api.server)} == iqns_before
    assert volume_iqn(vid) not in iqns_before
    # ... and the volume can still be attached normally afterwards.
    attachment = volume_api.attach(vid, HOST1)
    assert Lun.of(attachment["connection_info"]).reachable(HOST1)
    volume_api.detach(attachment["id"])


@pytest.mark.parametrize("bad", BAD_CONNECTORS)
def test_bad_connector_in_initialize_connection_changes_nothing(volume_api, bad):
    volume = volume_api.create_volume(1)
    iqns_before = {t.iqn for t in tgt_targets(volume_api.server)}
    fault(volume_api.action(volume["id"], "os-initialize_connection", {"connector": bad}), 400)
    _bad_connector_leaves_nothing(volume_api, volume["id"], iqns_before)
    volume_api.delete_volume(volume["id"])


@pytest.mark.parametrize("bad", BAD_CONNECTORS)
def test_bad_connector_in_attachment_create_changes_nothing(volume_api, bad):
    volume = volume_api.create_volume(1)
    iqns_before = {t.iqn for t in tgt_targets(volume_api.server)}
    resp = volume_api.client.post("/attachments", json={"attachment": {"volume_uuid": volume["id"], "connector": bad}})
    fault(resp, 400)
    _bad_connector_leaves_nothing(volume_api, volume["id"], iqns_before)
    volume_api.delete_volume(volume["id"])
