"""The volume driver in zvol mode (kernel OpenZFS), on a fake host.

This machine runs zfs-fuse, which has no zvols (`zfs create -V` aborts), so
the zvol layout cannot run here: these tests check its exact command lines
and its decisions against `FakeZfsHost`, an in-memory model of the `zfs`
verbs the driver uses. The same driver code in file mode is tested on a real
zfs-fuse pool in tests/integration/test_zfs_volumes.py and
test_zfs_volume_chains.py.
"""

from __future__ import annotations

import random

import pytest

from shoal.drivers.zfs.config import ZfsBackendConfig
from shoal.drivers.base import InvalidRequest, UnsafeToManage
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfs.volumes import ZfsVolumeDriver
from shoal.exports.iscsi.base import IscsiHelper, Portal

from .test_zfs_volume_fake import FakeZfsHost

GiB = 1024**3
ROOT = "tank/shoal"


class RecordingIscsi(IscsiHelper):
    """Records what the driver asks of an iSCSI helper (the real tgt helper is tested on its own)."""

    name = "recording"

    def __init__(self):
        self.calls: list[tuple] = []

    def problems(self):
        return []

    def start(self):
        self.calls.append(("start",))

    def portals(self):
        return [Portal("192.0.2.10", 3260), Portal("192.0.2.11", 3260)]

    def apply(self, target):
        self.calls.append(("apply", target))

    def remove(self, key):
        self.calls.append(("remove", key))

    def iqns(self):
        return []

    def ensure(self, targets, fresh=False):
        self.calls.append(("ensure", targets))

    def resize(self, key):
        self.calls.append(("resize", key))


@pytest.fixture
def host():
    fake = FakeZfsHost(kernel=True)
    fake.add(ROOT)
    return fake


@pytest.fixture
def iscsi():
    return RecordingIscsi()


@pytest.fixture
def driver(host, iscsi):
    config = ZfsBackendConfig(pools=[ROOT], volume_mode="auto", creation_options=["compression=lz4", "recordsize=16K"])
    return ZfsVolumeDriver("zvols", config, host, iscsi=iscsi)


def vol(id_: str, size: int = 1, **specs: str) -> VolumeRef:
    return VolumeRef(id_, "tank", size, extra_specs=dict(specs))


def snap(id_: str, volume: VolumeRef) -> VolumeSnapshotRef:
    return VolumeSnapshotRef(id_, volume)


def test_auto_picks_zvols_on_kernel_zfs(driver):
    assert driver.layout.kind == "zvol"
    assert driver.pools()[0].capabilities["volume_mode"] == "zvol"


def test_create_is_a_sparse_zvol_with_only_zvol_properties(driver, host):
    result = driver.create_volume(vol("a", 2))
    assert result.provider_location == f"{ROOT}/volume-a" and result.size_gb == 2
    # recordsize is a filesystem property: not given to a zvol.
    assert host.zfs_calls("create") == [["zfs", "create", "-s", "-V", str(2 * GiB), "-o", "compression=lz4", f"{ROOT}/volume-a"]]


@pytest.mark.parametrize("specs", [{"provisioning:type": "thick"}, {"thin_provisioning": "<is> False"}])
def test_thick_zvol_is_created_without_sparse_flag(driver, host, specs):
    driver.create_volume(vol("a", 1, **specs))
    assert host.zfs_calls("create")[-1] == ["zfs", "create", "-V", str(GiB), "-o", "compression=lz4", f"{ROOT}/volume-a"]
    assert host.objs[f"{ROOT}/volume-a"].props["refreservation"] != "0"


def test_from_snapshot_clones_and_grows_volsize(driver, host):
    a = vol("a", 1)
    driver.create_volume(a)
    driver.create_snapshot(snap("s", a))
    driver.create_volume_from_snapshot(vol("b", 3), snap("s", a))
    assert ["zfs", "clone", "-o", "compression=lz4", f"{ROOT}/volume-a@snap-s", f"{ROOT}/volume-b"] in host.calls
    assert ["zfs", "set", f"volsize={3 * GiB}", f"{ROOT}/volume-b"] in host.calls
    assert host.objs[f"{ROOT}/volume-b"].props["volsize"] == str(3 * GiB)


def test_from_snapshot_smaller_than_source_is_refused_and_undone(driver, host):
    a = vol("a", 2)
    driver.create_volume(a)
    driver.create_snapshot(snap("s", a))
    with pytest.raises(InvalidRequest):
        driver.create_volume_from_snapshot(vol("b", 1), snap("s", a))
    assert f"{ROOT}/volume-b" not in host.objs


def test_cloned_volume_uses_internal_snapshot(driver, host):
    a = vol("a")
    driver.create_volume(a)
    driver.create_cloned_volume(vol("b"), a)
    assert ["zfs", "snapshot", f"{ROOT}/volume-a@clone-b"] in host.calls
    assert host.objs[f"{ROOT}/volume-b"].origin == f"{ROOT}/volume-a@clone-b"


def test_thick_clone_gets_refreservation_auto(driver, host):
    a = vol("a")
    driver.create_volume(a)
    driver.create_cloned_volume(vol("b", 1, **{"provisioning:type": "thick"}), a)
    assert ["zfs", "set", "refreservation=auto", f"{ROOT}/volume-b"] in host.calls


def test_extend_sets_volsize_and_rescans_an_exported_target(driver, host, iscsi):
    a = vol("a")
    driver.create_volume(a)
    driver.extend_volume(a, 2)  # not exported: no resize
    assert ("resize", "a") not in iscsi.calls
    driver.export(a, ExportSpec("CHAP u p", (Connector(initiator="iqn.1994-05.com.redhat:c1"),)))
    driver.extend_volume(a, 4)
    assert ["zfs", "set", f"volsize={4 * GiB}", f"{ROOT}/volume-a"] in host.calls
    assert iscsi.calls[-1] == ("resize", "a")
    with pytest.raises(InvalidRequest):
        driver.extend_volume(a, 3)


def test_export_backs_the_lun_with_the_zvol_device(driver, iscsi):
    a = vol("a")
    driver.create_volume(a)
    spec = ExportSpec("CHAP user secret", (Connector(initiator="iqn.1994-05.com.redhat:c1"), Connector(initiator="iqn.1994-05.com.redhat:c2")))
    info = driver.export(a, spec)
    (_, target), = [c for c in iscsi.calls if c[0] == "apply"]
    assert target.backing == f"/dev/zvol/{ROOT}/volume-a"
    assert target.iqn == "iqn.2026-11.org.shoal:volume-a" and target.lun == 1
    assert target.initiators == ("iqn.1994-05.com.redhat:c1", "iqn.1994-05.com.redhat:c2")
    assert info.driver_volume_type == "iscsi"
    assert info.data["target_portal"] == "192.0.2.10:3260"
    assert info.data["target_portals"] == ["192.0.2.10:3260", "192.0.2.11:3260"]
    assert info.data["target_luns"] == [1, 1] and info.data["auth_password"] == "secret"


def test_export_refuses_a_bad_initiator_and_changes_nothing(driver, iscsi):
    a = vol("a")
    driver.create_volume(a)
    with pytest.raises(InvalidRequest):
        driver.export(a, ExportSpec("CHAP u p", (Connector(initiator="not an iqn"),)))
    assert not [c for c in iscsi.calls if c[0] == "apply"]


def test_revert_restores_volsize_after_extend(driver, host):
    """Rolling a zvol back restores its old volsize; the driver grows it again."""
    a = vol("a", 1)
    driver.create_volume(a)
    driver.create_snapshot(snap("s", a))
    driver.extend_volume(a, 2)
    host.objs[f"{ROOT}/volume-a"].data = "changed"
    driver.revert_to_snapshot(snap("s", VolumeRef("a", "tank", 2)))
    assert ["zfs", "rollback", f"{ROOT}/volume-a@snap-s"] in host.calls
    assert host.objs[f"{ROOT}/volume-a"].data == ""
    assert host.objs[f"{ROOT}/volume-a"].props["volsize"] == str(2 * GiB)


def test_revert_only_to_the_latest_visible_snapshot(driver):
    a = vol("a")
    driver.create_volume(a)
    driver.create_snapshot(snap("s1", a))
    driver.create_snapshot(snap("s2", a))
    with pytest.raises(InvalidRequest, match="latest"):
        driver.revert_to_snapshot(snap("s1", a))


def test_revert_past_a_clone_swaps_instead_of_destroying_the_clone(driver, host):
    a = vol("a")
    driver.create_volume(a)
    host.objs[f"{ROOT}/volume-a"].data = "v1"
    driver.create_snapshot(snap("s", a))
    host.objs[f"{ROOT}/volume-a"].data = "v2"
    driver.create_cloned_volume(vol("b"), a)  # a@clone-b is newer than a@snap-s
    driver.revert_to_snapshot(snap("s", a))
    assert host.objs[f"{ROOT}/volume-a"].data == "v1"
    assert host.objs[f"{ROOT}/volume-b"].data == "v2"
    assert f"{ROOT}/volume-a@snap-s" in host.objs  # the user's snapshot keeps its name
    hidden = [n for n in host.names(ROOT) if "-reverted-" in n and "@" not in n]
    assert len(hidden) == 1
    # Everything goes away with the last volume.
    driver.delete_snapshot(snap("s", a))
    driver.delete_volume(a)
    driver.delete_volume(vol("b"))
    assert host.names(ROOT) == set()


def test_delete_chain_in_random_order_leaves_nothing(driver, host):
    for seed in range(5):
        vols = [vol("v0")]
        driver.create_volume(vols[0])
        for i in range(1, 5):
            vols.append(vol(f"v{i}"))
            driver.create_cloned_volume(vols[i], vols[i - 1])
        random.Random(seed).shuffle(vols)
        for v in vols:
            driver.delete_volume(v)
        assert host.names(ROOT) == set(), seed


def test_deleted_volume_with_clone_is_hidden_then_collected(driver, host):
    a, b = vol("a"), vol("b")
    driver.create_volume(a)
    driver.create_snapshot(snap("s", a))
    driver.create_volume_from_snapshot(b, snap("s", a))
    driver.delete_volume(a)
    assert host.objs[f"{ROOT}/volume-a"].props["shoal:deleted"] == "yes"
    assert host.objs[f"{ROOT}/volume-a@snap-s"].props["shoal:deleted"] == "yes"
    driver.delete_snapshot(snap("s", a))  # already hidden: fine
    driver.delete_volume(b)
    assert host.names(ROOT) == set()
    driver.delete_volume(a)  # already gone: fine


def test_a_full_collection_sweeps_what_a_crash_left(driver, host):
    host.add(f"{ROOT}/volume-x", "volume", volsize=str(GiB), **{"shoal:deleted": "yes"})
    host.add(f"{ROOT}/volume-y", "volume", volsize=str(GiB))
    host.add(f"{ROOT}/volume-y@clone-z", "snapshot")  # its clone was never made
    driver.start()
    assert driver.collect_garbage() == []  # the periodic one: only what this process left pending
    assert len(host.names(ROOT)) == 3
    assert sorted(driver.collect_garbage(full=True)) == [f"{ROOT}/volume-x", f"{ROOT}/volume-y@clone-z"]
    assert host.names(ROOT) == {f"{ROOT}/volume-y"}


def test_manage_zvol_rounds_up_and_renames(driver, host):
    host.add(f"{ROOT}/legacy", "volume", volsize=str(GiB + 4096))
    result = driver.manage_existing(vol("m", 0), {"source-name": f"{ROOT}/legacy"})
    assert result.size_gb == 2 and result.provider_location == f"{ROOT}/volume-m"
    assert host.objs[f"{ROOT}/volume-m"].props["volsize"] == str(2 * GiB)


def test_manage_refuses_filesystems_and_shoal_names(driver, host):
    host.add(f"{ROOT}/plain", "filesystem")
    driver.create_volume(vol("a"))
    with pytest.raises(UnsafeToManage, match="filesystem"):
        driver.manage_existing(vol("m"), {"source-name": f"{ROOT}/plain"})
    with pytest.raises(UnsafeToManage, match="already managed"):
        driver.manage_existing(vol("m"), {"source-name": f"{ROOT}/volume-a"})
    with pytest.raises(UnsafeToManage, match="not inside"):
        driver.manage_existing(vol("m"), {"source-name": "other/thing"})
    assert f"{ROOT}/volume-m" not in host.objs


def test_retype_sets_properties_in_place(driver, host):
    a = vol("a")
    driver.create_volume(a)
    assert driver.retype(a, {"compression": "<is> False", "provisioning:type": "thick"}) is True
    assert ["zfs", "set", "compression=off", f"{ROOT}/volume-a"] in host.calls
    assert ["zfs", "set", "refreservation=auto", f"{ROOT}/volume-a"] in host.calls
    assert driver.retype(a, {"volume_backend_name": "elsewhere"}) is False
    assert driver.retype(a, {"storage_protocol": "<in> NFS"}) is False


def test_extend_of_a_thick_zvol_moves_its_reservation(driver, host):
    a = vol("a", 1, **{"provisioning:type": "thick"})
    driver.create_volume(a)
    driver.extend_volume(a, 2)
    sets = [c for c in host.zfs_calls("set")]
    assert sets[-2:] == [["zfs", "set", f"volsize={2 * GiB}", f"{ROOT}/volume-a"], ["zfs", "set", "refreservation=auto", f"{ROOT}/volume-a"]]


def test_nfs_export_needs_file_volumes(host):
    config = ZfsBackendConfig(pools=[ROOT], volume_mode="zvol", volume_export="nfs")
    driver = ZfsVolumeDriver("bad", config, host, iscsi=None, nfs=None)
    problems = driver.problems()
    assert any("needs file volumes" in p for p in problems)
    assert any("no nfs helper" in p for p in problems)


def test_revert_swap_drops_set_aside_snapshots_nothing_needs(driver, host):
    a = vol("a")
    driver.create_volume(a)
    driver.create_snapshot(snap("s", a))
    driver.create_cloned_volume(vol("b"), a)       # a@clone-b: newer, with a clone
    driver.create_snapshot(snap("t", a))
    driver.delete_snapshot(snap("t", a))           # gone at once: nothing needs it
    host.run(["zfs", "snapshot", f"{ROOT}/volume-a@clone-dead"])  # internal, clone never made
    driver.revert_to_snapshot(snap("s", a))
    (old,) = [n for n in host.names(ROOT) if "-reverted-" in n and "@" not in n]
    assert {n for n in host.names(ROOT) if n.startswith(old)} == {old, f"{old}@clone-b"}
