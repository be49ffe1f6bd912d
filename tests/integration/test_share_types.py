"""Share types: the default one, and types whose extra specs shape the dataset
(compression, dedup) or its placement (share_backend_name)."""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import (
    fault,
    messages_for,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    zfs_get,
    zfs_names,
)

pytestmark = pytest.mark.integration


def create_type(client, name: str, extra_specs: dict, **fields) -> dict:
    resp = client.post("/types", json={"share_type": {"name": name, "extra_specs": extra_specs, **fields}})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["share_type"] == body["volume_type"]  # old clients read the second
    return body["share_type"]


def test_the_default_type_exists(share_api):
    client = share_api.client
    resp = client.get("/types/default")
    assert resp.status_code == 200, resp.text
    default = resp.json()["share_type"]
    assert default["name"] == "default" and default["is_default"] is True
    assert default["extra_specs"]["driver_handles_share_servers"].lower() == "false"
    assert default["required_extra_specs"] == {"driver_handles_share_servers": default["extra_specs"]["driver_handles_share_servers"]}
    listed = client.get("/types").json()["share_types"]
    assert default["id"] in {t["id"] for t in listed}


def test_a_type_sets_compression_and_dedup_on_the_dataset(share_api):
    api, client = share_api, share_api.client
    name = f"gzip-{uuid.uuid4().hex[:6]}"
    stype = create_type(client, name, {"driver_handles_share_servers": "False",
                                       "zfsonlinux:compression": "gzip", "dedupe": "<is> True"},
                        description="compressed")
    assert stype["extra_specs"]["zfsonlinux:compression"] == "gzip" and stype["description"] == "compressed"

    share = api.create_share(share_type=name)
    assert share["share_type"] == stype["id"] and share["share_type_name"] == name
    dataset = api.dataset(share["id"])
    assert zfs_get(dataset, "compression") == "gzip"
    assert zfs_get(dataset, "dedup") == "on"

    # A share of the default type gets neither.
    plain = api.create_share()
    assert zfs_get(api.dataset(plain["id"]), "compression") == "off"
    assert zfs_get(api.dataset(plain["id"]), "dedup") == "off"

    # In use: the type cannot be deleted; once its share is gone, it can.
    fault(client.delete(f"/types/{stype['id']}"), 409)
    api.delete_share(share["id"])
    api.delete_share(plain["id"])
    assert client.delete(f"/types/{stype['id']}").status_code == 202
    fault(client.get(f"/types/{stype['id']}"), 404)


def test_a_type_for_an_unknown_backend_places_nothing(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    name = f"elsewhere-{uuid.uuid4().hex[:6]}"
    create_type(client, name, {"driver_handles_share_servers": "False", "share_backend_name": "no-such-backend"})
    datasets = zfs_names(server.pool_root, "all")
    share = api.create_share(share_type=name, wait=None)
    share = wait_for_status(client, f"/shares/{share['id']}", "error")
    assert "no-such-backend" in share["status_reason"]
    notes = messages_for(client, share["id"])
    assert notes and notes[0]["detail_id"] == "002" and "no-such-backend" in notes[0]["user_message"]
    assert zfs_names(server.pool_root, "all") == datasets
    api.delete_share(share["id"])


def test_a_type_the_backend_cannot_honour_places_nothing(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    name = f"bad-compression-{uuid.uuid4().hex[:6]}"
    create_type(client, name, {"driver_handles_share_servers": "False", "zfsonlinux:compression": "gzip;rm"})
    datasets = zfs_names(server.pool_root, "all")
    share = wait_for_status(client, f"/shares/{api.create_share(share_type=name, wait=None)['id']}", "error")
    assert "compression" in share["status_reason"]
    assert zfs_names(server.pool_root, "all") == datasets
    api.delete_share(share["id"])


def test_types_are_listed_shown_and_their_specs_changed(share_api):
    client = share_api.client
    name = f"specs-{uuid.uuid4().hex[:6]}"
    stype = create_type(client, name, {"driver_handles_share_servers": "False", "snapshot_support": "True"})
    type_id = stype["id"]

    listed = client.get("/types").json()
    assert name in {t["name"] for t in listed["share_types"]}
    assert listed["share_types"] == listed["volume_types"]
    by_id = client.get(f"/types/{type_id}").json()["share_type"]
    by_name = client.get(f"/types/{name}").json()["share_type"]
    assert by_id == by_name and by_id["name"] == name
    fault(client.post("/types", json={"share_type": {"name": name, "extra_specs": {
        "driver_handles_share_servers": "False"}}}), 409)
    fault(client.post("/types", json={"share_type": {"name": f"{name}-x", "extra_specs": {}}}), 400)
    fault(client.post("/types", json={"share_type": {"name": f"{name}-y", "extra_specs": {
        "driver_handles_share_servers": "True"}}}), 400)

    # Set: merged into what is there (the answer echoes what was set, as Manila's).
    resp = client.post(f"/types/{type_id}/extra_specs", json={"extra_specs": {"zfsonlinux:compression": "lzjb",
                                                                              "custom:tier": "gold"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["extra_specs"] == {"zfsonlinux:compression": "lzjb", "custom:tier": "gold"}
    assert client.get(f"/types/{type_id}/extra_specs").json()["extra_specs"] == {
        "driver_handles_share_servers": "False", "snapshot_support": "True",
        "zfsonlinux:compression": "lzjb", "custom:tier": "gold"}
    assert client.get(f"/types/{type_id}/extra_specs").json()["extra_specs"]["custom:tier"] == "gold"
    assert client.get(f"/types/{type_id}/extra_specs/custom:tier").json() == {"custom:tier": "gold"}
    fault(client.post(f"/types/{type_id}/extra_specs", json={"extra_specs": {
        "driver_handles_share_servers": "maybe"}}), 400)

    # Unset one; the required one cannot go; an unknown one is not found.
    assert client.delete(f"/types/{type_id}/extra_specs/custom:tier").status_code == 202
    fault(client.get(f"/types/{type_id}/extra_specs/custom:tier"), 404)
    fault(client.delete(f"/types/{type_id}/extra_specs/custom:tier"), 404)
    fault(client.delete(f"/types/{type_id}/extra_specs/driver_handles_share_servers"), 403)
    assert "custom:tier" not in client.get(f"/types/{type_id}").json()["share_type"]["extra_specs"]

    assert client.delete(f"/types/{type_id}").status_code == 202
    fault(client.get(f"/types/{type_id}"), 404)
    fault(client.delete(f"/types/{type_id}"), 404)
