"""Kernel OpenZFS gets the plain `zfs` commands: none of zfs-fuse's workarounds
(an unmount before a destroy or rename, one property per `zfs set`, a remount
after a rollback) run on it.

Uses the lane's real guest (kernel OpenZFS 2.1, LIO, the kernel NFS server),
driven over SSH by the drivers `build_drivers` makes for an `ssh` host. The
backend's host is the real `SSHHost` wrapped in `RecordingHost`, which passes
every call through unchanged and records each argv, so the tests can say
exactly which commands ran; data and exports are then checked for real (libnfs
from the host for the share, the zvol's bytes in the guest and libiscsi from
the host for a volume).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import uuid

import pytest

import shoal.drivers.zfs.backend as zfs_backend
from shoal.drivers.base import AccessRule, ShareRef, SnapshotRef
from shoal.drivers.volume import Connector, ExportSpec, VolumeRef, VolumeSnapshotRef
from shoal.drivers.zfs.zfs import Features, Zfs
from shoal.hosts import host_from_config

from .conftest import make_backend
from .lane_tools import (
    GiB,
    Lun,
    MiB,
    Nfs,
    delete_share,
    export_path,
    initiator,
    new_id,
    output,
    pattern,
    wait_until,
)

pytestmark = pytest.mark.kernel

A = initiator("a")
SMALL = 1000  # bytes: libnfs 4.0's NFSv4 write limit (see lane_tools.Nfs.put)


class RecordingHost:
    """A host that delegates every call to the real one and records the argv
    of every command run through `run` and `pipe`, in order."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.calls: list[tuple[str, ...]] = []
        self._guard = threading.Lock()

    def _record(self, argv) -> None:
        with self._guard:
            self.calls.append(tuple(str(a) for a in argv))

    def run(self, argv, **kwargs):
        self._record(argv)
        return self.inner.run(argv, **kwargs)

    def pipe(self, producer, consumer, **kwargs):
        self._record(producer)
        self._record(consumer)
        return self.inner.pipe(producer, consumer, **kwargs)

    def __getattr__(self, name):  # write_file, read_file, close, ...: the real host's
        return getattr(self.inner, name)

    def zfs(self, *verbs: str) -> list[tuple[str, ...]]:
        """The `zfs VERB ...` calls recorded, for the verbs given (all if none)."""
        with self._guard:
            return [c for c in self.calls if c[:1] == ("zfs",) and len(c) > 1 and (not verbs or c[1] in verbs)]


def assert_plain(recorder: RecordingHost) -> None:
    """What kernel OpenZFS must never get: zfs-fuse's unmount/mount around a
    destroy or rename (nor its `zfs get mounted` probe before a rename), and
    no `zfs set` split into one call per property."""
    calls = recorder.zfs()
    assert recorder.zfs("umount", "unmount", "mount") == [], "zfs-fuse's unmount/mount workaround ran on kernel ZFS"
    probes = [c for c in recorder.zfs("get") if "mounted" in c[-2].split(",")]
    assert probes == [], f"zfs-fuse's 'mounted' probe ran before a rename: {probes}"
    for before, call in zip(calls, calls[1:]):
        if call[1] in ("destroy", "rename"):
            assert before[1] not in ("umount", "unmount"), f"{before} preceded {call}"


@pytest.fixture
def recorded(monkeypatch, kernel_host, lane_root, tmp_path):
    """The lane backend (exportfs helper, zvols on LIO) built by the product's
    own factory, its SSH host wrapped in a RecordingHost."""
    made: list[RecordingHost] = []

    def recording_host(config):
        made.append(RecordingHost(host_from_config(config)))
        return made[-1]

    monkeypatch.setattr(zfs_backend, "host_from_config", recording_host)
    backend = make_backend(kernel_host, lane_root, "exportfs", tmp_path)
    (recorder,) = made
    assert backend.shares.host is recorder and backend.volumes.host is recorder
    yield backend, recorder
    backend.close()


def test_the_probe_finds_kernel_openzfs(kernel_host):
    """The feature probe on the lane's guest: kernel OpenZFS, none of zfs-fuse's quirks."""
    features = Zfs(kernel_host.ssh).features()
    assert features == Features.of(kernel=True, version_known=True)
    assert features.kernel and features.zvols and features.sharenfs and features.resumable_send
    assert not (features.unmount_first or features.one_property_per_set or features.remount_after_rollback)


def exported(host, path: str) -> set[str]:
    out = host.run("exportfs", "-v").stdout
    clients, current = set(), None
    for line in out.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            current, _, rest = line.partition(" ")
        else:
            rest = line
        if current == path and rest.strip():
            clients.add(rest.strip().split("(")[0])
    return clients


def test_share_paths_run_plain_commands(recorded, kernel_host):
    """Create, write, extend, snapshot, revert, manage (a rename and a
    two-property set) and delete shares: the data and exports are right, and
    the recorded commands are the plain ones."""
    backend, recorder = recorded
    shares, host, seen = backend.shares, kernel_host, kernel_host.host_as_seen
    nfs = Nfs(host.address, host.nfs_port)
    rules = [AccessRule("r1", "ip", seen, "rw")]

    share = ShareRef(new_id(backend.root, "share"), backend.pool, 1)
    dataset = f"{backend.root}/share-{share.id}"
    path = export_path(shares.create_share(share).export_locations[0].path)
    assert shares.update_access(share, rules) == {}
    first = pattern(share.id, SMALL)
    put = nfs.put(f"{path}/a.bin", first)
    assert put.returncode == 0, output(put)

    shares.extend_share(share, 2)
    assert ("zfs", "set", "refquota=2G", dataset) in recorder.calls
    assert host.run("zfs", "get", "-H", "-o", "value", "refquota", dataset).stdout.strip() == "2G"

    snap = SnapshotRef(new_id(backend.root, "snap"), share)
    shares.create_snapshot(snap)
    assert nfs.put(f"{path}/b.bin", b"after the snapshot").returncode == 0
    start = len(recorder.calls)
    shares.revert_to_snapshot(snap, rules)
    changes = [c for c in recorder.calls[start:] if c[:1] == ("zfs",) and c[1] not in ("get", "list")]
    assert changes == [("zfs", "rollback", f"{dataset}@snap-{snap.id}")], \
        f"a revert on kernel ZFS is one zfs rollback (no remount around it): {changes}"
    assert nfs.names(path) == ["a.bin"] and nfs.cat(f"{path}/a.bin") == first
    assert exported(host, path) == {seen}

    # Manage a dataset Shoal did not make: renamed to Shoal's name, then refquota
    # and readonly set in ONE zfs set.
    legacy = f"{backend.root}/legacy-{uuid.uuid4().hex[:6]}"
    host.run("zfs", "create", legacy)
    host.run("sh", "-c", f"printf kept > /{legacy}/kept.txt")
    host.run("zfs", "set", "readonly=on", legacy)
    managed = ShareRef(new_id(backend.root, "managed"), backend.pool, 1)
    result = shares.manage_existing(managed, f"{host.guest_address}:/{legacy}")
    new = f"{backend.root}/share-{managed.id}"
    assert result.provider_location == new
    assert ("zfs", "rename", legacy, new) in recorder.calls
    assert ("zfs", "set", "refquota=1G", "readonly=off", new) in recorder.calls, recorder.zfs("set")
    assert host.run("zfs", "get", "-H", "-o", "value", "readonly,refquota", new).stdout.split() == ["off", "1G"]
    managed_path = export_path(result.export_locations[0].path)
    assert shares.update_access(managed, rules) == {}
    assert nfs.cat(f"{managed_path}/kept.txt") == b"kept"
    assert nfs.put(f"{managed_path}/new.txt", b"writable").returncode == 0

    shares.delete_snapshot(snap)
    for each, each_path in ((share, path), (managed, managed_path)):
        delete_share(shares, each)
        assert exported(host, each_path) == set()
    assert host.run("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", backend.root).stdout.split() == [backend.root]

    destroys = recorder.zfs("destroy")
    for gone in (f"{dataset}@snap-{snap.id}", dataset, new):
        assert any(c[-1] == gone for c in destroys), f"no zfs destroy of {gone}: {destroys}"
    assert_plain(recorder)


def zvol_fill(host, dataset: str, seed: str, size: int = MiB) -> None:
    """`size` bytes of `yes SEED` written to the start of the zvol, in the guest."""
    wait_until(lambda: host.run("test", "-b", f"/dev/zvol/{dataset}", check=False).returncode == 0,
               what=f"/dev/zvol/{dataset}")
    host.run("sh", "-c", f"yes {seed} | head -c {size} | dd of=/dev/zvol/{dataset} bs={MiB} oflag=direct "
                         f"iflag=fullblock status=none")


def text_pattern(seed: str, size: int = MiB) -> bytes:
    line = f"{seed}\n".encode()
    return (line * (size // len(line) + 1))[:size]


def zvol_holds(host, dataset: str, seed: str, size: int = MiB) -> bool:
    wait_until(lambda: host.run("test", "-b", f"/dev/zvol/{dataset}", check=False).returncode == 0,
               what=f"/dev/zvol/{dataset}")
    out = host.run("sh", "-c", f"dd if=/dev/zvol/{dataset} bs={MiB} count={size // MiB} iflag=direct status=none "
                               f"| sha256sum").stdout
    return out.split()[0] == hashlib.sha256(text_pattern(seed, size)).hexdigest()


def test_volume_paths_run_plain_commands(recorded, kernel_host):
    """Zvols: create, snapshot, clone (from the snapshot and of the live volume),
    revert, retype (a two-property set), manage and unmanage (renames), export
    over LIO and delete: the data is right in the guest and through iSCSI, and
    the recorded commands are the plain ones."""
    backend, recorder = recorded
    volumes, host = backend.volumes, kernel_host
    root = backend.root

    vol = VolumeRef(new_id(root, "vol"), backend.pool, 1)
    dataset = volumes.create_volume(vol).provider_location
    zvol_fill(host, dataset, "first")
    snap = VolumeSnapshotRef(new_id(root, "snap"), vol)
    volumes.create_snapshot(snap)
    zvol_fill(host, dataset, "second")

    clone = VolumeRef(new_id(root, "clone"), backend.pool, 1)
    clone_ds = volumes.create_volume_from_snapshot(clone, snap).provider_location
    assert zvol_holds(host, clone_ds, "first")
    copy = VolumeRef(new_id(root, "copy"), backend.pool, 2)
    copy_ds = volumes.create_cloned_volume(copy, vol).provider_location
    assert zvol_holds(host, copy_ds, "second")

    start = len(recorder.calls)
    volumes.revert_to_snapshot(snap)
    assert zvol_holds(host, dataset, "first")
    assert [c for c in recorder.calls[start:] if c[:2] in (("zfs", "umount"), ("zfs", "mount"))] == []

    # Retype: compression and dedup in one zfs set.
    assert volumes.retype(vol, {"zfsonlinux:compression": "zstd", "dedupe": "False"}) is True
    sets = [c for c in recorder.zfs("set") if c[-1] == dataset and "compression=zstd" in c]
    assert len(sets) == 1 and sorted(sets[0][2:-1]) == ["compression=zstd", "dedup=off"], recorder.zfs("set")
    assert host.run("zfs", "get", "-H", "-o", "value", "compression,dedup", dataset).stdout.split() == ["zstd", "off"]

    # Manage a zvol Shoal did not make (a rename to Shoal's name), attach it over LIO.
    legacy = f"{root}/legacy-{uuid.uuid4().hex[:6]}"
    host.run("zfs", "create", "-s", "-V", str(GiB), legacy)
    zvol_fill(host, legacy, "legacy")
    managed = VolumeRef(new_id(root, "managed"), backend.pool, 1)
    managed_ds = volumes.manage_existing(managed, {"source-name": legacy}).provider_location
    assert managed_ds == f"{root}/volume-{managed.id}"
    assert ("zfs", "rename", legacy, managed_ds) in recorder.calls
    managed = VolumeRef(managed.id, managed.pool, 1, managed_ds)
    creds = ExportSpec(f"CHAP u{secrets.token_hex(4)} {secrets.token_hex(12)}", (Connector(initiator=A),))
    lun = Lun.of(volumes.export(managed, creds), host.reach)
    assert lun.read(A, MiB) == text_pattern("legacy")
    volumes.unexport(managed)
    volumes.unmanage(managed)
    unmanaged = f"{root}/unmanaged-volume-{managed.id}"
    assert ("zfs", "rename", managed_ds, unmanaged) in recorder.calls
    assert zvol_holds(host, unmanaged, "legacy")

    # Deletes: the volume and its snapshot are hidden while the clones need them,
    # the last clone's delete collects the chain.
    placed = VolumeRef(vol.id, vol.pool, 1, dataset)
    volumes.delete_snapshot(VolumeSnapshotRef(snap.id, placed))
    volumes.delete_volume(placed)
    volumes.delete_volume(VolumeRef(clone.id, clone.pool, 1, clone_ds))
    volumes.delete_volume(VolumeRef(copy.id, copy.pool, 2, copy_ds))
    left = host.run("zfs", "list", "-H", "-o", "name", "-t", "all", "-r", root).stdout.split()
    assert left == [root, unmanaged], left
    destroyed = {c[-1] for c in recorder.zfs("destroy")}
    assert {dataset, clone_ds, copy_ds} <= destroyed, destroyed
    assert_plain(recorder)
