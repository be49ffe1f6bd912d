"""What the ZFSSA drivers' image caches (`lun_image_cache`, `file_image_cache`)
share: one lock per cached image, shared by every ZFSSA driver of this process
(Cinder's external `zfssaiscsi` / `zfssanfs` locks, narrowed to one image), so
that an entry is checked, filled and cloned, or collected after its last
clone, by one thread at a time: no entry goes while a clone of it is being
made, and concurrent first requests fill it once. Backends sharing an
appliance's cache share its entries, hence the lock's key names the appliance.
"""

from __future__ import annotations

import logging
import math
import threading

from shoal.drivers.volume import ImageRef

log = logging.getLogger(__name__)
GiB = 1024**3

_guard = threading.Lock()
_locks: dict[tuple[str, ...], threading.Lock] = {}


def image_lock(*key: str) -> threading.Lock:
    with _guard:
        return _locks.setdefault(key, threading.Lock())


def entry_size_gb(image: ImageRef) -> int:
    """An entry's size: the image's virtual size (as services checked it) rounded up to GiB."""
    return max(1, math.ceil(image.virtual_size / GiB))


def labels(image: ImageRef, prefix: str = "") -> dict[str, str]:
    """What an entry records of the image it holds (Cinder's `image_id` and
    `updated_at`, and the checksum), each name after `prefix`."""
    found = {"image_id": image.id, "updated_at": image.updated_at, "image_checksum": image.checksum}
    return {prefix + key: value for key, value in found.items() if value}


def holds(recorded: dict, image: ImageRef, prefix: str = "") -> bool:
    """Whether an entry that recorded `recorded` holds the image as it is now."""
    return all(recorded.get(key) == value for key, value in labels(image, prefix).items())


class CacheEntries:
    """Collection after a volume made from an entry went. Subclasses say where
    their entries are (`lock_key`), which entry a volume's origin names
    (`image_of`), when one goes (`_collect`) and what errors their appliance
    calls raise (`errors`)."""

    errors: tuple[type[Exception], ...] = ()

    def lock_key(self) -> tuple[str, ...]:
        raise NotImplementedError

    def image_of(self, origin) -> str | None:
        raise NotImplementedError

    def _collect(self, image_id: str) -> None:
        raise NotImplementedError

    def _lock(self, image_id: str) -> threading.Lock:
        return image_lock(*self.lock_key(), image_id)

    def made_from_gone(self, origin) -> None:
        """After a volume made from `origin` went: the entry too, when that was
        the last volume made from it. A failure is logged: the next start
        collects it."""
        image_id = self.image_of(origin)
        if image_id is None:
            return
        with self._lock(image_id):
            self._recount(image_id)

    def _recount(self, image_id: str) -> None:
        """Under the image's lock."""
        try:
            self._collect(image_id)
        except self.errors as exc:
            log.error("image %s: the appliance's cache entry could not be collected: %s", image_id, exc)
