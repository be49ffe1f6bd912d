"""Volumes from images and images from volumes (Cinder's copy_image_to_volume and
copy_volume_to_image), on every backend through one generic path: the driver
makes the volume's data reachable (`VolumeDriver.open_data`) and qemu-img copies
between it and the image's data (`image_copy`). The images are the built-in Image
service's or an external Glance's, through one `ImageClient` (services.image_client).

- A volume from an image: the image is checked in the request, before anything is
  made (active, a container and disk format qemu-img converts, its data complete
  and what `disk_format` says, safe -- no backing or data file, no outside extents
  --, and its virtual size fits the volume), then the volume is created as any
  other and, `downloading`, filled (an external Glance's image data is checked the
  same way once downloaded into the conversion directory, before it is copied);
  `bootable` and `volume_image_metadata` are set as Cinder sets them. A failed copy
  leaves the volume `error` with a user message; a restart during the copy, too
  (recovery: a `create` task cut short).
- An image from a volume: the image record is made and its upload begun in the
  request (visibility, quotas), the volume goes `uploading`; in the background the
  volume's data is converted into a file in the conversion directory and streamed
  to the image service (the built-in one's own upload path: hashes, sizes, format
  checks, quotas; or Glance's, as the caller), into the store the volume type's
  `image_service:store_id` names, if it names one (as Cinder). The image gets the
  volume's image metadata as properties, but for Cinder's core properties and
  reserved namespaces. The volume returns to its status either way; a failed
  upload leaves no image behind.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update

from shoal.db import models
from shoal.drivers.volume import (
    ImageRef,
    VolumeData,
    VolumeDriver,
    VolumeRef,
    VolumeResult,
)

from ..common import core as c
from ..common.checks import check_metadata
from ..common.context import RequestContext
from ..common.errors import Invalid, NotFound
from ..common.image_format import QEMU_FORMATS, ImageRejected, inspect_stored, qemu_info
from ..image_client import ImageClient, ImageInfo, LocalImage
from . import image_copy, image_staging
from . import rows as vr
from .image_cache import ImageVolumeCache
from .volumes import Volumes

log = logging.getLogger(__name__)
GiB = 1024**3
V = models.Volume

# Cinder's message actions (cinder/message/message_field.py).
ACTION_COPY_VOLUME_TO_IMAGE, ACTION_COPY_IMAGE_TO_VOLUME = "003", "005"
UPLOAD_FORMATS = ("raw", "qcow2", "vmdk", "vdi", "vhd", "vhdx")
CONTAINER_FORMATS = ("bare",)
# Cinder's glance_core_properties: what an image records of itself, not copied as properties.
CORE_PROPERTIES = ("checksum", "container_format", "disk_format", "image_name", "image_id", "min_disk", "min_ram",
                   "name", "size")
# Cinder's GLANCE_RESERVED_NAMESPACES: Glance's own properties, and an image signature
# (of the image the volume was made from: it would not verify the new image's data).
RESERVED_NAMESPACES = ("os_glance", "img_signature", "signature_verified")
VISIBILITIES = ("public", "private", "shared", "community")
STORE_SPEC = "image_service:store_id"  # the volume type's extra spec: the image service's store an upload goes to
PROGRESS_INTERVAL = 0.5  # seconds between progress writes (qemu-img reports every percent)


def gib_up(nbytes: int) -> int:
    return max(1, math.ceil(nbytes / GiB))


def strict_bool(value: Any, name: str) -> bool:
    """Cinder's strutils.bool_from_string(strict=True)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "t", "true", "on", "y", "yes"):
        return True
    if text in ("0", "f", "false", "off", "n", "no"):
        return False
    raise Invalid(f"Invalid input received: {name} must be a boolean, not {value!r}")


@dataclass(frozen=True)
class ImageSource:
    """A checked image, as a new volume is filled from it (by `reader`, whose token an
    external Glance takes)."""

    image: ImageInfo
    reader: RequestContext
    image_id: str
    disk_format: str
    virtual_size: int
    min_size_gb: int  # what the volume must hold at least
    metadata: dict[str, str]  # volume_image_metadata as Cinder records it
    updated_at: datetime | None = None  # what the image-volume cache keys its entries on, with the checksum
    checksum: str | None = None


@dataclass(frozen=True)
class Upload:
    """An upload the request started: the image's ticket and where the volume returns."""

    volume_id: str
    image_id: str
    disk_format: str
    back_to: str


class VolumeImages:
    def __init__(self, core: c.Core, volumes: Volumes, images: ImageClient | None):
        self.core = core
        self.volumes = volumes
        self.images = images  # None when the image service is off
        self.conversion_dir = Path(core.settings.state_dir) / "conversion"
        self.cache = ImageVolumeCache(core, volumes, self.fill, images.lookup if images else None)
        if images is not None:
            images.on_deleted(self.cache.image_deleted)

    def _image_service(self) -> ImageClient:
        if self.images is None:
            raise Invalid("Invalid input received: the image service is disabled on this Shoal")
        return self.images

    # ---- a volume from an image ------------------------------------------------------------------

    def create_volume(self, ctx: RequestContext, image_ref: Any, size: Any = None, **fields) -> models.Volume:
        """POST /volumes with imageRef: the image checked first (400, nothing made, when it
        will not do), then a volume as any other, filled from the image once made."""
        for other in ("snapshot_id", "source_volid"):
            if fields.get(other):
                raise Invalid(f"Invalid input received: imageRef cannot be combined with {other}")
        if size is not None and not isinstance(size, bool):
            try:
                size = int(size)
            except (TypeError, ValueError):
                pass  # Volumes.create answers with Cinder's message
        source = self.source(ctx, image_ref, size if isinstance(size, int) and not isinstance(size, bool) else None)
        cloned: list[str] = []  # the volume, once made from its backend's image-volume cache

        def make(ref: VolumeRef, drv: VolumeDriver):
            result = self._driver_clone(ref, drv, source)
            if result is None:
                result = self.cache.clone(ref, drv, source)
            if result is None:
                return drv.create_volume(ref)
            cloned.append(ref.id)
            return result

        def populate(volume_id: str, ref: VolumeRef, drv: VolumeDriver) -> None:
            if volume_id in cloned:
                self._filled(volume_id, drv, source)
            else:
                self.fill(volume_id, ref, drv, source)

        return self.volumes.create(ctx, size=source.min_size_gb if size is None else size, make=make,
                                   populate=populate, **fields)

    def _driver_clone(self, ref: VolumeRef, drv: VolumeDriver, source: ImageSource) -> VolumeResult | None:
        """The volume from the backend's own image cache (Cinder's driver clone_image,
        tried before the image-volume cache and the copy), or None to fall back."""
        image = ImageRef(source.image_id, source.updated_at.isoformat() if source.updated_at else "",
                         source.checksum, source.virtual_size)

        def fill(data: VolumeData) -> None:
            self._copy_into(source, ref, data, self._progress(ref.id))
        try:
            return drv.clone_image(ref, image, fill)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the copy still makes the volume
            log.warning("image %s: backend %s could not clone it into volume %s (%s); copying the image instead",
                        source.image_id, drv.backend_name, ref.id, exc)
            return None

    def source(self, ctx: RequestContext, image_ref: Any, size: int | None) -> ImageSource:
        service = self._image_service()
        image = self._find_image(ctx, image_ref)
        if image.status != "active":
            raise Invalid(f"Invalid input received: Image {image.id} is not active.")
        if image.container_format not in CONTAINER_FORMATS:
            raise Invalid(f"Image {image.id} is unacceptable: container format {image.container_format} is not "
                          f"supported (only {', '.join(CONTAINER_FORMATS)})")
        if image.disk_format not in QEMU_FORMATS:
            raise Invalid(f"Image {image.id} is unacceptable: disk format {image.disk_format} cannot be converted")
        virtual = self.cache.checked_size(image)  # checked when an image-volume cache entry was filled
        if virtual is None and service.data_is_local:
            with service.local_copy(ctx, image, self.conversion_dir) as local:
                virtual = self._checked_size(image, local)
        if virtual is None:  # Glance's record for now; the data is checked once downloaded
            virtual = int(image.virtual_size or image.size or 0)
        needed = max(gib_up(virtual), image.min_disk or 0)
        if size is not None:
            if gib_up(image.size or 0) > size:
                raise Invalid(f"Invalid input received: Size of specified image {gib_up(image.size)}GB is larger "
                              f"than volume size {size}GB.")
            if gib_up(virtual) > size:
                raise Invalid(f"Invalid input received: Image virtual size is {gib_up(virtual)}GB and doesn't fit "
                              f"in a volume of size {size}GB.")
            if (image.min_disk or 0) > size:
                raise Invalid(f"Invalid input received: Volume size {size}GB cannot be smaller than the image "
                              f"minDisk size {image.min_disk}GB.")
        return ImageSource(image, ctx, image.id, image.disk_format, virtual, needed, self._metadata_of(image),
                           image.updated_at, image.checksum)

    @staticmethod
    def _checked_size(image: ImageInfo, local: LocalImage) -> int:
        """The image's virtual size, once its data is found what `disk_format` says, safe,
        and complete (Invalid, with the reason, when it is not)."""
        try:
            inspect_stored(local.path, image.disk_format)
            info = qemu_info(local.host, local.path, image.disk_format)
            image_copy.check_integrity(local.host, local.path, image.disk_format)
        except ImageRejected as exc:
            raise Invalid(f"Image {image.id} is unacceptable: {exc}") from None
        return int(info.get("virtual-size") or image.virtual_size or image.size)

    def _find_image(self, ctx: RequestContext, image_ref: Any) -> ImageInfo:
        """By id, else by name when exactly one visible image has it (as Cinder)."""
        invalid = Invalid("Invalid input received: Invalid image identifier or unable to access requested image.")
        if not isinstance(image_ref, str) or not image_ref:
            raise invalid
        try:
            return self._image_service().find(ctx, image_ref)
        except NotFound:
            raise invalid from None

    @staticmethod
    def _metadata_of(image: ImageInfo) -> dict[str, str]:
        meta = {"image_id": image.id, "image_name": image.name or "", "checksum": image.checksum or "",
                "container_format": image.container_format, "disk_format": image.disk_format,
                "min_disk": str(image.min_disk or 0), "min_ram": str(image.min_ram or 0), "size": str(image.size)}
        for name, value in image.properties.items():
            meta.setdefault(name, value)
        return meta

    def fill(self, volume_id: str, ref: VolumeRef, drv: VolumeDriver, source: ImageSource,
             also: tuple[str, ...] = ()) -> None:
        """Background, under the volume's lock, the volume made and `downloading`;
        progress shown on it and on the volumes in `also` (waiting for a cache fill)."""
        with self.core.db.session() as session:
            volume = session.get(V, volume_id)
            if volume is None or volume.status != "downloading":
                return  # deleted (or reset) meanwhile: nothing to fill
        try:
            with drv.open_data(ref, writable=True) as data:
                self._copy_into(source, ref, data, self._progress(volume_id, *also))
        except Exception as exc:
            vr.fail_volume(self.core, volume_id, "error", ACTION_COPY_IMAGE_TO_VOLUME, vr.DETAIL_DRIVER_FAILED,
                           f"Copying image {source.image_id} to the volume failed: {exc}")
            return
        self._filled(volume_id, drv, source)

    def _copy_into(self, source: ImageSource, ref: VolumeRef, data: VolumeData, progress) -> None:
        """The image's data onto the opened volume; data that was not checked in the
        request (downloaded from Glance) is checked first, and must fit the volume."""
        with self._image_service().local_copy(source.reader, source.image, self.conversion_dir) as local:
            if not local.checked:
                virtual = self._checked_size(source.image, local)
                if gib_up(virtual) > ref.size_gb:
                    raise ImageRejected(f"Image virtual size is {gib_up(virtual)}GB and doesn't fit in a volume of "
                                        f"size {ref.size_gb}GB.")
            image_copy.image_into_volume(local.host, local.path, source.disk_format, data, progress)

    def _filled(self, volume_id: str, drv: VolumeDriver, source: ImageSource) -> None:
        """The volume holds the image: `available`, bootable, with the image's metadata."""
        with self.core.db.session() as session:
            volume = session.get(V, volume_id)
            if volume is None or volume.status != "downloading":
                return  # an admin's reset-status meanwhile wins
            volume.status, volume.task, volume.task_arg, volume.status_reason = "available", None, None, None
            volume.bootable, volume.image_metadata, volume.progress = True, dict(source.metadata), "100%"
            volume.provider_auth = drv.new_target_auth()

    def _progress(self, *volume_ids: str):
        last = [0.0]

        def report(percent: int) -> None:
            now = time.monotonic()
            if percent < 100 and now - last[0] < PROGRESS_INTERVAL:
                return
            last[0] = now
            with self.core.db.connection() as connection:
                connection.execute(update(V).where(V.id.in_(volume_ids)).values(progress=f"{percent}%"))
        return report

    # ---- an image from a volume ----------------------------------------------------------------------

    def upload(self, ctx: RequestContext, volume_id: str, params: dict, extended: bool) -> dict:
        """os-volume_upload_image; `extended` (3.1+) takes visibility and protected.
        Returns Cinder's answer (the `os-volume_upload_image` object)."""
        service = self._image_service()
        name = params.get("image_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise Invalid("Invalid input received: image_name is required (1-255 characters)")
        force = strict_bool(params.get("force", False), "force")
        disk_format = params.get("disk_format", "raw")
        container_format = params.get("container_format", "bare")
        if disk_format not in UPLOAD_FORMATS:
            raise Invalid(f"Invalid input received: disk_format {disk_format!r} is not one of "
                          f"{', '.join(UPLOAD_FORMATS)}")
        if container_format not in CONTAINER_FORMATS:
            raise Invalid(f"Invalid input received: container_format {container_format!r} is not one of "
                          f"{', '.join(CONTAINER_FORMATS)}")
        body: dict[str, Any] = {"name": name, "disk_format": disk_format, "container_format": container_format}
        if extended:
            visibility = params.get("visibility", "private")
            if visibility not in VISIBILITIES:
                raise Invalid(f"Invalid input received: visibility must be one of {', '.join(VISIBILITIES)}")
            body["visibility"] = visibility
            body["protected"] = strict_bool(params.get("protected", False), "protected")
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            self._may_upload(volume, force)
            vtype = volume.volume_type
            store = (vtype.extra_specs or {}).get(STORE_SPEC) if vtype is not None else None
            for key, value in (volume.image_metadata or {}).items():
                if key not in CORE_PROPERTIES and not key.startswith(RESERVED_NAMESPACES):
                    body.setdefault(key, value)
            answer = {"id": volume.id, "status": "uploading", "display_description": volume.description,
                      "size": volume.size, "volume_type": _type_view(vtype)}
        image = service.create(ctx, body)
        ticket = None
        try:
            ticket = service.begin_upload(ctx, image.id, store)
            with self.core.db.session() as session:
                volume = vr.get_volume(session, ctx, volume_id)
                self._may_upload(volume, force)
                plan = Upload(volume_id, image.id, disk_format, volume.status)
                volume.status, volume.task, volume.task_arg = "uploading", "upload", f"{image.id}:{plan.back_to}"
                volume.progress = "0%"
                updated_at = models.utcnow()
                volume.updated_at = updated_at
        except BaseException:
            service.discard(image.id, ticket)
            raise
        self.core.tasks.start(self._upload, plan, ticket)
        answer.update(updated_at=updated_at.isoformat(), image_id=image.id, container_format=container_format,
                      disk_format=disk_format, image_name=name)
        if extended:
            answer.update(visibility=body["visibility"], protected=body["protected"])
        return answer

    @staticmethod
    def _may_upload(volume: models.Volume, force: bool) -> None:
        if volume.status not in ("available", "in-use"):
            raise Invalid(f"Invalid volume: Volume {volume.id} status must be available or in-use, but current "
                          f"status is: {volume.status}.")
        if volume.status == "in-use" and not force:
            raise Invalid("Invalid volume: Volume status is in-use.")

    def _upload(self, plan: Upload, ticket) -> None:
        service = self._image_service()
        target = self.conversion_dir / f".{plan.image_id}.{plan.disk_format}.part"
        try:
            with self.core.volume_lock(plan.volume_id):
                with self.core.db.session() as session:
                    volume = session.get(V, plan.volume_id)
                    if volume is None or volume.task != "upload":
                        raise NotFound(f"volume {plan.volume_id} is no longer uploading")
                    ref, drv = vr.volume_ref(volume), vr.driver(self.core, volume.backend)
                with drv.open_data(ref, writable=False) as data:
                    room_for(self.conversion_dir, data.path, ref.size_gb * GiB)
                    image_copy.volume_into_file(data, target, plan.disk_format, self._progress(plan.volume_id),
                                                room=ref.size_gb * GiB)
            service.upload(ticket, target)
        except Exception as exc:
            log.warning("volume %s: upload to image %s failed: %s", plan.volume_id, plan.image_id, exc)
            service.discard(plan.image_id, ticket)
            self._back(plan, f"Uploading the volume to image {plan.image_id} failed: {exc}")
        else:
            self._back(plan)
        finally:
            target.unlink(missing_ok=True)

    def _back(self, plan: Upload, failure: str | None = None) -> None:
        """The volume returns to the status it had (whatever happened to the image)."""
        with self.core.db.session() as session:
            volume = session.get(V, plan.volume_id)
            if volume is None or volume.task != "upload":
                return
            volume.status, volume.task, volume.task_arg, volume.progress = plan.back_to, None, None, None
            if failure:
                self.core.message(session, volume.project_id, "VOLUME", volume.id, ACTION_COPY_VOLUME_TO_IMAGE,
                                  vr.DETAIL_DRIVER_FAILED, failure)

    def recover(self) -> None:
        """After a restart: uploads cut short end, their volumes back where they were,
        their images gone (the image service has already dropped the partial data),
        and their conversion files removed."""
        for part in self.conversion_dir.glob(".*.part"):  # a conversion the crash cut short
            part.unlink(missing_ok=True)
        self.core.tasks.submit(self._sweep_staging)  # in the background: a storage host may be slow to answer
        self.cache.recover()
        with self.core.db.session() as session:
            stuck = [(v.id, v.task_arg or "") for v in session.query(V).filter(V.task == "upload")]
        for volume_id, arg in stuck:
            image_id, _, back_to = arg.partition(":")
            if self.images is not None and image_id:
                self.images.discard(image_id)  # no uploader now: an external Glance may refuse Shoal
            self._back(Upload(volume_id, image_id, "", back_to or "available"),
                       f"Uploading the volume to image {image_id} was interrupted by a restart of Shoal.")

    def _sweep_staging(self) -> None:
        """Staging directories that copies cut short by a crash of Shoal left on storage hosts."""
        hosts = {id(host): host for driver in self.core.volume_drivers.values() for host in driver.data_hosts()}
        for host in hosts.values():
            image_staging.sweep(host)

    # ---- image metadata actions -------------------------------------------------------------------

    def show_metadata(self, ctx: RequestContext, volume_id: str) -> dict:
        with self.core.db.session() as session:
            return dict(vr.get_volume(session, ctx, volume_id).image_metadata or {})

    def set_metadata(self, ctx: RequestContext, volume_id: str, metadata: Any) -> dict:
        if not isinstance(metadata, dict) or not metadata:
            raise Invalid("Invalid input received: metadata must be a non-empty object")
        metadata = check_metadata(metadata)
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            self._may_change_metadata(volume)
            volume.image_metadata = {**(volume.image_metadata or {}), **metadata}
            return dict(volume.image_metadata)

    def unset_metadata(self, ctx: RequestContext, volume_id: str, key: Any) -> None:
        with self.core.db.session() as session:
            volume = vr.get_volume(session, ctx, volume_id)
            self._may_change_metadata(volume)
            if not isinstance(key, str) or key not in (volume.image_metadata or {}):
                raise NotFound(f"Glance metadata cannot be found for key: {key}")
            volume.image_metadata = {k: v for k, v in volume.image_metadata.items() if k != key}

    @staticmethod
    def _may_change_metadata(volume: models.Volume) -> None:
        if volume.status in ("maintenance", "uploading", "downloading"):
            raise Invalid(f"Invalid volume: the image metadata of a volume that is {volume.status} cannot change")


def room_for(conversion_dir: Path, source: str, at_most: int) -> None:
    """Conversion space, checked before use: the image can take as much as the
    data the volume holds (at most its size)."""
    conversion_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        used = os.stat(source).st_blocks * 512 if os.path.isfile(source) else at_most
    except OSError:
        used = at_most
    free = shutil.disk_usage(conversion_dir).free
    if min(used, at_most) > free:
        raise Invalid(f"not enough space in {conversion_dir} to convert the volume: "
                      f"{min(used, at_most)} bytes needed, {free} free")


def _type_view(vtype) -> dict | None:
    """The volume type as Cinder's upload answer serializes it."""
    if vtype is None:
        return None
    return {"id": vtype.id, "name": vtype.name, "description": vtype.description, "is_public": vtype.is_public,
            "extra_specs": dict(vtype.extra_specs or {}), "qos_specs_id": None, "deleted": False,
            "created_at": vtype.created_at.isoformat() if vtype.created_at else None,
            "updated_at": vtype.updated_at.isoformat() if vtype.updated_at else None, "deleted_at": None}
