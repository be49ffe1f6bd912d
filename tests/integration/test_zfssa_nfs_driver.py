"""The zfssa_nfs driver against the ZFSSA emulator (tests/emulators/zfssa:
REST and WebDAV over a real zpool, the share exported by a real ganesha), or a
real appliance when ZFSSA_URL & co. are set. Volume data is written and read
from outside over NFS (qemu-img's libnfs client, as a compute host mounting
the share would open the file); the share's files are looked at in the
emulator's ZFS dataset. Failure paths use the emulator's hooks."""

from __future__ import annotations

import uuid

import pytest

from shoal.drivers.base import (
    DriverError,
    InvalidRequest,
    NotFoundOnBackend,
    UnsafeToManage,
)
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfssa.config import ZfssaNfsBackendConfig
from shoal.drivers.zfssa.nfs import ZfssaNfsVolumeDriver
from shoal.hosts import LocalHost
from tests.integration.zfssa_helpers import (
    GiB,
    dataset_mountpoint,
    nfs_read,
    nfs_table,
    nfs_write,
    pattern,
    run,
    token,
)

pytestmark = pytest.mark.integration

CLIENT = Connector(ip="127.0.0.1", host="compute")


def make_driver(zfssa, **extra) -> ZfssaNfsVolumeDriver:
    table = nfs_table(zfssa, **extra)
    return ZfssaNfsVolumeDriver("zfssa-nfs-it", ZfssaNfsBackendConfig.model_validate(table), LocalHost())


@pytest.fixture(scope="module")
def driver(zfssa_appliance):
    drv = make_driver(zfssa_appliance)
    drv.start()
    yield drv
    for name, props in drv.dav.listing():
        if "collection" not in props:
            drv.dav.delete(name)


@pytest.fixture(scope="module")
def share_dir(driver, zfssa_appliance):
    """The share's directory in the emulator's ZFS (skipped on a real appliance)."""
    if not zfssa_appliance.emulated:
        pytest.skip("looks into the emulator's ZFS")
    return dataset_mountpoint(zfssa_appliance.zfs_dataset(driver.config.project, driver.config.share))


@pytest.fixture(autouse=True)
def rpcbind_names_the_emulator(zfssa_appliance):
    """qemu's nfs:// client (the driver's, and the test's) reaches the emulator's ganesha."""
    with zfssa_appliance.rpcbind_names_ganesha():
        yield


def new_volume(driver, size_gb: int = 1) -> VolumeRef:
    ref = VolumeRef(str(uuid.uuid4()), driver.config.pool, size_gb)
    return VolumeRef(ref.id, ref.pool, size_gb, driver.create_volume(ref).provider_location)


def snap(driver, volume: VolumeRef) -> VolumeSnapshotRef:
    ref = VolumeSnapshotRef(str(uuid.uuid4()), volume)
    return VolumeSnapshotRef(ref.id, volume, driver.create_snapshot(ref).provider_location)


def path_of(driver, volume: VolumeRef) -> str:
    info = driver.export(volume, ExportSpec(connectors=(CLIENT,))).data
    export = info["export"].partition(":")[2]
    return f"{export}/{info['name']}"


def share_snapshots(zfssa, driver) -> list[str]:
    dataset = zfssa.zfs_dataset(driver.config.project, driver.config.share)
    done = run(["zfs", "list", "-H", "-o", "name", "-t", "snapshot", "-r", dataset])
    return [line for line in done.stdout.split() if line.startswith(dataset + "@")]


def test_volume_file_data_through_snapshot_clone_revert_and_extend(driver, share_dir, zfssa_appliance, tmp_path):
    """emulator: a volume file written over NFS; its snapshot, a larger volume
    from it, a clone and a revert each hold the right data, read over NFS."""
    server = driver.config.data_ip
    volume = new_volume(driver)
    info = driver.export(volume, ExportSpec(connectors=(CLIENT,)))
    assert info.driver_volume_type == "nfs" and info.data["name"] == volume.provider_location
    assert info.data["export"].startswith(f"{server}:/") and info.data["format"] == "raw"
    assert (share_dir / volume.provider_location).stat().st_size == GiB
    assert driver.dav.properties(volume.provider_location)["cinder_managed"] == "True"

    path = path_of(driver, volume)
    nfs_write(server, path, pattern(tmp_path / "one", 0x41))
    first = snap(driver, volume)
    assert (share_dir / first.provider_location).is_file() and share_snapshots(zfssa_appliance, driver) == []
    nfs_write(server, path, pattern(tmp_path / "two", 0x42))

    bigger = VolumeRef(str(uuid.uuid4()), driver.config.pool, 2)
    bigger = VolumeRef(bigger.id, bigger.pool, 2, driver.create_volume_from_snapshot(bigger, first).provider_location)
    assert nfs_read(server, path_of(driver, bigger), tmp_path / "b") == (tmp_path / "one").read_bytes()
    assert (share_dir / bigger.provider_location).stat().st_size == 2 * GiB

    clone = VolumeRef(str(uuid.uuid4()), driver.config.pool, 1)
    clone = VolumeRef(clone.id, clone.pool, 1, driver.create_cloned_volume(clone, volume).provider_location)
    assert nfs_read(server, path_of(driver, clone), tmp_path / "c") == (tmp_path / "two").read_bytes()
    assert not (share_dir / f"tmp-snapshot-{clone.id}").exists() and share_snapshots(zfssa_appliance, driver) == []

    driver.extend_volume(volume, 2)
    grown = VolumeRef(volume.id, volume.pool, 2, volume.provider_location)
    driver.revert_to_snapshot(VolumeSnapshotRef(first.id, grown, first.provider_location))
    # Read in the emulator's dataset, not over NFS: the WebDAV COPY replaced the
    # file behind ganesha's back, and its metadata cache may still hand out the
    # old file for a while (on an appliance both are one server).
    with open(share_dir / volume.provider_location, "rb") as reverted:
        assert reverted.read(len((tmp_path / "one").read_bytes())) == (tmp_path / "one").read_bytes()
    assert (share_dir / volume.provider_location).stat().st_size == 2 * GiB

    with pytest.raises(InvalidRequest, match="cannot be smaller"):
        driver.create_volume_from_snapshot(VolumeRef(str(uuid.uuid4()), driver.config.pool, 1),
                                           VolumeSnapshotRef(first.id, grown, first.provider_location))
    driver.delete_snapshot(first)
    for v in (bigger, clone, volume):
        driver.delete_volume(v)
        assert not (share_dir / v.provider_location).exists()
    driver.delete_volume(volume)  # gone already: fine


def test_a_refused_copy_fails_and_drops_the_share_snapshot(driver, share_dir, zfssa_appliance):
    """emulator: WebDAV refuses the COPY out of the share snapshot; the snapshot
    call fails, no snapshot file is left and the share snapshot is dropped."""
    volume = new_volume(driver)
    before = {p.name for p in share_dir.iterdir() if p.name.startswith("snapshot-")}  # an earlier test's, if it failed
    zfssa_appliance.fail_next("COPY", r"/\.zfs/snapshot/", 507)
    with pytest.raises(DriverError, match="507"):
        snap(driver, volume)
    assert share_snapshots(zfssa_appliance, driver) == []
    assert {p.name for p in share_dir.iterdir() if p.name.startswith("snapshot-")} == before

    clone = VolumeRef(str(uuid.uuid4()), driver.config.pool, 1)
    zfssa_appliance.fail_next("PROPPATCH", r".", 403)
    with pytest.raises(DriverError, match="403"):
        driver.create_cloned_volume(clone, volume)
    assert not (share_dir / f"volume-{clone.id}").exists() and not (share_dir / f"tmp-snapshot-{clone.id}").exists()
    driver.delete_volume(volume)


def test_sessions_expiring_busy_bursts_and_a_file_removed_behind_shoals_back(driver, share_dir, zfssa_appliance):
    """emulator: expired REST sessions and 503 bursts are ridden out; a volume
    file deleted on the appliance is reported at attach, and delete succeeds."""
    volume = new_volume(driver)
    zfssa_appliance.expire_sessions()
    zfssa_appliance.busy(3)
    s = snap(driver, volume)
    driver.delete_snapshot(s)
    (share_dir / volume.provider_location).unlink()
    with pytest.raises(NotFoundOnBackend, match="gone"):
        driver.export(volume, ExportSpec(connectors=(CLIENT,)))
    driver.delete_volume(volume)


def test_manage_and_unmanage_in_both_policies(driver, share_dir, zfssa_appliance):
    """emulator: a file put on the share by hand is listed, refused under
    strict until marked cinder_managed = False, then managed (moved to the
    volume's name), then listed as not safe ("already managed" by a volume of
    Shoal's, "managed by another cinder instance?" by none); unmanage moves
    it aside and clears the mark."""
    hand = f"by-hand-{token()}.img"
    done = run(["truncate", "-s", str(GiB), str(share_dir / hand)])
    assert done.returncode == 0
    listed = {i.reference: i for i in driver.manageable_volumes([])}
    assert listed[hand].safe_to_manage and listed[hand].size_gb == 1
    strict = make_driver(zfssa_appliance, project=driver.config.project, share=driver.config.share,
                         manage_policy="strict")
    item = {i.reference: i for i in strict.manageable_volumes([])}[hand]
    assert (item.safe_to_manage, item.reason_not_safe) == (False, "cinder_managed schema not present")
    target = VolumeRef(str(uuid.uuid4()), driver.config.pool, 1)
    with pytest.raises(UnsafeToManage, match="strict"):
        strict.manage_existing(target, {"source-name": hand})
    driver.dav.set_properties(hand, {"cinder_managed": "False"})
    result = strict.manage_existing(target, {"source-name": hand})
    assert (result.provider_location, result.size_gb) == (f"volume-{target.id}", 1)
    assert (share_dir / result.provider_location).is_file() and not (share_dir / hand).exists()
    managed = VolumeRef(target.id, target.pool, 1, result.provider_location)
    entry = {i.reference: i for i in driver.manageable_volumes([managed])}[managed.provider_location]
    assert (entry.safe_to_manage, entry.managed_id, entry.reason_not_safe) == (False, target.id, "already managed")
    elsewhere = {i.reference: i for i in driver.manageable_volumes([])}[managed.provider_location]  # not Shoal's
    assert (elsewhere.safe_to_manage, elsewhere.reason_not_safe) == (False, "managed by another cinder instance?")
    with pytest.raises(UnsafeToManage, match="already managed"):
        driver.manage_existing(VolumeRef(str(uuid.uuid4()), driver.config.pool, 1),
                               {"source-name": result.provider_location})
    for bad in ("../etc/passwd", ".zfs/snapshot/x/y", "nothing-here"):
        with pytest.raises(UnsafeToManage):
            driver.manage_existing(VolumeRef(str(uuid.uuid4()), driver.config.pool, 1), {"source-name": bad})
    driver.unmanage(managed)
    assert driver.dav.properties(f"unmanaged-{managed.provider_location}")["cinder_managed"] == "False"
    driver.dav.delete(f"unmanaged-{managed.provider_location}")


def test_stats_and_misconfiguration(driver, zfssa_appliance):
    """emulator: capacity from the share; a missing share and an offline nfs
    service are named with their fix."""
    [pool] = driver.pools()
    assert pool.total_gb > 0 and pool.capabilities["storage_protocol"] == "NFS"
    assert zfssa_appliance.password not in repr(pool.capabilities)
    assert driver.problems() == []
    problems = make_driver(zfssa_appliance, project=driver.config.project, share="no-such-share").problems()
    assert any("share 'no-such-share' does not exist" in p and "fix:" in p for p in problems)
    if zfssa_appliance.emulated:
        driver.api.rest.call("PUT", "/service/v1/services/nfs/disable", ok=(202,))
        try:
            problems = driver.problems()
            assert any("nfs service is disabled" in p and "fix:" in p for p in problems), problems
            with pytest.raises(DriverError, match="nfs service"):
                make_driver(zfssa_appliance, project=driver.config.project, share=driver.config.share).start()
        finally:
            driver.api.enable_service("nfs")
