"""Snapshots of a share: taken, listed, copied into new shares, reverted to, managed.

The data is written and read over NFS (libnfs) and the snapshots are checked
with `zfs list -t snapshot`.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from .share_helpers import (
    GiB,
    assert_nfs_writable,
    fault,
    nfs_ls,
    nfs_read,
    nfs_write,
    share_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    zfs,
    zfs_exists,
    zfs_get,
    zfs_names,
)

pytestmark = pytest.mark.integration


def snapshots_of(dataset: str) -> set[str]:
    res = zfs("list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset, check=False)
    return {name for name in res.stdout.split() if name.startswith(dataset + "@")}


def test_a_copy_outlives_its_parent(share_api):
    """Snapshot, copy into a bigger share, then delete the parent's snapshot and the
    parent itself: the copy keeps working and keeps its data."""
    api, client, server = share_api, share_api.client, share_api.server
    parent = api.create_share(size=1)
    parent_path = api.mountpoint(parent["id"])
    parent_ds = api.dataset(parent["id"])
    api.allow(parent["id"])
    assert_nfs_writable(server, parent_path, "before.txt", "written before the snapshot\n")

    resp = client.post("/snapshots", json={"snapshot": {"share_id": parent["id"], "name": "first"}})
    assert resp.status_code == 202, resp.text
    snap = resp.json()["snapshot"]
    assert snap["status"] == "creating" and snap["share_id"] == parent["id"]
    snap = wait_for_status(client, f"/snapshots/{snap['id']}", "available")
    assert snap["size"] == 1 and snap["name"] == "first"
    assert snapshots_of(parent_ds) == {f"{parent_ds}@snap-{snap['id']}"}
    assert snap["provider_location"] == f"{parent_ds}@snap-{snap['id']}"

    # Written after the snapshot: not in the copy.
    assert nfs_write(server, parent_path, "after.txt", "too late\n").returncode == 0

    # A copy larger than the parent: the new size is honoured.
    child = api.create_share(size=3, snapshot_id=snap["id"])
    assert child["size"] == 3 and child["snapshot_id"] == snap["id"]
    child_ds = api.dataset(child["id"])
    assert int(zfs_get(child_ds, "refquota")) == 3 * GiB
    child_path = api.mountpoint(child["id"])
    api.allow(child["id"])
    assert nfs_read(server, child_path, "before.txt").stdout == "written before the snapshot\n"
    assert "after.txt" not in nfs_ls(server, child_path).stdout
    assert snapshots_of(child_ds) == set()  # the copy carries no snapshot of its parent

    # A copy smaller than the snapshot is refused.
    fault(client.post("/shares", json={"share": {"share_proto": "NFS", "size": 0, "snapshot_id": snap["id"]}}), 400)

    # The parent cannot go while it has a snapshot ...
    fault(client.delete(f"/shares/{parent['id']}"), 403)
    assert zfs_exists(parent_ds)
    # ... but can once the snapshot is gone, although the copy still exists.
    api.delete_snapshot(snap["id"])
    assert snapshots_of(parent_ds) == set()
    api.delete_share(parent["id"])
    assert not zfs_exists(parent_ds)

    # The copy is untouched: same data, still writable.
    assert api.share(child["id"])["status"] == "available"
    assert nfs_read(server, child_path, "before.txt").stdout == "written before the snapshot\n"
    assert_nfs_writable(server, child_path, "child.txt")
    api.delete_share(child["id"])
    assert not zfs_exists(child_ds)


def test_revert_to_the_latest_snapshot_only(share_api):
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share()
    path = api.mountpoint(share["id"])
    api.allow(share["id"])
    assert_nfs_writable(server, path, "one.txt", "one\n")
    older = api.create_snapshot(share["id"], name="older")
    assert_nfs_writable(server, path, "two.txt", "two\n")
    latest = api.create_snapshot(share["id"], name="latest")
    # Written after the latest snapshot straight into the dataset, not over NFS: ganesha
    # keeps files it wrote open, and on zfs-fuse a rollback under an open file wedges the
    # daemon (see test_revert_after_writes_over_nfs).
    (Path(path) / "three.txt").write_text("three\n")

    # Not the latest: refused, nothing changes.
    resp = api.action(share["id"], "revert", {"snapshot_id": older["id"]})
    assert resp.status_code in (400, 409), resp.text
    fault(resp, resp.status_code)
    assert api.share(share["id"])["status"] == "available"
    assert (Path(path) / "three.txt").read_text() == "three\n"

    # The latest: what was written after it disappears; what was before stays.
    resp = api.action(share["id"], "revert", {"snapshot_id": latest["id"]})
    assert resp.status_code == 202, resp.text
    wait_for_status(client, f"/shares/{share['id']}", "available")
    assert wait_for_status(client, f"/snapshots/{latest['id']}", "available")
    listing = nfs_ls(server, path)
    assert listing.returncode == 0, listing.stderr
    assert "three.txt" not in listing.stdout and "two.txt" in listing.stdout
    assert not (Path(path) / "three.txt").exists()
    assert nfs_read(server, path, "two.txt").stdout == "two\n"
    assert nfs_read(server, path, "one.txt").stdout == "one\n"
    # Still exported with its rules after the rollback.
    assert_nfs_writable(server, path, "four.txt")

    # A snapshot of another share is refused.
    other = api.create_share()
    fault(api.action(other["id"], "revert", {"snapshot_id": latest["id"]}), 400)
    # Deleting the share is refused while it has snapshots.
    fault(client.delete(f"/shares/{share['id']}"), 403)
    api.delete_snapshot(latest["id"])
    fault(client.delete(f"/shares/{share['id']}"), 403)
    api.delete_snapshot(older["id"])
    api.delete_share(share["id"])
    api.delete_share(other["id"])


def test_revert_after_writes_over_nfs(share_api, zfs_available):
    """What users do: write over NFS, then revert. The reverted share and every other
    dataset must stay usable afterwards (delete it, create a new one). On zfs-fuse a
    rollback under an open file wedged the whole daemon; the driver now unexports and
    remounts first, and this test would hang if that regressed."""
    api, client, server = share_api, share_api.client, share_api.server
    share = api.create_share()
    path = api.mountpoint(share["id"])
    api.allow(share["id"])
    assert_nfs_writable(server, path, "before.txt", "before\n")
    snap = api.create_snapshot(share["id"])
    assert_nfs_writable(server, path, "after.txt", "after\n")
    assert nfs_read(server, path, "after.txt").stdout == "after\n"

    resp = api.action(share["id"], "revert", {"snapshot_id": snap["id"]})
    assert resp.status_code == 202, resp.text
    wait_for_status(client, f"/shares/{share['id']}", "available")
    assert "after.txt" not in nfs_ls(server, path).stdout
    assert nfs_read(server, path, "before.txt").stdout == "before\n"
    assert_nfs_writable(server, path, "again.txt")

    api.delete_snapshot(snap["id"])
    api.delete_share(share["id"])
    assert not zfs_exists(api.dataset(share["id"]))
    fresh = api.create_share()  # ZFS still answers: nothing is wedged
    api.delete_share(fresh["id"])


def test_snapshot_update_list_and_detail(share_api):
    api, client = share_api, share_api.client
    share = api.create_share()
    tag = uuid.uuid4().hex[:8]
    first = api.create_snapshot(share["id"], name=f"snap-{tag}-a", description="a")
    second = api.create_snapshot(share["id"], name=f"snap-{tag}-b")

    resp = client.put(f"/snapshots/{first['id']}", json={"snapshot": {"display_name": f"snap-{tag}-renamed",
                                                                      "display_description": "new words"}})
    assert resp.status_code == 200, resp.text
    shown = client.get(f"/snapshots/{first['id']}").json()["snapshot"]
    assert shown["name"] == f"snap-{tag}-renamed" and shown["description"] == "new words"
    assert shown["share_id"] == share["id"] and shown["status"] == "available"
    fault(client.put(f"/snapshots/{first['id']}", json={"snapshot": {"size": 5}}), 400)

    summary = client.get("/snapshots", params={"share_id": share["id"]}).json()["snapshots"]
    assert {s["id"] for s in summary} == {first["id"], second["id"]}
    assert all(set(s) == {"id", "name", "links"} for s in summary)
    detail = client.get("/snapshots/detail", params={"share_id": share["id"], "sort_key": "created_at",
                                                     "sort_dir": "asc"}).json()["snapshots"]
    assert [s["id"] for s in detail] == [first["id"], second["id"]]
    assert all(s["share_size"] == 1 and s["status"] == "available" for s in detail)
    named = client.get("/snapshots/detail", params={"name": f"snap-{tag}-b"}).json()["snapshots"]
    assert [s["id"] for s in named] == [second["id"]]
    fault(client.get(f"/snapshots/{uuid.uuid4()}"), 404)

    api.delete_snapshot(first["id"])
    api.delete_snapshot(second["id"])
    assert snapshots_of(api.dataset(share["id"])) == set()
    api.delete_share(share["id"])


def test_unmanage_then_manage_a_snapshot(share_api):
    api, client = share_api, share_api.client
    share = api.create_share()
    dataset = api.dataset(share["id"])
    snap = api.create_snapshot(share["id"])
    zfs_name = f"{dataset}@snap-{snap['id']}"

    # Unmanage: Shoal forgets it, ZFS keeps it.
    resp = client.post(f"/snapshots/{snap['id']}/action", json={"unmanage": None})
    assert resp.status_code == 202, resp.text
    wait_gone(client, f"/snapshots/{snap['id']}")
    assert snapshots_of(dataset) == {zfs_name}

    # A hand-made snapshot, taken over by its ZFS name: renamed to Shoal's tag.
    zfs("snapshot", f"{dataset}@legacy")
    resp = client.post("/snapshots/manage", json={"snapshot": {
        "share_id": share["id"], "provider_location": f"{dataset}@legacy", "name": "adopted"}})
    assert resp.status_code == 202, resp.text  # Manila's: accepted, managed in the background
    adopted = wait_for_status(client, f"/snapshots/{resp.json()['snapshot']['id']}", "available")
    assert adopted["name"] == "adopted"
    assert adopted["provider_location"] == f"{dataset}@snap-{adopted['id']}"
    assert snapshots_of(dataset) == {zfs_name, f"{dataset}@snap-{adopted['id']}"}

    # The one unmanaged earlier can come back too.
    resp = client.post("/snapshots/manage", json={"snapshot": {"share_id": share["id"], "provider_location": zfs_name}})
    assert resp.status_code == 202, resp.text
    back = wait_for_status(client, f"/snapshots/{resp.json()['snapshot']['id']}", "available")
    assert back["provider_location"] == f"{dataset}@snap-{back['id']}"

    # A snapshot that does not exist ends in manage_error, with nothing renamed.
    resp = client.post("/snapshots/manage", json={"snapshot": {"share_id": share["id"],
                                                               "provider_location": f"{dataset}@nope"}})
    assert resp.status_code == 202, resp.text
    wait_for_status(client, f"/snapshots/{resp.json()['snapshot']['id']}", "manage_error")
    api.delete_snapshot(resp.json()["snapshot"]["id"])

    api.delete_snapshot(adopted["id"])
    api.delete_snapshot(back["id"])
    assert snapshots_of(dataset) == set()
    api.delete_share(share["id"])
    assert dataset not in zfs_names(api.server.pool_root)
