"""A volume moved between two ZFS pools by os-migrate_volume goes by `zfs send |
zfs receive` (the driver-assisted path), and takes its snapshots along: written
over iSCSI between two snapshots, it is read back over iSCSI after the move
byte for byte, and a volume made from each snapshot in the new pool holds what
the volume held when the snapshot was taken. The volume keeps its id (its data
takes the volume's own name in the new pool, no name_id), and nothing of the
old copy, of the hidden target or of the migration's own snapshot is left on
either pool. A host copy (force_host_copy) of a volume with snapshots is
refused, as before, changing nothing; snapshots are not made or deleted while
the volume migrates."""

from __future__ import annotations

import os
import shutil

import pytest

from .migration_helpers import Migrations, hidden_volumes, reference_image
from .volume_helpers import GiB, MiB, fault, wait_for_status
from .zfs_migration_helpers import (  # noqa: F401 - fixtures
    PairServer,
    migration_points,
    names_of,
    pair,
    pair_server,
    second_zpool,
    write_sparse,
)

pytestmark = pytest.mark.integration


def changed(reference, path, chunks):
    """A copy of `reference` with random data at each (offset, length)."""
    shutil.copyfile(reference, path)
    with path.open("r+b") as fh:
        for offset, length in chunks:
            fh.seek(offset)
            fh.write(os.urandom(length))
    return path


def test_a_volume_moves_to_the_other_pool_with_its_snapshots(pair: Migrations, pair_server: PairServer, tmp_path):
    api, roots = pair, pair_server.roots
    first = reference_image(tmp_path / "first.raw", GiB, [(0, 2 * MiB), (GiB // 2, MiB)])
    second = changed(first, tmp_path / "second.raw", [(MiB, 2 * MiB), (GiB - MiB, MiB)])
    now = changed(second, tmp_path / "now.raw", [(0, MiB), (GiB // 4, 3 * MiB)])

    volume = api.create_volume(1, name="moving", metadata={"k": "v"})
    vid = volume["id"]
    assert api.volume(vid)["os-vol-host-attr:host"] == pair_server.host(0)
    write_sparse(api, vid, first)
    snap1 = api.create_snapshot(vid, name="one")["id"]
    write_sparse(api, vid, second)
    snap2 = api.create_snapshot(vid, name="two")["id"]
    write_sparse(api, vid, now)

    # A host copy cannot keep snapshots: refused as Cinder refuses it, nothing changed.
    resp = api.migrate(vid, pair_server.host(1), force_host_copy=True)
    assert "must not have snapshots" in fault(resp, 400)
    assert api.volume(vid)["migration_status"] is None

    resp = api.migrate(vid, pair_server.host(1))
    assert resp.status_code == 202, resp.text
    # While it migrates its snapshots stay as they are.
    refused = api.client.post("/snapshots", json={"snapshot": {"volume_id": vid}})
    if api.volume(vid)["migration_status"] in ("starting", "migrating", "completing"):
        assert "while volume is migrating" in fault(refused, 400)
    else:  # it was already over: a snapshot was made, and goes
        assert refused.status_code == 202, refused.text
        made = wait_for_status(api.client, f"/snapshots/{refused.json()['snapshot']['id']}", "available")
        api.delete_snapshot(made["id"])
    moved = api.wait_migrated(vid)
    assert moved["migration_status"] == "success" == moved["os-vol-mig-status-attr:migstat"], moved
    assert (moved["id"], moved["status"], moved["name"], moved["metadata"]) == (vid, "available", "moving", {"k": "v"})
    assert moved["os-vol-host-attr:host"] == pair_server.host(1)
    assert moved["os-vol-mig-status-attr:name_id"] is None
    assert not hidden_volumes(api.client, vid)

    # On the pools: the dataset under its own name in the second pool with the two
    # snapshots, nothing in the first, no migration snapshot anywhere.
    dataset = f"{roots[1]}/volume-{vid}"
    assert names_of(roots, vid) == sorted([dataset, f"{dataset}@snap-{snap1}", f"{dataset}@snap-{snap2}"])
    assert migration_points(roots) == []

    api.holds(vid, now)  # over iSCSI, byte for byte
    for snap_id, reference in ((snap1, first), (snap2, second)):
        assert api.client.get(f"/snapshots/{snap_id}").json()["snapshot"]["status"] == "available"
        clone = api.create_volume(1, snapshot_id=snap_id)["id"]
        assert api.volume(clone)["os-vol-host-attr:host"] == pair_server.host(1)
        api.holds(clone, reference)
        api.delete_volume(clone)

    # Back to the first pool without snapshots: the plain case.
    api.delete_snapshot(snap1)
    api.delete_snapshot(snap2)
    resp = api.migrate(vid, pair_server.host(0))
    assert resp.status_code == 202, resp.text
    back = api.wait_migrated(vid)
    assert (back["migration_status"], back["os-vol-host-attr:host"]) == ("success", pair_server.host(0)), back
    assert names_of(roots, vid) == [f"{roots[0]}/volume-{vid}"]
    api.holds(vid, now)
    api.delete_volume(vid)
    assert names_of(roots, vid) == [] and migration_points(roots) == []
