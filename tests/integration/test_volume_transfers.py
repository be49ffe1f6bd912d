"""Volume transfers: one project gives a volume to another.

The story: project A offers a volume with a snapshot; the volume waits as
`awaiting-transfer` and A cannot delete it meanwhile. Project B cannot see the offer,
and a wrong auth key changes nothing; with the right one B takes the volume and its
snapshot, which B's quota now counts and A's no longer does, and the data on the backend
stays where it was. An offer withdrawn gives the volume back to `available`. On the
3.55+ collection the answer says whether snapshots go along, from 3.57 who offered it;
below 3.55 that collection does not exist. B's quota is checked before it takes a volume.
"""

from __future__ import annotations

import uuid

import pytest

from .volume_helpers import VolumeApi, cinder, fault, volume_api, wait_for_status, zfs_exists  # noqa: F401

pytestmark = pytest.mark.integration


def usage(client, project: str) -> dict:
    sets = client.get(f"/os-quota-sets/{project}", params={"usage": "true"}).json()["quota_set"]
    return {k: sets[k]["in_use"] for k in ("volumes", "gigabytes", "snapshots")}


def test_a_volume_and_its_snapshot_change_project(volume_api):
    a_project, b_project = volume_api.server.project, uuid.uuid4().hex
    a = volume_api
    volume = a.create_volume(2, name="gift")
    snap = a.create_snapshot(volume["id"])
    with cinder(a.server, project=b_project) as b_client:
        b = VolumeApi(a.server, b_client)
        before_a, before_b = usage(a.client, a_project), usage(b_client, b_project)

        offer = a.client.post("/os-volume-transfer", json={"transfer": {"volume_id": volume["id"], "name": "for b"}})
        assert offer.status_code == 202, offer.text
        transfer = offer.json()["transfer"]
        assert set(transfer) == {"id", "name", "volume_id", "created_at", "auth_key", "links"}
        assert a.volume(volume["id"])["status"] == "awaiting-transfer"
        fault(a.client.delete(f"/volumes/{volume['id']}"), 400)
        fault(a.client.post("/os-volume-transfer", json={"transfer": {"volume_id": volume["id"]}}), 400)
        assert [t["id"] for t in a.client.get("/os-volume-transfer").json()["transfers"]] == [transfer["id"]]
        shown = a.client.get(f"/os-volume-transfer/{transfer['id']}").json()["transfer"]
        assert shown["volume_id"] == volume["id"] and "auth_key" not in shown

        # B does not see the offer; a wrong key changes nothing
        assert b_client.get("/os-volume-transfer").json()["transfers"] == []
        fault(b_client.get(f"/os-volume-transfer/{transfer['id']}"), 404)
        fault(b_client.post(f"/os-volume-transfer/{transfer['id']}/accept",
                            json={"accept": {"auth_key": "0" * 16}}), 400)
        assert a.volume(volume["id"])["status"] == "awaiting-transfer"

        taken = b_client.post(f"/os-volume-transfer/{transfer['id']}/accept",
                              json={"accept": {"auth_key": transfer["auth_key"]}})
        assert taken.status_code == 202, taken.text
        assert set(taken.json()["transfer"]) == {"id", "name", "volume_id", "links"}
        mine = b.volume(volume["id"])
        assert mine["status"] == "available" and mine["os-vol-tenant-attr:tenant_id"] == b_project
        assert b_client.get(f"/snapshots/{snap['id']}").json()["snapshot"]["id"] == snap["id"]
        fault(a.client.get(f"/os-volume-transfer/{transfer['id']}"), 404)  # done, gone
        assert zfs_exists(a.dataset(volume["id"]))  # the data did not move
        after_a, after_b = usage(a.client, a_project), usage(b_client, b_project)
        assert after_b == {"volumes": before_b["volumes"] + 1, "gigabytes": before_b["gigabytes"] + 4,
                           "snapshots": before_b["snapshots"] + 1}
        assert after_a == {"volumes": before_a["volumes"] - 1, "gigabytes": before_a["gigabytes"] - 4,
                           "snapshots": before_a["snapshots"] - 1}
        b.delete_snapshot(snap["id"])
        b.delete_volume(volume["id"])


def test_withdrawn_offers_the_new_collection_and_the_receivers_quota(volume_api):
    a = volume_api
    b_project = uuid.uuid4().hex
    volume = a.create_volume(1)
    with cinder(a.server, version="3.54") as old:
        fault(old.get("/volume-transfers"), 404)  # came with 3.55
    with cinder(a.server, version="3.55") as v355, cinder(a.server, version="3.57") as v357:
        offer = v355.post("/volume-transfers", json={"transfer": {"volume_id": volume["id"], "no_snapshots": True}})
        assert offer.status_code == 202, offer.text
        transfer = offer.json()["transfer"]
        assert transfer["no_snapshots"] is True and "source_project_id" not in transfer
        detail = v357.get("/volume-transfers/detail").json()["transfers"]
        (mine,) = [t for t in detail if t["id"] == transfer["id"]]
        assert (mine["source_project_id"], mine["destination_project_id"], mine["accepted"]) == (
            a.server.project, None, False)
        assert v355.delete(f"/volume-transfers/{transfer['id']}").status_code == 202
        assert a.volume(volume["id"])["status"] == "available"
        fault(v355.get(f"/volume-transfers/{transfer['id']}"), 404)

        # B may hold no more volumes: the offer stays open, the volume A's
        again = v355.post("/volume-transfers", json={"transfer": {"volume_id": volume["id"]}}).json()["transfer"]
        assert a.client.put(f"/os-quota-sets/{b_project}", json={"quota_set": {"volumes": 0}}).status_code == 200
        with cinder(a.server, project=b_project, version="3.55") as b_client:
            fault(b_client.post(f"/volume-transfers/{again['id']}/accept",
                                json={"accept": {"auth_key": again["auth_key"]}}), 413)
        assert a.volume(volume["id"])["status"] == "awaiting-transfer"
        assert v355.delete(f"/volume-transfers/{again['id']}").status_code == 202
        a.client.delete(f"/os-quota-sets/{b_project}")
    a.delete_volume(volume["id"])
