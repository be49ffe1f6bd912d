"""Manage, unmanage and retype for `ZfsVolumeDriver` (a mixin, kept apart for size).

Manage takes over a dataset (file layout: holding exactly one regular file) or
a zvol inside the backend's pool root, renamed to Shoal's name; its size is
rounded up to whole GiB (the file or ``volsize`` grows to match). It is refused
with the reason, changing nothing, when the object is elsewhere, not shaped
like a volume, has child datasets or clones, or already belongs to Shoal
(named like a Shoal volume or share, or hidden data kept for clones).

Unmanage drops the export and renames the object to ``unmanaged-<name>``
(``@unmanaged-<tag>`` for a snapshot), as Cinder's ZFSSA driver does: the data
stays, and because it no longer carries a Shoal name it can be managed again.
"""

from __future__ import annotations

import logging

from shoal.drivers.base import InvalidRequest, ManageableItem, UnsafeToManage
from shoal.drivers.volume import ManageableSnapshot, VolumeRef, VolumeResult, VolumeSnapshotRef, VolumeSnapshotResult

from . import volume_specs
from .gc import INTERNAL_PREFIX, Tree
from .volume_layout import GiB, backend_errors, gib_up

log = logging.getLogger(__name__)
UNMANAGED_PREFIX = "unmanaged-"


class ManageMixin:
    # ---- what may be managed --------------------------------------------------------------

    def _unsafe_volume(self, tree: Tree, name: str, managed: dict[str, str]) -> str | None:
        """Why `name` cannot be managed as a volume (cheap checks), or None."""
        entry = tree.get(name)
        leaf = name.rsplit("/", 1)[-1]
        if name == tree.root:
            return "it is the backend's pool root"
        if name in managed:
            return "already managed"
        if entry.hidden:
            return "already managed: data of a deleted volume, kept hidden until its clones are gone"
        if leaf.startswith(self.config.volume_prefix):
            return "already managed: it carries a Shoal volume name"
        if leaf.startswith(self.config.dataset_prefix):
            return "already managed: it carries a Shoal share name"
        if entry.type != self.layout.zfs_type:
            want = "a zvol" if self.layout.zfs_type == "volume" else "a dataset holding one file"
            return f"it is a {entry.type}; volumes on this backend are {want}"
        if tree.children(name):
            return "it has child datasets"
        clones = [c for s in tree.snapshots(name) for c in tree.clones(s.name)]
        if clones:
            return f"it has clones that depend on it: {', '.join(clones[:5])}"
        internal = [s.name for s in tree.snapshots(name) if s.name.split("@", 1)[1].startswith(INTERNAL_PREFIX)]
        if internal:
            return f"its snapshot {internal[0]} is named like Shoal's internal snapshots ({INTERNAL_PREFIX}*); rename it first"
        return None

    def _unsafe_snapshot(self, tree: Tree, name: str, managed: dict[str, str]) -> str | None:
        dataset, tag = name.split("@", 1)
        if name in managed:
            return "already managed"
        if tree.get(name).hidden:
            return "already managed: Shoal keeps it hidden for the clones that depend on it"
        if tag.startswith(self.config.snapshot_prefix):
            return "already managed: it carries a Shoal snapshot name"
        if dataset in tree and tree.get(dataset).hidden:
            return "its volume was deleted"
        if not dataset.rsplit("/", 1)[-1].startswith(self.config.volume_prefix):
            return "its volume is not managed by Shoal; manage the volume first"
        return None

    def _size_of(self, tree: Tree, name: str) -> int:
        entry = tree.get(name)
        if entry.props.get("volsize", "-").isdigit():
            return gib_up(int(entry.props["volsize"]))
        referenced = entry.props.get("referenced", "0")
        return gib_up(int(referenced) if referenced.isdigit() else 0)

    # ---- volumes ---------------------------------------------------------------------------

    @backend_errors
    def manage_existing(self, volume: VolumeRef, reference: dict) -> VolumeResult:
        name = str((reference or {}).get("source-name") or "").strip().strip("/")
        if not name:
            raise UnsafeToManage("the reference needs a 'source-name': the dataset or zvol to manage")
        root = self._pool_root(volume.pool)
        if "/" not in name and "@" not in name:
            name = f"{root}/{name}"
        if not name.startswith(root + "/"):
            raise UnsafeToManage(f"{name!r} is not inside pool {root!r} of backend {self.backend_name}")
        with self._lock(root):
            tree = self._tree(root)
            if name not in tree or tree.get(name).type == "snapshot":
                raise UnsafeToManage(f"{name!r} does not exist or is not a dataset or zvol")
            reason = self._unsafe_volume(tree, name, {})
            if reason:
                raise UnsafeToManage(f"{name!r} cannot be managed: {reason}")
            size_gb = gib_up(self.layout.shape(name))
            new = self._new_name(volume)
            self.zfs.rename(name, new)
            self.layout.forget(name)
            try:
                self.layout.adopt(new)
                if self.layout.size(new) < size_gb * GiB:
                    self.layout.grow(new, size_gb * GiB)
            except Exception:
                self.layout.forget(new)
                self.zfs.rename(new, name)
                raise
        return VolumeResult(new, size_gb)

    @backend_errors
    def manageable_volumes(self, managed: list[VolumeRef]) -> list[ManageableItem]:
        owners = {self.dataset_name(v): v.id for v in managed}
        items = []
        for root in self.config.pools:
            tree = self._tree(root)
            for entry in tree.datasets():
                reason = self._unsafe_volume(tree, entry.name, owners)
                size = self._size_of(tree, entry.name)
                if reason is None:
                    try:
                        size = gib_up(self.layout.shape(entry.name))
                    except UnsafeToManage as exc:
                        reason = str(exc)
                items.append(ManageableItem(entry.name, size, reason is None, reason, owners.get(entry.name)))
        return items

    @backend_errors
    def unmanage(self, volume: VolumeRef) -> None:
        dataset = self.dataset_name(volume)
        self.unexport(volume)
        root, leaf = dataset.rsplit("/", 1)
        if self.zfs.exists(dataset):
            self.layout.forget(dataset)
            self._rename(dataset, f"{root}/{UNMANAGED_PREFIX}{leaf}")

    # ---- snapshots -------------------------------------------------------------------------

    @backend_errors
    def manage_existing_snapshot(self, snapshot: VolumeSnapshotRef, reference: dict) -> VolumeSnapshotResult:
        dataset = self.dataset_name(snapshot.volume)
        ref = str((reference or {}).get("source-name") or "").strip()
        if "@" in ref and ref.split("@", 1)[0] != dataset:
            raise UnsafeToManage(f"snapshot {ref!r} does not belong to volume {snapshot.volume.id} ({dataset})")
        tag = ref.split("@", 1)[-1]
        old = f"{dataset}@{tag}"
        root = self._root_of(dataset)
        with self._lock(root):
            tree = self._tree(root)
            if not tag or old not in tree:
                raise UnsafeToManage(f"snapshot {old!r} does not exist")
            reason = self._unsafe_snapshot(tree, old, {})
            if reason:
                raise UnsafeToManage(f"{old!r} cannot be managed: {reason}")
            new = f"{dataset}@{self.config.snapshot_prefix}{snapshot.id}"
            self.zfs.rename(old, new)
        return VolumeSnapshotResult(new, snapshot.volume.size_gb)

    @backend_errors
    def manageable_snapshots(self, managed: list[VolumeSnapshotRef]) -> list[ManageableSnapshot]:
        owners = {self.snapshot_name(s): s.id for s in managed}
        items = []
        for root in self.config.pools:
            tree = self._tree(root)
            for entry in tree.snapshots():
                dataset = entry.name.split("@", 1)[0]
                reason = self._unsafe_snapshot(tree, entry.name, owners)
                size = self._size_of(tree, dataset) if dataset in tree else self._size_of(tree, entry.name)
                items.append(ManageableSnapshot(entry.name, size, reason is None, reason, owners.get(entry.name),
                                                source_reference=dataset))
        return items

    @backend_errors
    def unmanage_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        name = self.snapshot_name(snapshot)
        dataset, tag = name.split("@", 1)
        if self.zfs.exists(name):
            self.zfs.rename(name, f"{dataset}@{UNMANAGED_PREFIX}{tag}")

    # ---- retype ----------------------------------------------------------------------------

    @backend_errors
    def retype(self, volume: VolumeRef, new_extra_specs: dict[str, str]) -> bool:
        """In place when only ZFS properties or thin/thick change; False when the
        new type wants another backend or protocol, or specs this one cannot give."""
        backend = new_extra_specs.get("volume_backend_name")
        if backend and backend.strip() != self.backend_name:
            return False
        protocol = new_extra_specs.get("storage_protocol", "").split()[-1:]  # "<in> iSCSI" or "iSCSI"
        if protocol and protocol[0].lower() != self.storage_protocol.lower():
            return False
        try:
            props = volume_specs.properties(new_extra_specs, self.configured, zvol=self.layout.kind == "zvol")
            thick = volume_specs.provisioning(new_extra_specs) == volume_specs.THICK
        except InvalidRequest as exc:
            log.info("volume %s: retype needs another backend: %s", volume.id, exc)
            return False
        dataset = self.dataset_name(volume)
        self.zfs.set(dataset, props)
        self.layout.reserve(dataset, volume.size_gb * GiB, thick)
        return True
