"""The NFS driver's image cache (Cinder's ZFSSA NFS `clone_image`, reference
§3.6): one raw file per image, `<cache_directory>/volume-<image id>` on the
share, filled by services' copy over nfs://, labelled over WebDAV with the
image it holds (`image_id`, `updated_at`, `image_checksum`); a volume from the
image is a WebDAV COPY of it (done by the appliance), grown to the volume's
size, whose `origin` property names the cache file. Each image's entry is
checked, filled, copied and collected under its lock (`image_cache_base`), and goes
when the last volume copied from it does.

What the original got wrong, fixed here:
- The image is not downloaded to learn its size: services checked it.
- A stale entry is replaced even while volumes copied from it live (they are
  copies: nothing of theirs depends on it), instead of every later request
  falling back to a full copy.
- The clone count is not a counter kept beside the data (a crash between the
  copy and the increment made it wrong for good): the volumes whose `origin`
  names the entry are counted whenever it changes, and `numclones` is written
  from that count for the appliance's users to see.
- A fill is made under a temporary name of its own and moved into place when
  complete: a crash never leaves a half-filled entry that looks whole.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from contextlib import ExitStack

from shoal.drivers.volume import (
    ImageFill,
    ImageRef,
    VolumeData,
    VolumeRef,
    VolumeResult,
)
from shoal.hosts import Host

from . import image_cache_base, naming
from .config import ZfssaNfsBackendConfig
from .image_cache_base import CacheEntries, entry_size_gb
from .nfs_files import ShareFiles
from .webdav import WebDavClient, WebDavError

log = logging.getLogger(__name__)

FILE_PREFIX = "volume-"
FILL_PREFIX = "tmp-fill-"
NUMCLONES, ORIGIN = "numclones", "origin"

# (volume, source file, its size in GiB, origin to record) -> the volume, a copy of the file
CopyInto = Callable[[VolumeRef, str, int, str], VolumeResult]


def holds(props: dict[str, str], image: ImageRef) -> bool:
    """Whether the cache file holds the image as it is now."""
    return image_cache_base.holds(props, image)


class FileImageCache(CacheEntries):
    errors = (WebDavError,)

    def __init__(self, config: ZfssaNfsBackendConfig, host: Host, dav: Callable[[], WebDavClient],
                 files: Callable[[], ShareFiles], copy_into: CopyInto):
        self.config, self.host = config, host
        self._dav, self._files = dav, files
        self.copy_into = copy_into
        self.directory = config.cache_directory

    def path(self, image_id: str) -> str:
        return f"{self.directory}/{FILE_PREFIX}{naming.checked_id(image_id, 'image')}"

    def lock_key(self) -> tuple[str, ...]:
        c = self.config
        return c.appliance.address, c.pool, c.project, c.share

    # ---- a volume from the cache ----------------------------------------------------------------

    def clone(self, volume: VolumeRef, image: ImageRef, fill: ImageFill) -> VolumeResult | None:
        if not self.config.enable_local_cache:
            return None
        size_gb = entry_size_gb(image)
        if size_gb > volume.size_gb:
            return None
        with self._lock(image.id):
            path = self._current(image, size_gb, fill)
            try:
                result = self.copy_into(volume, path, size_gb, path)
            finally:
                self._recount(image.id)  # an entry nothing was copied from goes
        log.info("image %s: volume %s copied from the appliance's image cache (%s)", image.id, volume.id, path)
        return result

    def _current(self, image: ImageRef, size_gb: int, fill: ImageFill) -> str:
        """The entry's file, holding the image as it is now: filled under a
        temporary name and moved into place when missing or stale."""
        dav, path = self._dav(), self.path(image.id)
        props = dav.properties(path)
        if props is not None and holds(props, image):
            return path
        if props is not None:
            log.info("image %s: the appliance's cache file %s is replaced: the image changed", image.id, path)
        # A name never used before: an NFS server may still cache an earlier fill's
        # name for the file that a MOVE made the entry.
        temporary = f"{self.directory}/{FILL_PREFIX}{naming.checked_id(image.id, 'image')}-{secrets.token_hex(4)}"
        files = self._files()
        files.create(temporary, size_gb)
        with ExitStack() as undo:
            undo.callback(self._drop, temporary)
            fill(VolumeData(self.host, files.url(temporary), "raw"))
            dav.set_properties(temporary, {**image_cache_base.labels(image), NUMCLONES: "0"})
            dav.move(temporary, path, overwrite=True)
            undo.pop_all()
        log.info("image %s: cached on the appliance's share as %s", image.id, path)
        return path

    def _drop(self, name: str) -> None:
        try:
            self._dav().delete(name)
        except WebDavError as exc:
            log.error("ZFSSA cache file %s could not be removed: %s", name, exc)

    # ---- collection -----------------------------------------------------------------------------

    def image_of(self, origin: str | None) -> str | None:
        """The image whose cache file `origin` (a volume file's) names, or None."""
        prefix = f"{self.directory}/{FILE_PREFIX}"
        return origin[len(prefix):] if origin and origin.startswith(prefix) else None

    def _collect(self, image_id: str) -> None:
        """Under the image's lock: the entry goes when no volume file names it as
        its origin; otherwise its `numclones` is set to their count."""
        dav, path = self._dav(), self.path(image_id)
        props = dav.properties(path)
        if props is None:
            return
        copies = [name for name, found in dav.listing("") if found.get(ORIGIN) == path and "collection" not in found]
        if not copies:
            log.info("image %s: the appliance's cache file %s goes (no volume copied from it left)", image_id, path)
            dav.delete(path)
        elif props.get(NUMCLONES) != str(len(copies)):
            dav.set_properties(path, {NUMCLONES: str(len(copies))})

    def sweep(self) -> None:
        """At start: the cache directory made when missing; fills cut short and
        entries nothing was copied from (a crash between fill and copy) go."""
        if not self.config.enable_local_cache:
            return
        dav = self._dav()
        try:
            if dav.properties(self.directory) is None:
                dav.mkcol(self.directory)
                return
            entries = [name for name, found in dav.listing(self.directory) if "collection" not in found]
        except WebDavError as exc:
            log.error("ZFSSA: the image cache directory %s could not be swept: %s", self.directory, exc)
            return
        for name in entries:
            if name.startswith(FILL_PREFIX):
                self._drop(f"{self.directory}/{name}")
            elif name.startswith(FILE_PREFIX):
                self.made_from_gone(f"{self.directory}/{name}")
