"""A volume moved between a RemoteFS and a ZFS backend and back with
os-migrate_volume: written over NFS before, read over iSCSI on ZFS and over NFS
again after, byte for byte, with the same id all along; the data takes the
volume's own name on each backend (no name_id), and nothing of the old copy or of
the hidden target is left on either side. Then what Cinder refuses: the same host, an unknown host, a volume with snapshots or attached, a
flag that is not a boolean -- each 4xx changing nothing."""

from __future__ import annotations

import pytest

from .migration_helpers import (  # noqa: F401 - fixtures
    Migrations,
    hidden_volumes,
    migration_server,
    migrations,
    nas_files,
    nfs_export,
    reference_image,
    zfs_volumes,
)
from .volume_helpers import GiB, MiB, cinder, fault

pytestmark = pytest.mark.integration


def test_a_volume_goes_to_zfs_and_back_with_its_bytes_and_its_id(migrations: Migrations, migration_server,
                                                                  ganesha_factory, tmp_path):
    api, server = migrations, migration_server
    nfs_export(ganesha_factory, server)
    reference = reference_image(tmp_path / "ref.raw", GiB, [(0, 4 * MiB), (GiB // 2, 3 * MiB), (GiB - MiB, MiB)])
    volume = api.create_volume(1, name="travels", metadata={"k": "v"})
    vid = volume["id"]
    shown = api.volume(vid)
    assert shown["os-vol-host-attr:host"] == server.nas_host  # the share has the most room
    assert (shown["migration_status"], shown["os-vol-mig-status-attr:migstat"]) == (None, None)
    api.write(vid, reference)

    resp = api.migrate(vid, server.zfs_host)
    assert resp.status_code == 202, resp.text
    moved = api.wait_migrated(vid)
    assert moved["migration_status"] == "success" == moved["os-vol-mig-status-attr:migstat"], moved
    assert (moved["id"], moved["status"], moved["name"], moved["metadata"]) == (vid, "available", "travels", {"k": "v"})
    assert moved["os-vol-host-attr:host"] == server.zfs_host
    assert moved["os-vol-mig-status-attr:name_id"] is None  # ZFS renamed the copy to the volume's own name
    assert "os-vol-mig-status-attr:progress" not in moved
    assert not hidden_volumes(api.client, vid)
    assert nas_files(server, vid) == []  # the old copy is gone
    assert zfs_volumes(server, vid) == [f"{server.pool_root}/volume-{vid}"]
    api.holds(vid, reference)  # over iSCSI

    # Back, locked (maintenance meanwhile) and by a host copy as asked.
    resp = api.migrate(vid, server.nas_host, lock_volume=True, force_host_copy="true")
    assert resp.status_code == 202, resp.text
    assert api.volume(vid)["status"] in ("maintenance", "available")
    back = api.wait_migrated(vid)
    assert (back["migration_status"], back["status"]) == ("success", "available"), back
    assert back["os-vol-host-attr:host"] == server.nas_host and back["os-vol-mig-status-attr:name_id"] is None
    assert zfs_volumes(server, vid) == []
    assert [n for n in nas_files(server, vid) if ".shoal-" not in n] == [f"volume-{vid}"]
    # The file under the volume's name is a new one, made behind the NFS server's back:
    # a ganesha that served the old one keeps its handle cached (NFS3ERR_STALE); a fresh
    # one reads what a compute host mounting the share now would.
    nfs_export(ganesha_factory, server)
    api.holds(vid, reference)  # over NFS
    api.delete_volume(vid)
    assert nas_files(server, vid) == []


def test_what_cannot_be_migrated_is_refused_and_nothing_changes(migrations: Migrations, migration_server):
    api, server = migrations, migration_server
    volume = api.create_volume(1)
    vid = volume["id"]
    before = api.volume(vid)

    assert "different than the current host" in fault(api.migrate(vid, server.nas_host), 400)
    assert "No available service named" in fault(api.migrate(vid, "shoal@nowhere#pool"), 400)
    assert "boolean" in fault(api.migrate(vid, server.zfs_host, force_host_copy="perhaps"), 400)
    assert "host" in fault(api.action(vid, "os-migrate_volume", {}), 400)
    assert "Additional properties" in fault(api.action(vid, "os-migrate_volume",
                                                       {"host": server.zfs_host, "speed": "fast"}), 400)
    with cinder(server, version="3.15") as old:  # cluster came with 3.16
        assert fault(old.post(f"/volumes/{vid}/action", json={"os-migrate_volume": {
            "host": server.zfs_host, "cluster": "c"}}), 400)

    snap = api.create_snapshot(vid)
    assert "must not have snapshots" in fault(api.migrate(vid, server.zfs_host), 400)
    api.delete_snapshot(snap["id"])

    attachment = api.attach(vid)
    assert "attached" in fault(api.migrate(vid, server.zfs_host), 400)
    api.detach(attachment["id"])

    completion = api.action(vid, "os-migrate_volume_completion", {"new_volume": vid})
    assert "completes each migration itself" in fault(completion, 400)

    after = api.volume(vid)
    for key in ("status", "migration_status", "os-vol-host-attr:host", "os-vol-mig-status-attr:name_id"):
        assert after[key] == before[key], key
    assert not hidden_volumes(api.client, vid)
