"""Bad requests are refused with an OpenStack fault and change nothing.

The story: a careless client sends sizes that are not positive integers,
asks for a type that does not exist, sends bodies that are not JSON objects,
unknown actions and microversions Shoal does not serve: each gets a 400 (or
404 / 406) with `{"badRequest": {"code": 400, "message": ...}}`-shaped bodies,
and neither the volume list nor ZFS changes. A volume larger than any pool is
accepted but ends in `error`, with the reason in /messages. Another project's
snapshots and volumes cannot be used as sources.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.fixtures.zfs import destroy_dataset

from .volume_helpers import (
    cinder,
    fault,
    messages_for,
    volume_api,  # noqa: F401 - fixture
    zfs_names,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def unchanged(volume_api):
    """Asserts, after the test body, that the project's volumes and the datasets are as before."""
    def state():
        volumes = volume_api.client.get("/volumes", params={"all_tenants": 1}).json()["volumes"]
        return {v["id"] for v in volumes}, zfs_names(volume_api.server.pool_root)

    before = state()
    yield
    assert state() == before


@pytest.mark.parametrize("size", [0, -1, 1.5, "1.5", "abc", "", True, False, None, [1], {"gb": 1}])
def test_bad_sizes_are_refused(volume_api, unchanged, size):
    message = fault(volume_api.client.post("/volumes", json={"volume": {"size": size, "name": "bad-size"}}), 400,
                    "badRequest")
    assert "size" in message
    assert volume_api.client.get("/volumes", params={"name": "bad-size"}).json()["volumes"] == []


def test_size_larger_than_any_pool_ends_in_error_with_a_message(volume_api):
    before = zfs_names(volume_api.server.pool_root)
    volume = volume_api.create_volume(100000, wait="error", name="too-big")
    assert volume["size"] == 100000
    msgs = messages_for(volume_api.client, volume["id"])
    assert msgs, "no user message for the failed create"
    assert any("pool" in m["user_message"] or "GiB" in m["user_message"] for m in msgs), msgs
    assert msgs[0]["resource_type"] == "VOLUME" and msgs[0]["message_level"] == "ERROR"
    assert zfs_names(volume_api.server.pool_root) == before

    # A volume in error cannot be snapshotted, extended or attached...
    client = volume_api.client
    fault(client.post("/snapshots", json={"snapshot": {"volume_id": volume["id"]}}), 400)
    fault(volume_api.action(volume["id"], "os-extend", {"new_size": 100001}), 400)
    fault(client.post("/attachments", json={"attachment": {"volume_uuid": volume["id"]}}), 400)
    assert client.get("/snapshots", params={"volume_id": volume["id"]}).json()["snapshots"] == []
    # ... but it can be deleted.
    volume_api.delete_volume(volume["id"])
    assert zfs_names(volume_api.server.pool_root) == before


def test_unknown_type_and_missing_sources(volume_api, unchanged):
    client, missing = volume_api.client, str(uuid.uuid4())
    fault(client.post("/volumes", json={"volume": {"size": 1, "volume_type": "no-such-type"}}), 404, "itemNotFound")
    fault(client.post("/volumes", json={"volume": {"size": 1, "snapshot_id": missing}}), 404)
    fault(client.post("/volumes", json={"volume": {"size": 1, "source_volid": missing}}), 404)
    fault(client.post("/volumes", json={"volume": {"size": 1, "availability_zone": "nowhere"}}), 400)
    fault(client.post("/volumes", json={"volume": {"size": 1, "imageRef": missing}}), 400)
    fault(client.post("/snapshots", json={"snapshot": {"volume_id": missing}}), 404)
    fault(client.post("/snapshots", json={"snapshot": {}}), 404)  # Cinder looks the volume up first
    fault(client.get(f"/volumes/{missing}"), 404, "itemNotFound")
    fault(client.delete(f"/volumes/{missing}"), 404)
    fault(volume_api.action(missing, "os-extend", {"new_size": 2}), 404)


def test_wrong_state_and_shrink(volume_api):
    client = volume_api.client
    volume = volume_api.create_volume(2)
    vid = volume["id"]
    # Reserved for an attach: no snapshot (without force), no extend, no delete.
    assert volume_api.action(vid, "os-reserve").status_code == 202
    fault(client.post("/snapshots", json={"snapshot": {"volume_id": vid}},
                      headers={"OpenStack-API-Version": "volume 3.65"}), 400)
    fault(volume_api.action(vid, "os-extend", {"new_size": 3}), 400)
    fault(client.delete(f"/volumes/{vid}"), 400)
    assert volume_api.action(vid, "os-unreserve").status_code == 202
    # Shrinking is refused.
    fault(volume_api.action(vid, "os-extend", {"new_size": 1}), 400)
    shown = volume_api.volume(vid)
    assert (shown["status"], shown["size"]) == ("available", 2)
    assert client.get("/snapshots", params={"volume_id": vid}).json()["snapshots"] == []
    volume_api.delete_volume(vid)


@pytest.mark.parametrize("body", [b"[1, 2]", b'"volume"', b"42", b"null", b"{not json", b"", b'{"volume": "x"}',
                                  b'{"volume": [1]}', b'{"size": 1}'])
def test_bodies_that_are_not_objects(volume_api, unchanged, body):
    resp = volume_api.client.post("/volumes", content=body, headers={"Content-Type": "application/json"})
    fault(resp, 400, "badRequest")


def test_unknown_and_malformed_actions(volume_api):
    volume = volume_api.create_volume(1)
    vid, client = volume["id"], volume_api.client
    fault(volume_api.action(vid, "os-frobnicate", {}), 400, "badRequest")
    fault(client.post(f"/volumes/{vid}/action", json={"os-extend": {"new_size": 2}, "os-reserve": None}), 400)
    fault(client.post(f"/volumes/{vid}/action", json={}), 400)
    fault(client.post(f"/volumes/{vid}/action", content=b"[]", headers={"Content-Type": "application/json"}), 400)
    fault(volume_api.action(vid, "os-reset_status", {"status": "made-up"}), 400)
    fault(client.post(f"/volumes/{vid}/action", json={"revert": {"snapshot_id": str(uuid.uuid4())}},
                      headers={"OpenStack-API-Version": "volume 3.39"}), 400)
    shown = volume_api.volume(vid)
    assert (shown["status"], shown["size"]) == ("available", 1)
    volume_api.delete_volume(vid)


@pytest.mark.parametrize("version,code", [("3.x", 400), ("three", 400), ("3.", 400), ("3.99", 406),
                                          ("4.0", 406), ("2.0", 406)])
def test_microversions_not_served(volume_api, unchanged, version, code):
    for method, path, body in (("GET", "/volumes", None), ("POST", "/volumes", {"volume": {"size": 1}})):
        headers = {"OpenStack-API-Version": f"volume {version}"}
        resp = volume_api.client.request(method, path, json=body, headers=headers)
        fault(resp, code)
    if code == 406:
        assert resp.headers["OpenStack-API-Version"] == "volume 3.71"


def test_latest_and_no_version(volume_api):
    server = volume_api.server
    latest = volume_api.client.get("/volumes", headers={"OpenStack-API-Version": "volume latest"})
    assert latest.status_code == 200 and latest.headers["OpenStack-API-Version"] == "volume 3.71"
    with httpx.Client(base_url=f"{server.url}/volume/v3/{server.project}",
                      headers={"X-Auth-Token": f"admin:{server.project}"}, timeout=30) as bare:
        resp = bare.get("/volumes")
        assert resp.status_code == 200 and resp.headers["OpenStack-API-Version"] == "volume 3.0"


def test_sources_of_another_project_are_not_found(volume_api):
    other = cinder(volume_api.server, project=uuid.uuid4().hex)
    try:
        volume = volume_api.create_volume(1)
        snap = volume_api.create_snapshot(volume["id"])
        before = {v["id"] for v in other.get("/volumes").json()["volumes"]}
        fault(other.post("/volumes", json={"volume": {"size": 1, "snapshot_id": snap["id"]}}), 404)
        fault(other.post("/volumes", json={"volume": {"size": 1, "source_volid": volume["id"]}}), 404)
        fault(other.post("/snapshots", json={"snapshot": {"volume_id": volume["id"]}}), 404)
        assert {v["id"] for v in other.get("/volumes").json()["volumes"]} == before
    finally:
        other.close()


def test_a_snapshot_zfs_refuses_ends_in_error_with_a_message(volume_api):
    """Cinder's snapshot view has no status reason: a snapshot whose backend work
    failed says why in a user message (here the volume's dataset was destroyed
    behind Shoal's back, so `zfs snapshot` fails)."""
    volume = volume_api.create_volume(1, name="snap-fails")
    dataset = volume_api.dataset(volume["id"])
    destroy_dataset(dataset)  # unmounted first (zfs-fuse), retried while ZFS calls it busy
    snap = volume_api.create_snapshot(volume["id"], wait="error")
    msgs = messages_for(volume_api.client, snap["id"])
    assert msgs and msgs[0]["resource_type"] == "VOLUME_SNAPSHOT", msgs
    assert "snapshot failed" in msgs[0]["user_message"] and dataset in msgs[0]["user_message"], msgs
    volume_api.delete_snapshot(snap["id"])
    volume_api.delete_volume(volume["id"])
