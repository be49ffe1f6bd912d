"""Share groups (Manila 2.31+) with a DHSS=False backend: a group is placed on a
pool that takes its share types, in a zone they allow; shares made in it go to
its pool and zone; it cannot be deleted while it holds shares, and a share in it
is deleted only when the group is named. Manila's 400/404/409 for what is wrong."""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import fault, share_api, wait_for_status, wait_gone  # noqa: F401 - fixture

pytestmark = pytest.mark.integration

V = "X-OpenStack-Manila-API-Version"
EXPERIMENTAL = "X-OpenStack-Manila-API-Experimental"
DHSS = {"driver_handles_share_servers": "False"}


def _type(client, name: str, **specs) -> dict:
    resp = client.post("/types", json={"share_type": {"name": name, "extra_specs": {**DHSS, **specs}}})
    assert resp.status_code == 200, resp.text
    return resp.json()["share_type"]


def _group_type(client, name: str, *type_ids: str) -> dict:
    resp = client.post("/share-group-types", json={"share_group_type": {"name": name, "share_types": list(type_ids)}})
    assert resp.status_code == 200, resp.text
    return resp.json()["share_group_type"]


def _create(client, **fields):
    return client.post("/share-groups", json={"share_group": fields})


def test_a_share_group_holds_shares_on_its_pool(share_api):
    client = share_api.client
    name = f"sg-{uuid.uuid4().hex[:8]}"
    zone = client.get("/availability-zones").json()["availability_zones"][0]["name"]
    inside = _type(client, f"{name}-in", availability_zones=zone)
    outside = _type(client, f"{name}-out")
    elsewhere = _type(client, f"{name}-far", availability_zones="az_that_doesnt_exist")
    gtype = _group_type(client, name, inside["id"], elsewhere["id"])
    made_groups = []
    try:
        # what Manila refuses before anything is made
        fault(_create(client, share_group_type_id=gtype["id"], bogus=1), 400)
        fault(_create(client, share_types=[inside["id"]]), 400)  # no default share group type
        fault(_create(client, share_group_type_id="not-a-uuid", share_types=[inside["id"]]), 400)
        fault(_create(client, share_group_type_id=str(uuid.uuid4()), share_types=[inside["id"]]), 400)
        fault(_create(client, share_group_type_id=gtype["id"], share_types=["nope"]), 400)
        fault(_create(client, share_group_type_id=gtype["id"], share_types=[outside["id"]]), 400)  # not in the type
        fault(_create(client, share_group_type_id=gtype["id"], share_types=[elsewhere["id"]],
                      availability_zone=zone), 400)  # the type does not allow the zone
        fault(_create(client, share_group_type_id=gtype["id"], share_types=[inside["id"]],
                      share_network_id=str(uuid.uuid4())), 400)
        fault(_create(client, share_group_type_id=gtype["id"], availability_zone="nowhere"), 404)
        fault(client.get("/share-groups", headers={V: "2.30"}), 404)
        assert client.get("/share-groups").json()["share_groups"] == []

        resp = _create(client, share_group_type_id=gtype["id"], share_types=[inside["id"]], name=name,
                       description="d", availability_zone=zone)
        assert resp.status_code == 202, resp.text
        group = resp.json()["share_group"]
        made_groups.append(group["id"])
        assert group["status"] == "creating" and group["share_types"] == [inside["id"]]
        group = wait_for_status(client, f"/share-groups/{group['id']}", "available")
        assert group["availability_zone"] == zone and group["host"].startswith("shoal@")
        assert group["consistent_snapshot_support"] is None and group["share_network_id"] is None
        assert "availability_zone" not in client.get(f"/share-groups/{group['id']}",
                                                     headers={V: "2.33", EXPERIMENTAL: "true"}).json()["share_group"]
        # below 2.55 share groups are experimental: Manila serves them only to a call that says so
        fault(client.get(f"/share-groups/{group['id']}", headers={V: "2.54"}), 404)
        # a group of a type whose share types allow no zone we have ends in error
        lost = _create(client, share_group_type_id=gtype["id"], share_types=[elsewhere["id"]]).json()["share_group"]
        made_groups.append(lost["id"])
        assert wait_for_status(client, f"/share-groups/{lost['id']}", "error")["host"] is None
        # so does one whose group type asks for consistent snapshots (no backend here offers them)
        resp = client.post("/share-group-types", json={"share_group_type": {
            "name": f"{name}-cs", "share_types": [inside["id"]], "group_specs": {"consistent_snapshot_support": "pool"}}})
        consistent = resp.json()["share_group_type"]
        try:
            cs = _create(client, share_group_type_id=consistent["id"], share_types=[inside["id"]]).json()["share_group"]
            made_groups.append(cs["id"])
            wait_for_status(client, f"/share-groups/{cs['id']}", "error")
            assert client.delete(f"/share-groups/{cs['id']}").status_code == 202
            wait_gone(client, f"/share-groups/{cs['id']}")
            made_groups.remove(cs["id"])
        finally:
            client.delete(f"/share-group-types/{consistent['id']}")

        # lists, filters, update
        listed = client.get("/share-groups", params={"name": name}).json()["share_groups"]
        assert [g["id"] for g in listed] == [group["id"]] and set(listed[0]) == {"id", "name", "links"}
        detail = client.get("/share-groups/detail", params={"status": "error"}).json()["share_groups"]
        assert [g["id"] for g in detail] == [lost["id"]]
        assert client.get("/share-groups/detail", params={"share_group_type_id": gtype["id"]}).json()[
            "share_groups"].__len__() == 2
        fault(client.put(f"/share-groups/{group['id']}", json={"share_group": {"status": "x"}}), 400)
        renamed = client.put(f"/share-groups/{group['id']}", json={"share_group": {"name": f"{name}-2"}})
        assert renamed.status_code == 200 and renamed.json()["share_group"]["name"] == f"{name}-2"

        # shares in the group: its type, its zone, its pool
        share = share_api.create_share(share_type=inside["id"], share_group_id=group["id"])
        assert share["share_group_id"] == group["id"] and share["availability_zone"] == zone
        assert share["host"] == group["host"]
        for bad in ({"share_type": outside["id"]}, {"share_type": inside["id"], "availability_zone": "nowhere"}):
            resp = client.post("/shares", json={"share": {"share_proto": "NFS", "size": 1, "share_group_id": group["id"],
                                                          **bad}})
            assert resp.status_code in (400, 404), resp.text
        fault(client.post("/shares", json={"share": {"share_proto": "NFS", "size": 1, "share_type": inside["id"],
                                                     "share_group_id": lost["id"]}}), 400)  # not available
        fault(client.post("/shares", json={"share": {"share_proto": "NFS", "size": 1, "share_type": inside["id"],
                                                     "share_group_id": str(uuid.uuid4())}}), 404)
        listed = client.get("/shares/detail", params={"share_group_id": group["id"]}).json()["shares"]
        assert [s["id"] for s in listed] == [share["id"]]

        # a group with shares stays; a share in it goes only when the group is named
        fault(client.delete(f"/share-groups/{group['id']}"), 409)
        fault(client.delete(f"/shares/{share['id']}"), 400)
        fault(client.delete(f"/shares/{share['id']}", params={"share_group_id": lost["id"]}), 400)
        assert client.delete(f"/shares/{share['id']}", params={"share_group_id": group["id"]}).status_code == 202
        wait_gone(client, f"/shares/{share['id']}")
        for group_id in made_groups:
            assert client.delete(f"/share-groups/{group_id}").status_code == 202
            wait_gone(client, f"/share-groups/{group_id}")
        made_groups.clear()
    finally:
        for group_id in made_groups:
            client.post(f"/share-groups/{group_id}/action", json={"force_delete": None})
        client.delete(f"/share-group-types/{gtype['id']}")


def test_another_projects_group_is_not_found(share_api):
    client = share_api.client
    name = f"sg-{uuid.uuid4().hex[:8]}"
    stype = _type(client, name)
    gtype = _group_type(client, name, stype["id"])
    group = _create(client, share_group_type_id=gtype["id"], share_types=[stype["id"]]).json()["share_group"]
    try:
        wait_for_status(client, f"/share-groups/{group['id']}", "available")
        with share_api.server.client(project=uuid.uuid4().hex) as other:
            fault(other.get(f"/share-groups/{group['id']}"), 404)
            assert other.get("/share-groups").json()["share_groups"] == []
    finally:
        assert client.delete(f"/share-groups/{group['id']}").status_code == 202
        wait_gone(client, f"/share-groups/{group['id']}")
        client.delete(f"/share-group-types/{gtype['id']}")
