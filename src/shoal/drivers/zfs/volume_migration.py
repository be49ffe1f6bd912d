"""Migration on ZFS volumes: the migrated data takes the original volume's name
(`<root>/<volume_prefix><id>`), so a dataset never carries the id of a volume
that no longer exists (the garbage collector and manage lists go by names).
Part of ZfsVolumeDriver."""

from __future__ import annotations

from shoal.drivers.base import NotFoundOnBackend
from shoal.drivers.volume import VolumeRef

from .volume_layout import backend_errors


class MigrationMixin:
    @backend_errors
    def update_migrated_volume(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        """Rename the new dataset to the original's name in the new pool. When that
        name is taken (a migration within one pool, whose source still holds it),
        the data keeps its name and the answer is new_volume's id (`_name_id`).
        Repeated after the rename, it finds the work done."""
        current, wanted = self.dataset_name(new_volume), self._new_name(volume)
        root = self._root_of(current)
        with self._lock(root):
            have_current, have_wanted = self.zfs.exists(current), self.zfs.exists(wanted)
            if have_wanted:
                return new_volume.id if have_current else None
            if not have_current:
                raise NotFoundOnBackend(f"volume {new_volume.id} has no data on the backend ({current})")
            self.layout.forget(current)
            self._rename(current, wanted)
            self.layout.forget(wanted)
        return None

    def migrated_location(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        return self._new_name(volume)
