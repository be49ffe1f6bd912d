"""Block volumes on ZFS: zvols (kernel OpenZFS) or one sparse file per dataset
(zfs-fuse), exported over iSCSI or NFS by a pluggable helper.

Names come from ids: volume ``<root>/<volume_prefix><id>``, snapshot
``<volume>@<snapshot_prefix><id>``. Snapshots are ZFS snapshots; clones and
volumes-from-snapshots are ZFS clones (O(1) in the size; a clone of a volume
first takes the internal snapshot ``<source>@clone-<new id>``).

Dependencies never wedge a delete, and never leak (`gc`): a volume or snapshot
that clones still need is hidden (``shoal:deleted=yes``) and unexported, and
destroyed by the walk up the origin chain that follows every delete, once its
last dependant is gone. The alternative, ``zfs promote`` on delete, was
rejected: promoting moves the deleted volume's older snapshots onto the clone
and renames them, which breaks the provider locations of live snapshots, and
every promote is a rename (``dataset is busy`` on zfs-fuse) on the delete
path. Hiding is one ``zfs set``; the state is on ZFS, so a restart loses
nothing, and `start` sweeps what a crash left behind. A destroy that zfs-fuse
keeps answering "busy" is hidden the same way, and swept by `collect_garbage`
(the periodic check) until it goes.

Revert (`volume_revert`) is a rollback, or, when the volume was cloned after
the snapshot, a promoted clone of the snapshot swapped in under the volume's
name; either way the size stays. Renames go past zfs-fuse's "busy while a
clone is mounted" quirk (`Zfs.rename_past_clones`). Manage and retype live in
`volume_manage`, migration's rename in `volume_migration`, the zvol-or-file
layout in `volume_layout`.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack, contextmanager

from shoal.drivers.base import DriverError, InvalidRequest, NotFoundOnBackend, PoolStats
from shoal.drivers.volume import (
    ConnectionInfo,
    Connector,
    ExportSpec,
    ExportsHeld,
    VolumeData,
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
    VolumeSnapshotResult,
)
from shoal.exports.iscsi.base import IscsiHelper
from shoal.exports.nfs.base import NfsExport, NfsHelper
from shoal.hosts import Host, Retry
from shoal.targets import iscsi as iscsi_targets

from . import naming, options, volume_export, volume_specs
from .config import ZfsBackendConfig
from .gc import INTERNAL_PREFIX, Collector, Tree
from .remounts import RemountWatch
from .volume_layout import FileLayout, GiB, Layout, ZvolLayout, backend_errors
from .volume_manage import ManageMixin
from .volume_migration import MigrationMixin
from .volume_revert import RevertMixin
from .zfs import BUSY, ONCE, Mount, Zfs, ZfsError, ZfsNotFound

log = logging.getLogger(__name__)


class ZfsVolumeDriver(ManageMixin, RevertMixin, MigrationMixin, VolumeDriver):
    def __init__(self, name: str, config: ZfsBackendConfig, host: Host, iscsi: IscsiHelper | None = None,
                 nfs: NfsHelper | None = None, zfs: Zfs | None = None, mounts_memory: str | None = None):
        self.backend_name = name
        self.availability_zone = config.availability_zone
        self.config = config
        self.host = host
        self.zfs = zfs or Zfs(host)  # the backend's share driver shares it (see backend.build)
        self.iscsi = iscsi
        self.nfs = nfs
        self.protocol = config.volume_export  # "iscsi" | "nfs"
        self.storage_protocol = "iSCSI" if self.protocol == "iscsi" else "NFS"
        self.configured = options.configured_options(config.creation_options)
        self.collector = Collector(self.zfs)
        self._layout: Layout | None = None
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._exported: dict[str, ExportSpec] = {}  # volume id -> last spec (re-applied after a revert)
        self._remounts = RemountWatch(host, self.zfs, config.pools, mounts_memory)

    # ---- names: built from ids, never from user text -------------------------------------

    def _pool_root(self, pool: str) -> str:
        return naming.pool_root(self.config.pools, pool, self.backend_name)

    def _root_of(self, name: str) -> str:
        return naming.root_of(self.config.pools, name, self.backend_name)

    def dataset_name(self, volume: VolumeRef) -> str:
        return volume.provider_location or self._new_name(volume)

    def _new_name(self, volume: VolumeRef) -> str:
        return f"{self._pool_root(volume.pool)}/{self.config.volume_prefix}{volume.id}"

    def snapshot_name(self, snapshot: VolumeSnapshotRef) -> str:
        return snapshot.provider_location or f"{self.dataset_name(snapshot.volume)}@{self.config.snapshot_prefix}{snapshot.id}"

    pool_of = staticmethod(naming.pool_of)

    @contextmanager
    def _lock(self, root: str):
        """Per pool root: deletes and their collection walks, and clone creation,
        one at a time (zfs-fuse serializes destroys anyway)."""
        with self._locks_guard:
            lock = self._locks.setdefault(root, threading.RLock())
        with lock:
            yield

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            mode = self.config.volume_mode
            if mode == "auto":
                mode = "zvol" if self.protocol == "iscsi" and self.zfs.features().zvols else "file"
            if mode == "zvol" and self.protocol == "nfs":
                raise DriverError("volume_export 'nfs' needs volume_mode 'file' (an NFS volume is a file)")
            self._layout = (ZvolLayout if mode == "zvol" else FileLayout)(self.zfs, self.host)
        return self._layout

    def _tree(self, root: str) -> Tree:
        return Tree.read(self.zfs, root, self.config.volume_prefix)

    # ---- setup and stats ------------------------------------------------------------------

    def _helper(self):
        helper = self.iscsi if self.protocol == "iscsi" else self.nfs
        if helper is None:
            raise DriverError(f"backend {self.backend_name} exports volumes over {self.protocol} but has no {self.protocol} helper")
        return helper

    def new_target_auth(self) -> str | None:
        """iSCSI targets carry a CHAP account of their own; NFS exports name clients by address."""
        return iscsi_targets.new_chap_auth() if self.protocol == "iscsi" else None

    def exports_healthy(self) -> bool:
        """tgtd keeps targets in memory only: when it died, the periodic check
        restarts it and re-exports every attached volume. So too when the file
        systems were mounted again under it (zfs-fuse came back)."""
        return self._helper().healthy() and not self._remounts.remounted()

    def exports_alive(self) -> bool:
        return self._helper().alive() and not self._remounts.remounted()

    def start(self) -> None:
        self._helper().start()

    def collect_garbage(self, full: bool = False) -> list[str]:
        """What deletes hid because ZFS called it busy, destroyed once it is not
        (one try each: the periodic check comes again); `full`: every hidden
        object nothing needs in every pool (what a crash left)."""
        if full:
            return self._sweep(self.config.pools)
        return self._sweep(sorted({self._root_of(name) for name in list(self.collector.pending)}), retry=ONCE)

    def _sweep(self, roots, retry: Retry = BUSY) -> list[str]:
        """Destroy every hidden object nothing needs any more under `roots`."""
        destroyed: list[str] = []
        for root in roots:
            try:
                with self._lock(root):
                    destroyed += self.collector.sweep(self._tree(root), retry)
            except ZfsError as exc:
                log.warning("garbage collection under %s failed: %s", root, exc)
        return destroyed

    def problems(self) -> list[str]:
        found = []
        # `zfs get` rather than `zpool list -p`, which zfs-fuse does not have.
        try:
            for root in self.config.pools:
                if not self.zfs.exists(self.pool_of(root)):
                    found.append(f"zpool {self.pool_of(root)!r} is missing; fix: scripts/host-setup --pool, or zpool create/import it")
                elif not self.zfs.exists(root):
                    found.append(f"dataset {root!r} is missing; fix: zfs create -p {root}")
        except ZfsError as exc:
            return [f"ZFS is not reachable ({exc}); fix: scripts/host-setup (starts zfs-fuse)"]
        if self.config.volume_mode == "zvol" and not self.zfs.features().zvols:
            found.append("volume_mode is 'zvol' but this ZFS has no zvols (zfs-fuse); fix: set volume_mode = 'file'")
        if self.config.volume_mode == "zvol" and self.protocol == "nfs":
            found.append("volume_export 'nfs' needs file volumes; fix: set volume_mode = 'file' or 'auto'")
        try:
            found += self._helper().problems()
        except DriverError as exc:
            found.append(f"{exc}; fix: configure the {self.protocol} export helper")
        return found

    @backend_errors
    def pools(self) -> list[PoolStats]:
        stats = []
        for root in self.config.pools:
            space = self.zfs.pool_space(root)
            stats.append(
                PoolStats(
                    name=self.pool_of(root),
                    total_gb=round(space.size / GiB, 2),
                    free_gb=round(space.free / GiB, 2),
                    allocated_gb=round(space.allocated / GiB, 2),
                    capabilities={
                        "dataset": root,
                        "volume_mode": self.layout.kind,
                        "storage_protocol": self.storage_protocol,
                        "thin_provisioning_support": True,
                        "thick_provisioning_support": True,
                        "multiattach": True,
                        "online_extend_support": True,
                        "clone_across_pools": False,
                        "sparse_copy_volume": True,
                        "QoS_support": False,
                        "max_over_subscription_ratio": self.config.max_over_subscription_ratio,
                        "reserved_percentage": self.config.reserved_percentage,
                        "provisioned_capacity_gb": round(space.allocated / GiB, 2),
                        "snapshot_support": True,
                        "vendor_name": "Open Source",
                        # the spellings volume_specs takes for thin/thick: either can be had here
                        "thin_provisioning": [True, False],
                        "thick_provisioning": [True, False],
                        **options.capabilities(self.configured),
                    },
                )
            )
        return stats

    def validate_extra_specs(self, extra_specs: dict[str, str]) -> None:
        volume_specs.validate(extra_specs, self.configured)

    # ---- data -------------------------------------------------------------------------------

    def _props(self, volume: VolumeRef) -> tuple[dict[str, str], bool]:
        props = volume_specs.properties(volume.extra_specs, self.configured, zvol=self.layout.kind == "zvol")
        return props, volume_specs.provisioning(volume.extra_specs) == volume_specs.THICK

    def _fit(self, dataset: str, size_gb: int, thick: bool) -> None:
        """A fresh clone at `size_gb` (never smaller than its source), reserved if thick."""
        have, want = self.layout.size(dataset), size_gb * GiB
        if want < have:
            raise InvalidRequest(f"{size_gb} GiB is smaller than the source's {have / GiB:.2f} GiB")
        if want > have:
            self.layout.grow(dataset, want, thick)
        elif thick:
            self.layout.reserve(dataset, want, True)

    @backend_errors
    def create_volume(self, volume: VolumeRef) -> VolumeResult:
        dataset = self._new_name(volume)
        props, thick = self._props(volume)
        self.layout.create(dataset, volume.size_gb * GiB, props, thick)
        return VolumeResult(dataset, volume.size_gb)

    def _clone_into(self, snapshot: str, volume: VolumeRef, undo: ExitStack) -> str:
        dataset = self._new_name(volume)
        if self._root_of(snapshot) != self._root_of(dataset):
            raise InvalidRequest(f"cannot clone {snapshot} into pool {volume.pool}: clones stay in their pool")
        props, thick = self._props(volume)
        self.zfs.clone(snapshot, dataset, props)
        self.layout.made(dataset, props)
        undo.callback(self._forget_and_destroy, dataset)
        self._fit(dataset, volume.size_gb, thick)
        return dataset

    def _forget_and_destroy(self, dataset: str) -> None:
        self.layout.forget(dataset)
        self.zfs.destroy(dataset)

    @backend_errors
    def create_volume_from_snapshot(self, volume: VolumeRef, snapshot: VolumeSnapshotRef) -> VolumeResult:
        source = self.snapshot_name(snapshot)
        with self._lock(self._root_of(source)), ExitStack() as undo:
            try:
                dataset = self._clone_into(source, volume, undo)
            except ZfsNotFound:  # the clone names its source: no check (one zfs call) first
                raise NotFoundOnBackend(f"snapshot {snapshot.id} has no data on the backend ({source})") from None
            undo.pop_all()
        return VolumeResult(dataset, volume.size_gb)

    @backend_errors
    def create_cloned_volume(self, volume: VolumeRef, source: VolumeRef) -> VolumeResult:
        origin = self.dataset_name(source)
        snapshot = f"{origin}@{INTERNAL_PREFIX}{volume.id}"
        # Under the lock: a sweep must not collect the internal snapshot before it has its clone.
        with self._lock(self._root_of(origin)), ExitStack() as undo:
            # Snapshot straight away (no existence checks first: each costs a zfs call).
            try:
                self.zfs.snapshot(snapshot)
            except ZfsNotFound:
                raise NotFoundOnBackend(f"volume {source.id} has no data on the backend ({origin})") from None
            except ZfsError as err:
                if "dataset already exists" not in str(err):
                    raise  # else left by an attempt that died: reuse it
            undo.callback(self._drop_internal_snapshot, snapshot)
            dataset = self._clone_into(snapshot, volume, undo)
            undo.pop_all()
        return VolumeResult(dataset, volume.size_gb)

    def _drop_internal_snapshot(self, snapshot: str) -> None:
        """Undo of a clone that failed: its internal snapshot. One ZFS will not
        destroy now (zfs-fuse died mid-clone, say) is left to the periodic sweep,
        hidden from birth, and the clone's own error is the one reported."""
        try:
            self.zfs.destroy(snapshot)
        except ZfsNotFound:
            pass
        except ZfsError as exc:
            log.warning("%s: not destroyed after the clone failed (%s); the periodic sweep removes it", snapshot, exc)
            self.collector.pending.add(snapshot)

    @backend_errors
    def delete_volume(self, volume: VolumeRef) -> None:
        dataset = self.dataset_name(volume)
        root = self._root_of(dataset)
        self.unexport(volume)  # tgtd keeps the backing file open: before any destroy
        with self._lock(root):
            tree = self._tree(root)
            if dataset not in tree:
                log.info("volume %s: %s was already gone", volume.id, dataset)
                return
            # Snapshots left on a volume being deleted (Cinder deletes the user's
            # first): destroyed, or hidden while clones need them.
            for snap in tree.snapshots(dataset):
                self.collector.drop(tree, snap.name)
            origin = tree.get(dataset).origin
            self.layout.forget(dataset)
            if self.collector.drop(tree, dataset):
                self.collector.collect(tree, origin)
            else:
                log.info("volume %s: %s kept hidden until its clones are gone or it is no longer busy",
                         volume.id, dataset)

    @backend_errors
    def extend_volume(self, volume: VolumeRef, new_size_gb: int) -> None:
        dataset = self.dataset_name(volume)
        have, want = self.layout.size(dataset), new_size_gb * GiB
        if want < have:
            raise InvalidRequest(f"cannot shrink volume {volume.id} from {have / GiB:.2f} GiB to {new_size_gb} GiB")
        if want > have:
            thick = Layout.thick(self.zfs.get(dataset, ["refreservation"]).get("refreservation"))
            self.layout.grow(dataset, want, thick)
        if self.protocol == "iscsi" and volume.id in self._exported:
            self._helper().resize(volume.id)

    # ---- snapshots -----------------------------------------------------------------------------

    @backend_errors
    def create_snapshot(self, snapshot: VolumeSnapshotRef) -> VolumeSnapshotResult:
        name = self.snapshot_name(snapshot)
        self.zfs.snapshot(name)
        return VolumeSnapshotResult(name, snapshot.volume.size_gb)

    @backend_errors
    def delete_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        name = self.snapshot_name(snapshot)
        root = self._root_of(name)
        with self._lock(root):
            tree = self._tree(root)
            if name not in tree:
                return
            if self.collector.drop(tree, name):
                self.collector.collect(tree, name.split("@", 1)[0])
            else:
                log.info("snapshot %s: %s kept hidden until its clones are gone", snapshot.id, name)

    def _rename(self, old: str, new: str) -> None:
        """Rename a dataset or zvol, past the clones of its snapshots (zfs-fuse quirk)."""
        tree = self._tree(self._root_of(old))
        clones = [c for snap in tree.snapshots(old) for c in tree.clones(snap.name)]
        self.zfs.rename_past_clones(old, new, clones)

    # ---- data access for image copies -----------------------------------------------------------

    @contextmanager
    def open_data(self, volume: VolumeRef, writable: bool):
        """The zvol's device (kernel ZFS) or the dataset's volume file (zfs-fuse), on
        the storage host, raw either way: nothing to attach, nothing to release.
        (Services hold the volume's own lock meanwhile: no revert swaps it.)"""
        dataset = self.dataset_name(volume)
        try:
            path = self.layout.backing(dataset)
        except ZfsNotFound:
            raise NotFoundOnBackend(f"volume {volume.id} has no data on the backend ({dataset})") from None
        except ZfsError as exc:
            raise DriverError(str(exc)) from None
        yield VolumeData(self.host, path, "raw")

    # ---- export and attach ---------------------------------------------------------------------

    def validate_connector(self, connector: Connector) -> None:
        volume_export.check_connector(self.protocol, connector)

    @backend_errors
    def export(self, volume: VolumeRef, spec: ExportSpec) -> ConnectionInfo:
        for connector in spec.connectors:
            self.validate_connector(connector)
        helper = self._helper()
        wanted = self._desired(volume, spec)
        if self.protocol == "iscsi":
            helper.apply(wanted)
            self._exported[volume.id] = spec
            return volume_export.iscsi_info(wanted, helper.portals() or self.config.iscsi.portals).connection()
        failed = helper.apply(wanted)
        if failed:
            raise DriverError("NFS export rules failed: " + "; ".join(f"{k}: {v}" for k, v in failed.items()))
        self._exported[volume.id] = spec
        return volume_export.nfs_info(self.config, wanted.path).connection()

    def _desired(self, volume: VolumeRef, spec: ExportSpec):
        """What the export helper is to hold for the volume: its iSCSI target, or
        the NFS export of its dataset."""
        dataset = self.dataset_name(volume)
        if self.protocol == "iscsi":
            return volume_export.iscsi_target(self.config, volume.id, self.layout.backing(dataset), spec)
        mountpoint = self.layout.mountpoint(dataset)  # type: ignore[attr-defined]
        return volume_export.nfs_export(volume.id, mountpoint, dataset, spec)

    def ensure_exports(self, volumes: list[tuple[VolumeRef, ExportSpec]]) -> dict[str, str]:
        """One pass of the export helper for all (tgtd's state read once; one
        ganesha reload); a volume that fails stops none of the others. When the
        file systems were mounted anew, every export is made again (backing
        files opened again), not only checked."""
        fresh = self._remounts.remounted()
        failed: dict[str, str] = {}
        wanted, specs = [], {}
        mounts: dict[str, Mount] = {}
        if self.layout.kind == "file":  # every backing file's mountpoint in one listing per pool
            for pool in dict.fromkeys(volume.pool for volume, _ in volumes):
                try:
                    mounts.update(self.zfs.mountpoints(self._pool_root(pool)))
                except (DriverError, ZfsError) as exc:
                    log.warning("volumes of pool %s: mountpoints not listed (%s); asked one by one", pool, exc)
            self.layout.learn(mounts)
        for volume, spec in volumes:
            try:
                dataset = self.dataset_name(volume)
                if dataset in mounts and not mounts[dataset].mounted:
                    # not mounted again yet (a pool import mounts one file system after
                    # another): its backing file would be opened on the mount point
                    log.warning("volume %s: %s was not mounted; mounting it", volume.id, dataset)
                    self.zfs.mount(dataset)
                wanted.append(self._desired(volume, spec))
                specs[volume.id] = spec
            except (DriverError, ZfsError) as exc:
                failed[volume.id] = str(exc)
        try:
            self._helper().ensure(wanted, fresh=fresh)
        except Exception as exc:  # noqa: BLE001 -- each helper's error names the exports that failed
            lost = {key: "; ".join(reasons) for key, reasons in getattr(exc, "failed", {}).items()}
            failed.update(lost or {item.key: str(exc) for item in wanted})
        if fresh:
            self._remounts.settled()
        for volume_id, spec in specs.items():
            if volume_id not in failed:
                self._exported[volume_id] = spec
        return failed

    @backend_errors
    def unexport(self, volume: VolumeRef) -> None:
        self._exported.pop(volume.id, None)
        helper = self._helper()
        if self.protocol == "iscsi":
            helper.remove(volume.id)
            return
        dataset = self.dataset_name(volume)
        try:
            mountpoint = self.layout.mountpoint(dataset)  # type: ignore[attr-defined]
        except (ZfsNotFound, DriverError):
            mountpoint = ""
        helper.remove(NfsExport(volume.id, mountpoint, dataset))

    def recover(self, volumes: list[VolumeRef]) -> dict[str, str]:
        """After a restart: each volume whose dataset is not in its pool any more
        (destroyed behind Shoal's back, a pool made anew) is reported; one `zfs
        list` per pool root, and a root that cannot be listed reports nothing."""
        held: dict[str, list[VolumeRef]] = {}
        for volume in volumes:
            held.setdefault(self._root_of(self.dataset_name(volume)), []).append(volume)
        damaged: dict[str, str] = {}
        for root, on_root in held.items():
            try:
                present = set(self.zfs.names(root, types="filesystem,volume"))
            except ZfsError as exc:
                log.warning("volumes under %s not checked after the restart: %s", root, exc)
                continue
            for volume in on_root:
                if (dataset := self.dataset_name(volume)) not in present:
                    damaged[volume.id] = f"its data ({dataset}) is missing on the backend"
        return damaged

    def exported_volume_ids(self) -> set[str]:
        return set(self.exports_held().volume_ids)

    def exports_held(self) -> ExportsHeld:
        """The names say whose an export is: the target's IQN, or the last part
        of the NFS export's path (the volume's dataset; a share's differs)."""
        if self.protocol == "iscsi":
            prefix = volume_export.iqn(self.config, "")
            states = self._helper().target_states()
        else:
            prefix = self.config.volume_prefix
            states = dict.fromkeys((_leaf(path) for path in self._helper().exported_paths()), True)
        ours = {name[len(prefix):]: serving for name, serving in states.items()
                if name.startswith(prefix) and len(name) > len(prefix)}
        return ExportsHeld(set(ours), {volume_id for volume_id, serving in ours.items() if not serving})

    def drop_export(self, volume_id: str) -> None:
        self._exported.pop(volume_id, None)
        if self.protocol == "iscsi":
            self._helper().remove(volume_export.iqn(self.config, volume_id))
            return
        leaf = f"{self.config.volume_prefix}{volume_id}"
        for path in self._helper().exported_paths():
            if _leaf(path) == leaf:
                candidates = [f"{root}/{leaf}" for root in self.config.pools]
                dataset = next((name for name in candidates if self.zfs.exists(name)), candidates[0])
                self._helper().remove(NfsExport(volume_id, path, dataset))

    @contextmanager
    def _export_suspended(self, volume: VolumeRef):
        """Unexport around a change of the data underneath, then export again
        (always unexport: a target left from before a restart, that this
        process does not know of, would hold the file open)."""
        spec = self._exported.get(volume.id)
        self.unexport(volume)
        try:
            yield
        finally:
            if spec is not None:
                self.export(volume, spec)


def _leaf(path: str) -> str:
    """An NFS export path's last part: a volume's dataset name (its prefix and id)."""
    return path.rstrip("/").rsplit("/", 1)[-1]
