"""The image-volume cache (Cinder's image_volume_cache), per backend when its table
says `image_volume_cache_enabled`.

The first volume from an image on a backend and pool fills a cache volume from the
image (the same copy any volume from an image gets) and takes one snapshot of it,
as the ZFS Storage Appliance's cache does; that volume and every later one from
the image are made from the snapshot (`create_volume_from_snapshot`: a ZFS clone,
O(1) in the image's size; a copy on RemoteFS, as Cinder's). A backend that takes
no snapshots clones the cache volume instead (`create_cloned_volume`).
Concurrent first requests for one image fill it once: a lock per image, backend
and pool, held while an entry is looked up, filled and cloned, so nothing evicts
an entry under a clone.

- An entry is what the image was when filled (`updated_at` and checksum): a
  request for the image as it is now finds a changed one stale, and it is replaced.
- Limits per backend (`image_volume_cache_max_count`, `_max_size_gb`; 0: none):
  the least recently used entries not in use are evicted to make room; an image
  larger than the size limit, or no room, is not cached (the volume is filled
  from the image as without a cache).
- Cache volumes belong to an internal project (Cinder's internal tenant): users
  never see them nor count them in their quotas; admins see them (and their
  snapshots) with all_tenants, named `image-<image id>`. Deleting one drops its entry.
- An image deleted drops its entries; the volumes cloned from them keep their
  data (a driver's delete keeps data that clones depend on, hidden, until the
  last one goes). The built-in Image service tells of each deletion; an external
  Glance does not, so the periodic check (`check_once`) asks the image service
  about every entry's image, as Shoal itself, and drops the entries of images
  gone or changed (Cinder finds a changed one only when it is asked for again,
  and never a deleted one). Glance answers that for every image only to an
  admin: give Shoal's service user the admin role (as Cinder's usually has);
  without it only the images it can see are checked, and an image that was
  public or community when its entry was filled and is now shown to no one is
  taken as gone (or changed: its visibility).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from shoal.db import models
from shoal.db.image_cache import ImageVolumeCacheEntry
from shoal.drivers.volume import (
    VolumeDriver,
    VolumeRef,
    VolumeResult,
    VolumeSnapshotRef,
)

from ..common import core as c
from ..common.context import RequestContext
from ..image_client import CannotTell, NotVisible
from . import rows as vr
from .volumes import Volumes

if TYPE_CHECKING:
    from ..image_client import ImageInfo
    from .images import ImageSource

log = logging.getLogger(__name__)
E, V = ImageVolumeCacheEntry, models.Volume
GiB = 1024**3

# Cinder's internal tenant: the owner of cache volumes.
INTERNAL_PROJECT = "shoal-internal"
INTERNAL = RequestContext(user_id=INTERNAL_PROJECT, project_id=INTERNAL_PROJECT, roles=("admin",))

# fill(volume_id, ref, driver, source, also): copies the image into the new volume
# (`downloading`), reporting progress on it and on the volumes in `also`; the
# volume ends `available` (filled) or `error`.
Fill = Callable[[str, VolumeRef, VolumeDriver, "ImageSource", tuple[str, ...]], None]
# lookup(image_id): the image as it is now, None when gone; raises CannotTell (see ImageClient.lookup).
Lookup = Callable[[str], "ImageInfo | None"]
SWEEP = "image-cache-sweep"  # the key lock of the periodic check: one at a time


@dataclass(frozen=True)
class Limits:
    max_size_gb: int  # 0: no limit
    max_count: int

    def room(self, count: int, total_gb: int, size_gb: int) -> bool:
        return ((not self.max_count or count + 1 <= self.max_count)
                and (not self.max_size_gb or total_gb + size_gb <= self.max_size_gb))


def entry_key(backend: str, pool: str, image_id: str) -> str:
    return f"image-cache:{backend}:{pool}:{image_id}"


def size_gb(virtual_size: int) -> int:
    return max(1, -(-virtual_size // GiB))


class ImageVolumeCache:
    def __init__(self, core: c.Core, volumes: Volumes, fill: Fill, lookup: Lookup | None):
        self.core = core
        self.volumes = volumes
        self.fill = fill
        self.lookup = lookup  # None: no image service

    def limits(self, backend: str) -> Limits | None:
        """The backend's limits, or None when its cache is off."""
        table = self.core.settings.backends.get(backend)
        if table is None or not getattr(table, "image_volume_cache_enabled", False):
            return None
        return Limits(table.image_volume_cache_max_size_gb, table.image_volume_cache_max_count)

    # ---- a volume from the cache ----------------------------------------------------------------

    def clone(self, ref: VolumeRef, drv: VolumeDriver, source: ImageSource) -> VolumeResult | None:
        """The new volume `ref` made as a clone of the image's entry on its backend
        and pool, the entry filled first when there is none (or a stale one).
        None when the cache does not serve it (off, no room, the fill or the clone
        failed): the caller makes and fills the volume itself."""
        backend = drv.backend_name
        limits = self.limits(backend)
        if limits is None:
            return None
        with self.core.tasks.key_lock(entry_key(backend, ref.pool, source.image_id)):
            cached = self._current(backend, ref.pool, source)
            if cached is None:
                cached = self._fill_entry(backend, ref.pool, drv, source, limits, ref.id)
                if cached is None:
                    return None
            cache_volume = cached.volume if isinstance(cached, VolumeSnapshotRef) else cached
            try:
                if isinstance(cached, VolumeSnapshotRef):
                    return drv.create_volume_from_snapshot(ref, cached)
                return drv.create_cloned_volume(ref, cached)
            except Exception as exc:
                log.warning("image %s: cloning cache volume %s into volume %s failed (%s); copying the image "
                            "instead", source.image_id, cache_volume.id, ref.id, exc)
                self._drop_entry_of(cache_volume.id)
                return None

    def checked_size(self, image: ImageInfo) -> int | None:
        """The virtual size of `image` as a fill checked it, when an entry holds the
        image as it is now (same updated_at and checksum; image data never changes):
        a request need not inspect the image again."""
        with self.core.db.session() as session:
            return session.scalars(select(E.virtual_size).where(
                E.image_id == image.id, E.image_updated_at == image.updated_at,
                E.image_checksum == image.checksum).limit(1)).first()

    def _current(self, backend: str, pool: str, source: ImageSource) -> VolumeRef | VolumeSnapshotRef | None:
        """What clones are made from -- the entry's snapshot, or its cache volume --
        with the use recorded, if the entry is there and fresh; a stale entry (the
        image changed, its volume gone or broken) is dropped."""
        with self.core.db.session() as session:
            entry = session.scalars(select(E).where(E.backend == backend, E.pool == pool,
                                                    E.image_id == source.image_id)).one_or_none()
            if entry is None:
                return None
            volume = session.get(V, entry.volume_id)
            fresh = entry.image_updated_at == source.updated_at and entry.image_checksum == source.checksum
            if volume is not None and volume.status == "available" and fresh:
                entry.last_used = models.utcnow()
                snap = session.scalars(select(models.VolumeSnapshot).where(
                    models.VolumeSnapshot.volume_id == volume.id, models.VolumeSnapshot.status == "available")).first()
                return vr.snapshot_ref(snap) if snap is not None else vr.volume_ref(volume)
            why = "the image changed" if not fresh else f"its volume is {volume.status if volume else 'gone'}"
            log.info("image %s: cache entry on %s#%s replaced: %s", source.image_id, backend, pool, why)
            session.delete(entry)
            stale = entry.volume_id
        self._discard(stale)
        return None

    def _fill_entry(self, backend: str, pool: str, drv: VolumeDriver, source: ImageSource, limits: Limits,
                    waiting: str) -> VolumeRef | VolumeSnapshotRef | None:
        """A new entry: its cache volume made, filled from the image through the
        same copy as any volume (progress shown on the `waiting` volume too), and
        snapshotted where the backend takes snapshots."""
        size = size_gb(source.virtual_size)
        volume_id = self._reserve(backend, pool, drv, source, size, limits)
        if volume_id is None:
            return None
        ref = VolumeRef(volume_id, pool, size)
        try:
            made = drv.create_volume(ref)
        except Exception as exc:
            log.warning("image %s: the cache volume %s could not be made: %s", source.image_id, volume_id, exc)
            self._drop_entry_of(volume_id)
            return None
        ref = VolumeRef(volume_id, pool, made.size_gb, made.provider_location)
        vr.set_volume(self.core, volume_id, provider_location=made.provider_location, size=made.size_gb,
                      status="downloading", progress="0%")
        self.fill(volume_id, ref, drv, source, (waiting,))
        with self.core.db.session() as session:
            volume = session.get(V, volume_id)
            filled = volume is not None and volume.status == "available"
        if not filled:
            self._drop_entry_of(volume_id)
            return None
        log.info("image %s: cached on %s#%s as volume %s", source.image_id, backend, pool, volume_id)
        return self._snapshot(ref, drv) or ref

    def _snapshot(self, ref: VolumeRef, drv: VolumeDriver) -> VolumeSnapshotRef | None:
        """The cache volume's one snapshot, recorded as any snapshot (so that the
        volume's delete removes it); None when the backend takes none."""
        snap = models.VolumeSnapshot(id=models.new_id(), volume_id=ref.id, project_id=INTERNAL_PROJECT,
                                     user_id=INTERNAL_PROJECT, name=f"image-cache-{ref.id}", size=ref.size_gb,
                                     status="creating", metadata_={})
        with self.core.db.session() as session:
            c.insert_new(session, snap)
        snap_ref = VolumeSnapshotRef(snap.id, ref)
        try:
            made = drv.create_snapshot(snap_ref)
        except Exception as exc:
            log.info("cache volume %s: no snapshot (%s); clones are made from the volume", ref.id, exc)
            with self.core.db.session() as session:
                session.execute(delete(models.VolumeSnapshot).where(models.VolumeSnapshot.id == snap.id))
            return None
        vr.set_snapshot(self.core, snap.id, status="available", provider_location=made.provider_location)
        return VolumeSnapshotRef(snap.id, ref, made.provider_location)

    def _reserve(self, backend: str, pool: str, drv: VolumeDriver, source: ImageSource, size: int,
                 limits: Limits) -> str | None:
        """Room made (LRU eviction) and the entry and its volume's row recorded, in
        one step per backend, so that fills running side by side keep to the limits."""
        if limits.max_size_gb and size > limits.max_size_gb:
            return None
        with self.core.tasks.key_lock(f"image-cache:{backend}"):
            if not self._make_room(backend, size, limits):
                log.info("image %s: no room in the image-volume cache of %s (every entry in use)",
                         source.image_id, backend)
                return None
            volume = V(id=models.new_id(), project_id=INTERNAL_PROJECT, user_id=INTERNAL_PROJECT,
                       name=f"image-{source.image_id}", size=size, status="creating", task="create",
                       backend=backend, pool=pool, availability_zone=drv.availability_zone, metadata_={})
            with self.core.db.session() as session:
                c.insert_new(session, volume)
                c.insert_new(session, E(backend=backend, pool=pool, image_id=source.image_id,
                                        image_updated_at=source.updated_at, image_checksum=source.checksum,
                                        image_visibility=source.image.visibility, volume_id=volume.id, size=size,
                                        virtual_size=source.virtual_size))
            return volume.id

    def _make_room(self, backend: str, size: int, limits: Limits) -> bool:
        """Evict least recently used entries that no request is using until `size`
        GiB more fit; False when they cannot."""
        while True:
            with self.core.db.session() as session:
                entries = [(e.pool, e.image_id, e.volume_id) for e in session.scalars(
                    select(E).where(E.backend == backend).order_by(E.last_used, E.id))]
                total = sum(session.scalars(select(E.size).where(E.backend == backend)))
            if limits.room(len(entries), total, size):
                return True
            for pool, image_id, volume_id in entries:
                lock = self.core.tasks.try_key_lock(entry_key(backend, pool, image_id))
                if lock is None:
                    continue  # being filled or cloned right now
                try:
                    log.info("image %s: cache entry on %s#%s evicted (least recently used)", image_id, backend, pool)
                    self._drop_entry_of(volume_id)
                finally:
                    lock.release()
                break
            else:
                return False

    # ---- dropping entries ----------------------------------------------------------------------

    def _drop_entry_of(self, volume_id: str) -> None:
        with self.core.db.session() as session:
            for entry in session.scalars(select(E).where(E.volume_id == volume_id)):
                session.delete(entry)
        self._discard(volume_id)

    def _discard(self, volume_id: str) -> None:
        """The cache volume deleted as any volume is (in the background)."""
        try:
            self.volumes.delete(INTERNAL, volume_id, cascade=True, force=True)
        except Exception as exc:  # already gone, or its backend frozen: nothing more to do here
            log.info("cache volume %s not deleted: %s", volume_id, exc)

    def image_deleted(self, image_id: str) -> None:
        """The image's entries go (in the background: a fill may hold one)."""
        with self.core.db.session() as session:
            found = [(e.backend, e.pool) for e in session.scalars(select(E).where(E.image_id == image_id))]
        if found:
            self.core.tasks.start(self._forget_image, image_id, found)

    def _forget_image(self, image_id: str, found: list[tuple[str, str]]) -> None:
        for backend, pool in found:
            with self.core.tasks.key_lock(entry_key(backend, pool, image_id)):
                with self.core.db.session() as session:
                    volumes = [e.volume_id for e in session.scalars(select(E).where(
                        E.backend == backend, E.pool == pool, E.image_id == image_id))]
                for volume_id in volumes:
                    log.info("image %s deleted: its cache entry on %s#%s goes", image_id, backend, pool)
                    self._drop_entry_of(volume_id)

    def recover(self) -> None:
        """At start-up, before the volumes' recovery: entries whose fill a crash cut
        short, or whose volume is gone or broken, are dropped; their volumes are
        marked for deletion, which that recovery then carries out. Whether their
        images are still there is the periodic check's to ask: an image service
        slow to answer must not hold up the start, and a sweep's deletes must not
        cross that recovery's."""
        with self.core.db.session() as session:
            for entry in list(session.scalars(select(E))):
                volume = session.get(V, entry.volume_id)
                if volume is not None and volume.status == "available":
                    continue
                log.info("image %s: cache entry on %s#%s dropped at start-up", entry.image_id, entry.backend,
                         entry.pool)
                session.delete(entry)
                if volume is not None:
                    volume.status, volume.task, volume.task_arg = "deleting", "delete", None

    # ---- the periodic check ----------------------------------------------------------------------

    def check_once(self) -> None:
        """The periodic check (Recovery.also): a sweep of the entries in the
        background, unless one still runs."""
        if self.lookup is None:
            return
        lock = self.core.tasks.try_key_lock(SWEEP)
        if lock is not None:
            self.core.tasks.start_holding(lock, self.sweep)

    def sweep(self) -> None:
        """Every entry whose image is gone, or not what the entry holds (another
        updated_at or checksum), is dropped with its cache volume; an image the
        service cannot tell about keeps its entries until a later sweep."""
        with self.core.db.session() as session:
            held: dict[str, list[tuple]] = defaultdict(list)
            for e in session.scalars(select(E)):
                held[e.image_id].append((e.backend, e.pool, e.volume_id, e.image_updated_at, e.image_checksum,
                                         e.image_visibility))
        for image_id, entries in held.items():
            unseen = False  # shown to no one, though it was to all: deleted, or changed
            try:
                image = self.lookup(image_id)
            except NotVisible as exc:
                image, unseen = None, True
                log.debug("image %s: %s", image_id, exc)
            except CannotTell as exc:
                log.debug("image %s: cache entries kept: %s", image_id, exc)
                continue
            except Exception as exc:  # noqa: BLE001 - the image service is down: the next sweep asks again
                log.warning("image %s: could not check its cache entries: %s", image_id, exc)
                continue
            for backend, pool, volume_id, updated_at, checksum, visibility in entries:
                if unseen and visibility not in ("public", "community"):
                    continue  # may be another project's image, there as it was
                if image is not None and (image.updated_at, image.checksum) == (updated_at, checksum):
                    continue
                lock = self.core.tasks.try_key_lock(entry_key(backend, pool, image_id))
                if lock is None:
                    continue  # being filled or cloned: the request finds a changed image itself
                try:
                    with self.core.db.session() as session:
                        still = session.scalars(select(E.id).where(E.volume_id == volume_id)).first()
                    if still is not None:
                        log.info("image %s %s: its cache entry on %s#%s goes", image_id,
                                 "is gone" if image is None else "changed", backend, pool)
                        self._drop_entry_of(volume_id)
                finally:
                    lock.release()
