"""Share group types (Manila 2.31+): made of share types (by name or id), with
group specs; a private one has an access list; administrators manage them; bad
input is a 4xx that changes nothing."""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import (
    fault,
    share_api,  # noqa: F401 - fixture
)

pytestmark = pytest.mark.integration


def test_share_group_types(share_api):
    client = share_api.client
    tag = uuid.uuid4().hex[:8]
    stype = client.post("/types", json={"share_type": {"name": f"for-groups-{tag}", "extra_specs": {
        "driver_handles_share_servers": "False"}}}).json()["share_type"]
    resp = client.post("/share-group-types", json={"share_group_type": {
        "name": f"group-{tag}", "share_types": [stype["name"]], "group_specs": {"consistent_snapshot_support": "pool"}}})
    assert resp.status_code == 200, resp.text
    gtype = resp.json()["share_group_type"]
    assert gtype["share_types"] == [stype["id"]] and gtype["is_public"] is True and gtype["is_default"] is False
    assert gtype["group_specs"] == {"consistent_snapshot_support": "pool"}
    assert gtype["id"] in {t["id"] for t in client.get("/share-group-types").json()["share_group_types"]}
    assert client.get(f"/share-group-types/{gtype['name']}").json()["share_group_type"]["id"] == gtype["id"]
    path = f"/share-group-types/{gtype['id']}/group-specs"
    assert client.post(path, json={"group_specs": {"k": "v"}}).json() == {"group_specs": {"k": "v"}}
    assert client.put(f"{path}/k", json={"k": "w"}).json() == {"k": "w"}
    assert client.get(f"{path}/k").json() == {"k": "w"}
    assert client.delete(f"{path}/k").status_code == 204
    fault(client.get(f"{path}/k"), 404)
    for body in ({"name": f"x-{tag}", "share_types": []}, {"name": "", "share_types": [stype["id"]]},
                 {"name": f"x-{tag}", "share_types": [stype["id"]], "group_specs": {"k": 5}},
                 {"name": f"x-{tag}", "share_types": [stype["id"]], "group_specs": ["k"]},
                 {"name": f"x-{tag}", "share_types": [stype["id"]], "is_public": "perhaps"}):
        fault(client.post("/share-group-types", json={"share_group_type": body}), 400)
    fault(client.post("/share-group-types", json={"share_group_type": {"name": f"x-{tag}",
                                                                        "share_types": ["no-such-type"]}}), 404)
    fault(client.post("/share-group-types", json={"share_group_type": {"name": gtype["name"],
                                                                        "share_types": [stype["id"]]}}), 409)
    fault(client.get("/share-group-types", headers={"X-OpenStack-Manila-API-Version": "2.30"}), 404)

    private = client.post("/share-group-types", json={"share_group_type": {
        "name": f"private-{tag}", "share_types": [stype["id"]], "is_public": False}}).json()["share_group_type"]
    project = uuid.uuid4().hex
    access = f"/share-group-types/{private['id']}"
    assert client.post(f"{access}/action", json={"addProjectAccess": {"project": project}}).status_code == 202
    fault(client.post(f"{access}/action", json={"addProjectAccess": {"project": project}}), 409)
    assert client.get(f"{access}/access").json()["share_group_type_access"] == [
        {"share_group_type_id": private["id"], "project_id": project}]
    assert client.post(f"{access}/action", json={"removeProjectAccess": {"project": project}}).status_code == 202
    fault(client.get(f"/share-group-types/{gtype['id']}/access"), 404)  # public: no list
    for row in (gtype, private):
        assert client.delete(f"/share-group-types/{row['id']}").status_code == 204
        fault(client.get(f"/share-group-types/{row['id']}"), 404)
    assert client.delete(f"/types/{stype['id']}").status_code == 202
