"""Dependencies never wedge a delete and never leak (real zfs-fuse pool).

Chains of clones, fans of clones from one snapshot, and volumes made from
snapshots of clones are deleted in random orders (several seeds). After every
delete each remaining volume still holds its data; at the end nothing at all
is left under the pool root: no hidden dataset, no snapshot.
"""

from __future__ import annotations

import random
import time

import pytest

from shoal.drivers.base import DriverError
from shoal.drivers.volume import VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfs.zfs import ZfsError

from .test_zfs_volumes import GiB, everything_under, file_of, has_pattern, make_driver, vol, write_pattern

pytestmark = pytest.mark.integration

SEEDS = [0, 1, 2, 3]


class World:
    """The volumes and snapshots a scenario made, and the data each must hold."""

    def __init__(self, driver, zpool):
        self.driver, self.zpool = driver, zpool
        self.volumes: dict[str, VolumeRef] = {}
        self.snapshots: dict[str, VolumeSnapshotRef] = {}
        self.tags: dict[str, bytes] = {}  # volume id -> the pattern it must hold

    def stamp(self, volume: VolumeRef) -> None:
        """Write this volume's own pattern over its parent's (same offsets)."""
        self.tags[volume.id] = f"<{volume.id}>".encode()
        write_pattern(file_of(self.driver, volume), self.tags[volume.id])

    def new(self, id_: str) -> VolumeRef:
        volume = vol(self.zpool, id_)
        self.volumes[id_] = volume
        return volume

    def create(self, id_: str) -> VolumeRef:
        volume = self.new(id_)
        self.driver.create_volume(volume)
        self.stamp(volume)
        return volume

    def clone(self, id_: str, source: str) -> VolumeRef:
        volume = self.new(id_)
        self.driver.create_cloned_volume(volume, self.volumes[source])
        assert has_pattern(file_of(self.driver, volume), self.tags[source])
        self.stamp(volume)
        return volume

    def snapshot(self, id_: str, volume: str) -> VolumeSnapshotRef:
        snap = VolumeSnapshotRef(id_, self.volumes[volume])
        self.driver.create_snapshot(snap)
        self.snapshots[id_] = snap
        self.tags[id_] = self.tags[volume]
        return snap

    def from_snapshot(self, id_: str, snapshot: str) -> VolumeRef:
        volume = self.new(id_)
        self.driver.create_volume_from_snapshot(volume, self.snapshots[snapshot])
        assert has_pattern(file_of(self.driver, volume), self.tags[snapshot])
        self.stamp(volume)
        return volume

    def delete_all(self, seed: int) -> None:
        items = [("volume", k) for k in self.volumes] + [("snapshot", k) for k in self.snapshots]
        random.Random(seed).shuffle(items)
        for kind, key in items:
            if kind == "volume":
                self.driver.delete_volume(self.volumes.pop(key))
            else:
                self.driver.delete_snapshot(self.snapshots.pop(key))
            for volume in self.volumes.values():
                assert has_pattern(file_of(self.driver, volume), self.tags[volume.id]), f"{volume.id} lost its data after deleting {kind} {key}"


@pytest.fixture
def world(zfs_root, zpool):
    return World(make_driver(zfs_root), zpool)


@pytest.mark.parametrize("seed", SEEDS)
def test_chain_of_five_clones(world, zfs_root, seed):
    world.create("c0")
    for i in range(1, 6):
        world.clone(f"c{i}", f"c{i - 1}")
    world.delete_all(seed)
    assert everything_under(zfs_root) == set()


@pytest.mark.parametrize("seed", SEEDS)
def test_fan_of_five_clones_from_one_snapshot(world, zfs_root, seed):
    world.create("base")
    world.snapshot("s", "base")
    for i in range(5):
        world.from_snapshot(f"f{i}", "s")
    world.delete_all(seed)
    assert everything_under(zfs_root) == set()


@pytest.mark.parametrize("seed", SEEDS)
def test_volumes_from_snapshots_of_clones(world, zfs_root, seed):
    world.create("a")
    world.snapshot("sa", "a")
    world.from_snapshot("b", "sa")          # b: from a snapshot of a
    world.clone("c", "b")                   # c: a clone of b
    world.snapshot("sc", "c")
    world.from_snapshot("d", "sc")          # d: from a snapshot of a clone
    world.snapshot("sd", "d")
    world.from_snapshot("e", "sd")
    world.clone("f", "a")                   # a second branch off a
    world.snapshot("sf", "f")
    world.delete_all(seed)
    assert everything_under(zfs_root) == set()


def test_garbage_left_by_a_crash_is_swept_by_a_full_collection(world, zfs_root):
    """State is on ZFS: a new driver (a restart) finds and collects hidden
    objects nothing needs -- an internal snapshot whose clone never came, a
    hidden dataset whose last snapshot went just before the crash -- and keeps
    what clones still need."""
    a = world.create("a")
    b = world.clone("b", "a")
    zfs_ = world.driver.zfs
    a_ds, b_ds = world.driver.dataset_name(a), world.driver.dataset_name(b)
    world.driver.delete_volume(b)  # a stays: it is live
    c = world.clone("c", "a")
    world.driver.delete_volume(a)  # hidden: c needs it
    zfs_.snapshot(f"{a_ds}@clone-never")  # as if a clone of a died half-way
    zfs_.create(f"{zfs_root}/volume-dead", {"shoal:deleted": "yes"})
    restarted = make_driver(zfs_root)
    restarted.start()
    restarted.collect_garbage(full=True)  # what services ask once after each start
    assert everything_under(zfs_root) == {a_ds, f"{a_ds}@clone-c", world.driver.dataset_name(c)}
    restarted.delete_volume(c)
    assert everything_under(zfs_root) == set()


def test_a_clone_cut_short_leaves_its_internal_snapshot_to_the_periodic_sweep(world, zfs_root, monkeypatch):
    """zfs-fuse killed mid-clone (seen in a chaos run): `zfs clone` failed and so
    did the destroy of the internal snapshot after it. The clone's own error is
    the one raised, and the periodic (not the full) collection removes the
    snapshot: no restart comes to sweep it, and the failed volume's delete finds
    no dataset of its own."""
    a = world.create("a")
    zfs_ = world.driver.zfs
    real_destroy = zfs_.destroy

    def clone_dies(*_args, **_kwargs):
        raise ZfsError("zfs clone: internal error: Connection reset by peer")

    def destroy_refused(name, *args, **kwargs):
        raise ZfsError(f"zfs destroy {name}: connect: Connection refused")

    monkeypatch.setattr(zfs_, "clone", clone_dies)
    monkeypatch.setattr(zfs_, "destroy", destroy_refused)
    with pytest.raises(DriverError, match="Connection reset by peer"):
        world.driver.create_cloned_volume(vol(world.zpool, "b"), a)
    monkeypatch.setattr(zfs_, "destroy", real_destroy)
    internal = f"{world.driver.dataset_name(a)}@clone-b"
    assert internal in everything_under(zfs_root)
    world.driver.delete_volume(vol(world.zpool, "b"))  # the failed volume's delete: nothing of its own
    world.driver.collect_garbage()  # what the periodic check asks
    assert everything_under(zfs_root) == {world.driver.dataset_name(a)}


def test_clone_time_does_not_depend_on_size(world, zpool, zfs_root):
    """A clone is a ZFS clone of the dataset holding the sparse file: O(1).
    Times are printed, not asserted (a shared machine is too noisy)."""
    times = {}
    for size in (1, 100):
        source = vol(zpool, f"src{size}", size)
        world.driver.create_volume(source)
        start = time.monotonic()
        world.driver.create_cloned_volume(vol(zpool, f"clone{size}", size), source)
        times[size] = time.monotonic() - start
    print(f"clone of 1 GiB: {times[1]:.3f}s, of 100 GiB: {times[100]:.3f}s")
    assert world.driver.layout.size(f"{zfs_root}/volume-clone100") == 100 * GiB


def test_concurrent_deletes_of_a_family(world, zfs_root):
    """Deletes from many threads at once (as the task engine runs them): the
    driver serializes them per pool, and still nothing is left."""
    from concurrent.futures import ThreadPoolExecutor

    world.create("base")
    world.snapshot("s", "base")
    for i in range(4):
        world.from_snapshot(f"f{i}", "s")
        world.clone(f"c{i}", f"f{i}")
    driver = world.driver
    jobs = [lambda v=v: driver.delete_volume(v) for v in world.volumes.values()]
    jobs.append(lambda: driver.delete_snapshot(world.snapshots["s"]))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
    assert everything_under(zfs_root) == set()
