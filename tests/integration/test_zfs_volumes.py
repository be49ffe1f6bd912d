"""Volumes on a real zfs-fuse pool: one sparse file per dataset (file mode).

The driver runs its real commands through `LocalHost` on the per-test dataset
of the `zfs_root` fixture. Data is written into and read from `volume.raw`
directly (test set-up only; attach over iSCSI/NFS is the export helpers' and
the lead's end-to-end tests). The export helpers here are small recording
fakes: the real tgt helper is being written separately, and wiring the two
together is tested later.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from shoal.drivers.zfs.config import ZfsBackendConfig
from shoal.drivers.base import InvalidRequest, UnsafeToManage
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfs.volumes import ZfsVolumeDriver
from shoal.exports.iscsi.base import IscsiHelper, Portal
from shoal.exports.nfs.base import NfsHelper
from shoal.hosts import LocalHost

pytestmark = pytest.mark.integration

GiB = 1024**3
MiB = 1024**2


# ---- helpers (also used by test_zfs_volume_chains.py) ------------------------------------------


class RecordingIscsi(IscsiHelper):
    """A stand-in for the tgt helper: records calls, and whether the backing
    file still existed when its target was removed."""

    name = "recording"

    def __init__(self):
        self.calls: list[tuple] = []
        self.targets: dict = {}

    def problems(self):
        return []

    def start(self):
        pass

    def portals(self):
        return [Portal("127.0.0.1", 3260)]

    def apply(self, target):
        self.calls.append(("apply", target.key))
        self.targets[target.key] = target

    def remove(self, key):
        target = self.targets.pop(key, None)
        self.calls.append(("remove", key, bool(target and os.path.exists(target.backing))))

    def iqns(self):
        return [target.iqn for target in self.targets.values()]

    def ensure(self, targets, fresh=False):
        for target in targets:
            self.apply(target)

    def resize(self, key):
        self.calls.append(("resize", key))


class RecordingNfs(NfsHelper):
    name = "recording"

    def __init__(self):
        self.exports: dict = {}

    def problems(self):
        return []

    def start(self):
        pass

    def apply(self, export):
        self.exports[export.key] = export
        return {}

    def remove(self, export):
        self.exports.pop(export.key, None)

    def exported_paths(self):
        return {export.path for export in self.exports.values()}

    def ensure(self, exports, fresh=False):
        for export in exports:
            self.apply(export)


def zfs(*args: str, check: bool = True) -> str:
    res = subprocess.run(["zfs", *args], capture_output=True, text=True, timeout=60)
    if check:
        assert res.returncode == 0, f"zfs {' '.join(args)}: {res.stderr}"
    return res.stdout


def everything_under(root: str) -> set[str]:
    """Every dataset and snapshot below `root` (not `root` itself)."""
    names = zfs("list", "-H", "-o", "name", "-t", "all", "-r", root).split()
    return {n for n in names if n != root}


def make_driver(root: str, export: str = "iscsi", **settings) -> ZfsVolumeDriver:
    config = ZfsBackendConfig(pools=[root], volume_mode="file", volume_export=export, **settings)
    return ZfsVolumeDriver("zfs-test", config, LocalHost(), iscsi=RecordingIscsi(), nfs=RecordingNfs())


def vol(zpool: str, id_: str, size: int = 1, **specs: str) -> VolumeRef:
    return VolumeRef(id_, zpool, size, extra_specs=dict(specs))


def file_of(driver: ZfsVolumeDriver, volume: VolumeRef) -> str:
    return driver.layout.backing(driver.dataset_name(volume))


def write_at(path: str, offset: int, data: bytes) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_at(path: str, offset: int, length: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(offset)
        return fh.read(length)


PATTERN = bytes(range(256)) * 16  # 4 KiB
OFFSETS = (0, 300 * MiB + 7, GiB - 64 * 1024)  # the last block of a 1 GiB volume


def write_pattern(path: str, tag: bytes) -> None:
    for offset in OFFSETS:
        write_at(path, offset, tag + PATTERN)


def has_pattern(path: str, tag: bytes) -> bool:
    return all(read_at(path, offset, len(tag) + len(PATTERN)) == tag + PATTERN for offset in OFFSETS)


@pytest.fixture
def driver(zfs_root):
    return make_driver(zfs_root)


# ---- create -------------------------------------------------------------------------------------


def test_create_makes_one_sparse_file_of_the_exact_size(driver, zpool, zfs_root):
    a = vol(zpool, "a", 2)
    result = driver.create_volume(a)
    assert result.provider_location == f"{zfs_root}/volume-a" and result.size_gb == 2
    path = file_of(driver, a)
    assert path == f"/{zfs_root}/volume-a/volume.raw"
    st = os.stat(path)
    assert st.st_size == 2 * GiB
    assert st.st_blocks * 512 < MiB  # sparse
    assert os.listdir(os.path.dirname(path)) == ["volume.raw"]
    assert zfs("get", "-H", "-p", "-o", "value", "refreservation", result.provider_location).strip() in ("0", "none")


def test_thick_volume_reserves_its_size(driver, zpool, zfs_root):
    """Thick = refreservation on the dataset (fallocate is not supported on
    zfs-fuse's FUSE mount; the file stays sparse, the pool guarantees the space)."""
    thick = vol(zpool, "thick", 1, **{"provisioning:type": "thick"})
    driver.create_volume(thick)
    dataset = driver.dataset_name(thick)
    assert int(zfs("get", "-H", "-p", "-o", "value", "refreservation", dataset)) == GiB
    driver.extend_volume(thick, 2)
    assert int(zfs("get", "-H", "-p", "-o", "value", "refreservation", dataset)) == 2 * GiB
    # Retype back to thin drops the reservation; and again to thick sets it.
    thin = vol(zpool, "thick", 2)
    assert driver.retype(thin, {"provisioning:type": "thin", "compression": "<is> True"}) is True
    assert zfs("get", "-H", "-p", "-o", "value", "refreservation", dataset).strip() in ("0", "none")
    assert zfs("get", "-H", "-o", "value", "compression", dataset).strip() == "on"
    assert driver.retype(thin, {"thick_provisioning": "<is> True"}) is True
    assert int(zfs("get", "-H", "-p", "-o", "value", "refreservation", dataset)) == 2 * GiB


def test_contradicting_specs_are_refused(driver):
    with pytest.raises(InvalidRequest):
        driver.validate_extra_specs({"provisioning:type": "thick", "thin_provisioning": "<is> True"})
    with pytest.raises(InvalidRequest):
        driver.validate_extra_specs({"provisioning:type": "fat"})
    driver.validate_extra_specs({"provisioning:type": "thin", "volume_backend_name": "x"})


# ---- snapshots, clones --------------------------------------------------------------------------


def test_snapshot_keeps_its_data_after_an_overwrite(driver, zpool):
    a = vol(zpool, "a")
    driver.create_volume(a)
    write_pattern(file_of(driver, a), b"first")
    s = VolumeSnapshotRef("s", a)
    assert driver.create_snapshot(s).provider_location == f"{driver.dataset_name(a)}@snap-s"
    write_pattern(file_of(driver, a), b"after")
    b = vol(zpool, "b")
    driver.create_volume_from_snapshot(b, s)
    assert has_pattern(file_of(driver, b), b"first")
    assert has_pattern(file_of(driver, a), b"after")


def test_clone_and_larger_from_snapshot_carry_the_data(driver, zpool):
    a = vol(zpool, "a")
    driver.create_volume(a)
    write_pattern(file_of(driver, a), b"source")
    c = vol(zpool, "c")
    driver.create_cloned_volume(c, a)
    assert has_pattern(file_of(driver, c), b"source")
    assert zfs("get", "-H", "-o", "value", "origin", driver.dataset_name(c)).strip() == f"{driver.dataset_name(a)}@clone-c"
    write_pattern(file_of(driver, a), b"moved on")
    assert has_pattern(file_of(driver, c), b"source")

    s = VolumeSnapshotRef("s", a)
    driver.create_snapshot(s)
    big = vol(zpool, "big", 3)
    assert driver.create_volume_from_snapshot(big, s).size_gb == 3
    assert os.stat(file_of(driver, big)).st_size == 3 * GiB
    assert has_pattern(file_of(driver, big), b"moved on")
    bigger_clone = vol(zpool, "bc", 5)
    driver.create_cloned_volume(bigger_clone, big)
    assert os.stat(file_of(driver, bigger_clone)).st_size == 5 * GiB
    big_snap = VolumeSnapshotRef("bs", big)
    driver.create_snapshot(big_snap)
    with pytest.raises(InvalidRequest, match="smaller"):
        driver.create_volume_from_snapshot(vol(zpool, "small", 1), big_snap)
    assert not driver.zfs.exists(f"{driver.dataset_name(big)[:-len('big')]}small")  # undone


def test_sources_missing_on_the_backend_are_named_and_nothing_is_left(driver, zpool, zfs_root):
    from shoal.drivers.base import NotFoundOnBackend

    ghost = vol(zpool, "ghost")  # in the database, never on the pool
    with pytest.raises(NotFoundOnBackend, match="volume ghost has no data"):
        driver.create_cloned_volume(vol(zpool, "c1"), ghost)
    with pytest.raises(NotFoundOnBackend, match="snapshot gs has no data"):
        driver.create_volume_from_snapshot(vol(zpool, "c2"), VolumeSnapshotRef("gs", ghost))
    assert everything_under(zfs_root) == set()


def test_a_clone_retried_after_a_crash_reuses_its_internal_snapshot(driver, zpool):
    a = vol(zpool, "a")
    driver.create_volume(a)
    write_pattern(file_of(driver, a), b"first")
    zfs("snapshot", f"{driver.dataset_name(a)}@clone-c")  # left by an attempt that died
    c = vol(zpool, "c")
    driver.create_cloned_volume(c, a)
    assert has_pattern(file_of(driver, c), b"first")


def test_an_inferred_mountpoint_that_proves_wrong_is_asked_for(driver, zpool, zfs_root, tmp_path):
    """New datasets' mountpoints are inferred from their parent's (one zfs call less);
    when the parent moved since, the file is not found there and the real one is used."""
    a = vol(zpool, "a")
    driver.create_volume(a)  # caches the parent's mountpoint
    zfs("set", f"mountpoint={tmp_path}/moved", zfs_root)
    try:
        b = vol(zpool, "b", 2)
        driver.create_volume(b)
        assert file_of(driver, b) == f"{tmp_path}/moved/{driver.dataset_name(b).rsplit('/', 1)[1]}/volume.raw"
        assert os.stat(file_of(driver, b)).st_size == 2 * GiB
        c = vol(zpool, "c", 3)
        driver.create_cloned_volume(c, b)
        assert os.stat(file_of(driver, c)).st_size == 3 * GiB
    finally:
        zfs("inherit", "mountpoint", zfs_root)


def test_extend_grows_the_file_and_tells_the_target(driver, zpool):
    a = vol(zpool, "a")
    driver.create_volume(a)
    write_pattern(file_of(driver, a), b"keep")
    driver.extend_volume(a, 3)
    assert os.stat(file_of(driver, a)).st_size == 3 * GiB
    assert has_pattern(file_of(driver, a), b"keep")
    assert ("resize", "a") not in driver.iscsi.calls  # not exported
    driver.export(a, ExportSpec("CHAP u secret", (Connector(initiator="iqn.2004-10.com.ubuntu:01:c1"),)))
    driver.extend_volume(a, 4)
    assert driver.iscsi.calls[-1] == ("resize", "a")
    with pytest.raises(InvalidRequest):
        driver.extend_volume(a, 2)


def test_revert_brings_the_data_back_and_keeps_the_size(driver, zpool):
    a = vol(zpool, "a")
    driver.create_volume(a)
    write_pattern(file_of(driver, a), b"before")
    s = VolumeSnapshotRef("s", a)
    driver.create_snapshot(s)
    driver.extend_volume(a, 2)
    write_pattern(file_of(driver, a), b"overwritten")
    a2 = vol(zpool, "a", 2)
    driver.revert_to_snapshot(VolumeSnapshotRef("s", a2))
    assert has_pattern(file_of(driver, a2), b"before")
    assert os.stat(file_of(driver, a2)).st_size == 2 * GiB  # the size of now, not of the snapshot


def test_revert_past_a_later_clone_keeps_the_clone(driver, zpool, zfs_root):
    """The volume was cloned after the snapshot: rollback would have to destroy
    the clone, so the driver swaps a promoted clone of the snapshot in."""
    a = vol(zpool, "a")
    driver.create_volume(a)
    write_pattern(file_of(driver, a), b"v1")
    s = VolumeSnapshotRef("s", a)
    driver.create_snapshot(s)
    write_pattern(file_of(driver, a), b"v2")
    b = vol(zpool, "b")
    driver.create_cloned_volume(b, a)
    driver.export(a, ExportSpec("CHAP u p", ()))
    driver.revert_to_snapshot(s)
    assert has_pattern(file_of(driver, a), b"v1")
    assert has_pattern(file_of(driver, b), b"v2")
    assert driver.iscsi.targets["a"].backing == file_of(driver, a)  # re-exported
    assert f"{zfs_root}/volume-a@snap-s" in everything_under(zfs_root)
    # Revert again to the same snapshot: a plain rollback now.
    write_pattern(file_of(driver, a), b"v3")
    driver.revert_to_snapshot(s)
    assert has_pattern(file_of(driver, a), b"v1")
    for step in (lambda: driver.delete_volume(b), lambda: driver.delete_snapshot(s), lambda: driver.delete_volume(a)):
        step()
    assert everything_under(zfs_root) == set()


def test_revert_to_an_older_snapshot_is_refused(driver, zpool):
    a = vol(zpool, "a")
    driver.create_volume(a)
    driver.create_snapshot(VolumeSnapshotRef("s1", a))
    driver.create_snapshot(VolumeSnapshotRef("s2", a))
    with pytest.raises(InvalidRequest, match="latest"):
        driver.revert_to_snapshot(VolumeSnapshotRef("s1", a))


def test_delete_removes_the_export_first_and_tolerates_gone(driver, zpool, zfs_root):
    a = vol(zpool, "a")
    driver.create_volume(a)
    driver.export(a, ExportSpec("CHAP u p", ()))
    driver.delete_volume(a)
    assert ("remove", "a", True) in driver.iscsi.calls  # the file still existed: export went first
    assert everything_under(zfs_root) == set()
    driver.delete_volume(a)
    driver.delete_snapshot(VolumeSnapshotRef("nope", a))


# ---- export -----------------------------------------------------------------------------------


def test_iscsi_export_backs_the_lun_with_the_file(driver, zpool):
    a = vol(zpool, "a")
    driver.create_volume(a)
    spec = ExportSpec("CHAP user secret", (Connector(initiator="iqn.2004-10.com.ubuntu:01:c1", ip="10.0.0.1"),))
    info = driver.export(a, spec)
    target = driver.iscsi.targets["a"]
    assert target.backing == file_of(driver, a) and target.initiators == ("iqn.2004-10.com.ubuntu:01:c1",)
    assert info.data["target_iqn"] == "iqn.2026-11.org.shoal:volume-a"
    assert info.data["target_portal"] == "127.0.0.1:3260" and info.data["auth_username"] == "user"
    with pytest.raises(InvalidRequest):
        driver.validate_connector(Connector(ip="10.0.0.1"))
    driver.unexport(a)
    driver.unexport(a)
    assert "a" not in driver.iscsi.targets


def test_nfs_export_gives_the_file_over_the_dataset(zfs_root, zpool):
    driver = make_driver(zfs_root, export="nfs", export_address="192.0.2.5")
    assert driver.storage_protocol == "NFS"
    a = vol(zpool, "a")
    driver.create_volume(a)
    info = driver.export(a, ExportSpec("CHAP u p", (Connector(ip="10.0.0.1"), Connector(ip="10.0.0.1"), Connector(ip="10.0.0.2"))))
    mountpoint = f"/{zfs_root}/volume-a"
    assert info.driver_volume_type == "nfs"
    assert info.data == {"export": f"192.0.2.5:{mountpoint}", "name": "volume.raw", "format": "raw", "options": None}
    export = driver.nfs.exports["a"]
    assert export.path == mountpoint and [(r.address, r.access_level) for r in export.rules] == [("10.0.0.1", "rw"), ("10.0.0.2", "rw")]
    with pytest.raises(InvalidRequest):
        driver.validate_connector(Connector(ip="not-an-ip"))
    driver.delete_volume(a)
    assert driver.nfs.exports == {}


def test_pools_report_capabilities(driver):
    (pool,) = driver.pools()
    caps = pool.capabilities
    assert caps["thin_provisioning_support"] and caps["thick_provisioning_support"]
    assert caps["multiattach"] and caps["online_extend_support"]
    assert caps["storage_protocol"] == "iSCSI" and caps["volume_mode"] == "file"
    assert pool.total_gb > 0 and driver.problems() == []


# ---- manage -----------------------------------------------------------------------------------


def _legacy(zfs_root: str, name: str, files: dict[str, int]) -> str:
    dataset = f"{zfs_root}/{name}"
    zfs("create", dataset)
    for fname, size in files.items():
        subprocess.run(["truncate", "-s", str(size), f"/{dataset}/{fname}"], check=True)
    return dataset


def test_manage_and_unmanage_keep_the_data(driver, zpool, zfs_root):
    legacy = _legacy(zfs_root, "legacy", {"disk.img": GiB + GiB // 2})
    write_at(f"/{legacy}/disk.img", 4096, b"legacy data")
    zfs("snapshot", f"{legacy}@old")
    m = vol(zpool, "m", 0)
    result = driver.manage_existing(m, {"source-name": legacy})
    assert result.size_gb == 2 and result.provider_location == f"{zfs_root}/volume-m"
    m = VolumeRef("m", zpool, 2, provider_location=result.provider_location)
    path = file_of(driver, m)
    assert path.endswith("/volume-m/volume.raw") and os.stat(path).st_size == 2 * GiB
    assert read_at(path, 4096, 11) == b"legacy data"

    snap = VolumeSnapshotRef("ms", m)
    assert driver.manage_existing_snapshot(snap, {"source-name": "old"}).provider_location == f"{result.provider_location}@snap-ms"
    with pytest.raises(UnsafeToManage):
        driver.manage_existing_snapshot(VolumeSnapshotRef("x", m), {"source-name": "snap-ms"})
    driver.unmanage_snapshot(snap)
    assert f"{result.provider_location}@unmanaged-snap-ms" in everything_under(zfs_root)

    driver.export(m, ExportSpec("CHAP u p", ()))
    driver.unmanage(m)
    assert "m" not in driver.iscsi.targets
    assert read_at(f"/{zfs_root}/unmanaged-volume-m/volume.raw", 4096, 11) == b"legacy data"
    # No longer carrying a Shoal name, it can be managed again.
    again = driver.manage_existing(vol(zpool, "m2"), {"source-name": f"{zfs_root}/unmanaged-volume-m"})
    assert again.size_gb == 2


def test_manage_refuses_unsafe_objects_and_changes_nothing(driver, zpool, zfs_root):
    two = _legacy(zfs_root, "two-files", {"a": 10, "b": 10})
    _legacy(zfs_root, "empty", {})
    parent = _legacy(zfs_root, "parent", {"disk": GiB})
    zfs("snapshot", f"{parent}@s")
    zfs("clone", f"{parent}@s", f"{zfs_root}/child-clone")
    driver.create_volume(vol(zpool, "own"))
    odd = _legacy(zfs_root, "odd-snapshot", {"disk": GiB})
    zfs("snapshot", f"{odd}@clone-of-something")
    cases = {
        odd: "internal snapshots",
        two: "exactly one regular file",
        f"{zfs_root}/empty": "exactly one regular file",
        parent: "clones",
        f"{zfs_root}/volume-own": "already managed",
        f"{zpool}/elsewhere": "not inside",
        f"{zfs_root}/missing": "does not exist",
    }
    before = everything_under(zfs_root)
    for name, reason in cases.items():
        with pytest.raises(UnsafeToManage, match=reason):
            driver.manage_existing(vol(zpool, "m"), {"source-name": name})
    assert everything_under(zfs_root) == before


def test_manageable_listings_say_why(driver, zpool, zfs_root):
    good = _legacy(zfs_root, "good", {"disk": 3 * GiB - 1})
    _legacy(zfs_root, "two-files", {"a": 1, "b": 1})
    own = vol(zpool, "own")
    driver.create_volume(own)
    driver.create_snapshot(VolumeSnapshotRef("s", own))
    kept = vol(zpool, "kept")
    driver.create_volume(kept)
    driver.create_cloned_volume(vol(zpool, "child"), kept)
    driver.delete_volume(kept)  # hidden: its clone still needs it
    zfs("snapshot", f"{driver.dataset_name(own)}@foreign")

    own_held = VolumeRef(own.id, own.pool, own.size_gb, driver.dataset_name(own))
    items = {i.reference: i for i in driver.manageable_volumes([own_held])}
    assert items[good].safe_to_manage and items[good].size_gb == 3
    assert not items[f"{zfs_root}/two-files"].safe_to_manage
    assert items[driver.dataset_name(own)].reason_not_safe == "already managed"
    assert items[driver.dataset_name(own)].managed_id == own.id and items[good].managed_id is None
    assert "already managed" in items[f"{zfs_root}/volume-kept"].reason_not_safe
    assert "already managed" in items[f"{zfs_root}/volume-child"].reason_not_safe

    snaps = {i.reference: i for i in driver.manageable_snapshots([])}
    own_ds = driver.dataset_name(own)
    assert snaps[f"{own_ds}@foreign"].safe_to_manage and snaps[f"{own_ds}@foreign"].source_reference == own_ds
    assert "already managed" in snaps[f"{own_ds}@snap-s"].reason_not_safe
    assert "already managed" in snaps[f"{zfs_root}/volume-kept@clone-child"].reason_not_safe
