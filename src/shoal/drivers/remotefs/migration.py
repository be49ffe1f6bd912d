"""Migration on RemoteFS volumes: the migrated files take the original volume's
name (`<volume_prefix><id>` in the same share), so no file carries the id of a
volume that no longer exists. The provider location (the share's address) does
not change. Part of RemoteFsVolumeDriver."""

from __future__ import annotations

from shoal.drivers.base import DriverError, NotFoundOnBackend
from shoal.drivers.volume import VolumeRef
from shoal.hosts import CommandError

from . import files as plain


class MigrationMixin:
    def update_migrated_volume(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        """Rename the new volume's files (a fresh copy: its base image and
        sidecars, no snapshots) to the original's names, the base image last:
        repeated after a crash, a base under the original's name means done.
        When the original's name is taken in this share (a migration within the
        share), nothing is renamed and the answer is new_volume's id (`_name_id`)."""
        try:
            return self._take_name(volume, new_volume)
        except CommandError as exc:
            raise DriverError(str(exc)) from None

    def _take_name(self, volume: VolumeRef, new_volume: VolumeRef) -> str | None:
        share = self._find(new_volume)
        new, old = self._files(share, new_volume.id), self._files(share, volume.id)
        with self._locked(new_volume.id, volume.id):
            have_new = self._exists(new.base)
            if self._exists(old.base) or self._exists(old.info):
                return new_volume.id if have_new else None
            if not have_new:
                raise NotFoundOnBackend(f"volume {new_volume.id} has no file in {share.directory}")
            if self._exists(new.info):  # snapshots layered on it: the chain names the files
                return new_volume.id
            names = plain.parse_names(self.host.run(plain.list_volume_files(new.directory, new.name)).stdout)
            for name in sorted(names, key=lambda n: n == new.name):  # the base image last
                self.host.run(plain.move(new.path(name), old.path(old.name + name[len(new.name):])))
        return None
