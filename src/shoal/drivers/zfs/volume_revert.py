"""Revert for `ZfsVolumeDriver` (a mixin, kept apart for size).

``zfs rollback`` when only hidden, clone-less snapshots are newer than the
target (they are destroyed first; in file mode the dataset is remounted first,
proving no file is open: on zfs-fuse a rollback under an open file wedges the
next unmount). When a newer hidden snapshot has clones -- the volume was cloned
after the snapshot -- a rollback would have to destroy those clones. Instead
the snapshot is cloned to ``<volume>-revert``, that clone promoted (the
snapshot and older ones move onto it under the same tags, so their provider
locations stay valid once it takes the volume's name), the old dataset renamed
to ``<volume>-reverted-<8 hex>`` and hidden, and the clone renamed to the
volume's name. A swap that died half-way is finished by the next revert, or
collected by a sweep (both names are hidden by `gc`'s rules). Either way the
volume keeps its current size: a rollback to before an extend is grown again.
"""

from __future__ import annotations

import uuid

from shoal.drivers.base import InvalidRequest, NotFoundOnBackend
from shoal.drivers.volume import VolumeSnapshotRef

from .gc import HIDDEN
from .volume_layout import GiB, Layout, backend_errors


class RevertMixin:
    @backend_errors
    def revert_to_snapshot(self, snapshot: VolumeSnapshotRef) -> None:
        name = self.snapshot_name(snapshot)
        dataset = name.split("@", 1)[0]
        volume = snapshot.volume
        root = self._root_of(dataset)
        with self._lock(root), self._export_suspended(volume):
            self._finish_swap(dataset)
            tree = self._tree(root)
            if name not in tree:
                raise NotFoundOnBackend(f"snapshot {snapshot.id} has no data on the backend ({name})")
            newer = [s for s in tree.snapshots(dataset) if s.txg > tree.get(name).txg]
            if any(not s.hidden for s in newer):
                raise InvalidRequest(f"only the latest snapshot can be reverted to; {snapshot.id} is not the latest")
            if any(tree.clones(s.name) for s in newer):
                self._swap_in_clone(dataset, name)
            else:
                for snap in reversed(newer):
                    self.zfs.destroy_unless_needed(snap.name)
                if self.layout.kind == "file":
                    # zfs-fuse: a rollback under an open file wedges the next unmount;
                    # unmounting (busy retries) first proves nothing holds one.
                    self.zfs.remount(dataset)
                self.zfs.rollback(name)
            have, want = self.layout.size(dataset), volume.size_gb * GiB
            if have < want:  # the snapshot predates an extend
                thick = Layout.thick(self.zfs.get(dataset, ["refreservation"]).get("refreservation"))
                self.layout.grow(dataset, want, thick)

    def _swap_in_clone(self, dataset: str, snapshot: str) -> None:
        """Revert without destroying newer snapshots' clones: promote a clone of
        `snapshot` and give it the volume's name; the old dataset (keeping the
        newer snapshots) is hidden. Each step is resumable (`_finish_swap`)."""
        temp = f"{dataset}-revert"
        props = {k: v for k, v in self.zfs.local_properties(dataset).items()
                 if k not in ("volsize", "mountpoint") and not k.startswith("shoal:")}
        self.zfs.clone(snapshot, temp, props)
        self.zfs.promote(temp)  # `snapshot` and older ones move to temp, dataset becomes its clone
        self._finish_swap(dataset)

    def _finish_swap(self, dataset: str) -> None:
        temp = f"{dataset}-revert"
        if not self.zfs.exists(temp):
            return
        if self.zfs.exists(dataset):
            if not self.zfs.get(dataset, ["origin"]).get("origin", "").startswith(f"{temp}@"):
                self.zfs.destroy(temp)  # a swap that died before its promote: start over
                return
            old = f"{dataset}-reverted-{uuid.uuid4().hex[:8]}"
            self.layout.forget(dataset)
            self._rename(dataset, old)
            self.zfs.set(old, {HIDDEN: "yes"})
        self._rename(temp, dataset)
        self.layout.forget(temp)
        tree = self._tree(self._root_of(dataset))
        for entry in tree.datasets():  # what was set aside and nothing needs
            if entry.name.startswith(f"{dataset}-reverted-"):
                self.collector.collect(tree, entry.name)
