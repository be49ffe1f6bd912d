"""Snapshots of a volume, and what is made from them, checked by the data read
back over iSCSI.

The story: pattern A is written to a volume through its LUN and a snapshot is
taken; then pattern B overwrites A and the volume is extended. A volume
created from the snapshot (larger than the source) holds A and shows its own
size; a clone of the volume holds B. Reverting the volume to its latest
snapshot (3.40) brings A back and keeps the volume's current size; reverting
to an older snapshot is refused. Snapshots are listed, renamed and given
metadata. A volume with snapshots is deleted only with cascade=True.
"""

from __future__ import annotations

import uuid

import pytest

from .volume_helpers import (
    GiB,
    fault,
    pattern,
    read_through_iscsi,
    sha256,
    volume_api,  # noqa: F401 - fixture
    wait_for_status,
    wait_gone,
    write_through_iscsi,
    zfs_exists,
    zfs_names,
)

pytestmark = pytest.mark.integration


def test_snapshot_clone_revert_and_cascade(volume_api):
    client, tag = volume_api.client, uuid.uuid4().hex[:6]
    a, b = pattern(f"A-{tag}"), pattern(f"B-{tag}")
    volume = volume_api.create_volume(1, name=f"origin-{tag}")
    vid = volume["id"]

    # Pattern A, then a snapshot of it.
    write_through_iscsi(volume_api, vid, a)
    resp = client.post("/snapshots", json={"snapshot": {"volume_id": vid, "name": f"snap-a-{tag}",
                                                        "description": "holds A", "metadata": {"p": "A"}}})
    assert resp.status_code == 202, resp.text
    snap_a = resp.json()["snapshot"]
    assert snap_a["status"] == "creating" and snap_a["volume_id"] == vid and snap_a["size"] == 1
    snap_a = wait_for_status(client, f"/snapshots/{snap_a['id']}", "available")
    assert any(n.startswith(f"{volume_api.dataset(vid)}@") for n in zfs_names(volume_api.dataset(vid), "snapshot"))

    # Pattern B over A, and the volume grows to 2 GiB.
    write_through_iscsi(volume_api, vid, b)
    resp = volume_api.action(vid, "os-extend", {"new_size": 2})
    assert resp.status_code == 202, resp.text
    volume_api.wait_volume(vid, "available")
    assert volume_api.volume(vid)["size"] == 2

    # From the snapshot, at 3 GiB: A, and the size asked for.
    from_snap = volume_api.create_volume(3, snapshot_id=snap_a["id"], name=f"from-snap-{tag}")
    assert from_snap["snapshot_id"] == snap_a["id"] and from_snap["size"] == 3
    data, capacity = read_through_iscsi(volume_api, from_snap["id"])
    assert sha256(data) == sha256(a) and capacity == 3 * GiB
    # Smaller than the snapshot: refused.
    fault(client.post("/volumes", json={"volume": {"size": 0, "snapshot_id": snap_a["id"]}}), 400)

    # A clone of the volume: B, at the source's size.
    clone = volume_api.create_volume(None, source_volid=vid, name=f"clone-{tag}")
    assert clone["source_volid"] == vid and clone["size"] == 2
    data, capacity = read_through_iscsi(volume_api, clone["id"])
    assert sha256(data) == sha256(b) and capacity == 2 * GiB

    # Revert (3.40) to the latest snapshot: A again, and still 2 GiB.
    fault(client.post(f"/volumes/{vid}/action", json={"revert": {"snapshot_id": snap_a["id"]}},
                      headers={"OpenStack-API-Version": "volume 3.39"}), 400)
    resp = volume_api.action(vid, "revert", {"snapshot_id": snap_a["id"]})
    assert resp.status_code == 202, resp.text
    reverted = volume_api.wait_volume(vid, "available")
    assert reverted["size"] == 2
    data, capacity = read_through_iscsi(volume_api, vid)
    assert sha256(data) == sha256(a) and capacity == 2 * GiB
    assert wait_for_status(client, f"/snapshots/{snap_a['id']}", "available")["status"] == "available"
    # ... and the clone and the volume from the snapshot kept their data.
    assert sha256(read_through_iscsi(volume_api, clone["id"])[0]) == sha256(b)
    assert sha256(read_through_iscsi(volume_api, from_snap["id"])[0]) == sha256(a)

    # A newer snapshot makes snap_a not the latest: reverting to it is refused.
    snap_new = volume_api.create_snapshot(vid, name=f"snap-new-{tag}")
    assert "latest" in fault(volume_api.action(vid, "revert", {"snapshot_id": snap_a["id"]}), 400)
    assert volume_api.volume(vid)["status"] == "available"
    # A snapshot of another volume is refused too.
    fault(volume_api.action(clone["id"], "revert", {"snapshot_id": snap_new["id"]}), 400)

    # Listing, detail, filters, update and metadata.
    listed = client.get("/snapshots", params={"volume_id": vid}).json()["snapshots"]
    assert {s["id"] for s in listed} == {snap_a["id"], snap_new["id"]}
    detail = client.get("/snapshots/detail", params={"name": f"snap-a-{tag}"}).json()["snapshots"]
    assert [(s["id"], s["description"], s["metadata"]) for s in detail] == [(snap_a["id"], "holds A", {"p": "A"})]
    by_name = client.get("/snapshots", params={"volume_id": vid, "sort_key": "name", "sort_dir": "asc"})
    assert [s["name"] for s in by_name.json()["snapshots"]] == [f"snap-a-{tag}", f"snap-new-{tag}"]
    resp = client.put(f"/snapshots/{snap_new['id']}", json={"snapshot": {"name": f"renamed-{tag}",
                                                                         "description": "newer"}})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["snapshot"]["name"], resp.json()["snapshot"]["description"]) == (f"renamed-{tag}", "newer")
    meta = f"/snapshots/{snap_new['id']}/metadata"
    assert client.post(meta, json={"metadata": {"x": "1"}}).json() == {"metadata": {"x": "1"}}
    assert client.post(meta, json={"metadata": {"y": "2"}}).json() == {"metadata": {"x": "1", "y": "2"}}
    assert client.put(meta, json={"metadata": {"z": "3"}}).json() == {"metadata": {"z": "3"}}
    assert client.get(meta).json() == {"metadata": {"z": "3"}}
    fault(client.put(f"/snapshots/{snap_new['id']}", json={"snapshot": {"size": 9}}), 400)

    # Delete the volume: refused while it has snapshots, done with cascade=True.
    assert "snapshots" in fault(client.delete(f"/volumes/{vid}"), 400)
    assert volume_api.volume(vid)["status"] == "available"
    volume_api.delete_volume(vid, cascade="True")
    for snap in (snap_a, snap_new):
        wait_gone(client, f"/snapshots/{snap['id']}")
    # The clones still read their data although their origins were deleted.
    assert sha256(read_through_iscsi(volume_api, clone["id"])[0]) == sha256(b)
    assert sha256(read_through_iscsi(volume_api, from_snap["id"])[0]) == sha256(a)

    volume_api.delete_volume(clone["id"])
    volume_api.delete_volume(from_snap["id"])
    for made in (vid, clone["id"], from_snap["id"]):
        assert not zfs_exists(volume_api.dataset(made))
    leftovers = [n for n in zfs_names(volume_api.server.pool_root)
                 if any(i in n for i in (vid, clone["id"], from_snap["id"]))]
    assert leftovers == [], leftovers
