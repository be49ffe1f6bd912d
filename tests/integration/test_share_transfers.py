"""Share transfers (Manila 2.77): project A offers a share, the share waits in
`awaiting_transfer`, a wrong key changes nothing, project B takes it over with
its snapshot (the data stays where it was, still read over NFS), and A no longer
sees it; an offer withdrawn gives the share back to A."""

from __future__ import annotations

import uuid

import pytest

from .share_helpers import (
    assert_nfs_writable,
    fault,
    share_api,  # noqa: F401 - fixture
    wait_gone,
    zfs_exists,
)

pytestmark = pytest.mark.integration


def test_a_share_changes_hands(share_api):
    api, a = share_api, share_api.client
    share = api.create_share(name="given-away")
    snap = api.create_snapshot(share["id"])
    api.allow(share["id"])
    path = api.mountpoint(share["id"])
    fault(a.post("/share-transfers", json={"transfer": {"share_id": share["id"]}},
                 headers={"X-OpenStack-Manila-API-Version": "2.76"}), 404)
    resp = a.post("/share-transfers", json={"transfer": {"share_id": share["id"], "name": "to-b"}})
    assert resp.status_code == 202, resp.text
    offer = resp.json()["transfer"]
    assert offer["auth_key"] and offer["resource_id"] == share["id"] and offer["resource_type"] == "share"
    assert api.share(share["id"])["status"] == "awaiting_transfer"
    assert a.get(f"/share-transfers/{offer['id']}").json()["transfer"]["name"] == "to-b"
    assert offer["id"] in {t["id"] for t in a.get("/share-transfers").json()["transfers"]}
    fault(a.post("/share-transfers", json={"transfer": {"share_id": share["id"]}}), 400)  # not available now

    with api.server.client(project=uuid.uuid4().hex) as b:
        fault(b.post(f"/share-transfers/{offer['id']}/accept", json={"accept": {"auth_key": "wrong"}}), 400)
        fault(b.post(f"/share-transfers/{offer['id']}/accept", json={"accept": {}}), 400)
        assert api.share(share["id"])["status"] == "awaiting_transfer"
        resp = b.post(f"/share-transfers/{offer['id']}/accept", json={"accept": {"auth_key": offer["auth_key"]}})
        assert resp.status_code == 202, resp.text
        taken = b.get(f"/shares/{share['id']}").json()["share"]
        assert taken["status"] == "available" and taken["project_id"] != share["project_id"]
        assert b.get(f"/snapshots/{snap['id']}").json()["snapshot"]["project_id"] == taken["project_id"]
        assert share["id"] not in {s["id"] for s in a.get("/shares").json()["shares"]}
        assert share["id"] in {s["id"] for s in b.get("/shares").json()["shares"]}
        fault(a.get(f"/share-transfers/{offer['id']}"), 404)  # an accepted offer is gone
        assert zfs_exists(api.dataset(share["id"]))
        assert_nfs_writable(api.server, path, "after-transfer.txt")  # its rules came along
        assert b.delete(f"/snapshots/{snap['id']}").status_code == 202
        wait_gone(b, f"/snapshots/{snap['id']}")
        assert b.delete(f"/shares/{share['id']}").status_code == 202
        wait_gone(b, f"/shares/{share['id']}")


def test_an_offer_withdrawn(share_api):
    api, a = share_api, share_api.client
    share = api.create_share(name="kept")
    offer = a.post("/share-transfers", json={"transfer": {"share_id": share["id"]}}).json()["transfer"]
    fault(a.delete(f"/shares/{share['id']}"), 403)  # waiting for its new owner (Manila: 403)
    assert a.delete(f"/share-transfers/{offer['id']}").status_code == 200
    assert api.share(share["id"])["status"] == "available"
    fault(a.delete(f"/share-transfers/{offer['id']}"), 404)
    fault(a.post("/share-transfers", json={"transfer": {"share_id": 7}}), 400)
    fault(a.post("/share-transfers", json={"transfer": {"share_id": str(uuid.uuid4())}}), 404)
    api.delete_share(share["id"])
