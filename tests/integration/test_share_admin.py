"""What an administrator sees and does: reset a stuck share and force it away,
and the read-only views of pools, services, zones, limits and quotas, checked
against ZFS itself."""

from __future__ import annotations

import time

import pytest

from .share_helpers import (
    GiB,
    fault,
    share_api,  # noqa: F401 - fixture
    wait_gone,
    zfs_exists,
    zfs_get,
)

pytestmark = pytest.mark.integration


def test_reset_status_then_force_delete(share_api):
    api, client = share_api, share_api.client
    share = api.create_share()
    dataset = api.dataset(share["id"])
    rule = api.allow(share["id"])

    resp = api.action(share["id"], "reset_status", {"status": "error"})
    assert resp.status_code == 202, resp.text
    assert api.share(share["id"])["status"] == "error"
    fault(api.action(share["id"], "reset_status", {"status": "sideways"}), 400)
    # A plain delete would do too from error; a share stuck in `deleting` needs force.
    resp = api.action(share["id"], "reset_status", {"status": "deleting"})
    assert resp.status_code == 202
    fault(client.delete(f"/shares/{share['id']}"), 403)  # Manila's answer for a share it may not delete

    resp = api.action(share["id"], "force_delete")
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/shares/{share['id']}")
    assert not zfs_exists(dataset)
    fault(client.get(f"/share-access-rules/{rule['id']}"), 404)


def test_a_snapshot_can_be_reset_and_forced_away(share_api):
    api, client = share_api, share_api.client
    share = api.create_share()
    snap = api.create_snapshot(share["id"])
    zfs_name = f"{api.dataset(share['id'])}@snap-{snap['id']}"
    assert zfs_exists(zfs_name)
    resp = client.post(f"/snapshots/{snap['id']}/action", json={"reset_status": {"status": "creating"}})
    assert resp.status_code == 202, resp.text
    fault(client.delete(f"/snapshots/{snap['id']}"), 400)
    resp = client.post(f"/snapshots/{snap['id']}/action", json={"force_delete": None})
    assert resp.status_code == 202
    wait_gone(client, f"/snapshots/{snap['id']}")
    assert not zfs_exists(zfs_name)
    api.delete_share(share["id"])


def test_pools_report_what_zfs_reports(share_api):
    client, server = share_api.client, share_api.server
    zpool = server.pool_root.split("/")[0]
    name = f"shoal@test#{zpool}"

    pools = client.get("/scheduler-stats/pools")
    assert pools.status_code == 200, pools.text
    assert {"name": name, "host": "shoal", "backend": "test", "pool": zpool} in pools.json()["pools"]

    detail = client.get("/scheduler-stats/pools/detail").json()["pools"]
    (pool,) = [p for p in detail if p["name"] == name]
    caps = pool["capabilities"]
    available = int(zfs_get(server.pool_root, "available")) / GiB
    used = int(zfs_get(server.pool_root, "used")) / GiB
    assert caps["free_capacity_gb"] == pytest.approx(available, abs=0.05)
    assert caps["allocated_capacity_gb"] == pytest.approx(used, abs=0.05)
    assert caps["total_capacity_gb"] == pytest.approx(used + available, abs=0.05)
    assert 3 < caps["total_capacity_gb"] <= 4  # the test pool is a 4G file
    assert caps["share_backend_name"] == "test" and caps["storage_protocol"] == "NFS"
    assert caps["snapshot_support"] is True and caps["driver_handles_share_servers"] is False

    # Filters.
    assert client.get("/scheduler-stats/pools", params={"backend": "test"}).json()["pools"]
    assert client.get("/scheduler-stats/pools", params={"backend": "nope"}).json()["pools"] == []

    # A share's allocation shows up (refquota is not a reservation: thin, so only its data counts).
    share = share_api.create_share(size=2)
    after = [p for p in client.get("/scheduler-stats/pools/detail").json()["pools"] if p["name"] == name][0]
    assert after["capabilities"]["total_capacity_gb"] == pytest.approx(caps["total_capacity_gb"], abs=0.05)
    share_api.delete_share(share["id"])


def test_services_zones_limits_and_quotas(share_api):
    client, server = share_api.client, share_api.server
    services = client.get("/services").json()["services"]
    share_service = [s for s in services if s["binary"] == "manila-share"]
    assert [(s["host"], s["state"], s["status"]) for s in share_service] == [("shoal@test", "up", "enabled")]
    assert any(s["binary"] == "manila-scheduler" and s["state"] == "up" for s in services)
    old = client.get("/os-services", headers={"X-OpenStack-Manila-API-Version": "2.6"}).json()  # its name below 2.7
    assert [s["host"] for s in old["services"]] == [s["host"] for s in services]

    zones = client.get("/availability-zones").json()["availability_zones"]
    assert [z["name"] for z in zones] == ["nova"]

    mine = client.get("/shares/detail").json()["shares"]
    share = share_api.create_share(size=2)
    snap = share_api.create_snapshot(share["id"])
    limits = client.get("/limits").json()["limits"]["absolute"]
    assert limits["totalSharesUsed"] == len(mine) + 1
    assert limits["totalShareGigabytesUsed"] == sum(s["size"] for s in mine) + 2
    assert limits["totalShareSnapshotsUsed"] >= 1 and limits["totalSnapshotGigabytesUsed"] >= 2
    assert limits["maxTotalShares"] == -1

    quota = client.get(f"/quota-sets/{server.project}")
    assert quota.status_code == 200
    quota_set = quota.json()["quota_set"]
    assert quota_set["id"] == server.project
    assert quota_set["shares"] == -1 and quota_set["gigabytes"] == -1 and quota_set["snapshots"] == -1
    assert client.get(f"/quota-sets/{server.project}/defaults").json()["quota_set"]["shares"] == -1

    share_api.delete_snapshot(snap["id"])
    share_api.delete_share(share["id"])


def test_force_delete_while_creating_leaves_no_dataset(share_api):
    """The create task has its plan from the request and does not look at the row
    before the backend work; a share force-deleted meanwhile must not leave its
    dataset behind, whichever of the two tasks reaches ZFS first."""
    api, client = share_api, share_api.client
    api.delete_share(api.create_share()["id"])  # the pools' report is cached: placed in the request
    ids = []
    for _ in range(4):
        share = api.create_share(wait=None)
        assert api.action(share["id"], "force_delete").status_code == 202
        ids.append(share["id"])
    for share_id in ids:
        wait_gone(client, f"/shares/{share_id}")
    deadline = time.monotonic() + 30  # the create task may still be undoing its work
    while any(zfs_exists(api.dataset(i)) for i in ids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [i for i in ids if zfs_exists(api.dataset(i))] == []
