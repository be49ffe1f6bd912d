"""Retype across backends: a volume of a type kept on ZFS, written over iSCSI, is
retyped to a type kept on the RemoteFS backend. With migration_policy `never`
the answer is 400 and nothing changes; with `on-demand` the data moves and reads
the same over NFS, the volume keeps its id and takes the new type, and the ZFS
copy goes: at once, or -- when zfs-fuse keeps the dataset busy past the delete's
retries -- marked for the driver's collector when the migration reports success,
and collected by the periodic check (never left unmarked)."""

from __future__ import annotations

import uuid

import pytest

from .migration_helpers import (  # noqa: F401 - fixtures
    NAS,
    ZFS,
    Migrations,
    hidden_volumes,
    migration_server,
    migrations,
    nas_files,
    nfs_export,
    reference_image,
    zfs_copies_collected,
    zfs_volumes,
)
from .volume_helpers import GiB, MiB, fault

pytestmark = pytest.mark.integration


def test_retype_to_another_backend_moves_the_data_only_on_demand(migrations: Migrations, migration_server,
                                                                 ganesha_factory, tmp_path):
    api, server = migrations, migration_server
    on_zfs = api.create_type(f"zfs-{uuid.uuid4().hex[:6]}", {"volume_backend_name": ZFS})
    on_nas = api.create_type(f"nas-{uuid.uuid4().hex[:6]}", {"volume_backend_name": NAS})
    reference = reference_image(tmp_path / "ref.raw", GiB, [(0, 2 * MiB), (GiB // 3, MiB), (GiB - 2 * MiB, 2 * MiB)])
    volume = api.create_volume(1, volume_type=on_zfs["id"])
    vid = volume["id"]
    assert api.volume(vid)["os-vol-host-attr:host"] == server.zfs_host
    api.write(vid, reference)  # over iSCSI

    refused = api.action(vid, "os-retype", {"new_type": on_nas["id"], "migration_policy": "never"})
    assert "Retype requires migration but is not allowed" in fault(refused, 400)
    same = api.volume(vid)
    assert (same["status"], same["volume_type"], same["migration_status"]) == ("available", on_zfs["name"], None)
    assert same["os-vol-host-attr:host"] == server.zfs_host and not hidden_volumes(api.client, vid)
    assert zfs_volumes(server, vid) == [f"{server.pool_root}/volume-{vid}"] and nas_files(server, vid) == []

    resp = api.action(vid, "os-retype", {"new_type": on_nas["id"], "migration_policy": "on-demand"})
    assert resp.status_code == 202, resp.text
    assert api.volume(vid)["status"] in ("retyping", "available")
    done = api.wait_migrated(vid)
    assert (done["migration_status"], done["status"], done["id"]) == ("success", "available", vid), done
    assert done["volume_type"] == on_nas["name"] and done["os-vol-host-attr:host"] == server.nas_host
    assert done["os-vol-mig-status-attr:name_id"] is None
    assert not hidden_volumes(api.client, vid)
    assert [n for n in nas_files(server, vid) if ".shoal-" not in n] == [f"volume-{vid}"]
    zfs_copies_collected(server, vid)
    nfs_export(ganesha_factory, server)
    api.holds(vid, reference)  # over NFS, byte for byte

    # Back to the ZFS type would need a migration again: `never` refuses it the same way.
    assert "Retype requires migration" in fault(
        api.action(vid, "os-retype", {"new_type": on_zfs["id"], "migration_policy": "never"}), 400)
    assert api.volume(vid)["volume_type"] == on_nas["name"]
    api.delete_volume(vid)
    assert nas_files(server, vid) == []
