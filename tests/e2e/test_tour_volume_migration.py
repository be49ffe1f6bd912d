"""Client tour, volume migration and retype with the unmodified `openstack`
client: a volume of the default type (on the ZFS backend `test`) moved to the
RemoteFS backend `nas` with `openstack volume migrate --host shoal@nas#<pool>`,
then retyped to a type kept on ZFS with `openstack volume set --type T
--retype-policy on-demand`, which moves it back; `--retype-policy never` to a
type on the other backend fails and changes nothing. The data is written into
the volume's file on the storage host and compared byte for byte there
(qemu-img compare) after each move; the copy left behind goes each time."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.e2e.tour_fixtures import (
    NAS_BACKEND,
    VOLUMES,
    remove,
    wait_status,
    wait_until,
)

pytestmark = pytest.mark.e2e
MiB = 1024**2
GiB = 1024**3
MOVE = 900.0  # one migration of a 1 GiB volume on a shared 2-core machine (zfs-fuse)


def zfs_file(tour, volume_id: str) -> Path | None:
    """The ZFS volume's data file on the storage host (zfs-fuse: one file per dataset), None when gone."""
    found = subprocess.run(["zfs", "get", "-H", "-o", "value", "mountpoint",
                            f"{tour.server.pool_root}/volume-{volume_id}"], capture_output=True, text=True, check=False)
    return Path(found.stdout.strip()) / "volume.raw" if found.returncode == 0 else None


def zfs_copy_gone(tour, volume_id: str) -> bool:
    """No dataset of the volume on ZFS, or one marked for Shoal's collector (then it goes by itself)."""
    mark = subprocess.run(["zfs", "get", "-H", "-o", "value,source", "shoal:deleted",
                           f"{tour.server.pool_root}/volume-{volume_id}"], capture_output=True, text=True, check=False)
    if mark.returncode != 0:
        return True
    assert mark.stdout.split() == ["yes", "local"], f"the old ZFS copy of {volume_id} is left unmarked"
    return False


def same_bytes(reference: Path, path: Path) -> None:
    done = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", str(reference), str(path)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def migrated(tour, volume_id: str) -> dict:
    """`openstack volume show` (admin) once the migration ended and the volume is steady."""
    admin = tour.sdk("admin").block_storage

    def ended():
        volume = admin.get_volume(volume_id)
        return volume.migration_status in ("success", "error") and volume.status == "available"
    wait_until(f"the migration of {volume_id} to end", ended, timeout=MOVE, interval=1.0)
    return tour.osc_json("admin", "volume", "show", volume_id)


@pytest.fixture
def zfs_type(tour):
    """A public type kept on the ZFS backend `test`."""
    made = tour.osc_json("admin", "volume", "type", "create", "--public", "--property",
                         "volume_backend_name=test", f"zfs-{uuid.uuid4().hex[:6]}")
    yield made["name"]
    tour.osc("admin", "volume", "type", "delete", made["id"], check=False)


@pytest.fixture
def nas_only_type(tour):
    made = tour.osc_json("admin", "volume", "type", "create", "--public", "--property",
                         f"volume_backend_name={NAS_BACKEND}", f"nas-{uuid.uuid4().hex[:6]}")
    yield made["name"]
    tour.osc("admin", "volume", "type", "delete", made["id"], check=False)


def test_volume_migrate_and_retype_on_demand_move_the_data(tour, zfs_type, nas_only_type, tmp_path):
    a = tour.sdk("a-member").block_storage
    volume_id = None
    try:
        created = tour.osc_json("a-member", "volume", "create", "--size", "1", "travelling")
        volume_id = created["id"]
        wait_status(a.get_volume, volume_id, "available")
        shown = tour.osc_json("admin", "volume", "show", volume_id)
        assert shown["os-vol-host-attr:host"].startswith("shoal@test#")

        # What a guest wrote: random data at the start, the middle and the end.
        reference = tmp_path / "reference.raw"
        with reference.open("wb") as ref, zfs_file(tour, volume_id).open("r+b") as disk:
            ref.truncate(GiB)
            for offset, length in ((0, 2 * MiB), (GiB // 2, MiB), (GiB - MiB, MiB)):
                chunk = os.urandom(length)
                for out in (ref, disk):
                    out.seek(offset)
                    out.write(chunk)

        pools = [p["Name"] for p in tour.osc_json("admin", "volume", "backend", "pool", "list")]
        nas_pool = next(p for p in pools if p.startswith(f"shoal@{NAS_BACKEND}#"))
        tour.osc("admin", "volume", "migrate", "--host", nas_pool, volume_id)
        moved = migrated(tour, volume_id)
        migstat = "os-vol-mig-status-attr:migstat"  # the client shows migration_status under Cinder's own key
        assert (moved[migstat], moved["os-vol-host-attr:host"]) == ("success", nas_pool), moved
        assert moved["id"] == volume_id and moved["name"] == "travelling"
        same_bytes(reference, Path(tour.nas_dir) / f"volume-{volume_id}")
        wait_until("the ZFS copy to go", lambda: zfs_copy_gone(tour, volume_id), timeout=MOVE, interval=1.0)

        # `never` refuses a retype that needs a migration: the client reports the failure, nothing changes.
        refused = tour.osc_fails("a-member", "volume", "set", "--type", zfs_type, "--retype-policy", "never",
                                 volume_id)
        assert "Retype requires migration" in refused, refused
        same = tour.osc_json("admin", "volume", "show", volume_id)
        assert (same["type"], same["os-vol-host-attr:host"], same["status"]) == (moved["type"], nas_pool, "available")

        # The volume's owner retypes it on demand: the data moves back to ZFS with the new type.
        tour.osc("a-member", "volume", "set", "--type", zfs_type, "--retype-policy", "on-demand", volume_id)
        back = migrated(tour, volume_id)
        assert back[migstat] == "success" and back["type"] == zfs_type, back
        assert back["os-vol-host-attr:host"].startswith("shoal@test#")
        same_bytes(reference, zfs_file(tour, volume_id))
        assert not list(Path(tour.nas_dir).glob(f"volume-{volume_id}*"))

        # The member's view: the same volume, its new type, no migration details.
        seen = tour.osc_json("a-member", "volume", "show", volume_id)
        assert (seen["id"], seen["type"], seen["status"]) == (volume_id, zfs_type, "available")
        assert seen.get("os-vol-host-attr:host") is None and seen.get(migstat) is None
        assert "Retype requires migration" in tour.osc_fails(
            "a-member", "volume", "set", "--type", nas_only_type, "--retype-policy", "never", volume_id)

        tour.osc("a-member", "volume", "delete", volume_id)
        wait_until("the volume to go", lambda: a.find_volume(volume_id) is None, timeout=MOVE)
        wait_until("its ZFS data to go", lambda: zfs_copy_gone(tour, volume_id), timeout=MOVE, interval=1.0)
        volume_id = None
    finally:
        if volume_id is not None:
            remove(tour.sdk("admin").block_storage, VOLUMES, [volume_id])
