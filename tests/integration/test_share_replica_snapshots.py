"""Snapshots of a replicated share (Manila's replicated snapshots), from the
outside: a snapshot taken before the replica existed and one taken after both
reach the secondary (one snapshot instance per copy, each `available` once the
copy holds it, and ZFS shows the snapshot on both datasets); after the
secondary is promoted the snapshots are the new active's -- a share made from
one holds exactly what was written before it (read over NFS), and a revert on
the new active works, after which the old active follows it back (the later
file gone from its export too); a deleted snapshot is gone from every copy."""

from __future__ import annotations

import pytest

from tests.fixtures.replication import replica_server, second_zpool  # noqa: F401 - fixtures

from .replica_helpers import (  # noqa: F401 - replica_api is a fixture
    leftovers,
    read,
    read_secondary,
    replica_api,
    snapshot_instances,
    snapshots_of,
    wait_on_every_copy,
    write,
)
from .share_helpers import nfs_ls, wait_for_status, wait_gone, wait_until

pytestmark = pytest.mark.integration


def test_snapshots_reach_every_replica_and_survive_a_promotion(replica_api, replica_server):
    api = replica_api
    before = leftovers(replica_server.roots)
    share = api.replicated_share(name="replicated-snapshots")
    first_path = api.mountpoint(share["id"])
    write(api.server, first_path, "a.txt", "before any snapshot\n")
    early = api.create_snapshot(share["id"], name="before the replica")

    replica = api.create_replica(share["id"])
    copies = {r["id"]: r for r in api.replicas(share["id"])}
    active_id = next(i for i, r in copies.items() if r["replica_state"] == "active")
    first_ds = f"{replica_server.roots[0]}/share-{share['id']}"
    second_ds = f"{replica_server.roots[1]}/share-{replica['id']}"
    second_path = api.replica_path(replica["id"])

    # The snapshot taken before the replica came with the first copy.
    found = wait_on_every_copy(api, early["id"], set(copies))
    assert f"snap-{early['id']}" in snapshots_of(second_ds)
    by_copy = {i["share_instance_id"]: i for i in found}
    assert by_copy[active_id]["id"] == early["id"]  # the instance it had before keeps its id
    assert by_copy[replica["id"]]["provider_location"] == f"{second_ds}@snap-{early['id']}"

    # One taken now: available once on the active, then on the secondary with the next sync.
    write(api.server, first_path, "b.txt", "in the second snapshot\n")
    snap = api.create_snapshot(share["id"], name="replicated")
    assert snap["status"] == "available"
    wait_on_every_copy(api, snap["id"], set(copies))
    assert {f"snap-{early['id']}", f"snap-{snap['id']}"} <= snapshots_of(first_ds)
    assert {f"snap-{early['id']}", f"snap-{snap['id']}"} <= snapshots_of(second_ds)
    assert read_secondary(api.server, second_path, "b.txt") == "in the second snapshot\n"

    # Written after the snapshot, then the secondary is promoted.
    write(api.server, first_path, "c.txt", "after the snapshot\n")
    api.promote(replica["id"])
    assert api.mountpoint(share["id"]) == second_path
    shown = api.client.get(f"/snapshot-instances/{early['id']}").json()["snapshot_instance"]
    assert shown["share_instance_id"] == active_id and shown["status"] == "available", shown
    assert api.client.get(f"/snapshots/{snap['id']}").json()["snapshot"]["status"] == "available"
    for i in snapshot_instances(api, snap["id"]):
        assert i["status"] == "available", i
        if i["share_instance_id"] == replica["id"]:  # the new active: the share's snapshot is there now
            assert i["provider_location"] == f"{second_ds}@snap-{snap['id']}", i

    # A share made from the snapshot on the new active holds what was written before it, only.
    child = api.create_share(name="from the replicated snapshot", snapshot_id=snap["id"])
    assert child["host"].endswith(f"#{replica_server.pools[1]}"), child  # made where the snapshot now lives
    api.allow(child["id"])
    child_path = api.mountpoint(child["id"])
    assert read(api.server, child_path, "a.txt") == "before any snapshot\n"
    assert read(api.server, child_path, "b.txt") == "in the second snapshot\n"
    assert "c.txt" not in nfs_ls(api.server, child_path).stdout

    # Revert on the new active to the latest snapshot: c.txt and a later file go.
    assert read(api.server, second_path, "c.txt") == "after the snapshot\n"
    write(api.server, second_path, "d.txt", "on the new active, after the snapshot\n")
    resp = api.action(share["id"], "revert", {"snapshot_id": snap["id"]})
    assert resp.status_code == 202, resp.text
    wait_for_status(api.client, f"/shares/{share['id']}", "available", timeout=120)
    listing = nfs_ls(api.server, second_path).stdout
    assert "b.txt" in listing and "c.txt" not in listing and "d.txt" not in listing, listing
    # The old active, a secondary now, follows the reverted share at the next sync
    # (from the snapshot both still hold: no full copy).
    wait_until(lambda: "c.txt" not in nfs_ls(api.server, first_path).stdout
               and nfs_ls(api.server, first_path).returncode == 0, timeout=120,
               what="the old active to follow the revert", poll=0.5)
    assert read_secondary(api.server, first_path, "b.txt") == "in the second snapshot\n"
    assert api.replica(active_id)["replica_state"] == "in_sync"

    # Deleted: gone from both copies.
    api.delete_snapshot(snap["id"])
    api.delete_snapshot(early["id"])
    for dataset in (first_ds, second_ds):
        assert not {f"snap-{early['id']}", f"snap-{snap['id']}"} & snapshots_of(dataset), dataset
    assert snapshot_instances(api, snap["id"]) == []

    api.delete_share(child["id"])
    api.remove_replicated(share["id"])
    assert leftovers(replica_server.roots) == before


def test_a_snapshot_of_a_replicated_share_is_unmanaged_only_once_its_replicas_are_gone(replica_api, replica_server):
    """Manila's rule: unmanaging a snapshot (or the share) while the share has
    replicas is refused with 409, and changes nothing -- its copies on the
    replicas would otherwise be left behind, known to no one. With the replicas
    deleted, unmanage forgets the snapshot and ZFS keeps it."""
    api, client = replica_api, replica_api.client
    before = leftovers(replica_server.roots)
    share = api.replicated_share(name="replicated-unmanage")
    snap = api.create_snapshot(share["id"], name="to unmanage")
    replica = api.create_replica(share["id"])
    copies = {r["id"] for r in api.replicas(share["id"])}
    wait_on_every_copy(api, snap["id"], copies)
    first_ds = f"{replica_server.roots[0]}/share-{share['id']}"
    second_ds = f"{replica_server.roots[1]}/share-{replica['id']}"
    tag = f"snap-{snap['id']}"

    resp = client.post(f"/snapshots/{snap['id']}/action", json={"unmanage": None})
    assert resp.status_code == 409, resp.text
    assert "has replicas" in resp.json()["conflictingRequest"]["message"], resp.json()
    resp = api.action(share["id"], "unmanage")
    assert resp.status_code == 409, resp.text
    # Nothing changed: the snapshot is available on both copies, in the API and on ZFS.
    assert client.get(f"/snapshots/{snap['id']}").json()["snapshot"]["status"] == "available"
    assert {i["status"] for i in snapshot_instances(api, snap["id"])} == {"available"}
    assert tag in snapshots_of(first_ds) and tag in snapshots_of(second_ds)
    assert api.share(share["id"])["status"] == "available"

    api.delete_replica(replica["id"])
    resp = client.post(f"/snapshots/{snap['id']}/action", json={"unmanage": None})
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/snapshots/{snap['id']}")
    assert tag in snapshots_of(first_ds)  # unmanage keeps the data
    assert snapshot_instances(api, snap["id"]) == []

    api.delete_share(share["id"])
    assert leftovers(replica_server.roots) == before
