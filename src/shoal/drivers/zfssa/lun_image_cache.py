"""The iSCSI driver's image cache (Cinder's ZFSSA `clone_image`, reference
§3.6): one LUN per image in the cache project, `os-cache-vol-<image id>`,
holding the image (filled by services' copy through `lun_data`), with one
snapshot `image-<image id>`; a volume from the image is a clone of that
snapshot in the volume project, grown to the volume's size. The LUN records
the image it holds in custom properties (`image_id`, `updated_at`, and
`image_checksum`): when the image changed since, the entry is refreshed.
Each image's entry is checked, filled, cloned and collected under its lock
(`image_cache_base`), and goes when its last clone does.

What the original got wrong, fixed here:
- The size is the image's virtual size rounded up to GiB, as services checked
  it (no download, and no extra GiB that made a cache too big for a volume of
  the image's own size: Launchpad 1647055's workaround).
- A stale entry whose snapshot still has clones no longer makes every later
  request fall back to a full copy: it is hidden (renamed `deleted-…`, as
  `lun_gc` hides what clones need) and collected with its last clone, and a
  fresh entry is made next to it.
- A failed clone leaves no clone behind, and no entry that nothing uses; a
  fill or clone cut short by a crash is collected at the next start.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack

from shoal.drivers.volume import (
    ImageFill,
    ImageRef,
    VolumeData,
    VolumeRef,
    VolumeResult,
)

from . import image_cache_base, lun_gc, lun_specs, naming
from .appliance import MASK_ALL, Appliance
from .config import ZfssaIscsiBackendConfig
from .image_cache_base import CacheEntries, entry_size_gb
from .rest import ApplianceError, ApplianceNotFound

log = logging.getLogger(__name__)

GiB = 1024**3
LUN_PREFIX = "os-cache-vol-"
SNAPSHOT_PREFIX = "image-"
CUSTOM = "custom:"

OpenLun = Callable[[str, str], AbstractContextManager[VolumeData]]  # (project, LUN name) -> its data


def cache_lun(image_id: str) -> str:
    return LUN_PREFIX + naming.checked_id(image_id, "image")


def cache_snapshot(image_id: str) -> str:
    return SNAPSHOT_PREFIX + naming.checked_id(image_id, "image")


def holds(lun: dict, image: ImageRef) -> bool:
    """Whether the cache LUN holds the image as it is now."""
    return image_cache_base.holds(lun, image, CUSTOM)


class LunImageCache(CacheEntries):
    errors = (ApplianceError,)

    def __init__(self, api: Appliance, config: ZfssaIscsiBackendConfig, open_lun: OpenLun,
                 drop_lun: Callable[[str], None]):
        self.api, self.config = api, config
        self.open_lun = open_lun  # the cache LUN's data, for the fill
        self.drop_lun = drop_lun  # undo of a clone in the volume project

    @property
    def _where(self) -> tuple[str, str]:
        return self.config.pool, self.config.cache_project

    def lock_key(self) -> tuple[str, ...]:
        return self.config.appliance.address, self.config.pool, self.config.cache_project

    # ---- a volume from the cache ----------------------------------------------------------------

    def clone(self, volume: VolumeRef, image: ImageRef, fill: ImageFill,
              specs: lun_specs.LunSpecs) -> VolumeResult | None:
        if not self.config.enable_local_cache:
            return None
        size_gb = entry_size_gb(image)
        if size_gb > volume.size_gb:
            return None  # services refuse that request before; nothing to cache for it
        name = naming.volume(self.config.volume_prefix, volume.id)
        with self._lock(image.id):
            lun, snapshot = self._current(image, size_gb, fill, specs)
            try:
                with ExitStack() as undo:
                    self.api.clone_lun_snapshot(*self._where, lun, snapshot,
                                                lun_specs.clone_body(self.config.project, name, specs))
                    undo.callback(self.drop_lun, name)
                    if volume.size_gb > size_gb:
                        self.api.modify_lun(self.config.pool, self.config.project, name,
                                            {"volsize": volume.size_gb * GiB})
                    undo.pop_all()
            except Exception:
                self._recount(image.id)  # an entry nothing uses goes
                raise
        log.info("image %s: volume %s cloned from the appliance's image cache (%s@%s)", image.id, volume.id, lun,
                 snapshot)
        return VolumeResult(name, volume.size_gb)

    def _current(self, image: ImageRef, size_gb: int, fill: ImageFill,
                 specs: lun_specs.LunSpecs) -> tuple[str, str]:
        """The entry's LUN and snapshot, holding the image as it is now: made and
        filled when missing, replaced when stale or broken (a fill cut short)."""
        name, snapshot = cache_lun(image.id), cache_snapshot(image.id)
        try:
            lun = self.api.lun(*self._where, name)
        except ApplianceNotFound:
            lun = None
        if lun is not None:
            clones = self._numclones(name, snapshot)
            if clones is not None and holds(lun, image):
                return name, snapshot
            why = "it has no snapshot (a fill cut short)" if clones is None else "the image changed"
            log.info("image %s: the appliance's cache LUN %s is replaced: %s", image.id, name, why)
            self._retire(name, clones or 0)
        self._fill(name, snapshot, image, size_gb, fill, specs)
        return name, snapshot

    def _numclones(self, lun: str, snapshot: str) -> int | None:
        try:
            return int(self.api.lun_snapshot(*self._where, lun, snapshot).get("numclones") or 0)
        except ApplianceNotFound:
            return None

    def _retire(self, name: str, clones: int) -> None:
        """A stale entry goes; hidden instead while clones still hang off it
        (`lun_gc.collect_origin` deletes it with the last of them)."""
        if clones:
            hidden = f"{lun_gc.HIDDEN_PREFIX}{secrets.token_hex(2)}-{name}"
            self.api.modify_lun(*self._where, name, {"name": hidden, "initiatorgroup": MASK_ALL})
        else:
            self.api.delete_lun(*self._where, name)

    def _fill(self, name: str, snapshot: str, image: ImageRef, size_gb: int, fill: ImageFill,
              specs: lun_specs.LunSpecs) -> None:
        body = lun_specs.create_body(name, size_gb, self.config.target_group, specs)
        body.update(image_cache_base.labels(image, CUSTOM))
        self.api.create_lun(*self._where, body)
        with ExitStack() as undo:
            undo.callback(self._drop, name)
            with self.open_lun(self.config.cache_project, name) as data:
                fill(data)
            self.api.create_lun_snapshot(*self._where, name, snapshot)
            undo.pop_all()
        log.info("image %s: cached on the appliance as %s/%s@%s", image.id, self.config.cache_project, name, snapshot)

    def _drop(self, name: str) -> None:
        try:
            self.api.delete_lun(*self._where, name)
        except ApplianceNotFound:
            pass
        except ApplianceError as exc:
            log.error("ZFSSA cache LUN %s/%s could not be removed: %s", self.config.cache_project, name, exc)

    # ---- collection -----------------------------------------------------------------------------

    def image_of(self, origin: dict | None) -> str | None:
        """The image whose cache snapshot `origin` (a LUN's) is, or None."""
        origin = origin or {}
        share, snapshot = origin.get("share") or "", origin.get("snapshot") or ""
        if origin.get("project") != self.config.cache_project or not share.startswith(LUN_PREFIX):
            return None
        image_id = share[len(LUN_PREFIX):]
        return image_id if snapshot == SNAPSHOT_PREFIX + image_id else None

    def _collect(self, image_id: str) -> None:
        """Under the image's lock: the entry goes when nothing hangs off its
        snapshot, by the appliance's own count. (The original also dropped it at
        a count of 1 once the clone just deleted was gone, against a stale
        count; with an exact count that drops an entry a clone still needs,
        which the appliance refuses. A stale count only delays the collection.)"""
        name, snapshot = cache_lun(image_id), cache_snapshot(image_id)
        clones = self._numclones(name, snapshot)
        if not clones:  # 0, or no snapshot: no clone can need it
            log.info("image %s: the appliance's cache LUN %s goes (no clone left)", image_id, name)
            self._drop(name)

    def sweep(self) -> None:
        """At start: hidden entries nothing needs, entries without clones and
        fills cut short go."""
        if not self.config.enable_local_cache:
            return
        try:
            lun_gc.sweep(self.api, *self._where, self.config.volume_prefix)
            names = [lun.get("name") or "" for lun in self.api.luns(*self._where)]
        except ApplianceError as exc:
            log.error("ZFSSA: the image cache in project %s could not be swept: %s", self.config.cache_project, exc)
            return
        for name in names:
            if name.startswith(LUN_PREFIX):
                self.made_from_gone({"project": self.config.cache_project, "share": name,
                                 "snapshot": SNAPSHOT_PREFIX + name[len(LUN_PREFIX):]})
