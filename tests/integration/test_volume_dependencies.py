"""Deletes never wedge on ZFS dependencies, and never leak.

The story: a volume with data gets a clone, and a snapshot from which another
volume is made. Through the API the user deletes the snapshot and then the
volume itself: both deletes succeed (404 afterwards) although ZFS still needs
them for the clones, which keep their data and stay independent of each
other. Once the clones are deleted too, nothing of any of them is left under
the backend's dataset.
"""

from __future__ import annotations

import uuid

import pytest

from .volume_helpers import (
    HOST1,
    MiB,
    Lun,
    fault,
    pattern,
    sha256,
    volume_api,  # noqa: F401 - fixture
    wait_until,
    zfs_get,
    zfs_names,
)

pytestmark = pytest.mark.integration


def write(volume_api, volume_id: str, data: bytes) -> None:
    attachment = volume_api.attach(volume_id, HOST1)
    try:
        Lun.of(attachment["connection_info"]).write(HOST1, data)
    finally:
        volume_api.detach(attachment["id"])


def read(volume_api, volume_id: str) -> bytes:
    attachment = volume_api.attach(volume_id, HOST1)
    try:
        return Lun.of(attachment["connection_info"]).read(HOST1, MiB)
    finally:
        volume_api.detach(attachment["id"])


def test_deleting_origins_of_clones(volume_api):
    root, tag = volume_api.server.pool_root, uuid.uuid4().hex[:6]
    before = zfs_names(root)
    original = pattern(f"origin-{tag}")

    origin = volume_api.create_volume(1, name=f"origin-{tag}")
    write(volume_api, origin["id"], original)
    clone = volume_api.create_volume(1, source_volid=origin["id"], name=f"clone-{tag}")
    snap = volume_api.create_snapshot(origin["id"], name=f"snap-{tag}")
    from_snap = volume_api.create_volume(1, snapshot_id=snap["id"], name=f"from-snap-{tag}")

    # ZFS-wise both new volumes are clones of the origin's snapshots.
    assert volume_api.dataset(clone["id"]) in zfs_names(root)
    assert zfs_get(volume_api.dataset(clone["id"]), "origin").startswith(volume_api.dataset(origin["id"]) + "@")
    assert zfs_get(volume_api.dataset(from_snap["id"]), "origin").startswith(volume_api.dataset(origin["id"]) + "@")

    # Delete the snapshot a volume was made from: accepted and gone.
    volume_api.delete_snapshot(snap["id"])
    fault(volume_api.client.get(f"/snapshots/{snap['id']}"), 404)
    # Delete the volume that has a clone: accepted and gone.
    volume_api.delete_volume(origin["id"])
    fault(volume_api.client.get(f"/volumes/{origin['id']}"), 404)
    assert origin["id"] not in {v["id"] for v in volume_api.client.get("/volumes").json()["volumes"]}

    # The clones still hold the origin's data, and are independent of each other.
    assert sha256(read(volume_api, clone["id"])) == sha256(original)
    assert sha256(read(volume_api, from_snap["id"])) == sha256(original)
    changed = pattern(f"changed-{tag}")
    write(volume_api, clone["id"], changed)
    assert sha256(read(volume_api, clone["id"])) == sha256(changed)
    assert sha256(read(volume_api, from_snap["id"])) == sha256(original)
    # ... and can themselves be snapshotted and cloned.
    snap2 = volume_api.create_snapshot(clone["id"])
    volume_api.delete_snapshot(snap2["id"])

    # Delete the clones: nothing of any of them is left under the backend's dataset.
    volume_api.delete_volume(clone["id"])
    volume_api.delete_volume(from_snap["id"])
    ours = (origin["id"], clone["id"], from_snap["id"], snap["id"], snap2["id"])
    wait_until(lambda: not [n for n in zfs_names(root) if any(i in n for i in ours)], timeout=30,
               what="every dataset and snapshot of the deleted volumes destroyed")
    assert zfs_names(root) == before
