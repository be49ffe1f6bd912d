"""The administrators' views of the copies behind shares and snapshots
(Manila's share instances, 2.3+, and snapshot instances, 2.19+): a share that
was never replicated has one instance, with the share's id, whose export
locations are the share's; a reset or force-delete through the instance acts on
the share itself (checked on ZFS and through the share's own answers)."""

from __future__ import annotations

import json

import pytest

from .share_helpers import (
    fault,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    zfs_exists,
)

pytestmark = pytest.mark.integration

INSTANCE_KEYS_284 = {"id", "share_id", "availability_zone", "created_at", "host", "status", "share_network_id",
                     "share_server_id", "access_rules_status", "replica_state", "share_type_id",
                     "cast_rules_to_readonly", "progress", "updated_at"}


def test_a_share_has_one_instance_with_its_id_and_locations(share_api):
    api, client = share_api, share_api.client
    share = api.create_share(name="with-instance")
    instances = client.get(f"/shares/{share['id']}/instances").json()["share_instances"]
    assert [i["id"] for i in instances] == [share["id"]]
    (inst,) = instances
    assert set(inst) == INSTANCE_KEYS_284, set(inst) ^ INSTANCE_KEYS_284
    assert inst["share_id"] == share["id"] and inst["status"] == "available" and inst["replica_state"] is None
    assert inst["host"] == api.share(share["id"])["host"] and inst["progress"] == "100%"
    # the same instance in the list of all, and alone under its export location's id and path
    assert share["id"] in {i["id"] for i in client.get("/share_instances").json()["share_instances"]}
    locations = client.get(f"/share_instances/{inst['id']}/export_locations").json()["export_locations"]
    share_locations = client.get(f"/shares/{share['id']}/export_locations").json()["export_locations"]
    assert {(e["id"], e["path"]) for e in locations} == {(e["id"], e["path"]) for e in share_locations}
    assert all(e["share_instance_id"] == inst["id"] for e in locations)
    one = client.get(f"/share_instances/{inst['id']}/export_locations/{locations[0]['id']}").json()
    assert one["export_location"]["path"] == locations[0]["path"]
    for key in ("id", "path"):
        found = client.get("/share_instances", params={f"export_location_{key}": locations[0][key]}).json()
        assert [i["id"] for i in found["share_instances"]] == [inst["id"]]
        assert client.get("/share_instances", params={f"export_location_{key}": "nowhere"}).json() == \
            {"share_instances": []}

    # the fields of each microversion, as Manila's view builder gives them
    old = client.get(f"/share_instances/{inst['id']}", headers={"X-OpenStack-Manila-API-Version": "2.3"}).json()
    assert set(old["share_instance"]) == {"id", "share_id", "availability_zone", "created_at", "host", "status",
                                          "share_network_id", "share_server_id", "export_location",
                                          "export_locations"}
    assert old["share_instance"]["export_locations"] == [e["path"] for e in share_locations]
    fault(client.get("/share_instances", headers={"X-OpenStack-Manila-API-Version": "2.2"}), 404)
    fault(client.get("/share_instances/no-such-instance"), 404)
    api.delete_share(share["id"])


def test_reset_and_force_delete_through_the_instance_act_on_the_share(share_api):
    api, client = share_api, share_api.client
    share = api.create_share(name="instance-actions")
    dataset = api.dataset(share["id"])
    resp = client.post(f"/share_instances/{share['id']}/action", json={"reset_status": {"status": "error"}})
    assert resp.status_code == 202, resp.text
    assert client.get(f"/share_instances/{share['id']}").json()["share_instance"]["status"] == "error"
    assert api.share(share["id"])["status"] == "error"
    fault(client.post(f"/share_instances/{share['id']}/action", json={"reset_status": {"status": "sideways"}}),
          400)
    # the pre-2.7 action names only below 2.7
    fault(client.post(f"/share_instances/{share['id']}/action", json={"os-force_delete": None}), 404)
    resp = client.post(f"/share_instances/{share['id']}/action", json={"force_delete": None})
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/share_instances/{share['id']}")
    wait_gone(client, f"/shares/{share['id']}")
    assert not zfs_exists(dataset)


def test_a_snapshot_has_one_instance(share_api):
    api, client = share_api, share_api.client
    share = api.create_share(name="snap-instance")
    snap = api.create_snapshot(share["id"])
    summary = client.get("/snapshot-instances", params={"snapshot_id": snap["id"]}).json()["snapshot_instances"]
    assert summary == [{"id": snap["id"], "snapshot_id": snap["id"], "status": "available"}]
    (detail,) = client.get("/snapshot-instances/detail",
                           params={"snapshot_id": snap["id"]}).json()["snapshot_instances"]
    assert detail["share_id"] == share["id"] and detail["share_instance_id"] == share["id"]
    assert detail["progress"] == "100%" and detail["provider_location"]
    assert set(detail) == {"id", "snapshot_id", "created_at", "updated_at", "status", "share_id",
                           "share_instance_id", "progress", "provider_location"}
    shown = client.get(f"/snapshot-instances/{snap['id']}").json()["snapshot_instance"]
    assert shown == detail
    resp = client.post(f"/snapshot-instances/{snap['id']}/action", json={"reset_status": {"status": "error"}})
    assert resp.status_code == 202, resp.text
    assert client.get(f"/snapshots/{snap['id']}").json()["snapshot"]["status"] == "error"
    fault(client.post(f"/snapshot-instances/{snap['id']}/action", json={"reset_status": {"status": 7}}), 400)
    fault(client.get("/snapshot-instances", headers={"X-OpenStack-Manila-API-Version": "2.18"}), 404)
    fault(client.get("/snapshot-instances/no-such-instance"), 404)
    api.delete_snapshot(snap["id"])
    api.delete_share(share["id"])


def test_snapshot_metadata(share_api):
    api, client = share_api, share_api.client
    share = api.create_share(name="snap-meta")
    snap = api.create_snapshot(share["id"], metadata={"a": "1"})
    path = f"/snapshots/{snap['id']}/metadata"
    assert client.get(path).json() == {"metadata": {"a": "1"}}
    assert client.post(path, json={"metadata": {"b": "2"}}).json() == {"metadata": {"a": "1", "b": "2"}}
    assert client.post(f"{path}/b", json={"metadata": {"b": "3"}}).json() == {"metadata": {"a": "1", "b": "3"}}
    fault(client.post(f"{path}/b", json={"metadata": {"c": "3"}}), 400)
    assert client.get(f"{path}/b").json() == {"meta": {"b": "3"}}
    assert client.put(path, json={"metadata": {"z": "9"}}).json() == {"metadata": {"z": "9"}}
    assert client.delete(f"{path}/z").status_code == 200
    fault(client.delete(f"{path}/z"), 404)
    fault(client.get(f"{path}/z"), 404)
    fault(client.get(path, headers={"X-OpenStack-Manila-API-Version": "2.72"}), 404)
    lone_surrogate = json.dumps({"metadata": {"k": "\ud800"}})  # ASCII JSON with the escape, as a fuzzer sends
    fault(client.post(path, content=lone_surrogate, headers={"Content-Type": "application/json"}), 400)
    assert client.get(path).json() == {"metadata": {}}
    wait_for_status(client, f"/snapshots/{snap['id']}", "available")
    api.delete_snapshot(snap["id"])
    api.delete_share(share["id"])
